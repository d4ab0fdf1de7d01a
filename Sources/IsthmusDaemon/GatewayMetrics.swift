import IsthmusDataplane
import IsthmusESP
import IsthmusEvents
import IsthmusIKE
import Metrics

/// The daemon's metrics, emitted through the swift-metrics API (`isthmus run --metrics` serves them as
/// Prometheus text). Not a second bookkeeping: counters of events come from the same ``GatewayEvent``s
/// the log and `events` show (``observe(_:)``), everything else from the figures `status` also shows, counted
/// into a ``MetricsSnapshot`` (``sync(_:configured:)``), whose cumulative counters are turned into increments by
/// the delta since the last sync. The data plane counts packets on its own thread; nothing here runs per packet.
///
/// Labels are connection names, states, reasons, kinds and directions only: never SPIs or key material.
/// Confined to the daemon's event loop, like ``DaemonState``.
final class GatewayMetrics {
    /// The metric names (Prometheus conventions: `_total` for counters, `_bytes` for byte counts).
    enum Name {
        /// Gauge: IKE SAs per connection and state (`established`, `deleting`, `rekeying`, ...).
        static let ikeSAs = "isthmus_ike_sas"
        /// Gauge: CHILD SAs installed per connection (the `status` CHILD SA table).
        static let childSAs = "isthmus_child_sas"
        /// Gauge: SA pairs installed in the data plane's ESP engine.
        static let dataplaneSAPairs = "isthmus_dataplane_sa_pairs"
        /// Gauge: 1 while the data-plane thread runs, 0 once it stopped.
        static let dataplaneUp = "isthmus_dataplane_up"
        /// Counters: IKE SA and CHILD SA rekeys per connection.
        static let ikeRekeys = "isthmus_ike_sa_rekeys_total"
        static let childRekeys = "isthmus_child_sa_rekeys_total"
        /// Counter: failures per connection and reason (the failure event kinds).
        static let failures = "isthmus_failures_total"
        /// Counter: every event per connection and kind.
        static let events = "isthmus_events_total"
        /// Counters: IKE datagrams per direction, inbound IKE datagrams dropped per reason, failed sends.
        static let ikeDatagrams = "isthmus_ike_datagrams_total"
        static let ikeDrops = "isthmus_ike_drops_total"
        static let ikeSendErrors = "isthmus_ike_send_errors_total"
        /// Counter: NAT-T keepalives received.
        static let natKeepalives = "isthmus_nat_keepalives_received_total"
        /// Counters: ESP packets and ESP bytes the data plane sent (`out`) and accepted (`in`).
        static let espPackets = "isthmus_esp_packets_total"
        static let espBytes = "isthmus_esp_bytes_total"
        /// Counters: inner packets and inner (plaintext) bytes per connection and direction, over every SA the
        /// connection had.
        static let connectionPackets = "isthmus_connection_packets_total"
        static let connectionBytes = "isthmus_connection_bytes_total"
        /// Counter: packets the data plane dropped per reason (`replayed`, `too-old`, `integrity-failure`,
        /// `unknown-spi`, `no-policy`, ..., ESPDropReason's names and the data plane's own).
        static let dataplaneDrops = "isthmus_dataplane_drops_total"
        static let aclHits = "isthmus_acl_hits_total"
        /// Gauges: half-open IKE SAs (and the most from one address); counters: what the flood protections did.
        static let halfOpenSAs = "isthmus_ike_half_open_sas"
        static let halfOpenPerSource = "isthmus_ike_half_open_max_per_source"
        static let halfOpenEvictions = "isthmus_ike_half_open_evictions_total"
        static let halfOpenSourceLimit = "isthmus_ike_half_open_source_limit_total"
        static let cookiesSent = "isthmus_ike_cookies_sent_total"
        static let logLinesSuppressed = "isthmus_log_lines_suppressed_total"
        /// Gauges: connected point-to-site clients; the pool's size and the addresses leased to connected ones.
        static let clients = "isthmus_p2s_clients"
        static let poolSize = "isthmus_p2s_pool_addresses"
        static let poolInUse = "isthmus_p2s_pool_addresses_in_use"
        /// Counter: inner bytes per point-to-site client identity and direction, for the first
        /// ``GatewayMetrics/maximumClientSeries`` identities seen (the label set stays bounded); every client's
        /// traffic is also in `isthmus_connection_bytes_total{connection="point-to-site"}`.
        static let clientBytes = "isthmus_p2s_client_bytes_total"
    }

    /// Most client identities that get series of their own (``Name/clientBytes``).
    static let maximumClientSeries = 64

    /// The event kinds counted as failures, by their stable identifiers.
    static let failureKinds: Set<String> = [
        GatewayEvent.Kind.proposalMismatch, .authenticationFailed, .trafficSelectorMismatch, .invalidKE,
        .invalidSyntax, .peerNotAnswering, .livenessTimeout, GatewayEvent.Kind(rawValue: "aggressive-mode-refused"),
    ].reduce(into: []) { $0.insert($1.rawValue) }

    /// One time series: a metric name and its labels in a fixed order.
    struct Series: Hashable {
        var name: String
        var labels: [String]
        var values: [String]

        var dimensions: [(String, String)] { Array(zip(labels, values)) }
    }

    private let factory: any MetricsFactory
    private var counters: [Series: Counter] = [:]
    private var gauges: [Series: Meter] = [:]
    /// The cumulative value each synced counter had at the last sync.
    private var synced: [Series: UInt64] = [:]
    /// Gauge series set at the last sync; those missing from the next one are set to 0.
    private var gaugesSet: Set<Series> = []
    /// Connections whose failure and rekey series exist (at 0 until something happens).
    private var initialised: Set<String> = []
    /// Client identities with series of their own (at most ``maximumClientSeries``).
    private var clientSeries: Set<String> = []

    init(factory: any MetricsFactory) {
        self.factory = factory
    }

    // MARK: Events

    /// Counts one event: every kind, failures by reason, and rekeys.
    func observe(_ event: GatewayEvent) {
        let connection = event.connection
        let kind = event.kind.rawValue
        increment(Series(name: Name.events, labels: ["connection", "kind"], values: [connection, kind]))
        if Self.failureKinds.contains(kind) {
            increment(Series(name: Name.failures, labels: ["connection", "reason"], values: [connection, kind]))
        }
        switch event.kind {
        case .ikeSARekeyed:
            increment(Series(name: Name.ikeRekeys, labels: ["connection"], values: [connection]))
        case .childSARekeyed:
            increment(Series(name: Name.childRekeys, labels: ["connection"], values: [connection]))
        default:
            break
        }
    }

    // MARK: Status

    /// Brings gauges and synced counters up to date with a `status` answer.
    func sync(_ status: ControlResponse, configured: [String] = []) {
        sync(MetricsSnapshot(status), configured: configured)
    }

    /// Brings gauges and synced counters up to date with the daemon's figures.
    ///
    /// - Parameter configured: connection names that always have an `established` series (0 when down).
    func sync(_ status: MetricsSnapshot, configured: [String] = []) {
        // Series exist from the start (at 0), so that rates and alerts see their first increment.
        for name in configured where !initialised.contains(name) {
            initialised.insert(name)
            for reason in Self.failureKinds.sorted() {
                _ = counter(Series(name: Name.failures, labels: ["connection", "reason"], values: [name, reason]))
            }
            _ = counter(Series(name: Name.ikeRekeys, labels: ["connection"], values: [name]))
            _ = counter(Series(name: Name.childRekeys, labels: ["connection"], values: [name]))
        }
        var gaugeValues: [Series: Int] = [:]
        for name in configured {
            gaugeValues[Series(name: Name.ikeSAs, labels: ["connection", "state"], values: [name, "established"])] = 0
            gaugeValues[Series(name: Name.childSAs, labels: ["connection"], values: [name])] = 0
        }
        for (key, count) in status.ikeSAs {
            let series = Series(
                name: Name.ikeSAs, labels: ["connection", "state"], values: [key.connection, key.state.rawValue])
            gaugeValues[series, default: 0] += count
        }
        for (connection, count) in status.childSAs {
            gaugeValues[Series(name: Name.childSAs, labels: ["connection"], values: [connection]), default: 0] += count
        }
        if let counters = status.counters {
            advance(Series(name: Name.ikeDatagrams, labels: ["direction"], values: ["in"]), to: counters.datagramsIn)
            advance(Series(name: Name.ikeDatagrams, labels: ["direction"], values: ["out"]), to: counters.datagramsOut)
            advance(Series(name: Name.ikeSendErrors, labels: [], values: []), to: counters.sendErrors)
            var keepalives = UInt64(clamping: counters.natKeepalives)
            if let plane = status.dataplane { keepalives &+= plane.natKeepalivesIn }
            advance(Series(name: Name.natKeepalives, labels: [], values: []), to: keepalives)
            var dropped = counters.dropped
            for reason in IKEDropReason.allCases { dropped[reason.rawValue, default: 0] += 0 }
            for (reason, count) in dropped {
                advance(Series(name: Name.ikeDrops, labels: ["reason"], values: [reason]), to: count)
            }
            if let half = counters.halfOpen {
                gaugeValues[Series(name: Name.halfOpenSAs, labels: [], values: [])] = half.current
                gaugeValues[Series(name: Name.halfOpenPerSource, labels: [], values: [])] = half.maximumPerSource
                advance(Series(name: Name.halfOpenEvictions, labels: [], values: []), to: half.evictions)
                advance(Series(name: Name.halfOpenSourceLimit, labels: [], values: []), to: half.perSourceLimitHits)
                advance(Series(name: Name.cookiesSent, labels: [], values: []), to: half.cookiesSent)
                advance(Series(name: Name.logLinesSuppressed, labels: [], values: []), to: half.logLinesSuppressed)
            }
        }
        if let plane = status.dataplane {
            gaugeValues[Series(name: Name.dataplaneSAPairs, labels: [], values: [])] = plane.installedSAs
            gaugeValues[Series(name: Name.dataplaneUp, labels: [], values: [])] = plane.running == false ? 0 : 1
            for (direction, packets, bytes) in [
                ("in", plane.espPacketsIn, plane.espBytesIn), ("out", plane.espPacketsOut, plane.espBytesOut),
            ] {
                advance(Series(name: Name.espPackets, labels: ["direction"], values: [direction]), to: packets)
                advance(Series(name: Name.espBytes, labels: ["direction"], values: [direction]), to: bytes)
            }
            for (connection, traffic) in Self.foldingClients(plane.connections) {
                for (direction, packets, bytes) in [
                    ("in", traffic.packetsIn, traffic.bytesIn), ("out", traffic.packetsOut, traffic.bytesOut),
                ] {
                    let labels = ["connection", "direction"]
                    advance(
                        Series(name: Name.connectionPackets, labels: labels, values: [connection, direction]),
                        to: packets)
                    advance(
                        Series(name: Name.connectionBytes, labels: labels, values: [connection, direction]), to: bytes)
                }
            }
            var drops = plane.drops
            for reason in ESPDropReason.allCases { drops[reason.description, default: 0] += 0 }
            // The bounded queues between threads: present at 0 so that the first drop is an increment.
            for reason in ["command-queue-full", "ike-handoff-full"] { drops[reason, default: 0] += 0 }
            for (reason, count) in drops {
                advance(Series(name: Name.dataplaneDrops, labels: ["reason"], values: [reason]), to: count)
            }
            for row in status.acl ?? [] {
                advance(
                    Series(
                        name: Name.aclHits, labels: ["endpoint", "rule", "action"],
                        values: [row.endpoint, row.rule, row.action]), to: row.hits)
            }
        }
        if let p2s = status.pointToSite {
            gaugeValues[Series(name: Name.clients, labels: [], values: [])] = p2s.clients.count
            gaugeValues[Series(name: Name.poolSize, labels: [], values: [])] = p2s.size
            gaugeValues[Series(name: Name.poolInUse, labels: [], values: [])] = p2s.inUse
            let traffic = status.dataplane?.connections ?? [:]
            // While series may still be given out, the first identities in sorted order get them (the same
            // ones in every run), not the first a hash table happens to list.
            let clients = clientSeries.count < Self.maximumClientSeries ? p2s.clients.sorted() : p2s.clients
            for identity in clients {
                guard clientSeries.contains(identity) || clientSeries.count < Self.maximumClientSeries,
                    let counted = traffic[PointToSiteSessions.trafficKey(identity: identity)]
                else { continue }
                clientSeries.insert(identity)
                for (direction, bytes) in [("in", counted.bytesIn), ("out", counted.bytesOut)] {
                    advance(
                        Series(
                            name: Name.clientBytes, labels: ["identity", "direction"],
                            values: [identity, direction]), to: bytes)
                }
            }
        }
        gaugeValues.merge(Self.bgpGauges(status)) { $1 }
        for series in gaugesSet where gaugeValues[series] == nil { gaugeValues[series] = 0 }
        for (series, value) in gaugeValues { gauge(series).set(value) }
        gaugesSet = Set(gaugeValues.filter { $0.value != 0 }.keys)
    }

    /// Per-connection traffic with every point-to-site client's folded into `point-to-site` (one series,
    /// however many clients come and go).
    static func foldingClients(_ connections: [String: ESPConnectionTraffic]) -> [String: ESPConnectionTraffic] {
        var folded: [String: ESPConnectionTraffic] = [:]
        for (key, traffic) in connections {
            let name = PointToSiteSessions.isClientTrafficKey(key) ? PointToSiteSessions.connectionName : key
            var sum = folded[name] ?? ESPConnectionTraffic()
            sum.packetsIn &+= traffic.packetsIn
            sum.bytesIn &+= traffic.bytesIn
            sum.packetsOut &+= traffic.packetsOut
            sum.bytesOut &+= traffic.bytesOut
            folded[name] = sum
        }
        return folded
    }

    // MARK: Series

    private func increment(_ series: Series) {
        counter(series).increment()
    }

    /// Increments a counter by how much `value` grew since the last sync (all of it when it went back,
    /// which only a restarted source can do).
    private func advance(_ series: Series, to value: Int) {
        advance(series, to: UInt64(clamping: value))
    }

    private func advance(_ series: Series, to value: UInt64) {
        let last = synced[series]
        let delta = value >= (last ?? 0) ? value - (last ?? 0) : value
        synced[series] = value
        // The first sight of a series creates it, at 0 when nothing was counted yet.
        guard delta > 0 || last == nil else { return }
        counter(series).increment(by: Int64(clamping: delta))
    }

    private func counter(_ series: Series) -> Counter {
        if let existing = counters[series] { return existing }
        let created = Counter(label: series.name, dimensions: series.dimensions, factory: factory)
        counters[series] = created
        return created
    }

    private func gauge(_ series: Series) -> Meter {
        if let existing = gauges[series] { return existing }
        let created = Meter(label: series.name, dimensions: series.dimensions, factory: factory)
        gauges[series] = created
        return created
    }
}
