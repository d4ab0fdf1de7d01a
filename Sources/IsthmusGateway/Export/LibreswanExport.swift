import IsthmusCrypto
import IsthmusIP

/// The peer as a libreswan 4.x connection: `NAME.conf` (an `ipsec.conf` `conn` section, for
/// `/etc/ipsec.d/`) and `NAME.secrets` (its `ipsec.secrets` line).
///
/// libreswan names algorithms its own way (`aes_gcm_16_256`, `sha2_256`, `dh19`) and, as Debian and
/// upstream build it (`USE_DH2=false`, no DES), cannot negotiate DES, MODP-768 or MODP-1024; IKEv2 CHILD
/// SAs take at most one PFS group, and an IKE proposal cannot name a PRF other than its integrity
/// algorithm's. A proposal (or an algorithm of a proposal) libreswan cannot express is left out with a
/// comment; when nothing of `ike` or `esp` is left, the export fails and names the field to change.
enum LibreswanExport {
    static func files(for peer: PeerSide, origin: ExportOrigin) throws(ExportProblems) -> [ExportedFile] {
        let name = peer.connectionName
        var problems: [ExportProblem] = []
        var notes: [String] = []

        // IKE proposals.
        var ike = Translation()
        for proposal in peer.ike.proposals {
            ike.add(proposal, ikeProposal(proposal))
        }
        ike.report(
            .ike, of: peer, notes: &notes, problems: &problems,
            fix: "add a proposal libreswan builds support, e.g. 'aes256-sha256-modp2048' (IKEv1 and "
                + "IKEv2) or 'aes256gcm16-prfsha256-ecp256' (IKEv2)")

        // ESP proposals: all with PFS or all without, and (IKEv2) one PFS group.
        let pfs = peer.esp.proposals.first.map { !$0.keyExchange.isEmpty } ?? false
        var pfsGroup: Algorithm?
        var esp = Translation()
        for proposal in peer.esp.proposals {
            if proposal.keyExchange.isEmpty == pfs {
                esp.leaveOut(
                    proposal,
                    "libreswan uses PFS for all ESP proposals or for none "
                        + "(pfs=\(pfs ? "yes" : "no"), from the first proposal)")
                continue
            }
            var groups = proposal.keyExchange
            if pfs {
                groups = groups.filter { dh($0) != nil && (pfsGroup == nil || $0 == pfsGroup) }
                guard let group = groups.first else {
                    esp.leaveOut(
                        proposal,
                        "libreswan takes one PFS group for all ESP proposals, "
                            + "and cannot use \(proposal.keyExchange.map(\.keyword).joined(separator: "/")) here")
                    continue
                }
                pfsGroup = group
                groups = [group]
            }
            esp.add(proposal, espProposal(proposal, group: groups.first))
        }
        esp.report(
            .esp, of: peer, notes: &notes, problems: &problems,
            fix: "add a proposal such as 'aes256gcm16' or 'aes256-sha256' (no DES)")
        guard problems.isEmpty else { throw ExportProblems(problems) }

        var conf = PeerExport.header(
            peer, device: .libreswan, origin: origin, what: "libreswan 4 ipsec.conf", keyFile: "\(name).secrets"
        ).map { "# \($0)" }
        conf.append("# Put it in /etc/ipsec.d/\(name).conf (ipsec.conf includes that folder) with \(name).secrets in")
        conf.append("# /etc/ipsec.d/\(name).secrets, then: ipsec auto --add \(name) && ipsec auto --up \(name)")
        for note in notes { conf.append("# \(note)") }
        conf.append("conn \(name)")
        conf.append("\tauthby=secret")
        conf.append("\tikev2=\(peer.ikeVersion == .v2 ? "insist" : "no")")
        conf.append("\tleft=\(peer.localAddress)")
        conf.append("\tleftid=\(peer.localAddress)")
        conf.append("\t" + subnets("left", peer.bgp?.localSelectors ?? peer.localPrefixes))
        conf.append("\tright=\(peer.remoteAddress)")
        conf.append("\trightid=\(peer.remoteAddress)")
        conf.append("\t" + subnets("right", peer.bgp?.remoteSelectors ?? peer.remotePrefixes))
        conf.append("\tike=\(ike.texts.joined(separator: ","))")
        conf.append("\tesp=\(esp.texts.joined(separator: ","))")
        conf.append("\tpfs=\(pfs ? "yes" : "no")")
        conf.append("\tesn=\(esn(peer.esp))")
        let life = peer.lifetimes
        conf.append("\t# Isthmus's lifetimes; rekeying starts 10-20 % before them (rekeymargin, rekeyfuzz=100%).")
        conf.append("\tikelifetime=\(life.ike.wholeSeconds)s")
        conf.append("\tsalifetime=\(life.esp.wholeSeconds)s")
        conf.append("\trekeymargin=\(min(life.ike, life.esp).wholeSeconds / 10)s")
        if let kilobytes = life.espKilobytes {
            conf.append("\tipsec-max-bytes=\(kilobytes * 1024)")
        }
        let dpd = peer.deadPeerDetection
        conf.append("\tdpddelay=\(dpd.interval.wholeSeconds)s")
        conf.append("\tdpdtimeout=\(dpd.timeout.wholeSeconds)s")
        conf.append("\tdpdaction=restart")
        if peer.natTraversal == .force {
            conf.append("\t# nat_traversal: force on the Isthmus side: ESP in UDP 4500 even without NAT.")
            conf.append("\tencapsulation=yes")
        }
        if peer.ikeVersion == .v2 { conf.append("\tmobike=no") }
        if peer.bgp != nil {
            // Route-based: an XFRM interface (ipsec1) carries the tunnel; BIRD's routes point into it.
            conf.append(
                "\t# BGP over the tunnel: route-based, through the XFRM interface ipsec1 (give it the inner address).")
            conf.append("\tipsec-interface=1")
        }
        conf.append("\tauto=start")

        var secrets = PeerExport.header(peer, device: .libreswan, origin: origin, what: "libreswan 4 ipsec.secrets")
            .map { "# \($0)" }
        let key = peer.sharedKey.map(PeerExport.secretLiteral) ?? "\"...\""
        let line = "\(peer.localAddress) \(peer.remoteAddress) : PSK \(key)"
        if peer.sharedKey == nil {
            secrets.append("# --no-key: replace ... with the key from 'isthmus key show \(name)' and remove the '#'.")
            secrets.append("# \(line)")
        } else {
            secrets.append(line)
        }
        return [
            ExportedFile(name: "\(name).conf", contents: conf.joined(separator: "\n") + "\n", containsKey: false),
            ExportedFile(
                name: "\(name).secrets", contents: secrets.joined(separator: "\n") + "\n",
                containsKey: peer.sharedKey != nil),
        ] + (peer.bgp.map { [BirdPeerExport.file(for: peer, bgp: $0, origin: origin, device: .libreswan)] } ?? [])
    }

    private static func subnets(_ side: String, _ prefixes: [IPPrefix]) -> String {
        if prefixes.count == 1 { return "\(side)subnet=\(prefixes[0])" }
        return "\(side)subnets={\(prefixes.map(\.description).joined(separator: " "))}"
    }

    // MARK: - Algorithm names (libreswan's ike_alg tables)

    /// libreswan's name of an encryption algorithm, or nil when its builds lack it.
    static func encryption(_ algorithm: Algorithm) -> String? {
        switch algorithm.keyword {
        case "des": return nil
        case "3des": return "3des"
        case "chacha20poly1305": return "chacha20_poly1305"
        default:
            guard let bits = algorithm.keyLengthBits else { return nil }
            return algorithm.isAEAD ? "aes_gcm_\(algorithm.icvBytes)_\(bits)" : "aes\(bits)"
        }
    }

    /// libreswan's name of an integrity algorithm or PRF (it names both by their hash).
    static func hash(_ algorithm: Algorithm) -> String? {
        switch algorithm.keyword {
        case "md5", "prfmd5": "md5"
        case "sha1", "prfsha1": "sha1"
        case "sha256", "prfsha256": "sha2_256"
        case "sha384", "prfsha384": "sha2_384"
        case "sha512", "prfsha512": "sha2_512"
        default: nil
        }
    }

    /// libreswan's name of a DH group, or nil when its builds lack it (768- and 1024-bit MODP).
    static func dh(_ algorithm: Algorithm) -> String? {
        switch algorithm.keyword {
        case "modp1536", "modp2048", "modp3072", "modp4096": algorithm.keyword
        case "ecp256": "dh19"
        case "ecp384": "dh20"
        case "ecp521": "dh21"
        case "curve25519": "dh31"
        default: nil
        }
    }

    /// One slot: the algorithms libreswan has, joined with `+`, or why none is left.
    private static func slot(_ algorithms: [Algorithm], _ name: (Algorithm) -> String?, _ what: String)
        -> Result<String, Reason>
    {
        let names = algorithms.compactMap(name)
        guard !names.isEmpty else {
            let keywords = algorithms.map(\.keyword).joined(separator: "/")
            return .failure(Reason(text: "libreswan 4 (as Debian and upstream build it) has no \(what) \(keywords)"))
        }
        return .success(names.joined(separator: "+"))
    }

    /// What libreswan gets of one proposal list: the proposals it can express, in its words, and why each
    /// other one was left out.
    private struct Translation {
        var texts: [String] = []
        var reasons: [String] = []

        mutating func add(_ proposal: Proposal, _ translated: Result<String, Reason>) {
            switch translated {
            case .success(let text): texts.append(text)
            case .failure(let reason): leaveOut(proposal, reason.text)
            }
        }

        mutating func leaveOut(_ proposal: Proposal, _ reason: String) {
            reasons.append("'\(proposal)': \(reason)")
        }

        /// A note for each proposal left out of `proto`'s list and, when none is left, the problem to fix.
        func report(
            _ proto: ProposalProtocol, of peer: PeerSide, notes: inout [String], problems: inout [ExportProblem],
            fix: String
        ) {
            notes += reasons.map { "left out \(proto) proposal \($0)" }
            if texts.isEmpty {
                problems.append(
                    PeerExport.cannotExpress(
                        peer, proto, device: "libreswan 4", what: "any of these \(proto) proposals", reasons: reasons,
                        fix: fix))
            }
        }
    }

    struct Reason: Error, CustomStringConvertible {
        let text: String
        var description: String { text }
    }

    static func ikeProposal(_ proposal: Proposal) -> Result<String, Reason> {
        let cipher = slot(proposal.encryption, encryption, "cipher")
        let groups = slot(proposal.keyExchange, dh, "DH group")
        let second: Result<String, Reason>
        if proposal.isAEAD {
            second = slot(proposal.prf, hash, "PRF")
        } else {
            let implied = Set(proposal.ikev1PRF)  // the PRF of each integrity algorithm
            if !proposal.prf.isEmpty && Set(proposal.prf) != implied {
                return .failure(Reason(text: "libreswan cannot name a PRF other than the integrity algorithm's"))
            }
            second = slot(proposal.integrity, hash, "integrity algorithm")
        }
        do throws(Reason) {
            return .success("\(try cipher.get())-\(try second.get())-\(try groups.get())")
        } catch {
            return .failure(error)
        }
    }

    static func espProposal(_ proposal: Proposal, group: Algorithm?) -> Result<String, Reason> {
        let cipher = slot(proposal.encryption, encryption, "cipher")
        let integrity = proposal.isAEAD ? .success("null") : slot(proposal.integrity, hash, "integrity algorithm")
        do throws(Reason) {
            var text = "\(try cipher.get())-\(try integrity.get())"
            if let group, let name = dh(group) { text += "-\(name)" }
            return .success(text)
        } catch {
            return .failure(error)
        }
    }

    /// `esn=`: yes when every proposal asks for ESN only, no when none offers it, either otherwise.
    static func esn(_ list: ProposalList) -> String {
        let choices = list.proposals.map { proposal -> Set<String> in
            let keywords = Set(proposal.extendedSequenceNumbers.map(\.keyword))
            return keywords.isEmpty ? ["noesn"] : keywords
        }
        let all = choices.reduce(into: Set<String>()) { $0.formUnion($1) }
        if all == ["esn"] { return "yes" }
        if all == ["noesn"] { return "no" }
        return "either"
    }
}
