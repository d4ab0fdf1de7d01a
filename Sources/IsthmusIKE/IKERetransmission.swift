import IsthmusCrypto
import IsthmusEvents

/// When to resend a message nobody answered (RFC 7296 section 2.1 and RFC 2408 leave the values open): a first
/// timeout doubled on every retransmission, and how many retransmissions before the peer is declared
/// unreachable.
public struct RetransmissionSchedule: Sendable, Hashable {
    /// strongSwan starts at 4 s; a LAN-to-cloud path rarely needs more than 1 s.
    public var initialTimeout: Duration
    /// 6 at 1 s: 1+2+4+8+16+32 s, then 64 s for the last answer: about two minutes.
    public var maximumRetransmits: Int

    public static let standard = RetransmissionSchedule(initialTimeout: .seconds(1), maximumRetransmits: 6)

    public init(initialTimeout: Duration, maximumRetransmits: Int) {
        self.initialTimeout = initialTimeout
        self.maximumRetransmits = maximumRetransmits
    }

    /// How long to wait after sending attempt `attempt` (0 for the first transmission).
    public func timeout(after attempt: Int) -> Duration {
        initialTimeout * (1 << min(max(attempt, 0), 16))
    }
}

/// One message of ours that waits for an answer and is resent on a ``RetransmissionSchedule`` until the
/// answer comes or the schedule runs out: an IKEv2 request in the message-ID window (RFC 7296 section 2.1),
/// an IKEv1 Main Mode or Quick Mode message (RFC 2408 leaves the timing open).
///
/// Pure: every call that needs the time takes it. The owner sends ``datagrams`` and arms a timer at
/// ``nextAt``; when it fires, ``retransmit(now:)`` says whether to send them again.
public struct IKERetransmission: Sendable, Hashable {
    /// The message ID the timer is armed under (IKEv1: 0 for Main Mode, the Quick Mode's own otherwise).
    public let messageID: UInt32
    public let datagrams: [[UInt8]]
    public let sentAt: MonotonicTime
    public let schedule: RetransmissionSchedule
    /// Retransmissions so far.
    public private(set) var retransmits = 0
    public let retransmitLimit: Int
    /// Give up at this time even with retransmissions left (a liveness check's timeout).
    public let giveUpAt: MonotonicTime?
    /// When the next retransmission (or giving up) is due.
    public private(set) var nextAt: MonotonicTime

    /// What a retransmission timer firing means.
    public enum Step: Sendable, Hashable {
        /// Send ``datagrams`` again; the next timer is due at `next`.
        case resend(next: MonotonicTime)
        /// No answer in time: out of retransmissions, or past ``giveUpAt``.
        case giveUp
    }

    /// A message first sent at `now`.
    ///
    /// - Parameters:
    ///   - retransmitLimit: fewer retransmissions than the schedule's (a DELETE we do not insist on).
    ///   - giveUpAt: the latest time to wait for an answer, whatever the schedule says.
    public init(
        messageID: UInt32, datagrams: [[UInt8]], now: MonotonicTime, schedule: RetransmissionSchedule = .standard,
        retransmitLimit: Int? = nil, giveUpAt: MonotonicTime? = nil
    ) {
        self.messageID = messageID
        self.datagrams = datagrams
        self.sentAt = now
        self.schedule = schedule
        self.retransmitLimit = retransmitLimit ?? schedule.maximumRetransmits
        self.giveUpAt = giveUpAt
        self.nextAt = Self.deadline(now + schedule.timeout(after: 0), giveUpAt)
    }

    /// Whether the timer for this message is due at `now` (several messages may share one message ID's
    /// timer, as IKEv1's Main Modes do).
    public func isDue(at now: MonotonicTime) -> Bool { nextAt <= now }

    /// The timer fired at `now`: one more retransmission, or none left. After `.giveUp` the message is
    /// unchanged; its owner drops it.
    public mutating func retransmit(now: MonotonicTime) -> Step {
        let expired = giveUpAt.map { now >= $0 } ?? false
        guard retransmits < retransmitLimit, !expired else { return .giveUp }
        retransmits += 1
        nextAt = Self.deadline(now + schedule.timeout(after: retransmits), giveUpAt)
        return .resend(next: nextAt)
    }

    private static func deadline(_ time: MonotonicTime, _ giveUpAt: MonotonicTime?) -> MonotonicTime {
        giveUpAt.map { min(time, $0) } ?? time
    }
}

/// Our answer to the peer's last message, kept for when the peer sends that message again because our
/// answer was lost: IKEv2 names the request by its message ID (RFC 7296 section 2.3); IKEv1, whose Main
/// Mode messages all carry message ID 0, by its bytes.
public struct IKECachedResponse<Request: Hashable & Sendable>: Sendable, Hashable {
    /// What the answer answers.
    public let request: Request
    /// The answer; empty when the message needed none (a repeat is then recognised and not answered).
    public let datagrams: [[UInt8]]

    public init(request: Request, datagrams: [[UInt8]]) {
        self.request = request
        self.datagrams = datagrams
    }

    /// Whether `request` is the one answered here.
    public func answers(_ request: Request) -> Bool { self.request == request }
}

extension IKECachedResponse where Request == MessageDigest {
    /// IKEv1: the answer to the message with these bytes; only their SHA-256 digest is kept.
    public init(requestBytes: [UInt8], datagrams: [[UInt8]]) {
        self.init(request: MessageDigest(of: requestBytes), datagrams: datagrams)
    }

    /// Whether the message with these bytes is the one answered here.
    public func answers(bytes: [UInt8]) -> Bool { request == MessageDigest(of: bytes) }
}

extension IKECachedResponse where Request == UInt32 {
    /// IKEv2: the response to request `messageID`.
    public init(messageID: UInt32, datagrams: [[UInt8]]) {
        self.init(request: messageID, datagrams: datagrams)
    }

    public var messageID: UInt32 { request }
}
