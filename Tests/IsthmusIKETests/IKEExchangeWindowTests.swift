import IsthmusEvents
import XCTest

@testable import IsthmusIKE

/// The message-ID window on its own (RFC 7296 sections 2.1, 2.3; RFC 7383): a clock in the test's hand.
final class IKEExchangeWindowTests: XCTestCase {
    private typealias Window = IKEExchangeWindow<String>

    func testRequestsTakeConsecutiveMessageIDsOneAtATime() {
        var window = Window()
        XCTAssertEqual(window.nextRequestID, 0)
        let deadline = window.start("init", datagrams: [[1]], now: .seconds(10))
        XCTAssertEqual(deadline, .seconds(11), "first retransmission after 1 s")
        XCTAssertTrue(window.isBusy)
        XCTAssertTrue(window.answers(0))
        XCTAssertFalse(window.answers(1))
        XCTAssertEqual(window.finish()?.exchange, "init")
        XCTAssertFalse(window.isBusy)
        _ = window.start("auth", datagrams: [[2]], now: .seconds(11))
        XCTAssertEqual(window.inFlight?.messageID, 1)
        XCTAssertEqual(window.nextRequestID, 2)
    }

    func testRetransmissionsDoubleThenGiveUp() {
        var window = Window()
        var now: MonotonicTime = .zero
        var next = window.start("auth", datagrams: [[1], [2]], now: now)
        var delays: [Int64] = []
        while true {
            delays.append((next - now).components.seconds)
            now = next
            switch window.retransmit(messageID: 0, now: now) {
            case .resend(let request, let deadline):
                XCTAssertEqual(request.datagrams, [[1], [2]])
                next = deadline
                continue
            case .giveUp(let request):
                XCTAssertEqual(request.retransmits, 6)
                XCTAssertFalse(window.isBusy)
            case .stale:
                XCTFail("the request is in flight")
            }
            break
        }
        XCTAssertEqual(delays, [1, 2, 4, 8, 16, 32, 64])
    }

    func testFewerRetransmitsAndAGiveUpTime() {
        var window = Window()
        var next = window.start("delete", datagrams: [[1]], now: .zero, retransmitLimit: 2)
        var sends = 1
        while case .resend(_, let deadline) = window.retransmit(messageID: 0, now: next) {
            sends += 1
            next = deadline
        }
        XCTAssertEqual(sends, 3, "the DELETE and two retransmissions")
        XCTAssertEqual(next, .seconds(7))

        var liveness = Window()
        next = liveness.start("liveness", datagrams: [[1]], now: .seconds(100), giveUpAt: .seconds(120))
        while case .resend(_, let deadline) = liveness.retransmit(messageID: 0, now: next) { next = deadline }
        XCTAssertEqual(next, .seconds(120), "given up at the deadline, not later")
    }

    func testStaleTimersAreIgnored() {
        var window = Window()
        _ = window.start("a", datagrams: [[1]], now: .zero)
        window.finish()
        guard case .stale = window.retransmit(messageID: 0, now: .seconds(1)) else { return XCTFail("stale") }
        _ = window.start("b", datagrams: [[2]], now: .seconds(1))
        guard case .stale = window.retransmit(messageID: 0, now: .seconds(2)) else { return XCTFail("stale") }
    }

    func testPeerRequestsAndTheResponseCache() {
        var window = Window()
        XCTAssertEqual(window.check(requestID: 0), .new)
        XCTAssertEqual(window.check(requestID: 1), .unexpected(expected: 0))
        window.responded(to: 0, with: [[9]])
        XCTAssertEqual(window.check(requestID: 0), .retransmitted(.init(messageID: 0, datagrams: [[9]])))
        XCTAssertEqual(window.check(requestID: 1), .new)
        window.responded(to: 1, with: [[8], [7]])
        XCTAssertEqual(window.check(requestID: 0), .unexpected(expected: 2), "only the last response is kept")
        XCTAssertTrue(window.answered(1))
        window.reset()
        XCTAssertEqual(window.check(requestID: 0), .new)
        XCTAssertNil(window.lastResponse)
    }

    func testInFlightExchangeCanBeUpdated() {
        var window = Window()
        _ = window.start("rekey", datagrams: [[1]], now: .zero)
        window.inFlightExchange = "rekey (collision)"
        XCTAssertEqual(window.inFlight?.exchange, "rekey (collision)")
    }

    func testFragmentsReassembleInAnyOrder() {
        var window = Window()
        XCTAssertTrue(window.expectsFragment(messageID: 0, isResponse: false))
        XCTAssertFalse(window.expectsFragment(messageID: 0, isResponse: true), "no request in flight")
        XCTAssertEqual(
            window.addFragment(messageID: 0, isResponse: false, number: 2, total: 3, share: [3, 4], tag: 0),
            .incomplete)
        XCTAssertEqual(
            window.addFragment(messageID: 0, isResponse: false, number: 2, total: 3, share: [3, 4], tag: 0),
            .incomplete, "a repeated fragment is ignored")
        XCTAssertEqual(
            window.addFragment(messageID: 0, isResponse: false, number: 1, total: 3, share: [1, 2], tag: 35),
            .incomplete)
        XCTAssertEqual(
            window.addFragment(messageID: 0, isResponse: false, number: 3, total: 3, share: [5], tag: 0),
            .complete([1, 2, 3, 4, 5], tag: 35))
        XCTAssertNil(window.reassembly)
    }

    func testFragmentsThatDoNotFitAreRejected() {
        var window = Window()
        XCTAssertEqual(
            window.addFragment(messageID: 0, isResponse: false, number: 4, total: 3, share: [1], tag: 0),
            .rejected)
        XCTAssertEqual(
            window.addFragment(messageID: 0, isResponse: false, number: 1, total: 3, share: [1], tag: 0),
            .incomplete)
        XCTAssertEqual(
            window.addFragment(messageID: 0, isResponse: false, number: 2, total: 4, share: [1], tag: 0),
            .rejected, "the total changed")
        XCTAssertNil(window.reassembly)
        XCTAssertEqual(
            window.addFragment(messageID: 0, isResponse: false, number: 1, total: 65, share: [1], tag: 0),
            .rejected, "more fragments than allowed")
        let big = [UInt8](repeating: 0, count: 40_000)
        XCTAssertEqual(
            window.addFragment(messageID: 0, isResponse: false, number: 1, total: 2, share: big[...], tag: 0),
            .incomplete)
        XCTAssertEqual(
            window.addFragment(messageID: 0, isResponse: false, number: 2, total: 2, share: big[...], tag: 0),
            .rejected, "larger than an IKE message can be")
    }

    func testAFragmentOfAnotherMessageStartsAfresh() {
        var window = Window()
        _ = window.addFragment(messageID: 0, isResponse: false, number: 1, total: 2, share: [1], tag: 0)
        _ = window.start("x", datagrams: [[0]], now: .zero)
        XCTAssertEqual(
            window.addFragment(messageID: 0, isResponse: true, number: 2, total: 2, share: [2], tag: 0),
            .incomplete, "the response is another message than the request of the same ID")
        XCTAssertEqual(window.reassembly?.isResponse, true)
    }
}

/// The small shared parts: rekey times, the drop log limiter, NAT detection results.
final class IKESharedPartsTests: XCTestCase {
    func testRekeyTimeLiesBetweenMarginAndJitter() {
        var random = SystemRandomNumberGenerator()
        for _ in 0..<100 {
            let time = RekeySchedule.standard.rekeyTime(lifetime: .seconds(1000), from: .seconds(50), using: &random)
            XCTAssertGreaterThanOrEqual(time, .seconds(50 + 850))
            XCTAssertLessThanOrEqual(time, .seconds(50 + 900))
        }
    }

    func testDropLogLimitsAndSummarizes() {
        var log = DroppedMessageLog()
        let logged = (0..<100).filter { log.record(now: .milliseconds($0)).log }
        XCTAssertEqual(logged.count, 5)
        let next = log.record(now: .seconds(61))
        XCTAssertEqual(next.suppressedBefore, 95)
        XCTAssertTrue(next.log)
        XCTAssertEqual(log.total, 101)
    }

    func testNATSummary() {
        XCTAssertFalse(NATDetectionResult.none.found)
        XCTAssertEqual(
            NATDetectionResult(local: true, remote: true).summary,
            "we are behind a NAT and the peer is behind a NAT")
        XCTAssertEqual(IKERole.initiator.rawValue, "initiator")
    }
}
