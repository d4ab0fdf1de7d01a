import Foundation
import XCTest

#if canImport(Glibc)
    import Glibc
#endif

/// `isthmus diagnose` as a user runs it, against a real `isthmus run` on loopback whose peer (another
/// loopback address) is not expected to answer.
final class DiagnoseCommandTests: XCTestCase {
    /// Runs `isthmus arguments...` to its end (at most 10 s).
    func launchAndWait(_ arguments: [String], folder: URL) throws -> (status: Int32, stdout: String, stderr: String) {
        let process = try launchIsthmus(arguments, folder: folder, name: "client")
        XCTAssertTrue(waitForExit(process))
        return (process.terminationStatus, capturedOutput(folder, "client.out"), capturedOutput(folder, "client.err"))
    }

    func testDiagnoseAnswersInBothFormsAndRefusesAnUnknownName() throws {
        let folder = URL(fileURLWithPath: "/tmp/isthmus-diagnose-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let (daemon, socket) = try launchLoopbackOffice(folder: folder, peer: "127.0.0.2")
        defer { if daemon.isRunning { daemon.terminate() } }
        var json = ""
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline && daemon.isRunning {
            let run = try launchAndWait(["diagnose", "--json", "--socket", socket], folder: folder)
            json = run.stdout
            if run.status == 0 { break }
            usleep(50_000)
        }
        let object = try XCTUnwrap(
            JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any],
            "\(json)\(capturedOutput(folder, "daemon.err"))")
        XCTAssertEqual(object["gateway"] as? String, "office")
        let connection = try XCTUnwrap((object["connections"] as? [[String: Any]])?.first)
        XCTAssertEqual(Set(connection.keys), ["connection", "state", "healthy", "summary", "findings"])
        XCTAssertEqual(connection["connection"] as? String, "office-cloud")
        XCTAssertNotNil(connection["healthy"] as? Bool)
        XCTAssertTrue(["up", "connecting", "down"].contains(connection["state"] as? String ?? ""), "\(connection)")

        let human = try launchAndWait(["diagnose", "office-cloud", "--control", socket], folder: folder)
        XCTAssertEqual(human.status, 0, human.stderr)
        XCTAssertTrue(human.stdout.hasPrefix("gateway office\n\noffice-cloud: "), human.stdout)
        XCTAssertFalse(human.stdout.contains("isthmus-demo-key"), "no key material")

        let unknown = try launchAndWait(["diagnose", "nobody", "--control", socket], folder: folder)
        XCTAssertEqual(unknown.status, 1)
        XCTAssertTrue(unknown.stderr.contains("no connection named 'nobody'"), unknown.stderr)
    }
}
