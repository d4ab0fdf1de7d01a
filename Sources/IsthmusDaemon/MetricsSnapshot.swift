import IsthmusDataplane
import IsthmusIKE
import NIOCore

/// What ``GatewayMetrics/sync(_:configured:)`` reads each second: counts and counters, not a `status` answer.
/// At 10,000 tunnels the status answer (every IKE SA's and CHILD SA's text) took about 170 ms to build, and the
/// once-a-second sync was then the daemon's whole idle cost; the snapshot walks the same tables without
/// formatting anything.
struct MetricsSnapshot: Equatable {
    /// IKE SAs per connection and state.
    var ikeSAs: [ConnectionState: Int] = [:]
    /// CHILD SAs in the daemon's table per connection.
    var childSAs: [String: Int] = [:]
    var counters: Counters?
    var dataplane: DataplaneCounters?
    var acl: [ACLRuleStatus]?
    var pointToSite: PointToSite?
    /// BGP connections' sessions as BIRD last reported them (absent: not reported yet), and whether BIRD runs
    /// (nil: no BGP in the configuration).
    var bgp: [String: BGPSessionStatus?] = [:]
    var routingDaemonUp: Bool?

    struct ConnectionState: Hashable {
        var connection: String
        var state: IKESAState
    }

    struct PointToSite: Equatable {
        var size: Int
        var inUse: Int
        /// Connected clients' identities (IKE SAs not closed that hold a virtual address).
        var clients: [String]
    }

    init() {}

    /// The snapshot of a `status` answer (what the daemon counted before there was a snapshot; tests build
    /// their figures this way).
    init(_ status: ControlResponse) {
        for connection in status.connections ?? [] {
            for sa in connection.ikeSAs {
                ikeSAs[ConnectionState(connection: connection.name, state: sa.state), default: 0] += 1
            }
        }
        for child in status.childSAs ?? [] { childSAs[child.connection, default: 0] += 1 }
        counters = status.counters
        dataplane = status.dataplane
        acl = status.acl
        pointToSite = status.pointToSite.map {
            PointToSite(size: $0.size, inUse: $0.inUse, clients: $0.clients.map(\.identity))
        }
        for connection in status.connections ?? [] where connection.bgp != nil { bgp[connection.name] = connection.bgp }
        routingDaemonUp = status.routingDaemon.map { $0.state == "running" }
    }
}

extension DaemonState {
    /// Syncs gauges and counters into ``metrics`` now and every ``DaemonOptions/metricsSyncInterval``
    /// (nothing when metrics are off): the data plane's packet counters reach swift-metrics here, never
    /// per packet.
    func scheduleMetricsSync() {
        guard metrics != nil else { return }
        syncMetrics()
        let interval = Self.timeAmount(options.metricsSyncInterval)
        let bound = NIOLoopBound(self, eventLoop: eventLoop)
        eventLoop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { task in
            let state = bound.value
            guard state.shutdownFuture == nil else {
                task.cancel()
                return
            }
            state.syncMetrics()
        }
    }

    /// Brings the metrics up to date with the figures `status` would show now.
    func syncMetrics() {
        guard let metrics else { return }
        metrics.sync(metricsSnapshot(), configured: config.connections.map(\.name))
    }

    /// The figures ``status()`` would give the metrics, counted straight from the tables.
    func metricsSnapshot() -> MetricsSnapshot {
        var snapshot = MetricsSnapshot()
        var clients: [String] = []
        dispatcher.forEachSession { session in
            guard !dispatcher.isUnprovenHalfOpen(session) else { return }
            let summary = session.summary
            snapshot.ikeSAs[.init(connection: session.connectionName, state: summary.state), default: 0] += 1
            if summary.state != .closed, let client = summary.client,
                session.connectionName == PointToSiteSessions.connectionName
            {
                clients.append(client)
            }
        }
        for entry in childSAs.values { snapshot.childSAs[entry.summary.connection, default: 0] += 1 }
        snapshot.counters = ikeCounters()
        snapshot.dataplane = dataplane?.counters
        if let plane = snapshot.dataplane { snapshot.acl = EndpointACL.status(config.endpoints, hits: plane.aclHits) }
        if let settings = config.gateway.pointToSite {
            let pool = options.clientPools.pool?.snapshot ?? AddressPool(prefix: settings.addressPool)
            snapshot.pointToSite = .init(size: pool.size, inUse: pool.inUse, clients: clients)
        }
        for (connection, _) in config.bgpConnections {
            snapshot.bgp[connection.name] = .some(routing?.session(of: connection.name))
        }
        if !config.bgpConnections.isEmpty { snapshot.routingDaemonUp = routing?.health.running ?? false }
        return snapshot
    }
}
