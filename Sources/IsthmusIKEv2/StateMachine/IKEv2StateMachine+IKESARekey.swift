import IsthmusCrypto
import IsthmusEvents
import IsthmusWire

/// Rekeying the IKE SA in place with CREATE_CHILD_SA (RFC 7296 sections 1.3.2 and 2.18): new SPIs,
/// nonces and a fresh DH exchange; the CHILD SAs move to the new IKE SA, and the old one is deleted
/// on its own channel (old SPIs, keys and message IDs).
extension IKEv2StateMachine {
    /// The IKE SA being replaced, kept only to send or answer its DELETE.
    struct RetiredIKESA {
        var spiInitiator: UInt64
        var spiResponder: UInt64
        var role: Role
        var crypto: IKEv2SACrypto
        var isAEAD: Bool
        var nextRequestID: UInt32
        var expectedPeerRequestID: UInt32
        /// The message ID of our DELETE on this SA, once sent: its answer ends the SA.
        var deleteMessageID: UInt32?
    }

    /// An IKE SA rekey we initiated and await the answer to.
    struct PendingIKERekey {
        var newSPI: UInt64
        var nonce: [UInt8]
        var exchange: any DiffieHellmanExchange
    }

    // MARK: - Initiating

    mutating func rekeyIKESA(now: MonotonicTime, into actions: inout [IKEAction]) {
        guard phase == .established, let suite = ikeSuite else { return }
        guard !window.isBusy, pendingRekey == nil else {
            actions.append(.armTimer(.rekeyIKESA, at: now + .seconds(1)))
            return
        }
        let newSPI = randomNonZeroSPI64()
        let nonce = randomBytes(Self.nonceLength)
        let exchange: any DiffieHellmanExchange
        do {
            exchange = try DiffieHellman.makeExchange(groupID: suite.keyExchange.ikev2ID, using: &random)
        } catch {
            emit(.invalidKE, .error, "cannot create a \(suite.keyExchange.displayName) key for the IKE SA rekey: "
                + "\(error)", now: now, into: &actions)
            return
        }
        pendingIKERekey = PendingIKERekey(newSPI: newSPI, nonce: nonce, exchange: exchange)
        let inner: [IKEv2Payload] = [
            .securityAssociation(
                IKEv2ProposalCodec.saPayload(for: configuration.ikeProposals, protocol: .ike, spi: newSPI.bigEndianBytes)),
            .nonce(IKEv2NoncePayload(nonce: nonce)),
            .keyExchange(IKEv2KeyExchangePayload(group: suite.keyExchange.ikev2ID, keyExchangeData: exchange.publicValue)),
        ]
        guard let bytes = seal(header(.createChildSA, messageID: window.nextRequestID, response: false), inner) else {
            return
        }
        sendRequest(bytes, purpose: .rekeyIKESA, now: now, into: &actions)
        emit(.ikeSARekeyed, .info, "rekeying the IKE SA (lifetime \(configuration.ikeLifetime.configText))",
            now: now, into: &actions)
    }

    mutating func handleIKERekeyResponse(
        _ message: IKEv2Message, datagram: IKEDatagram, now: MonotonicTime, into actions: inout [IKEAction]
    ) {
        guard let crypto, let pending = pendingIKERekey else { return }
        let inner: [IKEv2Payload]
        do {
            inner = try openInner(message, datagram, crypto)
        } catch {
            drop("CREATE_CHILD_SA (IKE rekey) response failed integrity: \(error)", now: now, into: &actions)
            return
        }
        completeRequest(into: &actions)
        pendingIKERekey = nil
        if inner.notifies.contains(where: { $0.notifyType == .temporaryFailure }) {
            // The peer is rekeying too and its rekey won (section 2.8.2): ours is dropped; retry later if
            // its rekey does not arrive.
            actions.append(.armTimer(.rekeyIKESA, at: now + .seconds(5)))
            return
        }
        if let error = inner.notifies.first(where: { $0.notifyType.rawValue < IKEv2NotifyType.firstStatusType }) {
            emit(.ikeSARekeyed, .warning, "peer refused the IKE SA rekey (notification \(error.notifyType.rawValue)); "
                + "re-authenticating instead", now: now, into: &actions)
            restartAfterClose = true
            terminate(now: now, into: &actions)
            return
        }
        do {
            let sa = try inner.required(\.securityAssociation, "SA")
            let nonce = try inner.required(\.nonce, "Nr")
            let ke = try inner.required(\.keyExchange, "KE")
            let accepted = try IKEv2ProposalCodec.acceptIKE(response: sa, offered: configuration.ikeProposals).get()
            guard accepted.peerSPI.count == IKEv2ProposalCodec.ikeRekeySPISize,
                ke.group == accepted.suite.keyExchange.ikev2ID, ke.group == pending.exchange.groupID
            else { throw IKEv2Failure.missingPayload("SA with an 8-byte SPI and a KE of the chosen group") }
            let shared = try pending.exchange.sharedSecret(peerPublicValue: ke.keyExchangeData)
            try switchToRekeyedIKESA(
                suite: accepted.suite, sharedSecret: shared, nonceInitiator: pending.nonce, nonceResponder: nonce.nonce,
                spiInitiator: pending.newSPI, spiResponder: UInt64(bigEndianBytes: accepted.peerSPI),
                weInitiated: true, now: now, into: &actions)
        } catch {
            emit(.invalidSyntax, .error, "unusable IKE SA rekey response: \(error); re-authenticating instead",
                now: now, into: &actions)
            restartAfterClose = true
            terminate(now: now, into: &actions)
            return
        }
        // The rekey initiator deletes the old IKE SA (section 2.18).
        sendRetiredDelete(now: now, into: &actions)
    }

    // MARK: - Responding

    mutating func respondToIKERekey(
        _ message: IKEv2Message, inner: [IKEv2Payload], sa: IKEv2SecurityAssociationPayload, now: MonotonicTime,
        into actions: inout [IKEAction]
    ) {
        guard let nonce = inner.lazy.compactMap(\.nonce).first, let ke = inner.lazy.compactMap(\.keyExchange).first else {
            respondWithError(.invalidSyntax, to: message, encrypted: true, into: &actions)
            return
        }
        if let ours = pendingIKERekey {
            // Simultaneous IKE SA rekey (section 2.8.2). Both sides compare the same two nonces, so they
            // agree: the rekey with the higher initiator nonce goes ahead, the other is withdrawn.
            if ours.nonce.lexicographicallyPrecedes(nonce.nonce) {
                emit(.ikeSARekeyed, .notice, "simultaneous IKE SA rekey: the peer's wins, withdrawing ours",
                    now: now, into: &actions)
                completeRequest(into: &actions)
                pendingIKERekey = nil
            } else {
                emit(.ikeSARekeyed, .notice, "simultaneous IKE SA rekey: ours wins, refusing the peer's with "
                    + "TEMPORARY_FAILURE", now: now, into: &actions)
                respondWithError(.temporaryFailure, to: message, encrypted: true, into: &actions)
                return
            }
        }
        let ourSPI = randomNonZeroSPI64()
        let selection: IKEv2Selection<NegotiatedIKESuite>
        switch IKEv2ProposalCodec.selectIKE(
            offered: sa, ours: configuration.ikeProposals, localSPI: ourSPI.bigEndianBytes, peerKeyExchangeGroup: ke.group)
        {
        case .success(let selected): selection = selected
        case .failure(let failure):
            emit(.proposalMismatch, .error, "peer's IKE SA rekey: \(failure)", now: now, into: &actions)
            respondWithError(.noProposalChosen, to: message, encrypted: true, into: &actions)
            return
        }
        guard selection.peerSPI.count == IKEv2ProposalCodec.ikeRekeySPISize else {
            respondWithError(.invalidSyntax, to: message, encrypted: true, into: &actions)
            return
        }
        guard ke.group == selection.suite.keyExchange.ikev2ID else {
            let group = selection.suite.keyExchange.ikev2ID
            respondWithError(.invalidKEPayload, data: [UInt8(group >> 8), UInt8(group & 0xff)], to: message,
                encrypted: true, into: &actions)
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
            guard let bytes = seal(header(.createChildSA, messageID: message.messageID, response: true), reply) else {
                return
            }
            sendResponse(bytes, messageID: message.messageID, into: &actions)
            try switchToRekeyedIKESA(
                suite: selection.suite, sharedSecret: shared, nonceInitiator: nonce.nonce, nonceResponder: ourNonce,
                spiInitiator: UInt64(bigEndianBytes: selection.peerSPI), spiResponder: ourSPI, weInitiated: false,
                now: now, into: &actions)
        } catch {
            emit(.invalidSyntax, .error, "peer's IKE SA rekey unusable: \(error)", now: now, into: &actions)
            respondWithError(.invalidSyntax, to: message, encrypted: true, into: &actions)
        }
    }

    // MARK: - Switching over

    /// Makes the new IKE SA current (its initiator is whoever initiated the rekey) and keeps the old
    /// one as `retired` until its DELETE is done. CHILD SAs carry over unchanged.
    private mutating func switchToRekeyedIKESA(
        suite: NegotiatedIKESuite, sharedSecret: SecretBytes, nonceInitiator: [UInt8], nonceResponder: [UInt8],
        spiInitiator newSPIi: UInt64, spiResponder newSPIr: UInt64, weInitiated: Bool, now: MonotonicTime,
        into actions: inout [IKEAction]
    ) throws {
        guard let oldCrypto = crypto else { return }
        let skeyseed = IKEv2KeyDerivation.rekeyedSKEYSEED(
            prf: oldCrypto.prf, previousSKd: oldCrypto.keys.skD, sharedSecret: sharedSecret,
            nonceInitiator: nonceInitiator, nonceResponder: nonceResponder)
        let newPRF = try CryptoSuites.make(prfID: suite.prf.ikev2ID)
        let newCrypto = try IKEv2SACrypto(
            suite: suite, prf: newPRF, skeyseed: skeyseed, nonceInitiator: nonceInitiator,
            nonceResponder: nonceResponder, spiInitiator: newSPIi, spiResponder: newSPIr, weAreInitiator: weInitiated)
        retired = RetiredIKESA(
            spiInitiator: spiInitiator, spiResponder: spiResponder, role: role, crypto: oldCrypto,
            isAEAD: ikeSuite?.encryption.isAEAD ?? false, nextRequestID: window.nextRequestID,
            expectedPeerRequestID: window.expectedPeerRequestID)
        let oldIDs = saIDs
        spiInitiator = newSPIi
        spiResponder = newSPIr
        role = weInitiated ? .initiator : .responder
        crypto = newCrypto
        ikeSuite = suite
        // A request still in flight belongs to the old SA; the new SA's message IDs start at 0 (2.18).
        completeRequest(into: &actions)
        window.reset()
        ivCounter = 0
        emit(.ikeSARekeyed, .info, "IKE SA rekeyed (was \(oldIDs.joined())), \(suite)", now: now, into: &actions)
        scheduleIKETimers(now: now, into: &actions)
    }

    /// Sends INFORMATIONAL DELETE for the retired IKE SA on its own channel, once (the peer may already
    /// have dropped it; nothing depends on the answer).
    private mutating func sendRetiredDelete(now: MonotonicTime, into actions: inout [IKEAction]) {
        guard var old = retired else { return }
        var flags: IKEv2Header.Flags = []
        if old.role == .initiator { flags.insert(.initiator) }
        let header = IKEv2Message(
            initiatorSPI: old.spiInitiator, responderSPI: old.spiResponder, exchangeType: .informational, flags: flags,
            messageID: old.nextRequestID, payloads: [])
        let delete = IKEv2Payload.delete(IKEv2DeletePayload(protocolID: .ike, spiSize: 0, spis: []))
        if let bytes = sealRetired(old, header, [delete]) {
            send(bytes, into: &actions)
        }
        old.deleteMessageID = old.nextRequestID
        old.nextRequestID &+= 1
        retired = old
    }

    /// Handles a message for the retired IKE SA: answers its DELETE (or anything else) with an empty
    /// response and forgets it; responses to our DELETE just end it.
    mutating func handleRetired(
        _ message: IKEv2Message, datagram: IKEDatagram, now: MonotonicTime, into actions: inout [IKEAction]
    ) {
        guard let old = retired else { return }
        guard (try? old.crypto.open(datagram.bytes, message: message)) != nil else {
            drop("message for the rekeyed IKE SA failed integrity", now: now, into: &actions)
            return
        }
        if message.flags.contains(.response) {
            // Only the answer to our DELETE ends it; others (a withdrawn rekey) are ignored.
            guard message.messageID == old.deleteMessageID else { return }
        } else {
            var flags: IKEv2Header.Flags = [.response]
            if old.role == .initiator { flags.insert(.initiator) }
            let header = IKEv2Message(
                initiatorSPI: old.spiInitiator, responderSPI: old.spiResponder, exchangeType: message.exchangeType,
                flags: flags, messageID: message.messageID, payloads: [])
            if message.exchangeType == .createChildSA {
                // A rekey that crossed ours on the old SA: refuse it, ours replaced the SA already.
                let refusal = IKEv2Payload.notify(
                    IKEv2NotifyPayload(protocolID: .none, spi: [], notifyType: .temporaryFailure, data: []))
                if let bytes = sealRetired(old, header, [refusal]) { send(bytes, into: &actions) }
                return
            }
            if let bytes = sealRetired(old, header, []) { send(bytes, into: &actions) }
        }
        retired = nil
        emit(.ikeSADeleted, .info, "old IKE SA \(SAIdentifier.ike(old.spiInitiator))/\(SAIdentifier.ike(old.spiResponder)) deleted after "
            + "the rekey", now: now, into: &actions)
    }

    /// Seals a message of the retired SA with its keys (never fragmented: these are tiny).
    private mutating func sealRetired(_ old: RetiredIKESA, _ header: IKEv2Message, _ inner: [IKEv2Payload])
        -> [UInt8]?
    {
        seal(header, inner, with: (old.crypto, old.isAEAD))?.first
    }

    /// Whether a message belongs to the retired IKE SA.
    func isForRetired(_ message: IKEv2Message) -> Bool {
        guard let retired else { return false }
        return message.initiatorSPI == retired.spiInitiator && message.responderSPI == retired.spiResponder
    }
}
