import IsthmusCrypto
import IsthmusIKE
import IsthmusIP

/// The peer as a strongSwan 5.x `swanctl.conf`: one connection with its CHILD SA(s) and its secret.
///
/// Proposals are written as they are in our configuration: Isthmus's keywords are strongSwan's. Lifetimes
/// mirror ours: rekeying starts at 90 % of our lifetime (`rekey_time`, jittered down by `rand_time`, which
/// defaults to the remaining 10 %) and the SA is gone at our lifetime at the latest (`over_time`,
/// `life_time`), so the peer never keeps an SA longer than we do. An IKEv2 connection has one CHILD SA
/// with all prefixes; an IKEv1 one has a CHILD SA per pair of prefixes, as IKEv1 Quick Mode carries one
/// pair (and as Isthmus's static connections negotiate them).
enum StrongSwanExport {
    static func files(for peer: PeerSide, origin: ExportOrigin) throws(ExportProblems) -> [ExportedFile] {
        let name = peer.connectionName
        var out: [String] = PeerExport.header(peer, device: .strongswan, origin: origin, what: "swanctl.conf")
            .map { "# \($0)" }
        out.append(
            "# Load it with 'swanctl --load-all --file \(name).conf', or put it in /etc/swanctl/conf.d/ "
                + "and run 'swanctl --load-all'.")
        out.append("connections {")
        out.append("    \(name) {")
        out.append("        version = \(peer.ikeVersion.rawValue)")
        out.append("        local_addrs = \(peer.localAddress)")
        out.append("        remote_addrs = \(peer.remoteAddress)")
        out.append("        proposals = \(proposals(peer.ike))")
        let ike = peer.lifetimes.ike
        let ikeRekey = PeerSide.rekeyPoint(ike)
        switch peer.ikeVersion {
        case .v2:
            out.append(
                "        # Isthmus's IKE SA lifetime is \(ike.configText): rekey at 90 %, gone at \(ike.configText).")
            out.append("        rekey_time = \(ikeRekey)s")
        case .v1:
            out.append(
                "        # Isthmus's IKE SA lifetime is \(ike.configText): IKEv1 renews it by reauthenticating at 90 %."
            )
            out.append("        reauth_time = \(ikeRekey)s")
            out.append("        rekey_time = 0s")
            out.append("        aggressive = no")
        }
        out.append("        over_time = \(ike.wholeSeconds - ikeRekey)s")
        let dpd = peer.deadPeerDetection
        out.append("        dpd_delay = \(dpd.interval.wholeSeconds)s")
        if peer.ikeVersion == .v1 {
            out.append("        dpd_timeout = \(dpd.timeout.wholeSeconds)s")
        }
        if peer.ikeVersion == .v2 {
            out.append("        mobike = no")
        }
        if peer.natTraversal == .force {
            out.append("        # nat_traversal: force on the Isthmus side: ESP in UDP 4500 even without NAT.")
            out.append("        encap = yes")
        }
        if peer.authentication == .certificate {
            out += certificateEnds(peer)
        } else {
            out.append("        local {")
            out.append("            auth = psk")
            out.append("            id = \(peer.localAddress)")
            out.append("        }")
            out.append("        remote {")
            out.append("            auth = psk")
            out.append("            id = \(peer.remoteAddress)")
            out.append("        }")
        }
        out.append("        children {")
        let children: [(String, [IPPrefix], [IPPrefix])]
        switch peer.ikeVersion {
        case .v2 where peer.bgp != nil:
            // BGP: the peer's announcements and inner address against what it accepts and ours.
            children = [(name, peer.bgp!.localSelectors, peer.bgp!.remoteSelectors)]
        case .v2:
            children = [(name, peer.localPrefixes, peer.remotePrefixes)]
        case .v1:
            let pairs = peer.selectorPairs
            children = pairs.enumerated().map { index, pair in
                (pairs.count == 1 ? name : "\(name)-\(index + 1)", [pair.local], [pair.remote])
            }
        }
        let esp = peer.lifetimes.esp
        let espRekey = PeerSide.rekeyPoint(esp)
        for (child, local, remote) in children {
            out.append("            \(child) {")
            out.append("                local_ts = \(local.map(\.description).joined(separator: ","))")
            out.append("                remote_ts = \(remote.map(\.description).joined(separator: ","))")
            out.append("                esp_proposals = \(proposals(peer.esp))")
            out.append("                mode = tunnel")
            out.append("                rekey_time = \(espRekey)s")
            out.append("                life_time = \(esp.wholeSeconds)s")
            if let kilobytes = peer.lifetimes.espKilobytes {
                let bytes = kilobytes * 1024
                out.append("                rekey_bytes = \(bytes / 10 * 9)")
                out.append("                life_bytes = \(bytes)")
            }
            out.append("                dpd_action = restart")
            out.append("                start_action = start")
            out.append("            }")
        }
        out.append("        }")
        out.append("    }")
        out.append("}")
        let bird = peer.bgp.map { [BirdPeerExport.file(for: peer, bgp: $0, origin: origin, device: .strongswan)] } ?? []
        guard peer.authentication == .psk else {
            return [
                ExportedFile(name: "\(name).conf", contents: out.joined(separator: "\n") + "\n", containsKey: false)
            ] + bird
        }
        out.append("secrets {")
        out.append("    ike-\(name) {")
        out.append("        id-local = \(peer.localAddress)")
        out.append("        id-remote = \(peer.remoteAddress)")
        if let key = peer.sharedKey {
            out.append("        secret = \(PeerExport.secretLiteral(key))")
        } else {
            out.append("        # secret = \"...\"   (--no-key: paste the key from 'isthmus key show \(name)')")
        }
        out.append("    }")
        out.append("}")
        return [
            ExportedFile(
                name: "\(name).conf", contents: out.joined(separator: "\n") + "\n",
                containsKey: peer.sharedKey != nil)
        ] + bird
    }

    /// `local` and `remote` of a connection that authenticates with certificates (`auth = pubkey`): the peer's
    /// certificate and key go to /etc/swanctl/x509 and private (or ecdsa), the CA that issued ours to x509ca.
    static func certificateEnds(_ peer: PeerSide) -> [String] {
        var out = [
            "        # auth: certificate: put this device's certificate in /etc/swanctl/x509/\(peer.connectionName).crt,",
            "        # its key in /etc/swanctl/private/ (or ecdsa/), and the CA of Isthmus's certificate in",
            "        # /etc/swanctl/x509ca/.",
            "        local {",
            "            auth = pubkey",
            "            certs = \(peer.connectionName).crt",
        ]
        if let identity = peer.peerIdentity { out.append("            id = \(quoted(identity))") }
        out += ["        }", "        remote {", "            auth = pubkey"]
        if let identity = peer.ourIdentity { out.append("            id = \(quoted(identity))") }
        out.append("        }")
        return out
    }

    /// An identity as swanctl.conf takes it: distinguished names in double quotes.
    static func quoted(_ identity: IKEIdentity) -> String {
        if case .distinguishedName = identity { return "\"\(identity)\"" }
        return "\(identity)"
    }

    /// strongSwan's proposal list: our canonical proposals, comma-separated.
    static func proposals(_ list: ProposalList) -> String {
        list.proposals.map(\.description).joined(separator: ",")
    }
}
