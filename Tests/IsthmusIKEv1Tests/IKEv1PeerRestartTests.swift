import IsthmusEvents
import IsthmusTestSupport
import IsthmusWire
import XCTest

@testable import IsthmusIKEv1

/// A peer that restarted and comes back with a new Main Mode (the dispatcher routes its message 1 to the
/// session holding the old ISAKMP SA), and spoofed Main Mode messages that must not count as signs of life.
final class IKEv1PeerRestartTests: XCTestCase {
    /// Runs a fresh initiator (the restarted peer) against `responder` until neither sends anything.
    private func restartedPeer(
        against pair: Pair, initialContact: Bool, seed: UInt64 = 77
    ) -> IKEv1Session {
        var office = configuration(office: true)
        office.sendInitialContact = initialContact
        let peer = IKEv1Session(initiating: office, random: SplitMix64(seed: seed))
        var toResponder = peer.handle(.initiate, now: pair.now).compactMap {
            if case .send(let d) = $0 { d } else { nil }
        }
        var steps = 0
        while !toResponder.isEmpty, steps < 50 {
            let actions = pair.responder.handle(.datagram(toResponder.removeFirst()), now: pair.now)
            pair.apply(.responder, actions.filter { if case .send = $0 { false } else { true } })
            for case .send(let datagram) in actions {
                toResponder += peer.handle(.datagram(datagram), now: pair.now).compactMap {
                    if case .send(let d) = $0 { d } else { nil }
                }
            }
            steps += 1
        }
        return peer
    }

    func testInitialContactFromARestartedPeerReplacesEveryOldSA() throws {
        let pair = Pair(initiator: configuration(office: true), responder: configuration(office: false))
        pair.establish()
        let old = try XCTUnwrap(pair.live(.responder).first)
        pair.now = .seconds(60)
        _ = restartedPeer(against: pair, initialContact: true)
        XCTAssertEqual(pair.kinds(.responder).filter { $0 == .peerRestarted }.count, 1)
        let replaced = pair.events[.responder, default: []].filter { $0.kind == .ikeSAReplaced }
        XCTAssertEqual(replaced.map { $0.details["reason"] }, ["peer-restarted"], "the old ISAKMP SA, and why")
        XCTAssertTrue(pair.removed[.responder, default: []].contains(old.inboundSPI), "the old IPsec SA is gone")
        let status = pair.responder.status(now: pair.now)
        XCTAssertEqual(status.state, .established)
        XCTAssertFalse(status.childSAs.contains { $0.inboundSPI == String(format: "%08x", old.inboundSPI) })
    }

    func testWithoutInitialContactNoRestartIsReported() {
        let pair = Pair(initiator: configuration(office: true), responder: configuration(office: false))
        pair.establish()
        pair.now = .seconds(60)
        _ = restartedPeer(against: pair, initialContact: false)
        XCTAssertFalse(pair.kinds(.responder).contains(.peerRestarted))
    }

    func testForgetRemovesTheIPsecSAsAndSendsNoDelete() throws {
        let pair = Pair(initiator: configuration(office: true), responder: configuration(office: false))
        pair.establish()
        let old = try XCTUnwrap(pair.live(.responder).first)
        let sent = pair.sent.count
        pair.input(.responder, .forget(reason: "the peer restarted"))
        XCTAssertEqual(pair.removed[.responder], [old.inboundSPI])
        XCTAssertEqual(pair.sent.count, sent, "no Delete")
        XCTAssertTrue(pair.closed.contains(.responder))
        XCTAssertEqual(pair.restarts[.responder], false)
    }

    /// A Main Mode message 1 from the peer's address reaches the session with the established ISAKMP SA (it
    /// may be a re-authentication): unauthenticated, it must not postpone the dead peer check.
    func testASpoofedMainModeDoesNotHoldOffDeadPeerDetection() throws {
        let dpd = IKELiveness(interval: .seconds(10), timeout: .seconds(30), action: .clear)
        let pair = Pair(
            initiator: configuration(office: true, dpd: dpd), responder: configuration(office: false, dpd: dpd))
        pair.establish()
        let established = pair.now
        let spoofer = IKEv1Session(initiating: configuration(office: true), random: SplitMix64(seed: 5))
        let messageOne = try XCTUnwrap(
            spoofer.handle(.initiate, now: pair.now).compactMap { if case .send(let d) = $0 { d } else { nil } }.first)
        pair.now = established + .seconds(9)
        pair.apply(.responder, pair.responder.handle(.datagram(messageOne), now: pair.now))
        pair.inFlight.removeAll()
        let before = pair.sent.count
        XCTAssertNotNil(pair.fireNextTimer { side, timer in side == .responder && timer == .liveness })
        XCTAssertEqual(pair.now, established + .seconds(10))
        XCTAssertEqual(pair.sent.count, before + 1, "R-U-THERE at 10 s, not 19 s")
    }
}
