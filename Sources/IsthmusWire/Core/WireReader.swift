/// A bounds-checked big-endian reader over a byte slice.
///
/// Reads never trap: the optional-returning methods return `nil` and leave the reader unchanged
/// when too few bytes remain; the `expect` methods throw ``WireError/Code/truncated`` instead.
/// The reader tracks the absolute offset of its position in the original input, so errors point
/// at the right byte even inside nested structures.
public struct WireReader: Sendable {
    /// The bytes not yet consumed.
    public private(set) var remainingBytes: ArraySlice<UInt8>

    /// Absolute offset (in the caller's input) of `remainingBytes.startIndex`.
    public private(set) var offset: Int

    /// Creates a reader over `bytes`.
    /// - Parameters:
    ///   - bytes: the input; slice indices are not assumed to start at zero.
    ///   - origin: the absolute offset of the first byte of `bytes`, for error reporting.
    public init(_ bytes: ArraySlice<UInt8>, origin: Int = 0) {
        self.remainingBytes = bytes
        self.offset = origin
    }

    /// Creates a reader over a whole array.
    public init(_ bytes: [UInt8], origin: Int = 0) {
        self.init(bytes[...], origin: origin)
    }

    /// The number of bytes left to read.
    public var remaining: Int { self.remainingBytes.count }

    /// Whether all input has been consumed.
    public var isAtEnd: Bool { self.remainingBytes.isEmpty }

    /// Reads one byte, or returns `nil` at the end of input.
    public mutating func readUInt8() -> UInt8? {
        guard let byte = self.remainingBytes.first else { return nil }
        self.remainingBytes = self.remainingBytes.dropFirst()
        self.offset += 1
        return byte
    }

    /// Reads a big-endian integer, or returns `nil` (without consuming) if too few bytes remain.
    public mutating func readInteger<T: FixedWidthInteger & UnsignedInteger>(as: T.Type = T.self) -> T? {
        let size = MemoryLayout<T>.size
        guard self.remainingBytes.count >= size else { return nil }
        var value: T = 0
        for byte in self.remainingBytes.prefix(size) {
            value = (value << 8) | T(byte)
        }
        self.remainingBytes = self.remainingBytes.dropFirst(size)
        self.offset += size
        return value
    }

    /// Reads `count` bytes as a slice of the input, or returns `nil` (without consuming) if fewer
    /// remain or `count` is negative.
    public mutating func readSlice(_ count: Int) -> ArraySlice<UInt8>? {
        guard count >= 0, self.remainingBytes.count >= count else { return nil }
        let slice = self.remainingBytes.prefix(count)
        self.remainingBytes = self.remainingBytes.dropFirst(count)
        self.offset += count
        return slice
    }

    /// Reads all remaining bytes.
    public mutating func readRemaining() -> ArraySlice<UInt8> {
        let slice = self.remainingBytes
        self.offset += slice.count
        self.remainingBytes = self.remainingBytes.suffix(0)
        return slice
    }

    /// Reads `count` bytes into a sub-reader whose offsets continue this reader's offsets.
    public mutating func readSubReader(_ count: Int) -> WireReader? {
        let start = self.offset
        guard let slice = self.readSlice(count) else { return nil }
        return WireReader(slice, origin: start)
    }

    /// Runs `body`; if it returns `nil` or throws, the reader is restored to where it was.
    public mutating func rewindOnNilOrError<T>(_ body: (inout WireReader) throws -> T?) rethrows -> T? {
        let saved = self
        do {
            guard let result = try body(&self) else {
                self = saved
                return nil
            }
            return result
        } catch {
            self = saved
            throw error
        }
    }
}

extension WireReader {
    /// Reads one byte or throws ``WireError/Code/truncated`` naming `field`.
    public mutating func expectUInt8(_ field: StaticString) throws(WireError) -> UInt8 {
        guard let value = self.readUInt8() else { throw self.truncation(field) }
        return value
    }

    /// Reads a big-endian 16-bit integer or throws ``WireError/Code/truncated``.
    public mutating func expectUInt16(_ field: StaticString) throws(WireError) -> UInt16 {
        guard let value = self.readInteger(as: UInt16.self) else { throw self.truncation(field) }
        return value
    }

    /// Reads a big-endian 32-bit integer or throws ``WireError/Code/truncated``.
    public mutating func expectUInt32(_ field: StaticString) throws(WireError) -> UInt32 {
        guard let value = self.readInteger(as: UInt32.self) else { throw self.truncation(field) }
        return value
    }

    /// Reads a big-endian 64-bit integer or throws ``WireError/Code/truncated``.
    public mutating func expectUInt64(_ field: StaticString) throws(WireError) -> UInt64 {
        guard let value = self.readInteger(as: UInt64.self) else { throw self.truncation(field) }
        return value
    }

    /// Reads `count` bytes or throws ``WireError/Code/truncated``.
    public mutating func expectSlice(_ count: Int, _ field: StaticString) throws(WireError) -> ArraySlice<UInt8> {
        guard let value = self.readSlice(count) else { throw self.truncation(field) }
        return value
    }

    /// Reads `count` bytes as an array or throws ``WireError/Code/truncated``.
    ///
    /// The copy is bounded by the bytes actually present, never by an unchecked length field.
    public mutating func expectBytes(_ count: Int, _ field: StaticString) throws(WireError) -> [UInt8] {
        Array(try self.expectSlice(count, field))
    }

    /// Throws ``WireError/Code/trailingData`` unless all input has been consumed.
    public func expectAtEnd(_ structure: StaticString) throws(WireError) {
        guard self.isAtEnd else {
            throw WireError(.trailingData, at: self.offset, "\(self.remaining) bytes after \(structure)")
        }
    }

    @inline(never)
    private func truncation(_ field: StaticString) -> WireError {
        WireError(.truncated, at: self.offset, "input ends inside \(field) (\(self.remaining) bytes left)")
    }
}

extension WireReader {
    /// Reads elements with `readElement` until all input has been consumed.
    ///
    /// - Throws: ``WireError/Code/limitExceeded`` before reading element `limit + 1` (so a hostile
    ///   peer cannot make the loop run without bound), naming `elements`; whatever `readElement` throws.
    mutating func readToEnd<Element>(
        atMost limit: Int,
        _ elements: StaticString,
        _ readElement: (inout WireReader) throws(WireError) -> Element
    ) throws(WireError) -> [Element] {
        var result: [Element] = []
        while !self.isAtEnd {
            guard result.count < limit else {
                throw WireError(.limitExceeded, at: self.offset, "more than \(limit) \(elements)")
            }
            result.append(try readElement(&self))
        }
        return result
    }
}
