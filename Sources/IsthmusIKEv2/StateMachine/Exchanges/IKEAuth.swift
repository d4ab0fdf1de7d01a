import IsthmusCrypto
import IsthmusEvents
import IsthmusIKE
import IsthmusIP
import IsthmusWire

/// Our IKE_AUTH in flight: the SPI of the CHILD SA it proposes.
struct IKEAuthRequest: Sendable {
    let childSPI: UInt32
}

/// IKE_AUTH (RFC 7296 sections 1.2, 2.15) for both roles, with the first CHILD SA; the certificate parts are
/// in IKEAuth+Certificate.swift.
extension IKEv2StateMachine {
    // MARK: - Initiator

    mutating func sendAuthRequest(
        _ authenticating: inout AuthenticatingState, now: MonotonicTime, into actions: inout [IKEAction]
    ) {
        let identity = Self.identification(configuration.localIdentity)
        let childSPI = randomNonZeroSPI32()
        var inner: [IKEv2Payload]
        if configuration.authentication.usesCertificates {
            do {
                inner = try certificateAuthenticationPayloads(
                    ofInitiator: true, crypto: authenticating.protection.crypto, signed: authenticating.initialMessages)
            } catch {
                reportLocalFailure(error, in: "IKE_AUTH request", now: now, into: &actions)
                close(restart: nil, into: &actions)
                return
            }
        } else {
            let authData = authentication(
                ofInitiator: true, identity, crypto: authenticating.protection.crypto,
                signed: authenticating.initialMessages)
            inner = [
                .identificationInitiator(identity),
                .identificationResponder(Self.identification(configuration.remoteIdentity)),
                .authentication(IKEv2AuthenticationPayload(method: .sharedKeyMessageIntegrityCode, data: authData)),
            ]
        }
        if configuration.sendInitialContact {
            inner.append(.notify(IKEv2NotifyPayload(protocolID: .none, spi: [], notifyType: .initialContact, data: [])))
        }
        inner += configurationRequest
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
            tellResponderAuthenticationFailed(error, protection: authenticating.protection, into: &actions)
            close(restart: nil, into: &actions)
            return
        }
        noteConfigurationReply(inner)
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
        let reply: [IKEv2Payload]
        do {
            reply = try responderAuthenticationPayloads(halfOpen: halfOpen)
        } catch {
            reportLocalFailure(error, in: "IKE_AUTH response", now: now, into: &actions)
            respondWithError(.authenticationFailed, to: message, with: &halfOpen.protection, into: &actions)
            state = .halfOpen(halfOpen)
            close(restart: nil, into: &actions)
            return
        }
        // The pool keys a point-to-site client on the identity it authenticated as: its IDi here.
        let peerIdentity = inner.lazy.compactMap(\.identificationInitiator).first.map(describe) ?? ""
        completeAuthRequest(
            message, childRequest: inner, reply: reply, clientIdentity: peerIdentity, halfOpen: halfOpen, now: now,
            into: &actions)
    }

    /// Our IDr and AUTH as the responder (section 2.15): with the pre-shared key, or our certificate and a
    /// signature (IKEAuth+Certificate.swift).
    func responderAuthenticationPayloads(halfOpen: HalfOpenState) throws(IKEv2Failure) -> [IKEv2Payload] {
        let signed = halfOpen.initialMessages
        if configuration.authentication.usesCertificates {
            return try certificateAuthenticationPayloads(
                ofInitiator: false, crypto: halfOpen.protection.crypto, signed: signed)
        }
        let identity = Self.identification(configuration.localIdentity)
        let authData = authentication(ofInitiator: false, identity, crypto: halfOpen.protection.crypto, signed: signed)
        return [
            .identificationResponder(identity),
            .authentication(IKEv2AuthenticationPayload(method: .sharedKeyMessageIntegrityCode, data: authData)),
        ]
    }

    /// The initiator is authenticated: establish, answer with `reply` (our ID and AUTH) and the first CHILD SA
    /// that `childRequest` (the first IKE_AUTH request's payloads) asked for; a point-to-site client's address
    /// is leased to `clientIdentity` (IDi, the certificate's identity, or the EAP user).
    mutating func completeAuthRequest(
        _ message: IKEv2Message, childRequest inner: [IKEv2Payload], reply: [IKEv2Payload], clientIdentity: String,
        halfOpen: HalfOpenState, now: MonotonicTime, into actions: inout [IKEAction]
    ) {
        let signed = halfOpen.initialMessages
        var reply = reply
        var sa = IKEv2EstablishedSA(halfOpen, now: now)
        defer { state = .established(sa) }
        // Point-to-site: the client's virtual address first (IKEAuth+Configuration.swift); without one there
        // is no CHILD SA.
        var childRequest = configurationReply(inner, identity: clientIdentity, now: now, into: &actions)
            .map { reply += $0.map { [$0] } ?? [] }
        if case .success = childRequest {
            // The CHILD SA of IKE_AUTH: a failure here leaves the IKE SA up (section 1.2) and says why.
            childRequest = respondToChildRequest(
                inner, nonceInitiator: signed.nonceInitiator, nonceResponder: signed.nonceResponder, pfs: false,
                rekey: false, into: &sa, now: now, actions: &actions
            ).map { reply += $0 }
        }
        if case .failure(let failure) = childRequest {
            reply.append(.notify(IKEv2NotifyPayload(protocolID: .none, spi: [], notifyType: failure.notify, data: [])))
        }
        let response = header(.ikeAuth, messageID: message.messageID, response: true)
        guard let bytes = seal(response, reply, with: &sa.protection) else { return }
        sendResponse(bytes, messageID: message.messageID, into: &actions)
        announceEstablished(&sa, now: now, into: &actions)
        announceClient(now: now, into: &actions)
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

    /// Checks the peer's ID and AUTH payloads: the AUTH data verifies with our pre-shared key (or, with
    /// certificates, IKEAuth+Certificate.swift) and the ID is the one we expect.
    private func verifyPeer(
        _ inner: [IKEv2Payload], peerIsInitiator: Bool, crypto: IKEv2SACrypto, signed: IKEv2InitialMessages
    ) throws {
        let identity =
            try peerIsInitiator
            ? inner.required(\.identificationInitiator, "IDi") : inner.required(\.identificationResponder, "IDr")
        if configuration.authentication.usesCertificates {
            try verifyPeerCertificate(
                inner, identification: identity, peerIsInitiator: peerIsInitiator, crypto: crypto, signed: signed)
            return
        }
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
        // A point-to-site client may be anyone the shared key (or its credential) authenticates.
        if configuration.pointToSite != nil { return }
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
