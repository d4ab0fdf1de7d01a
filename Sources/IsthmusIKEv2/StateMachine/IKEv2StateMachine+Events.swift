import IsthmusEvents
import IsthmusIP
import IsthmusWire

/// Events, drops and closing: what every exchange reports and how an SA ends.
extension IKEv2StateMachine {
    // MARK: - Events

    func emit(
        _ kind: GatewayEvent.Kind, _ severity: GatewayEvent.Severity, _ message: String,
        details: [String: String] = [:],
        now: MonotonicTime, into actions: inout [IKEAction]
    ) {
        actions.append(
            .event(
                GatewayEvent(
                    time: now, connection: connection, saIDs: saIDs, kind: kind, severity: severity, message: message,
                    details: details)))
    }

    /// Counts a dropped message and logs it, at most 5 times a minute (a flood of garbage must not
    /// flood the log); the rest are summed up when the minute ends (``DroppedMessageLog``).
    mutating func drop(_ reason: String, now: MonotonicTime, into actions: inout [IKEAction]) {
        let entry = dropLog.record(now: now)
        if let suppressed = entry.suppressedBefore {
            emit(
                .messageDropped, .notice,
                "dropped \(suppressed) more messages in the last minute "
                    + "(\(dropLog.total) in all)", now: now, into: &actions)
        }
        guard entry.log else { return }
        emit(.messageDropped, .notice, "dropped: \(reason)", now: now, into: &actions)
    }

    /// Closes the SA. Whether the connection is negotiated again: `restart` where an event decided it
    /// (peer delete, operator, liveness, lifetime), otherwise only when we were initiating.
    mutating func close(restart: Bool?, into actions: inout [IKEAction]) {
        completeRequest(into: &actions)
        queue.removeAll()
        actions.append(.cancelTimer(.liveness))
        actions.append(.cancelTimer(.rekeyIKESA))
        actions.append(.cancelTimer(.abandon))
        switch state {
        case .idle, .connecting:
            state = .closed(ClosedState(suite: nil, establishedAt: nil, rekeyAt: nil))
        case .authenticating(let authenticating):
            state = .closed(ClosedState(suite: authenticating.protection.suite, establishedAt: nil, rekeyAt: nil))
        case .halfOpen(let halfOpen):
            state = .closed(ClosedState(suite: halfOpen.protection.suite, establishedAt: nil, rekeyAt: nil))
        case .established(let sa):
            state = .closed(
                ClosedState(suite: sa.protection.suite, establishedAt: sa.establishedAt, rekeyAt: sa.rekeyAt))
        case .deleting(let deleting):
            state = .closed(
                ClosedState(
                    suite: deleting.sa.protection.suite, establishedAt: deleting.sa.establishedAt,
                    rekeyAt: deleting.sa.rekeyAt))
        case .closed:
            break
        }
        actions.append(.ikeSAClosed(restart: restart ?? (role == .initiator)))
    }
}
