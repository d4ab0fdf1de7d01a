/// Encrypt-then-MAC (a CBC cipher and an HMAC) with concrete libcrypto parts: what the factory builds for every CBC
/// suite (AES-CBC, 3DES, DES with any HMAC), so that the per-packet path calls no existential and no
/// unspecialised generic and allocates nothing.
///
/// Same construction and invariants: the ICV covers `associatedData || IV || ciphertext || trailingData`
/// (RFC 4303 sections 3.3.2 and 3.3.2.1, RFC 7296 section 3.14), and `open` compares it in constant time
/// **before** decrypting, so a forged packet never reaches the cipher and its ciphertext stays untouched.
/// The same composition over swift-crypto's ``AESCBCCipher`` and ``HMACIntegrity`` (a test oracle in
/// Tests/IsthmusCryptoTests/Oracles) is the reference that tests compare this type with.
public struct LibcryptoEncryptThenMACProtection: PacketProtection {
    /// The confidentiality transform.
    public let cipher: LibcryptoCBCCipher
    /// The integrity transform.
    public let integrity: LibcryptoHMACIntegrity

    public var ivLength: Int { cipher.blockSize }
    public var icvLength: Int { integrity.icvLength }
    public var blockSize: Int { cipher.blockSize }

    /// Combines an already keyed cipher and integrity transform of one SA direction.
    public init(cipher: LibcryptoCBCCipher, integrity: LibcryptoHMACIntegrity) {
        self.cipher = cipher
        self.integrity = integrity
    }

    public func seal(
        _ packet: UnsafeMutableRawBufferPointer,
        associatedData: UnsafeRawBufferPointer,
        trailingData: UnsafeRawBufferPointer
    ) throws(IsthmusCryptoError) {
        let (ivLength, payloadEnd) = try layout(packet.count)
        let payload = UnsafeMutableRawBufferPointer(rebasing: packet[ivLength..<payloadEnd])
        try cipher.encrypt(payload, iv: UnsafeRawBufferPointer(rebasing: packet[0..<ivLength]))
        try integrity.computeICV(
            associatedData: associatedData, payload: UnsafeRawBufferPointer(rebasing: packet[0..<payloadEnd]),
            trailingData: trailingData, into: UnsafeMutableRawBufferPointer(rebasing: packet[payloadEnd...])
        )
    }

    public func open(
        _ packet: UnsafeMutableRawBufferPointer,
        associatedData: UnsafeRawBufferPointer,
        trailingData: UnsafeRawBufferPointer
    ) throws(IsthmusCryptoError) {
        let (ivLength, payloadEnd) = try layout(packet.count)
        let valid = integrity.isValidICV(
            UnsafeRawBufferPointer(rebasing: packet[payloadEnd...]), associatedData: associatedData,
            payload: UnsafeRawBufferPointer(rebasing: packet[0..<payloadEnd]), trailingData: trailingData
        )
        guard valid else {
            throw .authenticationFailure()
        }
        try cipher.decrypt(
            UnsafeMutableRawBufferPointer(rebasing: packet[ivLength..<payloadEnd]),
            iv: UnsafeRawBufferPointer(rebasing: packet[0..<ivLength])
        )
    }

    /// The IV length and the end of the payload in a packet of `count` bytes (``PacketProtection``'s
    /// `split`, without the protocol extension's generic call).
    private func layout(_ count: Int) throws(IsthmusCryptoError) -> (ivLength: Int, payloadEnd: Int) {
        let ivLength = cipher.blockSize
        let payloadEnd = count - integrity.icvLength
        guard ivLength <= payloadEnd, (payloadEnd - ivLength) % ivLength == 0 else {
            throw .invalidPacketLayout(
                "packet of \(count) bytes does not fit IV \(ivLength) + blocks of \(ivLength)"
                    + " + ICV \(integrity.icvLength)"
            )
        }
        return (ivLength, payloadEnd)
    }
}
