import IsthmusCrypto
import IsthmusEvents
import IsthmusIP
import IsthmusWire

/// IKE_SA_INIT and IKE_AUTH (RFC 7296 sections 1.2, 2.15, 2.23) for both roles, PSK only.
extension IKEv2StateMachine {
    // MARK: - Initiator: IKE_SA_INIT request

    mutating func startInitiator(now: MonotonicTime, into actions: inout [IKEAction]) {
        precondition(role == .initiator, "a responder session never initiates; the shell makes a new one")
        spiResponder = 0
        window.reset()
        local = configuration.local
        remote = configuration.remote
        guard let group = configuration.ikeProposals.proposals.first?.keyExchange.first else {
            preconditionFailure("an IKE proposal always has a DH group (ProposalList validation)")
        }
        sendInitRequest(group: group, now: now, into: &actions)
        emit(.ikeSAInitiating, .info, "initiating IKE_SA_INIT to \(remote), offering \(configuration.ikeProposals)",
            now: now, into: &actions)
    }

    /// Sends IKE_SA_INIT. A COOKIE retry repeats the same nonce and KE (the cookie covers Ni, section 2.6);
    /// a first attempt or an INVALID_KE retry makes new ones.
    private mutating func sendInitRequest(
        group: Algorithm, repeatingKeys: Bool = false, now: MonotonicTime, into actions: inout [IKEAction]
    ) {
        if !repeatingKeys || keyExchange == nil {
            nonceInitiator = randomBytes(Self.nonceLength)
            do {
                keyExchange = try DiffieHellman.makeExchange(groupID: group.ikev2ID, using: &random)
            } catch {
                emit(.invalidKE, .error, "cannot create a \(group.displayName) key: \(error)", now: now, into: &actions)
                close(into: &actions)
                return
            }
        }
        keyExchangeGroup = group
        var payloads: [IKEv2Payload] = []
        if let cookie {
            payloads.append(.notify(IKEv2NotifyPayload(protocolID: .none, spi: [], notifyType: .cookie, data: cookie)))
        }
        payloads += [
            .securityAssociation(offerIKE()),
            .keyExchange(IKEv2KeyExchangePayload(group: group.ikev2ID, keyExchangeData: keyExchange?.publicValue ?? [])),
            .nonce(IKEv2NoncePayload(nonce: nonceInitiator)),
        ]
        payloads += natDetectionPayloads()
        payloads.append(Self.fragmentationSupported)
        // A COOKIE or INVALID_KE retry is a new IKE_SA_INIT, message ID 0 again (section 2.6).
        window.reset()
        var message = header(.ikeSAInit, messageID: window.nextRequestID, response: false)
        message.payloads = payloads
        initRequestBytes = message.serialize()
        phase = .initSent
        sendRequest([initRequestBytes], purpose: .ikeSAInit, now: now, into: &actions)
    }

    /// NAT_DETECTION_SOURCE_IP and _DESTINATION_IP for the current endpoints (section 2.23). With
    /// `forceUDPEncapsulation` the source hash is deliberately wrong so the peer floats to 4500 too.
    private func natDetectionPayloads() -> [IKEv2Payload] {
        var sourceHash = NATDetection.hash(spiInitiator: spiInitiator, spiResponder: spiResponder, endpoint: local)
        if configuration.forceUDPEncapsulation { sourceHash = sourceHash.map { ~$0 } }
        let destinationHash = NATDetection.hash(spiInitiator: spiInitiator, spiResponder: spiResponder, endpoint: remote)
        return [
            .notify(IKEv2NotifyPayload(protocolID: .none, spi: [], notifyType: .natDetectionSourceIP, data: sourceHash)),
            .notify(IKEv2NotifyPayload(
                protocolID: .none, spi: [], notifyType: .natDetectionDestinationIP, data: destinationHash)),
        ]
    }

    /// Compares the peer's NAT-D hashes with what we see (section 2.23).
    private mutating func detectNAT(
        _ payloads: [IKEv2Payload], datagram: IKEDatagram, now: MonotonicTime, into actions: inout [IKEAction]
    ) {
        let notifies = payloads.notifies
        let sources = notifies.filter { $0.notifyType == .natDetectionSourceIP }.map(\.data)
        let destinations = notifies.filter { $0.notifyType == .natDetectionDestinationIP }.map(\.data)
        guard !sources.isEmpty, !destinations.isEmpty else { return }
        // The hashes cover the SPIs as they appear in that message's header (zero SPIr in a request).
        let header = (try? IKEv2Header.parse(datagram.bytes[...])).map { ($0.initiatorSPI, $0.responderSPI) }
            ?? (spiInitiator, spiResponder)
        let seenSource = NATDetection.hash(spiInitiator: header.0, spiResponder: header.1, endpoint: datagram.source)
        let seenDestination = NATDetection.hash(
            spiInitiator: header.0, spiResponder: header.1, endpoint: datagram.destination)
        nat = NATDetectionResult(
            local: !destinations.contains(seenDestination), remote: !sources.contains(seenSource))
        if nat.found {
            emit(.natDetected, .notice, "\(nat.summary): IKE and ESP move to UDP 4500 (RFC 3948)",
                details: ["local": "\(nat.local)", "remote": "\(nat.remote)"], now: now, into: &actions)
        }
    }

    /// N(IKEV2_FRAGMENTATION_SUPPORTED): we reassemble and send fragments (RFC 7383 section 2.3).
    static let fragmentationSupported = IKEv2Payload.notify(
        IKEv2NotifyPayload(protocolID: .none, spi: [], notifyType: .ikev2FragmentationSupported, data: []))

    /// Whether IKE and ESP use port 4500 and UDP encapsulation from IKE_AUTH on.
    var usesUDPEncapsulation: Bool { nat.found || configuration.forceUDPEncapsulation }

    // MARK: - Initiator: IKE_SA_INIT response

    mutating func handleInitResponse(
        _ message: IKEv2Message, datagram: IKEDatagram, now: MonotonicTime, into actions: inout [IKEAction]
    ) {
        let notifies = message.payloads.notifies
        if let cookieNotify = notifies.first(where: { $0.notifyType == .cookie }) {
            // Section 2.6: repeat IKE_SA_INIT with the cookie first.
            completeRequest(into: &actions)
            cookie = cookieNotify.data
            emit(.cookieRequested, .notice, "responder asked for a cookie (it is under load); retrying with it",
                now: now, into: &actions)
            if let group = keyExchangeGroup {
                sendInitRequest(group: group, repeatingKeys: true, now: now, into: &actions)
            }
            return
        }
        if let invalidKE = notifies.first(where: { $0.notifyType == .invalidKEPayload }) {
            completeRequest(into: &actions)
            let wanted = invalidKE.data.count == 2 ? UInt16(invalidKE.data[0]) << 8 | UInt16(invalidKE.data[1]) : 0
            let offered = configuration.ikeProposals.proposals.flatMap(\.keyExchange)
            guard let group = offered.first(where: { $0.ikev2ID == wanted }), wanted != keyExchangeGroup?.ikev2ID
            else {
                emit(.invalidKE, .error, "responder wants DH group \(wanted), which we did not offer "
                    + "(we offer \(offered.map(\.keyword).joined(separator: ", "))): add it to 'ike'",
                    now: now, into: &actions)
                close(into: &actions)
                return
            }
            emit(.invalidKE, .notice, "responder prefers \(group.displayName); retrying with it",
                details: ["group": "\(wanted)"], now: now, into: &actions)
            sendInitRequest(group: group, now: now, into: &actions)
            return
        }
        if let error = notifies.first(where: { $0.notifyType.rawValue < IKEv2NotifyType.firstStatusType }) {
            completeRequest(into: &actions)
            reportPeerError(error.notifyType, in: "IKE_SA_INIT", now: now, into: &actions)
            close(into: &actions)
            return
        }
        do {
            guard message.responderSPI != 0 else { throw IKEv2Failure.missingPayload("responder SPI") }
            let sa = try message.payloads.required(\.securityAssociation, "SA")
            let ke = try message.payloads.required(\.keyExchange, "KE")
            let nonce = try message.payloads.required(\.nonce, "Nr")
            let suite: NegotiatedIKESuite
            switch acceptIKE(sa) {
            case .success(let accepted): suite = accepted
            case .failure(let failure):
                emit(.proposalMismatch, .error, "responder chose a proposal we did not offer: \(failure)",
                    now: now, into: &actions)
                completeRequest(into: &actions)
                close(into: &actions)
                return
            }
            guard ke.group == suite.keyExchange.ikev2ID, ke.group == keyExchangeGroup?.ikev2ID,
                let exchange = keyExchange
            else { throw IKEv2Failure.missingPayload("KE for the chosen group") }
            let shared = try exchange.sharedSecret(peerPublicValue: ke.keyExchangeData)
            spiResponder = message.responderSPI
            nonceResponder = nonce.nonce
            crypto = try IKEv2SACrypto(
                suite: suite, sharedSecret: shared, nonceInitiator: nonceInitiator, nonceResponder: nonceResponder,
                spiInitiator: spiInitiator, spiResponder: spiResponder, weAreInitiator: true)
            ikeSuite = suite
            keyExchange = nil
            initResponseBytes = datagram.bytes
            peerSupportsFragmentation = notifies.contains { $0.notifyType == .ikev2FragmentationSupported }
            completeRequest(into: &actions)
            detectNAT(message.payloads, datagram: datagram, now: now, into: &actions)
            if usesUDPEncapsulation {
                local.port = 4500
                remote.port = 4500
            }
            sendAuthRequest(now: now, into: &actions)
        } catch {
            completeRequest(into: &actions)
            emit(.invalidSyntax, .error, "unusable IKE_SA_INIT response: \(error)", now: now, into: &actions)
            close(into: &actions)
        }
    }

    // MARK: - Initiator: IKE_AUTH request

    private mutating func sendAuthRequest(now: MonotonicTime, into actions: inout [IKEAction]) {
        guard let crypto else { return }
        let identity = Self.identification(configuration.localIdentity)
        let authData = crypto.authentication(
            sharedKey: configuration.sharedKey, ofInitiator: true, realMessage: initRequestBytes,
            peerNonce: nonceResponder, identification: identity)
        pendingChildSPI = randomNonZeroSPI32()
        var inner: [IKEv2Payload] = [
            .identificationInitiator(identity),
            .identificationResponder(Self.identification(configuration.remoteIdentity)),
            .authentication(IKEv2AuthenticationPayload(method: .sharedKeyMessageIntegrityCode, data: authData)),
        ]
        if configuration.sendInitialContact {
            inner.append(.notify(IKEv2NotifyPayload(protocolID: .none, spi: [], notifyType: .initialContact, data: [])))
        }
        inner.append(.securityAssociation(offerChild(spi: pendingChildSPI, pfs: false)))
        inner += trafficSelectorPayloads(initiator: configuration.localSelectors, responder: configuration.remoteSelectors)
        guard let bytes = seal(header(.ikeAuth, messageID: window.nextRequestID, response: false), inner) else {
            return
        }
        phase = .authSent
        sendRequest(bytes, purpose: .ikeAuth, now: now, into: &actions)
    }

    // MARK: - Initiator: IKE_AUTH response

    mutating func handleAuthResponse(
        _ message: IKEv2Message, datagram: IKEDatagram, now: MonotonicTime, into actions: inout [IKEAction]
    ) {
        guard let crypto else { return }
        let inner: [IKEv2Payload]
        do {
            inner = try openInner(message, datagram, crypto)
        } catch {
            drop("IKE_AUTH response failed integrity or decryption: \(error)", now: now, into: &actions)
            return
        }
        completeRequest(into: &actions)
        let childError = inner.notifies.first { $0.notifyType.rawValue < IKEv2NotifyType.firstStatusType }
        // Without AUTH the IKE SA failed (e.g. AUTHENTICATION_FAILED); with it, an error concerns the
        // CHILD SA only and the IKE SA is up (section 1.2).
        if let error = childError, inner.lazy.compactMap(\.authentication).first == nil {
            reportPeerError(error.notifyType, in: "IKE_AUTH", now: now, into: &actions)
            close(into: &actions)
            return
        }
        do {
            let identity = try inner.required(\.identificationResponder, "IDr")
            let auth = try inner.required(\.authentication, "AUTH")
            let expected = crypto.authentication(
                sharedKey: configuration.sharedKey, ofInitiator: false, realMessage: initResponseBytes,
                peerNonce: nonceInitiator, identification: identity)
            guard auth.method == .sharedKeyMessageIntegrityCode, ConstantTime.equal(auth.data, expected) else {
                throw IKEv2Failure.authenticationFailed
            }
            try checkIdentity(identity)
        } catch {
            reportLocalFailure(error, in: "IKE_AUTH response", now: now, into: &actions)
            close(into: &actions)
            return
        }
        phase = .established
        establishedAt = now
        emit(.ikeSAEstablished, .info, "IKE SA established with \(remote) using \(ikeSuite?.description ?? "?")"
            + (usesUDPEncapsulation ? ", UDP-encapsulated" : ""), now: now, into: &actions)
        scheduleIKETimers(now: now, into: &actions)
        // The CHILD SA of IKE_AUTH.
        if let error = childError {
            reportPeerError(error.notifyType, in: "IKE_AUTH (CHILD SA)", now: now, into: &actions)
            return
        }
        do {
            let sa = try inner.required(\.securityAssociation, "SA")
            let tsi = try inner.required(\.trafficSelectorInitiator, "TSi")
            let tsr = try inner.required(\.trafficSelectorResponder, "TSr")
            try installInitiatedChild(
                sa: sa, tsi: tsi, tsr: tsr, ourSPI: pendingChildSPI, nonceInitiator: nonceInitiator,
                nonceResponder: nonceResponder, keyExchange: nil, peerKE: nil, now: now, into: &actions)
        } catch {
            emit(.trafficSelectorMismatch, .error, "IKE SA is up but its CHILD SA failed: \(error)", now: now,
                into: &actions)
        }
    }

    // MARK: - Responder: IKE_SA_INIT

    mutating func handleInitRequest(
        _ message: IKEv2Message, datagram: IKEDatagram, now: MonotonicTime, into actions: inout [IKEAction]
    ) {
        guard role == .responder else {
            drop("IKE_SA_INIT request sent to an initiator's SA", now: now, into: &actions)
            return
        }
        do {
            let sa = try message.payloads.required(\.securityAssociation, "SA")
            let ke = try message.payloads.required(\.keyExchange, "KE")
            let nonce = try message.payloads.required(\.nonce, "Ni")
            guard (16...256).contains(nonce.nonce.count) else { throw IKEv2Failure.missingPayload("Ni of 16-256 bytes") }
            spiInitiator = message.initiatorSPI
            local = datagram.destination
            remote = datagram.source
            let suite: NegotiatedIKESuite
            let reply: IKEv2SecurityAssociationPayload
            switch selectIKE(sa, peerGroup: ke.group) {
            case .success(let selection): (suite, reply) = selection
            case .failure(let failure):
                emit(.proposalMismatch, .error, "no common IKE proposal: \(failure)", now: now, into: &actions)
                respondWithError(.noProposalChosen, to: message, encrypted: false, into: &actions)
                close(into: &actions)
                return
            }
            guard ke.group == suite.keyExchange.ikev2ID else {
                // Section 1.3: tell the initiator which group to use; keep no state.
                emit(.invalidKE, .notice, "initiator sent a DH group \(ke.group) key; asking for \(suite.keyExchange.displayName)",
                    now: now, into: &actions)
                let group = suite.keyExchange.ikev2ID
                respondWithError(.invalidKEPayload, data: [UInt8(group >> 8), UInt8(group & 0xff)], to: message,
                    encrypted: false, into: &actions)
                close(into: &actions)
                return
            }
            let exchange = try DiffieHellman.makeExchange(groupID: suite.keyExchange.ikev2ID, using: &random)
            let shared = try exchange.sharedSecret(peerPublicValue: ke.keyExchangeData)
            nonceInitiator = nonce.nonce
            nonceResponder = randomBytes(Self.nonceLength)
            crypto = try IKEv2SACrypto(
                suite: suite, sharedSecret: shared, nonceInitiator: nonceInitiator, nonceResponder: nonceResponder,
                spiInitiator: spiInitiator, spiResponder: spiResponder, weAreInitiator: false)
            ikeSuite = suite
            initRequestBytes = datagram.bytes
            detectNAT(message.payloads, datagram: datagram, now: now, into: &actions)
            var response = header(.ikeSAInit, messageID: 0, response: true)
            response.payloads = [
                .securityAssociation(reply),
                .keyExchange(IKEv2KeyExchangePayload(group: suite.keyExchange.ikev2ID, keyExchangeData: exchange.publicValue)),
                .nonce(IKEv2NoncePayload(nonce: nonceResponder)),
            ] + natDetectionPayloads()
            peerSupportsFragmentation = message.payloads.notifies.contains {
                $0.notifyType == .ikev2FragmentationSupported
            }
            if peerSupportsFragmentation { response.payloads.append(Self.fragmentationSupported) }
            initResponseBytes = response.serialize()
            phase = .initReplied
            sendResponse([initResponseBytes], messageID: 0, into: &actions)
            actions.append(.armTimer(.abandon, at: now + Self.halfOpenTimeout))
        } catch {
            emit(.invalidSyntax, .error, "unusable IKE_SA_INIT request: \(error)", now: now, into: &actions)
            respondWithError(.invalidSyntax, to: message, encrypted: false, into: &actions)
            close(into: &actions)
        }
    }

    // MARK: - Responder: IKE_AUTH

    mutating func handleAuthRequest(
        _ message: IKEv2Message, datagram: IKEDatagram, now: MonotonicTime, into actions: inout [IKEAction]
    ) {
        guard let crypto else { return }
        let inner: [IKEv2Payload]
        do {
            inner = try openInner(message, datagram, crypto)
        } catch {
            // Section 2.21.2: an undecryptable IKE_AUTH is dropped silently (it may be forged).
            drop("IKE_AUTH request failed integrity or decryption: \(error)", now: now, into: &actions)
            return
        }
        // The initiator may have floated to 4500 (NAT-T): answer where it came from.
        local = datagram.destination
        remote = datagram.source
        actions.append(.cancelTimer(.abandon))
        do {
            let identity = try inner.required(\.identificationInitiator, "IDi")
            let auth = try inner.required(\.authentication, "AUTH")
            let expected = crypto.authentication(
                sharedKey: configuration.sharedKey, ofInitiator: true, realMessage: initRequestBytes,
                peerNonce: nonceResponder, identification: identity)
            guard auth.method == .sharedKeyMessageIntegrityCode, ConstantTime.equal(auth.data, expected) else {
                throw IKEv2Failure.authenticationFailed
            }
            try checkIdentity(identity)
        } catch {
            reportLocalFailure(error, in: "IKE_AUTH request", now: now, into: &actions)
            respondWithError((error as? IKEv2Failure)?.notifyType ?? .authenticationFailed, to: message,
                encrypted: true, into: &actions)
            close(into: &actions)
            return
        }
        let identity = Self.identification(configuration.localIdentity)
        let authData = crypto.authentication(
            sharedKey: configuration.sharedKey, ofInitiator: false, realMessage: initResponseBytes,
            peerNonce: nonceInitiator, identification: identity)
        var reply: [IKEv2Payload] = [
            .identificationResponder(identity),
            .authentication(IKEv2AuthenticationPayload(method: .sharedKeyMessageIntegrityCode, data: authData)),
        ]
        phase = .established
        establishedAt = now
        // The CHILD SA of IKE_AUTH: a failure here leaves the IKE SA up (section 1.2) and says why.
        switch respondToChildRequest(inner, nonceInitiator: nonceInitiator, nonceResponder: nonceResponder,
            pfs: false, now: now, into: &actions)
        {
        case .success(let childPayloads): reply += childPayloads
        case .failure(let failure):
            reply.append(.notify(IKEv2NotifyPayload(protocolID: .none, spi: [], notifyType: failure.notify, data: [])))
        }
        guard let bytes = seal(header(.ikeAuth, messageID: message.messageID, response: true), reply) else { return }
        sendResponse(bytes, messageID: message.messageID, into: &actions)
        emit(.ikeSAEstablished, .info, "IKE SA established with \(remote) using \(ikeSuite?.description ?? "?")"
            + (usesUDPEncapsulation ? ", UDP-encapsulated" : ""), now: now, into: &actions)
        scheduleIKETimers(now: now, into: &actions)
    }

    // MARK: - Shared pieces

    static func identification(_ address: IPAddress) -> IKEv2IdentificationPayload {
        IKEv2IdentificationPayload(idType: address.family == .v4 ? .ipv4Address : .ipv6Address, data: address.bytes)
    }

    private func checkIdentity(_ identity: IKEv2IdentificationPayload) throws {
        let expected = Self.identification(configuration.remoteIdentity)
        guard identity == expected else {
            throw IKEv2Failure.unexpectedIdentity(describe(identity))
        }
    }

    private func describe(_ identity: IKEv2IdentificationPayload) -> String {
        switch identity.idType {
        case .ipv4Address, .ipv6Address:
            IPAddress(bytes: identity.data).map { "\($0)" } ?? "malformed address"
        case .fqdn, .rfc822Address:
            String(decoding: identity.data, as: UTF8.self)
        default:
            "ID type \(identity.idType.rawValue)"
        }
    }

    /// Sends a response that carries only an error notification.
    mutating func respondWithError(
        _ type: IKEv2NotifyType, data: [UInt8] = [], to request: IKEv2Message, encrypted: Bool,
        into actions: inout [IKEAction]
    ) {
        let notify = IKEv2Payload.notify(IKEv2NotifyPayload(protocolID: .none, spi: [], notifyType: type, data: data))
        var response = header(request.exchangeType, messageID: request.messageID, response: true)
        if !encrypted || crypto == nil {
            // Unprotected answers (IKE_SA_INIT errors) keep no state (section 2.6): not cached.
            response.payloads = [notify]
            send(response.serialize(), into: &actions)
        } else if let bytes = seal(response, [notify]) {
            sendResponse(bytes, messageID: request.messageID, into: &actions)
        }
    }

    /// Logs an error notification the peer sent, with what it most likely means.
    func reportPeerError(
        _ type: IKEv2NotifyType, in exchange: String, now: MonotonicTime, into actions: inout [IKEAction]
    ) {
        switch type {
        case .noProposalChosen:
            emit(.proposalMismatch, .error, "peer answered \(exchange) with NO_PROPOSAL_CHOSEN: it accepts none of "
                + "\(exchange == "IKE_SA_INIT" ? configuration.ikeProposals : configuration.espProposals); "
                + "ask for the peer's proposals and add one to 'ike'/'esp'", now: now, into: &actions)
        case .authenticationFailed:
            emit(.authenticationFailed, .error, "peer answered \(exchange) with AUTHENTICATION_FAILED: the shared "
                + "keys differ (the usual cause) or the peer expects another identity than "
                + "\(configuration.localIdentity)", now: now, into: &actions)
        case .tsUnacceptable:
            emit(.trafficSelectorMismatch, .error, "peer answered \(exchange) with TS_UNACCEPTABLE: we proposed local "
                + "\(describeSelectors(configuration.localSelectors)) and remote "
                + "\(describeSelectors(configuration.remoteSelectors)); the peer's subnets differ", now: now,
                into: &actions)
        case .invalidSyntax:
            emit(.invalidSyntax, .error, "peer answered \(exchange) with INVALID_SYNTAX", now: now, into: &actions)
        default:
            emit(.messageDropped, .error, "peer answered \(exchange) with error notification \(type.rawValue)",
                now: now, into: &actions)
        }
    }

    /// Logs a failure we detected in a peer's message.
    func reportLocalFailure(_ error: any Error, in what: String, now: MonotonicTime, into actions: inout [IKEAction]) {
        switch error as? IKEv2Failure {
        case .authenticationFailed?:
            emit(.authenticationFailed, .error, "\(what) from \(remote): AUTH does not verify; the shared keys of the "
                + "two sides differ", now: now, into: &actions)
        case .unexpectedIdentity(let seen)?:
            emit(.authenticationFailed, .error, "\(what) from \(remote): peer identity is \(seen), expected "
                + "\(configuration.remoteIdentity)", now: now, into: &actions)
        default:
            emit(.invalidSyntax, .error, "\(what) from \(remote) unusable: \(error)", now: now, into: &actions)
        }
    }

    mutating func scheduleIKETimers(now: MonotonicTime, into actions: inout [IKEAction]) {
        if nat.local { actions.append(.armTimer(.natKeepalive, at: now + Self.natKeepaliveInterval)) }
        if let liveness = configuration.liveness {
            actions.append(.armTimer(.liveness, at: now + liveness.interval))
        }
        let rekey = rekeyTime(lifetime: configuration.ikeLifetime, from: now)
        ikeRekeyAt = rekey
        actions.append(.armTimer(.rekeyIKESA, at: rekey))
    }
}

extension [IKEv2Payload] {
    var notifies: [IKEv2NotifyPayload] {
        compactMap { if case .notify(let notify) = $0 { notify } else { nil } }
    }

    func required<T>(_ pick: (IKEv2Payload) -> T?, _ name: String) throws -> T {
        guard let value = lazy.compactMap(pick).first else { throw IKEv2Failure.missingPayload(name) }
        return value
    }
}

extension IKEv2Payload {
    var securityAssociation: IKEv2SecurityAssociationPayload? {
        if case .securityAssociation(let value) = self { value } else { nil }
    }
    var keyExchange: IKEv2KeyExchangePayload? { if case .keyExchange(let value) = self { value } else { nil } }
    var nonce: IKEv2NoncePayload? { if case .nonce(let value) = self { value } else { nil } }
    var identificationInitiator: IKEv2IdentificationPayload? {
        if case .identificationInitiator(let value) = self { value } else { nil }
    }
    var identificationResponder: IKEv2IdentificationPayload? {
        if case .identificationResponder(let value) = self { value } else { nil }
    }
    var authentication: IKEv2AuthenticationPayload? {
        if case .authentication(let value) = self { value } else { nil }
    }
    var trafficSelectorInitiator: IKEv2TrafficSelectorPayload? {
        if case .trafficSelectorInitiator(let value) = self { value } else { nil }
    }
    var trafficSelectorResponder: IKEv2TrafficSelectorPayload? {
        if case .trafficSelectorResponder(let value) = self { value } else { nil }
    }
    var delete: IKEv2DeletePayload? { if case .delete(let value) = self { value } else { nil } }
}
