import Foundation
import XCTest

#if canImport(Glibc)
    import Glibc
#endif

/// `isthmus diagnose` as a user runs it, against a real `isthmus run` on loopback whose peer (another
/// loopback address) is not expected to answer.
final class DiagnoseCommandTests: XCTestCase {
    static let root = repositoryRoot

    /// Starts `isthmus` with `arguments`; standard output and error go to files in `folder`.
    func launch(_ arguments: [String], folder: URL, name: String) throws -> Process {
        let process = Process()
        process.executableURL = isthmusBinary
        process.arguments = arguments
        process.currentDirectoryURL = Self.root
        for stream in ["out", "err"] {
            _ = FileManager.default.createFile(
                atPath: folder.appendingPathComponent("\(name).\(stream)").path, contents: nil)
        }
        process.standardOutput = try FileHandle(forWritingTo: folder.appendingPathComponent("\(name).out"))
        process.standardError = try FileHandle(forWritingTo: folder.appendingPathComponent("\(name).err"))
        try process.run()
        return process
    }

    func output(_ folder: URL, _ name: String) -> String {
        (try? String(contentsOf: folder.appendingPathComponent(name), encoding: .utf8)) ?? ""
    }

    /// Runs `isthmus arguments...` to its end (at most 10 s).
    func launchAndWait(_ arguments: [String], folder: URL) throws -> (status: Int32, stdout: String, stderr: String) {
        let process = try launch(arguments, folder: folder, name: "client")
        let deadline = ContinuousClock.now + .seconds(10)
        while process.isRunning && ContinuousClock.now < deadline { usleep(10_000) }
        XCTAssertFalse(process.isRunning)
        return (process.terminationStatus, output(folder, "client.out"), output(folder, "client.err"))
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

    func testDiagnoseAnswersInBothFormsAndRefusesAnUnknownName() throws {
        let folder = URL(fileURLWithPath: "/tmp/isthmus-diagnose-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let office = try String(contentsOf: Self.root.appendingPathComponent("examples/office.yaml"), encoding: .utf8)
        let config = folder.appendingPathComponent("office.yaml")
        let local =
            office
            .replacingOccurrences(
                of: #"public_address: [0-9.]+"#, with: "public_address: 127.0.0.1", options: .regularExpression
            )
            .replacingOccurrences(
                of: #"gateway_address: [0-9.]+"#, with: "gateway_address: 127.0.0.2", options: .regularExpression)
        try local.write(to: config, atomically: true, encoding: .utf8)
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
            "\(json)\(output(folder, "daemon.err"))")
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
