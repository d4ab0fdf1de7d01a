import IsthmusEvents
import IsthmusGateway

/// The causes that make an established connection work badly: packets too big, denied by an ACL, a
/// missing data path, a key that changed on disk (SAs renewed too often: Diagnoser+Lifetimes.swift).
extension Diagnoser {
    // MARK: Data plane

    /// The connection's interface or routes failed, or the data-plane thread stopped.
    func dataPathDown(_ subject: Subject) -> DiagnosisFinding? {
        var evidence: [DiagnosisEvidence] = []
        var reasons: [String] = []
        if let plane = status.dataplane, plane.running == false {
            reasons.append("the data-plane thread stopped: \(plane.failure ?? "no reason given")")
            evidence.append(
                DiagnosisEvidence(source: .status, name: "dataplane.running", text: "false: \(plane.failure ?? "")"))
        }
        if let path = subject.status?.dataPath, path.state != "up" {
            reasons.append("its interface \(path.interface ?? "?") is not usable: \(path.error ?? "unknown error")")
            evidence.append(
                DiagnosisEvidence(
                    source: .status, name: "dataPath.state", text: "\(path.state): \(path.error ?? "unknown error")"))
        }
        if let failed = subject.recent(["data-path-failed"]).last,
            !subject.happened(["data-path-ready"], after: failed)
        {
            if reasons.isEmpty { reasons.append(Self.withoutPrefix(failed.message)) }
            evidence.append(DiagnosisEvidence(failed))
        }
        // The gateway's own data path (`--tun`: one device for every connection) records its failure once,
        // as connection "": it is every connection's on that device.
        if let failed = gatewayDataPathFailure(subject) {
            if reasons.isEmpty { reasons.append(Self.withoutPrefix(failed.message)) }
            evidence.append(DiagnosisEvidence(failed))
        }
        guard !reasons.isEmpty else { return nil }
        return DiagnosisFinding(
            cause: .dataPathDown, severity: .error,
            summary: "no traffic can cross: \(reasons[0])",
            explanation:
                "IKE may be up, but packets are not carried: \(reasons.joined(separator: "; ")). The gateway creates "
                + "the interface again by itself when it disappears; a stopped data-plane thread makes the gateway "
                + "exit (status 70) for the service manager to restart it.",
            evidence: evidence,
            fixes: [
                DiagnosisFix(
                    side: .local,
                    text: "Look at the data-path events (`isthmus logs \(subject.name)`) and the interface "
                        + "(`ip link`, `ip route`); restart the gateway if the data plane stopped.",
                    command: "isthmus logs \(subject.name)")
            ], details: ["reasons": reasons.joined(separator: "; ")])
    }

    /// A data-path-failed message without its "no traffic can cross: " (the summary says it already).
    static func withoutPrefix(_ message: String) -> String {
        let prefix = "no traffic can cross: "
        return message.hasPrefix(prefix) ? String(message.dropFirst(prefix.count)) : message
    }

    /// The newest data-path-failed event of the gateway's shared device (connection "") in the last hour that
    /// no data-path-ready followed, when it is this connection's device (or the connection names none).
    func gatewayDataPathFailure(_ subject: Subject) -> EventRecord? {
        let gateway = (events[""] ?? []).filter { $0.uptimeSeconds >= subject.windowStart }
            .sorted { $0.sequence < $1.sequence }
        guard
            let failed = gateway.last(where: { $0.kind == "data-path-failed" }),
            !gateway.contains(where: { $0.kind == "data-path-ready" && $0.sequence > failed.sequence })
        else { return nil }
        let device = failed.details["interface"].flatMap { $0.isEmpty ? nil : $0 }
        let ours = subject.status?.dataPath?.interface
        guard device == nil || ours == nil || device == ours else { return nil }
        return failed
    }

    /// The key file was written after the gateway read it.
    func keyFileChanged(_ subject: Subject) -> DiagnosisFinding? {
        guard let status = subject.status, status.keyChangedSinceStart == true else { return nil }
        var evidence = [
            DiagnosisEvidence(
                source: .status, name: "keyChangedSinceStart", text: "true (\(status.sharedKey ?? "file"))")
        ]
        if let rotated = status.keyLastRotated {
            evidence.append(
                DiagnosisEvidence(source: .status, name: "keyLastRotated", text: "\(rotated) (seconds since 1970)"))
        }
        return DiagnosisFinding(
            cause: .keyFileChanged, severity: .warning,
            summary: "the key file changed after the gateway read it: the running gateway still uses the old key",
            explanation:
                "\(status.sharedKey ?? "The key file") was written (`isthmus key rotate` or by hand) after the gateway "
                + "loaded it. New negotiations still use the old key until `isthmus reload`; if the peer already has "
                + "the new one, authentication will fail.",
            evidence: evidence,
            fixes: [
                DiagnosisFix(
                    side: .local, text: "Load the new key (the peer must have it too).", command: "isthmus reload")
            ], details: ["key": status.sharedKey ?? ""])
    }

    // MARK: ACL and MTU

    /// Packets from the tunnel denied by an endpoint ACL.
    func aclDenied(_ subject: Subject) -> DiagnosisFinding? {
        let denials = subject.recent(["acl-denied"])
        var flows: [String: (count: Int, record: EventRecord)] = [:]
        var order: [String] = []
        for record in denials {
            let d = record.details
            let destinationPort = d["destination_port"].flatMap { $0.isEmpty ? nil : ":\($0)" } ?? ""
            let flow =
                "\(d["protocol"] ?? "?") \(d["source"] ?? "?") -> \(d["destination"] ?? "?")\(destinationPort)"
                + " (endpoint \(d["endpoint"] ?? "?"), \(d["rule"].map { $0 == "no-match" ? "no rule matched" : "rule \($0)" } ?? "?"))"
            if flows[flow] == nil { order.append(flow) }
            let suppressed = Int(d["suppressed"] ?? "") ?? 0
            flows[flow] = ((flows[flow]?.count ?? 0) + 1 + suppressed, record)
        }
        let noMatch = (status.acl ?? []).filter { $0.rule == "no-match" && $0.hits > 0 }
        guard !order.isEmpty || (!noMatch.isEmpty && config.connections.count == 1 && subject.connection != nil)
        else { return nil }
        var evidence: [DiagnosisEvidence] = order.prefix(5).compactMap { flow in
            flows[flow].map {
                DiagnosisEvidence(
                    source: .event, name: "acl-denied", time: $0.record.time,
                    text: "\(flow): \($0.count) packet\($0.count == 1 ? "" : "s")")
            }
        }
        evidence += noMatch.map {
            DiagnosisEvidence(
                source: .counter, name: "acl \($0.endpoint) no-match",
                text: "\($0.hits) packets denied (no rule matched)")
        }
        var fixes: [DiagnosisFix] = []
        if let first = order.first, let record = flows[first]?.record,
            let endpoint = record.details["endpoint"], let source = record.details["source"]
        {
            let index = config.endpoints.firstIndex { $0.name == endpoint }
            let host = source.contains(":") ? "\(source)/128" : "\(source)/32"
            fixes.append(
                DiagnosisFix(
                    side: .local,
                    text: "If \(source) should reach \(endpoint), add a permit rule before the deny, "
                        + (index.map { place("rules", "endpoints[\($0)].rules", "endpoints[\($0)]") } ?? "'rules'")
                        + ", then `isthmus reload`.",
                    yaml: "- {action: permit, remote: \(host)}", command: "isthmus reload"))
        } else {
            fixes.append(
                DiagnosisFix(
                    side: .local,
                    text: "See which flows are denied with `isthmus logs \(subject.name)` (acl-denied events) and "
                        + "add permit rules under 'endpoints:' for the ones that should pass."))
        }
        let total = flows.values.reduce(0) { $0 + $1.count }
        return DiagnosisFinding(
            cause: .aclDenied, severity: .notice,
            summary: order.isEmpty
                ? "the endpoint ACLs denied \(noMatch.reduce(0) { $0 + $1.hits }) packets (no rule matched)"
                : "the endpoint ACLs denied \(total) packet\(total == 1 ? "" : "s") in the last hour, e.g. \(order[0])",
            explanation:
                "Packets that came out of the tunnel were refused by an endpoint's rules (first match wins, the rest "
                + "is denied). That is the ACL doing its job unless the flow should pass.",
            evidence: evidence, fixes: fixes,
            details: ["flows": order.prefix(10).joined(separator: "; "), "denied": "\(total)"])
    }

    /// Packets too big for the tunnel: ICMP "too big" sent, oversize drops (gateway-wide counters).
    func mtu(_ subject: Subject) -> DiagnosisFinding? {
        guard let plane = status.dataplane, subject.connection != nil else { return nil }
        let tooBig = plane.icmpTooBigSent
        let oversized = plane.drops["oversized"] ?? 0
        guard tooBig > 0 || oversized > 0 else { return nil }
        // Gateway-wide counters: only for a connection that carries traffic, or the only one.
        let traffic = plane.connections[subject.name]
        guard config.connections.count == 1 || (traffic?.packetsOut ?? 0) > 0 else { return nil }
        let mtu = subject.status?.dataPath?.mtu
        return DiagnosisFinding(
            cause: .mtu, severity: oversized > 0 ? .warning : .notice,
            summary: "packets too big for the tunnel: \(tooBig) ICMP \"too big\" sent, \(oversized) oversize drops",
            explanation:
                "Hosts sent packets that do not fit the tunnel once encapsulated"
                + (mtu.map { " (tunnel MTU \($0))" } ?? "") + ". Packets with DF set are answered with ICMP "
                + "\"fragmentation needed\"/\"packet too big\"; if a firewall drops those, the senders never learn the "
                + "smaller size and large transfers stall while ping works. TCP SYNs are clamped "
                + "(\(plane.mssClamped) so far); UDP and other protocols are not.",
            evidence: [
                DiagnosisEvidence(source: .counter, name: "dataplane.icmpTooBigSent", text: "\(tooBig)"),
                DiagnosisEvidence(source: .counter, name: "dataplane.drops.oversized", text: "\(oversized)"),
                DiagnosisEvidence(source: .counter, name: "dataplane.mssClamped", text: "\(plane.mssClamped)"),
            ],
            fixes: [
                DiagnosisFix(
                    side: .local,
                    text: "Let ICMP type 3 code 4 (IPv4) and ICMPv6 type 2 reach the hosts, or lower the MTU of the "
                        + "hosts that send large UDP."),
                DiagnosisFix(
                    side: .local,
                    text: "If the path between the gateways carries less than 1500 bytes (PPPoE: 1492; `ping -M do "
                        + "-s SIZE PEER` finds it), restart the gateway with that path MTU in place of N: the tunnel "
                        + "MTU and the MSS clamp follow it.",
                    command: "isthmus run \(configFile ?? "CONFIG.yaml") --path-mtu N"),
                DiagnosisFix(
                    side: .peer,
                    text: "Clamp TCP MSS on the router's LAN side (about 1350) and let ICMP \"fragmentation needed\" "
                        + "through.", device: "generic"),
            ],
            details: [
                "icmp_too_big_sent": "\(tooBig)", "oversized_drops": "\(oversized)", "scope": "gateway",
                "mtu": mtu.map { "\($0)" } ?? "",
            ])
    }
}
