import XCTest

@testable import IsthmusDaemon

final class LogRateLimiterTests: XCTestCase {
    func testLimitsPerKeyAndInAllAndSumsUpTheRestOncePerWindow() {
        var limiter = LogRateLimiter(perKey: 2, total: 3, window: .seconds(1))
        var logged: [String] = []
        for index in 0..<100 {
            let key = index % 2 == 0 ? "drop" : "cookie"
            let decision = limiter.admit(key, now: .milliseconds(index))
            XCTAssertNil(decision.summary)
            if decision.log { logged.append(key) }
        }
        XCTAssertEqual(logged, ["drop", "cookie", "drop"], "two per key, three in all")
        // The next window opens with the summary of the last one.
        let next = limiter.admit("drop", now: .milliseconds(1000))
        XCTAssertTrue(next.log)
        let summary = try? XCTUnwrap(next.summary)
        XCTAssertEqual(summary?.suppressed, 97)
        XCTAssertEqual(summary?.byKey, ["drop": 48, "cookie": 49])
        XCTAssertEqual(summary?.line.hasPrefix("suppressed 97 similar lines"), true)
        XCTAssertEqual(limiter.suppressedSinceStart, 97)
        // Nothing held back in this window: no summary when it ends.
        XCTAssertNil(limiter.flush(now: .milliseconds(2500)))
    }

    func testFlushReportsTheLastWindowOfAFlood() {
        var limiter = LogRateLimiter(perKey: 1, total: 1, window: .seconds(1))
        XCTAssertTrue(limiter.admit("a", now: .zero).log)
        XCTAssertFalse(limiter.admit("a", now: .milliseconds(10)).log)
        XCTAssertNil(limiter.flush(now: .milliseconds(500)), "the window is still open")
        XCTAssertEqual(limiter.flush(now: .milliseconds(1200))?.byKey, ["a": 1])
        XCTAssertNil(limiter.flush(now: .milliseconds(2400)))
    }

    func testKeysAreBounded() {
        var limiter = LogRateLimiter(perKey: 0, total: 0, window: .seconds(1))
        for index in 0..<(LogRateLimiter.maximumKeys + 50) { _ = limiter.admit("k\(index)", now: .zero) }
        let summary = limiter.flush(now: .seconds(2))
        XCTAssertEqual(summary?.byKey.count, LogRateLimiter.maximumKeys + 1)
        XCTAssertEqual(summary?.byKey["other"], 50)
    }
}
