import IsthmusCrypto
import IsthmusEvents
import IsthmusIKE
import IsthmusIP

/// A site-to-site connection: this gateway's site <-> one remote site (a ``LocalNetwork``).
public struct Connection: Sendable, Hashable, Encodable {
    public var name: String
    /// The remote site, by name.
    public var localNetwork: String
    /// Policy-based (static) or route-based (dynamic).
    public var kind: GatewayKind
    public var ikeVersion: IKEVersion
    public var sharedKey: SharedKey
    /// IKE SA (IKEv1 phase 1) proposals, most preferred first.
    public var ike: ProposalList
    /// CHILD SA (IKEv1 phase 2) proposals, most preferred first.
    public var esp: ProposalList
    public var lifetimes: Lifetimes
    public var deadPeerDetection: DeadPeerDetection
    public var natTraversal: NATTraversalMode
    /// Largest IKE message sent whole; larger protected IKEv2 messages are fragmented (RFC 7383) when
    /// the peer supports it.
    public var fragmentSize: Int = Connection.defaultFragmentSize
    /// Our IKE identity (YAML `local_id`, strongSwan's notation); nil: the gateway's public address.
    public var localIdentity: IKEIdentity?
    /// The identity the peer must authenticate as (YAML `remote_id`); nil: its gateway's address.
    public var remoteIdentity: IKEIdentity?
    /// The name of a route-based connection's own tunnel interface (YAML `interface:`); nil: derived from
    /// the remote site's name (``TunnelInterfaceName/of(_:gateway:)``). Policy-based connections share the
    /// gateway's (``GatewaySettings/interface``).
    public var interface: String?
    /// How the two ends authenticate (YAML `auth:`): the pre-shared key, or certificates.
    public var authentication = ConnectionAuthentication.psk
    /// BGP over the tunnel (YAML `bgp:`); nil: the local network's prefixes are static routes.
    public var bgp: ConnectionBGP?

    /// strongSwan's default: fits IPv6's minimum MTU (1280) with room for the headers.
    public static let defaultFragmentSize = 1280
    /// Accepted range: IPv4's minimum reassembly size (576) up to the largest UDP payload.
    public static let fragmentSizeRange = 576...65_535

    public init(
        name: String, localNetwork: String, kind: GatewayKind, ikeVersion: IKEVersion, sharedKey: SharedKey,
        ike: ProposalList, esp: ProposalList, lifetimes: Lifetimes, deadPeerDetection: DeadPeerDetection,
        natTraversal: NATTraversalMode
    ) {
        self.name = name
        self.localNetwork = localNetwork
        self.kind = kind
        self.ikeVersion = ikeVersion
        self.sharedKey = sharedKey
        self.ike = ike
        self.esp = esp
        self.lifetimes = lifetimes
        self.deadPeerDetection = deadPeerDetection
        self.natTraversal = natTraversal
    }

    enum CodingKeys: String, CodingKey {
        case name
        case localNetwork = "local_network"
        case kind
        case ikeVersion = "ike_version"
        case sharedKey = "shared_key"
        case ike, esp
        case lifetimes = "lifetime"
        case deadPeerDetection = "dpd"
        case natTraversal = "nat_traversal"
        case fragmentSize = "fragment_size"
        case interface
        case localIdentity = "local_id"
        case remoteIdentity = "remote_id"
        case authentication = "auth"
        case bgp
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(name, forKey: .name)
        try container.encode(localNetwork, forKey: .localNetwork)
        try container.encode(kind, forKey: .kind)
        try container.encode(ikeVersion, forKey: .ikeVersion)
        if sharedKey.source != .none { try container.encode(sharedKey, forKey: .sharedKey) }
        try container.encode(ike.proposals.map(\.description), forKey: .ike)
        try container.encode(esp.proposals.map(\.description), forKey: .esp)
        try container.encode(lifetimes, forKey: .lifetimes)
        try container.encode(deadPeerDetection, forKey: .deadPeerDetection)
        try container.encode(natTraversal, forKey: .natTraversal)
        if fragmentSize != Self.defaultFragmentSize { try container.encode(fragmentSize, forKey: .fragmentSize) }
        try container.encodeIfPresent(interface, forKey: .interface)
        try container.encodeIfPresent(localIdentity?.description, forKey: .localIdentity)
        try container.encodeIfPresent(remoteIdentity?.description, forKey: .remoteIdentity)
        if authentication != .psk { try container.encode(authentication, forKey: .authentication) }
        try container.encodeIfPresent(bgp, forKey: .bgp)
    }

    /// The proposals used when a connection names none: strong, and accepted by strongSwan's defaults.
    public static func defaultProposals(_ proto: ProposalProtocol, version: IKEVersion) -> ProposalList {
        let text: String
        switch (proto, version) {
        case (.ike, .v2): text = "aes256gcm16-prfsha256-ecp256-modp2048, aes256-sha256-ecp256-modp2048"
        case (.esp, .v2): text = "aes256gcm16, aes256-sha256"
        case (.ike, .v1): text = "aes256-sha256-modp2048, aes256-sha1-modp2048"
        case (.esp, .v1): text = "aes256-sha256, aes256-sha1"
        }
        do {
            return try ProposalList(parsing: [text], for: proto, version: version)
        } catch {
            preconditionFailure("built-in default proposal does not parse: \(error)")
        }
    }
}

/// Where a connection's pre-shared key comes from. The key itself never appears in any output.
public struct SharedKey: Sendable, Hashable, Encodable, CustomStringConvertible {
    public enum Source: Sendable, Hashable {
        /// Written in the configuration file.
        case inline
        /// Read from a file (`file:PATH`); the path as written.
        case file(String)
        /// None: the connection authenticates with certificates (`auth: certificate`) and has no key.
        case none
    }

    public let source: Source
    /// For a key file: where it was read from and when it had last been written (see ``KeyFileOrigin``).
    public let origin: KeyFileOrigin?
    /// The key's bytes (UTF-8 of the text, trailing newline of a key file removed).
    private let material: [UInt8]

    public init(source: Source, material: [UInt8], origin: KeyFileOrigin? = nil) {
        self.source = source
        self.material = material
        self.origin = origin
    }

    /// No key: a connection that authenticates with certificates.
    public static let none = SharedKey(source: .none, material: [])

    /// The key, for the IKE layer only.
    public func withMaterial<T>(_ body: ([UInt8]) throws -> T) rethrows -> T { try body(material) }

    /// The key length in characters (bytes).
    public var length: Int { material.count }

    public var description: String {
        switch source {
        case .inline: "inline key (\(material.count) characters, redacted)"
        case .file(let path): "file:\(path) (\(material.count) characters, redacted)"
        case .none: "none (certificates)"
        }
    }

    /// Encodes the source only: `file:PATH`, or a redaction marker for an inline key.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch source {
        case .inline: try container.encode("<redacted inline key>")
        case .file(let path): try container.encode("file:\(path)")
        case .none: try container.encodeNil()
        }
    }
}

/// The key file a ``SharedKey`` was read from, as the loader found it.
public struct KeyFileOrigin: Sendable, Hashable {
    /// The path resolved against the configuration's folder (what `file:PATH` names).
    public var path: String
    /// The file's modification time when it was read (seconds since the Unix epoch): when its key was
    /// written, i.e. last rotated. A later time on disk means the file changed after it was loaded.
    public var modified: Int64?
    /// The file and write it was read from (``KeyFile/Info/version``): a different one on disk means the
    /// file was replaced or written after it was loaded, even within the same second.
    public var version: KeyFile.Info.Version?

    public init(path: String, modified: Int64?, version: KeyFile.Info.Version? = nil) {
        self.path = path
        self.modified = modified
        self.version = version
    }
}

/// SA lifetimes. IKE lifetimes are in seconds; CHILD SAs expire by time or by volume, whichever first.
public struct Lifetimes: Sendable, Hashable, Encodable {
    public var ike: Duration
    public var esp: Duration
    /// Volume limit of an ESP SA in kilobytes (1 KB = 1024 bytes, as IKEv1's lifetime attribute counts).
    public var espKilobytes: UInt64?

    public init(ike: Duration, esp: Duration, espKilobytes: UInt64?) {
        self.ike = ike
        self.esp = esp
        self.espKilobytes = espKilobytes
    }

    /// The cloud gateways' documented defaults: IKE 8 h (28800 s), ESP 1 h (3600 s) or 102400000 KB.
    public static let `default` = Lifetimes(ike: .seconds(28800), esp: .seconds(3600), espKilobytes: 102_400_000)

    /// Shortest and longest IKE SA lifetime `check` accepts. The shortest still leaves the rekey (at 85-90 %)
    /// more than ten seconds after the SA came up; lifetime tests on the wire run at it.
    public static let ikeRange: ClosedRange<Duration> = .seconds(2 * 60) ... .seconds(24 * 3600)
    /// Shortest and longest ESP SA lifetime `check` accepts.
    public static let espRange: ClosedRange<Duration> = .seconds(60) ... .seconds(24 * 3600)
    /// Below these, `check` warns: such SAs rekey every few minutes, which suits tests, not production.
    public static let shortIKELifetime: Duration = .seconds(5 * 60)
    public static let shortESPLifetime: Duration = .seconds(2 * 60)
    /// Smallest ESP volume lifetime: below this an SA rekeys several times a second at line rate.
    public static let minimumESPKilobytes: UInt64 = 1024

    enum CodingKeys: String, CodingKey {
        case ike, esp
        case espKilobytes = "esp_size"
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(ike.configText, forKey: .ike)
        try container.encode(esp.configText, forKey: .esp)
        if let espKilobytes { try container.encode("\(espKilobytes)KB", forKey: .espKilobytes) }
    }
}

/// Liveness checks: IKEv2 empty INFORMATIONAL (RFC 7296 section 2.4) or IKEv1 DPD (RFC 3706).
public struct DeadPeerDetection: Sendable, Hashable, Encodable {
    public enum Action: String, Sendable, Hashable, Encodable, CaseIterable {
        /// Delete the SAs and initiate again.
        case restart
        /// Delete the SAs and wait for the peer.
        case clear
        /// No liveness checks at all.
        case none
    }

    /// Idle time before a liveness check is sent.
    public var interval: Duration
    /// How long without an answer before the peer is declared dead.
    public var timeout: Duration
    public var action: Action

    public static let `default` = DeadPeerDetection(interval: .seconds(30), timeout: .seconds(150), action: .restart)

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(interval.configText, forKey: .interval)
        try container.encode(timeout.configText, forKey: .timeout)
        try container.encode(action, forKey: .action)
    }

    enum CodingKeys: String, CodingKey { case interval, timeout, action }
}

/// NAT traversal (RFC 3947 for IKEv1, RFC 7296 section 2.23 for IKEv2).
public enum NATTraversalMode: String, Sendable, Hashable, Encodable, CaseIterable {
    /// Detect NAT and float to UDP 4500 with UDP-encapsulated ESP only when one is found.
    case auto
    /// Always encapsulate ESP in UDP, even without NAT (for firewalls that drop IP protocol 50).
    case force
}
