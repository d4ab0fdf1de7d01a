import Prometheus
import XCTest

@testable import IsthmusDaemon

extension GatewayMetricsTests {
    func testBGPSessionsAndTheRoutingDaemon() {
        let (metrics, registry) = makeMetrics()
        var response = status(connections: ["to-branch": ["established"], "to-hq": ["established"]])
        var up = BGPSessionStatus(protocolName: "c_to_branch", state: "up", bgpState: "Established", since: "")
        up.imported = 3
        up.filtered = 1
        up.exported = 2
        let down = BGPSessionStatus(protocolName: "c_to_hq", state: "start", bgpState: "Active", since: "")
        response.connections?[0].bgp = up
        response.connections?[1].bgp = down
        response.routingDaemon = RoutingDaemonStatus(state: "running", pid: 7)
        metrics.sync(response)
        let lines = samples(registry)
        for expected in [
            #"isthmus_bgp_session_up{connection="to-branch"} 1.0"#,
            #"isthmus_bgp_session_up{connection="to-hq"} 0.0"#,
            #"isthmus_bgp_prefixes{connection="to-branch",kind="accepted"} 3.0"#,
            #"isthmus_bgp_prefixes{connection="to-branch",kind="refused"} 1.0"#,
            #"isthmus_bgp_prefixes{connection="to-branch",kind="announced"} 2.0"#,
            "isthmus_routing_daemon_up 1.0",
        ] {
            XCTAssertTrue(lines.contains(expected), "missing \(expected) in \(lines.sorted())")
        }
    }
}
