/// The ESP header: SPI and sequence number (RFC 4303 section 2).
///
/// Hot-path helpers work on raw buffers and never allocate.
public struct ESPHeader: Hashable, Sendable {
    /// The header size: SPI (4) + sequence number (4).
    public static let size = 8

    /// The Security Parameters Index; 0 is reserved and never valid on the wire
    /// (RFC 4303 section 2.1).
    public var spi: UInt32
    /// The low 32 bits of the sequence number (RFC 4303 section 2.2).
    public var sequenceNumber: UInt32

    public init(spi: UInt32, sequenceNumber: UInt32) {
        self.spi = spi
        self.sequenceNumber = sequenceNumber
    }

    /// Reads the header at the start of an ESP packet.
    ///
    /// - Returns: `nil` if the packet is shorter than ``size`` or the SPI is 0.
    @inlinable
    public static func parse(_ packet: UnsafeRawBufferPointer) -> ESPHeader? {
        guard packet.count >= ESPHeader.size else { return nil }
        let spi = UInt32(bigEndian: packet.loadUnaligned(fromByteOffset: 0, as: UInt32.self))
        guard spi != 0 else { return nil }
        let sequence = UInt32(bigEndian: packet.loadUnaligned(fromByteOffset: 4, as: UInt32.self))
        return ESPHeader(spi: spi, sequenceNumber: sequence)
    }

    /// Writes the header at the start of `buffer`.
    /// - Throws: ``WireError/Code/bufferTooSmall`` if `buffer` holds fewer than ``size`` bytes.
    @inlinable
    public func write(to buffer: UnsafeMutableRawBufferPointer) throws(WireError) {
        guard buffer.count >= ESPHeader.size else {
            throw WireError(code: .bufferTooSmall, offset: 0, reason: "ESP header needs 8 bytes")
        }
        buffer.storeBytes(of: self.spi.bigEndian, toByteOffset: 0, as: UInt32.self)
        buffer.storeBytes(of: self.sequenceNumber.bigEndian, toByteOffset: 4, as: UInt32.self)
    }
}
