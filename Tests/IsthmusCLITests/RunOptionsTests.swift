import Foundation
import XCTest

/// `isthmus run`'s half-open limits: out-of-range values are refused before anything starts, and `--help`
/// lists them.
final class RunOptionsTests: XCTestCase {
    func testHalfOpenLimitsAreValidated() throws {
        for (option, value, message) in [
            ("--half-open-per-source", "0", "--half-open-per-source must be 1 to 1000000, not 0"),
            ("--half-open-limit", "0", "--half-open-limit must be 1 to 1000000, not 0"),
            ("--cookie-threshold", "-1", "--cookie-threshold must be 0 to 1000000, not -1"),
        ] {
            let run = try runIsthmus(["run", "examples/office.yaml", "\(option)=\(value)"])
            XCTAssertNotEqual(run.status, 0, option)
            XCTAssertTrue(run.stderr.contains(message), "\(option): \(run.stderr)")
        }
        let help = try runIsthmus(["run", "--help"])
        for option in ["--half-open-limit", "--half-open-per-source", "--cookie-threshold"] {
            XCTAssertTrue(help.stdout.contains(option), option)
        }
    }
}

/// `isthmus run --dashboard`: a bad address, a token file without a dashboard, and a token file others may read
/// are refused before anything starts.
final class RunDashboardOptionsTests: XCTestCase {
    func testDashboardOptionsAreValidated() throws {
        let bad = try runIsthmus(["run", "examples/office.yaml", "--dashboard", "gateway.example:8080"])
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.stderr.contains("--dashboard must be an IP address and a port, or a port"), bad.stderr)
        let alone = try runIsthmus(["run", "examples/office.yaml", "--dashboard-token-file", "/nonexistent"])
        XCTAssertNotEqual(alone.status, 0)
        XCTAssertTrue(alone.stderr.contains("--dashboard-token-file needs --dashboard"), alone.stderr)
        let help = try runIsthmus(["run", "--help"])
        XCTAssertTrue(help.stdout.contains("--dashboard <address:port>"), help.stdout)
        XCTAssertTrue(help.stdout.contains("--dashboard-token-file <path>"), help.stdout)
    }

    func testTokenFileOthersMayReadIsRefused() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("dashboard-cli-\(getpid())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let config = folder.appendingPathComponent("office.yaml").path
        let source = try String(contentsOfFile: "examples/office-dynamic.yaml", encoding: .utf8)
        XCTAssertTrue(
            FileManager.default.createFile(
                atPath: config, contents: Data(source.utf8), attributes: [.posixPermissions: 0o600]))
        let token = folder.appendingPathComponent("token").path
        XCTAssertTrue(
            FileManager.default.createFile(
                atPath: token, contents: Data("Zq3vT9xLmW2pR8sK4nB6yH1c\n".utf8), attributes: [.posixPermissions: 0o644]
            ))
        let run = try runIsthmus([
            "run", config, "--no-data-plane", "--control", folder.appendingPathComponent("c.sock").path,
            "--dashboard", "127.0.0.1:1", "--dashboard-token-file", token,
        ])
        XCTAssertEqual(run.status, 1)
        XCTAssertTrue(run.stderr.contains("the dashboard token file \(token)"), run.stderr)
        XCTAssertTrue(run.stderr.contains("chmod 600 \(token)"), run.stderr)
    }
}
