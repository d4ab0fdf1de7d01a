import CLibcrypto

/// A MODP group of RFC 2409 / RFC 3526: a safe prime p with generator 2.
///
/// The primes come from libcrypto (`BN_get_rfc2409_prime_*`, `BN_get_rfc3526_prime_*`), which carry
/// the RFC constants, and are cached once per process as big-endian bytes.
struct MODPGroup: Sendable {
    /// The generator of every RFC 2409 / RFC 3526 group.
    static let generator: UInt8 = 2

    let groupID: UInt16
    /// The prime, big-endian, without leading zeros.
    let prime: [UInt8]
    /// Bits of private exponent drawn for this group: at least twice the group's security strength
    /// (RFC 3526 section 8 estimates; NIST SP 800-56A 5.6.1.1.1), and cheap compared with a
    /// full-length exponent.
    let privateExponentBits: Int

    /// Bytes of the prime, the public value and the shared secret.
    var primeLength: Int { prime.count }

    init?(groupID: UInt16) {
        guard let group = Self.table.first(where: { $0.groupID == groupID }) else { return nil }
        self = group
    }

    private init(groupID: UInt16, prime: [UInt8], privateExponentBits: Int) {
        self.groupID = groupID
        self.prime = prime
        self.privateExponentBits = privateExponentBits
    }

    /// The groups, loaded once. A prime that libcrypto cannot provide leaves its group out.
    private static let table: [MODPGroup] = {
        let sources: [(UInt16, (OpaquePointer?) -> OpaquePointer?, Int)] = [
            (DiffieHellman.GroupID.modp768, BN_get_rfc2409_prime_768, 256),
            (DiffieHellman.GroupID.modp1024, BN_get_rfc2409_prime_1024, 256),
            (DiffieHellman.GroupID.modp1536, BN_get_rfc3526_prime_1536, 256),
            (DiffieHellman.GroupID.modp2048, BN_get_rfc3526_prime_2048, 256),
            (DiffieHellman.GroupID.modp3072, BN_get_rfc3526_prime_3072, 320),
            (DiffieHellman.GroupID.modp4096, BN_get_rfc3526_prime_4096, 384),
        ]
        return sources.compactMap { groupID, load, exponentBits in
            guard let bignum = load(nil) else { return nil }
            defer { BN_free(bignum) }
            let length = (Int(BN_num_bits(bignum)) + 7) / 8
            var bytes = [UInt8](repeating: 0, count: length)
            let written = bytes.withUnsafeMutableBufferPointer { BN_bn2binpad(bignum, $0.baseAddress, Int32(length)) }
            guard written == length else { return nil }
            return MODPGroup(groupID: groupID, prime: bytes, privateExponentBits: exponentBits)
        }
    }()
}
