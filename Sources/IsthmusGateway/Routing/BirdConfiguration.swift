import IsthmusIP

/// The configuration of the BIRD 2 routing daemon that runs a gateway's BGP sessions, written from the
/// model: pure, so what BIRD is told is unit-tested text. The daemon writes it to a file, starts BIRD on it
/// and has BIRD re-read it at every reload (BIRD applies only the difference: unchanged sessions stay up).
///
/// What it says:
/// - the site's IPv4 prefixes as routes of a static protocol (`isthmus_site`, `unreachable`, never exported
///   to the kernel), announced to every peer;
/// - one BGP protocol per BGP connection (``protocolName(of:)``), direct on the connection's interface between
///   the two inner addresses: it accepts only prefixes inside the connection's accept list and none of our
///   own (kept as "filtered" so they can be counted), announces the site and what the other connections
///   learned (transit between branches);
/// - a kernel protocol that installs the learned routes (and only those), equal paths merged;
/// - a BFD protocol on the interfaces of the connections that ask for it (300 ms, 3 missed: under a second).
public struct BirdConfiguration: Sendable, Hashable {
    /// BIRD protocol names of the BGP connections, by connection name.
    public let protocolNames: [String: String]
    /// BIRD protocol names of `gateway.bgp.neighbors`, by neighbor name.
    public let neighborNames: [String: String]
    public let text: String

    public static let siteProtocol = "isthmus_site"
    public static let kernelProtocol = "isthmus_kernel"
    public static let bfdProtocol = "isthmus_bfd"
    /// BFD intervals: 300 ms, 3 missed.
    public static let bfdInterval = 300
    public static let bfdMultiplier = 3

    /// Nil when the configuration runs no BGP (no speaker, or no BGP connection).
    public init?(config: GatewayConfig) {
        guard let speaker = config.gateway.bgp, let routerID = config.bgpRouterID else { return nil }
        let sessions = config.bgpConnections
        guard !sessions.isEmpty || !speaker.neighbors.isEmpty else { return nil }
        var names: [String: String] = [:]
        var taken = Set<String>()
        for (connection, _) in sessions {
            names[connection.name] = Self.uniqueSymbol(Self.identifier(connection.name), taken: &taken)
        }
        protocolNames = names
        let own = config.site.prefixes.filter { $0.family == .v4 }
        let (protected, endpoints) = Self.neverLearned(config)
        var lines = [
            "# BIRD 2 configuration of Isthmus gateway \(Self.quoted(config.gateway.name)), written from its YAML at",
            "# every start and reload. Do not edit: the next reload writes it again.",
            "log stderr { info, remote, warning, error, auth, fatal, bug };",
            "timeformat protocol iso long;",
            "router id \(routerID);",
            "",
            "protocol device {",
            "    scan time 10;",
            "}",
            "",
            "# Learned routes, and only those, go to the kernel, pointing into the tunnels; equal paths merge.",
            "protocol kernel \(Self.kernelProtocol) {",
            "    ipv4 { import none; export where source = RTS_BGP; };",
            "    merge paths on;",
            "}",
            "",
            "# This site's prefixes, announced to every peer (never installed: the kernel protocol takes BGP only).",
            "# Preference below BGP's: where a neighbor says how to reach one of them, that route is the one used.",
            "protocol static \(Self.siteProtocol) {",
            "    ipv4 { preference 50; };",
        ]
        lines += own.map { "    route \($0) unreachable;" }
        lines.append("}")
        var bfdInterfaces = sessions.filter(\.bgp.bfd).map {
            "\"" + TunnelInterfaceName.of($0.connection, gateway: config.gateway) + "\""
        }
        // Neighbors are on the gateway's own network: BFD on any other interface.
        if speaker.neighbors.contains(where: \.bfd) { bfdInterfaces.append("\"*\"") }
        if !bfdInterfaces.isEmpty {
            lines += ["", "protocol bfd \(Self.bfdProtocol) {"]
            for interface in bfdInterfaces {
                lines.append(
                    "    interface \(interface) { min rx interval \(Self.bfdInterval) ms; "
                        + "min tx interval \(Self.bfdInterval) ms; multiplier \(Self.bfdMultiplier); };")
            }
            lines.append("}")
        }
        for (connection, bgp) in sessions {
            let interface = TunnelInterfaceName.of(connection, gateway: config.gateway)
            let accept = config.acceptedPrefixes(of: connection).filter { $0.family == .v4 }
            lines += [
                "",
                "protocol bgp \(names[connection.name]!) {",
                "    description \(Self.quoted("connection \(connection.name)"));",
                "    local \(bgp.address.address) as \(speaker.asn);",
                "    neighbor \(bgp.peerAddress) as \(bgp.peerASN);",
                "    interface \(Self.quoted(interface));",
            ]
            // Port 179 on the inner address only, not on the public one. Not with neighbors: their sessions
            // listen on every address, and BIRD cannot bind one address beside that.
            if speaker.neighbors.isEmpty { lines.append("    strict bind on;") }
            lines += Self.sessionTimers(holdTime: bgp.holdTime, bfd: bgp.bfd)
            lines += [
                "    ipv4 {",
                "        import keep filtered on;",
                "        import filter {",
            ]
            if !protected.isEmpty { lines.append("            if net ~ \(Self.prefixSet(protected)) then reject;") }
            for address in endpoints { lines.append("            if \(address) ~ net then reject;") }
            if !accept.isEmpty { lines.append("            if net ~ \(Self.prefixSet(accept)) then accept;") }
            lines += [
                "            reject;",
                "        };",
                "        export filter {",
                "            if proto = \(Self.quoted(Self.siteProtocol)) then accept;",
            ]
            if !own.isEmpty {
                lines.append(
                    "            if net ~ \(Self.exactSet(own)) && source = RTS_BGP && proto ~ \"n_*\" then accept;")
            }
            lines += [
                "            if source = RTS_BGP && proto ~ \"c_*\" then accept;",
                "            reject;",
                "        };",
                "    };",
                "}",
            ]
        }
        let (neighborLines, neighborNames) = Self.neighborProtocols(speaker, own: own, names: &taken)
        lines += neighborLines
        self.neighborNames = neighborNames
        text = lines.joined(separator: "\n") + "\n"
    }

    /// The sessions with `gateway.bgp.neighbors`: they learn what the tunnels' peers announce, with this
    /// gateway as the next hop, and may tell it where the site's own prefixes are.
    static func neighborProtocols(_ speaker: GatewayBGP, own: [IPPrefix], names: inout Set<String>)
        -> (lines: [String], names: [String: String])
    {
        var lines: [String] = []
        var byNeighbor: [String: String] = [:]
        for neighbor in speaker.neighbors {
            let name = uniqueSymbol(identifier(neighbor.name, prefix: "n_"), taken: &names)
            byNeighbor[neighbor.name] = name
            lines += [
                "",
                "protocol bgp \(name) {",
                "    description \(quoted("neighbor \(neighbor.name)"));",
                "    local as \(speaker.asn);",
                "    neighbor \(neighbor.address) as \(neighbor.asn);",
                "    direct;",
            ]
            lines += sessionTimers(holdTime: neighbor.holdTime, bfd: neighbor.bfd)
            lines += ["    ipv4 {", "        next hop self;", "        import filter {"]
            if !own.isEmpty { lines.append("            if net ~ \(prefixSet(own)) then accept;") }
            lines += [
                "            reject;",
                "        };",
                "        export filter {",
                "            if source = RTS_BGP && proto ~ \"c_*\" then accept;",
                "            reject;",
                "        };",
                "    };",
                "}",
            ]
        }
        return (lines, byNeighbor)
    }

    /// A session's timers: hold time and keepalives (a third of it), quick retries after a failure (a tunnel
    /// that comes back should not wait BIRD's default two minutes), BFD when asked for.
    static func sessionTimers(holdTime: Duration, bfd: Bool) -> [String] {
        let hold = Int(holdTime.components.seconds)
        var lines = [
            "    hold time \(hold); keepalive time \(max(1, hold / 3));",
            "    connect retry time 2; error wait time 2, 16;",
        ]
        if bfd { lines.append("    bfd on;") }
        return lines
    }

    /// A BIRD prefix set of exactly these prefixes.
    static func exactSet(_ prefixes: [IPPrefix]) -> String {
        "[ " + prefixes.map(\.description).joined(separator: ", ") + " ]"
    }

    /// What no tunnel peer may announce, whatever the accept list says: this site's whole address space (the
    /// gateway subnet too), the peering prefixes, and routes covering a gateway's public address or a neighbor
    /// (they would pull the tunnels' own packets, or the fabric's sessions, into a tunnel).
    static func neverLearned(_ config: GatewayConfig) -> (prefixes: [IPPrefix], addresses: [IPAddress]) {
        let prefixes = config.site.addressSpace + config.bgpConnections.map(\.bgp.address.prefix)
        var addresses = [config.gateway.publicAddress].compactMap { $0 }
        addresses += config.localNetworks.compactMap(\.gatewayAddress)
        addresses += config.gateway.bgp?.neighbors.map(\.address) ?? []
        var unique: [IPAddress] = []
        for address in addresses where address.family == .v4 && !unique.contains(address) { unique.append(address) }
        return (prefixes.filter { $0.family == .v4 }, unique)
    }

    /// `base`, or `base_2`, `base_3`, ... when taken; recorded in `taken`.
    static func uniqueSymbol(_ base: String, taken: inout Set<String>) -> String {
        var name = base
        var suffix = 2
        while taken.contains(name) {
            name = "\(base)_\(suffix)"
            suffix += 1
        }
        taken.insert(name)
        return name
    }

    /// BIRD refuses symbols longer than 64 characters; room is left for a `_2` that keeps two apart.
    static let maximumSymbolLength = 60

    /// A BIRD symbol for a connection (`c_`) or neighbor (`n_`) name: the prefix and the name's letters and
    /// digits, other characters as `_`; a name too long for BIRD keeps its start and ends in a hash of the whole.
    static func identifier(_ name: String, prefix: String = "c_") -> String {
        let whole = prefix + String(name.map { $0.isASCII && ($0.isLetter || $0.isNumber) ? $0 : "_" })
        guard whole.utf8.count > maximumSymbolLength else { return whole }
        var hash: UInt32 = 2_166_136_261  // FNV-1a
        for byte in name.utf8 { hash = (hash ^ UInt32(byte)) &* 16_777_619 }
        let hex = String(hash, radix: 16)
        return String(whole.prefix(maximumSymbolLength - 9)) + "_" + String(repeating: "0", count: 8 - hex.count) + hex
    }

    /// A BIRD prefix set holding each prefix and everything inside it: `[ 10.0.1.0/24+, 10.0.2.0/24+ ]`.
    static func prefixSet(_ prefixes: [IPPrefix]) -> String {
        "[ " + prefixes.map { "\($0)+" }.joined(separator: ", ") + " ]"
    }

    /// A BIRD string literal. BIRD's strings have no escapes: a `"` would end it, so it is left out (names here
    /// are YAML names and interface names, which validation keeps free of quotes).
    static func quoted(_ text: String) -> String {
        "\"" + text.filter { $0 != "\"" } + "\""
    }
}
