import IsthmusEvents
import IsthmusTestSupport
import IsthmusWire
import XCTest

@testable import IsthmusIKEv1

/// A peer that restarted and comes back with a new Main Mode (the dispatcher routes its message 1 to the
/// session holding the old ISAKMP SA).
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
}
