import IsthmusEvents
import IsthmusIKEv2
import IsthmusWire
import Logging
import NIOCore

/// What a flood of first messages could write once per packet goes through ``DaemonState/floodLog``: the
/// dispatcher's drops, COOKIE challenges, new responders, and the events of half-open SAs and of the kinds
/// that come per message (drops, proposal mismatches, refused Aggressive Modes, ...). A real tunnel's state
/// changes (an SA established, rekeyed, deleted, CHILD SAs) are recorded as they come.
extension DaemonState {
    /// Event kinds that a single unauthenticated message can cause.
    static let perPacketEventKinds: Set<GatewayEvent.Kind> = [
        .messageDropped, .proposalMismatch, .aggressiveModeRefused, .cookieRequested, .invalidKE, .invalidSyntax,
    ]

    /// Whether the events `session` reports with `actions` are per-packet ones: it is half-open and the
    /// actions do not establish it.
    func isPerPacket(_ session: any IKESession, _ actions: [IKEAction]) -> Bool {
        guard dispatcher.isHalfOpen(session) else { return false }
        return !actions.contains { if case .event(let event) = $0 { event.kind == .ikeSAEstablished } else { false } }
    }

    /// Records an event of a session; per-packet ones only within the limiter's budget.
    func record(_ event: GatewayEvent, perPacket: Bool) {
        guard perPacket || Self.perPacketEventKinds.contains(event.kind) else {
            record(event)
            return
        }
        let decision = floodLog.admit("event \(event.kind.rawValue)", now: clock())
        if let summary = decision.summary { recordSummary(summary) }
        if decision.log { record(event) }
    }

    /// One log line that a single packet causes, within the limiter's budget.
    func logPerPacket(_ key: String, _ level: Logger.Level, _ message: Logger.Message, metadata: Logger.Metadata) {
        guard logger.logLevel <= level else { return }
        let decision = floodLog.admit(key, now: clock())
        if let summary = decision.summary { recordSummary(summary) }
        guard decision.log else { return }
        logger.log(level: level, message, metadata: metadata)
    }

    /// Reports what the limiter held back in the second that ended (a repeated task calls this too, so the
    /// last second of a flood is reported).
    func flushFloodLog() {
        if let summary = floodLog.flush(now: clock()) { recordSummary(summary) }
    }

    func scheduleFloodLogFlush() {
        let bound = NIOLoopBound(self, eventLoop: eventLoop)
        let interval = Self.timeAmount(floodLog.window)
        eventLoop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { task in
            let state = bound.value
            guard !state.isShuttingDown else {
                task.cancel()
                return
            }
            state.flushFloodLog()
        }
    }

    private func recordSummary(_ summary: LogRateLimiter.Summary) {
        record(
            GatewayEvent(
                time: clock(), connection: "", kind: .messageDropped, severity: .notice, message: summary.line,
                details: summary.byKey.mapValues { "\($0)" }))
    }

    /// Cancels the timers of sessions the dispatcher evicted to make room for new half-open SAs.
    func forgetEvicted() {
        for session in dispatcher.takeEvicted() { cancelAllTimers(of: session) }
    }

    func logDrop(_ reason: IKEDropReason, _ datagram: IKEDatagram) {
        let level: Logger.Level
        let text: String
        let isakmp = IKEHeaderPeek(datagram.bytes)?.majorVersion == 1
        switch reason {
        case .noMatchingConnection:
            level = .notice
            text =
                isakmp
                ? "dropped a Main Mode request (IKEv1): no IKEv1 connection has this peer's address"
                : "dropped an IKE_SA_INIT request: no IKEv2 connection has this peer's address"
        case .unknownSPI:
            level = isakmp ? .info : .debug
            text =
                isakmp
                ? "dropped an ISAKMP (IKEv1) message: neither cookie belongs to an ISAKMP SA of ours"
                : "dropped an IKE message for an unknown SPI"
        default:
            level = .info
            text = "dropped an IKE message"
        }
        logPerPacket(
            "drop \(reason.rawValue)", level, "\(text)",
            metadata: [
                "peer": "\(datagram.source)", "reason": "\(reason.rawValue)", "bytes": "\(datagram.bytes.count)",
            ])
    }
}
