import CLibcrypto

/// Key material: an immutable byte string that never prints and is wiped when released.
///
/// `SecretBytes` is a value type over a single heap allocation shared by copies (copies are cheap and
/// share storage; the storage is immutable after initialisation). When the last copy goes away the bytes
/// are overwritten with `OPENSSL_cleanse`, which libcrypto guarantees is not removed by the optimiser.
///
/// - `description`, `debugDescription` and the reflection mirror show only the length
///   (`<secret 32 bytes>`), so keys cannot leak through logging, string interpolation or `dump`.
/// - `==` runs in time that depends only on the lengths (`CRYPTO_memcmp`), never on the contents.
/// - Reading the bytes is explicit: ``withUnsafeBytes(_:)`` or ``copyBytes()``.
///
/// - Note: the storage is not `mlock`ed; swap protection is a process-level decision
///   (`mlockall`) for the daemon.
public struct SecretBytes: Sendable {
    private let storage: SecretStorage

    /// Copies `bytes` into fresh secret storage.
    public init(_ bytes: some Sequence<UInt8>) {
        var array = Array(bytes)
        defer { SecureZero.wipe(&array) }
        self.storage = SecretStorage(count: array.count) { destination in
            array.withUnsafeBytes { destination.copyMemory(from: $0) }
        }
    }

    /// Copies the bytes of a raw buffer into fresh secret storage.
    public init(copying bytes: UnsafeRawBufferPointer) {
        self.storage = SecretStorage(count: bytes.count) { destination in
            if bytes.count > 0 {
                destination.copyMemory(from: bytes)
            }
        }
    }

    /// Creates `count` bytes written by `initializer`, without an intermediate copy.
    ///
    /// The buffer starts zeroed; `initializer` may leave bytes untouched.
    public init<E: Error>(
        count: Int,
        initializingWith initializer: (UnsafeMutableRawBufferPointer) throws(E) -> Void
    ) throws(E) {
        self.storage = try SecretStorage(count: count, initializer: initializer)
    }

    /// Creates `count` zero bytes.
    public init(zeros count: Int) {
        self.storage = SecretStorage(count: count) { _ in }
    }

    /// The number of bytes.
    public var count: Int { storage.count }

    /// `true` when there are no bytes.
    public var isEmpty: Bool { storage.count == 0 }

    /// Calls `body` with a read-only view of the bytes. Do not let the pointer escape.
    public func withUnsafeBytes<R, E: Error>(
        _ body: (UnsafeRawBufferPointer) throws(E) -> R
    ) throws(E) -> R {
        try storage.withUnsafeBytes(body)
    }

    /// Returns the bytes as a plain array: the copy is no longer protected, use it sparingly
    /// (tests, handing a key to an API that only takes arrays).
    public func copyBytes() -> [UInt8] {
        storage.withUnsafeBytes { Array($0) }
    }

    /// Returns a new secret holding the bytes in `range` (bounds are clamped to the secret).
    public func slice(_ range: Range<Int>) -> SecretBytes {
        let lower = min(max(range.lowerBound, 0), count)
        let upper = min(max(range.upperBound, lower), count)
        return storage.withUnsafeBytes { bytes in
            SecretBytes(copying: UnsafeRawBufferPointer(rebasing: bytes[lower..<upper]))
        }
    }

    /// Returns the first `length` bytes (or all of them when shorter).
    public func prefix(_ length: Int) -> SecretBytes {
        slice(0..<length)
    }

    /// Returns `self` followed by `other` in fresh secret storage.
    public func appending(_ other: SecretBytes) -> SecretBytes {
        SecretBytes(count: count + other.count) { destination in
            self.withUnsafeBytes { mine in
                other.withUnsafeBytes { theirs in
                    if mine.count > 0 {
                        UnsafeMutableRawBufferPointer(rebasing: destination[0..<mine.count]).copyMemory(from: mine)
                    }
                    if theirs.count > 0 {
                        UnsafeMutableRawBufferPointer(rebasing: destination[mine.count...]).copyMemory(from: theirs)
                    }
                }
            }
        }
    }
}

extension SecretBytes: Equatable {
    /// Constant-time comparison: the running time depends on the lengths only.
    public static func == (lhs: SecretBytes, rhs: SecretBytes) -> Bool {
        guard lhs.count == rhs.count else { return false }
        return lhs.withUnsafeBytes { left in
            rhs.withUnsafeBytes { right in
                ConstantTime.equal(left, right)
            }
        }
    }
}

extension SecretBytes: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// A redacted description: `<secret N bytes>`.
    public var description: String { "<secret \(count) bytes>" }

    /// A redacted description: `<secret N bytes>`.
    public var debugDescription: String { description }

    /// A mirror without children, so `dump` and reflection never show the bytes.
    public var customMirror: Mirror { Mirror(self, children: [], displayStyle: .struct) }
}

/// Storage shared by the copies of one ``SecretBytes`` value. Immutable after `init`.
private final class SecretStorage: @unchecked Sendable {
    /// Alignment of the allocation; 16 suits every cipher key schedule that might read it directly.
    private static let alignment = 16

    let count: Int
    private let pointer: UnsafeMutableRawPointer

    init<E: Error>(count: Int, initializer: (UnsafeMutableRawBufferPointer) throws(E) -> Void) throws(E) {
        let safeCount = max(count, 0)
        self.count = safeCount
        // Allocate at least one byte so the pointer is always valid.
        self.pointer = UnsafeMutableRawPointer.allocate(byteCount: max(safeCount, 1), alignment: Self.alignment)
        self.pointer.initializeMemory(as: UInt8.self, repeating: 0, count: max(safeCount, 1))
        // Every stored property is set: if the initializer throws, `deinit` wipes and frees the memory.
        try initializer(UnsafeMutableRawBufferPointer(start: pointer, count: safeCount))
    }

    func withUnsafeBytes<R, E: Error>(_ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
        try body(UnsafeRawBufferPointer(start: pointer, count: count))
    }

    deinit {
        SecureZero.wipe(UnsafeMutableRawBufferPointer(start: pointer, count: max(count, 1)))
        pointer.deallocate()
    }
}
