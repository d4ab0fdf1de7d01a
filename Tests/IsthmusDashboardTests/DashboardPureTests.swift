import Foundation
import IsthmusGateway
import Synchronization
import XCTest

@testable import IsthmusDashboard
import IsthmusESP

/// The dashboard's pure parts: its address, its token, who may ask what, connection states and traffic.
final class DashboardAddressTests: XCTestCase {
    func testPortAloneIsLoopback() {
        XCTAssertEqual(DashboardAddress.parse("8080")?.description, "127.0.0.1:8080")
    }

    func testLoopbackOrNot() throws {
        for text in ["8080", "127.0.0.1:8080", "127.3.2.1:80", "[::1]:8080"] {
            XCTAssertTrue(DashboardAddress.isLoopback(try XCTUnwrap(DashboardAddress.parse(text))), text)
        }
        for text in ["0.0.0.0:8080", "10.0.1.4:8080", "[::]:8080", "[::ffff:127.0.0.1]:8080", "128.0.0.1:80"] {
            XCTAssertFalse(DashboardAddress.isLoopback(try XCTUnwrap(DashboardAddress.parse(text))), text)
        }
    }

    func testMetricsNotation() {
        XCTAssertEqual(DashboardAddress.parse("0.0.0.0:80")?.description, "0.0.0.0:80")
        XCTAssertEqual(DashboardAddress.parse("[::1]:8080")?.description, "[::1]:8080")
        XCTAssertEqual(DashboardAddress.parse("10.0.2.4:8443")?.port, 8443)
    }

    func testRefusesWhatIsNotAnAddressAndPort() {
        for text in ["", "0", "70000", "localhost:8080", "::1:8080", "127.0.0.1", "127.0.0.1:", "8080x", " 8080"] {
            XCTAssertNil(DashboardAddress.parse(text), text)
        }
    }
}

final class DashboardTokenTests: XCTestCase {
    let secret = "Zq3vT9xLmW2pR8sK4nB6yH1c"

    func testTrimsLineEndsAndChecksLength() {
        XCTAssertNotNil(DashboardToken(text: "  \(secret)\n"))
        XCTAssertNil(DashboardToken(text: "short-token"))
        XCTAssertNil(DashboardToken(text: "has a space in the middle of it"))
        XCTAssertNil(DashboardToken(text: "ünïcödé-is-not-printable-ascii"))
        XCTAssertNil(DashboardToken(text: String(repeating: "a", count: DashboardToken.maximumLength + 1)))
    }

    func testAuthorizesOnlyTheBearerToken() throws {
        let token = try XCTUnwrap(DashboardToken(text: secret))
        XCTAssertTrue(token.authorizes("Bearer \(secret)"))
        XCTAssertTrue(token.authorizes("bearer \(secret)"))
        XCTAssertFalse(token.authorizes(nil))
        XCTAssertFalse(token.authorizes("Bearer "))
        XCTAssertFalse(token.authorizes("Basic \(secret)"))
        XCTAssertFalse(token.authorizes("Bearer \(secret)x"))
        XCTAssertFalse(token.authorizes("Bearer \(secret.dropLast())"))
        XCTAssertFalse(token.authorizes("Bearer \(secret.dropLast())X"))
        XCTAssertFalse(token.authorizes(secret))
    }

    func testLoadRefusesAFileOthersMayRead() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("dashboard-token-\(getpid())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("token").path
        XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: Data("\(secret)\n".utf8)))
        chmod(path, 0o644)
        XCTAssertThrowsError(try DashboardToken.load(path: path)) { error in
            XCTAssertTrue("\(error)".contains("chmod 600"), "\(error)")
        }
        chmod(path, 0o600)
        let token = try DashboardToken.load(path: path)
        XCTAssertTrue(token.authorizes("Bearer \(secret)"))
        XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: Data("\n".utf8)))
        chmod(path, 0o600)
        XCTAssertThrowsError(try DashboardToken.load(path: path))
        XCTAssertThrowsError(try DashboardToken.load(path: folder.appendingPathComponent("missing").path))
    }

    func testLoadRefusesWhatIsNotARegularFileWithoutWaiting() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("dashboard-fifo-\(getpid())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        chmod(folder.path, 0o700)
        let fifo = folder.appendingPathComponent("token").path
        XCTAssertEqual(mkfifo(fifo, 0o600), 0)
        // A FIFO nobody writes would block a plain open: the gateway would never start.
        XCTAssertThrowsError(try DashboardToken.load(path: fifo)) { error in
            XCTAssertTrue("\(error)".contains("not a regular file"), "\(error)")
        }
        XCTAssertThrowsError(try DashboardToken.load(path: folder.path)) { error in
            XCTAssertTrue("\(error)".contains("not a regular file"), "\(error)")
        }
    }
}

final class RequestGuardTests: XCTestCase {
    let token = DashboardToken(text: "Zq3vT9xLmW2pR8sK4nB6yH1c")

    func testHostMustBeAnAddressOrLocalhost() {
        for host in ["127.0.0.1:8080", "[::1]:8080", "localhost:8080", "10.0.1.4", "LOCALHOST"] {
            XCTAssertNil(RequestGuard.hostProblem(host), host)
        }
        for host in [nil, "", "evil.example:8080", "127.0.0.1.nip.io:8080", "[::1", "127.0.0.1:80a", ":8080"] {
            XCTAssertNotNil(RequestGuard.hostProblem(host), host ?? "nil")
        }
    }

    private func problem(
        method: String = "POST", host: String? = "127.0.0.1:8080", origin: String? = "http://127.0.0.1:8080",
        site: String? = "same-origin", authorization: String? = "Bearer Zq3vT9xLmW2pR8sK4nB6yH1c",
        token: DashboardToken?? = nil
    ) -> String? {
        RequestGuard.actionProblem(
            method: method, host: host, origin: origin, fetchSite: site, authorization: authorization,
            token: token ?? self.token)
    }

    func testSameOriginPostWithTheTokenIsAllowed() {
        XCTAssertNil(problem())
        // curl: no Origin, no Sec-Fetch-Site.
        XCTAssertNil(problem(origin: nil, site: nil))
        // The IPv6 loopback, localhost, the default port, an SSH tunnel's local port: as a browser sends them.
        XCTAssertNil(problem(host: "[::1]:8080", origin: "http://[::1]:8080"))
        XCTAssertNil(problem(host: "localhost:8080", origin: "http://localhost:8080"))
        XCTAssertNil(problem(host: "127.0.0.1", origin: "http://127.0.0.1"))
        XCTAssertNil(problem(host: "127.0.0.1:9000", origin: "http://127.0.0.1:9000"))
    }

    func testEverythingElseIsRefused() {
        XCTAssertEqual(problem(method: "GET"), "actions are POST requests")
        XCTAssertNotNil(problem(origin: "http://evil.example"))
        XCTAssertNotNil(problem(origin: "http://127.0.0.1:9999"))
        XCTAssertNotNil(problem(site: "cross-site"))
        XCTAssertNotNil(problem(host: "evil.example:8080", origin: "http://evil.example:8080"))
        XCTAssertEqual(
            problem(authorization: nil), "this action needs the dashboard token (Authorization: Bearer TOKEN)")
        XCTAssertEqual(
            problem(authorization: "Bearer wrong-token-wrong-token1"), "the dashboard token is not the right one")
        XCTAssertTrue(problem(token: .some(nil))?.contains("read-only") == true)
    }
}

final class TokenThrottleTests: XCTestCase {
    func testTenWrongTokensASecond() {
        var throttle = TokenThrottle()
        let start = ContinuousClock.now
        for attempt in 0..<TokenThrottle.limit {
            XCTAssertTrue(throttle.allows(at: start + .milliseconds(attempt)), "attempt \(attempt)")
            throttle.failed(at: start + .milliseconds(attempt))
        }
        XCTAssertFalse(throttle.allows(at: start + .milliseconds(500)))
        XCTAssertFalse(throttle.allows(at: start + .milliseconds(999)))
        XCTAssertTrue(throttle.allows(at: start + TokenThrottle.window), "a new window")
        throttle.failed(at: start + TokenThrottle.window)
        XCTAssertTrue(throttle.allows(at: start + TokenThrottle.window + .milliseconds(1)))
    }
}

final class ConnectionStateTests: XCTestCase {
    func testStates() {
        XCTAssertEqual(ConnectionState.of([]), .down)
        XCTAssertEqual(ConnectionState.of([("established", 1)]), .up)
        XCTAssertEqual(ConnectionState.of([("rekeying", 2)]), .up)
        XCTAssertEqual(ConnectionState.of([("established", 0)]), .connecting)
        XCTAssertEqual(ConnectionState.of([("connecting", 0)]), .connecting)
        XCTAssertEqual(ConnectionState.of([("half-open", 0)]), .connecting)
        XCTAssertEqual(ConnectionState.of([("deleting", 1)]), .down)
        XCTAssertEqual(ConnectionState.of([("deleting", 1), ("authenticating", 0)]), .connecting)
        XCTAssertEqual(ConnectionState.of([("connecting", 0), ("established", 1)]), .up)
    }
}

final class TrafficHistoryTests: XCTestCase {
    private func counters(_ bytesIn: UInt64, _ bytesOut: UInt64) -> ESPConnectionTraffic {
        ESPConnectionTraffic(packetsIn: bytesIn / 100, bytesIn: bytesIn, packetsOut: bytesOut / 100, bytesOut: bytesOut)
    }

    func testRateBetweenTheLastTwoSamples() throws {
        var history = TrafficHistory(capacity: 3)
        history.record(["a": counters(0, 0)], time: 1_000)
        XCTAssertNil(history.rate(of: "a"))
        history.record(["a": counters(1_000, 500)], time: 3_000)
        let rate = try XCTUnwrap(history.rate(of: "a"))
        XCTAssertEqual(rate.bytesIn, 500, accuracy: 0.001)
        XCTAssertEqual(rate.bytesOut, 250, accuracy: 0.001)
    }

    func testBoundedAndForgetsConnectionsNoLongerCounted() {
        var history = TrafficHistory(capacity: 3)
        for second in 0..<10 {
            history.record(["a": counters(UInt64(second), 0), "b": counters(0, 0)], time: Int64(second))
        }
        XCTAssertEqual(history.samples(of: "a").map(\.time), [7, 8, 9])
        history.record(["a": counters(10, 0)], time: 10)
        XCTAssertTrue(history.samples(of: "b").isEmpty)
    }

    func testCounterThatWentBackCountsFromZero() throws {
        var history = TrafficHistory()
        history.record(["a": counters(5_000, 0)], time: 0)
        history.record(["a": counters(300, 0)], time: 1_000)
        XCTAssertEqual(try XCTUnwrap(history.rate(of: "a")).bytesIn, 300, accuracy: 0.001)
    }
}

final class DashboardSnapshotTests: XCTestCase {
    func testSnapshotCarriesStatesTrafficAndTheWholeAnswer() throws {
        let status = Array(
            #"""
            {"ok":true,"gateway":"cloud","connections":[
             {"name":"up","ikeSAs":[{"state":"established","childSAs":[{"state":"installed"}]}]},
             {"name":"down","ikeSAs":[]}],
             "dataplane":{"connections":{"up":{"packetsIn":3,"bytesIn":252,"packetsOut":4,"bytesOut":336}}}}
            """#.utf8)
        let (data, traffic) = try XCTUnwrap(DashboardHub.snapshot(status: status, time: 42))
        XCTAssertEqual(traffic["up"]?.bytesOut, 336)
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(data)) as? [String: Any])
        XCTAssertEqual(object["states"] as? [String: String], ["up": "up", "down": "down"])
        XCTAssertEqual(object["time"] as? Int, 42)
        XCTAssertEqual((object["status"] as? [String: Any])?["gateway"] as? String, "cloud")
    }

    func testNoSnapshotOfAFailure() {
        XCTAssertNil(DashboardHub.snapshot(status: Array(#"{"ok":false,"error":"no"}"#.utf8), time: 1))
        XCTAssertNil(DashboardHub.snapshot(status: Array("not json".utf8), time: 1))
    }

    func testServerSentEventIsOneEventOfOneDataLine() {
        let buffer = DashboardHub.message("record", Array("{\"a\":\n1}".utf8))
        XCTAssertEqual(String(buffer: buffer), "event: record\ndata: {\"a\":1}\n\n")
    }
}

final class DashboardTopologyTests: XCTestCase {
    static let examples = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("examples")

    func testCloudExampleIsDrawnWithoutItsKey() throws {
        let path = Self.examples.appendingPathComponent("cloud-dynamic.yaml").path
        let config = try XCTUnwrap(ConfigLoader.load(path: path).config)
        let topology = DashboardTopology(config: config)
        XCTAssertEqual(topology.gateway.name, "cloud-dynamic")
        XCTAssertEqual(topology.gateway.publicAddress, "203.0.113.20")
        XCTAssertEqual(topology.gateway.pointToSitePool, "10.0.0.0/24")
        XCTAssertEqual(topology.network.name, "isthmus-vnet")
        XCTAssertEqual(topology.network.subnets.filter(\.gateway).map(\.name), ["GatewaySubnet"])
        XCTAssertEqual(topology.network.prefixes, ["10.0.1.0/24"])
        XCTAssertEqual(topology.sites.map(\.name), ["office"])
        XCTAssertEqual(topology.sites.first?.prefixes, ["192.168.1.0/24"])
        let link = try XCTUnwrap(topology.connections.first)
        XCTAssertEqual(link.site, "office")
        XCTAssertEqual(link.sharedKey, "inline")
        XCTAssertEqual(link.ikeLifetimeSeconds, 28800)
        let json = String(decoding: DashboardServer.encode(topology), as: UTF8.self)
        config.connections[0].sharedKey.withMaterial { key in
            XCTAssertFalse(json.contains(String(decoding: key, as: UTF8.self)))
        }
    }

    func testOfficeSiteOfPrefixes() throws {
        let path = Self.examples.appendingPathComponent("office-dynamic.yaml").path
        let config = try XCTUnwrap(ConfigLoader.load(path: path).config)
        let topology = DashboardTopology(config: config)
        XCTAssertNil(topology.network.name)
        XCTAssertEqual(topology.network.prefixes, ["192.168.1.0/24"])
        XCTAssertEqual(topology.sites.map(\.gateway), ["203.0.113.20"])
    }
}

final class KeyRotationTests: XCTestCase {
    func testRotatesTheKeyFileWithoutSayingTheKey() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("dashboard-rotate-\(getpid())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let key = folder.appendingPathComponent("office.key").path
        XCTAssertTrue(
            FileManager.default.createFile(
                atPath: key, contents: Data("old-key-old-key-old-key-0123456789\n".utf8),
                attributes: [.posixPermissions: 0o600]))
        var yaml = try String(
            contentsOf: DashboardTopologyTests.examples.appendingPathComponent("cloud-dynamic.yaml"), encoding: .utf8)
        yaml = yaml.replacingOccurrences(
            of: "shared_key: isthmus-demo-key-change-me-0123456789", with: "shared_key: file:\(key)")
        let path = folder.appendingPathComponent("cloud.yaml").path
        XCTAssertTrue(
            FileManager.default.createFile(
                atPath: path, contents: Data(yaml.utf8), attributes: [.posixPermissions: 0o600]))
        let config = try XCTUnwrap(ConfigLoader.load(path: path).config)
        let message = try KeyRotation.rotate("cloud-office", config: config, file: path)
        let written = try String(contentsOfFile: key, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertNotEqual(written, "old-key-old-key-old-key-0123456789")
        XCTAssertGreaterThanOrEqual(written.count, 40)
        XCTAssertTrue(message.contains(key), message)
        XCTAssertFalse(message.contains(written), "the key must never be in the answer")
        let mode = try XCTUnwrap(FileManager.default.attributesOfItem(atPath: key)[.posixPermissions] as? Int)
        XCTAssertEqual(mode, 0o600)
        XCTAssertThrowsError(try KeyRotation.rotate("nope", config: config, file: path))
    }

    func testInlineKeyIsNotRotated() throws {
        let path = DashboardTopologyTests.examples.appendingPathComponent("cloud-dynamic.yaml").path
        let config = try XCTUnwrap(ConfigLoader.load(path: path).config)
        XCTAssertThrowsError(try KeyRotation.rotate("cloud-office", config: config, file: path)) { error in
            XCTAssertTrue("\(error)".contains("inline"), "\(error)")
        }
    }
}

final class DashboardHubTests: XCTestCase {
    private func hub() -> DashboardHub {
        DashboardHub(
            backend: DashboardBackend(
                topology: { throw DashboardError("unused") }, control: { _, _ in Array(#"{"ok":false}"#.utf8) },
                events: { AsyncStream { _ in } }, rotateKey: { _ in "unused" }))
    }

    func testPageThatDoesNotReadHoldsABoundedQueueAndIsToldWhatItMissed() async throws {
        let hub = hub()
        let stream = try XCTUnwrap(hub.subscribe())
        let started = ContinuousClock.now
        for number in 0..<10_000 { hub.broadcast("record", Array(#"{"n":\#(number)}"#.utf8)) }
        XCTAssertLessThan(ContinuousClock.now - started, .seconds(5), "broadcasting never waits for a page")
        var iterator = stream.makeAsyncIterator()
        var received: [String] = []
        for _ in 0..<DashboardHub.clientBacklog {
            guard let buffer = await iterator.next() else { break }
            received.append(String(buffer: buffer))
        }
        XCTAssertEqual(received.count, DashboardHub.clientBacklog)
        XCTAssertEqual(received.first, ": isthmus dashboard\n\n")
        XCTAssertEqual(received.last, "event: record\ndata: {\"n\":254}\n\n")
        // Room again: the page is told it missed messages, then gets the next one.
        hub.broadcast("record", Array(#"{"n":10000}"#.utf8))
        let resync = await iterator.next().map { String(buffer: $0) }
        let next = await iterator.next().map { String(buffer: $0) }
        XCTAssertEqual(resync, "event: resync\ndata: {}\n\n")
        XCTAssertEqual(next, "event: record\ndata: {\"n\":10000}\n\n")
        hub.stop()
        let end = await iterator.next()
        XCTAssertNil(end)
        XCTAssertNil(hub.subscribe(), "no new page after stop")
    }

    func testStatusSnapshotsAreNotQueuedAPageReadsTheLatest() async throws {
        let sample = Mutex(0)
        let hub = DashboardHub(
            backend: DashboardBackend(
                topology: { throw DashboardError("unused") },
                control: { _, _ in
                    let number = sample.withLock { value in
                        value += 1
                        return value
                    }
                    return Array(#"{"ok":true,"connections":[],"sample":\#(number)}"#.utf8)
                },
                events: { AsyncStream { _ in } }, rotateKey: { _ in "unused" }))
        let stream = try XCTUnwrap(hub.subscribe())
        // A gateway with many connections has a large status answer: a page that does not read must not hold
        // a copy of each one.
        for _ in 0..<1000 { await hub.sampleOnce() }
        hub.broadcast("record", Array(#"{"n":1}"#.utf8))
        await hub.sampleOnce()
        hub.broadcast("record", Array(#"{"n":2}"#.utf8))
        var iterator = stream.makeAsyncIterator()
        var received: [String] = []
        for _ in 0..<4 {
            guard let buffer = await iterator.next() else { break }
            received.append(String(buffer: buffer))
        }
        XCTAssertEqual(received.count, 4)
        XCTAssertEqual(received[0], ": isthmus dashboard\n\n")
        XCTAssertTrue(received[1].hasPrefix("event: status\n"), received[1])
        XCTAssertTrue(received[1].contains(#""sample":1001}"#), "the latest snapshot, not the first: \(received[1])")
        XCTAssertEqual(received[2], "event: record\ndata: {\"n\":1}\n\n")
        XCTAssertEqual(received[3], "event: record\ndata: {\"n\":2}\n\n", "one status mark was queued, not two")
        // Read: the next snapshot is queued again.
        await hub.sampleOnce()
        let next = await iterator.next().map { String(buffer: $0) } ?? ""
        XCTAssertTrue(next.contains(#""sample":1002}"#), next)
        // A page that subscribes later starts with the latest snapshot.
        var late = try XCTUnwrap(hub.subscribe()).makeAsyncIterator()
        let first = await late.next().map { String(buffer: $0) } ?? ""
        XCTAssertTrue(first.contains(#""sample":1002}"#), first)
        hub.stop()
    }

    func testSamplesOnceASecondOnlyWhileAPageFollows() async throws {
        let samples = Mutex(0)
        let hub = DashboardHub(
            backend: DashboardBackend(
                topology: { throw DashboardError("unused") },
                control: { _, _ in
                    samples.withLock { $0 += 1 }
                    return Array(#"{"ok":true,"connections":[]}"#.utf8)
                },
                events: { AsyncStream { _ in } }, rotateKey: { _ in "unused" }))
        let sampler = Task { await hub.sampleStatus() }
        defer { sampler.cancel() }
        try await Task.sleep(for: .milliseconds(2200))
        XCTAssertEqual(samples.withLock { $0 }, 1, "no page: one sample at the start, the next after 5 s")
        let page = try XCTUnwrap(hub.subscribe())
        try await Task.sleep(for: .milliseconds(2500))
        XCTAssertGreaterThanOrEqual(samples.withLock { $0 }, 3, "a page: a sample at once, then one a second")
        _ = page
        hub.stop()
    }

    func testEventsAskForASampleAtMostEveryMinimumGap() {
        let start = ContinuousClock.now
        let next = start + DashboardHub.interval
        XCTAssertTrue(DashboardHub.due(now: start, next: next, last: nil, dirty: true))
        XCTAssertFalse(DashboardHub.due(now: start, next: next, last: nil, dirty: false))
        XCTAssertFalse(DashboardHub.due(now: start + .milliseconds(100), next: next, last: start, dirty: true))
        XCTAssertTrue(
            DashboardHub.due(now: start + DashboardHub.minimumGap, next: next, last: start, dirty: true))
        XCTAssertTrue(DashboardHub.due(now: next, next: next, last: start, dirty: false), "the interval is over")
    }

    func testPagesAreLimited() {
        let hub = hub()
        var streams = [hub.subscribe()].compactMap { $0 }
        for _ in 1..<DashboardHub.maximumClients { if let stream = hub.subscribe() { streams.append(stream) } }
        XCTAssertEqual(streams.count, DashboardHub.maximumClients)
        XCTAssertNil(hub.subscribe())
        XCTAssertEqual(hub.clientCount, DashboardHub.maximumClients)
        hub.stop()
    }
}

final class AnswerCacheTests: XCTestCase {
    func testPagesAskingAtOnceCostTheGatewayOneAnswerAskedOneAtATime() async throws {
        let cache = AnswerCache(lifetime: .milliseconds(300))
        let asked = Mutex((count: 0, running: 0, most: 0))
        let ask: @Sendable () async throws -> [UInt8] = {
            let number = asked.withLock { value in
                value.count += 1
                value.running += 1
                value.most = max(value.most, value.running)
                return value.count
            }
            try await Task.sleep(for: .milliseconds(20))
            asked.withLock { $0.running -= 1 }
            return Array("answer \(number)".utf8)
        }
        let answers = try await withThrowingTaskGroup(of: [UInt8].self) { group in
            for index in 0..<40 {
                group.addTask { try await cache.answer(index % 2 == 0 ? "" : "a", ask: ask) }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        XCTAssertEqual(answers.count, 40)
        XCTAssertEqual(asked.withLock { $0.count }, 2, "one answer per question")
        XCTAssertEqual(asked.withLock { $0.most }, 1, "one question at a time")
        try await Task.sleep(for: .milliseconds(350))
        _ = try await cache.answer("", ask: ask)
        XCTAssertEqual(asked.withLock { $0.count }, 3, "asked again once the answer is old")
    }

    func testAnAnswerAskedBeforeTheNewestEventIsNotServedAgain() async throws {
        let cache = AnswerCache(lifetime: .seconds(60))
        let asked = Mutex(0)
        let ask: @Sendable () async throws -> [UInt8] = {
            asked.withLock { $0 += 1 }
            return []
        }
        _ = try await cache.answer("", epoch: 4, ask: ask)
        _ = try await cache.answer("", epoch: 4, ask: ask)
        XCTAssertEqual(asked.withLock { $0 }, 1, "shared within the same events")
        // A page asks because event 5 arrived (the connection came up): the answer of epoch 4 is out of date.
        _ = try await cache.answer("", epoch: 5, ask: ask)
        XCTAssertEqual(asked.withLock { $0 }, 2)
        _ = try await cache.answer("", epoch: 5, ask: ask)
        XCTAssertEqual(asked.withLock { $0 }, 2)
    }

    func testKeepsAtMostItsCapacity() async throws {
        let cache = AnswerCache(lifetime: .seconds(60), capacity: 2)
        let asked = Mutex(0)
        let ask: @Sendable () async throws -> [UInt8] = {
            asked.withLock { $0 += 1 }
            return []
        }
        for question in ["a", "b", "c", "c", "b"] { _ = try await cache.answer(question, ask: ask) }
        // "a" made room for "c"; "b" and "c" are kept.
        XCTAssertEqual(asked.withLock { $0 }, 3)
        _ = try await cache.answer("a", ask: ask)
        XCTAssertEqual(asked.withLock { $0 }, 4)
    }
}
