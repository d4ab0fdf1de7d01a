import Glibc
import XCTest

@testable import IsthmusGateway

/// Who may read a file holding a secret (``SecretFileAccess``) and what loading a configuration makes of it:
/// warnings by default (`check`), errors with `.refuse` (`run`, `reload`), on real files in a temporary folder.
final class SecretFileAccessTests: XCTestCase {
    private func name(_ id: UInt32) -> String { ["0": "root", "1000": "alice"]["\(id)"] ?? "uid \(id)" }

    func testOnlyTheOwnersOrRootsFileWithoutGroupOrOtherAccessPasses() {
        func problem(mode: UInt32, owner: UInt32, user: UInt32) -> SecretFileAccess.Problem? {
            SecretFileAccess.problem(what: "the key file", path: "/k", mode: mode, owner: owner, user: user, name: name)
        }
        XCTAssertNil(problem(mode: 0o600, owner: 1000, user: 1000))
        XCTAssertNil(problem(mode: 0o400, owner: 0, user: 0))
        XCTAssertNil(problem(mode: 0o600, owner: 0, user: 1000), "root's file (the user could not read it anyway)")
        let open = problem(mode: 0o644, owner: 0, user: 0)
        XCTAssertEqual(
            open?.message,
            "the key file /k can be read or written by group or others (mode 0644): a secret must be the owner's alone")
        XCTAssertEqual(open?.fix, "chmod 600 /k")
        XCTAssertNotNil(problem(mode: 0o620, owner: 0, user: 0), "group-writable is refused too")
        XCTAssertNotNil(problem(mode: 0o604, owner: 0, user: 0))
        let foreign = problem(mode: 0o600, owner: 1000, user: 0)
        XCTAssertEqual(
            foreign?.message,
            "the key file /k is owned by alice, not by root who runs isthmus: a secret must be the owner's alone")
        XCTAssertEqual(foreign?.fix, "chown root /k")
        XCTAssertEqual(problem(mode: 0o640, owner: 1001, user: 1000)?.fix, "chown alice /k && chmod 600 /k")
    }

    private func load(_ folder: TemporaryFolder, _ file: String, _ policy: SecretFileAccess.Policy) -> ConfigLoadResult
    {
        ConfigLoader.load(path: "\(folder.path)/\(file)", secrets: policy)
    }

    func testAKeyFileOthersCanReadIsAWarningForCheckAndAPositionedErrorForRun() throws {
        let folder = try TemporaryFolder()
        let yaml = replacing("shared_key: 0123456789abcdef0123", with: "shared_key: file:office.key")
        _ = try folder.write("cloud.yaml", yaml, mode: 0o644)
        let key = try folder.write("office.key", "a-long-random-key-from-a-file\n", mode: 0o640)
        let checked = load(folder, "cloud.yaml", .warn)
        XCTAssertNotNil(checked.config, "\(checked.errors)")
        XCTAssertTrue(
            checked.warnings.contains {
                $0.message.contains("the key file \(key) can be read or written by group or others (mode 0640)")
                    && $0.message.contains("`isthmus run` refuses it") && $0.fix == "chmod 600 \(key)"
            }, "\(checked.warnings)")
        let run = load(folder, "cloud.yaml", .refuse)
        XCTAssertNil(run.config)
        let error = try XCTUnwrap(run.errors.first { $0.message.contains("the key file \(key)") }, "\(run.errors)")
        XCTAssertEqual(error.location.line, 19, "at the shared_key value")
        XCTAssertEqual(error.fix, "chmod 600 \(key)")
        XCTAssertTrue(error.description.contains("cloud.yaml:19:"), error.description)

        XCTAssertEqual(chmod(key, 0o600), 0)
        let fixed = load(folder, "cloud.yaml", .refuse)
        XCTAssertNotNil(fixed.config, "a 0644 configuration without an inline key is fine: \(fixed.errors)")
        XCTAssertEqual(fixed.warnings, [])
    }

    func testAConfigurationWithAnInlineKeyMustBeTheOwnersAlone() throws {
        let folder = try TemporaryFolder()
        let path = try folder.write("cloud.yaml", validCloud, mode: 0o644)
        let run = load(folder, "cloud.yaml", .refuse)
        XCTAssertNil(run.config)
        let error = try XCTUnwrap(run.errors.first, "no error")
        XCTAssertEqual(
            error.message,
            "the configuration, which holds a shared key inline, \(path) can be read or written by group or others "
                + "(mode 0644): a secret must be the owner's alone")
        XCTAssertEqual(error.fix, "chmod 600 \(path), or move the key into a file of its own: shared_key: file:PATH")
        XCTAssertEqual(error.location.line, 19)
        XCTAssertNotNil(load(folder, "cloud.yaml", .warn).config, "check only warns")

        XCTAssertEqual(chmod(path, 0o600), 0)
        XCTAssertNotNil(load(folder, "cloud.yaml", .refuse).config)
    }
}
