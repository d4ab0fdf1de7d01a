import IsthmusEvents
import IsthmusGateway

/// The causes that keep a connection from coming up because we do not reach each other: requests
/// unanswered, UDP 4500 blocked behind a NAT, liveness checks failing.
extension Diagnoser {
    // MARK: Reachability

    /// Events that can only follow a message from the peer.
    static let heardFromPeer: Set<String> = [
        "ike-sa-established", "ike-sa-rekeyed", "proposal-mismatch", "authentication-failed",
        "traffic-selector-mismatch", "invalid-ke", "cookie-requested", "child-sa-installed", "peer-moved",
    ]

    /// Our retransmissions (not the answers we repeat for the peer), after `record` (or all).
    static func ourRetransmits(_ subject: Subject, after record: EventRecord?) -> [EventRecord] {
        subject.recent(["retransmit"]).filter { $0.severity != "info" && $0.sequence > (record?.sequence ?? 0) }
    }

    /// Negotiations that gave up, or at least three retransmissions of the one in progress, since the peer
    /// was last heard from: the evidence that our requests go unanswered; nil when there is none.
    static func unanswered(_ subject: Subject, after record: EventRecord?) -> (
        gaveUp: [EventRecord], anchor: EventRecord
    )? {
        let gaveUp = subject.recent(["peer-not-answering"]).filter {
            $0.severity == "error" && $0.sequence > (record?.sequence ?? 0)
        }
        if let last = gaveUp.last { return (gaveUp, last) }
        let retransmits = ourRetransmits(subject, after: record)
        if subject.state == "connecting", retransmits.count >= 3, let last = retransmits.last { return ([], last) }
        return nil
    }

    /// Our requests went unanswered and nothing from the peer followed, with no NAT seen first.
    func peerUnreachable(_ subject: Subject) -> DiagnosisFinding? {
        guard subject.state != "up" else { return nil }
        let lastHeard = subject.latest(Self.heardFromPeer.union(["nat-detected"]))
        // After NAT detection the question is port 4500 (natUDP4500Blocked).
        guard lastHeard?.kind != "nat-detected", let (unanswered, anchor) = Self.unanswered(subject, after: lastHeard)
        else { return nil }
        // The peer answered on UDP 500 and only 4500 went unanswered: natUDP4500Blocked says it.
        if !Self.natAttemptsUnanswered(subject).isEmpty { return nil }
        // An IKEv1 peer that stops answering at message 5: authenticationFailed says it.
        if Self.isIKEv1(subject) && Self.pastKeyExchange(anchor) { return nil }
        let answeredFirst = Self.pastFirstExchange(anchor)
        let peer = subject.status?.remoteAddress ?? subject.remote.map { "\($0.gateway)" } ?? "the peer"
        let retransmits = Self.ourRetransmits(subject, after: lastHeard).count
        var evidence = unanswered.suffix(3).map(DiagnosisEvidence.init)
        if unanswered.isEmpty { evidence.append(DiagnosisEvidence(anchor)) }
        evidence.append(
            DiagnosisEvidence(source: .counter, name: "retransmit events in the last hour", text: "\(retransmits)"))
        if let counters = status.counters {
            evidence.append(
                DiagnosisEvidence(
                    source: .counter, name: "datagrams in / out (gateway)",
                    text: "\(counters.datagramsIn) / \(counters.datagramsOut)"))
        }
        let heard = subject.events.contains { Self.heardFromPeer.union(["nat-detected"]).contains($0.kind) }
        return DiagnosisFinding(
            cause: .peerUnreachable, severity: .error,
            summary: "the peer \(peer) does not answer: "
                + (unanswered.isEmpty
                    ? "\(retransmits) retransmissions of the negotiation in progress, no answer"
                    : "\(unanswered.count) negotiation\(unanswered.count == 1 ? "" : "s") gave up in the last hour"),
            explanation: answeredFirst
                ? "The peer answered the first exchange of the negotiation on UDP 500, then stopped answering "
                    + "(\(anchor.message)). Large messages may be lost (fragments dropped on the path: IKEv2 "
                    + "fragmentation, fragment_size), or the peer dropped the rest (no configuration for our "
                    + "identity)."
                : "We sent IKE requests to \(peer) and retransmitted them without any answer"
                    + (heard ? " since the peer last answered. " : ", and nothing from the peer was ever recorded. ")
                    + "Either the peer is down or has no configuration for us, its address is wrong, or a firewall "
                    + "between us drops UDP 500 and 4500 (in either direction).",
            evidence: evidence,
            fixes: [
                DiagnosisFix(
                    side: .local,
                    text: "Check the peer's address, "
                        + place("gateway_address", "\(subject.remotePath).gateway_address", subject.remotePath)
                        + " and that our firewall lets UDP 500 and 4500 to and from \(peer) through; "
                        + "`tcpdump -ni any udp port 500 or udp port 4500` shows whether answers arrive."),
                DiagnosisFix(
                    side: .peer,
                    text: "Make sure the peer has a connection for us (`swanctl --list-conns`) and is loaded "
                        + "(`swanctl --load-all`), and that its firewall lets UDP 500 and 4500 from us in.",
                    device: "strongswan"),
                DiagnosisFix(
                    side: .peer,
                    text: "Make sure `ipsec auto --add \(subject.name)` loaded the connection "
                        + "(`ipsec status`), and that UDP 500 and 4500 from us are allowed.", device: "libreswan"),
                DiagnosisFix(
                    side: .peer,
                    text: "Check that the router's VPN policy for us is enabled, that its remote gateway is our "
                        + "public address, and that UDP 500 and 4500 reach it (port forwarding on a NAT in front "
                        + "of it).", device: "generic"),
            ],
            details: ["peer": peer, "unanswered": "\(unanswered.count)", "retransmits": "\(retransmits)"])
    }

    /// One negotiation that found a NAT on UDP 500 and then got no answer on UDP 4500.
    struct NATAttempt {
        /// The nat-detected event (the peer had answered the first exchange on UDP 500).
        var nat: EventRecord
        /// The attempt's give-ups (peer-not-answering), oldest first.
        var gaveUp: [EventRecord]
        /// Our retransmissions on UDP 4500 in the attempt.
        var retransmits: [EventRecord]
    }

    /// The attempts of the last hour, since the peer was last heard from on UDP 4500, where a NAT was
    /// detected and then nothing answered: each nat-detected paired with the give-up (or, for the attempt
    /// in progress, the third retransmission) that followed it before the next attempt's nat-detected.
    static func natAttemptsUnanswered(_ subject: Subject) -> [NATAttempt] {
        // INVALID_KE and COOKIE answers come on UDP 500 before the NAT is seen: they say nothing about 4500.
        let heard = subject.latest(heardFromPeer.subtracting(["invalid-ke", "cookie-requested"]))?.sequence ?? 0
        let nats = subject.recent(["nat-detected"]).filter { $0.sequence > heard }
        var attempts: [NATAttempt] = []
        for (index, nat) in nats.enumerated() {
            let end = index + 1 < nats.count ? nats[index + 1].sequence : UInt64.max
            let inAttempt = { (record: EventRecord) in record.sequence > nat.sequence && record.sequence < end }
            let gaveUp = subject.recent(["peer-not-answering"]).filter { $0.severity == "error" && inAttempt($0) }
            let retransmits = ourRetransmits(subject, after: nat).filter(inAttempt)
            let inProgress = index == nats.count - 1 && subject.state == "connecting"
            if !gaveUp.isEmpty || (inProgress && retransmits.count >= 3) {
                attempts.append(NATAttempt(nat: nat, gaveUp: gaveUp, retransmits: retransmits))
            }
        }
        return attempts
    }

    /// A NAT was detected, IKE moved to UDP 4500, and from then on the peer did not answer (in one attempt
    /// or several: the next attempt finds the NAT again on UDP 500 and loses its 4500 requests again).
    func natUDP4500Blocked(_ subject: Subject) -> DiagnosisFinding? {
        let attempts = Self.natAttemptsUnanswered(subject)
        guard subject.state != "up", let first = attempts.first, let last = attempts.last else { return nil }
        let nat = first.nat
        // Each attempt: its NAT detection and how it ended (the give-up, or the latest retransmission).
        let ending = { (attempt: NATAttempt) in (attempt.gaveUp.last ?? attempt.retransmits.last).map { [$0] } ?? [] }
        let retransmits = attempts.reduce(0) { $0 + $1.retransmits.count }
        var evidence = ([nat] + ending(first)).map(DiagnosisEvidence.init)
        if attempts.count > 1 {
            evidence += ([last.nat] + ending(last)).map(DiagnosisEvidence.init)
            evidence.append(
                DiagnosisEvidence(
                    source: .counter, name: "attempts in the last hour that found a NAT and got no answer on UDP 4500",
                    text: "\(attempts.count)"))
        }
        evidence.append(
            DiagnosisEvidence(
                source: .counter, name: "retransmits on UDP 4500 after NAT detection", text: "\(retransmits)"))
        let peer = subject.status?.remoteAddress ?? subject.remote.map { "\($0.gateway)" } ?? "the peer"
        return DiagnosisFinding(
            cause: .natUDP4500Blocked, severity: .error,
            summary: "a NAT is in the path and UDP 4500 to \(peer) seems blocked: no answer after moving to port 4500",
            explanation:
                "The first exchange on UDP 500 worked and found a NAT (\(nat.message)). As NAT traversal requires "
                + "(RFC 3947, 7296 2.23), IKE then moved to UDP 4500, and from then on the peer answered nothing. "
                + (attempts.count > 1
                    ? "The same happened in each of the \(attempts.count) attempts of the last hour: answered on UDP 500, "
                        + "nothing on 4500. "
                    : last.gaveUp.isEmpty
                        ? "\(last.retransmits.count) retransmissions on UDP 4500 are unanswered so far. " : "")
                + "A firewall or the NAT device lets UDP 500 through but not 4500"
                + (Self.isIKEv1(subject)
                    ? " (or, less likely, the peer could not decrypt our Main Mode message 5: different keys)."
                    : "."),
            evidence: evidence,
            fixes: [
                DiagnosisFix(
                    side: .local,
                    text: "Let UDP 4500 to and from \(peer) through our firewall and NAT (forward UDP 500 and 4500 "
                        + "to the gateway when it sits behind a NAT)."),
                DiagnosisFix(
                    side: .peer,
                    text: "Let UDP 4500 from us in (and forward it to the VPN device when it sits behind a NAT); "
                        + "enable NAT traversal (NAT-T) on the VPN policy.", device: "generic"),
                DiagnosisFix(
                    side: .peer,
                    text: "strongSwan listens on 4500 by default: check the firewall (`iptables -L -n | grep 4500`) "
                        + "and, behind a NAT, the port forwarding of UDP 4500.", device: "strongswan"),
            ],
            details: [
                "peer": peer, "nat": nat.details.map { "\($0.key)=\($0.value)" }.sorted().joined(separator: " "),
                "attempts": "\(attempts.count)", "retransmits": "\(retransmits)",
            ])
    }

    /// The peer stopped answering liveness checks (DPD / IKEv2 liveness) in the last hour.
    func dpdTimeout(_ subject: Subject) -> DiagnosisFinding? {
        let timeouts = subject.recent(["liveness-timeout"])
        guard let record = timeouts.last else { return nil }
        let recovered = subject.happened(Self.ikeUp, after: record)
        let dpd = subject.connection?.deadPeerDetection
        var explanation =
            "The peer stopped answering our liveness checks \(timeouts.count) time\(timeouts.count == 1 ? "" : "s") "
            + "in the last hour, so the SAs were deleted"
            + (recovered ? " and the tunnel was negotiated again." : "; the tunnel has not come back since.")
        explanation +=
            " Usual causes: the path dropped for a while (Internet outage, NAT mapping expired: NAT keepalives every "
            + "20 s keep it), the peer restarted, or the peer does not answer R-U-THERE/empty INFORMATIONAL."
        var details = ["timeouts": "\(timeouts.count)", "recovered": "\(recovered)"]
        if let dpd {
            details["interval"] = dpd.interval.configText
            details["timeout"] = dpd.timeout.configText
        }
        return DiagnosisFinding(
            cause: .dpdTimeout, severity: recovered ? .warning : .error,
            summary: "the peer stopped answering liveness checks \(timeouts.count) time"
                + "\(timeouts.count == 1 ? "" : "s") in the last hour" + (recovered ? " (up again since)" : ""),
            explanation: explanation, evidence: timeouts.suffix(3).map(DiagnosisEvidence.init),
            fixes: [
                DiagnosisFix(
                    side: .local,
                    text: "If the path is lossy rather than down, give the peer longer before declaring it dead, "
                        + place("dpd", "\(subject.path).dpd", subject.path),
                    yaml: "dpd: {interval: \(dpd?.interval.configText ?? "30s"), timeout: 300s, action: restart}"),
                DiagnosisFix(
                    side: .peer,
                    text: "In swanctl.conf, connections.\(subject.name): dpd_delay = 30s (it answers "
                        + "our checks either way; its own checks help it notice us restarting)", device: "strongswan"),
                DiagnosisFix(
                    side: .peer,
                    text: "In ipsec.conf, conn \(subject.name): dpddelay=30 dpdtimeout=150 dpdaction=restart",
                    device: "libreswan"),
                DiagnosisFix(
                    side: .peer, text: "Enable Dead Peer Detection (DPD) on the router's IKE policy.",
                    device: "generic"),
            ], details: details)
    }
}
