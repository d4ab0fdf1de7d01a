import IsthmusCrypto
import IsthmusEvents
import IsthmusGateway

/// The causes that keep a connection from coming up because the peer and we disagree: proposals,
/// authentication, traffic selectors (not reaching each other: Diagnoser+Reachability.swift).
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
}
