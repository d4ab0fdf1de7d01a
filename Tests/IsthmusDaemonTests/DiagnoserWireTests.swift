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
            // The next attempt's IKE_SA_INIT may first be answered with INVALID_KE (on UDP 500).
            next.event("invalid-ke", at: 3139, .notice, "peer asked for another DH group: retrying with ecp256")
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

extension DiagnoserWireTests {
    // MARK: Data path and MTU

    /// The wire: `isthmus run --tun ist-dp0`, then `ip link del ist-dp0`; the gateway records one
    /// data-path-failed with connection "" and every connection's status shows the device's error.
    func testASharedTunDeviceFailureIsCitedWithItsTimeForEveryConnection() throws {
        var scene = try Scene()
        scene.ike(.established, children: 1)
        let error =
            "TUN device ist-dp0 (--tun) disappeared or failed; the gateway does not create a device it was given: "
            + "create it again with its address and routes, then restart the gateway"
        scene.connection.dataPath = ConnectionDataPath(
            interface: "ist-dp0", mtu: 1400, routes: [], state: "error", error: error)
        scene.event(
            "data-path-failed", at: 3900, .error, "no traffic can cross: \(error)",
            ["interface": "ist-dp0", "mtu": "1400", "routes": ""], connection: "")
        var diagnoser = scene.diagnoser
        diagnoser.events = ["cloud-office": [], "": scene.events]
        let finding = try XCTUnwrap(diagnoser.diagnose("cloud-office")[0].findings.first { $0.cause == .dataPathDown })
        let cited = try XCTUnwrap(finding.evidence.first { $0.source == .event })
        XCTAssertEqual(cited.name, "data-path-failed")
        XCTAssertEqual(cited.time, Self.time(3900))
        XCTAssertTrue(cited.text.contains("TUN device ist-dp0 (--tun) disappeared"), cited.text)
        XCTAssertTrue(finding.evidence.contains { $0.name == "dataPath.state" })

        // Without the status error (a daemon whose status lacks it), the event alone is the cause.
        var eventOnly = diagnoser
        eventOnly.status.connections?[0].dataPath = nil
        XCTAssertEqual(eventOnly.diagnose("cloud-office")[0].findings.first?.summary, "no traffic can cross: \(error)")

        // Near misses: the device came back (data-path-ready after it), or the failure is another device's.
        var back = diagnoser
        back.status.connections?[0].dataPath?.state = "up"
        back.status.connections?[0].dataPath?.error = nil
        var ready = scene
        ready.event(
            "data-path-ready", at: 3950, .info, "interface ist-dp0 up", ["interface": "ist-dp0"], connection: "")
        back.events = ["cloud-office": [], "": ready.events]
        XCTAssertNil(back.diagnose("cloud-office")[0].findings.first { $0.cause == .dataPathDown })
        var other = back
        other.events = ["cloud-office": [], "": scene.events]
        other.status.connections?[0].dataPath?.interface = "ist-cloud"
        XCTAssertNil(other.diagnose("cloud-office")[0].findings.first { $0.cause == .dataPathDown })
    }

    func testTheMTUFixCarriesTheCommand() throws {
        var scene = try Scene()
        scene.ike(.established, children: 1)
        var plane = DataplaneCounters()
        plane.icmpTooBigSent = 3
        scene.status.dataplane = plane
        let finding = try XCTUnwrap(scene.finding(.mtu))
        let fix = try XCTUnwrap(finding.fixes.first { $0.command != nil })
        XCTAssertEqual(fix.side, .local)
        XCTAssertEqual(fix.command, "isthmus run cloud.yaml --path-mtu N")
        XCTAssertTrue(fix.text.contains("in place of N"), fix.text)
    }
}

extension DiagnoserWireTests {
    // MARK: The seed's lifetimes on the wire

    /// The wire (test_flapping_ikev1_lifetimes): strongSwan 5.9.8 as IKEv1 initiator with phase 2 life_time
    /// 28800 s against our static responder's 120 s. Its Quick Mode at 22:25:16 gets our RESPONDER-LIFETIME;
    /// it ignores it, never rekeys, and accepts our own Quick Modes every ~105 s and our Deletes of the old
    /// SAs: 1 ISAKMP SA, 4 phase 2 SAs in 381 s, no loss.
    static func seedOnTheWire(rekeys: Int, now: Double) throws -> Scene {
        var scene = try Scene()
        scene.now = now
        var plane = DataplaneCounters()
        plane.drops["unknown-spi"] = 0
        scene.status.dataplane = plane
        scene.ike(.established, children: 1)
        let start: Double = 3619
        scene.event("ike-sa-established", at: start - 1, .info, "ISAKMP SA established with 198.51.100.10:500")
        scene.setups.note(kind: "ike-sa-established", details: [:], at: start - 1)
        scene.event(
            "lifetime-chosen", at: start - 1, .info,
            "phase 1 (ISAKMP SA) lifetime: ours 28800s, peer's 28800s, using 28800s because of both agree",
            ["ours": "28800s", "peer": "28800s", "used": "28800s", "reason": "both agree"])
        scene.event(
            "child-sa-installed", at: start, .info,
            "IPsec SA installed: 10.0.1.0/24 <=> 192.168.1.0/24 with aes256-sha1",
            ["inbound_spi": "0xc0000001"])
        scene.setups.note(kind: "child-sa-installed", details: ["inbound_spi": "0xc0000001"], at: start)
        scene.event(
            "lifetime-chosen", at: start, .info,
            "phase 2 (0xc0000001) lifetime: ours 120s/102400000KB, peer's 28800s, using 120s/102400000KB because "
                + "of our policy (RESPONDER-LIFETIME sent)",
            [
                "ours": "120s/102400000KB", "peer": "28800s", "used": "120s/102400000KB",
                "reason": "our policy (RESPONDER-LIFETIME sent)",
            ])
        let times: [Double] = [start + 104, start + 210, start + 314, start + 419, start + 524, start + 629]
        for (index, time) in times.prefix(rekeys).enumerated() {
            let spi = String(format: "0xc00000%02x", index + 2)
            scene.event(
                "child-sa-rekeyed", at: time, .info, "IPsec SA \(spi) replaces 0xc0000001_i for 10.0.1.0/24",
                ["inbound_spi": spi])
            scene.setups.note(kind: "child-sa-rekeyed", details: ["inbound_spi": spi], at: time)
            scene.event(
                "lifetime-chosen", at: time, .info,
                "phase 2 (\(spi)) lifetime: ours 120s/102400000KB, using 120s/102400000KB because of our proposal",
                ["ours": "120s/102400000KB", "peer": "", "used": "120s/102400000KB", "reason": "our proposal"])
            scene.event(
                "child-sa-deleted", at: time + 5, .info,
                "IPsec SA 0xc0000001_i 0xcafe_o for 10.0.1.0/24 <=> 192.168.1.0/24 deleted: replaced by a rekey")
        }
        return scene
    }

    func testTheSeedsCaseOnTheWireIsALifetimeMismatchThatExplainsWhatHappens() throws {
        let scene = try Self.seedOnTheWire(rekeys: 3, now: 3619 + 381)
        let diagnosis = scene.diagnose()
        XCTAssertFalse(diagnosis.healthy, "the wire's healthy verdict hid the seed's case")
        XCTAssertNil(scene.finding(.flapping), "nothing restarted: 1 ISAKMP SA, no loss")
        let finding = try XCTUnwrap(scene.finding(.lifetimeMismatch))
        XCTAssertEqual(finding.severity, .warning)
        XCTAssertEqual(finding.details["phase2_ours"], "120s")
        XCTAssertEqual(finding.details["phase2_peer"], "28800s")
        XCTAssertEqual(finding.details["phase2_sas"], "4")
        XCTAssertEqual(finding.details["child_sas"], "4")
        XCTAssertEqual(finding.details["phase2_rekeyed_by_us"], "3")
        XCTAssertEqual(finding.details["phase2_negotiated_by_peer"], "1")
        XCTAssertEqual(finding.details["rekey_interval"], "105s")
        XCTAssertEqual(
            finding.summary,
            "phase 2 lifetimes far apart: ours 120 s, the peer's 28800 s; we rekey every ~105 s and the peer never "
                + "does (the tunnel holds while it accepts our rekeys)")
        XCTAssertTrue(diagnosis.summary.hasPrefix("up: phase 2 lifetimes far apart"), diagnosis.summary)
        let explanation = finding.explanation
        for words in [
            "ours 120 s, the peer proposes 28800 s (\(Self.time(3619)))",
            "We answered with RESPONDER-LIFETIME 120 s.",
            "The peer never rekeyed: of the 4 phase 2 SAs in the last 6 minutes, the peer negotiated the first and "
                + "we rekeyed 3 (one every ~105 s), so it keeps its own 28800 s",
            "The tunnel holds (1 IKE SA negotiated in the last hour, no SA ended early, 0 ESP packets on unknown "
                + "SPIs (gateway)) because we rekey and delete the old SA and the peer accepts both",
            "\"Ignore RESPONDER-LIFETIME notification\"", "the tunnel restarts", "Nothing has restarted.",
        ] {
            XCTAssertTrue(explanation.contains(words), "\(words) not in: \(explanation)")
        }
        // Evidence with times: the peer's proposal, the SA counts, our newest rekey.
        XCTAssertEqual(finding.evidence.first?.name, "lifetime-chosen")
        XCTAssertEqual(finding.evidence.first?.time, Self.time(3619))
        XCTAssertTrue(
            finding.evidence.contains {
                $0.source == .counter && $0.text == "4: 1 negotiated by the peer, 3 rekeyed by us"
            }, "\(finding.evidence)")
        XCTAssertEqual(finding.evidence.last?.time, Self.time(3619 + 314))
        // Fixes on both sides.
        let local = try XCTUnwrap(finding.fixes.first { $0.side == .local })
        XCTAssertEqual(local.yaml, "lifetime: {ike: 8h, esp: 28800s, esp_size: 102400000KB}")
        XCTAssertTrue(local.text.contains(scene.line("connections[0].lifetime")), local.text)
        let peer = Dictionary(grouping: finding.fixes.filter { $0.side == .peer }, by: { $0.device ?? "" })
        XCTAssertEqual(
            peer["strongswan"]?.first?.text,
            "In swanctl.conf, connections.cloud-office.children.cloud-office: life_time = 120s (and rekey_time = 108s)")
        XCTAssertEqual(peer["libreswan"]?.first?.text, "In ipsec.conf, conn cloud-office: salifetime=120s")
        XCTAssertEqual(
            peer["generic"]?.first?.text,
            "On the router's IPsec (phase 2) policy, set the IPsec SA lifetime to 120 seconds.")
    }

    /// Six of our rekeys (~9 minutes): still the lifetimes, not flapping, and never "continually restarts".
    func testRegularRekeysAtOurLifetimeAreNotFlapping() throws {
        let scene = try Self.seedOnTheWire(rekeys: 6, now: 3619 + 640)
        XCTAssertNil(scene.finding(.flapping))
        XCTAssertFalse(scene.diagnose().findings.contains { $0.explanation.contains("continually restarts") })
        let finding = try XCTUnwrap(scene.finding(.lifetimeMismatch))
        XCTAssertEqual(finding.details["phase2_sas"], "7")
        XCTAssertTrue(finding.explanation.contains("in the last 11 minutes"), finding.explanation)
    }

    /// The same wire when the peer refuses our rekeys: each SA ends unrekeyed and the peer negotiates anew.
    /// That is flapping, with the RESPONDER-LIFETIME explanation.
    func testTheSameLifetimesWithARouterThatRefusesOurRekeysFlap() throws {
        var scene = try Self.seedOnTheWire(rekeys: 0, now: 3619 + 381)
        for cycle in 1...3 {
            let time = 3619 + Double(cycle) * 120
            scene.event(
                "child-sa-deleted", at: time, .info,
                "IPsec SA 0xc1_i 0xc2_o for 10.0.1.0/24 <=> 192.168.1.0/24 deleted: lifetime 120s expired before a "
                    + "rekey succeeded")
            scene.event(
                "child-sa-installed", at: time + 2, .info, "IPsec SA installed", ["inbound_spi": "0xd\(cycle)"])
            scene.setups.note(kind: "child-sa-installed", details: ["inbound_spi": "0xd\(cycle)"], at: time + 2)
            scene.event(
                "lifetime-chosen", at: time + 2, .info, "phase 2 lifetime",
                [
                    "ours": "120s/102400000KB", "peer": "28800s", "used": "120s/102400000KB",
                    "reason": "our policy (RESPONDER-LIFETIME sent)",
                ])
        }
        let finding = try XCTUnwrap(scene.finding(.flapping))
        XCTAssertEqual(finding.details["restarts"], "3")
        XCTAssertTrue(finding.explanation.contains("continually restarts"), finding.explanation)
        XCTAssertTrue(finding.summary.hasPrefix("the tunnel keeps restarting: 3 SAs ended early (3 hard expiries)"))
        XCTAssertNil(scene.finding(.lifetimeMismatch))
    }
}
