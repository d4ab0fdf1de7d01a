import IsthmusIP

/// A protected endpoint on this gateway's site, and who on the far side may reach it.
///
/// A site-to-site link makes each site only as safe as the least safe machine on the other side, so
/// endpoints carry ordered permit/deny rules by remote prefix; the first matching rule wins and
/// traffic that matches no rule is denied.
public struct Endpoint: Sendable, Hashable, Encodable {
    public var name: String
    public var address: IPAddress
    public var transport: TransportProtocol
    /// The destination port (TCP and UDP only); nil means every port.
    public var port: UInt16?
    public var rules: [ACLRule]

    enum CodingKeys: String, CodingKey {
        case name, address
        case transport = "protocol"
        case port, rules
    }
}

/// The transport protocol an endpoint rule matches.
public enum TransportProtocol: String, Sendable, Hashable, Encodable, CaseIterable {
    case any, tcp, udp, icmp

    /// Whether a port number means anything for this protocol.
    public var hasPorts: Bool { self == .tcp || self == .udp }
}

/// One ACL rule: permit or deny traffic from a remote prefix (nil = any source).
public struct ACLRule: Sendable, Hashable, Encodable {
    public enum Action: String, Sendable, Hashable, Encodable, CaseIterable {
        case permit, deny
    }

    public var action: Action
    /// The source prefix; nil matches every source.
    public var remote: IPPrefix?
    public var description: String?

    public init(action: Action, remote: IPPrefix?, description: String? = nil) {
        self.action = action
        self.remote = remote
        self.description = description
    }

    /// Whether this rule matches every source an `other` rule matches.
    public func covers(_ other: ACLRule) -> Bool {
        guard let remote else { return true }
        guard let otherRemote = other.remote else { return false }
        return remote.contains(otherRemote)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(action, forKey: .action)
        try container.encode(remote?.description ?? "any", forKey: .remote)
        try container.encodeIfPresent(description, forKey: .description)
    }

    enum CodingKeys: String, CodingKey { case action, remote, description }
}
