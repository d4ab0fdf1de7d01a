import Foundation
import IsthmusGateway
import XCTest

@testable import IsthmusDaemon

/// `diagnose` on BGP connections, from made-up inputs.
final class DiagnoserBGPTests: XCTestCase {
    static let examples = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("examples")

    func scene() throws -> DiagnoserTests.Scene {
        let yaml = try String(contentsOf: Self.examples.appendingPathComponent("cloud-bgp.yaml"), encoding: .utf8)
        var scene = try DiagnoserTests.Scene(yaml: yaml)
        scene.ike(.established, children: 1)
        scene.status.routingDaemon = RoutingDaemonStatus(state: "running", pid: 42)
        return scene
    }

    func session(_ state: String, error: String? = nil, logged: String? = nil, filtered: Int = 0) -> BGPSessionStatus {
        var session = BGPSessionStatus(protocolName: "c_cloud_office", state: "start", bgpState: state, since: "")
        session.neighborAddress = "169.254.21.2"
        session.neighborASN = 65010
        session.lastError = error
        session.logged = logged
        session.filtered = filtered
        return session
    }

    func testAnEstablishedSessionIsHealthy() throws {
        var scene = try scene()
        scene.connection.bgp = session("Established")
        XCTAssertTrue(scene.diagnose().healthy, "\(scene.diagnose())")
    }

    func testAWrongPeerASNNamesWhatThePeerSaid() throws {
        var scene = try scene()
        scene.connection.bgp = session(
            "Idle", error: "BGP Error: Bad peer AS", logged: "Error: Bad peer AS: 65011")
        let finding = try XCTUnwrap(scene.finding(.bgpSessionDown))
        XCTAssertEqual(finding.severity, .error)
        XCTAssertEqual(finding.summary, "wrong peer ASN: the peer says it is AS 65011, peer_asn is 65010")
        XCTAssertEqual(finding.fixes.first?.yaml, "peer_asn: 65011")
        XCTAssertTrue(finding.fixes.first?.text.contains(scene.line("connections[0].bgp.peer_asn")) ?? false)
        XCTAssertEqual(finding.details["peer_said_as"], "65011")
        XCTAssertFalse(scene.diagnose().healthy)
    }

    func testThePeerRefusingOurASN() throws {
        var scene = try scene()
        scene.connection.bgp = session("Idle", error: "Received: Bad peer AS")
        XCTAssertEqual(
            try XCTUnwrap(scene.finding(.bgpSessionDown)).summary,
            "the peer refuses our ASN: it expects another AS than 65515")
    }

    func testNoSpeakerOnThePeerAndATunnelThatIsDown() throws {
        var scene = try scene()
        scene.connection.bgp = session("Active", error: "Socket: Connection refused")
        let finding = try XCTUnwrap(scene.finding(.bgpSessionDown))
        XCTAssertTrue(finding.summary.contains("Connection refused"), finding.summary)
        XCTAssertEqual(finding.fixes.first?.side, .peer)
        scene.ike(nil)
        XCTAssertEqual(
            try XCTUnwrap(scene.finding(.bgpSessionDown)).summary, "no BGP session: the tunnel itself is down")
    }

    func testTheRoutingDaemonNotRunning() throws {
        var scene = try scene()
        scene.connection.bgp = session("Idle", error: "BIRD is not installed")
        scene.status.routingDaemon = RoutingDaemonStatus(
            state: "error", error: "BIRD is not installed (no /usr/sbin/bird)")
        let finding = try XCTUnwrap(scene.finding(.routingDaemonDown))
        XCTAssertTrue(finding.summary.contains("not installed"), finding.summary)
    }

    func testRefusedPrefixes() throws {
        var scene = try scene()
        scene.connection.bgp = session("Established", filtered: 2)
        scene.event(
            "bgp-prefix-refused", at: 3990, .warning, "refused", ["prefixes": "172.16.5.0/24 10.0.1.0/24"])
        let finding = try XCTUnwrap(scene.finding(.bgpPrefixRefused))
        XCTAssertEqual(
            finding.summary, "the peer announces 2 prefix(es) outside the accept list: 172.16.5.0/24 10.0.1.0/24")
        XCTAssertNil(scene.finding(.bgpSessionDown))
    }

    func testBIRDLogLines() {
        let parsed = BirdStatus.logLine("2026-12-07 14:32:11.130 <RMT> c_office: Error: Bad peer AS: 65011")
        XCTAssertEqual(parsed?.protocolName, "c_office")
        XCTAssertEqual(parsed?.text, "Error: Bad peer AS: 65011")
        XCTAssertNil(BirdStatus.logLine("2026-12-07 14:31:58.386 <INFO> Started"))
        XCTAssertNil(BirdStatus.logLine("bird: /x/bird.conf:11:15 syntax error"))
    }
}
