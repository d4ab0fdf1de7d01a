import CLibcrypto

/// A finite-field Diffie-Hellman exchange over a MODP group (groups 1, 2, 5, 14, 15, 16), on the
/// system libcrypto's constant-time Montgomery exponentiation (`BN_mod_exp_mont_consttime`).
struct MODPExchange: DiffieHellmanExchange {
    /// Attempts at drawing a usable exponent before giving up (only a broken generator trips this).
    private static let maximumExponentAttempts = 16

    private let group: MODPGroup
    private let privateExponent: SecretBytes
    let publicValue: [UInt8]

    var groupID: UInt16 { group.groupID }

    /// Draws a private exponent of `group.privateExponentBits` bits from `generator`.
    init(group: MODPGroup, using generator: inout some RandomNumberGenerator) throws(IsthmusCryptoError) {
        let length = group.privateExponentBits / 8
        for _ in 0..<Self.maximumExponentAttempts {
            var bytes = [UInt8](repeating: 0, count: length)
            for index in bytes.indices {
                bytes[index] = generator.next()
            }
            let exponent = SecretBytes(bytes)
            SecureZero.wipe(&bytes)
            if let exchange = try? MODPExchange(group: group, privateExponent: exponent) {
                self = exchange
                return
            }
        }
        throw .invalidPrivateKey("random generator produced no usable exponent")
    }

    /// Uses a given private exponent (big-endian); requires 1 < x < p - 1.
    init(group: MODPGroup, privateExponent: SecretBytes) throws(IsthmusCryptoError) {
        guard privateExponent.count <= group.primeLength else {
            throw .invalidPrivateKey("exponent longer than the prime")
        }
        let context = try BignumContext()
        let prime = try context.number(group.prime)
        let exponent = try context.secretNumber(privateExponent)
        guard try context.isBetweenOneAndPrimeMinusOne(exponent, prime: prime) else {
            throw .invalidPrivateKey("exponent must satisfy 1 < x < p - 1")
        }
        let base = try context.number([MODPGroup.generator])
        self.group = group
        self.privateExponent = privateExponent
        self.publicValue = try context.modExp(base: base, exponent: exponent, prime: prime, length: group.primeLength)
            .copyBytes()
    }

    /// RFC 6989 section 2.1: the peer value must be exactly the prime length (RFC 7296 section 3.4)
    /// and satisfy 1 < y < p - 1. The result is left-padded to the prime length (RFC 7296 section 2.14).
    func sharedSecret(peerPublicValue: [UInt8]) throws(IsthmusCryptoError) -> SecretBytes {
        guard peerPublicValue.count == group.primeLength else {
            throw .invalidPeerPublicValue(
                "group \(groupID) KE data must be \(group.primeLength) bytes, got \(peerPublicValue.count)")
        }
        let context = try BignumContext()
        let prime = try context.number(group.prime)
        let peer = try context.number(peerPublicValue)
        guard try context.isBetweenOneAndPrimeMinusOne(peer, prime: prime) else {
            throw .invalidPeerPublicValue("group \(groupID) KE value outside 1 < y < p - 1 (RFC 6989 section 2.1)")
        }
        let exponent = try context.secretNumber(privateExponent)
        return try context.modExp(base: peer, exponent: exponent, prime: prime, length: group.primeLength)
    }
}

/// An owned `BIGNUM`, cleared and freed on release.
///
/// Every libcrypto call that reads the pointer goes through a method or takes the object as an argument,
/// so the object is alive for the whole call (Swift may release a local right after its last use).
private final class Bignum {
    let pointer: OpaquePointer
    init(_ pointer: OpaquePointer) { self.pointer = pointer }
    deinit { BN_clear_free(pointer) }

    var isGreaterThanOne: Bool { BN_cmp(pointer, BN_value_one()) > 0 }

    func isLess(than other: Bignum) -> Bool { BN_cmp(pointer, other.pointer) < 0 }
}

/// An owned `BN_CTX` with helpers; lives for one operation.
private final class BignumContext {
    private let context: OpaquePointer

    init() throws(IsthmusCryptoError) {
        guard let context = BN_CTX_new() else { throw .keyExchangeBackendFailure("BN_CTX_new failed") }
        self.context = context
    }

    deinit { BN_CTX_free(context) }

    func number(_ bytes: [UInt8]) throws(IsthmusCryptoError) -> Bignum {
        let pointer = bytes.withUnsafeBufferPointer { BN_bin2bn($0.baseAddress, Int32($0.count), nil) }
        guard let pointer else { throw .keyExchangeBackendFailure("BN_bin2bn failed") }
        return Bignum(pointer)
    }

    /// A secret number, flagged for constant-time treatment.
    func secretNumber(_ secret: SecretBytes) throws(IsthmusCryptoError) -> Bignum {
        let pointer = secret.withUnsafeBytes { bytes in
            BN_bin2bn(bytes.bindMemory(to: UInt8.self).baseAddress, Int32(bytes.count), nil)
        }
        guard let pointer else { throw .keyExchangeBackendFailure("BN_bin2bn failed") }
        BN_set_flags(pointer, BN_FLG_CONSTTIME)
        return Bignum(pointer)
    }

    /// Whether 1 < `value` < p - 1: what RFC 6989 section 2.1 requires of the peer's public value, and
    /// what we require of our private exponent.
    func isBetweenOneAndPrimeMinusOne(_ value: Bignum, prime: Bignum) throws(IsthmusCryptoError) -> Bool {
        guard let copy = BN_dup(prime.pointer) else { throw .keyExchangeBackendFailure("BN_dup failed") }
        let primeMinusOne = Bignum(copy)
        guard BN_sub_word(primeMinusOne.pointer, 1) == 1 else {
            throw .keyExchangeBackendFailure("BN_sub_word failed")
        }
        return value.isGreaterThanOne && value.isLess(than: primeMinusOne)
    }

    /// `base^exponent mod prime`, left-padded to `length` bytes.
    func modExp(base: Bignum, exponent: Bignum, prime: Bignum, length: Int) throws(IsthmusCryptoError) -> SecretBytes {
        guard let resultPointer = BN_new() else { throw .keyExchangeBackendFailure("BN_new failed") }
        let result = Bignum(resultPointer)
        let status = BN_mod_exp_mont_consttime(
            result.pointer, base.pointer, exponent.pointer, prime.pointer, context, nil
        )
        guard status == 1 else { throw .keyExchangeBackendFailure("BN_mod_exp_mont_consttime failed") }
        var written: Int32 = -1
        let output = SecretBytes(count: length) { buffer in
            written = BN_bn2binpad(result.pointer, buffer.bindMemory(to: UInt8.self).baseAddress, Int32(length))
        }
        guard written == Int32(length) else { throw .keyExchangeBackendFailure("BN_bn2binpad failed") }
        return withExtendedLifetime(result) { output }
    }
}
