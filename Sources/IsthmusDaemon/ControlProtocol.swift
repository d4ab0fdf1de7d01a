#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif
import IsthmusDataplane
import IsthmusIKEv2

/// One control request: a JSON object on one line.
public struct ControlRequest: Sendable, Codable, Hashable {
    /// `status`, `up`, `down`, `logs`, `events` (the same as `logs` without `follow`), `reload` or `diagnose`.
    public var command: String
    /// The connection for `up`, `down` and (optionally) `logs`/`events`/`diagnose`.
    public var connection: String?
    /// `logs`: after the one-line answer (the history), keep the connection open and send each new event as
    /// one more line: an ``EventRecord``, or a ``FollowNotice``.
    public var follow: Bool?

    public init(command: String, connection: String? = nil, follow: Bool? = nil) {
        self.command = command
        self.connection = connection
        self.follow = follow
    }
}

/// A line on a followed `logs` connection that is not an event.
public struct FollowNotice: Sendable, Codable, Hashable {
    /// This many events were not sent because the reader fell behind (the server keeps a bounded backlog
    /// per follower, ``ControlCodec/followerBacklogBytes``); the events after this line are sent again.
    public var dropped: Int?
    /// The gateway is shutting down; the server closes the connection after this line.
    public var stopped: Bool?

    public init(dropped: Int? = nil, stopped: Bool? = nil) {
        self.dropped = dropped
        self.stopped = stopped
    }
}

/// One control response: `{"ok":true,...}` or `{"ok":false,"error":"..."}` on one line.
public struct ControlResponse: Sendable, Codable, Hashable {
    public var ok: Bool
    public var error: String?
    /// A human sentence for `up`/`down`.
    public var message: String?
    /// `status`: the gateway's name, uptime, listening ports, connections, CHILD SAs and counters.
    public var gateway: String?
    public var uptimeSeconds: Int64?
    public var listening: ListeningPorts?
    public var connections: [ConnectionStatus]?
    public var childSAs: [InstalledChildSA]?
    public var counters: Counters?
    /// `status` with a data plane: the ESP data plane's counters.
    public var dataplane: DataplaneCounters?
    /// `status` with a data plane: every endpoint ACL rule and how many packets it decided.
    public var acl: [ACLRuleStatus]?
    /// `logs`/`events`: the history (one connection's, or every connection's merged), oldest first.
    public var events: [EventRecord]?
    /// `down`: how many IKE SAs were told to terminate.
    public var terminated: Int?
    /// `reload`: what happened to each connection.
    public var reloaded: [ConnectionReload]?
    /// A refused `reload`: why, one sentence each (the `check` messages of the new file).
    public var diagnostics: [String]?
    /// `diagnose`: the verdict per connection (the one asked for, or all).
    public var diagnoses: [ConnectionDiagnosis]?
    /// `status`: the point-to-site pool and its connected clients (nil without point_to_site).
    public var pointToSite: PointToSiteStatus?
    /// `status` of a gateway with BGP connections: the routing daemon (BIRD) that runs their sessions.
    public var routingDaemon: RoutingDaemonStatus?

    public init(ok: Bool, error: String? = nil, message: String? = nil) {
        self.ok = ok
        self.error = error
        self.message = message
    }

    public static func failure(_ error: String) -> ControlResponse { ControlResponse(ok: false, error: error) }
}

/// The UDP ports the daemon listens on.
public struct ListeningPorts: Sendable, Codable, Hashable {
    public var address: String
    public var ike: Int
    public var nat: Int
}

/// One configured connection and its IKE SAs.
public struct ConnectionStatus: Sendable, Codable, Hashable {
    public var name: String
    /// `static` or `dynamic`.
    public var kind: String
    public var ikeVersion: Int
    /// The peer's public address (nil for a session whose connection is not configured).
    public var remoteAddress: String?
    public var ikeSAs: [IKESAStatus]
    /// Where the pre-shared key comes from: `file:PATH` or `inline` (never the key itself).
    public var sharedKey: String?
    /// When the key file was last written (`isthmus key rotate`), seconds since the Unix epoch; nil for an
    /// inline key or a file that cannot be examined.
    public var keyLastRotated: Int64?
    /// Whether the key file was written after the gateway read it: the running gateway still uses the
    /// old key until `isthmus reload`.
    public var keyChangedSinceStart: Bool?
    /// The connection's interface and routes (nil without a data plane).
    public var dataPath: ConnectionDataPath?
    /// A connection without an established IKE SA: its latest failure (nil when none was recorded since it
    /// was last up).
    public var lastFailure: EventRecord?
    /// A connection without an established IKE SA: seconds until the gateway initiates it again (nil when
    /// no attempt is planned: it is negotiating, was taken down, or waits for the peer).
    public var nextAttemptSeconds: Int64?
    /// A BGP connection's session, as BIRD last reported it (nil for a connection without BGP).
    public var bgp: BGPSessionStatus?

    enum CodingKeys: String, CodingKey {
        case name, kind, ikeVersion, remoteAddress, ikeSAs, sharedKey, keyLastRotated, keyChangedSinceStart, dataPath
        case lastFailure, nextAttemptSeconds, bgp
    }

    /// As the synthesized encoding (absent keys for nil values), except that a connection without an
    /// established IKE SA always has `lastFailure` and `nextAttemptSeconds`, null when there is none.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(name, forKey: .name)
        try container.encode(kind, forKey: .kind)
        try container.encode(ikeVersion, forKey: .ikeVersion)
        try container.encodeIfPresent(remoteAddress, forKey: .remoteAddress)
        try container.encode(ikeSAs, forKey: .ikeSAs)
        try container.encodeIfPresent(sharedKey, forKey: .sharedKey)
        try container.encodeIfPresent(keyLastRotated, forKey: .keyLastRotated)
        try container.encodeIfPresent(keyChangedSinceStart, forKey: .keyChangedSinceStart)
        try container.encodeIfPresent(dataPath, forKey: .dataPath)
        try container.encodeIfPresent(bgp, forKey: .bgp)
        if ikeSAs.contains(where: { $0.state == .established || $0.state == .rekeying }) {
            try container.encodeIfPresent(lastFailure, forKey: .lastFailure)
            try container.encodeIfPresent(nextAttemptSeconds, forKey: .nextAttemptSeconds)
        } else {
            try container.encode(lastFailure, forKey: .lastFailure)
            try container.encode(nextAttemptSeconds, forKey: .nextAttemptSeconds)
        }
    }
}

/// One endpoint ACL rule and the packets it decided; `rule` is its position (1-based), or `no-match`
/// (denied: no rule matched) or `replies` (let through as replies to the site's own connections).
public struct ACLRuleStatus: Sendable, Codable, Hashable {
    public var endpoint: String
    public var rule: String
    public var action: String
    public var remote: String
    public var description: String?
    public var hits: UInt64
}

/// The routing daemon as `status` shows it.
public struct RoutingDaemonStatus: Sendable, Codable, Hashable {
    /// `running` or `error`.
    public var state: String
    public var pid: Int32?
    public var error: String?
    /// BIRD's configuration file, written from the YAML.
    public var config: String?
    /// The sessions with `gateway.bgp.neighbors`, by neighbor name.
    public var neighbors: [String: BGPSessionStatus]?
}

/// A connection's interface and routes, as `status` shows them.
public struct ConnectionDataPath: Sendable, Codable, Hashable {
    public var interface: String?
    public var mtu: Int?
    /// The remote prefixes routed into the interface.
    public var routes: [String]
    /// Its inner addresses (BGP connections: routes come from the peer).
    public var addresses: [String]?
    /// `up`, or `error`: the connection carries no traffic (see `error`).
    public var state: String
    public var error: String?
}

/// A CHILD SA the cores asked to install, as kept by the default CHILD SA table (no key material).
public struct InstalledChildSA: Sendable, Codable, Hashable {
    public var connection: String
    public var inboundSPI: String
    public var outboundSPI: String
    public var algorithms: String
    public var localSelectors: [String]
    public var remoteSelectors: [String]
    public var local: String
    public var remote: String
    public var udpEncapsulated: Bool
    public var installedSecondsAgo: Int64
}

/// Datagram counters since start.
public struct Counters: Sendable, Codable, Hashable {
    public var datagramsIn = 0
    public var datagramsOut = 0
    public var sendErrors = 0
    public var natKeepalives = 0
    public var espPackets = 0
    /// Inbound datagrams dropped, by reason (``IKEDropReason`` raw values and `invalid-nat-t`).
    public var dropped: [String: Int] = [:]
    public var ikeSAs = 0
    /// Half-open responder SAs and what the flood protections did (nil from an older daemon).
    public var halfOpen: HalfOpenStatus?

    public init() {}
}

/// `status` counters of half-open SAs (first message received, not yet authenticated) and of the
/// protections against floods of first messages.
public struct HalfOpenStatus: Sendable, Codable, Hashable {
    /// Half-open SAs now, and those of them whose peer has not yet shown it receives at its address.
    public var current = 0
    public var unproven = 0
    /// The most half-open SAs one address holds now.
    public var maximumPerSource = 0
    /// The limits in force.
    public var limit = 0
    public var perSourceLimit = 0
    public var cookieThreshold = 0
    /// New SA requests from an address at its limit (IKEv2: asked for a COOKIE or let in by one; IKEv1: its
    /// oldest half-open SA gave way).
    public var perSourceLimitHits = 0
    /// Half-open SAs removed to make room for newer ones.
    public var evictions = 0
    /// IKEv2 COOKIE answers sent (RFC 7296 section 2.6).
    public var cookiesSent = 0
    /// Per-packet log lines held back by the flood limiter (summed up once a second instead).
    public var logLinesSuppressed = 0

    public init() {}
}

/// JSON encoding and decoding of control messages, one line each.
public enum ControlCodec {
    /// Longest request line the server accepts (64 KiB).
    public static let maximumRequestBytes = 64 * 1024
    /// Longest response line the client accepts (16 MiB).
    public static let maximumResponseBytes = 16 * 1024 * 1024
    /// Bytes a `logs --follow` connection may have waiting to be written before further events are
    /// dropped for it (and counted in a ``FollowNotice``): a reader that is slow or never reads costs the
    /// daemon at most this much, plus one event, and never blocks it.
    public static let followerBacklogBytes = 256 * 1024

    /// Encodes `value` as one line of JSON without the newline.
    public static func encode<T: Encodable>(_ value: T) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        do {
            return Array(try encoder.encode(value))
        } catch {
            return Array(#"{"error":"cannot encode the response","ok":false}"#.utf8)
        }
    }

    /// Decodes one JSON line, or nil when it is not the expected object.
    public static func decode<T: Decodable>(_ type: T.Type, from bytes: [UInt8]) -> T? {
        try? JSONDecoder().decode(type, from: Data(bytes))
    }
}
