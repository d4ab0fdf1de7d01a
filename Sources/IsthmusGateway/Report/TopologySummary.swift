import IsthmusCrypto
import IsthmusEvents
import IsthmusIP

/// The short, human-readable topology `isthmus check` prints for a valid configuration: sites,
/// prefixes, connections, and the effective proposals and lifetimes (defaults filled in).
public enum TopologySummary {
    public static func render(_ config: GatewayConfig) -> String {
        var lines: [String] = []
        let gateway = config.gateway
        var head = "gateway \(gateway.name): \(gateway.kind)"
        if let address = gateway.publicAddress { head += ", public address \(address)" }
        lines.append(head)

        switch config.site {
        case .prefixes(let prefixes):
            lines.append("  site: \(join(prefixes))")
        case .virtualNetwork(let network):
            lines.append("  virtual network \(network.name): address spaces \(join(network.addressSpaces))")
            for subnet in network.subnets {
                let role = subnet.name == network.gatewaySubnet ? " (gateway subnet)" : ""
                lines.append("    subnet \(subnet.name): \(subnet.prefix)\(role)")
            }
            if !network.dnsServers.isEmpty {
                lines.append("    DNS servers: \(network.dnsServers.map(\.description).joined(separator: ", "))")
            }
        }
        if let p2s = gateway.pointToSite {
            lines.append("  point-to-site pool: \(p2s.addressPool)")
        }
        if let bgp = gateway.bgp {
            lines.append("  BGP: AS \(bgp.asn), router ID \(config.bgpRouterID.map { "\($0)" } ?? "none"), run by BIRD")
            for neighbor in bgp.neighbors {
                lines.append(
                    "    neighbor \(neighbor.name): \(neighbor.address) AS \(neighbor.asn)"
                        + "\(neighbor.asn == bgp.asn ? " (internal)" : ""), hold \(neighbor.holdTime.configText), "
                        + "BFD \(neighbor.bfd ? "on" : "off")")
            }
        }
        for network in config.localNetworks {
            lines.append(
                "  local network \(network.name): gateway \(network.gateway), "
                    + "prefixes \(join(network.prefixes))")
        }
        for connection in config.connections {
            let remote = config.localNetwork(named: connection.localNetwork)
            lines.append(
                "  connection \(connection.name) -> \(connection.localNetwork): \(connection.kind), "
                    + "\(connection.ikeVersion)")
            let selectors: String
            switch connection.kind {
            case .static:
                selectors = "\(join(config.site.prefixes)) <=> \(join(remote?.prefixes ?? []))"
            case .dynamic where connection.bgp != nil:
                selectors = "0.0.0.0/0 via the tunnel interface; routes learned by BGP"
            case .dynamic:
                selectors = "0.0.0.0/0 via the tunnel interface; routes \(join(remote?.prefixes ?? [])) into it"
            }
            lines.append("    traffic: \(selectors)")
            if let bgp = connection.bgp {
                lines.append(
                    "    BGP: AS \(config.gateway.bgp.map { "\($0.asn)" } ?? "?") at \(bgp.address) <=> AS \(bgp.peerASN) at "
                        + "\(bgp.peerAddress), hold \(bgp.holdTime.configText), BFD \(bgp.bfd ? "on" : "off"); announces "
                        + "\(join(config.site.prefixes)), accepts inside \(join(config.acceptedPrefixes(of: connection)))"
                )
            }
            lines.append("    shared key: \(connection.sharedKey)")
            lines.append("    \(connection.ikeVersion == .v1 ? "phase 1" : "IKE"): \(connection.ike)")
            lines.append("    \(connection.ikeVersion == .v1 ? "phase 2" : "ESP"): \(connection.esp)")
            let life = connection.lifetimes
            var lifetimes = "    lifetimes: IKE \(seconds(life.ike)), ESP \(seconds(life.esp))"
            if let kilobytes = life.espKilobytes { lifetimes += " or \(kilobytes) KB" }
            lines.append(lifetimes)
            let dpd = connection.deadPeerDetection
            if dpd.action == .none {
                lines.append("    liveness: off")
            } else {
                lines.append(
                    "    liveness: check after \(dpd.interval.configText) idle, dead after "
                        + "\(dpd.timeout.configText), then \(dpd.action.rawValue)")
            }
            lines.append(
                "    NAT traversal: \(connection.natTraversal == .auto ? "auto (UDP 4500 when NAT is found)" : "force UDP encapsulation")"
            )
        }
        for endpoint in config.endpoints {
            var target = "\(endpoint.address) \(endpoint.transport.rawValue)"
            if let port = endpoint.port { target += "/\(port)" }
            let rules = endpoint.rules.map { "\($0.action.rawValue) \($0.remote?.description ?? "any")" }
            let catchAll = endpoint.rules.last?.remote == nil ? "" : ", deny the rest"
            lines.append("  endpoint \(endpoint.name) \(target): \(rules.joined(separator: ", "))\(catchAll)")
        }
        return lines.joined(separator: "\n")
    }

    private static func join(_ prefixes: [IPPrefix]) -> String {
        prefixes.isEmpty ? "(none)" : prefixes.map(\.description).joined(separator: ", ")
    }

    private static func seconds(_ duration: Duration) -> String {
        "\(duration.configText) (\(duration.wholeSeconds) s)"
    }
}
