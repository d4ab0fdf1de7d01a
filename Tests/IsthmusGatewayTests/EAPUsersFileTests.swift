import Foundation
import IsthmusCrypto
import IsthmusGateway
import XCTest

final class EAPUsersFileTests: XCTestCase {
    func testPasswordsAndHashes() throws {
        let result = EAPUsersFile.parse(
            text: """
                alice: "correct horse"
                bob: {nt_hash: 44EBBA8D5312B8D611474411F56989AE}
                """, file: "users.yaml")
        XCTAssertEqual(result.diagnostics, [])
        let users = try XCTUnwrap(result.users)
        XCTAssertEqual(users.names, ["alice", "bob"])
        XCTAssertEqual(
            users.lookUp("alice")?.ntHash, try MSCHAPv2Crypto.ntPasswordHash(password: "correct horse"))
        XCTAssertEqual(users.lookUp("bob")?.ntHash, try MSCHAPv2Crypto.ntPasswordHash(password: "clientPass"))
    }

    func testEmptyPasswordsAndBadHashesArePositionedErrors() {
        let result = EAPUsersFile.parse(
            text: """
                alice: one
                bob: ""
                carol: {nt_hash: 1234}
                dave: [x]
                """, file: "users.yaml")
        XCTAssertNil(result.users)
        let lines = result.diagnostics.map { "\($0.location.line): \($0.message)" }
        XCTAssertEqual(
            lines,
            [
                "2: user 'bob' has an empty password",
                "3: the nt_hash of user 'carol' must be 32 hex digits (16 bytes)",
                "4: user 'dave' must map to a password or to {nt_hash: HEX}",
            ])
    }

    func testDuplicateNamesArePositionedAndNoPasswordIsQuoted() {
        let result = EAPUsersFile.parse(
            text: """
                alice: first-secret
                bob: b
                "alice": second-secret
                """, file: "users.yaml")
        XCTAssertNil(result.users)
        XCTAssertEqual(
            result.diagnostics.map { "\($0.location.line): \($0.message)" },
            ["3: user 'alice' appears twice (first at line 1)"])
        XCTAssertFalse(result.diagnostics.contains { $0.description.contains("secret") }, "\(result.diagnostics)")
    }

    func testNotAMapping() {
        XCTAssertNil(EAPUsersFile.parse(text: "- alice\n", file: "u").users)
        XCTAssertNil(EAPUsersFile.parse(text: "", file: "u").users)
    }

    func testFileReadableByOthersIsRefused() throws {
        let path = NSTemporaryDirectory() + "isthmus-users-\(getpid()).yaml"
        defer { unlink(path) }
        try "alice: secret\n".write(toFile: path, atomically: false, encoding: .utf8)
        chmod(path, 0o644)
        let refused = EAPUsersFile.load(path: path)
        XCTAssertNil(refused.users)
        XCTAssertTrue(refused.diagnostics.first?.message.contains("mode 0644") ?? false, "\(refused.diagnostics)")
        XCTAssertEqual(refused.diagnostics.first?.fix, "chmod 600 \(path)")
        chmod(path, 0o600)
        let accepted = EAPUsersFile.load(path: path)
        XCTAssertEqual(accepted.users?.names, ["alice"])
    }
}

final class PointToSiteAuthConfigTests: XCTestCase {
    private func cloud(_ pointToSite: String) -> String {
        replacing(
            "  public_address: 203.0.113.20\n",
            with: "  public_address: 203.0.113.20\n  point_to_site:\n    address_pool: 10.0.0.0/24\n" + pointToSite,
            in: replacing("kind: static", with: "kind: dynamic"))
    }

    func testEAPWithAUsersFile() throws {
        let folder = try TemporaryFolder()
        try folder.write("users.yaml", "alice: secret\n")
        let result = load(
            cloud(
                "    auth: [eap-mschapv2]\n    shared_key: clients-share-this-0123\n    users_file: users.yaml\n"),
            in: folder)
        XCTAssertEqual(result.errors, [])
        let p2s = try XCTUnwrap(result.config?.gateway.pointToSite)
        XCTAssertEqual(p2s.authentication, [.eapMSCHAPv2])
        // A group key beside per-user methods would let its holders claim a user's identity.
        let mixed = load(
            cloud(
                "    auth: [eap-mschapv2, psk]\n    shared_key: clients-share-this-0123\n    users_file: users.yaml\n"),
            in: folder)
        XCTAssertTrue(mixed.errors.contains { $0.message.contains("psk cannot be combined") })
        XCTAssertEqual(p2s.usersFile, folder.path + "/users.yaml")
    }

    func testEAPWithoutUsersFileOrKeyOrWithAnOpenFileIsRefused() throws {
        assertError(
            cloud("    auth: eap-mschapv2\n    shared_key: clients-share-this-0123\n"),
            "eap-mschapv2 needs a users_file")
        let folder = try TemporaryFolder()
        try folder.write("users.yaml", "alice: secret\n")
        let keyless = load(cloud("    auth: eap-mschapv2\n    users_file: users.yaml\n"), in: folder)
        let expected = "authenticate the gateway by its certificate or, without one, by shared_key"
        XCTAssertTrue(keyless.errors.contains { $0.message.contains(expected) })
        try folder.write("open.yaml", "alice: secret\n", mode: 0o640)
        let result = load(
            cloud("    auth: [eap-mschapv2]\n    shared_key: clients-share-this-0123\n    users_file: open.yaml\n"),
            in: folder)
        XCTAssertNil(result.config)
        let error = try XCTUnwrap(result.errors.first { $0.message.contains("users_file") })
        XCTAssertTrue(error.message.contains("mode 0640"), error.message)
        XCTAssertEqual(error.location.line, 9, "the users_file line")
    }

    func testUnknownMethodGetsASuggestion() {
        assertError(cloud("    auth: [eap-mschap]\n"), "did you mean 'eap-mschapv2'")
    }
}
