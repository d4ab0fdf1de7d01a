import IsthmusCrypto
import IsthmusIP

/// The peer as a NETGEAR ProSAFE FVS318N: the fields of its IKE Policy and VPN Policy screens, named as
/// the screens name them, in their order, for someone typing them in (the router reads no file: the
/// seed's user "visually scanned" the cloud's script for them).
///
/// Field names, choices and defaults are those of the ProSAFE VPN firewall family's reference manuals
/// (FVS318N, FVS318G, FVS336G: "Add IKE Policy", "Add VPN Policy") and its VPN Wizard (3DES, SHA-1,
/// DH Group 2, IKE 28800 s, IPsec 3600 s, PFS off, Dead Peer Detection off). Every field whose device
/// default differs from what our configuration needs gets a `! device default: X — set Y` line: the
/// seed's router "picked the wrong default encryption algorithm" and nothing said so.
///
/// What the device cannot express fails the export, naming our field and what to change: IKEv2 (its IKE
/// policies have no IKE version setting), AES-GCM and ChaCha20-Poly1305, ECP and Curve25519 groups,
/// groups above 14, extended sequence numbers only, IPv6 subnets, keys outside 8-49 characters.
enum NetgearFVS318NExport {
    static let device = "the NETGEAR FVS318N"

    /// Choices of the Encryption Algorithm lists (IKE and VPN policy), by our keyword.
    static let encryption: [String: String] = [
        "des": "DES", "3des": "3DES", "aes128": "AES-128", "aes192": "AES-192", "aes256": "AES-256",
    ]
    /// Choices of the Authentication Algorithm (IKE) and Integrity Algorithm (VPN) lists.
    static let integrity: [String: String] = [
        "md5": "MD5", "sha1": "SHA-1", "sha256": "SHA2-256", "sha384": "SHA2-384", "sha512": "SHA2-512",
    ]
    /// Choices of the Diffie-Hellman (DH) Group and PFS Key Group lists.
    static let groups: [String: String] = [
        "modp768": "Group 1 (768 bit)", "modp1024": "Group 2 (1024 bit)", "modp1536": "Group 5 (1536 bit)",
        "modp2048": "Group 14 (2048 bit)",
    ]
    /// The Pre-shared Key field's length limits.
    static let keyLengths = 8...49

    /// The device's defaults (a new policy, or what the VPN Wizard fills in).
    enum Default {
        static let ikeEncryption = "3DES"
        static let ikeAuthentication = "SHA-1"
        static let dhGroup = "Group 2 (1024 bit)"
        static let ikeLifetime = "28800"
        static let deadPeerDetection = "No"
        static let detectionPeriod = "10"
        static let failureCount = "3"
        static let vpnEncryption = "3DES"
        static let vpnIntegrity = "SHA-1"
        static let vpnLifetime = "3600 Seconds"
        static let pfs = "No (unchecked)"
    }

    /// One proposal as the device's choices.
    struct Choice {
        var proposal: Proposal
        var encryption: String
        var integrity: String
        var group: String?
    }

    static func files(for peer: PeerSide, origin: ExportOrigin) throws(ExportProblems) -> [ExportedFile] {
        var problems: [ExportProblem] = []
        let name = peer.connectionName
        if peer.ikeVersion == .v2 {
            problems.append(
                ExportProblem(
                    field: .connection(name, "ike_version"),
                    message: "\(device) negotiates IKEv1 only: its IKE policy has no IKE version setting (the seed's "
                        + "user never got IKEv2 up with it), and connection '\(name)' uses IKEv2",
                    fix: "make the connection policy-based IKEv1: 'kind: static' and 'ike_version: 1' on it, "
                        + "or 'kind: static' for the whole gateway as examples/cloud.yaml does"))
        }
        if peer.bgp != nil {
            problems.append(
                ExportProblem(
                    field: .connection(name, "bgp"),
                    message: "\(device) runs no routing protocol over its tunnels, and connection '\(name)' runs BGP",
                    fix: "remove bgp: from the connection and list the site's prefixes under its local network"))
        }
        let (ike, ikeReasons) = choose(peer.ike.proposals, pfsRequired: true)
        if ike == nil {
            problems.append(
                PeerExport.cannotExpress(
                    peer, .ike, device: device, what: "any of these IKE proposals", reasons: ikeReasons,
                    fix: "add a proposal made of DES/3DES/AES-128/192/256 (CBC), MD5/SHA-1/SHA-2 and MODP "
                        + "group 1, 2, 5 or 14, e.g. 'aes256-sha256-modp2048' or the cloud's 'aes256-sha1-modp1024'"))
        }
        let (esp, espReasons) = choose(peer.esp.proposals, pfsRequired: false)
        if esp == nil {
            problems.append(
                PeerExport.cannotExpress(
                    peer, .esp, device: device, what: "any of these ESP proposals", reasons: espReasons,
                    fix: "add a proposal such as 'aes256-sha256' or 'aes256-sha1'"))
        }
        for prefix in peer.localPrefixes + peer.remotePrefixes where prefix.family != .v4 {
            problems.append(
                ExportProblem(
                    field: .connection(name, "local_network"),
                    message: "this export writes IPv4 subnets with subnet masks, and \(prefix) is IPv6",
                    fix: "export an IPv4-only connection"))
            break
        }
        if let key = peer.sharedKey, !keyLengths.contains(key.length) {
            problems.append(
                ExportProblem(
                    field: .connection(name, "shared_key"),
                    message: "the key has \(key.length) characters and \(device)'s Pre-shared Key field takes "
                        + "\(keyLengths.lowerBound) to \(keyLengths.upperBound)",
                    fix: "'isthmus key rotate \(name)' writes a 43-character key (move it to a file first)"))
        }
        guard problems.isEmpty, let ike, let esp else { throw ExportProblems(problems) }

        var out = PeerExport.header(peer, device: .netgearFVS318N, origin: origin, what: "NETGEAR FVS318N settings")
        out.append("")
        out.append("Where: VPN > IPSec VPN > IKE Policies > Add, then VPN Policies > Add. After the VPN Wizard,")
        out.append("edit both policies it made: its defaults differ where a line below says \"device default\".")
        out.append("To edit an IKE policy, disable the VPN policy using it first, and enable it again afterwards.")
        out.append("Identifiers are the two public IP addresses: Isthmus checks them (no FQDNs).")
        out.append("")
        var form = Form()
        form.section("IKE Policy")
        form.group("Mode Config Record")
        form.row("Do you want to use Mode Config Record?", "No")
        form.group("General")
        form.row("Policy Name", name)
        form.row("Direction / Type", "Both")
        form.row("Exchange Mode", "Main", default: "Main")
        form.group("Local")
        form.row("Identifier Type", "Local Wan IP")
        form.row("Identifier", "\(peer.localAddress)")
        form.group("Remote")
        form.row("Identifier Type", "Remote Wan IP")
        form.row("Identifier", "\(peer.remoteAddress)")
        form.group("IKE SA Parameters")
        form.row("Encryption Algorithm", ike.encryption, default: Default.ikeEncryption)
        form.row("Authentication Algorithm", ike.integrity, default: Default.ikeAuthentication)
        form.row("Authentication Method", "Pre-shared key")
        if let key = peer.sharedKey {
            form.row("Pre-shared key", key.withMaterial { String(decoding: $0, as: UTF8.self) })
        } else {
            form.row("Pre-shared key", "(--no-key: 'isthmus key show \(name) --config \(origin.configFile)')")
        }
        form.row("Diffie-Hellman (DH) Group", ike.group ?? "", default: Default.dhGroup)
        form.row("SA-Lifetime (sec)", "\(peer.lifetimes.ike.wholeSeconds)", default: Default.ikeLifetime)
        let dpd = peer.deadPeerDetection
        form.row("Enable Dead Peer Detection", "Yes", default: Default.deadPeerDetection)
        form.row("Detection Period", "\(dpd.interval.wholeSeconds)", default: Default.detectionPeriod)
        let failures = max(1, dpd.timeout.wholeSeconds / max(1, dpd.interval.wholeSeconds))
        form.row("Reconnect after Failure Count", "\(failures)", default: Default.failureCount)
        form.group("Extended Authentication")
        form.row("XAUTH Configuration", "None")

        let pairs = peer.selectorPairs
        for (index, pair) in pairs.enumerated() {
            let policy = pairs.count == 1 ? name : "\(name)-\(index + 1)"
            form.blank()
            form.section(pairs.count == 1 ? "VPN Policy" : "VPN Policy \(index + 1) of \(pairs.count)")
            form.group("General")
            form.row("Policy Type", "Auto Policy")
            form.row("Policy Name", policy)
            form.row("Remote Endpoint", "IP Address: \(peer.remoteAddress)")
            form.row("Enable NetBIOS", "No")
            form.group("Traffic Selection")
            form.row("Local IP", "Subnet")
            form.row("Start IP Address", "\(pair.local.network)")
            form.row("Subnet Mask", "\(pair.local.netmask)")
            form.row("Remote IP", "Subnet")
            form.row("Start IP Address", "\(pair.remote.network)")
            form.row("Subnet Mask", "\(pair.remote.netmask)")
            form.group("Auto Policy Parameters")
            form.row("SA Lifetime", "\(peer.lifetimes.esp.wholeSeconds) Seconds", default: Default.vpnLifetime)
            form.row("Encryption Algorithm", esp.encryption, default: Default.vpnEncryption)
            form.row("Integrity Algorithm", esp.integrity, default: Default.vpnIntegrity)
            form.row("PFS Key Group", esp.group.map { "Yes, \($0)" } ?? "No (unchecked)", default: Default.pfs)
            form.row("Select IKE Policy", name)
        }
        out += form.lines
        out.append("")
        out.append("Notes:")
        out.append(
            "- Proposals used: IKE '\(ike.proposal)', ESP '\(esp.proposal)' (one of each is all the screens hold;")
        out.append("  Isthmus accepts any of its configured ones: IKE '\(peer.ike)', ESP '\(peer.esp)').")
        out.append(
            "- SA Lifetime is one value, in Seconds or KBytes: keep Seconds"
                + (peer.lifetimes.espKilobytes.map { " (Isthmus also rekeys after \($0) KB by itself)." } ?? "."))
        out.append("- Never set longer lifetimes here than Isthmus's: the FVS318N ignores RESPONDER-LIFETIME (the")
        out.append("  seed's log), so its SAs would outlive Isthmus's and the tunnel keep restarting.")
        if pairs.count > 1 {
            out.append("- One VPN policy per pair of subnets (\(pairs.count)), all using the IKE policy '\(name)'.")
        }
        if peer.natTraversal == .force {
            out.append(
                "- Isthmus forces ESP in UDP 4500 (nat_traversal: force); the FVS318N follows by itself (RFC 3947).")
        }
        if ike.group.map({ $0.hasPrefix("Group 14") }) == true || esp.group.map({ $0.hasPrefix("Group 14") }) == true {
            out.append(
                "- If the DH Group list ends at Group 5 (older firmware), use modp1536 in our proposals instead.")
        }
        return [
            ExportedFile(
                name: "\(name)-fvs318n.txt", contents: out.joined(separator: "\n") + "\n",
                containsKey: peer.sharedKey != nil)
        ]
    }

    /// The first proposal the device can express, with the first expressible algorithm of each kind, and
    /// why each proposal before it was not. IKE needs a DH group; ESP takes one (PFS) or none, and cannot
    /// be ESN only.
    static func choose(_ proposals: [Proposal], pfsRequired: Bool) -> (choice: Choice?, reasons: [String]) {
        var reasons: [String] = []
        func names(_ algorithms: [Algorithm]) -> String { algorithms.map(\.keyword).joined(separator: "/") }
        for proposal in proposals {
            guard let cipher = proposal.encryption.lazy.compactMap({ encryption[$0.keyword] }).first else {
                reasons.append(
                    "'\(proposal)': \(names(proposal.encryption)) is not in its Encryption Algorithm "
                        + "list (DES, 3DES, AES-128/192/256)")
                continue
            }
            guard let hash = proposal.integrity.lazy.compactMap({ integrity[$0.keyword] }).first else {
                reasons.append("'\(proposal)': no integrity algorithm from its list (MD5, SHA-1, SHA2-256/384/512)")
                continue
            }
            let esn = proposal.extendedSequenceNumbers.map(\.keyword)
            if !esn.isEmpty && !esn.contains("noesn") {
                reasons.append("'\(proposal)': it has no extended sequence numbers")
                continue
            }
            var group: String?
            if !proposal.keyExchange.isEmpty || pfsRequired {
                guard let found = proposal.keyExchange.lazy.compactMap({ groups[$0.keyword] }).first else {
                    reasons.append(
                        "'\(proposal)': \(names(proposal.keyExchange)) is not in its DH group list "
                            + "(Group 1, 2, 5, 14)")
                    continue
                }
                group = found
            }
            return (Choice(proposal: proposal, encryption: cipher, integrity: hash, group: group), reasons)
        }
        return (nil, reasons)
    }

    /// The screens as aligned text: sections, groups of fields, fields with default warnings.
    struct Form {
        static let labelWidth = 40
        private(set) var lines: [String] = []

        mutating func section(_ title: String) {
            lines.append(title)
            lines.append(String(repeating: "=", count: title.count))
        }

        mutating func group(_ title: String) { lines.append("  [\(title)]") }

        mutating func blank() { lines.append("") }

        /// A field; with `default`, a warning line when the device's default differs from `value`.
        mutating func row(_ label: String, _ value: String, default deviceDefault: String? = nil) {
            let padding = max(1, Self.labelWidth - label.count)
            lines.append("    \(label)\(String(repeating: " ", count: padding))\(value)")
            if let deviceDefault, deviceDefault != value {
                lines.append(
                    "    \(String(repeating: " ", count: Self.labelWidth))! device default: \(deviceDefault) — set \(value)"
                )
            }
        }
    }
}
