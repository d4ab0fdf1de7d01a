import IsthmusEvents
import XCTest

@testable import IsthmusIKE

/// One message awaiting its answer, on its own (what IKEExchangeWindow and IKEv1's Main and Quick Modes share).
final class IKERetransmissionTests: XCTestCase {
    func testTheStandardScheduleDoublesThenGivesUp() {
        var pending = IKERetransmission(messageID: 0, datagrams: [[1]], now: .seconds(5))
        XCTAssertEqual(pending.nextAt, .seconds(6))
        XCTAssertFalse(pending.isDue(at: .milliseconds(5999)))
        XCTAssertTrue(pending.isDue(at: .seconds(6)))
        var now = pending.nextAt
        var delays: [Int64] = [1]
        while case .resend(let next) = pending.retransmit(now: now) {
            XCTAssertEqual(next, pending.nextAt)
            delays.append((next - now).components.seconds)
            now = next
        }
        XCTAssertEqual(delays, [1, 2, 4, 8, 16, 32, 64])
        XCTAssertEqual(pending.retransmits, 6)
        XCTAssertEqual(pending.retransmit(now: now + .seconds(100)), .giveUp, "stays given up")
    }

    func testAScheduleOfItsOwnALimitAndAGiveUpTime() {
        let slow = RetransmissionSchedule(initialTimeout: .seconds(4), maximumRetransmits: 1)
        var pending = IKERetransmission(messageID: 7, datagrams: [[1], [2]], now: .zero, schedule: slow)
        XCTAssertEqual(pending.retransmit(now: .seconds(4)), .resend(next: .seconds(12)))
        XCTAssertEqual(pending.retransmit(now: .seconds(12)), .giveUp)

        var limited = IKERetransmission(messageID: 1, datagrams: [[1]], now: .zero, retransmitLimit: 0)
        XCTAssertEqual(limited.retransmit(now: .seconds(1)), .giveUp)

        var bounded = IKERetransmission(messageID: 1, datagrams: [[1]], now: .zero, giveUpAt: .seconds(5))
        XCTAssertEqual(bounded.retransmit(now: .seconds(1)), .resend(next: .seconds(3)))
        XCTAssertEqual(bounded.retransmit(now: .seconds(3)), .resend(next: .seconds(5)), "not past the give-up time")
        XCTAssertEqual(bounded.retransmit(now: .seconds(5)), .giveUp)
    }

    func testACachedResponseAnswersItsRequestOnly() {
        let v1 = IKECachedResponse(request: [UInt8]([1, 2, 3]), datagrams: [[9]])
        XCTAssertTrue(v1.answers([1, 2, 3]))
        XCTAssertFalse(v1.answers([1, 2]))
        let v2 = IKECachedResponse(messageID: 4, datagrams: [[8]])
        XCTAssertEqual(v2.messageID, 4)
        XCTAssertTrue(v2.answers(4))
    }

    func testTheDropLogCountsDropsLoggedElsewhere() {
        var log = DroppedMessageLog()
        log.count()
        XCTAssertEqual(log.total, 1)
        let logged = (0..<7).filter { log.record(now: .seconds($0)).log }
        XCTAssertEqual(logged.count, 5, "counted drops are outside the limit")
        XCTAssertEqual(log.total, 8)
    }
}
