import Foundation
import IsthmusMetrics
import Logging
import Synchronization
import XCTest

@testable import IsthmusDashboard

/// The dashboard served for real on the loopback, against a fake gateway: pages, the model, the guard of
/// actions, the live stream.
final class DashboardServerTests: XCTestCase {
    /// What the fake gateway was asked to do.
    final class Calls: Sendable {
        let value = Mutex<[String]>([])
        func add(_ call: String) { value.withLock { $0.append(call) } }
        var all: [String] { value.withLock { $0 } }
    }

    static let topology = DashboardTopology(
        gateway: .init(
            name: "gw", kind: "dynamic", kindText: "dynamic (route-based)", publicAddress: "203.0.113.20",
            pointToSitePool: nil),
        network: .init(
            name: nil, addressSpaces: ["10.0.1.0/24"], subnets: [], dnsServers: [], prefixes: ["10.0.1.0/24"]),
        sites: [.init(name: "office", gateway: "198.51.100.10", prefixes: ["192.168.1.0/24"])],
        connections: [])

    private func start(token: DashboardToken?) async throws -> (DashboardServer.Running, Calls) {
        let calls = Calls()
        let backend = DashboardBackend(
            topology: { Self.topology },
            control: { command, connection in
                calls.add("\(command) \(connection ?? "-")")
                if command == "status" {
                    return Array(#"{"ok":true,"connections":[{"name":"a","ikeSAs":[]}]}"#.utf8)
                }
                return Array(#"{"ok":true,"message":"done"}"#.utf8)
            },
            events: { AsyncStream { _ in } },
            rotateKey: { name in
                calls.add("rotate \(name)")
                return "rotated"
            })
        // The address notation has no port 0: the server gets its port's address; the port itself is then
        // ours (a server that cannot bind would fail the test, not pass it).
        var address = try XCTUnwrap(DashboardAddress.parse("127.0.0.1:1"))
        address.port = try freePort()
        let server = DashboardServer(
            address: address, backend: backend, token: token, logger: Logger(label: "test.dashboard"))
        return (try await server.start(), calls)
    }

    /// A TCP port of the loopback nobody listens on now.
    private func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                bind(fd, pointer, length) == 0 && getsockname(fd, pointer, &length) == 0
            }
        }
        XCTAssertTrue(bound)
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// One HTTP/1.1 exchange over a fresh connection: the status line, the head and the body.
    private func exchange(_ port: Int, _ request: String) throws -> (status: Int, head: String, body: String) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        XCTAssertGreaterThanOrEqual(fd, 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        XCTAssertEqual(connected, 0)
        let bytes = Array(request.utf8)
        XCTAssertEqual(bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }, bytes.count)
        var received: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count <= 0 { break }
            received += chunk[..<count]
        }
        let text = String(decoding: received, as: UTF8.self)
        let parts = text.components(separatedBy: "\r\n\r\n")
        let head = parts.first ?? ""
        let status = Int(head.split(separator: " ").dropFirst().first ?? "") ?? 0
        return (status, head, parts.dropFirst().joined(separator: "\r\n\r\n"))
    }

    private func get(_ port: Int, _ path: String, host: String? = nil) throws -> (
        status: Int, head: String, body: String
    ) {
        try exchange(port, "GET \(path) HTTP/1.1\r\nHost: \(host ?? "127.0.0.1:\(port)")\r\nConnection: close\r\n\r\n")
    }

    private func post(_ port: Int, _ path: String, headers: [String] = []) throws -> (
        status: Int, head: String, body: String
    ) {
        let extra = headers.map { "\($0)\r\n" }.joined()
        return try exchange(
            port,
            "POST \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\n\(extra)Content-Length: 0\r\nConnection: close\r\n\r\n"
        )
    }

    func testPagesModelAndSecurityHeaders() async throws {
        let (server, _) = try await start(token: nil)
        let page = try get(server.port, "/connections/a")
        XCTAssertEqual(page.status, 200)
        XCTAssertTrue(page.body.contains("<script src=\"/app.js\" defer></script>"))
        XCTAssertTrue(page.head.lowercased().contains("content-security-policy: default-src 'none'"))
        XCTAssertEqual(try get(server.port, "/app.js").status, 200)
        let model = try get(server.port, "/api/model")
        let decoded = try JSONDecoder().decode(DashboardTopology.self, from: Data(model.body.utf8))
        XCTAssertEqual(decoded, Self.topology)
        let session = try get(server.port, "/api/session")
        XCTAssertEqual(session.body, #"{"actions":false}"#)
        XCTAssertEqual(try get(server.port, "/api/model", host: "evil.example:80").status, 403)
        await server.stop()
    }

    func testActionsNeedTheTokenAndAPost() async throws {
        let token = try XCTUnwrap(DashboardToken(text: "Zq3vT9xLmW2pR8sK4nB6yH1c"))
        let (server, calls) = try await start(token: token)
        let port = server.port
        XCTAssertEqual(try post(port, "/api/connections/a/down").status, 403)
        XCTAssertEqual(
            try post(port, "/api/connections/a/down", headers: ["Authorization: Bearer nope-nope-nope-nope"]).status,
            403)
        XCTAssertEqual(
            try post(
                port, "/api/connections/a/down",
                headers: ["Authorization: Bearer Zq3vT9xLmW2pR8sK4nB6yH1c", "Origin: http://evil.example"]
            ).status, 403)
        XCTAssertFalse(calls.all.contains { $0.hasPrefix("down") })
        XCTAssertNotEqual(try get(port, "/api/connections/a/down").status, 200)
        let done = try post(
            port, "/api/connections/a/down",
            headers: ["Authorization: Bearer Zq3vT9xLmW2pR8sK4nB6yH1c", "Origin: http://127.0.0.1:\(port)"])
        XCTAssertEqual(done.status, 200)
        XCTAssertEqual(done.body, #"{"ok":true,"message":"done"}"#)
        let rotated = try post(
            port, "/api/connections/a/rotate-key", headers: ["Authorization: Bearer Zq3vT9xLmW2pR8sK4nB6yH1c"])
        XCTAssertTrue(rotated.body.contains("rotated"))
        XCTAssertTrue(calls.all.contains("down a"))
        XCTAssertTrue(calls.all.contains("rotate a"))
        await server.stop()
    }

    func testGuessingTheTokenIsSlowedDown() async throws {
        let token = try XCTUnwrap(DashboardToken(text: "Zq3vT9xLmW2pR8sK4nB6yH1c"))
        let (server, calls) = try await start(token: token)
        let port = server.port
        for guess in 0..<TokenThrottle.limit {
            let answer = try post(port, "/api/reload", headers: ["Authorization: Bearer guess-guess-guess-\(guess)"])
            XCTAssertEqual(answer.status, 403)
        }
        let right = ["Authorization: Bearer Zq3vT9xLmW2pR8sK4nB6yH1c"]
        let throttled = try post(port, "/api/reload", headers: right)
        XCTAssertEqual(throttled.status, 429, "not even checked: \(throttled.body)")
        XCTAssertFalse(calls.all.contains("reload -"))
        try await Task.sleep(for: TokenThrottle.window + .milliseconds(100))
        XCTAssertEqual(try post(port, "/api/reload", headers: right).status, 200)
        XCTAssertTrue(calls.all.contains("reload -"))
        await server.stop()
    }

    func testErrorsAreOneSentenceWithTheSecurityHeaders() async throws {
        let (server, _) = try await start(token: nil)
        for answer in [
            try get(server.port, "/no/such/page"), try get(server.port, "/api/connections/%3Cscript%3E/nothing"),
        ] {
            XCTAssertEqual(answer.status, 404)
            let head = answer.head.lowercased()
            XCTAssertTrue(head.contains("content-type: application/json"), answer.head)
            XCTAssertTrue(head.contains("content-security-policy: default-src 'none'"), answer.head)
            XCTAssertTrue(head.contains("x-content-type-options: nosniff"), answer.head)
            XCTAssertTrue(answer.body.hasPrefix(#"{"error":"#), answer.body)
            XCTAssertFalse(answer.body.contains("<script>"), answer.body)
        }
        await server.stop()
    }

    func testConnectionsBeyondTheLimitAreClosed() async throws {
        let (server, _) = try await start(token: nil)
        var held: [Int32] = []
        defer { for fd in held { close(fd) } }
        for _ in 0..<DashboardServer.maximumConnections { held.append(try idleConnection(server.port)) }
        // Each held connection is counted once the server has accepted it.
        let accepted = ContinuousClock.now
        while server.connections < DashboardServer.maximumConnections, ContinuousClock.now - accepted < .seconds(5) {
            try await Task.sleep(for: .milliseconds(20))
        }
        XCTAssertEqual(server.connections, DashboardServer.maximumConnections)
        XCTAssertEqual(try get(server.port, "/api/session").status, 0, "one too many: closed without an answer")
        for fd in held { close(fd) }
        held = []
        let released = ContinuousClock.now
        while server.connections > 0, ContinuousClock.now - released < .seconds(5) {
            try await Task.sleep(for: .milliseconds(20))
        }
        XCTAssertEqual(try get(server.port, "/api/session").status, 200, "closed connections count no more")
        await server.stop()
    }

    /// A TCP connection to the dashboard that sends nothing.
    private func idleConnection(_ port: Int) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        XCTAssertEqual(connected, 0)
        return fd
    }

    func testAPortInUseIsOneClearSentence() async throws {
        let (server, _) = try await start(token: nil)
        var address = try XCTUnwrap(DashboardAddress.parse("127.0.0.1:1"))
        address.port = server.port
        let second = DashboardServer(
            address: address,
            backend: DashboardBackend(
                topology: { Self.topology }, control: { _, _ in [] }, events: { AsyncStream { _ in } },
                rotateKey: { _ in "" }), token: nil, logger: Logger(label: "test.dashboard"))
        do {
            let running = try await second.start()
            await running.stop()
            XCTFail("a second dashboard listened on the same port")
        } catch {
            XCTAssertEqual("\(error)", "Address already in use")
        }
        await server.stop()
    }

    func testStatusSnapshotDerivesStates() async throws {
        let (server, _) = try await start(token: nil)
        // The sampler runs once a second; /api/status samples at once when there is no snapshot yet.
        let status = try get(server.port, "/api/status")
        XCTAssertEqual(status.status, 200)
        XCTAssertTrue(status.body.contains(#""states":{"a":"down"}"#), status.body)
        await server.stop()
    }
}
