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
///
/// Half-open responder SAs (from the peer's first message until the SA authenticates) are bounded apart from
/// the session table (``HalfOpenLimits``): in all and per source address. IKEv2 asks for a COOKIE (RFC 7296
/// section 2.6) above the cookie threshold and from an address at its limit, so no state and no
/// Diffie-Hellman is spent on a spoofed source. IKEv1 has no cookie exchange: at a limit the oldest half-open
/// SA of that address (for the global limit the oldest whose peer has not yet shown it receives at its
/// address) gives way, so a legitimate peer is displaced only by a flood that outpaces its round trip.
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

    typealias HalfOpenKey = HalfOpenTable.Key

    struct Entry {
        var session: any IKESession
        var spis: [UInt64]
        /// An IKEv1 session's peer address, as indexed in `isakmpByAddress`.
        var isakmpPeer: IPAddress?
        /// Registration order, for stable listings.
        var order: UInt64
    }

    /// Most SPIs kept for one session (current plus rekeyed ones still draining).
    public static let maximumSPIsPerSession = 4

    /// Creates a responder session for a new IKE_SA_INIT request or ISAKMP phase 1 message 1 (the factory
    /// picks the IKE version from the header), or nil when no connection matches.
    public var makeResponder: (IKEDatagram) -> (any IKESession)?
    /// Most sessions at once, established and half-open.
    public var maximumSessions: Int
    /// Bounds on half-open SAs.
    public var limits: HalfOpenLimits
    /// Set while shutting down: new IKE_SA_INIT requests are dropped.
    public var acceptsNewSessions = true

    private var entries: [ObjectIdentifier: Entry] = [:]
    private var bySPI: [UInt64: ObjectIdentifier] = [:]
    private var halfOpen = HalfOpenTable()
    /// IKEv1 sessions by peer address, oldest first: where a peer's new Main Mode may replace an ISAKMP SA.
    private var isakmpByAddress: [IPAddress: [ObjectIdentifier]] = [:]
    private var nextOrder: UInt64 = 0
    /// Sessions evicted to make room for a new half-open SA, for the daemon to forget (``takeEvicted()``).
    private var evicted: [any IKESession] = []
    /// Datagrams dropped, by reason.
    public private(set) var drops: [IKEDropReason: Int] = [:]

    /// Stateless COOKIE challenges (RFC 7296 2.6).
    public var cookies: IKEv2CookieChallenge
    public var cookieThreshold: Int {
        get { limits.cookieThreshold }
        set { limits.cookieThreshold = max(0, newValue) }
    }
    /// COOKIE answers sent, for status.
    public private(set) var challengesSent = 0
    /// New SA requests from an address at its half-open limit (IKEv2: challenged or let in by its cookie,
    /// IKEv1: the address's oldest half-open SA gave way).
    public private(set) var perSourceLimitHits = 0
    /// Half-open SAs removed to make room for newer ones (per-source or global limit).
    public private(set) var halfOpenEvictions = 0

    public init(
        maximumSessions: Int = 10_000, cookieThreshold: Int? = nil, limits: HalfOpenLimits = .standard,
        makeResponder: @escaping (IKEDatagram) -> (any IKESession)?
    ) {
        var generator = SystemRandomNumberGenerator()
        self.cookies = IKEv2CookieChallenge(using: &generator)
        var limits = limits
        if let cookieThreshold { limits.cookieThreshold = max(0, cookieThreshold) }
        self.limits = limits
        self.maximumSessions = maximumSessions
        self.makeResponder = makeResponder
    }

    /// Every registered session, oldest first.
    public var sessions: [any IKESession] {
        entries.values.sorted { $0.order < $1.order }.map(\.session)
    }

    /// Calls `body` with every registered session, in no particular order (no sorted copy of the table).
    public func forEachSession(_ body: (any IKESession) -> Void) {
        for entry in entries.values { body(entry.session) }
    }

    /// The number of registered sessions.
    public var count: Int { entries.count }

    /// The number of half-open responder SAs (not yet authenticated).
    public var halfOpenCount: Int { halfOpen.count }

    /// The most half-open SAs one address holds.
    public var largestHalfOpenPerSource: Int { halfOpen.largestPerSource }

    /// The number of half-open SAs from `address`.
    public func halfOpenCount(from address: IPAddress) -> Int { halfOpen.count(from: address) }

    /// The number of half-open SAs whose peer has not yet shown it receives at its address.
    public var unprovenHalfOpenCount: Int { halfOpen.unprovenCount }

    /// Whether `session` is half-open and its peer has not yet shown it receives at its address.
    public func isUnprovenHalfOpen(_ session: any IKESession) -> Bool {
        halfOpen.records[ObjectIdentifier(session)]?.proven == false
    }

    /// Whether `session` is a half-open responder SA (not yet authenticated).
    public func isHalfOpen(_ session: any IKESession) -> Bool { halfOpen.isHalfOpen(ObjectIdentifier(session)) }

    /// The session that owns `spi`, if any.
    public func session(forSPI spi: UInt64) -> (any IKESession)? {
        bySPI[spi].flatMap { entries[$0]?.session }
    }

    /// Whether `session` is registered.
    public func contains(_ session: any IKESession) -> Bool {
        entries[ObjectIdentifier(session)] != nil
    }

    /// The sessions removed to make room for new half-open SAs since the last call: the daemon cancels their
    /// timers (they are no longer registered).
    public mutating func takeEvicted() -> [any IKESession] {
        defer { evicted.removeAll() }
        return evicted
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
            if let id = halfOpen.session(for: key), let entry = entries[id] { return .deliver(entry.session) }
            guard acceptsNewSessions else { return drop(.shuttingDown) }
            let address = datagram.source.address
            let atSourceLimit = halfOpen.count(from: address) >= limits.perSource
            if atSourceLimit { perSourceLimitHits &+= 1 }
            var proven = false
            if atSourceLimit || halfOpen.count >= limits.cookieThreshold {
                // RFC 7296 2.6: under load, and from an address at its limit, only initiators that can receive
                // at their address get state (and a Diffie-Hellman computation).
                guard let request = try? IKEv2Message.parse(datagram.bytes) else { return drop(.malformed) }
                guard cookies.isValid(request, from: datagram.source) else {
                    guard let answer = cookies.challenge(to: request, datagram: datagram) else {
                        return drop(.malformed)
                    }
                    challengesSent &+= 1
                    return .challenge(answer)
                }
                proven = true
            }
            return admit(datagram, key: key, proven: proven)
        }
        let spi = header.ourSPI
        guard spi != 0, let id = bySPI[spi], entries[id] != nil else { return drop(.unknownSPI) }
        return deliverKnown(id)
    }

    /// ISAKMP (RFC 2408 section 3.1): our cookie is the responder cookie when the peer opened the SA and the
    /// initiator cookie when we did, and the header does not say which; so either position routes. A phase 1
    /// message 1 (responder cookie zero) goes to the half-open SA it opened, else to the session whose
    /// established ISAKMP SA the peer is replacing (never blocked by half-open SAs), else to a new responder.
    private mutating func routeISAKMP(_ datagram: IKEDatagram, _ header: IKEHeaderPeek) -> Route {
        for cookie in [header.responderSPI, header.initiatorSPI] where cookie != 0 {
            if let id = bySPI[cookie], entries[id] != nil { return deliverKnown(id) }
        }
        guard header.isNewISAKMPSARequest else { return drop(.unknownSPI) }
        let key = HalfOpenKey(peer: datagram.source, initiatorSPI: header.initiatorSPI)
        if let id = halfOpen.session(for: key), let entry = entries[id] { return .deliver(entry.session) }
        if let session = sessionReplacingISAKMPSA(from: datagram.source.address) { return .deliver(session) }
        guard acceptsNewSessions else { return drop(.shuttingDown) }
        if halfOpen.count(from: datagram.source.address) >= limits.perSource { perSourceLimitHits &+= 1 }
        return admit(datagram, key: key, proven: false)
    }

    /// A new half-open responder SA: made by the factory, room made for it by the limits, registered.
    private mutating func admit(_ datagram: IKEDatagram, key: HalfOpenKey, proven: Bool) -> Route {
        let address = datagram.source.address
        let needsEviction =
            halfOpen.count(from: address) >= limits.perSource || halfOpen.count >= limits.total
            || entries.count >= maximumSessions
        // Nothing is evicted for a request nobody may make (no connection names the address).
        guard needsEviction == false || room(for: address, proven: proven) else { return drop(.tableFull) }
        guard let session = makeResponder(datagram) else { return drop(.noMatchingConnection) }
        if needsEviction { makeRoom(for: address, proven: proven) }
        guard entries.count < maximumSessions, halfOpen.count < limits.total else { return drop(.tableFull) }
        guard register(session, halfOpen: key, proven: proven) else { return drop(.spiCollision) }
        return .created(session)
    }

    /// Whether a new SA from `address` can be let in by evicting others.
    private mutating func room(for address: IPAddress, proven: Bool) -> Bool {
        if halfOpen.count(from: address) >= limits.perSource { return halfOpen.victim(from: address) != nil }
        return halfOpen.oldestUnproven() != nil
    }

    /// Evicts for a new SA from `address`: the address's oldest half-open SA (unproven first) at the
    /// per-source limit, else the oldest unproven SA of all at the global limits.
    private mutating func makeRoom(for address: IPAddress, proven: Bool) {
        if halfOpen.count(from: address) >= limits.perSource, let victim = halfOpen.victim(from: address) {
            evict(victim)
        }
        while halfOpen.count >= limits.total || entries.count >= maximumSessions,
            let victim = halfOpen.oldestUnproven()
        {
            evict(victim)
        }
    }

    private mutating func evict(_ id: ObjectIdentifier) {
        guard let entry = entries[id] else {
            halfOpen.remove(id)
            return
        }
        remove(entry.session)
        evicted.append(entry.session)
        halfOpenEvictions &+= 1
    }

    /// The oldest IKEv1 session with an established ISAKMP SA with `peer` (among that address's sessions).
    private func sessionReplacingISAKMPSA(from peer: IPAddress) -> (any IKESession)? {
        for id in isakmpByAddress[peer] ?? [] {
            guard let routing = entries[id]?.session as? any IKEv1SessionRouting else { continue }
            if routing.acceptsPeerMainMode { return routing }
        }
        return nil
    }

    /// Delivery to a registered session. The peer knows our SPI now: it receives at its address, so a
    /// half-open SA is proven (it stays half-open until it authenticates).
    private mutating func deliverKnown(_ id: ObjectIdentifier) -> Route {
        guard let entry = entries[id] else { return drop(.unknownSPI) }
        halfOpen.prove(id)
        return .deliver(entry.session)
    }

    /// Registers a session (an initiator the daemon created); false when its SPI is zero or taken.
    @discardableResult
    public mutating func register(_ session: any IKESession) -> Bool {
        register(session, halfOpen: nil, proven: true)
    }

    private mutating func register(_ session: any IKESession, halfOpen key: HalfOpenKey?, proven: Bool) -> Bool {
        let id = ObjectIdentifier(session)
        guard entries[id] == nil else { return true }
        let spis = Self.currentSPIs(of: session)
        guard !spis.isEmpty, spis.allSatisfy({ bySPI[$0] == nil }) else { return false }
        let isakmpPeer = (session as? any IKEv1SessionRouting)?.peerAddress
        entries[id] = Entry(session: session, spis: spis, isakmpPeer: isakmpPeer, order: nextOrder)
        if let key { halfOpen.insert(id, key: key, order: nextOrder, proven: proven) }
        nextOrder &+= 1
        for spi in spis { bySPI[spi] = id }
        if let isakmpPeer { isakmpByAddress[isakmpPeer, default: []].append(id) }
        return true
    }

    /// Applies what a session's actions mean for routing: forgets it on ``IKEAction/ikeSAClosed``, ends its
    /// half-open accounting when it reports ``GatewayEvent/Kind/ikeSAEstablished`` (it authenticated), and
    /// follows SPI changes (a rekeyed IKE SA answers to its new SPI). Returns true when it was removed.
    @discardableResult
    public mutating func didHandle(_ session: any IKESession, actions: [IKEAction]) -> Bool {
        if actions.contains(where: { if case .ikeSAClosed = $0 { true } else { false } }) {
            remove(session)
            return true
        }
        let id = ObjectIdentifier(session)
        if halfOpen.isHalfOpen(id),
            actions.contains(where: {
                if case .event(let event) = $0 { event.kind == .ikeSAEstablished } else { false }
            })
        {
            halfOpen.remove(id)
        }
        refreshSPIs(of: session)
        return false
    }

    /// Forgets a session and every SPI and half-open key that led to it.
    public mutating func remove(_ session: any IKESession) {
        let id = ObjectIdentifier(session)
        guard let entry = entries.removeValue(forKey: id) else { return }
        for spi in entry.spis where bySPI[spi] == id { bySPI[spi] = nil }
        halfOpen.remove(id)
        if let address = entry.isakmpPeer, var ids = isakmpByAddress[address] {
            ids.removeAll { $0 == id }
            isakmpByAddress[address] = ids.isEmpty ? nil : ids
        }
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
