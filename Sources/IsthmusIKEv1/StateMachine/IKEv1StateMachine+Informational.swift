import IsthmusCrypto
import IsthmusEvents
import IsthmusIKE
import IsthmusIP
import IsthmusWire

/// Informational exchanges (RFC 2409 section 5.7): `HDR*, HASH(1), N/D`, one message each, not answered.
/// Deletes (RFC 2408 section 3.15), RESPONDER-LIFETIME (RFC 2407 section 4.6.3.1), dead peer detection
/// (RFC 3706: R-U-THERE / R-U-THERE-ACK with sequence numbers).
extension IKEv1StateMachine {
    mutating func handleInformational(
        _ message: ISAKMPMessage, datagram: IKEDatagram, now: MonotonicTime, into actions: inout [IKEAction]
    ) {
        if case .payloads(let payloads) = message.body {
            handleCleartextInformational(message, payloads, now: now, into: &actions)
            return
        }
        if let index = isakmpSAs.firstIndex(where: {
            $0.cookieI == message.initiatorCookie && $0.cookieR == message.responderCookie && $0.role == .initiator
                && $0.phase == .sentMM5
        }) {
            answerToMessage5(index, message, now: now, into: &actions)
            return
        }
        guard
            let saIndex = isakmpSAs.firstIndex(where: {
                $0.cookieI == message.initiatorCookie && $0.cookieR == message.responderCookie && $0.isEstablished
            }), let crypto = isakmpSAs[saIndex].crypto
        else {
            drop("Informational for an unknown ISAKMP SA", now: now, into: &actions)
            return
        }
        let sa = isakmpSAs[saIndex]
        let opened = authenticated("Informational", on: sa, now: now, into: &actions) {
            try crypto.decryptFirstMessage(message, lastPhase1Block: sa.lastPhase1Block)
        }
        guard let decrypted = opened else { return }
        for payload in decrypted.payloads.dropFirst() {
            guard !closed else { return }
            switch payload {
            case .notification(let notification):
                handleNotification(notification, from: sa, now: now, into: &actions)
            case .delete(let delete):
                handleDelete(delete, from: sa, now: now, into: &actions)
            default:
                break
            }
        }
    }

    /// An encrypted Informational instead of Main Mode message 6: the responder refused our message 5. When
    /// it does not decrypt and verify, the two sides derived different keys from the same exchange, i.e. the
    /// pre-shared keys differ (strongSwan answers a message 5 it cannot parse with such a notification; seen
    /// on the wire). When it does, it names the refusal (AUTHENTICATION-FAILED, INVALID-ID-INFORMATION, ...).
    /// Either way the exchange runs on into its retransmission limit: the message could be forged.
    mutating func answerToMessage5(
        _ index: Int, _ message: ISAKMPMessage, now: MonotonicTime, into actions: inout [IKEAction]
    ) {
        let sa = isakmpSAs[index]
        guard let crypto = sa.crypto else { return }
        // For the responder phase 1 ended with our message 5, whose last ciphertext block `sa.iv` holds.
        guard let verified = try? crypto.decryptFirstMessage(message, lastPhase1Block: sa.iv) else {
            reportKeyMismatch(
                index, "the peer answered Main Mode message 5 with an Informational that does not decrypt",
                now: now, into: &actions)
            return
        }
        dropLog.count()
        guard let error = verified.payloads.notifications.first(where: { $0.notifyType.isError }) else { return }
        emit(
            .authenticationFailed, .error,
            "peer refused Main Mode message 5 with \(notifyName(error.notifyType)): check both gateways' identities "
                + "(we send \(configuration.localIdentity), expect \(configuration.remoteIdentity)) and keys",
            details: ["notify": "\(error.notifyType.rawValue)", "rejected_by": "peer"], ids: sa.ids, now: now,
            into: &actions)
    }

    /// Before keys exist the peer can only refuse in clear text (NO-PROPOSAL-CHOSEN to message 1, ...).
    mutating func handleCleartextInformational(
        _ message: ISAKMPMessage, _ payloads: [ISAKMPPayload], now: MonotonicTime, into actions: inout [IKEAction]
    ) {
        guard
            let index = isakmpSAs.firstIndex(where: {
                $0.cookieI == message.initiatorCookie && !$0.isEstablished && $0.crypto == nil
            }), let error = payloads.notifications.first(where: { $0.notifyType.isError })
        else {
            drop("cleartext Informational outside an unauthenticated Main Mode", now: now, into: &actions)
            return
        }
        let sa = isakmpSAs.remove(at: index)
        armRetransmitTimer(0, into: &actions)
        if let pending = sa.retransmission, !isakmpSAs.contains(where: { $0.retransmission != nil }) {
            actions.append(.cancelTimer(.retransmit(messageID: pending.messageID)))
        }
        let kind: GatewayEvent.Kind = error.notifyType == .noProposalChosen ? .proposalMismatch : .invalidSyntax
        emit(
            kind, .error,
            "peer refused Main Mode with \(notifyName(error.notifyType))"
                + (error.notifyType == .noProposalChosen
                    ? ": it accepts none of our phase 1 proposals (\(configuration.ikeProposals))" : ""),
            details: ["ours": "\(configuration.ikeProposals)", "phase": "1", "rejected_by": "peer"], ids: sa.ids,
            now: now, into: &actions)
        if current == nil && isakmpSAs.isEmpty { close(now: now, into: &actions) }
    }

    mutating func handleNotification(
        _ notification: ISAKMPNotificationPayload, from sa: ISAKMPSA, now: MonotonicTime,
        into actions: inout [IKEAction]
    ) {
        switch notification.notifyType {
        case .areYouThere:
            guard notification.data.count == 4 else { return }
            sendInformational(
                sa: sa,
                payloads: [
                    .notification(
                        ISAKMPNotificationPayload(
                            protocolID: .isakmp, spi: notification.spi, notifyType: .areYouThereAck,
                            data: notification.data))
                ],
                now: now, into: &actions)
        case .areYouThereAck:
            guard notification.data.count == 4, let check = deadPeerCheck else { return }
            let sequence = notification.data.reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
            guard sequence &- check.firstSequence <= check.sequence &- check.firstSequence else { return }
            deadPeerCheck = nil
            actions.append(.cancelTimer(.retransmit(messageID: check.messageID)))
            if let dpd = configuration.liveness {
                actions.append(.armTimer(.liveness, at: now + dpd.interval))
            }
        case .responderLifetime:
            applyResponderLifetime(notification, now: now, into: &actions)
        case .initialContact:
            break
        case let type where type.isError:
            // The peer refused something of ours, most often a Quick Mode (named by our SPI).
            let spi = notification.spi.count == 4 ? notification.spi.reduce(UInt32(0)) { $0 << 8 | UInt32($1) } : nil
            // Named by our SPI, or by none: strongSwan refuses a Quick Mode whose IDs match no policy before
            // it has read our SPI, so its notification carries SPI 0 (seen on the wire). Ours run one at a
            // time, so an unnamed refusal is for the one in flight.
            let refused = quickModes.values.first {
                $0.role == .initiator && $0.state == .sentQM1
                    && (spi == nil || spi == 0 || $0.ourSPI == spi)
            }
            if let refused { abandonQuickMode(refused.messageID, into: &actions) }
            let kind: GatewayEvent.Kind
            switch type {
            case .noProposalChosen: kind = .proposalMismatch
            case .invalidIDInformation: kind = .trafficSelectorMismatch
            case .invalidHashInformation, .authenticationFailed: kind = .authenticationFailed
            default: kind = .invalidSyntax
            }
            var text = "peer sent \(notifyName(type))"
            if let refused {
                text += " for our Quick Mode for \(refused.pair)"
                if type == .noProposalChosen { text += ": it accepts none of \(configuration.espProposals)" }
            }
            var details = ["notify": "\(type.rawValue)", "rejected_by": "peer", "phase": "2"]
            if type == .noProposalChosen { details["ours"] = "\(configuration.espProposals)" }
            emit(kind, .error, text, details: details, ids: sa.ids, now: now, into: &actions)
        default:
            break
        }
    }

    mutating func handleDelete(
        _ delete: ISAKMPDeletePayload, from sa: ISAKMPSA, now: MonotonicTime, into actions: inout [IKEAction]
    ) {
        switch delete.protocolID {
        case .esp, .ah:
            for spi in delete.spis where spi.count == 4 {
                let value = spi.reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
                // The initiator gave up an SA we installed with our answer (its message 3 never came).
                if let pending = quickModes.values.first(where: {
                    $0.state != .done && $0.preinstalled?.outboundSPI == value
                }) {
                    abandonQuickMode(pending.messageID, into: &actions)
                    emit(
                        .childSADeleted, .info,
                        "IPsec SA \(SAIdentifier.esp(pending.ourSPI))_i for \(pending.pair) deleted by the peer "
                            + "before its Quick Mode completed", ids: sa.ids, now: now, into: &actions)
                    continue
                }
                guard let ours = ipsecSAs.first(where: { $0.parameters.outboundSPI == value }) else { continue }
                removeIPsecSA(inboundSPI: ours.inboundSPI, reason: "deleted by the peer", now: now, into: &actions)
            }
        case .isakmp:
            for spi in delete.spis where spi.count == 16 {
                let cookieI = spi[0..<8].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
                let cookieR = spi[8..<16].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
                guard let index = isakmpSAs.firstIndex(where: { $0.cookieI == cookieI && $0.cookieR == cookieR })
                else { continue }
                let deleted = isakmpSAs[index]
                let others = isakmpSAs.filter { $0.isEstablished && $0.cookieI != cookieI }
                if deleted.cookieI == currentCookieI, others.isEmpty {
                    emit(
                        .ikeSADeleted, .notice, "peer deleted the ISAKMP SA; the connection is down",
                        ids: deleted.ids, now: now, into: &actions)
                    restartAfterClose = false
                    close(now: now, into: &actions)
                    return
                }
                isakmpSAs.remove(at: index)
                if deleted.cookieI == currentCookieI {
                    currentCookieI = others.max { ($0.establishedAt ?? .zero) < ($1.establishedAt ?? .zero) }?.cookieI
                }
                emit(
                    .ikeSADeleted, .info, "peer deleted the replaced ISAKMP SA", ids: deleted.ids, now: now,
                    into: &actions)
            }
        default:
            break
        }
    }

    /// RESPONDER-LIFETIME (RFC 2407 4.6.3.1): the responder's policy is shorter than our proposal, so we
    /// adopt its value; for an IPsec SA the one whose SPI it names, for phase 1 the current ISAKMP SA.
    mutating func applyResponderLifetime(
        _ notification: ISAKMPNotificationPayload, now: MonotonicTime, into actions: inout [IKEAction]
    ) {
        guard !configuration.ignoresResponderLifetime, let announced = IKEv1Proposals.responderLifetime(notification)
        else { return }
        if notification.protocolID == .isakmp {
            guard let index = currentIndex, let establishedAt = isakmpSAs[index].establishedAt,
                let lifetime = isakmpSAs[index].adoptResponderLifetime(announced)
            else { return }
            isakmpSAs[index].expiresAt = establishedAt + lifetime
            let rekeyAt = max(now, rekeyTime(lifetime: lifetime, from: establishedAt))
            isakmpSAs[index].rekeyAt = rekeyAt
            actions.append(.armTimer(.rekeyIKESA, at: rekeyAt))
            let sa = isakmpSAs[index]
            emitLifetime(
                phase: "phase 1 (ISAKMP SA)", ours: ourLifetimeIKE, peer: announced, used: sa.lifetime,
                reason: sa.lifetimeReason, ids: sa.ids, now: now, into: &actions)
            return
        }
        guard notification.spi.count == 4 else { return }
        let spi = notification.spi.reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        guard let index = ipsecSAs.firstIndex(where: { $0.inboundSPI == spi || $0.parameters.outboundSPI == spi }),
            let lifetime = ipsecSAs[index].adoptResponderLifetime(announced)
        else { return }
        let sa = ipsecSAs[index]
        ipsecSAs[index].expiresAt = sa.installedAt + lifetime
        actions.append(.armTimer(.expireChildSA(inboundSPI: sa.inboundSPI), at: sa.installedAt + lifetime))
        if !sa.rekeyed {
            let rekeyAt = max(now, rekeyTime(lifetime: lifetime, from: sa.installedAt))
            ipsecSAs[index].rekeyAt = rekeyAt
            actions.append(.armTimer(.rekeyChildSA(inboundSPI: sa.inboundSPI), at: rekeyAt))
        }
        emitLifetime(
            phase: "phase 2 (\(SAIdentifier.esp(sa.inboundSPI)))", ours: ourLifetimeESP, peer: announced,
            used: sa.lifetime, reason: sa.lifetimeReason, ids: current?.ids ?? [], now: now, into: &actions)
    }

    // MARK: - Sending

    /// Sends `HDR*, HASH(1), payloads` on `sa` with a fresh message ID; returns the message ID.
    @discardableResult
    mutating func sendInformational(
        sa: ISAKMPSA, payloads: [ISAKMPPayload], now: MonotonicTime, into actions: inout [IKEAction]
    ) -> UInt32? {
        guard let crypto = sa.crypto, sa.isEstablished else { return nil }
        let messageID = newMessageID()
        let hash = crypto.hash1(messageID: messageID, rest: ISAKMPPayloadChain.serialize(payloads))
        do {
            let iv = try crypto.phase2IV(lastPhase1Block: sa.lastPhase1Block, messageID: messageID)
            let sealed = try crypto.encrypt(
                cookieInitiator: sa.cookieI, cookieResponder: sa.cookieR, exchange: .informational,
                messageID: messageID, payloads: [.hash(ISAKMPDataPayload(data: hash))] + payloads, iv: iv)
            send(sealed.bytes, into: &actions)
            return messageID
        } catch {
            emit(
                .invalidSyntax, .error, "cannot build an Informational: \(error)", ids: sa.ids, now: now,
                into: &actions)
            return nil
        }
    }

    func cookieSPI(_ sa: ISAKMPSA) -> [UInt8] { IKEv1SACrypto.bytes(sa.cookieI) + IKEv1SACrypto.bytes(sa.cookieR) }

    /// A notification about the ISAKMP SA itself, named by its cookie pair (RFC 2408 section 3.14; RFC 3706
    /// section 5.2 for R-U-THERE).
    func isakmpNotification(_ type: ISAKMPNotifyType, sa: ISAKMPSA, data: [UInt8] = []) -> ISAKMPPayload {
        .notification(ISAKMPNotificationPayload(protocolID: .isakmp, spi: cookieSPI(sa), notifyType: type, data: data))
    }

    /// An error notification on an established (or just authenticated) ISAKMP SA.
    mutating func sendProtectedNotification(
        _ type: ISAKMPNotifyType, sa: ISAKMPSA, now: MonotonicTime, into actions: inout [IKEAction]
    ) {
        var usable = sa
        if !usable.isEstablished, usable.crypto != nil, !usable.lastPhase1Block.isEmpty { usable.phase = .established }
        sendInformational(sa: usable, payloads: [isakmpNotification(type, sa: sa)], now: now, into: &actions)
    }

    mutating func sendISAKMPDelete(_ sa: ISAKMPSA, now: MonotonicTime, into actions: inout [IKEAction]) {
        let delete = ISAKMPDeletePayload(protocolID: .isakmp, spiSize: 16, spis: [cookieSPI(sa)])
        sendInformational(sa: sa, payloads: [.delete(delete)], now: now, into: &actions)
    }

    /// Phase 1 RESPONDER-LIFETIME after Main Mode message 6 (what Cisco sends): our shorter lifetime.
    mutating func sendResponderLifetime(phase1 sa: ISAKMPSA, now: MonotonicTime, into actions: inout [IKEAction]) {
        let lifetime = IKEv1Proposals.responderLifetimeNotification(
            sa.lifetime, protocolID: .isakmp, spi: cookieSPI(sa))
        sendInformational(sa: sa, payloads: [.notification(lifetime)], now: now, into: &actions)
    }

    /// `isthmus down`: delete every IPsec SA and the ISAKMP SA (IKEv1 deletes are not acknowledged).
    mutating func terminate(now: MonotonicTime, into actions: inout [IKEAction]) {
        if let sa = current {
            if !ipsecSAs.isEmpty {
                sendInformational(
                    sa: sa,
                    payloads: [
                        .delete(
                            ISAKMPDeletePayload(
                                protocolID: .esp, spiSize: 4, spis: ipsecSAs.map { IKEv1SACrypto.bytes($0.inboundSPI) })
                        )
                    ],
                    now: now, into: &actions)
            }
            sendISAKMPDelete(sa, now: now, into: &actions)
            emit(
                .ikeSADeleted, .info, "ISAKMP SA and \(ipsecSAs.count) IPsec SA(s) deleted on request",
                ids: sa.ids, now: now, into: &actions)
        }
        for replaced in isakmpSAs where replaced.retireAt != nil && replaced.cookieI != currentCookieI {
            sendISAKMPDelete(replaced, now: now, into: &actions)
        }
        close(now: now, into: &actions)
    }

    // MARK: - Dead peer detection (RFC 3706)

    /// Liveness timer: when nothing authenticated came from the peer for the interval, ask R-U-THERE.
    mutating func checkLiveness(now: MonotonicTime, into actions: inout [IKEAction]) {
        guard let dpd = configuration.liveness, let sa = current, sa.peerSupportsDPD, deadPeerCheck == nil
        else { return }
        if now - lastInbound < dpd.interval {
            actions.append(.armTimer(.liveness, at: lastInbound + dpd.interval))
            return
        }
        dpdSequence &+= 1
        guard let messageID = sendAreYouThere(sa, now: now, into: &actions) else { return }
        deadPeerCheck = DeadPeerCheck(
            startedAt: now, firstSequence: dpdSequence, sequence: dpdSequence, messageID: messageID, attempts: 0)
        let retry = now + Self.retransmissionSchedule.timeout(after: 0)
        actions.append(.armTimer(.retransmit(messageID: messageID), at: min(retry, now + dpd.timeout)))
    }

    /// No ACK yet: declare the peer dead after the timeout, else ask again with the next sequence number.
    mutating func retryDeadPeerCheck(now: MonotonicTime, into actions: inout [IKEAction]) {
        guard var check = deadPeerCheck, let dpd = configuration.liveness else { return }
        if now - check.startedAt >= dpd.timeout || current == nil {
            let restart = dpd.action == .restart
            emit(
                .livenessTimeout, .error,
                "peer \(remote) did not answer R-U-THERE for \(dpd.timeout.configText); "
                    + "deleting the SAs" + (restart ? " and negotiating again" : ""), ids: current?.ids ?? [], now: now,
                into: &actions)
            deadPeerCheck = nil
            restartAfterClose = restart
            close(now: now, into: &actions)
            return
        }
        guard let sa = current else { return }
        dpdSequence &+= 1
        guard let messageID = sendAreYouThere(sa, now: now, into: &actions) else { return }
        check.attempts += 1
        check.sequence = dpdSequence
        check.messageID = messageID
        deadPeerCheck = check
        emit(
            .retransmit, .notice, "R-U-THERE \(check.attempts + 1) to \(remote) (no answer yet)", ids: sa.ids,
            now: now, into: &actions)
        actions.append(
            .armTimer(
                .retransmit(messageID: messageID),
                at: min(
                    now + Self.retransmissionSchedule.timeout(after: check.attempts), check.startedAt + dpd.timeout)))
    }

    mutating func sendAreYouThere(_ sa: ISAKMPSA, now: MonotonicTime, into actions: inout [IKEAction])
        -> UInt32?
    {
        sendInformational(
            sa: sa, payloads: [isakmpNotification(.areYouThere, sa: sa, data: IKEv1SACrypto.bytes(dpdSequence))],
            now: now, into: &actions)
    }
}

/// The RFC name of a notify type for log lines.
func notifyName(_ type: ISAKMPNotifyType) -> String {
    switch type {
    case .invalidPayloadType: "INVALID-PAYLOAD-TYPE"
    case .invalidSPI: "INVALID-SPI"
    case .invalidMessageID: "INVALID-MESSAGE-ID"
    case .noProposalChosen: "NO-PROPOSAL-CHOSEN"
    case .payloadMalformed: "PAYLOAD-MALFORMED"
    case .invalidIDInformation: "INVALID-ID-INFORMATION"
    case .invalidHashInformation: "INVALID-HASH-INFORMATION"
    case .authenticationFailed: "AUTHENTICATION-FAILED"
    case .invalidCookie: "INVALID-COOKIE"
    case .attributesNotSupported: "ATTRIBUTES-NOT-SUPPORTED"
    case .invalidKeyInformation: "INVALID-KEY-INFORMATION"
    case .responderLifetime: "RESPONDER-LIFETIME"
    case .initialContact: "INITIAL-CONTACT"
    default: "notify \(type.rawValue)"
    }
}
