import IsthmusCrypto
import IsthmusEvents
import IsthmusIP
import IsthmusWire

/// One IKE SA as a deterministic state machine (RFC 7296): (input, time) in, actions out.
///
/// No clock, socket, randomness source or global state is read here: time comes with every input,
/// randomness from the injected generator, and everything to do is returned as ``IKEAction``s.
///
/// The phase is an enum whose cases carry their data (``State``); the message-ID window
/// (``IKEExchangeWindow``) holds the request in flight as an ``IKEv2Exchange`` with its own data,
/// and exchanges that must wait for it are queued (``IKEv2QueuedExchange``). A message is decrypted
/// and verified once, here, and its exchange's handler gets the plaintext payloads. Each exchange
/// has its file under `Exchanges/`.
struct IKEv2StateMachine {
    // MARK: Limits (each with its reason)

    /// NAT keepalive period when we are behind a NAT (RFC 3948 section 2.3 suggests 20 s), so the
    /// NAT's mapping for UDP 4500 does not expire while ESP is idle.
    static let natKeepaliveInterval: Duration = .seconds(20)
    /// Retransmissions of a DELETE for the IKE SA before closing without an answer.
    static let deleteRetransmits = 2
    /// Nonce length we send: 32 bytes, at least half the PRF key size of every PRF we offer (2.10).
    static let nonceLength = 32
    /// How long a half-open responder SA waits for IKE_AUTH before it is dropped.
    static let halfOpenTimeout: Duration = .seconds(30)
    /// Rekey 10% before the configured lifetime ends, less up to 5% jitter (``RekeySchedule/standard``).
    static let rekeySchedule = RekeySchedule.standard

    // MARK: State

    /// Only the shared key changes after start (``IKEInput/sharedKeyChanged(_:)``).
    var configuration: IKEv2Configuration
    var random: any RandomNumberGenerator & Sendable
    var spis: IKEv2SPIs
    var state: State = .idle
    /// Where IKE messages go now (port 4500 once NAT traversal floated).
    var local: UDPEndpoint
    var remote: UDPEndpoint
    var nat = NATDetectionResult.none
    /// Message IDs, the request in flight, the cached response and fragment reassembly (sections 2.1, 2.3).
    var window = IKEExchangeWindow<IKEv2Exchange>()
    /// Exchanges waiting for the window, in order.
    var queue: [IKEv2QueuedExchange] = []
    /// When the peer last sent an authenticated message (liveness: only those prove it alive).
    var lastInbound: MonotonicTime = .zero
    var dropLog = DroppedMessageLog()
    /// The remote-access client of this IKE SA and its virtual address (point-to-site), once known.
    var client: IKEv2Client?
    /// A point-to-site client was refused its address: the IKE SA is deleted once the answer is out.
    var clientRefused = false

    init(configuration: IKEv2Configuration, role: IKERole, random: any RandomNumberGenerator & Sendable) {
        self.configuration = configuration
        self.random = random
        self.local = configuration.local
        self.remote = configuration.remote
        spis = IKEv2SPIs(initiator: 0, responder: 0, role: role)
        // Our SPI is fixed from the start so the I/O shell can route by it (section 2.6: non-zero).
        switch role {
        case .initiator: spis.initiator = randomNonZeroSPI64()
        case .responder: spis.responder = randomNonZeroSPI64()
        }
    }

    var connection: String { configuration.connectionName }
    var role: IKERole { spis.role }
    var localSPI: UInt64 { spis.local }

    /// `ike 7a176b12…/044c583a…` for log lines.
    var saIDs: [String] {
        guard spis.initiator != 0 else { return [] }
        return ["ike " + SAIdentifier.ike(spis.initiator) + "/" + SAIdentifier.ike(spis.responder)]
    }

    /// The current keys, for opening messages; nil before IKE_SA_INIT is done.
    var currentProtection: IKEv2MessageProtection? {
        switch state {
        case .idle, .connecting, .closed: nil
        case .authenticating(let state): state.protection
        case .halfOpen(let state): state.protection
        case .established(let sa): sa.protection
        case .deleting(let state): state.sa.protection
        }
    }

    // MARK: - Input dispatch

    mutating func handle(_ input: IKEInput, now: MonotonicTime) -> [IKEAction] {
        var actions: [IKEAction] = []
        switch input {
        case .initiate:
            guard case .idle = state else { return [] }
            startInitiator(now: now, into: &actions)
        case .terminate:
            terminate(restart: false, now: now, into: &actions)
        case .forget(let reason):
            forget(reason: reason, now: now, into: &actions)
        case .sharedKeyChanged(let key):
            // IKEv2 authenticates once per IKE SA (a rekey does not); an exchange not yet at IKE_AUTH uses it.
            configuration.sharedKey = key
        case .timer(let timer):
            handleTimer(timer, now: now, into: &actions)
        case .datagram(let datagram):
            handleDatagram(datagram, now: now, into: &actions)
        }
        startQueuedExchanges(now: now, into: &actions)
        settleClient(now: now, into: &actions)
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
        let peerSPIKnown: Bool
        switch state {
        case .closed: return
        case .idle, .connecting: peerSPIKnown = false
        case .authenticating, .halfOpen, .established, .deleting: peerSPIKnown = true
        }
        if isForRetired(message) {
            handleRetired(message, datagram: datagram, now: now, into: &actions)
            return
        }
        // The shell routes by our SPI; the peer's half must match too once known.
        let peerSPI = role == .initiator ? message.responderSPI : message.initiatorSPI
        let ourSPI = role == .initiator ? message.initiatorSPI : message.responderSPI
        guard message.exchangeType == .ikeSAInit || (ourSPI == spis.local && (!peerSPIKnown || peerSPI == spis.remote))
        else {
            drop(
                "message for SPIs \(SAIdentifier.ike(message.initiatorSPI))/\(SAIdentifier.ike(message.responderSPI)), "
                    + "not this SA's", now: now, into: &actions)
            return
        }
        if message.flags.contains(.response) {
            handleResponse(message, datagram: datagram, now: now, into: &actions)
        } else {
            handleRequest(message, datagram: datagram, now: now, into: &actions)
        }
    }

    /// The answer to our request in flight: verified and decrypted here, then its exchange handles it.
    private mutating func handleResponse(
        _ message: IKEv2Message, datagram: IKEDatagram, now: MonotonicTime, into actions: inout [IKEAction]
    ) {
        guard let request = window.inFlight, request.messageID == message.messageID else {
            drop("response with message ID \(message.messageID) matches no request of ours", now: now, into: &actions)
            return
        }
        guard message.exchangeType == request.exchange.exchangeType else {
            drop("\(exchangeName(message.exchangeType)) response to a different request", now: now, into: &actions)
            return
        }
        let inner: [IKEv2Payload]
        switch request.exchange {
        case .ikeSAInit(let initRequest):
            // Unprotected: the keys come from this very message.
            lastInbound = now
            completeRequest(into: &actions)
            handleInitResponse(message, datagram: datagram, request: initRequest, now: now, into: &actions)
            return
        case .ikeAuth, .rekeyChildSA, .rekeyIKESA, .deleteChildSA, .deleteIKESA, .liveness:
            guard let protection = currentProtection,
                let payloads = open(message, datagram, with: protection, now: now, into: &actions)
            else { return }
            inner = payloads
        }
        completeRequest(into: &actions)
        switch request.exchange {
        case .ikeSAInit:
            break
        case .ikeAuth(let authRequest):
            handleAuthResponse(inner, request: authRequest, now: now, into: &actions)
        case .rekeyChildSA(let rekey):
            handleChildSARekeyResponse(inner, request: rekey, now: now, into: &actions)
        case .rekeyIKESA(let rekey):
            handleIKESARekeyResponse(inner, request: rekey, now: now, into: &actions)
        case .deleteChildSA, .deleteIKESA, .liveness:
            handleInformationalResponse(request.exchange, now: now, into: &actions)
        }
    }

    /// A request of the peer: a retransmission gets the cached response (section 2.3), a new one is
    /// verified and decrypted here and handed to its exchange, if the phase allows it.
    private mutating func handleRequest(
        _ message: IKEv2Message, datagram: IKEDatagram, now: MonotonicTime, into actions: inout [IKEAction]
    ) {
        switch window.check(requestID: message.messageID) {
        case .retransmitted(let lastResponse):
            // RFC 7383 2.6.1: a fragmented request is answered again on its first fragment only.
            if case .encryptedFragment(let fragment)? = message.payloads.last, fragment.fragmentNumber != 1 { return }
            send(lastResponse.datagrams, into: &actions)
            return
        case .unexpected(let expected):
            drop("request with message ID \(message.messageID), expected \(expected)", now: now, into: &actions)
            return
        case .new:
            break
        }
        let type = message.exchangeType
        switch state {
        case .idle where type == .ikeSAInit, .halfOpen where type == .ikeSAInit:
            lastInbound = now
            handleInitRequest(message, datagram: datagram, now: now, into: &actions)
        case .halfOpen(let halfOpen) where type == .ikeAuth:
            guard let inner = open(message, datagram, with: halfOpen.protection, now: now, into: &actions) else {
                // Section 2.21.2: an undecryptable IKE_AUTH is dropped silently (it may be forged).
                return
            }
            handleAuthRequest(message, inner, datagram: datagram, halfOpen: halfOpen, now: now, into: &actions)
        case .halfOpen(let halfOpen) where type == .informational && halfOpen.eap != nil:
            // An EAP client that gives up says so in an INFORMATIONAL (strongSwan: AUTHENTICATION_FAILED).
            guard let inner = open(message, datagram, with: halfOpen.protection, now: now, into: &actions) else {
                return
            }
            handleEAPClientAbort(message, inner, halfOpen: halfOpen, now: now, into: &actions)
        case .authenticating where type == .informational, .established where type == .informational,
            .deleting where type == .informational:
            guard let protection = currentProtection,
                let inner = open(message, datagram, with: protection, now: now, into: &actions)
            else { return }
            handleInformationalRequest(message, inner, now: now, into: &actions)
        case .established(let sa) where type == .createChildSA:
            guard let inner = open(message, datagram, with: sa.protection, now: now, into: &actions) else { return }
            handleCreateChildSARequest(message, inner, now: now, into: &actions)
        case .idle, .connecting, .authenticating, .halfOpen, .established, .deleting, .closed:
            drop("\(exchangeName(type)) request not expected while \(state.phase)", now: now, into: &actions)
        }
    }

    /// The plaintext payloads of a protected message: its SK payload opened, or, for a fragment, the
    /// whole message once its last fragment is in (RFC 7383); nil (and the drop logged) otherwise.
    /// The plaintext payloads of a protected message, once it passed integrity (and was reassembled); the
    /// peer is followed to the message's source (``followPeer(to:now:into:)``).
    private mutating func open(
        _ message: IKEv2Message, _ datagram: IKEDatagram, with protection: IKEv2MessageProtection,
        now: MonotonicTime, into actions: inout [IKEAction]
    ) -> [IKEv2Payload]? {
        let payloads = openVerified(message, datagram, with: protection, now: now, into: &actions)
        guard payloads != nil else { return nil }
        // Only an authenticated message proves the peer alive: a spoofed one must not hold off liveness checks.
        lastInbound = now
        followPeer(to: datagram.source, now: now, into: &actions)
        return payloads
    }

    private mutating func openVerified(
        _ message: IKEv2Message, _ datagram: IKEDatagram, with protection: IKEv2MessageProtection,
        now: MonotonicTime, into actions: inout [IKEAction]
    ) -> [IKEv2Payload]? {
        let isResponse = message.flags.contains(.response)
        guard case .encryptedFragment(let fragment)? = message.payloads.last else {
            do {
                return try protection.crypto.open(datagram.bytes, message: message)
            } catch {
                drop(
                    "\(exchangeName(message.exchangeType)) \(isResponse ? "response" : "request") failed integrity "
                        + "or decryption: \(error)", now: now, into: &actions)
                return nil
            }
        }
        guard window.expectsFragment(messageID: message.messageID, isResponse: isResponse) else {
            drop("fragment of message \(message.messageID), which is not expected", now: now, into: &actions)
            return nil
        }
        let share: ArraySlice<UInt8>
        do {
            share = try protection.crypto.openFragment(datagram.bytes, fragment: fragment)
        } catch {
            drop(
                "fragment \(fragment.fragmentNumber) of message \(message.messageID) failed integrity", now: now,
                into: &actions)
            return nil
        }
        let result = window.addFragment(
            messageID: message.messageID, isResponse: isResponse, number: Int(fragment.fragmentNumber),
            total: Int(fragment.totalFragments), share: share, tag: fragment.firstInnerPayloadType.rawValue)
        switch result {
        case .incomplete:
            return nil
        case .rejected:
            drop(
                "fragment \(fragment.fragmentNumber)/\(fragment.totalFragments) does not fit its message",
                now: now, into: &actions)
            return nil
        case .complete(let bytes, let tag):
            do {
                return try IKEv2PayloadChain.parse(bytes[...], firstPayloadType: IKEv2PayloadType(rawValue: tag))
            } catch {
                drop("reassembled message \(message.messageID) is malformed: \(error)", now: now, into: &actions)
                return nil
            }
        }
    }

    // MARK: - Timers

    private mutating func handleTimer(_ timer: IKETimer, now: MonotonicTime, into actions: inout [IKEAction]) {
        switch timer {
        case .retransmit(let messageID):
            switch window.retransmit(messageID: messageID, now: now) {
            case .stale:
                return
            case .giveUp(let request):
                peerNotAnswering(request, now: now, into: &actions)
            case .resend(let request, let next):
                send(request.datagrams, into: &actions)
                emit(
                    .retransmit, .notice,
                    "retransmit \(request.retransmits) of \(request.exchange.name) (message ID "
                        + "\(messageID)) to \(remote)", now: now, into: &actions)
                actions.append(.armTimer(.retransmit(messageID: messageID), at: next))
            }
        case .abandon:
            switch state {
            case .connecting, .authenticating, .halfOpen:
                emit(
                    .peerNotAnswering, .warning, "no IKE_AUTH within \(Self.halfOpenTimeout); half-open SA dropped",
                    now: now, into: &actions)
                close(restart: role == .initiator, into: &actions)
            case .idle, .established, .deleting, .closed:
                return
            }
        case .liveness:
            checkLiveness(now: now, into: &actions)
        case .rekeyChildSA(let spi):
            guard case .established(var sa) = state else { return }
            rekeyChildSA(inboundSPI: spi, sa: &sa, now: now, into: &actions)
            state = .established(sa)
        case .expireChildSA(let spi):
            expireChildSA(inboundSPI: spi, now: now, into: &actions)
        case .rekeyIKESA:
            guard case .established(var sa) = state else { return }
            rekeyIKESA(sa: &sa, now: now, into: &actions)
            state = .established(sa)
        case .natKeepalive:
            guard case .established = state, nat.local else { return }
            actions.append(.natKeepalive(source: local, destination: remote))
            actions.append(.armTimer(.natKeepalive, at: now + Self.natKeepaliveInterval))
        case .startQueuedExchange:
            break  // IKEv1 only: IKEv2 starts queued exchanges when the window frees
        }
    }

    private mutating func peerNotAnswering(
        _ request: IKEExchangeWindow<IKEv2Exchange>.Request, now: MonotonicTime, into actions: inout [IKEAction]
    ) {
        var restart: Bool?
        switch request.exchange {
        case .ikeSAInit:
            emit(
                .peerNotAnswering, .error,
                "no answer to IKE_SA_INIT from \(remote) after \(request.retransmits) "
                    + "retransmits: check that the peer is up, that UDP 500 and 4500 reach it, and its address",
                now: now, into: &actions)
        case .liveness:
            restart = configuration.liveness?.action == .restart
            emit(
                .livenessTimeout, .error,
                "peer \(remote) stopped answering liveness checks; deleting the SAs"
                    + (restart == true ? " and negotiating again" : ""), now: now, into: &actions)
        case .deleteIKESA:
            if case .deleting(let deleting) = state { restart = deleting.restart }
            emit(
                .ikeSADeleted, .notice, "peer \(remote) did not confirm the DELETE; the IKE SA is gone anyway",
                now: now, into: &actions)
        case .rekeyChildSA where configuration.liveness != nil, .rekeyIKESA where configuration.liveness != nil,
            .deleteChildSA where configuration.liveness != nil:
            // Under DPD any request on the established SA is a liveness check: its answer is the proof of
            // life, and none within the DPD timeout is the same failure as an unanswered empty INFORMATIONAL.
            restart = configuration.liveness?.action == .restart
            emit(
                .livenessTimeout, .error,
                "peer \(remote) did not answer \(request.exchange.name) (\(request.retransmits) retransmits); "
                    + "DPD takes it for dead, deleting the SAs"
                    + (restart == true ? " and negotiating again" : ""), now: now, into: &actions)
        case .ikeAuth, .rekeyChildSA, .rekeyIKESA, .deleteChildSA:
            emit(
                .peerNotAnswering, .error,
                "no answer to \(request.exchange.name) from \(remote) after "
                    + "\(request.retransmits) retransmits", now: now, into: &actions)
        }
        if case .established(var sa) = state {
            for child in sa.childSAs { actions.append(.childSA(.remove(inboundSPI: child.inboundSPI))) }
            sa.childSAs.removeAll()
            state = .established(sa)
        }
        close(restart: restart, into: &actions)
    }

    // MARK: - Sending

    /// Sends a new request sealed with the window's next message ID: remembers it for retransmission
    /// and arms the timer.
    mutating func sendRequest(
        _ datagrams: [[UInt8]], _ exchange: IKEv2Exchange, now: MonotonicTime, retransmitLimit: Int? = nil,
        into actions: inout [IKEAction]
    ) {
        var giveUpAt: MonotonicTime?
        if exchange.provesLiveness, let liveness = configuration.liveness { giveUpAt = now + liveness.timeout }
        let messageID = window.nextRequestID
        let deadline = window.start(
            exchange, datagrams: datagrams, now: now, retransmitLimit: retransmitLimit, giveUpAt: giveUpAt)
        send(datagrams, into: &actions)
        actions.append(.armTimer(.retransmit(messageID: messageID), at: deadline))
    }

    /// Takes the request in flight out of the window (answered or withdrawn) and stops its timer.
    mutating func completeRequest(into actions: inout [IKEAction]) {
        if let request = window.finish() { actions.append(.cancelTimer(.retransmit(messageID: request.messageID))) }
    }

    /// Sends a response and caches it for retransmitted requests.
    mutating func sendResponse(_ datagrams: [[UInt8]], messageID: UInt32, into actions: inout [IKEAction]) {
        window.responded(to: messageID, with: datagrams)
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
        Self.header(exchange, spis: spis, messageID: messageID, response: response)
    }

    static func header(_ exchange: IKEv2ExchangeType, spis: IKEv2SPIs, messageID: UInt32, response: Bool)
        -> IKEv2Message
    {
        var flags: IKEv2Header.Flags = []
        if spis.role == .initiator { flags.insert(.initiator) }
        if response { flags.insert(.response) }
        return IKEv2Message(
            initiatorSPI: spis.initiator, responderSPI: spis.responder, exchangeType: exchange, flags: flags,
            messageID: messageID, payloads: [])
    }

    /// Seals `inner` with `protection` (SK, or SKF fragments when the peer takes them and the message
    /// is over the configured size; never fragmented with `fragmenting: false`).
    mutating func seal(
        _ header: IKEv2Message, _ inner: [IKEv2Payload], with protection: inout IKEv2MessageProtection,
        fragmenting: Bool = true
    ) -> [[UInt8]]? {
        var generator = random
        defer { random = generator }
        return protection.seal(
            header, inner, fragmentSize: fragmenting ? configuration.fragmentSize : nil, random: &generator)
    }
}
