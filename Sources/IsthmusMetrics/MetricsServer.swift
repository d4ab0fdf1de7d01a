import Dispatch
import Hummingbird
import Logging
import Prometheus
import ServiceLifecycle
import Synchronization

/// The Prometheus text endpoint: `GET /metrics` answers what has been emitted into `registry`, every
/// other path 404. Served by Hummingbird on one local address (`isthmus run --metrics ADDRESS:PORT`).
///
/// A ServiceLifecycle `Service`: ``run()`` binds, serves until cancelled or gracefully shut down, and
/// throws when it cannot bind. ``startInBackground(onBound:)`` does the same beside a blocking caller.
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

    /// Starts ``run()`` in a task and blocks until the server listens (returns the handle) or fails to
    /// bind (throws). For a caller that is not async, such as `isthmus run` today.
    public func startInBackground() throws -> Running {
        let outcome = Outcome()
        let ready = DispatchSemaphore(value: 0)
        let finished = DispatchSemaphore(value: 0)
        let server = MetricsServer(address: address, registry: registry, logger: logger) { port in
            outcome.value.withLock { $0 = .success(port) }
            ready.signal()
        }
        // In a service group of its own, so that stopping is a graceful shutdown (the listener closes,
        // requests in flight finish) rather than a cancellation.
        let group = ServiceGroup(
            configuration: ServiceGroupConfiguration(services: [server], logger: logger))
        Task {
            do {
                try await group.run()
            } catch {
                let first = outcome.value.withLock { current in
                    guard current == nil else { return false }
                    current = .failure(error)
                    return true
                }
                if first { ready.signal() } else { server.logger.error("metrics server failed: \(error)") }
            }
            finished.signal()
        }
        ready.wait()
        switch outcome.value.withLock({ $0 }) {
        case .success(let port):
            return Running(port: port, group: group, finished: finished)
        case .failure(let error):
            throw error
        case nil:
            preconditionFailure("the metrics server signalled without an outcome")
        }
    }

    /// How the start went: the bound port or the error (set once).
    private final class Outcome: Sendable {
        let value = Mutex<Result<Int, any Error>?>(nil)
    }

    /// A server started by ``startInBackground()``.
    public final class Running: Sendable {
        /// The port it listens on.
        public let port: Int
        private let group: ServiceGroup
        private let finished: DispatchSemaphore

        /// How long ``stop()`` waits for open connections to close.
        public static let stopTimeout: DispatchTimeInterval = .seconds(2)

        init(port: Int, group: ServiceGroup, finished: DispatchSemaphore) {
            self.port = port
            self.group = group
            self.finished = finished
        }

        /// Stops serving (a graceful shutdown); waits at most ``stopTimeout``.
        public func stop() {
            let group = self.group
            Task { await group.triggerGracefulShutdown() }
            _ = finished.wait(timeout: .now() + Self.stopTimeout)
        }
    }
}
