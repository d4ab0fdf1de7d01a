import IsthmusCrypto

/// `gateway.point_to_site`: the address pool, how clients authenticate, split or full tunnel, proposals.
extension ConfigBuilder {
    static let pointToSiteKeys = ["address_pool", "auth", "shared_key", "full_tunnel", "ike", "esp", "users_file"]

    mutating func readPointToSite(_ value: LocatedNode) -> PointToSite? {
        guard
            let fields = reader.mapping(
                value, what: "point_to_site", keys: Self.pointToSiteKeys, required: ["address_pool"]),
            let pool = fields["address_pool"].flatMap({ reader.prefix($0, what: "address_pool") })
        else { return nil }
        var settings = PointToSite(addressPool: pool)
        var failed = false
        if let node = fields["auth"] {
            if let items = reader.sequence(node, what: "point_to_site auth", scalarAsList: true) {
                let methods = items.compactMap {
                    reader.choice($0, what: "point_to_site auth", as: PointToSiteAuthentication.self)
                }
                if methods.count == items.count, !methods.isEmpty {
                    settings.authentication = methods
                } else {
                    failed = true
                    if items.isEmpty {
                        reader.sink.error(
                            node.location, "point_to_site auth lists no method",
                            fix: "write auth: [psk] (with shared_key)")
                    }
                }
            } else {
                failed = true
            }
        }
        if let node = fields["shared_key"] {
            settings.sharedKey = readSharedKey(node)
            if settings.sharedKey == nil { failed = true }
        }
        if let node = fields["full_tunnel"] {
            if let full = readSwitch(node, what: "full_tunnel") { settings.fullTunnel = full } else { failed = true }
        }
        if let ike = readProposals(fields["ike"], .ike, version: .v2) { settings.ike = ike } else { failed = true }
        if let esp = readProposals(fields["esp"], .esp, version: .v2) { settings.esp = esp } else { failed = true }
        if let node = fields["users_file"], let path = reader.string(node, what: "users_file") {
            settings.usersFile = path.hasPrefix("/") ? path : "\(baseDirectory)/\(path)"
        }
        if settings.authentication.contains(.eapMSCHAPv2), !readUsersFile(fields, into: settings, at: value) {
            failed = true
        }
        if settings.authentication.contains(.psk), settings.sharedKey == nil, fields["shared_key"] == nil {
            failed = true
            reader.sink.error(
                value.location, "point_to_site auth psk needs the key the clients share",
                fix: "add shared_key: file:/etc/isthmus/clients.key (or inline, 16 characters at least)")
        }
        if pool.family != .v4 {
            failed = true
            reader.sink.error(
                fields["address_pool"]?.location ?? value.location,
                "address_pool \(pool) is IPv6; clients get IPv4 addresses (INTERNAL_IP4_ADDRESS) only for now",
                fix: "use an IPv4 prefix such as 10.0.0.0/24")
        }
        return failed ? nil : settings
    }

    /// `eap-mschapv2`: the users file must exist and load without error; its own problems are reported at the
    /// `users_file` line, each with a note at its line of the users file. How the gateway proves itself to
    /// these clients is checked with the certificates (``checkPointToSiteCertificates(_:_:at:)``).
    private mutating func readUsersFile(
        _ fields: [String: LocatedNode], into settings: PointToSite, at value: LocatedNode
    ) -> Bool {
        guard let usersFile = settings.usersFile else {
            reader.sink.error(
                fields["auth"]?.location ?? value.location, "eap-mschapv2 needs a users_file",
                fix: "add 'users_file: users.yaml' (mode 0600, lines 'name: password') under point_to_site")
            return false
        }
        let loaded = EAPUsersFile.load(path: usersFile)
        guard loaded.users == nil else { return true }
        let location = fields["users_file"]?.location ?? value.location
        for problem in loaded.diagnostics where problem.severity == .error {
            var diagnostic = Diagnostic(
                .error, file: reader.sink.file, at: location, "users_file: \(problem.message)", fix: problem.fix)
            diagnostic.notes = [Diagnostic.Note(file: problem.file, at: problem.location, problem.message)]
            reader.sink.append(diagnostic)
        }
        return false
    }
}

extension ConfigBuilder {
    /// `auth: [certificate]` needs the gateway's own certificate (it signs its AUTH) and the roots clients'
    /// certificates chain to; `eap-mschapv2` without `psk` needs the gateway's certificate or, without one,
    /// `shared_key` (the gateway proves itself before EAP starts, RFC 7296 section 2.16).
    mutating func checkPointToSiteCertificates(
        _ settings: PointToSite?, _ certificates: GatewayCertificates, at node: LocatedNode
    ) {
        guard let settings else { return }
        if settings.authentication.contains(.psk), settings.authentication.count > 1 {
            reader.sink.error(
                node.location,
                "point_to_site auth psk cannot be combined with certificate or eap-mschapv2: every holder of the "
                    + "shared key could claim another client's identity (its address and its IKE SA), and the "
                    + "gateway must choose how it proves itself before a client shows its method",
                fix: "list one: auth: [certificate, eap-mschapv2] (per-user credentials) or auth: [psk]")
        }
        if settings.authentication.contains(.eapMSCHAPv2), !settings.authentication.contains(.psk),
            certificates.credential == nil, settings.sharedKey == nil
        {
            reader.sink.error(
                node.location,
                "eap-mschapv2 clients authenticate the gateway by its certificate or, without one, by shared_key",
                fix: "add gateway.certificate: {certificate: gateway.pem, private_key: gateway.key} (what Windows "
                    + "clients need), or shared_key: file:/etc/isthmus/clients.key (the clients' 'remote { auth = psk }')"
            )
        }
        guard settings.authentication.contains(.certificate) else { return }
        if certificates.credential == nil {
            reader.sink.error(
                node.location, "point_to_site auth certificate needs the gateway's own certificate",
                fix: "add gateway.certificate: {certificate: gateway.pem, private_key: gateway.key}")
        }
        if certificates.authoritiesDER.isEmpty {
            reader.sink.error(
                node.location, "point_to_site auth certificate needs the CA that issues the clients' certificates",
                fix: "add gateway.certificate_authorities: [ca.pem]")
        }
    }
}
