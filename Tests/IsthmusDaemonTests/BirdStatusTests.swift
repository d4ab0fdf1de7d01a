import IsthmusEvents
import XCTest

@testable import IsthmusDaemon

/// BIRD's control-socket replies as the routing daemon reads them (replies as BIRD 2.0.12 sent them).
final class BirdStatusTests: XCTestCase {
    /// `show protocols all` with `timeformat protocol iso long`, codes removed: a kernel protocol, an
    /// established BGP session, and one failing with a wrong ASN.
    static let protocolsAll = [
        "Name       Proto      Table      State  Since         Info",
        "isthmus_kernel Kernel master4    up     2026-12-07 14:31:58  ",
        "  Channel ipv4",
        "    State:          UP",
        "    Routes:         0 imported, 1 exported, 0 preferred",
        "",
        "c_cloud_office BGP  ---        up     2026-12-07 14:32:02  Established   ",
        "  Description:    connection cloud-office",
        "  BGP state:          Established",
        "    Neighbor address: 169.254.21.2%ist-office",
        "    Neighbor AS:      65010",
        "    Local AS:         65515",
        "    Hold timer:       8.452/9",
        "    Keepalive timer:  2.097/3",
        "  Channel ipv4",
        "    State:          UP",
        "    Routes:         1 imported, 2 filtered, 1 exported, 1 preferred",
        "",
        "c_branch   BGP        ---        start  2026-12-07 14:32:11  Idle          BGP Error: Bad peer AS",
        "  Description:    connection branch",
        "  BGP state:          Idle",
        "    Neighbor address: 169.254.22.2",
        "    Neighbor AS:      65010",
        "    Local AS:         65515",
        "    Error wait:       3.790/5",
        "    Last error:       BGP Error: Bad peer AS",
        "  Channel ipv4",
        "    State:          DOWN",
        "",
        "isthmus_bfd BFD      ---        up     2026-12-07 14:31:58  ",
        "  Channel ipv4",
        "    Routes:         7 imported, 0 exported, 0 preferred",
    ]

    func testBGPSessionsOfShowProtocolsAll() {
        let sessions = BirdStatus.bgpSessions(Self.protocolsAll)
        XCTAssertEqual(sessions.map(\.protocolName), ["c_cloud_office", "c_branch"])
        let up = sessions[0]
        XCTAssertEqual(up.state, "up")
        XCTAssertEqual(up.bgpState, "Established")
        XCTAssertTrue(up.established)
        XCTAssertEqual(up.since, "2026-12-07 14:32:02")
        XCTAssertEqual(up.neighborAddress, "169.254.21.2")
        XCTAssertEqual(up.neighborASN, 65010)
        XCTAssertEqual(up.localASN, 65515)
        XCTAssertEqual(up.holdTime, 9)
        XCTAssertEqual([up.imported, up.filtered, up.exported], [1, 2, 1])
        XCTAssertNil(up.lastError)
        let failing = sessions[1]
        XCTAssertEqual(failing.state, "start")
        XCTAssertEqual(failing.bgpState, "Idle")
        XCTAssertFalse(failing.established)
        XCTAssertEqual(failing.lastError, "BGP Error: Bad peer AS")
        XCTAssertEqual([failing.imported, failing.filtered, failing.exported], [0, 0, 0])
    }

    func testShortTimeFormatSummaryLine() {
        // BIRD's default time format: the time alone.
        let session = BirdStatus.summary(
            "c_office   BGP        ---        start  14:32:11.130  Idle          Socket: x")
        XCTAssertEqual(session?.since, "14:32:11.130")
        XCTAssertEqual(session?.bgpState, "Idle")
        XCTAssertNil(BirdStatus.summary("Name       Proto      Table      State  Since         Info"))
        XCTAssertNil(BirdStatus.summary("device1    Device     ---        up     14:31:58.386  "))
        XCTAssertNil(BirdStatus.summary("  BGP state:          Idle"))
    }

    func testReplyLines() {
        XCTAssertEqual(BirdControl.parse("0001 BIRD 2.0.12 ready."), .final(code: 1, text: "BIRD 2.0.12 ready."))
        XCTAssertEqual(BirdControl.parse("1002-c_office   BGP"), .more("c_office   BGP"))
        XCTAssertEqual(BirdControl.parse("     Neighbor AS:      65010"), .more("    Neighbor AS:      65010"))
        XCTAssertEqual(BirdControl.parse("0000 "), .final(code: 0, text: ""))
        XCTAssertEqual(
            BirdControl.parse("8002 /run/isthmus/gw.bird/bird.conf:11:15 syntax error"),
            .final(code: 8002, text: "/run/isthmus/gw.bird/bird.conf:11:15 syntax error"))
        XCTAssertEqual(
            BirdControl.parse(" \tvia 169.254.21.2 on ist-office"), .more("\tvia 169.254.21.2 on ist-office"))
    }

    func testRoutePrefixesOfShowRoute() {
        let lines = [
            "Table master4:",
            "172.16.5.0/24        unicast [c_office 14:32:02.244] * (100) [AS65010i]",
            "\tvia 169.254.21.2 on ist-office",
            "10.0.1.0/24          unicast [c_office 14:32:02.244] (100) [AS65010i]",
            "\tvia 169.254.21.2 on ist-office",
        ]
        XCTAssertEqual(BirdStatus.routePrefixes(lines), ["172.16.5.0/24", "10.0.1.0/24"])
    }

    func testSessionEvents() {
        let sessions = BirdStatus.bgpSessions(Self.protocolsAll)
        var asked = 0
        let refused: () -> [String] = {
            asked += 1
            return ["172.16.5.0/24", "10.0.1.0/24"]
        }
        // First sight of an established session with filtered routes: up, and the refusal.
        let first = BGPSessionEvents.changes(
            from: nil, to: sessions[0], connection: "cloud-office", time: .seconds(5), refused: refused)
        XCTAssertEqual(first.map(\.kind), [.bgpSessionUp, .bgpPrefixRefused])
        XCTAssertEqual(first[1].details["prefixes"], "172.16.5.0/24 10.0.1.0/24")
        XCTAssertEqual(first[0].details["neighbor_as"], "65010")
        XCTAssertEqual(asked, 1)
        // Nothing changed: nothing said, the routes not asked for again.
        XCTAssertEqual(
            BGPSessionEvents.changes(
                from: sessions[0], to: sessions[0], connection: "cloud-office", time: .seconds(6), refused: refused),
            [])
        XCTAssertEqual(asked, 1)
        // It goes down: one warning with BIRD's reason.
        var down = sessions[1]
        down.protocolName = sessions[0].protocolName
        let lost = BGPSessionEvents.changes(
            from: sessions[0], to: down, connection: "cloud-office", time: .seconds(7), refused: refused)
        XCTAssertEqual(lost.map(\.kind), [.bgpSessionDown])
        XCTAssertTrue(lost[0].message.contains("Bad peer AS"), lost[0].message)
        // Still down for the same reason: said once.
        XCTAssertEqual(
            BGPSessionEvents.changes(
                from: down, to: down, connection: "cloud-office", time: .seconds(8), refused: refused),
            [])
        // A session that never came up, failing: said at first sight.
        let never = BGPSessionEvents.changes(
            from: nil, to: sessions[1], connection: "branch", time: .seconds(9), refused: refused)
        XCTAssertEqual(never.map(\.kind), [.bgpSessionDown])
    }

    func testRoutingDirectoryBesideTheControlSocket() {
        XCTAssertEqual(
            GatewayDaemon.routingDirectory(controlPath: "/run/isthmus/cloud.sock"), "/run/isthmus/cloud.bird")
        XCTAssertEqual(GatewayDaemon.routingDirectory(controlPath: "/tmp/ctl"), "/tmp/ctl.bird")
    }
}
