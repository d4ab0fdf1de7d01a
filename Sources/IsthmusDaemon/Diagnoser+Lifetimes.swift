import IsthmusEvents
import IsthmusGateway

/// The causes of SAs renewed too often: restarts (flapping) and lifetimes far apart from the peer's.
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
        let period = span >= Self.window ? "in the last hour" : "in the \(Self.elapsed(span)) since start"
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

    /// `45 seconds` under two minutes, else `N minutes` (rounded down).
    static func elapsed(_ seconds: Double) -> String {
        let whole = max(0, Int(seconds))
        if whole < 120 { return "\(whole) second\(whole == 1 ? "" : "s")" }
        return "\(whole / 60) minutes"
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
}
