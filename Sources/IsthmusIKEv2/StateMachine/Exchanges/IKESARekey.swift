import IsthmusCrypto
import IsthmusEvents
import IsthmusWire

/// Our IKE SA rekey in flight.
struct IKESARekeyRequest: Sendable {
    let newSPI: UInt64
    let nonce: [UInt8]
    let keyExchange: any DiffieHellmanExchange
}

/// Rekeying the IKE SA in place with CREATE_CHILD_SA (RFC 7296 sections 1.3.2 and 2.18): new SPIs,
/// nonces and a fresh DH exchange; the CHILD SAs move to the new IKE SA, and the old one is deleted
/// on its own channel (old SPIs, keys and message IDs). Both ends rekeying at once: section 2.8.2.
extension IKEv2StateMachine {
    // MARK: - Initiating

    /// Starts an IKE SA rekey; queued while another request is in flight.
    mutating func rekeyIKESA(sa: inout IKEv2EstablishedSA, now: MonotonicTime, into actions: inout [IKEAction]) {
        guard !window.isBusy else {
            enqueue(.rekeyIKESA)
            return
        }
        let suite = sa.protection.suite
        let newSPI = randomNonZeroSPI64()
        let nonce = randomBytes(Self.nonceLength)
        let exchange: any DiffieHellmanExchange
        do {
            exchange = try DiffieHellman.makeExchange(groupID: suite.keyExchange.ikev2ID, using: &random)
        } catch {
            emit(
                .invalidKE, .error,
                "cannot create a \(suite.keyExchange.displayName) key for the IKE SA rekey: "
                    + "\(error)", now: now, into: &actions)
            return
        }
        let inner: [IKEv2Payload] = [
            .securityAssociation(
                IKEv2ProposalCodec.saPayload(
                    for: configuration.ikeProposals, protocol: .ike, spi: newSPI.bigEndianBytes)),
            .nonce(IKEv2NoncePayload(nonce: nonce)),
            .keyExchange(
                IKEv2KeyExchangePayload(group: suite.keyExchange.ikev2ID, keyExchangeData: exchange.publicValue)),
        ]
        let message = header(.createChildSA, messageID: window.nextRequestID, response: false)
        guard let bytes = seal(message, inner, with: &sa.protection) else { return }
        let request = IKESARekeyRequest(newSPI: newSPI, nonce: nonce, keyExchange: exchange)
        sendRequest(bytes, .rekeyIKESA(request), now: now, into: &actions)
        emit(
            .ikeSARekeyed, .info, "rekeying the IKE SA (lifetime \(configuration.ikeLifetime.configText))",
            now: now, into: &actions)
    }

    /// The answer to our rekey, decrypted: switch to the new SA and delete the old one, or give up on
    /// rekeying and authenticate anew.
    mutating func handleIKESARekeyResponse(
        _ inner: [IKEv2Payload], request: IKESARekeyRequest, now: MonotonicTime, into actions: inout [IKEAction]
    ) {
        guard case .established(var sa) = state else {
            preconditionFailure("an IKE SA rekey is in flight only while established")
        }
        if inner.notifies.contains(where: { $0.notifyType == .temporaryFailure }) {
            // The peer is rekeying too and its rekey won (section 2.8.2): ours is dropped; retry later if
            // its rekey does not arrive.
            actions.append(.armTimer(.rekeyIKESA, at: now + .seconds(5)))
            return
        }
        if let error = inner.firstError {
            emit(
                .ikeSARekeyed, .warning,
                "peer refused the IKE SA rekey (notification \(error.notifyType.rawValue)); "
                    + "re-authenticating instead", now: now, into: &actions)
            terminate(restart: true, now: now, into: &actions)
            return
        }
        do {
            let proposal = try inner.required(\.securityAssociation, "SA")
            let nonce = try inner.required(\.nonce, "Nr")
            let ke = try inner.required(\.keyExchange, "KE")
            let accepted = try IKEv2ProposalCodec.acceptIKE(response: proposal, offered: configuration.ikeProposals)
                .get()
            guard accepted.peerSPI.count == IKEv2ProposalCodec.ikeRekeySPISize,
                ke.group == accepted.suite.keyExchange.ikev2ID, ke.group == request.keyExchange.groupID
            else { throw IKEv2Failure.missingPayload("SA with an 8-byte SPI and a KE of the chosen group") }
            let shared = try request.keyExchange.sharedSecret(peerPublicValue: ke.keyExchangeData)
            try switchToRekeyedIKESA(
                &sa, suite: accepted.suite, sharedSecret: shared, nonceInitiator: request.nonce,
                nonceResponder: nonce.nonce,
                spis: IKEv2SPIs(
                    initiator: request.newSPI, responder: UInt64(bigEndianBytes: accepted.peerSPI), role: .initiator),
                now: now, into: &actions)
        } catch {
            emit(
                .invalidSyntax, .error, "unusable IKE SA rekey response: \(error); re-authenticating instead",
                now: now, into: &actions)
            terminate(restart: true, now: now, into: &actions)
            return
        }
        // The rekey initiator deletes the old IKE SA (section 2.18).
        sendRetiredDelete(&sa, into: &actions)
        state = .established(sa)
    }

    // MARK: - Responding

    /// The peer's IKE SA rekey (its CREATE_CHILD_SA with an IKE proposal), decrypted.
    mutating func respondToIKERekey(
        _ message: IKEv2Message, inner: [IKEv2Payload], proposal: IKEv2SecurityAssociationPayload,
        sa: inout IKEv2EstablishedSA, now: MonotonicTime, into actions: inout [IKEAction]
    ) {
        guard let nonce = inner.lazy.compactMap(\.nonce).first, let ke = inner.lazy.compactMap(\.keyExchange).first
        else {
            respondWithError(.invalidSyntax, to: message, with: &sa.protection, into: &actions)
            return
        }
        if case .rekeyIKESA(let ours)? = window.inFlightExchange {
            // Simultaneous IKE SA rekey (section 2.8.2). Both sides compare the same two nonces, so they
            // agree: the rekey with the higher initiator nonce goes ahead, the other is withdrawn.
            if ours.nonce.lexicographicallyPrecedes(nonce.nonce) {
                emit(
                    .ikeSARekeyed, .notice, "simultaneous IKE SA rekey: the peer's wins, withdrawing ours",
                    now: now, into: &actions)
                completeRequest(into: &actions)
            } else {
                emit(
                    .ikeSARekeyed, .notice,
                    "simultaneous IKE SA rekey: ours wins, refusing the peer's with "
                        + "TEMPORARY_FAILURE", now: now, into: &actions)
                respondWithError(.temporaryFailure, to: message, with: &sa.protection, into: &actions)
                return
            }
        }
        let ourSPI = randomNonZeroSPI64()
        let selection: IKEv2Selection<NegotiatedIKESuite>
        switch IKEv2ProposalCodec.selectIKE(
            offered: proposal, ours: configuration.ikeProposals, localSPI: ourSPI.bigEndianBytes,
            peerKeyExchangeGroup: ke.group)
        {
        case .success(let selected): selection = selected
        case .failure(let failure):
            emit(
                .proposalMismatch, .error, "peer's IKE SA rekey: \(failure)", details: mismatchDetails(failure),
                now: now,
                into: &actions)
            respondWithError(.noProposalChosen, to: message, with: &sa.protection, into: &actions)
            return
        }
        guard selection.peerSPI.count == IKEv2ProposalCodec.ikeRekeySPISize else {
            respondWithError(.invalidSyntax, to: message, with: &sa.protection, into: &actions)
            return
        }
        guard ke.group == selection.suite.keyExchange.ikev2ID else {
            let group = selection.suite.keyExchange.ikev2ID
            respondWithError(
                .invalidKEPayload, data: [UInt8(group >> 8), UInt8(group & 0xff)], to: message,
                with: &sa.protection, into: &actions)
            return
        }
        do {
            let exchange = try DiffieHellman.makeExchange(groupID: ke.group, using: &random)
            let shared = try exchange.sharedSecret(peerPublicValue: ke.keyExchangeData)
            let ourNonce = randomBytes(Self.nonceLength)
            let reply: [IKEv2Payload] = [
                .securityAssociation(selection.reply),
                .nonce(IKEv2NoncePayload(nonce: ourNonce)),
                .keyExchange(IKEv2KeyExchangePayload(group: ke.group, keyExchangeData: exchange.publicValue)),
            ]
            let response = header(.createChildSA, messageID: message.messageID, response: true)
            guard let bytes = seal(response, reply, with: &sa.protection) else { return }
            sendResponse(bytes, messageID: message.messageID, into: &actions)
            try switchToRekeyedIKESA(
                &sa, suite: selection.suite, sharedSecret: shared, nonceInitiator: nonce.nonce,
                nonceResponder: ourNonce,
                spis: IKEv2SPIs(
                    initiator: UInt64(bigEndianBytes: selection.peerSPI), responder: ourSPI, role: .responder),
                now: now, into: &actions)
        } catch {
            emit(.invalidSyntax, .error, "peer's IKE SA rekey unusable: \(error)", now: now, into: &actions)
            respondWithError(.invalidSyntax, to: message, with: &sa.protection, into: &actions)
        }
    }

    // MARK: - Switching over

    /// Makes the new IKE SA current (its initiator is whoever initiated the rekey) and keeps the old
    /// one as `retired` until its DELETE is done. CHILD SAs carry over unchanged.
    private mutating func switchToRekeyedIKESA(
        _ sa: inout IKEv2EstablishedSA, suite: NegotiatedIKESuite, sharedSecret: SecretBytes,
        nonceInitiator: [UInt8], nonceResponder: [UInt8], spis newSPIs: IKEv2SPIs, now: MonotonicTime,
        into actions: inout [IKEAction]
    ) throws {
        let oldCrypto = sa.protection.crypto
        let skeyseed = IKEv2KeyDerivation.rekeyedSKEYSEED(
            prf: oldCrypto.prf, previousSKd: oldCrypto.keys.skD, sharedSecret: sharedSecret,
            nonceInitiator: nonceInitiator, nonceResponder: nonceResponder)
        let newPRF = try CryptoSuites.make(prfID: suite.prf.ikev2ID)
        let newCrypto = try IKEv2SACrypto(
            suite: suite, prf: newPRF, skeyseed: skeyseed, nonceInitiator: nonceInitiator,
            nonceResponder: nonceResponder, spiInitiator: newSPIs.initiator, spiResponder: newSPIs.responder,
            weAreInitiator: newSPIs.role == .initiator)
        sa.retired = IKEv2EstablishedSA.RetiredIKESA(
            spis: spis, protection: sa.protection, nextRequestID: window.nextRequestID)
        let oldIDs = saIDs
        spis = newSPIs
        sa.protection = IKEv2MessageProtection(
            suite: suite, crypto: newCrypto, peerSupportsFragmentation: sa.protection.peerSupportsFragmentation)
        // A request still in flight belongs to the old SA; the new SA's message IDs start at 0.
        completeRequest(into: &actions)
        window.reset()
        emit(.ikeSARekeyed, .info, "IKE SA rekeyed (was \(oldIDs.joined())), \(suite)", now: now, into: &actions)
        scheduleIKETimers(&sa, now: now, into: &actions)
    }

    // MARK: - The retired IKE SA

    /// Sends INFORMATIONAL DELETE for the retired IKE SA on its own channel, once (the peer may already
    /// have dropped it; nothing depends on the answer).
    private mutating func sendRetiredDelete(_ sa: inout IKEv2EstablishedSA, into actions: inout [IKEAction]) {
        guard var old = sa.retired else { return }
        let header = Self.header(.informational, spis: old.spis, messageID: old.nextRequestID, response: false)
        let delete = IKEv2Payload.delete(IKEv2DeletePayload(protocolID: .ike, spiSize: 0, spis: []))
        if let bytes = seal(header, [delete], with: &old.protection, fragmenting: false)?.first {
            send(bytes, into: &actions)
        }
        old.deleteMessageID = old.nextRequestID
        old.nextRequestID &+= 1
        sa.retired = old
    }

    /// Whether a message belongs to the retired IKE SA.
    func isForRetired(_ message: IKEv2Message) -> Bool {
        let retired: IKEv2EstablishedSA.RetiredIKESA?
        switch state {
        case .established(let sa): retired = sa.retired
        case .deleting(let deleting): retired = deleting.sa.retired
        case .idle, .connecting, .authenticating, .halfOpen, .closed: retired = nil
        }
        guard let retired else { return false }
        return message.initiatorSPI == retired.spis.initiator && message.responderSPI == retired.spis.responder
    }

    /// Handles a message for the retired IKE SA: answers its DELETE (or anything else) with an empty
    /// response and forgets it; responses to our DELETE just end it.
    mutating func handleRetired(
        _ message: IKEv2Message, datagram: IKEDatagram, now: MonotonicTime, into actions: inout [IKEAction]
    ) {
        switch state {
        case .established(var sa):
            handleRetired(message, datagram: datagram, retired: &sa.retired, now: now, into: &actions)
            state = .established(sa)
        case .deleting(var deleting):
            handleRetired(message, datagram: datagram, retired: &deleting.sa.retired, now: now, into: &actions)
            state = .deleting(deleting)
        case .idle, .connecting, .authenticating, .halfOpen, .closed:
            return
        }
    }

    private mutating func handleRetired(
        _ message: IKEv2Message, datagram: IKEDatagram, retired: inout IKEv2EstablishedSA.RetiredIKESA?,
        now: MonotonicTime, into actions: inout [IKEAction]
    ) {
        guard var old = retired else { return }
        guard (try? old.protection.crypto.open(datagram.bytes, message: message)) != nil else {
            drop("message for the rekeyed IKE SA failed integrity", now: now, into: &actions)
            return
        }
        if message.flags.contains(.response) {
            // Only the answer to our DELETE ends it; others (a withdrawn rekey) are ignored.
            guard message.messageID == old.deleteMessageID else { return }
        } else {
            let header = Self.header(message.exchangeType, spis: old.spis, messageID: message.messageID, response: true)
            if message.exchangeType == .createChildSA {
                // A rekey that crossed ours on the old SA: refuse it, ours replaced the SA already.
                let refusal = IKEv2Payload.notify(
                    IKEv2NotifyPayload(protocolID: .none, spi: [], notifyType: .temporaryFailure, data: []))
                if let bytes = seal(header, [refusal], with: &old.protection, fragmenting: false)?.first {
                    send(bytes, into: &actions)
                }
                retired = old
                return
            }
            if let bytes = seal(header, [], with: &old.protection, fragmenting: false)?.first {
                send(bytes, into: &actions)
            }
        }
        retired = nil
        emit(
            .ikeSADeleted, .info,
            "old IKE SA \(SAIdentifier.ike(old.spis.initiator))/"
                + "\(SAIdentifier.ike(old.spis.responder)) deleted after the rekey", now: now, into: &actions)
    }
}
