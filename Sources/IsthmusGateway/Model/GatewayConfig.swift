import IsthmusCrypto
import IsthmusIP

/// A whole gateway: what one configuration file describes.
///
/// One model serves both roles of a site-to-site link: the office router (a site made of plain
/// prefixes) and the cloud gateway (a virtual network with address spaces and subnets). The remote
/// sites are `localNetworks`, the cloud consoles' name for "the network on the other side".
public struct GatewayConfig: Sendable, Hashable, Encodable {
    public var gateway: GatewaySettings
    public var site: Site
    public var localNetworks: [LocalNetwork]
    public var connections: [Connection]
    public var endpoints: [Endpoint]

    public init(
        gateway: GatewaySettings, site: Site, localNetworks: [LocalNetwork], connections: [Connection],
        endpoints: [Endpoint]
    ) {
        self.gateway = gateway
        self.site = site
        self.localNetworks = localNetworks
        self.connections = connections
        self.endpoints = endpoints
    }

    /// The remote site a connection leads to.
    public func localNetwork(named name: String) -> LocalNetwork? {
        localNetworks.first { $0.name == name }
    }

    enum CodingKeys: String, CodingKey {
        case gateway
        case site
        case virtualNetwork = "virtual_network"
        case localNetworks = "local_networks"
        case connections
        case endpoints
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(gateway, forKey: .gateway)
        switch site {
        case .prefixes(let prefixes): try container.encode(["prefixes": prefixes], forKey: .site)
        case .virtualNetwork(let network): try container.encode(network, forKey: .virtualNetwork)
        }
        try container.encode(localNetworks, forKey: .localNetworks)
        try container.encode(connections, forKey: .connections)
        if !endpoints.isEmpty { try container.encode(endpoints, forKey: .endpoints) }
    }
}

/// The two kinds of gateway the seed's cloud offers.
public enum GatewayKind: String, Sendable, Hashable, Encodable, CaseIterable, CustomStringConvertible {
    /// Policy-based: traffic selectors list the subnets; IKEv1; site-to-site only.
    case `static`
    /// Route-based: a tunnel interface with routes into it; IKEv2; also point-to-site.
    case dynamic

    /// The IKE version a connection of this kind uses unless told otherwise.
    public var defaultIKEVersion: IKEVersion { self == .static ? .v1 : .v2 }

    public var description: String {
        switch self {
        case .static: "static (policy-based)"
        case .dynamic: "dynamic (route-based)"
        }
    }
}

/// Settings of the gateway itself.
public struct GatewaySettings: Sendable, Hashable, Encodable {
    /// Names the gateway: its control socket is /run/isthmus/NAME.sock.
    public var name: String
    /// Default kind of this gateway's connections.
    public var kind: GatewayKind
    /// The public address IKE listens on; nil means "any local address".
    public var publicAddress: IPAddress?
    /// Point-to-site clients: only a dynamic gateway offers them.
    public var pointToSite: PointToSite?
    /// The name of the tunnel interface the policy-based connections share (YAML `interface:`); nil:
    /// derived from the gateway's name (``TunnelInterfaceName/derived(from:)``).
    public var interface: String?

    public init(name: String, kind: GatewayKind, publicAddress: IPAddress?, pointToSite: PointToSite?) {
        self.name = name
        self.kind = kind
        self.publicAddress = publicAddress
        self.pointToSite = pointToSite
    }

    enum CodingKeys: String, CodingKey {
        case name, kind
        case publicAddress = "public_address"
        case pointToSite = "point_to_site"
        case interface
    }
}

/// Point-to-site: single machines joining the site's network.
public struct PointToSite: Sendable, Hashable, Encodable {
    /// Addresses handed to clients; must not overlap any site prefix.
    public var addressPool: IPPrefix
    /// How clients may authenticate (`point_to_site.auth`).
    public var clientAuth: [ClientAuthMethod] = [.psk]
    /// The users of `eap-mschapv2` (`point_to_site.users_file`, resolved against the configuration's folder;
    /// ``EAPUsersFile`` reads it).
    public var usersFile: String?

    public init(addressPool: IPPrefix) { self.addressPool = addressPool }

    enum CodingKeys: String, CodingKey {
        case addressPool = "address_pool"
        case clientAuth = "auth"
        case usersFile = "users_file"
    }
}

/// How a point-to-site client proves who it is.
public enum ClientAuthMethod: String, Sendable, Hashable, Encodable, CaseIterable {
    /// A certificate issued under one of `certificate_authorities`.
    case certificate
    /// A user name and password from `users_file`, EAP-MSCHAPv2 inside IKE_AUTH (RFC 7296 section 2.16).
    case eapMSCHAPv2 = "eap-mschapv2"
    /// The gateway's pre-shared key.
    case psk
}
