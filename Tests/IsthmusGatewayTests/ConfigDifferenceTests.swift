import IsthmusGateway
import XCTest

/// What `reload` would do: one configuration against the next, connection by connection.
final class ConfigDifferenceTests: XCTestCase {
    private func config(_ yaml: String, file: StaticString = #filePath, line: UInt = #line) throws -> GatewayConfig {
        let result = load(yaml)
        return try XCTUnwrap(result.config, "\(result.errors.map(\.description))", file: file, line: line)
    }

    private let twoConnections =
        validOffice + """
              - name: office-lab
                local_network: lab
                kind: dynamic
                ike_version: 2
                shared_key: fedcba9876543210fedcba
                ike: aes256gcm16-prfsha256-ecp256
                esp: aes256gcm16

            """

    private func withLab(_ text: String) -> String {
        replacing(
            "local_networks:\n  - {name: cloud, gateway_address: 203.0.113.20, prefixes: [10.0.1.0/24]}\n",
            with:
                "local_networks:\n  - {name: cloud, gateway_address: 203.0.113.20, prefixes: [10.0.1.0/24]}\n  - {name: lab, gateway_address: 203.0.113.30, prefixes: [10.9.0.0/16]}\n",
            in: text)
    }

    func testSameFileChangesNothing() throws {
        let a = try config(validOffice)
        let difference = ConfigDifference(from: a, to: try config(validOffice))
        XCTAssertTrue(difference.isEmpty)
        XCTAssertEqual(difference.change(for: "office-cloud"), .unchanged)
        XCTAssertEqual(difference.unappliable, [])
    }

    func testKeyAloneIsNotARestart() throws {
        let next = replacing(
            "shared_key: 0123456789abcdef0123", with: "shared_key: a-brand-new-key-4567890", in: validOffice)
        let difference = ConfigDifference(from: try config(validOffice), to: try config(next))
        XCTAssertEqual(difference.change(for: "office-cloud"), .keyChanged)
        XCTAssertFalse(difference.isEmpty)
    }

    func testNegotiatedFieldsAreNamed() throws {
        let next = replacing("esp: aes256-sha1", with: "esp: aes128-sha256", in: validOffice)
        XCTAssertEqual(
            ConfigDifference(from: try config(validOffice), to: try config(next)).change(for: "office-cloud"),
            .changed(["esp"]))
        // A proposal and the key at once: a restart (it renegotiates with the new key anyway).
        let both = replacing("shared_key: 0123456789abcdef0123", with: "shared_key: a-brand-new-key-4567890", in: next)
        XCTAssertEqual(
            ConfigDifference(from: try config(validOffice), to: try config(both)).change(for: "office-cloud"),
            .changed(["esp"]))
        let lifetime = replacing(
            "esp: aes256-sha1\n", with: "esp: aes256-sha1\n    lifetime: {esp: 20m}\n", in: validOffice)
        XCTAssertEqual(
            ConfigDifference(from: try config(validOffice), to: try config(lifetime)).change(for: "office-cloud"),
            .changed(["lifetime"]))
    }

    func testRemoteSiteAndOwnSiteChanges() throws {
        let peer = replacing("gateway_address: 203.0.113.20", with: "gateway_address: 203.0.113.21", in: validOffice)
        XCTAssertEqual(
            ConfigDifference(from: try config(validOffice), to: try config(peer)).change(for: "office-cloud"),
            .changed(["local_networks.cloud.gateway_address"]))
        let remote = replacing("prefixes: [10.0.1.0/24]", with: "prefixes: [10.0.1.0/24, 10.0.3.0/24]", in: validOffice)
        XCTAssertEqual(
            ConfigDifference(from: try config(validOffice), to: try config(remote)).change(for: "office-cloud"),
            .changed(["local_networks.cloud.prefixes"]))
        // This site's prefixes are a static connection's traffic selectors...
        let site = replacing(
            "prefixes: [192.168.1.0/24]", with: "prefixes: [192.168.1.0/24, 192.168.2.0/24]", in: validOffice)
        XCTAssertEqual(
            ConfigDifference(from: try config(validOffice), to: try config(site)).change(for: "office-cloud"),
            .changed(["site prefixes"]))
        // ...but a dynamic connection proposes 0.0.0.0/0: another IPv4 prefix changes nothing for it.
        let before = try config(withLab(twoConnections))
        let after = try config(
            replacing(
                "prefixes: [192.168.1.0/24]", with: "prefixes: [192.168.1.0/24, 192.168.2.0/24]",
                in: withLab(twoConnections)))
        let difference = ConfigDifference(from: before, to: after)
        XCTAssertEqual(difference.change(for: "office-cloud"), .changed(["site prefixes"]))
        XCTAssertEqual(difference.change(for: "office-lab"), .unchanged)
    }

    func testDynamicIKEv1ConnectionProposesTheSitePrefixes() throws {
        // IKEv1 has no narrowing: even a route-based connection proposes this site's prefixes.
        let dynamicV1 = replacing(
            "    esp: aes256-sha1\n", with: "    esp: aes256-sha1\n    kind: dynamic\n    ike_version: 1\n",
            in: validOffice)
        let wider = replacing("prefixes: [192.168.1.0/24]", with: "prefixes: [192.168.0.0/16]", in: dynamicV1)
        XCTAssertEqual(try config(dynamicV1).connections[0].kind, .dynamic)
        XCTAssertEqual(try config(dynamicV1).connections[0].ikeVersion, .v1)
        XCTAssertEqual(
            ConfigDifference(from: try config(dynamicV1), to: try config(wider)).change(for: "office-cloud"),
            .changed(["site prefixes"]))
    }

    func testAddedAndRemovedConnections() throws {
        let one = try config(validOffice)
        let two = try config(withLab(twoConnections))
        let added = ConfigDifference(from: one, to: two)
        XCTAssertEqual(added.connections.map(\.name), ["office-cloud", "office-lab"])
        XCTAssertEqual(added.change(for: "office-cloud"), .unchanged)
        XCTAssertEqual(added.change(for: "office-lab"), .added)
        let removed = ConfigDifference(from: two, to: one)
        XCTAssertEqual(removed.change(for: "office-lab"), .removed)
        XCTAssertEqual(removed.change(for: "office-cloud"), .unchanged)
        XCTAssertNil(removed.change(for: "nowhere"))
    }

    func testGatewayIdentityCannotChangeWhileRunning() throws {
        let renamed = replacing("name: office, kind", with: "name: office2, kind", in: validOffice)
        XCTAssertEqual(
            ConfigDifference(from: try config(validOffice), to: try config(renamed)).unappliable,
            ["gateway.name (it names the control socket)"])
        let moved = replacing("public_address: 198.51.100.10", with: "public_address: 198.51.100.11", in: validOffice)
        let difference = ConfigDifference(from: try config(validOffice), to: try config(moved))
        XCTAssertEqual(difference.unappliable, ["gateway.public_address (the daemon's UDP sockets are bound to it)"])
        XCTAssertFalse(difference.isEmpty)
    }
}
