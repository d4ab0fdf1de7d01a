import Foundation
import XCTest

@testable import IsthmusGateway

/// `isthmus export NAME --config A --config B`: the branch's side of an active-active pair.
extension PeerExportTests {
    func pairConfigs() throws -> (GatewayConfig, GatewayConfig) {
        let cloud = try String(
            contentsOf: Self.root.appendingPathComponent("examples/cloud-bgp.yaml"), encoding: .utf8)
        let second = cloud.replacingOccurrences(of: "name: cloud-bgp", with: "name: cloud-bgp-2")
            .replacingOccurrences(of: "203.0.113.20", with: "203.0.113.21")
            .replacingOccurrences(of: "169.254.21.1/30", with: "169.254.22.1/30")
        return (try loadText(cloud), try loadText(second))
    }

    func testThePairExportHasBothTunnelsAndOneBIRDWithBothSessions() throws {
        let (first, second) = try pairConfigs()
        let peers = [
            try PeerSide(mirroring: "cloud-office", in: first), try PeerSide(mirroring: "cloud-office", in: second),
        ]
        let files = try PeerExport.files(
            forPair: peers, device: .strongswan,
            origin: ExportOrigin(configFiles: ["a.yaml", "b.yaml"], connection: "cloud-office"))
        XCTAssertEqual(
            files.map(\.name),
            ["cloud-office-cloud-bgp.conf", "cloud-office-cloud-bgp-2.conf", "cloud-office.bird.conf"])
        XCTAssertTrue(files[0].contents.contains("    cloud-office-cloud-bgp {"), files[0].contents)
        XCTAssertTrue(files[1].contents.contains("remote_addrs = 203.0.113.21"), files[1].contents)
        XCTAssertTrue(
            files[0].contents.contains(
                "isthmus export cloud-office --device strongswan --config a.yaml --config b.yaml"))
        let bird = files[2].contents
        for line in [
            "protocol bgp c_cloud_office_cloud_bgp {", "protocol bgp c_cloud_office_cloud_bgp_2 {",
            "    neighbor 169.254.21.1 as 65515;", "    neighbor 169.254.22.1 as 65515;",
            "#   ip address add 169.254.21.2/30 dev ipsec0     (strongSwan with kernel-libipsec: its TUN ipsec0)",
            "#   ip address add 169.254.22.2/30 dev ipsec0     (strongSwan with kernel-libipsec: its TUN ipsec0)",
        ] {
            XCTAssertTrue(bird.components(separatedBy: "\n").contains(line), "missing '\(line)' in:\n\(bird)")
        }
    }

    func testAPairLeadingToTwoDevicesIsRefused() throws {
        let (first, second) = try pairConfigs()
        var elsewhere = second
        elsewhere.localNetworks[0].gateway = .address(try IPAddressParse("198.51.100.99"))
        let peers = [
            try PeerSide(mirroring: "cloud-office", in: first), try PeerSide(mirroring: "cloud-office", in: elsewhere),
        ]
        XCTAssertThrowsError(
            try PeerExport.files(
                forPair: peers, device: .strongswan,
                origin: ExportOrigin(configFiles: ["a.yaml", "b.yaml"], connection: "cloud-office"))
        ) { error in
            XCTAssertTrue("\(error)".contains("a pair's export is for one device"), "\(error)")
        }
    }
}

import IsthmusIP

private func IPAddressParse(_ text: String) throws -> IPAddress { try IPAddress(parsing: text) }
