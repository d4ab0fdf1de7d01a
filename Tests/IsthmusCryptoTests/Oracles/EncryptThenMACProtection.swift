@testable import IsthmusCrypto
/// A CBC cipher and an HMAC combined as ESP and IKEv2 use them (RFC 4303 section 3.3.2 and 3.4.4,
/// RFC 7296 section 3.14): encrypt, then MAC `associatedData || IV || ciphertext || trailingData`
/// (`trailingData`: the ESN high-order bits, RFC 4303 section 3.3.2.1).
///
/// `open` checks the ICV in constant time **before** decrypting, so a forged packet never reaches the
/// cipher and no unauthenticated plaintext is produced.
///
/// This composition takes any cipher and integrity transform (existentials). The factory builds
/// ``LibcryptoEncryptThenMACProtection`` instead, the same construction over concrete libcrypto types;
/// tests use this one to combine swift-crypto's ``AESCBCCipher`` and ``HMACIntegrity`` as a reference.
struct EncryptThenMACProtection: PacketProtection {
    /// The confidentiality transform.
    let cipher: any CipherTransform
    /// The integrity transform.
    let integrity: any IntegrityTransform

    var ivLength: Int { cipher.blockSize }
    var icvLength: Int { integrity.icvLength }
    var blockSize: Int { cipher.blockSize }

    /// Combines an already keyed cipher and integrity transform of one SA direction.
    init(cipher: any CipherTransform, integrity: any IntegrityTransform) {
        self.cipher = cipher
        self.integrity = integrity
    }

    func seal(
        _ packet: UnsafeMutableRawBufferPointer,
        associatedData: UnsafeRawBufferPointer,
        trailingData: UnsafeRawBufferPointer
    ) throws(IsthmusCryptoError) {
        let (iv, payload, icv) = try split(packet)
        try cipher.encrypt(payload, iv: UnsafeRawBufferPointer(iv))
        let authenticated = UnsafeRawBufferPointer(rebasing: packet[0..<(iv.count + payload.count)])
        try integrity.computeICV(
            associatedData: associatedData, payload: authenticated, trailingData: trailingData, into: icv
        )
    }

    func open(
        _ packet: UnsafeMutableRawBufferPointer,
        associatedData: UnsafeRawBufferPointer,
        trailingData: UnsafeRawBufferPointer
    ) throws(IsthmusCryptoError) {
        let (iv, payload, icv) = try split(packet)
        let authenticated = UnsafeRawBufferPointer(rebasing: packet[0..<(iv.count + payload.count)])
        let valid = integrity.isValidICV(
            UnsafeRawBufferPointer(icv), associatedData: associatedData, payload: authenticated,
            trailingData: trailingData
        )
        guard valid else {
            throw .authenticationFailure()
        }
        try cipher.decrypt(payload, iv: UnsafeRawBufferPointer(iv))
    }
}
