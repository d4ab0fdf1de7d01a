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
    private mutating func resendOnDuplicate(
        _ index: Int, datagram: IKEDatagram, now: MonotonicTime, into actions: inout [IKEAction]
    ) -> Bool {
        guard let last = isakmpSAs[index].lastReceived, last == datagram.bytes else { return false }
        droppedMessages &+= 1
        if let answered = isakmpSAs[index].lastDuplicateAnswer, now - answered < Self.duplicateAnswerInterval {
            return true
        }
        isakmpSAs[index].lastDuplicateAnswer = now
        if let answer = isakmpSAs[index].lastSent {
            actions.append(
                .send(IKEDatagram(bytes: answer, source: datagram.destination, destination: datagram.source)))
            emit(
                .retransmit, .info, "peer repeated its last Main Mode message; sent our answer again",
                ids: isakmpSAs[index].ids, now: now, into: &actions)
        }
        return true
    }

    /// Message 1: a new ISAKMP SA (the first of this connection, or the peer's phase 1 rekey).
    private mutating func handleMainModeRequest(
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
        guard acceptsNew, isakmpSAs.count < Self.maximumISAKMPSAs else {
            drop("Main Mode message 1 not expected now", now: now, into: &actions)
            return
        }
        let choice: (reply: ISAKMPSecurityAssociationPayload, suite: IKEv1Phase1Suite, lifetime: IKEv1Lifetime)
        switch IKEv1Proposals.choosePhase1(offer, ours: configuration.ikeProposals) {
        case .success(let chosen): choice = chosen
        case .failure(let mismatch):
            emit(
                .proposalMismatch, .error, "phase 1 (Main Mode) proposal mismatch: \(mismatch)",
                details: ["peer": mismatch.peer.joined(separator: ", "), "ours": mismatch.ours, "phase": "1"],
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
        sa.lastReceived = datagram.bytes
        sa.lastSent = bytes
        sa.retransmission = Retransmission(messageID: 0, bytes: bytes, nextAt: now + retransmitTimeout(0))
        isakmpSAs.append(sa)
        lastInbound = now
        emit(
            .ikeSAInitiating, .info,
            "Main Mode from \(datagram.source): chose \(choice.suite)"
                + (sa.isRekey ? " (the peer is replacing the ISAKMP SA)" : ""), ids: sa.ids, now: now, into: &actions)
        actions.append(.send(IKEDatagram(bytes: bytes, source: datagram.destination, destination: datagram.source)))
        armRetransmitTimer(0, into: &actions)
        armHousekeeping(into: &actions)
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
        sa.lastSent = bytes
        sa.retransmission = Retransmission(messageID: 0, bytes: bytes, nextAt: now + retransmitTimeout(0))
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
    private mutating func handleMM2(
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
                    "phase": "1",
                ], ids: sa.ids, now: now, into: &actions)
            droppedMessages &+= 1
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
        sa.phase = .sentMM3
        sa.lastReceived = datagram.bytes
        sa.lastSent = bytes
        sa.retransmission = Retransmission(messageID: 0, bytes: bytes, nextAt: now + retransmitTimeout(0))
        isakmpSAs[index] = sa
        lastInbound = now
        send(bytes, into: &actions)
        armRetransmitTimer(0, into: &actions)
    }

    /// Message 4: KE, Nr, NAT-D. Then message 5: IDii and HASH_I, encrypted (floated to 4500 behind a NAT).
    private mutating func handleMM4(
        _ index: Int, _ message: ISAKMPMessage, datagram: IKEDatagram, now: MonotonicTime,
        into actions: inout [IKEAction]
    ) {
        var sa = isakmpSAs[index]
        do {
            guard case .payloads(let payloads) = message.body else {
                throw IKEv1Failure.malformed("encrypted message 4")
            }
            guard let publicR = payloads.keyExchange else { throw IKEv1Failure.missingPayload("KE") }
            guard let nonceR = payloads.nonce else { throw IKEv1Failure.missingPayload("Nr") }
            guard let suite = sa.suite, let exchange = sa.exchange else { throw IKEv1Failure.malformed("no suite") }
            let shared = try exchange.sharedSecret(peerPublicValue: publicR)
            let crypto = try IKEv1SACrypto(
                suite: suite, sharedKey: configuration.sharedKey, sharedSecret: shared, nonceInitiator: sa.nonceI,
                nonceResponder: nonceR, cookieInitiator: sa.cookieI, cookieResponder: sa.cookieR)
            let iv = try crypto.phase1IV(publicInitiator: sa.publicI, publicResponder: publicR)
            sa.publicR = publicR
            sa.nonceR = nonceR
            sa.crypto = crypto
            sa.exchange = nil
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
                inner.append(
                    .notification(
                        ISAKMPNotificationPayload(
                            protocolID: .isakmp, spi: IKEv1SACrypto.bytes(sa.cookieI) + IKEv1SACrypto.bytes(sa.cookieR),
                            notifyType: .initialContact)))
            }
            let sealed = try crypto.encrypt(
                cookieInitiator: sa.cookieI, cookieResponder: sa.cookieR, exchange: .identityProtection, messageID: 0,
                payloads: inner, iv: iv)
            sa.iv = sealed.lastBlock
            sa.phase = .sentMM5
            sa.lastReceived = datagram.bytes
            sa.lastSent = sealed.bytes
            sa.retransmission = Retransmission(messageID: 0, bytes: sealed.bytes, nextAt: now + retransmitTimeout(0))
            isakmpSAs[index] = sa
            local = floatedLocal
            remote = floatedRemote
            lastInbound = now
            send(sealed.bytes, into: &actions)
            armRetransmitTimer(0, into: &actions)
        } catch {
            drop("unusable Main Mode message 4: \(error)", ids: sa.ids, now: now, into: &actions)
        }
    }

    /// Message 6: IDir and HASH_R. The ISAKMP SA is established; Quick Modes follow.
    private mutating func handleMM6(
        _ index: Int, _ message: ISAKMPMessage, datagram: IKEDatagram, now: MonotonicTime,
        into actions: inout [IKEAction]
    ) {
        var sa = isakmpSAs[index]
        guard let crypto = sa.crypto else { return }
        let decrypted: IKEv1SACrypto.Decrypted
        do {
            decrypted = try crypto.decrypt(message, iv: sa.iv)
        } catch {
            reportKeyMismatch(index, "Main Mode message 6 \(error)", now: now, into: &actions)
            return
        }
        do {
            let (identity, idBody) = try identification(in: decrypted)
            guard let hashR = decrypted.payloads.hash else { throw IKEv1Failure.missingPayload("HASH_R") }
            let expected = crypto.phase1Hash(
                ofInitiator: false, publicInitiator: sa.publicI, publicResponder: sa.publicR,
                initiatorSABody: sa.initiatorSABody, identificationBody: idBody)
            guard constantTimeEqual(hashR, expected) else {
                reportKeyMismatch(index, "HASH_R of Main Mode message 6 does not verify", now: now, into: &actions)
                return
            }
            guard matches(identity, configuration.remoteIdentity) else {
                throw IKEv1Failure.unexpectedIdentity(identity.map { "\($0)" } ?? "unreadable")
            }
        } catch {
            emit(
                .authenticationFailed, .error,
                "Main Mode message 6 rejected: \(error); expected identity "
                    + "\(configuration.remoteIdentity)", ids: sa.ids, now: now, into: &actions)
            droppedMessages &+= 1
            return
        }
        sa.lastPhase1Block = decrypted.lastBlock
        sa.lastReceived = datagram.bytes
        // Nothing to answer a repeated message 6 with (resending message 5 would start a ping-pong).
        sa.lastSent = nil
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

    // MARK: - Responder

    /// Message 3: KE, Ni, NAT-D. Then message 4.
    private mutating func handleMM3(
        _ index: Int, _ message: ISAKMPMessage, datagram: IKEDatagram, now: MonotonicTime,
        into actions: inout [IKEAction]
    ) {
        var sa = isakmpSAs[index]
        do {
            guard case .payloads(let payloads) = message.body else {
                throw IKEv1Failure.malformed("encrypted message 3")
            }
            guard let publicI = payloads.keyExchange else { throw IKEv1Failure.missingPayload("KE") }
            guard let nonceI = payloads.nonce else { throw IKEv1Failure.missingPayload("Ni") }
            guard let suite = sa.suite else { throw IKEv1Failure.malformed("no suite") }
            let exchange = try makeExchange(suite.group)
            let shared = try exchange.sharedSecret(peerPublicValue: publicI)
            let nonceR = randomBytes(Self.nonceLength)
            let crypto = try IKEv1SACrypto(
                suite: suite, sharedKey: configuration.sharedKey, sharedSecret: shared, nonceInitiator: nonceI,
                nonceResponder: nonceR, cookieInitiator: sa.cookieI, cookieResponder: sa.cookieR)
            sa.publicI = publicI
            sa.publicR = exchange.publicValue
            sa.nonceI = nonceI
            sa.nonceR = nonceR
            sa.iv = try crypto.phase1IV(publicInitiator: sa.publicI, publicResponder: sa.publicR)
            sa.crypto = crypto
            var out: [ISAKMPPayload] = [
                .keyExchange(ISAKMPDataPayload(data: sa.publicR)), .nonce(ISAKMPNoncePayload(nonce: nonceR)),
            ]
            if sa.peerSupportsNATT, !payloads.natDiscoveries.isEmpty {
                detectNAT(&sa, payloads.natDiscoveries, datagram: datagram, crypto: crypto, now: now, into: &actions)
                out += natDiscoveryPayloads(sa, remote: datagram.source, local: datagram.destination)
            }
            let bytes = ISAKMPMessage(
                initiatorCookie: sa.cookieI, responderCookie: sa.cookieR, exchangeType: .identityProtection,
                messageID: 0, body: .payloads(out)
            ).serialize()
            sa.phase = .repliedMM4
            sa.lastReceived = datagram.bytes
            sa.lastSent = bytes
            sa.retransmission = Retransmission(messageID: 0, bytes: bytes, nextAt: now + retransmitTimeout(0))
            isakmpSAs[index] = sa
            lastInbound = now
            actions.append(.send(IKEDatagram(bytes: bytes, source: datagram.destination, destination: datagram.source)))
            armRetransmitTimer(0, into: &actions)
        } catch {
            drop("unusable Main Mode message 3: \(error)", ids: sa.ids, now: now, into: &actions)
        }
    }

    /// Message 5: IDii and HASH_I. A message that will not decrypt almost always means the keys differ,
    /// i.e. the pre-shared keys do (RFC 2409 section 5.4: SKEYID depends on the key).
    private mutating func handleMM5(
        _ index: Int, _ message: ISAKMPMessage, datagram: IKEDatagram, now: MonotonicTime,
        into actions: inout [IKEAction]
    ) {
        var sa = isakmpSAs[index]
        guard let crypto = sa.crypto else { return }
        let decrypted: IKEv1SACrypto.Decrypted
        do {
            decrypted = try crypto.decrypt(message, iv: sa.iv)
        } catch {
            reportKeyMismatch(index, "Main Mode message 5 \(error)", now: now, into: &actions)
            return
        }
        let identity: IKEv1Configuration.Identity?
        do {
            let (peerIdentity, idBody) = try identification(in: decrypted)
            identity = peerIdentity
            guard let hashI = decrypted.payloads.hash else { throw IKEv1Failure.missingPayload("HASH_I") }
            let expected = crypto.phase1Hash(
                ofInitiator: true, publicInitiator: sa.publicI, publicResponder: sa.publicR,
                initiatorSABody: sa.initiatorSABody, identificationBody: idBody)
            guard constantTimeEqual(hashI, expected) else {
                reportKeyMismatch(index, "HASH_I of Main Mode message 5 does not verify", now: now, into: &actions)
                return
            }
        } catch {
            drop("unusable Main Mode message 5: \(error)", ids: sa.ids, now: now, into: &actions)
            return
        }
        guard matches(identity, configuration.remoteIdentity) else {
            emit(
                .authenticationFailed, .error,
                "peer identifies as \(identity.map { "\($0)" } ?? "an unreadable ID"), "
                    + "expected \(configuration.remoteIdentity): check the peer's local ID (or our remote ID)",
                ids: sa.ids, now: now, into: &actions)
            droppedMessages &+= 1
            sendProtectedNotification(.invalidIDInformation, sa: sa, now: now, into: &actions)
            isakmpSAs.remove(at: index)
            armRetransmitTimer(0, into: &actions)
            if isakmpSAs.isEmpty {
                restartAfterClose = false
                close(now: now, into: &actions)
            }
            return
        }
        do {
            let inner: [ISAKMPPayload] = [
                .identification(IKEv1Proposals.identification(configuration.localIdentity))
            ]
            let hashR = crypto.phase1Hash(
                ofInitiator: false, publicInitiator: sa.publicI, publicResponder: sa.publicR,
                initiatorSABody: sa.initiatorSABody, identificationBody: IKEv1Raw.body(of: inner[0]))
            let sealed = try crypto.encrypt(
                cookieInitiator: sa.cookieI, cookieResponder: sa.cookieR, exchange: .identityProtection, messageID: 0,
                payloads: inner + [.hash(ISAKMPDataPayload(data: hashR))], iv: decrypted.lastBlock)
            sa.iv = sealed.lastBlock
            sa.lastPhase1Block = sealed.lastBlock
            sa.lastReceived = datagram.bytes
            sa.lastSent = sealed.bytes
            sa.retransmission = nil
            isakmpSAs[index] = sa
            lastInbound = now
            // Answer where the initiator is now (it may have floated to 4500, or sit behind a NAT).
            local = datagram.destination
            remote = datagram.source
            armRetransmitTimer(0, into: &actions)
            if decrypted.payloads.notifications.contains(where: { $0.notifyType == .initialContact }) {
                forgetOlderSAs(than: index, now: now, into: &actions)
            }
            send(sealed.bytes, into: &actions)
            guard let newIndex = isakmpSAs.firstIndex(where: { $0.cookieI == sa.cookieI && $0.cookieR == sa.cookieR })
            else { return }
            established(newIndex, now: now, into: &actions)
            if sa.lifetimeReason.hasPrefix("our policy") {
                // RFC 2407 4.6.3.1, as Cisco does for phase 1: an Informational after message 6.
                sendResponderLifetime(phase1: isakmpSAs[newIndex], now: now, into: &actions)
            }
        } catch {
            drop("cannot answer Main Mode message 5: \(error)", ids: sa.ids, now: now, into: &actions)
        }
    }

    // MARK: - Shared steps

    /// The peer's phase 1 identity and the raw body of its ID payload (HASH_I/HASH_R cover it as sent).
    private func identification(in decrypted: IKEv1SACrypto.Decrypted) throws
        -> (IKEv1Configuration.Identity?, [UInt8])
    {
        guard let index = decrypted.payloads.firstIndex(where: { $0.payloadType == .identification }),
            case .identification(let id) = decrypted.payloads[index]
        else { throw IKEv1Failure.missingPayload("ID") }
        let extents = IKEv1Raw.payloadExtents(decrypted.plaintext, count: index + 1)
        guard extents.count == index + 1 else { throw IKEv1Failure.malformed("ID payload extent") }
        let body = Array(decrypted.plaintext[(extents[index].lowerBound + 4)..<extents[index].upperBound])
        return (IKEv1Proposals.identity(id), body)
    }

    private func matches(_ identity: IKEv1Configuration.Identity?, _ expected: IKEv1Configuration.Identity) -> Bool {
        switch (identity, expected) {
        case (.address(let a)?, .address(let b)): a == b
        case (.fqdn(let a)?, .fqdn(let b)): a.lowercased() == b.lowercased()
        default: false
        }
    }

    /// A Main Mode message 5 or 6 that does not decrypt or whose hash fails: with pre-shared keys the
    /// keys differ, nearly always because the shared keys do. Logged once per SA; the message is dropped
    /// (it could be forged) and the exchange runs into its timeout if the peer keeps sending such.
    mutating func reportKeyMismatch(
        _ index: Int, _ reason: String, now: MonotonicTime, into actions: inout [IKEAction]
    ) {
        droppedMessages &+= 1
        guard !isakmpSAs[index].reportedKeyMismatch else { return }
        isakmpSAs[index].reportedKeyMismatch = true
        emit(
            .authenticationFailed, .error,
            "\(reason): likely pre-shared key mismatch; check that both gateways "
                + "use the same key (isthmus key show \(connection))", details: ["reason": "likely-psk-mismatch"],
            ids: isakmpSAs[index].ids, now: now, into: &actions)
    }

    /// NAT-D payloads (RFC 3947 section 3.2): the peer's address and port first, then ours. With
    /// `forceUDPEncapsulation` ours is deliberately wrong so that both ends float and encapsulate.
    private func natDiscoveryPayloads(_ sa: ISAKMPSA, remote: UDPEndpoint? = nil, local: UDPEndpoint? = nil)
        -> [ISAKMPPayload]
    {
        guard let suite = sa.suite, let prf = try? CryptoSuites.make(prfID: suite.prf.ikev2ID) else { return [] }
        let theirs = IKEv1SACrypto.natDetectionHash(
            prf: prf, cookieInitiator: sa.cookieI, cookieResponder: sa.cookieR, endpoint: remote ?? self.remote)
        var mine = IKEv1SACrypto.natDetectionHash(
            prf: prf, cookieInitiator: sa.cookieI, cookieResponder: sa.cookieR, endpoint: local ?? self.local)
        if configuration.forceUDPEncapsulation { mine = mine.map { ~$0 } }
        return [.natDiscovery(ISAKMPDataPayload(data: theirs)), .natDiscovery(ISAKMPDataPayload(data: mine))]
    }

    /// Compares the peer's NAT-D hashes with the addresses this datagram really carried.
    private func detectNAT(
        _ sa: inout ISAKMPSA, _ hashes: [[UInt8]], datagram: IKEDatagram, crypto: IKEv1SACrypto, now: MonotonicTime,
        into actions: inout [IKEAction]
    ) {
        guard let first = hashes.first else { return }
        let ours = IKEv1SACrypto.natDetectionHash(
            prf: crypto.prf, cookieInitiator: sa.cookieI, cookieResponder: sa.cookieR, endpoint: datagram.destination)
        let theirs = IKEv1SACrypto.natDetectionHash(
            prf: crypto.prf, cookieInitiator: sa.cookieI, cookieResponder: sa.cookieR, endpoint: datagram.source)
        sa.natLocal = first != ours
        sa.natRemote = !hashes.dropFirst().contains(theirs)
        if sa.natLocal || sa.natRemote {
            let who = [sa.natLocal ? "we are behind a NAT" : nil, sa.natRemote ? "the peer is behind a NAT" : nil]
                .compactMap { $0 }.joined(separator: " and ")
            emit(
                .natDetected, .notice, "\(who): IKE moves to UDP 4500 and ESP is UDP-encapsulated (RFC 3947, 3948)",
                details: ["local": "\(sa.natLocal)", "remote": "\(sa.natRemote)"], ids: sa.ids, now: now,
                into: &actions)
        }
    }

    /// Phase 1 is complete: timers, events, and (for a replacement) the hand-over from the old SA.
    private mutating func established(_ index: Int, now: MonotonicTime, into actions: inout [IKEAction]) {
        var sa = isakmpSAs[index]
        sa.phase = .established
        sa.establishedAt = now
        let seconds = sa.lifetime.seconds ?? ourLifetimeIKE.seconds ?? IKEv1Proposals.defaultLifetimeSeconds
        let lifetime = Duration.seconds(Int64(clamping: seconds))
        sa.expiresAt = now + lifetime
        sa.rekeyAt = rekeyTime(lifetime: lifetime, from: now)
        isakmpSAs[index] = sa
        let previous = current
        currentCookieI = sa.cookieI
        // Keep the new SA, the one it replaces (the peer may still use it until it deletes it) and any
        // negotiation in progress; older ones are gone.
        isakmpSAs.removeAll {
            $0.isEstablished && $0.cookieI != sa.cookieI && $0.cookieI != previous?.cookieI
        }
        guard isakmpSAs.contains(where: { $0.cookieI == sa.cookieI && $0.cookieR == sa.cookieR }) else { return }
        let suite = sa.suite.map { "\($0)" } ?? "?"
        if let previous, sa.isRekey || previous.cookieI != sa.cookieI {
            emit(
                .ikeSARekeyed, .info,
                "ISAKMP SA replaced: \(previous.ids[0]) -> \(sa.ids[0]) with \(suite); "
                    + "\(ipsecSAs.count) IPsec SA(s) now belong to the new one", ids: sa.ids, now: now, into: &actions)
            // We replaced it: the old one is deleted (RFC 2408 section 3.15), a little later, once the peer has
            // moved its IPsec SAs to the new one (replacedISAKMPSADeleteDelay).
            if sa.role == .initiator, let oldIndex = isakmpSAs.firstIndex(where: { $0.cookieI == previous.cookieI }) {
                isakmpSAs[oldIndex].retireAt = now + Self.replacedISAKMPSADeleteDelay
            }
        } else {
            emit(
                .ikeSAEstablished, .info,
                "ISAKMP SA established with \(remote) (\(configuration.remoteIdentity)) "
                    + "using \(suite) as \(sa.role.rawValue)",
                details: ["algorithms": suite, "role": sa.role.rawValue],
                ids: sa.ids, now: now, into: &actions)
        }
        emitLifetime(
            phase: "phase 1 (ISAKMP SA)", ours: ourLifetimeIKE, used: sa.lifetime, reason: sa.lifetimeReason,
            ids: sa.ids, now: now, into: &actions)
        armHousekeeping(into: &actions)
        actions.append(.armTimer(.rekeyIKESA, at: sa.rekeyAt ?? now))
        if configuration.deadPeerDetection != nil, sa.peerSupportsDPD, let dpd = configuration.deadPeerDetection {
            deadPeerCheck = nil
            actions.append(.armTimer(.liveness, at: now + dpd.interval))
        }
        if sa.natLocal { actions.append(.armTimer(.natKeepalive, at: now + Self.natKeepaliveInterval)) }
    }

    /// The one-line lifetime decision event: ours, the peer's, what is used and why.
    mutating func emitLifetime(
        phase: String, ours: IKEv1Lifetime, peer: IKEv1Lifetime? = nil, used: IKEv1Lifetime, reason: String,
        ids: [String], now: MonotonicTime, into actions: inout [IKEAction]
    ) {
        let peerText = peer.map { ", peer's \($0)" } ?? ""
        emit(
            .lifetimeChosen, .info, "\(phase) lifetime: ours \(ours)\(peerText), using \(used) because of \(reason)",
            details: ["ours": "\(ours)", "peer": peer.map { "\($0)" } ?? "", "used": "\(used)", "reason": reason],
            ids: ids, now: now, into: &actions)
    }

    /// INITIAL-CONTACT (RFC 2407 4.6.3.3): the peer has no other SA with us, so ours are stale.
    private mutating func forgetOlderSAs(than index: Int, now: MonotonicTime, into actions: inout [IKEAction]) {
        let keep = isakmpSAs[index]
        let stale = isakmpSAs.filter { $0.cookieI != keep.cookieI || $0.cookieR != keep.cookieR }
        guard !stale.isEmpty || !ipsecSAs.isEmpty else { return }
        emit(
            .ikeSADeleted, .notice,
            "INITIAL-CONTACT: the peer restarted; removing \(stale.count) old ISAKMP SA(s) "
                + "and \(ipsecSAs.count) IPsec SA(s)", ids: keep.ids, now: now, into: &actions)
        for sa in ipsecSAs {
            removeIPsecSA(
                inboundSPI: sa.inboundSPI, reason: "peer sent INITIAL-CONTACT", now: now,
                into: &actions)
        }
        isakmpSAs.removeAll { $0.cookieI != keep.cookieI || $0.cookieR != keep.cookieR }
        if let cookie = currentCookieI, !isakmpSAs.contains(where: { $0.cookieI == cookie }) { currentCookieI = nil }
    }

    /// An unencrypted Informational exchange with one error notification (before keys exist).
    mutating func sendCleartextNotification(
        _ type: ISAKMPNotifyType, cookieI: UInt64, cookieR: UInt64, into actions: inout [IKEAction]
    ) {
        let messageID = newMessageID()
        let bytes = ISAKMPMessage(
            initiatorCookie: cookieI, responderCookie: cookieR, exchangeType: .informational, messageID: messageID,
            body: .payloads([.notification(ISAKMPNotificationPayload(protocolID: .isakmp, notifyType: type))])
        ).serialize()
        send(bytes, into: &actions)
    }

    // MARK: - Phase 1 rekey

    /// Replaces the ISAKMP SA with a new Main Mode before it expires; IPsec SAs carry on and move to the
    /// new SA (strongSwan's IKEv1 reauthentication keeps them). At the hard expiry without a successor the
    /// connection restarts.
    mutating func rekeyISAKMPSA(now: MonotonicTime, into actions: inout [IKEAction]) {
        guard let current, let expiresAt = current.expiresAt else { return }
        if now >= expiresAt {
            emit(
                .ikeSADeleted, .warning, "ISAKMP SA expired without a successor; negotiating again",
                ids: current.ids, now: now, into: &actions)
            sendISAKMPDelete(current, now: now, into: &actions)
            restartAfterClose = true
            close(now: now, into: &actions)
            return
        }
        if !isakmpSAs.contains(where: { !$0.isEstablished }) {
            startMainMode(isRekey: true, now: now, into: &actions)
        }
        actions.append(.armTimer(.rekeyIKESA, at: expiresAt))
    }
}

/// Compares two byte strings in time independent of where they differ.
func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
    guard a.count == b.count else { return false }
    var difference: UInt8 = 0
    for index in a.indices { difference |= a[index] ^ b[index] }
    return difference == 0
}
