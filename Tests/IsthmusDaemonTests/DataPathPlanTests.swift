import IsthmusDaemon
import IsthmusGateway
import XCTest

/// The interfaces, MTUs and routes the daemon plans for a configuration (what `DataPath` then plumbs).
final class DataPathPlanTests: XCTestCase {
    /// A cloud gateway with two route-based branches (one with its own interface name) and a policy-based
    /// one: three interfaces, each with its remote site's prefixes and an MTU for its ESP suites.
    let cloud = """
        gateway: {name: cloud, kind: dynamic, public_address: 203.0.113.20}
        virtual_network:
          name: vnet
          address_spaces: [10.0.1.0/24, 10.0.2.0/24]
          subnets:
            - {name: vms, prefix: 10.0.1.0/24}
            - {name: GatewaySubnet, prefix: 10.0.2.0/24}
          gateway_subnet: GatewaySubnet
        local_networks:
          - {name: branch1, gateway_address: 198.51.100.11, prefixes: [192.168.1.0/24]}
          - {name: branch2, gateway_address: 198.51.100.12, prefixes: [192.168.2.0/24, 172.16.0.0/16]}
          - {name: branch3, gateway_address: 198.51.100.13, prefixes: [192.168.3.0/24]}
        connections:
          - {name: to-branch1, local_network: branch1, shared_key: 0123456789abcdef0123, esp: aes128gcm16}
          - name: to-branch2
            local_network: branch2
            shared_key: 0123456789abcdef0123
            esp: [aes256-sha256, aes128gcm16]
            interface: vti-b2
          - name: to-branch3
            local_network: branch3
            kind: static
            ike_version: 1
            shared_key: 0123456789abcdef0123
            ike: aes256-sha1-modp1024
            esp: aes256-sha1

        """

    func testEachRouteBasedConnectionHasItsOwnInterfaceAndThePolicyBasedOnesShareOne() throws {
        let result = ConfigLoader.load(bytes: Array(cloud.utf8), file: "cloud.yaml", baseDirectory: "/nonexistent")
        let config = try XCTUnwrap(result.config, "\(result.errors)")
        let plan = DataPathPlan(config: config, pathMTU: 1500)
        XCTAssertEqual(plan.interfaces.map(\.name), ["ist-branch1", "vti-b2", "ist-cloud"])
        XCTAssertEqual(plan.interfaces.map(\.shared), [false, false, true])
        XCTAssertEqual(
            plan.interfaces.map { $0.routes.map(\.description) },
            [
                ["192.168.1.0/24"], ["192.168.2.0/24", "172.16.0.0/16"], ["192.168.3.0/24"],
            ])
        // 1500 - IPv4 20 - UDP 8 - ESP: AES-GCM-16 8 + 8 + 3 + 2 + 16 = 37; AES-256-CBC with HMAC-SHA2-256-128
        // 8 + 16 + 15 + 2 + 16 = 57 (the larger of the two proposals); with HMAC-SHA1-96 8 + 16 + 15 + 2 + 12 = 53.
        XCTAssertEqual(plan.interfaces.map(\.mtu), [1435, 1415, 1419])
        XCTAssertEqual(plan.interface(ofConnection: "to-branch2")?.name, "vti-b2")
        XCTAssertNil(plan.interface(ofConnection: "nobody"))
        XCTAssertEqual(DataPathPlan(config: config, pathMTU: 1400).interfaces.map(\.mtu), [1335, 1315, 1319])
    }

    /// A BGP connection's interface gets the inner address and no static route: BIRD installs what the peer
    /// announces.
    func testABGPConnectionHasItsInnerAddressAndNoStaticRoutes() throws {
        let bgp = cloud.replacingOccurrences(
            of: "gateway: {name: cloud, kind: dynamic, public_address: 203.0.113.20}",
            with: "gateway: {name: cloud, kind: dynamic, public_address: 203.0.113.20, bgp: {asn: 65515}}"
        ).replacingOccurrences(
            of: "esp: aes128gcm16}",
            with: "esp: aes128gcm16, bgp: {peer_asn: 65010, address: 169.254.21.1/30}}")
        let result = ConfigLoader.load(bytes: Array(bgp.utf8), file: "cloud.yaml", baseDirectory: "/nonexistent")
        let config = try XCTUnwrap(result.config, "\(result.errors)")
        let plan = DataPathPlan(config: config, pathMTU: 1500)
        XCTAssertEqual(plan.interfaces.map(\.name), ["ist-branch1", "vti-b2", "ist-cloud"])
        XCTAssertEqual(
            plan.interfaces.map { $0.routes.map(\.description) },
            [[], ["192.168.2.0/24", "172.16.0.0/16"], ["192.168.3.0/24"]])
        XCTAssertEqual(plan.interfaces.map { $0.addresses.map(\.description) }, [["169.254.21.1/30"], [], []])
    }
}
