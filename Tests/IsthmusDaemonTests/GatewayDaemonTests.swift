import Foundation
import IsthmusEvents
import IsthmusIKEv2
import Logging
import NIOCore
import NIOPosix
import Synchronization
import XCTest

@testable import IsthmusDaemon

/// The daemon on real sockets: UDP on 127.0.0.1 (ports chosen by the system) and a Unix socket in /tmp.
final class GatewayDaemonTests: XCTestCase {
    struct Harness {
        let group: MultiThreadedEventLoopGroup
        let daemon: GatewayDaemon
        let folder: String
        var controlPath: String { folder + "/run/ctl.sock" }

        func stop() async throws {
            try await daemon.shutdown().get()
            try await group.shutdownGracefully()
            try? FileManager.default.removeItem(atPath: folder)
        }

        func status() throws -> ControlResponse {
            try ControlClient.send(ControlRequest(command: "status"), to: controlPath).response
        }

        /// Polls `status` until `condition` holds (UDP is asynchronous) or two seconds pass.
        func waitForStatus(_ condition: (ControlResponse) -> Bool) async throws -> ControlResponse {
            var last = try status()
            for _ in 0..<100 where !condition(last) {
                try await Task.sleep(for: .milliseconds(20))
                last = try status()
            }
            return last
        }
    }

    func makeHarness(
        initiateOnStart: Bool = false, makeInitiator: @escaping GatewayDaemon.InitiatorFactory = { _ in nil },
        makeResponder: @escaping GatewayDaemon.ResponderFactory = { _ in nil },
        espHandler: GatewayDaemon.ESPHandler? = nil
    ) throws -> Harness {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let folder = try temporaryFolder()
        let logger = quietLogger()
        let options = loopbackOptions(
            folder: folder, initiateOnStart: initiateOnStart, shutdownGrace: .milliseconds(500))
        let daemon = GatewayDaemon(
            config: try loopbackConfig(), options: options, group: group, logger: logger,
            makeInitiator: makeInitiator, makeResponder: makeResponder, espHandler: espHandler)
        return Harness(group: group, daemon: daemon, folder: folder)
    }

    /// A responder answering every datagram with an IKE_SA_INIT-looking response from where it arrived.
    static func echoResponder(spi: UInt64) -> FakeSession {
        FakeSession(spi: spi) { session, input, _ in
            guard case .datagram(let request) = input, let header = IKEHeaderPeek(request.bytes) else { return [] }
            let reply = ikeHeader(
                initiatorSPI: header.initiatorSPI, responderSPI: session.localSPI, exchange: 34, flags: 0x20)
            return [.send(IKEDatagram(bytes: reply, source: request.destination, destination: request.source))]
        }
    }

    func testUDPPortsAnswerIKEAndClassifyNATTraffic() async throws {
        let nextSPI = Mutex<UInt64>(0x5000)
        let espSPIs = Mutex<[UInt32]>([])
        let harness = try makeHarness(
            makeResponder: { _ in
                Self.echoResponder(
                    spi: nextSPI.withLock {
                        $0 += 1; return $0
                    })
            },
            espHandler: { packet in espSPIs.withLock { $0.append(packet.spi) } })
        let ports = try await harness.daemon.start().get()
        XCTAssertNotEqual(ports.ike, 0)
        XCTAssertNotEqual(ports.nat, 0)
        let client = try LoopbackUDPClient()

        // Port 500: raw IKE both ways.
        client.send(ikeHeader(initiatorSPI: 0xA1, responderSPI: 0), to: ports.ike)
        let plain = try XCTUnwrap(client.receive(), "no answer on the IKE port")
        XCTAssertEqual(plain.port, UInt16(ports.ike))
        XCTAssertEqual(plain.bytes, ikeHeader(initiatorSPI: 0xA1, responderSPI: 0x5001, flags: 0x20))

        // Port 4500: the marker is stripped on the way in and added on the way out.
        client.send([0, 0, 0, 0] + ikeHeader(initiatorSPI: 0xA2, responderSPI: 0), to: ports.nat)
        let marked = try XCTUnwrap(client.receive(), "no answer on the NAT-T port")
        XCTAssertEqual(marked.port, UInt16(ports.nat))
        XCTAssertEqual(marked.bytes, [0, 0, 0, 0] + ikeHeader(initiatorSPI: 0xA2, responderSPI: 0x5002, flags: 0x20))

        // Keepalive, ESP, garbage on 4500; ISAKMP for cookies nobody has and an unknown SPI on 500.
        client.send([0xFF], to: ports.nat)
        client.send([0, 0, 0, 5, 0, 0, 0, 1, 0xAB, 0xCD], to: ports.nat)
        client.send([1, 2], to: ports.nat)
        client.send(isakmpHeader(cookieI: 0xA3, cookieR: 0xB3), to: ports.ike)
        client.send(ikeHeader(initiatorSPI: 0xA4, responderSPI: 0x9999, exchange: 35), to: ports.ike)

        let status = try await harness.waitForStatus { ($0.counters?.datagramsIn ?? 0) >= 7 }
        let counters = try XCTUnwrap(status.counters)
        XCTAssertEqual(counters.datagramsIn, 7)
        XCTAssertEqual(counters.datagramsOut, 2)
        XCTAssertEqual(counters.natKeepalives, 1)
        XCTAssertEqual(counters.espPackets, 1)
        XCTAssertEqual(counters.dropped, ["invalid-nat-t": 1, "unknown-spi": 2])
        XCTAssertEqual(counters.ikeSAs, 2)
        XCTAssertEqual(espSPIs.withLock { $0 }, [5])
        // Two IKE_SA_INIT requests, never followed up: counted as unproven half-open SAs, not listed.
        XCTAssertEqual(counters.halfOpen?.current, 2)
        XCTAssertEqual(counters.halfOpen?.unproven, 2)
        XCTAssertEqual(counters.halfOpen?.maximumPerSource, 2)
        XCTAssertEqual(status.connections?.first?.ikeSAs.count, 0)
        try await harness.stop()
    }

    func testControlSocketCommands() async throws {
        let made = Mutex<[FakeSession]>([])
        let harness = try makeHarness(makeInitiator: { name in
            let session = FakeSession(connection: name, spi: 0x6000 + UInt64(made.withLock { $0.count })) {
                _, input, now in
                switch input {
                case .initiate:
                    return [
                        .event(
                            GatewayEvent(
                                time: now, connection: name, saIDs: ["ike 6000"],
                                kind: .ikeSAInitiating, message: "initiating IKE_SA_INIT"))
                    ]
                case .terminate:
                    return [
                        .event(GatewayEvent(time: now, connection: name, kind: .ikeSADeleted, message: "deleted")),
                        .ikeSAClosed(restart: false),
                    ]
                default:
                    return []
                }
            }
            made.withLock { $0.append(session) }
            return session
        })
        _ = try await harness.daemon.start().get()
        let path = harness.controlPath
        var info = stat()
        XCTAssertEqual(stat(path, &info), 0)
        XCTAssertEqual(info.st_mode & 0o777, 0o600, "the control socket is for its owner only")

        var status = try harness.status()
        XCTAssertTrue(status.ok)
        XCTAssertEqual(status.gateway, "test-gw")
        XCTAssertEqual(status.connections?.map(\.name), ["peer"])
        XCTAssertEqual(status.connections?.first?.kind, "dynamic")
        XCTAssertEqual(status.connections?.first?.ikeVersion, 2)
        XCTAssertEqual(status.connections?.first?.remoteAddress, "127.0.0.1")
        XCTAssertEqual(status.connections?.first?.ikeSAs, [])

        let unknown = try ControlClient.send(ControlRequest(command: "up", connection: "nope"), to: path).response
        XCTAssertFalse(unknown.ok)
        XCTAssertTrue(unknown.error?.contains("no connection named 'nope'") ?? false, unknown.error ?? "")

        let up = try ControlClient.send(ControlRequest(command: "up", connection: "peer"), to: path).response
        XCTAssertTrue(up.ok, up.error ?? "")
        status = try harness.status()
        XCTAssertEqual(status.connections?.first?.ikeSAs.map(\.localSPI), ["6000"])
        let state = harness.daemon.state
        let (fromStatus, counted) = try await harness.daemon.eventLoop.submit {
            (MetricsSnapshot(state.value.status()), state.value.metricsSnapshot())
        }.get()
        XCTAssertEqual(counted, fromStatus, "the metrics count what status shows")
        XCTAssertEqual(counted.ikeSAs, [.init(connection: "peer", state: .connecting): 1])
        let again = try ControlClient.send(ControlRequest(command: "up", connection: "peer"), to: path).response
        XCTAssertTrue(again.message?.contains("already has an IKE SA") ?? false)
        XCTAssertEqual(made.withLock { $0.count }, 1)

        let events = try ControlClient.send(ControlRequest(command: "events", connection: "peer"), to: path)
        XCTAssertEqual(events.response.events?.map(\.kind), ["ike-sa-initiating"])
        XCTAssertEqual(events.response.events?.first?.line, "peer [ike 6000] ike-sa-initiating: initiating IKE_SA_INIT")
        XCTAssertTrue(events.line.hasPrefix("{") && !events.line.contains("\n"))
        let none = try ControlClient.send(ControlRequest(command: "events", connection: "other"), to: path)
        XCTAssertEqual(none.response.events, [])

        let down = try ControlClient.send(ControlRequest(command: "down", connection: "peer"), to: path).response
        XCTAssertEqual(down.terminated, 1)
        XCTAssertEqual(try harness.status().connections?.first?.ikeSAs, [])
        XCTAssertEqual(made.withLock { $0.first?.inputs.map { "\($0)" } }, ["initiate", "terminate"])

        // Garbage, an unknown command, an oversized line, a client that leaves mid-request.
        let garbage = rawControlExchange(path: path, send: Array("hello\n".utf8)) ?? ""
        XCTAssertTrue(garbage.contains(#""ok":false"#), garbage)
        let fly = rawControlExchange(path: path, send: Array(#"{"command":"fly"}"#.utf8) + [10]) ?? ""
        XCTAssertTrue(fly.contains("unknown command"), fly)
        let huge = rawControlExchange(path: path, send: [UInt8](repeating: UInt8(ascii: "a"), count: 70_000)) ?? ""
        XCTAssertTrue(huge.contains("request too large"), huge)
        _ = rawControlExchange(path: path, send: Array(#"{"command":"sta"#.utf8), closeAfterSending: true)
        XCTAssertTrue(try harness.status().ok, "the server survives clients that leave mid-request")

        // A second daemon on the same control socket refuses to start.
        let second = try makeHarness()
        let clash = GatewayDaemon(
            config: try loopbackConfig(),
            options: DaemonOptions(
                bindAddress: "127.0.0.1", ikePort: 0, natPort: 0,
                controlPath: path, initiateOnStart: false),
            group: second.group, logger: Logger(label: "clash"), makeInitiator: { _ in nil },
            makeResponder: { _ in nil })
        do {
            _ = try await clash.start().get()
            XCTFail("a second daemon started on a live control socket")
        } catch {
            XCTAssertTrue("\(error)".contains("already serving"), "\(error)")
        }
        try await second.stop()

        try await harness.stop()
        XCTAssertNotEqual(access(path, F_OK), 0, "the control socket is removed at shutdown")
    }

    func testStaleControlSocketIsReplacedAndOtherFilesAreNot() async throws {
        let harness = try makeHarness()
        // A crashed daemon leaves a socket file nobody listens on.
        XCTAssertEqual(mkdir(harness.folder + "/run", 0o700), 0)
        XCTAssertTrue(leaveStaleSocket(at: harness.controlPath))
        XCTAssertEqual(access(harness.controlPath, F_OK), 0)
        _ = try await harness.daemon.start().get()
        XCTAssertTrue(try harness.status().ok)
        try await harness.stop()

        // A regular file at the path is not ours to delete.
        let other = try makeHarness()
        XCTAssertEqual(mkdir(other.folder + "/run", 0o700), 0)
        XCTAssertTrue(FileManager.default.createFile(atPath: other.controlPath, contents: Data("x".utf8)))
        do {
            _ = try await other.daemon.start().get()
            XCTFail("started over a regular file")
        } catch {
            XCTAssertTrue("\(error)".contains("not a socket"), "\(error)")
        }
        XCTAssertEqual(access(other.controlPath, F_OK), 0)
        try await other.stop()
    }

    func testTimersArmCancelRearmAndFire() async throws {
        let made = Mutex<FakeSession?>(nil)
        let harness = try makeHarness(
            initiateOnStart: true,
            makeInitiator: { name in
                let session = FakeSession(connection: name, spi: 0x7000) { _, input, now in
                    switch input {
                    case .initiate:
                        return [
                            .armTimer(.retransmit(messageID: 0), at: now + .milliseconds(50)),
                            .armTimer(.liveness, at: now + .milliseconds(40)),
                            .cancelTimer(.liveness),
                            .armTimer(.abandon, at: now + .seconds(60)),
                            .armTimer(.abandon, at: now + .milliseconds(120)),
                            .armTimer(.rekeyIKESA, at: now + .seconds(3600)),
                        ]
                    case .timer(.abandon):
                        return [.ikeSAClosed(restart: false)]
                    default:
                        return []
                    }
                }
                made.withLock { $0 = session }
                return session
            })
        _ = try await harness.daemon.start().get()
        let session = try XCTUnwrap(made.withLock { $0 })
        for _ in 0..<100 where session.inputs.count < 3 { try await Task.sleep(for: .milliseconds(20)) }
        try await Task.sleep(for: .milliseconds(100))
        XCTAssertEqual(
            session.inputs.map { "\($0)" },
            [
                "initiate", "timer(IsthmusIKE.IKETimer.retransmit(messageID: 0))",
                "timer(IsthmusIKE.IKETimer.abandon)",
            ])
        let daemon = harness.daemon
        let (timers, sessions) = try await daemon.eventLoop.submit {
            (daemon.state.value.timers.count, daemon.state.value.dispatcher.count)
        }.get()
        XCTAssertEqual(timers, 0, "closing the SA cancels its remaining timers (the rekey in an hour)")
        XCTAssertEqual(sessions, 0)
        try await harness.stop()
    }

    /// Timers share one heap: a due timer whose session cancels another due one first keeps that one from
    /// firing, and re-arming a timer over and over leaves the heap bounded.
    func testTimersDueTogetherAndRearmedManyTimes() async throws {
        let made = Mutex<FakeSession?>(nil)
        let harness = try makeHarness(
            initiateOnStart: true,
            makeInitiator: { name in
                let session = FakeSession(connection: name, spi: 0x7100) { _, input, now in
                    switch input {
                    case .initiate:
                        return [
                            .armTimer(.retransmit(messageID: 0), at: now + .milliseconds(30)),
                            .armTimer(.liveness, at: now + .milliseconds(30)),
                        ] + (0..<1000).map { .armTimer(.abandon, at: now + .seconds(60) + .milliseconds($0)) }
                    case .timer(.retransmit):
                        return [.cancelTimer(.liveness)]
                    default:
                        return []
                    }
                }
                made.withLock { $0 = session }
                return session
            })
        _ = try await harness.daemon.start().get()
        let session = try XCTUnwrap(made.withLock { $0 })
        for _ in 0..<100 where session.inputs.count < 2 { try await Task.sleep(for: .milliseconds(20)) }
        try await Task.sleep(for: .milliseconds(100))
        XCTAssertEqual(
            session.inputs.map { "\($0)" }, ["initiate", "timer(IsthmusIKE.IKETimer.retransmit(messageID: 0))"],
            "the liveness timer was cancelled by the retransmit's answer, though both were due")
        let daemon = harness.daemon
        let (timers, heap) = try await daemon.eventLoop.submit {
            (daemon.state.value.timers.count, daemon.state.value.timerHeap.count)
        }.get()
        XCTAssertEqual(timers, 1, "the abandon timer, armed once however often it was re-armed")
        XCTAssertLessThanOrEqual(heap, 2 * timers + 65, "stale deadlines are swept")
        try await harness.stop()
    }

    func testShutdownSendsDeletesAndFinishesEarly() async throws {
        let client = try LoopbackUDPClient()
        let peer = endpoint("127.0.0.1", client.port)
        let delete = ikeHeader(initiatorSPI: 0x8000, responderSPI: 0x1234, exchange: 37, flags: 0x08, messageID: 9)
        let harness = try makeHarness(
            initiateOnStart: true,
            makeInitiator: { name in
                FakeSession(connection: name, spi: 0x8000) { _, input, _ in
                    guard case .terminate = input else { return [] }
                    return [
                        .send(IKEDatagram(bytes: delete, source: endpoint("127.0.0.1", 500), destination: peer)),
                        .ikeSAClosed(restart: false),
                    ]
                }
            })
        _ = try await harness.daemon.start().get()
        let started = ContinuousClock.now
        try await harness.daemon.shutdown().get()
        XCTAssertLessThan(ContinuousClock.now - started, .milliseconds(450), "no waiting once every SA has closed")
        let received = try XCTUnwrap(client.receive(), "the DELETE did not go out")
        XCTAssertEqual(received.bytes, delete)
        XCTAssertNotEqual(access(harness.controlPath, F_OK), 0)
        try await harness.stop()
    }

    func testTimeAmountConversion() {
        XCTAssertEqual(DaemonState.timeAmount(.milliseconds(1500)), .milliseconds(1500))
        XCTAssertEqual(DaemonState.timeAmount(.seconds(-3)), .zero)
        XCTAssertEqual(DaemonState.timeAmount(.seconds(Int64.max)), .seconds(3_153_600_000))
    }
}
