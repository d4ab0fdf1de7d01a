import IsthmusIP

/// What a reload changes: the running configuration against a newly loaded one, per connection.
///
/// Each connection is compared by what its IKE SA would negotiate: its own settings, the remote site it
/// leads to, this site's prefixes (a static connection and any IKEv1 one proposes them as traffic
/// selectors; a dynamic IKEv2 one only their address families) and the gateway's public address (its IKE
/// identity). The shared key is compared apart: a new key does not disturb working SAs, it is used from the
/// next authentication (the daemon hands it to the running sessions: IKEv1 re-authenticates with every
/// new ISAKMP SA), as strongSwan does when secrets are reloaded.
public struct ConfigDifference: Sendable, Hashable {
    /// What happens to one connection.
    public enum Change: Sendable, Hashable {
        /// Nothing that its IKE SA negotiates changed: its SAs and traffic are left alone.
        case unchanged
        /// Only the shared key changed: SAs stay, the next authentication uses the new key.
        case keyChanged
        /// Something negotiated changed (the fields named): its SAs are deleted and it starts again.
        case changed([String])
        /// New in this configuration.
        case added
        /// Gone from this configuration: its SAs are deleted.
        case removed
    }

    /// Every connection of either configuration, in the new configuration's order, removed ones last.
    public let connections: [(name: String, change: Change)]
    /// Gateway settings that a running daemon cannot take over (its sockets and identity): a reload that
    /// changes them is refused, since applying only part of a configuration would be a surprise.
    public let unappliable: [String]

    public static func == (lhs: ConfigDifference, rhs: ConfigDifference) -> Bool {
        lhs.unappliable == rhs.unappliable && lhs.connections.elementsEqual(rhs.connections) { $0 == $1 }
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(unappliable)
        for (name, change) in connections {
            hasher.combine(name)
            hasher.combine(change)
        }
    }

    /// The change for connection `name` (nil: in neither configuration).
    public func change(for name: String) -> Change? {
        connections.first { $0.name == name }?.change
    }

    /// Whether applying it would touch nothing.
    public var isEmpty: Bool {
        unappliable.isEmpty && connections.allSatisfy { $0.change == .unchanged }
    }

    public init(from old: GatewayConfig, to new: GatewayConfig) {
        var unappliable: [String] = []
        if old.gateway.name != new.gateway.name {
            unappliable.append("gateway.name (it names the control socket)")
        }
        if old.gateway.publicAddress != new.gateway.publicAddress {
            unappliable.append("gateway.public_address (the daemon's UDP sockets are bound to it)")
        }
        self.unappliable = unappliable

        var result: [(String, Change)] = []
        for connection in new.connections {
            guard let previous = old.connections.first(where: { $0.name == connection.name }) else {
                result.append((connection.name, .added))
                continue
            }
            let fields = Self.negotiatedDifferences(previous, in: old, connection, in: new)
            if !fields.isEmpty {
                result.append((connection.name, .changed(fields)))
            } else if !previous.sharedKey.sameKey(as: connection.sharedKey) {
                result.append((connection.name, .keyChanged))
            } else {
                result.append((connection.name, .unchanged))
            }
        }
        let kept = Set(new.connections.map(\.name))
        for connection in old.connections where !kept.contains(connection.name) {
            result.append((connection.name, .removed))
        }
        self.connections = result
    }

    /// The configuration fields, by their YAML names, whose change alters what `a` and `b` negotiate.
    private static func negotiatedDifferences(
        _ a: Connection, in oldConfig: GatewayConfig, _ b: Connection, in newConfig: GatewayConfig
    ) -> [String] {
        var fields: [String] = []
        func note(_ field: String, _ differs: Bool) { if differs { fields.append(field) } }
        note("local_network", a.localNetwork != b.localNetwork)
        note("kind", a.kind != b.kind)
        note("ike_version", a.ikeVersion != b.ikeVersion)
        note("ike", a.ike != b.ike)
        note("esp", a.esp != b.esp)
        note("lifetime", a.lifetimes != b.lifetimes)
        note("dpd", a.deadPeerDetection != b.deadPeerDetection)
        note("nat_traversal", a.natTraversal != b.natTraversal)
        note("fragment_size", a.fragmentSize != b.fragmentSize)
        note("local_id", a.localIdentity != b.localIdentity)
        note("remote_id", a.remoteIdentity != b.remoteIdentity)
        note("auth", a.authentication != b.authentication)
        // A certificate connection authenticates again when our certificate, the roots or the revocation list
        // changed: a certificate revoked since is refused at once, not at the next rekey of the IKE SA.
        if b.authentication == .certificate {
            let (old, new) = (oldConfig.gateway.certificates, newConfig.gateway.certificates)
            note(
                "gateway.certificate",
                old.credential?.files != new.credential?.files
                    || old.credential?.value.certificateDER != new.credential?.value.certificateDER)
            note("gateway.certificate_authorities", old.authoritiesDER != new.authoritiesDER)
            note("gateway.revoked", old.revoked != new.revoked)
        }
        // A field added to Connection later and not named above still counts as a change.
        // BGP settings are BIRD's (re-read on reload): they change nothing IKE negotiates.
        var sameKeyed = a
        sameKeyed.sharedKey = b.sharedKey
        sameKeyed.bgp = b.bgp
        if fields.isEmpty && sameKeyed != b { fields.append("connection settings") }
        let remoteA = oldConfig.localNetwork(named: a.localNetwork)
        let remoteB = newConfig.localNetwork(named: b.localNetwork)
        if a.localNetwork == b.localNetwork {
            note("local_networks.\(b.localNetwork).gateway_address", remoteA?.gateway != remoteB?.gateway)
            note("local_networks.\(b.localNetwork).prefixes", remoteA?.prefixes != remoteB?.prefixes)
        }
        let siteA = oldConfig.site.prefixes
        let siteB = newConfig.site.prefixes
        switch (b.kind, b.ikeVersion) {
        case (.static, _), (.dynamic, .v1):
            // Policy-based selectors, and IKEv1, which always proposes this site's prefixes.
            note("site prefixes", siteA != siteB)
        case (.dynamic, .v2):
            // A route-based connection proposes 0.0.0.0/0 and ::/0 for the families in use.
            let familiesA = Set(siteA.map(\.family) + (remoteA?.prefixes.map(\.family) ?? []))
            let familiesB = Set(siteB.map(\.family) + (remoteB?.prefixes.map(\.family) ?? []))
            note("address families", familiesA != familiesB)
        }
        return fields
    }
}

extension ConfigDifference.Change: CustomStringConvertible {
    public var description: String {
        switch self {
        case .unchanged: "unchanged"
        case .keyChanged: "shared key changed: SAs kept, the next authentication uses the new key"
        case .changed(let fields): "changed (\(fields.joined(separator: ", "))): restarted"
        case .added: "added"
        case .removed: "removed: SAs deleted"
        }
    }
}

extension SharedKey {
    /// Same source and same key bytes (a key file merely touched is the same key).
    func sameKey(as other: SharedKey) -> Bool {
        source == other.source && withMaterial { mine in other.withMaterial { $0 == mine } }
    }
}
