import CLibcrypto

/// Wiping memory that held secrets, in a way the optimiser cannot remove.
///
/// Uses libcrypto's `OPENSSL_cleanse`, which calls `memset` through a volatile function pointer
/// (the memset_s idiom), so the store survives dead-store elimination even when the buffer is freed
/// immediately afterwards.
public enum SecureZero {
    /// Overwrites every byte of `buffer` with zero.
    @inline(never)
    public static func wipe(_ buffer: UnsafeMutableRawBufferPointer) {
        guard let base = buffer.baseAddress, buffer.count > 0 else { return }
        OPENSSL_cleanse(base, buffer.count)
    }

    /// Overwrites every element of `array` with zero (the array keeps its length).
    @inline(never)
    public static func wipe(_ array: inout [UInt8]) {
        array.withUnsafeMutableBytes { wipe($0) }
    }
}
