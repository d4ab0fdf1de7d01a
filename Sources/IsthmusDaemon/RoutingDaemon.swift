import Foundation
import IsthmusEvents
import IsthmusGateway
import Logging
import Synchronization

/// Runs BIRD for the gateway's BGP sessions and keeps it running: the daemon's child process, on a
/// configuration written from the YAML (``BirdConfiguration``) into its own folder (`bird.conf`, the control
/// socket `bird.ctl`), told to re-read it at every reload (BIRD applies the difference: unchanged sessions stay
/// up, tunnels are never touched), stopped with SIGTERM at exit (BIRD then withdraws its kernel routes).
///
/// Supervision: BIRD missing, exiting or refusing its configuration is a `routing-daemon-failed` event with
/// BIRD's own words; it is started again after 1 s, doubling to 30 s while it keeps dying (a run of a minute
/// resets that). Once a second BIRD is asked for its BGP protocols (`show protocols all`); what changed becomes
/// events (`bgp-session-up`, `bgp-session-down`, `bgp-prefix-refused`) and `status` reads the latest answer.
///
/// Everything runs on one serial queue of its own; only ``sessions`` and ``health`` are read from elsewhere.
final class RoutingDaemon: Sendable {
    /// What `status` shows of the routing daemon itself.
    struct Health: Sendable, Hashable {
        var running: Bool
        var pid: Int32?
        /// Why it is not running, or what it refused; nil when all is well.
        var error: String?
    }

    let directory: String
    let executable: String
    var configPath: String { "\(directory)/bird.conf" }
    var socketPath: String { "\(directory)/bird.ctl" }

    private let queue = DispatchQueue(label: "isthmus.routing")
    private let logger: Logger
    private let clock: @Sendable () -> Duration
    private let reportBox: Mutex<@Sendable ([GatewayEvent]) -> Void>
    private let pollInterval: Duration

    /// What only this object's queue touches.
    private final class Confined: @unchecked Sendable {
        var configuration: BirdConfiguration?
        var process: ChildProcess?
        var startedAt: Duration?
        var stopping = false
        var backoff: Duration = .seconds(1)
        var restartScheduled = false
        var pollTimer: (any DispatchSourceTimer)?
    }

    /// What other threads read (``session(of:)``, ``health``) or write (BIRD's output).
    private struct Shared {
        var protocolNames: [String: String] = [:]
        var neighborNames: [String: String] = [:]
        var sessions: [String: BGPSessionStatus] = [:]
        var health = Health(running: false)
        var stderrTail: [String] = []
        /// The last line BIRD logged about each protocol.
        var logged: [String: String] = [:]
    }

    private let confined = Confined()
    private let state = Mutex(Shared())

    /// - Parameters:
    ///   - directory: BIRD's folder (created, mode 0700).
    ///   - executable: the `bird` binary.
    ///   - report: gets the events, on this object's queue (hop to the event loop there).
    init(
        directory: String, executable: String, logger: Logger, clock: @escaping @Sendable () -> Duration,
        pollInterval: Duration = .seconds(1), report: @escaping @Sendable ([GatewayEvent]) -> Void
    ) {
        self.directory = directory
        self.executable = executable
        self.logger = logger
        self.clock = clock
        self.pollInterval = pollInterval
        self.reportBox = Mutex(report)
    }

    /// Where events go from now on.
    func setReport(_ report: @escaping @Sendable ([GatewayEvent]) -> Void) {
        reportBox.withLock { $0 = report }
    }

    private func report(_ events: [GatewayEvent]) {
        let deliver = reportBox.withLock { $0 }
        deliver(events)
    }

    static let setpriv = "/usr/bin/setpriv"

    /// The `bird` on PATH, else Debian's /usr/sbin/bird.
    static func defaultExecutable() -> String {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        for folder in path.split(separator: ":") + ["/usr/sbin", "/usr/local/sbin"] {
            let candidate = "\(folder)/bird"
            if access(candidate, X_OK) == 0 { return candidate }
        }
        return "/usr/sbin/bird"
    }

    /// The latest BIRD answer for connection `name`'s BGP session.
    func session(of connection: String) -> BGPSessionStatus? {
        state.withLock { state in
            state.protocolNames[connection].flatMap { state.sessions[$0] }
        }
    }

    /// The latest BIRD answer for each of `gateway.bgp.neighbors`, by neighbor name.
    var neighborSessions: [String: BGPSessionStatus] {
        state.withLock { state in state.neighborNames.compactMapValues { state.sessions[$0] } }
    }

    var health: Health { state.withLock { $0.health } }

    // MARK: Life cycle

    /// Runs BIRD on `configuration` (start, reload); nil stops it (no BGP in the configuration).
    func apply(_ configuration: BirdConfiguration?) {
        queue.async { self.applyOnQueue(configuration) }
    }

    /// The gateway is shutting down: BIRD ending from now on is no failure and is not restarted.
    func prepareToStop() {
        queue.async { self.confined.stopping = true }
    }

    /// Stops BIRD and waits for it (at most 3 s, then SIGKILL).
    func stop() {
        queue.sync { self.stopOnQueue() }
    }

    private func applyOnQueue(_ configuration: BirdConfiguration?) {
        guard let configuration else {
            stopOnQueue()
            return
        }
        confined.configuration = configuration
        state.withLock { state in
            state.protocolNames = configuration.protocolNames
            state.neighborNames = configuration.neighborNames
        }
        if let problem = writeConfiguration(configuration.text) {
            failed("cannot write BIRD's configuration: \(problem)")
            return
        }
        if let process = confined.process, !process.hasExited {
            reconfigure()
        } else {
            confined.stopping = false
            startOnQueue()
        }
        startPolling()
    }

    private func writeConfiguration(_ text: String) -> String? {
        do {
            try FileManager.default.createDirectory(
                atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            try Data(text.utf8).write(to: URL(fileURLWithPath: configPath), options: .atomic)
            return nil
        } catch {
            return "\(error)"
        }
    }

    private func startOnQueue() {
        guard access(executable, X_OK) == 0 else {
            failed(
                "BIRD is not installed (no \(executable)): BGP sessions cannot run; install Debian's bird2 "
                    + "(apt-get install bird2), then reload",
                restart: true)
            return
        }
        stopLeftover()
        unlink(socketPath)
        // Cleared before BIRD starts: what it says while failing to start is its last words.
        state.withLock { state in
            state.stderrTail = []
            state.logged = [:]
        }
        var arguments = ["-f", "-c", configPath, "-s", socketPath, "-P", "\(directory)/bird.pid"]
        var program = executable
        // BIRD goes with the gateway even when the gateway is killed: setpriv (util-linux) asks the kernel for
        // SIGTERM when the thread that started it ends (ChildProcessThread: never while the process lives).
        if access(Self.setpriv, X_OK) == 0 {
            program = Self.setpriv
            arguments = ["--pdeathsig", "TERM", "--", executable] + arguments
        }
        let logger = self.logger
        let process: ChildProcess
        do {
            process = try ChildProcess.spawn(
                program, arguments,
                output: { [weak self] line in
                    logger.notice("bird: \(line)")
                    self?.state.withLock { state in
                        state.stderrTail = Array((state.stderrTail + [line]).suffix(10))
                        if let (name, text) = BirdStatus.logLine(line) { state.logged[name] = text }
                    }
                },
                exited: { [weak self] pid, termination in
                    guard let self else { return }
                    self.queue.async { self.exited(termination, pid: pid) }
                })
        } catch {
            failed("cannot start \(executable): \(error)", restart: true)
            return
        }
        let pid = process.pid
        confined.process = process
        confined.startedAt = clock()
        state.withLock { $0.health = Health(running: true, pid: pid) }
        logger.notice("routing daemon started", metadata: ["pid": "\(pid)", "config": "\(configPath)"])
        report([
            GatewayEvent(
                time: clock(), connection: "", kind: .routingDaemonStarted,
                message: "BIRD started (pid \(pid)) for the BGP sessions, configuration \(configPath)",
                details: ["pid": "\(pid)", "config": configPath])
        ])
    }

    private func reconfigure() {
        do {
            let reply = try BirdControl.send("configure", socketPath: socketPath)
            if reply.isError {
                failed("BIRD refused its new configuration and keeps the old one: \(reply.lines.last ?? "")")
                return
            }
            state.withLock { $0.health.error = nil }
            report([
                GatewayEvent(
                    time: clock(), connection: "", kind: .routingDaemonStarted,
                    message: "BIRD re-read its configuration (\(reply.lines.last ?? "reconfigured"))",
                    details: ["config": configPath])
            ])
        } catch {
            failed("cannot reach BIRD to reconfigure it: \(error)")
        }
    }

    private func exited(_ termination: ChildProcess.Termination, pid: pid_t) {
        guard confined.process?.pid == pid else { return }
        let tail = state.withLock { state in
            state.sessions = [:]
            state.health = Health(running: false, pid: nil, error: nil)
            return state.stderrTail
        }
        confined.process = nil
        if let startedAt = confined.startedAt, clock() - startedAt > .seconds(60) { confined.backoff = .seconds(1) }
        guard !confined.stopping else { return }
        let how: String
        switch termination {
        case .signaled(let signal): how = "was killed by signal \(signal)"
        case .exited(let status): how = "exited with status \(status)"
        }
        let said = tail.last.map { "; its last words: \($0)" } ?? ""
        failed("BIRD \(how)\(said)", restart: true)
    }

    /// Records a failure; with `restart`, tries again after the back-off.
    private func failed(_ reason: String, restart: Bool = false) {
        state.withLock { $0.health.error = reason }
        let delay = confined.backoff
        if restart { confined.backoff = min(confined.backoff * 2, .seconds(30)) }
        logger.error("routing daemon: \(reason)")
        var message = reason
        if restart { message += "; starting it again in \(delay.configText); tunnels are not affected" }
        report([
            GatewayEvent(
                time: clock(), connection: "", kind: .routingDaemonFailed, severity: .error, message: message,
                details: ["reason": reason])
        ])
        guard restart else { return }
        guard !confined.restartScheduled else { return }
        confined.restartScheduled = true
        let nanoseconds = delay.components.seconds * 1_000_000_000 + delay.components.attoseconds / 1_000_000_000
        queue.asyncAfter(deadline: .now() + .nanoseconds(Int(nanoseconds))) {
            let confined = self.confined
            confined.restartScheduled = false
            if !confined.stopping, confined.configuration != nil, confined.process == nil {
                self.startOnQueue()
            }
        }
    }

    private func stopOnQueue() {
        confined.stopping = true
        confined.configuration = nil
        confined.pollTimer?.cancel()
        confined.pollTimer = nil
        state.withLock { $0.sessions = [:] }
        guard let process = confined.process, !process.hasExited else { return }
        kill(process.pid, SIGTERM)
        let deadline = Date().addingTimeInterval(3)
        while !process.hasExited, Date() < deadline { usleep(10_000) }
        if !process.hasExited { kill(process.pid, SIGKILL) }
        confined.process = nil
        state.withLock { $0.health = Health(running: false) }
        unlink(socketPath)
        logger.notice("routing daemon stopped")
    }

    /// Stops a BIRD an earlier run of this gateway left behind (the gateway was killed, so BIRD outlived it):
    /// the one whose pid file is in our folder and whose command line names our configuration.
    private func stopLeftover() {
        guard let text = try? String(contentsOfFile: "\(directory)/bird.pid", encoding: .utf8),
            let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)), pid > 1,
            let command = try? Data(contentsOf: URL(fileURLWithPath: "/proc/\(pid)/cmdline")),
            String(decoding: command, as: UTF8.self).contains(configPath)
        else { return }
        logger.notice("stopping the BIRD an earlier run left behind", metadata: ["pid": "\(pid)"])
        kill(pid, SIGTERM)
        for _ in 0..<150 where kill(pid, 0) == 0 { usleep(20_000) }
        if kill(pid, 0) == 0 { kill(pid, SIGKILL) }
    }

    // MARK: Polling

    private func startPolling() {
        guard confined.pollTimer == nil else { return }
        let timer = DispatchSource.makeTimerSource(queue: queue)
        let interval = Int(
            pollInterval.components.seconds * 1000 + pollInterval.components.attoseconds / 1_000_000_000_000_000)
        timer.schedule(deadline: .now() + .milliseconds(interval), repeating: .milliseconds(interval))
        timer.setEventHandler { [weak self] in self?.poll() }
        confined.pollTimer = timer
        timer.resume()
    }

    private func poll() {
        guard let process = confined.process, !process.hasExited, let configuration = confined.configuration else {
            return
        }
        guard let reply = try? BirdControl.send("show protocols all", socketPath: socketPath, timeout: .seconds(2)),
            !reply.isError
        else { return }
        var fresh: [String: BGPSessionStatus] = [:]
        let logged = state.withLock { $0.logged }
        for var session in BirdStatus.bgpSessions(reply.lines) {
            // What BIRD logged last, while the session is not up (an Established one's old errors are history).
            if !session.established { session.logged = logged[session.protocolName] }
            fresh[session.protocolName] = session
        }
        let previous = state.withLock { state in
            defer { state.sessions = fresh }
            return state.sessions
        }
        var events: [GatewayEvent] = []
        for (connection, name) in configuration.protocolNames.sorted(by: { $0.key < $1.key }) {
            guard let now = fresh[name] else { continue }
            events += BGPSessionEvents.changes(
                from: previous[name], to: now, connection: connection, time: clock(),
                refused: { self.refusedPrefixes(of: name) })
        }
        for (neighbor, name) in configuration.neighborNames.sorted(by: { $0.key < $1.key }) {
            guard let now = fresh[name] else { continue }
            events += BGPSessionEvents.changes(
                from: previous[name], to: now, connection: "", time: clock(), refused: { [] }
            ).map { event in
                var event = event
                event.details["bgp_neighbor"] = neighbor
                event.message = "neighbor \(neighbor): " + event.message
                return event
            }
        }
        if !events.isEmpty { report(events) }
    }

    /// The prefixes BIRD keeps as filtered for protocol `name` (at most 20).
    private func refusedPrefixes(of name: String) -> [String] {
        guard let reply = try? BirdControl.send("show route filtered protocol \(name)", socketPath: socketPath),
            !reply.isError
        else { return [] }
        return Array(BirdStatus.routePrefixes(reply.lines).prefix(20))
    }
}
