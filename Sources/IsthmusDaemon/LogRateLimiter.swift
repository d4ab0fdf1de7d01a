/// Bounds the log lines (and event records) that arrive once per packet (dispatcher drops, COOKIE
/// challenges, responders created, events of half-open SAs), so that a flood cannot push real history out
/// of the log or of `logs`: at most ``perKey`` lines per key (an event kind, a drop reason) and ``total`` in
/// all per window; what is held back is counted and reported once per window in one summary line.
///
/// Pure: the caller passes the time. Events of real tunnels' state changes never go through it.
public struct LogRateLimiter: Sendable {
    /// Lines per key per window.
    public var perKey: Int
    /// Lines in all per window (summary lines excluded).
    public var total: Int
    public var window: Duration

    /// What was held back in one window.
    public struct Summary: Sendable, Hashable {
        /// Lines held back in all.
        public var suppressed: Int
        /// Per key, for the summary's details.
        public var byKey: [String: Int]

        /// `suppressed 12 similar lines in the last 1 second (drop no-matching-connection: 10, ...)`.
        public var line: String {
            let parts = byKey.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }
            return "suppressed \(suppressed) similar lines (flood protection): " + parts.joined(separator: ", ")
        }
    }

    /// Most distinct keys counted in one window; further keys share one (`other`).
    static let maximumKeys = 256

    private var windowStart: Duration?
    private var logged = 0
    private var perKeyLogged: [String: Int] = [:]
    private var suppressed: [String: Int] = [:]
    private var suppressedTotal = 0
    /// Lines held back in all since the start.
    public private(set) var suppressedSinceStart = 0

    public init(perKey: Int = 3, total: Int = 5, window: Duration = .seconds(1)) {
        self.perKey = max(0, perKey)
        self.total = max(0, total)
        self.window = window
    }

    /// Whether a line of `key` may be logged at `now`; and the summary of the window that ended, if
    /// anything was held back in it (log it first).
    public mutating func admit(_ key: String, now: Duration) -> (log: Bool, summary: Summary?) {
        let summary = roll(now: now)
        let count = perKeyLogged[key, default: 0]
        if count < perKey, logged < total, perKeyLogged[key] != nil || perKeyLogged.count < Self.maximumKeys {
            perKeyLogged[key] = count + 1
            logged += 1
            return (true, summary)
        }
        let counted = suppressed[key] != nil || suppressed.count < Self.maximumKeys ? key : "other"
        suppressed[counted, default: 0] += 1
        suppressedTotal += 1
        suppressedSinceStart &+= 1
        return (false, summary)
    }

    /// The summary of the window that ended by `now`, if anything was held back in it (a periodic timer
    /// calls this, so the last window of a flood is reported too).
    public mutating func flush(now: Duration) -> Summary? {
        roll(now: now)
    }

    private mutating func roll(now: Duration) -> Summary? {
        guard let start = windowStart, now - start < window else {
            let ended = suppressedTotal > 0 ? Summary(suppressed: suppressedTotal, byKey: suppressed) : nil
            windowStart = now
            logged = 0
            perKeyLogged.removeAll(keepingCapacity: true)
            suppressed.removeAll(keepingCapacity: true)
            suppressedTotal = 0
            return ended
        }
        return nil
    }
}
