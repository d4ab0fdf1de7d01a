import IsthmusIKEv2
import NIOCore

/// The sessions' timers on the event loop: each armed timer is one scheduled task, keyed by session and
/// ``IKETimer``; a token makes a fired task that was re-armed meanwhile a no-op. Each session's armed timers
/// are also listed under it (`timersBySession`), so closing a session touches only its own timers.
extension DaemonState {

    /// Arms (or re-arms) a session's timer for the monotonic time `deadline`.
    func arm(_ timer: IKETimer, at deadline: Duration, for session: any IKESession, now: Duration) {
        let id = ObjectIdentifier(session)
        let key = TimerKey(session: id, timer: timer)
        if let existing = timers.removeValue(forKey: key) {
            existing.task.cancel()
        } else {
            guard timersBySession[id, default: []].count < Self.maximumTimersPerSession else {
                logger.warning("too many timers; ignoring one", metadata: ["connection": "\(session.connectionName)"])
                return
            }
            timersBySession[id, default: []].insert(timer)
        }
        nextTimerToken &+= 1
        let token = nextTimerToken
        let bound = NIOLoopBound(self, eventLoop: eventLoop)
        let task = eventLoop.scheduleTask(in: Self.timeAmount(deadline - now)) {
            bound.value.fire(key, token: token)
        }
        timers[key] = ArmedTimer(task: task, token: token, session: session)
    }

    /// Cancels a session's timer; nothing happens when it is not armed.
    func cancel(_ timer: IKETimer, for session: any IKESession) {
        let key = TimerKey(session: ObjectIdentifier(session), timer: timer)
        guard let existing = timers.removeValue(forKey: key) else { return }
        existing.task.cancel()
        forget(key)
    }

    private func fire(_ key: TimerKey, token: UInt64) {
        guard let armed = timers[key], armed.token == token else { return }
        timers[key] = nil
        forget(key)
        guard dispatcher.contains(armed.session) else { return }
        deliver(.timer(key.timer), to: armed.session)
    }

    private func forget(_ key: TimerKey) {
        guard var armed = timersBySession[key.session] else { return }
        armed.remove(key.timer)
        timersBySession[key.session] = armed.isEmpty ? nil : armed
    }

    /// Cancels the session's timers: only its own (no scan of every timer).
    func cancelAllTimers(of session: any IKESession) {
        let id = ObjectIdentifier(session)
        for timer in timersBySession.removeValue(forKey: id) ?? [] {
            timers.removeValue(forKey: TimerKey(session: id, timer: timer))?.task.cancel()
        }
    }

    func cancelAllTimers() {
        for armed in timers.values { armed.task.cancel() }
        timers.removeAll()
        timersBySession.removeAll()
    }

    /// A non-negative NIO delay for a duration, saturating at about 100 years.
    static func timeAmount(_ duration: Duration) -> TimeAmount {
        let parts = duration.components
        guard parts.seconds >= 0 else { return .zero }
        guard parts.seconds < 3_153_600_000 else { return .seconds(3_153_600_000) }
        return .nanoseconds(parts.seconds * 1_000_000_000 + parts.attoseconds / 1_000_000_000)
    }
}
