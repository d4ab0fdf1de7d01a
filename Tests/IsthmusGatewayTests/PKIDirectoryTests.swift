import Foundation
import IsthmusCrypto
import IsthmusGateway
import IsthmusPKI
import XCTest

final class PKIDirectoryTests: XCTestCase {
    private let now = Date(timeIntervalSince1970: 1_800_000_000)

    private func mode(_ path: String) throws -> Int {
        (try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int) ?? -1
    }

    private func text(_ path: String) throws -> String {
        String(decoding: try Data(contentsOf: URL(fileURLWithPath: path)), as: UTF8.self)
    }

    func testInitIssueAndVerifyWithTheVerifier() throws {
        let folder = try TemporaryFolder()
        let pki = PKIDirectory(path: folder.path + "/ca")
        let authority = try pki.initialize(
            name: "Isthmus Root CA", kind: .ecdsaP256, days: 3650, now: now, force: false)
        XCTAssertEqual(authority.subjectText, "CN=Isthmus Root CA")
        XCTAssertTrue(authority.isCertificateAuthority)
        XCTAssertEqual(try mode(pki.keyPath), 0o600)
        XCTAssertEqual(try mode(pki.certificatePath), 0o644)
        XCTAssertEqual(try mode(pki.path), 0o700)

        let client = try pki.issue(
            name: "alice@example.com", server: false, subjectAltNames: [], kind: .ecdsaP256, days: 825, now: now,
            force: false)
        XCTAssertEqual(client.details.subjectText, "CN=alice@example.com")
        XCTAssertEqual(client.details.subjectAltNames, [.email("alice@example.com")])
        XCTAssertEqual(client.details.extendedKeyUsages, ["clientAuth"])
        XCTAssertEqual(client.details.notBefore, now.addingTimeInterval(-PKIDirectory.backdating))
        XCTAssertEqual(try mode(client.keyFile), 0o600)
        let server = try pki.issue(
            name: "vpn.example.com", server: true,
            subjectAltNames: [.dns("vpn.example.com"), try SubjectAltName(parsing: "ip:203.0.113.20")],
            kind: .ecdsaP384, days: 825, now: now, force: false)
        XCTAssertEqual(server.details.extendedKeyUsages, ["serverAuth", "ikeIntermediate"])
        XCTAssertEqual(server.details.subjectAltNames.count, 2)

        // The files are what the gateway's configuration will name: the verifier and LocalCredential read them.
        let verifier = CertificateChainVerifier(
            trustRootsDER: PEM.blocks(try text(pki.certificatePath), label: "CERTIFICATE"), revoked: RevocationList())
        for issued in [client, server] {
            let credential = try LocalCredential(
                certificatePEM: try text(issued.certificateFile), privateKeyPEM: try text(issued.keyFile))
            let verified = try verifier.verify(
                leafDER: credential.certificateDER, intermediatesDER: [], at: now.addingTimeInterval(86_400)
            ).get()
            let signature = try credential.sign([1, 2, 3], scheme: credential.defaultScheme)
            XCTAssertTrue(verified.publicKey.verify(signature, over: [1, 2, 3], scheme: credential.defaultScheme))
        }
    }

    func testRefusesToOverwriteWithoutForce() throws {
        let folder = try TemporaryFolder()
        let pki = PKIDirectory(path: folder.path)
        let first = try pki.initialize(name: "CA one", kind: .ecdsaP256, days: 10, now: now, force: false)
        XCTAssertThrowsError(try pki.initialize(name: "CA two", kind: .ecdsaP256, days: 10, now: now, force: false))
        XCTAssertEqual(try pki.authority().sha256Thumbprint, first.sha256Thumbprint)
        _ = try pki.issue(
            name: "bob", server: false, subjectAltNames: [], kind: .ecdsaP256, days: 5, now: now, force: false)
        XCTAssertThrowsError(
            try pki.issue(
                name: "bob", server: false, subjectAltNames: [], kind: .ecdsaP256, days: 5, now: now, force: false)
        ) { XCTAssertTrue("\($0)".contains("--force"), "\($0)") }
        XCTAssertNoThrow(
            try pki.issue(
                name: "bob", server: false, subjectAltNames: [], kind: .ecdsaP256, days: 5, now: now, force: true))
        // A certificate never outlives its CA.
        let long = try pki.issue(
            name: "long", server: false, subjectAltNames: [], kind: .ecdsaP256, days: 400, now: now, force: false)
        XCTAssertEqual(long.details.notAfter, first.notAfter)
    }

    func testNamesThatCannotBeFileNamesAreRefused() throws {
        let folder = try TemporaryFolder()
        let pki = PKIDirectory(path: folder.path)
        _ = try pki.initialize(name: "CA", kind: .ecdsaP256, days: 10, now: now, force: false)
        for name in ["../evil", ".hidden", "a/b", "", "spaces here"] {
            XCTAssertThrowsError(
                try pki.issue(
                    name: name, server: false, subjectAltNames: [], kind: .ecdsaP256, days: 1, now: now, force: false),
                name)
        }
        XCTAssertEqual(PKIDirectory.defaultName(for: "vpn.example.com"), .dns("vpn.example.com"))
        XCTAssertEqual(PKIDirectory.defaultName(for: "203.0.113.20"), try SubjectAltName(parsing: "ip:203.0.113.20"))
    }

    func testRevokeByNameSerialAndThumbprintThenList() throws {
        let folder = try TemporaryFolder()
        let pki = PKIDirectory(path: folder.path)
        _ = try pki.initialize(name: "CA", kind: .ecdsaP256, days: 10, now: now, force: false)
        let alice = try pki.issue(
            name: "alice", server: false, subjectAltNames: [], kind: .ecdsaP256, days: 5, now: now, force: false)
        _ = try pki.issue(
            name: "bob", server: false, subjectAltNames: [], kind: .ecdsaP256, days: 5, now: now, force: false)
        guard case .added(let line) = try pki.revoke(.name("alice"), now: now) else { return XCTFail("not added") }
        XCTAssertEqual(line, "serial \(alice.details.serialHex)  # alice 2027-01-15")
        XCTAssertEqual(try pki.revoke(.name("alice"), now: now), .alreadyRevoked)
        XCTAssertEqual(try pki.revoke(.serial(alice.details.serialHex.uppercased()), now: now), .alreadyRevoked)
        guard case .added = try pki.revoke(.sha256(String(repeating: "ab", count: 32)), now: now) else {
            return XCTFail("not added")
        }
        XCTAssertThrowsError(try pki.revoke(.serial("xyz"), now: now))
        XCTAssertThrowsError(try pki.revoke(.name("carol"), now: now))

        let list = try pki.revocationList()
        XCTAssertEqual(list.serials, [alice.details.serialHex])
        XCTAssertEqual(list.sha256Thumbprints.count, 1)
        let (entries, unreadable) = try pki.list()
        XCTAssertEqual(entries.map(\.name), ["alice", "bob"])
        XCTAssertEqual(entries.map(\.revoked), [true, false])
        XCTAssertEqual(unreadable, [])
    }

    func testABrokenRevocationListIsNotAppendedTo() throws {
        let folder = try TemporaryFolder()
        let pki = PKIDirectory(path: folder.path)
        try folder.write("revoked", "serial 01\nnonsense here\n", mode: 0o644)
        XCTAssertThrowsError(try pki.revoke(.serial("02"), now: now)) {
            XCTAssertTrue("\($0)".contains("Line 2"), "\($0)")
        }
        XCTAssertEqual(try text(pki.revokedPath), "serial 01\nnonsense here\n")
    }

    func testImportWithAndWithoutKey() throws {
        let source = try TemporaryFolder()
        let original = PKIDirectory(path: source.path)
        let authority = try original.initialize(
            name: "C=CH, O=Example, CN=Corporate CA", kind: .ecdsaP256, days: 10, now: now, force: false)
        let target = try TemporaryFolder()
        let imported = PKIDirectory(path: target.path + "/imported")
        XCTAssertEqual(
            try imported.importAuthority(certificateFile: original.certificatePath, keyFile: nil, force: false)
                .subjectText,
            "C=CH, O=Example, CN=Corporate CA")
        XCTAssertThrowsError(
            try imported.issue(
                name: "x", server: false, subjectAltNames: [], kind: .ecdsaP256, days: 1, now: now, force: false)
        ) { XCTAssertTrue("\($0)".contains("--key"), "\($0)") }
        _ = try imported.importAuthority(
            certificateFile: original.certificatePath, keyFile: original.keyPath, force: true)
        XCTAssertEqual(try mode(imported.keyPath), 0o600)
        let issued = try imported.issue(
            name: "x", server: false, subjectAltNames: [], kind: .ecdsaP256, days: 1, now: now, force: false)
        XCTAssertEqual(issued.details.issuerText, authority.subjectText)
        // A key of another CA, and a leaf certificate, are refused.
        let other = try TemporaryFolder()
        let otherCA = PKIDirectory(path: other.path)
        _ = try otherCA.initialize(name: "Other", kind: .ecdsaP256, days: 10, now: now, force: false)
        XCTAssertThrowsError(
            try imported.importAuthority(
                certificateFile: original.certificatePath, keyFile: otherCA.keyPath, force: true))
        XCTAssertThrowsError(
            try imported.importAuthority(certificateFile: issued.certificateFile, keyFile: nil, force: true)
        ) { XCTAssertTrue("\($0)".contains("not a certificate authority"), "\($0)") }
    }
}

final class PKIDirectoryPKCS12Tests: XCTestCase {
    func testExportWritesBundleAndGeneratedPasswordWithMode0600() throws {
        let folder = try TemporaryFolder()
        let pki = PKIDirectory(path: folder.path)
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        _ = try pki.initialize(name: "CA", kind: .ecdsaP256, days: 10, now: now, force: false)
        let alice = try pki.issue(
            name: "alice", server: false, subjectAltNames: [], kind: .ecdsaP256, days: 5, now: now, force: false)
        let export = try pki.exportPKCS12(name: "alice", password: nil, force: false)
        let passwordFile = try XCTUnwrap(export.passwordFile)
        for file in [export.bundleFile, passwordFile] {
            XCTAssertEqual(try FileManager.default.attributesOfItem(atPath: file)[.posixPermissions] as? Int, 0o600)
        }
        let password = Array(try Data(contentsOf: URL(fileURLWithPath: passwordFile)).dropLast())
        XCTAssertEqual(password.count, 24)
        let bundle = Array(try Data(contentsOf: URL(fileURLWithPath: export.bundleFile)))
        let contents = try PKCS12Bundle.open(bundle, password: password)
        XCTAssertEqual(contents.certificateDER, alice.details.der)
        XCTAssertTrue(contents.hasKey)
        XCTAssertEqual(contents.chainDER, [try pki.authority().der])
        XCTAssertThrowsError(try pki.exportPKCS12(name: "alice", password: nil, force: false))
        let given = try pki.exportPKCS12(name: "alice", password: Array("given".utf8), force: true)
        XCTAssertNil(given.passwordFile)
        XCTAssertThrowsError(try pki.exportPKCS12(name: "nobody", password: nil, force: false))
    }
}
