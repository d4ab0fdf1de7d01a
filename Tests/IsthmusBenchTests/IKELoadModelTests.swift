import IsthmusEvents
import IsthmusIP
import XCTest

@testable import isthmus_bench

/// The pure parts of `isthmus-bench ike`: identities, the setup book and its figures, the timer heap.
final class IKELoadModelTests: XCTestCase {
    func testTheTemplateNumbersEachInitiator() throws {
        let template = try IdentityTemplate("r%d.load.example")
        XCTAssertEqual(template.identity(for: 1), "r1.load.example")
        XCTAssertEqual(template.identity(for: 10_000), "r10000.load.example")
        XCTAssertEqual(try IdentityTemplate("u%d@x%%y%d").identity(for: 7), "u7@x%y7")
    }

    func testATemplateWithoutANumberOrWithAnotherDirectiveIsRefused() {
        XCTAssertThrowsError(try IdentityTemplate("same.example"))
        XCTAssertThrowsError(try IdentityTemplate("100%%.example"))
        XCTAssertThrowsError(try IdentityTemplate("r%s.example"))
        XCTAssertThrowsError(try IdentityTemplate("r%d%"))
    }

    func testEndpointsTakeADefaultPort() throws {
        XCTAssertEqual(
            try parseEndpoint("203.0.113.20", defaultPort: 500),
            UDPEndpoint(address: try IPAddress(parsing: "203.0.113.20"), port: 500))
        XCTAssertEqual(try parseEndpoint("203.0.113.20:4501", defaultPort: 500).port, 4501)
        XCTAssertThrowsError(try parseEndpoint("203.0.113.20:x", defaultPort: 500))
        XCTAssertThrowsError(try parseEndpoint("fd00::1", defaultPort: 500))
        XCTAssertThrowsError(try parseEndpoint("gateway.example", defaultPort: 500))
    }

    func testTheBookKeepsTheWindowAndStartsInOrder() {
        var book = SetupBook(count: 5, concurrency: 2)
        XCTAssertEqual(book.start(at: .milliseconds(0)), 1)
        XCTAssertEqual(book.start(at: .milliseconds(0)), 2)
        XCTAssertNil(book.start(at: .milliseconds(1)), "two in flight already")
        book.establish(1, at: .milliseconds(10))
        XCTAssertEqual(book.start(at: .milliseconds(10)), 3)
        book.fail(2, reason: "peer-not-answering", at: .milliseconds(12))
        XCTAssertEqual(book.start(at: .milliseconds(12)), 4)
        XCTAssertNil(book.start(at: .milliseconds(12)))
        book.establish(3, at: .milliseconds(30))
        book.establish(4, at: .milliseconds(40))
        XCTAssertFalse(book.finished)
        XCTAssertEqual(book.start(at: .milliseconds(40)), 5)
        XCTAssertNil(book.start(at: .milliseconds(40)), "all five started")
        book.establish(5, at: .milliseconds(50))
        XCTAssertTrue(book.finished)
        XCTAssertEqual(book.established, 4)
        XCTAssertEqual(book.failures, ["peer-not-answering": 1])
    }

    func testAnEndedSetupCannotEndAgain() {
        var book = SetupBook(count: 2, concurrency: 2)
        _ = book.start(at: .zero)
        book.establish(1, at: .milliseconds(5))
        book.fail(1, reason: "closed", at: .milliseconds(6))
        book.establish(1, at: .milliseconds(7))
        book.establish(2, at: .milliseconds(7))  // never started
        XCTAssertEqual(book.established, 1)
        XCTAssertEqual(book.failed, 0)
        XCTAssertEqual(book.inFlight, 0)
        XCTAssertEqual(book.latencies, [.milliseconds(5)])
    }

    func testTheRateCountsFromTheFirstStartToTheLastEstablishedSetup() {
        var book = SetupBook(count: 4, concurrency: 4)
        for _ in 0..<4 { _ = book.start(at: .milliseconds(100)) }
        book.establish(1, at: .milliseconds(300))
        book.establish(2, at: .milliseconds(600))
        book.establish(3, at: .milliseconds(200))
        book.fail(4, reason: "run-timeout", at: .seconds(60))  // a late failure does not stretch the window
        book.retransmitted()
        let summary = book.summary()
        XCTAssertEqual(summary.windowSeconds, 0.5, accuracy: 1e-9)
        XCTAssertEqual(summary.setupsPerSecond, 6, accuracy: 1e-9)
        XCTAssertEqual(summary.established, 3)
        XCTAssertEqual(summary.failures, ["run-timeout": 1])
        XCTAssertEqual(summary.retransmissions, 1)
        XCTAssertEqual(summary.latencyMilliseconds.p50, 200, accuracy: 1e-9)
        XCTAssertEqual(summary.latencyMilliseconds.max, 500, accuracy: 1e-9)
    }

    func testNothingEstablishedIsAZeroRate() {
        var book = SetupBook(count: 1, concurrency: 1)
        _ = book.start(at: .zero)
        book.fail(1, reason: "authentication-failed", at: .seconds(1))
        let summary = book.summary()
        XCTAssertEqual(summary.setupsPerSecond, 0)
        XCTAssertEqual(summary.latencyMilliseconds.count, 0)
    }

    func testPercentilesAreNearestRank() {
        let values = (1...100).map(Double.init).shuffled()
        let percentiles = Percentiles(values)
        XCTAssertEqual(percentiles.p50, 50)
        XCTAssertEqual(percentiles.p90, 90)
        XCTAssertEqual(percentiles.p99, 99)
        XCTAssertEqual(percentiles.min, 1)
        XCTAssertEqual(percentiles.max, 100)
        XCTAssertEqual(percentiles.mean, 50.5, accuracy: 1e-9)
        let one = Percentiles([7])
        XCTAssertEqual([one.p50, one.p99, one.max], [7, 7, 7])
        XCTAssertEqual(Percentiles([]).p99, 0)
    }

    func testTimersFireInDeadlineOrderAndRearmingOrCancellingReplaces() {
        var queue = TimerQueue<String>()
        queue.arm("b", at: .milliseconds(20))
        queue.arm("a", at: .milliseconds(10))
        queue.arm("c", at: .milliseconds(30))
        queue.arm("b", at: .milliseconds(40))  // re-armed: the 20 ms deadline is gone
        queue.cancel("c")
        XCTAssertEqual(queue.count, 2)
        XCTAssertEqual(queue.nextDeadline(), .milliseconds(10))
        XCTAssertNil(queue.popDue(at: .milliseconds(9)))
        XCTAssertEqual(queue.popDue(at: .milliseconds(35)), "a")
        XCTAssertNil(queue.popDue(at: .milliseconds(35)), "b moved to 40 ms, c was cancelled")
        XCTAssertEqual(queue.popDue(at: .milliseconds(40)), "b")
        XCTAssertNil(queue.nextDeadline())
    }

    func testManyTimersComeOutSorted() {
        var queue = TimerQueue<Int>()
        var generator = SystemRandomNumberGenerator()
        let deadlines = (0..<500).map { _ in Int64.random(in: 0..<10_000, using: &generator) }
        for (key, at) in deadlines.enumerated() { queue.arm(key, at: .milliseconds(at)) }
        queue.cancelAll { $0 % 2 == 1 }
        var fired: [Int64] = []
        while let key = queue.popDue(at: .seconds(20)) { fired.append(deadlines[key]) }
        XCTAssertEqual(fired, deadlines.enumerated().filter { $0.offset % 2 == 0 }.map(\.element).sorted())
    }
}
