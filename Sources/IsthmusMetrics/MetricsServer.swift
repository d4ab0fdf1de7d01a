import Hummingbird
import Logging
import Prometheus
import ServiceLifecycle
import Synchronization

/// The Prometheus text endpoint: `GET /metrics` answers what has been emitted into `registry`, every
/// other path 404. Served by Hummingbird on one local address (`isthmus run --metrics ADDRESS:PORT`).
///
/// A ServiceLifecycle `Service`: ``run()`` binds, serves until cancelled or gracefully shut down, and
/// throws when it cannot bind. ``start()`` runs it in a task of its own and returns once it listens.
public struct MetricsServer: Service {
    /// The Prometheus text exposition format (version 0.0.4).
    public static let contentType = "text/plain; version=0.0.4; charset=utf-8"
    /// The only path served.
    public static let path = "metrics"

    public let address: MetricsAddress
    public let registry: PrometheusCollectorRegistry
    let logger: Logger
    let onBound: @Sendable (Int) async -> Void

    /// - Parameter onBound: called with the bound port once the server listens.
    public init(
        address: MetricsAddress, registry: PrometheusCollectorRegistry, logger: Logger,
        onBound: @escaping @Sendable (Int) async -> Void = { _ in }
    ) {
        self.address = address
        self.registry = registry
        self.logger = logger
        self.onBound = onBound
    }

    /// Serves until the task is cancelled or the service group shuts down; throws when binding fails.
    public func run() async throws {
        let router = Router()
        let registry = self.registry
        router.get(RouterPath(Self.path)) { _, _ -> Response in
            var buffer: [UInt8] = []
            buffer.reserveCapacity(16 * 1024)
            registry.emit(into: &buffer)
            return Response(
                status: .ok, headers: [.contentType: Self.contentType],
                body: ResponseBody(byteBuffer: ByteBuffer(bytes: buffer)))
        }
        let onBound = self.onBound
        let app = Application(
            router: router,
            configuration: ApplicationConfiguration(
                address: .hostname("\(address.host)", port: address.port), serverName: "isthmus"),
            onServerRunning: { channel in await onBound(channel.localAddress?.port ?? 0) },
            logger: logger)
        try await app.run()
    }

    /// Starts ``run()`` in a task of its own and returns once the server listens (the handle), or throws
    /// when it cannot bind: `isthmus run` starts it before the gateway, so a bad address means no gateway.
    public func start() async throws -> Running {
        let (bound, signal) = AsyncThrowingStream<Int, any Error>.makeStream()
        let listening = ListeningFlag()
        let server = MetricsServer(address: address, registry: registry, logger: logger) { port in
            listening.set()
            signal.yield(port)
            signal.finish()
        }
        // In a service group of its own, so that stopping is a graceful shutdown (the listener closes,
        // requests in flight finish) rather than a cancellation.
        let group = ServiceGroup(configuration: ServiceGroupConfiguration(services: [server], logger: logger))
        let logger = self.logger
        let task = Task {
            do {
                try await group.run()
            } catch {
                // Before it listened: the caller gets the error. Afterwards: only the log can say it.
                signal.finish(throwing: error)
                if listening.isSet { logger.error("metrics server stopped: \(error)") }
            }
        }
        var iterator = bound.makeAsyncIterator()
        guard let port = try await iterator.next() else {
            throw MetricsServerStopped()
        }
        return Running(port: port, group: group, task: task)
    }

    /// Whether the server got as far as listening.
    private final class ListeningFlag: Sendable {
        private let value = Mutex(false)
        func set() { value.withLock { $0 = true } }
        var isSet: Bool { value.withLock { $0 } }
    }

    /// The server ended before it listened, without an error.
    public struct MetricsServerStopped: Error, CustomStringConvertible {
        public var description: String { "the metrics server stopped before it listened" }
    }

    /// A server started by ``start()``.
    public final class Running: Sendable {
        /// The port it listens on.
        public let port: Int
        private let group: ServiceGroup
        private let task: Task<Void, Never>

        /// How long ``stop()`` waits for open connections to close before cancelling the server.
        public static let stopTimeout: Duration = .seconds(2)

        init(port: Int, group: ServiceGroup, task: Task<Void, Never>) {
            self.port = port
            self.group = group
            self.task = task
        }

        /// Stops serving (a graceful shutdown); after ``stopTimeout`` the server is cancelled.
        public func stop() async {
            await group.triggerGracefulShutdown()
            let task = self.task
            let timeout = Task {
                try? await Task.sleep(for: Self.stopTimeout)
                if !Task.isCancelled { task.cancel() }
            }
            await task.value
            timeout.cancel()
        }
    }
}
