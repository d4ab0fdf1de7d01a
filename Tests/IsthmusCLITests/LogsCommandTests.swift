import Foundation
import XCTest

#if canImport(Glibc)
    import Glibc
#endif

/// `isthmus logs` as a user runs it: against a real `isthmus run` on loopback ports.
final class LogsCommandTests: XCTestCase {
    var binary: URL { isthmusBinary }

    func testLogsHelpAndBadArguments() throws {
        let help = try launchAndWait(["logs", "--help"])
        XCTAssertEqual(help.status, 0)
        XCTAssertTrue(help.stdout.contains("--follow") && help.stdout.contains("--json"), help.stdout)
        let bad = try launchAndWait(["logs", "--folow"])
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.stderr.contains("--folow"), bad.stderr)
        let nobody = try launchAndWait(["logs", "--follow", "--control", "/tmp/isthmus-no-such-gateway.sock"])
        XCTAssertEqual(nobody.status, 1, "cannot connect: exit 1")
        XCTAssertTrue(nobody.stderr.contains("cannot reach the gateway"), nobody.stderr)
    }

    func launchAndWait(_ arguments: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("isthmus-logs-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let process = try launchIsthmus(arguments, folder: folder, name: "run")
        XCTAssertTrue(waitForExit(process))
        return (process.terminationStatus, capturedOutput(folder, "run.out"), capturedOutput(folder, "run.err"))
    }

    func testLogsShowsHistoryAndFollowEndsWhenTheGatewayStops() throws {
        let folder = URL(fileURLWithPath: "/tmp/isthmus-logs-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let (daemon, socket) = try launchLoopbackOffice(folder: folder)
        defer { if daemon.isRunning { daemon.terminate() } }
        let deadline = ContinuousClock.now + .seconds(10)
        var history = ""
        // Initiating at start records events; wait until `logs` shows one.
        while ContinuousClock.now < deadline && daemon.isRunning {
            let process = try launchIsthmus(["logs", "--control", socket], folder: folder, name: "logs")
            XCTAssertTrue(waitForExit(process))
            history = capturedOutput(folder, "logs.out")
            if process.terminationStatus == 0 && !history.isEmpty && history != "no events\n" { break }
            usleep(50_000)
        }
        XCTAssertTrue(daemon.isRunning, capturedOutput(folder, "daemon.err"))
        let first = try XCTUnwrap(history.split(separator: "\n").first.map(String.init), history)
        let pattern = try Regex(#"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z "#)
        XCTAssertNotNil(first.prefixMatch(of: pattern), first)
        XCTAssertFalse(history.contains("isthmus-demo-key"), "no key material in events")

        // Another user cannot use the socket, although this folder lets everyone in: the socket is 0600.
        if geteuid() == 0, FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv") {
            let setpriv = Process()
            setpriv.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
            setpriv.arguments = [
                "--reuid=65534", "--regid=65534", "--clear-groups", binary.path, "status", "--control", socket,
            ]
            let errors = Pipe()
            setpriv.standardError = errors
            setpriv.standardOutput = FileHandle.nullDevice
            try setpriv.run()
            let text = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            setpriv.waitUntilExit()
            XCTAssertEqual(setpriv.terminationStatus, 1, text)
            XCTAssertTrue(text.contains("Permission denied"), text)
        }

        let json = try launchIsthmus(["logs", "--json", "--control", socket], folder: folder, name: "json")
        XCTAssertTrue(waitForExit(json))
        let objects = capturedOutput(folder, "json.out").split(separator: "\n")
        XCTAssertFalse(objects.isEmpty)
        for line in objects {
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            XCTAssertEqual(
                object.map { Set($0.keys) },
                ["connection", "details", "kind", "message", "saIDs", "sequence", "severity", "time", "uptimeSeconds"])
        }

        let follower = try launchIsthmus(["logs", "--follow", "--control", socket], folder: folder, name: "follow")
        // The follower has printed the history once it is registered; then stop the gateway.
        let printed = ContinuousClock.now + .seconds(10)
        while capturedOutput(folder, "follow.out").isEmpty && ContinuousClock.now < printed { usleep(10_000) }
        daemon.terminate()
        XCTAssertTrue(waitForExit(daemon), "the gateway stops on SIGTERM")
        XCTAssertTrue(waitForExit(follower), "the follower ends when the gateway stops")
        XCTAssertEqual(follower.terminationStatus, 0, capturedOutput(folder, "follow.err"))
        XCTAssertTrue(
            capturedOutput(folder, "follow.out").hasSuffix("isthmus logs: the gateway stopped\n"),
            capturedOutput(folder, "follow.out"))
    }
}
