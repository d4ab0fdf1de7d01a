import IsthmusCrypto
import IsthmusEvents
import IsthmusIP
import IsthmusWire

/// One IKE SA as a deterministic state machine (RFC 7296): (input, time) in, actions out.
///
/// No clock, socket, randomness source or global state is read here: time comes with every input,
/// randomness from the injected generator, and everything to do is returned as ``IKEAction``s.
/// Each exchange has its own file (`+InitialExchanges`, `+Informational`); this file holds the
/// shared state, message-ID bookkeeping (window size 1, section 2.3) and retransmission (2.1).
struct IKEv2StateMachine {
    // MARK: Limits (each with its reason)

    /// First retransmission timeout; doubled each time (RFC 7296 section 2.1 leaves the values open;
    /// strongSwan starts at 4 s, a LAN-to-cloud path rarely needs more than 1 s).
    static let initialRetransmitTimeout: Duration = .seconds(1)
    /// Retransmissions before the peer is declared unreachable: 1+2+4+8+16+32 s = about a minute.
    static let maximumRetransmits = 6
    /// NAT keepalive period when we are behind a NAT (RFC 3948 section 2.3 suggests 20 s), so the
    /// NAT's mapping for UDP 4500 does not expire while ESP is idle.
    static let natKeepaliveInterval: Duration = .seconds(20)
    /// Retransmissions of a DELETE for the IKE SA before closing without an answer.
    static let deleteRetransmits = 2
    /// Nonce length we send: 32 bytes, at least half the PRF key size of every PRF we offer (2.10).
    static let nonceLength = 32
    /// How long a half-open responder SA waits for IKE_AUTH before it is dropped.
    static let halfOpenTimeout: Duration = .seconds(30)
    /// Rekey this long before the configured lifetime ends, minus jitter, so both ends do not rekey at once.
    static let rekeyMarginFraction = 0.1
    /// Largest random jitter subtracted from a rekey time (fraction of the lifetime).
    static let rekeyJitterFraction = 0.05

    enum Role: String, Sendable { case initiator, responder }

    enum Phase: String, Sendable {
        case idle, initSent = "connecting", authSent = "authenticating", initReplied = "half-open"
        case established, deleting, closed
    }

    /// A request we sent and have not seen the answer to.
    struct Outstanding {
        var messageID: UInt32
        var datagrams: [[UInt8]]
        var retransmits: Int
        var purpose: Purpose
        /// When the request was first sent (liveness gives up after the configured timeout).
        var sentAt: MonotonicTime = .zero

        enum Purpose { case ikeSAInit, ikeAuth, liveness, deleteIKESA, deleteChildSA, createChildSA, rekeyIKESA }
    }

    /// A CHILD SA as this IKE SA knows it.
    struct ChildSA {
        var parameters: ESPSecurityAssociation
        var suite: NegotiatedChildSuite
        var installedAt: MonotonicTime
        var rekeyAt: MonotonicTime?
        /// A successor exists (our rekey completed, or the peer rekeyed it): it only waits for its
        /// DELETE, and is never rekeyed again (a late soft-lifetime event must not fork it).
        var replaced = false
    }

    // MARK: State

    /// Only the shared key changes after start (``IKEInput/sharedKeyChanged(_:)``).
    var configuration: IKEv2Configuration
    var random: any RandomNumberGenerator & Sendable
    var role: Role
    var phase: Phase = .idle

    var spiInitiator: UInt64 = 0
    var spiResponder: UInt64 = 0
    /// Where IKE messages go now (port 4500 once NAT traversal floated).
    var local: UDPEndpoint
    var remote: UDPEndpoint

    var nonceInitiator: [UInt8] = []
    var nonceResponder: [UInt8] = []
    var keyExchange: (any DiffieHellmanExchange)?
    var keyExchangeGroup: Algorithm?
    var cookie: [UInt8]?
    /// The IKE_SA_INIT messages as sent, signed by AUTH (section 2.15).
    var initRequestBytes: [UInt8] = []
    var initResponseBytes: [UInt8] = []
    var ikeSuite: NegotiatedIKESuite?
    var crypto: IKEv2SACrypto?
    var natLocal = false
    var natRemote = false

    /// Our next request's message ID and the peer's next expected one (section 2.3).
    var nextRequestID: UInt32 = 0
    var expectedPeerRequestID: UInt32 = 0
    var outstanding: Outstanding?
    /// The last response we sent, resent when the peer retransmits that request.
    var lastResponse: (messageID: UInt32, datagrams: [[UInt8]])?

    /// The CHILD SA we are negotiating in IKE_AUTH: its SPI and the ESP proposals offered.
    var pendingChildSPI: UInt32 = 0
    var childSAs: [ChildSA] = []
    var establishedAt: MonotonicTime?
    var ikeRekeyAt: MonotonicTime?
    var lastInbound: MonotonicTime = .zero
    /// AEAD IVs for our SK payloads: a counter never repeats under one key.
    var ivCounter: UInt64 = 0

    /// A CHILD SA rekey we initiated and await the answer to.
    struct PendingRekey {
        var oldInboundSPI: UInt32
        var newInboundSPI: UInt32
        var nonce: [UInt8]
        /// Our PFS key exchange, when the rekey offers a DH group.
        var exchange: (any DiffieHellmanExchange)?
    }
    /// Dropped messages in all, and the rate limit of their events.
    var droppedMessages = 0
    var dropWindowStart: MonotonicTime = .zero
    var dropsInWindow = 0
    /// The PFS group the peer asked for with INVALID_KE_PAYLOAD in a CHILD SA rekey.
    var childGroupOverride: Algorithm?
    var pendingRekey: PendingRekey?
    /// A peer's rekey of the SA we are rekeying ourselves, seen before our own answer (section 2.8.1).
    struct RekeyCollision {
        var oldInboundSPI: UInt32
        var peerExchangeNonces: [[UInt8]]
        var peerCreatedInboundSPI: UInt32
    }
    var rekeyCollision: RekeyCollision?
    /// RFC 7383: whether the peer announced IKE fragmentation, the message being reassembled, and
    /// the inner payloads of a just-completed fragmented message (consumed by `openInner`).
    var peerSupportsFragmentation = false
    var assembly: IKEv2FragmentAssembly?
    var reassembled: (messageID: UInt32, isResponse: Bool, payloads: [IKEv2Payload])?
    /// The CHILD SA whose DELETE we sent, and SAs the peer confirmed deleted (in their grace period).
    var deletingChildSPI: UInt32?
    var deletedChildSPIs: Set<UInt32> = []
    /// Set when what closes the SA decides about a restart (peer delete, operator, liveness, lifetime).
    var restartAfterClose: Bool?
    /// IKE SA rekeying (section 2.18): ours in flight, and the replaced SA until its DELETE is done.
    var pendingIKERekey: PendingIKERekey?
    var retired: RetiredIKESA?

    init(configuration: IKEv2Configuration, role: Role, random: any RandomNumberGenerator & Sendable) {
        self.configuration = configuration
        self.role = role
        self.random = random
        self.local = configuration.local
        self.remote = configuration.remote
        // Our SPI is fixed from the start so the I/O shell can route by it (section 2.6: non-zero).
        switch role {
        case .initiator: spiInitiator = randomNonZeroSPI64()
        case .responder: spiResponder = randomNonZeroSPI64()
        }
    }

    var connection: String { configuration.connectionName }

    /// The SPI that identifies this SA on our side.
    var localSPI: UInt64 { role == .initiator ? spiInitiator : spiResponder }

    /// `ike 7a176b12…/044c583a…` for log lines.
    var saIDs: [String] {
        guard spiInitiator != 0 else { return [] }
        return ["ike " + SAIdentifier.ike(spiInitiator) + "/" + SAIdentifier.ike(spiResponder)]
    }

    // MARK: - Input dispatch

    mutating func handle(_ input: IKEInput, now: MonotonicTime) -> [IKEAction] {
        var actions: [IKEAction] = []
        switch input {
        case .initiate:
            guard phase == .idle else { return [] }
            startInitiator(now: now, into: &actions)
        case .terminate:
            restartAfterClose = false
            terminate(now: now, into: &actions)
        case .sharedKeyChanged(let key):
            // IKEv2 authenticates once per IKE SA (a rekey does not); an exchange not yet at IKE_AUTH uses it.
            configuration.sharedKey = key
        case .timer(let timer):
            handleTimer(timer, now: now, into: &actions)
        case .datagram(let datagram):
            handleDatagram(datagram, now: now, into: &actions)
        }
        return actions
    }

    private mutating func handleDatagram(_ datagram: IKEDatagram, now: MonotonicTime, into actions: inout [IKEAction]) {
        let message: IKEv2Message
        do {
            message = try IKEv2Message.parse(datagram.bytes)
        } catch {
            drop("malformed IKEv2 message from \(datagram.source): \(error)", now: now, into: &actions)
            return
        }
        guard phase != .closed else { return }
        if isForRetired(message) {
            handleRetired(message, datagram: datagram, now: now, into: &actions)
            return
        }
        // The shell routes by our SPI; the peer's half must match too once known.
        let peerSPIKnown = phase != .idle && phase != .initSent
        let peerSPI = role == .initiator ? message.responderSPI : message.initiatorSPI
        let ourSPI = role == .initiator ? message.initiatorSPI : message.responderSPI
        let knownPeerSPI = role == .initiator ? spiResponder : spiInitiator
        guard message.exchangeType == .ikeSAInit || (ourSPI == localSPI && (!peerSPIKnown || peerSPI == knownPeerSPI))
        else {
            drop("message for SPIs \(SAIdentifier.ike(message.initiatorSPI))/\(SAIdentifier.ike(message.responderSPI)), not this SA's",
                now: now, into: &actions)
            return
        }
        if case .encryptedFragment(let fragment)? = message.payloads.last {
            let answered = lastResponse.map { $0.messageID == message.messageID } ?? false
            if message.flags.contains(.response) || !answered {
                guard collect(fragment, of: message, datagram: datagram, now: now, into: &actions) else { return }
            }
        }
        if message.flags.contains(.response) {
            handleResponse(message, datagram: datagram, now: now, into: &actions)
        } else {
            handleRequest(message, datagram: datagram, now: now, into: &actions)
        }
    }

    // MARK: - Fragments (RFC 7383)

    /// Authenticates one fragment and adds it to its message; true when the message is now complete
    /// (its payloads wait in `reassembled` for the exchange handler).
    private mutating func collect(
        _ fragment: IKEv2EncryptedFragmentPayload, of message: IKEv2Message, datagram: IKEDatagram,
        now: MonotonicTime, into actions: inout [IKEAction]
    ) -> Bool {
        let isResponse = message.flags.contains(.response)
        let expected = isResponse ? outstanding?.messageID == message.messageID : message.messageID == expectedPeerRequestID
        guard let crypto, expected else {
            drop("fragment of message \(message.messageID), which is not expected", now: now, into: &actions)
            return false
        }
        let share: ArraySlice<UInt8>
        do {
            share = try crypto.openFragment(datagram.bytes, fragment: fragment)
        } catch {
            drop("fragment \(fragment.fragmentNumber) of message \(message.messageID) failed integrity", now: now,
                into: &actions)
            return false
        }
        if assembly?.messageID != message.messageID || assembly?.isResponse != isResponse {
            assembly = IKEv2FragmentAssembly(messageID: message.messageID, isResponse: isResponse,
                total: fragment.totalFragments)
        }
        guard var current = assembly, current.add(fragment, share: share) else {
            assembly = nil
            drop("fragment \(fragment.fragmentNumber)/\(fragment.totalFragments) does not fit its message",
                now: now, into: &actions)
            return false
        }
        guard current.isComplete else {
            assembly = current
            return false
        }
        assembly = nil
        do {
            reassembled = (message.messageID, isResponse, try current.payloads())
            return true
        } catch {
            drop("reassembled message \(message.messageID) is malformed: \(error)", now: now, into: &actions)
            return false
        }
    }

    /// The decrypted inner payloads of `message`: a just-reassembled fragmented message, or its SK payload.
    mutating func openInner(_ message: IKEv2Message, _ datagram: IKEDatagram, _ crypto: IKEv2SACrypto) throws
        -> [IKEv2Payload]
    {
        if let done = reassembled, done.messageID == message.messageID,
            done.isResponse == message.flags.contains(.response)
        {
            reassembled = nil
            return done.payloads
        }
        return try crypto.open(datagram.bytes, message: message)
    }

    private mutating func handleResponse(
        _ message: IKEv2Message, datagram: IKEDatagram, now: MonotonicTime, into actions: inout [IKEAction]
    ) {
        guard let outstanding, outstanding.messageID == message.messageID else {
            drop("response with message ID \(message.messageID) matches no request of ours", now: now, into: &actions)
            return
        }
        lastInbound = now
        switch outstanding.purpose {
        case .ikeSAInit:
            guard message.exchangeType == .ikeSAInit else { return dropWrongExchange(message, now, &actions) }
            handleInitResponse(message, datagram: datagram, now: now, into: &actions)
        case .ikeAuth:
            guard message.exchangeType == .ikeAuth else { return dropWrongExchange(message, now, &actions) }
            handleAuthResponse(message, datagram: datagram, now: now, into: &actions)
        case .liveness, .deleteIKESA, .deleteChildSA:
            guard message.exchangeType == .informational else { return dropWrongExchange(message, now, &actions) }
            handleInformationalResponse(message, datagram: datagram, purpose: outstanding.purpose, now: now,
                into: &actions)
        case .createChildSA:
            guard message.exchangeType == .createChildSA else { return dropWrongExchange(message, now, &actions) }
            handleCreateChildSAResponse(message, datagram: datagram, now: now, into: &actions)
        case .rekeyIKESA:
            guard message.exchangeType == .createChildSA else { return dropWrongExchange(message, now, &actions) }
            handleIKERekeyResponse(message, datagram: datagram, now: now, into: &actions)
        }
    }

    private mutating func handleRequest(
        _ message: IKEv2Message, datagram: IKEDatagram, now: MonotonicTime, into actions: inout [IKEAction]
    ) {
        // Section 2.3: a retransmitted request gets the same response again; older ones are ignored.
        if let lastResponse, message.messageID == lastResponse.messageID {
            // RFC 7383 2.6.1: a fragmented request is answered again on its first fragment only.
            if case .encryptedFragment(let fragment)? = message.payloads.last, fragment.fragmentNumber != 1 { return }
            send(lastResponse.datagrams, into: &actions)
            return
        }
        guard message.messageID == expectedPeerRequestID else {
            drop("request with message ID \(message.messageID), expected \(expectedPeerRequestID)", now: now,
                into: &actions)
            return
        }
        lastInbound = now
        switch (message.exchangeType, phase) {
        case (.ikeSAInit, .idle), (.ikeSAInit, .initReplied):
            handleInitRequest(message, datagram: datagram, now: now, into: &actions)
        case (.ikeAuth, .initReplied):
            handleAuthRequest(message, datagram: datagram, now: now, into: &actions)
        case (.informational, .established), (.informational, .deleting), (.informational, .authSent):
            handleInformationalRequest(message, datagram: datagram, now: now, into: &actions)
        case (.createChildSA, .established):
            handleCreateChildSARequest(message, datagram: datagram, now: now, into: &actions)
        default:
            drop("\(exchangeName(message.exchangeType)) request not expected while \(phase.rawValue)", now: now,
                into: &actions)
        }
    }

    // MARK: - Timers

    private mutating func handleTimer(_ timer: IKETimer, now: MonotonicTime, into actions: inout [IKEAction]) {
        switch timer {
        case .retransmit(let messageID):
            guard var request = outstanding, request.messageID == messageID else { return }
            let livenessExpired = request.purpose == .liveness
                && configuration.liveness.map { now - request.sentAt >= $0.timeout } ?? false
            guard request.retransmits < Self.maximumRetransmits, !livenessExpired else {
                peerNotAnswering(request, now: now, into: &actions)
                return
            }
            request.retransmits += 1
            outstanding = request
            send(request.datagrams, into: &actions)
            emit(.retransmit, .notice, "retransmit \(request.retransmits) of \(request.purpose) (message ID "
                + "\(messageID)) to \(remote)", now: now, into: &actions)
            let attempt = request.purpose == .deleteIKESA
                ? request.retransmits - (Self.maximumRetransmits - Self.deleteRetransmits) : request.retransmits
            var next = now + retransmitTimeout(attempt)
            if request.purpose == .liveness, let liveness = configuration.liveness {
                next = min(next, request.sentAt + liveness.timeout)
            }
            actions.append(.armTimer(.retransmit(messageID: messageID), at: next))
        case .abandon:
            guard phase == .initReplied || phase == .initSent || phase == .authSent else { return }
            emit(.peerNotAnswering, .warning, "no IKE_AUTH within \(Self.halfOpenTimeout); half-open SA dropped",
                now: now, into: &actions)
            restartAfterClose = role == .initiator
            close(into: &actions)
        case .liveness:
            checkLiveness(now: now, into: &actions)
        case .rekeyChildSA(let spi):
            rekeyChildSA(inboundSPI: spi, now: now, into: &actions)
        case .expireChildSA(let spi):
            expireChildSA(inboundSPI: spi, now: now, into: &actions)
        case .rekeyIKESA:
            rekeyIKESA(now: now, into: &actions)
        case .natKeepalive:
            guard phase == .established, natLocal else { return }
            actions.append(.natKeepalive(source: local, destination: remote))
            actions.append(.armTimer(.natKeepalive, at: now + Self.natKeepaliveInterval))
        case .startQueuedExchange:
            break  // IKEv1 only
        }
    }

    func retransmitTimeout(_ attempt: Int) -> Duration {
        Self.initialRetransmitTimeout * (1 << min(attempt, 16))
    }

    private mutating func peerNotAnswering(_ request: Outstanding, now: MonotonicTime, into actions: inout [IKEAction]) {
        outstanding = nil
        switch request.purpose {
        case .ikeSAInit:
            emit(.peerNotAnswering, .error, "no answer to IKE_SA_INIT from \(remote) after \(request.retransmits) "
                + "retransmits: check that the peer is up, that UDP 500 and 4500 reach it, and its address",
                now: now, into: &actions)
        case .liveness:
            let restart = configuration.liveness?.action == .restart
            restartAfterClose = restart
            emit(.livenessTimeout, .error, "peer \(remote) stopped answering liveness checks; deleting the SAs"
                + (restart ? " and negotiating again" : ""), now: now, into: &actions)
        case .deleteIKESA:
            emit(.ikeSADeleted, .notice, "peer \(remote) did not confirm the DELETE; the IKE SA is gone anyway",
                now: now, into: &actions)
        default:
            emit(.peerNotAnswering, .error, "no answer to \(request.purpose) from \(remote) after "
                + "\(request.retransmits) retransmits", now: now, into: &actions)
        }
        for child in childSAs { actions.append(.childSA(.remove(inboundSPI: child.parameters.inboundSPI))) }
        childSAs.removeAll()
        close(into: &actions)
    }

    // MARK: - Sending

    /// Sends a new request: assigns the next message ID, remembers it for retransmission, arms the timer.
    mutating func sendRequest(
        _ datagrams: [[UInt8]], messageID: UInt32, purpose: Outstanding.Purpose, now: MonotonicTime,
        into actions: inout [IKEAction]
    ) {
        outstanding = Outstanding(
            messageID: messageID, datagrams: datagrams, retransmits: 0, purpose: purpose, sentAt: now)
        send(datagrams, into: &actions)
        actions.append(.armTimer(.retransmit(messageID: messageID), at: now + retransmitTimeout(0)))
    }

    /// Marks the outstanding request answered.
    mutating func completeRequest(into actions: inout [IKEAction]) {
        if let outstanding { actions.append(.cancelTimer(.retransmit(messageID: outstanding.messageID))) }
        outstanding = nil
    }

    /// Sends a response and caches it for retransmitted requests.
    mutating func sendResponse(_ datagrams: [[UInt8]], messageID: UInt32, into actions: inout [IKEAction]) {
        lastResponse = (messageID, datagrams)
        expectedPeerRequestID = messageID &+ 1
        send(datagrams, into: &actions)
    }

    func send(_ bytes: [UInt8], into actions: inout [IKEAction]) {
        actions.append(.send(IKEDatagram(bytes: bytes, source: local, destination: remote)))
    }

    func send(_ datagrams: [[UInt8]], into actions: inout [IKEAction]) {
        for bytes in datagrams { send(bytes, into: &actions) }
    }

    /// A header for a message of this SA.
    func header(_ exchange: IKEv2ExchangeType, messageID: UInt32, response: Bool) -> IKEv2Message {
        var flags: IKEv2Header.Flags = []
        if role == .initiator { flags.insert(.initiator) }
        if response { flags.insert(.response) }
        return IKEv2Message(
            initiatorSPI: spiInitiator, responderSPI: spiResponder, exchangeType: exchange, flags: flags,
            messageID: messageID, payloads: [])
    }

    /// Seals `inner` into an SK payload with a fresh IV, or into SKF fragments when the peer supports
    /// them and the message would exceed the configured size (RFC 7383).
    ///
    /// - Parameters:
    ///   - other: keys of another SA (the retired one after a rekey) instead of the current ones;
    ///     its AEAD IVs take the upper half of the counter space, so they never meet the new SA's.
    mutating func seal(
        _ header: IKEv2Message, _ inner: [IKEv2Payload], with other: (crypto: IKEv2SACrypto, isAEAD: Bool)? = nil
    ) -> [[UInt8]]? {
        guard let crypto = other?.crypto ?? crypto else { return nil }
        let ivBase: UInt64 = other == nil ? 0 : 1 << 63
        var counter = ivCounter
        var generator = random
        defer {
            random = generator
            ivCounter = counter
        }
        let isAEAD = other?.isAEAD ?? ikeSuite?.encryption.isAEAD ?? false
        // Called once per SK payload or fragment: every call takes the next counter value.
        let ivSource: (inout [UInt8]) -> Void = { iv in
            if isAEAD {
                // Counter IV: never repeats under one key (RFC 5282 section 3.1).
                counter &+= 1
                let value = ivBase | counter
                for index in iv.indices { iv[index] = UInt8(truncatingIfNeeded: value >> (8 * (iv.count - 1 - index))) }
            } else {
                for index in iv.indices { iv[index] = UInt8.random(in: 0...255, using: &generator) }
            }
        }
        if peerSupportsFragmentation, other == nil {
            return try? crypto.sealFragments(
                header: header, inner: inner, maximumSize: configuration.fragmentSize, ivSource: ivSource)
        }
        return (try? crypto.seal(header: header, inner: inner, ivSource: ivSource)).map { [$0] }
    }

    // MARK: - Events

    func emit(
        _ kind: GatewayEvent.Kind, _ severity: GatewayEvent.Severity, _ message: String, details: [String: String] = [:],
        now: MonotonicTime, into actions: inout [IKEAction]
    ) {
        actions.append(.event(GatewayEvent(
            time: now, connection: connection, saIDs: saIDs, kind: kind, severity: severity, message: message,
            details: details)))
    }

    /// Counts a dropped message and logs it, at most `dropEventsPerWindow` times per `dropEventWindow`
    /// (a flood of garbage must not flood the log); the rest are summed up when the window ends.
    mutating func drop(_ reason: String, now: MonotonicTime, into actions: inout [IKEAction]) {
        droppedMessages &+= 1
        if now - dropWindowStart >= Self.dropEventWindow {
            if dropsInWindow > Self.dropEventsPerWindow {
                emit(.messageDropped, .notice, "dropped \(dropsInWindow - Self.dropEventsPerWindow) more messages "
                    + "in the last minute (\(droppedMessages) in all)", now: now, into: &actions)
            }
            dropWindowStart = now
            dropsInWindow = 0
        }
        dropsInWindow += 1
        guard dropsInWindow <= Self.dropEventsPerWindow else { return }
        emit(.messageDropped, .notice, "dropped: \(reason)", now: now, into: &actions)
    }

    /// Drop events logged per window before they are only counted.
    static let dropEventsPerWindow = 5
    static let dropEventWindow: Duration = .seconds(60)

    private mutating func dropWrongExchange(_ message: IKEv2Message, _ now: MonotonicTime, _ actions: inout [IKEAction]) {
        drop("\(exchangeName(message.exchangeType)) response to a different request", now: now, into: &actions)
    }

    /// Closes the SA. Whether the connection is negotiated again: as decided by `restartAfterClose`
    /// where an event set it, otherwise only when we were initiating (a failed attempt of ours).
    mutating func close(into actions: inout [IKEAction]) {
        if let outstanding { actions.append(.cancelTimer(.retransmit(messageID: outstanding.messageID))) }
        outstanding = nil
        actions.append(.cancelTimer(.liveness))
        actions.append(.cancelTimer(.rekeyIKESA))
        actions.append(.cancelTimer(.abandon))
        phase = .closed
        actions.append(.ikeSAClosed(restart: restartAfterClose ?? (role == .initiator)))
    }

    // MARK: - Randomness

    mutating func randomBytes(_ count: Int) -> [UInt8] {
        (0..<count).map { _ in UInt8.random(in: 0...255, using: &random) }
    }

    mutating func randomNonZeroSPI64() -> UInt64 {
        var value: UInt64 = 0
        while value == 0 { value = random.next() }
        return value
    }

    mutating func randomNonZeroSPI32() -> UInt32 {
        var value: UInt32 = 0
        // SPIs 1-255 are reserved by IANA (RFC 4303 section 2.1).
        while value < 256 { value = UInt32(truncatingIfNeeded: random.next()) }
        return value
    }

    /// A rekey time: the lifetime less a margin and a random jitter (both ends must not rekey together).
    mutating func rekeyTime(lifetime: Duration, from now: MonotonicTime) -> MonotonicTime {
        let jitter = Double.random(in: 0...Self.rekeyJitterFraction, using: &random)
        return now + lifetime * (1 - Self.rekeyMarginFraction - jitter)
    }
}


func exchangeName(_ type: IKEv2ExchangeType) -> String {
    switch type {
    case .ikeSAInit: "IKE_SA_INIT"
    case .ikeAuth: "IKE_AUTH"
    case .createChildSA: "CREATE_CHILD_SA"
    case .informational: "INFORMATIONAL"
    default: "exchange \(type.rawValue)"
    }
}
