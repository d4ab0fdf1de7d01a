import IsthmusCrypto
import IsthmusEvents
import IsthmusIKE
import IsthmusIP
import IsthmusWire

/// Our IKE_AUTH in flight: the SPI of the CHILD SA it proposes.
struct IKEAuthRequest: Sendable {
    let childSPI: UInt32
}

/// IKE_AUTH (RFC 7296 sections 1.2, 2.15) for both roles, PSK only, with the first CHILD SA.
extension IKEv2StateMachine {
    // MARK: - Initiator

    mutating func sendAuthRequest(
        _ authenticating: inout AuthenticatingState, now: MonotonicTime, into actions: inout [IKEAction]
    ) {
        let identity = Self.identification(configuration.localIdentity)
        let authData = authentication(
            ofInitiator: true, identity, crypto: authenticating.protection.crypto,
            signed: authenticating.initialMessages)
        let childSPI = randomNonZeroSPI32()
        var inner: [IKEv2Payload] = [
            .identificationInitiator(identity),
            .identificationResponder(Self.identification(configuration.remoteIdentity)),
            .authentication(IKEv2AuthenticationPayload(method: .sharedKeyMessageIntegrityCode, data: authData)),
        ]
        if configuration.sendInitialContact {
            inner.append(.notify(IKEv2NotifyPayload(protocolID: .none, spi: [], notifyType: .initialContact, data: [])))
        }
        inner.append(.securityAssociation(offerChild(spi: childSPI, pfs: false)))
        inner += trafficSelectorPayloads(
            initiator: configuration.localSelectors, responder: configuration.remoteSelectors)
        let message = header(.ikeAuth, messageID: window.nextRequestID, response: false)
        guard let bytes = seal(message, inner, with: &authenticating.protection) else { return }
        sendRequest(bytes, .ikeAuth(IKEAuthRequest(childSPI: childSPI)), now: now, into: &actions)
    }

    /// The responder's IKE_AUTH answer, decrypted: verify it, establish, install the first CHILD SA.
    mutating func handleAuthResponse(
        _ inner: [IKEv2Payload], request: IKEAuthRequest, now: MonotonicTime, into actions: inout [IKEAction]
    ) {
        guard case .authenticating(let authenticating) = state else {
            preconditionFailure("IKE_AUTH is in flight only while authenticating")
        }
        let signed = authenticating.initialMessages
        let childError = inner.firstError
        // Without AUTH the IKE SA failed (e.g. AUTHENTICATION_FAILED); with it, an error concerns the
        // CHILD SA only and the IKE SA is up (section 1.2).
        if let error = childError, inner.lazy.compactMap(\.authentication).first == nil {
            reportPeerError(error.notifyType, in: "IKE_AUTH", now: now, into: &actions)
            close(restart: nil, into: &actions)
            return
        }
        do {
            try verifyPeer(inner, peerIsInitiator: false, crypto: authenticating.protection.crypto, signed: signed)
        } catch {
            reportLocalFailure(error, in: "IKE_AUTH response", now: now, into: &actions)
            close(restart: nil, into: &actions)
            return
        }
        var sa = IKEv2EstablishedSA(authenticating, now: now)
        announceEstablished(&sa, now: now, into: &actions)
        noteInitialContact(inner, now: now, into: &actions)
        defer { state = .established(sa) }
        // The CHILD SA of IKE_AUTH.
        if let error = childError {
            reportPeerError(error.notifyType, in: "IKE_AUTH (CHILD SA)", now: now, into: &actions)
            return
        }
        do {
            let proposal = try inner.required(\.securityAssociation, "SA")
            let tsi = try inner.required(\.trafficSelectorInitiator, "TSi")
            let tsr = try inner.required(\.trafficSelectorResponder, "TSr")
            try installInitiatedChild(
                sa: proposal, tsi: tsi, tsr: tsr, ourSPI: request.childSPI, nonceInitiator: signed.nonceInitiator,
                nonceResponder: signed.nonceResponder, keyExchange: nil, peerKE: nil, into: &sa, now: now,
                actions: &actions)
        } catch {
            emit(
                .trafficSelectorMismatch, .error, "IKE SA is up but its CHILD SA failed: \(error)", now: now,
                into: &actions)
        }
    }

    // MARK: - Responder

    /// The initiator's IKE_AUTH, decrypted: verify it, establish, answer with the first CHILD SA.
    mutating func handleAuthRequest(
        _ message: IKEv2Message, _ inner: [IKEv2Payload], datagram: IKEDatagram, halfOpen: HalfOpenState,
        now: MonotonicTime, into actions: inout [IKEAction]
    ) {
        var halfOpen = halfOpen
        let signed = halfOpen.initialMessages
        // The initiator may have floated to 4500 (NAT-T): answer where it came from.
        local = datagram.destination
        remote = datagram.source
        // EAP (section 2.16, IKEAuth+EAP.swift): a client without AUTH, or the exchanges after the first.
        if halfOpen.eap != nil
            || (configuration.eapUsers != nil
                && (configuration.eapRequired || !inner.contains { $0.authentication != nil }))
        {
            handleEAPAuthRequest(message, inner, halfOpen: halfOpen, now: now, into: &actions)
            return
        }
        actions.append(.cancelTimer(.abandon))
        do {
            try verifyPeer(inner, peerIsInitiator: true, crypto: halfOpen.protection.crypto, signed: signed)
        } catch {
            reportLocalFailure(error, in: "IKE_AUTH request", now: now, into: &actions)
            respondWithError(
                (error as? IKEv2Failure)?.notifyType ?? .authenticationFailed, to: message,
                with: &halfOpen.protection, into: &actions)
            state = .halfOpen(halfOpen)
            close(restart: nil, into: &actions)
            return
        }
        let identity = Self.identification(configuration.localIdentity)
        let reply: [IKEv2Payload] = [
            .identificationResponder(identity), .authentication(responderAuthentication(identity, halfOpen: halfOpen)),
        ]
        completeAuthRequest(message, childRequest: inner, reply: reply, halfOpen: halfOpen, now: now, into: &actions)
    }

    /// Our AUTH payload as the responder (section 2.15: pre-shared key), over our IDr.
    func responderAuthentication(_ identity: IKEv2IdentificationPayload, halfOpen: HalfOpenState)
        -> IKEv2AuthenticationPayload
    {
        let authData = authentication(
            ofInitiator: false, identity, crypto: halfOpen.protection.crypto, signed: halfOpen.initialMessages)
        return IKEv2AuthenticationPayload(method: .sharedKeyMessageIntegrityCode, data: authData)
    }

    /// The initiator is authenticated: establish, answer with `reply` (our ID and AUTH) and the first CHILD SA
    /// that `childRequest` (the first IKE_AUTH request's payloads) asked for.
    mutating func completeAuthRequest(
        _ message: IKEv2Message, childRequest inner: [IKEv2Payload], reply: [IKEv2Payload], halfOpen: HalfOpenState,
        now: MonotonicTime, into actions: inout [IKEAction]
    ) {
        let signed = halfOpen.initialMessages
        var reply = reply
        var sa = IKEv2EstablishedSA(halfOpen, now: now)
        defer { state = .established(sa) }
        // The CHILD SA of IKE_AUTH: a failure here leaves the IKE SA up (section 1.2) and says why.
        switch respondToChildRequest(
            inner, nonceInitiator: signed.nonceInitiator, nonceResponder: signed.nonceResponder, pfs: false,
            rekey: false, into: &sa, now: now, actions: &actions)
        {
        case .success(let childPayloads): reply += childPayloads
        case .failure(let failure):
            reply.append(.notify(IKEv2NotifyPayload(protocolID: .none, spi: [], notifyType: failure.notify, data: [])))
        }
        let response = header(.ikeAuth, messageID: message.messageID, response: true)
        guard let bytes = seal(response, reply, with: &sa.protection) else { return }
        sendResponse(bytes, messageID: message.messageID, into: &actions)
        announceEstablished(&sa, now: now, into: &actions)
        noteInitialContact(inner, now: now, into: &actions)
    }

    /// The IKE SA is authenticated (either role): the event, and its timers.
    private mutating func announceEstablished(
        _ sa: inout IKEv2EstablishedSA, now: MonotonicTime, into actions: inout [IKEAction]
    ) {
        emit(
            .ikeSAEstablished, .info,
            "IKE SA established with \(remote) using \(sa.protection.suite)"
                + (usesUDPEncapsulation ? ", UDP-encapsulated" : ""), now: now, into: &actions)
        scheduleIKETimers(&sa, now: now, into: &actions)
    }

    // MARK: - AUTH (pre-shared key, section 2.15)

    /// The AUTH data of the initiator's or the responder's IKE_AUTH: each side signs its own IKE_SA_INIT
    /// message, the other side's nonce and its own ID payload.
    func authentication(
        ofInitiator: Bool, _ identification: IKEv2IdentificationPayload, crypto: IKEv2SACrypto,
        signed: IKEv2InitialMessages
    ) -> [UInt8] {
        crypto.authentication(
            sharedKey: configuration.sharedKey, ofInitiator: ofInitiator,
            realMessage: ofInitiator ? signed.request : signed.response,
            peerNonce: ofInitiator ? signed.nonceResponder : signed.nonceInitiator, identification: identification)
    }

    /// Checks the peer's ID and AUTH payloads: the AUTH data verifies with our pre-shared key and the ID is
    /// the one we expect.
    private func verifyPeer(
        _ inner: [IKEv2Payload], peerIsInitiator: Bool, crypto: IKEv2SACrypto, signed: IKEv2InitialMessages
    ) throws {
        let identity =
            try peerIsInitiator
            ? inner.required(\.identificationInitiator, "IDi") : inner.required(\.identificationResponder, "IDr")
        let auth = try inner.required(\.authentication, "AUTH")
        let expected = authentication(ofInitiator: peerIsInitiator, identity, crypto: crypto, signed: signed)
        guard auth.method == .sharedKeyMessageIntegrityCode, ConstantTime.equal(auth.data, expected) else {
            throw IKEv2Failure.authenticationFailed
        }
        try checkIdentity(identity)
    }

    // MARK: - Identities

    static func identification(_ identity: IKEIdentity) -> IKEv2IdentificationPayload {
        IKEv2IdentificationPayload(idType: IKEv2IdentificationType(rawValue: identity.typeNumber), data: identity.data)
    }

    /// The peer's IDi or IDr must name the identity the connection expects (RFC 7296 section 2.15: the
    /// identity is authenticated with the key configured for it).
    private func checkIdentity(_ payload: IKEv2IdentificationPayload) throws {
        guard let identity = IKEIdentity(type: payload.idType.rawValue, data: payload.data),
            identity.matches(configuration.remoteIdentity)
        else {
            throw IKEv2Failure.unexpectedIdentity(describe(payload) + ", expected \(configuration.remoteIdentity)")
        }
    }

    private func describe(_ payload: IKEv2IdentificationPayload) -> String {
        IKEIdentity(type: payload.idType.rawValue, data: payload.data).map { "\($0)" }
            ?? "ID type \(payload.idType.rawValue) (\(payload.data.count) bytes)"
    }
}
