import IsthmusGateway
import IsthmusIKEv2
import IsthmusIP
import Metrics
import NIOCore

/// How a ``GatewayDaemon`` listens and behaves; the defaults are the production ones.
public struct DaemonOptions: Sendable {
    /// The address to bind UDP on; nil: the gateway's `public_address`, or 0.0.0.0 when it has none.
    public var bindAddress: String?
    /// The IKE port (500); 0 picks a free port (tests).
    public var ikePort: Int
    /// The NAT-T port (4500); 0 picks a free port (tests).
    public var natPort: Int
    /// The control socket; nil: `/run/isthmus/<gateway name>.sock`.
    public var controlPath: String?
    /// How many recent events `logs`/`events` keep per connection (and for gateway-level events).
    public var eventCapacity: Int
    /// How long DELETE messages get to go out on shutdown.
    public var shutdownGrace: Duration
    /// Initiate every connection at start (gateways bring their tunnels up by themselves).
    public var initiateOnStart: Bool
    /// Most IKE SAs at once.
    public var maximumSessions: Int
    /// Bounds on half-open responder SAs, in all and per source address, and the IKEv2 COOKIE threshold
    /// (`isthmus run --half-open-limit`, `--half-open-per-source`, `--cookie-threshold`).
    public var halfOpenLimits = HalfOpenLimits.standard
    /// Log lines (and event records) that come once per packet (drops, COOKIE challenges, new responders,
    /// events of half-open SAs): at most this many per kind and in all per second; the rest are summed up
    /// once a second (``LogRateLimiter``). Real tunnels' state changes are never held back.
    public var floodLogLimiter = LogRateLimiter()
    /// Whether and how the userspace ESP data plane runs (``DataPathMode``); `.none` in tests.
    public var dataPath: DataPathMode
    /// The MTU of the path between the gateways: inner packets that would not fit in it once
    /// encapsulated are refused with ICMP "too big" when they forbid fragmentation, and TCP MSS is
    /// clamped to fit.
    public var pathMTU: Int
    /// A control connection that sends nothing for this long is closed (a client that connected and went
    /// quiet must not hold one of the few slots); `logs --follow` readers are exempt.
    public var controlIdleTimeout: Duration
    /// Where the daemon emits its metrics (``GatewayMetrics``); nil: no metrics. The CLI's `run --metrics`
    /// bootstraps swift-metrics with a Prometheus factory and passes `MetricsSystem.factory`; tests may
    /// pass a private one.
    public var metrics: (any MetricsFactory)?
    /// How often gauges and the `status` counters (IKE, data plane) are synced into ``metrics``.
    public var metricsSyncInterval: Duration
    /// Where the daemon records what the remote gateways named by DNS resolved to; give the same book to
    /// ``IKESessions/factories(config:ikePort:initialContact:peers:)``.
    public var peers = PeerAddressBook()
    /// The point-to-site address pool; give the same one to
    /// ``IKESessions/factories(config:ikePort:initialContact:peers:clientPools:)`` (`status` reads it).
    public var clientPools = ClientAddressPools()
    /// The configuration file (as given to `isthmus run`) and where each of its values was written
    /// (``ConfigLoadResult/positions``): `diagnose` names `FILE:LINE` in its fixes. Nil: no file.
    public var configFile: String?
    public var configPositions: [String: SourceLocation] = [:]
    /// The BIRD binary that runs the BGP sessions (`isthmus run --bird`); nil: `bird` on PATH, else
    /// /usr/sbin/bird.
    public var birdExecutable: String?

    public init(
        bindAddress: String? = nil, ikePort: Int = 500, natPort: Int = 4500, controlPath: String? = nil,
        eventCapacity: Int = 1000, shutdownGrace: Duration = .seconds(1), initiateOnStart: Bool = true,
        maximumSessions: Int = 10_000, dataPath: DataPathMode = .none, pathMTU: Int = 1500,
        controlIdleTimeout: Duration = .seconds(30),
        metrics: (any MetricsFactory)? = nil, metricsSyncInterval: Duration = .seconds(1)
    ) {
        self.bindAddress = bindAddress
        self.ikePort = ikePort
        self.natPort = natPort
        self.controlPath = controlPath
        self.eventCapacity = eventCapacity
        self.shutdownGrace = shutdownGrace
        self.initiateOnStart = initiateOnStart
        self.maximumSessions = maximumSessions
        self.dataPath = dataPath
        self.pathMTU = pathMTU
        self.controlIdleTimeout = controlIdleTimeout
        self.metrics = metrics
        self.metricsSyncInterval = metricsSyncInterval
    }

    /// The default control socket of a gateway: `/run/isthmus/NAME.sock`.
    public static func defaultControlPath(gatewayName: String) -> String {
        "/run/isthmus/\(gatewayName).sock"
    }
}

/// Whether and how the daemon carries traffic.
public enum DataPathMode: Sendable, Hashable {
    /// No data plane: CHILD SAs are negotiated and listed, ESP is counted and dropped (`--no-data-plane`).
    case none
    /// The daemon creates its interfaces and routes (``DataPathPlan``): what `isthmus run` does.
    case managed
    /// Every connection on this one TUN device, whose address and routes are the user's (`--tun NAME`).
    case tun(String)
}

/// An ESP-in-UDP packet received on the NAT-T port (RFC 3948), ESP header first.
public struct ESPPacket: Sendable {
    public var spi: UInt32
    /// The ESP packet from its SPI on; no copy was made.
    public var bytes: ByteBuffer
    public var source: UDPEndpoint
    public var destination: UDPEndpoint
}
