import IsthmusEvents
import IsthmusWire
import XCTest

@testable import IsthmusIKEv2

/// Deleting an IKE SA the peer no longer has (found by the strongSwan interop test).
final class IKEv2DeleteTests: XCTestCase {
    func testUnansweredDeleteClosesSoonAndIsNotRepeated() throws {
        let pair = Pair(initiator: configuration(office: true), responder: configuration(office: false))
        pair.establish()
        pair.deliver = { _, _ in false }
        let sentBefore = pair.sent.count
        pair.input(.initiator, .terminate)
        // A second `down` while deleting adds no request (window of one, RFC 7296 2.3).
        pair.input(.initiator, .terminate)
        XCTAssertEqual(pair.sent.count, sentBefore + 1)
        let start = pair.now
        while pair.fireNextTimer(where: { side, _ in side == .initiator }) != nil {}
        XCTAssertTrue(pair.closed.contains(.initiator))
        XCTAssertEqual(pair.sent.count, sentBefore + 3, "the DELETE and two retransmissions")
        XCTAssertLessThanOrEqual(pair.now - start, .seconds(8))
        let ids = Set(
            pair.sent.dropFirst(sentBefore).compactMap { try? IKEv2Message.parse($0.datagram.bytes).messageID })
        XCTAssertEqual(ids.count, 1, "all retransmissions of one message ID")
    }
}

/// NAT keepalives, liveness timeout and the rate limit on drop events.
final class IKEv2KeepaliveAndLimitsTests: XCTestCase {
    func testKeepalivesOnlyWhenWeAreBehindNAT() throws {
        let pair = Pair(initiator: configuration(office: true), responder: configuration(office: false))
        // The office sits behind a NAT: the cloud sees it from another address and port.
        let nat = endpoint("203.0.113.99", 31000)
        pair.deliver = { side, datagram in
            var rewritten = datagram
            if side == .initiator { rewritten.source = nat } else { rewritten.destination = endpoint("198.51.100.1") }
            pair.inFlight.append((side == .initiator ? .responder : .initiator, rewritten))
            return false
        }
        pair.establish()
        XCTAssertTrue(pair.kinds(.initiator).contains(.ikeSAEstablished), "\(pair.events[.initiator]!)")
        XCTAssertTrue(pair.initiator.status(now: pair.now).natLocal)
        pair.fireNextTimer { side, timer in side == .initiator && timer == .natKeepalive }
        pair.fireNextTimer { side, timer in side == .initiator && timer == .natKeepalive }
        XCTAssertEqual(pair.keepalives[.initiator], 2)
        XCTAssertNil(pair.keepalives[.responder], "the side not behind a NAT sends none")
        XCTAssertTrue(pair.installed[.initiator]?.first?.tunnel.udpEncapsulated ?? false)
    }

    func testLivenessGivesUpAtTheConfiguredTimeout() {
        let liveness = IKELiveness(interval: .seconds(10), timeout: .seconds(20), action: .restart)
        let pair = Pair(
            initiator: configuration(office: true, liveness: liveness), responder: configuration(office: false))
        pair.establish()
        pair.deliver = { _, _ in false }
        pair.fireNextTimer { side, timer in side == .initiator && timer == .liveness }
        let sentAt = pair.now
        while !pair.closed.contains(.initiator), pair.fireNextTimer(where: { side, _ in side == .initiator }) != nil {}
        XCTAssertTrue(pair.kinds(.initiator).contains(.livenessTimeout))
        XCTAssertEqual(pair.now - sentAt, .seconds(20), "dead after exactly dpd.timeout")
        XCTAssertEqual(pair.restarts[.initiator], true, "dpd action restart")
    }

    func testGarbageFloodIsCountedButLoggedAtARate() {
        let pair = Pair(initiator: configuration(office: true), responder: configuration(office: false))
        for index in 0..<100 {
            pair.now = .milliseconds(index)
            pair.input(
                .responder,
                .datagram(
                    IKEDatagram(
                        bytes: [UInt8](repeating: UInt8(index), count: 40),
                        source: endpoint("198.51.100.1"), destination: endpoint("203.0.113.1"))))
        }
        XCTAssertEqual(pair.kinds(.responder).filter { $0 == .messageDropped }.count, 5)
        pair.now = .seconds(61)
        pair.input(
            .responder,
            .datagram(
                IKEDatagram(
                    bytes: [1], source: endpoint("198.51.100.1"),
                    destination: endpoint("203.0.113.1"))))
        XCTAssertTrue(pair.events[.responder]!.contains { $0.message.contains("dropped 95 more messages") })
        XCTAssertTrue(pair.closed.isEmpty, "garbage never closes an SA")
    }
}

/// Every message out of its place is refused without changing the SA (a state machine rejects
/// every extra message).
final class IKEv2OutOfOrderTests: XCTestCase {
    func testEveryRecordedMessageIsRejectedOutOfPlace() throws {
        // Record a full life: establish, CHILD SA rekey, IKE SA rekey, delete.
        let recorder = Pair(initiator: configuration(office: true), responder: configuration(office: false))
        recorder.establish()
        let child = try XCTUnwrap(recorder.installed[.initiator]?.first)
        recorder.fireNextTimer { s, t in s == .initiator && t == .rekeyChildSA(inboundSPI: child.inboundSPI) }
        recorder.run()
        recorder.fireNextTimer { s, t in s == .responder && t == .rekeyIKESA }
        recorder.run()
        recorder.input(.initiator, .terminate)
        recorder.run()
        let messages = recorder.sent.map(\.datagram)
        XCTAssertGreaterThan(messages.count, 12)

        // A fresh responder accepts nothing but an IKE_SA_INIT request.
        for (index, datagram) in messages.enumerated() {
            let fresh = Pair(initiator: configuration(office: true), responder: configuration(office: false), seed: 9)
            let message = try IKEv2Message.parse(datagram.bytes)
            let isInitRequest = message.exchangeType == .ikeSAInit && !message.flags.contains(.response)
            fresh.input(.responder, .datagram(datagram))
            if !isInitRequest {
                XCTAssertEqual(fresh.responder.status(now: .zero).state, .idle, "message \(index)")
                XCTAssertEqual(fresh.installed[.responder]?.count, 0, "message \(index)")
                XCTAssertTrue(fresh.inFlight.isEmpty, "message \(index) got an answer")
            }
        }

        // An established pair (a different IKE SA) ignores every recorded message of the other one.
        let other = Pair(initiator: configuration(office: true), responder: configuration(office: false), seed: 77)
        other.establish()
        let before = (other.initiator.status(now: other.now), other.responder.status(now: other.now))
        for datagram in messages {
            other.input(.initiator, .datagram(datagram))
            other.input(.responder, .datagram(datagram))
        }
        XCTAssertEqual(other.initiator.status(now: other.now), before.0)
        XCTAssertEqual(other.responder.status(now: other.now).childSAs, before.1.childSAs)
        XCTAssertTrue(other.closed.isEmpty)
        XCTAssertEqual(other.installed[.initiator]?.count, 1)
    }
}
