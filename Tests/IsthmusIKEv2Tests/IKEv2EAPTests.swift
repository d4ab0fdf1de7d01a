import IsthmusCrypto
import IsthmusEvents
import IsthmusTestSupport
import IsthmusWire
import XCTest

@testable import IsthmusIKEv2

/// A whole EAP-MSCHAPv2 IKE_AUTH (RFC 7296 section 2.16) against the responder core: our initiator core does
/// IKE_SA_INIT, then the test plays an EAP client with its keys (as strongSwan's `auth = eap-mschapv2` does).
final class IKEv2EAPTests: XCTestCase {
    /// The client side: the pair, the initiator's keys, and the next message ID.
    final class Client {
        let pair: Pair
        var messageID: UInt32 = 1
        let identification = IKEv2IdentificationPayload(idType: .rfc822Address, data: Array("alice@laptop".utf8))
        let childSPI: UInt32 = 0x1234_5678

        init(eapRequired: Bool = false) throws {
            var responderConfiguration = configuration(office: false)
            responderConfiguration.eapRequired = eapRequired
            responderConfiguration.eapUsers = EAPUserDatabase(ntHashes: [
                "alice": try MSCHAPv2Crypto.ntPasswordHash(password: "correct horse")
            ])
            pair = Pair(initiator: configuration(office: true), responder: responderConfiguration)
            // Our initiator's own IKE_AUTH (with PSK AUTH) never reaches the responder: the test sends its own.
            pair.deliver = { side, datagram in
                side == .responder || (try? IKEv2Message.parse(datagram.bytes))?.exchangeType == .ikeSAInit
            }
            pair.establish()
        }

        var signed: IKEv2InitialMessages {
            pair.initiator.machine.withLock { machine in
                guard case .authenticating(let state) = machine.state else { preconditionFailure("not authenticating") }
                return state.initialMessages
            }
        }

        var crypto: IKEv2SACrypto {
            pair.initiator.machine.withLock { machine in
                guard case .authenticating(let state) = machine.state else { preconditionFailure("not authenticating") }
                return state.protection.crypto
            }
        }

        /// Sends one IKE_AUTH request with `inner` and returns the responder's answer, opened.
        func exchange(_ inner: [IKEv2Payload], type: IKEv2ExchangeType = .ikeAuth) throws -> [IKEv2Payload] {
            let id = messageID
            messageID += 1
            let datagrams = try XCTUnwrap(
                pair.initiator.machine.withLock { machine -> [[UInt8]]? in
                    guard case .authenticating(var state) = machine.state else { return nil }
                    let header = machine.header(type, messageID: id, response: false)
                    let sealed = machine.seal(header, inner, with: &state.protection)
                    machine.state = .authenticating(state)
                    return sealed
                })
            pair.inFlight.removeAll()
            for bytes in datagrams {
                pair.input(
                    .responder,
                    .datagram(
                        IKEDatagram(
                            bytes: bytes, source: endpoint("198.51.100.1"), destination: endpoint("203.0.113.1"))))
            }
            let answer = try XCTUnwrap(pair.inFlight.last?.datagram.bytes, "the responder answered")
            pair.inFlight.removeAll()
            let message = try IKEv2Message.parse(answer)
            XCTAssertEqual(message.messageID, id)
            return try crypto.open(answer, message: message)
        }

        func firstRequest() -> [IKEv2Payload] {
            pair.initiator.machine.withLock { machine in
                [
                    .identificationInitiator(identification),
                    .securityAssociation(machine.offerChild(spi: childSPI, pfs: false)),
                ]
                    + machine.trafficSelectorPayloads(
                        initiator: selectors("192.168.1.0/24"), responder: selectors("10.0.1.0/24"))
            }
        }
    }

    private func eap(_ payloads: [IKEv2Payload]) throws -> [UInt8] {
        try XCTUnwrap(payloads.lazy.compactMap(\.eapMessage).first, "an EAP payload")
    }

    func testRightPasswordEstablishesWithTheMSK() throws {
        let client = try Client()
        var peer = EAPTestClient(identity: "alice", password: "correct horse")
        // 1: no AUTH -> IDr, AUTH (PSK), EAP Request/Identity.
        let first = try client.exchange(client.firstRequest())
        let idr = try XCTUnwrap(first.lazy.compactMap(\.identificationResponder).first)
        let responderAuth = try XCTUnwrap(first.lazy.compactMap(\.authentication).first)
        let signed = client.signed
        XCTAssertEqual(
            responderAuth.data,
            client.crypto.authentication(
                sharedKey: SecretBytes(Array("a-shared-key-of-some-length".utf8)), ofInitiator: false,
                realMessage: signed.response, peerNonce: signed.nonceInitiator, identification: idr))
        XCTAssertEqual(try EAPPacket(parsing: try eap(first)).type, .identity)
        // 2..4: Identity, Challenge/Response, Success/ack.
        var request = try eap(first)
        var answer = try XCTUnwrap(try peer.answer(request))
        for _ in 0..<3 {
            let reply = try client.exchange([.eap(DataPayload(data: answer))])
            request = try eap(reply)
            if try EAPPacket(parsing: request).code == .success { break }
            answer = try XCTUnwrap(try peer.answer(request))
        }
        XCTAssertEqual(try EAPPacket(parsing: request).code, .success)
        XCTAssertTrue(peer.serverVerified)
        let msk = try XCTUnwrap(peer.msk)
        XCTAssertFalse(client.pair.kinds(.responder).contains(.ikeSAEstablished), "not before the client's AUTH")
        // 5: AUTH with the MSK -> our AUTH with the MSK and the CHILD SA.
        let clientAuth = client.crypto.authentication(
            sharedKey: msk, ofInitiator: true, realMessage: signed.request, peerNonce: signed.nonceResponder,
            identification: client.identification)
        let last = try client.exchange([
            .authentication(IKEv2AuthenticationPayload(method: .sharedKeyMessageIntegrityCode, data: clientAuth))
        ])
        let finalAuth = try XCTUnwrap(last.lazy.compactMap(\.authentication).first)
        XCTAssertEqual(
            finalAuth.data,
            client.crypto.authentication(
                sharedKey: msk, ofInitiator: false, realMessage: signed.response, peerNonce: signed.nonceInitiator,
                identification: idr))
        XCTAssertNotNil(last.lazy.compactMap(\.securityAssociation).first)
        XCTAssertNotNil(last.lazy.compactMap(\.trafficSelectorInitiator).first)
        XCTAssertEqual(client.pair.installed[.responder]?.count, 1, "the CHILD SA of the first IKE_AUTH")
        let kinds = client.pair.kinds(.responder)
        XCTAssertTrue(kinds.contains(.clientAuthenticated))
        XCTAssertTrue(kinds.contains(.ikeSAEstablished))
        let authenticated = try XCTUnwrap(client.pair.events[.responder]?.first { $0.kind == .clientAuthenticated })
        XCTAssertEqual(authenticated.details["user"], "alice")
        XCTAssertEqual(client.pair.responder.status(now: client.pair.now).state, .established)
    }

    func testWrongPasswordIsAuthenticationFailedAndSaysSo() throws {
        let client = try Client()
        var peer = EAPTestClient(identity: "alice", password: "Tr0ub4dor&3")
        var request = try eap(try client.exchange(client.firstRequest()))
        var reply: [IKEv2Payload] = []
        for _ in 0..<3 {
            let answer = try XCTUnwrap(try peer.answer(request))
            reply = try client.exchange([.eap(DataPayload(data: answer))])
            if reply.contains(where: { $0.notify?.notifyType == .authenticationFailed }) { break }
            request = try eap(reply)
        }
        XCTAssertEqual(try EAPPacket(parsing: try eap(reply)).code, .failure)
        XCTAssertTrue(reply.contains { $0.notify?.notifyType == .authenticationFailed })
        XCTAssertTrue(try XCTUnwrap(peer.refusedWith).hasPrefix("E=691 R=0"))
        XCTAssertTrue(client.pair.closed.contains(.responder))
        let failures = client.pair.events[.responder, default: []].filter { $0.kind == .authenticationFailed }
        XCTAssertEqual(failures.count, 1)
        XCTAssertTrue(failures[0].message.contains("wrong password for user alice"), failures[0].message)
        XCTAssertEqual(failures[0].details["reason"], "wrong-password")
        for event in client.pair.events[.responder, default: []] {
            XCTAssertFalse(event.message.contains("Tr0ub4dor"), event.message)
        }
        XCTAssertFalse(client.pair.kinds(.responder).contains(.ikeSAEstablished))
    }

    func testClientGivingUpAfterTheFailureRequestClosesAtOnce() throws {
        // strongSwan's client does not acknowledge a Failure Request: it sends INFORMATIONAL N(AUTH_FAILED).
        let client = try Client()
        var peer = EAPTestClient(identity: "alice", password: "wrong")
        var request = try eap(try client.exchange(client.firstRequest()))
        for _ in 0..<2 {
            request = try eap(try client.exchange([.eap(DataPayload(data: try XCTUnwrap(try peer.answer(request))))]))
        }
        guard
            case .failureRequest? = try? MSCHAPv2Packet(parsing: try EAPPacket(parsing: request).data, isRequest: true)
        else { return XCTFail("expected the MSCHAPv2 Failure Request") }
        XCTAssertFalse(client.pair.closed.contains(.responder))
        let answer = try client.exchange(
            [.notify(IKEv2NotifyPayload(protocolID: .none, spi: [], notifyType: .authenticationFailed, data: []))],
            type: .informational)
        XCTAssertEqual(answer, [])
        XCTAssertTrue(client.pair.closed.contains(.responder))
        XCTAssertEqual(client.pair.kinds(.responder).filter { $0 == .authenticationFailed }.count, 1)
    }

    func testAUTHWithoutTheMSKIsRefused() throws {
        let client = try Client()
        var peer = EAPTestClient(identity: "alice", password: "correct horse")
        var request = try eap(try client.exchange(client.firstRequest()))
        for _ in 0..<3 {
            let reply = try client.exchange([.eap(DataPayload(data: try XCTUnwrap(try peer.answer(request))))])
            request = try eap(reply)
            if try EAPPacket(parsing: request).code == .success { break }
        }
        // The client signs with the PSK instead of the MSK.
        let signed = client.signed
        let wrong = client.crypto.authentication(
            sharedKey: SecretBytes(Array("a-shared-key-of-some-length".utf8)), ofInitiator: true,
            realMessage: signed.request, peerNonce: signed.nonceResponder, identification: client.identification)
        let reply = try client.exchange([
            .authentication(IKEv2AuthenticationPayload(method: .sharedKeyMessageIntegrityCode, data: wrong))
        ])
        XCTAssertTrue(reply.contains { $0.notify?.notifyType == .authenticationFailed })
        XCTAssertTrue(client.pair.closed.contains(.responder))
        XCTAssertEqual(client.pair.installed[.responder]?.count ?? 0, 0)
    }

    func testGarbageEAPEndsInFailureNotATrap() throws {
        var random = SplitMix64(seed: 5)
        for _ in 0..<40 {
            let client = try Client()
            _ = try client.exchange(client.firstRequest())
            let garbage = random.bytes(Int(random.next() % 40))
            let reply = try client.exchange([.eap(DataPayload(data: garbage))])
            XCTAssertTrue(reply.contains { $0.notify?.notifyType == .authenticationFailed })
            XCTAssertTrue(client.pair.closed.contains(.responder))
        }
    }

    func testPSKClientIsRefusedWhenEAPIsRequired() throws {
        for required in [false, true] {
            let client = try Client(eapRequired: required)
            let signed = client.signed
            let pskAuth = client.crypto.authentication(
                sharedKey: SecretBytes(Array("a-shared-key-of-some-length".utf8)), ofInitiator: true,
                realMessage: signed.request, peerNonce: signed.nonceResponder, identification: client.identification)
            let reply = try client.exchange(
                client.firstRequest() + [
                    .authentication(IKEv2AuthenticationPayload(method: .sharedKeyMessageIntegrityCode, data: pskAuth))
                ])
            if required {
                XCTAssertTrue(reply.contains { $0.notify?.notifyType == .authenticationFailed })
                XCTAssertTrue(client.pair.closed.contains(.responder))
                XCTAssertTrue(client.pair.kinds(.responder).contains(.authenticationFailed))
            } else {
                // With psk allowed too, a client with AUTH takes the pre-shared key's path: no EAP.
                XCTAssertFalse(reply.contains { $0.eapMessage != nil }, "no EAP for a client with AUTH")
            }
        }
    }

    func testPSKPeersWithoutUsersAreUnchanged() throws {
        let pair = Pair(initiator: configuration(office: true), responder: configuration(office: false))
        pair.establish()
        XCTAssertEqual(pair.responder.status(now: pair.now).state, .established, "PSK peers are unchanged")
    }
}

extension IKEv2Payload {
    fileprivate var notify: IKEv2NotifyPayload? { if case .notify(let value) = self { value } else { nil } }
}
