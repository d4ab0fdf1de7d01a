import IsthmusCrypto
import IsthmusEvents
import IsthmusIKEv2
import IsthmusIP
import XCTest

@testable import IsthmusDaemon

final class IKEDispatcherTests: XCTestCase {
    let peer = endpoint("192.0.2.7", 500)
    let us = endpoint("198.51.100.1", 500)

    func datagram(_ bytes: [UInt8], from source: UDPEndpoint? = nil) -> IKEDatagram {
        IKEDatagram(bytes: bytes, source: source ?? peer, destination: us)
    }

    /// A dispatcher whose factory makes responders with SPIs 0x1000, 0x1001, ... and counts its calls.
    func makeDispatcher(created: @escaping (FakeSession) -> Void = { _ in }) -> IKEDispatcher {
        var next: UInt64 = 0x1000
        return IKEDispatcher { _ in
            let session = FakeSession(spi: next)
            next += 1
            created(session)
            return session
        }
    }

    func testNewInitRequestCreatesAResponder() {
        var made = 0
        var dispatcher = makeDispatcher { _ in made += 1 }
        guard case .created(let session) = dispatcher.route(datagram(ikeHeader(initiatorSPI: 0xAA, responderSPI: 0)))
        else { return XCTFail("expected a new responder") }
        XCTAssertEqual(session.localSPI, 0x1000)
        XCTAssertEqual(made, 1)
        XCTAssertEqual(dispatcher.count, 1)
        XCTAssertEqual(dispatcher.halfOpenCount, 1)
        XCTAssertTrue(dispatcher.session(forSPI: 0x1000) === session)
    }

    func testRetransmittedInitGoesToTheSameSession() {
        var made = 0
        var dispatcher = makeDispatcher { _ in made += 1 }
        let request = datagram(ikeHeader(initiatorSPI: 0xAA, responderSPI: 0))
        guard case .created(let first) = dispatcher.route(request) else { return XCTFail("expected a responder") }
        guard case .deliver(let second) = dispatcher.route(request) else { return XCTFail("expected delivery") }
        XCTAssertTrue(first === second)
        XCTAssertEqual(made, 1)
        // The same initiator SPI from another peer is another SA.
        guard case .created(let other) = dispatcher.route(datagram(request.bytes, from: endpoint("192.0.2.8", 500)))
        else { return XCTFail("expected a second responder") }
        XCTAssertFalse(other === first)
        XCTAssertEqual(made, 2)
    }

    func testRoutesByOurSPIWhenThePeerInitiated() {
        var dispatcher = makeDispatcher()
        guard case .created(let session) = dispatcher.route(datagram(ikeHeader(initiatorSPI: 0xAA, responderSPI: 0)))
        else { return XCTFail("expected a responder") }
        // IKE_AUTH request from the original initiator: I flag set, our SPI is the responder SPI.
        let auth = ikeHeader(initiatorSPI: 0xAA, responderSPI: 0x1000, exchange: 35, flags: 0x08, messageID: 1)
        guard case .deliver(let routed) = dispatcher.route(datagram(auth)) else { return XCTFail("not routed") }
        XCTAssertTrue(routed === session)
        XCTAssertEqual(dispatcher.halfOpenCount, 1, "half-open until it authenticates")
        XCTAssertFalse(dispatcher.isUnprovenHalfOpen(session), "the peer used our SPI")
        let established = GatewayEvent(time: .zero, connection: "peer", kind: .ikeSAEstablished, message: "up")
        XCTAssertFalse(dispatcher.didHandle(session, actions: [.event(established)]))
        XCTAssertEqual(dispatcher.halfOpenCount, 0, "authenticated: no longer half-open")
        // A message whose initiator SPI happens to equal ours does not route when the I flag says otherwise.
        let wrong = ikeHeader(initiatorSPI: 0xBB, responderSPI: 0x1000, exchange: 37, flags: 0x00)
        XCTAssertEqual(dropReason(dispatcher.route(datagram(wrong))), .unknownSPI)
    }

    func testRoutesByOurSPIWhenWeInitiated() {
        var dispatcher = makeDispatcher()
        let initiator = FakeSession(spi: 0x77)
        XCTAssertTrue(dispatcher.register(initiator))
        // IKE_SA_INIT response from the responder: I clear, R set, our SPI is the initiator SPI.
        let response = ikeHeader(initiatorSPI: 0x77, responderSPI: 0x99, exchange: 34, flags: 0x20)
        guard case .deliver(let routed) = dispatcher.route(datagram(response)) else { return XCTFail("not routed") }
        XCTAssertTrue(routed === initiator)
        // An INFORMATIONAL request from the original responder: I clear, R clear.
        let request = ikeHeader(initiatorSPI: 0x77, responderSPI: 0x99, exchange: 37, flags: 0x00, messageID: 5)
        guard case .deliver(let again) = dispatcher.route(datagram(request)) else { return XCTFail("not routed") }
        XCTAssertTrue(again === initiator)
        XCTAssertFalse(dispatcher.register(FakeSession(spi: 0x77)), "an SPI routes to one session only")
    }

    func testUnknownSPIsAreDroppedAndCounted() {
        var dispatcher = makeDispatcher()
        let stray = ikeHeader(initiatorSPI: 0x1, responderSPI: 0x2, exchange: 35, flags: 0x08)
        XCTAssertEqual(dropReason(dispatcher.route(datagram(stray))), .unknownSPI)
        let zero = ikeHeader(initiatorSPI: 0, responderSPI: 0, exchange: 37, flags: 0x20)
        XCTAssertEqual(dropReason(dispatcher.route(datagram(zero))), .unknownSPI)
        XCTAssertEqual(dispatcher.drops[.unknownSPI], 2)
        XCTAssertEqual(dispatcher.count, 0)
    }

    func testBadHeadersAndStrayISAKMPAreDropped() {
        var dispatcher = makeDispatcher()
        // ISAKMP that opens nothing and names no cookie of ours (an Informational, a Quick Mode).
        let isakmp = isakmpHeader(cookieI: 0xAA, cookieR: 0xBB, exchange: 32, messageID: 9)
        XCTAssertEqual(dropReason(dispatcher.route(datagram(isakmp))), .unknownSPI)
        XCTAssertEqual(dropReason(dispatcher.route(datagram([0x01, 0x02]))), .malformed)
        XCTAssertEqual(dropReason(dispatcher.route(datagram([]))), .malformed)
        let future = ikeHeader(initiatorSPI: 0xAA, responderSPI: 0, version: 0x30)
        XCTAssertEqual(dropReason(dispatcher.route(datagram(future))), .unsupportedVersion)
        XCTAssertEqual(dispatcher.drops, [.unknownSPI: 1, .malformed: 2, .unsupportedVersion: 1])
        XCTAssertEqual(dispatcher.count, 0)
    }

    func testInitFromAnUnknownPeerIsDropped() {
        var dispatcher = IKEDispatcher { _ in nil }
        XCTAssertEqual(
            dropReason(dispatcher.route(datagram(ikeHeader(initiatorSPI: 0xAA, responderSPI: 0)))),
            .noMatchingConnection)
        XCTAssertEqual(dispatcher.halfOpenCount, 0)
    }

    func testClosedSessionsAreRemoved() {
        var dispatcher = makeDispatcher()
        let request = datagram(ikeHeader(initiatorSPI: 0xAA, responderSPI: 0))
        guard case .created(let session) = dispatcher.route(request) else { return XCTFail("expected a responder") }
        XCTAssertFalse(dispatcher.didHandle(session, actions: []))
        XCTAssertTrue(dispatcher.didHandle(session, actions: [.cancelTimer(.liveness), .ikeSAClosed(restart: false)]))
        XCTAssertEqual(dispatcher.count, 0)
        XCTAssertEqual(dispatcher.halfOpenCount, 0)
        XCTAssertNil(dispatcher.session(forSPI: 0x1000))
        let auth = ikeHeader(initiatorSPI: 0xAA, responderSPI: 0x1000, exchange: 35, flags: 0x08)
        XCTAssertEqual(dropReason(dispatcher.route(datagram(auth))), .unknownSPI)
        // The same INIT again is a new SA now.
        guard case .created(let fresh) = dispatcher.route(request) else { return XCTFail("expected a new responder") }
        XCTAssertFalse(fresh === session)
    }

    func testARekeyedSessionAnswersToItsNewSPI() {
        var dispatcher = makeDispatcher()
        let session = FakeSession(spi: 0x10)
        dispatcher.register(session)
        session.localSPI = 0x20
        dispatcher.didHandle(session, actions: [])
        XCTAssertTrue(dispatcher.session(forSPI: 0x20) === session)
        XCTAssertTrue(dispatcher.session(forSPI: 0x10) === session, "the old SPI keeps routing while it drains")
        for spi in UInt64(0x21)...0x30 {
            session.localSPI = spi
            dispatcher.refreshSPIs(of: session)
        }
        XCTAssertNil(dispatcher.session(forSPI: 0x10), "old SPIs are bounded")
        XCTAssertTrue(dispatcher.session(forSPI: 0x30) === session)

        let reporting = ReportingSession(spis: [0x100, 0x200])
        dispatcher.register(reporting)
        XCTAssertTrue(dispatcher.session(forSPI: 0x100) === reporting)
        reporting.localSPIs = [0x200]
        dispatcher.refreshSPIs(of: reporting)
        XCTAssertNil(dispatcher.session(forSPI: 0x100), "a reporting session's set replaces the old one")
        XCTAssertTrue(dispatcher.session(forSPI: 0x200) === reporting)
    }

    func testLimitsAndShutdown() {
        var dispatcher = makeDispatcher()
        dispatcher.maximumSessions = 1
        XCTAssertTrue(dispatcher.register(FakeSession(spi: 0x77)))
        XCTAssertEqual(dropReason(dispatcher.route(datagram(ikeHeader(initiatorSPI: 2, responderSPI: 0)))), .tableFull)
        dispatcher.maximumSessions = 2
        XCTAssertNotNil(created(dispatcher.route(datagram(ikeHeader(initiatorSPI: 1, responderSPI: 0)))))
        dispatcher.maximumSessions = 10
        dispatcher.acceptsNewSessions = false
        XCTAssertEqual(
            dropReason(dispatcher.route(datagram(ikeHeader(initiatorSPI: 3, responderSPI: 0)))), .shuttingDown)
        // A retransmission to an existing half-open SA still gets through while shutting down.
        guard case .deliver = dispatcher.route(datagram(ikeHeader(initiatorSPI: 1, responderSPI: 0))) else {
            return XCTFail("expected delivery")
        }
    }

    func testHeaderPeek() throws {
        let header = try XCTUnwrap(IKEHeaderPeek(ikeHeader(initiatorSPI: 0x0102, responderSPI: 0, messageID: 7)))
        XCTAssertEqual(header.initiatorSPI, 0x0102)
        XCTAssertEqual(header.majorVersion, 2)
        XCTAssertEqual(header.messageID, 7)
        XCTAssertTrue(header.isNewSARequest)
        XCTAssertEqual(header.ourSPI, 0)
        XCTAssertNil(IKEHeaderPeek([UInt8](repeating: 0, count: 27)))
    }

}

func dropReason(_ route: IKEDispatcher.Route) -> IKEDropReason? {
    if case .drop(let reason) = route { return reason }
    return nil
}

func created(_ route: IKEDispatcher.Route) -> (any IKESession)? {
    if case .created(let session) = route { return session }
    return nil
}

func delivered(_ route: IKEDispatcher.Route) -> (any IKESession)? {
    if case .deliver(let session) = route { return session }
    return nil
}

/// The dispatcher's COOKIE challenge (RFC 7296 2.6) once too many SAs are half-open.
final class IKEDispatcherCookieTests: XCTestCase {
    func testChallengesWithoutCookieAndAdmitsWithIt() throws {
        let initiator = try makeIKEv2Initiator()
        let actions = initiator.handle(.initiate, now: .zero)
        guard case .send(let request)? = actions.first(where: { if case .send = $0 { true } else { false } }) else {
            return XCTFail("no IKE_SA_INIT")
        }
        var created = 0
        var dispatcher = IKEDispatcher(cookieThreshold: 0) { _ in
            created += 1
            return FakeSession(connection: "c", spi: 0x1234)
        }
        guard case .challenge(let answer) = dispatcher.route(request) else { return XCTFail("no challenge") }
        XCTAssertEqual(created, 0, "no state for an unverified initiator")
        XCTAssertEqual(dispatcher.challengesSent, 1)
        // The initiator repeats with the cookie; now it gets a session.
        let retry = initiator.handle(.datagram(answer), now: .zero)
        guard case .send(let second)? = retry.first(where: { if case .send = $0 { true } else { false } }) else {
            return XCTFail("no retry")
        }
        guard case .created = dispatcher.route(second) else { return XCTFail("cookie not accepted") }
        XCTAssertEqual(created, 1)
    }
}
