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

    init(file: String, baseDirectory: String) {
        reader = NodeReader(file: file)
        self.baseDirectory = baseDirectory
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
    private mutating func readList<Element>(
        _ value: LocatedNode, what: String, _ read: (inout ConfigBuilder, LocatedNode) -> Element?
    ) -> [Located<Element>] {
        guard let items = reader.sequence(value, what: what) else { return [] }
        return items.compactMap { item in read(&self, item).map { Located(value: $0, path: item.path) } }
    }

    /// "connection 'cloud-office'" when the element has a readable name, else just "connection".
    private func describe(_ value: LocatedNode, as what: String) -> String {
        guard case .mapping(let mapping) = value.node,
            case .scalar(let name)? = mapping.first(where: { $0.key == Node("name") })?.value, !name.string.isEmpty
        else { return what }
        return "\(what) '\(name.string)'"
    }

    /// Remembers the name of an element that had errors, so references to it are not reported again.
    private mutating func markBroken(_ fields: [String: LocatedNode]) {
        if case .scalar(let scalar)? = fields["name"]?.node { brokenNames.insert(scalar.string) }
    }

    /// Runs `body` and reports whether it added an error.
    private mutating func addsErrors(_ body: (inout ConfigBuilder) -> Void) -> Bool {
        let before = reader.sink.diagnostics.filter { $0.severity == .error }.count
        body(&self)
        return reader.sink.diagnostics.filter { $0.severity == .error }.count > before
    }

    // MARK: - gateway

    private mutating func readGateway(_ value: LocatedNode) -> GatewaySettings? {
        guard
            let fields = reader.mapping(
                value, what: "gateway", keys: ["name", "kind", "public_address", "point_to_site"],
                required: ["name"])
        else { return nil }
        var name: String?
        var kind = GatewayKind.dynamic
        var publicAddress: IPAddress?
        var pointToSite: PointToSite?
        let failed = addsErrors { builder in
            name = fields["name"].flatMap { builder.reader.name($0, what: "gateway name") }
            if let node = fields["kind"] {
                kind = builder.reader.choice(node, what: "gateway kind", as: GatewayKind.self) ?? kind
            }
            publicAddress = fields["public_address"].flatMap { builder.reader.address($0, what: "public_address") }
            if let node = fields["point_to_site"],
                let p2s = builder.reader.mapping(
                    node, what: "point_to_site", keys: ["address_pool"],
                    required: ["address_pool"]),
                let pool = p2s["address_pool"].flatMap({ builder.reader.prefix($0, what: "address_pool") })
            {
                pointToSite = PointToSite(addressPool: pool)
            }
        }
        guard !failed, let name else { return nil }
        return GatewaySettings(name: name, kind: kind, publicAddress: publicAddress, pointToSite: pointToSite)
    }

    // MARK: - site / virtual_network

    private mutating func readSite(_ site: LocatedNode?, _ network: LocatedNode?, at root: SourceLocation) -> Site? {
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

    private mutating func readVirtualNetwork(_ value: LocatedNode) -> VirtualNetwork? {
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

    private mutating func readSubnet(_ value: LocatedNode) -> Subnet? {
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

    private mutating func readLocalNetwork(_ value: LocatedNode) -> LocalNetwork? {
        guard
            let fields = reader.mapping(
                value, what: describe(value, as: "local network"), keys: ["name", "gateway_address", "prefixes"],
                required: ["name", "gateway_address", "prefixes"])
        else { return nil }
        let name = fields["name"].flatMap { reader.name($0, what: "local network name") }
        let address = fields["gateway_address"].flatMap { reader.address($0, what: "gateway_address") }
        let prefixes = fields["prefixes"].flatMap { reader.prefixes($0, what: "local network prefixes") }
        guard let name, let address, let prefixes else {
            markBroken(fields)
            return nil
        }
        return LocalNetwork(name: name, gatewayAddress: address, prefixes: prefixes)
    }

    // MARK: - connections

    static let connectionKeys = [
        "name", "local_network", "kind", "ike_version", "shared_key", "ike", "esp", "lifetime", "dpd", "nat_traversal",
        "fragment_size",
    ]

    private mutating func readConnection(_ value: LocatedNode, defaultKind: GatewayKind) -> Connection? {
        guard
            let fields = reader.mapping(
                value, what: describe(value, as: "connection"), keys: Self.connectionKeys,
                required: ["name", "local_network", "shared_key"])
        else { return nil }
        var connection: Connection?
        let failed = addsErrors { builder in
            let name = fields["name"].flatMap { builder.reader.name($0, what: "connection name") }
            let remote = fields["local_network"].flatMap { builder.reader.name($0, what: "local_network") }
            let kind =
                fields["kind"].map { builder.reader.choice($0, what: "connection kind", as: GatewayKind.self) }
                ?? defaultKind
            var version = kind?.defaultIKEVersion ?? .v2
            if let node = fields["ike_version"] {
                if let number = builder.reader.integer(node, what: "ike_version", range: 1...2) {
                    version = IKEVersion(rawValue: number) ?? version
                }
            }
            let key = fields["shared_key"].flatMap { builder.readSharedKey($0) }
            let ike = builder.readProposals(fields["ike"], .ike, version: version)
            let esp = builder.readProposals(fields["esp"], .esp, version: version)
            let lifetimes = builder.readLifetimes(fields["lifetime"])
            let dpd = builder.readDPD(fields["dpd"])
            let nat =
                fields["nat_traversal"].map {
                    builder.reader.choice($0, what: "nat_traversal", as: NATTraversalMode.self)
                } ?? .auto
            var fragmentSize: Int? = Connection.defaultFragmentSize
            if let node = fields["fragment_size"] {
                fragmentSize = builder.reader.integer(node, what: "fragment_size", range: Connection.fragmentSizeRange)
            }
            if let name, let remote, let kind, let key, let ike, let esp, let lifetimes, let dpd, let nat,
                let fragmentSize
            {
                var made = Connection(
                    name: name, localNetwork: remote, kind: kind, ikeVersion: version, sharedKey: key, ike: ike,
                    esp: esp, lifetimes: lifetimes, deadPeerDetection: dpd, natTraversal: nat)
                made.fragmentSize = fragmentSize
                connection = made
            }
        }
        if failed || connection == nil {
            markBroken(fields)
            return nil
        }
        return connection
    }

    /// The minimum length of a pre-shared key. RFC 7296 section 2.15 asks for keys "as strong as the
    /// strongest key being negotiated"; 16 random characters is the floor cloud consoles enforce.
    static let minimumSharedKeyLength = 16

    private mutating func readSharedKey(_ value: LocatedNode) -> SharedKey? {
        guard let text = reader.string(value, what: "shared_key") else { return nil }
        guard text.hasPrefix("file:") else {
            guard text.utf8.count >= Self.minimumSharedKeyLength else {
                reader.sink.error(
                    value.location,
                    "the shared key has \(text.utf8.count) characters; at least "
                        + "\(Self.minimumSharedKeyLength) are needed",
                    fix: "use a long random key, for example from 'openssl rand -base64 24', in a file: shared_key: "
                        + "file:PATH")
                return nil
            }
            return SharedKey(source: .inline, material: Array(text.utf8))
        }
        let path = String(text.dropFirst("file:".count))
        guard !path.isEmpty else {
            reader.sink.error(
                value.location, "'file:' names no file", fix: "write shared_key: file:/etc/isthmus/NAME.key")
            return nil
        }
        let resolved = path.hasPrefix("/") ? path : "\(baseDirectory)/\(path)"
        switch ConfigSource.read(path: resolved, limit: ConfigSource.maximumKeyFileBytes) {
        case .failure(.cannotOpen(let reason)):
            reader.sink.error(
                value.location, "cannot read the key file \(resolved): \(reason)",
                fix: "create it with mode 0600 (relative paths start at the configuration's folder)")
            return nil
        case .failure(.tooLarge(let size)):
            reader.sink.error(
                value.location,
                "the key file \(resolved) is \(size) bytes; a key file holds one key "
                    + "of at most \(ConfigSource.maximumKeyFileBytes) bytes")
            return nil
        case .success(var bytes):
            while let last = bytes.last, last == 0x0A || last == 0x0D { bytes.removeLast() }
            guard bytes.count >= Self.minimumSharedKeyLength else {
                reader.sink.error(
                    value.location,
                    "the key in \(resolved) has \(bytes.count) characters; at least "
                        + "\(Self.minimumSharedKeyLength) are needed",
                    fix: "write a long random key into it, e.g. 'openssl rand -base64 24 > \(resolved)'")
                return nil
            }
            guard !bytes.contains(0x0A) else {
                reader.sink.error(
                    value.location, "the key file \(resolved) has more than one line",
                    fix: "put exactly one key in it")
                return nil
            }
            if let mode = ConfigSource.permissions(path: resolved), mode & 0o077 != 0 {
                reader.sink.warning(
                    value.location,
                    "the key file \(resolved) is readable by group or others "
                        + "(mode \(String(mode, radix: 8)))", fix: "chmod 600 \(resolved)")
            }
            let origin = KeyFileOrigin(path: resolved, modified: KeyFile.info(path: resolved)?.modified)
            return SharedKey(source: .file(path), material: bytes, origin: origin)
        }
    }

    private mutating func readProposals(
        _ value: LocatedNode?, _ proto: ProposalProtocol, version: IKEVersion
    ) -> ProposalList? {
        guard let value else { return Connection.defaultProposals(proto, version: version) }
        let what = proto == .ike ? "ike" : "esp"
        guard let items = reader.sequence(value, what: what, scalarAsList: true) else { return nil }
        var texts: [String] = []
        var failed = false
        for item in items {
            guard let text = reader.string(item, what: "\(what) proposal") else {
                failed = true
                continue
            }
            do {
                _ = try ProposalList(parsing: [text], for: proto, version: version)
                texts.append(text)
            } catch {
                failed = true
                var fix: String?
                if let keyword = error.keyword {
                    if let suggestion = Suggestion.closest(to: keyword, in: AlgorithmRegistry.allKeywords) {
                        fix = "did you mean '\(suggestion)'?"
                    } else {
                        fix = "supported: " + AlgorithmRegistry.all.map(\.keyword).joined(separator: " ")
                    }
                }
                reader.sink.error(item.location, "\(proto) proposal for \(version): \(error)", fix: fix)
            }
        }
        guard !failed, !texts.isEmpty else {
            if !failed { reader.sink.error(value.location, "the \(what) proposal list is empty") }
            return nil
        }
        guard let list = try? ProposalList(parsing: texts, for: proto, version: version) else { return nil }
        for algorithm in list.algorithms {
            if case .legacy(let reason) = algorithm.guidance {
                reader.sink.warning(
                    value.location, "\(algorithm.displayName) ('\(algorithm.keyword)'): \(reason)",
                    fix: "keep it only if the peer cannot do better")
            }
        }
        return list
    }

    private mutating func readLifetimes(_ value: LocatedNode?) -> Lifetimes? {
        var lifetimes = Lifetimes.default
        guard let value else { return lifetimes }
        guard let fields = reader.mapping(value, what: "lifetime", keys: ["ike", "esp", "esp_size"]) else { return nil }
        var ok = true
        func check(
            _ duration: Duration, _ range: ClosedRange<Duration>, short: Duration, _ node: LocatedNode, _ what: String
        ) -> Bool {
            guard range.contains(duration) else {
                reader.sink.error(
                    node.location,
                    "the \(what) lifetime \(duration.configText) is outside "
                        + "\(range.lowerBound.configText) to \(range.upperBound.configText)",
                    fix: "choose a value in that range (the cloud gateways' defaults: IKE 8h, ESP 1h)")
                return false
            }
            if duration < short {
                reader.sink.warning(
                    node.location,
                    "the \(what) lifetime \(duration.configText) is shorter than "
                        + "\(short.configText): the SA is rekeyed every few minutes",
                    fix: "fine for a test; in production use the peer's lifetime or the defaults (IKE 8h, ESP 1h)")
            }
            return true
        }
        if let node = fields["ike"] {
            if let duration = reader.duration(node, what: "IKE lifetime"),
                check(duration, Lifetimes.ikeRange, short: Lifetimes.shortIKELifetime, node, "IKE")
            {
                lifetimes.ike = duration
            } else {
                ok = false
            }
        }
        if let node = fields["esp"] {
            if let duration = reader.duration(node, what: "ESP lifetime"),
                check(duration, Lifetimes.espRange, short: Lifetimes.shortESPLifetime, node, "ESP")
            {
                lifetimes.esp = duration
            } else {
                ok = false
            }
        }
        if let node = fields["esp_size"] {
            if let size = reader.kilobytes(node, what: "esp_size") {
                if size < Lifetimes.minimumESPKilobytes {
                    reader.sink.error(
                        node.location,
                        "the ESP volume lifetime \(size)KB is below "
                            + "\(Lifetimes.minimumESPKilobytes)KB",
                        fix: "use at least 1024KB (the usual is 102400000KB)")
                    ok = false
                } else {
                    lifetimes.espKilobytes = size
                }
            } else {
                ok = false
            }
        }
        return ok ? lifetimes : nil
    }

    private mutating func readDPD(_ value: LocatedNode?) -> DeadPeerDetection? {
        var dpd = DeadPeerDetection.default
        guard let value else { return dpd }
        guard let fields = reader.mapping(value, what: "dpd", keys: ["interval", "timeout", "action"]) else {
            return nil
        }
        var ok = true
        if let node = fields["interval"] {
            if let interval = reader.duration(node, what: "dpd interval") {
                if interval > .zero {
                    dpd.interval = interval
                } else {
                    reader.sink.error(
                        node.location, "the dpd interval must be above 0s",
                        fix: "use 'action: none' to turn liveness checks off")
                    ok = false
                }
            } else {
                ok = false
            }
        }
        if let node = fields["timeout"] {
            if let timeout = reader.duration(node, what: "dpd timeout") { dpd.timeout = timeout } else { ok = false }
        }
        if let node = fields["action"] {
            if let action = reader.choice(node, what: "dpd action", as: DeadPeerDetection.Action.self) {
                dpd.action = action
            } else {
                ok = false
            }
        }
        if ok, dpd.action != .none, dpd.timeout <= dpd.interval {
            reader.sink.error(
                fields["timeout"]?.location ?? value.location,
                "the dpd timeout \(dpd.timeout.configText) must be longer than the interval \(dpd.interval.configText)",
                fix: "a timeout of about five intervals rides out a few lost packets")
            ok = false
        }
        return ok ? dpd : nil
    }

    // MARK: - endpoints

    private mutating func readEndpoint(_ value: LocatedNode) -> Endpoint? {
        guard
            let fields = reader.mapping(
                value, what: describe(value, as: "endpoint"), keys: ["name", "address", "protocol", "port", "rules"],
                required: ["name", "address", "rules"])
        else { return nil }
        var endpoint: Endpoint?
        let failed = addsErrors { builder in
            let name = fields["name"].flatMap { builder.reader.name($0, what: "endpoint name") }
            let address = fields["address"].flatMap { builder.reader.address($0, what: "endpoint address") }
            let transport =
                fields["protocol"].map {
                    builder.reader.choice($0, what: "protocol", as: TransportProtocol.self)
                } ?? .any
            var port: UInt16?
            if let node = fields["port"] {
                if transport?.hasPorts == false {
                    builder.reader.sink.error(
                        node.location, "a port applies only to protocol tcp or udp",
                        fix: "set 'protocol: tcp' or 'protocol: udp', or remove the port")
                } else if let number = builder.reader.integer(node, what: "port", range: 1...65535) {
                    port = UInt16(number)
                }
            }
            var rules: [ACLRule] = []
            if let node = fields["rules"], let items = builder.reader.sequence(node, what: "rules") {
                rules = items.compactMap { builder.readRule($0) }
                if items.isEmpty {
                    builder.reader.sink.error(
                        node.location, "the endpoint has no rules, so nothing may reach it",
                        fix: "add '- {action: permit, remote: PREFIX}' rules")
                }
            }
            if let name, let address, let transport {
                endpoint = Endpoint(name: name, address: address, transport: transport, port: port, rules: rules)
            }
        }
        return failed ? nil : endpoint
    }

    private mutating func readRule(_ value: LocatedNode) -> ACLRule? {
        guard
            let fields = reader.mapping(
                value, what: "rule", keys: ["action", "remote", "description"],
                required: ["action"])
        else { return nil }
        guard let action = fields["action"].flatMap({ reader.choice($0, what: "rule action", as: ACLRule.Action.self) })
        else { return nil }
        var remote: IPPrefix?
        if let node = fields["remote"] {
            if case .scalar(let scalar) = node.node, scalar.string.lowercased() == "any" {
                remote = nil
            } else {
                guard let prefix = reader.prefix(node, what: "rule remote") else { return nil }
                remote = prefix
            }
        }
        let description = fields["description"].flatMap { reader.string($0, what: "rule description") }
        return ACLRule(action: action, remote: remote, description: description)
    }
}
