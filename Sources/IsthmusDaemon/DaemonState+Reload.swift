import Dispatch
import IsthmusCrypto
import IsthmusEvents
import IsthmusGateway
import IsthmusIKEv2
import NIOCore

extension DaemonState {
    /// How long a restarted connection waits for its old IKE SAs to finish deleting before it
    /// initiates again (their CHILD SAs leave the data plane first, so the new ones never overlap them).
    static let reloadRestartWait: TimeAmount = .seconds(3)

    /// `isthmus reload` and SIGHUP: loads the configuration file again and applies only the difference.
    ///
    /// A file that does not load (syntax, validation, a half-written file) or that changes what a running
    /// daemon cannot take over is rejected whole, with the reasons, and the running configuration stays.
    /// Otherwise: unchanged connections keep their SAs and traffic; a changed shared key is used from the
    /// next authentication; changed connections are deleted and negotiated again; removed ones are
    /// deleted; added ones start (when the daemon initiates at start).
    ///
    /// The file (and key files) are read on a thread of their own, never on the event loop: a key file on
    /// a hung mount must not stop IKE. One reload at a time.
    func reloadFromFile() -> EventLoopFuture<ControlResponse> {
        guard !isShuttingDown else { return eventLoop.makeSucceededFuture(.failure("the gateway is shutting down")) }
        guard let reloader else {
            return eventLoop.makeSucceededFuture(
                .failure("this gateway was started without a configuration file; reload is not available"))
        }
        guard !reloadInProgress else {
            return eventLoop.makeSucceededFuture(.failure("a reload is already in progress; try again"))
        }
        reloadInProgress = true
        let promise = eventLoop.makePromise(of: ControlResponse.self)
        let bound = NIOLoopBound(self, eventLoop: eventLoop)
        let loop = eventLoop
        DispatchQueue.global().async {
            let loaded = reloader()
            loop.execute {
                let state = bound.value
                state.reloadInProgress = false
                promise.succeed(state.apply(loaded))
            }
        }
        return promise.futureResult
    }

    /// Applies a loaded (or refused) configuration; on the event loop.
    func apply(_ loaded: Result<GatewayDaemon.Reload, GatewayDaemon.ReloadRejected>) -> ControlResponse {
        guard !isShuttingDown else { return .failure("the gateway is shutting down") }
        let next: GatewayDaemon.Reload
        switch loaded {
        case .failure(let rejected):
            logger.warning(
                "reload rejected; the running configuration stays",
                metadata: ["reason": "\(rejected.summary)", "diagnostics": "\(rejected.diagnostics.count)"])
            var response = ControlResponse.failure("\(rejected.summary); the running configuration stays")
            response.diagnostics = rejected.diagnostics
            return response
        case .success(let loaded):
            next = loaded
        }
        let difference = ConfigDifference(from: config, to: next.config)
        guard difference.unappliable.isEmpty else {
            let fields = difference.unappliable.joined(separator: "; ")
            logger.warning("reload rejected; the running configuration stays", metadata: ["reason": "\(fields)"])
            var response = ControlResponse.failure(
                "the new configuration changes \(fields): restart the gateway to apply it; the running configuration stays"
            )
            response.diagnostics = difference.unappliable.map { "cannot change \($0) while running" }
            return response
        }
        config = next.config
        configPositions = next.positions
        makeInitiator = next.makeInitiator
        dispatcher.makeResponder = next.makeResponder
        // Interfaces and routes first: an added connection initiates into its interface.
        plumbDataPath()
        plumbRouting()
        var report: [ConnectionReload] = []
        for (name, change) in difference.connections {
            report.append(ConnectionReload(connection: name, change: change))
            apply(change, to: name, in: next.config)
        }
        let changed = report.filter { $0.change != "unchanged" }.count
        logger.notice(
            "configuration reloaded",
            metadata: ["connections": "\(report.count)", "touched": "\(changed)"])
        var response = ControlResponse(
            ok: true,
            message: changed == 0
                ? "configuration reloaded: nothing changed"
                : "configuration reloaded: \(changed) of \(report.count) connection\(report.count == 1 ? "" : "s") changed"
        )
        response.reloaded = report
        return response
    }

    private func apply(_ change: ConfigDifference.Change, to name: String, in config: GatewayConfig) {
        let now = clock()
        func event(_ message: String, severity: GatewayEvent.Severity = .notice, _ details: [String: String] = [:]) {
            record(
                GatewayEvent(
                    time: now, connection: name, kind: .configReloaded, severity: severity, message: message,
                    details: details))
        }
        switch change {
        case .unchanged:
            return
        case .keyChanged:
            event("configuration reloaded: new shared key; SAs kept, the next authentication uses it")
            guard let connection = config.connections.first(where: { $0.name == name }) else { return }
            let current = sessions(of: name)
            for session in current where dispatcher.contains(session) {
                deliver(.sharedKeyChanged(connection.sharedKey.withMaterial { SecretBytes($0) }), to: session)
            }
            // A connection waiting to retry (a wrong key, say) tries the new key now, not after its backoff.
            restarts.reset(name)
            if current.isEmpty, options.initiateOnStart, !downConnections.contains(name) {
                if let error = initiate(name) {
                    logger.notice("connection not started: \(error)", metadata: ["connection": "\(name)"])
                }
            }
        case .added:
            event("configuration reloaded: connection added")
            restarts.reset(name)
            if options.initiateOnStart && !downConnections.contains(name) && sessions(of: name).isEmpty {
                if let error = initiate(name) {
                    logger.notice("connection not started: \(error)", metadata: ["connection": "\(name)"])
                }
            }
        case .removed:
            let old = sessions(of: name)
            event(
                "configuration reloaded: connection removed; deleting \(old.count) IKE SA\(old.count == 1 ? "" : "s")")
            downConnections.remove(name)
            restarts.reset(name)
            for session in old where dispatcher.contains(session) { deliver(.terminate, to: session) }
        case .changed(let fields):
            let old = sessions(of: name)
            event(
                "configuration reloaded: \(fields.joined(separator: ", ")) changed; restarting the connection",
                ["changed": fields.joined(separator: ",")])
            restarts.reset(name)
            for session in old where dispatcher.contains(session) { deliver(.terminate, to: session) }
            guard !downConnections.contains(name), options.initiateOnStart || !old.isEmpty else { return }
            initiateWhenClosed(name, old: old, deadline: NIODeadline.now() + Self.reloadRestartWait)
        }
    }

    /// Initiates `name` once the IKE SAs in `old` are gone (or at `deadline`), unless the connection was
    /// taken down, removed or brought up by the peer meanwhile.
    private func initiateWhenClosed(_ name: String, old: [any IKESession], deadline: NIODeadline) {
        let bound = NIOLoopBound(self, eventLoop: eventLoop)
        @Sendable func check() {
            let state = bound.value
            guard !state.isShuttingDown, !state.downConnections.contains(name),
                state.config.connections.contains(where: { $0.name == name })
            else { return }
            let remaining = old.filter { state.dispatcher.contains($0) }
            if !remaining.isEmpty && NIODeadline.now() < deadline {
                state.eventLoop.scheduleTask(in: .milliseconds(20)) { check() }
                return
            }
            let current = state.sessions(of: name)
            guard current.allSatisfy({ session in old.contains { $0 === session } }) else { return }
            if let error = state.initiate(name) {
                state.logger.warning(
                    "restart after reload failed", metadata: ["connection": "\(name)", "error": "\(error)"])
            }
        }
        check()
    }
}

/// What a reload did to one connection (the `reload` answer).
public struct ConnectionReload: Sendable, Codable, Hashable {
    public var connection: String
    /// `unchanged`, `key-changed`, `changed`, `added` or `removed`.
    public var change: String
    /// For `changed`: the configuration fields that differ.
    public var fields: [String]?

    public init(connection: String, change: ConfigDifference.Change) {
        self.connection = connection
        switch change {
        case .unchanged: self.change = "unchanged"
        case .keyChanged: self.change = "key-changed"
        case .changed(let fields):
            self.change = "changed"
            self.fields = fields
        case .added: self.change = "added"
        case .removed: self.change = "removed"
        }
    }
}
