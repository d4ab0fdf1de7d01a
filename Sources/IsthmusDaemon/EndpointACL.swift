import IsthmusDataplane
import IsthmusEvents
import IsthmusGateway
import IsthmusIP

/// The configuration's `endpoints:` as the data plane's ``EndpointFilter``, and the views of its
/// decisions: `status` rows and `acl-denied` events.
enum EndpointACL {
    /// The filter for `endpoints` (nil when there are none: nothing is filtered).
    static func filter(_ endpoints: [Endpoint]) -> EndpointFilter? {
        guard !endpoints.isEmpty else { return nil }
        return EndpointFilter(
            endpoints: endpoints.map { endpoint in
                let ipProtocol: UInt8? =
                    switch endpoint.transport {
                    case .any: nil
                    case .tcp: 6
                    case .udp: 17
                    case .icmp: endpoint.address.family == .v4 ? 1 : 58
                    }
                return EndpointFilter.Endpoint(
                    name: endpoint.name, address: endpoint.address, ipProtocol: ipProtocol, port: endpoint.port,
                    rules: endpoint.rules.map { EndpointFilter.Rule(permit: $0.action == .permit, source: $0.remote) })
            })
    }

    /// One row per rule, then `no-match` and `replies`, with the data plane's counts.
    static func status(_ endpoints: [Endpoint], hits: [String: [UInt64]]) -> [ACLRuleStatus] {
        var rows: [ACLRuleStatus] = []
        for endpoint in endpoints {
            let counts = hits[endpoint.name] ?? []
            func count(_ index: Int) -> UInt64 { index < counts.count ? counts[index] : 0 }
            for (index, rule) in endpoint.rules.enumerated() {
                rows.append(
                    ACLRuleStatus(
                        endpoint: endpoint.name, rule: "\(index + 1)", action: rule.action.rawValue,
                        remote: rule.remote.map { "\($0)" } ?? "any", description: rule.description, hits: count(index))
                )
            }
            rows.append(
                ACLRuleStatus(
                    endpoint: endpoint.name, rule: "no-match", action: "deny", remote: "any",
                    description: "no rule matched", hits: count(endpoint.rules.count)))
            rows.append(
                ACLRuleStatus(
                    endpoint: endpoint.name, rule: "replies", action: "permit", remote: "any",
                    description: "replies to the site's own connections", hits: count(endpoint.rules.count + 1)))
        }
        return rows
    }

    /// The event for a denial, under the connection whose SA carried the packet.
    static func event(_ denial: ACLDenial, connection: String, now: Duration) -> GatewayEvent {
        let transport: String
        switch denial.ipProtocol {
        case 6: transport = "tcp"
        case 17: transport = "udp"
        case 1, 58: transport = "icmp"
        default: transport = "protocol \(denial.ipProtocol)"
        }
        let source = denial.sourcePort.map { "\(denial.source):\($0)" } ?? "\(denial.source)"
        let destination = denial.destinationPort.map { "\(denial.destination):\($0)" } ?? "\(denial.destination)"
        let rule = denial.rule.map { "rule \($0 + 1)" } ?? "no rule matched"
        var message = "endpoint \(denial.endpoint) denied \(transport) \(source) -> \(destination) (\(rule))"
        if denial.suppressed > 0 { message += "; \(denial.suppressed) more denials were not reported" }
        return GatewayEvent(
            time: now, connection: connection, kind: .aclDenied, severity: .notice, message: message,
            details: [
                "endpoint": denial.endpoint, "rule": denial.rule.map { "\($0 + 1)" } ?? "no-match",
                "source": "\(denial.source)", "destination": "\(denial.destination)", "protocol": transport,
                "source_port": denial.sourcePort.map { "\($0)" } ?? "",
                "destination_port": denial.destinationPort.map { "\($0)" } ?? "",
                "suppressed": "\(denial.suppressed)",
            ])
    }
}
