import IsthmusIP

/// The network a gateway serves.
public enum Site: Sendable, Hashable {
    /// Plain prefixes: the office router's role.
    case prefixes([IPPrefix])
    /// A virtual network with address spaces and named subnets: the cloud's role.
    case virtualNetwork(VirtualNetwork)

    /// The prefixes reachable through this gateway (address spaces for a virtual network).
    public var prefixes: [IPPrefix] {
        switch self {
        case .prefixes(let prefixes): prefixes
        case .virtualNetwork(let network): network.addressSpaces
        }
    }
}

/// A cloud virtual network (the seed's "VLAN"): address spaces, subnets, a gateway subnet, DNS servers.
public struct VirtualNetwork: Sendable, Hashable, Encodable {
    public var name: String
    public var addressSpaces: [IPPrefix]
    public var subnets: [Subnet]
    /// The name of the subnet the gateway itself lives in; a dynamic gateway needs one.
    public var gatewaySubnet: String?
    public var dnsServers: [IPAddress]

    enum CodingKeys: String, CodingKey {
        case name
        case addressSpaces = "address_spaces"
        case subnets
        case gatewaySubnet = "gateway_subnet"
        case dnsServers = "dns_servers"
    }
}

/// A named subnet of a virtual network.
public struct Subnet: Sendable, Hashable, Encodable {
    public var name: String
    public var prefix: IPPrefix
}

/// A remote site, named as the cloud consoles name it ("local network"): its gateway's public
/// address and the prefixes behind it.
public struct LocalNetwork: Sendable, Hashable, Encodable {
    public var name: String
    public var gatewayAddress: IPAddress
    public var prefixes: [IPPrefix]

    public init(name: String, gatewayAddress: IPAddress, prefixes: [IPPrefix]) {
        self.name = name
        self.gatewayAddress = gatewayAddress
        self.prefixes = prefixes
    }

    enum CodingKeys: String, CodingKey {
        case name
        case gatewayAddress = "gateway_address"
        case prefixes
    }
}
