import IsthmusCrypto
import IsthmusEvents
import IsthmusIP
import Yams

/// A value read from the configuration, with the path it was read from (for positions in later checks).
struct Located<Value> {
    let value: Value
    let path: String
}

/// Walks the composed YAML tree section by section, building the model and collecting diagnostics.
///
/// An element with an error is left out of the model (its name remembered in `brokenNames`) so the
/// cross-checks in ``ConfigValidator`` do not pile follow-on errors on top of the first one.
struct ConfigBuilder {
    var reader: NodeReader
    let baseDirectory: String
    /// Names of elements that were written but could not be read (their references are not re-reported).
    var brokenNames: Set<String> = []

    /// How files holding secrets are judged, and the configuration file's own mode and owner.
    let secrets: SecretAccessCheck
    /// The configuration file, as diagnostics name it.
    let file: String

    init(file: String, baseDirectory: String, secrets: SecretAccessCheck) {
        reader = NodeReader(file: file)
        self.baseDirectory = baseDirectory
        self.secrets = secrets
        self.file = file
    }

    /// Reports `problem` (a file holding a secret others may read) at `location`, as ``secrets`` says.
    mutating func report(_ problem: SecretFileAccess.Problem, at location: SourceLocation) {
        switch secrets.policy {
        case .refuse:
            reader.sink.error(location, problem.message, fix: problem.fix)
        case .warn:
            reader.sink.warning(
                location, problem.message + "; `isthmus run` refuses it", fix: problem.fix)
        }
    }

    static let rootKeys = ["gateway", "site", "virtual_network", "local_networks", "connections", "endpoints"]

    mutating func build(root: LocatedNode) -> ConfigLoadResult {
        guard
            let top = reader.mapping(
                root, what: "the configuration", keys: Self.rootKeys,
                required: ["gateway", "local_networks", "connections"])
        else {
            return ConfigLoadResult(config: nil, diagnostics: reader.sink.sorted)
        }
        let gateway = top["gateway"].flatMap { readGateway($0) }
        let site = readSite(top["site"], top["virtual_network"], at: root.location)
        let localNetworks =
            top["local_networks"].map { readList($0, what: "local_networks") { $0.readLocalNetwork($1) } } ?? []
        let defaultKind = gateway?.kind ?? .dynamic
        let connections =
            top["connections"].map {
                readList($0, what: "connections") { builder, item in
                    builder.readConnection(item, defaultKind: defaultKind)
                }
            } ?? []
        let endpoints = top["endpoints"].map { readList($0, what: "endpoints") { $0.readEndpoint($1) } } ?? []

        var validator = ConfigValidator(reader: reader, brokenNames: brokenNames)
        validator.validate(
            gateway: gateway, site: site, localNetworks: localNetworks, connections: connections, endpoints: endpoints)
        reader = validator.reader
        let diagnostics = reader.sink.sorted
        guard !reader.sink.hasErrors, let gateway, let site else {
            return ConfigLoadResult(config: nil, diagnostics: diagnostics)
        }
        let config = GatewayConfig(
            gateway: gateway, site: site, localNetworks: localNetworks.map { $0.value },
            connections: connections.map { $0.value }, endpoints: endpoints.map { $0.value })
        return ConfigLoadResult(config: config, diagnostics: diagnostics, positions: reader.positions)
    }

    /// Reads each item of a list, keeping the ones that read without error, with their paths.
    mutating func readList<Element>(
        _ value: LocatedNode, what: String, _ read: (inout ConfigBuilder, LocatedNode) -> Element?
    ) -> [Located<Element>] {
        guard let items = reader.sequence(value, what: what) else { return [] }
        return items.compactMap { item in read(&self, item).map { Located(value: $0, path: item.path) } }
    }

    /// "connection 'cloud-office'" when the element has a readable name, else just "connection".
    func describe(_ value: LocatedNode, as what: String) -> String {
        guard case .mapping(let mapping) = value.node,
            case .scalar(let name)? = mapping.first(where: { $0.key == Node("name") })?.value, !name.string.isEmpty
        else { return what }
        return "\(what) '\(name.string)'"
    }

    /// Remembers the name of an element that had errors, so references to it are not reported again.
    mutating func markBroken(_ fields: [String: LocatedNode]) {
        if case .scalar(let scalar)? = fields["name"]?.node { brokenNames.insert(scalar.string) }
    }

    /// Runs `body` and reports whether it added an error.
    mutating func addsErrors(_ body: (inout ConfigBuilder) -> Void) -> Bool {
        let before = reader.sink.diagnostics.filter { $0.severity == .error }.count
        body(&self)
        return reader.sink.diagnostics.filter { $0.severity == .error }.count > before
    }

    /// `true`/`false` (also yes/no, on/off); false when absent, nil after an error.
    mutating func readSwitch(_ value: LocatedNode?, what: String) -> Bool? {
        guard let value else { return false }
        switch reader.string(value, what: what)?.lowercased() {
        case "true"?, "yes"?, "on"?: return true
        case "false"?, "no"?, "off"?: return false
        case nil: return nil
        case let other?:
            reader.sink.error(value.location, "\(what) '\(other)' is not true or false")
            return nil
        }
    }

    // MARK: - gateway

    mutating func readGateway(_ value: LocatedNode) -> GatewaySettings? {
        guard
            let fields = reader.mapping(
                value, what: "gateway",
                keys: [
                    "name", "kind", "public_address", "point_to_site", "interface", "certificate",
                    "certificate_authorities", "revoked", "bgp",
                ],
                required: ["name"])
        else { return nil }
        var name: String?
        var kind = GatewayKind.dynamic
        var publicAddress: IPAddress?
        var pointToSite: PointToSite?
        var interface: String?
        var certificates = GatewayCertificates()
        var bgp: GatewayBGP?
        let failed = addsErrors { builder in
            bgp = fields["bgp"].flatMap { builder.readGatewayBGP($0) }
            certificates = builder.readGatewayCertificates(fields)
            interface = fields["interface"].flatMap { builder.readInterfaceName($0) }
            name = fields["name"].flatMap { builder.reader.name($0, what: "gateway name") }
            if let node = fields["kind"] {
                kind = builder.reader.choice(node, what: "gateway kind", as: GatewayKind.self) ?? kind
            }
            publicAddress = fields["public_address"].flatMap { builder.reader.address($0, what: "public_address") }
            if let node = fields["point_to_site"] {
                pointToSite = builder.readPointToSite(node)
                builder.checkPointToSiteCertificates(pointToSite, certificates, at: node)
            }
        }
        guard !failed, let name else { return nil }
        var settings = GatewaySettings(name: name, kind: kind, publicAddress: publicAddress, pointToSite: pointToSite)
        settings.interface = interface
        settings.certificates = certificates
        settings.bgp = bgp
        return settings
    }

    // MARK: - site / virtual_network

    mutating func readSite(_ site: LocatedNode?, _ network: LocatedNode?, at root: SourceLocation) -> Site? {
        switch (site, network) {
        case (nil, nil):
            reader.sink.error(
                root, "the configuration has neither 'site' nor 'virtual_network'",
                fix: "add 'site: {prefixes: [...]}' (an office) or 'virtual_network:' (a cloud network)")
            return nil
        case (.some, .some(let network)):
            reader.sink.error(
                reader.location(of: "virtual_network#key") ?? network.location,
                "'site' and 'virtual_network' both describe this gateway's network; keep one",
                fix: "use 'site' for plain prefixes, 'virtual_network' for address spaces with subnets")
            return nil
        case (.some(let site), nil):
            guard let fields = reader.mapping(site, what: "site", keys: ["prefixes"], required: ["prefixes"]),
                let prefixes = fields["prefixes"].flatMap({ reader.prefixes($0, what: "site prefixes") })
            else { return nil }
            return .prefixes(prefixes)
        case (nil, .some(let network)):
            return readVirtualNetwork(network).map(Site.virtualNetwork)
        }
    }

    mutating func readVirtualNetwork(_ value: LocatedNode) -> VirtualNetwork? {
        guard
            let fields = reader.mapping(
                value, what: "virtual_network",
                keys: ["name", "address_spaces", "subnets", "gateway_subnet", "dns_servers"],
                required: ["name", "address_spaces"])
        else { return nil }
        var name: String?
        var spaces: [IPPrefix]?
        var subnets: [Subnet] = []
        var gatewaySubnet: String?
        var dnsServers: [IPAddress] = []
        let failed = addsErrors { builder in
            name = fields["name"].flatMap { builder.reader.name($0, what: "virtual network name") }
            spaces = fields["address_spaces"].flatMap { builder.reader.prefixes($0, what: "address_spaces") }
            if let node = fields["subnets"] {
                subnets = builder.readList(node, what: "subnets", { $0.readSubnet($1) }).map(\.value)
            }
            gatewaySubnet = fields["gateway_subnet"].flatMap { builder.reader.name($0, what: "gateway_subnet") }
            if let node = fields["dns_servers"],
                let items = builder.reader.sequence(node, what: "dns_servers", scalarAsList: true)
            {
                dnsServers = items.compactMap { builder.reader.address($0, what: "DNS server") }
            }
        }
        guard !failed, let name, let spaces else { return nil }
        return VirtualNetwork(
            name: name, addressSpaces: spaces, subnets: subnets, gatewaySubnet: gatewaySubnet, dnsServers: dnsServers)
    }

    mutating func readSubnet(_ value: LocatedNode) -> Subnet? {
        guard
            let fields = reader.mapping(
                value, what: describe(value, as: "subnet"), keys: ["name", "prefix"], required: ["name", "prefix"])
        else { return nil }
        let name = fields["name"].flatMap { reader.name($0, what: "subnet name") }
        let prefix = fields["prefix"].flatMap { reader.prefix($0, what: "subnet prefix") }
        guard let name, let prefix else {
            markBroken(fields)
            return nil
        }
        return Subnet(name: name, prefix: prefix)
    }

    // MARK: - local_networks

    mutating func readLocalNetwork(_ value: LocatedNode) -> LocalNetwork? {
        guard
            let fields = reader.mapping(
                value, what: describe(value, as: "local network"), keys: ["name", "gateway_address", "prefixes"],
                required: ["name", "gateway_address", "prefixes"])
        else { return nil }
        let name = fields["name"].flatMap { reader.name($0, what: "local network name") }
        let gateway = fields["gateway_address"].flatMap { readPeerAddress($0) }
        let prefixes = fields["prefixes"].flatMap { reader.prefixes($0, what: "local network prefixes") }
        guard let name, let gateway, let prefixes else {
            markBroken(fields)
            return nil
        }
        return LocalNetwork(name: name, gateway: gateway, prefixes: prefixes)
    }

    /// `gateway_address`: an IP address or a DNS name.
    mutating func readPeerAddress(_ value: LocatedNode) -> PeerAddress? {
        guard let text = reader.string(value, what: "gateway_address") else { return nil }
        // What looks like an address gets the address parser's own explanation ("300 is out of range").
        if text.contains(":") || text.allSatisfy({ $0.isNumber || $0 == "." }) {
            return reader.address(value, what: "gateway_address").map { .address($0) }
        }
        return reader.parsed(
            value, what: "gateway_address", PeerAddress.init(parsing:),
            problem: { "gateway_address '\($0)' is neither an IP address nor a DNS name" },
            fix: { _ in
                "write an address such as 198.51.100.10, or the name the site's dynamic DNS keeps up to date, "
                    + "such as office.example.com"
            })
    }
}
