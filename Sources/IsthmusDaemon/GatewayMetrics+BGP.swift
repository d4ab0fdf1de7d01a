/// BGP as metrics: each BGP connection's session and its prefixes, and whether BIRD runs.
extension GatewayMetrics {
    /// Gauge: 1 while the connection's BGP session is Established.
    static let bgpSessionUp = "isthmus_bgp_session_up"
    /// Gauge: prefixes of the connection's session: `accepted` (learned and in use), `refused` (outside the
    /// accept list, or our own), `announced`.
    static let bgpPrefixes = "isthmus_bgp_prefixes"
    /// Gauge: 1 while BIRD runs (only with BGP in the configuration).
    static let routingDaemonUp = "isthmus_routing_daemon_up"

    static func bgpGauges(_ status: MetricsSnapshot) -> [Series: Int] {
        var gauges: [Series: Int] = [:]
        for (connection, session) in status.bgp {
            gauges[Series(name: bgpSessionUp, labels: ["connection"], values: [connection])] =
                session?.established == true ? 1 : 0
            for (kind, count) in [
                ("accepted", session?.imported ?? 0), ("refused", session?.filtered ?? 0),
                ("announced", session?.exported ?? 0),
            ] {
                gauges[Series(name: bgpPrefixes, labels: ["connection", "kind"], values: [connection, kind])] = count
            }
        }
        if let up = status.routingDaemonUp {
            gauges[Series(name: routingDaemonUp, labels: [], values: [])] = up ? 1 : 0
        }
        return gauges
    }
}
