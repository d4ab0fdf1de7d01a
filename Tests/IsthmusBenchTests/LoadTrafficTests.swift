import IsthmusIP
import XCTest

@testable import isthmus_bench

/// The echo packets `isthmus-bench ike --traffic` sends through the tunnels, and how replies are told apart.
final class LoadTrafficTests: XCTestCase {
    func testTheEchoRequestIsAValidIPv4ICMPPacket() throws {
        let source = try IPAddress(parsing: "10.8.0.7")
        let target = try IPAddress(parsing: "10.0.1.1")
        let packet = LoadTraffic.echoRequest(from: source, to: target, identifier: 0x1234, sequence: 9)
        XCTAssertEqual(packet.count, 84, "20 + 8 + 56, what ping sends")
        XCTAssertEqual(Array(packet[0..<4]), [0x45, 0, 0, 84])
        XCTAssertEqual(Array(packet[12..<20]), source.bytes + target.bytes)
        XCTAssertEqual(packet[9], 1, "ICMP")
        XCTAssertEqual(LoadTraffic.checksum(packet[0..<20]), 0, "the header checksum verifies")
        XCTAssertEqual(LoadTraffic.checksum(packet[20...]), 0, "the ICMP checksum verifies")
        XCTAssertEqual(Array(packet[20..<28]), [8, 0] + Array(packet[22..<24]) + [0x12, 0x34, 0, 9])
        XCTAssertFalse(LoadTraffic.isEchoReply(packet[...], identifier: 0x1234), "a request is not a reply")
        var reply = packet
        reply[20] = 0
        XCTAssertTrue(LoadTraffic.isEchoReply(reply[...], identifier: 0x1234))
        XCTAssertFalse(LoadTraffic.isEchoReply(reply[...], identifier: 0x1235), "another tunnel's echo")
        XCTAssertFalse(LoadTraffic.isEchoReply(reply[0..<20], identifier: 0x1234), "too short")
        reply[9] = 17
        XCTAssertFalse(LoadTraffic.isEchoReply(reply[...], identifier: 0x1234), "not ICMP")
    }
}
