import IsthmusDataplane
import IsthmusESP
import Prometheus
import XCTest

@testable import IsthmusDaemon

/// Point-to-site clients in the metrics: gauges for clients and the pool, all clients' traffic folded into the
/// `point-to-site` connection, and per-identity series bounded.
final class GatewayMetricsClientTests: XCTestCase {
    func testClientGaugesFoldedTrafficAndBoundedPerClientSeries() {
        let registry = PrometheusCollectorRegistry()
        let metrics = GatewayMetrics(factory: PrometheusMetricsFactory(registry: registry))
        let identities = (1...70).map { "laptop\($0)@example.test" }
        var plane = DataplaneCounters()
        for identity in identities {
            plane.connections[PointToSiteSessions.trafficKey(identity: identity)] = ESPConnectionTraffic(
                packetsIn: 1, bytesIn: 100, packetsOut: 2, bytesOut: 200)
        }
        plane.connections["cloud-office"] = ESPConnectionTraffic(
            packetsIn: 5, bytesIn: 500, packetsOut: 5, bytesOut: 500)
        var status = ControlResponse(ok: true)
        status.dataplane = plane
        status.pointToSite = PointToSiteStatus(
            pool: "10.0.0.0/24", size: 254, inUse: 70, interface: "ist-cloud-p2s",
            clients: identities.enumerated().map { index, identity in
                PointToSiteStatus.Client(
                    identity: identity, virtualAddress: "10.0.0.\(index + 1)", outerAddress: "198.51.100.1:4500",
                    connectedSecondsAgo: 5, bytesIn: 100, bytesOut: 200)
            })
        metrics.sync(status)
        let text = registry.emitToString()
        let lines = Set(text.split(separator: "\n").filter { !$0.hasPrefix("#") }.map(String.init))
        for expected in [
            "isthmus_p2s_clients 70.0", "isthmus_p2s_pool_addresses 254.0", "isthmus_p2s_pool_addresses_in_use 70.0",
            #"isthmus_connection_bytes_total{connection="point-to-site",direction="in"} 7000"#,
            #"isthmus_connection_bytes_total{connection="point-to-site",direction="out"} 14000"#,
            #"isthmus_connection_bytes_total{connection="cloud-office",direction="in"} 500"#,
            #"isthmus_p2s_client_bytes_total{identity="laptop1@example.test",direction="out"} 200"#,
        ] {
            XCTAssertTrue(lines.contains(expected), "missing \(expected)")
        }
        let perClient = lines.filter { $0.hasPrefix("isthmus_p2s_client_bytes_total{") }
        XCTAssertEqual(perClient.count, 2 * GatewayMetrics.maximumClientSeries, "the per-client label set is bounded")
        XCTAssertFalse(text.contains("connection=\"point-to-site laptop"), "no per-client connection series")
    }
}
