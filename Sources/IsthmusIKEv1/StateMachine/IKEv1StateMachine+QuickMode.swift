import IsthmusCrypto
import IsthmusEvents
import IsthmusIKE
import IsthmusIP
import IsthmusWire

/// Quick Mode (RFC 2409 section 5.5), with or without PFS, one IPsec SA per selector pair:
///
/// ```
/// I -> R  HDR*, HASH(1), SA, Ni [, KE] [, IDci, IDcr]
/// R -> I  HDR*, HASH(2), SA, Nr [, KE] [, IDci, IDcr] [, N(RESPONDER-LIFETIME)]
/// I -> R  HDR*, HASH(3)
/// ```
/// The commit bit is not used: the initiator installs after message 2, the responder after message 3.
extension IKEv1StateMachine {
    mutating func handleQuickMode(
        _ message: ISAKMPMessage, datagram: IKEDatagram, now: MonotonicTime, into actions: inout [IKEAction]
    ) {
        guard
            let saIndex = isakmpSAs.firstIndex(where: {
                $0.cookieI == message.initiatorCookie && $0.cookieR == message.responderCookie && $0.isEstablished
            })
        else {
            drop(
                "Quick Mode for an unknown ISAKMP SA (cookies \(SAIdentifier.ike(message.initiatorCookie))/"
                    + "\(SAIdentifier.ike(message.responderCookie)))", now: now, into: &actions)
            return
        }
        let ids = isakmpSAs[saIndex].ids
        guard message.messageID != 0 else {
            drop("Quick Mode with message ID 0", ids: ids, now: now, into: &actions)
            return
        }
        guard let exchange = quickModes[message.messageID] else {
            handleQM1(saIndex, message, datagram: datagram, now: now, into: &actions)
            return
        }
        guard exchange.cookieI == message.initiatorCookie, exchange.cookieR == message.responderCookie else {
            drop("Quick Mode \(message.messageID) on another ISAKMP SA", ids: ids, now: now, into: &actions)
            return
        }
        if let cached = exchange.answered, cached.answers(bytes: datagram.bytes) {
            dropLog.count()
            if let answered = exchange.lastDuplicateAnswer, now - answered < Self.duplicateAnswerInterval { return }
            quickModes[message.messageID]?.lastDuplicateAnswer = now
            if !cached.datagrams.isEmpty {
                sendAgain(cached, to: datagram, into: &actions)
                emit(
                    .retransmit, .info, "peer repeated Quick Mode \(message.messageID); sent our answer again",
                    ids: ids, now: now, into: &actions)
            }
            return
        }
        switch (exchange.role, exchange.state) {
        case (.initiator, .sentQM1): handleQM2(exchange, message, datagram: datagram, now: now, into: &actions)
        case (.responder, .repliedQM2): handleQM3(exchange, message, datagram: datagram, now: now, into: &actions)
        case (.initiator, _), (.responder, _):
            drop(
                "Quick Mode \(message.messageID) message not expected (a replay?)", ids: ids, now: now,
                into: &actions)
        }
    }

    // MARK: - Initiator

    /// Message 1 for `pair` on the current ISAKMP SA; `replacing` names the IPsec SA it rekeys.
    mutating func startQuickMode(
        pair: SelectorPair, replacing: UInt32?, now: MonotonicTime, into actions: inout [IKEAction]
    ) {
        // One Quick Mode of ours at a time (see queuedQuickModes); the others wait their turn.
        if quickModes.values.contains(where: { $0.role == .initiator && $0.state == .sentQM1 }) {
            if !queuedQuickModes.contains(where: { $0.pair == pair }) {
                queuedQuickModes.append((pair, replacing))
            }
            return
        }
        guard let sa = current, let crypto = sa.crypto else { return }
        forgetFinishedQuickModes(now: now, into: &actions)
        guard quickModes.count < Self.maximumQuickModes else {
            emit(
                .peerNotAnswering, .warning, "too many Quick Modes in flight; not starting one for \(pair)",
                ids: sa.ids, now: now, into: &actions)
            return
        }
        let messageID = newMessageID()
        let spi = randomSPI()
        let nonceI = randomBytes(Self.nonceLength)
        var exchange: (any DiffieHellmanExchange)?
        if let group = IKEv1Proposals.pfsGroup(configuration.espProposals) {
            do {
                exchange = try makeExchange(group)
            } catch {
                emit(
                    .invalidKE, .error, "cannot start PFS group \(group.keyword): \(error)", ids: sa.ids, now: now,
                    into: &actions)
                return
            }
        }
        let offer = IKEv1Proposals.phase2SA(
            configuration.espProposals, spi: spi, lifetime: ourLifetimeESP, udpEncapsulated: usesUDPEncapsulation(sa))
        var rest: [ISAKMPPayload] = [.securityAssociation(offer), .nonce(ISAKMPNoncePayload(nonce: nonceI))]
        if let exchange { rest.append(.keyExchange(ISAKMPDataPayload(data: exchange.publicValue))) }
        rest.append(.identification(IKEv1Proposals.identification(pair.local)))
        rest.append(.identification(IKEv1Proposals.identification(pair.remote)))
        let hash = crypto.hash1(messageID: messageID, rest: ISAKMPPayloadChain.serialize(rest))
        let sealed: (bytes: [UInt8], lastBlock: [UInt8])
        do {
            let iv = try crypto.phase2IV(lastPhase1Block: sa.lastPhase1Block, messageID: messageID)
            sealed = try crypto.encrypt(
                cookieInitiator: sa.cookieI, cookieResponder: sa.cookieR, exchange: .quickMode, messageID: messageID,
                payloads: [.hash(ISAKMPDataPayload(data: hash))] + rest, iv: iv)
        } catch {
            emit(.invalidSyntax, .error, "cannot build Quick Mode: \(error)", ids: sa.ids, now: now, into: &actions)
            return
        }
        var quickMode = QuickMode(
            messageID: messageID, cookieI: sa.cookieI, cookieR: sa.cookieR, role: .initiator, state: .sentQM1,
            pair: pair, replacing: replacing, ourSPI: spi, iv: sealed.lastBlock, startedAt: now)
        quickMode.nonceI = nonceI
        quickMode.exchange = exchange
        quickMode.retransmission = pending(sealed.bytes, messageID: messageID, now: now)
        quickModes[messageID] = quickMode
        send(sealed.bytes, into: &actions)
        armRetransmitTimer(messageID, into: &actions)
    }

    /// The ISAKMP SA a Quick Mode runs on.
    func isakmpSA(of quickMode: QuickMode) -> ISAKMPSA? {
        isakmpSAs.first { $0.cookieI == quickMode.cookieI && $0.cookieR == quickMode.cookieR }
    }

    /// Starts the next queued Quick Mode once none of ours is in flight (called after every input).
    mutating func startQueuedQuickMode(now: MonotonicTime, into actions: inout [IKEAction]) {
        guard !queuedQuickModes.isEmpty, current != nil,
            !quickModes.values.contains(where: { $0.role == .initiator && $0.state == .sentQM1 })
        else { return }
        // strongSwan hands each message to a worker thread: a request sent right behind our message 3 can be
        // handled first, and refusing it (INVALID-ID-INFORMATION) drops the Quick Mode message 3 completes
        // (seen in CI: "sa payload missing", the first IPsec SA lost). The next one waits a little.
        let lastFinished = quickModes.values.filter { $0.role == .initiator }.compactMap(\.finishedAt).max()
        if let lastFinished, now < lastFinished + Self.quickModeSpacing {
            actions.append(.armTimer(.startQueuedExchange, at: lastFinished + Self.quickModeSpacing))
            return
        }
        let next = queuedQuickModes.removeFirst()
        // A rekey whose SA has gone meanwhile negotiates the pair afresh.
        let replacing = next.replacing.flatMap { spi in ipsecSAs.contains { $0.inboundSPI == spi } ? spi : nil }
        startQuickMode(pair: next.pair, replacing: replacing, now: now, into: &actions)
    }

    /// Message 2: the responder's choice, nonce, PFS share and perhaps its shorter lifetime. Then
    /// message 3 and installation.
    mutating func handleQM2(
        _ exchange: QuickMode, _ message: ISAKMPMessage, datagram: IKEDatagram, now: MonotonicTime,
        into actions: inout [IKEAction]
    ) {
        guard let sa = isakmpSA(of: exchange), let crypto = sa.crypto else { return }
        var quickMode = exchange
        let opened = authenticated("Quick Mode message 2", on: sa, now: now, into: &actions) {
            try crypto.decrypt(message, iv: exchange.iv, verifying: "HASH(2)") { decrypted in
                crypto.hash2(
                    messageID: exchange.messageID, nonceInitiator: exchange.nonceI, rest: decrypted.afterFirstPayload)
            }
        }
        guard let decrypted = opened else { return }
        let payloads = decrypted.payloads
        let responderLifetime =
            configuration.ignoresResponderLifetime
            ? nil
            : payloads.notifications.first { $0.notifyType == .responderLifetime }
                .flatMap(IKEv1Proposals.responderLifetime)
        do {
            guard let reply = payloads.securityAssociation else { throw IKEv1Failure.missingPayload("SA") }
            guard let nonceR = payloads.nonce else { throw IKEv1Failure.missingPayload("Nr") }
            let proposals = reply.proposals
            guard proposals.count == 1, let proposal = proposals.first, proposal.protocolID == .esp,
                proposal.spi.count == 4, proposal.transforms.count == 1, let transform = proposal.transforms.first
            else { throw IKEv1Failure.malformed("the reply must hold one ESP proposal with one transform") }
            let offer = IKEv1Proposals.phase2Offer(transform)
            guard let suite = offer.suite, IKEv1Proposals.allows(configuration.espProposals, suite),
                suite.group == IKEv1Proposals.pfsGroup(configuration.espProposals)
            else {
                emit(
                    .proposalMismatch, .error,
                    "phase 2 (Quick Mode) for \(exchange.pair): the responder chose "
                        + "\(offer.text), which we did not offer (we offer \(configuration.espProposals))",
                    details: [
                        "peer": offer.text, "ours": "\(configuration.espProposals)", "phase": "2", "rejected_by": "us",
                    ],
                    ids: sa.ids, now: now, into: &actions)
                abandonQuickMode(exchange.messageID, into: &actions)
                return
            }
            var shared: SecretBytes?
            if suite.group != nil {
                guard let peerPublic = payloads.keyExchange, let ours = exchange.exchange else {
                    throw IKEv1Failure.missingPayload("KE (PFS)")
                }
                shared = try ours.sharedSecret(peerPublicValue: peerPublic)
            }
            quickMode.peerSPI = proposal.spi.reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
            quickMode.nonceR = nonceR
            quickMode.sharedSecret = shared
            quickMode.suite = suite
            quickMode.exchange = nil
        } catch {
            drop("Quick Mode message 2 unusable: \(error)", ids: sa.ids, now: now, into: &actions)
            return
        }
        let ours = ourLifetimeESP
        quickMode.peerLifetime = responderLifetime
        if let responderLifetime, responderLifetime.isShorter(than: ours) {
            quickMode.lifetime = ours.smaller(responderLifetime)
            quickMode.lifetimeReason = "the peer's RESPONDER-LIFETIME"
        } else {
            quickMode.lifetime = ours
            quickMode.lifetimeReason = "our proposal"
        }
        let hash3 = crypto.hash3(
            messageID: exchange.messageID, nonceInitiator: quickMode.nonceI, nonceResponder: quickMode.nonceR)
        let sealed: (bytes: [UInt8], lastBlock: [UInt8])
        do {
            sealed = try crypto.encrypt(
                cookieInitiator: sa.cookieI, cookieResponder: sa.cookieR, exchange: .quickMode,
                messageID: exchange.messageID, payloads: [.hash(ISAKMPDataPayload(data: hash3))],
                iv: decrypted.lastBlock)
        } catch {
            drop("cannot build Quick Mode message 3: \(error)", ids: sa.ids, now: now, into: &actions)
            return
        }
        guard install(quickMode, sa: sa, now: now, into: &actions) else {
            abandonQuickMode(exchange.messageID, into: &actions)
            return
        }
        quickMode.state = .done
        quickMode.finishedAt = now
        quickMode.iv = sealed.lastBlock
        quickMode.answered = IKECachedResponse(requestBytes: datagram.bytes, datagrams: [sealed.bytes])
        quickMode.retransmission = nil
        quickModes[exchange.messageID] = quickMode
        actions.append(.cancelTimer(.retransmit(messageID: exchange.messageID)))
        send(sealed.bytes, into: &actions)
    }

    // MARK: - Responder

    /// Message 1: the peer's offer for one selector pair. Answered with message 2, installed on message 3.
    mutating func handleQM1(
        _ saIndex: Int, _ message: ISAKMPMessage, datagram: IKEDatagram, now: MonotonicTime,
        into actions: inout [IKEAction]
    ) {
        let sa = isakmpSAs[saIndex]
        guard let crypto = sa.crypto else { return }
        let opened = authenticated("Quick Mode message 1", on: sa, now: now, into: &actions) {
            try crypto.decryptFirstMessage(message, lastPhase1Block: sa.lastPhase1Block)
        }
        guard let decrypted = opened else { return }
        forgetFinishedQuickModes(now: now, into: &actions)
        guard quickModes.count < Self.maximumQuickModes else {
            drop("too many Quick Modes at once", ids: sa.ids, now: now, into: &actions)
            return
        }
        let payloads = decrypted.payloads
        guard let offer = payloads.securityAssociation, let nonceI = payloads.nonce else {
            drop("Quick Mode message 1 without SA or nonce", ids: sa.ids, now: now, into: &actions)
            return
        }
        let identifications = payloads.identifications
        let pair: SelectorPair
        switch identifications.count {
        case 0:
            // No IDs: the SA protects traffic between the two gateways (RFC 2409 section 5.5).
            let host: (IPAddress) -> TrafficSelector = { TrafficSelector(startAddress: $0, endAddress: $0) }
            pair = SelectorPair(local: host(datagram.destination.address), remote: host(datagram.source.address))
        case 2:
            guard let initiatorSide = IKEv1Proposals.selector(identifications[0]),
                let responderSide = IKEv1Proposals.selector(identifications[1])
            else {
                drop("Quick Mode IDs are not addresses, subnets or ranges", ids: sa.ids, now: now, into: &actions)
                return
            }
            pair = SelectorPair(local: responderSide, remote: initiatorSide)
        default:
            drop(
                "Quick Mode message 1 with \(identifications.count) ID payloads", ids: sa.ids, now: now,
                into: &actions)
            return
        }
        guard
            configuration.selectorPairs.contains(where: {
                pair.local.isSubset(of: $0.local) && pair.remote.isSubset(of: $0.remote)
            })
        else {
            emit(
                .trafficSelectorMismatch, .error,
                "Quick Mode asks for \(pair.remote) <=> \(pair.local) (theirs <=> ours), which no policy allows; "
                    + "ours: \(configuration.selectorPairs.map(\.description).joined(separator: ", "))",
                details: [
                    "peer": "\(pair.remote) <=> \(pair.local)", "rejected_by": "us",
                    "ours": configuration.selectorPairs.map(\.description).joined(separator: ", "),
                ], ids: sa.ids, now: now, into: &actions)
            sendProtectedNotification(.invalidIDInformation, sa: sa, now: now, into: &actions)
            return
        }
        let ourSPI = randomSPI()
        let choice: IKEv1Proposals.Phase2Choice
        switch IKEv1Proposals.choosePhase2(offer, ours: configuration.espProposals, ourSPI: ourSPI) {
        case .success(let chosen): choice = chosen
        case .failure(let mismatch):
            emit(
                .proposalMismatch, .error,
                "phase 2 (Quick Mode) proposal mismatch for \(pair.remote) <=> "
                    + "\(pair.local): \(mismatch)",
                details: [
                    "peer": mismatch.peer.joined(separator: ", "), "ours": mismatch.ours, "phase": "2",
                    "rejected_by": "us",
                ],
                ids: sa.ids, now: now, into: &actions)
            sendProtectedNotification(.noProposalChosen, sa: sa, now: now, into: &actions)
            return
        }
        if let refusal = ipsecSARefusal(peerSPI: choice.peerSPI) {
            // IKEv1 has no NO_ADDITIONAL_SAS: NO-PROPOSAL-CHOSEN, and the event says why.
            emit(.childSARefused, .warning, "Quick Mode refused: \(refusal)", ids: sa.ids, now: now, into: &actions)
            sendProtectedNotification(.noProposalChosen, sa: sa, now: now, into: &actions)
            return
        }
        var quickMode = QuickMode(
            messageID: message.messageID, cookieI: sa.cookieI, cookieR: sa.cookieR, role: .responder,
            state: .repliedQM2, pair: pair, ourSPI: ourSPI, peerSPI: choice.peerSPI, iv: [], startedAt: now)
        quickMode.nonceI = nonceI
        quickMode.nonceR = randomBytes(Self.nonceLength)
        quickMode.suite = choice.suite
        var ourPublic: [UInt8]?
        if let group = choice.suite.group {
            do {
                guard let peerPublic = payloads.keyExchange else { throw IKEv1Failure.missingPayload("KE (PFS)") }
                let exchange = try makeExchange(group)
                quickMode.sharedSecret = try exchange.sharedSecret(peerPublicValue: peerPublic)
                ourPublic = exchange.publicValue
            } catch {
                drop("Quick Mode message 1 PFS: \(error)", ids: sa.ids, now: now, into: &actions)
                return
            }
        }
        let ours = ourLifetimeESP
        let sendLifetime = ours.isShorter(than: choice.lifetime)
        quickMode.peerLifetime = choice.lifetime
        quickMode.lifetime = ours.smaller(choice.lifetime)
        quickMode.lifetimeReason =
            sendLifetime
            ? "our policy (RESPONDER-LIFETIME sent)"
            : (choice.lifetime == ours ? "both agree" : "the initiator's proposal")
        var rest: [ISAKMPPayload] = [
            .securityAssociation(
                ISAKMPSecurityAssociationPayload(
                    doi: offer.doi, situation: offer.situation, proposals: [choice.reply])),
            .nonce(ISAKMPNoncePayload(nonce: quickMode.nonceR)),
        ]
        if let ourPublic { rest.append(.keyExchange(ISAKMPDataPayload(data: ourPublic))) }
        rest += identifications.map { .identification($0) }
        if sendLifetime {
            rest.append(
                .notification(
                    IKEv1Proposals.responderLifetimeNotification(
                        quickMode.lifetime, protocolID: .esp, spi: IKEv1SACrypto.bytes(choice.peerSPI))))
        }
        let hash = crypto.hash2(
            messageID: message.messageID, nonceInitiator: nonceI,
            rest: ISAKMPPayloadChain.serialize(rest))
        do {
            let sealed = try crypto.encrypt(
                cookieInitiator: sa.cookieI, cookieResponder: sa.cookieR, exchange: .quickMode,
                messageID: message.messageID, payloads: [.hash(ISAKMPDataPayload(data: hash))] + rest,
                iv: decrypted.lastBlock)
            // Installed now, before the answer leaves, so that what the initiator sends once it has read our
            // answer finds the SA; our outbound half waits for message 3 (see responderOutboundHold).
            let lifetime = hardLifetime(quickMode)
            let parameters = try childParameters(
                quickMode, sa: sa, softTime: lifetime * (1 - Self.rekeySchedule.marginFraction),
                outboundStart: .afterPeersFirstPacket(fallback: Self.responderOutboundHold))
            quickMode.preinstalled = parameters
            quickMode.iv = sealed.lastBlock
            quickMode.answered = IKECachedResponse(requestBytes: datagram.bytes, datagrams: [sealed.bytes])
            quickMode.retransmission = pending(sealed.bytes, messageID: message.messageID, now: now)
            quickModes[message.messageID] = quickMode
            actions.append(.childSA(.install(parameters)))
            send(sealed.bytes, into: &actions)
            armRetransmitTimer(message.messageID, into: &actions)
        } catch {
            drop("cannot answer Quick Mode: \(error)", ids: sa.ids, now: now, into: &actions)
        }
    }

    /// Message 3: HASH(3) proves the initiator saw our answer; install.
    mutating func handleQM3(
        _ exchange: QuickMode, _ message: ISAKMPMessage, datagram: IKEDatagram, now: MonotonicTime,
        into actions: inout [IKEAction]
    ) {
        guard let sa = isakmpSA(of: exchange), let crypto = sa.crypto else { return }
        let opened = authenticated("Quick Mode message 3", on: sa, now: now, into: &actions) {
            try crypto.decrypt(message, iv: exchange.iv, verifying: "HASH(3)") { _ in
                crypto.hash3(
                    messageID: exchange.messageID, nonceInitiator: exchange.nonceI, nonceResponder: exchange.nonceR)
            }
        }
        guard opened != nil else { return }
        var quickMode = exchange
        guard install(quickMode, sa: sa, now: now, into: &actions) else {
            abandonQuickMode(exchange.messageID, into: &actions)
            return
        }
        quickMode.state = .done
        quickMode.finishedAt = now
        quickMode.answered = IKECachedResponse(requestBytes: datagram.bytes, datagrams: [])
        quickMode.retransmission = nil
        quickModes[exchange.messageID] = quickMode
        actions.append(.cancelTimer(.retransmit(messageID: exchange.messageID)))
    }
}
