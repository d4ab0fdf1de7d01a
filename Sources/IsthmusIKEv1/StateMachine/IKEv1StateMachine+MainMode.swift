import IsthmusCrypto
import IsthmusEvents
import IsthmusIKE
import IsthmusIP
import IsthmusWire

/// Main Mode with pre-shared keys (RFC 2409 section 5.4), identity protection, six messages:
///
/// ```
/// I -> R  HDR, SA, VID                     R -> I  HDR, SA, VID
/// I -> R  HDR, KE, Ni, NAT-D, NAT-D        R -> I  HDR, KE, Nr, NAT-D, NAT-D
/// I -> R  HDR*, IDii, HASH_I [, N]         R -> I  HDR*, IDir, HASH_R
/// ```
extension IKEv1StateMachine {
    // MARK: - Dispatch

    mutating func handleMainMode(
        _ message: ISAKMPMessage, datagram: IKEDatagram, now: MonotonicTime, into actions: inout [IKEAction]
    ) {
        guard message.messageID == 0 else {
            drop("Main Mode message with message ID \(message.messageID)", now: now, into: &actions)
            return
        }
        if message.responderCookie == 0 {
            handleMainModeRequest(message, datagram: datagram, now: now, into: &actions)
            return
        }
        guard
            let index = isakmpSAs.firstIndex(where: {
                $0.cookieI == message.initiatorCookie
                    && ($0.cookieR == message.responderCookie || ($0.role == .initiator && $0.phase == .sentMM1))
            })
        else {
            drop(
                "Main Mode message for unknown cookies \(SAIdentifier.ike(message.initiatorCookie))/"
                    + SAIdentifier.ike(message.responderCookie), now: now, into: &actions)
            return
        }
        if resendOnDuplicate(index, datagram: datagram, now: now, into: &actions) { return }
        let sa = isakmpSAs[index]
        switch (sa.role, sa.phase) {
        case (.initiator, .sentMM1): handleMM2(index, message, datagram: datagram, now: now, into: &actions)
        case (.initiator, .sentMM3): handleMM4(index, message, datagram: datagram, now: now, into: &actions)
        case (.initiator, .sentMM5): handleMM6(index, message, datagram: datagram, now: now, into: &actions)
        case (.responder, .repliedMM2): handleMM3(index, message, datagram: datagram, now: now, into: &actions)
        case (.responder, .repliedMM4): handleMM5(index, message, datagram: datagram, now: now, into: &actions)
        case (_, .established), (.initiator, _), (.responder, _):
            drop(
                "Main Mode message not expected while \(sa.phase.rawValue) (a replay?)", ids: sa.ids, now: now,
                into: &actions)
        }
    }

    /// A repeat of the peer's last Main Mode message: it lost our answer, so we send it again.
    mutating func resendOnDuplicate(
        _ index: Int, datagram: IKEDatagram, now: MonotonicTime, into actions: inout [IKEAction]
    ) -> Bool {
        guard let cached = isakmpSAs[index].answered, cached.answers(bytes: datagram.bytes) else { return false }
        dropLog.count()
        if let answered = isakmpSAs[index].lastDuplicateAnswer, now - answered < Self.duplicateAnswerInterval {
            return true
        }
        isakmpSAs[index].lastDuplicateAnswer = now
        if !cached.datagrams.isEmpty {
            sendAgain(cached, to: datagram, into: &actions)
            emit(
                .retransmit, .info, "peer repeated its last Main Mode message; sent our answer again",
                ids: isakmpSAs[index].ids, now: now, into: &actions)
        }
        return true
    }

    /// Message 1: a new ISAKMP SA (the first of this connection, or the peer's phase 1 rekey).
    mutating func handleMainModeRequest(
        _ message: ISAKMPMessage, datagram: IKEDatagram, now: MonotonicTime, into actions: inout [IKEAction]
    ) {
        if let index = isakmpSAs.firstIndex(where: { $0.role == .responder && $0.cookieI == message.initiatorCookie }) {
            if !resendOnDuplicate(index, datagram: datagram, now: now, into: &actions) {
                drop(
                    "Main Mode message 1 repeated with different content", ids: isakmpSAs[index].ids, now: now,
                    into: &actions)
            }
            return
        }
        guard case .payloads(let payloads) = message.body, let offer = payloads.securityAssociation else {
            drop("Main Mode message 1 without a cleartext SA payload", now: now, into: &actions)
            return
        }
        let acceptsNew = isakmpSAs.isEmpty ? role == .responder : current != nil
        guard acceptsNew, makeRoomForMainMode() else {
            drop("Main Mode message 1 not expected now", now: now, into: &actions)
            return
        }
        let choice: (reply: ISAKMPSecurityAssociationPayload, suite: IKEv1Phase1Suite, lifetime: IKEv1Lifetime)
        switch IKEv1Proposals.choosePhase1(offer, ours: configuration.ikeProposals) {
        case .success(let chosen): choice = chosen
        case .failure(let mismatch):
            emit(
                .proposalMismatch, .error, "phase 1 (Main Mode) proposal mismatch: \(mismatch)",
                details: [
                    "peer": mismatch.peer.joined(separator: ", "), "ours": mismatch.ours, "phase": "1",
                    "rejected_by": "us",
                ],
                ids: [], now: now, into: &actions)
            sendCleartextNotification(.noProposalChosen, cookieI: message.initiatorCookie, cookieR: 0, into: &actions)
            if isakmpSAs.isEmpty {
                restartAfterClose = false
                close(now: now, into: &actions)
            }
            return
        }
        guard let saIndex = payloads.firstIndex(where: { $0.payloadType == .securityAssociation }),
            let saBody = IKEv1Raw.payloadBody(ofMessage: datagram.bytes, index: saIndex)
        else {
            drop("Main Mode message 1 SA payload unreadable", now: now, into: &actions)
            return
        }
        let vendorIDs = payloads.vendorIDs
        let peerNATT = vendorIDs.contains(Self.natTraversalVendorID)
        let cookieR = isakmpSAs.isEmpty ? firstCookie : randomNonZero64()
        var reply: [ISAKMPPayload] = [.securityAssociation(choice.reply)]
        if peerNATT { reply.append(.vendorID(ISAKMPDataPayload(data: Self.natTraversalVendorID))) }
        reply.append(.vendorID(ISAKMPDataPayload(data: Self.deadPeerDetectionVendorID)))
        let bytes = ISAKMPMessage(
            initiatorCookie: message.initiatorCookie, responderCookie: cookieR, exchangeType: .identityProtection,
            messageID: 0, body: .payloads(reply)
        ).serialize()

        var sa = ISAKMPSA(
            role: .responder, cookieI: message.initiatorCookie, cookieR: cookieR, phase: .repliedMM2,
            startedAt: now, isRekey: current != nil)
        sa.initiatorSABody = saBody
        sa.suite = choice.suite
        sa.peerSupportsNATT = peerNATT
        sa.peerSupportsDPD = vendorIDs.contains(Self.deadPeerDetectionVendorID)
        let ours = ourLifetimeIKE
        sa.lifetime = ours.smaller(choice.lifetime)
        sa.lifetimeReason =
            ours.isShorter(than: choice.lifetime)
            ? "our policy (RESPONDER-LIFETIME sent)"
            : (choice.lifetime == ours ? "both agree" : "the initiator's proposal")
        // Half-open and unproven (the source may be spoofed): what message 3 needs and a digest of the request
        // to recognise a repeat, which is answered from this cache; message 2 is never retransmitted (no
        // amplification towards a spoofed address). The event comes with message 3.
        sa.answered = IKECachedResponse(requestBytes: datagram.bytes, datagrams: [bytes])
        isakmpSAs.append(sa)
        actions.append(.send(IKEDatagram(bytes: bytes, source: datagram.destination, destination: datagram.source)))
        armHousekeeping(into: &actions)
    }

    /// Room for one more ISAKMP SA: at ``maximumISAKMPSAs`` the oldest half-open responder SA whose peer has
    /// not sent message 3 gives way (a flood of message 1 from a spoofed peer address must not block the
    /// peer's phase 1 rekey). False when every SA is past that point.
    mutating func makeRoomForMainMode() -> Bool {
        guard isakmpSAs.count >= Self.maximumISAKMPSAs else { return true }
        guard let oldest = isakmpSAs.firstIndex(where: { $0.role == .responder && $0.phase == .repliedMM2 }) else {
            return false
        }
        isakmpSAs.remove(at: oldest)
        dropLog.count()
        return isakmpSAs.count < Self.maximumISAKMPSAs
    }

    // MARK: - Initiator

    /// Message 1: our SA offer and vendor IDs (NAT-T RFC 3947, DPD RFC 3706).
    mutating func startMainMode(isRekey: Bool, now: MonotonicTime, into actions: inout [IKEAction]) {
        let cookieI = isakmpSAs.isEmpty && !isRekey ? firstCookie : randomNonZero64()
        let offer = IKEv1Proposals.phase1SA(configuration.ikeProposals, lifetime: ourLifetimeIKE)
        let payloads: [ISAKMPPayload] = [
            .securityAssociation(offer),
            .vendorID(ISAKMPDataPayload(data: Self.natTraversalVendorID)),
            .vendorID(ISAKMPDataPayload(data: Self.deadPeerDetectionVendorID)),
        ]
        let bytes = ISAKMPMessage(
            initiatorCookie: cookieI, responderCookie: 0, exchangeType: .identityProtection, messageID: 0,
            body: .payloads(payloads)
        ).serialize()
        var sa = ISAKMPSA(
            role: .initiator, cookieI: cookieI, cookieR: 0, phase: .sentMM1, startedAt: now,
            isRekey: isRekey)
        sa.initiatorSABody = IKEv1Raw.body(of: .securityAssociation(offer))
        sa.retransmission = pending(bytes, messageID: 0, now: now)
        if !isRekey {
            local = configuration.local
            remote = configuration.remote
        }
        isakmpSAs.append(sa)
        emit(
            .ikeSAInitiating, .info,
            (isRekey ? "replacing the ISAKMP SA: " : "") + "initiating Main Mode to "
                + "\(remote) offering \(configuration.ikeProposals)", ids: sa.ids, now: now, into: &actions)
        send(bytes, into: &actions)
        armRetransmitTimer(0, into: &actions)
    }

    /// Message 2: the responder's choice. Then message 3: KE, Ni and NAT-D.
    mutating func handleMM2(
        _ index: Int, _ message: ISAKMPMessage, datagram: IKEDatagram, now: MonotonicTime,
        into actions: inout [IKEAction]
    ) {
        var sa = isakmpSAs[index]
        guard case .payloads(let payloads) = message.body, let reply = payloads.securityAssociation else {
            drop("Main Mode message 2 without a cleartext SA payload", ids: sa.ids, now: now, into: &actions)
            return
        }
        let accepted: (suite: IKEv1Phase1Suite, lifetime: IKEv1Lifetime)
        switch IKEv1Proposals.acceptPhase1(reply, ours: configuration.ikeProposals) {
        case .success(let value): accepted = value
        case .failure(let mismatch):
            emit(
                .proposalMismatch, .error,
                "phase 1 (Main Mode): the responder chose something we did not offer: "
                    + "\(mismatch)",
                details: [
                    "peer": mismatch.peer.joined(separator: ", "), "ours": mismatch.ours,
                    "phase": "1", "rejected_by": "us",
                ], ids: sa.ids, now: now, into: &actions)
            dropLog.count()
            return
        }
        let exchange: any DiffieHellmanExchange
        do {
            exchange = try makeExchange(accepted.suite.group)
        } catch {
            drop("cannot start \(accepted.suite.group.keyword): \(error)", ids: sa.ids, now: now, into: &actions)
            return
        }
        let vendorIDs = payloads.vendorIDs
        sa.cookieR = message.responderCookie
        sa.suite = accepted.suite
        sa.peerSupportsNATT = vendorIDs.contains(Self.natTraversalVendorID)
        sa.peerSupportsDPD = vendorIDs.contains(Self.deadPeerDetectionVendorID)
        let ours = ourLifetimeIKE
        sa.lifetime = ours.smaller(accepted.lifetime)
        sa.lifetimeReason = accepted.lifetime == ours ? "our proposal" : "the responder's answer"
        sa.exchange = exchange
        sa.publicI = exchange.publicValue
        sa.nonceI = randomBytes(Self.nonceLength)
        var out: [ISAKMPPayload] = [
            .keyExchange(ISAKMPDataPayload(data: sa.publicI)), .nonce(ISAKMPNoncePayload(nonce: sa.nonceI)),
        ]
        if sa.peerSupportsNATT { out += natDiscoveryPayloads(sa) }
        let bytes = ISAKMPMessage(
            initiatorCookie: sa.cookieI, responderCookie: sa.cookieR, exchangeType: .identityProtection,
            messageID: 0, body: .payloads(out)
        ).serialize()
        sendNextMainModeMessage(
            bytes, of: sa, at: index, phase: .sentMM3, answering: datagram, now: now, into: &actions)
    }

    /// Message 4: KE, Nr, NAT-D. Then message 5: IDii and HASH_I, encrypted (floated to 4500 behind a NAT).
    mutating func handleMM4(
        _ index: Int, _ message: ISAKMPMessage, datagram: IKEDatagram, now: MonotonicTime,
        into actions: inout [IKEAction]
    ) {
        var sa = isakmpSAs[index]
        do {
            let (crypto, payloads) = try deriveKeys(&sa, from: message)
            if sa.peerSupportsNATT {
                detectNAT(&sa, payloads.natDiscoveries, datagram: datagram, crypto: crypto, now: now, into: &actions)
            }
            // RFC 3947 section 4: the initiator floats to 4500 from message 5 on when a NAT was detected.
            var floatedLocal = local
            var floatedRemote = remote
            if usesUDPEncapsulation(sa) && sa.peerSupportsNATT {
                floatedLocal.port = 4500
                floatedRemote.port = 4500
            }
            var inner: [ISAKMPPayload] = [.identification(IKEv1Proposals.identification(configuration.localIdentity))]
            let idBody = IKEv1Raw.body(of: inner[0])
            let hashI = crypto.phase1Hash(
                ofInitiator: true, publicInitiator: sa.publicI, publicResponder: sa.publicR,
                initiatorSABody: sa.initiatorSABody, identificationBody: idBody)
            inner.append(.hash(ISAKMPDataPayload(data: hashI)))
            if configuration.sendInitialContact && !sa.isRekey {
                inner.append(isakmpNotification(.initialContact, sa: sa))
            }
            let sealed = try crypto.encrypt(
                cookieInitiator: sa.cookieI, cookieResponder: sa.cookieR, exchange: .identityProtection, messageID: 0,
                payloads: inner, iv: sa.iv)
            sa.iv = sealed.lastBlock
            local = floatedLocal
            remote = floatedRemote
            sendNextMainModeMessage(
                sealed.bytes, of: sa, at: index, phase: .sentMM5, answering: datagram, now: now, into: &actions)
        } catch {
            drop("unusable Main Mode message 4: \(error)", ids: sa.ids, now: now, into: &actions)
        }
    }

    /// Message 6: IDir and HASH_R. The ISAKMP SA is established; Quick Modes follow.
    mutating func handleMM6(
        _ index: Int, _ message: ISAKMPMessage, datagram: IKEDatagram, now: MonotonicTime,
        into actions: inout [IKEAction]
    ) {
        var sa = isakmpSAs[index]
        let decrypted: IKEv1SACrypto.Decrypted
        do {
            guard let peer = try verifiedPeerHash(index, message, now: now, into: &actions) else { return }
            guard matches(peer.identity, configuration.remoteIdentity) else {
                throw IKEv1Failure.unexpectedIdentity(peer.identity.map { "\($0)" } ?? "unreadable")
            }
            decrypted = peer.decrypted
        } catch {
            emit(
                .authenticationFailed, .error,
                "Main Mode message 6 rejected: \(error); expected identity "
                    + "\(configuration.remoteIdentity)", details: ["rejected_by": "us"], ids: sa.ids, now: now,
                into: &actions)
            dropLog.count()
            return
        }
        sa.lastPhase1Block = decrypted.lastBlock
        // Nothing to answer a repeated message 6 with (resending message 5 would start a ping-pong).
        sa.answered = IKECachedResponse(requestBytes: datagram.bytes, datagrams: [])
        sa.retransmission = nil
        isakmpSAs[index] = sa
        actions.append(.cancelTimer(.retransmit(messageID: 0)))
        armRetransmitTimer(0, into: &actions)
        lastInbound = now
        local = datagram.destination
        remote = datagram.source
        established(index, now: now, into: &actions)
        for notification in decrypted.payloads.notifications where notification.notifyType == .responderLifetime {
            applyResponderLifetime(notification, now: now, into: &actions)
        }
        if !sa.isRekey {
            for pair in configuration.selectorPairs {
                startQuickMode(pair: pair, replacing: nil, now: now, into: &actions)
            }
        }
    }
}
