import IsthmusCrypto
import IsthmusEvents
import IsthmusWire

/// Our CHILD SA rekey in flight (CREATE_CHILD_SA with REKEY_SA).
struct ChildSARekeyRequest: Sendable {
    /// The SA being replaced and the inbound SPI of its successor.
    let oldInboundSPI: UInt32
    let newInboundSPI: UInt32
    let nonce: [UInt8]
    /// Our PFS key exchange, when the rekey offers a DH group.
    let keyExchange: (any DiffieHellmanExchange)?
    /// The peer rekeyed the same SA while this request was in flight (section 2.8.1).
    var collision: ChildSARekeyCollision?
}

/// A peer's rekey of the SA we are rekeying ourselves, seen before the answer to ours.
struct ChildSARekeyCollision: Sendable {
    /// The two nonces of the peer's exchange (its Ni, our Nr).
    let peerExchangeNonces: [[UInt8]]
    /// The SA the peer's exchange created.
    let peerCreatedInboundSPI: UInt32
}

/// Rekeying CHILD SAs make-before-break (RFC 7296 sections 1.3.3, 2.8), and the rules for both ends
/// rekeying the same SA at once (2.8.1).
extension IKEv2StateMachine {
    // MARK: - Initiating

    /// Starts a CHILD SA rekey: CREATE_CHILD_SA with REKEY_SA, fresh nonce, our ESP proposals; queued
    /// while another request is in flight.
    mutating func rekeyChildSA(
        inboundSPI: UInt32, sa: inout IKEv2EstablishedSA, now: MonotonicTime, into actions: inout [IKEAction]
    ) {
        guard let child = sa.child(inbound: inboundSPI), !child.replaced else { return }
        if case .rekeyChildSA(let inFlight)? = window.inFlightExchange, inFlight.oldInboundSPI == inboundSPI { return }
        guard !window.isBusy else {
            enqueue(.rekeyChildSA(inboundSPI: inboundSPI))
            return
        }
        let nonce = randomBytes(Self.nonceLength)
        let newSPI = randomNonZeroSPI32()
        // PFS when our preferred ESP proposal names a group (the peer may ask for another: INVALID_KE).
        var exchange: (any DiffieHellmanExchange)?
        if let group = sa.childGroupOverride ?? configuration.espProposals.proposals.first?.keyExchange.first {
            exchange = try? DiffieHellman.makeExchange(groupID: group.ikev2ID, using: &random)
        }
        var inner: [IKEv2Payload] = [
            .notify(
                IKEv2NotifyPayload(protocolID: .esp, spi: inboundSPI.bigEndianBytes, notifyType: .rekeySA, data: [])),
            .securityAssociation(offerChild(spi: newSPI, pfs: exchange != nil)),
            .nonce(IKEv2NoncePayload(nonce: nonce)),
        ]
        if let exchange {
            inner.append(
                .keyExchange(IKEv2KeyExchangePayload(group: exchange.groupID, keyExchangeData: exchange.publicValue)))
        }
        inner += trafficSelectorPayloads(
            initiator: configuration.localSelectors, responder: configuration.remoteSelectors)
        let message = header(.createChildSA, messageID: window.nextRequestID, response: false)
        guard let bytes = seal(message, inner, with: &sa.protection) else { return }
        let request = ChildSARekeyRequest(
            oldInboundSPI: inboundSPI, newInboundSPI: newSPI, nonce: nonce, keyExchange: exchange, collision: nil)
        sendRequest(bytes, .rekeyChildSA(request), now: now, into: &actions)
        emit(.childSARekeyed, .info, "rekeying CHILD SA \(SAIdentifier.esp(inboundSPI))_i", now: now, into: &actions)
    }

    /// The answer to our rekey, decrypted: install the new SA, settle a collision, delete the old SA.
    mutating func handleChildSARekeyResponse(
        _ inner: [IKEv2Payload], request: ChildSARekeyRequest, now: MonotonicTime, into actions: inout [IKEAction]
    ) {
        guard case .established(var sa) = state else {
            preconditionFailure("a CHILD SA rekey is in flight only while established")
        }
        defer { state = .established(sa) }
        if let invalidKE = inner.notifies.first(where: { $0.notifyType == .invalidKEPayload }),
            invalidKE.data.count == 2,
            let group = configuration.espProposals.proposals.flatMap(\.keyExchange).first(where: {
                $0.ikev2ID == UInt16(invalidKE.data[0]) << 8 | UInt16(invalidKE.data[1])
            })
        {
            emit(
                .invalidKE, .notice, "peer wants \(group.displayName) for PFS; rekeying again with it", now: now,
                into: &actions)
            sa.childGroupOverride = group
            actions.append(.armTimer(.rekeyChildSA(inboundSPI: request.oldInboundSPI), at: now))
            return
        }
        if let error = inner.firstError {
            reportPeerError(error.notifyType, in: "CREATE_CHILD_SA", now: now, into: &actions)
            // Keep the old SA until its hard lifetime; retry the rekey later.
            actions.append(.armTimer(.rekeyChildSA(inboundSPI: request.oldInboundSPI), at: now + .seconds(30)))
            return
        }
        do {
            let proposal = try inner.required(\.securityAssociation, "SA")
            let nonce = try inner.required(\.nonce, "Nr")
            let tsi = try inner.required(\.trafficSelectorInitiator, "TSi")
            let tsr = try inner.required(\.trafficSelectorResponder, "TSr")
            try installInitiatedChild(
                sa: proposal, tsi: tsi, tsr: tsr, ourSPI: request.newInboundSPI, nonceInitiator: request.nonce,
                nonceResponder: nonce.nonce, keyExchange: request.keyExchange,
                peerKE: inner.lazy.compactMap(\.keyExchange).first, into: &sa, now: now, actions: &actions)
        } catch {
            emit(.invalidSyntax, .error, "unusable CREATE_CHILD_SA response: \(error)", now: now, into: &actions)
            return
        }
        var redundant: UInt32?
        if let collision = request.collision, let responderNonce = inner.lazy.compactMap(\.nonce).first?.nonce {
            redundant = settle(collision, ours: request, responderNonce: responderNonce, now: now, into: &actions)
        }
        // Make-before-break: the new SA is installed; now delete the old one (section 2.8), then ours if
        // the collision made it redundant.
        sa.update(inbound: request.oldInboundSPI) { $0.replaced = true }
        deleteChild(inboundSPI: request.oldInboundSPI, sa: &sa, now: now, into: &actions)
        if let redundant { enqueue(.deleteChildSA(inboundSPI: redundant)) }
    }

    // MARK: - The peer's rekey

    /// After answering the peer's REKEY_SA for the SA we send on with `outboundSPI`: the old SA is
    /// replaced (never rekeyed again), and if our own rekey of it is in flight, that is a collision.
    mutating func notePeerRekey(
        ofOutboundSPI oldOutbound: UInt32, exchangeNonces: [[UInt8]], sa: inout IKEv2EstablishedSA,
        now: MonotonicTime, into actions: inout [IKEAction]
    ) {
        emit(
            .childSARekeyed, .info,
            "peer rekeyed CHILD SA \(SAIdentifier.esp(oldOutbound))_o; the old SA stays until "
                + "the peer deletes it", now: now, into: &actions)
        guard let old = sa.child(outbound: oldOutbound) else { return }
        sa.update(inbound: old.inboundSPI) { $0.replaced = true }
        actions.append(.cancelTimer(.rekeyChildSA(inboundSPI: old.inboundSPI)))
        if case .rekeyChildSA(var ours)? = window.inFlightExchange, ours.oldInboundSPI == old.inboundSPI,
            let created = sa.childSAs.last
        {
            // We are rekeying the same SA (section 2.8.1): decide when our own answer arrives.
            ours.collision = ChildSARekeyCollision(
                peerExchangeNonces: exchangeNonces, peerCreatedInboundSPI: created.inboundSPI)
            window.inFlightExchange = .rekeyChildSA(ours)
        }
    }

    // MARK: - Simultaneous rekey (section 2.8.1)

    /// Of the two new SAs, the one created with the lowest of the four nonces is redundant, and the
    /// side that initiated its exchange deletes it. Returns our new SA when it is the redundant one.
    private func settle(
        _ collision: ChildSARekeyCollision, ours: ChildSARekeyRequest, responderNonce: [UInt8], now: MonotonicTime,
        into actions: inout [IKEAction]
    ) -> UInt32? {
        let lowestOfOurs = [ours.nonce, responderNonce].min(by: { $0.lexicographicallyPrecedes($1) }) ?? []
        let lowestOfTheirs = collision.peerExchangeNonces.min(by: { $0.lexicographicallyPrecedes($1) }) ?? []
        guard lowestOfOurs.lexicographicallyPrecedes(lowestOfTheirs) else { return nil }
        emit(
            .childSARekeyed, .notice,
            "simultaneous CHILD SA rekey: ours holds the lowest nonce, deleting "
                + "its redundant SA \(SAIdentifier.esp(ours.newInboundSPI))_i", now: now, into: &actions)
        return ours.newInboundSPI
    }
}
