import IsthmusEvents

/// Which end of an IKE SA (or of one exchange) we are.
public enum IKERole: String, Sendable, Hashable {
    case initiator, responder
}

/// What NAT detection found (RFC 7296 section 2.23, RFC 3947): which sides are behind a NAT.
public struct NATDetectionResult: Sendable, Hashable {
    /// We are behind a NAT: we send keepalives (RFC 3948 section 2.3).
    public var local: Bool
    /// The peer is behind a NAT.
    public var remote: Bool

    public static let none = NATDetectionResult(local: false, remote: false)

    public init(local: Bool, remote: Bool) {
        self.local = local
        self.remote = remote
    }

    /// Whether a NAT was found on either side: IKE and ESP move to UDP 4500.
    public var found: Bool { local || remote }

    /// `we are behind a NAT and the peer is behind a NAT`, for log lines.
    public var summary: String {
        [local ? "we are behind a NAT" : nil, remote ? "the peer is behind a NAT" : nil].compactMap { $0 }
            .joined(separator: " and ")
    }
}

/// When to rekey an SA: its lifetime less a margin and a random jitter, so that both ends do not
/// rekey at once.
public struct RekeySchedule: Sendable, Hashable {
    /// Rekey this fraction of the lifetime before it ends.
    public var marginFraction: Double
    /// Largest random jitter subtracted on top (fraction of the lifetime).
    public var jitterFraction: Double

    public static let standard = RekeySchedule(marginFraction: 0.1, jitterFraction: 0.05)

    public init(marginFraction: Double, jitterFraction: Double) {
        self.marginFraction = marginFraction
        self.jitterFraction = jitterFraction
    }

    public func rekeyTime(
        lifetime: Duration, from now: MonotonicTime, using random: inout some RandomNumberGenerator
    ) -> MonotonicTime {
        let jitter = Double.random(in: 0...jitterFraction, using: &random)
        return now + lifetime * (1 - marginFraction - jitter)
    }
}

/// Counts dropped messages and lets only a few per window reach the log (a flood of garbage must not
/// flood the log); the rest are summed up when the next window starts.
public struct DroppedMessageLog: Sendable, Hashable {
    /// Drop events logged per window before they are only counted.
    public var eventsPerWindow: Int
    public var window: Duration
    /// Dropped messages in all.
    public private(set) var total = 0
    private var windowStart: MonotonicTime = .zero
    private var inWindow = 0

    public init(eventsPerWindow: Int = 5, window: Duration = .seconds(60)) {
        self.eventsPerWindow = eventsPerWindow
        self.window = window
    }

    /// What to log for one drop.
    public struct Entry: Sendable, Hashable {
        /// Drops of the window that ended that were not logged one by one.
        public var suppressedBefore: Int?
        /// Whether this drop is logged.
        public var log: Bool
    }

    public mutating func record(now: MonotonicTime) -> Entry {
        total &+= 1
        var suppressed: Int?
        if now - windowStart >= window {
            if inWindow > eventsPerWindow { suppressed = inWindow - eventsPerWindow }
            windowStart = now
            inWindow = 0
        }
        inWindow += 1
        return Entry(suppressedBefore: suppressed, log: inWindow <= eventsPerWindow)
    }

    /// Counts a drop its caller reports with an event of its own (a refused Aggressive Mode, a repeated
    /// message answered again): in ``total``, outside the limit.
    public mutating func count() {
        total &+= 1
    }
}

extension RandomNumberGenerator {
    /// `count` random bytes, eight from each `next()`: `UInt8.random` per byte asked the system generator (one
    /// `getrandom` call a number) 32 times for one nonce.
    public mutating func bytes(_ count: Int) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        fill(&bytes[...])
        return bytes
    }

    /// Overwrites `bytes` with random bytes, eight from each `next()`.
    public mutating func fill(_ bytes: inout ArraySlice<UInt8>) {
        var index = bytes.startIndex
        while index < bytes.endIndex {
            var word = next()
            for _ in 0..<min(8, bytes.endIndex - index) {
                bytes[index] = UInt8(truncatingIfNeeded: word)
                word >>= 8
                index += 1
            }
        }
    }
}
