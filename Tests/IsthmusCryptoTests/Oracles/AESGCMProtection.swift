@testable import IsthmusCrypto
import Crypto
import Foundation

/// AES-GCM with a 16-octet ICV (ENCR_AES_GCM_16, RFC 4106 / RFC 5282) on swift-crypto.
///
/// Key material is `key || salt` (16, 24 or 32 bytes of AES key followed by 4 bytes of salt,
/// RFC 4106 section 8.1). The nonce is `salt || IV` (RFC 4106 section 4); the IV is 8 bytes.
///
/// - Note: swift-crypto's one-shot API allocates the ciphertext per call; a libcrypto backend with a
///   per-SA context can replace this type behind ``PacketProtection``.
struct AESGCMProtection: PacketProtection {
    /// The ICV length this backend supports (swift-crypto accepts only full tags).
    static let fullTagLength = 16

    /// The IKEv2 transform ID (20).
    let transformID: UInt16
    var ivLength: Int { AEADNonce.ivLength }
    var icvLength: Int { Self.fullTagLength }
    var blockSize: Int { 1 }

    private let key: SymmetricKey
    private let salt: [UInt8]

    /// Creates the per-SA state from `keyMaterial` = AES key || 4-byte salt.
    init(transformID: UInt16, keyMaterial: SecretBytes) {
        self.transformID = transformID
        let keyLength = keyMaterial.count - AEADNonce.saltLength
        self.key = keyMaterial.withUnsafeBytes {
            SymmetricKey(data: UnsafeRawBufferPointer(rebasing: $0[0..<keyLength]))
        }
        self.salt = keyMaterial.withUnsafeBytes { Array($0[keyLength...]) }
    }

    func seal(
        _ packet: UnsafeMutableRawBufferPointer,
        associatedData: UnsafeRawBufferPointer,
        trailingData: UnsafeRawBufferPointer
    ) throws(IsthmusCryptoError) {
        try requireNoTrailingData(trailingData)
        let (iv, payload, icv) = try split(packet)
        let key = self.key
        let box: AES.GCM.SealedBox
        do {
            box = try AEADNonce.withNonce(salt: salt, iv: UnsafeRawBufferPointer(iv)) { nonceBytes in
                let nonce = try AES.GCM.Nonce(data: nonceBytes)
                return try AES.GCM.seal(
                    UnsafeRawBufferPointer(payload), using: key, nonce: nonce, authenticating: associatedData)
            }
        } catch {
            throw .backendFailure("AES-GCM seal failed: \(error)")
        }
        box.ciphertext.withUnsafeBytes { payload.copyMemory(from: $0) }
        box.tag.withUnsafeBytes { icv.copyMemory(from: $0) }
    }

    func open(
        _ packet: UnsafeMutableRawBufferPointer,
        associatedData: UnsafeRawBufferPointer,
        trailingData: UnsafeRawBufferPointer
    ) throws(IsthmusCryptoError) {
        try requireNoTrailingData(trailingData)
        let (iv, payload, icv) = try split(packet)
        let key = self.key
        var plaintext: Data
        do {
            plaintext = try AEADNonce.withNonce(salt: salt, iv: UnsafeRawBufferPointer(iv)) { nonceBytes in
                let nonce = try AES.GCM.Nonce(data: nonceBytes)
                let box = try AES.GCM.SealedBox(
                    nonce: nonce, ciphertext: UnsafeRawBufferPointer(payload), tag: UnsafeRawBufferPointer(icv)
                )
                return try AES.GCM.open(box, using: key, authenticating: associatedData)
            }
        } catch {
            throw .authenticationFailure()
        }
        plaintext.withUnsafeMutableBytes { decrypted in
            payload.copyMemory(from: UnsafeRawBufferPointer(decrypted))
            SecureZero.wipe(decrypted)
        }
    }
}
