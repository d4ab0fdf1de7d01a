import CLibcrypto
import Synchronization

/// HMAC with a truncated ICV on the system libcrypto: AUTH_HMAC_MD5_96 and AUTH_HMAC_SHA1_96
/// (RFC 2403, RFC 2404), AUTH_HMAC_SHA2_256_128 / 384_192 / 512_256 (RFC 4868).
///
/// The key is absorbed once per SA (the inner and outer hash states after `K ^ ipad` and `K ^ opad`,
/// RFC 2104 section 2); a packet copies those states and costs no allocation (see
/// ``LibcryptoHMACState``). The factory picks this type; swift-crypto's ``HMACIntegrity`` stays as an
/// independent implementation that tests cross-check it against.
public struct LibcryptoHMACIntegrity: TruncatedHMAC {
    public let transformID: UInt16
    public let keyLength: Int
    public let icvLength: Int

    private let state: LibcryptoHMACState

    /// Creates the per-SA state. Any key length works (keys longer than the hash block are hashed
    /// first, RFC 2104 section 2); the factory insists on the transform's key length.
    init(transformID: UInt16, hash: LibcryptoHash, key: SecretBytes, icvLength: Int) throws(IsthmusCryptoError) {
        guard icvLength > 0, icvLength <= hash.digestLength else {
            throw .backendFailure("ICV of \(icvLength) bytes for a \(hash.digestLength)-byte hash")
        }
        self.transformID = transformID
        self.keyLength = key.count
        self.icvLength = icvLength
        self.state = try LibcryptoHMACState(hash: hash, key: key)
    }

    func writeMAC(
        _ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer, _ c: UnsafeRawBufferPointer,
        into icv: UnsafeMutableRawBufferPointer
    ) -> Bool {
        state.compute(a, b, c, into: icv)
    }

    func macMatches(
        _ icv: UnsafeRawBufferPointer, _ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer,
        _ c: UnsafeRawBufferPointer
    ) -> Bool {
        state.verify(icv, a, b, c)
    }
}

/// The hash functions the integrity transforms use, as the libcrypto shim names them.
enum LibcryptoHash: Sendable {
    case md5, sha1, sha256, sha384, sha512

    /// The `ISTHMUS_HASH_*` constant of `shim.h`.
    var kind: Int32 {
        switch self {
        case .md5: ISTHMUS_HASH_MD5
        case .sha1: ISTHMUS_HASH_SHA1
        case .sha256: ISTHMUS_HASH_SHA256
        case .sha384: ISTHMUS_HASH_SHA384
        case .sha512: ISTHMUS_HASH_SHA512
        }
    }

    /// The input block size in bytes (RFC 2104's B).
    var blockSize: Int {
        switch self {
        case .md5, .sha1, .sha256: 64
        case .sha384, .sha512: 128
        }
    }

    /// The output length in bytes (RFC 2104's L).
    var digestLength: Int {
        switch self {
        case .md5: 16
        case .sha1: 20
        case .sha256: 32
        case .sha384: 48
        case .sha512: 64
        }
    }

    /// The largest block and digest of all of them: the size of the scratch buffers.
    static let maximumBlockSize = 128
    static let maximumDigestLength = 64
}

/// The keyed HMAC state of one SA direction: the inner and outer hash states (`K ^ ipad` and
/// `K ^ opad` absorbed), a working state and a digest buffer, all allocated once in `init`.
///
/// Per packet: copy the inner state into the working one, absorb the data, finish into the digest
/// buffer; copy the outer state, absorb that digest, finish. Copies are plain struct assignments of
/// libcrypto's `SHA*_CTX` (see `shim.h` for why not `EVP_MAC`). A `Mutex` serialises use as for
/// ``LibcryptoCipherContext``. Everything is wiped with `OPENSSL_cleanse` when the SA goes away.
final class LibcryptoHMACState: @unchecked Sendable {
    /// The `ISTHMUS_HASH_*` kind.
    private let kind: Int32
    private let digestLength: Int
    /// `inner`, `outer`, `work`: three states in one allocation.
    private let states: UnsafeMutablePointer<isthmus_hash_state>
    private static let stateCount = 3
    private var inner: UnsafeMutablePointer<isthmus_hash_state> { states }
    private var outer: UnsafeMutablePointer<isthmus_hash_state> { states + 1 }
    private var work: UnsafeMutablePointer<isthmus_hash_state> { states + 2 }
    /// The inner digest, then the full HMAC.
    private let digest: UnsafeMutableRawBufferPointer
    private let lock = Mutex(())

    /// RFC 2104 section 2: the inner and outer pad bytes.
    private static let innerPad: UInt8 = 0x36
    private static let outerPad: UInt8 = 0x5c

    init(hash: LibcryptoHash, key: SecretBytes) throws(IsthmusCryptoError) {
        kind = hash.kind
        digestLength = hash.digestLength
        states = .allocate(capacity: Self.stateCount)
        states.initialize(repeating: isthmus_hash_state(), count: Self.stateCount)
        digest = .allocate(byteCount: LibcryptoHash.maximumDigestLength, alignment: 16)
        digest.initializeMemory(as: UInt8.self, repeating: 0)
        // From here on `deinit` wipes and frees whatever `init` leaves behind, also on a throw.

        // K padded with zeros to the block size; a key longer than a block is hashed first.
        let block = UnsafeMutableRawBufferPointer.allocate(byteCount: hash.blockSize, alignment: 16)
        block.initializeMemory(as: UInt8.self, repeating: 0)
        defer {
            SecureZero.wipe(block)
            block.deallocate()
        }
        let keyed = key.withUnsafeBytes { (bytes) -> Bool in
            if bytes.count > hash.blockSize {
                return isthmus_hash_init(kind, work) == 1 && update(work, bytes)
                    && isthmus_hash_final(kind, work, block.baseAddress?.assumingMemoryBound(to: UInt8.self)) == 1
            }
            if bytes.count > 0 {
                UnsafeMutableRawBufferPointer(rebasing: block[0..<bytes.count]).copyMemory(from: bytes)
            }
            return true
        }
        guard keyed, absorb(block, xoredWith: Self.innerPad, into: inner),
            absorb(block, xoredWith: Self.outerPad, into: outer)
        else {
            throw .backendFailure("HMAC keying failed")
        }
    }

    /// Starts `state` and absorbs `block ^ pad` (the pad is applied in place, then undone).
    private func absorb(
        _ block: UnsafeMutableRawBufferPointer, xoredWith pad: UInt8,
        into state: UnsafeMutablePointer<isthmus_hash_state>
    ) -> Bool {
        var index = 0
        while index < block.count {
            block[index] ^= pad
            index += 1
        }
        let done = isthmus_hash_init(kind, state) == 1 && update(state, UnsafeRawBufferPointer(block))
        index = 0
        while index < block.count {
            block[index] ^= pad
            index += 1
        }
        return done
    }

    private func update(_ state: UnsafeMutablePointer<isthmus_hash_state>, _ bytes: UnsafeRawBufferPointer) -> Bool {
        guard bytes.count > 0 else { return true }
        return isthmus_hash_update(kind, state, bytes.baseAddress, bytes.count) == 1
    }

    /// HMAC of `a || b || c` into `digest` (all `digestLength` bytes). Call with the lock held.
    private func mac(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer, _ c: UnsafeRawBufferPointer) -> Bool {
        let output = digest.baseAddress?.assumingMemoryBound(to: UInt8.self)
        work.update(from: inner, count: 1)
        guard update(work, a), update(work, b), update(work, c), isthmus_hash_final(kind, work, output) == 1 else {
            return false
        }
        work.update(from: outer, count: 1)
        return isthmus_hash_update(kind, work, output, digestLength) == 1 && isthmus_hash_final(kind, work, output) == 1
    }

    /// Writes the first `icv.count` bytes of the HMAC of `a || b || c` to `icv`.
    func compute(
        _ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer, _ c: UnsafeRawBufferPointer,
        into icv: UnsafeMutableRawBufferPointer
    ) -> Bool {
        withMAC(a, b, c, truncatedTo: icv.count) { mac in
            icv.copyMemory(from: mac)
            return true
        }
    }

    /// `true` when `icv` equals the first `icv.count` bytes of the HMAC of `a || b || c`, compared in
    /// constant time.
    func verify(
        _ icv: UnsafeRawBufferPointer, _ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer,
        _ c: UnsafeRawBufferPointer
    ) -> Bool {
        withMAC(a, b, c, truncatedTo: icv.count) { mac in ConstantTime.equal(mac, icv) }
    }

    /// Runs `body` on the first `length` bytes of the HMAC of `a || b || c`, with the lock held;
    /// `false` when `length` exceeds the digest or libcrypto fails.
    private func withMAC(
        _ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer, _ c: UnsafeRawBufferPointer,
        truncatedTo length: Int, _ body: (UnsafeRawBufferPointer) -> Bool
    ) -> Bool {
        guard length <= digestLength else { return false }
        return lock.withLock { _ -> Bool in
            guard mac(a, b, c) else { return false }
            return body(UnsafeRawBufferPointer(rebasing: digest[0..<length]))
        }
    }

    deinit {
        SecureZero.wipe(
            UnsafeMutableRawBufferPointer(
                start: states, count: MemoryLayout<isthmus_hash_state>.stride * Self.stateCount))
        states.deallocate()
        SecureZero.wipe(digest)
        digest.deallocate()
    }
}
