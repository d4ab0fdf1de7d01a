/// The ESP trailer: padding, Pad Length and Next Header (RFC 4303 section 2.4 to 2.6).
///
/// The decrypted payload is `data | padding | pad length (1) | next header (1)`; the padding
/// bytes must be 1, 2, 3, ... (RFC 4303 section 2.4, default padding scheme). Hot-path helpers
/// work on raw buffers, never allocate, and throw only on failure (typed throws, no boxing).
public struct ESPTrailer: Hashable, Sendable {
    /// The size of the Pad Length and Next Header fields.
    public static let size = 2

    /// The Next Header value of a dummy (TFC) packet, to be dropped silently (RFC 4303 section 2.6).
    public static let noNextHeader: UInt8 = 59

    /// The length of the data before the padding.
    public var payloadLength: Int
    /// The number of padding bytes.
    public var padLength: UInt8
    /// The protocol of the payload (4 = IPv4, 41 = IPv6 in tunnel mode; 59 = dummy packet).
    public var nextHeader: UInt8

    public init(payloadLength: Int, padLength: UInt8, nextHeader: UInt8) {
        self.payloadLength = payloadLength
        self.padLength = padLength
        self.nextHeader = nextHeader
    }

    /// Whether this is a dummy packet (Next Header 59) that must be discarded.
    @inlinable
    public var isDummyPacket: Bool { self.nextHeader == ESPTrailer.noNextHeader }

    /// Checks the trailer at the end of a decrypted ESP payload (IV and ICV already removed).
    ///
    /// - Parameter plaintext: payload data, padding, Pad Length, Next Header.
    /// - Returns: the trailer, whose ``payloadLength`` is the length of the inner packet.
    /// - Throws: ``WireError/Code/truncated`` if fewer than 2 bytes; ``WireError/Code/lengthMismatch``
    ///   if the pad length exceeds the data; ``WireError/Code/invalidValue`` if a padding byte is not
    ///   its 1-based position.
    @inlinable
    public static func parse(_ plaintext: UnsafeRawBufferPointer) throws(WireError) -> ESPTrailer {
        let count = plaintext.count
        guard count >= ESPTrailer.size else {
            throw WireError(code: .truncated, offset: 0, reason: "ESP payload shorter than its trailer")
        }
        let padLength = plaintext[count - 2]
        let nextHeader = plaintext[count - 1]
        let padStart = count - ESPTrailer.size - Int(padLength)
        guard padStart >= 0 else {
            throw WireError(code: .lengthMismatch, offset: count - 2, reason: "ESP pad length exceeds the payload")
        }
        var expected: UInt8 = 1
        for index in padStart..<(count - ESPTrailer.size) {
            guard plaintext[index] == expected else {
                throw WireError(code: .invalidValue, offset: index, reason: "ESP padding byte out of sequence")
            }
            expected &+= 1
        }
        return ESPTrailer(payloadLength: padStart, padLength: padLength, nextHeader: nextHeader)
    }

    /// The number of padding bytes so that payload, padding and the 2 trailer bytes end on a
    /// multiple of `blockSize`, and at least on a 4-byte boundary (RFC 4303 section 2.4).
    ///
    /// - Parameters:
    ///   - payloadLength: the length of the data to protect.
    ///   - blockSize: the cipher block size (16 for AES-CBC, 1 for AES-GCM or ChaCha20-Poly1305).
    /// - Precondition: `payloadLength >= 0` and `1 <= blockSize <= 255`.
    @inlinable
    public static func padLength(payloadLength: Int, blockSize: Int) -> Int {
        precondition(payloadLength >= 0 && blockSize >= 1 && blockSize <= 255, "invalid ESP padding input")
        let alignment = blockSize % 4 == 0 ? blockSize : blockSize * 4 / gcd(blockSize, 4)
        let remainder = (payloadLength + ESPTrailer.size) % alignment
        return remainder == 0 ? 0 : alignment - remainder
    }

    @inlinable
    static func gcd(_ a: Int, _ b: Int) -> Int {
        var (x, y) = (a, b)
        while y != 0 { (x, y) = (y, x % y) }
        return x
    }

    /// Writes padding 1, 2, 3, ..., the Pad Length and the Next Header after `payloadLength` bytes
    /// of `buffer`.
    ///
    /// - Returns: the total length (payload + padding + 2).
    /// - Throws: ``WireError/Code/bufferTooSmall`` if the buffer cannot hold it, or
    ///   ``WireError/Code/invalidValue`` if `padLength` is over 255.
    @inlinable
    public static func write(
        into buffer: UnsafeMutableRawBufferPointer,
        payloadLength: Int,
        padLength: Int,
        nextHeader: UInt8
    ) throws(WireError) -> Int {
        guard padLength >= 0, padLength <= Int(UInt8.max) else {
            throw WireError(code: .invalidValue, offset: 0, reason: "ESP pad length over 255")
        }
        guard payloadLength >= 0, buffer.count - ESPTrailer.size - padLength >= payloadLength else {
            throw WireError(code: .bufferTooSmall, offset: 0, reason: "buffer too small for the ESP trailer")
        }
        var position = payloadLength
        for value in 0..<padLength {
            buffer[position] = UInt8(truncatingIfNeeded: value + 1)
            position += 1
        }
        buffer[position] = UInt8(padLength)
        buffer[position + 1] = nextHeader
        return position + 2
    }
}
