import Foundation
import HTTPTypes
import Hummingbird
import IsthmusMetrics
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization

/// The web dashboard (`isthmus run --dashboard ADDRESS:PORT`): the network diagram, a page per connection,
/// live updates by server-sent events and, with the token, actions. Served by Hummingbird; every page, style,
/// script and picture is in this module (it works offline); no page ever holds a secret.
///
/// Routes: `GET /` and `GET /connections/NAME` (the pages), `/app.js`, `/app.css`, `/favicon.svg`;
/// `GET /api/model` (``DashboardTopology``), `/api/status` (the latest snapshot), `/api/session`,
/// `/api/events[?connection=NAME]`, `/api/diagnose[?connection=NAME]`, `/api/connections/NAME/traffic`;
/// `GET /events` (server-sent events); `POST /api/connections/NAME/up|down|rotate-key`, `POST /api/reload`,
/// `POST /api/token` (checks a token) with `Authorization: Bearer TOKEN`.
public struct DashboardServer: Sendable {
    public let address: MetricsAddress
    let backend: DashboardBackend
    let token: DashboardToken?
    let logger: Logger

    /// Most HTTP connections open at once: more are closed as they come (the dashboard shares its process,
    /// and so its file descriptors, with the gateway).
    static let maximumConnections = 128
    /// A connection that sends no request for this long, or does not finish sending one, is closed (a page
    /// following `/events` is not idle).
    static let idleTimeout: Duration = .seconds(30)

    /// - Parameter token: unlocks the actions; nil: the dashboard is read-only.
    public init(address: MetricsAddress, backend: DashboardBackend, token: DashboardToken?, logger: Logger) {
        self.address = address
        self.backend = backend
        self.token = token
        self.logger = logger
    }

    /// Binds and starts serving in tasks of its own; returns once it listens, or throws when it cannot bind.
    public func start() async throws -> Running {
        let hub = DashboardHub(backend: backend)
        let router = makeRouter(hub: hub)
        let (bound, signal) = AsyncThrowingStream<Int, any Error>.makeStream()
        let limit = ConnectionLimit(maximum: Self.maximumConnections)
        let app = Application(
            router: router,
            server: .http1(
                configuration: .init(
                    additionalChannelHandlers: [ConnectionLimit.Handler(limit: limit)],
                    idleTimeout: .seconds(Int64(Self.idleTimeout.components.seconds)))),
            configuration: ApplicationConfiguration(
                address: .hostname("\(address.host)", port: address.port), serverName: "isthmus"),
            onServerRunning: { channel in
                signal.yield(channel.localAddress?.port ?? 0)
                signal.finish()
            },
            logger: logger)
        let group = ServiceGroup(configuration: ServiceGroupConfiguration(services: [app], logger: logger))
        let logger = self.logger
        let listening = Mutex(false)
        let server = Task {
            do {
                try await group.run()
            } catch {
                signal.finish(throwing: error)
                if listening.withLock({ $0 }) { logger.error("dashboard stopped: \(error)") }
            }
        }
        var iterator = bound.makeAsyncIterator()
        let port: Int?
        do {
            port = try await iterator.next()
        } catch let error as IOError {
            // NIO's text names its own function; the system's sentence is what the operator needs.
            throw DashboardError(String(cString: strerror(error.errnoCode)))
        }
        guard let port else { throw DashboardError("the dashboard stopped before it listened") }
        listening.withLock { $0 = true }
        let events = Task { await hub.followEvents() }
        let sampler = Task { await hub.sampleStatus() }
        return Running(port: port, group: group, tasks: [server, events, sampler], hub: hub, limit: limit)
    }

    /// A dashboard started by ``start()``.
    public final class Running: Sendable {
        /// The port it listens on.
        public let port: Int
        private let group: ServiceGroup
        private let tasks: [Task<Void, Never>]
        private let hub: DashboardHub
        private let limit: ConnectionLimit

        init(port: Int, group: ServiceGroup, tasks: [Task<Void, Never>], hub: DashboardHub, limit: ConnectionLimit) {
            self.port = port
            self.group = group
            self.tasks = tasks
            self.hub = hub
            self.limit = limit
        }

        /// HTTP connections open now.
        var connections: Int { limit.count }

        /// Ends the event streams, stops serving (a graceful shutdown, cancelled after 2 s).
        public func stop() async {
            hub.stop()
            for task in tasks.dropFirst() { task.cancel() }
            await group.triggerGracefulShutdown()
            let server = tasks[0]
            let timeout = Task {
                try? await Task.sleep(for: .seconds(2))
                if !Task.isCancelled { server.cancel() }
            }
            await server.value
            timeout.cancel()
        }
    }

    // MARK: - Routes

    func makeRouter(hub: DashboardHub) -> Router<BasicRequestContext> {
        let router = Router()
        router.add(middleware: GuardMiddleware())
        let backend = self.backend
        let token = self.token

        // Pages and assets.
        let page: @Sendable (Request, BasicRequestContext) async throws -> Response = { _, _ in
            Self.respond(DashboardAssets.html, type: "text/html; charset=utf-8")
        }
        router.get("/", use: page)
        router.get("/connections/:name", use: page)
        router.get("/app.js") { _, _ in Self.respond(DashboardAssets.script, type: "text/javascript; charset=utf-8") }
        router.get("/app.css") { _, _ in Self.respond(DashboardAssets.style, type: "text/css; charset=utf-8") }
        router.get("/favicon.svg") { _, _ in Self.respond(DashboardAssets.favicon, type: "image/svg+xml") }
        router.get("/favicon.ico") { _, _ in Self.respond(DashboardAssets.favicon, type: "image/svg+xml") }

        // Read-only API.
        router.get("/api/model") { _, _ in
            let topology = try await backend.topology()
            return Self.json(Self.encode(topology))
        }
        router.get("/api/status") { _, _ in
            if let snapshot = hub.snapshot { return Self.json(snapshot) }
            await hub.sampleOnce()
            return Self.json(hub.snapshot ?? Array(#"{"states":{},"status":null}"#.utf8))
        }
        router.get("/api/session") { _, _ in
            Self.json(Array(#"{"actions":\#(token != nil)}"#.utf8))
        }
        router.get("/api/events") { request, _ in
            Self.json(try await backend.control("events", Self.connectionParameter(request)))
        }
        let diagnoses = AnswerCache()
        router.get("/api/diagnose") { request, _ in
            let connection = Self.connectionParameter(request)
            return Self.json(
                try await diagnoses.answer(connection ?? "", epoch: hub.eventsSeen) {
                    try await backend.control("diagnose", connection)
                })
        }
        router.get("/api/connections/:name/traffic") { _, context in
            let name = Self.decoded(context.parameters.get("name") ?? "")
            return Self.json(Self.encode(hub.traffic(of: name)))
        }
        router.get("/events") { _, _ in
            guard let stream = hub.subscribe() else {
                return Self.failure(.serviceUnavailable, "too many dashboard pages are following this gateway")
            }
            var headers = HTTPFields()
            headers[.contentType] = "text/event-stream"
            headers[.cacheControl] = "no-store"
            return Response(status: .ok, headers: headers, body: ResponseBody(asyncSequence: stream))
        }

        // Actions.
        let throttle = Mutex(TokenThrottle())
        let action:
            @Sendable (
                Request, @escaping @Sendable () async throws -> [UInt8]
            ) async throws -> Response = { request, perform in
                let authorization = request.headers[.authorization]
                if authorization != nil, !throttle.withLock({ $0.allows(at: .now) }) {
                    return Self.failure(.tooManyRequests, "too many wrong dashboard tokens: try again in a second")
                }
                if authorization != nil, let token, !token.authorizes(authorization) {
                    throttle.withLock { $0.failed(at: .now) }
                }
                if let problem = RequestGuard.actionProblem(
                    method: request.method.rawValue, host: request.head.authority,
                    origin: request.headers[.origin], fetchSite: request.headers[Self.secFetchSite],
                    authorization: authorization, token: token)
                {
                    return Self.failure(.forbidden, problem)
                }
                do {
                    return Self.json(try await perform())
                } catch let error as DashboardError {
                    return Self.json(Self.encode(ActionAnswer(ok: false, error: error.description)))
                }
            }
        router.post("/api/connections/:name/up") { request, context in
            let name = Self.decoded(context.parameters.get("name") ?? "")
            return try await action(request) { try await backend.control("up", name) }
        }
        router.post("/api/connections/:name/down") { request, context in
            let name = Self.decoded(context.parameters.get("name") ?? "")
            return try await action(request) { try await backend.control("down", name) }
        }
        router.post("/api/connections/:name/rotate-key") { request, context in
            let name = Self.decoded(context.parameters.get("name") ?? "")
            return try await action(request) {
                Self.encode(ActionAnswer(ok: true, message: try await backend.rotateKey(name)))
            }
        }
        router.post("/api/reload") { request, _ in
            try await action(request) { try await backend.control("reload", nil) }
        }
        router.post("/api/token") { request, _ in
            try await action(request) { Self.encode(ActionAnswer(ok: true, message: "actions unlocked")) }
        }
        return router
    }

    /// The JSON answer of an action the dashboard carries out itself.
    struct ActionAnswer: Encodable {
        var ok: Bool
        var message: String?
        var error: String?
    }

    static let secFetchSite = HTTPField.Name("Sec-Fetch-Site")!

    /// `?connection=NAME`, nil when absent or empty.
    static func connectionParameter(_ request: Request) -> String? {
        guard let name = request.uri.queryParameters.get("connection"), !name.isEmpty else { return nil }
        return name
    }

    /// Percent-decoding of a path component (`%20` to a space); the text as it is when it is not valid.
    static func decoded(_ text: String) -> String {
        text.removingPercentEncoding ?? text
    }

    static func encode<T: Encodable>(_ value: T) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? Array(encoder.encode(value))) ?? Array(#"{"ok":false,"error":"cannot encode the answer"}"#.utf8)
    }

    static func respond(_ text: String, type: String) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = type
        headers[.cacheControl] = "no-cache"
        return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
    }

    static func json(_ bytes: [UInt8], status: HTTPResponse.Status = .ok) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        headers[.cacheControl] = "no-store"
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    static func failure(_ status: HTTPResponse.Status, _ message: String) -> Response {
        json(encode(ActionAnswer(ok: false, error: message)), status: status)
    }
}

/// Refuses requests that do not name the dashboard by address (``RequestGuard/hostProblem(_:)``) and adds
/// the security headers to every answer: a content security policy that allows only the dashboard's own
/// scripts, styles and requests, no framing, no sniffing, no referrer.
struct GuardMiddleware<Context: RequestContext>: RouterMiddleware {
    static var policy: String {
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
            + "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response)
        async throws -> Response
    {
        var response: Response
        if let problem = RequestGuard.hostProblem(request.head.authority) {
            response = DashboardServer.failure(.forbidden, problem)
        } else {
            do {
                response = try await next(request, context)
            } catch let error as HTTPError {
                // Not found, a wrong method: one sentence in JSON, with the headers below.
                response = DashboardServer.failure(
                    error.status, error.body ?? "\(request.method) \(request.uri.path.prefix(200)): \(error.status)")
            } catch {
                context.logger.warning("dashboard request failed: \(error)")
                response = DashboardServer.failure(.internalServerError, "the gateway did not answer this request")
            }
        }
        response.headers[.contentSecurityPolicy] = Self.policy
        response.headers[.xContentTypeOptions] = "nosniff"
        response.headers[HTTPField.Name("X-Frame-Options")!] = "DENY"
        response.headers[HTTPField.Name("Referrer-Policy")!] = "no-referrer"
        return response
    }
}

/// Counts the dashboard's open HTTP connections and closes those beyond ``maximum``.
final class ConnectionLimit: Sendable {
    let maximum: Int
    private let open = Atomic<Int>(0)

    init(maximum: Int) { self.maximum = maximum }

    /// Connections open now.
    var count: Int { open.load(ordering: .relaxed) }

    /// One connection more; false when it is one too many (it still counts until ``leave()``).
    func enter() -> Bool { open.add(1, ordering: .relaxed).newValue <= maximum }

    func leave() { open.subtract(1, ordering: .relaxed) }

    /// In each connection's pipeline: counts it while it is open, closes it at once when it is one too many.
    final class Handler: ChannelInboundHandler, RemovableChannelHandler {
        typealias InboundIn = NIOAny
        let limit: ConnectionLimit
        private var counted = false

        init(limit: ConnectionLimit) { self.limit = limit }

        func handlerAdded(context: ChannelHandlerContext) {
            counted = true
            if !limit.enter() { context.close(promise: nil) }
        }

        func handlerRemoved(context: ChannelHandlerContext) {
            if counted { limit.leave() }
            counted = false
        }
    }
}
