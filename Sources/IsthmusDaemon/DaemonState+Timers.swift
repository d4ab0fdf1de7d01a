import IsthmusIKEv2
import NIOCore

/// The sessions' timers on the event loop: each armed timer is one scheduled task, keyed by session and
/// ``IKETimer``; a token makes a fired task that was re-armed meanwhile a no-op.
extension DaemonState {

    /// Arms (or re-arms) a session's timer for the monotonic time `deadline`.
    func arm(_ timer: IKETimer, at deadline: Duration, for session: any IKESession, now: Duration) {
        let id = ObjectIdentifier(session)
        let key = TimerKey(session: id, timer: timer)
        if let existing = timers.removeValue(forKey: key) {
            existing.task.cancel()
        } else {
            guard timerCounts[id, default: 0] < Self.maximumTimersPerSession else {
                logger.warning("too many timers; ignoring one", metadata: ["connection": "\(session.connectionName)"])
                return
            }
            timerCounts[id, default: 0] += 1
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
        decrementTimerCount(key.session)
    }

    private func fire(_ key: TimerKey, token: UInt64) {
        guard let armed = timers[key], armed.token == token else { return }
        timers[key] = nil
        decrementTimerCount(key.session)
        guard dispatcher.contains(armed.session) else { return }
        deliver(.timer(key.timer), to: armed.session)
    }

    private func decrementTimerCount(_ id: ObjectIdentifier) {
        let remaining = timerCounts[id, default: 1] - 1
        timerCounts[id] = remaining > 0 ? remaining : nil
    }

    func cancelAllTimers(of session: any IKESession) {
        let id = ObjectIdentifier(session)
        for (key, armed) in timers where key.session == id {
            armed.task.cancel()
            timers[key] = nil
        }
        timerCounts[id] = nil
    }

    func cancelAllTimers() {
        for armed in timers.values { armed.task.cancel() }
        timers.removeAll()
        timerCounts.removeAll()
    }

    /// A non-negative NIO delay for a duration, saturating at about 100 years.
    static func timeAmount(_ duration: Duration) -> TimeAmount {
        let parts = duration.components
        guard parts.seconds >= 0 else { return .zero }
        guard parts.seconds < 3_153_600_000 else { return .seconds(3_153_600_000) }
        return .nanoseconds(parts.seconds * 1_000_000_000 + parts.attoseconds / 1_000_000_000)
    }
}
