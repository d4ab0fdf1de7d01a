import IsthmusEvents

/// When to resend a request nobody answered (RFC 7296 section 2.1 leaves the values open): a first
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

/// One IKE SA's message-ID window of size one (RFC 7296 section 2.3), with everything that hangs on
/// it: our next request's ID and the peer's next expected one, the request in flight and its
/// retransmissions (2.1), the last response for retransmitted requests, and the fragments of the
/// message being reassembled (RFC 7383).
///
/// Pure: no clock (every call that needs the time takes it), no I/O. The owner seals messages and
/// arms the timers at the deadlines returned here; `Exchange` is what the owner remembers about a
/// request until its answer comes.
public struct IKEExchangeWindow<Exchange: Sendable>: Sendable {
    /// A request sent and not yet answered.
    public struct Request: Sendable {
        public let messageID: UInt32
        public let datagrams: [[UInt8]]
        /// The owner's data about the exchange; it may change while the request is in flight (a
        /// collision noted on a rekey, for one).
        public var exchange: Exchange
        public let sentAt: MonotonicTime
        /// Retransmissions so far.
        public fileprivate(set) var retransmits: Int
        public let retransmitLimit: Int
        /// Give up at this time even with retransmissions left (a liveness check's timeout).
        public let giveUpAt: MonotonicTime?
    }

    /// The last response we sent, for the retransmissions of its request.
    public struct Response: Sendable, Hashable {
        public let messageID: UInt32
        public let datagrams: [[UInt8]]
    }

    /// What a request with a given message ID is to this window.
    public enum RequestCheck: Sendable, Hashable {
        /// The next request: handle it.
        case new
        /// The request we answered last: resend `Response` (section 2.3).
        case retransmitted(Response)
        /// Anything else: drop it.
        case unexpected(expected: UInt32)
    }

    /// What a retransmission timer firing means.
    public enum Retransmission: Sendable {
        /// The timer is for a request no longer in flight: nothing to do.
        case stale
        /// Send `request.datagrams` again; the next timer is due at `next`.
        case resend(Request, next: MonotonicTime)
        /// No answer in time: the request is dropped from the window.
        case giveUp(Request)
    }

    /// What a fragment did to the message being reassembled.
    public enum FragmentResult: Sendable, Hashable {
        /// More fragments are needed.
        case incomplete
        /// The message is whole: its plaintext, and the tag fragment 1 carried.
        case complete([UInt8], tag: UInt8)
        /// The fragment does not fit its message (numbering, totals, size); the message is dropped.
        case rejected
    }

    public let schedule: RetransmissionSchedule
    public private(set) var nextRequestID: UInt32 = 0
    public private(set) var expectedPeerRequestID: UInt32 = 0
    public private(set) var inFlight: Request?
    public private(set) var lastResponse: Response?
    public private(set) var reassembly: IKEFragmentReassembly?

    public init(schedule: RetransmissionSchedule = .standard) {
        self.schedule = schedule
    }

    /// Whether a request is in flight (a new one must wait).
    public var isBusy: Bool { inFlight != nil }

    /// The exchange in flight, which its owner may update.
    public var inFlightExchange: Exchange? {
        get { inFlight?.exchange }
        set {
            guard let newValue else { return }
            precondition(inFlight != nil, "no request in flight to update")
            inFlight?.exchange = newValue
        }
    }

    /// Starts over from message ID 0 with nothing in flight or cached: IKE_SA_INIT again, or the
    /// new IKE SA of a rekey (section 2.18).
    public mutating func reset() {
        self = IKEExchangeWindow(schedule: schedule)
    }

    // MARK: - Our requests

    /// Records a request sealed with message ID ``nextRequestID`` as in flight and returns when its
    /// first retransmission is due.
    ///
    /// - Parameters:
    ///   - retransmitLimit: fewer retransmissions than the schedule's (a DELETE we do not insist on).
    ///   - giveUpAt: the latest time to wait for an answer, whatever the schedule says.
    public mutating func start(
        _ exchange: Exchange, datagrams: [[UInt8]], now: MonotonicTime, retransmitLimit: Int? = nil,
        giveUpAt: MonotonicTime? = nil
    ) -> MonotonicTime {
        precondition(inFlight == nil, "window size 1: one request at a time (RFC 7296 2.3)")
        inFlight = Request(
            messageID: nextRequestID, datagrams: datagrams, exchange: exchange, sentAt: now, retransmits: 0,
            retransmitLimit: retransmitLimit ?? schedule.maximumRetransmits, giveUpAt: giveUpAt)
        nextRequestID &+= 1
        return deadline(now + schedule.timeout(after: 0), giveUpAt)
    }

    /// Whether a response with this message ID answers the request in flight.
    public func answers(_ messageID: UInt32) -> Bool { inFlight?.messageID == messageID }

    /// Takes the request in flight out of the window (answered, withdrawn, or the SA closes).
    @discardableResult
    public mutating func finish() -> Request? {
        defer { inFlight = nil }
        return inFlight
    }

    /// A retransmission timer for `messageID` fired at `now`.
    public mutating func retransmit(messageID: UInt32, now: MonotonicTime) -> Retransmission {
        guard var request = inFlight, request.messageID == messageID else { return .stale }
        let expired = request.giveUpAt.map { now >= $0 } ?? false
        guard request.retransmits < request.retransmitLimit, !expired else {
            inFlight = nil
            return .giveUp(request)
        }
        request.retransmits += 1
        inFlight = request
        return .resend(request, next: deadline(now + schedule.timeout(after: request.retransmits), request.giveUpAt))
    }

    private func deadline(_ time: MonotonicTime, _ giveUpAt: MonotonicTime?) -> MonotonicTime {
        giveUpAt.map { min(time, $0) } ?? time
    }

    // MARK: - The peer's requests

    /// Classifies a request of the peer by its message ID.
    public func check(requestID messageID: UInt32) -> RequestCheck {
        if let lastResponse, lastResponse.messageID == messageID { return .retransmitted(lastResponse) }
        return messageID == expectedPeerRequestID ? .new : .unexpected(expected: expectedPeerRequestID)
    }

    /// Whether we answered this request already (its retransmissions get the cached response).
    public func answered(_ messageID: UInt32) -> Bool { lastResponse?.messageID == messageID }

    /// Records the response to request `messageID` as sent: it is cached, and the peer's next request
    /// is the one after.
    public mutating func responded(to messageID: UInt32, with datagrams: [[UInt8]]) {
        lastResponse = Response(messageID: messageID, datagrams: datagrams)
        expectedPeerRequestID = messageID &+ 1
    }

    // MARK: - Fragments (RFC 7383)

    /// Whether a fragment of this message may be collected: of the response we wait for, or of the
    /// peer's next request.
    public func expectsFragment(messageID: UInt32, isResponse: Bool) -> Bool {
        isResponse ? answers(messageID) : messageID == expectedPeerRequestID
    }

    /// Adds one authenticated fragment's plaintext to its message. A fragment of another message
    /// than the one being reassembled starts that message afresh.
    ///
    /// - Parameter tag: kept from fragment 1 and returned with the whole (IKEv2: the first inner
    ///   payload's type, RFC 7383 section 2.5).
    public mutating func addFragment(
        messageID: UInt32, isResponse: Bool, number: Int, total: Int, share: ArraySlice<UInt8>, tag: UInt8
    ) -> FragmentResult {
        if reassembly?.messageID != messageID || reassembly?.isResponse != isResponse {
            reassembly = IKEFragmentReassembly(messageID: messageID, isResponse: isResponse, total: total)
        }
        guard var current = reassembly, current.add(number: number, total: total, share: share, tag: tag) else {
            reassembly = nil
            return .rejected
        }
        guard let whole = current.assembled() else {
            reassembly = current
            return .incomplete
        }
        reassembly = nil
        return .complete(whole, tag: current.tag)
    }
}
