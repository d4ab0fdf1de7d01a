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

    /// Everything this site holds: the plain prefixes, or every address space of a virtual network (its gateway
    /// subnet too), which no peer may claim.
    public var addressSpace: [IPPrefix] {
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

/// A remote site, named as the cloud consoles name it ("local network"): where its gateway is and the
/// prefixes behind it.
public struct LocalNetwork: Sendable, Hashable, Encodable {
    public var name: String
    public var gateway: PeerAddress
    public var prefixes: [IPPrefix]

    public init(name: String, gateway: PeerAddress, prefixes: [IPPrefix]) {
        self.name = name
        self.gateway = gateway
        self.prefixes = prefixes
    }

    public init(name: String, gatewayAddress: IPAddress, prefixes: [IPPrefix]) {
        self.init(name: name, gateway: .address(gatewayAddress), prefixes: prefixes)
    }

    /// The gateway's address when the configuration gives one (nil for a DNS name).
    public var gatewayAddress: IPAddress? { gateway.address }

    enum CodingKeys: String, CodingKey {
        case name
        case gateway = "gateway_address"
        case prefixes
    }
}

/// Where a remote site's gateway is: a literal address, a DNS name resolved when the gateway starts
/// and again before each new attempt (a site on a dynamic public address, behind a dynamic-DNS name), or
/// any address (`any`): the site only ever initiates, from wherever it is (behind a NAT, on a changing
/// address), and is recognised by its IKE identity (the connection's `remote_id`).
public enum PeerAddress: Sendable, Hashable, Encodable, CustomStringConvertible {
    case address(IPAddress)
    case name(String)
    case any

    /// The literal address, nil for a name.
    public var address: IPAddress? {
        if case .address(let address) = self { return address }
        return nil
    }

    public var description: String {
        switch self {
        case .address(let address): "\(address)"
        case .name(let name): name
        case .any: "any"
        }
    }

    /// An address, else a DNS name (RFC 1123 host name: labels of letters, digits and '-', not starting or
    /// ending with '-', at most 63 bytes each and 253 in all, at least one dot); nil for neither.
    public init?(parsing text: String) {
        if text == "any" {
            self = .any
            return
        }
        if let address = try? IPAddress(parsing: text) {
            self = .address(address)
            return
        }
        let name = text.hasSuffix(".") ? String(text.dropLast()) : text
        let labels = name.split(separator: ".", omittingEmptySubsequences: false)
        guard name.utf8.count <= 253, labels.count >= 2,
            labels.allSatisfy({ label in
                (1...63).contains(label.utf8.count) && !label.hasPrefix("-") && !label.hasSuffix("-")
                    && label.unicodeScalars.allSatisfy {
                        $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "-")
                    }
            }),
            // All digits and dots would be a mistyped address, not a name.
            !labels.allSatisfy({ $0.allSatisfy(\.isNumber) })
        else { return nil }
        self = .name(name.lowercased())
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}
