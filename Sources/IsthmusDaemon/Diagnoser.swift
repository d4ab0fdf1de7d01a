import IsthmusGateway

/// Turns a gateway's configuration, `status` answer, event history and SA setup counts into a verdict per
/// connection (`isthmus diagnose`): pure, no clock and no I/O, so every cause is unit-tested from made-up
/// inputs.
///
/// Each cause is one function over a ``Subject`` (one connection's view of the inputs) that returns a
/// finding or nil; the rules look at the last hour (``window``) and at whether something good happened
/// after the bad event (a proposal mismatch followed by an established SA is history, not a cause).
public struct Diagnoser: Sendable {
    /// How far back events count: one hour.
    public static let window: Double = 3600

    /// The running configuration.
    public var config: GatewayConfig
    /// The configuration file's path as given to `isthmus run` (nil: unknown); fixes name `FILE:LINE`.
    public var configFile: String?
    /// Where each configuration value was written (``ConfigLoadResult/positions``).
    public var positions: [String: SourceLocation]
    /// The `status` answer.
    public var status: ControlResponse
    /// Each connection's event history, oldest first; under "" the gateway's own events (a shared `--tun`
    /// device's failure, for one).
    public var events: [String: [EventRecord]]
    /// SA setups in the last hour per connection.
    public var setups: [String: SASetupLog]
    /// Connections an operator took down with `isthmus down`.
    public var takenDown: Set<String>
    /// The gateway does not initiate at start (`isthmus run --passive`).
    public var passive = false
    /// The daemon's uptime now, in seconds (event records carry the same clock in `uptimeSeconds`).
    public var now: Double

    public init(
        config: GatewayConfig, configFile: String? = nil, positions: [String: SourceLocation] = [:],
        status: ControlResponse, events: [String: [EventRecord]], setups: [String: SASetupLog] = [:],
        takenDown: Set<String> = [], now: Double
    ) {
        self.config = config
        self.configFile = configFile
        self.positions = positions
        self.status = status
        self.events = events
        self.setups = setups
        self.takenDown = takenDown
        self.now = now
    }

    /// The verdicts: for `name`, or for every connection `status` lists (configured ones first, then
    /// sessions of connections the configuration does not have). An unknown `name` gives an empty list.
    public func diagnose(_ name: String? = nil) -> [ConnectionDiagnosis] {
        var names = config.connections.map(\.name)
        for entry in status.connections ?? [] where !names.contains(entry.name) { names.append(entry.name) }
        if let name { names = names.filter { $0 == name } }
        return names.map { diagnose(subject: subject($0)) }
    }

    func subject(_ name: String) -> Subject {
        let index = config.connections.firstIndex { $0.name == name }
        let connection = index.map { config.connections[$0] }
        let remoteIndex = connection.flatMap { found in
            config.localNetworks.firstIndex { $0.name == found.localNetwork }
        }
        return Subject(
            name: name, connection: connection, index: index, remoteIndex: remoteIndex,
            remote: remoteIndex.map { config.localNetworks[$0] },
            status: status.connections?.first { $0.name == name },
            events: (events[name] ?? []).sorted { $0.sequence < $1.sequence }, setups: setups[name] ?? SASetupLog(),
            now: now)
    }

    func diagnose(subject: Subject) -> ConnectionDiagnosis {
        let checks: [(Subject) -> DiagnosisFinding?] = [
            dataPathDown, keyFileChanged, authenticationFailed, proposalMismatch, trafficSelectorMismatch,
            natUDP4500Blocked, peerUnreachable, dpdTimeout, flapping, lifetimeMismatch, aclDenied, mtu,
            bgpSessionDown, bgpPrefixesRefused,
        ]
        var findings = checks.compactMap { $0(subject) }
        // Stable order: most severe first, then the order of the checks.
        findings = findings.enumerated().sorted { ($0.element.severity, $0.offset) < ($1.element.severity, $1.offset) }
            .map(\.element)
        let state = subject.state
        let healthy = findings.isEmpty && state == "up"
        return ConnectionDiagnosis(
            connection: subject.name, state: state, healthy: healthy,
            summary: summary(subject, findings: findings), findings: findings)
    }

    /// The one-line verdict.
    func summary(_ subject: Subject, findings: [DiagnosisFinding]) -> String {
        let state = subject.state
        if let first = findings.first {
            let more =
                findings.count > 1 ? " (and \(findings.count - 1) more finding\(findings.count > 2 ? "s" : ""))" : ""
            return "\(state): \(first.summary)\(more)"
        }
        if state == "up" {
            let sas = subject.status?.ikeSAs ?? []
            let established = sas.filter { $0.state == .established || $0.state == .rekeying }
            let children = established.reduce(0) { $0 + $1.childSAs.count }
            var parts = ["\(established.count) IKE SA\(established.count == 1 ? "" : "s")"]
            if let algorithms = established.first?.algorithms { parts[0] += " (\(algorithms))" }
            var child = "\(children) CHILD SA\(children == 1 ? "" : "s")"
            if let algorithms = established.first?.childSAs.first?.algorithms { child += " (\(algorithms))" }
            parts.append(child)
            if let traffic = status.dataplane?.connections[subject.name] {
                parts.append("traffic in \(traffic.packetsIn) / out \(traffic.packetsOut) packets")
            }
            return "up: " + parts.joined(separator: ", ")
        }
        if takenDown.contains(subject.name) { return "\(state): taken down with `isthmus down \(subject.name)`" }
        if subject.connection == nil {
            return "\(state): not in the configuration (a session left over from an earlier one)"
        }
        if subject.remote?.gateway == .any && state == "down" {
            return "down: waiting for the peer to initiate (its address is not known: gateway_address: any)"
        }
        if passive && state == "down" && subject.events.isEmpty {
            return "down: waiting for the peer to initiate (the gateway runs --passive; `isthmus up \(subject.name)` "
                + "initiates)"
        }
        if let next = subject.status?.nextAttemptSeconds {
            return "\(state): no cause found yet; next attempt in \(next) s"
        }
        if state == "down", let closed = subject.latest(["ike-sa-deleted"]),
            closed.message.hasPrefix("peer "), closed.message.contains(" deleted the "),
            !closed.message.contains("replaced"),
            !subject.happened(["ike-sa-established"], after: closed)
        {
            return "down: the peer deleted the IKE SA at \(closed.time) and has not negotiated a new one"
        }
        return state == "connecting"
            ? "connecting: negotiation in progress, nothing wrong seen yet"
            : "down: no IKE SA and no failure recorded"
    }

    // MARK: - Positions

    /// `FILE:LINE` of the first path that has a position (`connections[0].esp`), or nil.
    func position(_ paths: String...) -> String? {
        for path in paths {
            if let location = positions[path] { return "\(configFile ?? "the configuration"):\(location.line)" }
        }
        return nil
    }

    /// `'KEY' (FILE:LINE)` for a fix sentence, or `'KEY'` when its position is unknown.
    func place(_ what: String, _ paths: String...) -> String {
        for path in paths {
            if let location = positions[path] {
                return "'\(what)' (\(configFile ?? "the configuration"):\(location.line))"
            }
        }
        return "'\(what)'"
    }
}

/// One connection's view of the diagnosis inputs.
struct Subject: Sendable {
    var name: String
    var connection: Connection?
    /// Its position in `connections:` (for configuration positions).
    var index: Int?
    /// Its remote site's position in `local_networks:`.
    var remoteIndex: Int?
    var remote: LocalNetwork?
    var status: ConnectionStatus?
    /// Oldest first.
    var events: [EventRecord]
    var setups: SASetupLog
    var now: Double

    var windowStart: Double { now - Diagnoser.window }
    /// `connections[N]`, the prefix of the connection's configuration paths.
    var path: String { "connections[\(index ?? 0)]" }
    var remotePath: String { "local_networks[\(remoteIndex ?? 0)]" }

    /// `up` (an established IKE SA), `connecting` (a negotiation) or `down`.
    var state: String {
        let states = (status?.ikeSAs ?? []).map(\.state)
        if states.contains(where: { $0 == .established || $0 == .rekeying }) { return "up" }
        if states.contains(where: { $0 != .closed && $0 != .deleting }) { return "connecting" }
        return "down"
    }

    var childSACount: Int {
        (status?.ikeSAs ?? []).reduce(0) { $0 + $1.childSAs.count }
    }

    /// Events of these kinds in the last hour, oldest first.
    func recent(_ kinds: Set<String>) -> [EventRecord] {
        events.filter { kinds.contains($0.kind) && $0.uptimeSeconds >= windowStart }
    }

    /// The newest event of these kinds (any age).
    func latest(_ kinds: Set<String>) -> EventRecord? {
        events.last { kinds.contains($0.kind) }
    }

    /// Whether an event of these kinds came after `record`.
    func happened(_ kinds: Set<String>, after record: EventRecord) -> Bool {
        events.contains { kinds.contains($0.kind) && $0.sequence > record.sequence }
    }

    /// Events of these kinds after `record`.
    func events(_ kinds: Set<String>, after record: EventRecord) -> [EventRecord] {
        events.filter { kinds.contains($0.kind) && $0.sequence > record.sequence }
    }
}
