import CLibcrypto

/// Comparisons whose running time does not depend on the bytes compared.
public enum ConstantTime {
    /// `true` when both buffers have the same length and contents.
    ///
    /// The time taken depends only on the lengths (`CRYPTO_memcmp`). Use it for every comparison
    /// of a MAC, ICV, hash or key against an expected value.
    @inline(never)
    public static func equal(_ lhs: UnsafeRawBufferPointer, _ rhs: UnsafeRawBufferPointer) -> Bool {
        guard lhs.count == rhs.count else { return false }
        guard lhs.count > 0, let left = lhs.baseAddress, let right = rhs.baseAddress else { return true }
        return CRYPTO_memcmp(left, right, lhs.count) == 0
    }

    /// `true` when both byte arrays have the same length and contents (constant time in the contents).
    public static func equal(_ lhs: [UInt8], _ rhs: [UInt8]) -> Bool {
        lhs.withUnsafeBytes { left in rhs.withUnsafeBytes { right in equal(left, right) } }
    }
}
