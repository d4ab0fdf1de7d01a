import Foundation
import XCTest

/// `isthmus pki`, run as a user runs it: exit codes and messages for mistakes, and nothing secret printed.
final class PKICommandTests: XCTestCase {
    func isthmus(_ arguments: String...) throws -> CLIRun { try runIsthmus(arguments) }

    func temporaryFolder() throws -> String {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("isthmus-pki-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        return folder.path
    }

    func testWorkflowAndItsMistakes() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let dir = folder + "/ca"

        let noCA = try isthmus("pki", "issue", "alice", "--dir", dir)
        XCTAssertEqual(noCA.status, 1)
        XCTAssertTrue(noCA.stderr.contains("isthmus pki init --dir"), noCA.stderr)

        let initialized = try isthmus("pki", "init", "--dir", dir, "--name", "Test CA", "--days", "30")
        XCTAssertEqual(initialized.status, 0, initialized.stderr)
        XCTAssertTrue(initialized.stdout.contains("'CN=Test CA'"), initialized.stdout)
        XCTAssertEqual(try isthmus("pki", "init", "--dir", dir).status, 1)

        let badSAN = try isthmus("pki", "issue", "vpn", "--dir", dir, "--server", "--san", "ip:not-an-address")
        XCTAssertEqual(badSAN.status, 1)
        XCTAssertTrue(badSAN.stderr.contains("not an IP address"), badSAN.stderr)
        let badKind = try isthmus("pki", "issue", "vpn", "--dir", dir, "--key", "dsa-1024")
        XCTAssertEqual(badKind.status, 64, badKind.stderr)
        let badName = try isthmus("pki", "issue", "../escape", "--dir", dir)
        XCTAssertEqual(badName.status, 1)
        XCTAssertFalse(FileManager.default.fileExists(atPath: folder + "/escape.key"))

        let issued = try isthmus("pki", "issue", "alice@example.com", "--dir", dir)
        XCTAssertEqual(issued.status, 0, issued.stderr)
        XCTAssertTrue(issued.stdout.contains("names: email:alice@example.com"), issued.stdout)

        let revokeNothing = try isthmus("pki", "revoke", "--dir", dir)
        XCTAssertEqual(revokeNothing.status, 64, revokeNothing.stderr)
        let revokeTwoWays = try isthmus("pki", "revoke", "alice@example.com", "--serial", "01", "--dir", dir)
        XCTAssertEqual(revokeTwoWays.status, 64, revokeTwoWays.stderr)
        let revokeUnknown = try isthmus("pki", "revoke", "bob", "--dir", dir)
        XCTAssertEqual(revokeUnknown.status, 1)
        XCTAssertTrue(revokeUnknown.stderr.contains("no certificate named 'bob'"), revokeUnknown.stderr)

        let showMissing = try isthmus("pki", "show", folder + "/missing.pem")
        XCTAssertEqual(showMissing.status, 1)

        // No run printed a line of a private key.
        let keyText =
            try String(contentsOfFile: dir + "/issued/alice@example.com.key", encoding: .utf8)
            + String(contentsOfFile: dir + "/ca.key", encoding: .utf8)
        let keyLines = keyText.split(separator: "\n").filter { !$0.hasPrefix("-----") }
        for run in [noCA, initialized, badSAN, issued, revokeUnknown] {
            for line in keyLines {
                XCTAssertFalse(run.stdout.contains(line) || run.stderr.contains(line), "a key line was printed")
            }
        }
    }
}
