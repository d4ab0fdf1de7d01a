import IsthmusCrypto
import IsthmusEvents
import IsthmusIKE
import IsthmusWire

/// The responder's EAP phase (RFC 7296 section 2.16): what it keeps between the IKE_AUTH exchanges that carry
/// EAP, from the client's first IKE_AUTH (no AUTH) to its last (AUTH computed with the MSK).
struct EAPResponderExchange: Sendable {
    var server: EAPMSCHAPv2Server
    /// The client's IDi as it sent it: its final AUTH signs it.
    let peerIdentification: IKEv2IdentificationPayload
    /// Our IDr as we sent it: our final AUTH signs it.
    let ourIdentification: IKEv2IdentificationPayload
    /// The first IKE_AUTH request's payloads: its SA, TSi, TSr (and CP, INITIAL_CONTACT) are answered once the
    /// client is authenticated.
    let childRequest: [IKEv2Payload]
    /// The user and the MSK once EAP succeeded; the client's AUTH comes next.
    var authenticated: (user: String, msk: SecretBytes)?
    /// A refusal was reported already (the MSCHAPv2 Failure Request is out): the client's end says nothing new.
    var refusalReported = false
}

/// EAP-MSCHAPv2 client authentication for the responder (section 2.16): the client's first IKE_AUTH has no
/// AUTH, so we answer with IDr, our AUTH and an EAP Request; further IKE_AUTH exchanges carry EAP until the EAP
/// Success; the client then sends AUTH keyed with the MSK, and we answer with our AUTH keyed with the MSK and
/// the first CHILD SA of the first request.
extension IKEv2StateMachine {
    mutating func handleEAPAuthRequest(
        _ message: IKEv2Message, _ inner: [IKEv2Payload], halfOpen: HalfOpenState, now: MonotonicTime,
        into actions: inout [IKEAction]
    ) {
        var halfOpen = halfOpen
        guard var exchange = halfOpen.eap else {
            startEAP(message, inner, halfOpen: &halfOpen, now: now, into: &actions)
            state = .halfOpen(halfOpen)
            return
        }
        if let authenticated = exchange.authenticated {
            finishEAP(
                message, inner, exchange, user: authenticated.user, msk: authenticated.msk, halfOpen: halfOpen,
                now: now, into: &actions)
            return
        }
        guard let payload = inner.lazy.compactMap(\.eapMessage).first else {
            refuseEAP(
                message, "IKE_AUTH request without EAP payload during EAP", user: nil, halfOpen: &halfOpen,
                eapFailure: nil, now: now, into: &actions)
            return
        }
        var generator = random
        let outcome = exchange.server.handle(payload, random: &generator)
        random = generator
        switch outcome {
        case .send(let request):
            halfOpen.eap = exchange
            answer(message, [.eap(DataPayload(data: request.serialize()))], halfOpen: &halfOpen, into: &actions)
        case .refusing(let request, let failure):
            reportEAPFailure(failure, now: now, into: &actions)
            exchange.refusalReported = true
            halfOpen.eap = exchange
            answer(message, [.eap(DataPayload(data: request.serialize()))], halfOpen: &halfOpen, into: &actions)
        case .succeeded(let success, let user, let msk):
            exchange.authenticated = (user, msk)
            halfOpen.eap = exchange
            answer(message, [.eap(DataPayload(data: success.serialize()))], halfOpen: &halfOpen, into: &actions)
        case .failed(let failurePacket, let failure, let reported):
            if !reported { reportEAPFailure(failure, now: now, into: &actions) }
            refuseEAP(
                message, nil, user: nil, halfOpen: &halfOpen, eapFailure: failurePacket, now: now, into: &actions)
        }
    }

    /// The client's first IKE_AUTH, without AUTH: our IDr and AUTH, and EAP Request/Identity.
    private mutating func startEAP(
        _ message: IKEv2Message, _ inner: [IKEv2Payload], halfOpen: inout HalfOpenState, now: MonotonicTime,
        into actions: inout [IKEAction]
    ) {
        guard let users = configuration.eapUsers,
            let peerIdentification = inner.lazy.compactMap(\.identificationInitiator).first
        else {
            reportLocalFailure(IKEv2Failure.missingPayload("IDi"), in: "IKE_AUTH request", now: now, into: &actions)
            respondWithError(.invalidSyntax, to: message, with: &halfOpen.protection, into: &actions)
            state = .halfOpen(halfOpen)
            close(restart: nil, into: &actions)
            return
        }
        if inner.contains(where: { $0.authentication != nil }) {
            // Only with `eapRequired`: the client authenticated itself with the pre-shared key.
            refuseEAP(
                message, "IKE_AUTH request with the pre-shared key's AUTH, but clients must use EAP-MSCHAPv2",
                user: nil, halfOpen: &halfOpen, eapFailure: nil, now: now, into: &actions)
            return
        }
        // Our IDr and AUTH (pre-shared key or certificate): the client authenticates us before it runs EAP.
        let ours: [IKEv2Payload]
        do {
            ours = try responderAuthenticationPayloads(halfOpen: halfOpen)
        } catch {
            reportLocalFailure(error, in: "IKE_AUTH response", now: now, into: &actions)
            refuseEAP(message, nil, user: nil, halfOpen: &halfOpen, eapFailure: nil, now: now, into: &actions)
            return
        }
        let identity =
            ours.lazy.compactMap(\.identificationResponder).first
            ?? Self.identification(configuration.localIdentity)
        var server = EAPMSCHAPv2Server(users: users, firstIdentifier: UInt8.random(in: 0...255, using: &random))
        let request = server.start()
        halfOpen.eap = EAPResponderExchange(
            server: server, peerIdentification: peerIdentification, ourIdentification: identity, childRequest: inner)
        answer(message, ours + [.eap(DataPayload(data: request.serialize()))], halfOpen: &halfOpen, into: &actions)
    }

    /// EAP succeeded: the client's AUTH must verify with the MSK (section 2.16: the MSK is the shared secret of
    /// section 2.15's computation); then our AUTH with the MSK and the CHILD SA.
    private mutating func finishEAP(
        _ message: IKEv2Message, _ inner: [IKEv2Payload], _ exchange: EAPResponderExchange, user: String,
        msk: SecretBytes, halfOpen: HalfOpenState, now: MonotonicTime, into actions: inout [IKEAction]
    ) {
        var halfOpen = halfOpen
        let crypto = halfOpen.protection.crypto
        let signed = halfOpen.initialMessages
        let expected = crypto.authentication(
            sharedKey: msk, ofInitiator: true, realMessage: signed.request, peerNonce: signed.nonceResponder,
            identification: exchange.peerIdentification)
        guard let auth = inner.lazy.compactMap(\.authentication).first,
            auth.method == .sharedKeyMessageIntegrityCode, ConstantTime.equal(auth.data, expected)
        else {
            emit(
                .authenticationFailed, .error,
                "IKE_AUTH request from \(remote): user \(user) passed EAP-MSCHAPv2 but the client's AUTH does not "
                    + "verify with the EAP MSK",
                details: ["rejected_by": "us", "method": "eap-mschapv2", "user": user],
                now: now, into: &actions)
            refuseEAP(message, nil, user: user, halfOpen: &halfOpen, eapFailure: nil, now: now, into: &actions)
            return
        }
        actions.append(.cancelTimer(.abandon))
        emit(
            .clientAuthenticated, .info,
            "client \(describeIdentity(exchange.peerIdentification)) at \(remote) authenticated as user \(user) "
                + "with EAP-MSCHAPv2", details: ["method": "eap-mschapv2", "user": user], now: now, into: &actions)
        let ours = crypto.authentication(
            sharedKey: msk, ofInitiator: false, realMessage: signed.response, peerNonce: signed.nonceInitiator,
            identification: exchange.ourIdentification)
        halfOpen.eap = nil
        completeAuthRequest(
            message, childRequest: exchange.childRequest,
            reply: [.authentication(IKEv2AuthenticationPayload(method: .sharedKeyMessageIntegrityCode, data: ours))],
            clientIdentity: user, halfOpen: halfOpen, now: now, into: &actions)
    }

    /// The client ended the exchange with an INFORMATIONAL request (strongSwan sends AUTHENTICATION_FAILED after
    /// an MSCHAPv2 Failure Request): an empty answer, and the SA closes.
    mutating func handleEAPClientAbort(
        _ message: IKEv2Message, _ inner: [IKEv2Payload], halfOpen: HalfOpenState, now: MonotonicTime,
        into actions: inout [IKEAction]
    ) {
        var halfOpen = halfOpen
        if halfOpen.eap?.refusalReported != true {
            let notifies = inner.notifies.map { "\($0.notifyType)" }
            emit(
                .authenticationFailed, .error,
                "EAP-MSCHAPv2 client at \(remote) gave up"
                    + (notifies.isEmpty ? "" : " (\(notifies.joined(separator: ", ")))"),
                details: ["rejected_by": "peer", "method": "eap-mschapv2"], now: now, into: &actions)
        }
        let response = header(.informational, messageID: message.messageID, response: true)
        if let bytes = seal(response, [], with: &halfOpen.protection) {
            sendResponse(bytes, messageID: message.messageID, into: &actions)
        }
        state = .halfOpen(halfOpen)
        close(restart: nil, into: &actions)
    }

    /// Ends the exchange: AUTHENTICATION_FAILED (after the EAP Failure when there is one), and the SA closes.
    private mutating func refuseEAP(
        _ message: IKEv2Message, _ problem: String?, user: String?, halfOpen: inout HalfOpenState,
        eapFailure: EAPPacket?, now: MonotonicTime, into actions: inout [IKEAction]
    ) {
        if let problem {
            emit(
                .authenticationFailed, .error, "\(problem) from \(remote)",
                details: ["rejected_by": "us", "method": "eap-mschapv2"], now: now, into: &actions)
        }
        var reply: [IKEv2Payload] = []
        if let eapFailure { reply.append(.eap(DataPayload(data: eapFailure.serialize()))) }
        reply.append(
            .notify(IKEv2NotifyPayload(protocolID: .none, spi: [], notifyType: .authenticationFailed, data: [])))
        answer(message, reply, halfOpen: &halfOpen, into: &actions)
        state = .halfOpen(halfOpen)
        close(restart: nil, into: &actions)
    }

    /// The event of a refused client: "wrong password for user X" and the like; never a password or hash.
    private func reportEAPFailure(
        _ failure: EAPMSCHAPv2Server.Failure, now: MonotonicTime, into actions: inout [IKEAction]
    ) {
        var details = ["rejected_by": "us", "method": "eap-mschapv2"]
        switch failure {
        case .wrongPassword(let user):
            details["user"] = user
            details["reason"] = "wrong-password"
        case .unknownUser(let user):
            details["user"] = user
            details["reason"] = "unknown-user"
        case .methodRefused: details["reason"] = "method-refused"
        case .malformed: details["reason"] = "malformed"
        }
        emit(
            .authenticationFailed, .error, "EAP-MSCHAPv2 client at \(remote) refused: \(failure)", details: details,
            now: now, into: &actions)
    }

    /// Seals and sends our IKE_AUTH response; the SA stays half-open (the caller stores `halfOpen`).
    private mutating func answer(
        _ message: IKEv2Message, _ payloads: [IKEv2Payload], halfOpen: inout HalfOpenState,
        into actions: inout [IKEAction]
    ) {
        let response = header(.ikeAuth, messageID: message.messageID, response: true)
        if let bytes = seal(response, payloads, with: &halfOpen.protection) {
            sendResponse(bytes, messageID: message.messageID, into: &actions)
        }
        state = .halfOpen(halfOpen)
    }

    private func describeIdentity(_ payload: IKEv2IdentificationPayload) -> String {
        IKEIdentity(type: payload.idType.rawValue, data: payload.data).map { "\($0)" }
            ?? "with ID type \(payload.idType.rawValue)"
    }
}

extension IKEv2Payload {
    /// The EAP message of an EAP payload (section 3.16).
    var eapMessage: [UInt8]? { if case .eap(let value) = self { value.data } else { nil } }
}
