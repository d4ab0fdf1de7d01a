import Foundation
import IsthmusIP
import XCTest

@testable import IsthmusGateway

/// `bgp:` under the gateway and the connections as `isthmus check` reads it, and the BIRD configuration
/// written from it.
final class BGPConfigTests: XCTestCase {
    static let examples = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("examples")

    func example(_ name: String) throws -> String {
        try String(contentsOf: Self.examples.appendingPathComponent("\(name).yaml"), encoding: .utf8)
    }

    func testTheCloudExample() throws {
        let config = try XCTUnwrap(load(try example("cloud-bgp")).config)
        XCTAssertEqual(config.gateway.bgp?.asn, 65515)
        let bgp = try XCTUnwrap(config.connections.first?.bgp)
        XCTAssertEqual(bgp.peerASN, 65010)
        XCTAssertEqual(bgp.address, try InterfaceAddress(parsing: "169.254.21.1/30"))
        XCTAssertEqual(bgp.peerAddress, try IPAddress(parsing: "169.254.21.2"), "the other host of the /30")
        XCTAssertEqual(bgp.holdTime, .seconds(30))
        XCTAssertEqual(bgp.keepalive, .seconds(10))
        XCTAssertTrue(bgp.bfd)
        XCTAssertNil(bgp.accept)
        XCTAssertEqual(config.acceptedPrefixes(of: config.connections[0]), [try IPPrefix(parsing: "192.168.0.0/16")])
        XCTAssertEqual(config.bgpRouterID, try IPAddress(parsing: "203.0.113.20"))
    }

    func testRefusedSettingsSayWhy() throws {
        let cloud = try example("cloud-bgp")
        assertError(replacing("asn: 65515", with: "asn: 0", in: cloud), "from 1 to 4294967294")
        assertError(replacing("asn: 65515", with: "asn: 23456", in: cloud), "AS_TRANS")
        assertError(replacing("asn: 65515", with: "asn: 4294967296", in: cloud), "asn")
        assertError(replacing("peer_asn: 65010", with: "peer_asn: 65515", in: cloud), "external BGP")
        assertError(replacing("169.254.21.1/30", with: "169.254.21.0/30", in: cloud), "network or broadcast")
        assertError(replacing("169.254.21.1/30", with: "169.254.21.1", in: cloud), "prefix length")
        assertError(replacing("169.254.21.1/30", with: "fd00::1/127", in: cloud), "IPv6")
        assertError(replacing("169.254.21.1/30", with: "169.254.21.1/29", in: cloud), "only a /30 or /31")
        assertError(
            replacing(
                "address: 169.254.21.1/30", with: "address: 169.254.21.1/30\n      peer_address: 169.254.22.2",
                in: cloud),
            "not a host of the peering prefix")
        assertError(
            replacing(
                "address: 169.254.21.1/30", with: "address: 169.254.21.1/30\n      peer_address: 169.254.21.1",
                in: cloud),
            "our own address")
        assertError(replacing("hold_time: 30s", with: "hold_time: 2s", in: cloud), "out of range")
        assertError(replacing("bfd: true ", with: "bfd: maybe ", in: cloud), "is not true or false")
        assertError(replacing("  bgp: {asn: 65515}", with: "", in: cloud), "the gateway has no ASN")
        assertError(replacing("169.254.21.1/30", with: "10.0.2.1/30", in: cloud), "routed through the gateway")
        let v1 = replacing(
            "ike: [aes256gcm16-prfsha256-ecp256]", with: "ike: [aes256-sha256-modp2048]",
            in: replacing("    ike_version: 2\n", with: "    ike_version: 1\n", in: cloud))
        assertError(replacing("esp: [aes256gcm16]", with: "esp: [aes256-sha256]", in: v1), "IKEv1, whose selectors")
    }

    func testAOneThirtyOneAndAnExplicitPeer() throws {
        let cloud = try example("cloud-bgp")
        let config = try XCTUnwrap(load(replacing("169.254.21.1/30", with: "169.254.21.5/31", in: cloud)).config)
        XCTAssertEqual(config.connections[0].bgp?.peerAddress, try IPAddress(parsing: "169.254.21.4"))
        let wide = try XCTUnwrap(
            load(
                replacing(
                    "address: 169.254.21.1/30", with: "address: 169.254.21.1/29\n      peer_address: 169.254.21.6",
                    in: cloud)
            ).config)
        XCTAssertEqual(wide.connections[0].bgp?.peerAddress, try IPAddress(parsing: "169.254.21.6"))
    }

    func testBirdConfigurationOfTheCloudExample() throws {
        let config = try XCTUnwrap(load(try example("cloud-bgp")).config)
        let bird = try XCTUnwrap(BirdConfiguration(config: config))
        XCTAssertEqual(bird.protocolNames, ["cloud-office": "c_cloud_office"])
        for line in [
            "router id 203.0.113.20;",
            "timeformat protocol iso long;",
            "    ipv4 { import none; export where source = RTS_BGP; };",
            "    route 10.0.1.0/24 unreachable;",
            "    interface \"ist-office\" { min rx interval 300 ms; min tx interval 300 ms; multiplier 3; };",
            "protocol bgp c_cloud_office {",
            "    local 169.254.21.1 as 65515;",
            "    neighbor 169.254.21.2 as 65010;",
            "    interface \"ist-office\";",
            "    strict bind on;",
            "    hold time 30; keepalive time 10;",
            "    bfd on;",
            "        import keep filtered on;",
            "            if net ~ [ 10.0.1.0/24+, 10.0.2.0/24+, 169.254.21.0/30+ ] then reject;",
            "            if 203.0.113.20 ~ net then reject;",
            "            if 198.51.100.10 ~ net then reject;",
            "            if net ~ [ 192.168.0.0/16+ ] then accept;",
            "            if proto = \"isthmus_site\" then accept;",
            "            if source = RTS_BGP && proto ~ \"c_*\" then accept;",
        ] {
            XCTAssertTrue(bird.text.components(separatedBy: "\n").contains(line), "missing '\(line)' in:\n\(bird.text)")
        }
        // Without BGP connections, no BIRD.
        XCTAssertNil(BirdConfiguration(config: try XCTUnwrap(load(try example("cloud-dynamic")).config)))
    }

    func testProtocolNamesStayDistinct() throws {
        let config = try XCTUnwrap(load(try example("cloud-bgp")).config)
        var two = config
        var second = config.connections[0]
        second.name = "cloud_office"
        second.bgp?.address = try InterfaceAddress(parsing: "169.254.21.5/30")
        second.bgp?.peerAddress = try IPAddress(parsing: "169.254.21.6")
        two.connections.append(second)
        let bird = try XCTUnwrap(BirdConfiguration(config: two))
        XCTAssertEqual(bird.protocolNames, ["cloud-office": "c_cloud_office", "cloud_office": "c_cloud_office_2"])
    }

    /// A reload that changes only BGP settings leaves the tunnel alone (BIRD re-reads its configuration).
    func testBGPChangesDoNotRestartTheTunnel() throws {
        let cloud = try example("cloud-bgp")
        let old = try XCTUnwrap(load(cloud).config)
        let new = try XCTUnwrap(load(replacing("peer_asn: 65010", with: "peer_asn: 65011", in: cloud)).config)
        let difference = ConfigDifference(from: old, to: new)
        XCTAssertEqual(difference.connections.map { "\($0.0) \($0.1)" }, ["cloud-office unchanged"])
    }

    /// `gateway.bgp.neighbors`: internal BGP with the cloud's fabric, in BIRD as `n_` protocols.
    func testNeighbors() throws {
        let cloud = try example("cloud-bgp")
        let withFabric = replacing(
            "  bgp: {asn: 65515}",
            with: "  bgp:\n    asn: 65515\n    neighbors: [{name: fabric, address: 10.0.2.1, asn: 65515, bfd: true}]",
            in: cloud)
        let config = try XCTUnwrap(load(withFabric).config)
        XCTAssertEqual(config.gateway.bgp?.neighbors.map(\.name), ["fabric"])
        XCTAssertEqual(config.gateway.bgp?.neighbors.first?.bfd, true)
        let bird = try XCTUnwrap(BirdConfiguration(config: config))
        XCTAssertEqual(bird.neighborNames, ["fabric": "n_fabric"])
        XCTAssertFalse(bird.text.contains("strict bind"), "a wildcard listener and a bound one cannot coexist")
        for line in [
            "protocol bgp n_fabric {",
            "    neighbor 10.0.2.1 as 65515;",
            "    direct;",
            "        next hop self;",
            "            if net ~ [ 10.0.1.0/24+ ] then accept;",
            "            if source = RTS_BGP && proto ~ \"c_*\" then accept;",
            "            if net ~ [ 10.0.1.0/24 ] && source = RTS_BGP && proto ~ \"n_*\" then accept;",
            "    interface \"*\" { min rx interval 300 ms; min tx interval 300 ms; multiplier 3; };",
        ] {
            XCTAssertTrue(bird.text.components(separatedBy: "\n").contains(line), "missing '\(line)' in:\n\(bird.text)")
        }
        assertError(
            replacing("address: 10.0.2.1, asn", with: "address: 169.254.21.2, asn", in: withFabric),
            "inside the peering prefix")
        assertError(
            replacing(
                "[{name: fabric, address: 10.0.2.1, asn: 65515, bfd: true}]",
                with: "[{name: f, address: 10.0.2.1, asn: 65515}, {name: f, address: 10.0.2.2, asn: 65515}]",
                in: withFabric), "used twice")
        assertWarning(
            replacing("address: 10.0.2.1, asn", with: "address: 172.20.0.1, asn", in: withFabric),
            "outside this gateway's network")
    }

    /// Names BIRD would refuse as too long end in a hash; validation keeps quotes out of BGP interface names.
    func testLongNamesAndUnquotableInterfaces() throws {
        let long = String(repeating: "a", count: 63)
        let symbol = BirdConfiguration.identifier(long)
        XCTAssertEqual(symbol.count, BirdConfiguration.maximumSymbolLength)
        XCTAssertTrue(symbol.hasPrefix("c_aaaa"), symbol)
        XCTAssertNotEqual(symbol, BirdConfiguration.identifier(long + "b"))
        XCTAssertEqual(BirdConfiguration.identifier("cloud-office"), "c_cloud_office")
        let cloud = try example("cloud-bgp")
        assertError(
            replacing("  - name: cloud-office\n", with: "  - name: cloud-office\n    interface: 'ist*'\n", in: cloud),
            "cannot hold")
    }
}
