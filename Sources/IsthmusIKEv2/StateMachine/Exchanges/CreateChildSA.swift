import IsthmusCrypto
import IsthmusEvents
import IsthmusIP
import IsthmusWire

/// CHILD SAs: negotiation in IKE_AUTH and CREATE_CHILD_SA (RFC 7296 sections 1.3.1, 2.9, 2.17),
/// the peer's CREATE_CHILD_SA requests, installation and removal. Rekeying has its own files
/// (`ChildSARekey`, `IKESARekey`).
extension IKEv2StateMachine {
    struct ChildFailure: Error {
        var notify: IKEv2NotifyType
        var data: [UInt8] = []
    }

    // MARK: - Initiator side

    /// Installs the CHILD SA the responder accepted in IKE_AUTH or CREATE_CHILD_SA.
    mutating func installInitiatedChild(
        sa: IKEv2SecurityAssociationPayload, tsi: IKEv2TrafficSelectorPayload, tsr: IKEv2TrafficSelectorPayload,
        ourSPI: UInt32, nonceInitiator: [UInt8], nonceResponder: [UInt8], keyExchange: (any DiffieHellmanExchange)?,
        peerKE: IKEv2KeyExchangePayload?, into established: inout IKEv2EstablishedSA, now: MonotonicTime,
        actions: inout [IKEAction]
    ) throws {
        let suite: NegotiatedChildSuite
        let peerSPI: UInt32
        switch acceptChild(sa, pfs: keyExchange != nil) {
        case .success(let accepted): (suite, peerSPI) = accepted
        case .failure(let failure):
            emit(
                .proposalMismatch, .error, "responder chose an ESP proposal we did not offer: \(failure)",
                details: mismatchDetails(failure), now: now, into: &actions)
            return
        }
        let returnedLocal = selectors(tsi)
        let returnedRemote = selectors(tsr)
        guard acceptSelectors(returnedInitiator: returnedLocal, returnedResponder: returnedRemote) else {
            emit(
                .trafficSelectorMismatch, .error,
                "responder returned selectors \(describeSelectors(returnedLocal)) "
                    + "<=> \(describeSelectors(returnedRemote)), wider than we proposed", now: now, into: &actions)
            return
        }
        // PFS (section 1.3.1): the responder's KE of the group we proposed gives the fresh secret.
        var sharedSecret: SecretBytes?
        if let group = suite.keyExchange {
            guard let keyExchange, let peerKE, peerKE.group == group.ikev2ID, keyExchange.groupID == group.ikev2ID
            else {
                throw IKEv2Failure.missingPayload("KE of \(group.displayName) for PFS")
            }
            sharedSecret = try keyExchange.sharedSecret(peerPublicValue: peerKE.keyExchangeData)
        }
        let keys = try established.protection.crypto.childKeys(
            suite: suite, sharedSecret: sharedSecret, nonceInitiator: nonceInitiator, nonceResponder: nonceResponder)
        // We initiated this exchange: we send with the initiator->responder keys.
        install(
            IKEv2ChildSAInstall(
                suite: suite, inboundSPI: ourSPI, outboundSPI: peerSPI, inbound: keys.responderToInitiator,
                outbound: keys.initiatorToResponder, localSelectors: returnedLocal, remoteSelectors: returnedRemote,
                outboundStart: .now),
            into: &established, now: now, actions: &actions)
    }

    // MARK: - Responder side

    /// Answers the peer's CREATE_CHILD_SA, decrypted: an IKE SA rekey, a CHILD SA rekey (REKEY_SA)
    /// or a new CHILD SA.
    mutating func handleCreateChildSARequest(
        _ message: IKEv2Message, _ inner: [IKEv2Payload], now: MonotonicTime, into actions: inout [IKEAction]
    ) {
        guard case .established(var sa) = state else {
            preconditionFailure("CREATE_CHILD_SA requests are dispatched only when established")
        }
        defer { state = .established(sa) }
        let proposal = inner.lazy.compactMap(\.securityAssociation).first
        if let proposal, proposal.proposals.first?.protocolID == .ike {
            respondToIKERekey(message, inner: inner, proposal: proposal, sa: &sa, now: now, into: &actions)
            return
        }
        guard let nonce = inner.lazy.compactMap(\.nonce).first else {
            respondWithError(.invalidSyntax, to: message, with: &sa.protection, into: &actions)
            return
        }
        let rekeyed = inner.notifies.first { $0.notifyType == .rekeySA }
        let responderNonce = randomBytes(Self.nonceLength)
        switch respondToChildRequest(
            inner, nonceInitiator: nonce.nonce, nonceResponder: responderNonce, pfs: true, rekey: rekeyed != nil,
            into: &sa, now: now, actions: &actions)
        {
        case .success(let payloads):
            let reply = payloads + [.nonce(IKEv2NoncePayload(nonce: responderNonce))]
            let response = header(.createChildSA, messageID: message.messageID, response: true)
            if let bytes = seal(response, reply, with: &sa.protection) {
                sendResponse(bytes, messageID: message.messageID, into: &actions)
            }
            if let rekeyed, rekeyed.spi.count == 4 {
                notePeerRekey(
                    ofOutboundSPI: UInt32(bigEndianBytes: rekeyed.spi), exchangeNonces: [nonce.nonce, responderNonce],
                    sa: &sa, now: now, into: &actions)
            }
        case .failure(let failure):
            respondWithError(failure.notify, data: failure.data, to: message, with: &sa.protection, into: &actions)
        }
    }

    /// Answers the CHILD SA part of an IKE_AUTH or CREATE_CHILD_SA request: selects an ESP proposal,
    /// narrows the selectors, installs the SA and returns the payloads of the answer; or the error
    /// notification to send (the IKE SA stays up, section 1.2).
    mutating func respondToChildRequest(
        _ inner: [IKEv2Payload], nonceInitiator: [UInt8], nonceResponder: [UInt8], pfs: Bool, rekey: Bool,
        into established: inout IKEv2EstablishedSA, now: MonotonicTime, actions: inout [IKEAction]
    ) -> Result<[IKEv2Payload], ChildFailure> {
        guard let sa = inner.lazy.compactMap(\.securityAssociation).first,
            let tsi = inner.lazy.compactMap(\.trafficSelectorInitiator).first,
            let tsr = inner.lazy.compactMap(\.trafficSelectorResponder).first
        else {
            emit(.invalidSyntax, .error, "CHILD SA request without SA, TSi and TSr", now: now, into: &actions)
            return .failure(ChildFailure(notify: .invalidSyntax))
        }
        if inner.notifies.contains(where: { $0.notifyType == .useTransportMode }) {
            emit(
                .proposalMismatch, .notice,
                "peer asked for transport mode; Isthmus offers tunnel mode only, "
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
            emit(
                .proposalMismatch, .error, "no common ESP proposal: \(failure)", details: mismatchDetails(failure),
                now: now, into: &actions)
            return .failure(ChildFailure(notify: .noProposalChosen))
        }
        if let refusal = childRequestRefusal(rekey: rekey, peerSPI: peerSPI, in: established) {
            emit(.childSARefused, .warning, "CHILD SA refused: \(refusal.reason)", now: now, into: &actions)
            return .failure(ChildFailure(notify: refusal.notify))
        }
        // PFS (section 1.3.1): our KE of the chosen group; the peer's must be of that group too.
        var sharedSecret: SecretBytes?
        var ourKE: IKEv2Payload?
        if let group = suite.keyExchange {
            guard let peerKE, peerKE.group == group.ikev2ID else {
                emit(
                    .invalidKE, .notice, "peer's CHILD SA request has no KE of \(group.displayName); asking for it",
                    now: now, into: &actions)
                let id = group.ikev2ID
                return .failure(ChildFailure(notify: .invalidKEPayload, data: [UInt8(id >> 8), UInt8(id & 0xff)]))
            }
            do {
                let exchange = try DiffieHellman.makeExchange(groupID: group.ikev2ID, using: &random)
                sharedSecret = try exchange.sharedSecret(peerPublicValue: peerKE.keyExchangeData)
                ourKE = .keyExchange(
                    IKEv2KeyExchangePayload(group: group.ikev2ID, keyExchangeData: exchange.publicValue))
            } catch {
                emit(.invalidKE, .error, "peer's PFS key is unusable: \(error)", now: now, into: &actions)
                return .failure(ChildFailure(notify: .invalidSyntax))
            }
        }
        let offeredRemote = selectors(tsi)
        let offeredLocal = selectors(tsr)
        guard let narrowed = narrowSelectors(initiator: offeredRemote, responder: offeredLocal) else {
            emit(
                .trafficSelectorMismatch, .error,
                "TS_UNACCEPTABLE: peer proposed \(describeSelectors(offeredRemote)) "
                    + "<=> \(describeSelectors(offeredLocal)); we allow "
                    + "\(describeSelectors(configuration.remoteSelectors)) "
                    + "<=> \(describeSelectors(configuration.localSelectors)): the subnets configured on the two sides "
                    + "differ",
                details: [
                    "peer": "\(describeSelectors(offeredRemote)) <=> \(describeSelectors(offeredLocal))",
                    "rejected_by": "us",
                ], now: now, into: &actions)
            return .failure(ChildFailure(notify: .tsUnacceptable))
        }
        let keys: ChildSAKeys
        do {
            keys = try established.protection.crypto.childKeys(
                suite: suite, sharedSecret: sharedSecret, nonceInitiator: nonceInitiator,
                nonceResponder: nonceResponder)
        } catch {
            emit(.invalidSyntax, .error, "CHILD SA key derivation failed: \(error)", now: now, into: &actions)
            return .failure(ChildFailure(notify: .noProposalChosen))
        }
        // The peer initiated this exchange: it sends with the initiator->responder keys. As the responder
        // of a rekey we follow the initiator onto the new SA when its traffic arrives, when it deletes the
        // SA it replaced, or after the fallback (section 2.8).
        install(
            IKEv2ChildSAInstall(
                suite: suite, inboundSPI: ourSPI, outboundSPI: peerSPI, inbound: keys.initiatorToResponder,
                outbound: keys.responderToInitiator, localSelectors: narrowed.responder,
                remoteSelectors: narrowed.initiator,
                outboundStart: rekey ? .afterPeersFirstPacket(fallback: Self.rekeyResponderOutboundFallback) : .now),
            into: &established, now: now, actions: &actions)
        return .success(
            [.securityAssociation(replySA)] + (ourKE.map { [$0] } ?? [])
                + trafficSelectorPayloads(initiator: narrowed.initiator, responder: narrowed.responder))
    }

    // MARK: - Installation and removal

    private mutating func install(
        _ child: IKEv2ChildSAInstall, into sa: inout IKEv2EstablishedSA, now: MonotonicTime,
        actions: inout [IKEAction]
    ) {
        let rekeyAt = rekeyTime(lifetime: configuration.childLifetime, from: now)
        sa.childSAs.append(
            IKEv2EstablishedSA.ChildSA(
                inboundSPI: child.inboundSPI, outboundSPI: child.outboundSPI, localSelectors: child.localSelectors,
                remoteSelectors: child.remoteSelectors, suite: child.suite, installedAt: now, rekeyAt: rekeyAt))
        actions.append(.childSA(.install(espSecurityAssociation(for: child))))
        actions.append(.armTimer(.rekeyChildSA(inboundSPI: child.inboundSPI), at: rekeyAt))
        let inbound = SAIdentifier.esp(child.inboundSPI)
        let outbound = SAIdentifier.esp(child.outboundSPI)
        emit(
            .childSAInstalled, .info,
            "CHILD SA \(inbound)_i \(outbound)_o installed: "
                + "\(describeSelectors(child.localSelectors)) <=> \(describeSelectors(child.remoteSelectors)) with "
                + "\(child.suite)",
            details: ["inbound_spi": inbound, "outbound_spi": outbound, "algorithms": "\(child.suite)"],
            now: now, into: &actions)
    }

    /// Removes a CHILD SA (both halves) and stops its timers.
    mutating func removeChild(
        inboundSPI: UInt32, reason: String, from sa: inout IKEv2EstablishedSA, now: MonotonicTime,
        into actions: inout [IKEAction]
    ) {
        guard let child = sa.removeChild(inbound: inboundSPI) else { return }
        actions.append(.cancelTimer(.rekeyChildSA(inboundSPI: inboundSPI)))
        actions.append(.cancelTimer(.expireChildSA(inboundSPI: inboundSPI)))
        actions.append(.childSA(.remove(inboundSPI: inboundSPI)))
        emit(
            .childSADeleted, .info,
            "CHILD SA \(SAIdentifier.esp(inboundSPI))_i \(SAIdentifier.esp(child.outboundSPI))_o "
                + "deleted: \(reason)", now: now, into: &actions)
    }

    mutating func removeAllChildren(
        reason: String, from sa: inout IKEv2EstablishedSA, now: MonotonicTime, into actions: inout [IKEAction]
    ) {
        for spi in sa.childSAs.map(\.inboundSPI) {
            removeChild(inboundSPI: spi, reason: reason, from: &sa, now: now, into: &actions)
        }
    }
}
