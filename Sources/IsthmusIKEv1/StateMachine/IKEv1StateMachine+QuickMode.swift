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
        if exchange.lastReceived == datagram.bytes {
            droppedMessages &+= 1
            if let answered = exchange.lastDuplicateAnswer, now - answered < Self.duplicateAnswerInterval { return }
            quickModes[message.messageID]?.lastDuplicateAnswer = now
            if let answer = exchange.lastSent {
                actions.append(
                    .send(
                        IKEDatagram(
                            bytes: answer, source: datagram.destination,
                            destination: datagram.source)))
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
        quickMode.lastSent = sealed.bytes
        quickMode.retransmission = Retransmission(
            messageID: messageID, bytes: sealed.bytes, nextAt: now + retransmitTimeout(0))
        quickModes[messageID] = quickMode
        send(sealed.bytes, into: &actions)
        armRetransmitTimer(messageID, into: &actions)
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
    private mutating func handleQM2(
        _ exchange: QuickMode, _ message: ISAKMPMessage, datagram: IKEDatagram, now: MonotonicTime,
        into actions: inout [IKEAction]
    ) {
        guard let sa = isakmpSAs.first(where: { $0.cookieI == exchange.cookieI && $0.cookieR == exchange.cookieR }),
            let crypto = sa.crypto
        else { return }
        var quickMode = exchange
        let decrypted: IKEv1SACrypto.Decrypted
        do {
            decrypted = try crypto.decrypt(message, iv: exchange.iv)
            guard case .hash(let hash)? = decrypted.payloads.first else { throw IKEv1Failure.missingPayload("HASH(2)") }
            let expected = crypto.hash2(
                messageID: exchange.messageID, nonceInitiator: exchange.nonceI, rest: decrypted.afterFirstPayload)
            guard constantTimeEqual(hash.data, expected) else { throw IKEv1Failure.hashMismatch("HASH(2)") }
        } catch {
            drop("Quick Mode message 2 rejected: \(error)", ids: sa.ids, now: now, into: &actions)
            return
        }
        lastInbound = now
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
                    details: ["peer": offer.text, "ours": "\(configuration.espProposals)", "phase": "2"],
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
        quickMode.lastReceived = datagram.bytes
        quickMode.lastSent = sealed.bytes
        quickMode.retransmission = nil
        quickModes[exchange.messageID] = quickMode
        actions.append(.cancelTimer(.retransmit(messageID: exchange.messageID)))
        send(sealed.bytes, into: &actions)
    }

    // MARK: - Responder

    /// Message 1: the peer's offer for one selector pair. Answered with message 2, installed on message 3.
    private mutating func handleQM1(
        _ saIndex: Int, _ message: ISAKMPMessage, datagram: IKEDatagram, now: MonotonicTime,
        into actions: inout [IKEAction]
    ) {
        let sa = isakmpSAs[saIndex]
        guard let crypto = sa.crypto else { return }
        let decrypted: IKEv1SACrypto.Decrypted
        do {
            let iv = try crypto.phase2IV(lastPhase1Block: sa.lastPhase1Block, messageID: message.messageID)
            decrypted = try crypto.decrypt(message, iv: iv)
            guard case .hash(let hash)? = decrypted.payloads.first else { throw IKEv1Failure.missingPayload("HASH(1)") }
            let expected = crypto.hash1(messageID: message.messageID, rest: decrypted.afterFirstPayload)
            guard constantTimeEqual(hash.data, expected) else { throw IKEv1Failure.hashMismatch("HASH(1)") }
        } catch {
            drop("Quick Mode message 1 rejected: \(error)", ids: sa.ids, now: now, into: &actions)
            return
        }
        lastInbound = now
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
                details: ["peer": "\(pair.remote) <=> \(pair.local)"], ids: sa.ids, now: now, into: &actions)
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
                details: ["peer": mismatch.peer.joined(separator: ", "), "ours": mismatch.ours, "phase": "2"],
                ids: sa.ids, now: now, into: &actions)
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
                quickMode, sa: sa, softTime: lifetime * (1 - Self.rekeyMarginFraction),
                outboundStart: .afterPeersFirstPacket(fallback: Self.responderOutboundHold))
            quickMode.preinstalled = parameters
            quickMode.iv = sealed.lastBlock
            quickMode.lastReceived = datagram.bytes
            quickMode.lastSent = sealed.bytes
            quickMode.retransmission = Retransmission(
                messageID: message.messageID, bytes: sealed.bytes, nextAt: now + retransmitTimeout(0))
            quickModes[message.messageID] = quickMode
            actions.append(.childSA(.install(parameters)))
            send(sealed.bytes, into: &actions)
            armRetransmitTimer(message.messageID, into: &actions)
        } catch {
            drop("cannot answer Quick Mode: \(error)", ids: sa.ids, now: now, into: &actions)
        }
    }

    /// Message 3: HASH(3) proves the initiator saw our answer; install.
    private mutating func handleQM3(
        _ exchange: QuickMode, _ message: ISAKMPMessage, datagram: IKEDatagram, now: MonotonicTime,
        into actions: inout [IKEAction]
    ) {
        guard let sa = isakmpSAs.first(where: { $0.cookieI == exchange.cookieI && $0.cookieR == exchange.cookieR }),
            let crypto = sa.crypto
        else { return }
        do {
            let decrypted = try crypto.decrypt(message, iv: exchange.iv)
            guard case .hash(let hash)? = decrypted.payloads.first else { throw IKEv1Failure.missingPayload("HASH(3)") }
            let expected = crypto.hash3(
                messageID: exchange.messageID, nonceInitiator: exchange.nonceI, nonceResponder: exchange.nonceR)
            guard constantTimeEqual(hash.data, expected) else { throw IKEv1Failure.hashMismatch("HASH(3)") }
        } catch {
            drop("Quick Mode message 3 rejected: \(error)", ids: sa.ids, now: now, into: &actions)
            return
        }
        lastInbound = now
        var quickMode = exchange
        guard install(quickMode, sa: sa, now: now, into: &actions) else {
            abandonQuickMode(exchange.messageID, into: &actions)
            return
        }
        quickMode.state = .done
        quickMode.finishedAt = now
        quickMode.lastReceived = datagram.bytes
        quickMode.lastSent = nil
        quickMode.retransmission = nil
        quickModes[exchange.messageID] = quickMode
        actions.append(.cancelTimer(.retransmit(messageID: exchange.messageID)))
    }

    // MARK: - Installation and rekeying

    /// The hard lifetime in time of a Quick Mode's IPsec SA as negotiated (RFC 2407 section 4.5).
    func hardLifetime(_ quickMode: QuickMode) -> Duration {
        .seconds(Int64(clamping: quickMode.lifetime.seconds ?? IKEv1Proposals.defaultLifetimeSeconds))
    }

    /// The IPsec SA pair a Quick Mode negotiated: keys (RFC 2409 section 5.5 KEYMAT), selectors, outer
    /// endpoints and lifetimes (the soft one in time as given, the soft one in bytes jittered below the
    /// negotiated kilobytes).
    mutating func childParameters(
        _ quickMode: QuickMode, sa: ISAKMPSA, softTime: Duration, outboundStart: ESPOutboundStart
    ) throws -> ESPSecurityAssociation {
        guard let crypto = sa.crypto, let suite = quickMode.suite else {
            throw IKEv1Failure.unusableSuite("no keys or suite for the Quick Mode")
        }
        let inbound = try crypto.keys(
            for: suite, spi: quickMode.ourSPI, sharedSecret: quickMode.sharedSecret,
            nonceInitiator: quickMode.nonceI, nonceResponder: quickMode.nonceR)
        let outbound = try crypto.keys(
            for: suite, spi: quickMode.peerSPI, sharedSecret: quickMode.sharedSecret,
            nonceInitiator: quickMode.nonceI, nonceResponder: quickMode.nonceR)
        let udp = usesUDPEncapsulation(sa)
        let lifetimes = ChildSALifetimes.esp(
            softTime: softTime, hardTime: hardLifetime(quickMode),
            hardBytes: quickMode.lifetime.kilobytes.map { $0.multipliedReportingOverflow(by: 1024).partialValue },
            random: &random)
        var parameters = ESPSecurityAssociation(
            inboundSPI: quickMode.ourSPI, outboundSPI: quickMode.peerSPI, encryption: suite.encryption,
            integrity: suite.integrity, extendedSequenceNumbers: suite.extendedSequenceNumbers,
            inboundEncryptionKey: inbound.encryption, inboundIntegrityKey: inbound.integrity,
            outboundEncryptionKey: outbound.encryption, outboundIntegrityKey: outbound.integrity,
            localSelectors: [quickMode.pair.local], remoteSelectors: [quickMode.pair.remote],
            tunnel: ESPTunnel(
                local: UDPEndpoint(address: local.address, port: udp ? 4500 : 0),
                remote: UDPEndpoint(address: remote.address, port: udp ? remote.port : 0), udpEncapsulated: udp),
            softLifetime: lifetimes.soft, hardLifetime: lifetimes.hard, connection: configuration.connectionName)
        parameters.outboundStart = outboundStart
        return parameters
    }

    /// Installs the IPsec SA pair (or, for a responder that installed it with message 2, lets its outbound
    /// half carry traffic) and hands over from the SA it replaces (the old one keeps receiving until
    /// deleted: make-before-break). False when the keys cannot be derived.
    private mutating func install(
        _ quickMode: QuickMode, sa: ISAKMPSA, now: MonotonicTime, into actions: inout [IKEAction]
    ) -> Bool {
        guard let suite = quickMode.suite else { return false }
        let lifetime = hardLifetime(quickMode)
        let rekeyAt = rekeyTime(lifetime: lifetime, from: now)
        let replaced =
            quickMode.replacing.flatMap { spi in ipsecSAs.firstIndex { $0.inboundSPI == spi } }
            ?? ipsecSAs.firstIndex { $0.pair == quickMode.pair && !$0.rekeyed }
        var parameters: ESPSecurityAssociation
        do {
            if let preinstalled = quickMode.preinstalled {
                parameters = preinstalled
            } else {
                // Replacing an SA: keep sending on the old one until the responder (which installs on our
                // message 3) has the new one.
                parameters = try childParameters(
                    quickMode, sa: sa, softTime: rekeyAt - now,
                    outboundStart: replaced == nil ? .now : .afterPeersFirstPacket(fallback: Self.rekeyOutboundHold))
            }
        } catch {
            emit(
                .invalidSyntax, .error, "cannot derive keys for \(suite): \(error)", ids: sa.ids, now: now,
                into: &actions)
            return false
        }
        let udp = parameters.tunnel.udpEncapsulated
        if quickMode.preinstalled != nil {
            actions.append(.childSA(.confirmOutbound(inboundSPI: parameters.inboundSPI)))
        } else {
            actions.append(.childSA(.install(parameters)))
        }
        parameters.outboundStart = .now
        ipsecSAs.append(
            IPsecSA(
                parameters: parameters, suite: suite, pair: quickMode.pair, installedAt: now, rekeyAt: rekeyAt,
                expiresAt: now + lifetime, lifetime: quickMode.lifetime, lifetimeReason: quickMode.lifetimeReason))
        actions.append(.armTimer(.rekeyChildSA(inboundSPI: quickMode.ourSPI), at: rekeyAt))
        actions.append(.armTimer(.expireChildSA(inboundSPI: quickMode.ourSPI), at: now + lifetime))
        let name = "IPsec SA \(SAIdentifier.esp(quickMode.ourSPI))_i \(SAIdentifier.esp(quickMode.peerSPI))_o"
        let details = [
            "inbound_spi": SAIdentifier.esp(quickMode.ourSPI), "outbound_spi": SAIdentifier.esp(quickMode.peerSPI),
            "algorithms": "\(suite)", "udp_encapsulated": "\(udp)",
        ]
        if let replaced {
            let old = ipsecSAs[replaced]
            ipsecSAs[replaced].rekeyed = true
            ipsecSAs[replaced].rekeyAt = nil
            actions.append(.cancelTimer(.rekeyChildSA(inboundSPI: old.inboundSPI)))
            if quickMode.role == .initiator {
                // Ours: the old SA drains for a moment, then we delete it.
                actions.append(.armTimer(.expireChildSA(inboundSPI: old.inboundSPI), at: now + Self.rekeyDeleteGrace))
            }
            emit(
                .childSARekeyed, .info,
                "\(name) replaces \(SAIdentifier.esp(old.inboundSPI))_i for "
                    + "\(quickMode.pair) with \(suite)", details: details, ids: sa.ids, now: now, into: &actions)
        } else {
            emit(
                .childSAInstalled, .info,
                "\(name) installed: \(quickMode.pair) with \(suite)"
                    + (udp ? " (UDP-encapsulated)" : ""), details: details, ids: sa.ids, now: now, into: &actions)
        }
        emitLifetime(
            phase: "phase 2 (\(SAIdentifier.esp(quickMode.ourSPI)))", ours: ourLifetimeESP,
            peer: quickMode.peerLifetime, used: quickMode.lifetime, reason: quickMode.lifetimeReason, ids: sa.ids,
            now: now, into: &actions)
        return true
    }

    /// Rekey timer: a new Quick Mode for the same pair before the SA expires.
    mutating func rekeyIPsecSA(inboundSPI: UInt32, now: MonotonicTime, into actions: inout [IKEAction]) {
        guard let sa = ipsecSAs.first(where: { $0.inboundSPI == inboundSPI }), !sa.rekeyed else { return }
        guard current != nil else {
            actions.append(.armTimer(.rekeyChildSA(inboundSPI: inboundSPI), at: now + Self.quickModeRetryDelay))
            return
        }
        guard !quickModes.values.contains(where: { $0.pair == sa.pair && $0.state != .done }),
            !queuedQuickModes.contains(where: { $0.pair == sa.pair })
        else { return }
        startQuickMode(pair: sa.pair, replacing: inboundSPI, now: now, into: &actions)
    }

    /// Expiry timer: a replaced SA's grace or hard lifetime is over; an unreplaced SA that reaches its
    /// hard lifetime is renegotiated so the tunnel comes back.
    mutating func expireIPsecSA(inboundSPI: UInt32, now: MonotonicTime, into actions: inout [IKEAction]) {
        guard let sa = ipsecSAs.first(where: { $0.inboundSPI == inboundSPI }) else { return }
        if let current {
            sendInformational(
                sa: current,
                payloads: [
                    .delete(
                        ISAKMPDeletePayload(
                            protocolID: .esp, spiSize: 4, spis: [IKEv1SACrypto.bytes(inboundSPI)]))
                ], now: now, into: &actions)
        }
        if sa.rekeyed {
            removeIPsecSA(inboundSPI: inboundSPI, reason: "replaced by a rekey", now: now, into: &actions)
            return
        }
        removeIPsecSA(
            inboundSPI: inboundSPI, reason: "lifetime \(sa.lifetime) expired before a rekey succeeded",
            now: now, into: &actions)
        if current != nil, !quickModes.values.contains(where: { $0.pair == sa.pair && $0.state != .done }),
            !queuedQuickModes.contains(where: { $0.pair == sa.pair })
        {
            startQuickMode(pair: sa.pair, replacing: nil, now: now, into: &actions)
        }
    }

    mutating func removeIPsecSA(inboundSPI: UInt32, reason: String, now: MonotonicTime, into actions: inout [IKEAction])
    {
        guard let index = ipsecSAs.firstIndex(where: { $0.inboundSPI == inboundSPI }) else { return }
        let sa = ipsecSAs.remove(at: index)
        actions.append(.cancelTimer(.rekeyChildSA(inboundSPI: inboundSPI)))
        actions.append(.cancelTimer(.expireChildSA(inboundSPI: inboundSPI)))
        actions.append(.childSA(.remove(inboundSPI: inboundSPI)))
        emit(
            .childSADeleted, .info,
            "IPsec SA \(SAIdentifier.esp(inboundSPI))_i "
                + "\(SAIdentifier.esp(sa.parameters.outboundSPI))_o for \(sa.pair) deleted: \(reason)",
            ids: current?.ids ?? [], now: now, into: &actions)
    }

    /// Gives up a Quick Mode of ours that got no answer; a rekey is tried again while the old SA lives.
    mutating func quickModeGaveUp(_ exchange: QuickMode, now: MonotonicTime, into actions: inout [IKEAction]) {
        quickModes[exchange.messageID] = nil
        if let spi = exchange.preinstalled?.inboundSPI { actions.append(.childSA(.remove(inboundSPI: spi))) }
        emit(
            .peerNotAnswering, .warning,
            "no answer to Quick Mode \(exchange.messageID) for \(exchange.pair) after "
                + "\(Self.maximumRetransmits) retransmits", ids: saIDs(exchange.cookieI), now: now, into: &actions)
        guard exchange.role == .initiator, let old = exchange.replacing,
            let sa = ipsecSAs.first(where: { $0.inboundSPI == old }), now + Self.quickModeRetryDelay < sa.expiresAt
        else { return }
        actions.append(.armTimer(.rekeyChildSA(inboundSPI: old), at: now + Self.quickModeRetryDelay))
    }

    mutating func abandonQuickMode(_ messageID: UInt32, into actions: inout [IKEAction]) {
        if let exchange = quickModes[messageID], exchange.state != .done, let spi = exchange.preinstalled?.inboundSPI {
            actions.append(.childSA(.remove(inboundSPI: spi)))
        }
        quickModes[messageID] = nil
        actions.append(.cancelTimer(.retransmit(messageID: messageID)))
    }

    /// Forgets finished Quick Modes older than ``finishedQuickModeMemory``.
    mutating func forgetFinishedQuickModes(now: MonotonicTime, into actions: inout [IKEAction]) {
        for (messageID, exchange) in quickModes {
            if let finished = exchange.finishedAt, now - finished >= Self.finishedQuickModeMemory {
                quickModes[messageID] = nil
            }
        }
    }
}
