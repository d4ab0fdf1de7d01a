import Foundation
import IsthmusDataplane
import IsthmusEvents
import IsthmusGateway
import IsthmusIKEv2
import XCTest

@testable import IsthmusDaemon

/// `isthmus diagnose`'s engine from made-up inputs: each cause found from its evidence, and not found from
/// a near miss (the same failure followed by success, too few events, a counter at zero).
final class DiagnoserTests: XCTestCase {
    /// The seed's cloud side, policy-based IKEv1, with a 120 s ESP lifetime (the seed's value) and an ACL.
    static let cloud = """
        gateway: {name: cloud, kind: static, public_address: 203.0.113.20}
        virtual_network:
          name: vnet
          address_spaces: [10.0.1.0/24, 10.0.2.0/24]
          subnets:
            - {name: vms, prefix: 10.0.1.0/24}
            - {name: GatewaySubnet, prefix: 10.0.2.0/24}
          gateway_subnet: GatewaySubnet
        local_networks:
          - name: office
            gateway_address: 198.51.100.10
            prefixes: [192.168.1.0/24]
        connections:
          - name: cloud-office
            local_network: office
            shared_key: isthmus-demo-key-change-me-0123456789
            ike: aes256-sha1-modp1024
            esp: aes256-sha1
            lifetime: {ike: 28800s, esp: 120s, esp_size: 102400000KB}
        endpoints:
          - name: vm-ssh
            address: 10.0.1.4
            protocol: tcp
            port: 22
            rules:
              - {action: permit, remote: 192.168.1.10/32}

        """

    /// Builds one connection's inputs; event times are seconds of uptime, `now` 4000 s.
    struct Scene {
        var config: GatewayConfig
        var positions: [String: SourceLocation]
        var events: [EventRecord] = []
        var status = ControlResponse(ok: true)
        var setups = SASetupLog()
        var now: Double = 4000
        var sequence: UInt64 = 0

        /// The seed's cloud side, or `yaml` (a variant of it, with the same connection name).
        init(yaml: String = DiagnoserTests.cloud) throws {
            let result = ConfigLoader.load(
                bytes: Array(yaml.utf8), file: "cloud.yaml", baseDirectory: "/nonexistent")
            config = try XCTUnwrap(result.config, "\(result.errors)")
            positions = result.positions
            connection = ConnectionStatus(
                name: "cloud-office", kind: "static", ikeVersion: 1, remoteAddress: "198.51.100.10", ikeSAs: [])
        }

        var connection: ConnectionStatus

        mutating func event(
            _ kind: String, at time: Double, _ severity: GatewayEvent.Severity = .info, _ message: String = "",
            _ details: [String: String] = [:], connection: String = "cloud-office"
        ) {
            sequence += 1
            let event = GatewayEvent(
                time: .seconds(time), connection: connection, kind: GatewayEvent.Kind(rawValue: kind),
                severity: severity, message: message.isEmpty ? kind : message, details: details)
            let wall = EventRecord.WallTime(seconds: 1_796_000_000 + Int64(time), milliseconds: 0)
            events.append(EventRecord(event, time: EventRecord.timestamp(wall), sequence: sequence))
        }

        /// An established IKE SA with `children` CHILD SAs (nil: no IKE SA; a state: that state, no CHILD SA).
        mutating func ike(_ state: IKESAState?, children: Int = 0) {
            guard let state else {
                connection.ikeSAs = []
                return
            }
            let child = IKESAStatus.ChildSA(
                inboundSPI: "0xc1", outboundSPI: "0xc2", localSelectors: ["10.0.1.0/24"],
                remoteSelectors: ["192.168.1.0/24"], algorithms: "aes256-sha1", state: "installed", rekeyInSeconds: 90)
            connection.ikeSAs = [
                IKESAStatus(
                    connection: "cloud-office", ikeVersion: 1, state: state, role: "responder", localSPI: "a",
                    remoteSPI: "b", local: "203.0.113.20:500", remote: "198.51.100.10:500",
                    algorithms: "aes256-sha1-modp1024", natLocal: false, natRemote: false, establishedSecondsAgo: 10,
                    rekeyInSeconds: 100, childSAs: Array(repeating: child, count: children))
            ]
        }

        var diagnoser: Diagnoser {
            var status = self.status
            status.gateway = "cloud"
            status.connections = [connection]
            return Diagnoser(
                config: config, configFile: "cloud.yaml", positions: positions, status: status,
                events: ["cloud-office": events], setups: ["cloud-office": setups], now: now)
        }

        func diagnose() -> ConnectionDiagnosis {
            diagnoser.diagnose("cloud-office")[0]
        }

        func finding(_ cause: DiagnosisFinding.Cause) -> DiagnosisFinding? {
            diagnose().findings.first { $0.cause == cause }
        }

        /// The line a configuration path is on, as `cloud.yaml:N`.
        func line(_ path: String) -> String { "cloud.yaml:\(positions[path]?.line ?? -1)" }
    }

    // MARK: Healthy and robust

    func testAHealthyConnectionIsOneLineWithoutFindings() throws {
        var scene = try Scene()
        scene.ike(.established, children: 1)
        scene.event("ike-sa-established", at: 3900)
        scene.event("child-sa-installed", at: 3901, .info, "", ["inbound_spi": "0xc1"])
        var plane = DataplaneCounters()
        plane.connections["cloud-office"] = .init(packetsIn: 12, bytesIn: 1000, packetsOut: 11, bytesOut: 900)
        scene.status.dataplane = plane
        let verdict = scene.diagnose()
        XCTAssertTrue(verdict.healthy)
        XCTAssertEqual(verdict.state, "up")
        XCTAssertEqual(verdict.findings, [])
        XCTAssertEqual(
            verdict.summary,
            "up: 1 IKE SA (aes256-sha1-modp1024), 1 CHILD SA (aes256-sha1), traffic in 12 / out 11 packets")
        XCTAssertFalse(verdict.summary.contains("\n"))
    }

    func testAConnectionThePeerClosedSaysSo() throws {
        var scene = try Scene()
        scene.event("ike-sa-established", at: 3900)
        scene.event("ike-sa-deleted", at: 3950, .notice, "peer deleted the ISAKMP SA; the connection is down")
        XCTAssertEqual(
            scene.diagnose().summary,
            "down: the peer deleted the IKE SA at \(scene.events[1].time) and has not negotiated a new one")
        // IKEv2's wording names the peer's address; a replaced SA's Delete is not a close.
        var v2 = try Scene()
        v2.event("ike-sa-deleted", at: 3950, .notice, "peer 198.51.100.10:500 deleted the IKE SA")
        XCTAssertTrue(v2.diagnose().summary.hasPrefix("down: the peer deleted the IKE SA at "), v2.diagnose().summary)
        var replaced = try Scene()
        replaced.event("ike-sa-deleted", at: 3950, .info, "peer deleted the replaced ISAKMP SA")
        XCTAssertEqual(replaced.diagnose().summary, "down: no IKE SA and no failure recorded")
        // Closed, then negotiated again and closed by us: not the peer's doing.
        scene.event("ike-sa-established", at: 3960)
        scene.event("ike-sa-deleted", at: 3970, .info, "ISAKMP SA and 1 IPsec SA(s) deleted on request")
        XCTAssertEqual(scene.diagnose().summary, "down: no IKE SA and no failure recorded")
    }

    func testElapsedTimeIsInSecondsUnderTwoMinutes() {
        XCTAssertEqual(Diagnoser.elapsed(0.4), "0 seconds")
        XCTAssertEqual(Diagnoser.elapsed(1), "1 second")
        XCTAssertEqual(Diagnoser.elapsed(119.9), "119 seconds")
        XCTAssertEqual(Diagnoser.elapsed(381), "6 minutes")
    }

    func testNoHistoryStraysAndNoDataPlaneDoNotTrap() throws {
        var scene = try Scene()
        // No history, no data plane, no IKE SA.
        let quiet = scene.diagnose()
        XCTAssertFalse(quiet.healthy)
        XCTAssertEqual(quiet.state, "down")
        XCTAssertEqual(quiet.findings, [])
        XCTAssertEqual(quiet.summary, "down: no IKE SA and no failure recorded")
        var passive = scene.diagnoser
        passive.passive = true
        XCTAssertTrue(passive.diagnose("cloud-office")[0].summary.hasPrefix("down: waiting for the peer to initiate"))
        // A session of a connection the configuration does not have, with events of its own.
        var diagnoser = scene.diagnoser
        scene.event("peer-not-answering", at: 3990, .error, "no answer", connection: "old-branch")
        diagnoser.status.connections?.append(
            ConnectionStatus(name: "old-branch", kind: "unknown", ikeVersion: 0, remoteAddress: nil, ikeSAs: []))
        diagnoser.events["old-branch"] = scene.events
        let all = diagnoser.diagnose()
        XCTAssertEqual(all.map(\.connection), ["cloud-office", "old-branch"])
        XCTAssertEqual(all[1].findings.map(\.cause), [.peerUnreachable])
        XCTAssertEqual(diagnoser.diagnose("nobody"), [])
        // Taken down by the operator.
        diagnoser.takenDown = ["cloud-office"]
        XCTAssertEqual(
            diagnoser.diagnose("cloud-office")[0].summary, "down: taken down with `isthmus down cloud-office`")
    }

    // MARK: Proposal mismatch

    func testProposalMismatchNamesBothOffersAndTheClosestPair() throws {
        var scene = try Scene()
        scene.event(
            "proposal-mismatch", at: 3950, .error, "phase 1 (Main Mode) proposal mismatch",
            [
                "peer": "aes128-sha1-modp1024, 3des-md5-modp768", "ours": "aes256-sha1-modp1024", "phase": "1",
                "rejected_by": "us",
            ])
        let finding = try XCTUnwrap(scene.finding(.proposalMismatch))
        XCTAssertEqual(finding.severity, .error)
        XCTAssertEqual(finding.details["peer"], "aes128-sha1-modp1024, 3des-md5-modp768")
        XCTAssertEqual(finding.details["ours"], "aes256-sha1-modp1024")
        XCTAssertEqual(finding.details["closest_peer"], "aes128-sha1-modp1024")
        XCTAssertEqual(finding.details["differs_in"], "aes128 (peer) vs aes256 (ours)")
        let local = try XCTUnwrap(finding.fixes.first { $0.side == .local })
        XCTAssertEqual(local.yaml, "ike: [aes256-sha1-modp1024, aes128-sha1-modp1024]")
        XCTAssertTrue(local.text.contains(scene.line("connections[0].ike")), local.text)
        let strongswan = try XCTUnwrap(finding.fixes.first { $0.device == "strongswan" })
        XCTAssertEqual(strongswan.text, "In swanctl.conf, connections.cloud-office: proposals = aes256-sha1-modp1024")
        XCTAssertEqual(
            finding.evidence.first?.time, EventRecord.timestamp(.init(seconds: 1_796_003_950, milliseconds: 0)))
        XCTAssertTrue(scene.diagnose().summary.hasPrefix("down: no common IKE (phase 1) proposal"))
    }

    func testAPeerThatRefusesAllOfOurPhase2ProposalsAndALaterSuccess() throws {
        var scene = try Scene()
        scene.event(
            "proposal-mismatch", at: 3950, .error, "peer sent NO-PROPOSAL-CHOSEN for our Quick Mode",
            ["ours": "aes256-sha1", "phase": "2", "rejected_by": "peer"])
        let finding = try XCTUnwrap(scene.finding(.proposalMismatch))
        XCTAssertEqual(finding.details["rejected_by"], "peer")
        XCTAssertTrue(finding.summary.contains("the peer accepts none of ours (aes256-sha1)"), finding.summary)
        XCTAssertTrue(finding.fixes.contains { $0.text.contains("esp_proposals = aes256-sha1") })
        // Near miss: the same refusal, then a CHILD SA: history, not a cause.
        scene.event("child-sa-installed", at: 3960, .info, "", ["inbound_spi": "0x1"])
        XCTAssertNil(scene.finding(.proposalMismatch))
    }

    func testAnOldMismatchIsNotACause() throws {
        var scene = try Scene()
        scene.event("proposal-mismatch", at: 100, .error, "no common IKE proposal", ["phase": "1"])
        XCTAssertNil(scene.finding(.proposalMismatch), "more than an hour ago")
    }

    // MARK: Authentication

    func testAuthenticationFailureSaysWhichSideRejected() throws {
        var scene = try Scene()
        scene.event(
            "authentication-failed", at: 3950, .error, "peer refused Main Mode message 5 with INVALID-HASH-INFORMATION",
            ["rejected_by": "peer"])
        let byPeer = try XCTUnwrap(scene.finding(.authenticationFailed))
        XCTAssertEqual(byPeer.details["rejected_by"], "peer")
        XCTAssertTrue(byPeer.summary.contains("the peer rejects our authentication"), byPeer.summary)
        XCTAssertTrue(byPeer.fixes.contains { $0.command == "isthmus reload" && $0.side == .local })
        XCTAssertTrue(byPeer.fixes.contains { $0.device == "libreswan" && $0.text.contains("PSK") })

        var ours = try Scene()
        // An IKEv2 event from before `rejected_by`: the message tells.
        ours.event(
            "authentication-failed", at: 3950, .error, "IKE_AUTH request from 198.51.100.10:500: AUTH does not verify")
        let byUs = try XCTUnwrap(ours.finding(.authenticationFailed))
        XCTAssertEqual(byUs.details["rejected_by"], "us")
        XCTAssertTrue(byUs.summary.hasPrefix("we reject"), byUs.summary)
    }

    func testAuthenticationFailureFollowedByAnEstablishedSAIsNotACause() throws {
        var scene = try Scene()
        scene.event("authentication-failed", at: 3900, .error, "AUTH does not verify", ["rejected_by": "us"])
        scene.event("ike-sa-established", at: 3950)
        scene.ike(.established, children: 1)
        XCTAssertNil(scene.finding(.authenticationFailed))
        XCTAssertTrue(scene.diagnose().healthy)
    }

    // MARK: Traffic selectors

    func testTrafficSelectorMismatchShowsBothSets() throws {
        var scene = try Scene()
        scene.event(
            "traffic-selector-mismatch", at: 3950, .error, "Quick Mode asks for 192.168.5.0/24 <=> 10.0.1.0/24",
            ["peer": "192.168.5.0/24 <=> 10.0.1.0/24", "rejected_by": "us"])
        let finding = try XCTUnwrap(scene.finding(.trafficSelectorMismatch))
        XCTAssertEqual(finding.details["ours_local"], "10.0.1.0/24", "the gateway subnet is not protected")
        XCTAssertEqual(finding.details["ours_remote"], "192.168.1.0/24")
        XCTAssertEqual(finding.details["peer"], "192.168.5.0/24 <=> 10.0.1.0/24")
        XCTAssertTrue(
            finding.fixes.contains {
                $0.text == "In swanctl.conf, connections.cloud-office.children.cloud-office: local_ts = 192.168.1.0/24 "
                    + "and remote_ts = 10.0.1.0/24"
            })
        XCTAssertTrue(finding.fixes.contains { $0.text.contains(scene.line("local_networks[0].prefixes")) })
        XCTAssertEqual(finding.severity, .error)
        scene.ike(.established, children: 1)
        XCTAssertEqual(scene.finding(.trafficSelectorMismatch)?.severity, .warning, "one pair refused, others up")
        scene.event("child-sa-installed", at: 3960, .info, "", ["inbound_spi": "0x1"])
        XCTAssertNil(scene.finding(.trafficSelectorMismatch))
    }

    func testARouteBasedConnectionProposesEverything() throws {
        var scene = try Scene()
        scene.config.connections[0].kind = .dynamic
        scene.config.connections[0].ikeVersion = .v2
        scene.event(
            "traffic-selector-mismatch", at: 3950, .error, "peer answered IKE_AUTH with TS_UNACCEPTABLE",
            ["rejected_by": "peer"])
        let finding = try XCTUnwrap(scene.finding(.trafficSelectorMismatch))
        XCTAssertEqual(finding.details["ours_local"], "0.0.0.0/0")
        XCTAssertTrue(finding.explanation.contains("route-based"), finding.explanation)
        XCTAssertEqual(finding.fixes.first?.yaml, "kind: static")
    }

    // MARK: Reachability

    func testPeerUnreachableAfterUnansweredRequests() throws {
        var scene = try Scene()
        scene.event("ike-sa-initiating", at: 3800)
        for attempt in 1...5 { scene.event("retransmit", at: 3800 + Double(attempt * 4), .notice) }
        scene.event(
            "peer-not-answering", at: 3900, .error, "no answer to Main Mode (connecting) from 198.51.100.10:500")
        let finding = try XCTUnwrap(scene.finding(.peerUnreachable))
        XCTAssertEqual(finding.details["retransmits"], "5")
        XCTAssertTrue(finding.explanation.contains("UDP 500 and 4500"), finding.explanation)
        XCTAssertTrue(finding.fixes.contains { $0.text.contains(scene.line("local_networks[0].gateway_address")) })
        XCTAssertNil(scene.finding(.natUDP4500Blocked))
    }

    func testANegotiationInProgressNeedsThreeRetransmitsAndAnAnswerEndsIt() throws {
        var scene = try Scene()
        scene.ike(.connecting)
        scene.event("ike-sa-initiating", at: 3980)
        scene.event("retransmit", at: 3981, .notice)
        scene.event("retransmit", at: 3983, .notice)
        XCTAssertNil(scene.finding(.peerUnreachable), "two retransmits are not yet a verdict")
        scene.event("retransmit", at: 3987, .notice)
        XCTAssertNotNil(scene.finding(.peerUnreachable))
        // The peer answered something (its proposals do not match): it is reachable.
        scene.event("proposal-mismatch", at: 3990, .error, "", ["phase": "1"])
        XCTAssertNil(scene.finding(.peerUnreachable))
    }

    /// IKEv1 with different keys, Isthmus initiating: the peer answers messages 2 and 4, then drops our
    /// message 5 (it cannot decrypt it) without a word.
    func testAnIKEv1PeerSilentAfterTheKeyExchangeHasADifferentKey() throws {
        var scene = try Scene()
        scene.event("ike-sa-initiating", at: 3800)
        scene.event("retransmit", at: 3802, .notice, "retransmit 1 of Main Mode (authenticating) to 198.51.100.10:500")
        scene.event(
            "peer-not-answering", at: 3900, .error,
            "no answer to Main Mode (authenticating) from 198.51.100.10:500 after 5 retransmits")
        let finding = try XCTUnwrap(scene.finding(.authenticationFailed))
        XCTAssertEqual(finding.details["silent"], "true")
        XCTAssertEqual(finding.details["rejected_by"], "peer")
        XCTAssertNil(scene.finding(.peerUnreachable), "the peer is reachable: it answered the key exchange")
        // Near miss: no answer to message 1 is unreachability, not a key.
        var early = try Scene()
        early.event(
            "peer-not-answering", at: 3900, .error, "no answer to Main Mode (connecting) from 198.51.100.10:500")
        XCTAssertNil(early.finding(.authenticationFailed))
        XCTAssertNotNil(early.finding(.peerUnreachable))
    }

    func testNATDetectedThenNoAnswerOnPort4500() throws {
        var scene = try Scene()
        scene.ike(.authenticating)
        scene.event("ike-sa-initiating", at: 3900)
        scene.event(
            "nat-detected", at: 3901, .notice, "we are behind a NAT: IKE moves to UDP 4500",
            ["local": "true", "remote": "false"])
        scene.event("peer-not-answering", at: 3960, .error, "no answer to Main Mode (authenticating)")
        let finding = try XCTUnwrap(scene.finding(.natUDP4500Blocked))
        XCTAssertEqual(finding.evidence.first?.name, "nat-detected")
        XCTAssertNil(scene.finding(.peerUnreachable), "the NAT finding says it better")
    }

    func testNATDetectedAndEstablishedIsFine() throws {
        var scene = try Scene()
        scene.event("nat-detected", at: 3901, .notice, "we are behind a NAT", ["local": "true"])
        scene.event("ike-sa-established", at: 3902)
        scene.ike(.established, children: 1)
        XCTAssertNil(scene.finding(.natUDP4500Blocked))
        XCTAssertTrue(scene.diagnose().healthy)
    }

    func testDPDTimeouts() throws {
        var scene = try Scene()
        scene.event("liveness-timeout", at: 3000, .error, "peer 198.51.100.10 did not answer R-U-THERE for 150s")
        scene.event("ike-sa-established", at: 3010)
        scene.ike(.established, children: 1)
        let recovered = try XCTUnwrap(scene.finding(.dpdTimeout))
        XCTAssertEqual(recovered.severity, .warning)
        XCTAssertEqual(recovered.details["recovered"], "true")
        XCTAssertTrue(recovered.fixes.contains { $0.device == "libreswan" && $0.text.contains("dpddelay") })
        // Near miss: the same timeout two hours ago.
        var old = try Scene()
        old.now = 9000
        old.event("liveness-timeout", at: 3000, .error, "peer did not answer")
        XCTAssertNil(old.finding(.dpdTimeout))
    }

    // MARK: Flapping and lifetimes

    /// The seed's case where it flaps: an IKEv1 router proposes 28800 s, we use our 120 s and say so with
    /// RESPONDER-LIFETIME, and the router ignores it and refuses our rekeys ("Ignore RESPONDER-LIFETIME
    /// notification"): each of our SAs expires unrekeyed and the router negotiates a new one.
    func testTheSeedsFlappingCase() throws {
        var scene = try Scene()
        scene.ike(.established, children: 1)
        for index in 0..<30 {
            let time = 400 + Double(index) * 120
            scene.setups.note(kind: "child-sa-installed", details: [:], at: time)
            scene.event(
                "lifetime-chosen", at: time, .info,
                "phase 2 (IPsec SA) lifetime: ours 120s/102400000KB, peer's 28800s, using 120s/102400000KB because of "
                    + "our policy (RESPONDER-LIFETIME sent)",
                [
                    "ours": "120s/102400000KB", "peer": "28800s", "used": "120s/102400000KB",
                    "reason": "our policy (RESPONDER-LIFETIME sent)",
                ])
            scene.event(
                "peer-not-answering", at: time + 115, .warning,
                "no answer to Quick Mode 7 for 10.0.1.0/24 <=> 192.168.1.0/24 after 5 retransmits")
            scene.event(
                "child-sa-deleted", at: time + 120, .info,
                "IPsec SA 0xc1_i 0xc2_o for 10.0.1.0/24 <=> 192.168.1.0/24 deleted: lifetime 120s expired before a "
                    + "rekey succeeded")
        }
        let finding = try XCTUnwrap(scene.finding(.flapping))
        XCTAssertEqual(finding.severity, .warning)
        XCTAssertEqual(finding.details["child_sas"], "30")
        XCTAssertEqual(finding.details["restarts"], "30")
        XCTAssertEqual(finding.details["peer_esp_lifetime"], "28800s")
        XCTAssertTrue(finding.explanation.contains("Ignore RESPONDER-LIFETIME notification"), finding.explanation)
        XCTAssertTrue(finding.explanation.contains("there would be 1 CHILD SA"), finding.explanation)
        XCTAssertTrue(finding.evidence.contains { $0.text.contains("expired before a rekey succeeded") })
        let local = try XCTUnwrap(finding.fixes.first { $0.side == .local })
        XCTAssertEqual(local.yaml, "lifetime: {ike: 8h, esp: 28800s, esp_size: 102400000KB}")
        XCTAssertTrue(local.text.contains(scene.line("connections[0].lifetime")), local.text)
        XCTAssertTrue(finding.fixes.contains { $0.device == "strongswan" && $0.text.contains("life_time = 120s") })
        XCTAssertNil(scene.finding(.lifetimeMismatch), "flapping says it")
        XCTAssertFalse(scene.diagnose().healthy)
        XCTAssertEqual(
            finding.summary,
            "the tunnel keeps restarting: 30 SAs ended early (30 hard expiries), 30 CHILD SAs set up in the last hour "
                + "with our 120 s ESP lifetime against the peer's 28800 s")
    }

    /// Rekeys at our own lifetime against a peer's much longer one are not flapping (the tunnel holds); two
    /// SAs that end early are not yet either, the third is.
    func testTheSeedsLifetimesWithoutRestartsAndWithThem() throws {
        var scene = try Scene()
        scene.now = 400
        scene.ike(.established, children: 1)
        for index in 0..<3 {
            let time = 10 + Double(index) * 105
            scene.setups.note(kind: "child-sa-installed", details: [:], at: time)
            scene.event(
                "lifetime-chosen", at: time, .info, "phase 2 (IPsec SA) lifetime",
                index == 0
                    ? [
                        "ours": "120s", "peer": "28800s", "used": "120s",
                        "reason": "our policy (RESPONDER-LIFETIME sent)",
                    ]
                    : ["ours": "120s", "peer": "", "used": "120s", "reason": "our proposal"])
        }
        XCTAssertNil(scene.finding(.flapping))
        XCTAssertNotNil(scene.finding(.lifetimeMismatch))
        for index in 0..<2 {
            scene.event(
                "child-sa-deleted", at: 330 + Double(index), .info,
                "IPsec SA 0x1_i 0x2_o for 10.0.1.0/24 <=> 192.168.1.0/24 deleted: deleted by the peer")
        }
        XCTAssertNil(scene.finding(.flapping), "two early ends")
        scene.event("liveness-timeout", at: 390, .error, "peer 198.51.100.10 stopped answering liveness checks")
        let finding = try XCTUnwrap(scene.finding(.flapping))
        XCTAssertEqual(finding.details["restarts"], "3")
        XCTAssertTrue(
            finding.summary.contains("3 SAs ended early (2 Deletes by the peer, 1 liveness timeout)"), finding.summary)
        XCTAssertTrue(finding.summary.contains("in the 6 minutes since start"), finding.summary)
        XCTAssertNil(scene.finding(.lifetimeMismatch))
    }

    /// The IKE SA rekeyed at our 240 s against a peer's 86400 s: far apart, not flapping.
    func testTheIKESAAgainstAMuchLongerPeerLifetime() throws {
        var scene = try Scene()
        scene.ike(.established, children: 1)
        scene.setups.note(kind: "ike-sa-established", details: [:], at: 3000)
        scene.setups.note(kind: "ike-sa-rekeyed", details: [:], at: 3200)
        scene.setups.note(kind: "ike-sa-rekeyed", details: [:], at: 3400)
        scene.event(
            "lifetime-chosen", at: 3400, .info, "phase 1 (ISAKMP SA) lifetime: ours 240s, peer's 86400s",
            ["ours": "240s", "peer": "86400s", "used": "240s", "reason": "our policy"])
        XCTAssertNil(scene.finding(.flapping))
        let finding = try XCTUnwrap(scene.finding(.lifetimeMismatch))
        XCTAssertEqual(finding.details["phase1_peer"], "86400s")
        XCTAssertTrue(finding.fixes.contains { $0.yaml == "lifetime: {ike: 86400s, esp: 2m, esp_size: 102400000KB}" })
        XCTAssertTrue(finding.fixes.contains { $0.device == "libreswan" && $0.text.contains("ikelifetime=240s") })
    }

    func testFlappingByRenegotiatedIKESAs() throws {
        var scene = try Scene()
        scene.ike(.established, children: 1)
        for index in 0..<5 {
            scene.setups.note(kind: "ike-sa-established", details: [:], at: 3000 + Double(index) * 150)
        }
        let finding = try XCTUnwrap(scene.finding(.flapping))
        XCTAssertEqual(finding.details["ike_sas_established"], "5")
    }

    func testSetupsAtTheirLifetimesPaceAreNotFlapping() throws {
        var scene = try Scene()
        scene.ike(.established, children: 1)
        // 36 CHILD SAs an hour with a 120 s lifetime, and a peer that agrees on 120 s: expected.
        for index in 0..<36 {
            scene.setups.note(kind: "child-sa-installed", details: [:], at: 400 + Double(index) * 100)
        }
        scene.setups.note(kind: "ike-sa-established", details: [:], at: 300)
        scene.event(
            "lifetime-chosen", at: 3900, .info, "phase 2 (IPsec SA) lifetime: ours 120s, peer's 120s",
            ["ours": "120s", "peer": "120s", "used": "120s", "reason": "both agree"])
        XCTAssertNil(scene.finding(.flapping))
        XCTAssertNil(scene.finding(.lifetimeMismatch))
        XCTAssertTrue(scene.diagnose().healthy)
    }

    func testLifetimesFarApartWithoutFlapping() throws {
        var scene = try Scene()
        scene.ike(.established, children: 1)
        scene.setups.note(kind: "child-sa-installed", details: [:], at: 3900)
        scene.event(
            "lifetime-chosen", at: 3900, .info, "phase 1 (ISAKMP SA) lifetime: ours 28800s, peer's 3600s",
            ["ours": "28800s", "peer": "3600s", "used": "3600s", "reason": "the initiator's proposal"])
        let finding = try XCTUnwrap(scene.finding(.lifetimeMismatch))
        XCTAssertEqual(finding.severity, .notice)
        XCTAssertEqual(finding.details["phase1_ours"], "28800s")
        XCTAssertEqual(finding.details["phase1_peer"], "3600s")
        // Near miss: a factor of 2 is a matter of taste.
        var near = try Scene()
        near.ike(.established, children: 1)
        near.event(
            "lifetime-chosen", at: 3900, .info, "phase 1 (ISAKMP SA) lifetime",
            ["ours": "28800s", "peer": "14400s", "used": "14400s", "reason": "the initiator's proposal"])
        XCTAssertNil(near.finding(.lifetimeMismatch))
    }

    func testSetupLogKeepsAnHourAndABound() {
        var log = SASetupLog()
        for step in 0..<10_000 { log.note(kind: "child-sa-installed", details: [:], at: Double(step) / 4) }
        XCTAssertEqual(log.childSetups.count, SASetupLog.maximumEntries)
        XCTAssertEqual(log.childSetups.last, 9999.0 / 4)
        var hour = SASetupLog()
        hour.note(kind: "ike-sa-established", details: [:], at: 10)
        hour.note(kind: "ike-sa-established", details: [:], at: 4000)
        XCTAssertEqual(hour.ikeEstablished, [4000], "older than an hour before the newest")
        hour.note(kind: "child-sa-rekeyed", details: [:], at: 4001)
        XCTAssertEqual(hour.childSetups, [], "an IKEv2 rekey start is not a new SA (its child-sa-installed is)")
        hour.note(kind: "child-sa-rekeyed", details: ["inbound_spi": "0x1"], at: 4002)
        XCTAssertEqual(hour.childSetups, [4002])
        XCTAssertEqual(SASetupLog.count([1, 2, 3, 4], since: 3), 2)
    }

    // MARK: Data plane, key, ACL, MTU

    func testDataPathDownAndADaemonWithoutDataPlane() throws {
        var scene = try Scene()
        scene.ike(.established, children: 1)
        XCTAssertNil(scene.finding(.dataPathDown), "no data plane: nothing to say")
        scene.connection.dataPath = ConnectionDataPath(
            interface: "ist-cloud", mtu: 1419, routes: ["192.168.1.0/24"], state: "up", error: nil)
        XCTAssertNil(scene.finding(.dataPathDown))
        scene.connection.dataPath?.state = "error"
        scene.connection.dataPath?.error = "the interface ist-cloud was deleted"
        let finding = try XCTUnwrap(scene.finding(.dataPathDown))
        XCTAssertTrue(finding.summary.contains("the interface ist-cloud was deleted"), finding.summary)
        XCTAssertTrue(scene.diagnose().summary.hasPrefix("up: no traffic can cross"))

        var stopped = try Scene()
        var plane = DataplaneCounters()
        plane.running = false
        plane.failure = "stalled for 10 s"
        stopped.status.dataplane = plane
        XCTAssertNotNil(stopped.finding(.dataPathDown))
    }

    func testKeyFileChangedSinceLoaded() throws {
        var scene = try Scene()
        scene.ike(.established, children: 1)
        scene.connection.sharedKey = "file:/etc/isthmus/office.key"
        scene.connection.keyChangedSinceStart = false
        XCTAssertNil(scene.finding(.keyFileChanged))
        scene.connection.keyChangedSinceStart = true
        let finding = try XCTUnwrap(scene.finding(.keyFileChanged))
        XCTAssertEqual(finding.fixes.map(\.command), ["isthmus reload"])
    }

    func testACLDenialsNameTheFlowAndTheRuleToAdd() throws {
        var scene = try Scene()
        scene.ike(.established, children: 1)
        XCTAssertNil(scene.finding(.aclDenied))
        for _ in 0..<3 {
            scene.event(
                "acl-denied", at: 3990, .notice, "endpoint vm-ssh denied tcp 192.168.1.77:40000 -> 10.0.1.4:22",
                [
                    "endpoint": "vm-ssh", "rule": "no-match", "source": "192.168.1.77", "destination": "10.0.1.4",
                    "protocol": "tcp", "source_port": "40000", "destination_port": "22", "suppressed": "1",
                ])
        }
        let finding = try XCTUnwrap(scene.finding(.aclDenied))
        XCTAssertEqual(finding.details["denied"], "6")
        XCTAssertEqual(finding.details["flows"], "tcp 192.168.1.77 -> 10.0.1.4:22 (endpoint vm-ssh, no rule matched)")
        let fix = try XCTUnwrap(finding.fixes.first)
        XCTAssertEqual(fix.yaml, "- {action: permit, remote: 192.168.1.77/32}")
        XCTAssertTrue(fix.text.contains(scene.line("endpoints[0].rules")), fix.text)
    }

    func testMTUTroubleFromTheCounters() throws {
        var scene = try Scene()
        scene.ike(.established, children: 1)
        var plane = DataplaneCounters()
        scene.status.dataplane = plane
        XCTAssertNil(scene.finding(.mtu))
        plane.icmpTooBigSent = 7
        plane.drops["oversized"] = 2
        scene.status.dataplane = plane
        let finding = try XCTUnwrap(scene.finding(.mtu))
        XCTAssertEqual(finding.severity, .warning)
        XCTAssertEqual(finding.details["icmp_too_big_sent"], "7")
    }

    // MARK: Contract

    func testCauseIdentifiersAreTheContracts() {
        XCTAssertEqual(
            DiagnosisFinding.Cause.allCases.map(\.rawValue).sorted(),
            [
                "acl-denied", "authentication-failed", "bgp-prefix-refused", "bgp-session-down", "data-path-down",
                "dpd-timeout", "flapping", "key-file-changed", "lifetime-mismatch", "mtu", "nat-udp4500-blocked",
                "peer-unreachable", "proposal-mismatch", "routing-daemon-down", "traffic-selector-mismatch",
            ])
    }

    func testJSONKeysAreStable() throws {
        let finding = DiagnosisFinding(
            cause: .keyFileChanged, severity: .warning, summary: "s", explanation: "e",
            evidence: [DiagnosisEvidence(source: .event, name: "k", time: "2026-01-01T00:00:00.000Z", text: "t")],
            fixes: [DiagnosisFix(side: .peer, text: "t", yaml: "y: 1", command: "c", device: "strongswan")],
            details: ["a": "b"])
        let report = DiagnosisReport(
            gateway: "cloud",
            connections: [
                ConnectionDiagnosis(connection: "c", state: "up", healthy: false, summary: "s", findings: [finding])
            ])
        let object = try XCTUnwrap(
            JSONSerialization.jsonObject(with: Data(ControlCodec.encode(report))) as? [String: Any])
        XCTAssertEqual(Set(object.keys), ["gateway", "connections"])
        let connection = try XCTUnwrap((object["connections"] as? [[String: Any]])?.first)
        XCTAssertEqual(Set(connection.keys), ["connection", "state", "healthy", "summary", "findings"])
        let found = try XCTUnwrap((connection["findings"] as? [[String: Any]])?.first)
        XCTAssertEqual(
            Set(found.keys), ["cause", "severity", "summary", "explanation", "evidence", "fixes", "details"])
        XCTAssertEqual(found["cause"] as? String, "key-file-changed")
        XCTAssertEqual(found["severity"] as? String, "warning")
        let evidence = try XCTUnwrap((found["evidence"] as? [[String: Any]])?.first)
        XCTAssertEqual(Set(evidence.keys), ["source", "name", "time", "text"])
        let fix = try XCTUnwrap((found["fixes"] as? [[String: Any]])?.first)
        XCTAssertEqual(Set(fix.keys), ["side", "text", "yaml", "command", "device"])
        XCTAssertEqual(fix["side"] as? String, "peer")
        // Round trip through the control response.
        var response = ControlResponse(ok: true)
        response.diagnoses = report.connections
        let decoded = ControlCodec.decode(ControlResponse.self, from: ControlCodec.encode(response))
        XCTAssertEqual(decoded?.diagnoses, report.connections)
    }

    func testNoKeyMaterialInAnyFinding() throws {
        var scene = try Scene()
        scene.event("authentication-failed", at: 3950, .error, "AUTH does not verify", ["rejected_by": "us"])
        scene.connection.keyChangedSinceStart = true
        let text = String(decoding: ControlCodec.encode(scene.diagnose()), as: UTF8.self)
        XCTAssertFalse(text.contains("isthmus-demo-key"), text)
    }

    // MARK: Rendering

    func testTheHumanFormIsOneLineWhenHealthyAndABlockOtherwise() throws {
        var healthy = try Scene()
        healthy.ike(.established, children: 1)
        var sick = try Scene()
        sick.event(
            "authentication-failed", at: 3950, .error, "peer refused Main Mode message 5", ["rejected_by": "peer"])
        sick.connection.keyChangedSinceStart = true
        var report = DiagnosisReport(gateway: "cloud", connections: [healthy.diagnose()])
        XCTAssertEqual(
            report.text,
            "gateway cloud\n\ncloud-office: up: 1 IKE SA (aes256-sha1-modp1024), 1 CHILD SA (aes256-sha1)\n")
        report.connections = [sick.diagnose()]
        let text = report.text
        XCTAssertTrue(text.contains("cloud-office: down, 2 findings\n"), text)
        XCTAssertTrue(text.contains("  ERROR authentication-failed: the peer rejects our authentication"), text)
        XCTAssertTrue(
            text.contains(
                "      \(EventRecord.timestamp(.init(seconds: 1_796_003_950, milliseconds: 0))) authentication-failed: peer refused Main Mode"
            ), text)
        XCTAssertTrue(text.contains("    fix here:\n"), text)
        XCTAssertTrue(text.contains("    fix on the peer:\n      - strongSwan: In swanctl.conf"), text)
        XCTAssertTrue(text.contains("        $ isthmus reload\n"), text)
        XCTAssertFalse(text.split(separator: "\n").contains { $0.count > 100 }, "wrapped at 100 columns")
    }

    // MARK: Status

    func testLastFailureIsTheNewestFailureSinceTheLastEstablishedSA() throws {
        var scene = try Scene()
        scene.event("peer-not-answering", at: 100, .error, "old failure")
        scene.event("ike-sa-established", at: 200)
        scene.event("ike-sa-deleted", at: 300, .notice, "peer deleted the ISAKMP SA; the connection is down")
        scene.event("retransmit", at: 310, .notice, "retransmit 1")
        XCTAssertEqual(
            DaemonState.lastFailure(in: scene.events)?.message, "peer deleted the ISAKMP SA; the connection is down")
        scene.event("ike-sa-established", at: 400)
        XCTAssertNil(DaemonState.lastFailure(in: scene.events))
        XCTAssertNil(DaemonState.lastFailure(in: []))
    }
}
