import IsthmusDataplane
import IsthmusESP
import IsthmusGateway
import IsthmusIKEv2
import IsthmusIP
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import UnixSignals

#if canImport(Glibc)
    import Glibc
#endif

/// The gateway's I/O shell: UDP 500/4500, timers and the control socket around the IKE cores.
///
/// Everything runs on one event loop: datagrams, timers and control requests reach the sessions one at
/// a time, so the cores need no locks. The daemon loads nothing; it gets a configuration and factories.
public final class GatewayDaemon: Sendable {
    /// Makes an initiator session for a connection name (nil: no core for it, e.g. an unknown name).
    public typealias InitiatorFactory = @Sendable (String) -> (any IKESession)?
    /// Makes a responder session for a new IKE_SA_INIT request or ISAKMP Main Mode message 1, picking the
    /// connection by source address.
    public typealias ResponderFactory = @Sendable (IKEDatagram) -> (any IKESession)?
    /// Receives ESP-in-UDP packets that reach the event loop's UDP 4500 socket, i.e. when no data plane
    /// owns that port (tests).
    public typealias ESPHandler = @Sendable (ESPPacket) -> Void
    /// Sees every CHILD SA change the cores emit, in order (on the event loop), besides the data plane.
    public typealias ChildSAHandler = @Sendable (ESPSAChange) -> Void
    /// A configuration loaded again for `reload`, with the session factories built from it.
    public struct Reload: Sendable {
        public var config: GatewayConfig
        public var makeInitiator: InitiatorFactory
        public var makeResponder: ResponderFactory
        /// Where each value of the new file was written (``ConfigLoadResult/positions``), for `diagnose`.
        public var positions: [String: SourceLocation] = [:]

        public init(
            config: GatewayConfig, makeInitiator: @escaping InitiatorFactory, makeResponder: @escaping ResponderFactory
        ) {
            self.config = config
            self.makeInitiator = makeInitiator
            self.makeResponder = makeResponder
        }
    }
    /// Why a configuration could not be loaded for `reload`: a summary and the loader's messages.
    public struct ReloadRejected: Error, Sendable {
        public var summary: String
        public var diagnostics: [String]

        public init(summary: String, diagnostics: [String]) {
            self.summary = summary
            self.diagnostics = diagnostics
        }
    }
    /// Reads the configuration file again; called on a thread of its own, never on the event loop.
    public typealias ConfigReloader = @Sendable () -> Result<Reload, ReloadRejected>

    public let config: GatewayConfig
    public let options: DaemonOptions
    /// The loop every socket, timer and session call runs on.
    public let eventLoop: any EventLoop
    let logger: Logger
    let state: NIOLoopBoundBox<DaemonState>
    /// The userspace ESP data plane, when there is one: fed ESP and CHILD SA changes, started in `start()`.
    public let dataplane: Dataplane?
    /// Its interfaces and routes, when the daemon plumbs them (or uses `--tun`).
    let dataPath: DataPath?

    /// - Parameters:
    ///   - group: where to run; the daemon uses one loop of it and never shuts it down.
    ///   - clock: monotonic time since start (default: `ContinuousClock`); tests may inject their own.
    public convenience init(
        config: GatewayConfig, options: DaemonOptions = DaemonOptions(), group: any EventLoopGroup, logger: Logger,
        clock: (@Sendable () -> Duration)? = nil, makeInitiator: @escaping InitiatorFactory,
        makeResponder: @escaping ResponderFactory, espHandler: ESPHandler? = nil,
        childSAHandler: ChildSAHandler? = nil, dataplane: Dataplane? = nil, reloader: ConfigReloader? = nil
    ) {
        self.init(
            config: config, options: options, group: group, logger: logger, clock: clock, makeInitiator: makeInitiator,
            makeResponder: makeResponder, espHandler: espHandler, childSAHandler: childSAHandler,
            dataplane: dataplane, dataPath: nil, reloader: reloader)
    }

    /// A daemon whose data plane's interfaces `dataPath` manages.
    init(
        config: GatewayConfig, options: DaemonOptions, group: any EventLoopGroup, logger: Logger,
        clock: (@Sendable () -> Duration)?, makeInitiator: @escaping InitiatorFactory,
        makeResponder: @escaping ResponderFactory, espHandler: ESPHandler?, childSAHandler: ChildSAHandler?,
        dataplane: Dataplane?, dataPath: DataPath?, reloader: ConfigReloader?
    ) {
        self.dataPath = dataPath
        self.config = config
        self.options = options
        self.logger = logger
        self.dataplane = dataplane
        let eventLoop = group.next()
        self.eventLoop = eventLoop
        let origin = ContinuousClock.now
        // With a data plane, CHILD SA changes go to it (besides any handler the caller gave); it owns UDP 4500,
        // so ESP never reaches the event loop's sockets then.
        // The data path marks each installed SA with its connection's interface.
        let child: ChildSAHandler? =
            dataplane.map { plane in
                { @Sendable change in
                    childSAHandler?(change)
                    if let dataPath { dataPath.submit(change) } else { plane.submit(.sa(change)) }
                }
            } ?? childSAHandler
        let state = DaemonState(
            config: config, options: options, logger: logger, eventLoop: eventLoop,
            clock: clock ?? { ContinuousClock.now - origin }, makeInitiator: makeInitiator,
            makeResponder: makeResponder, espHandler: espHandler, childSAHandler: child)
        state.dataplane = dataplane
        state.dataPath = dataPath
        state.reloader = reloader
        let routing: RoutingDaemon? =
            dataPath?.managed == true
            ? RoutingDaemon(
                directory: Self.routingDirectory(
                    controlPath: options.controlPath
                        ?? DaemonOptions.defaultControlPath(gatewayName: config.gateway.name)),
                executable: options.birdExecutable ?? RoutingDaemon.defaultExecutable(),
                logger: Logger(label: "isthmus.routing"), clock: state.clock, report: { _ in })
            : nil
        state.routing = routing
        self.state = NIOLoopBoundBox.makeBoxSendingValue(state, eventLoop: eventLoop)
        let box = self.state
        routing?.setReport { events in
            eventLoop.execute { for event in events { box.value.record(event) } }
        }
    }

    /// BIRD's folder: beside the control socket, `NAME.bird` for `NAME.sock`.
    static func routingDirectory(controlPath: String) -> String {
        (controlPath.hasSuffix(".sock") ? String(controlPath.dropLast(5)) : controlPath) + ".bird"
    }

    /// The control socket path in use.
    public var controlPath: String {
        options.controlPath ?? DaemonOptions.defaultControlPath(gatewayName: config.gateway.name)
    }

    /// Binds UDP and the control socket, then initiates every connection (when configured to).
    /// Returns the addresses actually bound (ports chosen by the system when 0 was asked).
    public func start() -> EventLoopFuture<ListeningPorts> {
        let path = controlPath
        do {
            try ControlSocketPath.prepare(path)
        } catch {
            return eventLoop.makeFailedFuture(error)
        }
        let host = options.bindAddress ?? config.gateway.publicAddress.map { "\($0)" } ?? "0.0.0.0"
        let wildcard = host == "0.0.0.0" || host == "::"
        let state = self.state
        let ike = bindUDP(host: host, port: options.ikePort, kind: .ike, packetInfo: wildcard)
        // With a data plane, port 4500 is its socket (ESP never crosses the event loop); IKE messages
        // on it come back here. Without one, NIO reads 4500 like 500.
        let natSocket: NATTSocket?
        do {
            natSocket = try dataplane.map { _ in
                let address = try IPAddress(parsing: host)
                guard (0...65535).contains(options.natPort) else {
                    throw DaemonError.cannotStart("bad NAT-T port \(options.natPort)")
                }
                return try NATTSocket(address: address, port: UInt16(options.natPort))
            }
        } catch {
            ike.whenSuccess { $0.close(promise: nil) }
            return eventLoop.makeFailedFuture(
                DaemonError.cannotStart("cannot listen on UDP \(host):\(options.natPort): \(error)"))
        }
        let nat: EventLoopFuture<(any Channel)?> =
            natSocket == nil
            ? bindUDP(host: host, port: options.natPort, kind: .nat, packetInfo: wildcard).map { Optional($0) }
            : eventLoop.makeSucceededFuture(nil)
        let idleTimeout = DaemonState.timeAmount(options.controlIdleTimeout)
        let controlSocket: CInt
        do {
            controlSocket = try ControlSocketPath.bindOwnerOnly(path)
        } catch {
            ike.whenSuccess { $0.close(promise: nil) }
            nat.whenSuccess { $0?.close(promise: nil) }
            return eventLoop.makeFailedFuture(error)
        }
        let control = ServerBootstrap(group: eventLoop)
            .serverChannelOption(.backlog, value: 16)
            // Bounds what a `logs --follow` reader that does not keep up can cost (EventFollower).
            .childChannelOption(.writeBufferWaterMark, value: ControlCodec.followerWaterMark)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandlers([
                        IdleStateHandler(readTimeout: idleTimeout),
                        ByteToMessageHandler(LineFrameDecoder(maximumLength: ControlCodec.maximumRequestBytes)),
                        ControlConnectionHandler(state: state),
                    ])
                }
            }
            .withBoundSocket(controlSocket)
            .flatMapErrorThrowing { error in
                throw DaemonError.cannotStart("cannot serve the control socket \(path): \(error)")
            }
        let logger = self.logger
        let initiate = options.initiateOnStart
        return ike.and(nat).and(control).flatMapErrorThrowing { error in
            // Close whatever did bind before reporting the failure.
            ike.whenSuccess { $0.close(promise: nil) }
            nat.whenSuccess { $0?.close(promise: nil) }
            control.whenSuccess { $0.close(promise: nil) }
            // The socket file is ours (bound above) and NIO does not remove a socket it was handed.
            unlink(path)
            throw error
        }.flatMapThrowing { channels in
            let ((ikeChannel, natChannel), controlChannel) = channels
            let channels = [ikeChannel, natChannel, controlChannel].compactMap { $0 }
            // Already 0600 since bind (ControlSocketPath.bindOwnerOnly); this only confirms it.
            guard chmod(path, 0o600) == 0 else {
                for channel in channels { channel.close(promise: nil) }
                unlink(path)
                throw DaemonError.cannotStart("cannot restrict \(path) to mode 0600: \(ControlSocketPath.errnoText())")
            }
            let ports = ListeningPorts(
                address: host, ike: ikeChannel.localAddress?.port ?? 0,
                nat: natSocket.map { Int($0.port) } ?? natChannel?.localAddress?.port ?? 0)
            let daemon = state.value
            daemon.ikeChannel = ikeChannel
            daemon.natChannel = natChannel
            daemon.natSocket = natSocket
            daemon.controlChannel = controlChannel
            daemon.controlPath = path
            daemon.listening = ports
            if let plane = daemon.dataplane, let natSocket {
                do {
                    try DaemonState.start(plane, socket: natSocket, state: state, loop: daemon.eventLoop)
                } catch {
                    for channel in channels { channel.close(promise: nil) }
                    unlink(path)
                    throw DaemonError.cannotStart("cannot start the ESP data plane: \(error)")
                }
            }
            daemon.plumbDataPath()
            daemon.plumbRouting()
            logger.notice(
                "gateway running",
                metadata: [
                    "gateway": "\(daemon.config.gateway.name)", "ike": "\(host):\(ports.ike)",
                    "nat-t": "\(host):\(ports.nat)", "control": "\(path)",
                ])
            daemon.scheduleCookieRotation()
            daemon.scheduleFloodLogFlush()
            daemon.schedulePeerResolution()
            daemon.scheduleMetricsSync()
            daemon.scheduleDataplaneWatchdog()
            if initiate {
                for connection in daemon.config.connections {
                    if let error = daemon.initiate(connection.name) {
                        logger.notice(
                            "connection not started: \(error)", metadata: ["connection": "\(connection.name)"])
                    }
                }
            }
            return ports
        }
    }

    private func bindUDP(host: String, port: Int, kind: UDPPort, packetInfo: Bool) -> EventLoopFuture<any Channel> {
        let state = self.state
        // No SO_REUSEADDR: on Linux it would let a second daemon bind the same UDP port unnoticed.
        var bootstrap = DatagramBootstrap(group: eventLoop)
            // IKE messages may exceed the default 2048-byte buffer; read whole datagrams.
            .channelOption(.recvAllocator, value: FixedSizeRecvByteBufferAllocator(capacity: 65_536))
        if packetInfo {
            bootstrap = bootstrap.channelOption(.receivePacketInfo, value: true)
        }
        return bootstrap.channelInitializer { channel in
            channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.addHandler(UDPInboundHandler(kind: kind, state: state))
            }
        }.bind(host: host, port: port).flatMap { channel in
            // A burst of first messages (hundreds of clients at once) waits in the socket while the event loop
            // computes key exchanges; the default 208 KiB held about 90 and dropped the rest (a retransmission
            // each, a second later: scripts/bench-ike). As root past rmem_max, else up to it.
            let size = Dataplane.socketBufferBytes
            return channel.setOption(ChannelOptions.socket(SocketOptionLevel(SOL_SOCKET), SO_RCVBUFFORCE), value: size)
                .flatMapError { _ in channel.setOption(ChannelOptions.socketOption(.so_rcvbuf), value: size) }
                .recover { _ in }
                .map { channel }
        }.flatMapErrorThrowing { error in
            throw DaemonError.cannotStart("cannot listen on UDP \(host):\(port): \(error)")
        }
    }

    /// Answers a control request without a socket (the control server calls the same code).
    public func control(_ request: ControlRequest) -> EventLoopFuture<ControlResponse> {
        let state = self.state
        if request.command == "reload" {
            return eventLoop.flatSubmit { state.value.reloadFromFile() }
        }
        return eventLoop.submit { state.value.handleControl(request) }
    }

    /// Loads the configuration file again and applies the difference (as `isthmus reload` and SIGHUP do).
    public func reload() -> EventLoopFuture<ControlResponse> {
        control(ControlRequest(command: "reload"))
    }

    /// Initiates `connection` now (as `isthmus up` does).
    public func up(_ connection: String) -> EventLoopFuture<ControlResponse> {
        control(ControlRequest(command: "up", connection: connection))
    }

    /// Clean shutdown: `.terminate` to every session, up to ``DaemonOptions/shutdownGrace`` for the DELETEs
    /// to go out (less when every SA has closed), then timers cancelled, sockets closed, control socket removed.
    /// Calling it again returns the same future.
    public func shutdown() -> EventLoopFuture<Void> {
        let state = self.state
        let grace = DaemonState.timeAmount(options.shutdownGrace)
        let logger = self.logger
        return eventLoop.flatSubmit {
            let daemon = state.value
            if let existing = daemon.shutdownFuture { return existing }
            let done = daemon.eventLoop.makePromise(of: Void.self)
            daemon.shutdownFuture = done.futureResult
            daemon.dispatcher.acceptsNewSessions = false
            // BIRD may get the same signal (a terminal's Ctrl-C, the service manager): its end is no crash now.
            daemon.routing?.prepareToStop()
            let sessions = daemon.dispatcher.sessions
            logger.notice("shutting down", metadata: ["ike-sas": "\(sessions.count)"])
            for session in sessions where daemon.dispatcher.contains(session) {
                daemon.deliver(.terminate, to: session)
            }
            let deadline = NIODeadline.now() + grace
            @Sendable func check() {
                let daemon = state.value
                if daemon.dispatcher.count == 0 || NIODeadline.now() >= deadline {
                    daemon.closeEverything().cascade(to: done)
                } else {
                    daemon.eventLoop.scheduleTask(in: .milliseconds(20)) { check() }
                }
            }
            check()
            return done.futureResult
        }
    }

    /// Builds a daemon on its own one-thread event loop (and its data plane, unless `options.dataPath` is
    /// `.none`) and serves it with swift-service-lifecycle until SIGTERM or SIGINT (`isthmus run`): SIGHUP reloads
    /// the configuration; `services` (e.g. the metrics endpoint) run beside it and stop with it. `attach` gets the
    /// daemon once it exists, before it starts (the dashboard starts listening there); when it throws, nothing
    /// starts and `serve` throws its error.
    public static func serve(
        config: GatewayConfig, options: DaemonOptions, logger: Logger, makeInitiator: @escaping InitiatorFactory,
        makeResponder: @escaping ResponderFactory, reloader: ConfigReloader? = nil, services: [any Service] = [],
        attach: (@Sendable (GatewayDaemon) async throws -> Void)? = nil
    ) async throws {
        var dataplane: Dataplane?
        var dataPath: DataPath?
        let planeLogger = Logger(label: "isthmus.dataplane")
        switch options.dataPath {
        case .none: break
        case .tun(let tun):
            do {
                let plane = try Dataplane(pathMTU: options.pathMTU, logger: planeLogger)
                dataplane = plane
                dataPath = try DataPath(fixed: plane, tunName: tun, logger: planeLogger)
            } catch {
                throw DaemonError.cannotStart("cannot open TUN device \(tun): \(error)")
            }
        case .managed:
            do {
                let plane = try Dataplane(pathMTU: options.pathMTU, logger: planeLogger)
                dataplane = plane
                dataPath = try DataPath(managing: plane, logger: planeLogger)
            } catch {
                throw DaemonError.cannotStart(
                    "cannot manage interfaces and routes (root or CAP_NET_ADMIN is needed; --tun NAME uses a "
                        + "TUN device you set up, --no-data-plane runs IKE only): \(error)")
            }
        }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let daemon = GatewayDaemon(
            config: config, options: options, group: group, logger: logger, clock: nil, makeInitiator: makeInitiator,
            makeResponder: makeResponder, espHandler: nil, childSAHandler: nil, dataplane: dataplane,
            dataPath: dataPath, reloader: reloader)
        defer { dataplane?.stop() }
        // A dead or stuck data-plane thread ends the process with a failure status: systemd starts it again.
        let fatalLogger = logger
        try await daemon.eventLoop.submit {
            daemon.state.value.supervision.onFatal = { reason in
                fatalLogger.critical("exiting: \(reason)")
                exit(DaemonState.dataplaneFailureExitCode)
            }
        }.get()
        if let attach {
            do {
                try await attach(daemon)
            } catch {
                try? await group.shutdownGracefully()
                throw error
            }
        }
        let gateway = GatewayService(daemon: daemon, logger: logger)
        let serviceGroup = ServiceGroup(
            configuration: ServiceGroupConfiguration(
                services: [
                    ServiceGroupConfiguration.ServiceConfiguration(
                        service: gateway, successTerminationBehavior: .gracefullyShutdownGroup,
                        failureTerminationBehavior: .gracefullyShutdownGroup)
                ] + services.map { ServiceGroupConfiguration.ServiceConfiguration(service: $0) },
                gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        do {
            try await serviceGroup.run()
        } catch {
            try? await group.shutdownGracefully()
            throw error
        }
        try await group.shutdownGracefully()
    }
}

extension DaemonState {
    /// Creates, changes or removes interfaces and routes to match the configuration (start, reload), and
    /// records what happened to each connection's data path.
    func plumbDataPath() {
        guard let dataPath else { return }
        let events = dataPath.apply(DataPathPlan(config: config, pathMTU: options.pathMTU), now: clock())
        for event in events { record(event) }
        dataplane?.setEndpointFilter(EndpointACL.filter(config.endpoints))
    }

    /// Records a packet an endpoint ACL denied, under the connection whose SA carried it.
    func aclDenied(_ denial: ACLDenial) {
        let connection = childSAs[denial.inboundSPI]?.summary.connection ?? ""
        record(EndpointACL.event(denial, connection: connection, now: clock()))
    }

    /// Cancels timers, closes every socket (and `logs --follow` connections) and removes the control socket file.
    func closeEverything() -> EventLoopFuture<Void> {
        cancelAllTimers()
        for follower in followers.values { follower.stop() }
        followers.removeAll()
        for subscription in subscriptions.values { subscription.continuation.finish() }
        subscriptions.removeAll()
        // BIRD first: it withdraws its kernel routes while the interfaces still exist.
        routing?.stop()
        dataPath?.tearDown()
        dataplane?.stop()
        natSocket = nil
        let channels = [ikeChannel, natChannel, controlChannel].compactMap { $0 }
        ikeChannel = nil
        natChannel = nil
        controlChannel = nil
        let path = controlPath
        controlPath = nil
        let closed = channels.map { channel in channel.close().recover { _ in } }
        let logger = self.logger
        return EventLoopFuture.andAllComplete(closed, on: eventLoop).map {
            if let path { unlink(path) }
            logger.notice("stopped")
        }
    }
}

/// Feeds datagrams from one UDP socket into the daemon.
final class UDPInboundHandler: ChannelInboundHandler {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>

    private let kind: UDPPort
    private let state: NIOLoopBoundBox<DaemonState>

    init(kind: UDPPort, state: NIOLoopBoundBox<DaemonState>) {
        self.kind = kind
        self.state = state
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        state.value.receive(unwrapInboundIn(data), on: kind, localAddress: context.channel.localAddress)
    }

    /// A UDP socket reports errors (such as ICMP unreachable) without being broken: log and carry on.
    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        state.value.logger.debug("UDP socket error", metadata: ["error": "\(error)"])
    }
}
