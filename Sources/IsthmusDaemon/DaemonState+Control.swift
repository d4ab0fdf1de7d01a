import IsthmusGateway
import IsthmusIKEv2

extension DaemonState {
    /// Answers one control request (on the event loop).
    func handleControl(_ request: ControlRequest) -> ControlResponse {
        switch request.command {
        case "status":
            return status()
        case "logs", "events":
            // `follow` is the control server's business (ControlConnectionHandler); here: the history.
            var response = ControlResponse(ok: true)
            response.events = request.connection.map { events.records(of: $0) } ?? events.records
            return response
        case "up":
            return up(request.connection)
        case "down":
            return down(request.connection)
        case "diagnose":
            return diagnose(request.connection)
        case "reload":
            // Served by reloadFromFile() (the control server and GatewayDaemon.control route it there).
            return .failure("reload is answered asynchronously")
        default:
            return .failure(
                "unknown command '\(request.command.prefix(64))'; expected status, up, down, logs, events, reload or diagnose"
            )
        }
    }

    private func configured(_ name: String?) -> Result<Connection, DaemonError> {
        guard let name, !name.isEmpty else { return .failure(.badRequest("this command needs a connection name")) }
        guard let connection = config.connections.first(where: { $0.name == name }) else {
            let known = config.connections.map(\.name).joined(separator: ", ")
            return .failure(.badRequest("no connection named '\(name.prefix(128))'; configured: \(known)"))
        }
        return .success(connection)
    }

    private func up(_ name: String?) -> ControlResponse {
        let connection: Connection
        switch configured(name) {
        case .failure(let error): return .failure(error.message)
        case .success(let found): connection = found
        }
        guard !isShuttingDown else { return .failure("the gateway is shutting down") }
        downConnections.remove(connection.name)
        if let existing = sessions(of: connection.name).first {
            let state = existing.status(now: clock()).state
            return ControlResponse(
                ok: true, message: "connection '\(connection.name)' already has an IKE SA (\(state))")
        }
        if let error = initiate(connection.name) { return .failure(error) }
        return ControlResponse(ok: true, message: "connection '\(connection.name)': initiating")
    }

    private func down(_ name: String?) -> ControlResponse {
        let connection: Connection
        switch configured(name) {
        case .failure(let error): return .failure(error.message)
        case .success(let found): connection = found
        }
        let sessions = sessions(of: connection.name)
        downConnections.insert(connection.name)
        nextAttempts[connection.name] = nil
        for session in sessions { deliver(.terminate, to: session) }
        var response = ControlResponse(
            ok: true,
            message: sessions.isEmpty
                ? "connection '\(connection.name)' has no IKE SA"
                : "connection '\(connection.name)': deleting \(sessions.count) IKE SA\(sessions.count == 1 ? "" : "s")")
        response.terminated = sessions.count
        return response
    }

    /// The `status` answer: every configured connection with its IKE SAs, CHILD SAs and counters.
    func status() -> ControlResponse {
        let now = clock()
        // Unproven half-open SAs (possibly a flood of spoofed first messages) are counted, not listed.
        // Each SA's status is built once, grouped by connection (oldest SA first).
        var byConnection: [String: [IKESAStatus]] = [:]
        for session in dispatcher.sessions where !dispatcher.isUnprovenHalfOpen(session) {
            byConnection[session.connectionName, default: []].append(session.status(now: now))
        }
        var connections: [ConnectionStatus] = config.connections.map { connection in
            var entry = ConnectionStatus(
                name: connection.name, kind: connection.kind.rawValue, ikeVersion: connection.ikeVersion.rawValue,
                remoteAddress: config.localNetwork(named: connection.localNetwork).map { remote in
                    options.peers.address(of: remote.gateway).map { "\($0)" } ?? "\(remote.gateway)"
                },
                ikeSAs: byConnection[connection.name] ?? [])
            entry.describeKey(connection.sharedKey)
            if let path = dataPath?.status(of: connection.name) {
                entry.dataPath = ConnectionDataPath(
                    interface: path.interface, mtu: path.mtu, routes: path.routes.map { "\($0)" },
                    addresses: path.addresses.isEmpty ? nil : path.addresses.map { "\($0)" },
                    state: path.error == nil ? "up" : "error", error: path.error)
            } else if dataPath?.managed == true {
                entry.dataPath = ConnectionDataPath(
                    interface: nil, mtu: nil, routes: [], state: "error", error: "no interface was planned for it")
            }
            describeFailure(&entry, now: now)
            entry.bgp = bgpStatus(of: connection)
            return entry
        }
        let configuredNames = Set(config.connections.map(\.name))
        let strays = byConnection.filter { !configuredNames.contains($0.key) }
        for name in strays.keys.sorted() {
            connections.append(
                ConnectionStatus(
                    name: name, kind: name == PointToSiteSessions.connectionName ? "point-to-site" : "unknown",
                    ikeVersion: name == PointToSiteSessions.connectionName ? 2 : 0, remoteAddress: nil,
                    ikeSAs: strays[name] ?? []))
        }
        var response = ControlResponse(ok: true)
        response.gateway = config.gateway.name
        response.uptimeSeconds = now.components.seconds
        response.listening = listening
        response.connections = connections
        response.routingDaemon = routingDaemonStatus()
        response.childSAs = childSAs.values.map { entry in
            var summary = entry.summary
            summary.installedSecondsAgo = (now - entry.installedAt).components.seconds
            return summary
        }.sorted { ($0.connection, $0.inboundSPI) < ($1.connection, $1.inboundSPI) }
        response.counters = ikeCounters()
        response.dataplane = dataplane?.counters
        response.pointToSite = pointToSiteStatus(statuses: byConnection[PointToSiteSessions.connectionName] ?? [])
        if let plane = response.dataplane { response.acl = EndpointACL.status(config.endpoints, hits: plane.aclHits) }
        return response
    }

    /// The IKE side's counters as `status` shows them: the daemon's, the dispatcher's drops, the SA count and
    /// the half-open table.
    func ikeCounters() -> Counters {
        var counters = self.counters
        for (reason, count) in dispatcher.drops { counters.dropped[reason.rawValue, default: 0] += count }
        counters.ikeSAs = dispatcher.count
        counters.halfOpen = halfOpenStatus()
        return counters
    }

    /// For a connection without an established IKE SA: its latest failure since it was last up, and when the
    /// next attempt is.
    private func describeFailure(_ entry: inout ConnectionStatus, now: Duration) {
        guard !entry.ikeSAs.contains(where: { $0.state == .established || $0.state == .rekeying }) else { return }
        if let due = nextAttempts[entry.name] {
            let left = due - now
            entry.nextAttemptSeconds = max(0, left.components.seconds + (left.components.attoseconds > 0 ? 1 : 0))
        }
        entry.lastFailure = Self.lastFailure(in: events.records(of: entry.name))
    }

    /// Kinds of events that say why a connection is not up.
    static let failureKinds: Set<String> = [
        "peer-not-answering", "proposal-mismatch", "authentication-failed", "traffic-selector-mismatch",
        "liveness-timeout", "initiation-failed", "peer-unresolved", "invalid-syntax", "invalid-ke", "message-dropped",
        "data-path-failed", "ike-sa-deleted", "child-sa-refused",
    ]

    /// The newest failure after the newest established IKE SA: an error, or a warning or notice of a failure
    /// kind (a peer's delete, for one); nil when there is none.
    static func lastFailure(in records: [EventRecord]) -> EventRecord? {
        for record in records.reversed() {
            if record.kind == "ike-sa-established" { return nil }
            if record.severity == "error" || (record.severity != "info" && failureKinds.contains(record.kind)) {
                return record
            }
        }
        return nil
    }

    /// The `diagnose` answer: one verdict per connection (or for `name`).
    func diagnose(_ name: String?) -> ControlResponse {
        let status = status()
        let known = Set(config.connections.map(\.name)).union((status.connections ?? []).map(\.name))
        if let name, !known.contains(name) {
            let list = config.connections.map(\.name).joined(separator: ", ")
            return .failure("no connection named '\(name.prefix(128))'; configured: \(list)")
        }
        var history: [String: [EventRecord]] = [:]
        for connection in known where name == nil || connection == name {
            history[connection] = events.records(of: connection)
        }
        // The gateway's own events (a shared `--tun` device's failure is every connection's).
        history[""] = events.records(of: "")
        let now = clock().components
        var diagnoser = Diagnoser(
            config: config, configFile: options.configFile, positions: configPositions, status: status,
            events: history, setups: setups, takenDown: downConnections,
            now: Double(now.seconds) + Double(now.attoseconds) / 1e18)
        diagnoser.passive = !options.initiateOnStart
        var response = ControlResponse(ok: true)
        response.gateway = config.gateway.name
        response.diagnoses = diagnoser.diagnose(name)
        return response
    }

    private func halfOpenStatus() -> HalfOpenStatus {
        var status = HalfOpenStatus()
        status.current = dispatcher.halfOpenCount
        status.unproven = dispatcher.unprovenHalfOpenCount
        status.maximumPerSource = dispatcher.largestHalfOpenPerSource
        status.limit = dispatcher.limits.total
        status.perSourceLimit = dispatcher.limits.perSource
        status.cookieThreshold = dispatcher.limits.cookieThreshold
        status.perSourceLimitHits = dispatcher.perSourceLimitHits
        status.evictions = dispatcher.halfOpenEvictions
        status.cookiesSent = dispatcher.challengesSent
        status.logLinesSuppressed = floodLog.suppressedSinceStart
        return status
    }
}

extension ConnectionStatus {
    /// Fills in where the key comes from and when its file was last written (one `stat`; never the key).
    mutating func describeKey(_ key: SharedKey) {
        switch key.source {
        case .none:
            sharedKey = "none (certificates)"
        case .inline:
            sharedKey = "inline"
        case .file(let path):
            sharedKey = "file:\(path)"
            if let origin = key.origin, let info = KeyFile.info(path: origin.path) {
                keyLastRotated = info.modified
                if let version = origin.version {
                    keyChangedSinceStart = info.version != version
                } else {
                    keyChangedSinceStart = origin.modified.map { info.modified != $0 }
                }
            }
        }
    }
}
