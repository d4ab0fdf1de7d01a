import Foundation
import IsthmusEvents
import IsthmusGateway
import IsthmusIKEv2
import NIOPosix
import Synchronization
import XCTest

@testable import IsthmusDaemon

/// `diagnose` and the `status` fields for a connection that is down, through a running daemon whose
/// initiators fail at once (as a negotiation that gave up does).
final class DiagnoseControlTests: XCTestCase {
    func testADownConnectionShowsItsLastFailureNextAttemptAndVerdict() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let folder = try temporaryFolder()
        let config = try loopbackConfig()
        let made = Mutex(0)
        let daemon = GatewayDaemon(
            config: config, options: loopbackOptions(folder: folder, initiateOnStart: true), group: group,
            logger: quietLogger(),
            makeInitiator: { name in
                let spi = made.withLock { count -> UInt64 in
                    count += 1
                    return 0x9000 + UInt64(count)
                }
                return FakeSession(connection: name, spi: spi) { session, input, now in
                    guard case .initiate = input else { return [] }
                    // What a core says when its requests were never answered, then it closes for a restart.
                    return [
                        .event(
                            GatewayEvent(
                                time: now, connection: session.connectionName, kind: .peerNotAnswering,
                                severity: .error,
                                message: "no answer to IKE_SA_INIT from 127.0.0.1:500 after 5 retransmits")),
                        .ikeSAClosed(restart: true),
                    ]
                }
            },
            makeResponder: { _ in nil })
        _ = try await daemon.start().get()

        let status = try await daemon.control(ControlRequest(command: "status")).get()
        let peer = try XCTUnwrap(status.connections?.first { $0.name == "peer" })
        XCTAssertEqual(peer.lastFailure?.kind, "peer-not-answering")
        let next = try XCTUnwrap(peer.nextAttemptSeconds)
        XCTAssertTrue((4...5).contains(next), "the first restart comes after 5 s: \(next)")

        // JSON: a connection that is down always has both keys.
        let json = try XCTUnwrap(
            JSONSerialization.jsonObject(with: Data(ControlCodec.encode(peer))) as? [String: Any])
        XCTAssertEqual((json["lastFailure"] as? [String: Any])?["kind"] as? String, "peer-not-answering")
        XCTAssertNotNil(json["nextAttemptSeconds"] as? Int)
        var quiet = peer
        quiet.lastFailure = nil
        quiet.nextAttemptSeconds = nil
        let nulls = try XCTUnwrap(
            JSONSerialization.jsonObject(with: Data(ControlCodec.encode(quiet))) as? [String: Any])
        XCTAssertTrue(nulls["lastFailure"] is NSNull && nulls["nextAttemptSeconds"] is NSNull, "\(nulls)")
        XCTAssertEqual(ControlCodec.decode(ConnectionStatus.self, from: ControlCodec.encode(peer)), peer)

        let answer = try await daemon.control(ControlRequest(command: "diagnose", connection: "peer")).get()
        XCTAssertTrue(answer.ok, answer.error ?? "")
        XCTAssertEqual(answer.gateway, "test-gw")
        let verdict = try XCTUnwrap(answer.diagnoses?.first)
        XCTAssertEqual(verdict.connection, "peer")
        XCTAssertEqual(verdict.state, "down")
        XCTAssertFalse(verdict.healthy)
        XCTAssertEqual(verdict.findings.map(\.cause), [.peerUnreachable])

        let all = try await daemon.control(ControlRequest(command: "diagnose")).get()
        XCTAssertEqual(all.diagnoses?.map(\.connection), ["peer"])
        let unknown = try await daemon.control(ControlRequest(command: "diagnose", connection: "nobody")).get()
        XCTAssertFalse(unknown.ok)
        XCTAssertTrue(unknown.error?.contains("no connection named 'nobody'") == true, unknown.error ?? "")

        // Taken down: no attempt is planned any more.
        _ = try await daemon.control(ControlRequest(command: "down", connection: "peer")).get()
        let after = try await daemon.control(ControlRequest(command: "status")).get()
        XCTAssertNil(after.connections?.first { $0.name == "peer" }?.nextAttemptSeconds)

        try await daemon.shutdown().get()
        try await group.shutdownGracefully()
        try? FileManager.default.removeItem(atPath: folder)
    }
}
