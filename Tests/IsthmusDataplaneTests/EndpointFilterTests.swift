import IsthmusESP
import IsthmusIP
import XCTest

@testable import IsthmusDataplane

/// The seed's endpoint ACLs (examples/cloud.yaml): SSH on the VM for the admin workstation only, HTTPS
/// for the whole office; everything else passes as before.
final class EndpointFilterTests: XCTestCase {
    let filter = EndpointFilter(endpoints: [
        EndpointFilter.Endpoint(
            name: "vm-ssh", address: try! IPAddress(parsing: "10.0.1.4"), ipProtocol: 6, port: 22,
            rules: [
                .init(permit: true, source: try! IPPrefix(parsing: "192.168.1.10/32")),
                .init(permit: false, source: nil),
            ]),
        EndpointFilter.Endpoint(
            name: "vm-web", address: try! IPAddress(parsing: "10.0.1.4"), ipProtocol: 6, port: 443,
            rules: [.init(permit: true, source: try! IPPrefix(parsing: "192.168.1.0/24"))]),
        EndpointFilter.Endpoint(
            name: "db", address: try! IPAddress(parsing: "10.0.1.5"), ipProtocol: nil, port: nil,
            rules: [.init(permit: true, source: try! IPPrefix(parsing: "192.168.1.10/32"))]),
    ])

    /// An IPv4 packet from `source` to `destination`: TCP with `flags` (SYN 0x02, ACK 0x10) and ports,
    /// UDP with ports, or ICMP of `icmpType`.
    func packet(
        _ source: String, _ destination: String, protocol number: UInt8 = 6, ports: (UInt16, UInt16) = (40000, 22),
        flags: UInt8 = 0x02, icmpType: UInt8 = 8
    ) -> [UInt8] {
        var transport: [UInt8]
        switch number {
        case 6:
            transport = [UInt8(ports.0 >> 8), UInt8(ports.0 & 0xFF), UInt8(ports.1 >> 8), UInt8(ports.1 & 0xFF)]
            transport += [0, 0, 0, 1, 0, 0, 0, 0, 0x50, flags, 0xFF, 0xFF, 0, 0, 0, 0]
        case 17:
            transport = [
                UInt8(ports.0 >> 8), UInt8(ports.0 & 0xFF), UInt8(ports.1 >> 8), UInt8(ports.1 & 0xFF), 0, 8, 0, 0,
            ]
        default:
            transport = [icmpType, 0, 0, 0, 0, 1, 0, 1]
        }
        let total = 20 + transport.count
        var bytes: [UInt8] = [0x45, 0, 0, UInt8(total), 0, 0, 0x40, 0, 64, number, 0, 0]
        bytes += (try! IPAddress(parsing: source)).bytes + (try! IPAddress(parsing: destination)).bytes
        return bytes + transport
    }

    func decide(_ bytes: [UInt8]) -> EndpointFilter.Decision {
        bytes.withUnsafeBytes { raw in
            guard let header = InnerPacket.parse(raw) else { return .unlisted }
            return filter.decide(header, bytes: raw)
        }
    }

    func testTheAdminWorkstationReachesSSHAndNobodyElseDoes() {
        XCTAssertEqual(decide(packet("192.168.1.10", "10.0.1.4")), .permitted(endpoint: 0, rule: 0))
        XCTAssertEqual(decide(packet("192.168.1.11", "10.0.1.4")), .denied(endpoint: 0, rule: 1))
        // An ACK-only segment to the SSH port is checked too: the endpoint has a port.
        XCTAssertEqual(decide(packet("192.168.1.11", "10.0.1.4", flags: 0x10)), .denied(endpoint: 0, rule: 1))
    }

    func testTheOfficeReachesHTTPSAndOtherSourcesMatchNoRule() {
        XCTAssertEqual(
            decide(packet("192.168.1.11", "10.0.1.4", ports: (40000, 443))), .permitted(endpoint: 1, rule: 0))
        XCTAssertEqual(decide(packet("172.16.0.9", "10.0.1.4", ports: (40000, 443))), .denied(endpoint: 1, rule: nil))
    }

    func testUnlistedServicesAndAddressesPass() {
        XCTAssertEqual(decide(packet("192.168.1.11", "10.0.1.4", ports: (40000, 80))), .unlisted)
        XCTAssertEqual(decide(packet("192.168.1.11", "10.0.1.4", protocol: 17, ports: (5000, 22))), .unlisted)
        XCTAssertEqual(decide(packet("192.168.1.11", "10.0.1.6")), .unlisted)
    }

    func testRepliesToTheSitesOwnConnectionsReachAPortlessEndpoint() {
        XCTAssertEqual(
            decide(packet("192.168.1.10", "10.0.1.5", ports: (40000, 5432))), .permitted(endpoint: 2, rule: 0))
        // A new connection from another host: denied; the reply to one the database opened: let through.
        XCTAssertEqual(
            decide(packet("192.168.1.11", "10.0.1.5", ports: (40000, 5432))), .denied(endpoint: 2, rule: nil))
        XCTAssertEqual(
            decide(packet("192.168.1.11", "10.0.1.5", ports: (443, 51000), flags: 0x10)), .reply(endpoint: 2))
        XCTAssertEqual(
            decide(packet("192.168.1.11", "10.0.1.5", flags: 0x12)), .denied(endpoint: 2, rule: nil), "SYN-ACK")
        XCTAssertEqual(decide(packet("192.168.1.11", "10.0.1.5", protocol: 1, icmpType: 0)), .reply(endpoint: 2))
        XCTAssertEqual(
            decide(packet("192.168.1.11", "10.0.1.5", protocol: 1, icmpType: 8)), .denied(endpoint: 2, rule: nil))
        XCTAssertEqual(
            decide(packet("192.168.1.11", "10.0.1.5", protocol: 17, ports: (53, 51000))),
            .denied(endpoint: 2, rule: nil),
            "UDP has no reply marker")
    }

    func testTruncatedTransportHeadersAreNotTakenForReplies() {
        var bytes = packet("192.168.1.11", "10.0.1.5", ports: (443, 51000), flags: 0x10)
        bytes.removeLast(8)
        bytes[3] = UInt8(bytes.count)
        bytes.withUnsafeBytes { raw in
            let header = InnerPacket.parse(raw)
            XCTAssertFalse(header.map { EndpointFilter.isReply($0, raw) } ?? false)
        }
    }
}
