import IsthmusESP
import IsthmusIP

/// A packet an endpoint ACL denied: which endpoint and rule, and the packet's 5-tuple.
public struct ACLDenial: Sendable, Hashable {
    /// At most this many denials are reported a second; the rest are counted in the next report.
    public static let reportsPerSecond = 10

    public var endpoint: String
    /// The SA the packet arrived on.
    public var inboundSPI: UInt32
    /// The rule that denied it (0-based), nil when no rule matched.
    public var rule: Int?
    public var source: IPAddress
    public var destination: IPAddress
    public var ipProtocol: UInt8
    public var sourcePort: UInt16?
    public var destinationPort: UInt16?
    /// Denials not reported since the last report (over the rate).
    public var suppressed: UInt64
}

// Endpoint ACLs on the inbound path: after decapsulation, before the TUN write (DataplaneLoop+Inbound.swift).
extension DataplaneLoop {
    /// Replaces the filter; an endpoint whose rules did not change keeps its counts.
    func setFilter(_ new: EndpointFilter?) {
        var hits: [[UInt64]] = []
        for endpoint in new?.endpoints ?? [] {
            let old = filter?.endpoints.firstIndex(of: endpoint)
            hits.append(old.map { aclHits[$0] } ?? [UInt64](repeating: 0, count: endpoint.rules.count + 2))
        }
        filter = new
        aclHits = hits
        dirty = true
        logger.info("endpoint ACLs set", metadata: ["endpoints": "\(new?.endpoints.count ?? 0)"])
    }

    /// Whether the endpoint ACLs let `packet` (decrypted, about to leave the tunnel) through; counts the
    /// decision and reports a denial.
    func admit(_ inner: ESPInboundPacket, in packet: UnsafeMutableRawBufferPointer) -> Bool {
        guard let filter else { return true }
        let decision = filter.decide(inner.header, bytes: UnsafeRawBufferPointer(rebasing: packet[inner.range]))
        switch decision {
        case .unlisted:
            return true
        case .permitted(let endpoint, let rule):
            count(endpoint, rule)
            return true
        case .reply(let endpoint):
            count(endpoint, filter.endpoints[endpoint].rules.count + 1)
            return true
        case .denied(let endpoint, let rule):
            count(endpoint, rule ?? filter.endpoints[endpoint].rules.count)
            plane.countDrop("acl-denied")
            report(endpoint: filter.endpoints[endpoint].name, rule: rule, inner)
            return false
        }
    }

    private func count(_ endpoint: Int, _ slot: Int) {
        aclHits[endpoint][slot] &+= 1
    }

    /// The ACL counts by endpoint name, for publishing (control path: it allocates).
    func aclCounters() -> [String: [UInt64]] {
        var result: [String: [UInt64]] = [:]
        for (index, endpoint) in (filter?.endpoints ?? []).enumerated() { result[endpoint.name] = aclHits[index] }
        return result
    }

    private func report(endpoint: String, rule: Int?, _ inner: ESPInboundPacket) {
        let header = inner.header
        let time = now()
        if time - denialWindow.start >= .seconds(1) { denialWindow = (time, 0, denialWindow.suppressed) }
        guard denialWindow.reported < ACLDenial.reportsPerSecond else {
            denialWindow.suppressed &+= 1
            return
        }
        denialWindow.reported += 1
        let suppressed = denialWindow.suppressed
        denialWindow.suppressed = 0
        plane.reportDenial(
            ACLDenial(
                endpoint: endpoint, inboundSPI: inner.inboundSPI, rule: rule, source: header.source,
                destination: header.destination,
                ipProtocol: header.ipProtocol, sourcePort: header.sourcePort, destinationPort: header.destinationPort,
                suppressed: suppressed))
    }
}
