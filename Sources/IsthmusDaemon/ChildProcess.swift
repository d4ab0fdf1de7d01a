import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A child process of the daemon (BIRD), started with `posix_spawn` so that it gets what a daemon's child
/// needs and Foundation's `Process` does not give it: an empty signal mask and default signal handling (the
/// daemon's threads block SIGTERM and friends for swift-service-lifecycle, and a child inherits the mask, so a
/// BIRD started otherwise never sees SIGTERM), standard input from /dev/null, standard output and error into a
/// pipe read line by line. It is started from ``ChildProcessThread``, a thread that lives as long as the daemon,
/// so `setpriv --pdeathsig` ties its life to the daemon's.
final class ChildProcess: Sendable {
    enum Termination: Sendable, Equatable {
        case exited(Int32)
        case signaled(Int32)
    }

    struct SpawnFailure: Error, CustomStringConvertible {
        var description: String
    }

    let pid: pid_t
    private let ended = Mutex(false)

    private init(pid: pid_t) { self.pid = pid }

    /// Whether it has ended (and been reaped).
    var hasExited: Bool { ended.withLock { $0 } }

    /// Starts `executable` with `arguments`; `output` gets each line it writes, `exited` its pid and how it
    /// ended (once, after the last line).
    static func spawn(
        _ executable: String, _ arguments: [String], output: @escaping @Sendable (String) -> Void,
        exited: @escaping @Sendable (pid_t, Termination) -> Void
    ) throws -> ChildProcess {
        var pipeEnds: [Int32] = [0, 0]
        guard pipe(&pipeEnds) == 0 else {
            throw SpawnFailure(description: "pipe: \(String(cString: strerror(errno)))")
        }
        // Close-on-exec: the child gets the write end as 1 and 2 only (dup2 clears the flag on those).
        for end in pipeEnds { _ = fcntl(end, F_SETFD, FD_CLOEXEC) }
        let spawned: pid_t
        do {
            spawned = try ChildProcessThread.shared.run { () throws -> pid_t in
                var actions = posix_spawn_file_actions_t()
                posix_spawn_file_actions_init(&actions)
                defer { posix_spawn_file_actions_destroy(&actions) }
                posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
                posix_spawn_file_actions_adddup2(&actions, pipeEnds[1], 1)
                posix_spawn_file_actions_adddup2(&actions, pipeEnds[1], 2)
                var attributes = posix_spawnattr_t()
                posix_spawnattr_init(&attributes)
                defer { posix_spawnattr_destroy(&attributes) }
                var none = sigset_t()
                sigemptyset(&none)
                posix_spawnattr_setsigmask(&attributes, &none)
                var all = sigset_t()
                sigfillset(&all)
                posix_spawnattr_setsigdefault(&attributes, &all)
                // A process group of its own: a terminal's Ctrl-C reaches the gateway, which stops it in order.
                posix_spawnattr_setpgroup(&attributes, 0)
                posix_spawnattr_setflags(
                    &attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP))
                let argv = ([executable] + arguments).map { strdup($0) } + [nil]
                defer { for pointer in argv { free(pointer) } }
                var pid = pid_t()
                let result = posix_spawn(&pid, executable, &actions, &attributes, argv, environ)
                guard result == 0 else {
                    throw SpawnFailure(description: "cannot start \(executable): \(String(cString: strerror(result)))")
                }
                return pid
            }
        } catch {
            close(pipeEnds[0])
            close(pipeEnds[1])
            throw error
        }
        let pid = spawned
        close(pipeEnds[1])
        let reader = pipeEnds[0]
        let child = ChildProcess(pid: pid)
        let lines = Thread {
            var pending: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 4096)
            while true {
                let count = buffer.withUnsafeMutableBytes { read(reader, $0.baseAddress, $0.count) }
                if count < 0, errno == EINTR { continue }
                guard count > 0 else { break }
                pending += buffer[..<count]
                while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                    output(String(decoding: pending[..<newline], as: UTF8.self))
                    pending.removeSubrange(...newline)
                }
            }
            if !pending.isEmpty { output(String(decoding: pending, as: UTF8.self)) }
            close(reader)
            var status: Int32 = 0
            while waitpid(pid, &status, 0) < 0, errno == EINTR {}
            // WIFEXITED / WTERMSIG by hand: the macros do not reach Swift.
            let signal = status & 0x7F
            child.ended.withLock { $0 = true }
            exited(pid, signal == 0 ? .exited((status >> 8) & 0xFF) : .signaled(signal))
        }
        lines.name = "isthmus.child.\(pid)"
        lines.start()
        return child
    }

}

/// One thread that lives as long as the process and starts child processes, so a child can ask the kernel
/// for a signal when its parent goes (`setpriv --pdeathsig`, PR_SET_PDEATHSIG): that signal comes when the
/// *thread* that started it ends, so it must not be a pool thread that may be retired while the child runs.
final class ChildProcessThread: @unchecked Sendable {
    static let shared = ChildProcessThread()

    private let condition = NSCondition()
    private var jobs: [() -> Void] = []

    private init() {
        let thread = Thread { [unowned self] in self.loop() }
        thread.name = "isthmus.children"
        thread.start()
    }

    /// Runs `body` on the thread and returns its result.
    func run<Result>(_ body: @escaping () throws -> Result) throws -> Result {
        let done = NSCondition()
        var outcome: Swift.Result<Result, any Error>?
        condition.lock()
        jobs.append {
            let result = Swift.Result { try body() }
            done.lock()
            outcome = result
            done.signal()
            done.unlock()
        }
        condition.signal()
        condition.unlock()
        done.lock()
        while outcome == nil { done.wait() }
        done.unlock()
        return try outcome!.get()
    }

    private func loop() {
        while true {
            condition.lock()
            while jobs.isEmpty { condition.wait() }
            let job = jobs.removeFirst()
            condition.unlock()
            job()
        }
    }
}
