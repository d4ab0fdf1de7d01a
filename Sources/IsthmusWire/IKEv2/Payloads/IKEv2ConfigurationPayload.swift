/// The Configuration payload, CP (RFC 7296 section 3.15).
public struct IKEv2ConfigurationPayload: PayloadBody {
    public var configurationType: IKEv2ConfigurationType
    public var attributes: [IKEv2ConfigurationAttribute]

    public init(configurationType: IKEv2ConfigurationType, attributes: [IKEv2ConfigurationAttribute]) {
        self.configurationType = configurationType
        self.attributes = attributes
    }

    init(parsing body: inout WireReader) throws(WireError) {
        self.configurationType = IKEv2ConfigurationType(rawValue: try body.expectUInt8("CFG type"))
        _ = try body.expectSlice(3, "CFG reserved")
        self.attributes = try body.readToEnd(
            atMost: WireLimits.maximumAttributeCount,
            "configuration attributes",
            IKEv2ConfigurationAttribute.parse(from:)
        )
    }

    func serializeBody(into writer: inout WireWriter) {
        writer.writeUInt8(self.configurationType.rawValue)
        writer.writeZeros(3)
        for attribute in self.attributes {
            attribute.serialize(into: &writer)
        }
    }
}

/// A configuration payload type (RFC 7296 section 3.15).
public struct IKEv2ConfigurationType: RawRepresentable, Hashable, Sendable {
    public var rawValue: UInt8

    public init(rawValue: UInt8) {
        self.rawValue = rawValue
    }

    public static let request = IKEv2ConfigurationType(rawValue: 1)
    public static let reply = IKEv2ConfigurationType(rawValue: 2)
    public static let set = IKEv2ConfigurationType(rawValue: 3)
    public static let acknowledge = IKEv2ConfigurationType(rawValue: 4)
}

/// A configuration attribute (RFC 7296 section 3.15.1). The reserved high bit is dropped on parse
/// and written as zero.
public struct IKEv2ConfigurationAttribute: Hashable, Sendable {
    /// The attribute type, 15 bits.
    public var type: UInt16
    /// The value; empty in a request for "any value".
    public var value: [UInt8]

    /// Creates an attribute.
    /// - Precondition: `type` fits in 15 bits and `value` in 65535 bytes.
    public init(type: UInt16, value: [UInt8] = []) {
        precondition(type <= 0x7FFF && value.count <= Int(UInt16.max))
        self.type = type
        self.value = value
    }

    /// Reads one attribute; the reserved bit is dropped.
    static func parse(from reader: inout WireReader) throws(WireError) -> IKEv2ConfigurationAttribute {
        let typeField = try reader.expectUInt16("CP attribute type")
        let length = Int(try reader.expectUInt16("CP attribute length"))
        let value = try reader.expectBytes(length, "CP attribute value")
        return IKEv2ConfigurationAttribute(type: typeField & 0x7FFF, value: value)
    }

    /// Appends the attribute in wire form.
    func serialize(into writer: inout WireWriter) {
        writer.writeInteger(self.type)
        writer.writeInteger(UInt16(self.value.count))
        writer.writeBytes(self.value)
    }

    /// INTERNAL_IP4_ADDRESS (1).
    public static let internalIPv4AddressType: UInt16 = 1
    /// INTERNAL_IP4_NETMASK (2).
    public static let internalIPv4NetmaskType: UInt16 = 2
    /// INTERNAL_IP4_DNS (3).
    public static let internalIPv4DNSType: UInt16 = 3
    /// INTERNAL_IP6_ADDRESS (8).
    public static let internalIPv6AddressType: UInt16 = 8
    /// INTERNAL_IP6_DNS (10).
    public static let internalIPv6DNSType: UInt16 = 10
    /// INTERNAL_IP4_SUBNET (13).
    public static let internalIPv4SubnetType: UInt16 = 13
}
