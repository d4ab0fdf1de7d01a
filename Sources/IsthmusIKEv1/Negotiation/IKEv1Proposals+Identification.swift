import IsthmusCrypto
import IsthmusIKE
import IsthmusIP
import IsthmusWire

/// Identification payloads: traffic selectors in Quick Mode and phase 1 identities (RFC 2407 section 4.6.2).
extension IKEv1Proposals {
    // MARK: - Identification payloads for traffic selectors (RFC 2407 section 4.6.2)

    /// IDci/IDcr for a selector: a single address, a subnet, or a range.
    static func identification(_ selector: TrafficSelector) -> ISAKMPIdentificationPayload {
        let v4 = selector.family == .v4
        let port = selector.startPort == selector.endPort ? selector.startPort : 0
        if selector.startAddress == selector.endAddress {
            return ISAKMPIdentificationPayload(
                idType: v4 ? .ipv4Address : .ipv6Address,
                protocolID: selector.ipProtocol, port: port, data: selector.startAddress.bytes)
        }
        if let prefix = selector.prefix {
            return ISAKMPIdentificationPayload(
                idType: v4 ? .ipv4AddressSubnet : .ipv6AddressSubnet,
                protocolID: selector.ipProtocol, port: port, data: prefix.network.bytes + prefix.netmask.bytes)
        }
        return ISAKMPIdentificationPayload(
            idType: v4 ? .ipv4AddressRange : .ipv6AddressRange,
            protocolID: selector.ipProtocol, port: port, data: selector.startAddress.bytes + selector.endAddress.bytes)
    }

    /// The selector an ID payload names; nil for non-address types or a non-contiguous mask.
    static func selector(_ id: ISAKMPIdentificationPayload) -> TrafficSelector? {
        let ports: (UInt16, UInt16) = id.port == 0 ? (0, UInt16.max) : (id.port, id.port)
        func make(_ start: IPAddress, _ end: IPAddress) -> TrafficSelector? {
            guard start.family == end.family, start <= end else { return nil }
            return TrafficSelector(
                startAddress: start, endAddress: end, ipProtocol: id.protocolID,
                startPort: ports.0, endPort: ports.1)
        }
        switch id.idType {
        case .ipv4Address, .ipv6Address:
            guard let address = IPAddress(bytes: id.data) else { return nil }
            return make(address, address)
        case .ipv4AddressSubnet, .ipv6AddressSubnet:
            let half = id.data.count / 2
            guard let network = IPAddress(bytes: id.data[..<half]), let mask = IPAddress(bytes: id.data[half...]) else {
                return nil
            }
            let ones = mask.value.nonzeroBitCount
            let width = network.family.bitWidth
            // Contiguous: the mask's set bits are the top `ones` bits of the address width.
            let expected: UInt128 = ones == 0 ? 0 : (UInt128.max << (128 - ones)) >> (128 - width)
            guard mask.value == expected else { return nil }
            let prefix = IPPrefix(masking: network, length: ones)
            return make(prefix.network, prefix.lastAddress)
        case .ipv4AddressRange, .ipv6AddressRange:
            let half = id.data.count / 2
            guard let start = IPAddress(bytes: id.data[..<half]), let end = IPAddress(bytes: id.data[half...]) else {
                return nil
            }
            return make(start, end)
        default:
            return nil
        }
    }

    // MARK: - Phase 1 identities (RFC 2407 section 4.6.2.1)

    static func identification(_ identity: IKEv1Configuration.Identity) -> ISAKMPIdentificationPayload {
        ISAKMPIdentificationPayload(
            idType: ISAKMPIdentificationType(rawValue: identity.typeNumber), data: identity.data)
    }

    static func identity(_ id: ISAKMPIdentificationPayload) -> IKEv1Configuration.Identity? {
        IKEIdentity(type: id.idType.rawValue, data: id.data)
    }

    /// A readable form of any ID payload, for the unexpected-identity event.
    static func describe(_ id: ISAKMPIdentificationPayload) -> String {
        if let identity = identity(id) { return "\(identity)" }
        return "ID type \(id.idType.rawValue) (\(id.data.count) bytes)"
    }
}
