import Foundation
import XCTest

#if canImport(Glibc)
    import Glibc
#endif

/// `isthmus logs` as a user runs it: against a real `isthmus run` on loopback ports.
final class LogsCommandTests: XCTestCase {
    static let root = repositoryRoot

    var binary: URL { isthmusBinary }

    /// Starts `isthmus` with `arguments`; standard output and error go to files in `folder`.
    func launch(_ arguments: [String], folder: URL, name: String) throws -> Process {
        let process = Process()
        process.executableURL = binary
        process.arguments = arguments
        process.currentDirectoryURL = Self.root
        _ = FileManager.default.createFile(atPath: folder.appendingPathComponent("\(name).out").path, contents: nil)
        _ = FileManager.default.createFile(atPath: folder.appendingPathComponent("\(name).err").path, contents: nil)
        process.standardOutput = try FileHandle(forWritingTo: folder.appendingPathComponent("\(name).out"))
        process.standardError = try FileHandle(forWritingTo: folder.appendingPathComponent("\(name).err"))
        try process.run()
        return process
    }

    func output(_ folder: URL, _ name: String) -> String {
        (try? String(contentsOf: folder.appendingPathComponent(name), encoding: .utf8)) ?? ""
    }

    func wait(for process: Process, timeout: Duration = .seconds(10)) -> Bool {
        let deadline = ContinuousClock.now + timeout
        while process.isRunning && ContinuousClock.now < deadline { usleep(10_000) }
        return !process.isRunning
    }

    /// A UDP port nobody uses right now on 127.0.0.1.
    func freePort() -> Int {
        let fd = socket(AF_INET, CInt(SOCK_DGRAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, length) == 0 ? getsockname(fd, $0, &length) : -1
            }
        }
        return Int(UInt16(bigEndian: address.sin_port))
    }

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
        let process = try launch(arguments, folder: folder, name: "run")
        XCTAssertTrue(wait(for: process))
        return (process.terminationStatus, output(folder, "run.out"), output(folder, "run.err"))
    }

    func testLogsShowsHistoryAndFollowEndsWhenTheGatewayStops() throws {
        let folder = URL(fileURLWithPath: "/tmp/isthmus-logs-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        // The office example with a loopback public address, so `run` can bind without root's addresses.
        let office = try String(contentsOf: Self.root.appendingPathComponent("examples/office.yaml"), encoding: .utf8)
        let config = folder.appendingPathComponent("office.yaml")
        let local = office.replacingOccurrences(
            of: #"public_address: [0-9.]+"#, with: "public_address: 127.0.0.1", options: .regularExpression)
        try local.write(to: config, atomically: true, encoding: .utf8)
        // It holds the key inline: the owner's alone, or `run` refuses it.
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: config.path)
        let socket = folder.appendingPathComponent("ctl.sock").path
        let ike = freePort()
        var nat = freePort()
        while nat == ike { nat = freePort() }
        let daemon = try launch(
            [
                "run", config.path, "--control", socket, "--ike-port", "\(ike)", "--nat-port", "\(nat)",
                "--no-data-plane",
            ],
            folder: folder, name: "daemon")
        defer { if daemon.isRunning { daemon.terminate() } }
        let deadline = ContinuousClock.now + .seconds(10)
        var history = ""
        // Initiating at start records events; wait until `logs` shows one.
        while ContinuousClock.now < deadline && daemon.isRunning {
            let process = try launch(["logs", "--control", socket], folder: folder, name: "logs")
            XCTAssertTrue(wait(for: process))
            history = output(folder, "logs.out")
            if process.terminationStatus == 0 && !history.isEmpty && history != "no events\n" { break }
            usleep(50_000)
        }
        XCTAssertTrue(daemon.isRunning, output(folder, "daemon.err"))
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

        let json = try launch(["logs", "--json", "--control", socket], folder: folder, name: "json")
        XCTAssertTrue(wait(for: json))
        let objects = output(folder, "json.out").split(separator: "\n")
        XCTAssertFalse(objects.isEmpty)
        for line in objects {
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            XCTAssertEqual(
                object.map { Set($0.keys) },
                ["connection", "details", "kind", "message", "saIDs", "sequence", "severity", "time", "uptimeSeconds"])
        }

        let follower = try launch(["logs", "--follow", "--control", socket], folder: folder, name: "follow")
        // The follower has printed the history once it is registered; then stop the gateway.
        let printed = ContinuousClock.now + .seconds(10)
        while output(folder, "follow.out").isEmpty && ContinuousClock.now < printed { usleep(10_000) }
        daemon.terminate()
        XCTAssertTrue(wait(for: daemon), "the gateway stops on SIGTERM")
        XCTAssertTrue(wait(for: follower), "the follower ends when the gateway stops")
        XCTAssertEqual(follower.terminationStatus, 0, output(folder, "follow.err"))
        XCTAssertTrue(
            output(folder, "follow.out").hasSuffix("isthmus logs: the gateway stopped\n"), output(folder, "follow.out"))
    }
}
