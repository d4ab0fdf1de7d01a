import IsthmusCrypto
import IsthmusTestSupport
import IsthmusWire
import XCTest

@testable import IsthmusIKEv2

/// COOKIE challenges (RFC 7296 section 2.6): stateless answer, initiator retry, secret rotation.
final class IKEv2CookieTests: XCTestCase {
    private func initRequest(from pair: Pair) throws -> IKEDatagram {
        pair.input(.initiator, .initiate)
        return try XCTUnwrap(pair.inFlight.first?.datagram)
    }

    func testChallengeAndValidation() throws {
        let pair = Pair(initiator: configuration(office: true), responder: configuration(office: false))
        let datagram = try initRequest(from: pair)
        let request = try IKEv2Message.parse(datagram.bytes)
        var generator = SplitMix64(seed: 3)
        var guardian = IKEv2CookieChallenge(using: &generator)
        XCTAssertFalse(guardian.isValid(request, from: datagram.source))
        let answer = try XCTUnwrap(guardian.challenge(to: request, datagram: datagram))
        XCTAssertEqual(answer.destination, datagram.source)
        let response = try IKEv2Message.parse(answer.bytes)
        XCTAssertEqual(response.payloads.count, 1)
        guard case .notify(let cookie)? = response.payloads.first, cookie.notifyType == .cookie else {
            return XCTFail("no COOKIE notify")
        }
        var retried = request
        retried.payloads.insert(.notify(cookie), at: 0)
        XCTAssertTrue(guardian.isValid(retried, from: datagram.source))
        XCTAssertFalse(guardian.isValid(retried, from: endpoint("198.51.100.99")), "bound to the source address")
        var otherSPI = retried
        otherSPI.initiatorSPI &+= 1
        XCTAssertFalse(guardian.isValid(otherSPI, from: datagram.source), "bound to the initiator SPI")
        var tampered = retried
        var bad = cookie
        bad.data[bad.data.count - 1] ^= 1
        tampered.payloads[0] = .notify(bad)
        XCTAssertFalse(guardian.isValid(tampered, from: datagram.source))
        guardian.rotateSecret(using: &generator)
        XCTAssertTrue(guardian.isValid(retried, from: datagram.source), "the previous secret stays valid")
        guardian.rotateSecret(using: &generator)
        XCTAssertFalse(guardian.isValid(retried, from: datagram.source), "but not two rotations later")
    }

    func testInitiatorRetriesWithTheCookieAndEstablishes() throws {
        let pair = Pair(initiator: configuration(office: true), responder: configuration(office: false))
        let datagram = try initRequest(from: pair)
        pair.inFlight.removeAll()
        var generator = SplitMix64(seed: 4)
        let guardian = IKEv2CookieChallenge(using: &generator)
        let answer = try XCTUnwrap(guardian.challenge(to: try IKEv2Message.parse(datagram.bytes), datagram: datagram))
        pair.input(.initiator, .datagram(answer))
        XCTAssertTrue(pair.kinds(.initiator).contains(.cookieRequested))
        let retry = try XCTUnwrap(pair.inFlight.first?.datagram)
        XCTAssertTrue(guardian.isValid(try IKEv2Message.parse(retry.bytes), from: retry.source))
        pair.run()
        XCTAssertTrue(pair.kinds(.initiator).contains(.ikeSAEstablished))
        XCTAssertTrue(pair.kinds(.responder).contains(.ikeSAEstablished))
    }
}
