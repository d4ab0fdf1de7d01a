import IsthmusCrypto
import IsthmusEvents
import IsthmusGateway
import IsthmusIKEv1
import IsthmusIKEv2
import IsthmusIP
import XCTest

@testable import IsthmusDaemon

/// ISAKMP (IKEv1) routing: our cookie in either header position, Main Mode message 1 to a new responder or
/// to the session whose ISAKMP SA the peer replaces, and the drops for ISAKMP nobody owns.
final class IKEDispatcherISAKMPTests: XCTestCase {
    let peer = endpoint("203.0.113.20", 500)
    let us = endpoint("198.51.100.10", 500)

    func datagram(_ bytes: [UInt8], from source: UDPEndpoint? = nil) -> IKEDatagram {
        IKEDatagram(bytes: bytes, source: source ?? peer, destination: us)
    }

    /// A dispatcher whose factory makes IKEv1 responders with cookies 0x2000, 0x2001, ... for `peer` only.
    func makeDispatcher(made: @escaping (FakeISAKMPSession) -> Void = { _ in }) -> IKEDispatcher {
        var next: UInt64 = 0x2000
        let peerAddress = peer.address
        return IKEDispatcher { datagram in
            guard datagram.source.address == peerAddress, IKEHeaderPeek(datagram.bytes)?.majorVersion == 1 else {
                return nil
            }
            let session = FakeISAKMPSession(cookies: [next], peer: peerAddress)
            next += 1
            made(session)
            return session
        }
    }

    func testHeaderPeekRecognisesPhase1Openings() throws {
        let mainMode = try XCTUnwrap(IKEHeaderPeek(isakmpHeader(cookieI: 0xAA, cookieR: 0)))
        XCTAssertEqual(mainMode.majorVersion, 1)
        XCTAssertTrue(mainMode.isNewISAKMPSARequest)
        XCTAssertFalse(mainMode.isNewSARequest, "not an IKEv2 IKE_SA_INIT")
        XCTAssertTrue(
            try XCTUnwrap(IKEHeaderPeek(isakmpHeader(cookieI: 0xAA, cookieR: 0, exchange: 4))).isNewISAKMPSARequest)
        for bytes in [
            isakmpHeader(cookieI: 0xAA, cookieR: 0xBB),  // message 2 or later
            isakmpHeader(cookieI: 0xAA, cookieR: 0, exchange: 5, messageID: 7),  // cleartext Informational
            isakmpHeader(cookieI: 0, cookieR: 0),  // no initiator cookie
            isakmpHeader(cookieI: 0xAA, cookieR: 0, messageID: 1),  // Main Mode uses message ID 0
            ikeHeader(initiatorSPI: 0xAA, responderSPI: 0),  // IKEv2
        ] {
            XCTAssertFalse(try XCTUnwrap(IKEHeaderPeek(bytes)).isNewISAKMPSARequest)
        }
    }

    func testMainModeFromThePeerCreatesAResponderThatAnswersToItsResponderCookie() throws {
        var made: [FakeISAKMPSession] = []
        var dispatcher = makeDispatcher { made.append($0) }
        let first = datagram(isakmpHeader(cookieI: 0xAA, cookieR: 0))
        let session = try XCTUnwrap(created(dispatcher.route(first)))
        XCTAssertEqual(made.count, 1)
        XCTAssertEqual(dispatcher.halfOpenCount, 1)
        // The peer resends message 1: same session, no new one.
        XCTAssertTrue(try XCTUnwrap(delivered(dispatcher.route(first))) === session)
        XCTAssertEqual(made.count, 1)
        // Message 3 names our cookie in the responder position.
        let third = datagram(isakmpHeader(cookieI: 0xAA, cookieR: 0x2000))
        XCTAssertTrue(try XCTUnwrap(delivered(dispatcher.route(third))) === session)
        XCTAssertEqual(dispatcher.halfOpenCount, 1, "half-open until it authenticates")
        XCTAssertFalse(dispatcher.isUnprovenHalfOpen(session), "message 3 proves the peer receives at its address")
        // Quick Mode and Informational on that SA route the same way.
        let quick = datagram(isakmpHeader(cookieI: 0xAA, cookieR: 0x2000, exchange: 32, messageID: 0x1234))
        XCTAssertTrue(try XCTUnwrap(delivered(dispatcher.route(quick))) === session)
        XCTAssertEqual(dispatcher.count, 1)
    }

    func testWhenWeInitiatedOurCookieIsTheInitiatorCookie() throws {
        var dispatcher = makeDispatcher()
        let initiator = FakeISAKMPSession(cookies: [0x77], peer: peer.address)
        XCTAssertTrue(dispatcher.register(initiator))
        // Main Mode message 2: the responder's cookie is new to us, ours is in the initiator position.
        let second = datagram(isakmpHeader(cookieI: 0x77, cookieR: 0x99))
        XCTAssertTrue(try XCTUnwrap(delivered(dispatcher.route(second))) === initiator)
        // A cleartext NO-PROPOSAL-CHOSEN answer to our message 1 has no responder cookie at all.
        let refusal = datagram(isakmpHeader(cookieI: 0x77, cookieR: 0, exchange: 5, messageID: 3))
        XCTAssertTrue(try XCTUnwrap(delivered(dispatcher.route(refusal))) === initiator)
        // Quick Mode from the peer on our SA.
        let quick = datagram(isakmpHeader(cookieI: 0x77, cookieR: 0x99, exchange: 32, messageID: 5))
        XCTAssertTrue(try XCTUnwrap(delivered(dispatcher.route(quick))) === initiator)
        XCTAssertTrue(dispatcher.drops.isEmpty)
    }

    func testCookiesInBothPositionsRouteToTheirOwnSessions() throws {
        var dispatcher = makeDispatcher()
        let ours = FakeISAKMPSession(cookies: [0x10], peer: peer.address)
        let theirs = FakeISAKMPSession(cookies: [0x20], peer: peer.address)
        dispatcher.register(ours)
        dispatcher.register(theirs)
        XCTAssertTrue(
            try XCTUnwrap(delivered(dispatcher.route(datagram(isakmpHeader(cookieI: 0x10, cookieR: 0x55))))) === ours)
        XCTAssertTrue(
            try XCTUnwrap(delivered(dispatcher.route(datagram(isakmpHeader(cookieI: 0x66, cookieR: 0x20))))) === theirs)
        // A phase 1 rekey of ours adds a cookie: both route until the old SA is gone.
        ours.localSPIs = [0x10, 0x11]
        dispatcher.refreshSPIs(of: ours)
        XCTAssertTrue(
            try XCTUnwrap(delivered(dispatcher.route(datagram(isakmpHeader(cookieI: 0x11, cookieR: 0x56))))) === ours)
        XCTAssertTrue(
            try XCTUnwrap(delivered(dispatcher.route(datagram(isakmpHeader(cookieI: 0x10, cookieR: 0x55))))) === ours)
        ours.localSPIs = [0x11]
        dispatcher.refreshSPIs(of: ours)
        XCTAssertEqual(dropReason(dispatcher.route(datagram(isakmpHeader(cookieI: 0x10, cookieR: 0x55)))), .unknownSPI)
    }

    func testThePeersNewMainModeGoesToTheSessionWhoseSAItReplaces() throws {
        var made = 0
        var dispatcher = makeDispatcher { _ in made += 1 }
        let established = FakeISAKMPSession(cookies: [0x30], peer: peer.address, established: true)
        dispatcher.register(established)
        let rekey = datagram(isakmpHeader(cookieI: 0xBEEF, cookieR: 0))
        XCTAssertTrue(try XCTUnwrap(delivered(dispatcher.route(rekey))) === established)
        XCTAssertEqual(made, 0, "no new session for a phase 1 rekey")
        // From another address it is somebody else's (and nobody's here).
        XCTAssertEqual(
            dropReason(dispatcher.route(datagram(rekey.bytes, from: endpoint("192.0.2.9", 500)))),
            .noMatchingConnection)
        // A session still negotiating does not take it: crossed initiation makes a responder session.
        established.acceptsPeerMainMode = false
        let responder = try XCTUnwrap(created(dispatcher.route(rekey)))
        XCTAssertFalse(responder === established)
        XCTAssertEqual(made, 1)
    }

    func testISAKMPNobodyOwnsIsDroppedAndCounted() {
        var dispatcher = makeDispatcher()
        // Main Mode message 3, Quick Mode, Informational for cookies nobody has.
        XCTAssertEqual(dropReason(dispatcher.route(datagram(isakmpHeader(cookieI: 0x1, cookieR: 0x2)))), .unknownSPI)
        XCTAssertEqual(
            dropReason(
                dispatcher.route(datagram(isakmpHeader(cookieI: 0x1, cookieR: 0x2, exchange: 32, messageID: 4)))),
            .unknownSPI)
        XCTAssertEqual(
            dropReason(dispatcher.route(datagram(isakmpHeader(cookieI: 0x1, cookieR: 0, exchange: 5, messageID: 4)))),
            .unknownSPI)
        // A Main Mode message 1 from an address no IKEv1 connection names.
        XCTAssertEqual(
            dropReason(
                dispatcher.route(datagram(isakmpHeader(cookieI: 0x3, cookieR: 0), from: endpoint("192.0.2.1", 500)))),
            .noMatchingConnection)
        XCTAssertEqual(dispatcher.drops, [.unknownSPI: 3, .noMatchingConnection: 1])
        XCTAssertEqual(dispatcher.count, 0)
        XCTAssertEqual(dispatcher.halfOpenCount, 0)
    }

    func testLimitsAndShutdownApplyToISAKMP() {
        var dispatcher = makeDispatcher()
        dispatcher.maximumSessions = 2
        XCTAssertTrue(dispatcher.register(FakeISAKMPSession(cookies: [0x77], peer: peer.address)))
        XCTAssertNotNil(created(dispatcher.route(datagram(isakmpHeader(cookieI: 1, cookieR: 0)))))
        // Full: the unproven half-open SA gives way to the newer one; an established session never does.
        XCTAssertNotNil(created(dispatcher.route(datagram(isakmpHeader(cookieI: 2, cookieR: 0)))))
        XCTAssertEqual(dispatcher.takeEvicted().count, 1)
        XCTAssertNotNil(delivered(dispatcher.route(datagram(isakmpHeader(cookieI: 0x99, cookieR: 0x2001)))))
        XCTAssertEqual(dropReason(dispatcher.route(datagram(isakmpHeader(cookieI: 3, cookieR: 0)))), .tableFull)
        XCTAssertEqual(dispatcher.count, 2)
        dispatcher.maximumSessions = 10
        dispatcher.acceptsNewSessions = false
        XCTAssertEqual(dropReason(dispatcher.route(datagram(isakmpHeader(cookieI: 3, cookieR: 0)))), .shuttingDown)
        XCTAssertNotNil(delivered(dispatcher.route(datagram(isakmpHeader(cookieI: 2, cookieR: 0)))))
    }
}

/// Two IKEv1 gateways (the seed's examples/office.yaml and cloud.yaml) in memory, through dispatchers and
/// the ``IKESessions`` factories, with real ``IKEv1Session`` cores: establishment, then each side's phase 1
/// rekey, whose Main Mode message 1 must reach the existing session on the other side.
final class IKEv1GatewaysInMemoryTests: XCTestCase {
    static let examples = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("examples")

    /// One gateway: its dispatcher, its CHILD SA table and its events; sends go to `outbox`.
    final class Gateway {
        var dispatcher: IKEDispatcher
        let makeInitiator: GatewayDaemon.InitiatorFactory
        var installed: [UInt32: ESPSecurityAssociation] = [:]
        var events: [GatewayEvent] = []
        var outbox: [IKEDatagram] = []

        init(_ config: GatewayConfig) {
            let factories = IKESessions.factories(config: config)
            dispatcher = IKEDispatcher(makeResponder: factories.makeResponder)
            makeInitiator = factories.makeInitiator
        }

        func deliver(_ input: IKEInput, to session: any IKESession, now: Duration) {
            let actions = session.handle(input, now: now)
            for action in actions {
                switch action {
                case .send(let datagram): outbox.append(datagram)
                case .event(let event): events.append(event)
                case .childSA(.install(let parameters)): installed[parameters.inboundSPI] = parameters
                case .childSA(.remove(let spi)): installed[spi] = nil
                default: break
                }
            }
            dispatcher.didHandle(session, actions: actions)
        }

        func receive(_ datagram: IKEDatagram, now: Duration) {
            switch dispatcher.route(datagram) {
            case .deliver(let session), .created(let session): deliver(.datagram(datagram), to: session, now: now)
            case .challenge, .drop: break
            }
        }

        func initiate(_ name: String, now: Duration) throws -> any IKESession {
            let session = try XCTUnwrap(makeInitiator(name))
            let actions = session.handle(.initiate, now: now)
            XCTAssertTrue(dispatcher.register(session))
            for action in actions { if case .send(let datagram) = action { outbox.append(datagram) } }
            dispatcher.didHandle(session, actions: actions)
            return session
        }
    }

    func load(_ file: String) throws -> GatewayConfig {
        try XCTUnwrap(ConfigLoader.load(path: Self.examples.appendingPathComponent(file).path).config)
    }

    /// Moves datagrams between the two until both are quiet.
    func pump(_ a: Gateway, _ b: Gateway, now: Duration) {
        for _ in 0..<100 {
            guard !a.outbox.isEmpty || !b.outbox.isEmpty else { return }
            let fromA = a.outbox, fromB = b.outbox
            a.outbox = []
            b.outbox = []
            for datagram in fromA { b.receive(datagram, now: now) }
            for datagram in fromB { a.receive(datagram, now: now) }
        }
        XCTFail("the exchange did not settle")
    }

    func testOfficeAndCloudEstablishAndReplaceTheirISAKMPSAsThroughTheDispatchers() throws {
        let office = Gateway(try load("office.yaml"))
        let cloud = Gateway(try load("cloud.yaml"))
        let initiator = try office.initiate("office-cloud", now: .seconds(1))
        XCTAssertTrue(initiator is IKEv1Session, "an ike_version 1 connection gets an IKEv1 initiator")
        pump(office, cloud, now: .seconds(1))

        XCTAssertEqual(cloud.dispatcher.count, 1)
        let responder = try XCTUnwrap(cloud.dispatcher.sessions.first)
        XCTAssertTrue(responder is IKEv1Session, "a Main Mode from the office made an IKEv1 responder")
        XCTAssertEqual(responder.connectionName, "cloud-office")
        for (gateway, session) in [(office, initiator), (cloud, responder)] {
            let status = session.status(now: .seconds(2))
            XCTAssertEqual(status.ikeVersion, 1)
            XCTAssertEqual(status.state, .established)
            XCTAssertEqual(status.algorithms, "aes256-sha1-modp1024")
            XCTAssertEqual(status.lifetimeSeconds, 28800)
            XCTAssertEqual(status.childSAs.count, 1)
            XCTAssertEqual(status.childSAs.first?.lifetimeSeconds, 3600)
            XCTAssertEqual(gateway.installed.count, 1)
        }
        let officeSA = try XCTUnwrap(office.installed.values.first)
        let cloudSA = try XCTUnwrap(cloud.installed.values.first)
        XCTAssertEqual(officeSA.outboundSPI, cloudSA.inboundSPI)
        XCTAssertEqual(officeSA.inboundSPI, cloudSA.outboundSPI)

        // The office replaces the ISAKMP SA: its new message 1 reaches the cloud's existing session.
        let oldCookies = Set((initiator as? IKEv1Session)?.localSPIs ?? [])
        office.deliver(.timer(.rekeyIKESA), to: initiator, now: .seconds(100))
        pump(office, cloud, now: .seconds(100))
        XCTAssertEqual(cloud.dispatcher.count, 1, "no second session on the cloud for the office's phase 1 rekey")
        XCTAssertEqual(office.dispatcher.count, 1)
        XCTAssertTrue(cloud.events.contains { $0.kind == .ikeSARekeyed }, "\(cloud.events.map(\.message))")
        XCTAssertTrue(office.events.contains { $0.kind == .ikeSARekeyed }, "\(office.events.map(\.message))")
        // The old ISAKMP SA is deleted a few seconds later, once the cloud has moved its IPsec SAs (a delete
        // that overtakes that move made strongSwan drop them on the wire).
        XCTAssertFalse(
            Set((initiator as? IKEv1Session)?.localSPIs ?? []).isDisjoint(with: oldCookies), "not deleted at once")
        office.deliver(.timer(.abandon), to: initiator, now: .seconds(106))
        pump(office, cloud, now: .seconds(106))
        let newCookies = Set((initiator as? IKEv1Session)?.localSPIs ?? [])
        XCTAssertTrue(newCookies.isDisjoint(with: oldCookies), "the office deleted its old ISAKMP SA")
        XCTAssertTrue(cloud.events.contains { $0.message.contains("peer deleted the replaced ISAKMP SA") })
        XCTAssertEqual(office.installed.count, 1, "the IPsec SAs survive the phase 1 rekey")
        XCTAssertEqual(cloud.installed.count, 1)

        // Now the cloud (the original responder) replaces it: its message 1 reaches the office's session.
        cloud.deliver(.timer(.rekeyIKESA), to: responder, now: .seconds(200))
        pump(office, cloud, now: .seconds(200))
        XCTAssertEqual(office.dispatcher.count, 1, "no second session on the office for the cloud's phase 1 rekey")
        XCTAssertEqual(cloud.dispatcher.count, 1)
        XCTAssertEqual(initiator.status(now: .seconds(201)).state, .established)
        XCTAssertEqual(responder.status(now: .seconds(201)).state, .established)
        XCTAssertEqual(office.installed.count, 1)
        XCTAssertEqual(cloud.installed.count, 1)

        // A Quick Mode rekey over the newest ISAKMP SA still works.
        let inbound = try XCTUnwrap(office.installed.keys.first)
        office.deliver(.timer(.rekeyChildSA(inboundSPI: inbound)), to: initiator, now: .seconds(300))
        pump(office, cloud, now: .seconds(300))
        XCTAssertEqual(office.installed.count, 2, "make-before-break: the old pair drains")
        XCTAssertEqual(cloud.installed.count, 2)
        XCTAssertTrue(office.dispatcher.drops.isEmpty && cloud.dispatcher.drops.isEmpty)
    }

    func testAnIKEv2ConnectionGetsNoIKEv1ResponderAndViceVersa() throws {
        let cloud = try load("cloud.yaml")
        let factories = IKESessions.factories(config: cloud)
        let office = endpoint("198.51.100.10", 500)
        let us = endpoint("203.0.113.20", 500)
        // An IKE_SA_INIT from the office: its connection is IKEv1, so no IKEv2 responder.
        XCTAssertNil(
            factories.makeResponder(
                IKEDatagram(bytes: ikeHeader(initiatorSPI: 1, responderSPI: 0), source: office, destination: us)))
        XCTAssertNil(factories.makeInitiator("no-such-connection"))
        XCTAssertTrue(factories.makeInitiator("cloud-office") is IKEv1Session)
        let dynamic = try load("cloud-dynamic.yaml")
        let name = try XCTUnwrap(dynamic.connections.first?.name)
        XCTAssertTrue(IKESessions.factories(config: dynamic).makeInitiator(name) is IKEv2Session)
    }
}
