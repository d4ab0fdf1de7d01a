/// The attribute types a remote-access exchange uses (RFC 7296 section 3.15.1, IANA "IKEv2 Configuration
/// Payload Attribute Types") and their values. Attributes of any other type (strongSwan's and Cisco Unity's
/// private ones, Windows' vendor attributes) parse as plain ``IKEv2ConfigurationAttribute``s and are left to
/// the caller to ignore.
extension IKEv2ConfigurationAttribute {
    /// INTERNAL_IP4_NBNS (4): Windows asks for it.
    public static let internalIPv4NBNSType: UInt16 = 4
    /// APPLICATION_VERSION (7): the client's software, free text.
    public static let applicationVersionType: UInt16 = 7
    /// INTERNAL_IP6_SUBNET (15): an address and a prefix length.
    public static let internalIPv6SubnetType: UInt16 = 15

    /// The IPv4 address of an INTERNAL_IP4_ADDRESS, _NETMASK, _DNS or _NBNS attribute: nil when the value
    /// is empty (a request for "any"); four bytes otherwise.
    /// - Throws: ``WireError`` when the value is neither empty nor four bytes.
    public func ipv4Value() throws(WireError) -> [UInt8]? {
        switch value.count {
        case 0: return nil
        case 4: return value
        default:
            throw WireError(
                .lengthMismatch, at: 0, "CP attribute \(type) holds \(value.count) bytes, not an IPv4 address")
        }
    }

    /// The IPv6 address and prefix length of an INTERNAL_IP6_ADDRESS (17 bytes) or the 16-byte address of
    /// an INTERNAL_IP6_DNS attribute: nil when the value is empty (a request).
    /// - Throws: ``WireError`` for any other length.
    public func ipv6Value() throws(WireError) -> (address: [UInt8], prefixLength: UInt8?)? {
        switch value.count {
        case 0: return nil
        case 16: return (value, nil)
        case 17: return (Array(value[0..<16]), value[16])
        default:
            throw WireError(
                .lengthMismatch, at: 0, "CP attribute \(type) holds \(value.count) bytes, not an IPv6 address")
        }
    }

    /// INTERNAL_IP4_ADDRESS with `address` (four bytes).
    public static func internalIPv4Address(_ address: [UInt8]) -> IKEv2ConfigurationAttribute {
        IKEv2ConfigurationAttribute(type: internalIPv4AddressType, value: address)
    }

    /// INTERNAL_IP4_DNS with `address` (four bytes).
    public static func internalIPv4DNS(_ address: [UInt8]) -> IKEv2ConfigurationAttribute {
        IKEv2ConfigurationAttribute(type: internalIPv4DNSType, value: address)
    }

    /// INTERNAL_IP4_SUBNET: a protected network as address and mask, eight bytes (RFC 7296 3.15.1).
    public static func internalIPv4Subnet(address: [UInt8], mask: [UInt8]) -> IKEv2ConfigurationAttribute {
        IKEv2ConfigurationAttribute(type: internalIPv4SubnetType, value: address + mask)
    }

    /// The address and mask of an INTERNAL_IP4_SUBNET attribute.
    /// - Throws: ``WireError`` unless the value is eight bytes.
    public func ipv4SubnetValue() throws(WireError) -> (address: [UInt8], mask: [UInt8]) {
        guard value.count == 8 else {
            throw WireError(.lengthMismatch, at: 0, "INTERNAL_IP4_SUBNET holds \(value.count) bytes, not 8")
        }
        return (Array(value[0..<4]), Array(value[4..<8]))
    }
}
