import ArgumentParser
import IsthmusDaemon
import IsthmusIKEv2

/// `isthmus status`: connections, IKE and CHILD SAs, algorithms, SPIs, counters, next rekeys.
struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show the running gateway's connections and SAs.")

    @Flag(name: .long, help: "Print the gateway's JSON answer.")
    var json = false

    @OptionGroup var control: ControlOptions

    func run() throws {
        let reply = try control.send(ControlRequest(command: "status"), outcomeOnly: json)
        if json {
            print(reply.line)
        } else {
            print(Self.render(reply.response), terminator: "")
        }
    }

    /// One BGP session in a line: `BGP Established with 169.254.21.2 (AS 65010) since ...: 2 prefixes accepted, ...`.
    static func describe(_ bgp: BGPSessionStatus) -> String {
        var line =
            "BGP \(bgp.bgpState) with \(bgp.neighborAddress ?? "?") (AS \(bgp.neighborASN.map { "\($0)" } ?? "?"))"
        if !bgp.since.isEmpty { line += " since \(bgp.since)" }
        line += ": \(bgp.imported) prefixes accepted, \(bgp.exported) announced"
        if bgp.filtered > 0 { line += ", \(bgp.filtered) refused" }
        if !bgp.established, let error = bgp.lastError { line += "; last error: \(error)" }
        if !bgp.established, let logged = bgp.logged { line += " (BIRD: \(logged))" }
        return line
    }

    /// The human form of a status answer.
    static func render(_ status: ControlResponse) -> String {
        var out = "gateway \(status.gateway ?? "?")"
        if let uptime = status.uptimeSeconds { out += ", up \(duration(uptime))" }
        if let listening = status.listening {
            out += ", IKE \(listening.address):\(listening.ike), NAT-T \(listening.address):\(listening.nat)"
        }
        out += "\n"
        for connection in status.connections ?? [] {
            out += "\nconnection \(connection.name): \(connection.kind), IKEv\(connection.ikeVersion)"
            out += connection.remoteAddress.map { ", peer \($0)\n" } ?? "\n"
            if let key = connection.sharedKey {
                out += "  shared key: \(key)"
                if let rotated = connection.keyLastRotated { out += ", last rotated \(KeyTime.describe(rotated))" }
                if connection.keyChangedSinceStart == true {
                    out += "; the file changed since it was read: `isthmus reload` to use it"
                }
                out += "\n"
            }
            if let path = connection.dataPath {
                if let error = path.error {
                    out += "  data path: ERROR, no traffic can cross: \(error)\n"
                } else {
                    out += "  data path: interface \(path.interface ?? "?")"
                    out += path.mtu.map { ", mtu \($0)" } ?? ""
                    out += path.addresses.map { ", address \($0.joined(separator: ", "))" } ?? ""
                    out += path.routes.isEmpty ? "\n" : ", routes \(path.routes.joined(separator: ", "))\n"
                }
            }
            if let bgp = connection.bgp { out += "  " + Self.describe(bgp) + "\n" }
            if let traffic = status.dataplane?.connections[connection.name] {
                out +=
                    "  traffic: in \(traffic.packetsIn) packets (\(traffic.bytesIn) bytes), "
                    + "out \(traffic.packetsOut) packets (\(traffic.bytesOut) bytes)\n"
            }
            if connection.ikeSAs.isEmpty { out += "  no IKE SA\n" }
            if let failure = connection.lastFailure {
                out += "  last failure: \(failure.time) \(failure.kind): \(failure.message)\n"
            }
            if let next = connection.nextAttemptSeconds {
                out += "  next attempt in \(duration(next))\n"
            }
            for sa in connection.ikeSAs {
                out += "  IKE SA \(sa.state), \(sa.role), \(sa.local) <-> \(sa.remote)\n"
                out += "    SPIs \(sa.localSPI) (ours) / \(sa.remoteSPI)"
                if let algorithms = sa.algorithms { out += ", \(algorithms)" }
                out += "\n"
                var timing: [String] = []
                if let ago = sa.establishedSecondsAgo { timing.append("established \(duration(ago)) ago") }
                if let rekey = sa.rekeyInSeconds { timing.append("rekey in \(duration(rekey))") }
                if let lifetime = sa.lifetimeSeconds {
                    timing.append("lifetime \(duration(lifetime))" + (sa.lifetimeReason.map { " (\($0))" } ?? ""))
                }
                if sa.natLocal || sa.natRemote {
                    timing.append(
                        "NAT: "
                            + [sa.natLocal ? "local" : nil, sa.natRemote ? "remote" : nil]
                            .compactMap { $0 }.joined(separator: " and "))
                }
                if let dropped = sa.droppedMessages, dropped > 0 { timing.append("\(dropped) messages dropped") }
                if !timing.isEmpty { out += "    \(timing.joined(separator: ", "))\n" }
                for child in sa.childSAs {
                    out +=
                        "    CHILD SA \(child.state), SPIs in \(child.inboundSPI) / out \(child.outboundSPI), "
                        + "\(child.algorithms)"
                    out += child.rekeyInSeconds.map { ", rekey in \(duration($0))" } ?? ""
                    if let lifetime = child.lifetimeSeconds {
                        out += ", lifetime \(duration(lifetime))" + (child.lifetimeReason.map { " (\($0))" } ?? "")
                    }
                    out += "\n"
                    out +=
                        "      \(child.localSelectors.joined(separator: ", ")) === "
                        + "\(child.remoteSelectors.joined(separator: ", "))\n"
                }
            }
        }
        let installed = status.childSAs ?? []
        if !installed.isEmpty {
            out += "\ninstalled CHILD SAs:\n"
            for child in installed {
                out +=
                    "  \(child.connection): in \(child.inboundSPI) / out \(child.outboundSPI), \(child.algorithms), "
                    + "\(child.local) <-> \(child.remote)\(child.udpEncapsulated ? " (UDP-encapsulated)" : ""), "
                    + "installed \(duration(child.installedSecondsAgo)) ago\n"
            }
        }
        if let p2s = status.pointToSite { out += renderPointToSite(p2s) }
        if let routing = status.routingDaemon {
            out +=
                routing.state == "running"
                ? "\nrouting daemon: BIRD running (pid \(routing.pid.map { "\($0)" } ?? "?")), \(routing.config ?? "")\n"
                : "\nrouting daemon: ERROR \(routing.error ?? "not running")\n"
            for (name, session) in (routing.neighbors ?? [:]).sorted(by: { $0.key < $1.key }) {
                out += "  neighbor \(name): \(describe(session))\n"
            }
        }
        if let plane = status.dataplane {
            if plane.running == false {
                out += "\ndata plane: STOPPED, no traffic crosses: \(plane.failure ?? "unknown reason")\n"
            } else {
                out += "\ndata plane: running, interfaces \(plane.interfaces.joined(separator: ", "))\n"
            }
            if !plane.drops.isEmpty {
                let drops = plane.drops.keys.sorted().map { "\($0) \(plane.drops[$0] ?? 0)" }
                out += "data plane dropped: \(drops.joined(separator: ", "))\n"
            }
        }
        if let counters = status.counters {
            out +=
                "\ncounters: \(counters.ikeSAs) IKE SAs, datagrams in \(counters.datagramsIn) / out "
                + "\(counters.datagramsOut), send errors \(counters.sendErrors), ESP packets \(counters.espPackets), "
                + "NAT keepalives \(counters.natKeepalives)\n"
            if !counters.dropped.isEmpty {
                let drops = counters.dropped.keys.sorted().map { "\($0) \(counters.dropped[$0] ?? 0)" }
                out += "dropped: \(drops.joined(separator: ", "))\n"
            }
            if let half = counters.halfOpen {
                out +=
                    "half-open: \(half.current) IKE SAs (\(half.unproven) unproven, at most \(half.maximumPerSource) "
                    + "from one address; limits \(half.limit) in all, \(half.perSourceLimit) per address), "
                    + "evicted \(half.evictions), per-address limit reached \(half.perSourceLimitHits), "
                    + "COOKIEs sent \(half.cookiesSent), log lines suppressed \(half.logLinesSuppressed)\n"
            }
        }
        return out
    }

    /// The point-to-site section: the pool's use and one line per connected client.
    static func renderPointToSite(_ p2s: PointToSiteStatus) -> String {
        var out =
            "\npoint-to-site: pool \(p2s.pool), \(p2s.inUse) of \(p2s.size) addresses in use, "
            + "\(p2s.clients.count) client\(p2s.clients.count == 1 ? "" : "s")"
            + (p2s.interface.map { " on \($0)" } ?? "") + "\n"
        for client in p2s.clients {
            out +=
                "  \(client.virtualAddress)  \(client.identity) from \(client.outerAddress)"
                + (client.connectedSecondsAgo.map { ", since \(duration($0)) ago" } ?? "")
                + ", bytes in \(client.bytesIn ?? 0) / out \(client.bytesOut ?? 0)\n"
        }
        return out
    }

    /// `3d4h`, `2h5m`, `4m10s`, `12s`.
    static func duration(_ seconds: Int64) -> String {
        guard seconds >= 0 else { return "0s" }
        let days = seconds / 86400, hours = seconds % 86400 / 3600, minutes = seconds % 3600 / 60, rest = seconds % 60
        if days > 0 { return "\(days)d\(hours)h" }
        if hours > 0 { return "\(hours)h\(minutes)m" }
        if minutes > 0 { return "\(minutes)m\(rest)s" }
        return "\(rest)s"
    }
}
