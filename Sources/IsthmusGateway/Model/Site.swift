import IsthmusIP

/// The network a gateway serves.
public enum Site: Sendable, Hashable {
    /// Plain prefixes: the office router's role.
    case prefixes([IPPrefix])
    /// A virtual network with address spaces and named subnets: the cloud's role.
    case virtualNetwork(VirtualNetwork)

    /// The prefixes reachable through this gateway, which its tunnels protect and its peers route: the
    /// plain prefixes, or a virtual network's address spaces except one that is exactly the gateway
    /// subnet (it holds the gateways themselves, nothing a remote site has to reach, and a remote site
    /// that lists only the VM subnets would refuse it in every Quick Mode). A gateway subnet inside a
    /// larger address space stays in it.
    public var prefixes: [IPPrefix] {
        switch self {
        case .prefixes(let prefixes): return prefixes
        case .virtualNetwork(let network):
            let gatewaySubnet = network.subnets.first(where: { $0.name == network.gatewaySubnet })?.prefix
            let spaces = network.addressSpaces.filter { $0 != gatewaySubnet }
            return spaces.isEmpty ? network.addressSpaces : spaces
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
