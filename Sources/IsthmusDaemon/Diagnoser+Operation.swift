import IsthmusEvents
import IsthmusGateway

/// The causes that make an established connection work badly: SAs renewed too often, lifetimes far
/// apart, packets too big, denied by an ACL, a missing data path, a key that changed on disk.
extension Diagnoser {
    /// Our lifetimes differ from the peer's by this factor or more: worth a finding.
    static let lifetimeRatio: Double = 4
    /// Rekeys start at 80-90 % of a lifetime: this many SAs per lifetime at most, when all is well.
    static let rekeyFraction: Double = 0.8

    // MARK: Flapping and lifetimes

    /// SAs set up in the last hour, against what the lifetimes in use predict.
    func flapping(_ subject: Subject) -> DiagnosisFinding? {
        let start = subject.windowStart
        let setups = subject.setups
        let ikeNew = SASetupLog.count(setups.ikeEstablished, since: start)
        let ikeRekeys = SASetupLog.count(setups.ikeRekeyed, since: start)
        let children = SASetupLog.count(setups.childSetups, since: start)
        // The daemon may have run for less than the window.
        let span = max(1, min(Self.window, now))
        let phase2 = Self.lifetimeDecision(subject, phase: 2)
        let phase1 = Self.lifetimeDecision(subject, phase: 1)
        let espLifetime =
            phase2.flatMap { Self.seconds($0.details["used"]) }
            ?? subject.connection.map { Double($0.lifetimes.esp.components.seconds) }
        let ikeLifetime =
            phase1.flatMap { Self.seconds($0.details["used"]) }
            ?? subject.connection.map { Double($0.lifetimes.ike.components.seconds) }
        let expectedChildren = espLifetime.map { Int(span / ($0 * Self.rekeyFraction)) + 1 }
        let expectedIKE = ikeLifetime.map { Int(span / ($0 * Self.rekeyFraction)) + 1 }
        let peerESP = phase2.flatMap { Self.seconds($0.details["peer"]) }
        let peerFar = peerESP.map { peer in espLifetime.map { peer >= $0 * Self.lifetimeRatio } ?? false } ?? false
        let peerIKE = phase1.flatMap { Self.seconds($0.details["peer"]) }
        let peerIKEFar = peerIKE.map { peer in ikeLifetime.map { peer >= $0 * Self.lifetimeRatio } ?? false } ?? false

        // Flapping needs evidence of restarts: rekeys at our own lifetime, however short against the peer's,
        // are the tunnel working (lifetimeMismatch says when the lifetimes are far apart).
        let reestablished = ikeNew >= 3
        let tooManyChildren = expectedChildren.map { children > 2 * $0 + 2 } ?? (children >= 20)
        let restarts = Self.restarts(subject)
        let restarted = restarts.count >= Self.restartsForFlapping
        guard reestablished || tooManyChildren || restarted else { return nil }
        let shortAgainstPeer = peerFar
        let ikeShortAgainstPeer = peerIKEFar && !peerFar

        var details = [
            "ike_sas_established": "\(ikeNew)", "ike_sas_rekeyed": "\(ikeRekeys)", "child_sas": "\(children)",
            "window_seconds": "\(Int(span))",
        ]
        if let expectedChildren { details["child_sas_expected"] = "\(expectedChildren)" }
        if let expectedIKE { details["ike_sas_expected"] = "\(expectedIKE)" }
        if let espLifetime { details["esp_lifetime"] = "\(Int(espLifetime))s" }
        if let peerESP { details["peer_esp_lifetime"] = "\(Int(peerESP))s" }
        if let ikeLifetime { details["ike_lifetime"] = "\(Int(ikeLifetime))s" }
        if let peerIKE { details["peer_ike_lifetime"] = "\(Int(peerIKE))s" }

        details["restarts"] = "\(restarts.count)"
        var parts: [String] = []
        if reestablished { parts.append("\(ikeNew) IKE SAs negotiated from scratch") }
        if restarted { parts.append(Self.describe(restarts)) }
        parts.append("\(children) CHILD SAs set up")
        let period = span >= Self.window ? "in the last hour" : "in the \(Int(span / 60)) minutes since start"
        var explanation =
            "\(parts.joined(separator: " and ")) \(period); "
            + (expectedChildren.map { "with an ESP lifetime of \(Int(espLifetime ?? 0)) s we expect at most \($0)" }
                ?? "a stable tunnel sets up a few")
            + (reestablished ? ", and one IKE SA that is rekeyed, not renegotiated." : ".")
        let responderLifetimeSent = subject.recent(["lifetime-chosen"]).filter {
            ($0.details["reason"] ?? $0.message).contains("RESPONDER-LIFETIME sent")
        }
        if let peerESP, let espLifetime, peerFar {
            explanation +=
                " The peer proposes \(Int(peerESP)) s for phase 2 and we use \(Int(espLifetime)) s; with the "
                + "peer's lifetime there would be \(Int(span / (peerESP * Self.rekeyFraction)) + 1) CHILD SA"
                + " in this time."
            if !responderLifetimeSent.isEmpty {
                explanation +=
                    " We told the peer our shorter lifetime with a RESPONDER-LIFETIME notification "
                    + "\(responderLifetimeSent.count) time\(responderLifetimeSent.count == 1 ? "" : "s"); older IKEv1 "
                    + "routers ignore it (their log says \"Ignore RESPONDER-LIFETIME notification\") and keep the "
                    + "SA for \(Int(peerESP)) s, so the two sides disagree about which SA is current and the "
                    + "tunnel is renegotiated: it \"continually restarts\"."
            }
        }
        if let peerIKE, let ikeLifetime, peerIKEFar {
            explanation +=
                " For the IKE SA (phase 1) the peer proposes \(Int(peerIKE)) s and we use \(Int(ikeLifetime)) s."
        }
        var evidence: [DiagnosisEvidence] = [
            DiagnosisEvidence(
                source: .counter, name: "IKE SAs established in the last hour", text: "\(ikeNew)"),
            DiagnosisEvidence(source: .counter, name: "IKE SAs rekeyed in the last hour", text: "\(ikeRekeys)"),
            DiagnosisEvidence(source: .counter, name: "CHILD SAs set up in the last hour", text: "\(children)"),
        ]
        if let phase2 { evidence.append(DiagnosisEvidence(phase2)) }
        if let phase1, peerIKEFar { evidence.append(DiagnosisEvidence(phase1)) }
        evidence += subject.recent(["ike-sa-established"]).suffix(3).map(DiagnosisEvidence.init)
        evidence += restarts.suffix(3).map(DiagnosisEvidence.init)
        if let unknown = status.dataplane?.drops["unknown-spi"], unknown > 0 {
            // ESP on SAs we no longer have: what a peer still using an SA we replaced sends.
            evidence.append(
                DiagnosisEvidence(
                    source: .counter, name: "dataplane.drops.unknown-spi (gateway)", text: "\(unknown)"))
        }
        var fixes: [DiagnosisFix] = []
        if peerFar || peerIKEFar, let connection = subject.connection {
            let ike = peerIKEFar ? peerIKE.map { "\(Int($0))s" } : nil
            let esp = peerFar ? peerESP.map { "\(Int($0))s" } : nil
            fixes.append(
                DiagnosisFix(
                    side: .local,
                    text: "Use the peer's lifetime (both sides then rekey at the same pace): set "
                        + place("lifetime", "\(subject.path).lifetime", subject.path) + " to",
                    yaml: "lifetime: {ike: \(ike ?? connection.lifetimes.ike.configText), "
                        + "esp: \(esp ?? connection.lifetimes.esp.configText)"
                        + (connection.lifetimes.espKilobytes.map { ", esp_size: \($0)KB" } ?? "") + "}"))
            fixes += lifetimePeerFixes(
                subject, espSeconds: Int(espLifetime ?? 0), ikeSeconds: peerIKEFar ? ikeLifetime.map { Int($0) } : nil)
        } else {
            fixes.append(
                DiagnosisFix(
                    side: .local,
                    text: "Look at why the SAs end (`isthmus logs \(subject.name)`: liveness timeouts, deletes by the "
                        + "peer, hard expiries); if the peer deletes them early, give both sides the same lifetimes, "
                        + place("lifetime", "\(subject.path).lifetime", subject.path)))
            if let espLifetime { fixes += lifetimePeerFixes(subject, espSeconds: Int(espLifetime)) }
        }
        return DiagnosisFinding(
            cause: .flapping, severity: .warning,
            summary: "the tunnel keeps restarting: \(parts.joined(separator: ", ")) \(period)"
                + (shortAgainstPeer
                    ? " with our \(Int(espLifetime ?? 0)) s ESP lifetime against the peer's \(Int(peerESP ?? 0)) s"
                    : ikeShortAgainstPeer
                        ? " with our \(Int(ikeLifetime ?? 0)) s IKE lifetime against the peer's \(Int(peerIKE ?? 0)) s"
                        : expectedChildren.map { " (at most \($0) expected)" } ?? ""),
            explanation: explanation, evidence: evidence, fixes: fixes, details: details)
    }

    /// This many restarts in the window make a flapping tunnel.
    static let restartsForFlapping = 3

    /// Events that show an SA ended before its time, in the last hour: hard expiries (a rekey that did not
    /// happen), liveness timeouts, the peer restarting, and the peer's Deletes of SAs it had not just
    /// replaced (a Delete within a minute of a rekey is the rekey's).
    static func restarts(_ subject: Subject) -> [EventRecord] {
        let setups = subject.recent(childUp.union(ikeUp))
        return subject.recent([
            "child-sa-hard-expired", "child-sa-deleted", "ike-sa-deleted", "liveness-timeout", "peer-restarted",
        ]).filter { record in
            switch record.kind {
            case "child-sa-deleted":
                if record.message.contains("expired before a rekey succeeded") { return true }
                guard record.message.contains("by the peer"), !record.message.contains("before its Quick Mode")
                else { return false }
                return !setups.contains {
                    childUp.contains($0.kind) && $0.sequence < record.sequence
                        && record.uptimeSeconds - $0.uptimeSeconds <= 60
                }
            case "ike-sa-deleted":
                guard record.message.contains("by the peer") || record.message.contains("peer deleted") else {
                    return false
                }
                return !setups.contains {
                    ikeUp.contains($0.kind) && $0.sequence < record.sequence
                        && record.uptimeSeconds - $0.uptimeSeconds <= 60
                }
            default:
                return true
            }
        }
    }

    /// "3 restarts (2 hard expiries, 1 liveness timeout)".
    static func describe(_ restarts: [EventRecord]) -> String {
        var counts: [String: Int] = [:]
        for record in restarts {
            let what: String
            switch record.kind {
            case "child-sa-hard-expired": what = "hard expiry"
            case "child-sa-deleted" where record.message.contains("expired"): what = "hard expiry"
            case "child-sa-deleted", "ike-sa-deleted": what = "Delete by the peer"
            case "liveness-timeout": what = "liveness timeout"
            default: what = "peer restart"
            }
            counts[what, default: 0] += 1
        }
        let plural = ["hard expiry": "hard expiries", "Delete by the peer": "Deletes by the peer"]
        let words = counts.sorted { $0.key < $1.key }.map {
            "\($0.value) \($0.value == 1 ? $0.key : plural[$0.key] ?? $0.key + "s")"
        }
        return "\(restarts.count) SAs ended early (\(words.joined(separator: ", ")))"
    }

    func lifetimePeerFixes(_ subject: Subject, espSeconds: Int?, ikeSeconds: Int? = nil) -> [DiagnosisFix] {
        let name = subject.name
        var fixes: [DiagnosisFix] = []
        if let ikeSeconds {
            fixes += [
                DiagnosisFix(
                    side: .peer,
                    text: "In swanctl.conf, connections.\(name): rekey_time = \(ikeSeconds * 9 / 10)s (IKEv1: "
                        + "reauth_time = \(ikeSeconds * 9 / 10)s), over_time = \(ikeSeconds / 10)s",
                    device: "strongswan"),
                DiagnosisFix(
                    side: .peer, text: "In ipsec.conf, conn \(name): ikelifetime=\(ikeSeconds)s", device: "libreswan"),
                DiagnosisFix(
                    side: .peer,
                    text: "On the router's IKE (phase 1) policy, set the SA lifetime to \(ikeSeconds) seconds.",
                    device: "generic"),
            ]
        }
        guard let espSeconds else { return fixes }
        return fixes + [
            DiagnosisFix(
                side: .peer,
                text: "In swanctl.conf, connections.\(name).children.\(name): life_time = \(espSeconds)s "
                    + "(and rekey_time = \(espSeconds * 9 / 10)s)", device: "strongswan"),
            DiagnosisFix(
                side: .peer, text: "In ipsec.conf, conn \(name): salifetime=\(espSeconds)s", device: "libreswan"),
            DiagnosisFix(
                side: .peer,
                text: "On the router's IPsec (phase 2) policy, set the IPsec SA lifetime to \(espSeconds) seconds.",
                device: "generic"),
        ]
    }

    /// Lifetimes far apart (a factor of ``lifetimeRatio``) without flapping: what happens on the wire (who
    /// rekeys, whether the peer honours our RESPONDER-LIFETIME) and what to set on both sides.
    func lifetimeMismatch(_ subject: Subject) -> DiagnosisFinding? {
        guard flapping(subject) == nil else { return nil }
        var far: [(record: EventRecord, ours: Double, peer: Double, phase: Int)] = []
        for phase in [1, 2] {
            guard let record = Self.lifetimeDecision(subject, phase: phase),
                let ours = Self.seconds(record.details["ours"]), let peer = Self.seconds(record.details["peer"]),
                max(ours, peer) >= Self.lifetimeRatio * min(ours, peer)
            else { continue }
            far.append((record, ours, peer, phase))
        }
        guard !far.isEmpty else { return nil }
        var details: [String: String] = [:]
        for entry in far {
            details["phase\(entry.phase)_ours"] = "\(Int(entry.ours))s"
            details["phase\(entry.phase)_peer"] = "\(Int(entry.peer))s"
        }
        var evidence = far.map { DiagnosisEvidence($0.record) }
        var sentences: [String] = []
        var summary =
            "the lifetimes are far apart: "
            + far.map { "phase \($0.phase): ours \(Int($0.ours)) s, the peer's \(Int($0.peer)) s" }
            .joined(separator: "; ")
        var severity = DiagnosisFinding.Severity.notice
        if let phase2 = far.first(where: { $0.phase == 2 }) {
            let wire = Self.phase2Rekeys(subject)
            details["phase2_sas"] = "\(wire.ours.count + wire.peers.count)"
            // The same count under flapping's name, for scripts that read either verdict.
            details["child_sas"] = details["phase2_sas"]
            details["phase2_rekeyed_by_us"] = "\(wire.ours.count)"
            details["phase2_negotiated_by_peer"] = "\(wire.peers.count)"
            if let interval = wire.interval { details["rekey_interval"] = "\(Int(interval.rounded()))s" }
            let proposed = "the peer proposes \(Int(phase2.peer)) s (\(phase2.record.time))"
            if phase2.peer > phase2.ours {
                // The seed's case: our shorter lifetime holds only because we rekey and the peer accepts it.
                severity = .warning
                let toldPeer = (phase2.record.details["reason"] ?? phase2.record.message).contains(
                    "RESPONDER-LIFETIME sent")
                var sentence =
                    "Phase 2 lifetimes far apart: ours \(Int(phase2.ours)) s, \(proposed)."
                    + (toldPeer
                        ? " We answered with RESPONDER-LIFETIME \(Int(phase2.ours)) s." : "")
                let total = wire.ours.count + wire.peers.count
                let period = Self.period(subject, since: (wire.ours + wire.peers).map(\.uptimeSeconds).min())
                let every = wire.interval.map { " every ~\(Int($0.rounded())) s" } ?? ""
                if wire.peers.count <= 1 && !wire.ours.isEmpty {
                    sentence +=
                        " The peer never rekeyed: of the \(total) phase 2 SAs \(period), the peer negotiated "
                        + "\(wire.peers.count == 1 ? "the first" : "none") and we rekeyed \(wire.ours.count)"
                        + (every.isEmpty ? "" : " (one\(every))") + ", so it keeps its own \(Int(phase2.peer)) s"
                        + (toldPeer ? " (it ignores RESPONDER-LIFETIME, as strongSwan does as initiator)." : ".")
                        + " The tunnel holds (\(Self.holding(subject, status: status))) because we rekey and "
                        + "delete the old SA and the peer accepts both; a "
                        + "router that refuses a rekey or a Delete from the responder (its log says \"Ignore "
                        + "RESPONDER-LIFETIME notification\") goes out of step with us and the tunnel restarts."
                    summary =
                        "phase 2 lifetimes far apart: ours \(Int(phase2.ours)) s, the peer's \(Int(phase2.peer)) s; we "
                        + "rekey\(every) and the peer never does (the tunnel holds while it accepts our rekeys)"
                } else if wire.peers.count > 1 {
                    sentence +=
                        " The peer negotiated \(wire.peers.count) of the \(total) phase 2 SAs \(period)"
                        + ": it rekeys at our lifetime, so it honours it; agreeing on one value still avoids "
                        + "depending on that."
                } else {
                    sentence +=
                        " No rekey has happened yet: we will rekey at about \(Int(phase2.ours * 0.875)) s; the tunnel "
                        + "then depends on the peer accepting a rekey and a Delete from us (a router whose log says "
                        + "\"Ignore RESPONDER-LIFETIME notification\" may not)."
                }
                sentences.append(sentence)
                evidence += [
                    DiagnosisEvidence(
                        source: .counter, name: "phase 2 SAs \(period)",
                        text: "\(total): \(wire.peers.count) negotiated by the peer, \(wire.ours.count) rekeyed by us")
                ]
                if let newest = wire.ours.last { evidence.append(DiagnosisEvidence(newest)) }
            } else {
                sentences.append(
                    "Phase 2 lifetimes far apart: ours \(Int(phase2.ours)) s, \(proposed); the shorter one is used "
                        + "(\(phase2.record.details["reason"] ?? "see the event")).")
            }
        }
        if let phase1 = far.first(where: { $0.phase == 1 }) {
            sentences.append(
                "Phase 1 lifetimes far apart: ours \(Int(phase1.ours)) s, the peer's \(Int(phase1.peer)) s "
                    + "(\(phase1.record.time)); the shorter one is used "
                    + "(\(phase1.record.details["reason"] ?? "see the event")), which works while the peer honours it.")
        }
        sentences.append("Nothing has restarted.")
        var fixes: [DiagnosisFix] = []
        if let connection = subject.connection {
            let ike = far.first { $0.phase == 1 }.map { "\(Int($0.peer))s" } ?? connection.lifetimes.ike.configText
            let esp = far.first { $0.phase == 2 }.map { "\(Int($0.peer))s" } ?? connection.lifetimes.esp.configText
            fixes.append(
                DiagnosisFix(
                    side: .local,
                    text: "Agree on one lifetime per phase; to take the peer's, set "
                        + place("lifetime", "\(subject.path).lifetime", subject.path) + " to",
                    yaml: "lifetime: {ike: \(ike), esp: \(esp)"
                        + (connection.lifetimes.espKilobytes.map { ", esp_size: \($0)KB" } ?? "") + "}"))
        }
        let phase1Ours = far.first { $0.phase == 1 }.map { Int($0.ours) }
        if let phase2 = far.first(where: { $0.phase == 2 }) {
            fixes += lifetimePeerFixes(subject, espSeconds: Int(phase2.ours), ikeSeconds: phase1Ours)
        } else if let phase1Ours {
            fixes += lifetimePeerFixes(subject, espSeconds: nil, ikeSeconds: phase1Ours)
        }
        return DiagnosisFinding(
            cause: .lifetimeMismatch, severity: severity, summary: summary,
            explanation: sentences.joined(separator: " "), evidence: evidence, fixes: fixes, details: details)
    }

    /// What shows a tunnel holds: "1 IKE SA negotiated in the last hour, no SA ended early, 0 ESP packets on
    /// unknown SPIs (gateway)".
    static func holding(_ subject: Subject, status: ControlResponse) -> String {
        let ike = SASetupLog.count(subject.setups.ikeEstablished, since: subject.windowStart)
        let ended = restarts(subject).count
        var parts = [
            "\(ike) IKE SA\(ike == 1 ? "" : "s") negotiated in the last hour",
            ended == 0 ? "no SA ended early" : "\(ended) SA\(ended == 1 ? "" : "s") ended early",
        ]
        if let unknown = status.dataplane?.drops["unknown-spi"] {
            parts.append("\(unknown) ESP packet\(unknown == 1 ? "" : "s") on unknown SPIs (gateway)")
        }
        return parts.joined(separator: ", ")
    }

    /// Phase 2 SAs of the last hour by who negotiated them, from the lifetime decisions: ours (our Quick
    /// Mode: "our proposal", or "the peer's RESPONDER-LIFETIME") and the peer's (it initiated; we answered),
    /// and the mean time between our rekeys.
    static func phase2Rekeys(_ subject: Subject) -> (ours: [EventRecord], peers: [EventRecord], interval: Double?) {
        let decisions = subject.recent(["lifetime-chosen"]).filter { phase(of: $0) == 2 }
        let ours = decisions.filter {
            let reason = $0.details["reason"] ?? ""
            return reason == "our proposal" || reason == "the peer's RESPONDER-LIFETIME"
        }
        let peers = decisions.filter { record in !ours.contains { $0.sequence == record.sequence } }
        // Our rekeys follow each other (or the first SA) at our rekey time.
        let times = (peers.prefix(1) + ours).map(\.uptimeSeconds).sorted()
        let interval = times.count >= 2 ? (times.last! - times.first!) / Double(times.count - 1) : nil
        return (ours, peers, interval)
    }

    /// "in the last hour", or "in the last N minutes" since `start`.
    static func period(_ subject: Subject, since start: Double?) -> String {
        guard let start, subject.now - start < window else { return "in the last hour" }
        let minutes = max(1, Int(((subject.now - start) / 60).rounded()))
        return "in the last \(minutes) minute\(minutes == 1 ? "" : "s")"
    }

    /// The newest lifetime decision of a phase in the last hour that names the peer's lifetime (our own
    /// Quick Modes, answered without RESPONDER-LIFETIME, do not), or else the newest one.
    static func lifetimeDecision(_ subject: Subject, phase: Int) -> EventRecord? {
        let decisions = subject.recent(["lifetime-chosen"]).filter { Self.phase(of: $0) == phase }
        return decisions.last { seconds($0.details["peer"]) != nil } ?? decisions.last
    }

    /// Seconds from a lifetime as events write it: `120s`, `3600s/102400000KB`; nil without seconds.
    static func seconds(_ text: String?) -> Double? {
        guard let text else { return nil }
        for part in text.split(separator: "/") where part.hasSuffix("s") {
            if let value = Double(part.dropLast()) { return value }
        }
        return nil
    }

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
