/// Our half of one Diffie-Hellman exchange: a private key and the public value we send.
///
/// Create one per exchange with the ``DiffieHellman`` factories and drop it after computing the
/// shared secret (private keys are held in ``SecretBytes`` or swift-crypto keys and wiped on release).
public protocol DiffieHellmanExchange: Sendable {
    /// The IKEv2 Diffie-Hellman group number (RFC 7296 section 3.3.2, Transform Type 4).
    var groupID: UInt16 { get }

    /// The Key Exchange Data of our KE payload in wire encoding (RFC 7296 section 3.4): the MODP public
    /// value left-padded with zeros to the prime length, `x || y` for ECP groups (RFC 5903 section 7),
    /// the 32-byte u-coordinate for Curve25519 (RFC 8031 section 3.1).
    var publicValue: [UInt8] { get }

    /// Validates the peer's Key Exchange Data and computes the shared secret `g^ir`.
    ///
    /// - Returns: the MODP result padded to the prime length (RFC 7296 section 2.14), the x-coordinate
    ///   for ECP groups (RFC 5903 section 9), the X25519 output (RFC 8031 section 2).
    /// - Throws: ``IsthmusCryptoError/Code/invalidPeerPublicValue`` for a malformed or out-of-range value,
    ///   ``IsthmusCryptoError/Code/invalidSharedSecret`` for an all-zero X25519 result.
    func sharedSecret(peerPublicValue: [UInt8]) throws(IsthmusCryptoError) -> SecretBytes
}
