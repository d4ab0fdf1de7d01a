import IsthmusCrypto
import IsthmusEvents
import IsthmusIP
import IsthmusTestSupport
import IsthmusWire
import XCTest

@testable import IsthmusIKEv1

/// Hostile and broken input: dropped, counted, never a crash, never a half-changed state.
final class IKEv1BadInputTests: XCTestCase {
    private func established() -> Pair {
        let pair = Pair(
            initiator: configuration(office: true, esp: "aes128-sha1-modp2048"),
            responder: configuration(office: false, esp: "aes128-sha1-modp2048"))
        pair.establish()
        XCTAssertEqual(pair.live(.initiator).count, 1)
        return pair
    }

    private func feed(_ pair: Pair, _ side: Pair.Side, _ bytes: [UInt8]) {
        let (source, destination) =
            side == .responder
            ? (endpoint("198.51.100.1"), endpoint("203.0.113.1")) : (endpoint("203.0.113.1"), endpoint("198.51.100.1"))
        // Answers are recorded but not delivered: the peer's reaction is not under test here.
        pair.input(side, .datagram(IKEDatagram(bytes: bytes, source: source, destination: destination)))
        pair.inFlight.removeAll()
    }

    /// After the abuse, the tunnel still works: a phase 2 rekey completes with matching keys.
    private func assertStillWorks(_ pair: Pair, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertTrue(pair.closed.isEmpty, "nobody closed", file: file, line: line)
        XCTAssertEqual(pair.live(.initiator).count, 1, file: file, line: line)
        XCTAssertEqual(pair.live(.responder).count, 1, file: file, line: line)
        let spi = pair.live(.initiator)[0].inboundSPI
        pair.inFlight.removeAll()
        pair.deliver = { _, _ in true }
        pair.input(.initiator, .timer(.rekeyChildSA(inboundSPI: spi)))
        pair.run()
        let fresh = pair.live(.initiator).filter { $0.inboundSPI != spi }
        XCTAssertEqual(fresh.count, 1, "rekey after the abuse", file: file, line: line)
        guard let mine = fresh.first,
            let theirs = pair.live(.responder).first(where: { $0.inboundSPI == mine.outboundSPI })
        else { return XCTFail("no matching responder SA", file: file, line: line) }
        XCTAssertEqual(mine.outboundEncryptionKey, theirs.inboundEncryptionKey, file: file, line: line)
    }

    func testTruncatedAndMutatedMessagesNeverCrash() {
        let pair = established()
        let recorded = pair.sent.map(\.datagram.bytes)
        var random = SplitMix64(seed: 7)
        let droppedBefore = pair.responder.droppedMessages + pair.initiator.droppedMessages
        for bytes in recorded {
            for length in 0..<bytes.count {
                feed(pair, .responder, Array(bytes.prefix(length)))
                feed(pair, .initiator, Array(bytes.prefix(length)))
            }
            for _ in 0..<60 {
                var mutated = bytes
                let flips = Int.random(in: 1...3, using: &random)
                for _ in 0..<flips {
                    mutated[Int.random(in: 0..<mutated.count, using: &random)] = UInt8.random(
                        in: 0...255, using: &random)
                }
                feed(pair, .responder, mutated)
                feed(pair, .initiator, mutated)
            }
        }
        for _ in 0..<200 {
            let garbage = (0..<Int.random(in: 0..<400, using: &random)).map { _ in
                UInt8.random(in: 0...255, using: &random)
            }
            feed(pair, .responder, garbage)
        }
        XCTAssertGreaterThan(pair.responder.droppedMessages + pair.initiator.droppedMessages, droppedBefore + 1000)
        // A mutated message 1 looks like the peer replacing the ISAKMP SA: a half-open SA, nothing more.
        XCTAssertTrue([IKESAState.established, .rekeying].contains(pair.responder.status(now: pair.now).state))
        XCTAssertTrue([IKESAState.established, .rekeying].contains(pair.initiator.status(now: pair.now).state))
        // Half-open SAs a mutated message 1 may have started are abandoned in time.
        pair.advance(to: pair.now + .seconds(40))
        XCTAssertEqual(pair.responder.status(now: pair.now).state, .established)
        XCTAssertEqual(pair.initiator.status(now: pair.now).state, .established)
        assertStillWorks(pair)
    }

    func testWrongHashInQuickModeIsDropped() throws {
        let pair = established()
        let forged = pair.initiator.inspect { machine -> ([UInt8], [UInt8])? in
            guard let sa = machine.current, let crypto = sa.crypto else { return nil }
            let rest: [ISAKMPPayload] = [
                .securityAssociation(
                    IKEv1Proposals.phase2SA(
                        machine.configuration.espProposals, spi: 0x1234_5678, lifetime: machine.ourLifetimeESP,
                        udpEncapsulated: false)),
                .nonce(ISAKMPNoncePayload(nonce: [UInt8](repeating: 7, count: 32))),
                .identification(IKEv1Proposals.identification(machine.configuration.selectorPairs[0].local)),
                .identification(IKEv1Proposals.identification(machine.configuration.selectorPairs[0].remote)),
            ]
            func seal(_ hash: [UInt8], messageID: UInt32) -> [UInt8] {
                let iv = try! crypto.phase2IV(lastPhase1Block: sa.lastPhase1Block, messageID: messageID)
                return try! crypto.encrypt(
                    cookieInitiator: sa.cookieI, cookieResponder: sa.cookieR, exchange: .quickMode,
                    messageID: messageID, payloads: [.hash(ISAKMPDataPayload(data: hash))] + rest, iv: iv
                ).bytes
            }
            let wrong = seal([UInt8](repeating: 0, count: crypto.prf.outputLength), messageID: 0xdead_beef)
            // Without the PFS KE the responder drops it, but only after the HASH verified.
            let right = seal(
                crypto.hash1(messageID: 0xfeed_f00d, rest: ISAKMPPayloadChain.serialize(rest)),
                messageID: 0xfeed_f00d)
            return (wrong, right)
        }
        let (wrong, right) = try XCTUnwrap(forged)
        let sentBefore = pair.sent.count
        let dropped = pair.responder.droppedMessages
        feed(pair, .responder, wrong)
        XCTAssertEqual(pair.responder.droppedMessages, dropped + 1)
        XCTAssertEqual(pair.sent.count, sentBefore, "no answer to a wrong HASH")
        XCTAssertTrue(pair.messages(.responder, .messageDropped).last?.contains("HASH(1) does not verify") ?? false)
        feed(pair, .responder, right)
        let reason = pair.messages(.responder, .messageDropped).last ?? ""
        XCTAssertTrue(reason.contains("KE (PFS)") && !reason.contains("HASH"), "the correct HASH verified: \(reason)")
        assertStillWorks(pair)
    }

    func testQuickModeForUnknownISAKMPSAIsDropped() throws {
        let pair = established()
        var quickMode = try XCTUnwrap(
            pair.sent.first { (try? ISAKMPMessage.parse($0.datagram.bytes))?.exchangeType == .quickMode }?.datagram
                .bytes)
        quickMode[8] ^= 0xFF  // another responder cookie
        let dropped = pair.responder.droppedMessages
        feed(pair, .responder, quickMode)
        XCTAssertEqual(pair.responder.droppedMessages, dropped + 1)
        XCTAssertTrue(pair.messages(.responder, .messageDropped).last?.contains("unknown ISAKMP SA") ?? false)
        assertStillWorks(pair)
    }

    func testReplayedMainModeMessagesAreDropped() {
        let pair = established()
        let mainMode = pair.sent.filter {
            (try? ISAKMPMessage.parse($0.datagram.bytes))?.exchangeType == .identityProtection
        }
        XCTAssertEqual(mainMode.count, 6)
        let dropped = (pair.initiator.droppedMessages, pair.responder.droppedMessages)
        pair.now = pair.now + .seconds(5)
        for (from, datagram) in mainMode {
            pair.input(from == .initiator ? .responder : .initiator, .datagram(datagram))
        }
        pair.run()
        XCTAssertEqual(
            pair.initiator.droppedMessages - dropped.0, 4,
            "messages 2, 4, 6 dropped, and the responder's answer to the replayed 5 (a repeated 6)")
        XCTAssertEqual(pair.responder.droppedMessages - dropped.1, 3, "messages 1, 3, 5 dropped (5 answered again)")
        XCTAssertEqual(pair.installed[.initiator]?.count, 1)
        XCTAssertEqual(pair.responder.localSPIs.count, 1, "no new ISAKMP SA from a replay")
        pair.advance(to: pair.now + .seconds(60))
        XCTAssertEqual(pair.initiator.droppedMessages - dropped.0, 4, "no ping-pong of repeated messages")
        assertStillWorks(pair)
    }

    func testUnencryptedQuickModeAndInformationalAreDropped() {
        let pair = established()
        let cookies = pair.initiator.inspect { ($0.current!.cookieI, $0.current!.cookieR) }
        for exchange in [ISAKMPExchangeType.quickMode, .informational] {
            let message = ISAKMPMessage(
                initiatorCookie: cookies.0, responderCookie: cookies.1, exchangeType: exchange,
                messageID: 77,
                body: .payloads([
                    .delete(
                        ISAKMPDeletePayload(
                            protocolID: .isakmp, spiSize: 16,
                            spis: [IKEv1SACrypto.bytes(cookies.0) + IKEv1SACrypto.bytes(cookies.1)]))
                ]))
            feed(pair, .responder, message.serialize())
        }
        assertStillWorks(pair)
    }

    /// An authenticated peer asking for more IPsec SAs than a session holds (here 80 pairs of selectors, one
    /// Quick Mode each, a second apart so that finished Quick Modes are forgotten): refused past the cap.
    func testQuickModesPastTheIPsecSACapAreRefused() {
        let hosts = (1...80).map { TrafficSelector(prefix: try! IPPrefix(parsing: "192.168.1.\($0)/32")) }
        let pair = Pair(
            initiator: configuration(office: true, localSelectors: hosts),
            responder: configuration(office: false, remoteSelectors: selectors("192.168.1.0/24")))
        pair.input(.initiator, .initiate)
        pair.run()
        while pair.timers.contains(where: { $0.timer == .startQueuedExchange }) {
            pair.now += .seconds(1)
            pair.fireNextTimer { $1 == .startQueuedExchange }
            pair.run()
        }
        XCTAssertEqual(pair.live(.responder).count, IKEv1StateMachine.maximumIPsecSAs)
        XCTAssertEqual(pair.kinds(.responder).filter { $0 == .childSARefused }.count, 80 - 64)
        XCTAssertTrue(pair.closed.isEmpty, "the ISAKMP SA stays up")
    }
}
