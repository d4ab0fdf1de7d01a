import IsthmusEvents
import XCTest

@testable import IsthmusIKEv2

/// A restarted peer: INITIAL_CONTACT in its IKE_AUTH is reported (`peer-restarted`), and an IKE SA the
/// shell forgets (``IKEInput/forget(reason:)``) takes its CHILD SAs out of the data plane without a DELETE.
final class IKEv2PeerRestartTests: XCTestCase {
    private func pair(initialContact: Bool) -> Pair {
        var office = configuration(office: true)
        office.sendInitialContact = initialContact
        return Pair(initiator: office, responder: configuration(office: false))
    }

    func testInitialContactInIKEAuthIsReportedOnlyWhenSent() {
        let restarted = pair(initialContact: true)
        restarted.establish()
        XCTAssertEqual(restarted.kinds(.responder).filter { $0 == .peerRestarted }.count, 1)
        XCTAssertEqual(restarted.kinds(.responder).firstIndex(of: .ikeSAEstablished).map { $0 >= 0 }, true)
        XCTAssertFalse(restarted.kinds(.initiator).contains(.peerRestarted), "the responder sent none")
        let plain = pair(initialContact: false)
        plain.establish()
        XCTAssertTrue(plain.kinds(.responder).contains(.ikeSAEstablished))
        XCTAssertFalse(plain.kinds(.responder).contains(.peerRestarted))
    }

    func testForgetRemovesEveryCHILDSAAndSendsNoDelete() throws {
        let pair = pair(initialContact: false)
        pair.establish()
        let child = try XCTUnwrap(pair.installed[.responder]?.first)
        let sentBefore = pair.sent.count
        pair.input(.responder, .forget(reason: "the peer restarted"))
        XCTAssertEqual(pair.removed[.responder], [child.inboundSPI])
        XCTAssertEqual(pair.sent.count, sentBefore, "no DELETE: the peer has no state to delete")
        XCTAssertTrue(pair.closed.contains(.responder))
        XCTAssertEqual(pair.restarts[.responder], false)
        XCTAssertTrue(
            pair.events[.responder, default: []].contains {
                $0.kind == .ikeSADeleted && $0.message.contains("restarted")
            })
        XCTAssertTrue(pair.timers.filter { $0.side == .responder }.isEmpty)
    }
}
