import IsthmusGateway
import XCTest

/// Interface names: derived from the remote site or the gateway, overridable with `interface:`, checked.
final class TunnelInterfaceTests: XCTestCase {
    func testNamesAreDerivedAndFitFifteenBytes() {
        XCTAssertEqual(TunnelInterfaceName.derived(from: "office"), "ist-office")
        XCTAssertEqual(TunnelInterfaceName.derived(from: "branch 1/a"), "ist-branch-1-a")
        let long = TunnelInterfaceName.derived(from: "headquarters-east")
        let other = TunnelInterfaceName.derived(from: "headquarters-west")
        XCTAssertEqual(long.utf8.count, 15)
        XCTAssertTrue(long.hasPrefix("ist-headqu"))
        XCTAssertNotEqual(long, other, "long names that start alike still differ")
        XCTAssertEqual(long, TunnelInterfaceName.derived(from: "headquarters-east"), "stable")
        for name in [long, other, "ist-office"] { XCTAssertTrue(TunnelInterfaceName.isValid(name)) }
        for name in ["", "a-name-of-16-byte", "a/b", "a b", "a:b", ".."] {
            XCTAssertFalse(TunnelInterfaceName.isValid(name), name)
        }
    }

    func testRouteBasedConnectionsGetTheirOwnPolicyBasedShareTheGateways() throws {
        let config = try XCTUnwrap(load(validCloud).config)
        XCTAssertEqual(TunnelInterfaceName.of(config.connections[0], gateway: config.gateway), "ist-cloud")
        let dynamic = try XCTUnwrap(
            load(
                validCloud.replacingOccurrences(of: "kind: static", with: "kind: dynamic")
                    .replacingOccurrences(of: "esp: aes256-sha1", with: "esp: aes256-sha1\n    interface: vti-office")
            ).config)
        XCTAssertEqual(TunnelInterfaceName.of(dynamic.connections[0], gateway: dynamic.gateway), "vti-office")
        let derived = try XCTUnwrap(
            load(validCloud.replacingOccurrences(of: "kind: static", with: "kind: dynamic")).config)
        XCTAssertEqual(TunnelInterfaceName.of(derived.connections[0], gateway: derived.gateway), "ist-office")
    }

    func testBadInterfaceNamesAreErrorsWithTheirLine() {
        assertError(
            validCloud.replacingOccurrences(of: "public_address: 203.0.113.20", with: "interface: far-too-long-a-name"),
            "cannot be an interface name", atLine: 4)
        assertError(
            validCloud.replacingOccurrences(of: "esp: aes256-sha1", with: "esp: aes256-sha1\n    interface: vti0"),
            "policy-based (static) connections share the gateway's", atLine: 22)
        // The shared interface's name taken by a route-based connection's.
        assertError(
            validCloud.replacingOccurrences(of: "kind: static", with: "kind: static\n  interface: ist-br")
                .replacingOccurrences(
                    of: "connections:\n",
                    with: """
                        connections:
                          - name: cloud-branch
                            local_network: branch
                            kind: dynamic
                            interface: ist-br
                            shared_key: 0123456789abcdef0123

                        """
                )
                .replacingOccurrences(
                    of: "local_networks:\n",
                    with:
                        "local_networks:\n  - {name: branch, gateway_address: 198.51.100.20, prefixes: [192.168.2.0/24]}\n"
                ),
            "which connection 'cloud-branch' already uses")
    }
}
