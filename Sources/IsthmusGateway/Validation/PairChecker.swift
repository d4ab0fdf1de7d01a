import IsthmusCrypto
import IsthmusEvents
import IsthmusIKE
import IsthmusIKEv1
import IsthmusIKEv2
import IsthmusIP

/// The checks of one pair of connections, `a` (first file) and `b` (second file): diagnostics and the
/// summary lines. Each disagreement is one diagnostic at the value to change, with the other side's value
/// as a note; where either side could be changed, the first file's value is the position.
struct PairChecker {
    let a: End
    let b: End
    private(set) var diagnostics: [Diagnostic] = []
    var lines: [String] = []

    init(a: End, b: End) {
        self.a = a
        self.b = b
    }

    var sameVersion: Bool { a.connection.ikeVersion == b.connection.ikeVersion }
    var version: IKEVersion { a.connection.ikeVersion }

    mutating func run() {
        checkAddresses()
        checkVersionsAndKinds()
        checkKeys()
        if sameVersion { checkProposals() }
        checkPrefixes()
        checkBGP()
        if sameVersion { checkLifetimes() }
        checkLiveness()
        checkIdentities()
        summariseNATTraversal()
    }

    mutating func add(_ diagnostic: Diagnostic) { diagnostics.append(diagnostic) }

    // MARK: - Addresses

    /// Each end's peer address must be the other's public address.
    private mutating func checkAddresses() {
        for (from, to) in [(a, b), (b, a)] {
            guard case .address(let address) = from.remote.gateway, let theirs = to.gateway.publicAddress,
                address != theirs
            else { continue }
            let behindNAT = from.connection.remoteIdentity != nil
            add(
                from.diagnostic(
                    behindNAT ? .warning : .error, from.remoteAt("gateway_address"),
                    "\(from.label) leads to \(address), but \(to.gateway.name)'s public address is \(theirs)"
                        + (behindNAT
                            ? ": fine only if a NAT in front of \(to.gateway.name) maps \(address) to \(theirs)"
                            : ": its IKE messages go where \(to.gateway.name) does not listen, and it expects the "
                                + "identity \(address) where \(to.gateway.name) sends \(theirs)"),
                    fix: "set gateway_address: \(theirs) in local network '\(from.remote.name)'"
                        + (behindNAT ? " unless a NAT maps it" : ""),
                    notes: [to.note(to.publicAddressLocation, "\(to.gateway.name)'s public_address")]))
        }
        if a.remote.gateway == .any, b.remote.gateway == .any {
            add(
                a.diagnostic(
                    .error, a.remoteAt("gateway_address"),
                    "both ends wait for the other (gateway_address: any on both sides): neither ever initiates",
                    fix: "give one side the other's address or DNS name",
                    notes: [b.note(b.remoteAt("gateway_address"), "\(b.label)'s gateway_address")]))
        }
    }

    // MARK: - Versions and kinds

    private mutating func checkVersionsAndKinds() {
        let (ca, cb) = (a.connection, b.connection)
        if ca.ikeVersion != cb.ikeVersion {
            let kinds =
                ca.kind == cb.kind
                ? "" : " (\(a.connection.name) is \(ca.kind), \(b.connection.name) is \(cb.kind))"
            add(
                a.diagnostic(
                    .error, a.versionLocation,
                    "\(a.label) speaks \(ca.ikeVersion) and \(b.label) \(cb.ikeVersion)\(kinds): they never "
                        + "negotiate (proposals and lifetimes are not compared)",
                    fix: "use one version on both: 'kind: static' and 'ike_version: 1' (policy-based IKEv1, what "
                        + "a static gateway speaks) or 'kind: dynamic' and 'ike_version: 2' (route-based IKEv2)",
                    notes: [b.note(b.versionLocation, "\(b.label): \(cb.kind), \(cb.ikeVersion)")]))
            lines.append(
                "\(a.connection.name): \(ca.kind), \(ca.ikeVersion); \(b.connection.name): \(cb.kind), \(cb.ikeVersion)"
            )
            return
        }
        if ca.kind != cb.kind {
            let (dynamic, other) = ca.kind == .dynamic ? (a, b) : (b, a)
            add(
                dynamic.diagnostic(
                    .warning, dynamic.kindLocation,
                    "\(dynamic.label) is dynamic (route-based) and \(other.label) static (policy-based): with "
                        + "\(ca.ikeVersion) both negotiate their prefixes as policies, so the tunnel comes up, but the "
                        + "route-based end routes into an interface of its own where its peer expects policies",
                    fix: "make both static (policy-based IKEv1), as the cloud's static gateway expects",
                    notes: [other.note(other.kindLocation, "\(other.label) is \(other.connection.kind)")]))
        }
        lines.append(
            "\(ca.ikeVersion), "
                + (ca.kind == cb.kind
                    ? "both \(ca.kind)" : "\(a.connection.name) \(ca.kind), \(b.connection.name) \(cb.kind)"))
    }

    // MARK: - Key

    /// The keys are compared in constant time and never printed, nor anything derived from them.
    private mutating func checkKeys() {
        let (ka, kb) = (a.connection.sharedKey, b.connection.sharedKey)
        // Certificate connections have no key to compare.
        guard ka.source != .none || kb.source != .none else { return }
        let same = ka.withMaterial { left in kb.withMaterial { right in ConstantTime.equal(left, right) } }
        let sources = "\(a.connection.name): \(source(ka)), \(b.connection.name): \(source(kb))"
        guard !same else {
            lines.append("the same pre-shared key (\(sources))")
            return
        }
        let trimmed = ka.withMaterial { left in
            kb.withMaterial { right in ConstantTime.equal(Self.trimmed(left), Self.trimmed(right)) }
        }
        add(
            a.diagnostic(
                .error, a.at("shared_key"),
                "the pre-shared keys of \(a.label) and \(b.label) differ"
                    + (trimmed ? " only in white space at their start or end" : "")
                    + " (neither is shown): authentication fails on both sides",
                fix: "give both the same key: 'isthmus key show \(b.connection.name) --config \(b.side.file)' prints "
                    + "\(b.gateway.name)'s; keep it in a key file of mode 0600 (shared_key: file:PATH)",
                notes: [b.note(b.at("shared_key"), "\(b.label)'s key (\(source(kb)))")]))
    }

    private func source(_ key: SharedKey) -> String {
        switch key.source {
        case .inline: "inline"
        case .file(let path): "file:\(path)"
        case .none: "none"
        }
    }

    private static func trimmed(_ bytes: [UInt8]) -> [UInt8] {
        let blank: Set<UInt8> = [0x20, 0x09, 0x0D, 0x0A]
        guard let first = bytes.firstIndex(where: { !blank.contains($0) }),
            let last = bytes.lastIndex(where: { !blank.contains($0) })
        else { return [] }
        return Array(bytes[first...last])
    }

    // MARK: - Proposals

    private mutating func checkProposals() {
        let (ca, cb) = (a.connection, b.connection)
        switch version {
        case .v1:
            agree(
                "IKE (phase 1)", field: "ike",
                IKEv1Agreement.phase1(initiator: ca.ike, responder: cb.ike),
                IKEv1Agreement.phase1(initiator: cb.ike, responder: ca.ike), ca.ike, cb.ike)
            let pfs = Self.usesPFS(ca.esp) || Self.usesPFS(cb.esp)
            agree(
                "ESP (phase 2)", field: "esp",
                IKEv1Agreement.phase2(initiator: ca.esp, responder: cb.esp),
                IKEv1Agreement.phase2(initiator: cb.esp, responder: ca.esp), ca.esp, cb.esp,
                suffix: pfs ? "" : " (no PFS)")
        case .v2:
            let ikeAB = IKEv2Agreement.ikeSA(initiator: ca.ike, responder: cb.ike)
            let ikeBA = IKEv2Agreement.ikeSA(initiator: cb.ike, responder: ca.ike)
            if agree("IKE SA", field: "ike", ikeAB?.suite, ikeBA?.suite, ca.ike, cb.ike) {
                var retries: [String] = []
                if let group = ikeAB?.retriedFrom {
                    retries.append("\(a.connection.name) first guesses \(group.keyword)")
                }
                if let group = ikeBA?.retriedFrom {
                    retries.append("\(b.connection.name) first guesses \(group.keyword)")
                }
                if !retries.isEmpty {
                    lines[lines.count - 1] +=
                        " (one INVALID_KE_PAYLOAD round trip: " + retries.joined(separator: "; ") + ")"
                }
            }
            let child = agree(
                "CHILD SA (IKE_AUTH)", field: "esp",
                IKEv2Agreement.childSA(initiator: ca.esp, responder: cb.esp, pfs: false),
                IKEv2Agreement.childSA(initiator: cb.esp, responder: ca.esp, pfs: false), ca.esp, cb.esp)
            let pfs = Self.usesPFS(ca.esp) || Self.usesPFS(cb.esp)
            if child, pfs {
                agree(
                    "CHILD SA rekeys (CREATE_CHILD_SA with PFS)", field: "esp",
                    IKEv2Agreement.childSA(initiator: ca.esp, responder: cb.esp, pfs: true),
                    IKEv2Agreement.childSA(initiator: cb.esp, responder: ca.esp, pfs: true), ca.esp, cb.esp,
                    fix: "give both esp lists the same DH group (PFS), or none on either")
            }
        }
    }

    /// Reports what `a` initiating (`ab`) and `b` initiating (`ba`) choose (`suffix` after each choice); true
    /// when both find one.
    @discardableResult
    private mutating func agree<Suite: Equatable & CustomStringConvertible>(
        _ what: String, field: String, _ ab: Suite?, _ ba: Suite?, _ offersA: ProposalList, _ offersB: ProposalList,
        fix: String? = nil, suffix: String = ""
    ) -> Bool {
        let (na, nb) = (a.connection.name, b.connection.name)
        switch (ab, ba) {
        case (let ab?, let ba?):
            lines.append(
                ab == ba
                    ? "\(what): \(ab)\(suffix), whichever side initiates"
                    : "\(what): \(ab)\(suffix) when \(na) initiates, \(ba)\(suffix) when \(nb) initiates")
            return true
        default:
            var failing: [String] = []
            if ab == nil { failing.append("\(na) initiates") }
            if ba == nil { failing.append("\(nb) initiates") }
            let when = failing.count == 2 ? "" : " when " + failing[0]
            let firstB = offersB.proposals.first.map(\.description) ?? ""
            let firstA = offersA.proposals.first.map(\.description) ?? ""
            add(
                a.diagnostic(
                    .error, a.at(field),
                    "no common \(what) proposal\(when): \(na) offers \(offersA); \(nb) accepts \(offersB)",
                    fix: fix ?? "add '\(firstB)' to \(na)'s \(field) list, or '\(firstA)' to \(nb)'s",
                    notes: [b.note(b.at(field), "\(b.label)'s \(field) proposals")]))
            lines.append("\(what): none in common\(when)")
            return false
        }
    }

    // MARK: - Prefixes

    /// Each end's remote prefixes against the other's own: policies for IKEv1 (one Quick Mode per pair of
    /// prefixes, accepted only inside the responder's policy: no narrowing), routes for route-based IKEv2
    /// (both ends propose 0.0.0.0/0 and route the prefixes into their interface).
    private mutating func checkPrefixes() {
        let policies = a.connection.ikeVersion == .v1 && b.connection.ikeVersion == .v1
        // With BGP on both ends the local networks' prefixes are what the peer may announce (checkBGP).
        for (from, to) in [(a, b), (b, a)] where !bothBGP {
            mirror(from: from, to: to, policies: policies)
        }
        let ours = a.side.config.site.prefixes.map(\.description).joined(separator: ", ")
        let theirs = b.side.config.site.prefixes.map(\.description).joined(separator: ", ")
        if policies {
            let pairs =
                a.side.config.site.prefixes.flatMap { l in a.remote.prefixes.filter { $0.family == l.family } }.count
            lines.append(
                "prefixes: \(ours) (\(a.gateway.name)) <=> \(theirs) (\(b.gateway.name)), policies: \(pairs) Quick "
                    + "Mode\(pairs == 1 ? "" : "s") per direction")
        } else if bothBGP {
            lines.append(
                "prefixes: \(ours) (\(a.gateway.name)) <=> \(theirs) (\(b.gateway.name)), announced by BGP "
                    + "(selectors 0.0.0.0/0 both ways)")
        } else {
            lines.append(
                "prefixes: \(ours) (\(a.gateway.name)) <=> \(theirs) (\(b.gateway.name)), routed into the tunnel "
                    + "(selectors 0.0.0.0/0 both ways)")
        }
    }

    /// `from`'s remote prefixes (its local network) against `to`'s own site.
    private mutating func mirror(from: End, to: End, policies: Bool) {
        let remote = from.remote.prefixes
        let site = to.side.config.site.prefixes
        guard Set(remote) != Set(site) else { return }
        let list = { (prefixes: [IPPrefix]) in prefixes.map(\.description).joined(separator: ", ") }
        let relation: String
        let disjoint = !remote.contains { r in site.contains { $0.overlaps(r) } }
        let extra = Self.uncovered(remote, by: site)
        let missing = Self.uncovered(site, by: remote)
        if disjoint {
            relation = "has nothing in common with"
        } else if extra.isEmpty {
            relation = "is a subset of"
        } else if missing.isEmpty {
            relation = "is a superset of"
        } else {
            relation = "only partly overlaps"
        }
        var message =
            "\(from.label) leads to \(list(remote)) (local network '\(from.remote.name)'), which \(relation) "
            + "\(to.gateway.name)'s own \(list(site))"
        let severity: Diagnostic.Severity
        if policies {
            severity = .error
            let refusedByTo = remote.filter { r in !site.contains { $0.contains(r) } }
            let refusedByFrom = site.filter { l in !remote.contains { $0.contains(l) } }
            var parts: [String] = []
            if !refusedByTo.isEmpty {
                parts.append(
                    "when \(from.gateway.name) initiates, \(to.gateway.name) refuses its Quick Mode for "
                        + list(refusedByTo))
            }
            if !refusedByFrom.isEmpty {
                parts.append(
                    "when \(to.gateway.name) initiates, \(from.gateway.name) refuses its Quick Mode for "
                        + list(refusedByFrom))
            }
            message +=
                ": " + parts.joined(separator: ", and ")
                + " (INVALID-ID-INFORMATION; IKEv1 has no narrowing, a responder takes a Quick Mode only inside its "
                + "own policy; each side initiates at start and whenever it rekeys first)"
        } else {
            severity = disjoint ? .error : .warning
            var parts: [String] = []
            if !extra.isEmpty {
                parts.append(
                    "\(from.gateway.name) routes \(list(extra)) into the tunnel, where \(to.gateway.name) has no "
                        + "such network")
            }
            if !missing.isEmpty {
                parts.append(
                    "\(to.gateway.name)'s \(list(missing)) \(missing.count == 1 ? "is" : "are") not routed back by "
                        + "\(from.gateway.name), so \(from.gateway.name) cannot reach \(missing.count == 1 ? "it" : "them")"
                )
            }
            message +=
                disjoint
                ? ": no traffic can cross (IKEv2 narrowing cannot help: route-based ends propose 0.0.0.0/0)"
                : ": the tunnel comes up (route-based ends propose 0.0.0.0/0), but " + parts.joined(separator: ", and ")
        }
        add(
            from.diagnostic(
                severity, from.remoteAt("prefixes"), message,
                fix: "set prefixes: [\(list(site))] in local network '\(from.remote.name)' (what \(to.gateway.name) "
                    + "holds), or change \(to.gateway.name)'s own prefixes",
                notes: [to.note(to.siteLocation, "\(to.gateway.name)'s own prefixes")]))
    }

    /// The prefixes of `prefixes` that `others` do not cover whole (each list's prefixes are disjoint,
    /// as validation ensures, so the covered share is the sum of the others inside a prefix).
    static func uncovered(_ prefixes: [IPPrefix], by others: [IPPrefix]) -> [IPPrefix] {
        prefixes.filter { prefix in
            if others.contains(where: { $0.contains(prefix) }) { return false }
            let inside = others.filter { prefix.contains($0) }
            let share = inside.reduce(0.0) {
                $0 + Double(sign: .plus, exponent: prefix.length - $1.length, significand: 1)
            }
            return share < 1
        }
    }

    // MARK: - Lifetimes

    private mutating func checkLifetimes() {
        check(lifetime: "IKE", field: "ike", a.connection.lifetimes.ike, b.connection.lifetimes.ike)
        check(lifetime: "ESP", field: "esp", a.connection.lifetimes.esp, b.connection.lifetimes.esp)
    }

    private mutating func check(lifetime what: String, field: String, _ la: Duration, _ lb: Duration) {
        let sa = what == "IKE" ? (version == .v1 ? "ISAKMP SA" : "IKE SA") : (version == .v1 ? "IPsec SA" : "CHILD SA")
        guard la != lb else {
            lines.append(
                "\(sa) lifetime \(la.configText) on both: either side rekeys first, \(Self.rekeyWindow(la)) after "
                    + "it came up")
            return
        }
        let (short, long) = la < lb ? (a, b) : (b, a)
        let (shortValue, longValue) = (min(la, lb), max(la, lb))
        let ratio = Double(longValue.wholeSeconds) / Double(max(1, shortValue.wholeSeconds))
        let farApart = ratio >= PairCheck.farApartRatio
        let tenths = Int((ratio * 10).rounded())
        let times = ratio >= 2 ? "\(Int(ratio.rounded())) times" : "\(tenths / 10).\(tenths % 10) times"
        let path = "lifetime.\(field)"
        let notes = [long.note(long.at(path, "lifetime"), "\(long.label)'s \(what) lifetime, \(longValue.configText)")]
        let fix =
            "set lifetime: {\(field): \(longValue.configText)} on \(short.connection.name) or "
            + "{\(field): \(shortValue.configText)} on \(long.connection.name): the same value on both sides"
        switch version {
        case .v1:
            let message =
                "\(what) lifetimes \(farApart ? "far apart" : "differ"): \(short.label) \(shortValue.configText), "
                + "\(long.label) \(longValue.configText) (\(times) as long). IKEv1 negotiates the shorter: when "
                + "\(long.gateway.name) initiates, \(short.gateway.name) answers with RESPONDER-LIFETIME "
                + "\(shortValue.wholeSeconds)s, which Isthmus honours; a device that ignores it (the seed's router "
                + "logs 'Ignore RESPONDER-LIFETIME notification') keeps \(longValue.configText) while "
                + "\(short.gateway.name) replaces the SA every \(Self.rekeyWindow(shortValue))"
                + (farApart ? ", so the tunnel seems to restart continually" : "")
            add(
                short.diagnostic(
                    farApart ? .error : .warning, short.at(path, "lifetime"), message, fix: fix, notes: notes))
            lines.append(
                "\(sa) lifetime \(shortValue.configText) (\(short.connection.name)'s, the shorter; "
                    + "\(long.connection.name) adopts it): either side rekeys first, \(Self.rekeyWindow(shortValue)) "
                    + "after it came up")
        case .v2:
            if farApart {
                add(
                    short.diagnostic(
                        .warning, short.at(path, "lifetime"),
                        "\(what) lifetimes far apart: \(short.label) \(shortValue.configText), \(long.label) "
                            + "\(longValue.configText) (\(times) as long). IKEv2 does not negotiate lifetimes: "
                            + "\(short.gateway.name) rekeys every \(Self.rekeyWindow(shortValue)) and "
                            + "\(long.gateway.name)'s \(longValue.configText) never comes into play",
                        fix: fix, notes: notes))
            }
            lines.append(
                "\(sa) lifetime \(short.connection.name) \(shortValue.configText), \(long.connection.name) "
                    + "\(longValue.configText): \(short.gateway.name) rekeys first, \(Self.rekeyWindow(shortValue)) "
                    + "after it came up")
        }
    }

    /// When an SA of `lifetime` is rekeyed: 85 to 90 % of it (``RekeySchedule/standard``).
    static func rekeyWindow(_ lifetime: Duration) -> String {
        let schedule = RekeySchedule.standard
        let late = lifetime * (1 - schedule.marginFraction)
        let early = lifetime * (1 - schedule.marginFraction - schedule.jitterFraction)
        return "\(approximate(early))-\(approximate(late))"
    }

    static func approximate(_ duration: Duration) -> String {
        let seconds = duration.wholeSeconds
        if seconds >= 3600 {
            let minutes = (seconds % 3600) / 60
            return "\(seconds / 3600)h" + (minutes == 0 ? "" : "\(minutes)m")
        }
        if seconds >= 60 {
            let rest = seconds % 60
            return "\(seconds / 60)m" + (rest == 0 ? "" : "\(rest)s")
        }
        return "\(seconds)s"
    }

    // MARK: - Liveness

    private mutating func checkLiveness() {
        func describe(_ end: End) -> String {
            let dpd = end.connection.deadPeerDetection
            guard dpd.action != .none else { return "\(end.gateway.name) sends none" }
            return "\(end.gateway.name) checks after \(dpd.interval.configText) idle, \(dpd.action)s after "
                + "\(dpd.timeout.configText)"
        }
        lines.append("liveness: \(describe(a)); \(describe(b))")
        guard a.connection.deadPeerDetection.action == .none, b.connection.deadPeerDetection.action == .none else {
            return
        }
        add(
            a.diagnostic(
                .error, a.at("dpd.action", "dpd"),
                "neither \(a.label) nor \(b.label) checks liveness (dpd action none on both): a peer that restarts or "
                    + "loses its SAs leaves the tunnel dead until the SAs expire",
                fix: "set dpd: {interval: 30s, timeout: 150s, action: restart} on one side, the one that should bring "
                    + "the tunnel back",
                notes: [b.note(b.at("dpd.action", "dpd"), "\(b.label)'s dpd")]))
    }
}
