import Foundation
import XCTest

/// Runs the built `isthmus` binary as a user would and checks exit codes and output.
final class CheckCommandTests: XCTestCase {
    static let root = repositoryRoot

    func isthmus(_ arguments: String...) throws -> CLIRun { try runIsthmus(arguments) }

    func testExamplesPassWithASummary() throws {
        for name in ["office", "cloud", "cloud-dynamic"] {
            let run = try isthmus("check", "examples/\(name).yaml")
            XCTAssertEqual(run.status, 0, run.stderr)
            XCTAssertTrue(run.stdout.hasPrefix("examples/\(name).yaml: valid"), run.stdout)
            XCTAssertTrue(run.stdout.contains("connection "), run.stdout)
            XCTAssertFalse(run.stdout.contains("isthmus-demo-key"), "the shared key leaked into the summary")
        }
    }

    /// A configuration holding its key inline that others may read: `check` warns (exit 0), `run` refuses
    /// it before binding anything (exit 1) with the positioned message, the mode and the fix.
    func testRunRefusesAnInlineKeyOthersCanReadAndCheckWarns() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("isthmus-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let config = folder.appendingPathComponent("office.yaml").path
        try FileManager.default.copyItem(
            atPath: Self.root.appendingPathComponent("examples/office.yaml").path, toPath: config)
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: config)
        let check = try isthmus("check", config)
        XCTAssertEqual(check.status, 0, check.stderr)
        XCTAssertTrue(
            check.stderr.contains("warning: the configuration, which holds a shared key inline"), check.stderr)
        let run = try isthmus(
            "run", config, "--no-data-plane", "--control", folder.appendingPathComponent("c.sock").path)
        XCTAssertEqual(run.status, 1, run.stderr)
        XCTAssertTrue(
            run.stderr.contains(
                "\(config):22:17: error: the configuration, which holds a shared key inline, \(config) can be read or written by group or others (mode 0644)"
            ), run.stderr)
        XCTAssertTrue(run.stderr.contains("chmod 600 \(config)"), run.stderr)
        XCTAssertFalse(run.stderr.contains("isthmus-demo-key"), "the key leaked into the message")
    }

    /// Each malformed input: exit 1, positioned `FILE:LINE:COLUMN: error:` lines, no crash, no stack trace.
    func testMalformedFilesFailWithPositionedErrors() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("isthmus-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let cloud = try String(contentsOf: Self.root.appendingPathComponent("examples/cloud.yaml"), encoding: .utf8)
        var garbage = SystemRandomNumberGenerator()
        let cases: [(String, Data, String)] = [
            ("not-yaml", Data("gateway:\n  name: x\n   bad: [\n".utf8), "not valid YAML"),
            (
                "wrong-types",
                Data(
                    cloud.replacingOccurrences(
                        of: "address_spaces: [10.0.1.0/24, 10.0.2.0/24]",
                        with: "address_spaces: {x: 1}"
                    ).utf8), "must be a list"
            ),
            (
                "prefix-33", Data(cloud.replacingOccurrences(of: "[192.168.1.0/24]", with: "[10.0.1.0/33]").utf8),
                "prefix length '33' must be 0 to 32"
            ),
            (
                "bad-address", Data(cloud.replacingOccurrences(of: "198.51.100.10", with: "300.1.1.1").utf8),
                "out of range"
            ),
            ("empty", Data(), "the configuration is empty"),
            ("huge", Data(repeating: UInt8(ascii: "#"), count: 10 * 1024 * 1024), "at most 1048576 bytes"),
            ("binary", Data((0..<4096).map { _ in UInt8.random(in: 0...255, using: &garbage) }), "not a text file"),
        ]
        for (name, contents, expected) in cases {
            let file = folder.appendingPathComponent("\(name).yaml")
            try contents.write(to: file)
            let run = try isthmus("check", file.path)
            XCTAssertEqual(run.status, 1, "\(name): \(run.stdout) \(run.stderr)")
            XCTAssertEqual(run.stdout, "", name)
            let lines = run.stderr.split(separator: "\n")
            let errors = lines.filter { $0.hasPrefix(file.path + ":") && $0.contains(": error: ") }
            XCTAssertGreaterThanOrEqual(errors.count, 1, "\(name): \(run.stderr)")
            XCTAssertTrue(run.stderr.contains(expected), "\(name): \(run.stderr)")
            let position = try XCTUnwrap(errors.first?.dropFirst(file.path.count + 1).split(separator: ":"))
            XCTAssertNotNil(Int(position[0]), "\(name): no line number in \(errors[0])")
            XCTAssertNotNil(Int(position[1]), "\(name): no column number in \(errors[0])")
            XCTAssertFalse(run.stderr.contains("Fatal error"), name)
            XCTAssertFalse(run.stderr.contains("Stack dump"), name)
        }
    }

    /// `check A B` on the repository's pairs: exit 0 and a summary of each pair.
    func testExamplePairsAgree() throws {
        for (first, second, chosen) in [
            ("office", "cloud", "IKE (phase 1): aes256-sha1-modp1024, whichever side initiates"),
            ("office-dynamic", "cloud-dynamic", "IKE SA: aes256gcm16-prfsha256-ecp256, whichever side initiates"),
        ] {
            let run = try isthmus("check", "examples/\(first).yaml", "examples/\(second).yaml")
            XCTAssertEqual(run.status, 0, run.stderr)
            XCTAssertTrue(run.stdout.hasPrefix("examples/\(first).yaml: valid"), run.stdout)
            XCTAssertTrue(
                run.stdout.contains("examples/\(first).yaml + examples/\(second).yaml: 1 pair, they agree"), run.stdout)
            XCTAssertTrue(run.stdout.contains(chosen), run.stdout)
            XCTAssertTrue(run.stdout.contains("rekeys first"), run.stdout)
            XCTAssertFalse(run.stdout.contains("isthmus-demo-key") || run.stderr.contains("isthmus-demo-key"))
        }
    }

    /// Two ends whose key files hold different keys: exit 1 with the positioned error and the peer's line as a
    /// note, neither key printed; a missing key file is the single-file error, with the other file still checked.
    func testPairWithDifferentKeyFilesAndAMissingOne() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("isthmus-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let office = folder.appendingPathComponent("office.yaml").path
        let cloud = folder.appendingPathComponent("cloud.yaml").path
        for (name, path) in [("office", office), ("cloud", cloud)] {
            let text = try String(
                contentsOf: Self.root.appendingPathComponent("examples/\(name).yaml"), encoding: .utf8)
            try text.replacingOccurrences(of: "isthmus-demo-key-change-me-0123456789", with: "file:\(name).key")
                .write(toFile: path, atomically: true, encoding: .utf8)
            try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: path)
        }
        let officeKey = "office-key-3f9a1c77e2b54d0c8e6f"
        let cloudKey = "cloud-key-0b7d52e91a4c3f68d2a1"
        for (name, key) in [("office", officeKey), ("cloud", cloudKey)] {
            let path = folder.appendingPathComponent("\(name).key").path
            try (key + "\n").write(toFile: path, atomically: true, encoding: .utf8)
            try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: path)
        }
        let differ = try isthmus("check", office, cloud)
        XCTAssertEqual(differ.status, 1, differ.stdout + differ.stderr)
        XCTAssertTrue(
            differ.stderr.contains(
                "\(office):22:17: error: the pre-shared keys of office's office-cloud and cloud's cloud-office differ"),
            differ.stderr)
        XCTAssertTrue(
            differ.stderr.contains("\(cloud):29:17: note: cloud's cloud-office's key (file:cloud.key)"), differ.stderr)
        XCTAssertTrue(differ.stderr.contains("isthmus key show cloud-office --config \(cloud)"), differ.stderr)
        XCTAssertTrue(differ.stderr.contains("1 pair, 1 disagreement"), differ.stderr)
        for key in [officeKey, cloudKey] {
            XCTAssertFalse(differ.stdout.contains(key) || differ.stderr.contains(key), "a key leaked")
        }

        try FileManager.default.removeItem(at: folder.appendingPathComponent("cloud.key"))
        let missing = try isthmus("check", office, cloud)
        XCTAssertEqual(missing.status, 1, missing.stderr)
        XCTAssertTrue(missing.stdout.contains("\(office): valid"), missing.stdout)
        XCTAssertTrue(missing.stderr.contains("\(cloud):29:17: error: cannot read the key file"), missing.stderr)
        XCTAssertFalse(missing.stderr.contains("pre-shared keys"), missing.stderr)
    }

    func testMissingFileAndUsageErrors() throws {
        let missing = try isthmus("check", "/nonexistent/isthmus.yaml")
        XCTAssertEqual(missing.status, 1)
        XCTAssertTrue(missing.stderr.hasPrefix("/nonexistent/isthmus.yaml:1:1: error: cannot read"), missing.stderr)
        let usage = try isthmus("check")
        XCTAssertNotEqual(usage.status, 0)
        XCTAssertTrue(usage.stderr.contains("Missing expected argument"), usage.stderr)
    }

    func testAlgorithmsListsTheRegistry() throws {
        let run = try isthmus("algorithms")
        XCTAssertEqual(run.status, 0)
        XCTAssertTrue(run.stdout.contains("aes256gcm16"), run.stdout)
        XCTAssertTrue(run.stdout.contains("modp1024"), run.stdout)
    }
}
