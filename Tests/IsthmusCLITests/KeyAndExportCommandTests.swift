import Foundation
import XCTest

/// `isthmus key show|rotate` and `isthmus export`, run as a user runs them: exit codes, what goes to
/// standard output and standard error, file modes, and that the key appears nowhere but where asked.
final class KeyAndExportCommandTests: XCTestCase {
    static let root = repositoryRoot
    static let demoKey = "isthmus-demo-key-change-me-0123456789"

    func isthmus(_ arguments: String...) throws -> CLIRun { try runIsthmus(arguments) }

    /// A copy of examples/cloud-dynamic.yaml whose key is in `office.key` (mode 0600).
    func keyFileConfig() throws -> (folder: URL, config: String, key: String) {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("isthmus-key-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let example = try String(
            contentsOf: Self.root.appendingPathComponent("examples/cloud-dynamic.yaml"), encoding: .utf8)
        let config = folder.appendingPathComponent("cloud.yaml").path
        try example.replacingOccurrences(of: "shared_key: \(Self.demoKey)", with: "shared_key: file:office.key")
            .write(toFile: config, atomically: true, encoding: .utf8)
        let key = folder.appendingPathComponent("office.key").path
        try (Self.demoKey + "\n").write(toFile: key, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: key)
        return (folder, config, key)
    }

    func mode(_ path: String) throws -> Int {
        try XCTUnwrap(FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int)
    }

    // MARK: - key

    func testKeyRotateWritesANewKeyOnceAndNamesThePeer() throws {
        let (folder, config, key) = try keyFileConfig()
        defer { try? FileManager.default.removeItem(at: folder) }
        let run = try isthmus("key", "rotate", "cloud-office", "--config", config, "--log-level", "trace")
        XCTAssertEqual(run.status, 0, run.stderr)
        let lines = run.stdout.split(separator: "\n")
        XCTAssertEqual(lines.count, 1, "stdout holds the key alone: \(run.stdout)")
        let newKey = String(lines.first ?? "")
        XCTAssertEqual(newKey.count, 43)
        XCTAssertTrue(newKey.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber) }, newKey)
        XCTAssertEqual(try String(contentsOfFile: key, encoding: .utf8), newKey + "\n")
        XCTAssertEqual(try mode(key), 0o600)
        XCTAssertFalse(run.stderr.contains(newKey), "the key must not be on standard error or in logs")
        XCTAssertTrue(run.stderr.contains("local network 'office' (198.51.100.10, 192.168.1.0/24)"), run.stderr)
        XCTAssertTrue(run.stderr.contains("isthmus export cloud-office --device"), run.stderr)
        XCTAssertTrue(run.stderr.contains("keeps using the old key until 'isthmus reload'"), run.stderr)
        XCTAssertEqual(
            try FileManager.default.contentsOfDirectory(atPath: folder.path).sorted(), ["cloud.yaml", "office.key"])

        let show = try isthmus("key", "show", "cloud-office", "--config", config)
        XCTAssertEqual(show.status, 0, show.stderr)
        XCTAssertEqual(show.stdout, newKey + "\n")
        XCTAssertTrue(
            show.stderr.contains("key: file \(folder.path)/office.key (43 characters, mode 600)"), show.stderr)
        XCTAssertTrue(show.stderr.contains("last rotated: "), show.stderr)
        XCTAssertTrue(show.stderr.contains(" UTC ("), show.stderr)

        let again = try isthmus("key", "rotate", "cloud-office", "--config", config)
        XCTAssertEqual(again.status, 0)
        XCTAssertNotEqual(again.stdout, run.stdout, "every rotation makes a new key")
    }

    func testKeyRotateRefusesAnInlineKeyAndExplainsHowToMoveIt() throws {
        let before = try String(contentsOf: Self.root.appendingPathComponent("examples/cloud.yaml"), encoding: .utf8)
        let run = try isthmus("key", "rotate", "cloud-office", "--config", "examples/cloud.yaml")
        XCTAssertEqual(run.status, 1)
        XCTAssertEqual(run.stdout, "")
        XCTAssertTrue(
            run.stderr.hasPrefix("examples/cloud.yaml:29:17: error: connection 'cloud-office' has its key inline"),
            run.stderr)
        XCTAssertTrue(run.stderr.contains("shared_key: file:/etc/isthmus/cloud-office.key"), run.stderr)
        XCTAssertTrue(run.stderr.contains("isthmus key show cloud-office --config examples/cloud.yaml >"), run.stderr)
        XCTAssertFalse(run.stderr.contains(Self.demoKey))
        let after = try String(contentsOf: Self.root.appendingPathComponent("examples/cloud.yaml"), encoding: .utf8)
        XCTAssertEqual(before, after, "the configuration must not be rewritten")
    }

    func testKeyShowOfAnInlineKeySaysWhereItIs() throws {
        let run = try isthmus("key", "show", "cloud-office", "--config", "examples/cloud.yaml")
        XCTAssertEqual(run.status, 0)
        XCTAssertEqual(run.stdout, Self.demoKey + "\n")
        XCTAssertTrue(run.stderr.contains("key: written inline at examples/cloud.yaml:29:17"), run.stderr)
        XCTAssertFalse(run.stderr.contains(Self.demoKey))
    }

    func testKeyCommandsRefuseUnknownConnectionsAndBadConfigurations() throws {
        let unknown = try isthmus("key", "show", "nope", "--config", "examples/cloud.yaml")
        XCTAssertEqual(unknown.status, 1)
        XCTAssertTrue(unknown.stderr.contains("no connection named 'nope'; it has 'cloud-office'"), unknown.stderr)
        let missing = try isthmus("key", "rotate", "x", "--config", "/nonexistent/c.yaml")
        XCTAssertEqual(missing.status, 1)
        XCTAssertTrue(missing.stderr.contains("/nonexistent/c.yaml:1:1: error: cannot read the configuration"))
    }

    /// A key file whose folder takes no new files (a link into /proc, which even root cannot create in):
    /// exit 1, the step and the file named, nothing on standard output, the key file unchanged.
    func testKeyRotateFailureIsReportedAndPrintsNoKey() throws {
        let bootID = "/proc/sys/kernel/random/boot_id"
        try XCTSkipUnless(FileManager.default.isReadableFile(atPath: bootID), "no \(bootID)")
        let (folder, config, key) = try keyFileConfig()
        defer { try? FileManager.default.removeItem(at: folder) }
        try FileManager.default.removeItem(atPath: key)
        try FileManager.default.createSymbolicLink(atPath: key, withDestinationPath: bootID)
        let before = try String(contentsOfFile: bootID, encoding: .utf8)
        let run = try isthmus("key", "rotate", "cloud-office", "--config", config)
        XCTAssertEqual(run.status, 1, run.stdout + run.stderr)
        XCTAssertEqual(run.stdout, "", "no key is printed when none was written")
        XCTAssertTrue(run.stderr.contains("cannot create a temporary file next to \(bootID)"), run.stderr)
        XCTAssertTrue(run.stderr.contains("was not changed"), run.stderr)
        XCTAssertEqual(try String(contentsOfFile: bootID, encoding: .utf8), before)
    }

    // MARK: - export

    func testExportToStandardOutputAndItsHeader() throws {
        let run = try isthmus(
            "export", "cloud-office", "--device", "strongswan", "--config", "examples/cloud-dynamic.yaml")
        XCTAssertEqual(run.status, 0, run.stderr)
        XCTAssertTrue(run.stdout.hasPrefix("# swanctl.conf for the peer of Isthmus connection 'cloud-office'."))
        XCTAssertTrue(run.stdout.contains("secret = \"\(Self.demoKey)\""))
        XCTAssertTrue(run.stderr.contains("contains the pre-shared key"), run.stderr)
        XCTAssertFalse(run.stderr.contains(Self.demoKey))

        let noKey = try isthmus(
            "export", "cloud-office", "--device", "libreswan", "--config", "examples/cloud-dynamic.yaml", "--no-key")
        XCTAssertEqual(noKey.status, 0, noKey.stderr)
        XCTAssertFalse(noKey.stdout.contains(Self.demoKey))
        XCTAssertTrue(noKey.stdout.contains("# ---- cloud-office.conf ----\n"))
        XCTAssertTrue(noKey.stdout.contains("# ---- cloud-office.secrets ----\n"))
        XCTAssertEqual(noKey.stderr, "")
    }

    func testExportToAFolderWritesMode0600Files() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent(
            "isthmus-export-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let run = try isthmus(
            "export", "cloud-office", "--device", "libreswan", "--config", "examples/cloud-dynamic.yaml", "--output",
            folder.path)
        XCTAssertEqual(run.status, 0, run.stderr)
        XCTAssertEqual(run.stdout, "")
        for name in ["cloud-office.conf", "cloud-office.secrets"] {
            XCTAssertEqual(try mode(folder.appendingPathComponent(name).path), 0o600, name)
        }
        XCTAssertTrue(run.stderr.contains("cloud-office.secrets (mode 600, contains the pre-shared key)"), run.stderr)
    }

    func testExportErrorsArePositionedAndNameTheFix() throws {
        let run = try isthmus(
            "export", "cloud-office", "--device", "netgear-fvs318n", "--config", "examples/cloud-dynamic.yaml")
        XCTAssertEqual(run.status, 1)
        XCTAssertEqual(run.stdout, "")
        XCTAssertTrue(
            run.stderr.hasPrefix("examples/cloud-dynamic.yaml:26:18: error: the NETGEAR FVS318N negotiates IKEv1 only"),
            run.stderr)
        XCTAssertTrue(run.stderr.contains("    fix: make the connection policy-based IKEv1"), run.stderr)
        XCTAssertTrue(
            run.stderr.contains("examples/cloud-dynamic.yaml: 1 problem; nothing exported for netgear-fvs318n"))
        let bad = try isthmus("export", "cloud-office", "--device", "cisco", "--config", "examples/cloud.yaml")
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.stderr.contains("netgear-fvs318n"), "the error lists the devices: \(bad.stderr)")
    }

    func testTheSeedsRouterGetsItsFieldsWithDefaultWarnings() throws {
        let run = try isthmus(
            "export", "cloud-office", "--device", "netgear-fvs318n", "--config", "examples/cloud.yaml")
        XCTAssertEqual(run.status, 0, run.stderr)
        XCTAssertTrue(run.stdout.contains("! device default: 3DES — set AES-256"), run.stdout)
        XCTAssertTrue(run.stdout.contains("Pre-shared key                          \(Self.demoKey)"), run.stdout)
        XCTAssertTrue(run.stdout.contains("SA-Lifetime (sec)                       28800"), run.stdout)
        XCTAssertTrue(run.stdout.contains("Remote Endpoint                         IP Address: 203.0.113.20"))
    }
}
