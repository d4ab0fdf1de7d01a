import Crypto

/// Factories for Diffie-Hellman exchanges, keyed by IKEv2 group number (IANA "Transform Type 4").
public enum DiffieHellman {
    /// Group numbers implemented here.
    public enum GroupID {
        /// 768-bit MODP (RFC 2409 section 6.1). Broken; interoperability only.
        public static let modp768: UInt16 = 1
        /// 1024-bit MODP (RFC 2409 section 6.2). Weak; interoperability only.
        public static let modp1024: UInt16 = 2
        /// 1536-bit MODP (RFC 3526 section 2).
        public static let modp1536: UInt16 = 5
        /// 2048-bit MODP (RFC 3526 section 3).
        public static let modp2048: UInt16 = 14
        /// 3072-bit MODP (RFC 3526 section 4).
        public static let modp3072: UInt16 = 15
        /// 4096-bit MODP (RFC 3526 section 5).
        public static let modp4096: UInt16 = 16
        /// 256-bit random ECP group, NIST P-256 (RFC 5903 section 3.1).
        public static let ecp256: UInt16 = 19
        /// 384-bit random ECP group, NIST P-384 (RFC 5903 section 3.2).
        public static let ecp384: UInt16 = 20
        /// 521-bit random ECP group, NIST P-521 (RFC 5903 section 3.3).
        public static let ecp521: UInt16 = 21
        /// Curve25519 (RFC 8031).
        public static let curve25519: UInt16 = 31
    }

    /// Every group number the factories accept.
    public static let supportedGroups: [UInt16] = [
        GroupID.modp768, GroupID.modp1024, GroupID.modp1536, GroupID.modp2048, GroupID.modp3072,
        GroupID.modp4096, GroupID.ecp256, GroupID.ecp384, GroupID.ecp521, GroupID.curve25519,
    ]

    /// Bytes of Key Exchange Data in a KE payload for `groupID` (RFC 7296 section 3.4,
    /// RFC 5903 section 7, RFC 8031 section 3.1).
    public static func publicValueLength(groupID: UInt16) throws(IsthmusCryptoError) -> Int {
        if let group = MODPGroup(groupID: groupID) { return group.primeLength }
        switch groupID {
        case GroupID.ecp256: return P256.KeyAgreement.PrivateKey.publicValueLength
        case GroupID.ecp384: return P384.KeyAgreement.PrivateKey.publicValueLength
        case GroupID.ecp521: return P521.KeyAgreement.PrivateKey.publicValueLength
        case GroupID.curve25519: return Curve25519.KeyAgreement.PrivateKey.publicValueLength
        default: throw .unsupportedGroup(groupID)
        }
    }

    /// Starts an exchange with a fresh private key from the system's secure random source
    /// (swift-crypto key generation for ECP and Curve25519, `SystemRandomNumberGenerator` for MODP).
    public static func makeExchange(groupID: UInt16) throws(IsthmusCryptoError) -> any DiffieHellmanExchange {
        if let group = MODPGroup(groupID: groupID) {
            var generator = SystemRandomNumberGenerator()
            return try MODPExchange(group: group, using: &generator)
        }
        switch groupID {
        case GroupID.ecp256: return try ECDHExchange(groupID: groupID, privateKey: P256.KeyAgreement.PrivateKey())
        case GroupID.ecp384: return try ECDHExchange(groupID: groupID, privateKey: P384.KeyAgreement.PrivateKey())
        case GroupID.ecp521: return try ECDHExchange(groupID: groupID, privateKey: P521.KeyAgreement.PrivateKey())
        case GroupID.curve25519:
            return try ECDHExchange(groupID: groupID, privateKey: Curve25519.KeyAgreement.PrivateKey())
        default: throw .unsupportedGroup(groupID)
        }
    }

    /// Starts an exchange whose private key is drawn from `generator` (deterministic tests, or a
    /// different CSPRNG). The generator must be cryptographically secure in production.
    public static func makeExchange(
        groupID: UInt16,
        using generator: inout some RandomNumberGenerator
    ) throws(IsthmusCryptoError) -> any DiffieHellmanExchange {
        if let group = MODPGroup(groupID: groupID) {
            return try MODPExchange(group: group, using: &generator)
        }
        switch groupID {
        case GroupID.ecp256: return try ecdh(groupID, P256.KeyAgreement.PrivateKey.self, &generator)
        case GroupID.ecp384: return try ecdh(groupID, P384.KeyAgreement.PrivateKey.self, &generator)
        case GroupID.ecp521: return try ecdh(groupID, P521.KeyAgreement.PrivateKey.self, &generator)
        case GroupID.curve25519: return try ecdh(groupID, Curve25519.KeyAgreement.PrivateKey.self, &generator)
        default: throw .unsupportedGroup(groupID)
        }
    }

    /// Starts an exchange with a given private key (known-answer tests).
    ///
    /// - Parameter privateKey: the MODP exponent (big-endian, at most the prime length, 1 < x < p-1),
    ///   the ECP scalar (32/48/66 bytes, big-endian, 0 < d < n), or the 32-byte X25519 scalar.
    public static func makeExchange(
        groupID: UInt16,
        privateKey: SecretBytes
    ) throws(IsthmusCryptoError) -> any DiffieHellmanExchange {
        if let group = MODPGroup(groupID: groupID) {
            return try MODPExchange(group: group, privateExponent: privateKey)
        }
        switch groupID {
        case GroupID.ecp256:
            return try ECDHExchange(groupID: groupID, rawPrivateKey: privateKey, P256.KeyAgreement.PrivateKey.self)
        case GroupID.ecp384:
            return try ECDHExchange(groupID: groupID, rawPrivateKey: privateKey, P384.KeyAgreement.PrivateKey.self)
        case GroupID.ecp521:
            return try ECDHExchange(groupID: groupID, rawPrivateKey: privateKey, P521.KeyAgreement.PrivateKey.self)
        case GroupID.curve25519:
            return try ECDHExchange(
                groupID: groupID, rawPrivateKey: privateKey, Curve25519.KeyAgreement.PrivateKey.self)
        default: throw .unsupportedGroup(groupID)
        }
    }

    /// Attempts at drawing a valid scalar before giving up (a uniformly random 256-bit string is
    /// outside [1, n-1] for P-256 with probability below 2^-32, so this only trips on a broken generator).
    private static let maximumScalarAttempts = 64

    private static func ecdh<Key: ECDHPrivateKey>(
        _ groupID: UInt16,
        _ keyType: Key.Type,
        _ generator: inout some RandomNumberGenerator
    ) throws(IsthmusCryptoError) -> any DiffieHellmanExchange {
        for _ in 0..<maximumScalarAttempts {
            var scalar = [UInt8](repeating: 0, count: Key.scalarLength)
            for index in scalar.indices {
                scalar[index] = generator.next()
            }
            scalar[0] &= Key.leadingByteMask
            let secret = SecretBytes(scalar)
            SecureZero.wipe(&scalar)
            if let exchange = try? ECDHExchange(groupID: groupID, rawPrivateKey: secret, keyType) {
                return exchange
            }
        }
        throw .invalidPrivateKey("random generator produced no valid scalar in \(maximumScalarAttempts) attempts")
    }
}
