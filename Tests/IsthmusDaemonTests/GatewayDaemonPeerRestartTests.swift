import IsthmusEvents
import IsthmusIKEv2
import Synchronization
import XCTest

@testable import IsthmusDaemon

/// A peer that restarted: its new IKE SA carries INITIAL_CONTACT (the core reports `peer-restarted`), and the
/// daemon forgets the connection's older IKE SAs at once instead of keeping them until liveness fails.
extension GatewayDaemonTests {
    func testInitialContactMakesTheDaemonForgetTheOlderIKESAs() async throws {
        let old = FakeSession(spi: 0x7100) { _, input, _ in Self.isForget(input) ? [.ikeSAClosed(restart: false)] : [] }
        old.reportEstablished(role: "initiator", secondsAgo: 600)
        let restarted = Self.restartedPeer(spi: 0x7200)
        let harness = try makeHarness(
            initiateOnStart: true, makeInitiator: { _ in old }, makeResponder: { _ in restarted })
        let ports = try await harness.daemon.start().get()
        let client = try LoopbackUDPClient()
        client.send(ikeHeader(initiatorSPI: 0xB1, responderSPI: 0), to: ports.ike)
        for _ in 0..<100 where !old.inputs.contains(where: Self.isForget) {
            try await Task.sleep(for: .milliseconds(20))
        }
        XCTAssertEqual(old.inputs.first { !Self.isInitiate($0) }.map(Self.isForget), true, "forgotten first")
        XCTAssertFalse(restarted.inputs.contains(where: Self.isForget), "the new IKE SA stays")
        let daemon = harness.daemon
        let replaced = try await daemon.eventLoop.submit {
            daemon.state.value.events.records.filter { $0.kind == GatewayEvent.Kind.ikeSAReplaced.rawValue }
        }.get()
        XCTAssertEqual(replaced.map { $0.details["reason"] }, ["peer-restarted"])
        XCTAssertEqual(replaced.first?.details["dropped"], "7100")
        XCTAssertEqual(replaced.first?.details["kept"], "7200")
        try await harness.stop()
    }

    /// Both gateways started together: each sends INITIAL_CONTACT in crossed IKE_AUTHs. An SA established
    /// within the simultaneous window is not forgotten (each side would forget a different one): the
    /// duplicate rule decides, the same way on both sides (here, both at 127.0.0.1, the responder SA stays).
    func testInitialContactSparesAnSAEstablishedWithinTheWindow() async throws {
        let ours = FakeSession(spi: 0x7500)
        ours.reportEstablished(role: "initiator", secondsAgo: 1)
        let theirs = Self.restartedPeer(spi: 0x7600)
        let harness = try makeHarness(
            initiateOnStart: true, makeInitiator: { _ in ours }, makeResponder: { _ in theirs })
        let ports = try await harness.daemon.start().get()
        let client = try LoopbackUDPClient()
        client.send(ikeHeader(initiatorSPI: 0xB3, responderSPI: 0), to: ports.ike)
        for _ in 0..<100 where theirs.inputs.isEmpty { try await Task.sleep(for: .milliseconds(20)) }
        try await Task.sleep(for: .milliseconds(100))
        XCTAssertFalse(ours.inputs.contains(where: Self.isForget), "not forgotten without a word to the peer")
        XCTAssertTrue(ours.inputs.contains { if case .terminate = $0 { true } else { false } }, "the rule's loser")
        XCTAssertTrue(theirs.inputs.allSatisfy { if case .datagram = $0 { true } else { false } })
        try await harness.stop()
    }

    func testWithoutInitialContactNothingIsForgotten() async throws {
        let old = FakeSession(spi: 0x7300)
        let harness = try makeHarness(
            initiateOnStart: true, makeInitiator: { _ in old },
            makeResponder: { _ in
                FakeSession(spi: 0x7400) { _, input, now in
                    guard case .datagram = input else { return [] }
                    return [.event(GatewayEvent(time: now, connection: "peer", kind: .ikeSAEstablished, message: "up"))]
                }
            })
        let ports = try await harness.daemon.start().get()
        let client = try LoopbackUDPClient()
        client.send(ikeHeader(initiatorSPI: 0xB2, responderSPI: 0), to: ports.ike)
        for _ in 0..<100 where old.inputs.count < 2 { try await Task.sleep(for: .milliseconds(20)) }
        XCTAssertFalse(old.inputs.contains(where: Self.isForget))
        XCTAssertTrue(
            old.inputs.contains { if case .terminate = $0 { true } else { false } },
            "a negotiation still running gives way to the established SA, with a DELETE as before")
        try await harness.stop()
    }

    /// A responder session whose first datagram establishes an IKE SA carrying INITIAL_CONTACT.
    static func restartedPeer(spi: UInt64) -> FakeSession {
        FakeSession(spi: spi) { session, input, now in
            guard case .datagram = input else { return [] }
            session.reportEstablished(role: "responder", secondsAgo: 0)
            return [
                .event(GatewayEvent(time: now, connection: "peer", kind: .ikeSAEstablished, message: "up")),
                .event(GatewayEvent(time: now, connection: "peer", kind: .peerRestarted, message: "INITIAL_CONTACT")),
            ]
        }
    }

    static func isForget(_ input: IKEInput) -> Bool { if case .forget = input { true } else { false } }
    static func isInitiate(_ input: IKEInput) -> Bool { if case .initiate = input { true } else { false } }
}
