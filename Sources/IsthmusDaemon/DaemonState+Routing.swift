import IsthmusEvents
import IsthmusGateway

/// BGP: the routing daemon (``RoutingDaemon``) runs on the configuration's BGP connections; `status` shows it.
extension DaemonState {
    /// Starts, reconfigures or stops BIRD to match the configuration (start, reload): after the interfaces
    /// exist, since BIRD's sessions run between their inner addresses.
    func plumbRouting() {
        let wanted = BirdConfiguration(config: config)
        guard let routing else {
            if wanted != nil {
                record(
                    GatewayEvent(
                        time: clock(), connection: "", kind: .routingDaemonFailed, severity: .error,
                        message: "the configuration has BGP connections, but BGP runs only when the gateway plumbs "
                            + "its own interfaces (not with --tun or --no-data-plane)",
                        details: ["reason": "no managed data path"]))
            }
            return
        }
        routing.apply(wanted)
    }

    /// A BGP connection's session as BIRD last reported it; while BIRD is not running, `down` with its error.
    func bgpStatus(of connection: Connection) -> BGPSessionStatus? {
        guard let bgp = connection.bgp else { return nil }
        if let session = routing?.session(of: connection.name) { return session }
        var placeholder = BGPSessionStatus(protocolName: "", state: "down", bgpState: "Idle", since: "")
        placeholder.neighborAddress = "\(bgp.peerAddress)"
        placeholder.neighborASN = bgp.peerASN
        placeholder.localASN = config.gateway.bgp?.asn
        placeholder.lastError =
            routing?.health.error ?? (routing == nil ? "BGP needs the gateway's own data path" : "not reported yet")
        return placeholder
    }

    func routingDaemonStatus() -> RoutingDaemonStatus? {
        guard !config.bgpConnections.isEmpty || !(config.gateway.bgp?.neighbors.isEmpty ?? true) else { return nil }
        guard let routing else {
            return RoutingDaemonStatus(state: "error", error: "BGP needs the gateway's own data path")
        }
        let health = routing.health
        let neighbors = routing.neighborSessions
        return RoutingDaemonStatus(
            state: health.running ? "running" : "error", pid: health.pid, error: health.error,
            config: routing.configPath, neighbors: neighbors.isEmpty ? nil : neighbors)
    }
}
