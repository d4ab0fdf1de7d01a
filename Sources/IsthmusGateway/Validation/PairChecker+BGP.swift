import IsthmusIP

/// BGP between the two ends: both or neither, ASNs that answer each other, the same peering prefix with the
/// addresses crossed, BFD on both or neither, and each side's announcements inside the other's accept list.
extension PairChecker {
    /// Whether both ends run BGP over this pair (their local networks' prefixes are then accept lists).
    var bothBGP: Bool { a.connection.bgp != nil && b.connection.bgp != nil }

    mutating func checkBGP() {
        switch (a.connection.bgp, b.connection.bgp) {
        case (nil, nil):
            return
        case (.some, nil), (nil, .some):
            let (with, without) = a.connection.bgp != nil ? (a, b) : (b, a)
            add(
                with.diagnostic(
                    .error, with.at("bgp"),
                    "\(with.label) runs BGP over the tunnel, \(without.label) does not: no session comes up and "
                        + "no route is learned", fix: "add bgp: to \(without.label) too, or remove it here",
                    notes: [without.note(without.at("name"), "\(without.label) has no bgp:")]))
        case (.some(let bgpA), .some(let bgpB)):
            checkASNs(a, bgpA, b, bgpB)
            checkASNs(b, bgpB, a, bgpA)
            checkPeering(bgpA, bgpB)
            if bgpA.bfd != bgpB.bfd {
                let (on, off) = bgpA.bfd ? (a, b) : (b, a)
                add(
                    on.diagnostic(
                        .warning, on.at("bgp.bfd", "bgp"),
                        "BFD is on at \(on.label) and off at \(off.label): the session runs without fast failure "
                            + "detection (BIRD waits for BFD to answer, then falls back to the hold time)",
                        fix: "set bfd: the same on both", notes: [off.note(off.at("bgp"), "\(off.label)'s bgp")]))
            }
            for (from, to) in [(a, b), (b, a)] { checkAnnouncements(from: from, to: to) }
            let asnA = a.gateway.bgp.map { "AS \($0.asn)" } ?? "no ASN"
            let asnB = b.gateway.bgp.map { "AS \($0.asn)" } ?? "no ASN"
            lines.append(
                "BGP: \(a.gateway.name) \(asnA) at \(bgpA.address) <=> \(b.gateway.name) \(asnB) at \(bgpB.address), "
                    + "hold \(bgpA.holdTime.configText)/\(bgpB.holdTime.configText), "
                    + "BFD \(bgpA.bfd ? "on" : "off")/\(bgpB.bfd ? "on" : "off")")
        }
    }

    private mutating func checkASNs(_ from: End, _ bgp: ConnectionBGP, _ to: End, _ other: ConnectionBGP) {
        guard let theirs = to.gateway.bgp?.asn, bgp.peerASN != theirs else { return }
        add(
            from.diagnostic(
                .error, from.at("bgp.peer_asn", "bgp"),
                "\(from.label) expects peer AS \(bgp.peerASN), but \(to.gateway.name) is AS \(theirs): BIRD closes "
                    + "the session with 'Bad peer AS'", fix: "set peer_asn: \(theirs)",
                notes: [to.note(to.side.positions["gateway.bgp.asn"] ?? .start, "\(to.gateway.name)'s ASN")]))
    }

    private mutating func checkPeering(_ bgpA: ConnectionBGP, _ bgpB: ConnectionBGP) {
        let crossed = bgpA.peerAddress == bgpB.address.address && bgpB.peerAddress == bgpA.address.address
        guard !crossed || bgpA.address.prefix != bgpB.address.prefix else { return }
        add(
            a.diagnostic(
                .error, a.at("bgp.address", "bgp"),
                "the inner addresses do not match: \(a.label) is \(bgpA.address) and expects \(bgpA.peerAddress), "
                    + "\(b.label) is \(bgpB.address) and expects \(bgpB.peerAddress): no BGP session can come up",
                fix: "use one /30 or /31, each end's peer_address the other's address",
                notes: [b.note(b.at("bgp.address", "bgp"), "\(b.label)'s inner address")]))
    }

    /// What `from` announces (its own prefixes) against what `to` accepts from it.
    private mutating func checkAnnouncements(from: End, to: End) {
        let announced = from.side.config.site.prefixes.filter { $0.family == .v4 }
        let accepted = to.side.config.acceptedPrefixes(of: to.connection)
        let refused = announced.filter { prefix in !accepted.contains { $0.contains(prefix) } }
        guard !refused.isEmpty else { return }
        let list = refused.map(\.description).joined(separator: ", ")
        add(
            to.diagnostic(
                .warning, to.at("bgp.accept", "/local_networks[\(to.remoteIndex)].prefixes"),
                "\(from.gateway.name) announces \(list), outside what \(to.label) accepts "
                    + "(\(accepted.map(\.description).joined(separator: ", "))): those prefixes are refused",
                fix: "widen the accept list (or the local network's prefixes) to hold \(list)",
                notes: [from.note(from.siteLocation, "\(from.gateway.name)'s own prefixes")]))
    }
}
