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
/// exchange has its own file (`+MainMode` with `+MainModeResponder` and `+MainModeSteps`, `+QuickMode`,
/// `+Informational`); the SAs it keeps are in `+SAs`, installed IPsec SAs in `+IPsecSAs`, timers and
/// closing in `+Timers`; this one holds the limits, the state, input dispatch, events and randomness.
///
/// Peer input never traps: a message that does not parse, decrypt or authenticate is dropped and
/// counted (``droppedMessages``), and every handler computes its results before it changes any state.
struct IKEv1StateMachine {
    // MARK: Limits (each with its reason)

    /// When to resend a Main Mode or Quick Mode message (RFC 2408 leaves it open): 1 s doubled each time,
    /// 6 retransmissions (1+2+4+8+16+32 s) and 64 s for the last answer, as IKEv2 (strongSwan starts at 4 s).
    static let retransmissionSchedule = RetransmissionSchedule.standard
    /// How long after our Quick Mode message 3 the next queued Quick Mode waits (see startQueuedQuickMode).
    static let quickModeSpacing: Duration = .milliseconds(200)
    /// NAT keepalive period when we are behind a NAT (RFC 3948 section 2.3 suggests 20 s).
    static let natKeepaliveInterval: Duration = .seconds(20)
    /// Nonce length we send: 32 bytes, as strongSwan (RFC 2409 section 5 allows 8 to 256).
    static let nonceLength = 32
    /// How long a half-open responder ISAKMP SA waits for the initiator's next message.
    static let halfOpenTimeout: Duration = .seconds(30)
    /// A responder SA whose peer has not sent message 3 (so has not shown it receives at its address).
    static let unprovenHalfOpenTimeout: Duration = .seconds(10)
    /// After our phase 1 rekey, the replaced ISAKMP SA is deleted this much later, not at once: the responder
    /// first moves its IPsec SAs to the new SA (strongSwan does so in a job queued after message 5), and a
    /// delete overtaking that takes them with it (seen on the wire: strongSwan lost the tunnel's SAs).
    static let replacedISAKMPSADeleteDelay: Duration = .seconds(5)
    /// Rekey 10% of the lifetime before it ends, less up to 5% jitter so both ends do not rekey at once
    /// (phase 1 and phase 2 alike; ``RekeySchedule/standard``, as IKEv2).
    static let rekeySchedule = RekeySchedule.standard
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

    // MARK: Vendor IDs

    /// RFC 3947 NAT-T: MD5("RFC 3947").
    static let natTraversalVendorID: [UInt8] = [
        0x4a, 0x13, 0x1c, 0x81, 0x07, 0x03, 0x58, 0x45, 0x5c, 0x57, 0x28, 0xf2, 0x0e, 0x95, 0x45, 0x2f,
    ]
    /// RFC 3706 DPD: `afcad713 68a1f1c9 6b8696fc 7757` followed by major 01 and minor 00.
    static let deadPeerDetectionVendorID: [UInt8] = [
        0xaf, 0xca, 0xd7, 0x13, 0x68, 0xa1, 0xf1, 0xc9, 0x6b, 0x86, 0x96, 0xfc, 0x77, 0x57, 0x01, 0x00,
    ]

    // MARK: State

    /// Only the shared key changes after start (``IKEInput/sharedKeyChanged(_:)``).
    var configuration: IKEv1Configuration
    var random: any RandomNumberGenerator & Sendable
    /// The role this connection instance was created in (an initiator restarts after failures).
    let role: IKERole
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
    /// When the peer last sent an authenticated message (liveness: only those prove it alive).
    var lastInbound: MonotonicTime = .zero
    var deadPeerCheck: DeadPeerCheck?
    var dpdSequence: UInt32 = 0
    /// Dropped messages in all, and the rate limit of their events (5 a minute).
    var dropLog = DroppedMessageLog()
    /// Set when what closes the connection decides about a restart.
    var restartAfterClose: Bool?

    init(configuration: IKEv1Configuration, role: IKERole, random: any RandomNumberGenerator & Sendable) {
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

    /// Messages dropped because they did not parse, decrypt, authenticate or fit the state.
    var droppedMessages: Int { dropLog.total }

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
        configuration.forceUDPEncapsulation || (sa?.nat.found ?? false)
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
        case .forget(let reason):
            guard !closed else { return [] }
            restartAfterClose = false
            emit(.ikeSADeleted, .notice, "forgotten without a Delete: \(reason)", ids: [], now: now, into: &actions)
            close(now: now, into: &actions)
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

    mutating func handleDatagram(_ datagram: IKEDatagram, now: MonotonicTime, into actions: inout [IKEAction]) {
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
    mutating func refuseAggressiveMode(
        _ message: ISAKMPMessage, datagram: IKEDatagram, now: MonotonicTime, into actions: inout [IKEAction]
    ) {
        dropLog.count()
        emit(
            .aggressiveModeRefused, .warning,
            "refused Aggressive Mode from \(datagram.source): it exposes a hash of the pre-shared key that can be "
                + "cracked offline; configure the peer for Main Mode (strongSwan: aggressive = no)",
            ids: [], now: now, into: &actions)
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

    /// Counts a dropped message and logs it, at most 5 times a minute (a flood of garbage must not flood the
    /// log); the rest are summed up when the minute ends (``DroppedMessageLog``).
    mutating func drop(_ reason: String, ids: [String] = [], now: MonotonicTime, into actions: inout [IKEAction]) {
        let entry = dropLog.record(now: now)
        if let suppressed = entry.suppressedBefore {
            emit(
                .messageDropped, .notice,
                "dropped \(suppressed) more messages in the last minute (\(dropLog.total) in all)", ids: ids,
                now: now, into: &actions)
        }
        guard entry.log else { return }
        emit(.messageDropped, .notice, "dropped: \(reason)", ids: ids, now: now, into: &actions)
    }

    /// A protected Quick Mode or Informational message on `sa`, decrypted and authenticated by `open` (see
    /// ``IKEv1SACrypto/decrypt(_:iv:verifying:expected:)``), or nil once it is dropped as "`what` rejected".
    /// An authenticated message is a sign of life from the peer.
    mutating func authenticated(
        _ what: String, on sa: ISAKMPSA, now: MonotonicTime, into actions: inout [IKEAction],
        _ open: () throws -> IKEv1SACrypto.Decrypted
    ) -> IKEv1SACrypto.Decrypted? {
        do {
            let decrypted = try open()
            lastInbound = now
            return decrypted
        } catch {
            drop("\(what) rejected: \(error)", ids: sa.ids, now: now, into: &actions)
            return nil
        }
    }

    // MARK: - Randomness

    mutating func randomBytes(_ count: Int) -> [UInt8] {
        random.bytes(count)
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

    /// A rekey time: the lifetime less a margin and a random jitter (``rekeySchedule``).
    mutating func rekeyTime(lifetime: Duration, from now: MonotonicTime) -> MonotonicTime {
        Self.rekeySchedule.rekeyTime(lifetime: lifetime, from: now, using: &random)
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
