import IsthmusCrypto
import IsthmusEvents
import IsthmusIP
import IsthmusWire
import XCTest

@testable import IsthmusIKEv2

/// Two IKEv2 cores driven against each other in memory, with an injected clock: establishment and its
/// failures, retransmission, CHILD SA rekey, liveness, delete, NAT. IKE SA rekey, rekey collisions and PFS
/// are in IKEv2StateMachine+RekeyTests.swift; unanswered deletes, keepalives, rate limits and messages out
/// of place in IKEv2StateMachine+RobustnessTests.swift.
final class IKEv2StateMachineTests: XCTestCase {
    private func assertEstablished(_ pair: Pair, file: StaticString = #filePath, line: UInt = #line) throws {
        XCTAssertTrue(
            pair.kinds(.initiator).contains(.ikeSAEstablished), "\(pair.events[.initiator]!)",
            file: file, line: line)
        XCTAssertTrue(
            pair.kinds(.responder).contains(.ikeSAEstablished), "\(pair.events[.responder]!)",
            file: file, line: line)
        let mine = try XCTUnwrap(pair.installed[.initiator]?.last, file: file, line: line)
        let theirs = try XCTUnwrap(pair.installed[.responder]?.last, file: file, line: line)
        XCTAssertEqual(mine.inboundSPI, theirs.outboundSPI, file: file, line: line)
        XCTAssertEqual(mine.outboundSPI, theirs.inboundSPI, file: file, line: line)
        XCTAssertEqual(mine.outboundEncryptionKey, theirs.inboundEncryptionKey, file: file, line: line)
        XCTAssertEqual(mine.inboundEncryptionKey, theirs.outboundEncryptionKey, file: file, line: line)
        XCTAssertEqual(mine.outboundIntegrityKey, theirs.inboundIntegrityKey, file: file, line: line)
        XCTAssertNotEqual(mine.outboundEncryptionKey, mine.inboundEncryptionKey, file: file, line: line)
    }

    func testEstablishesWithGCM() throws {
        let pair = Pair(initiator: configuration(office: true), responder: configuration(office: false))
        pair.establish()
        try assertEstablished(pair)
        let child = try XCTUnwrap(pair.installed[.initiator]?.first)
        XCTAssertEqual(child.encryption.keyword, "aes256gcm16")
        XCTAssertNil(child.integrity)
        XCTAssertEqual(child.localSelectors.map(\.description), ["192.168.1.0/24"])
        XCTAssertEqual(child.remoteSelectors.map(\.description), ["10.0.1.0/24"])
        XCTAssertFalse(child.tunnel.udpEncapsulated)
        XCTAssertEqual(pair.sent.count, 4, "IKE_SA_INIT and IKE_AUTH: two round trips")
        let status = pair.initiator.status(now: pair.now)
        XCTAssertEqual(status.state, .established)
        XCTAssertEqual(status.algorithms, "aes256gcm16-prfsha256-ecp256")
        XCTAssertEqual(status.childSAs.count, 1)
    }

    func testEstablishesWithCBCAndModp() throws {
        let pair = Pair(
            initiator: configuration(office: true, ike: "aes256-sha256-modp2048", esp: "aes256-sha256"),
            responder: configuration(office: false, ike: "aes256-sha256-modp2048", esp: "aes256-sha256"))
        pair.establish()
        try assertEstablished(pair)
        XCTAssertEqual(pair.installed[.responder]?.first?.integrity?.keyword, "sha256")
    }

    func testSharedKeyMismatchIsReportedOnBothSides() {
        let pair = Pair(
            initiator: configuration(office: true, key: "the-office-key-1234"),
            responder: configuration(office: false, key: "the-cloud-key-56789"))
        pair.establish()
        XCTAssertTrue(pair.kinds(.responder).contains(.authenticationFailed))
        XCTAssertTrue(pair.kinds(.initiator).contains(.authenticationFailed))
        let message = pair.events[.initiator]!.first { $0.kind == .authenticationFailed }!.message
        XCTAssertTrue(message.contains("shared keys differ"), message)
        XCTAssertEqual(pair.installed[.initiator]?.count, 0)
        XCTAssertEqual(pair.closed, [.initiator, .responder])
        XCTAssertEqual(pair.restarts, [.initiator: true, .responder: false], "our failed attempt is retried later")
    }

    func testNoProposalChosenNamesBothSides() {
        let pair = Pair(
            initiator: configuration(office: true, ike: "aes128-sha1-modp2048"),
            responder: configuration(office: false, ike: "aes256gcm16-prfsha256-ecp256"))
        pair.establish()
        let responderEvent = pair.events[.responder]!.first { $0.kind == .proposalMismatch }
        let responderMessage = responderEvent?.message ?? ""
        XCTAssertTrue(responderMessage.contains("aes128"), responderMessage)
        XCTAssertTrue(responderMessage.contains("aes256gcm16"), responderMessage)
        // `isthmus diagnose` reads the offers from the details, not from the sentence.
        XCTAssertEqual(
            responderEvent?.details["peer"]?.hasPrefix("aes128-sha1"), true, "\(responderEvent?.details ?? [:])")
        XCTAssertEqual(responderEvent?.details["ours"], "aes256gcm16-prfsha256-ecp256")
        XCTAssertEqual(responderEvent?.details["rejected_by"], "us")
        XCTAssertEqual(responderEvent?.details["phase"], "1")
        let initiatorEvent = pair.events[.initiator]!.first { $0.kind == .proposalMismatch }
        XCTAssertEqual(initiatorEvent?.details["rejected_by"], "peer")
        XCTAssertTrue(pair.kinds(.initiator).contains(.proposalMismatch))
        XCTAssertTrue(pair.closed.contains(.initiator))
    }

    func testInvalidKERetriesWithTheResponderGroup() throws {
        let pair = Pair(
            initiator: configuration(office: true, ike: "aes256gcm16-prfsha256-ecp256-modp2048"),
            responder: configuration(office: false, ike: "aes256gcm16-prfsha256-modp2048"))
        pair.establish()
        XCTAssertTrue(pair.kinds(.initiator).contains(.invalidKE))
        try assertEstablished(pair)
        XCTAssertEqual(pair.initiator.status(now: pair.now).algorithms, "aes256gcm16-prfsha256-modp2048")
    }

    func testTrafficSelectorMismatchKeepsTheIKESA() {
        let pair = Pair(
            initiator: configuration(office: true, remoteSelectors: selectors("10.9.0.0/16")),
            responder: configuration(office: false))
        pair.establish()
        XCTAssertTrue(pair.kinds(.responder).contains(.trafficSelectorMismatch))
        XCTAssertTrue(pair.kinds(.initiator).contains(.trafficSelectorMismatch))
        XCTAssertTrue(pair.kinds(.initiator).contains(.ikeSAEstablished))
        XCTAssertEqual(pair.installed[.initiator]?.count, 0)
    }

    func testNarrowingToSeveralSubnets() throws {
        let pair = Pair(
            initiator: configuration(office: true, remoteSelectors: selectors("10.0.0.0/16")),
            responder: configuration(office: false, localSelectors: selectors("10.0.1.0/24", "10.0.2.0/24")))
        pair.establish()
        try assertEstablished(pair)
        XCTAssertEqual(
            pair.installed[.initiator]?.first?.remoteSelectors.map(\.description),
            ["10.0.1.0/24", "10.0.2.0/24"])
    }

    func testLostIKEAuthIsRetransmitted() throws {
        let pair = Pair(initiator: configuration(office: true), responder: configuration(office: false))
        var dropped = false
        pair.deliver = { side, datagram in
            if side == .initiator, !dropped, (try? IKEv2Message.parse(datagram.bytes))?.exchangeType == .ikeAuth {
                dropped = true
                return false
            }
            return true
        }
        pair.establish()
        XCTAssertFalse(pair.kinds(.initiator).contains(.ikeSAEstablished))
        let fired = pair.fireNextTimer { side, timer in side == .initiator && timer == .retransmit(messageID: 1) }
        XCTAssertNotNil(fired)
        pair.run()
        XCTAssertTrue(pair.kinds(.initiator).contains(.retransmit))
        try assertEstablished(pair)
    }

    func testDuplicatedRequestGetsTheSameResponseAndNoSecondSA() throws {
        let pair = Pair(initiator: configuration(office: true), responder: configuration(office: false))
        pair.deliver = { _, datagram in
            // Duplicate every request on the way (the network repeats a datagram).
            if let message = try? IKEv2Message.parse(datagram.bytes), !message.flags.contains(.response) {
                pair.inFlight.append((.responder, datagram))
            }
            return true
        }
        pair.establish()
        try assertEstablished(pair)
        XCTAssertEqual(pair.installed[.responder]?.count, 1)
        let responses = pair.sent.filter { $0.from == .responder }
        XCTAssertEqual(responses.count, 4, "each duplicate answered with the cached response")
        XCTAssertEqual(responses[2].datagram.bytes, responses[3].datagram.bytes)
    }

    func testPeerNotAnsweringGivesUpAfterBackoff() {
        let pair = Pair(initiator: configuration(office: true), responder: configuration(office: false))
        pair.deliver = { _, _ in false }
        pair.establish()
        var delays: [Duration] = []
        var last = pair.now
        while pair.fireNextTimer() != nil {
            delays.append(pair.now - last)
            last = pair.now
        }
        XCTAssertEqual(delays.map(\.components.seconds), [1, 2, 4, 8, 16, 32, 64])
        XCTAssertTrue(pair.kinds(.initiator).contains(.peerNotAnswering))
        XCTAssertTrue(pair.closed.contains(.initiator))
    }

    func testChildSARekeyIsMakeBeforeBreak() throws {
        let pair = Pair(initiator: configuration(office: true), responder: configuration(office: false))
        pair.establish()
        let first = try XCTUnwrap(pair.installed[.initiator]?.first)
        pair.fireNextTimer { side, timer in side == .initiator && timer == .rekeyChildSA(inboundSPI: first.inboundSPI) }
        pair.run()
        XCTAssertEqual(pair.installed[.initiator]?.count, 2)
        XCTAssertEqual(pair.installed[.responder]?.count, 2)
        try assertEstablished(pair)
        // Section 2.8: the rekey's initiator sends on the new SA at once, its responder only once traffic
        // arrives on it (the initial CHILD SAs send at once on both sides).
        XCTAssertEqual(pair.installed[.initiator]?.map(\.outboundStart), [.now, .now])
        XCTAssertEqual(
            pair.installed[.responder]?.map(\.outboundStart), [.now, .afterPeersFirstPacket(fallback: .seconds(10))])
        // The rekeyed SA has exactly the selectors of the SA it replaces, so it joins the same SPD entry.
        for side in [Pair.Side.initiator, .responder] {
            XCTAssertEqual(pair.installed[side]?.first?.localSelectors, pair.installed[side]?.last?.localSelectors)
            XCTAssertEqual(pair.installed[side]?.first?.remoteSelectors, pair.installed[side]?.last?.remoteSelectors)
        }
        // The old SA stays installed until the DELETE is answered and the grace period ends, but nothing
        // is sent on it once its DELETE is on the way.
        XCTAssertEqual(pair.retired[.initiator], [first.inboundSPI])
        XCTAssertEqual(pair.removed[.initiator], [])
        XCTAssertEqual(pair.removed[.responder], [first.outboundSPI], "responder removes on DELETE")
        // The DELETE of the old SA shows the responder that the initiator has moved to the new one.
        XCTAssertEqual(pair.released[.responder], [pair.installed[.responder]?.last?.inboundSPI].compactMap { $0 })
        XCTAssertEqual(pair.released[.initiator, default: []], [])
        pair.fireNextTimer { side, timer in side == .initiator && timer == .expireChildSA(inboundSPI: first.inboundSPI)
        }
        XCTAssertEqual(pair.removed[.initiator], [first.inboundSPI])
        XCTAssertEqual(pair.initiator.status(now: pair.now).childSAs.count, 1)
        XCTAssertEqual(pair.responder.status(now: pair.now).childSAs.count, 1)
    }

    func testResponderAnswersPeerRekey() throws {
        // The cloud side (responder of the IKE SA) rekeys the CHILD SA: roles of the exchange swap.
        let pair = Pair(initiator: configuration(office: true), responder: configuration(office: false))
        pair.establish()
        let first = try XCTUnwrap(pair.installed[.responder]?.first)
        pair.fireNextTimer { side, timer in side == .responder && timer == .rekeyChildSA(inboundSPI: first.inboundSPI) }
        pair.run()
        XCTAssertEqual(pair.installed[.initiator]?.count, 2)
        XCTAssertEqual(pair.installed[.responder]?.count, 2)
        let newInitiator = try XCTUnwrap(pair.installed[.initiator]?.last)
        let newResponder = try XCTUnwrap(pair.installed[.responder]?.last)
        XCTAssertEqual(newInitiator.inboundSPI, newResponder.outboundSPI)
        XCTAssertEqual(newInitiator.outboundEncryptionKey, newResponder.inboundEncryptionKey)
    }

    func testLivenessTimeoutClosesTheSA() {
        let liveness = IKELiveness(interval: .seconds(30), timeout: .seconds(150), action: .clear)
        let pair = Pair(
            initiator: configuration(office: true, liveness: liveness),
            responder: configuration(office: false, liveness: liveness))
        pair.establish()
        // A healthy peer answers the check.
        pair.fireNextTimer { side, timer in side == .initiator && timer == .liveness }
        pair.run()
        XCTAssertFalse(pair.kinds(.initiator).contains(.livenessTimeout))
        // Then the peer vanishes.
        pair.deliver = { _, _ in false }
        pair.fireNextTimer { side, timer in side == .initiator && timer == .liveness }
        while pair.fireNextTimer(where: { side, timer in
            side == .initiator && { if case .retransmit = timer { true } else { false } }()
        }) != nil {}
        XCTAssertTrue(pair.kinds(.initiator).contains(.livenessTimeout))
        XCTAssertTrue(pair.closed.contains(.initiator))
        XCTAssertEqual(pair.restarts[.initiator], false, "dpd action clear: stay down")
        XCTAssertEqual(pair.removed[.initiator]?.count, 1)
    }

    func testRekeyInFlightWhenThePeerVanishesEndsWithinTheLivenessTimeout() throws {
        // The path goes dark just as a CHILD SA rekey starts: the window holds the rekey, so no empty
        // INFORMATIONAL can go out, and the rekey's own schedule (1+2+4+8+16+32 s) would hide the dead peer
        // for a minute. Under DPD the rekey gives up at the DPD timeout like a liveness check.
        let liveness = IKELiveness(interval: .seconds(5), timeout: .seconds(20), action: .restart)
        let (pair, dark) = try peerVanishesDuringRekey(liveness: liveness)
        XCTAssertTrue(pair.closed.contains(.initiator))
        XCTAssertTrue(pair.kinds(.initiator).contains(.livenessTimeout))
        XCTAssertFalse(pair.kinds(.initiator).contains(.peerNotAnswering))
        XCTAssertLessThanOrEqual(pair.now, dark + .seconds(20))
        XCTAssertEqual(pair.restarts[.initiator], true, "dpd action restart")
    }

    func testRekeyWithoutLivenessKeepsTheWholeSchedule() throws {
        let (pair, dark) = try peerVanishesDuringRekey(liveness: nil)
        XCTAssertTrue(pair.kinds(.initiator).contains(.peerNotAnswering))
        XCTAssertFalse(pair.kinds(.initiator).contains(.livenessTimeout))
        XCTAssertGreaterThan(pair.now, dark + .seconds(20))
    }

    /// Establishes a pair, cuts the path as the initiator starts a CHILD SA rekey, and runs the initiator's
    /// retransmissions until it gives up; returns the pair and when the path went dark.
    private func peerVanishesDuringRekey(liveness: IKELiveness?) throws -> (Pair, MonotonicTime) {
        let pair = Pair(
            initiator: configuration(office: true, liveness: liveness),
            responder: configuration(office: false, liveness: liveness))
        pair.establish()
        let first = try XCTUnwrap(pair.installed[.initiator]?.first)
        pair.deliver = { _, _ in false }
        _ = pair.fireNextTimer { side, timer in
            side == .initiator && timer == .rekeyChildSA(inboundSPI: first.inboundSPI)
        }
        let dark = pair.now
        while !pair.closed.contains(.initiator),
            pair.fireNextTimer(where: { side, timer in
                side == .initiator && { if case .retransmit = timer { true } else { false } }()
            }) != nil
        {}
        return (pair, dark)
    }

    func testTerminateDeletesBothSides() throws {
        let pair = Pair(initiator: configuration(office: true), responder: configuration(office: false))
        pair.establish()
        pair.input(.initiator, .terminate)
        pair.run()
        XCTAssertEqual(pair.closed, [.initiator, .responder])
        XCTAssertEqual(pair.restarts, [.initiator: false, .responder: false], "deleted on request stays down")
        XCTAssertEqual(pair.removed[.initiator]?.count, 1)
        XCTAssertEqual(pair.removed[.responder]?.count, 1)
        XCTAssertTrue(pair.kinds(.responder).contains(.ikeSADeleted))
    }

    func testForcedEncapsulationFloatsTo4500() throws {
        let pair = Pair(
            initiator: configuration(office: true, forceUDPEncapsulation: true), responder: configuration(office: false)
        )
        pair.establish()
        try assertEstablished(pair)
        XCTAssertEqual(pair.sent[2].datagram.destination.port, 4500, "IKE_AUTH goes to 4500")
        XCTAssertEqual(pair.sent[3].datagram.source.port, 4500, "and is answered from it")
        XCTAssertTrue(pair.installed[.initiator]?.first?.tunnel.udpEncapsulated ?? false)
        XCTAssertTrue(pair.installed[.responder]?.first?.tunnel.udpEncapsulated ?? false)
        XCTAssertTrue(pair.kinds(.responder).contains(.natDetected))
    }

    func testGarbageAndOutOfOrderMessagesAreDroppedNotFatal() throws {
        let pair = Pair(initiator: configuration(office: true), responder: configuration(office: false))
        // Before anything: an IKE_AUTH-looking request to a fresh responder is not expected.
        let stray = IKEv2Message(
            initiatorSPI: 1, responderSPI: 2, exchangeType: .ikeAuth, flags: [.initiator],
            messageID: 1, payloads: [])
        pair.input(
            .responder,
            .datagram(
                IKEDatagram(
                    bytes: stray.serialize(), source: endpoint("198.51.100.1"),
                    destination: endpoint("203.0.113.1"))))
        pair.input(
            .responder,
            .datagram(
                IKEDatagram(
                    bytes: [1, 2, 3], source: endpoint("198.51.100.1"),
                    destination: endpoint("203.0.113.1"))))
        XCTAssertEqual(pair.kinds(.responder), [.messageDropped, .messageDropped])
        XCTAssertTrue(pair.closed.isEmpty)
        pair.establish()
        try assertEstablished(pair)
        // After establishment: a response nobody asked for, and a replayed old request.
        let replay = pair.sent.first { $0.from == .initiator }!.datagram
        pair.input(.responder, .datagram(replay))
        XCTAssertTrue(pair.kinds(.responder).last == .messageDropped || pair.inFlight.isEmpty)
        XCTAssertFalse(pair.closed.contains(.responder))
    }
}
