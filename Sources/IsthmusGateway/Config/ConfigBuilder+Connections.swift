import IsthmusCrypto
import IsthmusEvents
import IsthmusIKE
import IsthmusIP
import Yams

/// `connections:` entries: kind, shared key, proposals, lifetimes, dead peer detection.
extension ConfigBuilder {
    // MARK: - connections

    static let connectionKeys = [
        "name", "local_network", "kind", "ike_version", "shared_key", "ike", "esp", "lifetime", "dpd", "nat_traversal",
        "fragment_size", "interface", "local_id", "remote_id", "auth", "bgp",
    ]

    mutating func readConnection(_ value: LocatedNode, defaultKind: GatewayKind) -> Connection? {
        guard
            let fields = reader.mapping(
                value, what: describe(value, as: "connection"), keys: Self.connectionKeys,
                required: ["name", "local_network"])
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
            let authentication =
                fields["auth"].map {
                    builder.reader.choice($0, what: "auth", as: ConnectionAuthentication.self)
                } ?? .psk
            let key = builder.readConnectionKey(fields, authentication: authentication, value: value)
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
            var interface: String?
            if let node = fields["interface"] {
                interface = builder.readInterfaceName(node)
                if kind == .static {
                    builder.reader.sink.error(
                        node.location,
                        "interface: names the own interface of a route-based (dynamic) connection; policy-based "
                            + "(static) connections share the gateway's",
                        fix: "remove it here, or set interface: under gateway:, or make the connection kind: dynamic")
                }
            }
            let localID = fields["local_id"].flatMap { builder.readIdentity($0, what: "local_id") }
            let remoteID = fields["remote_id"].flatMap { builder.readIdentity($0, what: "remote_id") }
            let bgp = fields["bgp"].flatMap { builder.readConnectionBGP($0) }
            if let name, let remote, let kind, let key, let ike, let esp, let lifetimes, let dpd, let nat,
                let fragmentSize
            {
                var made = Connection(
                    name: name, localNetwork: remote, kind: kind, ikeVersion: version, sharedKey: key, ike: ike,
                    esp: esp, lifetimes: lifetimes, deadPeerDetection: dpd, natTraversal: nat)
                made.fragmentSize = fragmentSize
                made.interface = interface
                made.localIdentity = localID
                made.remoteIdentity = remoteID
                made.authentication = authentication ?? .psk
                made.bgp = bgp
                connection = made
            }
        }
        if failed || connection == nil {
            markBroken(fields)
            return nil
        }
        return connection
    }

    /// An IKE identity (`local_id`, `remote_id`) in strongSwan's notation, a distinguished name included
    /// (`C=CH, O=Example, CN=office`, converted to DER by IsthmusPKI).
    mutating func readIdentity(_ value: LocatedNode, what: String) -> IKEIdentity? {
        reader.parsed(
            value, what: what, Self.identity(parsing:), problem: { "'\($0)' is not an IKE identity" },
            fix: { _ in
                "write an address (198.51.100.10), a host name (office.example.com or @office.example.com), "
                    + "user@domain, keyid:HEX, or a distinguished name (C=CH, O=Example, CN=office)"
            })
    }

    /// An interface name (`interface:`): 1 to 15 bytes, no '/', ':' or white space (Linux's IFNAMSIZ).
    mutating func readInterfaceName(_ value: LocatedNode) -> String? {
        reader.parsed(
            value, what: "interface", { TunnelInterfaceName.isValid($0) ? $0 : nil },
            problem: {
                "'\($0)' cannot be an interface name: 1 to \(TunnelInterfaceName.maximumLength) bytes without "
                    + "'/', ':' or white space"
            }, fix: { "use a short name such as \(TunnelInterfaceName.derived(from: $0))" })
    }

    /// The minimum length of a pre-shared key. RFC 7296 section 2.15 asks for keys "as strong as the
    /// strongest key being negotiated"; 16 random characters is the floor cloud consoles enforce.
    static let minimumSharedKeyLength = 16

    mutating func readSharedKey(_ value: LocatedNode) -> SharedKey? {
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
            if let configuration = secrets.configuration,
                let problem = SecretFileAccess.problem(
                    what: "the configuration, which holds a shared key inline,", path: file,
                    mode: configuration.mode, owner: configuration.owner, user: secrets.user)
            {
                var moved = problem
                moved.fix += ", or move the key into a file of its own: shared_key: file:PATH"
                report(moved, at: value.location)
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
        case .success(let contents):
            var bytes = contents.bytes
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
            if let problem = SecretFileAccess.problem(
                what: "the key file", path: resolved, mode: contents.mode, owner: contents.owner, user: secrets.user)
            {
                report(problem, at: value.location)
            }
            let info = KeyFile.info(path: resolved)
            let origin = KeyFileOrigin(path: resolved, modified: info?.modified, version: info?.version)
            return SharedKey(source: .file(path), material: bytes, origin: origin)
        }
    }

    mutating func readProposals(
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

    mutating func readLifetimes(_ value: LocatedNode?) -> Lifetimes? {
        var lifetimes = Lifetimes.default
        guard let value else { return lifetimes }
        guard let fields = reader.mapping(value, what: "lifetime", keys: ["ike", "esp", "esp_size"]) else { return nil }
        /// Reads field `key` (the `what` lifetime) into `field`; false when it is written and not valid.
        func read(
            _ key: String, _ what: String, into field: WritableKeyPath<Lifetimes, Duration>,
            range: ClosedRange<Duration>, short: Duration
        ) -> Bool {
            guard let node = fields[key] else { return true }
            guard let duration = reader.duration(node, what: "\(what) lifetime") else { return false }
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
            lifetimes[keyPath: field] = duration
            return true
        }
        let ikeValid = read("ike", "IKE", into: \.ike, range: Lifetimes.ikeRange, short: Lifetimes.shortIKELifetime)
        let espValid = read("esp", "ESP", into: \.esp, range: Lifetimes.espRange, short: Lifetimes.shortESPLifetime)
        var ok = ikeValid && espValid
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

    mutating func readDPD(_ value: LocatedNode?) -> DeadPeerDetection? {
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
}
