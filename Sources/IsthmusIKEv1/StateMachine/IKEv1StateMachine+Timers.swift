import IsthmusCrypto
import IsthmusEvents
import IsthmusIKE
import IsthmusIP
import IsthmusWire

/// Timers (retransmission, half-open and housekeeping) and closing the connection.
extension IKEv1StateMachine {
    // MARK: - Timers

    mutating func handleTimer(_ timer: IKETimer, now: MonotonicTime, into actions: inout [IKEAction]) {
        switch timer {
        case .retransmit(let messageID):
            retransmit(messageID: messageID, now: now, into: &actions)
        case .abandon:
            abandonHalfOpen(now: now, into: &actions)
            retireReplacedSAs(now: now, into: &actions)
            armHousekeeping(into: &actions)
        case .rekeyIKESA:
            rekeyISAKMPSA(now: now, into: &actions)
        case .rekeyChildSA(let spi):
            rekeyIPsecSA(inboundSPI: spi, now: now, into: &actions)
        case .expireChildSA(let spi):
            expireIPsecSA(inboundSPI: spi, now: now, into: &actions)
        case .liveness:
            checkLiveness(now: now, into: &actions)
        case .natKeepalive:
            guard let current, current.nat.local else { return }
            actions.append(.natKeepalive(source: local, destination: remote))
            actions.append(.armTimer(.natKeepalive, at: now + Self.natKeepaliveInterval))
        case .startQueuedExchange:
            break  // handle(_:now:) starts the next queued Quick Mode after every timer
        }
    }

    /// A message of ours sent now that waits for the peer's next, on ``retransmissionSchedule``.
    func pending(_ bytes: [UInt8], messageID: UInt32, now: MonotonicTime) -> IKERetransmission {
        IKERetransmission(messageID: messageID, datagrams: [bytes], now: now, schedule: Self.retransmissionSchedule)
    }

    /// Our answer again, where the repeated message came from.
    func sendAgain(
        _ cached: IKECachedResponse<MessageDigest>, to repeated: IKEDatagram, into actions: inout [IKEAction]
    ) {
        for bytes in cached.datagrams {
            actions.append(
                .send(IKEDatagram(bytes: bytes, source: repeated.destination, destination: repeated.source)))
        }
    }

    /// Resends every message waiting under `messageID` that is due, gives up on those out of attempts.
    mutating func retransmit(messageID: UInt32, now: MonotonicTime, into actions: inout [IKEAction]) {
        for index in isakmpSAs.indices.reversed() {
            guard var pending = isakmpSAs[index].retransmission, pending.messageID == messageID,
                pending.isDue(at: now)
            else { continue }
            guard case .resend = pending.retransmit(now: now) else {
                mainModeGaveUp(index, now: now, into: &actions)
                continue
            }
            isakmpSAs[index].retransmission = pending
            for bytes in pending.datagrams { send(bytes, into: &actions) }
            emit(
                .retransmit, .notice,
                "retransmit \(pending.retransmits) of Main Mode (\(isakmpSAs[index].phase.rawValue)) "
                    + "to \(remote)", ids: isakmpSAs[index].ids, now: now, into: &actions)
        }
        if var exchange = quickModes[messageID], var pending = exchange.retransmission, pending.isDue(at: now) {
            if case .resend = pending.retransmit(now: now) {
                exchange.retransmission = pending
                quickModes[messageID] = exchange
                for bytes in pending.datagrams { send(bytes, into: &actions) }
                emit(
                    .retransmit, .notice,
                    "retransmit \(pending.retransmits) of Quick Mode \(messageID) for "
                        + "\(exchange.pair) to \(remote)", ids: saIDs(exchange.cookieI), now: now, into: &actions)
            } else {
                quickModeGaveUp(exchange, now: now, into: &actions)
            }
        }
        if let check = deadPeerCheck, check.messageID == messageID {
            retryDeadPeerCheck(now: now, into: &actions)
        }
        armRetransmitTimer(messageID, into: &actions)
    }

    /// Arms the retransmit timer of `messageID` for the earliest message waiting under it.
    mutating func armRetransmitTimer(_ messageID: UInt32, into actions: inout [IKEAction]) {
        var earliest: MonotonicTime?
        for sa in isakmpSAs {
            if let pending = sa.retransmission, pending.messageID == messageID {
                earliest = min(earliest ?? pending.nextAt, pending.nextAt)
            }
        }
        if let pending = quickModes[messageID]?.retransmission {
            earliest = min(earliest ?? pending.nextAt, pending.nextAt)
        }
        if let earliest {
            actions.append(.armTimer(.retransmit(messageID: messageID), at: earliest))
        }
    }

    mutating func mainModeGaveUp(_ index: Int, now: MonotonicTime, into actions: inout [IKEAction]) {
        let sa = isakmpSAs.remove(at: index)
        let retransmits = Self.retransmissionSchedule.maximumRetransmits
        if sa.isRekey, sa.role == .responder {
            emit(
                .peerNotAnswering, .notice,
                "the peer's Main Mode (\(sa.phase.rawValue)) to replace the ISAKMP SA "
                    + "stopped; the current ISAKMP SA stays", ids: sa.ids, now: now, into: &actions)
            return
        }
        if sa.isRekey, let current, let expiresAt = current.expiresAt {
            emit(
                .peerNotAnswering, .warning,
                "no answer to the phase 1 rekey from \(remote) after "
                    + "\(retransmits) retransmits; the current ISAKMP SA stays until it expires",
                ids: sa.ids, now: now, into: &actions)
            actions.append(.armTimer(.rekeyIKESA, at: min(expiresAt, now + Self.quickModeRetryDelay)))
            return
        }
        emit(
            .peerNotAnswering, .error,
            "no answer to Main Mode (\(sa.phase.rawValue)) from \(remote) after "
                + "\(retransmits) retransmits: check that the peer is up, that UDP 500 and 4500 reach it, "
                + "and its address", ids: sa.ids, now: now, into: &actions)
        if current == nil { close(now: now, into: &actions) }
    }

    /// When a half-open responder SA is dropped: ``unprovenHalfOpenTimeout`` after message 1 while the peer
    /// has not sent message 3 (its address may be spoofed), ``halfOpenTimeout`` after it otherwise.
    func halfOpenDeadline(_ sa: ISAKMPSA) -> MonotonicTime {
        sa.startedAt + (sa.phase == .repliedMM2 ? Self.unprovenHalfOpenTimeout : Self.halfOpenTimeout)
    }

    /// Drops half-open responder SAs past their ``halfOpenDeadline(_:)``.
    mutating func abandonHalfOpen(now: MonotonicTime, into actions: inout [IKEAction]) {
        // Ours in progress give up by their retransmissions instead.
        let stale = isakmpSAs.filter {
            !$0.isEstablished && $0.role == .responder && now >= halfOpenDeadline($0)
        }
        for sa in stale {
            if sa.phase == .repliedMM2 {
                drop(
                    "Main Mode message 1 not followed by message 3 within \(Self.unprovenHalfOpenTimeout) "
                        + "(a spoofed source?); half-open SA dropped", ids: sa.ids, now: now, into: &actions)
            } else {
                emit(
                    .peerNotAnswering, .warning,
                    "Main Mode (\(sa.phase.rawValue)) not completed within "
                        + "\(Self.halfOpenTimeout); half-open SA dropped", ids: sa.ids, now: now, into: &actions)
            }
            if let pending = sa.retransmission {
                isakmpSAs.removeAll { $0.cookieI == sa.cookieI && $0.cookieR == sa.cookieR }
                armRetransmitTimer(pending.messageID, into: &actions)
            } else {
                isakmpSAs.removeAll { $0.cookieI == sa.cookieI && $0.cookieR == sa.cookieR }
            }
        }
        if current == nil, !stale.isEmpty, !isakmpSAs.contains(where: { !$0.isEstablished }) {
            close(now: now, into: &actions)
        }
    }

    /// Deletes replaced ISAKMP SAs of ours whose delete was deferred (replacedISAKMPSADeleteDelay).
    mutating func retireReplacedSAs(now: MonotonicTime, into actions: inout [IKEAction]) {
        guard !closed else { return }
        for sa in isakmpSAs where sa.retireAt.map({ $0 <= now }) ?? false && sa.cookieI != currentCookieI {
            sendISAKMPDelete(sa, now: now, into: &actions)
            isakmpSAs.removeAll { $0.cookieI == sa.cookieI && $0.cookieR == sa.cookieR }
            emit(
                .ikeSADeleted, .info, "replaced ISAKMP SA deleted (its IPsec SAs belong to the new one)",
                ids: sa.ids, now: now, into: &actions)
        }
    }

    /// The `abandon` timer does the ISAKMP SA housekeeping: half-open SAs that time out, replaced SAs of
    /// ours to delete. Armed for the earliest of those, cancelled when there is none.
    mutating func armHousekeeping(into actions: inout [IKEAction]) {
        guard !closed else { return }
        let halfOpen = isakmpSAs.filter { !$0.isEstablished && $0.role == .responder }.map(halfOpenDeadline)
        let retiring = isakmpSAs.compactMap(\.retireAt)
        if let next = (halfOpen + retiring).min() {
            actions.append(.armTimer(.abandon, at: next))
        } else {
            actions.append(.cancelTimer(.abandon))
        }
    }

    // MARK: - Closing

    /// Removes every IPsec SA, cancels every timer and ends the connection. Restart: as decided by
    /// `restartAfterClose`, otherwise only for a connection we initiate (a failed attempt of ours).
    mutating func close(now: MonotonicTime, into actions: inout [IKEAction]) {
        for sa in ipsecSAs {
            actions.append(.cancelTimer(.rekeyChildSA(inboundSPI: sa.inboundSPI)))
            actions.append(.cancelTimer(.expireChildSA(inboundSPI: sa.inboundSPI)))
            actions.append(.childSA(.remove(inboundSPI: sa.inboundSPI)))
            emit(
                .childSADeleted, .info,
                "IPsec SA \(SAIdentifier.esp(sa.inboundSPI))_i "
                    + "\(SAIdentifier.esp(sa.parameters.outboundSPI))_o removed with the connection",
                ids: [], now: now, into: &actions)
        }
        ipsecSAs.removeAll()
        for exchange in quickModes.values where exchange.state != .done {
            if let spi = exchange.preinstalled?.inboundSPI { actions.append(.childSA(.remove(inboundSPI: spi))) }
        }
        var messageIDs = Set(quickModes.keys)
        for sa in isakmpSAs { if let pending = sa.retransmission { messageIDs.insert(pending.messageID) } }
        if let check = deadPeerCheck { messageIDs.insert(check.messageID) }
        for messageID in messageIDs.sorted() { actions.append(.cancelTimer(.retransmit(messageID: messageID))) }
        quickModes.removeAll()
        queuedQuickModes.removeAll()
        isakmpSAs.removeAll()
        currentCookieI = nil
        deadPeerCheck = nil
        for timer in [IKETimer.liveness, .rekeyIKESA, .abandon, .natKeepalive] { actions.append(.cancelTimer(timer)) }
        closed = true
        actions.append(.ikeSAClosed(restart: restartAfterClose ?? (role == .initiator)))
    }
}
