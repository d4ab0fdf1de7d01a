import IsthmusDataplane
import IsthmusEvents
import IsthmusIKE
import NIOCore

/// Whether the data-plane thread still works, judged once a second from what it publishes: it leaves its
/// loop only when told to stop or when `poll` fails (``Dataplane/failure``), and while it runs it turns at
/// least twice a second (its `poll` waits 500 ms at most), so a turn count that stands still for
/// ``stallLimit`` means it is stuck. Pure: the caller passes the readings and the time.
struct DataplaneWatchdog: Sendable {
    enum Verdict: Sendable, Hashable {
        case alive
        /// The thread left its loop: why.
        case stopped(String)
        /// The thread ran no turn for this long.
        case stalled(Duration)
    }

    /// How long the turn count may stand still: far above the 500 ms `poll` timeout and a send that
    /// blocks on a full socket buffer for a while.
    var stallLimit: Duration = .seconds(10)
    private var lastTurns: UInt64?
    private var lastProgress: Duration = .zero

    init(stallLimit: Duration = .seconds(10)) {
        self.stallLimit = stallLimit
    }

    mutating func check(running: Bool, failure: String?, turns: UInt64, now: Duration) -> Verdict {
        guard running else { return .stopped(failure ?? "the data-plane thread left its loop") }
        if turns != lastTurns {
            lastTurns = turns
            lastProgress = now
            return .alive
        }
        let still = now - lastProgress
        return still >= stallLimit ? .stalled(still) : .alive
    }
}

/// When to create a data-plane interface again after its TUN device failed: at once, unless the interface
/// failed again less than ``stableLifetime`` after it was created (something deletes it as fast as it
/// appears: the daemon must not spin): then after 1, 2, 4 ... up to 30 seconds, back to at once after an
/// interface that lived. Pure.
struct InterfaceRecovery: Sendable {
    static let stableLifetime: Duration = .seconds(1)
    static let longestDelay: Duration = .seconds(30)
    /// Per interface: failures in a row of an interface that did not live, and when it was created last.
    private var history: [String: (count: Int, createdAt: Duration)] = [:]

    /// Records a failure of interface `name` at `now`; the delay before creating it again.
    mutating func delay(afterFailureOf name: String, now: Duration) -> Duration {
        var entry = history[name] ?? (0, now)
        if now - entry.createdAt >= Self.stableLifetime { entry.count = 0 }
        let delay: Duration =
            entry.count == 0 ? .zero : min(.seconds(1 << min(entry.count - 1, 5)), Self.longestDelay)
        entry.count += 1
        entry.createdAt = now + delay
        history[name] = entry
        return delay
    }
}

/// What the daemon keeps to supervise its data plane.
struct DataplaneSupervision {
    var watchdog = DataplaneWatchdog()
    var recovery = InterfaceRecovery()
    /// Called once when the data-plane thread is found dead or stuck (`isthmus run`: shut down, exit 70).
    var onFatal: (@Sendable (String) -> Void)?
    /// The fatal verdict was acted on.
    var failed = false
}

extension DaemonState {
    /// Exit status of `isthmus run` when the data-plane thread died or stalled (EX_SOFTWARE): systemd's
    /// `Restart=on-failure` starts the gateway again.
    static let dataplaneFailureExitCode: Int32 = 70
    /// IKE messages read by the data-plane thread that may wait for the event loop at once; more are
    /// dropped and counted (`ike-handoff-full`), as a full socket buffer would drop them.
    static let ikeHandoffCapacity = 1024

    /// Starts the data-plane thread on `socket` with its reports going to the daemon on `loop`: IKE messages
    /// through a bounded handoff (``ikeHandoffCapacity``, then `ike-handoff-full` drops), lifetime events,
    /// ACL denials (at most 10 a second) and failed TUN devices.
    static func start(
        _ plane: Dataplane, socket: NATTSocket, state: NIOLoopBoundBox<DaemonState>, loop: any EventLoop
    ) throws(DataplaneError) {
        plane.onDenial { denial in loop.execute { state.value.aclDenied(denial) } }
        plane.onDeviceFailure { interface, name in
            loop.execute { state.value.dataplaneDeviceFailed(interface: interface, name: name) }
        }
        let handoff = HandoffBound(capacity: ikeHandoffCapacity)
        try plane.start(
            socket: socket,
            onIKE: { message, source, destination in
                guard handoff.enter() else {
                    plane.countDrop("ike-handoff-full")
                    return
                }
                let datagram = IKEDatagram(bytes: message, source: source, destination: destination)
                loop.execute {
                    handoff.leave()
                    state.value.receiveFromDataplane(datagram)
                }
            },
            onLifetime: { event in loop.execute { state.value.espLifetimeReached(event) } })
    }

    /// A TUN device of the data plane failed (its interface was deleted): records the loss under each of
    /// the interface's connections and creates the interface again (with its routes; the SAs installed
    /// for it carry traffic again), at once or after ``InterfaceRecovery``'s delay.
    func dataplaneDeviceFailed(interface: Int, name: String) {
        guard let dataPath, !isShuttingDown else { return }
        let now = clock()
        let lost = dataPath.interfaceLost(name, now: now)
        guard !lost.isEmpty else { return }
        for event in lost { record(event) }
        guard dataPath.managed else { return }
        let delay = supervision.recovery.delay(afterFailureOf: name, now: now)
        guard delay > .zero else {
            plumbDataPath()
            return
        }
        logger.notice("interface \(name) is created again in \(delay)", metadata: ["interface": "\(name)"])
        let bound = NIOLoopBound(self, eventLoop: eventLoop)
        eventLoop.scheduleTask(in: Self.timeAmount(delay)) {
            let state = bound.value
            guard !state.isShuttingDown else { return }
            state.plumbDataPath()
        }
    }

    /// Checks the data-plane thread once a second (``DataplaneWatchdog``); a dead or stuck thread is an
    /// error event and, when ``DataplaneSupervision/onFatal`` is set, the end of the process.
    func scheduleDataplaneWatchdog() {
        guard let plane = dataplane, plane.isRunning else { return }
        let bound = NIOLoopBound(self, eventLoop: eventLoop)
        eventLoop.scheduleRepeatedTask(initialDelay: .seconds(1), delay: .seconds(1)) { task in
            let state = bound.value
            guard !state.isShuttingDown, !state.supervision.failed else {
                task.cancel()
                return
            }
            state.checkDataplane()
        }
    }

    func checkDataplane() {
        guard let plane = dataplane else { return }
        let verdict = supervision.watchdog.check(
            running: plane.isRunning, failure: plane.failure, turns: plane.turns, now: clock())
        let reason: String
        switch verdict {
        case .alive: return
        case .stopped(let why): reason = "the data-plane thread stopped: \(why)"
        case .stalled(let time): reason = "the data-plane thread ran no turn for \(time.components.seconds) s"
        }
        supervision.failed = true
        record(
            GatewayEvent(
                time: clock(), connection: "", kind: .dataplaneFailed, severity: .error,
                message: "\(reason); no traffic crosses: the gateway exits (status \(Self.dataplaneFailureExitCode)) "
                    + "for its service manager to start it again",
                details: ["reason": reason]))
        supervision.onFatal?(reason)
    }
}
