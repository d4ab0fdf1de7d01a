import XCTest

@testable import IsthmusWire

final class IKEv2ConfigurationPayloadTests: XCTestCase {
    /// A payload header (next payload none, length) before `body`.
    private func chain(_ body: [UInt8]) -> [UInt8] {
        let length = body.count + 4
        return [0, 0, UInt8(length >> 8), UInt8(length & 0xFF)] + body
    }

    private func attribute(_ type: UInt16, _ value: [UInt8] = []) -> [UInt8] {
        [UInt8(type >> 8), UInt8(type & 0xFF), UInt8(value.count >> 8), UInt8(value.count & 0xFF)] + value
    }

    /// What a Windows client asks for (INTERNAL_IP4_ADDRESS, _DNS, _NBNS, Microsoft's private 23456, the IPv6
    /// ones) and what strongSwan asks for with `vips = 0.0.0.0` (address, DNS both families, its private
    /// 25xxx attributes): every attribute parses, unknown ones too, and the payload serializes as it came.
    func testClientRequestsParseWithUnknownAttributes() throws {
        let body: [UInt8] =
            [1, 0, 0, 0]
            + attribute(1) + attribute(3) + attribute(4) + attribute(23456) + attribute(8) + attribute(10)
            + attribute(7, Array("strongSwan 6.0.1".utf8)) + attribute(25002, [1, 2]) + attribute(0x8000 | 28674)
        let bytes = chain(body)
        let payloads = try IKEv2PayloadChain.parse(bytes[...], firstPayloadType: .configuration)
        guard case .configuration(let cp)? = payloads.first else { return XCTFail("no CP: \(payloads)") }
        XCTAssertEqual(cp.configurationType, .request)
        XCTAssertEqual(cp.attributes.map(\.type), [1, 3, 4, 23456, 8, 10, 7, 25002, 28674])
        XCTAssertNil(try cp.attributes[0].ipv4Value(), "an empty value asks for any address")
        XCTAssertNil(try cp.attributes[4].ipv6Value())
        XCTAssertEqual(
            String(decoding: cp.attributes[6].value, as: UTF8.self), "strongSwan 6.0.1",
            "APPLICATION_VERSION is free text")
        var reserialized = bytes
        reserialized[4 + 4 + 6 * 4 + 4 + 16 + 6] &= 0x7F  // the reserved bit is written as zero
        XCTAssertEqual(IKEv2PayloadChain.serialize(payloads), reserialized)
    }

    func testReplyAttributesCarryTheirValues() throws {
        let reply = IKEv2ConfigurationPayload(
            configurationType: .reply,
            attributes: [
                .internalIPv4Address([10, 0, 0, 7]), .internalIPv4DNS([10, 0, 1, 4]),
                .internalIPv4Subnet(address: [10, 0, 1, 0], mask: [255, 255, 255, 0]),
                IKEv2ConfigurationAttribute(
                    type: IKEv2ConfigurationAttribute.internalIPv6AddressType,
                    value: [UInt8](repeating: 0xFD, count: 16) + [64]),
            ])
        let bytes = IKEv2PayloadChain.serialize([.configuration(reply)])
        let parsed = try IKEv2PayloadChain.parse(bytes[...], firstPayloadType: .configuration)
        XCTAssertEqual(parsed, [.configuration(reply)])
        XCTAssertEqual(try reply.attributes[0].ipv4Value(), [10, 0, 0, 7])
        XCTAssertEqual(try reply.attributes[2].ipv4SubnetValue().mask, [255, 255, 255, 0])
        XCTAssertEqual(try reply.attributes[3].ipv6Value()?.prefixLength, 64)
    }

    func testGarbageIsAWireError() {
        let cases: [(String, [UInt8])] = [
            ("attribute longer than the payload", [1, 0, 0, 0] + [0, 1, 0, 9, 10, 0]),
            ("half an attribute header", [1, 0, 0, 0, 0, 1]),
            ("no reserved bytes", [1, 0]),
        ]
        for (name, body) in cases {
            let bytes = chain(body)
            XCTAssertThrowsError(try IKEv2PayloadChain.parse(bytes[...], firstPayloadType: .configuration), name) {
                XCTAssertTrue($0 is WireError, name)
            }
        }
        let tooMany: [UInt8] = [1, 0, 0, 0] + (0..<5000).flatMap { _ in attribute(3) }
        XCTAssertThrowsError(try IKEv2PayloadChain.parse(chain(tooMany)[...], firstPayloadType: .configuration))
        XCTAssertThrowsError(try IKEv2ConfigurationAttribute(type: 1, value: [10, 0, 0]).ipv4Value()) {
            XCTAssertEqual($0 as? WireError, WireError(code: .lengthMismatch, offset: 0, reason: ""))
        }
        XCTAssertThrowsError(try IKEv2ConfigurationAttribute(type: 8, value: [1]).ipv6Value())
        XCTAssertThrowsError(try IKEv2ConfigurationAttribute(type: 13, value: [10, 0, 1, 0]).ipv4SubnetValue())
    }
}
