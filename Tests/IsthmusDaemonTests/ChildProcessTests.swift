import Synchronization
import XCTest

@testable import IsthmusDaemon

/// Children of the daemon (BIRD) start with nothing blocked and report their lines and their end.
final class ChildProcessTests: XCTestCase {
    func testLinesSignalMaskAndExitStatus() throws {
        let lines = Mutex<[String]>([])
        let ended = expectation(description: "exited")
        let how = Mutex<ChildProcess.Termination?>(nil)
        let child = try ChildProcess.spawn(
            "/bin/sh", ["-c", "grep SigBlk /proc/self/status; echo second; exit 3"],
            output: { line in lines.withLock { $0.append(line) } },
            exited: { _, termination in
                how.withLock { $0 = termination }
                ended.fulfill()
            })
        wait(for: [ended], timeout: 10)
        XCTAssertTrue(child.hasExited)
        XCTAssertEqual(how.withLock { $0 }, .exited(3))
        let output = lines.withLock { $0 }
        XCTAssertEqual(output.count, 2, "\(output)")
        // The test runner's threads may block signals; the child must not inherit that.
        XCTAssertEqual(output.first?.split(separator: "\t").last, "0000000000000000", "\(output)")
        XCTAssertEqual(output.last, "second")
    }

    func testASignalledEnd() throws {
        let ended = expectation(description: "exited")
        let how = Mutex<ChildProcess.Termination?>(nil)
        let child = try ChildProcess.spawn(
            "/bin/sleep", ["30"], output: { _ in },
            exited: { _, termination in
                how.withLock { $0 = termination }
                ended.fulfill()
            })
        kill(child.pid, SIGTERM)
        wait(for: [ended], timeout: 10)
        XCTAssertEqual(how.withLock { $0 }, .signaled(SIGTERM))
    }

    func testAMissingProgramIsAnError() {
        XCTAssertThrowsError(
            try ChildProcess.spawn("/nonexistent/bird", [], output: { _ in }, exited: { _, _ in }))
    }
}
