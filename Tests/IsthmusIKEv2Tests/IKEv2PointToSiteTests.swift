import IsthmusCrypto
import IsthmusEvents
import IsthmusIKE
import IsthmusIP
import IsthmusTestSupport
import IsthmusWire
import XCTest

@testable import IsthmusIKEv2

/// Remote-access clients of a point-to-site responder: CP(CFG_REQUEST) in IKE_AUTH answered with an address
/// of the pool, DNS and the networks behind the gateway; the CHILD SA narrowed to the client's address.
final class IKEv2PointToSiteTests: XCTestCase {
    private func prefix(_ text: String) -> IPPrefix { try! IPPrefix(parsing: text) }
    private func address(_ text: String) -> IPAddress { try! IPAddress(parsing: text) }

    /// The cloud gateway answering clients from `pool`.
    private func gateway(
        pool: SharedAddressPool, networks: [String] = ["10.0.1.0/24"], dns: [String] = ["10.0.1.4"]
    ) -> IKEv2Configuration {
        var config = configuration(
            office: false, localSelectors: selectors(networks[0]), remoteSelectors: selectors("0.0.0.0/0"))
        config.connectionName = "point-to-site"
        config.pointToSite = IKEv2PointToSite(
            addresses: pool, dnsServers: dns.map(address), networks: networks.map(prefix))
        return config
    }

    /// A laptop authenticating as `identity` (with the office configuration's addresses and key).
    private func laptop(_ identity: String, requestsAddress: Bool = true) -> IKEv2Configuration {
        var config = configuration(
            office: true, localSelectors: selectors("0.0.0.0/0"), remoteSelectors: selectors("10.0.1.0/24"))
        config.localIdentity = IKEIdentity(parsing: identity)!
        config.requestsVirtualAddress = requestsAddress
        return config
    }

    func testAClientGetsAnAddressAndACHILDSANarrowedToIt() throws {
        let pool = SharedAddressPool(AddressPool(prefix: prefix("10.0.0.0/24")))
        let pair = Pair(initiator: laptop("alice@example.com"), responder: gateway(pool: pool))
        pair.establish()
        XCTAssertEqual(pair.responder.status(now: pair.now).state, .established)
        XCTAssertEqual(pair.initiator.status(now: pair.now).virtualAddress, "10.0.0.1")
        let gatewayStatus = pair.responder.status(now: pair.now)
        XCTAssertEqual(gatewayStatus.clientIdentity, "alice@example.com")
        XCTAssertEqual(gatewayStatus.virtualAddress, "10.0.0.1")
        XCTAssertEqual(
            pair.responder.summary, IKESASummary(state: .established, client: "alice@example.com"),
            "the metrics' summary says what the status says")
        XCTAssertEqual(
            pair.initiator.summary, IKESASummary(state: .established, client: "alice@example.com"),
            "the laptop's own SA names its identity too, as its status does")
        let installed = try XCTUnwrap(pair.installed[.responder]?.first)
        XCTAssertEqual(installed.remoteSelectors, selectors("10.0.0.1/32"))
        XCTAssertEqual(installed.localSelectors, selectors("10.0.1.0/24"))
        XCTAssertEqual(pair.installed[.initiator]?.first?.localSelectors, selectors("10.0.0.1/32"))
        let connected = try XCTUnwrap(pair.events[.responder]?.first { $0.kind == .clientConnected })
        XCTAssertEqual(connected.details["identity"], "alice@example.com")
        XCTAssertEqual(connected.details["virtual_address"], "10.0.0.1")
        XCTAssertEqual(connected.details["peer"], "198.51.100.1:500")
        XCTAssertEqual(connected.connection, "point-to-site")
        XCTAssertEqual(pool.snapshot.inUse, 1)
    }

    func testTheReplyCarriesAddressDNSAndEverySubnet() throws {
        let pool = SharedAddressPool(AddressPool(prefix: prefix("10.0.0.0/24")))
        var machine = IKEv2StateMachine(
            configuration: gateway(pool: pool, networks: ["10.0.1.0/24", "10.8.0.0/16", "fd00::/64"]),
            role: .responder, random: SplitMix64(seed: 3))
        let request = IKEv2Payload.configuration(
            IKEv2ConfigurationPayload(
                configurationType: .request,
                attributes: [
                    .internalIPv4Address([10, 0, 0, 9]), IKEv2ConfigurationAttribute(type: 3),
                    IKEv2ConfigurationAttribute(type: 23456), IKEv2ConfigurationAttribute(type: 8),
                ]))
        var actions: [IKEAction] = []
        let reply = try machine.configurationReply([request], identity: "bob", now: .zero, into: &actions).get()
        guard case .configuration(let cp)? = reply else { return XCTFail("no CFG_REPLY: \(String(describing: reply))") }
        XCTAssertEqual(cp.configurationType, .reply)
        XCTAssertEqual(
            cp.attributes,
            [
                .internalIPv4Address([10, 0, 0, 9]), .internalIPv4DNS([10, 0, 1, 4]),
                .internalIPv4Subnet(address: [10, 0, 1, 0], mask: [255, 255, 255, 0]),
                .internalIPv4Subnet(address: [10, 8, 0, 0], mask: [255, 255, 0, 0]),
            ], "the requested free address, DNS and the IPv4 networks; unknown and IPv6 requests are ignored")
        XCTAssertEqual(machine.configuration.remoteSelectors, selectors("10.0.0.9/32"))
        XCTAssertEqual(machine.configuration.localSelectors, selectors("10.0.1.0/24", "10.8.0.0/16"))
    }

    func testARequestForAnAddressOutsideThePoolIsRefusedWithAnEventAndThePoolChooses() throws {
        let pool = SharedAddressPool(AddressPool(prefix: prefix("10.0.0.0/24")))
        var machine = IKEv2StateMachine(
            configuration: gateway(pool: pool), role: .responder, random: SplitMix64(seed: 5))
        for (requested, refused) in [
            ("192.0.2.7", true), ("10.0.0.255", true), ("0.0.0.0", false), ("10.0.0.9", false),
        ] {
            let request = IKEv2Payload.configuration(
                IKEv2ConfigurationPayload(
                    configurationType: .request, attributes: [.internalIPv4Address(address(requested).bytes)]))
            var actions: [IKEAction] = []
            let reply = try machine.configurationReply(
                [request], identity: "mallory-\(requested)", now: .zero, into: &actions
            ).get()
            guard case .configuration(let cp)? = reply else { return XCTFail("no CFG_REPLY for \(requested)") }
            let given = try XCTUnwrap(cp.attributes.first?.ipv4Value()).map(\.self)
            XCTAssertTrue(pool.snapshot.isUsable(IPAddress(bytes: given)!), requested)
            let events = actions.compactMap { action -> GatewayEvent? in
                if case .event(let event) = action, event.kind == .clientAddressRequestRefused { return event }
                return nil
            }
            XCTAssertEqual(events.count, refused ? 1 : 0, requested)
            if refused {
                XCTAssertEqual(events.first?.details["requested"], requested)
                XCTAssertEqual(events.first?.details["reason"], "address-not-in-pool")
                XCTAssertTrue(events.first?.message.contains("is not one the address pool 10.0.0.0/24") == true)
            } else if requested == "10.0.0.9" {
                XCTAssertEqual(given, [10, 0, 0, 9], "a usable requested address is honoured")
            }
        }
    }

    func testFullTunnelOffersEverything() throws {
        let pool = SharedAddressPool(AddressPool(prefix: prefix("10.0.0.0/24")))
        var config = gateway(pool: pool, networks: ["0.0.0.0/0"])
        config.localSelectors = selectors("0.0.0.0/0")
        var client = laptop("carol@example.com")
        client.remoteSelectors = selectors("0.0.0.0/0")
        let pair = Pair(initiator: client, responder: config)
        pair.establish()
        let installed = try XCTUnwrap(pair.installed[.responder]?.first)
        XCTAssertEqual(installed.localSelectors, selectors("0.0.0.0/0"))
        XCTAssertEqual(installed.remoteSelectors, selectors("10.0.0.1/32"))
    }

    func testAnExhaustedPoolAnswersInternalAddressFailureAndTheIKESAHasNoCHILDSA() throws {
        let pool = SharedAddressPool(AddressPool(prefix: prefix("10.0.0.0/30")))
        for name in ["a@example.com", "b@example.com"] {
            let pair = Pair(initiator: laptop(name), responder: gateway(pool: pool))
            pair.establish()
            XCTAssertEqual(pair.installed[.responder]?.count, 1, name)
        }
        let third = Pair(initiator: laptop("c@example.com"), responder: gateway(pool: pool))
        third.input(.initiator, .initiate)
        third.run(limit: 3)
        XCTAssertEqual(third.responder.status(now: third.now).state, .deleting, "authenticated, then deleted")
        third.run()
        XCTAssertEqual(third.closed, [.initiator, .responder], "the refused client's IKE SA is gone on both sides")
        XCTAssertEqual(third.installed[.responder]?.count, 0)
        XCTAssertEqual(third.installed[.initiator]?.count, 0)
        XCTAssertNil(third.responder.status(now: third.now).virtualAddress)
        let refused = try XCTUnwrap(third.events[.responder]?.first { $0.kind == .clientRefused })
        XCTAssertEqual(refused.details["reason"], "pool-exhausted")
        XCTAssertEqual(refused.details["identity"], "c@example.com")
        XCTAssertTrue(refused.message.contains("INTERNAL_ADDRESS_FAILURE"), refused.message)
        XCTAssertTrue(
            third.events[.initiator, default: []].contains { $0.message.contains("error notification 36") },
            "\(third.events[.initiator, default: []].map(\.message))")
        XCTAssertEqual(pool.snapshot.inUse, 2)
    }

    func testAClientWithoutAConfigurationRequestGetsNoCHILDSA() throws {
        let pool = SharedAddressPool(AddressPool(prefix: prefix("10.0.0.0/24")))
        let pair = Pair(initiator: laptop("dave@example.com", requestsAddress: false), responder: gateway(pool: pool))
        pair.establish()
        XCTAssertEqual(pair.installed[.responder]?.count, 0)
        XCTAssertEqual(pair.events[.responder]?.first { $0.kind == .clientRefused }?.details["reason"], "no-cp-request")
        XCTAssertTrue(pair.closed.contains(.responder))
        XCTAssertEqual(pool.snapshot.inUse, 0)
    }

    func testTheLeaseIsReleasedWhenTheIKESACloses() throws {
        let pool = SharedAddressPool(AddressPool(prefix: prefix("10.0.0.0/24")))
        let first = Pair(initiator: laptop("erin@example.com"), responder: gateway(pool: pool))
        first.establish()
        let other = Pair(initiator: laptop("frank@example.com"), responder: gateway(pool: pool))
        other.establish()
        first.input(.initiator, .terminate)
        first.run()
        XCTAssertTrue(first.closed.contains(.responder))
        let gone = try XCTUnwrap(first.events[.responder]?.first { $0.kind == .clientDisconnected })
        XCTAssertEqual(gone.details["virtual_address"], "10.0.0.1")
        XCTAssertEqual(pool.snapshot.inUse, 1)
        // Released once: a later input to the closed SA changes nothing.
        first.input(.responder, .terminate)
        XCTAssertEqual(first.events[.responder]?.filter { $0.kind == .clientDisconnected }.count, 1)
        // The identity returns: its address again.
        let again = Pair(initiator: laptop("erin@example.com"), responder: gateway(pool: pool), seed: 9)
        again.establish()
        XCTAssertEqual(again.responder.status(now: again.now).virtualAddress, "10.0.0.1")
        // A forgotten SA (the client restarted: INITIAL_CONTACT in a newer one) releases its lease too.
        other.input(.responder, .forget(reason: "test"))
        XCTAssertEqual(pool.snapshot.inUse, 1)
    }
}
