@testable import IsthmusCrypto
import Crypto
import Foundation

/// ChaCha20-Poly1305 for IKEv2 and ESP (ENCR_CHACHA20_POLY1305, RFC 7634) on swift-crypto.
///
/// Key material is a 32-byte key followed by a 4-byte salt (36 bytes, RFC 7634 section 2 and 4);
/// the nonce is `salt || IV` with an 8-byte IV, the ICV is 16 bytes.
struct ChaChaPolyProtection: PacketProtection {
    /// Bytes of ChaCha20 key (RFC 8439 section 2.3).
    static let keyLength = 32
    /// Bytes of Poly1305 tag (RFC 7634 section 2).
    static let tagLength = 16

    /// The IKEv2 transform ID (28).
    let transformID: UInt16
    var ivLength: Int { AEADNonce.ivLength }
    var icvLength: Int { Self.tagLength }
    var blockSize: Int { 1 }

    private let key: SymmetricKey
    private let salt: [UInt8]

    /// Creates the per-SA state from `keyMaterial` = 32-byte key || 4-byte salt.
    init(transformID: UInt16, keyMaterial: SecretBytes) {
        self.transformID = transformID
        let keyLength = Self.keyLength
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
        let box: ChaChaPoly.SealedBox
        do {
            box = try AEADNonce.withNonce(salt: salt, iv: UnsafeRawBufferPointer(iv)) { nonceBytes in
                let nonce = try ChaChaPoly.Nonce(data: nonceBytes)
                return try ChaChaPoly.seal(
                    UnsafeRawBufferPointer(payload), using: key, nonce: nonce, authenticating: associatedData
                )
            }
        } catch {
            throw .backendFailure("ChaCha20-Poly1305 seal failed: \(error)")
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
                let nonce = try ChaChaPoly.Nonce(data: nonceBytes)
                let box = try ChaChaPoly.SealedBox(
                    nonce: nonce, ciphertext: UnsafeRawBufferPointer(payload), tag: UnsafeRawBufferPointer(icv)
                )
                return try ChaChaPoly.open(box, using: key, authenticating: associatedData)
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
