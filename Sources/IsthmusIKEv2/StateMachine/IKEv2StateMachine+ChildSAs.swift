import IsthmusCrypto
import IsthmusEvents
import IsthmusIP
import IsthmusWire

/// CHILD SAs: creation in IKE_AUTH and CREATE_CHILD_SA, rekeying make-before-break (RFC 7296
/// sections 1.3.1-1.3.3, 2.8, 2.9, 2.17) and hand-off to the ESP engine.
extension IKEv2StateMachine {
    // MARK: - Initiator side

    /// Installs the CHILD SA the responder accepted in IKE_AUTH or CREATE_CHILD_SA.
    mutating func installInitiatedChild(
        sa: IKEv2SecurityAssociationPayload, tsi: IKEv2TrafficSelectorPayload, tsr: IKEv2TrafficSelectorPayload,
        ourSPI: UInt32, nonceInitiator: [UInt8], nonceResponder: [UInt8], keyExchange: (any DiffieHellmanExchange)?,
        peerKE: IKEv2KeyExchangePayload?, now: MonotonicTime, into actions: inout [IKEAction]
    ) throws {
        let suite: NegotiatedChildSuite
        let peerSPI: UInt32
        switch acceptChild(sa, pfs: keyExchange != nil) {
        case .success(let accepted): (suite, peerSPI) = accepted
        case .failure(let failure):
            emit(.proposalMismatch, .error, "responder chose an ESP proposal we did not offer: \(failure)", now: now,
                into: &actions)
            return
        }
        let returnedLocal = selectors(tsi)
        let returnedRemote = selectors(tsr)
        guard acceptSelectors(returnedInitiator: returnedLocal, returnedResponder: returnedRemote) else {
            emit(.trafficSelectorMismatch, .error, "responder returned selectors \(describeSelectors(returnedLocal)) "
                + "<=> \(describeSelectors(returnedRemote)), wider than we proposed", now: now, into: &actions)
            return
        }
        // PFS (section 1.3.1): the responder's KE of the group we proposed gives the fresh secret.
        var sharedSecret: SecretBytes?
        if let group = suite.keyExchange {
            guard let keyExchange, let peerKE, peerKE.group == group.ikev2ID, keyExchange.groupID == group.ikev2ID else {
                throw IKEv2Failure.missingPayload("KE of \(group.displayName) for PFS")
            }
            sharedSecret = try keyExchange.sharedSecret(peerPublicValue: peerKE.keyExchangeData)
        }
        let keys = try crypto!.childKeys(
            suite: suite, sharedSecret: sharedSecret, nonceInitiator: nonceInitiator, nonceResponder: nonceResponder)
        // We initiated this exchange: we send with the initiator->responder keys.
        install(
            suite: suite, inboundSPI: ourSPI, outboundSPI: peerSPI, inbound: keys.responderToInitiator,
            outbound: keys.initiatorToResponder, localSelectors: returnedLocal, remoteSelectors: returnedRemote,
            now: now, into: &actions)
    }

    // MARK: - Responder side

    /// Answers the CHILD SA part of an IKE_AUTH or CREATE_CHILD_SA request: selects an ESP proposal,
    /// narrows the selectors, installs the SA and returns the payloads of the answer; or the error
    /// notification to send (the IKE SA stays up, section 1.2).
    mutating func respondToChildRequest(
        _ inner: [IKEv2Payload], nonceInitiator: [UInt8], nonceResponder: [UInt8], pfs: Bool,
        now: MonotonicTime, into actions: inout [IKEAction]
    ) -> Result<[IKEv2Payload], ChildFailure> {
        guard let sa = inner.lazy.compactMap(\.securityAssociation).first,
            let tsi = inner.lazy.compactMap(\.trafficSelectorInitiator).first,
            let tsr = inner.lazy.compactMap(\.trafficSelectorResponder).first
        else {
            emit(.invalidSyntax, .error, "CHILD SA request without SA, TSi and TSr", now: now, into: &actions)
            return .failure(ChildFailure(notify: .invalidSyntax))
        }
        if inner.notifies.contains(where: { $0.notifyType == .useTransportMode }) {
            emit(.proposalMismatch, .notice, "peer asked for transport mode; Isthmus offers tunnel mode only, "
                + "answering with tunnel mode (RFC 7296 1.3.1)", now: now, into: &actions)
        }
        let ourSPI = randomNonZeroSPI32()
        let suite: NegotiatedChildSuite
        let peerSPI: UInt32
        let replySA: IKEv2SecurityAssociationPayload
        let peerKE = pfs ? inner.lazy.compactMap(\.keyExchange).first : nil
        switch selectChild(sa, ourSPI: ourSPI, pfs: pfs, peerGroup: peerKE?.group) {
        case .success(let selection): (suite, peerSPI, replySA) = selection
        case .failure(let failure):
            emit(.proposalMismatch, .error, "no common ESP proposal: \(failure)", now: now, into: &actions)
            return .failure(ChildFailure(notify: .noProposalChosen))
        }
        // PFS (section 1.3.1): our KE of the chosen group; the peer's must be of that group too.
        var sharedSecret: SecretBytes?
        var ourKE: IKEv2Payload?
        if let group = suite.keyExchange {
            guard let peerKE, peerKE.group == group.ikev2ID else {
                emit(.invalidKE, .notice, "peer's CHILD SA request has no KE of \(group.displayName); asking for it",
                    now: now, into: &actions)
                let id = group.ikev2ID
                return .failure(ChildFailure(notify: .invalidKEPayload, data: [UInt8(id >> 8), UInt8(id & 0xff)]))
            }
            do {
                let exchange = try DiffieHellman.makeExchange(groupID: group.ikev2ID, using: &random)
                sharedSecret = try exchange.sharedSecret(peerPublicValue: peerKE.keyExchangeData)
                ourKE = .keyExchange(IKEv2KeyExchangePayload(group: group.ikev2ID, keyExchangeData: exchange.publicValue))
            } catch {
                emit(.invalidKE, .error, "peer's PFS key is unusable: \(error)", now: now, into: &actions)
                return .failure(ChildFailure(notify: .invalidSyntax))
            }
        }
        let offeredRemote = selectors(tsi)
        let offeredLocal = selectors(tsr)
        guard let narrowed = narrowSelectors(initiator: offeredRemote, responder: offeredLocal) else {
            emit(.trafficSelectorMismatch, .error, "TS_UNACCEPTABLE: peer proposed \(describeSelectors(offeredRemote)) "
                + "<=> \(describeSelectors(offeredLocal)); we allow \(describeSelectors(configuration.remoteSelectors)) "
                + "<=> \(describeSelectors(configuration.localSelectors)): the subnets configured on the two sides "
                + "differ", now: now, into: &actions)
            return .failure(ChildFailure(notify: .tsUnacceptable))
        }
        let keys: ChildSAKeys
        do {
            keys = try crypto!.childKeys(
                suite: suite, sharedSecret: sharedSecret, nonceInitiator: nonceInitiator,
                nonceResponder: nonceResponder)
        } catch {
            emit(.invalidSyntax, .error, "CHILD SA key derivation failed: \(error)", now: now, into: &actions)
            return .failure(ChildFailure(notify: .noProposalChosen))
        }
        // The peer initiated this exchange: it sends with the initiator->responder keys.
        install(
            suite: suite, inboundSPI: ourSPI, outboundSPI: peerSPI, inbound: keys.initiatorToResponder,
            outbound: keys.responderToInitiator, localSelectors: narrowed.responder,
            remoteSelectors: narrowed.initiator, now: now, into: &actions)
        return .success(
            [.securityAssociation(replySA)] + (ourKE.map { [$0] } ?? [])
                + trafficSelectorPayloads(initiator: narrowed.initiator, responder: narrowed.responder))
    }

    struct ChildFailure: Error {
        var notify: IKEv2NotifyType
        var data: [UInt8] = []
    }

    // MARK: - Installation

    private mutating func install(
        suite: NegotiatedChildSuite, inboundSPI: UInt32, outboundSPI: UInt32, inbound: DirectionKeys,
        outbound: DirectionKeys, localSelectors: [TrafficSelector], remoteSelectors: [TrafficSelector],
        now: MonotonicTime, into actions: inout [IKEAction]
    ) {
        let rekeyAt = rekeyTime(lifetime: configuration.childLifetime, from: now)
        let lifetimes = ChildSALifetimes.esp(
            softTime: configuration.childLifetime, hardTime: configuration.childLifetime + configuration.childLifetime / 10,
            hardBytes: configuration.childLifetimeBytes.map { $0 * 1024 }, random: &random)
        let parameters = ESPSecurityAssociation(
            inboundSPI: inboundSPI, outboundSPI: outboundSPI, encryption: suite.encryption,
            integrity: suite.integrity, extendedSequenceNumbers: suite.extendedSequenceNumbers,
            inboundEncryptionKey: inbound.encryption, inboundIntegrityKey: inbound.integrity,
            outboundEncryptionKey: outbound.encryption, outboundIntegrityKey: outbound.integrity,
            localSelectors: localSelectors, remoteSelectors: remoteSelectors,
            tunnel: ESPTunnel(
                local: UDPEndpoint(address: local.address, port: usesUDPEncapsulation ? 4500 : 0),
                remote: UDPEndpoint(address: remote.address, port: usesUDPEncapsulation ? remote.port : 0),
                udpEncapsulated: usesUDPEncapsulation),
            softLifetime: lifetimes.soft, hardLifetime: lifetimes.hard, connection: configuration.connectionName)
        childSAs.append(ChildSA(parameters: parameters, suite: suite, installedAt: now, rekeyAt: rekeyAt))
        actions.append(.childSA(.install(parameters)))
        actions.append(.armTimer(.rekeyChildSA(inboundSPI: inboundSPI), at: rekeyAt))
        emit(.childSAInstalled, .info, "CHILD SA \(SAIdentifier.esp(inboundSPI))_i \(SAIdentifier.esp(outboundSPI))_o installed: "
            + "\(describeSelectors(localSelectors)) <=> \(describeSelectors(remoteSelectors)) with \(suite)",
            details: ["inbound_spi": SAIdentifier.esp(inboundSPI), "outbound_spi": SAIdentifier.esp(outboundSPI), "algorithms": "\(suite)"],
            now: now, into: &actions)
    }

    /// Removes a CHILD SA (both halves) and stops its timers.
    mutating func removeChild(inboundSPI: UInt32, reason: String, now: MonotonicTime, into actions: inout [IKEAction]) {
        guard let index = childSAs.firstIndex(where: { $0.parameters.inboundSPI == inboundSPI }) else { return }
        let child = childSAs.remove(at: index)
        actions.append(.cancelTimer(.rekeyChildSA(inboundSPI: inboundSPI)))
        actions.append(.cancelTimer(.expireChildSA(inboundSPI: inboundSPI)))
        actions.append(.childSA(.remove(inboundSPI: inboundSPI)))
        emit(.childSADeleted, .info, "CHILD SA \(SAIdentifier.esp(inboundSPI))_i \(SAIdentifier.esp(child.parameters.outboundSPI))_o "
            + "deleted: \(reason)", now: now, into: &actions)
    }

    // MARK: - Rekeying (section 1.3.3, 2.8)

    /// Starts a CHILD SA rekey: CREATE_CHILD_SA with REKEY_SA, fresh nonce, our ESP proposals.
    mutating func rekeyChildSA(inboundSPI: UInt32, now: MonotonicTime, into actions: inout [IKEAction]) {
        guard phase == .established,
            childSAs.contains(where: { $0.parameters.inboundSPI == inboundSPI && !$0.replaced }),
            pendingRekey?.oldInboundSPI != inboundSPI
        else {
            return
        }
        guard outstanding == nil else {
            // One request at a time (window size 1): try again shortly.
            actions.append(.armTimer(.rekeyChildSA(inboundSPI: inboundSPI), at: now + .seconds(1)))
            return
        }
        let nonce = randomBytes(Self.nonceLength)
        let newSPI = randomNonZeroSPI32()
        // PFS when our preferred ESP proposal names a group (the peer may ask for another: INVALID_KE).
        var exchange: (any DiffieHellmanExchange)?
        if let group = childGroupOverride ?? configuration.espProposals.proposals.first?.keyExchange.first {
            exchange = try? DiffieHellman.makeExchange(groupID: group.ikev2ID, using: &random)
        }
        pendingRekey = PendingRekey(oldInboundSPI: inboundSPI, newInboundSPI: newSPI, nonce: nonce, exchange: exchange)
        var inner: [IKEv2Payload] = [
            .notify(IKEv2NotifyPayload(protocolID: .esp, spi: inboundSPI.bigEndianBytes, notifyType: .rekeySA, data: [])),
            .securityAssociation(offerChild(spi: newSPI, pfs: exchange != nil)),
            .nonce(IKEv2NoncePayload(nonce: nonce)),
        ]
        if let exchange {
            inner.append(.keyExchange(IKEv2KeyExchangePayload(group: exchange.groupID, keyExchangeData: exchange.publicValue)))
        }
        inner += trafficSelectorPayloads(initiator: configuration.localSelectors, responder: configuration.remoteSelectors)
        let messageID = nextRequestID
        guard let bytes = seal(header(.createChildSA, messageID: messageID, response: false), inner) else { return }
        nextRequestID &+= 1
        sendRequest(bytes, messageID: messageID, purpose: .createChildSA, now: now, into: &actions)
        emit(.childSARekeyed, .info, "rekeying CHILD SA \(SAIdentifier.esp(inboundSPI))_i", now: now, into: &actions)
    }

    mutating func handleCreateChildSAResponse(
        _ message: IKEv2Message, datagram: IKEDatagram, now: MonotonicTime, into actions: inout [IKEAction]
    ) {
        guard let crypto, let rekey = pendingRekey else { return }
        let inner: [IKEv2Payload]
        do {
            inner = try openInner(message, datagram, crypto)
        } catch {
            drop("CREATE_CHILD_SA response failed integrity: \(error)", now: now, into: &actions)
            return
        }
        completeRequest(into: &actions)
        pendingRekey = nil
        if let invalidKE = inner.notifies.first(where: { $0.notifyType == .invalidKEPayload }), invalidKE.data.count == 2,
            let group = configuration.espProposals.proposals.flatMap(\.keyExchange).first(where: {
                $0.ikev2ID == UInt16(invalidKE.data[0]) << 8 | UInt16(invalidKE.data[1])
            })
        {
            emit(.invalidKE, .notice, "peer wants \(group.displayName) for PFS; rekeying again with it", now: now,
                into: &actions)
            childGroupOverride = group
            actions.append(.armTimer(.rekeyChildSA(inboundSPI: rekey.oldInboundSPI), at: now))
            return
        }
        if let error = inner.notifies.first(where: { $0.notifyType.rawValue < IKEv2NotifyType.firstStatusType }) {
            reportPeerError(error.notifyType, in: "CREATE_CHILD_SA", now: now, into: &actions)
            // Keep the old SA until its hard lifetime; retry the rekey later.
            actions.append(.armTimer(.rekeyChildSA(inboundSPI: rekey.oldInboundSPI), at: now + .seconds(30)))
            return
        }
        do {
            let sa = try inner.required(\.securityAssociation, "SA")
            let nonce = try inner.required(\.nonce, "Nr")
            let tsi = try inner.required(\.trafficSelectorInitiator, "TSi")
            let tsr = try inner.required(\.trafficSelectorResponder, "TSr")
            try installInitiatedChild(
                sa: sa, tsi: tsi, tsr: tsr, ourSPI: rekey.newInboundSPI, nonceInitiator: rekey.nonce,
                nonceResponder: nonce.nonce, keyExchange: rekey.exchange,
                peerKE: inner.lazy.compactMap(\.keyExchange).first, now: now, into: &actions)
        } catch {
            emit(.invalidSyntax, .error, "unusable CREATE_CHILD_SA response: \(error)", now: now, into: &actions)
            return
        }
        // Simultaneous rekey of the same SA (section 2.8.1): of the two new SAs, the one created with the
        // lowest of the four nonces is redundant, and the side that initiated its exchange deletes it.
        if let collision = rekeyCollision, collision.oldInboundSPI == rekey.oldInboundSPI,
            let responderNonce = inner.lazy.compactMap(\.nonce).first?.nonce
        {
            rekeyCollision = nil
            let ours = [rekey.nonce, responderNonce].min(by: { $0.lexicographicallyPrecedes($1) }) ?? []
            let theirs = collision.peerExchangeNonces.min(by: { $0.lexicographicallyPrecedes($1) }) ?? []
            if ours.lexicographicallyPrecedes(theirs) {
                emit(.childSARekeyed, .notice, "simultaneous CHILD SA rekey: ours holds the lowest nonce, deleting "
                    + "its redundant SA \(SAIdentifier.esp(rekey.newInboundSPI))_i", now: now, into: &actions)
                actions.append(.armTimer(.expireChildSA(inboundSPI: rekey.newInboundSPI), at: now + .seconds(1)))
            }
        }
        // Make-before-break: the new SA is installed; now delete the old one (section 2.8).
        if let index = childSAs.firstIndex(where: { $0.parameters.inboundSPI == rekey.oldInboundSPI }) {
            childSAs[index].replaced = true
        }
        deleteChild(inboundSPI: rekey.oldInboundSPI, now: now, into: &actions)
    }

    /// Answers the peer's CREATE_CHILD_SA: an IKE SA rekey, a CHILD SA rekey (REKEY_SA) or a new CHILD SA.
    mutating func handleCreateChildSARequest(
        _ message: IKEv2Message, datagram: IKEDatagram, now: MonotonicTime, into actions: inout [IKEAction]
    ) {
        guard let crypto else { return }
        let inner: [IKEv2Payload]
        do {
            inner = try openInner(message, datagram, crypto)
        } catch {
            drop("CREATE_CHILD_SA request failed integrity: \(error)", now: now, into: &actions)
            return
        }
        let sa = inner.lazy.compactMap(\.securityAssociation).first
        if let sa, sa.proposals.first?.protocolID == .ike {
            respondToIKERekey(message, inner: inner, sa: sa, now: now, into: &actions)
            return
        }
        guard let nonce = inner.lazy.compactMap(\.nonce).first else {
            respondWithError(.invalidSyntax, to: message, encrypted: true, into: &actions)
            return
        }
        let rekeyed = inner.notifies.first { $0.notifyType == .rekeySA }
        let responderNonce = randomBytes(Self.nonceLength)
        switch respondToChildRequest(inner, nonceInitiator: nonce.nonce, nonceResponder: responderNonce,
            pfs: true, now: now, into: &actions)
        {
        case .success(let payloads):
            if rekeyed != nil,
                let index = actions.lastIndex(where: { if case .childSA(.install) = $0 { true } else { false } }),
                case .childSA(.install(var parameters)) = actions[index]
            {
                // Section 2.8: the initiator moves to the new SA first; we follow when its traffic arrives,
                // when it deletes the SA it replaced, or after the fallback.
                parameters.outboundStart = .afterPeersFirstPacket(fallback: Self.rekeyResponderOutboundFallback)
                actions[index] = .childSA(.install(parameters))
            }
            let reply = payloads + [.nonce(IKEv2NoncePayload(nonce: responderNonce))]
            if let bytes = seal(header(.createChildSA, messageID: message.messageID, response: true), reply) {
                sendResponse(bytes, messageID: message.messageID, into: &actions)
            }
            if let rekeyed, rekeyed.spi.count == 4 {
                let oldOutbound = UInt32(bigEndianBytes: rekeyed.spi)
                emit(.childSARekeyed, .info, "peer rekeyed CHILD SA \(SAIdentifier.esp(oldOutbound))_o; the old SA stays until "
                    + "the peer deletes it", now: now, into: &actions)
                if let index = childSAs.firstIndex(where: { $0.parameters.outboundSPI == oldOutbound }) {
                    childSAs[index].replaced = true
                    actions.append(.cancelTimer(.rekeyChildSA(inboundSPI: childSAs[index].parameters.inboundSPI)))
                }
                if let old = childSAs.first(where: { $0.parameters.outboundSPI == oldOutbound }),
                    pendingRekey?.oldInboundSPI == old.parameters.inboundSPI, let created = childSAs.last
                {
                    // We are rekeying the same SA (section 2.8.1): decide when our own answer arrives.
                    rekeyCollision = RekeyCollision(
                        oldInboundSPI: old.parameters.inboundSPI, peerExchangeNonces: [nonce.nonce, responderNonce],
                        peerCreatedInboundSPI: created.parameters.inboundSPI)
                }
            }
        case .failure(let failure):
            respondWithError(failure.notify, data: failure.data, to: message, encrypted: true, into: &actions)
        }
    }

    /// Sends INFORMATIONAL DELETE for one of our CHILD SAs (by inbound SPI); the SA is removed when
    /// the peer confirms, after a short grace for packets in flight (make-before-break, section 2.8).
    mutating func deleteChild(inboundSPI: UInt32, now: MonotonicTime, into actions: inout [IKEAction]) {
        guard outstanding == nil else {
            // Window size 1: try again when the exchange in flight is done.
            actions.append(.armTimer(.expireChildSA(inboundSPI: inboundSPI), at: now + .seconds(1)))
            return
        }
        let delete = IKEv2Payload.delete(
            IKEv2DeletePayload(protocolID: .esp, spiSize: 4, spis: [inboundSPI.bigEndianBytes]))
        let messageID = nextRequestID
        guard let bytes = seal(header(.informational, messageID: messageID, response: false), [delete]) else { return }
        nextRequestID &+= 1
        deletingChildSPI = inboundSPI
        // The peer may drop its inbound half as soon as the DELETE arrives: send nothing more on it.
        actions.append(.childSA(.retireOutbound(inboundSPI: inboundSPI)))
        sendRequest(bytes, messageID: messageID, purpose: .deleteChildSA, now: now, into: &actions)
    }

    /// The responder of a CHILD SA rekey sends on the new SA at the latest this long after installing it, even
    /// when the initiator sent nothing on it and did not delete the old one (it has had the keys since it
    /// read our answer; an answer lost once is resent well within this time).
    static let rekeyResponderOutboundFallback: Duration = .seconds(10)

    /// How long the old inbound SA of a rekey keeps decrypting packets already in flight.
    static let oldInboundGrace: Duration = .seconds(2)

    /// `.expireChildSA` fires either to retry a postponed DELETE or to end the grace of a deleted SA.
    mutating func expireChildSA(inboundSPI: UInt32, now: MonotonicTime, into actions: inout [IKEAction]) {
        guard childSAs.contains(where: { $0.parameters.inboundSPI == inboundSPI }) else { return }
        if deletedChildSPIs.remove(inboundSPI) != nil || phase != .established {
            removeChild(inboundSPI: inboundSPI, reason: "replaced by its rekeyed successor", now: now, into: &actions)
        } else {
            deleteChild(inboundSPI: inboundSPI, now: now, into: &actions)
        }
    }

    // MARK: - Selectors on the wire

    func trafficSelectorPayloads(initiator: [TrafficSelector], responder: [TrafficSelector]) -> [IKEv2Payload] {
        [.trafficSelectorInitiator(tsPayload(initiator)), .trafficSelectorResponder(tsPayload(responder))]
    }
}
