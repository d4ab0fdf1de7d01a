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
    /// Our certificate, the trust roots and the revoked certificates (`certificate`, `certificate_authorities`,
    /// `revoked`): what `auth: certificate` connections use.
    public var certificates = GatewayCertificates()
    /// The BGP speaker (`bgp:`): ASN and router ID; nil: no BGP.
    public var bgp: GatewayBGP?

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
        case certificate
        case certificateAuthorities = "certificate_authorities"
        case revoked
        case bgp
    }
}

/// Point-to-site: single machines joining the site's network (IKEv2 remote access, README "Point-to-site").
public struct PointToSite: Sendable, Hashable, Encodable {
    /// Addresses handed to clients; must not overlap any site prefix.
    public var addressPool: IPPrefix
    /// How clients may authenticate (YAML `auth`, default `[psk]`).
    public var authentication: [PointToSiteAuthentication] = [.psk]
    /// The key every client shares with the gateway (`auth: psk`), inline or `file:PATH` as connections have it.
    public var sharedKey: SharedKey?
    /// Offer 0.0.0.0/0 (every destination through the tunnel) instead of the virtual network's address spaces.
    public var fullTunnel = false
    /// IKE and ESP proposals clients may use (default: the connections' defaults).
    public var ike = Connection.defaultProposals(.ike, version: .v2)
    public var esp = Connection.defaultProposals(.esp, version: .v2)
    /// The users of `eap-mschapv2` (`users_file`, resolved against the configuration's folder; ``EAPUsersFile``
    /// reads it).
    public var usersFile: String?

    public init(addressPool: IPPrefix) { self.addressPool = addressPool }

    enum CodingKeys: String, CodingKey {
        case addressPool = "address_pool"
        case authentication = "auth"
        case sharedKey = "shared_key"
        case fullTunnel = "full_tunnel"
        case ike, esp
        case usersFile = "users_file"
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(addressPool, forKey: .addressPool)
        try container.encode(authentication.map(\.rawValue), forKey: .authentication)
        try container.encodeIfPresent(sharedKey, forKey: .sharedKey)
        try container.encode(fullTunnel, forKey: .fullTunnel)
        try container.encode(ike.proposals.map(\.description), forKey: .ike)
        try container.encode(esp.proposals.map(\.description), forKey: .esp)
        try container.encodeIfPresent(usersFile, forKey: .usersFile)
    }
}

/// A way point-to-site clients authenticate (`gateway.point_to_site.auth`).
public enum PointToSiteAuthentication: String, Sendable, Hashable, CaseIterable {
    /// A pre-shared key all clients know (`shared_key`); the client's IDi is its identity.
    case psk
    /// A certificate issued under `gateway.certificate_authorities` (the gateway signs with
    /// `gateway.certificate`); the identity the certificate certifies is the client's identity.
    case certificate
    /// A user name and password from `users_file`, EAP-MSCHAPv2 inside IKE_AUTH (RFC 7296 section 2.16); the
    /// EAP user is the client's identity. The gateway proves itself with
    /// `gateway.certificate` when it has one (and `auth` has no `psk`), else with `shared_key`.
    case eapMSCHAPv2 = "eap-mschapv2"
}
