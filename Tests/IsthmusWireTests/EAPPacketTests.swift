import IsthmusTestSupport
import IsthmusWire
import XCTest

final class EAPPacketTests: XCTestCase {
    func testIdentityRoundTrip() throws {
        let request = EAPPacket(code: .request, identifier: 7, type: .identity)
        XCTAssertEqual(request.serialize(), [1, 7, 0, 5, 1])
        let response = try EAPPacket(parsing: [2, 7, 0, 10, 1] + Array("alice".utf8))
        XCTAssertEqual(response.code, .response)
        XCTAssertEqual(response.type, .identity)
        XCTAssertEqual(response.data, Array("alice".utf8))
        XCTAssertEqual(try EAPPacket(parsing: response.serialize()), response)
    }

    func testSuccessAndFailure() throws {
        XCTAssertEqual(EAPPacket(code: .success, identifier: 3).serialize(), [3, 3, 0, 4])
        XCTAssertEqual(try EAPPacket(parsing: [4, 9, 0, 4]).code, .failure)
        XCTAssertThrowsError(try EAPPacket(parsing: [3, 3, 0, 5, 26]))
    }

    func testNak() throws {
        let nak = try EAPPacket(parsing: [2, 1, 0, 6, 3, 26])
        XCTAssertEqual(nak.type, .nak)
        XCTAssertEqual(nak.data, [26])
    }

    func testGarbageIsATypedError() {
        for bytes: [UInt8] in [
            [], [1], [1, 2, 0], [9, 1, 0, 4], [1, 1, 0, 4], [1, 1, 0, 9, 1], [2, 1, 0, 5, 1, 0],
        ] {
            XCTAssertThrowsError(try EAPPacket(parsing: bytes), "\(bytes)") { XCTAssertTrue($0 is WireError) }
        }
    }

    func testMSCHAPv2ChallengeRoundTrip() throws {
        let challenge = MSCHAPv2Packet.challenge(
            id: 4, challenge: Array(0..<16), name: Array("isthmus".utf8))
        let bytes = challenge.serialize()
        XCTAssertEqual(Array(bytes[0..<5]), [1, 4, 0, 28, 16])
        XCTAssertEqual(try MSCHAPv2Packet(parsing: bytes, isRequest: true), challenge)
    }

    func testMSCHAPv2ResponseAsStrongSwanSendsIt() throws {
        let response = MSCHAPv2Packet.response(
            id: 4, peerChallenge: Array(repeating: 1, count: 16), ntResponse: Array(repeating: 2, count: 24),
            flags: 0, name: Array("alice".utf8))
        let bytes = response.serialize()
        // opcode, id, MS-Length (= EAP length - 5), value size 49.
        XCTAssertEqual(Array(bytes[0..<5]), [2, 4, 0, UInt8(bytes.count), 49])
        XCTAssertEqual(bytes.count, 4 + 1 + 49 + 5)
        XCTAssertEqual(try MSCHAPv2Packet(parsing: bytes, isRequest: false), response)
    }

    func testMSCHAPv2SuccessAndFailure() throws {
        let success = MSCHAPv2Packet.successRequest(id: 4, message: "S=00 M=hi")
        XCTAssertEqual(try MSCHAPv2Packet(parsing: success.serialize(), isRequest: true), success)
        XCTAssertEqual(try MSCHAPv2Packet(parsing: [3], isRequest: false), .successResponse)
        XCTAssertEqual(try MSCHAPv2Packet(parsing: [4], isRequest: false), .failureResponse)
        XCTAssertThrowsError(try MSCHAPv2Packet(parsing: [3, 1], isRequest: false))
        let changePassword = MSCHAPv2Packet.changePassword(id: 9)
        XCTAssertEqual(try MSCHAPv2Packet(parsing: changePassword.serialize(), isRequest: false), changePassword)
    }

    func testMSCHAPv2GarbageIsATypedError() {
        let cases: [[UInt8]] = [
            [], [5], [1, 1, 0], [1, 1, 0, 5, 16], [1, 1, 0, 21, 8] + Array(repeating: 0, count: 16),
            [2, 1, 0, 10, 49, 0, 0, 0, 0, 0], [2, 1, 0, 4], [7, 1, 0, 4], [1, 1, 0, 99, 16],
        ]
        for bytes in cases {
            XCTAssertThrowsError(try MSCHAPv2Packet(parsing: bytes, isRequest: false), "\(bytes)") {
                XCTAssertTrue($0 is WireError)
            }
        }
    }

    func testRandomBytesNeverTrap() {
        var random = SplitMix64(seed: 26)
        for _ in 0..<20_000 {
            let count = Int(random.next() % 80)
            var bytes = random.bytes(count)
            if count >= 4, random.next() % 2 == 0 {
                bytes[2] = UInt8(count >> 8)
                bytes[3] = UInt8(count & 0xff)
            }
            if let packet = try? EAPPacket(parsing: bytes), packet.type == .mschapv2 {
                _ = try? MSCHAPv2Packet(parsing: packet.data, isRequest: packet.code == .request)
            }
            _ = try? MSCHAPv2Packet(parsing: bytes, isRequest: random.next() % 2 == 0)
        }
    }
}
