import IsthmusCrypto
import IsthmusEvents
import IsthmusGateway

/// The causes that keep a connection from coming up: what the peer and we disagree on, or that we do not
/// reach each other.
extension Diagnoser {
    static let ikeUp: Set<String> = ["ike-sa-established", "ike-sa-rekeyed"]
    static let childUp: Set<String> = ["child-sa-installed", "child-sa-rekeyed"]

    // MARK: Proposal mismatch

    /// The newest proposal mismatch of the last hour that no SA of its phase followed.
    func proposalMismatch(_ subject: Subject) -> DiagnosisFinding? {
        guard let record = subject.recent(["proposal-mismatch"]).last else { return nil }
        let phase = Self.phase(of: record)
        guard !subject.happened(phase == 1 ? Self.ikeUp : Self.childUp, after: record) else { return nil }
        let key = phase == 1 ? "ike" : "esp"
        let what = phase == 1 ? "IKE (phase 1)" : "ESP (phase 2)"
        let configured = subject.connection.map { phase == 1 ? $0.ike : $0.esp }
        let ours =
            Self.proposals(record.details["ours"]) ?? Self.offers(in: record.message)?.ours
            ?? configured.map { $0.proposals.map(\.description) } ?? []
        // A NO_PROPOSAL_CHOSEN from the peer does not say what it wants; its own offer, when it initiated
        // in the same hour, does.
        let offer = subject.recent(["proposal-mismatch"]).last {
            Self.phase(of: $0) == phase && !Self.peerOffer($0).isEmpty && !Self.rejectedByPeer($0)
        }
        let peer = Self.peerOffer(record).isEmpty ? offer.map(Self.peerOffer) ?? [] : Self.peerOffer(record)
        let rejectedByPeer = Self.rejectedByPeer(record)
        var details = ["phase": "\(phase)", "ours": ours.joined(separator: ", ")]
        if !peer.isEmpty { details["peer"] = peer.joined(separator: ", ") }
        details["rejected_by"] = rejectedByPeer ? "peer" : "us"
        let offerTime = offer.map { " at \($0.time)" } ?? ""
        let offered = peer.joined(separator: ", ")
        let refusal =
            "The peer answered NO_PROPOSAL_CHOSEN: it accepts none of our \(what) proposals "
            + "(\(ours.joined(separator: ", ")))."
        var explanation =
            rejectedByPeer
            ? refusal + (peer.isEmpty ? "" : " When it initiated\(offerTime), it offered \(offered).")
            : "The peer's \(what) proposals match none of ours: it offered \(peer.joined(separator: ", ")); "
                + "we accept \(ours.joined(separator: ", "))."
        var fixes: [DiagnosisFix] = []
        let closest = Self.closest(peer: peer, ours: ours)
        if let closest {
            details["closest_peer"] = closest.peer
            details["closest_ours"] = closest.ours
            details["differs_in"] = closest.differences.joined(separator: ", ")
            explanation +=
                " The closest pair is the peer's \(closest.peer) and our \(closest.ours), which differ in "
                + "\(closest.differences.joined(separator: ", "))."
            if let connection = subject.connection,
                let accepted = Self.configText(closest.peer, phase: phase, version: connection.ikeVersion)
            {
                let list = (ours + [accepted]).joined(separator: ", ")
                fixes.append(
                    DiagnosisFix(
                        side: .local,
                        text: "Accept the peer's proposal as well (if its algorithms are strong enough for you): set "
                            + "\(place(key, "\(subject.path).\(key)", subject.path)) to",
                        yaml: "\(key): [\(list)]"))
            }
        } else if rejectedByPeer {
            explanation += " The peer does not say what it would accept: look at its configuration or log."
        }
        if closest == nil {
            fixes.append(
                DiagnosisFix(
                    side: .local,
                    text: "Ask for the peer's \(what) proposals and add one that Isthmus supports "
                        + "(`isthmus algorithms` lists them) to \(place(key, "\(subject.path).\(key)", subject.path)).")
            )
        }
        fixes += peerProposalFixes(subject, phase: phase, ours: ours)
        var evidence = [DiagnosisEvidence(record)]
        if let offer, offer.sequence != record.sequence { evidence.append(DiagnosisEvidence(offer)) }
        let count = subject.recent(["proposal-mismatch"]).count
        if count > 1 {
            evidence.append(
                DiagnosisEvidence(
                    source: .counter, name: "proposal-mismatch events in the last hour", text: "\(count)"))
        }
        if let configured, let location = position("\(subject.path).\(key)") {
            evidence.append(DiagnosisEvidence(source: .config, name: location, text: "\(key): \(configured)"))
        }
        return DiagnosisFinding(
            cause: .proposalMismatch, severity: .error,
            summary: "no common \(what) proposal: "
                + (peer.isEmpty
                    ? "the peer accepts none of ours (\(ours.joined(separator: ", ")))"
                    : "the peer offers \(peer.joined(separator: ", ")), we accept \(ours.joined(separator: ", "))"),
            explanation: explanation, evidence: evidence, fixes: fixes, details: details)
    }

    /// The peer's offer an event records: its details (`peer`, `offered`) or its message ("peer offered A, B;
    /// we accept C"); empty when it has none.
    static func peerOffer(_ record: EventRecord) -> [String] {
        proposals(record.details["peer"]) ?? proposals(record.details["offered"]) ?? offers(in: record.message)?.peer
            ?? []
    }

    /// Both offers from a message of the form "... peer offered A, B; we accept C, D ...".
    static func offers(in message: String) -> (peer: [String], ours: [String])? {
        guard let offered = message.range(of: "peer offered "), let accept = message.range(of: "; we accept ")
        else { return nil }
        guard offered.upperBound <= accept.lowerBound else { return nil }
        let peer = String(message[offered.upperBound..<accept.lowerBound])
        var ours = String(message[accept.upperBound...])
        if let note = ours.range(of: " (") { ours = String(ours[..<note.lowerBound]) }
        guard let peerList = proposals(peer), let ourList = proposals(ours), !peer.contains("nothing usable")
        else { return nil }
        return (peerList, ourList)
    }

    /// A peer's proposal as our configuration writes it (`aes128-sha1-modp2048` for strongSwan's
    /// `aes128-sha1-prfsha1-modp2048`: the PRF that goes with the integrity algorithm is implied), or nil
    /// when Isthmus cannot parse it.
    static func configText(_ proposal: String, phase: Int, version: IKEVersion) -> String? {
        let parses = { (text: String) in
            (try? ProposalList(parsing: [text], for: phase == 1 ? .ike : .esp, version: version)) != nil
        }
        let parts = proposal.split(separator: "-").map(String.init)
        let implied = parts.filter { part in part.hasPrefix("prf") && parts.contains(String(part.dropFirst(3))) }
        let short = parts.filter { !implied.contains($0) }.joined(separator: "-")
        if !implied.isEmpty, parses(short) { return short }
        return parses(proposal) ? proposal : nil
    }

    /// 1 (IKE SA, IKEv1 Main Mode) or 2 (CHILD SA, Quick Mode) from an event's details or its message.
    static func phase(of record: EventRecord) -> Int {
        if let phase = record.details["phase"], let value = Int(phase) { return value }
        let message = record.message
        for marker in ["ESP", "phase 2", "Quick Mode", "CREATE_CHILD_SA", "IKE_AUTH"] where message.contains(marker) {
            return 2
        }
        return 1
    }

    /// Whether the peer refused (it sent the error) rather than us.
    static func rejectedByPeer(_ record: EventRecord) -> Bool {
        if let side = record.details["rejected_by"] { return side == "peer" }
        let message = record.message.lowercased()
        return message.hasPrefix("peer answered") || message.hasPrefix("peer rejected")
            || message.contains("the responder chose") || message.contains("responder chose")
            || message.contains("peer sent") || message.hasPrefix("the peer refused")
    }

    /// A proposal list as written in event details (`a, b` or `a,b`); nil when absent or empty.
    static func proposals(_ text: String?) -> [String]? {
        guard let text else { return nil }
        let items = text.split(whereSeparator: { $0 == "," || $0 == " " }).map(String.init).filter { !$0.isEmpty }
        return items.isEmpty ? nil : items
    }

    /// The pair of proposals, one of the peer's and one of ours, with the fewest differing algorithms.
    static func closest(peer: [String], ours: [String]) -> (peer: String, ours: String, differences: [String])? {
        var best: (peer: String, ours: String, differences: [String])?
        for theirs in peer {
            let theirParts = theirs.split(separator: "-").map(String.init)
            for mine in ours {
                let myParts = mine.split(separator: "-").map(String.init)
                let onlyTheirs = theirParts.filter { !myParts.contains($0) }
                let onlyMine = myParts.filter { !theirParts.contains($0) }
                var differences: [String] = []
                for index in 0..<max(onlyTheirs.count, onlyMine.count) {
                    let a = index < onlyTheirs.count ? onlyTheirs[index] : "nothing"
                    let b = index < onlyMine.count ? onlyMine[index] : "nothing"
                    differences.append("\(a) (peer) vs \(b) (ours)")
                }
                if best == nil || differences.count < best!.differences.count {
                    best = (theirs, mine, differences)
                }
            }
        }
        return best
    }

    func peerProposalFixes(_ subject: Subject, phase: Int, ours: [String]) -> [DiagnosisFix] {
        let list = ours.joined(separator: ",")
        let name = subject.name
        return [
            DiagnosisFix(
                side: .peer,
                text: phase == 1
                    ? "In swanctl.conf, connections.\(name): proposals = \(list)"
                    : "In swanctl.conf, connections.\(name).children.\(name): esp_proposals = \(list)",
                device: "strongswan"),
            DiagnosisFix(
                side: .peer,
                text: "In ipsec.conf, conn \(name): \(phase == 1 ? "ike" : "esp")= the equivalent of \(list) "
                    + "(`isthmus export \(name) --device libreswan` writes it in libreswan's words)",
                device: "libreswan"),
            DiagnosisFix(
                side: .peer,
                text: phase == 1
                    ? "On the router's IKE (phase 1) policy, allow one of: \(ours.joined(separator: "; "))"
                    : "On the router's IPsec (phase 2) policy, allow one of: \(ours.joined(separator: "; "))",
                device: "generic"),
        ]
    }

    // MARK: Authentication

    /// The newest authentication failure of the last hour that no established IKE SA followed.
    func authenticationFailed(_ subject: Subject) -> DiagnosisFinding? {
        let failures = subject.recent(["authentication-failed"])
        guard let record = failures.last, !subject.happened(Self.ikeUp, after: record) else {
            return silentAuthenticationFailure(subject)
        }
        let byPeer = Self.rejectedByPeer(record)
        let identity = record.message.contains("identity")
        var details = ["rejected_by": byPeer ? "peer" : "us"]
        if let seen = record.details["identity"] { details["peer_identity"] = seen }
        let summary: String
        var explanation: String
        if identity {
            summary = "the peer authenticates with an identity we do not expect"
            explanation =
                "Our gateway refused the peer's identity: \(record.message). Either the peer's local identity or "
                + "our remote_id is wrong."
        } else if byPeer {
            summary = "the peer rejects our authentication: the pre-shared keys (or identities) differ"
            explanation =
                "The peer answered with AUTHENTICATION_FAILED (its check of our AUTH/HASH failed). The usual cause "
                + "is a different pre-shared key; the other is that the peer expects another identity from us."
        } else {
            summary = "we reject the peer's authentication: the pre-shared keys differ"
            explanation =
                "The peer's AUTH/HASH payload does not verify with our key: the two sides have different "
                + "pre-shared keys."
        }
        if subject.status?.keyChangedSinceStart == true {
            explanation += " Our key file changed after the gateway read it: the gateway still uses the old key."
        }
        var fixes: [DiagnosisFix] = []
        if identity {
            fixes.append(
                DiagnosisFix(
                    side: .local,
                    text: "Set the identity the peer really sends (see the event) in "
                        + place("remote_id", "\(subject.path).remote_id", subject.path),
                    yaml: record.details["identity"].map { "remote_id: \($0)" }))
        } else {
            let source = subject.status?.sharedKey ?? "inline"
            fixes.append(
                DiagnosisFix(
                    side: .local,
                    text: "Compare the keys without printing them: `isthmus key show \(subject.name)` shows ours "
                        + "(\(source), \(place("shared_key", "\(subject.path).shared_key", subject.path))); put the "
                        + "same key on both sides, then `isthmus reload`.",
                    command: "isthmus reload"))
            fixes += [
                DiagnosisFix(
                    side: .peer,
                    text: "In swanctl.conf, secrets.ike-\(subject.name): secret = the same key as ours "
                        + "(`isthmus export \(subject.name) --device strongswan` writes it)", device: "strongswan"),
                DiagnosisFix(
                    side: .peer,
                    text: "In ipsec.secrets: OUR_ADDRESS PEER_ADDRESS : PSK \"the same key as ours\" "
                        + "(`isthmus export \(subject.name) --device libreswan` writes the line)", device: "libreswan"),
                DiagnosisFix(
                    side: .peer, text: "On the router's IKE policy, set the pre-shared key to ours.", device: "generic"),
            ]
        }
        var evidence = [DiagnosisEvidence(record)]
        if failures.count > 1 {
            evidence.append(
                DiagnosisEvidence(
                    source: .counter, name: "authentication-failed events in the last hour", text: "\(failures.count)"))
        }
        return DiagnosisFinding(
            cause: .authenticationFailed, severity: .error, summary: summary, explanation: explanation,
            evidence: evidence, fixes: fixes, details: details)
    }

    /// An IKEv1 peer that answered Main Mode up to the key exchange and then never our message 5: a
    /// responder that cannot decrypt it (the keys differ) drops it without a word (strongSwan logs "message
    /// verification failed" or "invalid HASH_V1 payload length, decryption failed?").
    func silentAuthenticationFailure(_ subject: Subject) -> DiagnosisFinding? {
        guard subject.state != "up", Self.isIKEv1(subject) else { return nil }
        let lastHeard = subject.latest(Self.heardFromPeer.union(["nat-detected"]))
        guard lastHeard?.kind != "nat-detected", let (gaveUp, anchor) = Self.unanswered(subject, after: lastHeard),
            Self.pastKeyExchange(anchor)
        else { return nil }
        let evidence = (gaveUp.isEmpty ? [anchor] : Array(gaveUp.suffix(2))).map(DiagnosisEvidence.init)
        let source = subject.status?.sharedKey ?? "inline"
        var explanation =
            "The peer answered Main Mode messages 1 to 4 (so UDP 500 works and the proposals match) but never our "
            + "message 5, the one encrypted with keys derived from the pre-shared key. An IKEv1 peer that cannot "
            + "decrypt it drops it silently: the pre-shared keys most likely differ (or the peer expects another "
            + "identity from us)."
        if subject.status?.keyChangedSinceStart == true {
            explanation += " Our key file changed after the gateway read it: the gateway still uses the old key."
        }
        return DiagnosisFinding(
            cause: .authenticationFailed, severity: .error,
            summary: "the peer silently drops our authentication (Main Mode message 5): the pre-shared keys most "
                + "likely differ",
            explanation: explanation, evidence: evidence,
            fixes: [
                DiagnosisFix(
                    side: .local,
                    text: "Compare the keys without printing them: `isthmus key show \(subject.name)` shows ours "
                        + "(\(source), \(place("shared_key", "\(subject.path).shared_key", subject.path))); put the "
                        + "same key on both sides, then `isthmus reload`.", command: "isthmus reload"),
                DiagnosisFix(
                    side: .peer,
                    text: "In swanctl.conf, secrets.ike-\(subject.name): secret = the same key as ours; charon's log "
                        + "then stops saying \"decryption failed\"", device: "strongswan"),
                DiagnosisFix(
                    side: .peer, text: "In ipsec.secrets: OUR_ADDRESS PEER_ADDRESS : PSK \"the same key as ours\"",
                    device: "libreswan"),
                DiagnosisFix(
                    side: .peer, text: "On the router's IKE policy, set the pre-shared key to ours.", device: "generic"),
            ], details: ["rejected_by": "peer", "silent": "true"])
    }

    static func isIKEv1(_ subject: Subject) -> Bool {
        subject.connection.map { $0.ikeVersion == .v1 } ?? (subject.status?.ikeVersion == 1)
    }

    /// Whether an unanswered request was the authentication (IKEv1 Main Mode message 5, IKEv2 IKE_AUTH):
    /// the peer had answered the key exchange before it.
    static func pastKeyExchange(_ record: EventRecord) -> Bool {
        ["(authenticating)", "IKE_AUTH", "ikeAuth"].contains { record.message.contains($0) }
    }

    /// Whether the peer had answered the first exchange of the negotiation whose request went unanswered.
    static func pastFirstExchange(_ record: EventRecord) -> Bool {
        pastKeyExchange(record) || record.message.contains("(exchanging keys)")
    }

    // MARK: Traffic selectors

    /// The newest traffic-selector refusal of the last hour that no CHILD SA followed.
    func trafficSelectorMismatch(_ subject: Subject) -> DiagnosisFinding? {
        guard let record = subject.recent(["traffic-selector-mismatch"]).last,
            !subject.happened(Self.childUp, after: record)
        else { return nil }
        let routeBased = subject.connection?.kind == .dynamic && subject.connection?.ikeVersion == .v2
        let sitePrefixes = config.site.prefixes.map { "\($0)" }
        let remotePrefixes = subject.remote?.prefixes.map { "\($0)" } ?? []
        // A route-based IKEv2 connection proposes everything (0.0.0.0/0, ::/0) and routes into its interface.
        let families = Set((config.site.prefixes + (subject.remote?.prefixes ?? [])).map { $0.family == .v4 })
        let any = families.sorted { $0 && !$1 }.map { $0 ? "0.0.0.0/0" : "::/0" }
        let ourLocal = routeBased ? any : sitePrefixes
        let ourRemote = routeBased ? any : remotePrefixes
        let byPeer = Self.rejectedByPeer(record)
        var details = [
            "ours_local": ourLocal.joined(separator: ", "), "ours_remote": ourRemote.joined(separator: ", "),
            "rejected_by": byPeer ? "peer" : "us",
        ]
        if let peer = record.details["peer"] { details["peer"] = peer }
        var explanation =
            "The two sides' subnets are not mirror images. Ours: local \(ourLocal.joined(separator: ", ")), "
            + "remote \(ourRemote.joined(separator: ", "))."
        if let peer = record.details["peer"] {
            explanation += " The peer asked for \(peer) (its remote <=> its local)."
        } else if byPeer {
            explanation += " The peer refused ours (TS_UNACCEPTABLE / INVALID-ID-INFORMATION)."
        }
        if routeBased {
            explanation +=
                " This connection is route-based (kind: dynamic): it proposes everything and routes "
                + "\(remotePrefixes.joined(separator: ", ")) into its interface; a policy-based peer refuses that."
        }
        let name = subject.name
        var fixes: [DiagnosisFix] = []
        if routeBased {
            fixes.append(
                DiagnosisFix(
                    side: .local,
                    text: "If the peer is policy-based, make this connection policy-based too, "
                        + place("kind", "\(subject.path).kind", subject.path), yaml: "kind: static"))
        }
        fixes += [
            DiagnosisFix(
                side: .local,
                text: "If the peer's subnets are the right ones, list them as the remote site's prefixes, "
                    + place("prefixes", "\(subject.remotePath).prefixes", subject.remotePath),
                yaml: "prefixes: [\(ourRemote.joined(separator: ", "))]"),
            DiagnosisFix(
                side: .peer,
                text: "In swanctl.conf, connections.\(name).children.\(name): local_ts = "
                    + "\(ourRemote.joined(separator: ",")) and remote_ts = \(ourLocal.joined(separator: ","))",
                device: "strongswan"),
            DiagnosisFix(
                side: .peer,
                text: "In ipsec.conf, conn \(name): leftsubnet=\(ourRemote.joined(separator: ",")) "
                    + "rightsubnet=\(ourLocal.joined(separator: ","))", device: "libreswan"),
            DiagnosisFix(
                side: .peer,
                text: "On the router's VPN policy: local network \(ourRemote.joined(separator: ", ")), remote network "
                    + "\(ourLocal.joined(separator: ", "))", device: "generic"),
        ]
        if subject.childSACount > 0 {
            explanation += " Other CHILD SAs of the connection are up: only this pair of subnets is refused."
        }
        return DiagnosisFinding(
            cause: .trafficSelectorMismatch, severity: subject.childSACount > 0 ? .warning : .error,
            summary: "the subnets do not match: we have \(ourLocal.joined(separator: ", ")) <=> "
                + "\(ourRemote.joined(separator: ", "))"
                + (record.details["peer"].map { ", the peer asks for \($0)" } ?? ", the peer refuses them"),
            explanation: explanation, evidence: [DiagnosisEvidence(record)], fixes: fixes, details: details)
    }

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
