import IsthmusEvents
import XCTest

@testable import IsthmusIKEv2

/// IKE SA rekeying in place (RFC 7296 section 2.18).
final class IKEv2IKESARekeyTests: XCTestCase {
    private func rekey(by side: Pair.Side) throws -> Pair {
        let pair = Pair(initiator: configuration(office: true), responder: configuration(office: false))
        pair.establish()
        let before = (pair.initiator.status(now: pair.now).localSPI, pair.responder.status(now: pair.now).localSPI)
        let fired = pair.fireNextTimer { s, timer in s == side && timer == .rekeyIKESA }
        XCTAssertNotNil(fired)
        pair.run()
        let initiatorStatus = pair.initiator.status(now: pair.now)
        let responderStatus = pair.responder.status(now: pair.now)
        XCTAssertEqual(initiatorStatus.state, .established)
        XCTAssertEqual(responderStatus.state, .established)
        XCTAssertNotEqual(initiatorStatus.localSPI, before.0, "new SPIs")
        XCTAssertNotEqual(responderStatus.localSPI, before.1)
        XCTAssertEqual(initiatorStatus.localSPI, responderStatus.remoteSPI)
        XCTAssertEqual(initiatorStatus.childSAs.count, 1, "the CHILD SA carries over")
        XCTAssertTrue(pair.kinds(.initiator).contains(.ikeSARekeyed))
        XCTAssertTrue(pair.kinds(.responder).contains(.ikeSARekeyed))
        XCTAssertTrue(
            pair.events[.initiator]!.contains { $0.message.contains("old IKE SA") }
                || pair.events[.responder]!.contains { $0.message.contains("old IKE SA") }, "the old SA is deleted")
        XCTAssertTrue(pair.closed.isEmpty, "no side closed")
        XCTAssertEqual(pair.removed[.initiator], [], "no CHILD SA removed by the IKE SA rekey")
        return pair
    }

    func testInitiatorRekeysTheIKESA() throws {
        let pair = try rekey(by: .initiator)
        // The new SA works: a CHILD SA rekey and then a delete run over it.
        let child = try XCTUnwrap(pair.installed[.initiator]?.first)
        pair.fireNextTimer { side, timer in side == .initiator && timer == .rekeyChildSA(inboundSPI: child.inboundSPI) }
        pair.run()
        XCTAssertEqual(pair.installed[.responder]?.count, 2)
        pair.input(.initiator, .terminate)
        pair.run()
        XCTAssertEqual(pair.closed, [.initiator, .responder])
    }

    func testResponderRekeysTheIKESA() throws {
        let pair = try rekey(by: .responder)
        XCTAssertEqual(pair.responder.status(now: pair.now).role, "initiator", "the rekey initiator leads the new SA")
        pair.input(.responder, .terminate)
        pair.run()
        XCTAssertEqual(pair.closed, [.initiator, .responder])
        XCTAssertEqual(pair.restarts[.initiator], false)
    }

    func testSimultaneousIKESARekeyEndsWithOneSA() throws {
        let pair = Pair(initiator: configuration(office: true), responder: configuration(office: false))
        pair.establish()
        pair.fireNextTimer { s, timer in s == .initiator && timer == .rekeyIKESA }
        pair.fireNextTimer { s, timer in s == .responder && timer == .rekeyIKESA }
        pair.run()
        let i = pair.initiator.status(now: pair.now)
        let r = pair.responder.status(now: pair.now)
        XCTAssertEqual(i.state, .established)
        XCTAssertEqual(r.state, .established)
        XCTAssertEqual(i.localSPI, r.remoteSPI, "both ended on the same IKE SA")
        XCTAssertEqual(i.childSAs.count, 1)
    }
}

/// Both ends rekey the same CHILD SA at once (RFC 7296 section 2.8.1).
final class IKEv2ChildRekeyCollisionTests: XCTestCase {
    func testSimultaneousChildRekeyLeavesOneSAPair() throws {
        for seed in UInt64(1)...6 {
            let pair = Pair(initiator: configuration(office: true), responder: configuration(office: false), seed: seed)
            pair.establish()
            let mine = try XCTUnwrap(pair.installed[.initiator]?.first)
            let theirs = try XCTUnwrap(pair.installed[.responder]?.first)
            pair.fireNextTimer { s, t in s == .initiator && t == .rekeyChildSA(inboundSPI: mine.inboundSPI) }
            pair.fireNextTimer { s, t in s == .responder && t == .rekeyChildSA(inboundSPI: theirs.inboundSPI) }
            pair.run()
            // Let deletions and grace periods play out.
            while pair.fireNextTimer(where: { _, timer in
                if case .expireChildSA = timer { true } else if case .retransmit = timer { true } else { false }
            }) != nil {
                pair.run()
            }
            let i = pair.initiator.status(now: pair.now).childSAs
            let r = pair.responder.status(now: pair.now).childSAs
            XCTAssertEqual(i.count, 1, "seed \(seed): \(i)")
            XCTAssertEqual(r.count, 1, "seed \(seed): \(r)")
            XCTAssertEqual(i.first?.inboundSPI, r.first?.outboundSPI, "seed \(seed)")
            XCTAssertFalse(pair.kinds(.initiator).contains(.invalidSyntax))
            let deciders = [Pair.Side.initiator, .responder].filter { side in
                pair.events[side]!.contains { $0.message.contains("simultaneous CHILD SA rekey") }
            }
            XCTAssertEqual(deciders.count, 1, "seed \(seed): exactly one side deletes its redundant SA")
        }
    }
}

/// Perfect forward secrecy for CHILD SAs (RFC 7296 1.3.1): none in IKE_AUTH, a fresh DH in rekeys.
final class IKEv2PFSTests: XCTestCase {
    func testRekeyWithPFSAndIKEAuthWithout() throws {
        let pair = Pair(
            initiator: configuration(office: true, esp: "aes256gcm16-modp2048"),
            responder: configuration(office: false, esp: "aes256gcm16-modp2048"))
        pair.establish()
        let first = try XCTUnwrap(pair.installed[.initiator]?.first)
        // IKE_AUTH carries no KE: its CHILD SA has no DH group.
        XCTAssertEqual(pair.initiator.status(now: pair.now).childSAs.first?.algorithms, "aes256gcm16")
        pair.fireNextTimer { s, t in s == .initiator && t == .rekeyChildSA(inboundSPI: first.inboundSPI) }
        pair.run()
        let mine = try XCTUnwrap(pair.installed[.initiator]?.last)
        let theirs = try XCTUnwrap(pair.installed[.responder]?.last)
        XCTAssertEqual(pair.installed[.initiator]?.count, 2)
        XCTAssertEqual(mine.outboundEncryptionKey, theirs.inboundEncryptionKey)
        XCTAssertEqual(mine.inboundSPI, theirs.outboundSPI)
        XCTAssertTrue(
            pair.initiator.status(now: pair.now).childSAs.contains { $0.algorithms == "aes256gcm16-modp2048" })
    }

    func testRekeyRetriesWithTheGroupThePeerWants() throws {
        let pair = Pair(
            initiator: configuration(office: true, esp: "aes256gcm16-ecp256-modp2048"),
            responder: configuration(office: false, esp: "aes256gcm16-modp2048"))
        pair.establish()
        let first = try XCTUnwrap(pair.installed[.initiator]?.first)
        pair.fireNextTimer { s, t in s == .initiator && t == .rekeyChildSA(inboundSPI: first.inboundSPI) }
        pair.run()
        XCTAssertTrue(pair.kinds(.initiator).contains(.invalidKE))
        pair.fireNextTimer { s, t in s == .initiator && t == .rekeyChildSA(inboundSPI: first.inboundSPI) }
        pair.run()
        XCTAssertEqual(pair.installed[.responder]?.count, 2, "\(pair.events[.initiator]!.suffix(3))")
        XCTAssertEqual(
            pair.installed[.initiator]?.last?.outboundEncryptionKey,
            pair.installed[.responder]?.last?.inboundEncryptionKey)
    }
}
