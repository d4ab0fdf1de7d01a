import IsthmusCrypto
import IsthmusGateway
import IsthmusIP
import XCTest

/// `gateway.point_to_site` as `isthmus check` reads it.
final class PointToSiteConfigTests: XCTestCase {
    /// The static test cloud made dynamic, with `settings` under point_to_site.
    private func cloud(_ settings: String) -> String {
        replacing(
            "kind: static", with: "kind: dynamic",
            in: replacing(
                "  public_address: 203.0.113.20\n",
                with: "  public_address: 203.0.113.20\n  point_to_site:\n    address_pool: 10.0.0.0/24\n" + settings))
    }

    func testPreSharedKeyClientsWithFullTunnel() throws {
        let yaml = cloud("    auth: [psk]\n    shared_key: a-client-key-of-some-length\n    full_tunnel: true\n")
        assertValid(yaml)
        let p2s = try XCTUnwrap(load(yaml).config?.gateway.pointToSite)
        XCTAssertEqual(p2s.addressPool, try IPPrefix(parsing: "10.0.0.0/24"))
        XCTAssertEqual(p2s.authentication, [.psk])
        XCTAssertEqual(p2s.sharedKey?.withMaterial { Array($0) }, Array("a-client-key-of-some-length".utf8))
        XCTAssertTrue(p2s.fullTunnel)
        XCTAssertEqual(p2s.ike, Connection.defaultProposals(.ike, version: .v2))
        let split = try XCTUnwrap(load(cloud("    shared_key: a-client-key-of-some-length\n")).config)
        XCTAssertEqual(split.gateway.pointToSite?.fullTunnel, false)
        XCTAssertEqual(split.gateway.pointToSite?.authentication, [.psk], "psk is the default")
    }

    func testRefusedSettingsSayWhy() {
        assertError(cloud("    auth: [psk]\n"), "psk needs the key the clients share")
        assertError(cloud("    auth: [kerberos]\n    shared_key: a-client-key-of-some-length\n"), "is not one of: psk")
        assertError(cloud("    auth: []\n    shared_key: a-client-key-of-some-length\n"), "lists no method")
        assertError(cloud("    shared_key: short\n"), "16")
        assertError(
            cloud("    shared_key: a-client-key-of-some-length\n    full_tunnel: maybe\n"), "is not true or false")
        assertError(
            cloud("    shared_key: a-client-key-of-some-length\n    esp: [aes256-sha9]\n"), "unknown algorithm")
        assertError(
            replacing("10.0.0.0/24", with: "fd00::/64", in: cloud("    shared_key: a-client-key-of-some-length\n")),
            "is IPv6")
    }
}
