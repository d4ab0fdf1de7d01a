import HeapModule
import IsthmusDataplane
import IsthmusESP
import IsthmusEvents
import IsthmusGateway
import IsthmusIKEv2
import IsthmusIP
import IsthmusWire
import Logging
import NIOCore

/// Which UDP socket a datagram arrived on.
enum UDPPort: Sendable {
    /// Port 500: plain IKE.
    case ike
    /// Port 4500: IKE after a 4-byte non-ESP marker, ESP, or NAT keepalives (RFC 3948).
    case nat
}

/// Everything mutable in the daemon. Confined to the daemon's one event loop: every method runs there
/// (``GatewayDaemon`` reaches it through a `NIOLoopBoundBox`), so sessions are called serially.
final class DaemonState {
    /// A timer identity: which session, which of its timers.
    struct TimerKey: Hashable {
        var session: ObjectIdentifier
        var timer: IKETimer
    }

    struct ArmedTimer {
        var due: NIODeadline
        var token: UInt64
        var session: any IKESession
    }

    /// An installed CHILD SA with the time it was installed.
    struct ChildEntry {
        var summary: InstalledChildSA
        var installedAt: Duration
        /// The IKE SA that negotiated it: lifetime events from the data plane go to it.
        var owner: any IKESession
    }

    /// Most timers one session may have armed at once.
    static let maximumTimersPerSession = 256
    /// Most CHILD SAs the table keeps (status, and the owner lifetime events go to): 10,000 tunnels (issue 18)
    /// with room for every one's rekey overlap and more; at 10,000 exactly a rekey's new SA went unlisted and its
    /// data-plane lifetime events reached no IKE SA.
    static let maximumChildSAs = 100_000
    /// Largest UDP payload we send.
    static let maximumDatagram = 65_507

    /// The running configuration; `reload` replaces it.
    var config: GatewayConfig
    let options: DaemonOptions
    let logger: Logger
    let eventLoop: any EventLoop
    let clock: @Sendable () -> Duration
    /// Makes initiators from the running configuration; `reload` replaces it (and the dispatcher's responder
    /// factory) together with `config`.
    var makeInitiator: GatewayDaemon.InitiatorFactory
    /// Loads the configuration file again for `reload` (nil: the daemon was given no file).
    var reloader: GatewayDaemon.ConfigReloader?
    /// A reload is reading the file (``reloadFromFile()``).
    var reloadInProgress = false
    let espHandler: GatewayDaemon.ESPHandler?
    let childSAHandler: GatewayDaemon.ChildSAHandler?

    var dispatcher: IKEDispatcher
    var timers: [TimerKey: ArmedTimer] = [:]
    /// Each session's armed timers (the keys of `timers` under it).
    var timersBySession: [ObjectIdentifier: Set<IKETimer>] = [:]
    var nextTimerToken: UInt64 = 0
    /// Every armed timer's deadline, and stale entries of re-armed or cancelled ones (DaemonState+Timers.swift).
    var timerHeap = Heap<TimerEntry>()
    /// The one scheduled task that wakes the loop for `timerHeap`'s earliest deadline.
    var timerWake: (due: NIODeadline, task: Scheduled<Void>)?
    var counters = Counters()
    /// Per-connection event history for `logs`/`events`.
    var events: EventHistory
    /// `logs --follow` connections, sent each event as it is recorded.
    var followers: [ObjectIdentifier: EventFollower] = [:]
    /// In-process readers of the events (``GatewayDaemon/events(bufferingNewest:)``: the dashboard).
    var subscriptions: [ObjectIdentifier: EventSubscription] = [:]
    var childSAs: [UInt32: ChildEntry] = [:]
    var ikeChannel: (any Channel)?
    var natChannel: (any Channel)?
    /// The NAT-T socket when the data plane owns port 4500 (then `natChannel` is nil).
    var natSocket: NATTSocket?
    var controlChannel: (any Channel)?
    var controlPath: String?
    var listening: ListeningPorts?
    var controlConnections = 0
    /// Channels written to and not yet flushed (``flushSoon(_:)``).
    var unflushed: Set<ObjectIdentifier> = []
    var shutdownFuture: EventLoopFuture<Void>?
    /// Holds back per-packet log lines and events beyond a few a second (``LogRateLimiter``).
    var floodLog: LogRateLimiter
    /// The userspace ESP data plane (its counters go into `status`).
    var dataplane: Dataplane?
    /// The data plane's interfaces and routes (nil without a data plane).
    var dataPath: DataPath?
    /// BIRD, for the BGP connections (nil unless the daemon plumbs its own interfaces).
    var routing: RoutingDaemon?
    /// The data-plane thread's watchdog and the recreation of failed interfaces.
    var supervision = DataplaneSupervision()
    /// Events and `status` as metrics; nil when ``DaemonOptions/metrics`` is.
    let metrics: GatewayMetrics?
    /// Where each value of the running configuration was written (`diagnose` names `FILE:LINE`).
    var configPositions: [String: SourceLocation]
    /// SA setups of the last hour per connection (``SASetupLog``), independent of the event rings' size.
    var setups: [String: SASetupLog] = [:]
    /// When each connection's planned restart happens (monotonic time), while one is planned.
    var nextAttempts: [String: Duration] = [:]

    init(
        config: GatewayConfig, options: DaemonOptions, logger: Logger, eventLoop: any EventLoop,
        clock: @escaping @Sendable () -> Duration, makeInitiator: @escaping GatewayDaemon.InitiatorFactory,
        makeResponder: @escaping GatewayDaemon.ResponderFactory, espHandler: GatewayDaemon.ESPHandler?,
        childSAHandler: GatewayDaemon.ChildSAHandler?
    ) {
        self.config = config
        self.options = options
        self.logger = logger
        self.eventLoop = eventLoop
        self.clock = clock
        self.makeInitiator = makeInitiator
        self.espHandler = espHandler
        self.childSAHandler = childSAHandler
        self.dispatcher = IKEDispatcher(
            maximumSessions: options.maximumSessions, limits: options.halfOpenLimits, makeResponder: makeResponder)
        self.events = EventHistory(capacity: options.eventCapacity)
        self.floodLog = options.floodLogLimiter
        self.metrics = options.metrics.map { GatewayMetrics(factory: $0) }
        self.configPositions = options.configPositions
    }

    var isShuttingDown: Bool { shutdownFuture != nil }

    // MARK: Inbound

    /// Handles one datagram from a UDP socket.
    func receive(_ envelope: AddressedEnvelope<ByteBuffer>, on port: UDPPort, localAddress: SocketAddress?) {
        counters.datagramsIn &+= 1
        var buffer = envelope.data
        let local = envelope.metadata?.packetInfo?.destinationAddress ?? localAddress
        guard let source = UDPEndpoint(envelope.remoteAddress),
            let local, let destination = UDPEndpoint(local, port: localAddress?.port ?? local.port)
        else {
            countDrop("unsupported-address")
            return
        }
        if port == .nat {
            let packet = buffer.withUnsafeReadableBytes { UDPEncapsulation.classify($0) }
            switch packet {
            case .natKeepalive:
                counters.natKeepalives &+= 1
                return
            case .invalid:
                countDrop("invalid-nat-t")
                return
            case .esp(let spi):
                counters.espPackets &+= 1
                espHandler?(ESPPacket(spi: spi, bytes: buffer, source: source, destination: destination))
                return
            case .ike(let offset):
                buffer.moveReaderIndex(forwardBy: offset)
            }
        }
        let datagram = IKEDatagram(
            bytes: buffer.readBytes(length: buffer.readableBytes) ?? [], source: source, destination: destination)
        route(datagram)
    }

    /// Handles an IKE message the data plane read from the NAT-T socket it owns (marker removed).
    func receiveFromDataplane(_ datagram: IKEDatagram) {
        counters.datagramsIn &+= 1
        route(datagram)
    }

    /// Hands an IKE message to its session (or a new responder session), or answers or drops it.
    private func route(_ datagram: IKEDatagram) {
        let source = datagram.source
        switch dispatcher.route(datagram) {
        case .deliver(let session):
            deliver(.datagram(datagram), to: session)
        case .created(let session):
            forgetEvicted()
            logPerPacket(
                "responder", .info, "new IKE SA as responder",
                metadata: ["connection": "\(session.connectionName)", "peer": "\(source)"])
            deliver(.datagram(datagram), to: session)
        case .challenge(let answer):
            logPerPacket(
                "cookie", .notice, "IKE_SA_INIT answered with a COOKIE challenge (too many half-open SAs)",
                metadata: ["peer": "\(source)", "half-open": "\(dispatcher.halfOpenCount)"])
            send(answer)
        case .drop(let reason):
            forgetEvicted()
            logDrop(reason, datagram)
        }
    }

    private func countDrop(_ reason: String) {
        counters.dropped[reason, default: 0] &+= 1
    }

    // MARK: Sessions

    /// Hands one input to a session and performs the actions it returns.
    func deliver(_ input: IKEInput, to session: any IKESession) {
        let now = clock()
        let actions = session.handle(input, now: now)
        perform(actions, from: session, now: now)
    }

    /// Performs a session's actions in order, then updates routing (SPI changes, closure).
    func perform(_ actions: [IKEAction], from session: any IKESession, now: Duration) {
        var establishedOne = false
        var restart = false
        var peerRestarted = false
        var clientConnected = false
        var spiCollision: UInt32?
        let perPacketSession = isPerPacket(session, actions)
        for action in actions {
            switch action {
            case .send(let datagram):
                send(datagram)
            case .natKeepalive(_, let destination):
                sendNATKeepalive(to: destination)
            case .childSA(var change):
                labelClientSA(&change, of: session, now: now)
                if let held = childSAs[change.inboundSPI], held.owner !== session {
                    // Another IKE SA's CHILD SA has this inbound SPI: it is neither replaced nor touched.
                    if case .install = change { spiCollision = change.inboundSPI }
                    continue
                }
                switch change {
                case .install(let sa): listChildSA(sa, owner: session, now: now)
                case .remove(let inboundSPI): childSAs[inboundSPI] = nil
                case .moveRemote(let inboundSPI, let remote): childSAs[inboundSPI]?.summary.remote = "\(remote)"
                case .retireOutbound, .confirmOutbound: break
                }
                childSAHandler?(change)
            case .armTimer(let timer, let deadline):
                arm(timer, at: deadline, for: session, now: now)
            case .cancelTimer(let timer):
                cancel(timer, for: session)
            case .event(let event):
                record(event, perPacket: perPacketSession)
                if event.kind == .ikeSAEstablished {
                    establishedOne = true
                    restarts.reset(session.connectionName)
                }
                if event.kind == .peerRestarted { peerRestarted = true }
                if event.kind == .clientConnected { clientConnected = true }
            case .ikeSAClosed(let again):
                restart = again
            }
        }
        if dispatcher.didHandle(session, actions: actions) {
            cancelAllTimers(of: session)
            if restart { scheduleRestart(session.connectionName) }
        }
        if clientConnected { replaceOlderClientSAs(of: session, peerRestarted: peerRestarted) }
        if peerRestarted { forgetIKESAs(replacedBy: session) }
        if establishedOne { resolveDuplicateIKESAs(of: session.connectionName) }
        if let spiCollision { refuseDuplicateInboundSPI(spiCollision, of: session) }
    }

    /// How often the COOKIE secret changes (RFC 7296 2.6 asks for regular changes; the previous
    /// secret stays valid for one more period).
    static let cookieSecretLifetime: TimeAmount = .minutes(10)

    func scheduleCookieRotation() {
        let bound = NIOLoopBound(self, eventLoop: eventLoop)
        eventLoop.scheduleRepeatedTask(initialDelay: Self.cookieSecretLifetime, delay: Self.cookieSecretLifetime) { _ in
            var generator = SystemRandomNumberGenerator()
            bound.value.dispatcher.cookies.rotateSecret(using: &generator)
        }
    }

    /// Connections an operator took down with `isthmus down`; `up` clears the mark.
    var downConnections: Set<String> = []
    /// Point-to-site clients' IKE SAs by identity (``replaceOlderClientSAs(of:peerRestarted:)``).
    var clientSessions = ClientSessionIndex()
    /// Restart delays per connection.
    var restarts = RestartBackoff()

    func scheduleRestart(_ name: String) {
        guard !downConnections.contains(name), !isShuttingDown else { return }
        // A peer at any address comes back by itself: there is nowhere to initiate to.
        if let connection = config.connections.first(where: { $0.name == name }),
            config.localNetwork(named: connection.localNetwork)?.gateway == .any
        {
            return
        }
        let delay = restarts.nextDelay(for: name)
        let due = clock() + delay
        nextAttempts[name] = due
        let bound = NIOLoopBound(self, eventLoop: eventLoop)
        eventLoop.scheduleTask(in: Self.timeAmount(delay)) {
            let state = bound.value
            if state.nextAttempts[name] == due { state.nextAttempts[name] = nil }
            guard !state.downConnections.contains(name), !state.isShuttingDown, state.sessions(of: name).isEmpty
            else { return }
            state.logger.info("restarting connection after its IKE SA closed", metadata: ["connection": "\(name)"])
            if let error = state.initiate(name) {
                state.logger.warning("restart failed", metadata: ["connection": "\(name)", "error": "\(error)"])
            }
        }
    }

    /// Initiates connection `name`: at once when its remote gateway is an address; after resolving its DNS
    /// name again when it is one (off the event loop), then at once, or, when the name does not resolve,
    /// a `peer-unresolved` event and a retry after the restart delay. Returns an error sentence.
    func initiate(_ name: String) -> String? {
        guard let connection = config.connections.first(where: { $0.name == name }),
            let remote = config.localNetwork(named: connection.localNetwork)
        else { return initiateNow(name) }
        switch remote.gateway {
        case .address: return initiateNow(name)
        case .any:
            return "connection '\(name)' has its peer at any address (gateway_address: any): it waits for the peer "
                + "to initiate"
        case .name: break
        }
        resolve(remote) { state, resolved in
            guard resolved, state.config.connections.contains(where: { $0.name == name }),
                !state.downConnections.contains(name), !state.isShuttingDown, state.sessions(of: name).isEmpty
            else {
                if !resolved { state.scheduleRestart(name) }
                return
            }
            if let error = state.initiateNow(name) {
                state.logger.warning("initiation failed", metadata: ["connection": "\(name)", "error": "\(error)"])
            }
        }
        return nil
    }

    /// Creates an initiator for `name`, registers it and sends `.initiate`; returns an error sentence.
    func initiateNow(_ name: String) -> String? {
        nextAttempts[name] = nil
        guard let session = makeInitiator(name) else {
            return "no IKE implementation is available for connection '\(name)'"
        }
        let now = clock()
        let actions = session.handle(.initiate, now: now)
        guard dispatcher.register(session) else {
            return "connection '\(name)': the new IKE SA's SPI is zero or already in use"
        }
        perform(actions, from: session, now: now)
        return nil
    }

    func sessions(of connection: String) -> [any IKESession] {
        dispatcher.sessions.filter { $0.connectionName == connection }
    }

    // MARK: Actions

    /// The data plane reports that an SA pair reached a lifetime limit: a soft limit (bytes, packets or
    /// time) asks its IKE SA to rekey it now, a hard one (the engine has removed the pair) to delete it.
    func espLifetimeReached(_ event: ESPLifetimeEvent) {
        var gatewayEvent = event.gatewayEvent
        if PointToSiteSessions.isClientTrafficKey(gatewayEvent.connection) {
            gatewayEvent.details["identity"] = String(
                gatewayEvent.connection.dropFirst(PointToSiteSessions.connectionName.count + 1))
            gatewayEvent.connection = PointToSiteSessions.connectionName
        }
        record(gatewayEvent)
        guard let owner = childSAs[event.inboundSPI]?.owner, dispatcher.contains(owner) else { return }
        switch event.kind {
        case .soft:
            deliver(.timer(.rekeyChildSA(inboundSPI: event.inboundSPI)), to: owner)
        case .hard:
            deliver(.timer(.expireChildSA(inboundSPI: event.inboundSPI)), to: owner)
        }
    }

    /// One 0xFF byte on the NAT-T socket, without the non-ESP marker (RFC 3948 section 2.3).
    private func sendNATKeepalive(to destination: UDPEndpoint) {
        if natSocket != nil, let plane = dataplane {
            // Through the data plane's queue like every other datagram on its port 4500 socket.
            counters.datagramsOut &+= 1
            plane.submit(.sendUDP([UDPEncapsulation.keepaliveByte], to: destination))
            return
        }
        guard let channel = natChannel, let remote = try? destination.socketAddress() else { return }
        var buffer = channel.allocator.buffer(capacity: 1)
        buffer.writeInteger(UDPEncapsulation.keepaliveByte)
        counters.datagramsOut &+= 1
        channel.writeAndFlush(AddressedEnvelope(remoteAddress: remote, data: buffer), promise: nil)
    }

    private func send(_ datagram: IKEDatagram) {
        let viaNAT =
            datagram.source.port == UDPEncapsulation.port
            || (listening.map { Int(datagram.source.port) == $0.nat } ?? false)
        if viaNAT, natSocket != nil, let plane = dataplane {
            // Through the data plane's queue: after the SA changes IKE asked for before this message,
            // and after the ESP packets protected before it (a DELETE must not overtake them).
            guard datagram.bytes.count <= Self.maximumDatagram - UDPEncapsulation.nonESPMarkerLength else {
                counters.sendErrors &+= 1
                logger.warning("cannot send an IKE message", metadata: ["to": "\(datagram.destination)"])
                return
            }
            plane.submit(.sendUDP([0, 0, 0, 0] + datagram.bytes, to: datagram.destination))
            counters.datagramsOut &+= 1
            return
        }
        guard let channel = viaNAT ? natChannel : ikeChannel, datagram.bytes.count <= Self.maximumDatagram,
            let remote = try? datagram.destination.socketAddress()
        else {
            counters.sendErrors &+= 1
            logger.warning("cannot send an IKE message", metadata: ["to": "\(datagram.destination)"])
            return
        }
        var buffer = channel.allocator.buffer(capacity: datagram.bytes.count + UDPEncapsulation.nonESPMarkerLength)
        if viaNAT { buffer.writeInteger(UInt32(0)) }
        buffer.writeBytes(datagram.bytes)
        counters.datagramsOut &+= 1
        let bound = NIOLoopBound(self, eventLoop: eventLoop)
        channel.write(AddressedEnvelope(remoteAddress: remote, data: buffer)).whenFailure { error in
            let state = bound.value
            state.counters.sendErrors &+= 1
            state.logPerPacket(
                "send-error", .warning, "sending an IKE message failed",
                metadata: ["to": "\(datagram.destination)", "error": "\(error)"])
        }
        flushSoon(channel)
    }

    /// Flushes once the current batch of work on the event loop is done: the datagrams written meanwhile
    /// leave in one `sendmmsg` (a flood answered datagram by datagram would cost a system call each).
    private func flushSoon(_ channel: any Channel) {
        // Shutting down: the channels close right after the DELETEs are written.
        guard !isShuttingDown else { return channel.flush() }
        let id = ObjectIdentifier(channel)
        guard unflushed.insert(id).inserted else { return }
        let bound = NIOLoopBound(self, eventLoop: eventLoop)
        eventLoop.execute {
            bound.value.unflushed.remove(id)
            channel.flush()
        }
    }

    /// Lists a CHILD SA an IKE core installs in `status`'s table (what the data plane installs is its own).
    private func listChildSA(_ parameters: ESPSecurityAssociation, owner: any IKESession, now: Duration) {
        let connection = owner.connectionName
        if childSAs[parameters.inboundSPI] != nil || childSAs.count < Self.maximumChildSAs {
            let algorithms = [parameters.encryption.description, parameters.integrity?.description]
                .compactMap { $0 }.joined(separator: "-")
            let summary = InstalledChildSA(
                connection: connection, inboundSPI: SAIdentifier.esp(parameters.inboundSPI),
                outboundSPI: SAIdentifier.esp(parameters.outboundSPI), algorithms: algorithms,
                localSelectors: parameters.localSelectors.map { "\($0)" },
                remoteSelectors: parameters.remoteSelectors.map { "\($0)" }, local: "\(parameters.tunnel.local)",
                remote: "\(parameters.tunnel.remote)", udpEncapsulated: parameters.tunnel.udpEncapsulated,
                installedSecondsAgo: 0)
            childSAs[parameters.inboundSPI] = ChildEntry(summary: summary, installedAt: now, owner: owner)
        } else {
            logger.warning("CHILD SA table full; not listing a new CHILD SA", metadata: ["connection": "\(connection)"])
        }
    }

    func record(_ event: GatewayEvent) {
        logger.log(event)
        let stored = events.append(EventRecord(event))
        let name = event.connection
        if !name.isEmpty, setups[name] != nil || setups.count < EventHistory.maximumConnectionRings {
            switch event.kind {
            case .ikeSAEstablished, .ikeSARekeyed, .childSAInstalled, .childSARekeyed:
                setups[name, default: SASetupLog()].note(
                    kind: event.kind.rawValue, details: event.details, at: stored.uptimeSeconds)
            default: break
            }
        }
        if event.kind == .ikeSAEstablished { nextAttempts[name] = nil }
        for follower in followers.values { follower.offer(stored) }
        for subscription in subscriptions.values { subscription.offer(stored) }
        metrics?.observe(event)
    }
}
