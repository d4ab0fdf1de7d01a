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

    /// A responder (or a forger of its unprotected answers) that answers every retry with a new COOKIE:
    /// followed `maximumCookieRetries` times, then the attempt ends with `initiation-failed`.
    func testInitiatorGivesUpAfterTooManyCookies() throws {
        let pair = Pair(initiator: configuration(office: true), responder: configuration(office: false))
        var request = try initRequest(from: pair)
        pair.inFlight.removeAll()
        var generator = SplitMix64(seed: 5)
        var guardian = IKEv2CookieChallenge(using: &generator)
        for _ in 0...IKEv2StateMachine.maximumCookieRetries {
            guardian.rotateSecret(using: &generator)
            let answer = try XCTUnwrap(guardian.challenge(to: try IKEv2Message.parse(request.bytes), datagram: request))
            pair.input(.initiator, .datagram(answer))
            if let retry = pair.inFlight.popLast()?.datagram { request = retry }
        }
        XCTAssertEqual(pair.kinds(.initiator).filter { $0 == .cookieRequested }.count, 3)
        XCTAssertEqual(pair.kinds(.initiator).last, .initiationFailed)
        XCTAssertTrue(pair.closed.contains(.initiator))
        XCTAssertEqual(pair.restarts[.initiator], true, "tried again later, with the restart backoff")
    }

    private func invalidKE(answering request: IKEDatagram, wanting group: UInt16) throws -> IKEDatagram {
        let message = try IKEv2Message.parse(request.bytes)
        let answer = IKEv2Message(
            initiatorSPI: message.initiatorSPI, responderSPI: 0, exchangeType: .ikeSAInit, flags: [.response],
            messageID: 0,
            payloads: [
                .notify(
                    IKEv2NotifyPayload(
                        protocolID: .none, spi: [], notifyType: .invalidKEPayload,
                        data: [UInt8(group >> 8), UInt8(group & 0xff)]))
            ])
        return IKEDatagram(bytes: answer.serialize(), source: request.destination, destination: request.source)
    }

    /// INVALID_KE_PAYLOAD (RFC 7296 1.2): one retry per group. A responder asking for ecp256, then
    /// modp2048, then ecp256 again used to keep us alternating for ever.
    func testInvalidKEIsFollowedOncePerGroup() throws {
        let office = configuration(office: true, ike: "aes256gcm16-prfsha256-ecp256-modp2048")
        let pair = Pair(initiator: office, responder: configuration(office: false))
        let first = try initRequest(from: pair)
        pair.inFlight.removeAll()
        pair.input(.initiator, .datagram(try invalidKE(answering: first, wanting: 14)))
        let second = try XCTUnwrap(pair.inFlight.popLast()?.datagram, "retried with modp2048")
        guard
            case .keyExchange(let ke)? = try IKEv2Message.parse(second.bytes).payloads.first(where: {
                if case .keyExchange = $0 { true } else { false }
            })
        else { return XCTFail("no KE") }
        XCTAssertEqual(ke.group, 14)
        pair.input(.initiator, .datagram(try invalidKE(answering: second, wanting: 19)))
        XCTAssertTrue(pair.inFlight.isEmpty, "no third IKE_SA_INIT")
        XCTAssertEqual(pair.kinds(.initiator).last, .initiationFailed)
        XCTAssertTrue(pair.closed.contains(.initiator))
    }
}
