import IsthmusGateway

/// BGP over the tunnel: a session that is not established (why, in BIRD's words and ours), the routing daemon
/// not running, and prefixes the peer announces that the accept list refuses.
extension Diagnoser {
    /// The connection runs BGP and its session is not Established.
    func bgpSessionDown(_ subject: Subject) -> DiagnosisFinding? {
        guard let connection = subject.connection, let bgp = connection.bgp, let session = subject.status?.bgp,
            !session.established
        else { return nil }
        let routing = status.routingDaemon
        var evidence = [
            DiagnosisEvidence(
                source: .status, name: "bgp.bgp_state",
                text: "\(session.bgpState)\(session.lastError.map { ": \($0)" } ?? "")")
        ]
        if let logged = session.logged {
            evidence.append(DiagnosisEvidence(source: .status, name: "bgp.logged", text: logged))
        }
        if let error = routing?.error, routing?.state != "running" {
            evidence.append(DiagnosisEvidence(source: .status, name: "routingDaemon.error", text: error))
            return DiagnosisFinding(
                cause: .routingDaemonDown, severity: .error, summary: "BGP cannot run: \(error)",
                explanation:
                    "The connection's routes come from its BGP session, which BIRD runs; BIRD is not running, so no "
                    + "route to the peer's prefixes is installed (the tunnel itself is not affected). The gateway "
                    + "starts BIRD again by itself, backing off while it keeps failing.",
                evidence: evidence,
                fixes: [
                    DiagnosisFix(
                        side: .local,
                        text: "Read BIRD's own words in `isthmus logs` (routing-daemon-failed); install Debian's bird2 "
                            + "if it is missing.", command: "isthmus logs")
                ], details: ["error": error])
        }
        let asnField = place("peer_asn", "\(subject.path).bgp.peer_asn", "\(subject.path).bgp")
        let ours = config.gateway.bgp.map { "\($0.asn)" } ?? "?"
        let error = session.lastError ?? ""
        let logged = session.logged ?? ""
        var summary: String
        var explanation: String
        var fixes: [DiagnosisFix]
        var details = ["bgp_state": session.bgpState, "last_error": error]
        if error.contains("Bad peer AS") && !error.hasPrefix("Received") {
            // We refused the peer's OPEN: it said another ASN (BIRD logs which: "Bad peer AS: 65011").
            let said = logged.split(separator: ":").last.map { $0.trimmingCharacters(in: .whitespaces) }
            let claimed = said.flatMap { UInt32($0) }
            details["peer_said_as"] = claimed.map { "\($0)" }
            summary =
                "wrong peer ASN: the peer says it is AS \(claimed.map { "\($0)" } ?? "something else"), "
                + "peer_asn is \(bgp.peerASN)"
            explanation =
                "The peer's BGP OPEN carried AS \(claimed.map { "\($0)" } ?? "(see BIRD's log)"), but this connection "
                + "expects AS \(bgp.peerASN), so BIRD closes the session with 'Bad peer AS' and tries again; no route "
                + "is exchanged."
            fixes = [
                DiagnosisFix(
                    side: .local,
                    text:
                        "If the peer's ASN is right, set \(asnField) to it, then `isthmus reload` (the tunnel stays up).",
                    yaml: claimed.map { "peer_asn: \($0)" }, command: "isthmus reload"),
                DiagnosisFix(
                    side: .peer, text: "Otherwise give the peer's BGP speaker AS \(bgp.peerASN).", device: "generic"),
            ]
        } else if error.contains("Bad peer AS") {
            summary = "the peer refuses our ASN: it expects another AS than \(ours)"
            explanation =
                "The peer closed the session with 'Bad peer AS': its configuration names another ASN for this "
                + "gateway than gateway.bgp.asn (\(ours))."
            fixes = [
                DiagnosisFix(
                    side: .peer, text: "Set the peer's neighbor ASN for this gateway to \(ours).", device: "generic")
            ]
        } else if subject.state != "up" {
            summary = "no BGP session: the tunnel itself is \(subject.state)"
            explanation = "The session runs inside the tunnel, between the inner addresses; it waits for the IKE SA."
            fixes = []
        } else if error.contains("Hold timer expired") || error.contains("BFD session down") {
            summary = "the peer stopped answering over the tunnel (\(error))"
            explanation =
                "The session was up and the peer went silent inside the tunnel: its BGP speaker stopped, or the "
                + "tunnel carries no traffic (look at the data path and the CHILD SA's counters)."
            fixes = [
                DiagnosisFix(
                    side: .peer, text: "Check that the peer's BGP speaker runs and still has \(bgp.peerAddress).",
                    device: "generic")
            ]
        } else {
            summary =
                "BGP session with \(bgp.peerAddress) (AS \(bgp.peerASN)) is \(session.bgpState)"
                + (error.isEmpty ? "" : ": \(error)")
            explanation =
                "The tunnel is up, but the peer's BGP speaker does not answer at \(bgp.peerAddress) (port 179): it "
                + "is not running, listens on another address, or its inner address is not \(bgp.peerAddress)."
            fixes = [
                DiagnosisFix(
                    side: .peer,
                    text:
                        "Run BGP on the peer with neighbor \(bgp.address.address) AS \(ours) and its own inner address "
                        + "\(bgp.peerAddress) on the tunnel's interface (`isthmus export \(subject.name)` writes both).",
                    command: "isthmus export \(subject.name) --device strongswan", device: "strongswan")
            ]
        }
        if !logged.isEmpty { details["logged"] = logged }
        return DiagnosisFinding(
            cause: .bgpSessionDown, severity: subject.state == "up" ? .error : .warning, summary: summary,
            explanation: explanation, evidence: evidence, fixes: fixes, details: details)
    }

    /// The peer announces prefixes the accept list refuses (or our own).
    func bgpPrefixesRefused(_ subject: Subject) -> DiagnosisFinding? {
        guard let connection = subject.connection, connection.bgp != nil, let session = subject.status?.bgp,
            session.filtered > 0
        else { return nil }
        let event = subject.recent(["bgp-prefix-refused"]).last
        let prefixes = event?.details["prefixes"] ?? ""
        let accepted = config.acceptedPrefixes(of: connection).map(\.description).joined(separator: ", ")
        var evidence = [
            DiagnosisEvidence(source: .counter, name: "bgp.filtered", text: "\(session.filtered) prefixes refused")
        ]
        if let event { evidence.append(DiagnosisEvidence(event)) }
        return DiagnosisFinding(
            cause: .bgpPrefixRefused, severity: .warning,
            summary: "the peer announces \(session.filtered) prefix(es) outside the accept list"
                + (prefixes.isEmpty ? "" : ": \(prefixes)"),
            explanation:
                "Only prefixes inside \(accepted) are accepted from this peer, and never this gateway's own address "
                + "spaces; the rest are dropped and counted. Traffic for them does not go into this tunnel.",
            evidence: evidence,
            fixes: [
                DiagnosisFix(
                    side: .local,
                    text:
                        "If the peer should reach them, add them to \(place("accept", "\(subject.path).bgp.accept", "\(subject.remotePath).prefixes")) "
                        + "and `isthmus reload`.", command: "isthmus reload"),
                DiagnosisFix(side: .peer, text: "Otherwise stop announcing them.", device: "generic"),
            ], details: ["filtered": "\(session.filtered)", "prefixes": prefixes])
    }
}
