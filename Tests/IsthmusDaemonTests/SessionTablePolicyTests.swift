import IsthmusIKEv2
import IsthmusIP
import XCTest

@testable import IsthmusDaemon

/// The session table's pure decisions: which duplicate IKE SAs give way, and the restart backoff.
final class SessionTablePolicyTests: XCTestCase {
    private func entry(_ spi: UInt64, _ state: IKESAState, _ role: String, age: Int64? = nil) -> (
        session: any IKESession, status: IKESAStatus
    ) {
        let session = ReportingSession(spis: [spi])
        let status = IKESAStatus(
            connection: "peer", ikeVersion: 2, state: state, role: role, localSPI: "\(spi)", remoteSPI: "",
            local: "", remote: "", algorithms: nil, natLocal: false, natRemote: false, establishedSecondsAgo: age,
            rekeyInSeconds: nil, childSAs: [])
        return (session, status)
    }

    private let low = IPAddress(v4: 0xC633_640A)  // 198.51.100.10
    private let high = IPAddress(v4: 0xCB00_7114)  // 203.0.113.20

    func testNegotiationsGiveWayToAWorkingSA() {
        let all = [
            entry(1, .established, "initiator"), entry(2, .connecting, "initiator"), entry(3, .halfOpen, "responder"),
        ]
        let losers = IKEDispatcher.duplicates(among: all, ourAddress: low, peerAddress: high)
        XCTAssertEqual(losers.map(\.status.localSPI), ["2", "3"])
        XCTAssertEqual(Set(losers.map(\.reason)), [.negotiationWithdrawn])
    }

    func testCrossedNegotiationsKeepTheOneTheLowerAddressInitiated() {
        // Both gateways restarted at once; each has answered the other's negotiation (a young responder SA on
        // the lower side, a young responder SA on the higher side) while its own is still in progress.
        let lowerSide = [entry(1, .established, "responder", age: 0), entry(2, .authenticating, "initiator")]
        XCTAssertEqual(
            IKEDispatcher.duplicates(among: lowerSide, ourAddress: low, peerAddress: high).map(\.status.localSPI), [],
            "the lower address keeps negotiating its own: it is the one both sides will keep")
        // Still exchanging keys, the peer cannot hold it established: withdrawn, the working SA undisturbed (a
        // strongSwan peer that answered our IKE_SA_INIT keeps its SA, and no INITIAL_CONTACT reaches it).
        let lowerSideEarly = [entry(9, .established, "responder", age: 0), entry(10, .connecting, "initiator")]
        XCTAssertEqual(
            IKEDispatcher.duplicates(among: lowerSideEarly, ourAddress: low, peerAddress: high).map(\.status.localSPI),
            ["10"])
        let higherSide = [entry(3, .established, "responder", age: 0), entry(4, .authenticating, "initiator")]
        XCTAssertEqual(
            IKEDispatcher.duplicates(among: higherSide, ourAddress: high, peerAddress: low).map(\.status.localSPI),
            ["4"], "the higher address withdraws its own and keeps the lower's")
        // The higher side's own initiation came up first: it answers the lower's to the end.
        let higherFirst = [entry(5, .established, "initiator", age: 0), entry(6, .halfOpen, "responder")]
        XCTAssertEqual(
            IKEDispatcher.duplicates(among: higherFirst, ourAddress: high, peerAddress: low).map(\.status.localSPI), [])
        // An SA of the other role that is not young is no crossing: the negotiation gives way as before.
        let old = [entry(7, .established, "responder", age: 60), entry(8, .connecting, "initiator")]
        XCTAssertEqual(
            IKEDispatcher.duplicates(among: old, ourAddress: low, peerAddress: high).map(\.status.localSPI), ["8"])
    }

    func testBothEstablishedKeepTheOneTheLowerAddressInitiated() {
        let all = [entry(1, .established, "responder"), entry(2, .established, "initiator")]
        let ours = IKEDispatcher.duplicates(among: all, ourAddress: low, peerAddress: high)
        XCTAssertEqual(ours.map(\.status.localSPI), ["1"], "we are the lower address: our own initiation stays")
        XCTAssertEqual(ours.first?.reason, .bothInitiated(kept: "2"))
        let theirs = IKEDispatcher.duplicates(among: all, ourAddress: high, peerAddress: low)
        XCTAssertEqual(theirs.map(\.status.localSPI), ["2"], "the peer is lower: its initiation stays")
    }

    func testANewerSAReplacesOneEstablishedWellBeforeIt() {
        // The peer restarted without INITIAL_CONTACT: the SA it initiated after the restart is 600 s newer.
        for (ourAddress, peerAddress) in [(low, high), (high, low)] {
            let all = [
                entry(1, .established, "initiator", age: 600), entry(2, .established, "responder", age: 0),
            ]
            let losers = IKEDispatcher.duplicates(among: all, ourAddress: ourAddress, peerAddress: peerAddress)
            XCTAssertEqual(losers.map(\.status.localSPI), ["1"], "the newer SA stays whichever address is lower")
            XCTAssertEqual(losers.first?.reason, .replaced(kept: "2"))
        }
        let three = [
            entry(1, .established, "responder", age: 900), entry(2, .established, "responder", age: 400),
            entry(3, .established, "responder", age: 2), entry(4, .halfOpen, "responder"),
        ]
        let losers = IKEDispatcher.duplicates(among: three, ourAddress: low, peerAddress: high)
        XCTAssertEqual(losers.map(\.status.localSPI), ["4", "1", "2"])
        XCTAssertEqual(losers.last?.reason, .replaced(kept: "3"))
    }

    func testSAsEstablishedWithinTheWindowAreASimultaneousInitiation() {
        let window = IKEDispatcher.simultaneousEstablishmentWindow
        let all = [
            entry(1, .established, "responder", age: window + 2), entry(2, .established, "initiator", age: 2),
        ]
        let losers = IKEDispatcher.duplicates(among: all, ourAddress: low, peerAddress: high)
        XCTAssertEqual(losers.map(\.status.localSPI), ["1"])
        XCTAssertEqual(losers.first?.reason, .bothInitiated(kept: "2"), "10 s apart: still simultaneous")
        let peerLower = IKEDispatcher.duplicates(among: all, ourAddress: high, peerAddress: low)
        XCTAssertEqual(peerLower.map(\.status.localSPI), ["2"], "the older one stays when the peer initiated it")
        XCTAssertEqual(peerLower.first?.reason, .bothInitiated(kept: "1"))
    }

    func testSAsOfOneRoleAreARepeatNotASimultaneousInitiation() {
        // The peer initiated both (it restarted 3 s after the first without INITIAL_CONTACT): the newer stays.
        let all = [entry(1, .established, "responder", age: 5), entry(2, .established, "responder", age: 2)]
        for (ourAddress, peerAddress) in [(low, high), (high, low)] {
            let losers = IKEDispatcher.duplicates(among: all, ourAddress: ourAddress, peerAddress: peerAddress)
            XCTAssertEqual(losers.map(\.status.localSPI), ["1"])
            XCTAssertEqual(losers.first?.reason, .replaced(kept: "2"))
        }
    }

    func testNothingToResolveForOneSAOrARekeyingIKEv1SA() {
        XCTAssertTrue(
            IKEDispatcher.duplicates(among: [entry(1, .connecting, "initiator")], ourAddress: low, peerAddress: high)
                .isEmpty)
        let rekeying = [entry(1, .rekeying, "initiator"), entry(2, .established, "responder")]
        XCTAssertTrue(
            IKEDispatcher.duplicates(among: rekeying, ourAddress: low, peerAddress: high).isEmpty,
            "an IKEv1 SA replacing its ISAKMP SA still works")
    }

    func testRestartBackoffDoublesUpToTheMaximumAndResets() {
        var backoff = RestartBackoff()
        let delays = (0..<9).map { _ in backoff.nextDelay(for: "a").components.seconds }
        XCTAssertEqual(delays, [5, 10, 20, 40, 80, 160, 300, 300, 300])
        XCTAssertEqual(backoff.nextDelay(for: "b"), .seconds(5), "per connection")
        backoff.reset("a")
        XCTAssertEqual(backoff.attempts(of: "a"), 0)
        XCTAssertEqual(backoff.nextDelay(for: "a"), .seconds(5))
    }

    func testStateStringsAreTheJSONOfStatus() throws {
        let encoded = try JSONEncoder().encode([IKESAState.halfOpen, .established, .rekeying])
        XCTAssertEqual(String(decoding: encoded, as: UTF8.self), #"["half-open","established","rekeying"]"#)
    }
}
