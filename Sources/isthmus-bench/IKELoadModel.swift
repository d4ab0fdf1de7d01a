import HeapModule
import IsthmusEvents
import IsthmusIP

/// The identity of initiator N (`isthmus-bench ike --id-template`): every `%d` becomes N, `%%` a `%`.
struct IdentityTemplate: Sendable, Hashable {
    let text: String

    /// Refuses a template without `%d` (all initiators would share one identity, and a responder replaces an
    /// identity's older IKE SA with its newer one) or with another `%` directive.
    init(_ text: String) throws(LoadOptionError) {
        var sawIndex = false
        var iterator = text.makeIterator()
        while let character = iterator.next() {
            guard character == "%" else { continue }
            switch iterator.next() {
            case "d": sawIndex = true
            case "%": break
            default:
                throw LoadOptionError("--id-template '\(text)': only %d (the initiator's number) and %% may follow a %")
            }
        }
        guard sawIndex else {
            throw LoadOptionError("--id-template '\(text)' has no %d: every initiator needs an identity of its own")
        }
        self.text = text
    }

    /// The identity text of initiator `index` (1-based).
    func identity(for index: Int) -> String {
        var result = ""
        var iterator = text.makeIterator()
        while let character = iterator.next() {
            guard character == "%" else {
                result.append(character)
                continue
            }
            switch iterator.next() {
            case "d": result += String(index)
            default: result.append("%")
            }
        }
        return result
    }
}

/// A command-line value the load generator cannot use; its message says which and why.
struct LoadOptionError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// `ADDR[:port]` (IPv4) as `--target` and `--source` take it.
func parseEndpoint(_ text: String, defaultPort: UInt16) throws(LoadOptionError) -> UDPEndpoint {
    let parts = text.split(separator: ":", omittingEmptySubsequences: false)
    guard parts.count == 1 || parts.count == 2 else {
        throw LoadOptionError("'\(text)' is not an IPv4 ADDRESS[:PORT]")
    }
    guard let address = try? IPAddress(parsing: String(parts[0])), address.family == .v4 else {
        throw LoadOptionError("'\(parts[0])' is not an IPv4 address")
    }
    var port = defaultPort
    if parts.count == 2 {
        guard let value = UInt16(parts[1]) else { throw LoadOptionError("'\(parts[1])' is not a UDP port") }
        port = value
    }
    return UDPEndpoint(address: address, port: port)
}

/// What happened to each setup of a run, and which to start next: at most `concurrency` in flight, `count` in
/// all, in order. Pure; the generator feeds it the times of its clock.
struct SetupBook: Sendable {
    let count: Int
    let concurrency: Int
    /// Setups started so far (setup numbers 1...started).
    private(set) var started = 0
    private(set) var inFlight = 0
    private(set) var established = 0
    private(set) var retransmissions = 0
    /// Failed setups per reason (the kind of the initiator's last warning before it gave up).
    private(set) var failures: [String: Int] = [:]
    private var startedAt: [MonotonicTime?]
    private var finishedAt: [MonotonicTime?]
    /// Setup time of each established setup, in the order they were established.
    private(set) var latencies: [Duration] = []
    private var firstStartedAt: MonotonicTime?
    private var lastEstablishedAt: MonotonicTime?

    init(count: Int, concurrency: Int) {
        self.count = count
        self.concurrency = max(1, concurrency)
        startedAt = Array(repeating: nil, count: count + 1)
        finishedAt = Array(repeating: nil, count: count + 1)
    }

    var failed: Int { failures.values.reduce(0, +) }
    /// Every setup has been started and has ended (established or failed).
    var finished: Bool { started == count && inFlight == 0 }

    /// The next setup to start at `now`, when the window has room and setups are left; nil otherwise.
    mutating func start(at now: MonotonicTime) -> Int? {
        guard started < count, inFlight < concurrency else { return nil }
        started += 1
        inFlight += 1
        startedAt[started] = now
        if firstStartedAt == nil { firstStartedAt = now }
        return started
    }

    /// Setup `index` has its CHILD SA; a second report for it changes nothing.
    mutating func establish(_ index: Int, at now: MonotonicTime) {
        guard let start = pending(index) else { return }
        finishedAt[index] = now
        inFlight -= 1
        established += 1
        latencies.append(now - start)
        lastEstablishedAt = max(lastEstablishedAt ?? now, now)
    }

    /// Setup `index` gave up (`reason`) before its CHILD SA was up; nothing happens to an ended one.
    mutating func fail(_ index: Int, reason: String, at now: MonotonicTime) {
        guard pending(index) != nil else { return }
        finishedAt[index] = now
        inFlight -= 1
        failures[reason, default: 0] += 1
    }

    mutating func retransmitted() { retransmissions += 1 }

    /// Whether setup `index` is in flight.
    func isPending(_ index: Int) -> Bool { pending(index) != nil }

    private func pending(_ index: Int) -> MonotonicTime? {
        guard index >= 1, index <= started, finishedAt[index] == nil else { return nil }
        return startedAt[index]
    }

    /// The run's figures: the window runs from the first setup started to the last one established (a late
    /// failure, a timeout long after the rest, does not stretch it).
    func summary() -> LoadSummary {
        let window = firstStartedAt.flatMap { first in lastEstablishedAt.map { ($0 - first).seconds } } ?? 0
        return LoadSummary(
            count: count, concurrency: concurrency, started: started, established: established, failed: failed,
            failures: failures, retransmissions: retransmissions, windowSeconds: window,
            setupsPerSecond: window > 0 ? Double(established) / window : 0,
            latencyMilliseconds: Percentiles(latencies.map { $0.seconds * 1000 }))
    }
}

/// Nearest-rank percentiles of a sample (all zero for an empty one).
struct Percentiles: Sendable, Codable, Hashable {
    var count: Int
    var min: Double
    var p50: Double
    var p90: Double
    var p99: Double
    var max: Double
    var mean: Double

    init(_ values: [Double]) {
        let sorted = values.sorted()
        count = sorted.count
        func rank(_ fraction: Double) -> Double {
            guard !sorted.isEmpty else { return 0 }
            let position = Int((fraction * Double(sorted.count)).rounded(.up))
            return sorted[Swift.min(Swift.max(position, 1), sorted.count) - 1]
        }
        min = sorted.first ?? 0
        max = sorted.last ?? 0
        p50 = rank(0.50)
        p90 = rank(0.90)
        p99 = rank(0.99)
        mean = sorted.isEmpty ? 0 : sorted.reduce(0, +) / Double(sorted.count)
    }
}

/// The figures of one `isthmus-bench ike` run (`--json` prints this).
struct LoadSummary: Sendable, Codable, Hashable {
    var count: Int
    var concurrency: Int
    var started: Int
    var established: Int
    var failed: Int
    var failures: [String: Int]
    var retransmissions: Int
    /// Seconds from the first IKE_SA_INIT sent to the last CHILD SA up.
    var windowSeconds: Double
    /// Established setups over that window.
    var setupsPerSecond: Double
    /// Per setup: first IKE_SA_INIT sent to its CHILD SA up, in milliseconds.
    var latencyMilliseconds: Percentiles
    /// The generator's own CPU time (user + system) per setup started, in milliseconds.
    var generatorCPUMillisecondsPerSetup: Double = 0
    /// Datagrams the kernel refused to send; datagrams received that no setup claimed.
    var sendFailures = 0
    var unmatchedDatagrams = 0
    /// Established IKE SAs the responder closed before the generator deleted them (during a hold).
    var closedAfterSetup = 0
    /// With `--traffic`: the echo traffic through the tunnels once they were up.
    var traffic: TrafficSummary?
}

/// Timers of many sessions in one heap (swift-collections' `Heap`, as the daemon's timers): `Key` names a session's
/// timer; arming it again replaces the earlier deadline and cancelling removes it (stale heap entries are skipped
/// when they come up).
struct TimerQueue<Key: Hashable & Sendable>: Sendable {
    private struct Entry: Comparable, Sendable {
        var at: MonotonicTime
        var sequence: UInt64
        var key: Key

        /// Earlier deadline first; armed earlier first among equal deadlines.
        static func < (a: Entry, b: Entry) -> Bool {
            a.at < b.at || (a.at == b.at && a.sequence < b.sequence)
        }

        static func == (a: Entry, b: Entry) -> Bool { a.at == b.at && a.sequence == b.sequence }
    }

    private var heap = Heap<Entry>()
    /// The sequence number of each armed key's live heap entry (the entry holds its deadline).
    private var armed: [Key: UInt64] = [:]
    private var sequence: UInt64 = 0

    var count: Int { armed.count }

    mutating func arm(_ key: Key, at: MonotonicTime) {
        sequence &+= 1
        armed[key] = sequence
        heap.insert(Entry(at: at, sequence: sequence, key: key))
    }

    mutating func cancel(_ key: Key) { armed[key] = nil }

    /// Cancels every armed key for which `predicate` holds.
    mutating func cancelAll(where predicate: (Key) -> Bool) {
        for key in armed.keys where predicate(key) { armed[key] = nil }
    }

    /// The earliest live deadline.
    mutating func nextDeadline() -> MonotonicTime? {
        dropStale()
        return heap.min?.at
    }

    /// Removes and returns the earliest key due at `now`, nil when none is.
    mutating func popDue(at now: MonotonicTime) -> Key? {
        dropStale()
        guard let first = heap.min, first.at <= now else { return nil }
        heap.removeMin()
        armed[first.key] = nil
        return first.key
    }

    private mutating func dropStale() {
        while let first = heap.min {
            if armed[first.key] == first.sequence { return }
            heap.removeMin()
        }
    }
}
