/// Monotonic time as the protocol cores see it: a duration since an arbitrary origin chosen by the
/// I/O shell (tests inject their own). Cores never read a clock.
public typealias MonotonicTime = Duration

/// One structured state change. Logs, `status`, `diagnose`, metrics and the dashboard are all views
/// of these (docs/ARCHITECTURE.md, "Events").
public struct GatewayEvent: Sendable, Hashable, CustomStringConvertible {
    /// What kind of change this is; stable identifiers scripts can match on.
    public struct Kind: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
        public var rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        public static let ikeSAInitiating = Kind(rawValue: "ike-sa-initiating")
        public static let ikeSAEstablished = Kind(rawValue: "ike-sa-established")
        public static let ikeSARekeyed = Kind(rawValue: "ike-sa-rekeyed")
        public static let ikeSADeleted = Kind(rawValue: "ike-sa-deleted")
        public static let childSAInstalled = Kind(rawValue: "child-sa-installed")
        public static let childSARekeyed = Kind(rawValue: "child-sa-rekeyed")
        public static let childSADeleted = Kind(rawValue: "child-sa-deleted")
        public static let retransmit = Kind(rawValue: "retransmit")
        public static let peerNotAnswering = Kind(rawValue: "peer-not-answering")
        public static let proposalMismatch = Kind(rawValue: "proposal-mismatch")
        public static let authenticationFailed = Kind(rawValue: "authentication-failed")
        public static let trafficSelectorMismatch = Kind(rawValue: "traffic-selector-mismatch")
        public static let invalidKE = Kind(rawValue: "invalid-ke")
        public static let invalidSyntax = Kind(rawValue: "invalid-syntax")
        public static let natDetected = Kind(rawValue: "nat-detected")
        public static let livenessTimeout = Kind(rawValue: "liveness-timeout")
        public static let cookieRequested = Kind(rawValue: "cookie-requested")
        public static let messageDropped = Kind(rawValue: "message-dropped")
        public static let lifetimeChosen = Kind(rawValue: "lifetime-chosen")
        /// `isthmus reload` / SIGHUP changed (or added, removed) the connection's configuration.
        public static let configReloaded = Kind(rawValue: "config-reloaded")
        /// The connection's tunnel interface is up with its routes (or was changed by a reload).
        public static let dataPathReady = Kind(rawValue: "data-path-ready")
        /// The connection's interface or one of its routes could not be set up: it carries no traffic.
        public static let dataPathFailed = Kind(rawValue: "data-path-failed")
        /// The connection's interface or routes were removed (reload, exit).
        public static let dataPathRemoved = Kind(rawValue: "data-path-removed")
        /// The data-plane thread stopped or stalled: no connection carries traffic (the gateway exits).
        public static let dataplaneFailed = Kind(rawValue: "dataplane-failed")
        /// An authenticated message of a peer behind a NAT came from a new address or port: IKE and ESP
        /// follow it (RFC 7296 section 2.23).
        public static let peerMoved = Kind(rawValue: "peer-moved")
        /// The peer authenticated a new IKE SA carrying INITIAL_CONTACT (RFC 7296 2.4, RFC 2407 4.6.3.3): it
        /// restarted and holds no other SA with us, so the older IKE SAs of the connection are forgotten.
        public static let peerRestarted = Kind(rawValue: "peer-restarted")
        /// An older IKE SA of the connection gave way to a newer one (the peer restarted, or re-authenticated
        /// without INITIAL_CONTACT); `details["reason"]` says which.
        public static let ikeSAReplaced = Kind(rawValue: "ike-sa-replaced")
        /// A peer's request for another CHILD SA was refused: the IKE SA holds its maximum, or the peer reused
        /// an SPI (RFC 7296 NO_ADDITIONAL_SAS).
        public static let childSARefused = Kind(rawValue: "child-sa-refused")
        /// Our IKE_SA_INIT gave up after the peer's COOKIE or INVALID_KE_PAYLOAD answers went past their limit.
        public static let initiationFailed = Kind(rawValue: "initiation-failed")
        /// A remote gateway named by DNS resolved to a new set of addresses.
        public static let peerResolved = Kind(rawValue: "peer-resolved")
        /// A remote gateway named by DNS did not resolve: the connection cannot be initiated.
        public static let peerUnresolved = Kind(rawValue: "peer-unresolved")
        /// An endpoint ACL denied a packet leaving the tunnel (at most 10 reported a second).
        public static let aclDenied = Kind(rawValue: "acl-denied")
        /// A point-to-site client proved its user name and password with EAP-MSCHAPv2 (`details["user"]`).
        public static let clientAuthenticated = Kind(rawValue: "client-authenticated")
        /// A point-to-site client authenticated and got its virtual address (`identity`, `virtual_address`,
        /// `peer` in the details).
        public static let clientConnected = Kind(rawValue: "client-connected")
        /// A point-to-site client's IKE SA closed and its virtual address went back to the pool.
        public static let clientDisconnected = Kind(rawValue: "client-disconnected")
        /// A point-to-site client was refused; `reason` says why (`pool-exhausted`, `no-cp-request`).
        public static let clientRefused = Kind(rawValue: "client-refused")
        /// A point-to-site client asked for an address the pool never hands out (`requested`); it got one of
        /// the pool instead.
        public static let clientAddressRequestRefused = Kind(rawValue: "client-address-request-refused")
        /// The routing daemon (BIRD, which runs the BGP sessions) started, or took a new configuration.
        public static let routingDaemonStarted = Kind(rawValue: "routing-daemon-started")
        /// The routing daemon is missing, exited, or refused its configuration; `details["reason"]` says which.
        /// It is started again (backing off); tunnels are not touched.
        public static let routingDaemonFailed = Kind(rawValue: "routing-daemon-failed")
        /// The connection's BGP session reached Established (`details`: peer, peer AS, prefixes).
        public static let bgpSessionUp = Kind(rawValue: "bgp-session-up")
        /// The connection's BGP session left Established, or failed to come up; `details["last_error"]`.
        public static let bgpSessionDown = Kind(rawValue: "bgp-session-down")
        /// The peer announced prefixes outside the connection's accept list (or our own): dropped and
        /// counted (`details["filtered"]`, `details["prefixes"]`).
        public static let bgpPrefixRefused = Kind(rawValue: "bgp-prefix-refused")
    }

    public enum Severity: String, Sendable, Hashable {
        case info, notice, warning, error
    }

    /// When it happened (the core's injected time).
    public var time: MonotonicTime
    /// The connection's configured name.
    public var connection: String
    /// SA identifiers involved, as printed in logs (`ike 7a176b12…/044c583a…`, `esp 0x520462f0`).
    public var saIDs: [String]
    public var kind: Kind
    public var severity: Severity
    /// One human sentence: what happened, and for failures what to change.
    public var message: String
    /// Machine-readable details (algorithms, offered vs. wanted, addresses). Never key material.
    public var details: [String: String]

    public init(
        time: MonotonicTime, connection: String, saIDs: [String] = [], kind: Kind, severity: Severity = .info,
        message: String, details: [String: String] = [:]
    ) {
        self.time = time
        self.connection = connection
        self.saIDs = saIDs
        self.kind = kind
        self.severity = severity
        self.message = message
        self.details = details
    }

    /// The one-line human form: `connection [sa ids] kind: message`.
    public var description: String {
        let ids = saIDs.isEmpty ? "" : " [\(saIDs.joined(separator: " "))]"
        return "\(connection)\(ids) \(kind): \(message)"
    }
}
