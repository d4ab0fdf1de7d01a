import XCTest

@testable import IsthmusDaemon

/// The data-plane watchdog's verdicts and the delays before a failed interface is created again.
final class DataplaneSupervisionTests: XCTestCase {
    func testATurningThreadIsAliveAndAStillOneStallsAfterTheLimit() {
        var watchdog = DataplaneWatchdog(stallLimit: .seconds(10))
        XCTAssertEqual(watchdog.check(running: true, failure: nil, turns: 5, now: .seconds(1)), .alive)
        XCTAssertEqual(watchdog.check(running: true, failure: nil, turns: 9, now: .seconds(2)), .alive)
        XCTAssertEqual(watchdog.check(running: true, failure: nil, turns: 9, now: .seconds(11)), .alive)
        XCTAssertEqual(
            watchdog.check(running: true, failure: nil, turns: 9, now: .seconds(12)), .stalled(.seconds(10)))
        XCTAssertEqual(
            watchdog.check(running: true, failure: nil, turns: 10, now: .seconds(13)), .alive, "it turns again")
    }

    func testAThreadThatLeftItsLoopIsStoppedWithItsReason() {
        var watchdog = DataplaneWatchdog()
        XCTAssertEqual(
            watchdog.check(running: false, failure: "poll failed: Bad file descriptor", turns: 3, now: .seconds(1)),
            .stopped("poll failed: Bad file descriptor"))
        XCTAssertEqual(
            watchdog.check(running: false, failure: nil, turns: 3, now: .seconds(2)),
            .stopped("the data-plane thread left its loop"))
    }

    func testRecoveryIsImmediateUnlessTheInterfaceDiesRightAfterItsCreation() {
        var recovery = InterfaceRecovery()
        XCTAssertEqual(recovery.delay(afterFailureOf: "ist-a", now: .seconds(100)), .zero)
        XCTAssertEqual(recovery.delay(afterFailureOf: "ist-a", now: .seconds(105)), .zero, "it lived 5 s")
        // Deleted 0.2 s after each creation: 1, 2, 4 s.
        XCTAssertEqual(recovery.delay(afterFailureOf: "ist-a", now: .milliseconds(105_200)), .seconds(1))
        XCTAssertEqual(recovery.delay(afterFailureOf: "ist-a", now: .milliseconds(106_400)), .seconds(2))
        XCTAssertEqual(recovery.delay(afterFailureOf: "ist-a", now: .milliseconds(108_600)), .seconds(4))
        XCTAssertEqual(recovery.delay(afterFailureOf: "ist-b", now: .milliseconds(108_600)), .zero, "each its own")
        var now = Duration.milliseconds(112_800)
        var last = Duration.zero
        for _ in 0..<6 {
            last = recovery.delay(afterFailureOf: "ist-a", now: now)
            now += last + .milliseconds(200)
        }
        XCTAssertEqual(last, .seconds(30), "capped")
        XCTAssertEqual(recovery.delay(afterFailureOf: "ist-a", now: now + .seconds(5)), .zero, "it lived again")
    }
}
