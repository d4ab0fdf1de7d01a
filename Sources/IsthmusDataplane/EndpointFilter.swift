import IsthmusESP
import IsthmusIP

/// The endpoint ACLs (`endpoints:` in the configuration), applied to every packet that leaves a tunnel
/// towards this gateway's site: a site-to-site link makes the site only as safe as the least safe host
/// on the far side, so listed services decide who on the far side may reach them.
///
/// A packet is matched against the endpoints in configuration order; the first whose address, protocol
/// and port match it decides with its rules, in order, first match wins, and a packet no rule matches is
/// denied. A packet to an address and service no endpoint lists passes, as it always did.
///
/// Replies: only packets towards the site are filtered, never those leaving it, so replies to the far
/// side's permitted connections cross untouched. Replies to connections the site opened come back
/// towards the site, and they are let through without state: a TCP segment without SYN (ACK set), ICMP
/// echo replies and ICMP errors count as replies ("established", as router ACLs have it) when the
/// endpoint lists a whole address (no port); an endpoint with a port only sees packets to that port,
/// which replies to the site's own connections never are. A TCP segment without SYN cannot open a
/// connection, so letting it through gives a denied host nothing but the endpoint's RST. UDP has no
/// such marker: UDP replies to a port-less endpoint are checked like any other packet.
public struct EndpointFilter: Sendable, Hashable {
    /// One rule: permit or deny sources in `source` (nil: any source).
    public struct Rule: Sendable, Hashable {
        public var permit: Bool
        public var source: IPPrefix?

        public init(permit: Bool, source: IPPrefix?) {
            self.permit = permit
            self.source = source
        }
    }

    /// One protected service: an address, an IP protocol (nil: any) and a destination port (nil: any).
    public struct Endpoint: Sendable, Hashable {
        public var name: String
        public var address: IPAddress
        public var ipProtocol: UInt8?
        public var port: UInt16?
        public var rules: [Rule]

        public init(name: String, address: IPAddress, ipProtocol: UInt8?, port: UInt16?, rules: [Rule]) {
            self.name = name
            self.address = address
            self.ipProtocol = ipProtocol
            self.port = port
            self.rules = rules
        }
    }

    /// What the filter decided for one packet.
    public enum Decision: Sendable, Hashable {
        /// No endpoint lists the packet's destination and service.
        case unlisted
        /// Endpoint `endpoint`'s rule `rule` permits it.
        case permitted(endpoint: Int, rule: Int)
        /// A reply to a connection the site opened (TCP without SYN, ICMP echo reply or error) to a
        /// port-less endpoint.
        case reply(endpoint: Int)
        /// Endpoint `endpoint`'s rule `rule` denies it, or no rule matched (nil).
        case denied(endpoint: Int, rule: Int?)
    }

    public let endpoints: [Endpoint]

    public init(endpoints: [Endpoint]) {
        self.endpoints = endpoints
    }

    /// The decision for `packet`, whose header `header` describes (`bytes` for TCP flags and ICMP types).
    public func decide(_ header: InnerPacket, bytes: UnsafeRawBufferPointer) -> Decision {
        var index = 0
        while index < endpoints.count {
            let endpoint = endpoints[index]
            if endpoint.address == header.destination,
                endpoint.ipProtocol == nil || endpoint.ipProtocol == header.ipProtocol,
                endpoint.port == nil || endpoint.port == header.destinationPort
            {
                return decide(header, bytes: bytes, endpoint: index)
            }
            index += 1
        }
        return .unlisted
    }

    private func decide(_ header: InnerPacket, bytes: UnsafeRawBufferPointer, endpoint index: Int) -> Decision {
        let endpoint = endpoints[index]
        var rule = 0
        while rule < endpoint.rules.count {
            let candidate = endpoint.rules[rule]
            if candidate.source?.contains(header.source) ?? true {
                if candidate.permit { return .permitted(endpoint: index, rule: rule) }
                return endpoint.port == nil && Self.isReply(header, bytes)
                    ? .reply(endpoint: index) : .denied(endpoint: index, rule: rule)
            }
            rule += 1
        }
        return endpoint.port == nil && Self.isReply(header, bytes)
            ? .reply(endpoint: index) : .denied(endpoint: index, rule: nil)
    }

    /// Whether the packet can only be part of a conversation the site started: a TCP segment without SYN
    /// (with ACK), an ICMP echo reply or error (ICMPv4 0, 3, 11, 12; ICMPv6 1 to 4 and 129). IPv4 options
    /// are skipped; IPv6 extension headers are not (such packets are not taken for replies).
    static func isReply(_ header: InnerPacket, _ bytes: UnsafeRawBufferPointer) -> Bool {
        guard !bytes.isEmpty else { return false }
        let offset: Int
        switch header.family {
        case .v4:
            // Non-first fragments carry no transport header.
            guard bytes.count >= 20, bytes[6] & 0x1F == 0, bytes[7] == 0 else { return false }
            offset = Int(bytes[0] & 0x0F) * 4
        case .v6:
            guard bytes.count >= 40, bytes[6] == header.ipProtocol else { return false }
            offset = 40
        }
        switch header.ipProtocol {
        case InnerPacket.ProtocolNumber.tcp:
            guard bytes.count >= offset + 14 else { return false }
            let flags = bytes[offset + 13]
            return flags & 0x02 == 0 && flags & 0x10 != 0  // no SYN, ACK
        case InnerPacket.ProtocolNumber.icmp:
            guard bytes.count > offset else { return false }
            switch bytes[offset] {
            case 0, 3, 11, 12: return true
            default: return false
            }
        case 58:  // ICMPv6
            guard bytes.count > offset else { return false }
            switch bytes[offset] {
            case 1, 2, 3, 4, 129: return true
            default: return false
            }
        default:
            return false
        }
    }
}
