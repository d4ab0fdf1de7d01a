import IsthmusGateway
import IsthmusIKE
import IsthmusIKEv2
import IsthmusIP
import XCTest

@testable import IsthmusDaemon

/// The daemon's side of point-to-site: which first messages become client responders, their configuration,
/// the pool kept across reloads, and the clients' interface.
final class PointToSiteSessionsTests: XCTestCase {
    let yaml = """
        gateway:
          name: cloud
          kind: dynamic
          public_address: 203.0.113.20
          point_to_site: {address_pool: 10.0.0.0/24, shared_key: a-client-key-of-some-length, esp: aes128gcm16}
        virtual_network:
          name: vnet
          address_spaces: [10.0.1.0/24, 10.0.2.0/24, 10.8.0.0/16]
          subnets:
            - {name: vms, prefix: 10.0.1.0/24}
            - {name: GatewaySubnet, prefix: 10.0.2.0/24}
          gateway_subnet: GatewaySubnet
          dns_servers: [10.0.1.4, 10.0.1.5]
        local_networks:
          - {name: office, gateway_address: 198.51.100.10, prefixes: [192.168.1.0/24]}
        connections:
          - {name: cloud-office, local_network: office, shared_key: 0123456789abcdef0123}

        """

    func config(_ text: String? = nil) throws -> GatewayConfig {
        let result = ConfigLoader.load(bytes: Array((text ?? yaml).utf8), file: "cloud.yaml", baseDirectory: "/x")
        return try XCTUnwrap(result.config, "\(result.errors)")
    }

    func testAFirstMessageNoConnectionClaimsIsAClient() throws {
        let factories = IKESessions.factories(config: try config())
        let us = endpoint("203.0.113.20", 500)
        let client = factories.makeResponder(
            IKEDatagram(
                bytes: ikeHeader(initiatorSPI: 7, responderSPI: 0), source: endpoint("198.51.100.77", 500),
                destination: us))
        XCTAssertEqual(client?.connectionName, PointToSiteSessions.connectionName)
        let office = factories.makeResponder(
            IKEDatagram(
                bytes: ikeHeader(initiatorSPI: 8, responderSPI: 0), source: endpoint("198.51.100.10", 500),
                destination: us))
        XCTAssertEqual(office?.connectionName, "cloud-office", "the site's own address still reaches its connection")
        let without = try config(
            yaml.replacingOccurrences(
                of:
                    "  point_to_site: {address_pool: 10.0.0.0/24, shared_key: a-client-key-of-some-length, esp: aes128gcm16}\n",
                with: ""))
        XCTAssertNil(
            IKESessions.factories(config: without).makeResponder(
                IKEDatagram(
                    bytes: ikeHeader(initiatorSPI: 9, responderSPI: 0), source: endpoint("198.51.100.77", 500),
                    destination: us)), "no point_to_site: a stranger gets nothing")
    }

    func testTheClientConfigurationOffersTheVirtualNetwork() throws {
        let gateway = try config()
        let pool = try XCTUnwrap(ClientAddressPools().pool(for: gateway))
        let configuration = try XCTUnwrap(
            PointToSiteSessions.configuration(
                in: gateway, pool: pool, peer: endpoint("198.51.100.77", 4500), local: endpoint("203.0.113.20", 500)))
        XCTAssertEqual(configuration.connectionName, "point-to-site")
        XCTAssertEqual(configuration.remote, endpoint("198.51.100.77", 500))
        XCTAssertEqual(configuration.espProposals.description, "aes128gcm16")
        let p2s = try XCTUnwrap(configuration.pointToSite)
        XCTAssertEqual(p2s.dnsServers.map(\.description), ["10.0.1.4", "10.0.1.5"])
        XCTAssertEqual(p2s.networks.map(\.description), ["10.0.1.0/24", "10.8.0.0/16"], "without the gateway subnet")
        XCTAssertEqual(configuration.localSelectors.map(\.description), ["10.0.1.0/24", "10.8.0.0/16"])
        XCTAssertEqual(pool.snapshot.size, 254)
        let full = try config(yaml.replacingOccurrences(of: "esp: aes128gcm16}", with: "full_tunnel: true}"))
        let fullConfiguration = try XCTUnwrap(
            PointToSiteSessions.configuration(
                in: full, pool: pool, peer: endpoint("198.51.100.77", 500), local: endpoint("203.0.113.20", 500)))
        XCTAssertEqual(fullConfiguration.pointToSite?.networks.map(\.description), ["0.0.0.0/0"])
    }

    func testThePoolOutlivesAReloadThatKeepsIt() throws {
        let pools = ClientAddressPools()
        let first = try XCTUnwrap(pools.pool(for: try config()))
        _ = first.lease(to: "alice", requested: nil)
        XCTAssertTrue(pools.pool(for: try config()) === first)
        let moved = try config(yaml.replacingOccurrences(of: "10.0.0.0/24", with: "10.9.0.0/24"))
        // A moved pool is the same object (clients release into it), keeping alice's lease until she goes.
        let second = try XCTUnwrap(pools.pool(for: moved))
        XCTAssertTrue(second === first)
        XCTAssertEqual(second.snapshot.prefix.description, "10.9.0.0/24")
        XCTAssertEqual(second.snapshot.inUse, 1)
        XCTAssertTrue(pools.pool === second)
    }

    func testClientsShareOneInterfaceWithThePoolRoutedIntoIt() throws {
        let plan = DataPathPlan(config: try config(), pathMTU: 1500)
        XCTAssertEqual(plan.interfaces.map(\.name), ["ist-office", "ist-cloud-p2s"])
        let clients = try XCTUnwrap(plan.interface(ofConnection: PointToSiteSessions.connectionName))
        XCTAssertEqual(clients.routes.map(\.description), ["10.0.0.0/24"])
        // 1500 - IPv4 20 - UDP 8 - AES-GCM-16 ESP 37.
        XCTAssertEqual(clients.mtu, 1435)
        XCTAssertTrue(PointToSiteSessions.isClientTrafficKey(PointToSiteSessions.trafficKey(identity: "a@b")))
        XCTAssertFalse(PointToSiteSessions.isClientTrafficKey("point-to-site"))
    }

    func testTheClientIndexFindsOnlyTheSameIdentitysLiveSessions() {
        var index = ClientSessionIndex()
        let alice = FakeSession(connection: "point-to-site", spi: 1)
        let bob = FakeSession(connection: "point-to-site", spi: 2)
        XCTAssertTrue(index.connect(alice, as: "alice").isEmpty)
        XCTAssertTrue(index.connect(bob, as: "bob").isEmpty)
        XCTAssertTrue(index.connect(alice, as: "alice").isEmpty, "a session is not older than itself")
        let aliceAgain = FakeSession(connection: "point-to-site", spi: 3)
        XCTAssertEqual(index.connect(aliceAgain, as: "alice").map(\.localSPI), [1])
        var gone: FakeSession? = FakeSession(connection: "point-to-site", spi: 4)
        _ = index.connect(gone!, as: "carol")
        gone = nil
        XCTAssertTrue(index.connect(FakeSession(connection: "point-to-site", spi: 5), as: "carol").isEmpty)
        XCTAssertEqual(
            index.connect(FakeSession(connection: "point-to-site", spi: 6), as: "alice").map(\.localSPI), [1, 3])
    }

    func testTheClientIndexForgetsIdentitiesWhoseSessionsAreGone() {
        var index = ClientSessionIndex()
        let kept = FakeSession(connection: "point-to-site", spi: 0)
        _ = index.connect(kept, as: "kept")
        for number in 1...1000 {
            _ = index.connect(FakeSession(connection: "point-to-site", spi: UInt64(number)), as: "client\(number)")
        }
        XCTAssertLessThanOrEqual(index.identityCount, 65, "swept as it grows: gone clients leave no entry behind")
        index.sweep()
        XCTAssertEqual(index.identityCount, 1)
        XCTAssertEqual(index.connect(FakeSession(connection: "point-to-site", spi: 9), as: "kept").map(\.localSPI), [0])
    }
}
