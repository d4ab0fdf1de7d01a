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

/// The operating system's CSPRNG: `arc4random_buf` (glibc 2.36+: one `getrandom(2)` per IV; Darwin),
/// else `SystemRandomNumberGenerator` (8 bytes per call).
public struct SystemESPRandomSource: ESPRandomSource, Sendable {
    public init() {}

    public mutating func fill(_ bytes: UnsafeMutableRawBufferPointer) {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        var offset = 0
        #if canImport(Glibc) || canImport(Darwin)
            // glibc 2.36+: one getrandom(2) per call, the kernel's CSPRNG.
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
