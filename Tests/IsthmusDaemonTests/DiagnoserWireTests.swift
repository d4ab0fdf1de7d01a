import Foundation
import IsthmusDataplane
import IsthmusEvents
import IsthmusGateway
import XCTest

@testable import IsthmusDaemon

/// The event sequences the on-the-wire tests (Tests/Interop/test_diagnose.py against strongSwan) recorded,
/// replayed into the diagnoser: each verdict the wire showed wrong, now right.
final class DiagnoserWireTests: XCTestCase {
    typealias Scene = DiagnoserTests.Scene

    /// The seed's cloud side as an IKEv2 connection (strongSwan's `nat` and `prop` scenes are IKEv2).
    static let ikev2 = DiagnoserTests.cloud.replacingOccurrences(
        of: "    ike: aes256-sha1-modp1024\n    esp: aes256-sha1\n",
        with: "    ike_version: 2\n    ike: aes256gcm16-prfsha256-ecp256\n    esp: aes256gcm16\n"
    ).replacingOccurrences(of: "kind: static", with: "kind: dynamic")

    /// The ISO 8601 time the scene gives an event at `uptime` seconds.
    static func time(_ uptime: Double) -> String {
        EventRecord.timestamp(.init(seconds: 1_796_000_000 + Int64(uptime), milliseconds: 0))
    }

    func testTheIKEv2VariantLoads() throws {
        let scene = try Scene(yaml: Self.ikev2)
        XCTAssertEqual(scene.config.connections.first?.ikeVersion, .v2)
        XCTAssertEqual(scene.config.connections.first?.ike.description, "aes256gcm16-prfsha256-ecp256")
    }

    // MARK: NAT with UDP 4500 blocked

    /// One IKEv2 attempt as the wire shows it behind a masquerade with UDP 4500 dropped: IKE_SA_INIT on 500
    /// answered (nat-detected), then `retransmits` retransmissions of IKE_AUTH to port 4500, and the give-up.
    static func natAttempt(_ scene: inout Scene, at start: Double, retransmits: Int, gaveUp: Bool) {
        scene.event("ike-sa-initiating", at: start, .info, "initiating IKE SA with 203.0.113.25:500")
        scene.event(
            "nat-detected", at: start + 0.1, .notice,
            "we are behind a NAT: IKE and ESP move to UDP 4500 (RFC 3948)", ["local": "true", "remote": "false"])
        let delays: [Double] = [2, 4, 8, 16, 32, 64]
        var time = start + 0.1
        for attempt in 0..<retransmits {
            time += delays[min(attempt, delays.count - 1)]
            scene.event(
                "retransmit", at: time, .notice,
                "retransmit \(attempt + 1) of ikeAuth (message ID 1) to 203.0.113.25:4500")
        }
        if gaveUp {
            scene.event(
                "peer-not-answering", at: start + 127, .error,
                "no answer to ikeAuth from 203.0.113.25:4500 after 6 retransmits")
        }
    }

    func testNATUDP4500BlockedHoldsAfterTheNextAttemptFindsTheNATAgain() throws {
        var scene = try Scene(yaml: Self.ikev2)
        scene.connection.ikeVersion = 2
        scene.connection.remoteAddress = "203.0.113.25"
        scene.ike(.authenticating)
        Self.natAttempt(&scene, at: 3000, retransmits: 2, gaveUp: false)
        XCTAssertNil(scene.finding(.natUDP4500Blocked), "two retransmits are not yet a verdict")
        XCTAssertEqual(scene.diagnose().summary, "connecting: negotiation in progress, nothing wrong seen yet")

        // The third unanswered retransmission on 4500 (about 7 s after the NAT was seen) decides it.
        scene = try Scene(yaml: Self.ikev2)
        scene.ike(.authenticating)
        Self.natAttempt(&scene, at: 3000, retransmits: 3, gaveUp: false)
        var finding = try XCTUnwrap(scene.finding(.natUDP4500Blocked))
        XCTAssertNil(scene.finding(.peerUnreachable))

        // The whole first attempt, the restart, and the next attempt's nat-detected and retransmits.
        scene = try Scene(yaml: Self.ikev2)
        scene.ike(.authenticating)
        Self.natAttempt(&scene, at: 3000, retransmits: 6, gaveUp: true)
        for retransmits in [0, 1, 3, 6] {
            var next = scene
            Self.natAttempt(&next, at: 3140, retransmits: retransmits, gaveUp: retransmits == 6)
            finding = try XCTUnwrap(next.finding(.natUDP4500Blocked), "\(retransmits) retransmits in attempt 2")
            XCTAssertNil(next.finding(.peerUnreachable), "the peer answered on UDP 500")
            XCTAssertEqual(finding.evidence.first?.name, "nat-detected")
            XCTAssertEqual(finding.evidence.first?.time, Self.time(3000.1))
            XCTAssertTrue(
                finding.evidence.contains { $0.text.contains("no answer to ikeAuth from 203.0.113.25:4500") },
                "\(finding.evidence)")
            XCTAssertTrue(next.diagnose().summary.hasPrefix("connecting: a NAT is in the path"))
            XCTAssertFalse(
                next.diagnose().findings.contains { $0.explanation.contains("nothing from the peer was ever recorded") }
            )
        }
        var both = scene
        Self.natAttempt(&both, at: 3140, retransmits: 6, gaveUp: true)
        finding = try XCTUnwrap(both.finding(.natUDP4500Blocked))
        XCTAssertEqual(finding.details["attempts"], "2")
        XCTAssertEqual(finding.details["retransmits"], "12")
        XCTAssertTrue(finding.explanation.contains("each of the 2 attempts"), finding.explanation)

        // Near miss: the next attempt is answered on 4500 and comes up.
        var recovered = scene
        Self.natAttempt(&recovered, at: 3140, retransmits: 1, gaveUp: false)
        recovered.event("ike-sa-established", at: 3145)
        recovered.ike(.established, children: 1)
        XCTAssertNil(recovered.finding(.natUDP4500Blocked))
        XCTAssertNil(recovered.finding(.peerUnreachable))
    }

    /// Without a NAT, the same unanswered requests on UDP 500 are still peer-unreachable.
    func testUnansweredWithoutANATIsStillPeerUnreachable() throws {
        var scene = try Scene(yaml: Self.ikev2)
        scene.event("ike-sa-initiating", at: 3000)
        for attempt in 1...6 {
            scene.event(
                "retransmit", at: 3000 + Double(attempt * 10), .notice,
                "retransmit \(attempt) of ikeSAInit (message ID 0) to 203.0.113.25:500")
        }
        scene.event("peer-not-answering", at: 3127, .error, "no answer to IKE_SA_INIT from 203.0.113.25:500")
        XCTAssertNotNil(scene.finding(.peerUnreachable))
        XCTAssertNil(scene.finding(.natUDP4500Blocked))
    }
}

extension DiagnoserWireTests {
    // MARK: Proposal mismatch

    /// The wire: strongSwan offers only aes128-sha1-modp2048 (esp aes128-sha1), we have
    /// aes256gcm16-prfsha256-ecp256. Both directions happen: strongSwan's initiation (our responder refuses
    /// and records its offer) and ours (strongSwan answers NO_PROPOSAL_CHOSEN, which names nothing).
    func testProposalMismatchKeepsThePeersOfferFromItsOwnInitiation() throws {
        var scene = try Scene(yaml: Self.ikev2)
        scene.connection.ikeVersion = 2
        let responder =
            "no common IKE proposal: no acceptable IKE proposal: peer offered aes128-sha1-prfsha1-modp2048; we "
            + "accept aes256gcm16-prfsha256-ecp256"
        let refused =
            "peer answered IKE_SA_INIT with NO_PROPOSAL_CHOSEN: it accepts none of aes256gcm16-prfsha256-ecp256; "
            + "ask for the peer's proposals and add one to 'ike'/'esp'"
        scene.event(
            "proposal-mismatch", at: 3900, .error, responder,
            [
                "peer": "aes128-sha1-prfsha1-modp2048", "ours": "aes256gcm16-prfsha256-ecp256", "phase": "1",
                "rejected_by": "us",
            ])
        scene.event(
            "proposal-mismatch", at: 3950, .error, refused,
            ["ours": "aes256gcm16-prfsha256-ecp256", "phase": "1", "rejected_by": "peer"])
        try assertBothOffers(scene, newest: 3950, offerAt: 3900)

        // The same from a build whose responder event had no details (the wire's text log): the message has both.
        var bare = try Scene(yaml: Self.ikev2)
        bare.event("proposal-mismatch", at: 3900, .error, responder)
        bare.event("proposal-mismatch", at: 3950, .error, refused, ["phase": "1", "rejected_by": "peer"])
        try assertBothOffers(bare, newest: 3950, offerAt: 3900)

        // The responder event the newest: the same finding.
        var reversed = try Scene(yaml: Self.ikev2)
        reversed.event("proposal-mismatch", at: 3900, .error, refused, ["phase": "1", "rejected_by": "peer"])
        reversed.event("proposal-mismatch", at: 3950, .error, responder)
        let finding = try XCTUnwrap(reversed.finding(.proposalMismatch))
        XCTAssertEqual(finding.details["peer"], "aes128-sha1-prfsha1-modp2048")
        XCTAssertTrue(finding.explanation.contains("it offered aes128-sha1-prfsha1-modp2048"), finding.explanation)
        XCTAssertEqual(
            finding.fixes.first { $0.side == .local }?.yaml, "ike: [aes256gcm16-prfsha256-ecp256, aes128-sha1-modp2048]"
        )

        // Near miss: only the peer's refusal: we cannot know its offer, and say so.
        var unknown = try Scene(yaml: Self.ikev2)
        unknown.event("proposal-mismatch", at: 3950, .error, refused, ["phase": "1", "rejected_by": "peer"])
        let blind = try XCTUnwrap(unknown.finding(.proposalMismatch))
        XCTAssertNil(blind.details["peer"])
        XCTAssertTrue(blind.explanation.contains("does not say what it would accept"), blind.explanation)
        XCTAssertTrue(blind.fixes.contains { $0.side == .local && $0.text.contains("Ask for the peer's") })
    }

    func assertBothOffers(_ scene: Scene, newest: Double, offerAt: Double) throws {
        let finding = try XCTUnwrap(scene.finding(.proposalMismatch))
        XCTAssertEqual(finding.details["peer"], "aes128-sha1-prfsha1-modp2048")
        XCTAssertEqual(finding.details["ours"], "aes256gcm16-prfsha256-ecp256")
        XCTAssertEqual(finding.details["rejected_by"], "peer")
        XCTAssertEqual(finding.details["closest_peer"], "aes128-sha1-prfsha1-modp2048")
        XCTAssertEqual(finding.details["closest_ours"], "aes256gcm16-prfsha256-ecp256")
        XCTAssertTrue(
            finding.summary.contains(
                "the peer offers aes128-sha1-prfsha1-modp2048, we accept aes256gcm16-prfsha256-ecp256"),
            finding.summary)
        XCTAssertTrue(
            finding.explanation.contains("When it initiated at \(Self.time(offerAt)), it offered aes128-sha1"),
            finding.explanation)
        XCTAssertTrue(finding.explanation.contains("The closest pair is"), finding.explanation)
        XCTAssertFalse(finding.explanation.contains("does not say"), finding.explanation)
        let local = try XCTUnwrap(finding.fixes.first { $0.side == .local })
        XCTAssertEqual(local.yaml, "ike: [aes256gcm16-prfsha256-ecp256, aes128-sha1-modp2048]")
        XCTAssertTrue(local.text.contains(scene.line("connections[0].ike")), local.text)
        XCTAssertTrue(
            finding.fixes.contains {
                $0.device == "strongswan"
                    && $0.text == "In swanctl.conf, connections.cloud-office: proposals = aes256gcm16-prfsha256-ecp256"
            })
        XCTAssertEqual(finding.evidence.map(\.time).prefix(2), [Self.time(newest), Self.time(offerAt)])
    }
}
