import IsthmusIP
import XCTest

@testable import IsthmusNetlink

/// The rtnetlink codec without a socket: requests byte for byte as `ip route add` sends them, answers
/// parsed back, and hostile lengths refused without a trap.
final class NetlinkCodecTests: XCTestCase {
    func testRouteRequestIsWhatIPRouteSends() throws {
        let route = Route(destination: try IPPrefix(parsing: "10.0.1.0/24"), interfaceIndex: 7)
        let message = NetlinkMessage(
            type: Netlink.newRoute,
            flags: Netlink.flagRequest | Netlink.flagAcknowledge | Netlink.flagCreate | Netlink.flagExclusive,
            sequence: 9, payload: route.requestPayload())
        XCTAssertEqual(
            message.encoded(),
            [
                52, 0, 0, 0, 24, 0, 0x05, 0x06, 9, 0, 0, 0, 0, 0, 0, 0,  // nlmsghdr
                2, 24, 0, 0, 254, 73, 253, 1, 0, 0, 0, 0,  // rtmsg: AF_INET /24 main proto 73 scope link unicast
                8, 0, 1, 0, 10, 0, 1, 0,  // RTA_DST 10.0.1.0
                8, 0, 15, 0, 254, 0, 0, 0,  // RTA_TABLE 254
                8, 0, 4, 0, 7, 0, 0, 0,  // RTA_OIF 7
            ])
    }

    func testRouteSurvivesARoundTrip() throws {
        let route = Route(
            destination: try IPPrefix(parsing: "2001:db8:1::/48"), interfaceIndex: 12, metric: 100, table: 1000)
        XCTAssertEqual(try Route(payload: route.requestPayload()), route)
    }

    func testLinkAnswerIsParsed() throws {
        var bytes = NetlinkBytes()
        bytes.append(UInt8(0))
        bytes.append(UInt8(0))
        bytes.append(UInt16(65534))  // ARPHRD_NONE
        bytes.append(Int32(5))
        bytes.append(UInt32(0x1 | 0x40))  // IFF_UP | IFF_RUNNING
        bytes.append(UInt32(0))
        var kind = NetlinkBytes()
        NetlinkAttribute.encode([NetlinkAttribute(type: Netlink.linkInfoKind, string: "tun")], into: &kind)
        NetlinkAttribute.encode(
            [
                NetlinkAttribute(type: Netlink.linkName, string: "ist-office"),
                NetlinkAttribute(type: Netlink.linkMTU, uint32: 1419),
                NetlinkAttribute(type: Netlink.linkInfo | 0x8000, value: kind.bytes),  // NLA_F_NESTED
            ], into: &bytes)
        let datagram = NetlinkMessage(type: Netlink.newLink, flags: Netlink.flagMulti, payload: bytes.bytes).encoded()
        let messages = try NetlinkMessage.decodeAll(datagram)
        XCTAssertEqual(messages.count, 1)
        let link = try NetworkInterface(payload: messages[0].payload)
        XCTAssertEqual(link, NetworkInterface(index: 5, name: "ist-office", flags: 0x41, mtu: 1419, kind: "tun"))
        XCTAssertTrue(link.isUp)
    }

    func testErrorAnswerCarriesErrnoAndExtendedAckText() throws {
        var bytes = NetlinkBytes()
        bytes.append(Int32(-17))  // -EEXIST
        bytes.bytes += NetlinkMessage(type: Netlink.newRoute, flags: 0, sequence: 3, payload: []).encoded()
        NetlinkAttribute.encode([NetlinkAttribute(type: 1, string: "File exists")], into: &bytes)
        let message = NetlinkMessage(type: Netlink.messageError, flags: 0x100, sequence: 3, payload: bytes.bytes)
        XCTAssertEqual(message.errorCode, -17)
        XCTAssertEqual(NetlinkSocket.extendedAckText(message), "File exists")
        XCTAssertEqual(
            NetlinkMessage(type: Netlink.messageError, flags: 0, payload: [0, 0, 0, 0]).errorCode, 0,
            "an acknowledgement")
    }

    func testHostileLengthsAreRefusedWithoutATrap() throws {
        // A header claiming more bytes than arrived, and one claiming fewer than a header.
        var long = NetlinkMessage(type: Netlink.newLink, flags: 0, payload: [1, 2, 3, 4]).encoded()
        long[0] = 200
        XCTAssertThrowsError(try NetlinkMessage.decodeAll(long))
        var short = long
        short[0] = 8
        XCTAssertThrowsError(try NetlinkMessage.decodeAll(short))
        // An attribute running past its message, and a fixed part that is too short.
        XCTAssertThrowsError(try NetlinkAttribute.decodeAll([40, 0, 3, 0, 1, 2][...]))
        XCTAssertThrowsError(try NetworkInterface(payload: [0, 0, 0]))
        XCTAssertThrowsError(try Route(payload: [2, 24]))
        // A prefix length larger than the family allows is skipped, not trusted.
        var route = Route(destination: try IPPrefix(parsing: "10.0.0.0/8"), interfaceIndex: 1).requestPayload()
        route[1] = 99
        XCTAssertNil(try Route(payload: route))
        // Trailing bytes shorter than a header are ignored.
        XCTAssertEqual(try NetlinkMessage.decodeAll([1, 2, 3]), [])
    }
}
