import IsthmusEvents
import IsthmusIKEv2
import IsthmusIP
import IsthmusWire

/// A session that can name every SPI it currently answers to (for example the old and the new SPI
/// while an IKE SA is being rekeyed). Optional: without it the dispatcher follows ``IKESession/localSPI``.
public protocol IKESessionSPIReporting: IKESession {
    /// Every local SPI that should route to this session right now; replaces the previous set.
    var localSPIs: [UInt64] { get }
}

/// An IKEv1 (ISAKMP) session as the dispatcher routes it. ISAKMP headers carry no initiator flag, so a
/// message is routed by whichever of its two cookies is ours; and IKEv1 has no phase 1 rekey exchange, so
/// a peer replaces an ISAKMP SA with a new Main Mode whose message 1 (responder cookie zero) belongs to
/// the session that holds the SA being replaced (its IPsec SAs move to the new one).
public protocol IKEv1SessionRouting: IKESessionSPIReporting {
    /// The peer's IP address: a new Main Mode from it may replace this session's ISAKMP SA.
    var peerAddress: IPAddress { get }
    /// Whether a new Main Mode from the peer belongs here: the session holds an established ISAKMP SA.
    var acceptsPeerMainMode: Bool { get }
}

/// Why the dispatcher dropped an inbound IKE datagram; the raw values appear in `status` counters.
public enum IKEDropReason: String, Sendable, Hashable, Codable, CaseIterable, Comparable {
    /// Shorter than an IKE header.
    case malformed = "malformed"
    /// Neither IKEv1 nor IKEv2.
    case unsupportedVersion = "unsupported-version"
    /// No session owns the SPI (IKEv2) or either cookie (IKEv1).
    case unknownSPI = "unknown-spi"
    /// An IKE_SA_INIT request or a Main Mode message 1 from an address no connection (of that IKE version)
    /// names.
    case noMatchingConnection = "no-matching-connection"
    /// The session table or the half-open table is full.
    case tableFull = "table-full"
    /// A new session's SPI is already taken (or zero).
    case spiCollision = "spi-collision"
    /// The gateway is shutting down and accepts no new SAs.
    case shuttingDown = "shutting-down"

    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// Routes inbound IKE datagrams to sessions by the SPI that is ours, creating responder sessions for new
/// IKE_SA_INIT requests and ISAKMP Main Mode messages 1 (IKEv1). Pure: no sockets, no clocks; the daemon
/// confines it to one event loop.
public struct IKEDispatcher {
    /// Where a datagram goes.
    public enum Route {
        /// To an existing session.
        case deliver(any IKESession)
        /// To a responder session the factory has just created (already registered).
        case created(any IKESession)
        /// Too many half-open SAs and no valid cookie: send this N(COOKIE) answer, keep no state.
        case challenge(IKEDatagram)
        /// Nowhere.
        case drop(IKEDropReason)
    }

    /// A half-open SA's key: the peer's address and its initiator SPI (RFC 7296 section 2.1 retransmits).
    struct HalfOpenKey: Hashable {
        var peer: UDPEndpoint
        var initiatorSPI: UInt64
    }

    struct Entry {
        var session: any IKESession
        var spis: [UInt64]
        var halfOpen: HalfOpenKey?
        /// Registration order, for stable listings.
        var order: UInt64
    }

    /// Most SPIs kept for one session (current plus rekeyed ones still draining).
    public static let maximumSPIsPerSession = 4

    /// Creates a responder session for a new IKE_SA_INIT request or ISAKMP phase 1 message 1 (the factory
    /// picks the IKE version from the header), or nil when no connection matches.
    public var makeResponder: (IKEDatagram) -> (any IKESession)?
    /// Most sessions at once (a bound against floods of IKE_SA_INIT; the cores answer with cookies).
    public var maximumSessions: Int
    /// Set while shutting down: new IKE_SA_INIT requests are dropped.
    public var acceptsNewSessions = true

    private var entries: [ObjectIdentifier: Entry] = [:]
    private var bySPI: [UInt64: ObjectIdentifier] = [:]
    private var halfOpen: [HalfOpenKey: ObjectIdentifier] = [:]
    private var nextOrder: UInt64 = 0
    /// Datagrams dropped, by reason.
    public private(set) var drops: [IKEDropReason: Int] = [:]

    /// Stateless COOKIE challenges (RFC 7296 2.6) once `cookieThreshold` SAs are half-open.
    public var cookies: IKEv2CookieChallenge
    public var cookieThreshold: Int
    /// COOKIE answers sent, for status.
    public private(set) var challengesSent = 0

    public init(
        maximumSessions: Int = 10_000, cookieThreshold: Int = IKEv2CookieChallenge.halfOpenCookieThreshold,
        makeResponder: @escaping (IKEDatagram) -> (any IKESession)?
    ) {
        var generator = SystemRandomNumberGenerator()
        self.cookies = IKEv2CookieChallenge(using: &generator)
        self.cookieThreshold = cookieThreshold
        self.maximumSessions = maximumSessions
        self.makeResponder = makeResponder
    }

    /// Every registered session, oldest first.
    public var sessions: [any IKESession] {
        entries.values.sorted { $0.order < $1.order }.map(\.session)
    }

    /// The number of registered sessions.
    public var count: Int { entries.count }

    /// The number of half-open responder SAs still reachable by (peer, initiator SPI).
    public var halfOpenCount: Int { halfOpen.count }

    /// The session that owns `spi`, if any.
    public func session(forSPI spi: UInt64) -> (any IKESession)? {
        bySPI[spi].flatMap { entries[$0]?.session }
    }

    /// Whether `session` is registered.
    public func contains(_ session: any IKESession) -> Bool {
        entries[ObjectIdentifier(session)] != nil
    }

    /// Decides where `datagram` (marker already stripped) goes; creates and registers responder sessions.
    public mutating func route(_ datagram: IKEDatagram) -> Route {
        guard let header = IKEHeaderPeek(datagram.bytes) else { return drop(.malformed) }
        switch header.majorVersion {
        case 2: break
        case 1: return routeISAKMP(datagram, header)
        default: return drop(.unsupportedVersion)
        }
        if header.isNewSARequest {
            let key = HalfOpenKey(peer: datagram.source, initiatorSPI: header.initiatorSPI)
            if let id = halfOpen[key], let entry = entries[id] { return .deliver(entry.session) }
            guard acceptsNewSessions else { return drop(.shuttingDown) }
            guard entries.count < maximumSessions, halfOpen.count < maximumSessions else { return drop(.tableFull) }
            if halfOpen.count >= cookieThreshold {
                // RFC 7296 2.6: under load, only initiators that can receive at their address get state.
                guard let request = try? IKEv2Message.parse(datagram.bytes) else { return drop(.malformed) }
                if !cookies.isValid(request, from: datagram.source) {
                    guard let answer = cookies.challenge(to: request, datagram: datagram) else {
                        return drop(.malformed)
                    }
                    challengesSent &+= 1
                    return .challenge(answer)
                }
            }
            guard let session = makeResponder(datagram) else { return drop(.noMatchingConnection) }
            guard register(session, halfOpen: key) else { return drop(.spiCollision) }
            return .created(session)
        }
        let spi = header.ourSPI
        guard spi != 0, let id = bySPI[spi], entries[id] != nil else { return drop(.unknownSPI) }
        return deliverKnown(id)
    }

    /// ISAKMP (RFC 2408 section 3.1): our cookie is the responder cookie when the peer opened the SA and the
    /// initiator cookie when we did, and the header does not say which; so either position routes. A phase 1
    /// message 1 (responder cookie zero) goes to the half-open SA it opened, else to the session whose
    /// established ISAKMP SA the peer is replacing, else to a new responder session.
    private mutating func routeISAKMP(_ datagram: IKEDatagram, _ header: IKEHeaderPeek) -> Route {
        for cookie in [header.responderSPI, header.initiatorSPI] where cookie != 0 {
            if let id = bySPI[cookie], entries[id] != nil { return deliverKnown(id) }
        }
        guard header.isNewISAKMPSARequest else { return drop(.unknownSPI) }
        let key = HalfOpenKey(peer: datagram.source, initiatorSPI: header.initiatorSPI)
        if let id = halfOpen[key], let entry = entries[id] { return .deliver(entry.session) }
        if let session = sessionReplacingISAKMPSA(from: datagram.source.address) { return .deliver(session) }
        guard acceptsNewSessions else { return drop(.shuttingDown) }
        guard entries.count < maximumSessions, halfOpen.count < maximumSessions else { return drop(.tableFull) }
        guard let session = makeResponder(datagram) else { return drop(.noMatchingConnection) }
        guard register(session, halfOpen: key) else { return drop(.spiCollision) }
        return .created(session)
    }

    /// The oldest IKEv1 session with an established ISAKMP SA with `peer`.
    private func sessionReplacingISAKMPSA(from peer: IPAddress) -> (any IKESession)? {
        entries.values.sorted { $0.order < $1.order }.lazy.map(\.session).first { session in
            guard let routing = session as? any IKEv1SessionRouting else { return false }
            return routing.peerAddress == peer && routing.acceptsPeerMainMode
        }
    }

    /// Delivery to a registered session. The peer knows our SPI now, so it will not retransmit its first
    /// message: the half-open key is forgotten.
    private mutating func deliverKnown(_ id: ObjectIdentifier) -> Route {
        guard var entry = entries[id] else { return drop(.unknownSPI) }
        if let key = entry.halfOpen {
            halfOpen[key] = nil
            entry.halfOpen = nil
            entries[id] = entry
        }
        return .deliver(entry.session)
    }

    /// Registers a session (an initiator the daemon created); false when its SPI is zero or taken.
    @discardableResult
    public mutating func register(_ session: any IKESession) -> Bool {
        register(session, halfOpen: nil)
    }

    private mutating func register(_ session: any IKESession, halfOpen key: HalfOpenKey?) -> Bool {
        let id = ObjectIdentifier(session)
        guard entries[id] == nil else { return true }
        let spis = Self.currentSPIs(of: session)
        guard !spis.isEmpty, spis.allSatisfy({ bySPI[$0] == nil }) else { return false }
        entries[id] = Entry(session: session, spis: spis, halfOpen: key, order: nextOrder)
        nextOrder &+= 1
        for spi in spis { bySPI[spi] = id }
        if let key { halfOpen[key] = id }
        return true
    }

    /// Applies what a session's actions mean for routing: forgets it on ``IKEAction/ikeSAClosed`` and
    /// follows SPI changes (a rekeyed IKE SA answers to its new SPI). Returns true when it was removed.
    @discardableResult
    public mutating func didHandle(_ session: any IKESession, actions: [IKEAction]) -> Bool {
        if actions.contains(where: { if case .ikeSAClosed = $0 { true } else { false } }) {
            remove(session)
            return true
        }
        refreshSPIs(of: session)
        return false
    }

    /// Forgets a session and every SPI and half-open key that led to it.
    public mutating func remove(_ session: any IKESession) {
        let id = ObjectIdentifier(session)
        guard let entry = entries.removeValue(forKey: id) else { return }
        for spi in entry.spis where bySPI[spi] == id { bySPI[spi] = nil }
        if let key = entry.halfOpen, halfOpen[key] == id { halfOpen[key] = nil }
    }

    /// Re-reads the session's SPIs. A reporting session's set replaces the old one; otherwise a new
    /// ``IKESession/localSPI`` is added and older SPIs keep routing (bounded) until the session closes.
    public mutating func refreshSPIs(of session: any IKESession) {
        let id = ObjectIdentifier(session)
        guard var entry = entries[id] else { return }
        let reported = Self.currentSPIs(of: session).filter { bySPI[$0] == nil || bySPI[$0] == id }
        var spis: [UInt64]
        if session is any IKESessionSPIReporting {
            spis = reported
        } else {
            spis = entry.spis
            for spi in reported where !spis.contains(spi) { spis.append(spi) }
        }
        if spis.count > Self.maximumSPIsPerSession {
            // Keep the newest; the current SPI is always among them.
            spis = Array(spis.suffix(Self.maximumSPIsPerSession))
        }
        guard spis != entry.spis, !spis.isEmpty else { return }
        for spi in entry.spis where !spis.contains(spi) && bySPI[spi] == id { bySPI[spi] = nil }
        for spi in spis { bySPI[spi] = id }
        entry.spis = spis
        entries[id] = entry
    }

    private static func currentSPIs(of session: any IKESession) -> [UInt64] {
        var spis: [UInt64] = []
        if let reporting = session as? any IKESessionSPIReporting {
            for spi in reporting.localSPIs.prefix(maximumSPIsPerSession) where spi != 0 && !spis.contains(spi) {
                spis.append(spi)
            }
        }
        let current = session.localSPI
        if current != 0 && !spis.contains(current) { spis.append(current) }
        return spis
    }

    private mutating func drop(_ reason: IKEDropReason) -> Route {
        drops[reason, default: 0] += 1
        return .drop(reason)
    }
}
