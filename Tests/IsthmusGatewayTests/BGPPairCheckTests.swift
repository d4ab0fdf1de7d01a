import Foundation
import IsthmusGateway
import XCTest

/// `isthmus check A B` with BGP on the tunnel.
extension PairCheckTests {
    func bgpPair(office: String? = nil, cloud: String? = nil) throws -> PairCheckReport {
        try check(
            ("office-bgp.yaml", office ?? (try example("office-bgp"))),
            ("cloud-bgp.yaml", cloud ?? (try example("cloud-bgp"))))
    }

    func testTheBGPExamplesAgree() throws {
        let report = try bgpPair()
        XCTAssertEqual(report.diagnostics, [], report.diagnostics.map(\.description).joined(separator: "\n"))
        XCTAssertTrue(report.summary.contains("announced by BGP"), report.summary)
        XCTAssertTrue(
            report.summary.contains(
                "BGP: office-bgp AS 65010 at 169.254.21.2/30 <=> cloud-bgp AS 65515 at 169.254.21.1/30, hold 30s/30s, "
                    + "BFD on/on"), report.summary)
    }

    func testWrongPeerASN() throws {
        let office = try example("office-bgp")
        let report = try bgpPair(office: office.replacingOccurrences(of: "peer_asn: 65515", with: "peer_asn: 65516"))
        assertOne(report, .error, at: "office-bgp.yaml:27", saying: "expects peer AS 65516", "Bad peer AS")
    }

    func testAnnouncementOutsideTheAcceptList() throws {
        let office = try example("office-bgp")
        let report = try bgpPair(
            office: office.replacingOccurrences(
                of: "prefixes: [192.168.1.0/24]", with: "prefixes: [192.168.1.0/24, 172.16.5.0/24]"))
        assertOne(report, .warning, at: "cloud-bgp.yaml:21", saying: "172.16.5.0/24", "refused")
    }

    func testBGPOnOneSideOnly() throws {
        let office = try example("office-bgp")
        let without = office.replacingOccurrences(
            of: "    bgp: {peer_asn: 65515, address: 169.254.21.2/30, hold_time: 30s, bfd: true}\n", with: "")
        let report = try bgpPair(office: without)
        XCTAssertTrue(
            report.diagnostics.contains { $0.severity == .error && $0.message.contains("does not") },
            report.diagnostics.map(\.description).joined(separator: "\n"))
    }

    func testBFDOnOneSideOnly() throws {
        let office = try example("office-bgp")
        let report = try bgpPair(office: office.replacingOccurrences(of: "bfd: true", with: "bfd: false"))
        assertOne(report, .warning, at: "cloud-bgp.yaml:35", saying: "BFD is on at")
    }
}
