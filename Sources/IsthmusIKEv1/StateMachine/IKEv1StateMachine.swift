import IsthmusCrypto
import IsthmusEvents
import IsthmusIKE
import IsthmusIP
import IsthmusWire

/// One IKEv1 connection as a deterministic state machine (RFC 2409): (input, time) in, actions out.
///
/// It holds the current ISAKMP SA (and, during a phase 1 rekey, the one being replaced), the Quick Mode
/// exchanges in flight and the IPsec SAs of the connection, which outlive the ISAKMP SA that created
/// them (phase 2 SAs are independent of phase 1 in IKEv1; a new ISAKMP SA takes them over). Each
/// exchange has its own file (`+MainMode`, `+QuickMode`, `+Informational`); this one holds the shared
/// state, dispatch, retransmission and timers.
///
/// Peer input never traps: a message that does not parse, decrypt or authenticate is dropped and
/// counted (``droppedMessages``), and every handler computes its results before it changes any state.
struct IKEv1StateMachine {
    // MARK: Limits (each with its reason)

    /// First retransmission timeout, doubled each time (RFC 2408 leaves it open; strongSwan uses 4 s).
    static let initialRetransmitTimeout: Duration = .seconds(1)
    /// How long after our Quick Mode message 3 the next queued Quick Mode waits (see startQueuedQuickMode).
    static let quickModeSpacing: Duration = .milliseconds(200)
    /// Retransmissions before giving up: 1+2+4+8+16+32 s, about a minute.
    static let maximumRetransmits = 6
    /// NAT keepalive period when we are behind a NAT (RFC 3948 section 2.3 suggests 20 s).
    static let natKeepaliveInterval: Duration = .seconds(20)
    /// Nonce length we send: 32 bytes, as strongSwan (RFC 2409 section 5 allows 8 to 256).
    static let nonceLength = 32
    /// How long a half-open responder ISAKMP SA waits for the initiator's next message.
    static let halfOpenTimeout: Duration = .seconds(30)
    /// After our phase 1 rekey, the replaced ISAKMP SA is deleted this much later, not at once: the responder
    /// first moves its IPsec SAs to the new SA (strongSwan does so in a job queued after message 5), and a
    /// delete overtaking that takes them with it (seen on the wire: strongSwan lost the tunnel's SAs).
    static let replacedISAKMPSADeleteDelay: Duration = .seconds(5)
    /// Rekey this fraction of the lifetime before it ends, minus jitter, so both ends do not rekey at once.
    static let rekeyMarginFraction = 0.1
    /// Largest random jitter subtracted from a rekey time (fraction of the lifetime).
    static let rekeyJitterFraction = 0.05
    /// After our own Quick Mode rekey, the old IPsec SA still receives for this long (packets in flight,
    /// a peer that switches late), then we delete it (make-before-break).
    static let rekeyDeleteGrace: Duration = .seconds(5)
    /// A Quick Mode responder installs the new IPsec SA when it answers (message 2), so that it receives
    /// what the initiator sends once it has installed; its outbound half waits for message 3 (or the
    /// initiator's first packet on it). Longer than the answer's retransmissions (63 s), after which an
    /// unconfirmed Quick Mode and its SA are removed, so it never sends on an SA the peer may lack.
    static let responderOutboundHold: Duration = .seconds(90)
    /// A Quick Mode initiator replacing an IPsec SA holds the new one's outbound half this long (or until
    /// the responder's first packet on it), keeping the old one in use: the responder installs only when
    /// message 3 arrives, after us (strongSwan does; its packets would otherwise meet no SA).
    static let rekeyOutboundHold: Duration = .seconds(1)
    /// Retry delay after a Quick Mode that got no answer while the old SA is still usable.
    static let quickModeRetryDelay: Duration = .seconds(30)
    /// How long a finished Quick Mode is remembered to answer a retransmitted message 2 with message 3.
    static let finishedQuickModeMemory: Duration = .seconds(60)
    /// Most Quick Modes at once (in flight or remembered): bounds state a peer can make us keep.
    static let maximumQuickModes = 64
    /// Most ISAKMP SAs kept at once: the current one, one being negotiated, one being replaced.
    static let maximumISAKMPSAs = 3
    /// A repeated message is answered at most once per this interval: a network (or an attacker) that
    /// duplicates datagrams must not make two peers amplify each other's answers.
    static let duplicateAnswerInterval: Duration = .seconds(1)
    /// Drop events logged per window before they are only counted.
    static let dropEventsPerWindow = 5
    static let dropEventWindow: Duration = .seconds(60)

    // MARK: Vendor IDs

    /// RFC 3947 NAT-T: MD5("RFC 3947").
    static let natTraversalVendorID: [UInt8] = [
        0x4a, 0x13, 0x1c, 0x81, 0x07, 0x03, 0x58, 0x45, 0x5c, 0x57, 0x28, 0xf2, 0x0e, 0x95, 0x45, 0x2f,
    ]
    /// RFC 3706 DPD: `afcad713 68a1f1c9 6b8696fc 7757` followed by major 01 and minor 00.
    static let deadPeerDetectionVendorID: [UInt8] = [
        0xaf, 0xca, 0xd7, 0x13, 0x68, 0xa1, 0xf1, 0xc9, 0x6b, 0x86, 0x96, 0xfc, 0x77, 0x57, 0x01, 0x00,
    ]

    enum Role: String, Sendable { case initiator, responder }

    /// A message of ours that expects an answer, resent until it comes.
    struct Retransmission {
        var messageID: UInt32
        var bytes: [UInt8]
        var attempts: Int = 0
        var nextAt: MonotonicTime
    }

    /// One ISAKMP SA (phase 1), from Main Mode message 1 to its deletion.
    struct ISAKMPSA {
        enum Phase: String {
            case sentMM1 = "connecting", sentMM3 = "exchanging keys", sentMM5 = "authenticating"
            case repliedMM2 = "half-open", repliedMM4 = "half-open, keys exchanged"
            case established
        }

        var role: Role
        var cookieI: UInt64
        var cookieR: UInt64
        var phase: Phase
        var startedAt: MonotonicTime
        /// Whether this SA replaces an established one (phase 1 rekey).
        var isRekey: Bool
        /// The body of the initiator's SA payload as sent (HASH_I and HASH_R cover it).
        var initiatorSABody: [UInt8] = []
        var suite: IKEv1Phase1Suite?
        var exchange: (any DiffieHellmanExchange)?
        var publicI: [UInt8] = []
        var publicR: [UInt8] = []
        var nonceI: [UInt8] = []
        var nonceR: [UInt8] = []
        var crypto: IKEv1SACrypto?
        /// The running IV of Main Mode messages 5 and 6.
        var iv: [UInt8] = []
        /// The last ciphertext block of phase 1: the seed of every later exchange's IV.
        var lastPhase1Block: [UInt8] = []
        /// Duplicate detection: a repeat of the peer's last message gets our last message again.
        var lastReceived: [UInt8]?
        var lastSent: [UInt8]?
        var lastDuplicateAnswer: MonotonicTime?
        var retransmission: Retransmission?
        var peerSupportsNATT = false
        var peerSupportsDPD = false
        var natLocal = false
        var natRemote = false
        var lifetime = IKEv1Lifetime(seconds: nil)
        var lifetimeReason = ""
        var establishedAt: MonotonicTime?
        var rekeyAt: MonotonicTime?
        var expiresAt: MonotonicTime?
        /// The pre-shared key mismatch event is logged once per SA, not per retransmission.
        var reportedKeyMismatch = false
        /// A replaced SA of ours waiting for its delete (see replacedISAKMPSADeleteDelay).
        var retireAt: MonotonicTime?

        var ourCookie: UInt64 { role == .initiator ? cookieI : cookieR }
        var isEstablished: Bool { phase == .established }
        var ids: [String] { ["ike " + SAIdentifier.ike(cookieI) + "/" + SAIdentifier.ike(cookieR)] }
    }

    /// One Quick Mode exchange (RFC 2409 section 5.5), kept a while after it finished for duplicates.
    struct QuickMode {
        enum State { case sentQM1, repliedQM2, done }

        var messageID: UInt32
        var cookieI: UInt64
        var cookieR: UInt64
        var role: Role
        var state: State
        var pair: SelectorPair
        /// The inbound SPI of the IPsec SA this one replaces (a rekey).
        var replacing: UInt32?
        var ourSPI: UInt32
        var peerSPI: UInt32 = 0
        var nonceI: [UInt8] = []
        var nonceR: [UInt8] = []
        var exchange: (any DiffieHellmanExchange)?
        var sharedSecret: SecretBytes?
        var suite: IKEv1ESPSuite?
        var iv: [UInt8]
        var lastReceived: [UInt8]?
        var lastSent: [UInt8]?
        var lastDuplicateAnswer: MonotonicTime?
        var retransmission: Retransmission?
        var lifetime = IKEv1Lifetime(seconds: nil)
        var lifetimeReason = ""
        /// What the peer proposed or announced, for the lifetime event.
        var peerLifetime: IKEv1Lifetime?
        var startedAt: MonotonicTime
        var finishedAt: MonotonicTime?
        /// Responder: the IPsec SA installed with message 2, outbound held until message 3.
        var preinstalled: ESPSecurityAssociation?
    }

    /// An installed IPsec SA pair.
    struct IPsecSA {
        var parameters: ESPSecurityAssociation
        var suite: IKEv1ESPSuite
        var pair: SelectorPair
        var installedAt: MonotonicTime
        var rekeyAt: MonotonicTime?
        var expiresAt: MonotonicTime
        var lifetime: IKEv1Lifetime
        var lifetimeReason: String
        /// A newer SA for the same pair exists; this one only drains until deleted or expired.
        var rekeyed = false

        var inboundSPI: UInt32 { parameters.inboundSPI }
    }

    /// An R-U-THERE of ours awaiting its ACK (RFC 3706 section 5.3).
    struct DeadPeerCheck {
        var startedAt: MonotonicTime
        var firstSequence: UInt32
        var sequence: UInt32
        var messageID: UInt32
        var attempts: Int
    }

    // MARK: State

    /// Only the shared key changes after start (``IKEInput/sharedKeyChanged(_:)``).
    var configuration: IKEv1Configuration
    var random: any RandomNumberGenerator & Sendable
    /// The role this connection instance was created in (an initiator restarts after failures).
    let role: Role
    var isakmpSAs: [ISAKMPSA] = []
    /// The initiator cookie of the current (newest established) ISAKMP SA.
    var currentCookieI: UInt64?
    var quickModes: [UInt32: QuickMode] = [:]
    /// Quick Modes of ours waiting for the one in flight: we run one at a time, as strongSwan does, because
    /// strongSwan as responder flushes every pending Quick Mode of an ISAKMP SA when it refuses one (seen on
    /// the wire: a second pair it had no policy for took the first pair's message 3 with it).
    var queuedQuickModes: [(pair: SelectorPair, replacing: UInt32?)] = []
    var ipsecSAs: [IPsecSA] = []
    /// Where IKE messages go now (port 4500 once NAT-T floated).
    var local: UDPEndpoint
    var remote: UDPEndpoint
    var closed = false
    /// Our cookie for the first ISAKMP SA, fixed from the start so the shell can route by it.
    let firstCookie: UInt64
    var lastInbound: MonotonicTime = .zero
    var deadPeerCheck: DeadPeerCheck?
    var dpdSequence: UInt32 = 0
    /// Dropped messages in all, and the rate limit of their events.
    var droppedMessages = 0
    var dropWindowStart: MonotonicTime = .zero
    var dropsInWindow = 0
    /// Set when what closes the connection decides about a restart.
    var restartAfterClose: Bool?

    init(configuration: IKEv1Configuration, role: Role, random: any RandomNumberGenerator & Sendable) {
        self.configuration = configuration
        self.role = role
        self.random = random
        self.local = configuration.local
        self.remote = configuration.remote
        var generator = random
        var cookie: UInt64 = 0
        while cookie == 0 { cookie = generator.next() }
        self.firstCookie = cookie
        self.random = generator
        self.dpdSequence = UInt32(truncatingIfNeeded: generator.next() >> 33)
    }

    var connection: String { configuration.connectionName }

    // MARK: - Lookups

    var currentIndex: Int? { currentCookieI.flatMap { cookie in isakmpSAs.firstIndex { $0.cookieI == cookie } } }
    var current: ISAKMPSA? { currentIndex.map { isakmpSAs[$0] } }

    /// The cookie the shell routes by: the current SA's, else the one being negotiated, else the first.
    var localSPI: UInt64 { current?.ourCookie ?? isakmpSAs.last?.ourCookie ?? firstCookie }

    /// Every cookie of ours that should route here (current, negotiating and retiring SAs).
    var localSPIs: [UInt64] {
        let cookies = isakmpSAs.map(\.ourCookie)
        return cookies.isEmpty ? [firstCookie] : cookies
    }

    var ourLifetimeIKE: IKEv1Lifetime {
        IKEv1Lifetime(
            seconds: UInt64(max(configuration.ikeLifetime.components.seconds, 1)),
            kilobytes: configuration.ikeLifetimeKilobytes)
    }

    var ourLifetimeESP: IKEv1Lifetime {
        IKEv1Lifetime(
            seconds: UInt64(max(configuration.childLifetime.components.seconds, 1)),
            kilobytes: configuration.childLifetimeKilobytes)
    }

    /// Whether ESP is UDP-encapsulated (RFC 3948) for SAs negotiated on the current ISAKMP SA.
    func usesUDPEncapsulation(_ sa: ISAKMPSA?) -> Bool {
        configuration.forceUDPEncapsulation || (sa.map { $0.natLocal || $0.natRemote } ?? false)
    }

    // MARK: - Input dispatch

    mutating func handle(_ input: IKEInput, now: MonotonicTime) -> [IKEAction] {
        var actions: [IKEAction] = []
        switch input {
        case .initiate:
            guard !closed, isakmpSAs.isEmpty else { return [] }
            startMainMode(isRekey: false, now: now, into: &actions)
        case .terminate:
            guard !closed else { return [] }
            restartAfterClose = false
            terminate(now: now, into: &actions)
        case .sharedKeyChanged(let key):
            // Every later SKEYID (RFC 2409 5.4) is computed from it; an ISAKMP SA already keyed keeps its keys.
            configuration.sharedKey = key
        case .timer(let timer):
            guard !closed else { return [] }
            handleTimer(timer, now: now, into: &actions)
            startQueuedQuickMode(now: now, into: &actions)
        case .datagram(let datagram):
            guard !closed else { return [] }
            handleDatagram(datagram, now: now, into: &actions)
            // A responder made for a message that opened nothing (Aggressive Mode, a message 1 without an
            // SA payload, ...) keeps no state: it closes, so the shell forgets it.
            if !closed, role == .responder, isakmpSAs.isEmpty, ipsecSAs.isEmpty, currentCookieI == nil {
                restartAfterClose = false
                close(now: now, into: &actions)
            }
            if !closed { startQueuedQuickMode(now: now, into: &actions) }
        }
        return actions
    }

    private mutating func handleDatagram(_ datagram: IKEDatagram, now: MonotonicTime, into actions: inout [IKEAction]) {
        let message: ISAKMPMessage
        do {
            message = try ISAKMPMessage.parse(datagram.bytes)
        } catch {
            drop("malformed ISAKMP message from \(datagram.source): \(error)", now: now, into: &actions)
            return
        }
        switch message.exchangeType {
        case .identityProtection:
            handleMainMode(message, datagram: datagram, now: now, into: &actions)
        case .quickMode:
            handleQuickMode(message, datagram: datagram, now: now, into: &actions)
        case .informational:
            handleInformational(message, datagram: datagram, now: now, into: &actions)
        case .aggressive:
            refuseAggressiveMode(message, datagram: datagram, now: now, into: &actions)
        default:
            drop("ISAKMP exchange type \(message.exchangeType.rawValue) is not supported", now: now, into: &actions)
        }
    }

    /// Aggressive Mode sends HASH_R in the clear, which lets an eavesdropper crack the pre-shared key
    /// offline (RFC 2409 section 5.4 with PSK); this core does not negotiate it.
    private mutating func refuseAggressiveMode(
        _ message: ISAKMPMessage, datagram: IKEDatagram, now: MonotonicTime, into actions: inout [IKEAction]
    ) {
        droppedMessages &+= 1
        emit(
            .aggressiveModeRefused, .warning,
            "refused Aggressive Mode from \(datagram.source): it exposes a hash of the pre-shared key that can be "
                + "cracked offline; configure the peer for Main Mode (strongSwan: aggressive = no)",
            ids: [], now: now, into: &actions)
    }

    // MARK: - Timers

    private mutating func handleTimer(_ timer: IKETimer, now: MonotonicTime, into actions: inout [IKEAction]) {
        switch timer {
        case .retransmit(let messageID):
            retransmit(messageID: messageID, now: now, into: &actions)
        case .abandon:
            abandonHalfOpen(now: now, into: &actions)
            retireReplacedSAs(now: now, into: &actions)
            armHousekeeping(into: &actions)
        case .rekeyIKESA:
            rekeyISAKMPSA(now: now, into: &actions)
        case .rekeyChildSA(let spi):
            rekeyIPsecSA(inboundSPI: spi, now: now, into: &actions)
        case .expireChildSA(let spi):
            expireIPsecSA(inboundSPI: spi, now: now, into: &actions)
        case .liveness:
            checkLiveness(now: now, into: &actions)
        case .natKeepalive:
            guard let current, current.natLocal else { return }
            actions.append(.natKeepalive(source: local, destination: remote))
            actions.append(.armTimer(.natKeepalive, at: now + Self.natKeepaliveInterval))
        case .startQueuedExchange:
            break  // handle(_:now:) starts the next queued Quick Mode after every timer
        }
    }

    func retransmitTimeout(_ attempt: Int) -> Duration {
        Self.initialRetransmitTimeout * (1 << min(attempt, 16))
    }

    /// Resends every message waiting under `messageID` that is due, gives up on those out of attempts.
    private mutating func retransmit(messageID: UInt32, now: MonotonicTime, into actions: inout [IKEAction]) {
        for index in isakmpSAs.indices.reversed() {
            guard var pending = isakmpSAs[index].retransmission, pending.messageID == messageID, pending.nextAt <= now
            else { continue }
            guard pending.attempts < Self.maximumRetransmits else {
                mainModeGaveUp(index, now: now, into: &actions)
                continue
            }
            pending.attempts += 1
            pending.nextAt = now + retransmitTimeout(pending.attempts)
            isakmpSAs[index].retransmission = pending
            send(pending.bytes, into: &actions)
            emit(
                .retransmit, .notice,
                "retransmit \(pending.attempts) of Main Mode (\(isakmpSAs[index].phase.rawValue)) "
                    + "to \(remote)", ids: isakmpSAs[index].ids, now: now, into: &actions)
        }
        if var exchange = quickModes[messageID], var pending = exchange.retransmission, pending.nextAt <= now {
            if pending.attempts < Self.maximumRetransmits {
                pending.attempts += 1
                pending.nextAt = now + retransmitTimeout(pending.attempts)
                exchange.retransmission = pending
                quickModes[messageID] = exchange
                send(pending.bytes, into: &actions)
                emit(
                    .retransmit, .notice,
                    "retransmit \(pending.attempts) of Quick Mode \(messageID) for "
                        + "\(exchange.pair) to \(remote)", ids: saIDs(exchange.cookieI), now: now, into: &actions)
            } else {
                quickModeGaveUp(exchange, now: now, into: &actions)
            }
        }
        if let check = deadPeerCheck, check.messageID == messageID {
            retryDeadPeerCheck(now: now, into: &actions)
        }
        armRetransmitTimer(messageID, into: &actions)
    }

    /// Arms the retransmit timer of `messageID` for the earliest message waiting under it.
    mutating func armRetransmitTimer(_ messageID: UInt32, into actions: inout [IKEAction]) {
        var earliest: MonotonicTime?
        for sa in isakmpSAs {
            if let pending = sa.retransmission, pending.messageID == messageID {
                earliest = min(earliest ?? pending.nextAt, pending.nextAt)
            }
        }
        if let pending = quickModes[messageID]?.retransmission {
            earliest = min(earliest ?? pending.nextAt, pending.nextAt)
        }
        if let earliest {
            actions.append(.armTimer(.retransmit(messageID: messageID), at: earliest))
        }
    }

    private mutating func mainModeGaveUp(_ index: Int, now: MonotonicTime, into actions: inout [IKEAction]) {
        let sa = isakmpSAs.remove(at: index)
        if sa.isRekey, sa.role == .responder {
            emit(
                .peerNotAnswering, .notice,
                "the peer's Main Mode (\(sa.phase.rawValue)) to replace the ISAKMP SA "
                    + "stopped; the current ISAKMP SA stays", ids: sa.ids, now: now, into: &actions)
            return
        }
        if sa.isRekey, let current, let expiresAt = current.expiresAt {
            emit(
                .peerNotAnswering, .warning,
                "no answer to the phase 1 rekey from \(remote) after "
                    + "\(Self.maximumRetransmits) retransmits; the current ISAKMP SA stays until it expires",
                ids: sa.ids, now: now, into: &actions)
            actions.append(.armTimer(.rekeyIKESA, at: min(expiresAt, now + Self.quickModeRetryDelay)))
            return
        }
        emit(
            .peerNotAnswering, .error,
            "no answer to Main Mode (\(sa.phase.rawValue)) from \(remote) after "
                + "\(Self.maximumRetransmits) retransmits: check that the peer is up, that UDP 500 and 4500 reach it, "
                + "and its address", ids: sa.ids, now: now, into: &actions)
        if current == nil { close(now: now, into: &actions) }
    }

    /// Drops half-open responder SAs older than ``halfOpenTimeout``.
    private mutating func abandonHalfOpen(now: MonotonicTime, into actions: inout [IKEAction]) {
        // Ours in progress give up by their retransmissions instead.
        let stale = isakmpSAs.filter {
            !$0.isEstablished && $0.role == .responder && now - $0.startedAt >= Self.halfOpenTimeout
        }
        for sa in stale {
            emit(
                .peerNotAnswering, .warning,
                "Main Mode (\(sa.phase.rawValue)) not completed within "
                    + "\(Self.halfOpenTimeout); half-open SA dropped", ids: sa.ids, now: now, into: &actions)
            if let pending = sa.retransmission {
                isakmpSAs.removeAll { $0.cookieI == sa.cookieI && $0.cookieR == sa.cookieR }
                armRetransmitTimer(pending.messageID, into: &actions)
            } else {
                isakmpSAs.removeAll { $0.cookieI == sa.cookieI && $0.cookieR == sa.cookieR }
            }
        }
        if current == nil, !stale.isEmpty, !isakmpSAs.contains(where: { !$0.isEstablished }) {
            close(now: now, into: &actions)
        }
    }

    /// Deletes replaced ISAKMP SAs of ours whose delete was deferred (replacedISAKMPSADeleteDelay).
    mutating func retireReplacedSAs(now: MonotonicTime, into actions: inout [IKEAction]) {
        guard !closed else { return }
        for sa in isakmpSAs where sa.retireAt.map({ $0 <= now }) ?? false && sa.cookieI != currentCookieI {
            sendISAKMPDelete(sa, now: now, into: &actions)
            isakmpSAs.removeAll { $0.cookieI == sa.cookieI && $0.cookieR == sa.cookieR }
            emit(
                .ikeSADeleted, .info, "replaced ISAKMP SA deleted (its IPsec SAs belong to the new one)",
                ids: sa.ids, now: now, into: &actions)
        }
    }

    /// The `abandon` timer does the ISAKMP SA housekeeping: half-open SAs that time out, replaced SAs of
    /// ours to delete. Armed for the earliest of those, cancelled when there is none.
    mutating func armHousekeeping(into actions: inout [IKEAction]) {
        guard !closed else { return }
        let halfOpen = isakmpSAs.filter { !$0.isEstablished && $0.role == .responder }.map {
            $0.startedAt + Self.halfOpenTimeout
        }
        let retiring = isakmpSAs.compactMap(\.retireAt)
        if let next = (halfOpen + retiring).min() {
            actions.append(.armTimer(.abandon, at: next))
        } else {
            actions.append(.cancelTimer(.abandon))
        }
    }

    // MARK: - Sending

    func send(_ bytes: [UInt8], into actions: inout [IKEAction]) {
        actions.append(.send(IKEDatagram(bytes: bytes, source: local, destination: remote)))
    }

    // MARK: - Events

    func saIDs(_ cookieI: UInt64) -> [String] {
        isakmpSAs.first { $0.cookieI == cookieI }?.ids ?? []
    }

    func emit(
        _ kind: GatewayEvent.Kind, _ severity: GatewayEvent.Severity, _ message: String,
        details: [String: String] = [:],
        ids: [String], now: MonotonicTime, into actions: inout [IKEAction]
    ) {
        actions.append(
            .event(
                GatewayEvent(
                    time: now, connection: connection, saIDs: ids, kind: kind, severity: severity, message: message,
                    details: details)))
    }

    /// Counts a dropped message and logs it, at most ``dropEventsPerWindow`` times per ``dropEventWindow``.
    mutating func drop(_ reason: String, ids: [String] = [], now: MonotonicTime, into actions: inout [IKEAction]) {
        droppedMessages &+= 1
        if now - dropWindowStart >= Self.dropEventWindow {
            if dropsInWindow > Self.dropEventsPerWindow {
                emit(
                    .messageDropped, .notice,
                    "dropped \(dropsInWindow - Self.dropEventsPerWindow) more messages "
                        + "in the last minute (\(droppedMessages) in all)", ids: ids, now: now, into: &actions)
            }
            dropWindowStart = now
            dropsInWindow = 0
        }
        dropsInWindow += 1
        guard dropsInWindow <= Self.dropEventsPerWindow else { return }
        emit(.messageDropped, .notice, "dropped: \(reason)", ids: ids, now: now, into: &actions)
    }

    // MARK: - Closing

    /// Removes every IPsec SA, cancels every timer and ends the connection. Restart: as decided by
    /// `restartAfterClose`, otherwise only for a connection we initiate (a failed attempt of ours).
    mutating func close(now: MonotonicTime, into actions: inout [IKEAction]) {
        for sa in ipsecSAs {
            actions.append(.cancelTimer(.rekeyChildSA(inboundSPI: sa.inboundSPI)))
            actions.append(.cancelTimer(.expireChildSA(inboundSPI: sa.inboundSPI)))
            actions.append(.childSA(.remove(inboundSPI: sa.inboundSPI)))
            emit(
                .childSADeleted, .info,
                "IPsec SA \(SAIdentifier.esp(sa.inboundSPI))_i "
                    + "\(SAIdentifier.esp(sa.parameters.outboundSPI))_o removed with the connection",
                ids: [], now: now, into: &actions)
        }
        ipsecSAs.removeAll()
        for exchange in quickModes.values where exchange.state != .done {
            if let spi = exchange.preinstalled?.inboundSPI { actions.append(.childSA(.remove(inboundSPI: spi))) }
        }
        var messageIDs = Set(quickModes.keys)
        for sa in isakmpSAs { if let pending = sa.retransmission { messageIDs.insert(pending.messageID) } }
        if let check = deadPeerCheck { messageIDs.insert(check.messageID) }
        for messageID in messageIDs.sorted() { actions.append(.cancelTimer(.retransmit(messageID: messageID))) }
        quickModes.removeAll()
        queuedQuickModes.removeAll()
        isakmpSAs.removeAll()
        currentCookieI = nil
        deadPeerCheck = nil
        for timer in [IKETimer.liveness, .rekeyIKESA, .abandon, .natKeepalive] { actions.append(.cancelTimer(timer)) }
        closed = true
        actions.append(.ikeSAClosed(restart: restartAfterClose ?? (role == .initiator)))
    }

    // MARK: - Randomness

    mutating func randomBytes(_ count: Int) -> [UInt8] {
        (0..<count).map { _ in UInt8.random(in: 0...255, using: &random) }
    }

    mutating func randomNonZero64() -> UInt64 {
        var value: UInt64 = 0
        while value == 0 { value = random.next() }
        return value
    }

    /// A fresh Quick Mode or Informational message ID: non-zero and not in use.
    mutating func newMessageID() -> UInt32 {
        var value: UInt32 = 0
        while value == 0 || quickModes[value] != nil { value = UInt32(truncatingIfNeeded: random.next()) }
        return value
    }

    mutating func randomSPI() -> UInt32 {
        var value: UInt32 = 0
        // SPIs 1-255 are reserved by IANA (RFC 4303 section 2.1).
        while value < 256 || ipsecSAs.contains(where: { $0.inboundSPI == value })
            || quickModes.values.contains(where: { $0.ourSPI == value })
        {
            value = UInt32(truncatingIfNeeded: random.next())
        }
        return value
    }

    /// A rekey time: the lifetime less a margin and a random jitter.
    mutating func rekeyTime(lifetime: Duration, from now: MonotonicTime) -> MonotonicTime {
        let jitter = Double.random(in: 0...Self.rekeyJitterFraction, using: &random)
        return now + lifetime * (1 - Self.rekeyMarginFraction - jitter)
    }

    mutating func makeExchange(_ group: Algorithm) throws -> any DiffieHellmanExchange {
        var generator = random
        defer { random = generator }
        return try DiffieHellman.makeExchange(groupID: group.ikev2ID, using: &generator)
    }
}

extension GatewayEvent.Kind {
    /// An Aggressive Mode request was refused (IKEv1: it leaks a crackable hash of the pre-shared key).
    public static let aggressiveModeRefused = GatewayEvent.Kind(rawValue: "aggressive-mode-refused")
}

extension Array where Element == ISAKMPPayload {
    var notifications: [ISAKMPNotificationPayload] {
        compactMap { if case .notification(let n) = $0 { n } else { nil } }
    }

    var vendorIDs: [[UInt8]] { compactMap { if case .vendorID(let v) = $0 { v.data } else { nil } } }

    var natDiscoveries: [[UInt8]] { compactMap { if case .natDiscovery(let d) = $0 { d.data } else { nil } } }

    var securityAssociation: ISAKMPSecurityAssociationPayload? {
        lazy.compactMap { if case .securityAssociation(let sa) = $0 { sa } else { nil } }.first
    }

    var keyExchange: [UInt8]? { lazy.compactMap { if case .keyExchange(let d) = $0 { d.data } else { nil } }.first }

    var nonce: [UInt8]? { lazy.compactMap { if case .nonce(let n) = $0 { n.nonce } else { nil } }.first }

    var hash: [UInt8]? { lazy.compactMap { if case .hash(let h) = $0 { h.data } else { nil } }.first }

    var identifications: [ISAKMPIdentificationPayload] {
        compactMap { if case .identification(let id) = $0 { id } else { nil } }
    }

    var deletes: [ISAKMPDeletePayload] { compactMap { if case .delete(let d) = $0 { d } else { nil } } }
}
