/// A big-endian writer appending to a byte array.
///
/// Length fields that depend on what follows are written as placeholders with
/// ``reserveUInt16()`` and filled in with ``patchLength16(at:)`` once the structure is complete.
public struct WireWriter: Sendable {
    /// The bytes written so far.
    public private(set) var bytes: [UInt8]

    /// Creates an empty writer.
    public init(reservingCapacity capacity: Int = 0) {
        self.bytes = []
        self.bytes.reserveCapacity(capacity)
    }

    /// The number of bytes written so far.
    public var count: Int { self.bytes.count }

    /// Appends one byte.
    public mutating func writeUInt8(_ value: UInt8) {
        self.bytes.append(value)
    }

    /// Appends a big-endian integer.
    public mutating func writeInteger<T: FixedWidthInteger & UnsignedInteger>(_ value: T) {
        let size = MemoryLayout<T>.size
        for index in stride(from: size - 1, through: 0, by: -1) {
            self.bytes.append(UInt8(truncatingIfNeeded: value >> (index * 8)))
        }
    }

    /// Appends raw bytes.
    public mutating func writeBytes<S: Sequence>(_ data: S) where S.Element == UInt8 {
        self.bytes.append(contentsOf: data)
    }

    /// Appends `count` zero bytes (RESERVED fields).
    public mutating func writeZeros(_ count: Int) {
        self.bytes.append(contentsOf: repeatElement(0, count: count))
    }

    /// Appends a 16-bit placeholder and returns its position for ``patchLength16(at:)``.
    public mutating func reserveUInt16() -> Int {
        let position = self.bytes.count
        self.writeInteger(UInt16(0))
        return position
    }

    /// Appends a 32-bit placeholder and returns its position for ``patchLength32(at:)``.
    public mutating func reserveUInt32() -> Int {
        let position = self.bytes.count
        self.writeInteger(UInt32(0))
        return position
    }

    /// Overwrites a 16-bit big-endian value at `position`.
    public mutating func patchUInt16(_ value: UInt16, at position: Int) {
        precondition(position >= 0 && position + 2 <= self.bytes.count, "patch outside written bytes")
        self.bytes[position] = UInt8(truncatingIfNeeded: value >> 8)
        self.bytes[position + 1] = UInt8(truncatingIfNeeded: value)
    }

    /// Overwrites a 32-bit big-endian value at `position`.
    public mutating func patchUInt32(_ value: UInt32, at position: Int) {
        precondition(position >= 0 && position + 4 <= self.bytes.count, "patch outside written bytes")
        for index in 0..<4 {
            self.bytes[position + index] = UInt8(truncatingIfNeeded: value >> ((3 - index) * 8))
        }
    }

    /// Fills a 16-bit length placeholder with the number of bytes from `start` to the end.
    ///
    /// - Precondition: the structure fits in 16 bits; building a larger one is a programming error.
    public mutating func patchLength16(at position: Int, from start: Int) {
        let length = self.bytes.count - start
        precondition(length <= Int(UInt16.max), "structure longer than a 16-bit length field")
        self.patchUInt16(UInt16(length), at: position)
    }
}
