import Foundation
import IsthmusGateway
import IsthmusPKI
import XCTest

/// `isthmus pki bundle`'s folder: which files, their modes, what is left out and why, and what it refuses.
final class ClientBundleTests: XCTestCase {
    private func mode(_ path: String) throws -> Int {
        (try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int) ?? -1
    }

    /// A CA with the gateway's and alice's certificates, and the test cloud (dynamic) with `settings` under
    /// point_to_site and the gateway's certificate.
    private func setUp(_ folder: TemporaryFolder, _ settings: String) throws -> (PKIDirectory, GatewayConfig) {
        let pki = PKIDirectory(path: folder.path + "/ca")
        let now = Date()
        _ = try pki.initialize(name: "Test CA", kind: .ecdsaP256, days: 30, now: now, force: false)
        _ = try pki.issue(
            name: "vpn.cloud.test", server: true, subjectAltNames: [.dns("vpn.cloud.test")], kind: .ecdsaP256,
            days: 30, now: now, force: false)
        _ = try pki.issue(
            name: "alice@example.test", server: false, subjectAltNames: [], kind: .ecdsaP256, days: 30, now: now,
            force: false)
        let gateway = pki.issuedFiles("vpn.cloud.test")
        let yaml = replacing(
            "kind: static", with: "kind: dynamic",
            in: replacing(
                "  public_address: 203.0.113.20\n",
                with: "  public_address: 203.0.113.20\n"
                    + "  certificate: {certificate: \(gateway.certificate), private_key: \(gateway.key)}\n"
                    + "  certificate_authorities: [\(pki.certificatePath)]\n"
                    + "  point_to_site:\n    address_pool: 10.0.0.0/24\n" + settings))
        let result = load(yaml)
        return (pki, try XCTUnwrap(result.config, "\(result.errors)"))
    }

    func testBundleFilesModesAndAPlatformLeftOut() throws {
        let folder = try TemporaryFolder()
        // Windows has neither SHA-512 integrity nor Curve25519: its script is left out, with the reason.
        let (pki, config) = try setUp(folder, "    auth: [certificate]\n    ike: [aes256-sha512-curve25519]\n")
        let request = ClientBundle.Request(
            name: "alice@example.test", authority: pki, config: config, outputFolder: folder.path + "/out",
            address: "vpn.cloud.test", eap: false, force: false)
        let written = try ClientBundle.write(request)
        XCTAssertEqual(written.folder, folder.path + "/out/alice@example.test")
        let names = Set(written.files.map(\.name))
        for name in [
            "ca.pem", "alice@example.test.pem", "alice@example.test.key", "alice@example.test.p12",
            "alice@example.test.p12.password", "swanctl.conf", "x509/alice@example.test.pem", "x509ca/ca.pem",
            "private/alice@example.test.key", "cloud.nmconnection", "alice@example.test.mobileconfig", "README.txt",
        ] {
            XCTAssertTrue(names.contains(name), "missing \(name)")
        }
        XCTAssertFalse(names.contains("alice@example.test-windows.ps1"))
        XCTAssertEqual(written.skipped.map(\.platform), [.windows])
        for (name, secret) in written.files {
            XCTAssertEqual(try mode(written.folder + "/" + name), secret ? 0o600 : 0o644, name)
        }
        let readme = String(
            decoding: try Data(contentsOf: URL(fileURLWithPath: written.folder + "/README.txt")), as: UTF8.self)
        XCTAssertTrue(readme.contains("Windows cannot use the gateway's point-to-site proposals"), readme)
        let swanctl = String(
            decoding: try Data(contentsOf: URL(fileURLWithPath: written.folder + "/swanctl.conf")), as: UTF8.self)
        XCTAssertTrue(swanctl.contains("remote_addrs = vpn.cloud.test\n"))
        XCTAssertTrue(swanctl.contains("id = \"alice@example.test\"\n"), "the client's SAN is its identity")
        XCTAssertTrue(swanctl.contains("id = \"CN=vpn.cloud.test\"\n"), "the gateway's subject DN")
        XCTAssertThrowsError(try ClientBundle.write(request)) { error in
            XCTAssertTrue("\(error)".contains("already exists; --force"), "\(error)")
        }
        var again = request
        again.force = true
        XCTAssertNoThrow(try ClientBundle.write(again))
    }

    func testRefusals() throws {
        let folder = try TemporaryFolder()
        let (pki, config) = try setUp(folder, "    auth: [certificate]\n")
        func refusal(_ name: String, eap: Bool = false, address: String? = nil, config: GatewayConfig) -> String {
            let request = ClientBundle.Request(
                name: name, authority: pki, config: config, outputFolder: folder.path + "/out", address: address,
                eap: eap, force: false)
            do {
                _ = try ClientBundle.write(request)
                return "written"
            } catch {
                return "\(error)"
            }
        }
        XCTAssertTrue(refusal("bob", config: config).contains("cannot read"))
        XCTAssertTrue(refusal("../x", config: config).contains("cannot name a certificate"))
        XCTAssertTrue(
            refusal("alice@example.test", eap: true, config: config).contains("does not accept eap-mschapv2 clients"))
        var noPointToSite = config
        noPointToSite.gateway.pointToSite = nil
        XCTAssertTrue(refusal("alice@example.test", config: noPointToSite).contains("has no point_to_site"))
        var noAddress = config
        noAddress.gateway.publicAddress = nil
        XCTAssertTrue(refusal("alice@example.test", config: noAddress).contains("--address"))
        XCTAssertEqual(refusal("alice@example.test", address: "vpn.cloud.test", config: noAddress), "written")
    }
}
