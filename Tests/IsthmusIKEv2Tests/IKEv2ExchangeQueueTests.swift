import IsthmusEvents
import IsthmusWire
import XCTest

@testable import IsthmusIKEv2

/// Exchanges that find the window busy wait in a queue and start when it frees (RFC 7296 section 2.3),
/// rather than polling with timers.
final class IKEv2ExchangeQueueTests: XCTestCase {
    func testChildRekeyWaitsForTheIKERekeyInFlight() throws {
        let pair = Pair(initiator: configuration(office: true), responder: configuration(office: false))
        pair.establish()
        let child = try XCTUnwrap(pair.installed[.initiator]?.first)
        pair.fireNextTimer { side, timer in side == .initiator && timer == .rekeyIKESA }
        let sentBefore = pair.sent.count
        pair.fireNextTimer { side, timer in side == .initiator && timer == .rekeyChildSA(inboundSPI: child.inboundSPI) }
        XCTAssertEqual(pair.sent.count, sentBefore, "nothing sent while the IKE SA rekey is in flight")
        XCTAssertFalse(
            pair.timers.contains { $0.side == .initiator && $0.timer == .rekeyChildSA(inboundSPI: child.inboundSPI) },
            "no retry timer: the rekey is queued")
        pair.run()
        let status = pair.initiator.status(now: pair.now)
        XCTAssertEqual(status.state, .established)
        XCTAssertEqual(pair.installed[.responder]?.count, 2, "the queued CHILD SA rekey ran over the new IKE SA")
        XCTAssertEqual(pair.removed[.responder], [child.outboundSPI], "and the old CHILD SA was deleted")
        let rekeyedOverNewSA = pair.sent.dropFirst(sentBefore).contains { sent in
            guard let message = try? IKEv2Message.parse(sent.datagram.bytes) else { return false }
            return sent.from == .initiator && message.exchangeType == .createChildSA && message.messageID == 0
                && SAIdentifier.ike(message.initiatorSPI) == status.localSPI
        }
        XCTAssertTrue(rekeyedOverNewSA, "message ID 0 of the new IKE SA")
    }

    func testTerminateDropsQueuedExchanges() throws {
        let pair = Pair(initiator: configuration(office: true), responder: configuration(office: false))
        pair.establish()
        let child = try XCTUnwrap(pair.installed[.initiator]?.first)
        pair.deliver = { _, _ in false }
        pair.fireNextTimer { side, timer in side == .initiator && timer == .rekeyIKESA }
        pair.fireNextTimer { side, timer in side == .initiator && timer == .rekeyChildSA(inboundSPI: child.inboundSPI) }
        pair.input(.initiator, .terminate)
        while pair.fireNextTimer(where: { side, _ in side == .initiator }) != nil {}
        XCTAssertTrue(pair.closed.contains(.initiator))
        let createChildSA = pair.sent.filter { sent in
            sent.from == .initiator && (try? IKEv2Message.parse(sent.datagram.bytes))?.exchangeType == .createChildSA
        }
        XCTAssertEqual(createChildSA.count, 1, "the IKE SA rekey only: the queued CHILD SA rekey never started")
    }
}
