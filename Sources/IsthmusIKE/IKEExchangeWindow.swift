import IsthmusEvents

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
        /// The owner's data about the exchange; it may change while the request is in flight (a
        /// collision noted on a rekey, for one).
        public var exchange: Exchange
        /// The message, its retransmissions and when the next is due.
        public fileprivate(set) var retransmission: IKERetransmission

        public var messageID: UInt32 { retransmission.messageID }
        public var datagrams: [[UInt8]] { retransmission.datagrams }
        public var sentAt: MonotonicTime { retransmission.sentAt }
        /// Retransmissions so far.
        public var retransmits: Int { retransmission.retransmits }
        public var retransmitLimit: Int { retransmission.retransmitLimit }
        /// Give up at this time even with retransmissions left (a liveness check's timeout).
        public var giveUpAt: MonotonicTime? { retransmission.giveUpAt }
    }

    /// The last response we sent, for the retransmissions of its request (named by its message ID).
    public typealias Response = IKECachedResponse<UInt32>

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
        let retransmission = IKERetransmission(
            messageID: nextRequestID, datagrams: datagrams, now: now, schedule: schedule,
            retransmitLimit: retransmitLimit, giveUpAt: giveUpAt)
        inFlight = Request(exchange: exchange, retransmission: retransmission)
        nextRequestID &+= 1
        return retransmission.nextAt
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
        switch request.retransmission.retransmit(now: now) {
        case .giveUp:
            inFlight = nil
            return .giveUp(request)
        case .resend(let next):
            inFlight = request
            return .resend(request, next: next)
        }
    }

    // MARK: - The peer's requests

    /// Classifies a request of the peer by its message ID.
    public func check(requestID messageID: UInt32) -> RequestCheck {
        if let lastResponse, lastResponse.answers(messageID) { return .retransmitted(lastResponse) }
        return messageID == expectedPeerRequestID ? .new : .unexpected(expected: expectedPeerRequestID)
    }

    /// Whether we answered this request already (its retransmissions get the cached response).
    public func answered(_ messageID: UInt32) -> Bool { lastResponse?.answers(messageID) ?? false }

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
