/// A data attribute in the ISAKMP format shared by IKEv1 SA attributes and IKEv2 transform
/// attributes (RFC 2408 section 3.3, RFC 7296 section 3.3.5).
///
/// The first bit of the type field (AF) selects the form: set for Type/Value (a 16-bit value in
/// place of the length), clear for Type/Length/Value.
public struct DataAttribute: Hashable, Sendable {
    /// The value of an attribute, in its wire form.
    public enum Value: Hashable, Sendable {
        /// A basic (TV) attribute: the value is the 16 bits after the type (AF = 1).
        case basic(UInt16)
        /// A variable (TLV) attribute: a 16-bit length then that many bytes (AF = 0).
        case variable([UInt8])
    }

    /// The attribute type, 15 bits (0...0x7FFF). The AF bit is not part of it.
    public var type: UInt16
    /// The attribute value.
    public var value: Value

    /// The AF (attribute format) bit in the first octet pair.
    static let formatBit: UInt16 = 0x8000

    /// Creates an attribute.
    /// - Precondition: `type` fits in 15 bits and a variable value in 65535 bytes.
    public init(type: UInt16, value: Value) {
        precondition(type & DataAttribute.formatBit == 0, "attribute type is 15 bits")
        if case .variable(let bytes) = value {
            precondition(bytes.count <= Int(UInt16.max), "attribute value longer than 65535 bytes")
        }
        self.type = type
        self.value = value
    }

    /// Reads one attribute.
    static func parse(from reader: inout WireReader) throws(WireError) -> DataAttribute {
        let typeField = try reader.expectUInt16("attribute type")
        let type = typeField & ~formatBit
        if typeField & formatBit != 0 {
            return DataAttribute(type: type, value: .basic(try reader.expectUInt16("attribute value")))
        }
        let length = try reader.expectUInt16("attribute length")
        let bytes = try reader.expectBytes(Int(length), "attribute value")
        return DataAttribute(type: type, value: .variable(bytes))
    }

    /// Reads attributes until `reader` is exhausted, at most ``WireLimits/maximumAttributeCount``.
    static func parseList(from reader: inout WireReader) throws(WireError) -> [DataAttribute] {
        try reader.readToEnd(atMost: WireLimits.maximumAttributeCount, "attributes", DataAttribute.parse(from:))
    }

    /// Appends the attribute in wire form.
    func serialize(into writer: inout WireWriter) {
        switch self.value {
        case .basic(let value):
            writer.writeInteger(self.type | DataAttribute.formatBit)
            writer.writeInteger(value)
        case .variable(let bytes):
            writer.writeInteger(self.type)
            writer.writeInteger(UInt16(bytes.count))
            writer.writeBytes(bytes)
        }
    }
}
