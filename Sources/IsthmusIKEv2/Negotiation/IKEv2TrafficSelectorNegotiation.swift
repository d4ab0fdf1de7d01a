import IsthmusIP
import IsthmusWire

/// Traffic selector negotiation (RFC 7296 section 2.9): wire conversion, narrowing by the responder
/// and the initiator's check of the result.
///
/// TSi is always the initiator's side and TSr the responder's: as responder, TSi is our remote side and TSr
/// our local side; as initiator, TSi is our local side and TSr our remote side.
public enum IKEv2TrafficSelectorNegotiation {
    // MARK: - Wire conversion

    /// The selector a wire entry describes, or nil when ``TrafficSelector`` cannot represent it: a start
    /// address or port above the end (which includes OPAQUE ports, start 65535 end 0, RFC 7296 section 3.13.1).
    ///
    /// Only TS_IPV4_ADDR_RANGE (7) and TS_IPV6_ADDR_RANGE (8) exist on the wire type; IsthmusWire refuses
    /// other TS types when parsing.
    public static func trafficSelector(from wire: IKEv2TrafficSelector) -> TrafficSelector? {
        guard let start = IPAddress(bytes: wire.startAddress), let end = IPAddress(bytes: wire.endAddress),
            start.family == end.family, start.value <= end.value, wire.startPort <= wire.endPort
        else { return nil }
        return TrafficSelector(
            startAddress: start, endAddress: end, ipProtocol: wire.ipProtocol, startPort: wire.startPort,
            endPort: wire.endPort
        )
    }

    /// The wire entry for a selector: type 7 for IPv4, 8 for IPv6 (RFC 7296 section 3.13.1).
    public static func wireSelector(for selector: TrafficSelector) -> IKEv2TrafficSelector {
        IKEv2TrafficSelector(
            family: selector.family == .v4 ? .ipv4 : .ipv6, ipProtocol: selector.ipProtocol,
            startPort: selector.startPort, endPort: selector.endPort, startAddress: selector.startAddress.bytes,
            endAddress: selector.endAddress.bytes
        )
    }

    /// The selectors of a TSi or TSr payload; entries ``trafficSelector(from:)`` cannot represent are left
    /// out, so an empty result (nothing usable) means TS_UNACCEPTABLE to a responder.
    public static func trafficSelectors(from payload: IKEv2TrafficSelectorPayload) -> [TrafficSelector] {
        payload.selectors.compactMap(trafficSelector(from:))
    }

    /// A TSi or TSr payload carrying `selectors` in order, the first 255 at most (the count is one octet;
    /// ``narrow(initiatorOffered:responderOffered:ourLocal:ourRemote:)`` returns far fewer).
    public static func payload(for selectors: [TrafficSelector]) -> IKEv2TrafficSelectorPayload {
        IKEv2TrafficSelectorPayload(selectors: selectors.prefix(Int(UInt8.max)).map(wireSelector(for:)))
    }

    /// Most selectors per side a responder answers with (and installs). A peer offering 255 port-distinct
    /// selectors against several prefixes of ours would otherwise get their product (more than a payload
    /// holds) and make every packet walk that many; past this the set is narrowed further to the first ones
    /// in the initiator's order (RFC 7296 2.9 lets the responder pick any subset). strongSwan sets no limit;
    /// 32 covers any site-to-site layout of ours (a connection's prefixes times a few port ranges).
    public static let maximumSelectorsPerSide = 32

    // MARK: - Negotiation

    /// Responder: narrows the initiator's TSi/TSr to what our configuration allows (RFC 7296 section 2.9).
    ///
    /// Each side becomes every non-empty intersection of an offered selector with one of ours (TSi with
    /// `ourRemote`, TSr with `ourLocal`), without duplicates and without selectors contained in another
    /// result, in the order offered. Several subnets per side work: ours `10.0.1.0/24, 10.0.2.0/24` against
    /// an offered `10.0.0.0/16` gives both /24s.
    /// At most ``maximumSelectorsPerSide`` per side, the first ones.
    /// - Returns: the TSi and TSr to reply with, or nil when either side is empty (answer TS_UNACCEPTABLE).
    public static func narrow(
        initiatorOffered: [TrafficSelector], responderOffered: [TrafficSelector], ourLocal: [TrafficSelector],
        ourRemote: [TrafficSelector]
    ) -> (initiator: [TrafficSelector], responder: [TrafficSelector])? {
        let initiator = intersections(initiatorOffered, ourRemote).prefix(maximumSelectorsPerSide)
        let responder = intersections(responderOffered, ourLocal).prefix(maximumSelectorsPerSide)
        guard !initiator.isEmpty, !responder.isEmpty else { return nil }
        return (Array(initiator), Array(responder))
    }

    /// Initiator: whether the responder's TSi/TSr stay within what we offered (RFC 7296 section 2.9: the
    /// responder may only narrow). Each side must be non-empty and each returned selector a subset of one
    /// we offered on that side.
    public static func accept(
        initiatorOffered: [TrafficSelector], responderOffered: [TrafficSelector],
        returnedInitiator: [TrafficSelector], returnedResponder: [TrafficSelector]
    ) -> Bool {
        func within(_ returned: [TrafficSelector], _ offered: [TrafficSelector]) -> Bool {
            !returned.isEmpty && returned.allSatisfy { selector in offered.contains { selector.isSubset(of: $0) } }
        }
        return within(returnedInitiator, initiatorOffered) && within(returnedResponder, responderOffered)
    }

    /// Selectors for a log line: `10.0.1.0/24, 10.0.2.0/24 proto 6 port 443`, or `(none)`.
    public static func describe(_ selectors: [TrafficSelector]) -> String {
        selectors.isEmpty ? "(none)" : selectors.map(\.description).joined(separator: ", ")
    }

    /// Every non-empty intersection of `offered` with `ours`, without repeats or selectors contained in another;
    /// the first 128 intersections at most are considered (the comparisons grow with their square, and a
    /// hostile peer chooses how many there are).
    static func intersections(_ offered: [TrafficSelector], _ ours: [TrafficSelector]) -> [TrafficSelector] {
        var all: [TrafficSelector] = []
        search: for theirs in offered {
            for mine in ours {
                guard all.count < 4 * maximumSelectorsPerSide else { break search }
                if let common = theirs.intersection(mine), !all.contains(common) { all.append(common) }
            }
        }
        return all.enumerated().filter { index, selector in
            !all.enumerated().contains { other, candidate in other != index && selector.isSubset(of: candidate) }
        }.map(\.element)
    }
}
