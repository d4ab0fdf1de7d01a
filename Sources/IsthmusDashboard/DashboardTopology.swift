import IsthmusEvents
import IsthmusGateway

/// What the dashboard's network diagram draws, as `GET /api/model` serves it: the gateway, the network it
/// serves (a virtual network with its address spaces and subnets, or plain prefixes), the remote sites and
/// the connections to them. Built from the configuration in force; it holds no key material, only where a
/// key comes from (`file:PATH` or `inline`).
public struct DashboardTopology: Sendable, Hashable, Codable {
    /// The gateway itself.
    public struct Gateway: Sendable, Hashable, Codable {
        public var name: String
        /// `static` or `dynamic`.
        public var kind: String
        /// `static (policy-based)` or `dynamic (route-based)`.
        public var kindText: String
        /// The public address IKE listens on; nil: every local address.
        public var publicAddress: String?
        /// The point-to-site address pool, when the gateway offers one.
        public var pointToSitePool: String?
    }

    /// One subnet of the virtual network.
    public struct Subnet: Sendable, Hashable, Codable {
        public var name: String
        public var prefix: String
        /// Whether the gateway lives in it (the gateway subnet).
        public var gateway: Bool
    }

    /// The network the gateway serves.
    public struct Network: Sendable, Hashable, Codable {
        /// The virtual network's name; nil for a site of plain prefixes.
        public var name: String?
        public var addressSpaces: [String]
        public var subnets: [Subnet]
        public var dnsServers: [String]
        /// What the tunnels protect on this side (``Site/prefixes``).
        public var prefixes: [String]
    }

    /// A remote site (the cloud consoles' "local network").
    public struct Site: Sendable, Hashable, Codable {
        public var name: String
        /// Its gateway: an address, a DNS name or `any`.
        public var gateway: String
        public var prefixes: [String]
    }

    /// A connection to a remote site and its configured settings (defaults filled in).
    public struct Link: Sendable, Hashable, Codable {
        public var name: String
        /// The remote site's name.
        public var site: String
        public var kind: String
        public var ikeVersion: Int
        public var ikeProposals: [String]
        public var espProposals: [String]
        public var ikeLifetimeSeconds: Int64
        public var espLifetimeSeconds: Int64
        public var espLifetimeKilobytes: UInt64?
        /// `check after 30s idle, dead after 150s, then restart`, or `off`.
        public var liveness: String
        public var natTraversal: String
        /// `file:PATH` or `inline`: where the pre-shared key comes from, never the key.
        public var sharedKey: String
        public var localID: String?
        public var remoteID: String?
        public var interface: String?
    }

    public var gateway: Gateway
    public var network: Network
    public var sites: [Site]
    public var connections: [Link]

    public init(gateway: Gateway, network: Network, sites: [Site], connections: [Link]) {
        self.gateway = gateway
        self.network = network
        self.sites = sites
        self.connections = connections
    }

    /// The diagram of `config`.
    public init(config: GatewayConfig) {
        let settings = config.gateway
        gateway = Gateway(
            name: settings.name, kind: settings.kind.rawValue, kindText: settings.kind.description,
            publicAddress: settings.publicAddress.map { "\($0)" },
            pointToSitePool: settings.pointToSite.map { "\($0.addressPool)" })
        let protected = config.site.prefixes.map { "\($0)" }
        switch config.site {
        case .prefixes(let prefixes):
            network = Network(
                name: nil, addressSpaces: prefixes.map { "\($0)" }, subnets: [], dnsServers: [], prefixes: protected)
        case .virtualNetwork(let virtual):
            network = Network(
                name: virtual.name, addressSpaces: virtual.addressSpaces.map { "\($0)" },
                subnets: virtual.subnets.map {
                    Subnet(name: $0.name, prefix: "\($0.prefix)", gateway: $0.name == virtual.gatewaySubnet)
                },
                dnsServers: virtual.dnsServers.map { "\($0)" }, prefixes: protected)
        }
        sites = config.localNetworks.map {
            Site(name: $0.name, gateway: $0.gateway.description, prefixes: $0.prefixes.map { "\($0)" })
        }
        connections = config.connections.map { connection in
            let dpd = connection.deadPeerDetection
            let liveness =
                dpd.action == .none
                ? "off"
                : "check after \(dpd.interval.configText) idle, dead after \(dpd.timeout.configText), "
                    + "then \(dpd.action.rawValue)"
            let key: String
            switch connection.sharedKey.source {
            case .inline: key = "inline"
            case .file(let path): key = "file:\(path)"
            case .none: key = "none (certificates)"
            }
            return Link(
                name: connection.name, site: connection.localNetwork, kind: connection.kind.rawValue,
                ikeVersion: connection.ikeVersion.rawValue,
                ikeProposals: connection.ike.proposals.map(\.description),
                espProposals: connection.esp.proposals.map(\.description),
                ikeLifetimeSeconds: connection.lifetimes.ike.wholeSeconds,
                espLifetimeSeconds: connection.lifetimes.esp.wholeSeconds,
                espLifetimeKilobytes: connection.lifetimes.espKilobytes, liveness: liveness,
                natTraversal: connection.natTraversal.rawValue, sharedKey: key,
                localID: connection.localIdentity?.description, remoteID: connection.remoteIdentity?.description,
                interface: connection.interface)
        }
    }
}
