import IsthmusCrypto

/// `gateway.point_to_site`: the address pool, how clients authenticate, split or full tunnel, proposals.
extension ConfigBuilder {
    static let pointToSiteKeys = ["address_pool", "auth", "shared_key", "full_tunnel", "ike", "esp"]

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
            switch reader.string(node, what: "full_tunnel")?.lowercased() {
            case "true"?, "yes"?: settings.fullTunnel = true
            case "false"?, "no"?: settings.fullTunnel = false
            case nil: failed = true
            case let other?:
                failed = true
                reader.sink.error(node.location, "full_tunnel '\(other)' is not true or false")
            }
        }
        if let ike = readProposals(fields["ike"], .ike, version: .v2) { settings.ike = ike } else { failed = true }
        if let esp = readProposals(fields["esp"], .esp, version: .v2) { settings.esp = esp } else { failed = true }
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
}

extension ConfigBuilder {
    /// `auth: [certificate]` needs the gateway's own certificate (it signs its AUTH) and the roots clients'
    /// certificates chain to.
    mutating func checkPointToSiteCertificates(
        _ settings: PointToSite?, _ certificates: GatewayCertificates, at node: LocatedNode
    ) {
        guard let settings, settings.authentication.contains(.certificate) else { return }
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
