import IsthmusIP

/// The peer's side of a BGP connection, from its own point of view: what `isthmus export` writes for the
/// branch's BIRD, and the selectors its IPsec configuration needs to carry the session and the routes.
public struct PeerBGP: Sendable, Hashable {
    /// The peer's ASN (our `peer_asn`) and ours (its neighbor's).
    public var asn: UInt32
    public var neighborASN: UInt32
    /// The peer's inner address with the peering prefix length, and ours.
    public var address: InterfaceAddress
    public var neighborAddress: IPAddress
    public var holdTime: Duration
    public var bfd: Bool
    /// What the peer may announce (what we accept from it): it announces its connected networks inside these.
    public var announce: [IPPrefix]
    /// What the peer should accept from us: our own prefixes and what our other BGP connections accept (transit).
    public var accept: [IPPrefix]

    /// The peer of BGP connection `connection` of `config`; nil when it runs no BGP.
    init?(mirroring connection: Connection, in config: GatewayConfig) {
        guard let bgp = connection.bgp, let speaker = config.gateway.bgp else { return nil }
        asn = bgp.peerASN
        neighborASN = speaker.asn
        address = InterfaceAddress(address: bgp.peerAddress, length: bgp.address.length)
        neighborAddress = bgp.address.address
        holdTime = bgp.holdTime
        self.bfd = bgp.bfd
        announce = config.acceptedPrefixes(of: connection).filter { $0.family == .v4 }
        var accept = config.site.prefixes.filter { $0.family == .v4 }
        for (other, _) in config.bgpConnections where other.name != connection.name {
            for prefix in config.acceptedPrefixes(of: other) where prefix.family == .v4 && !accept.contains(prefix) {
                accept.append(prefix)
            }
        }
        self.accept = accept
    }

    /// The traffic selectors the peer's IPsec configuration needs: its own side (what it announces, and its
    /// inner address) and ours (what it accepts, and our inner address), so the session and every route
    /// it may learn cross the tunnel.
    public var localSelectors: [IPPrefix] { announce + [IPPrefix(masking: address.address, length: 32)] }
    public var remoteSelectors: [IPPrefix] { accept + [IPPrefix(masking: neighborAddress, length: 32)] }
}

/// The peer's BIRD 2 configuration for a BGP connection (`NAME.bird.conf` of a strongSwan or libreswan export),
/// or for the connections of an active-active pair: one session to each gateway, equal paths merged.
enum BirdPeerExport {
    static func file(for peer: PeerSide, bgp: PeerBGP, origin: ExportOrigin, device: ExportDevice) -> ExportedFile {
        file(for: [(peer, bgp)], name: peer.connectionName, origin: origin, device: device)
    }

    static func file(
        for sessions: [(peer: PeerSide, bgp: PeerBGP)], name: String, origin: ExportOrigin, device: ExportDevice
    ) -> ExportedFile {
        let (peer, first) = sessions[0]
        var lines = PeerExport.header(peer, device: device, origin: origin, what: "BIRD 2 configuration")
            .filter { !$0.contains("pre-shared key") && !$0.contains("key is NOT") }
            .map { "# \($0)" }
        lines += [
            "# Give the tunnel's interface the inner address before the tunnel comes up (the IPsec side installs",
            "# its routes from that address), then run BIRD: 'bird -c \(name).bird.conf' (Debian: bird2).",
        ]
        for (session, bgp) in sessions {
            let xfrm = session.ipsecInterface
            lines.append(
                device == .libreswan
                    ? "#   ip address add \(bgp.address) dev ipsec\(xfrm)     (libreswan's XFRM interface, ipsec-interface=\(xfrm))"
                    : "#   ip address add \(bgp.address) dev ipsec0     (strongSwan with kernel-libipsec: its TUN ipsec0)"
            )
        }
        for (session, bgp) in sessions {
            lines.append(
                "# The session with gateway '\(session.ourGatewayName)' runs between \(bgp.address.address) (AS \(bgp.asn)) "
                    + "and \(bgp.neighborAddress) (AS \(bgp.neighborASN)) inside the tunnel.")
        }
        lines += [
            "router id \(peer.localAddress.family == .v4 ? "\(peer.localAddress)" : "\(first.address.address)");",
            "",
            "protocol device {",
            "    scan time 10;",
            "}",
            "",
            "# This site's connected networks inside what the Isthmus side accepts are announced.",
            "protocol direct isthmus_lans {",
            "    ipv4;",
            "}",
            "",
            "# Learned routes go to the kernel; equal paths (two gateways) merge.",
            "protocol kernel isthmus_kernel {",
            "    ipv4 { import none; export where source = RTS_BGP; };",
            "    merge paths on;",
            "}",
        ]
        if sessions.contains(where: \.bgp.bfd) {
            lines += [
                "",
                "protocol bfd isthmus_bfd {",
                "    interface \"*\" { min rx interval \(BirdConfiguration.bfdInterval) ms; "
                    + "min tx interval \(BirdConfiguration.bfdInterval) ms; multiplier \(BirdConfiguration.bfdMultiplier); };",
                "}",
            ]
        }
        let announce = sessions.flatMap(\.bgp.announce).reduce(into: [IPPrefix]()) {
            if !$0.contains($1) { $0.append($1) }
        }
        for (session, bgp) in sessions {
            lines += protocolLines(session, bgp, announce: announce)
        }
        return ExportedFile(
            name: "\(name).bird.conf", contents: lines.joined(separator: "\n") + "\n", containsKey: false)
    }

    private static func protocolLines(_ peer: PeerSide, _ bgp: PeerBGP, announce: [IPPrefix]) -> [String] {
        var lines = [
            "",
            "protocol bgp \(BirdConfiguration.identifier(peer.connectionName)) {",
            "    description \(BirdConfiguration.quoted("Isthmus gateway \(peer.ourGatewayName)"));",
            "    local \(bgp.address.address) as \(bgp.asn);",
            "    neighbor \(bgp.neighborAddress) as \(bgp.neighborASN);",
        ]
        lines += BirdConfiguration.sessionTimers(holdTime: bgp.holdTime, bfd: bgp.bfd)
        lines += ["    ipv4 {", "        import filter {"]
        if !announce.isEmpty {
            lines.append("            if net ~ \(BirdConfiguration.prefixSet(announce)) then reject;")
        }
        if !bgp.accept.isEmpty {
            lines.append("            if net ~ \(BirdConfiguration.prefixSet(bgp.accept)) then accept;")
        }
        lines += ["            reject;", "        };", "        export filter {"]
        if !bgp.announce.isEmpty {
            lines.append(
                "            if proto = \"isthmus_lans\" && net ~ \(BirdConfiguration.prefixSet(bgp.announce)) then accept;"
            )
        }
        lines += ["            reject;", "        };", "    };", "}"]
        return lines
    }
}
