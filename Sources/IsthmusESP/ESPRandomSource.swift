#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Where CBC IVs come from: they must be unpredictable (RFC 3602 section 2.4; RFC 4303 section 3.3.2).
///
/// Injected so tests are deterministic; the daemon uses ``SystemESPRandomSource``.
public protocol ESPRandomSource {
    /// Fills `bytes` with random bytes. Must not allocate (it runs once per CBC packet).
    mutating func fill(_ bytes: UnsafeMutableRawBufferPointer)
}

/// The operating system's CSPRNG, read 4 KiB at a time: one `getrandom(2)` (through `arc4random_buf`,
/// glibc 2.36+) per 256 CBC IVs instead of one per packet, which showed as 3.5 % of a CBC gateway's CPU.
/// Every byte is used once; IVs travel in clear anyway, so holding the next ones in memory reveals nothing a
/// reader of the process's memory would not have. Owned by one thread at a time (the data plane's engine).
public struct SystemESPRandomSource: ESPRandomSource, @unchecked Sendable {
    private let pool = RandomPool()

    public init() {}

    public mutating func fill(_ bytes: UnsafeMutableRawBufferPointer) {
        pool.fill(bytes)
    }
}

/// The bytes behind ``SystemESPRandomSource``: allocated once, refilled when used up.
final class RandomPool {
    static let size = 4096
    private let storage = UnsafeMutableRawBufferPointer.allocate(byteCount: RandomPool.size, alignment: 16)
    /// Bytes of `storage` already handed out (all of them: refill before the next use).
    private var used = RandomPool.size

    deinit { storage.deallocate() }

    func fill(_ bytes: UnsafeMutableRawBufferPointer) {
        guard let target = bytes.baseAddress else { return }
        var offset = 0
        while offset < bytes.count {
            if used == storage.count {
                Self.systemRandom(storage)
                used = 0
            }
            let count = min(bytes.count - offset, storage.count - used)
            (target + offset).copyMemory(from: storage.baseAddress! + used, byteCount: count)
            used += count
            offset += count
        }
    }

    /// Fills `bytes` from the kernel's CSPRNG: `arc4random_buf` (glibc 2.36+: `getrandom(2)`; Darwin), else
    /// `SystemRandomNumberGenerator` (8 bytes per call).
    static func systemRandom(_ bytes: UnsafeMutableRawBufferPointer) {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        var offset = 0
        #if canImport(Glibc) || canImport(Darwin)
            arc4random_buf(base, bytes.count)
            offset = bytes.count
        #endif
        var generator = SystemRandomNumberGenerator()
        while offset < bytes.count {
            let word = generator.next()
            withUnsafeBytes(of: word) { wordBytes in
                let count = min(wordBytes.count, bytes.count - offset)
                for index in 0..<count { bytes[offset + index] = wordBytes[index] }
            }
            offset += MemoryLayout<UInt64>.size
        }
    }
}
