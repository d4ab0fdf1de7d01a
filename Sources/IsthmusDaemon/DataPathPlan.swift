import IsthmusCrypto
import IsthmusESP
import IsthmusGateway
import IsthmusIP

/// What the daemon plumbs for a configuration: its tunnel interfaces, each with its MTU and the routes
/// into it. Pure: the configuration in, the plan out; ``DataPath`` carries it out.
///
/// Route-based (dynamic) connections get an interface each, policy-based (static) connections share one
/// (``TunnelInterfaceName``). The routes of an interface are the prefixes of the remote sites of its
/// connections; its MTU is the path MTU less the outer headers and the largest ESP overhead of their
/// proposals (``TunnelMTU/interfaceMTU(pathMTU:suites:outerIPv6:)``).
public struct DataPathPlan: Sendable, Hashable {
    public struct Interface: Sendable, Hashable {
        public var name: String
        /// Whether the policy-based connections share it (the data plane's interface 0).
        public var shared: Bool
        /// Its connections, in configuration order.
        public var connections: [String]
        public var mtu: Int
        /// The remote prefixes routed into it, in configuration order, without repeats. A BGP connection's
        /// prefixes are not: BIRD installs the routes its peer announces.
        public var routes: [IPPrefix]
        /// The inner addresses of its BGP connections (``ConnectionBGP/address``).
        public var addresses: [InterfaceAddress] = []
    }

    /// In configuration order of their first connection.
    public var interfaces: [Interface]

    public init(config: GatewayConfig, pathMTU: Int) {
        var interfaces: [Interface] = []
        var suites: [String: [(encryption: Algorithm, integrity: Algorithm?)]] = [:]
        let outerIPv6 = config.gateway.publicAddress?.family == .v6
        for connection in config.connections {
            let name = TunnelInterfaceName.of(connection, gateway: config.gateway)
            let prefixes =
                connection.bgp != nil
                ? [] : config.localNetworks.first(where: { $0.name == connection.localNetwork })?.prefixes ?? []
            let addresses = connection.bgp.map { [$0.address] } ?? []
            for proposal in connection.esp.proposals {
                for encryption in proposal.encryption {
                    let integrity: [Algorithm?] = proposal.integrity.isEmpty ? [nil] : proposal.integrity
                    for algorithm in integrity { suites[name, default: []].append((encryption, algorithm)) }
                }
            }
            if let index = interfaces.firstIndex(where: { $0.name == name }) {
                interfaces[index].connections.append(connection.name)
                interfaces[index].addresses += addresses
                for prefix in prefixes where !interfaces[index].routes.contains(prefix) {
                    interfaces[index].routes.append(prefix)
                }
            } else {
                var routes: [IPPrefix] = []
                for prefix in prefixes where !routes.contains(prefix) { routes.append(prefix) }
                interfaces.append(
                    Interface(
                        name: name, shared: connection.kind == .static, connections: [connection.name], mtu: 0,
                        routes: routes, addresses: addresses))
            }
        }
        // Point-to-site clients share one interface, the pool routed into it (each client's CHILD SA in its
        // SPD with TSi = the client's /32).
        if let p2s = config.gateway.pointToSite, config.gateway.kind == .dynamic {
            let name = TunnelInterfaceName.pointToSite(of: config.gateway)
            for proposal in p2s.esp.proposals {
                for encryption in proposal.encryption {
                    let integrity: [Algorithm?] = proposal.integrity.isEmpty ? [nil] : proposal.integrity
                    for algorithm in integrity { suites[name, default: []].append((encryption, algorithm)) }
                }
            }
            interfaces.append(
                Interface(
                    name: name, shared: false, connections: [PointToSiteSessions.connectionName], mtu: 0,
                    routes: [p2s.addressPool]))
        }
        for index in interfaces.indices {
            interfaces[index].mtu = TunnelMTU.interfaceMTU(
                pathMTU: pathMTU, suites: suites[interfaces[index].name] ?? [], outerIPv6: outerIPv6)
        }
        self.interfaces = interfaces
    }

    /// The interface that carries `connection`'s traffic.
    public func interface(ofConnection connection: String) -> Interface? {
        interfaces.first(where: { $0.connections.contains(connection) })
    }
}
