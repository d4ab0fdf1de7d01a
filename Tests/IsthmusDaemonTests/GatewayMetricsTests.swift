import IsthmusDataplane
import IsthmusESP
import IsthmusEvents
import IsthmusIKEv2
import IsthmusMetrics
import Logging
import NIOPosix
import Prometheus
import XCTest

@testable import IsthmusDaemon

/// Events and `status` into Prometheus text: a private registry per test, the exact lines checked.
final class GatewayMetricsTests: XCTestCase {
    func makeMetrics() -> (GatewayMetrics, PrometheusCollectorRegistry) {
        let registry = PrometheusCollectorRegistry()
        return (GatewayMetrics(factory: PrometheusMetricsFactory(registry: registry)), registry)
    }

    /// The sample lines (no comments), so tests can look for whole lines.
    func samples(_ registry: PrometheusCollectorRegistry) -> Set<String> {
        Set(registry.emitToString().split(separator: "\n").filter { !$0.hasPrefix("#") }.map(String.init))
    }

    func event(_ kind: GatewayEvent.Kind, _ connection: String = "azure") -> GatewayEvent {
        GatewayEvent(time: .seconds(1), connection: connection, kind: kind, message: "m")
    }

    func sa(_ connection: String, _ state: IKESAState) -> IKESAStatus {
        IKESAStatus(
            connection: connection, ikeVersion: 2, state: state, role: "initiator", localSPI: "1", remoteSPI: "2",
            local: "", remote: "", algorithms: nil, natLocal: false, natRemote: false, establishedSecondsAgo: nil,
            rekeyInSeconds: nil, childSAs: [])
    }

    func child(_ connection: String, _ spi: String) -> InstalledChildSA {
        InstalledChildSA(
            connection: connection, inboundSPI: spi, outboundSPI: "esp 0x1", algorithms: "aes256gcm16",
            localSelectors: [], remoteSelectors: [], local: "", remote: "", udpEncapsulated: true,
            installedSecondsAgo: 0)
    }

    func status(
        connections: [String: [String]] = [:], children: [InstalledChildSA] = [], counters: Counters? = nil,
        dataplane: DataplaneCounters? = nil
    ) -> ControlResponse {
        var response = ControlResponse(ok: true)
        response.connections = connections.keys.sorted().map { name in
            ConnectionStatus(
                name: name, kind: "dynamic", ikeVersion: 2, remoteAddress: nil,
                ikeSAs: connections[name, default: []].map { sa(name, IKESAState(rawValue: $0)!) })
        }
        response.childSAs = children
        response.counters = counters
        response.dataplane = dataplane
        return response
    }

    func testEventsCountKindsFailuresAndRekeys() {
        let (metrics, registry) = makeMetrics()
        for kind in [GatewayEvent.Kind.ikeSAEstablished, .ikeSARekeyed, .ikeSARekeyed, .childSARekeyed] {
            metrics.observe(event(kind))
        }
        metrics.observe(event(.proposalMismatch, "branch"))
        metrics.observe(event(.authenticationFailed, "branch"))
        metrics.observe(event(.authenticationFailed, "branch"))
        metrics.observe(event(.livenessTimeout))
        metrics.observe(event(.retransmit))
        let lines = samples(registry)
        for expected in [
            #"isthmus_ike_sa_rekeys_total{connection="azure"} 2"#,
            #"isthmus_child_sa_rekeys_total{connection="azure"} 1"#,
            #"isthmus_failures_total{connection="branch",reason="proposal-mismatch"} 1"#,
            #"isthmus_failures_total{connection="branch",reason="authentication-failed"} 2"#,
            #"isthmus_failures_total{connection="azure",reason="liveness-timeout"} 1"#,
            #"isthmus_events_total{connection="azure",kind="ike-sa-rekeyed"} 2"#,
            #"isthmus_events_total{connection="azure",kind="retransmit"} 1"#,
            #"isthmus_events_total{connection="branch",kind="authentication-failed"} 2"#,
        ] {
            XCTAssertTrue(lines.contains(expected), "missing \(expected) in \(lines.sorted())")
        }
        // A retransmit is not a failure, an established SA not a rekey.
        XCTAssertFalse(lines.contains { $0.hasPrefix("isthmus_failures_total") && $0.contains("retransmit") })
        XCTAssertEqual(lines.filter { $0.hasPrefix("isthmus_failures_total") }.count, 3)
    }

    func testEveryFailureKindOfTheCoresIsAFailureReason() {
        for kind in [
            "proposal-mismatch", "authentication-failed", "traffic-selector-mismatch", "invalid-ke", "invalid-syntax",
            "peer-not-answering", "liveness-timeout",
        ] {
            XCTAssertTrue(GatewayMetrics.failureKinds.contains(kind), kind)
        }
        XCTAssertFalse(GatewayMetrics.failureKinds.contains("ike-sa-established"))
    }

    func testGaugesFollowStatusAndFallBackToZero() {
        let (metrics, registry) = makeMetrics()
        metrics.sync(
            status(
                connections: ["azure": ["established", "rekeying"], "branch": ["connecting"]],
                children: [child("azure", "esp 0x10"), child("azure", "esp 0x11")]),
            configured: ["azure", "branch"])
        var lines = samples(registry)
        for expected in [
            #"isthmus_ike_sas{connection="azure",state="established"} 1.0"#,
            #"isthmus_ike_sas{connection="azure",state="rekeying"} 1.0"#,
            #"isthmus_ike_sas{connection="branch",state="connecting"} 1.0"#,
            #"isthmus_ike_sas{connection="branch",state="established"} 0.0"#,
            #"isthmus_child_sas{connection="azure"} 2.0"#,
            #"isthmus_child_sas{connection="branch"} 0.0"#,
        ] {
            XCTAssertTrue(lines.contains(expected), "missing \(expected) in \(lines.sorted())")
        }
        // Everything closed: every series that was non-zero reads 0, none disappears.
        metrics.sync(status(connections: ["azure": [], "branch": []]), configured: ["azure", "branch"])
        lines = samples(registry)
        for expected in [
            #"isthmus_ike_sas{connection="azure",state="established"} 0.0"#,
            #"isthmus_ike_sas{connection="azure",state="rekeying"} 0.0"#,
            #"isthmus_ike_sas{connection="branch",state="connecting"} 0.0"#,
            #"isthmus_child_sas{connection="azure"} 0.0"#,
        ] {
            XCTAssertTrue(lines.contains(expected), "missing \(expected) in \(lines.sorted())")
        }
    }

    func testCountersAdvanceByTheDeltaSinceTheLastSync() {
        let (metrics, registry) = makeMetrics()
        var counters = Counters()
        counters.datagramsIn = 5
        counters.datagramsOut = 4
        counters.dropped = ["unknown-spi": 2]
        var plane = DataplaneCounters()
        plane.espPacketsIn = 10
        plane.espBytesIn = 1000
        plane.espPacketsOut = 12
        plane.espBytesOut = 1500
        plane.installedSAs = 1
        plane.drops = ["replayed": 3, "integrity-failure": 1]
        plane.connections = ["azure": ESPConnectionTraffic(packetsIn: 10, bytesIn: 840, packetsOut: 12, bytesOut: 1008)]
        metrics.sync(status(counters: counters, dataplane: plane))
        // The same cumulative values again add nothing; growth adds only the growth.
        metrics.sync(status(counters: counters, dataplane: plane))
        counters.datagramsIn = 7
        counters.dropped["unknown-spi"] = 5
        plane.espPacketsIn = 15
        plane.espBytesIn = 1600
        plane.drops["too-old"] = 4
        plane.drops["integrity-failure"] = 2
        plane.connections["azure"]?.packetsIn = 15
        plane.connections["azure"]?.bytesIn = 1260
        plane.connections["lab"] = ESPConnectionTraffic(packetsOut: 1, bytesOut: 84)
        metrics.sync(status(counters: counters, dataplane: plane))
        let lines = samples(registry)
        for expected in [
            #"isthmus_ike_datagrams_total{direction="in"} 7"#,
            #"isthmus_ike_datagrams_total{direction="out"} 4"#,
            #"isthmus_ike_drops_total{reason="unknown-spi"} 5"#,
            "isthmus_ike_send_errors_total 0",
            #"isthmus_esp_packets_total{direction="in"} 15"#,
            #"isthmus_esp_packets_total{direction="out"} 12"#,
            #"isthmus_esp_bytes_total{direction="in"} 1600"#,
            #"isthmus_esp_bytes_total{direction="out"} 1500"#,
            #"isthmus_dataplane_drops_total{reason="replayed"} 3"#,
            #"isthmus_dataplane_drops_total{reason="too-old"} 4"#,
            #"isthmus_dataplane_drops_total{reason="integrity-failure"} 2"#,
            #"isthmus_dataplane_drops_total{reason="bad-padding"} 0"#,
            #"isthmus_ike_drops_total{reason="no-matching-connection"} 0"#,
            "isthmus_dataplane_sa_pairs 1.0",
            "isthmus_dataplane_up 1.0",
            #"isthmus_dataplane_drops_total{reason="command-queue-full"} 0"#,
            #"isthmus_dataplane_drops_total{reason="ike-handoff-full"} 0"#,
            #"isthmus_connection_packets_total{connection="azure",direction="in"} 15"#,
            #"isthmus_connection_packets_total{connection="azure",direction="out"} 12"#,
            #"isthmus_connection_bytes_total{connection="azure",direction="in"} 1260"#,
            #"isthmus_connection_bytes_total{connection="azure",direction="out"} 1008"#,
            #"isthmus_connection_packets_total{connection="lab",direction="out"} 1"#,
            #"isthmus_connection_bytes_total{connection="lab",direction="in"} 0"#,
        ] {
            XCTAssertTrue(lines.contains(expected), "missing \(expected) in \(lines.sorted())")
        }
    }

    /// A stopped data-plane thread is `isthmus_dataplane_up 0`, and its bounded queues' drops are counted.
    func testDataplaneDownAndQueueDrops() {
        let (metrics, registry) = makeMetrics()
        var plane = DataplaneCounters()
        plane.running = false
        plane.drops = ["command-queue-full": 2, "ike-handoff-full": 5]
        metrics.sync(status(counters: Counters(), dataplane: plane))
        let lines = samples(registry)
        for expected in [
            "isthmus_dataplane_up 0.0",
            #"isthmus_dataplane_drops_total{reason="command-queue-full"} 2"#,
            #"isthmus_dataplane_drops_total{reason="ike-handoff-full"} 5"#,
        ] {
            XCTAssertTrue(lines.contains(expected), "missing \(expected) in \(lines.sorted())")
        }
    }

    func testNoKeyMaterialOrSPIInLabels() {
        let (metrics, registry) = makeMetrics()
        var details = event(.childSAInstalled)
        details.saIDs = ["esp 0x520462f0"]
        details.details = ["key": "secret-value"]
        metrics.observe(details)
        metrics.sync(status(connections: ["azure": ["established"]], children: [child("azure", "esp 0x520462f0")]))
        let text = registry.emitToString()
        XCTAssertFalse(text.contains("520462f0"))
        XCTAssertFalse(text.contains("secret-value"))
    }

    func testMetricsAddressParsing() {
        XCTAssertEqual(MetricsAddress(parsing: "127.0.0.1:9469")?.description, "127.0.0.1:9469")
        XCTAssertEqual(MetricsAddress(parsing: "[::1]:9469")?.description, "[::1]:9469")
        XCTAssertEqual(MetricsAddress(parsing: "[::1]:9469")?.port, 9469)
        for bad in [
            "", "9469", "127.0.0.1", "127.0.0.1:", "127.0.0.1:0", "127.0.0.1:65536", "::1:9469", "[::1]9469",
            "localhost:9469", "127.0.0.1:94a", "[::1:9469", "127.0.0.1:+80",
        ] {
            XCTAssertNil(MetricsAddress(parsing: bad), bad)
        }
    }

    /// Through a running daemon: an event recorded by `record(_:)` and the periodic `status` sync.
    func testDaemonEmitsEventsAndSyncsStatus() async throws {
        let registry = PrometheusCollectorRegistry()
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let folder = try temporaryFolder()
        let logger = quietLogger()
        var options = loopbackOptions(folder: folder)
        options.metrics = PrometheusMetricsFactory(registry: registry)
        options.metricsSyncInterval = .milliseconds(20)
        let daemon = GatewayDaemon(
            config: try loopbackConfig(), options: options, group: group, logger: logger,
            makeInitiator: { name in
                FakeSession(connection: name, spi: 0x77) { _, input, now in
                    guard case .initiate = input else { return [] }
                    return [
                        .event(
                            GatewayEvent(
                                time: now, connection: name, kind: .proposalMismatch, message: "no common proposal"))
                    ]
                }
            }, makeResponder: { _ in nil })
        _ = try await daemon.start().get()
        let answer = try await daemon.up("peer").get()
        XCTAssertTrue(answer.ok, answer.error ?? "")
        var lines = samples(registry)
        for _ in 0..<100 where !lines.contains(#"isthmus_ike_sas{connection="peer",state="connecting"} 1.0"#) {
            try await Task.sleep(for: .milliseconds(20))
            lines = samples(registry)
        }
        XCTAssertTrue(lines.contains(#"isthmus_failures_total{connection="peer",reason="proposal-mismatch"} 1"#))
        XCTAssertTrue(lines.contains(#"isthmus_ike_sas{connection="peer",state="connecting"} 1.0"#), "\(lines)")
        XCTAssertTrue(lines.contains(#"isthmus_ike_sas{connection="peer",state="established"} 0.0"#))
        // Configured connections have their failure and rekey series from the start.
        XCTAssertTrue(lines.contains(#"isthmus_failures_total{connection="peer",reason="liveness-timeout"} 0"#))
        XCTAssertTrue(lines.contains(#"isthmus_ike_sa_rekeys_total{connection="peer"} 0"#))
        XCTAssertTrue(lines.contains(#"isthmus_child_sa_rekeys_total{connection="peer"} 0"#))
        XCTAssertEqual(lines.filter { $0.hasPrefix("isthmus_failures_total") }.count, GatewayMetrics.failureKinds.count)
        try await daemon.shutdown().get()
        try await group.shutdownGracefully()
        try? FileManager.default.removeItem(atPath: folder)
    }
}
