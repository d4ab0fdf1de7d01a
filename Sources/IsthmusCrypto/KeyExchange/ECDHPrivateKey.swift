import Crypto
import Foundation

/// What the exchange needs from a swift-crypto key-agreement private key; one conformance per curve.
protocol ECDHPrivateKey: Sendable {
    /// Bytes of the private scalar in `rawRepresentation`.
    static var scalarLength: Int { get }
    /// Mask for the first scalar byte when drawing random scalars (P-521 has 521 bits in 66 bytes).
    static var leadingByteMask: UInt8 { get }
    /// Bytes of KE payload data.
    static var publicValueLength: Int { get }

    init()
    init(scalar: SecretBytes) throws
    /// The KE payload encoding of our public key.
    var publicValue: [UInt8] { get }
    /// The shared secret with a peer's KE payload data (validated by the curve's decoder).
    func sharedSecret(with peer: [UInt8]) throws -> SecretBytes
}

/// RFC 5903 section 7: the KE payload carries x || y, each the field size, with no point-format
/// octet, which is exactly swift-crypto's `rawRepresentation`. Section 9: g^ir is the x-coordinate.
extension P256.KeyAgreement.PrivateKey: ECDHPrivateKey {
    static var scalarLength: Int { 32 }
    static var leadingByteMask: UInt8 { 0xFF }
    static var publicValueLength: Int { 64 }

    init(scalar: SecretBytes) throws {
        try self.init(rawRepresentation: scalar.copyBytes())
    }

    var publicValue: [UInt8] { Array(publicKey.rawRepresentation) }

    func sharedSecret(with peer: [UInt8]) throws -> SecretBytes {
        let peerKey = try P256.KeyAgreement.PublicKey(rawRepresentation: peer)
        return try sharedSecretFromKeyAgreement(with: peerKey).withUnsafeBytes { SecretBytes(copying: $0) }
    }
}

extension P384.KeyAgreement.PrivateKey: ECDHPrivateKey {
    static var scalarLength: Int { 48 }
    static var leadingByteMask: UInt8 { 0xFF }
    static var publicValueLength: Int { 96 }

    init(scalar: SecretBytes) throws {
        try self.init(rawRepresentation: scalar.copyBytes())
    }

    var publicValue: [UInt8] { Array(publicKey.rawRepresentation) }

    func sharedSecret(with peer: [UInt8]) throws -> SecretBytes {
        let peerKey = try P384.KeyAgreement.PublicKey(rawRepresentation: peer)
        return try sharedSecretFromKeyAgreement(with: peerKey).withUnsafeBytes { SecretBytes(copying: $0) }
    }
}

extension P521.KeyAgreement.PrivateKey: ECDHPrivateKey {
    static var scalarLength: Int { 66 }
    static var leadingByteMask: UInt8 { 0x01 }
    static var publicValueLength: Int { 132 }

    init(scalar: SecretBytes) throws {
        try self.init(rawRepresentation: scalar.copyBytes())
    }

    var publicValue: [UInt8] { Array(publicKey.rawRepresentation) }

    func sharedSecret(with peer: [UInt8]) throws -> SecretBytes {
        let peerKey = try P521.KeyAgreement.PublicKey(rawRepresentation: peer)
        return try sharedSecretFromKeyAgreement(with: peerKey).withUnsafeBytes { SecretBytes(copying: $0) }
    }
}

/// RFC 8031 section 3.1: the KE payload carries the 32-byte u-coordinate; section 2.3: an all-zero
/// result must be rejected (swift-crypto accepts low-order peer points and returns zeros).
extension Curve25519.KeyAgreement.PrivateKey: ECDHPrivateKey {
    static var scalarLength: Int { 32 }
    static var leadingByteMask: UInt8 { 0xFF }
    static var publicValueLength: Int { 32 }

    init(scalar: SecretBytes) throws {
        try self.init(rawRepresentation: scalar.copyBytes())
    }

    var publicValue: [UInt8] { Array(publicKey.rawRepresentation) }

    func sharedSecret(with peer: [UInt8]) throws -> SecretBytes {
        let peerKey = try Curve25519.KeyAgreement.PublicKey(rawRepresentation: peer)
        return try sharedSecretFromKeyAgreement(with: peerKey).withUnsafeBytes { SecretBytes(copying: $0) }
    }
}
