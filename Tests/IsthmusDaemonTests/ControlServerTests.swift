import Foundation
import IsthmusEvents
import IsthmusIKEv2
import IsthmusTestSupport
import Logging
import NIOCore
import NIOPosix
import Synchronization
import XCTest

@testable import IsthmusDaemon

/// The control socket under `logs --follow` and hostile clients: a real daemon, raw Unix-socket clients.
final class ControlServerTests: XCTestCase {
    /// What the next `up peer` session reports before it closes.
    final class Script: Sendable {
        let events = Mutex<[GatewayEvent]>([])
        let spi = Mutex<UInt64>(0x9000)
    }

    struct Harness {
        let group: MultiThreadedEventLoopGroup
        let daemon: GatewayDaemon
        let folder: String
        let controlPath: String
        let script: Script

        func stop() async throws {
            try await daemon.shutdown().get()
            try await group.shutdownGracefully()
            try? FileManager.default.removeItem(atPath: folder)
        }

        func status() throws -> ControlResponse {
            try ControlClient.send(ControlRequest(command: "status"), to: controlPath).response
        }

        func request(_ request: ControlRequest) throws -> ControlResponse {
            try ControlClient.send(request, to: controlPath).response
        }

        /// Records `events` in the daemon: `up peer` makes a session that reports them and closes at once.
        func emit(_ events: [(connection: String, message: String)]) throws {
            script.events.withLock { script in
                script = events.map {
                    GatewayEvent(time: .zero, connection: $0.connection, kind: .retransmit, message: $0.message)
                }
            }
            let reply = try request(ControlRequest(command: "up", connection: "peer"))
            XCTAssertTrue(reply.ok, reply.error ?? "")
        }

        /// Reads daemon state on its event loop.
        func onLoop<T: Sendable>(_ body: @escaping @Sendable (DaemonState) -> T) async throws -> T {
            let daemon = self.daemon
            return try await daemon.eventLoop.submit { body(daemon.state.value) }.get()
        }

        func controlConnections() async throws -> Int { try await onLoop { $0.controlConnections } }
        func followers() async throws -> Int { try await onLoop { $0.followers.count } }
    }

    func makeHarness(
        socket: String = "run/ctl.sock", eventCapacity: Int = 1000, idleTimeout: Duration = .seconds(30)
    ) async throws -> Harness {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let folder = try temporaryFolder()
        let path = folder + "/" + socket
        var logger = Logger(label: "isthmus.test")
        logger.logLevel = .critical
        let script = Script()
        let options = DaemonOptions(
            bindAddress: "127.0.0.1", ikePort: 0, natPort: 0, controlPath: path, eventCapacity: eventCapacity,
            shutdownGrace: .milliseconds(200), initiateOnStart: false, controlIdleTimeout: idleTimeout)
        let daemon = GatewayDaemon(
            config: try loopbackConfig(), options: options, group: group, logger: logger,
            makeInitiator: { name in
                let spi = script.spi.withLock {
                    $0 += 1
                    return $0
                }
                return FakeSession(connection: name, spi: spi) { _, input, now in
                    guard case .initiate = input else { return [] }
                    let events = script.events.withLock { $0 }
                    return events.map { event in
                        var event = event
                        event.time = now
                        return IKEAction.event(event)
                    } + [.ikeSAClosed(restart: false)]
                }
            },
            makeResponder: { _ in nil })
        _ = try await daemon.start().get()
        return Harness(group: group, daemon: daemon, folder: folder, controlPath: path, script: script)
    }

    static let followAll = #"{"command":"logs","follow":true}"# + "\n"
    static func follow(_ name: String) -> String { #"{"command":"logs","connection":"\#(name)","follow":true}"# + "\n" }

    func decodeResponse(_ line: String?, file: StaticString = #filePath, line number: UInt = #line) -> ControlResponse?
    {
        guard let line else {
            XCTFail("no line", file: file, line: number)
            return nil
        }
        let response = ControlCodec.decode(ControlResponse.self, from: Array(line.utf8))
        XCTAssertNotNil(response, "not a response: \(line.prefix(200))", file: file, line: number)
        return response
    }

    func decodeEvent(_ line: String?, file: StaticString = #filePath, line number: UInt = #line) -> EventRecord? {
        guard let line else {
            XCTFail("no event line", file: file, line: number)
            return nil
        }
        let record = ControlCodec.decode(EventRecord.self, from: Array(line.utf8))
        XCTAssertNotNil(record, "not an event: \(line.prefix(200))", file: file, line: number)
        return record
    }

    // MARK: logs

    func testLogsKeepsEachConnectionsHistoryWithWallClockTimes() async throws {
        let harness = try await makeHarness(eventCapacity: 5)
        try harness.emit((1...3).map { ("quiet", "q\($0)") })
        try harness.emit((1...12).map { ("chatty", "c\($0)") })

        let quiet = try harness.request(ControlRequest(command: "logs", connection: "quiet"))
        XCTAssertEqual(quiet.events?.map(\.message), ["q1", "q2", "q3"], "a chatty connection does not push it out")
        let pattern = try Regex(#"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$"#)
        for record in quiet.events ?? [] {
            XCTAssertNotNil(record.time.wholeMatch(of: pattern), record.time)
        }
        let all = try harness.request(ControlRequest(command: "logs"))
        XCTAssertEqual(all.events?.map(\.message), ["q1", "q2", "q3", "c8", "c9", "c10", "c11", "c12"])
        let sequences = all.events?.map(\.sequence) ?? []
        XCTAssertEqual(sequences, [1, 2, 3, 11, 12, 13, 14, 15])
        let events = try harness.request(ControlRequest(command: "events"))
        XCTAssertEqual(events.events, all.events, "`events` is `logs` without follow")
        let status = try harness.status()
        XCTAssertNil(status.events, "status does not carry events")
        try await harness.stop()
    }

    func testFollowSendsNewEventsOfItsConnectionAndOutlivesTheIdleTimeout() async throws {
        let harness = try await makeHarness(idleTimeout: .milliseconds(200))
        try harness.emit([("a", "old")])

        let onlyA = try XCTUnwrap(RawControlClient(path: harness.controlPath))
        onlyA.send(Self.follow("a"))
        XCTAssertEqual(decodeResponse(onlyA.readLine())?.events?.map(\.message), ["old"])
        var everything: RawControlClient? = try XCTUnwrap(RawControlClient(path: harness.controlPath))
        everything?.send(Self.followAll)
        XCTAssertEqual(decodeResponse(everything?.readLine())?.events?.map(\.message), ["old"])
        let followers = try await harness.followers()
        XCTAssertEqual(followers, 2)

        try harness.emit([("a", "x"), ("b", "y"), ("a", "z")])
        try harness.emit([("a", "w")])
        XCTAssertEqual(
            [onlyA.readLine(), onlyA.readLine(), onlyA.readLine()].map { decodeEvent($0)?.message },
            ["x", "z", "w"], "only connection a, in order")
        let sequences = (0..<4).map { _ in decodeEvent(everything?.readLine())?.sequence }
        XCTAssertEqual(sequences, [2, 3, 4, 5])

        // A client that only connects is closed by the idle timeout; the followers (quiet for longer) are not.
        let idle = try XCTUnwrap(RawControlClient(path: harness.controlPath))
        XCTAssertTrue(idle.waitForEnd(), "an idle control connection is closed")
        try harness.emit([("a", "late")])
        XCTAssertEqual(decodeEvent(onlyA.readLine())?.message, "late")
        XCTAssertEqual(decodeEvent(everything?.readLine())?.message, "late")

        // A follower that goes away is forgotten.
        everything = nil
        let forgotten = try await eventually { try await harness.followers() == 1 }
        XCTAssertTrue(forgotten)

        // Shutdown ends the stream with one notice line, then closes.
        try await harness.daemon.shutdown().get()
        XCTAssertEqual(onlyA.readLine(), #"{"stopped":true}"#)
        XCTAssertTrue(onlyA.waitForEnd())
        try await harness.stop()
    }

    func testSlowFollowerIsToldWhatItMissedAndDoesNotStallTheDaemon() async throws {
        let harness = try await makeHarness()
        let reader = try XCTUnwrap(RawControlClient(path: harness.controlPath))
        reader.send(Self.followAll)
        XCTAssertEqual(decodeResponse(reader.readLine())?.events, [])

        // About 3.4 MB of events while the reader reads nothing: far more than the backlog and the kernel buffer.
        let total = 3000
        let filler = String(repeating: "m", count: 1000)
        try harness.emit((0..<total).map { ("peer", "\($0) \(filler)") })
        XCTAssertTrue(try harness.status().ok, "the daemon answers while a follower is stuck")
        let dropped = try await harness.onLoop { $0.followers.values.first?.dropped ?? 0 }
        XCTAssertGreaterThan(dropped, 0, "events beyond the backlog are dropped, not queued")

        var received: [UInt64] = []
        var notices: [Int] = []
        while received.count + notices.reduce(0, +) < total {
            guard let line = reader.readLine() else {
                XCTFail("the stream ended after \(received.count) events and \(notices) dropped")
                break
            }
            if let notice = ControlCodec.decode(FollowNotice.self, from: Array(line.utf8)), let count = notice.dropped {
                notices.append(count)
            } else if let record = decodeEvent(line) {
                received.append(record.sequence)
            }
        }
        XCTAssertEqual(received.count + notices.reduce(0, +), total)
        XCTAssertEqual(notices.count, 1, "one notice per stall")
        XCTAssertEqual(received, received.sorted())
        XCTAssertEqual(received.first, 1)
        // It keeps following after catching up.
        try harness.emit([("peer", "after")])
        XCTAssertEqual(decodeEvent(reader.readLine())?.message, "after")
        try await harness.stop()
    }

    func testFollowersAreLimitedSoStatusStillGetsIn() async throws {
        let harness = try await makeHarness()
        var readers: [RawControlClient] = []
        for _ in 0..<ControlConnectionHandler.maximumFollowers {
            let reader = try XCTUnwrap(RawControlClient(path: harness.controlPath))
            reader.send(Self.followAll)
            XCTAssertEqual(decodeResponse(reader.readLine())?.ok, true)
            readers.append(reader)
        }
        let extra = try XCTUnwrap(RawControlClient(path: harness.controlPath))
        extra.send(Self.followAll)
        XCTAssertEqual(extra.readLine(), #"{"error":"too many logs --follow readers (at most 16)","ok":false}"#)
        XCTAssertTrue(extra.waitForEnd())
        XCTAssertTrue(try harness.status().ok)
        readers.removeAll()
        let none = try await eventually { try await harness.followers() == 0 }
        XCTAssertTrue(none)
        try await harness.stop()
    }

    // MARK: Bad input

    func testGarbageGetsOneErrorLineEachAndTheConnectionStaysUsable() async throws {
        let harness = try await makeHarness()
        var generator = SplitMix64(seed: 7)
        var lines: [[UInt8]] = (0..<40).map { _ in
            (0..<Int.random(in: 1...300, using: &generator)).map { _ in
                var byte = UInt8.random(in: 0...255, using: &generator)
                if byte == UInt8(ascii: "\n") { byte = 0 }
                return byte
            }
        }
        lines += [
            "", "hello", "{", "}", "[1,2]", "null", "\"status\"", "42", #"{"command":"status"} trailing"#,
            #"{"command":"status""#, String(repeating: "[", count: 60_000), String(repeating: "{\"a\":", count: 10_000),
        ].map { Array($0.utf8) }
        lines.append([0x7B, 0x22, 0x63, 0xFF, 0xFE, 0x22, 0x3A, 0x31, 0x7D])  // {"c\xff\xfe":1}: not UTF-8
        let client = try XCTUnwrap(RawControlClient(path: harness.controlPath))
        client.send(lines.flatMap { $0 + [UInt8(ascii: "\n")] })
        let expected =
            #"{"error":"not a control request: expected one JSON object such as {\"command\":\"status\"}","ok":false}"#
        for index in lines.indices {
            XCTAssertEqual(client.readLine(), expected, "line \(index): \(lines[index].prefix(40))")
        }
        client.send(#"{"command":"status"}"# + "\n")
        XCTAssertEqual(decodeResponse(client.readLine())?.gateway, "test-gw", "the same connection still works")
        try await harness.stop()
    }

    func testHugeLineIsRefusedAndTheDaemonServesOthers() async throws {
        let harness = try await makeHarness()
        let bystander = try XCTUnwrap(RawControlClient(path: harness.controlPath))
        let client = try XCTUnwrap(RawControlClient(path: harness.controlPath))
        let sent = client.send([UInt8](repeating: UInt8(ascii: "a"), count: 1 << 20))
        XCTAssertGreaterThan(sent, ControlCodec.maximumRequestBytes)
        XCTAssertEqual(client.readLine(), #"{"error":"request too large: at most 65536 bytes per line","ok":false}"#)
        XCTAssertTrue(client.waitForEnd(), "closed after the refusal")
        bystander.send(#"{"command":"status"}"# + "\n")
        XCTAssertEqual(decodeResponse(bystander.readLine())?.ok, true)
        try await harness.stop()
    }

    func testClientsLeavingMidRequestLeaveNothingBehind() async throws {
        let harness = try await makeHarness()
        for index in 0..<100 {
            let client = try XCTUnwrap(RawControlClient(path: harness.controlPath))
            client.send(index % 2 == 0 ? #"{"command":"sta"# : String(repeating: "x", count: 70_000 + index))
        }
        let drained = try await eventually { try await harness.controlConnections() == 0 }
        XCTAssertTrue(drained, "every connection was released")
        XCTAssertTrue(try harness.status().ok)
        try await harness.stop()
    }

    func testConnectionLimitRefusesTheRestAndRecovers() async throws {
        let harness = try await makeHarness()
        let limit = ControlConnectionHandler.maximumConnections
        var open: [RawControlClient] = []
        for count in 1...limit {
            open.append(try XCTUnwrap(RawControlClient(path: harness.controlPath)))
            let counted = try await eventually { try await harness.controlConnections() == count }
            XCTAssertTrue(counted, "connection \(count) counted")
        }
        for index in (limit + 1)...40 {
            let refused = try XCTUnwrap(RawControlClient(path: harness.controlPath))
            XCTAssertEqual(refused.readLine(), #"{"error":"too many control connections","ok":false}"#, "\(index)")
            XCTAssertTrue(refused.waitForEnd())
        }
        let stillThere = try await harness.controlConnections()
        XCTAssertEqual(stillThere, limit)
        open.last?.send(#"{"command":"status"}"# + "\n")
        XCTAssertEqual(decodeResponse(open.last?.readLine())?.ok, true)
        open.removeAll()
        let released = try await eventually { try await harness.controlConnections() == 0 }
        XCTAssertTrue(released)
        XCTAssertTrue(try harness.status().ok, "new connections are accepted again")
        try await harness.stop()
    }

    func testSocketIsOwnerOnlyInAnOwnerOnlyFolderWhateverTheUmask() async throws {
        let previous = umask(0)
        defer { umask(previous) }
        let harness = try await makeHarness(socket: "a/b/ctl.sock")
        umask(previous)
        var info = stat()
        for folder in ["/a", "/a/b"] {
            XCTAssertEqual(stat(harness.folder + folder, &info), 0)
            XCTAssertEqual(info.st_mode & S_IFMT, S_IFDIR)
            XCTAssertEqual(info.st_mode & 0o7777, 0o700, "\(folder) is created owner-only")
        }
        XCTAssertEqual(lstat(harness.controlPath, &info), 0)
        XCTAssertEqual(info.st_mode & S_IFMT, S_IFSOCK)
        XCTAssertEqual(info.st_mode & 0o7777, 0o600, "the socket is owner-only")
        XCTAssertEqual(info.st_uid, geteuid())
        XCTAssertEqual(DaemonOptions.defaultControlPath(gatewayName: "gw"), "/run/isthmus/gw.sock")
        try await harness.stop()
    }

    /// No window between bind and chmod: the file is 0600 the moment it appears, even with umask 0 (where a
    /// plain bind makes it 0777, as the control case shows).
    func testControlSocketFileIsOwnerOnlyFromBind() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let previous = umask(0)
        defer { umask(previous) }
        let fd = try ControlSocketPath.bindOwnerOnly(folder + "/owner.sock")
        close(fd)
        XCTAssertTrue(leaveStaleSocket(at: folder + "/plain.sock"))
        umask(previous)
        var info = stat()
        XCTAssertEqual(lstat(folder + "/owner.sock", &info), 0)
        XCTAssertEqual(info.st_mode & 0o7777, 0o600)
        XCTAssertEqual(lstat(folder + "/plain.sock", &info), 0)
        XCTAssertEqual(info.st_mode & 0o7777, 0o777, "a plain bind under umask 0")
        XCTAssertThrowsError(try ControlSocketPath.bindOwnerOnly(folder + "/owner.sock"), "the path is taken")
    }

    /// A start that fails after the control socket was bound (here: the IKE port is taken) removes it again.
    func testFailedStartLeavesNoControlSocket() async throws {
        let occupant = try LoopbackUDPClient()
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let daemon = GatewayDaemon(
            config: try loopbackConfig(),
            options: DaemonOptions(
                bindAddress: "127.0.0.1", ikePort: Int(occupant.port), natPort: 0, controlPath: folder + "/ctl.sock",
                initiateOnStart: false),
            group: group, logger: Logger(label: "isthmus.test"), makeInitiator: { _ in nil },
            makeResponder: { _ in nil })
        do {
            _ = try await daemon.start().get()
            XCTFail("started on a taken port")
        } catch {
            XCTAssertTrue("\(error)".contains("cannot listen on UDP"), "\(error)")
        }
        XCTAssertNotEqual(access(folder + "/ctl.sock", F_OK), 0, "the control socket was removed")
        try await group.shutdownGracefully()
    }

    func testWellFormedJSONWithWrongContentGetsAnErrorReply() async throws {
        let harness = try await makeHarness()
        let client = try XCTUnwrap(RawControlClient(path: harness.controlPath))
        let notARequest =
            #"{"error":"not a control request: expected one JSON object such as {\"command\":\"status\"}","ok":false}"#
        let huge = String(repeating: "x", count: 60_000)
        let cases: [(String, String)] = [
            (#"{"command":5}"#, notARequest),
            (#"{"command":null}"#, notARequest),
            (#"{"command":"up","connection":7}"#, notARequest),
            (#"{"command":"logs","follow":"yes"}"#, notARequest),
            (#"{"command":["status"]}"#, notARequest),
            (
                #"{"command":"up","connection":"\#(huge)"}"#,
                #"{"error":"no connection named '\#(huge.prefix(128))'; configured: peer","ok":false}"#
            ),
            (
                #"{"command":"\#(huge)"}"#,
                #"{"error":"unknown command '\#(huge.prefix(64))'; expected status, up, down, logs, events, reload or diagnose","ok":false}"#
            ),
            (#"{"command":"down"}"#, #"{"error":"this command needs a connection name","ok":false}"#),
            (#"{"command":"up","connection":""}"#, #"{"error":"this command needs a connection name","ok":false}"#),
            (#"{"command":"logs","connection":"\#(huge)"}"#, #"{"events":[],"ok":true}"#),
        ]
        for (request, expected) in cases {
            client.send(request + "\n")
            XCTAssertEqual(client.readLine(), expected, String(request.prefix(60)))
        }
        client.send(#"{"command":"status","extra":[1,{"a":null}]}"# + "\n")
        XCTAssertEqual(decodeResponse(client.readLine())?.gateway, "test-gw", "unknown keys are ignored")
        try await harness.stop()
    }
}
