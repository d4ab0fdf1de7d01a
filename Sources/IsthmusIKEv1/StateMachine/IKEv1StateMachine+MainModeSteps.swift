import IsthmusCrypto
import IsthmusEvents
import IsthmusIKE
import IsthmusIP
import IsthmusWire

/// What both Main Mode roles share: identities, NAT discovery (RFC 3947), establishment, and the
/// phase 1 rekey (a new Main Mode replacing the ISAKMP SA).
extension IKEv1StateMachine {
    // MARK: - Shared steps

    /// The peer's phase 1 identity and the raw body of its ID payload (HASH_I/HASH_R cover it as sent).
    func identification(in decrypted: IKEv1SACrypto.Decrypted) throws
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

    func matches(_ identity: IKEv1Configuration.Identity?, _ expected: IKEv1Configuration.Identity) -> Bool {
        identity?.matches(expected) ?? false
    }

    /// Main Mode message 3 at the responder, 4 at the initiator: the peer's KE and nonce (in the clear) and our
    /// Diffie-Hellman exchange give the shared secret, the ISAKMP SA keys (RFC 2409 section 5) and the IV of
    /// message 5 (Appendix B), all kept in `sa`. The initiator made its exchange for message 3; the responder
    /// makes its own and draws its nonce here. Returns the keys and the message's payloads (for NAT-D).
    mutating func deriveKeys(_ sa: inout ISAKMPSA, from message: ISAKMPMessage) throws
        -> (crypto: IKEv1SACrypto, payloads: [ISAKMPPayload])
    {
        let isInitiator = sa.role == .initiator
        guard case .payloads(let payloads) = message.body else {
            throw IKEv1Failure.malformed("encrypted message \(isInitiator ? 4 : 3)")
        }
        guard let peerPublic = payloads.keyExchange else { throw IKEv1Failure.missingPayload("KE") }
        guard let peerNonce = payloads.nonce else { throw IKEv1Failure.missingPayload(isInitiator ? "Nr" : "Ni") }
        guard let suite = sa.suite, !isInitiator || sa.exchange != nil else {
            throw IKEv1Failure.malformed("no suite")
        }
        let exchange = try sa.exchange ?? makeExchange(suite.group)
        let shared = try exchange.sharedSecret(peerPublicValue: peerPublic)
        if isInitiator {
            sa.publicR = peerPublic
            sa.nonceR = peerNonce
        } else {
            sa.publicI = peerPublic
            sa.nonceI = peerNonce
            sa.publicR = exchange.publicValue
            sa.nonceR = randomBytes(Self.nonceLength)
        }
        let crypto = try IKEv1SACrypto(
            suite: suite, sharedKey: configuration.sharedKey, sharedSecret: shared, nonceInitiator: sa.nonceI,
            nonceResponder: sa.nonceR, cookieInitiator: sa.cookieI, cookieResponder: sa.cookieR)
        sa.iv = try crypto.phase1IV(publicInitiator: sa.publicI, publicResponder: sa.publicR)
        sa.crypto = crypto
        sa.exchange = nil
        return (crypto, payloads)
    }

    /// Stores `sa`, moved on to `phase`, and sends our next Main Mode message: kept as the answer to a repeat
    /// of the peer's `datagram`, and (initiator only) retransmitted until the peer's next message comes. The responder replies
    /// to where the datagram came from (a NAT may have changed its port); the initiator sends to `remote`.
    mutating func sendNextMainModeMessage(
        _ bytes: [UInt8], of sa: ISAKMPSA, at index: Int, phase: ISAKMPSA.Phase, answering datagram: IKEDatagram,
        now: MonotonicTime, into actions: inout [IKEAction]
    ) {
        var sa = sa
        sa.phase = phase
        sa.answered = IKECachedResponse(requestBytes: datagram.bytes, datagrams: [bytes])
        // The initiator retransmits; the responder answers a repeated request from `answered` only.
        sa.retransmission = sa.role == .initiator ? pending(bytes, messageID: 0, now: now) : nil
        isakmpSAs[index] = sa
        // No `lastInbound` here: messages 1 to 4 are not authenticated, and one from a spoofer (routed to an
        // established session as a new Main Mode) must not keep a dead peer looking alive.
        if sa.role == .responder {
            actions.append(.send(IKEDatagram(bytes: bytes, source: datagram.destination, destination: datagram.source)))
        } else {
            send(bytes, into: &actions)
        }
        armRetransmitTimer(0, into: &actions)
    }

    /// Main Mode message 5 (from the initiator) or 6 (from the responder), decrypted, and the peer's HASH_I or
    /// HASH_R checked over its ID payload as sent (RFC 2409 section 5.4); with the identity that payload names.
    /// A message that does not decrypt or whose hash fails is reported as a likely key mismatch and gives nil
    /// (as does an SA without keys); a missing or unreadable ID or HASH payload throws.
    mutating func verifiedPeerHash(
        _ index: Int, _ message: ISAKMPMessage, now: MonotonicTime, into actions: inout [IKEAction]
    ) throws -> (decrypted: IKEv1SACrypto.Decrypted, identity: IKEv1Configuration.Identity?)? {
        let sa = isakmpSAs[index]
        guard let crypto = sa.crypto else { return nil }
        let peerIsInitiator = sa.role == .responder
        let (number, hashName) = peerIsInitiator ? (5, "HASH_I") : (6, "HASH_R")
        let decrypted: IKEv1SACrypto.Decrypted
        do {
            decrypted = try crypto.decrypt(message, iv: sa.iv)
        } catch {
            reportKeyMismatch(index, "Main Mode message \(number) \(error)", now: now, into: &actions)
            return nil
        }
        let (identity, idBody) = try identification(in: decrypted)
        guard let hash = decrypted.payloads.hash else { throw IKEv1Failure.missingPayload(hashName) }
        let expected = crypto.phase1Hash(
            ofInitiator: peerIsInitiator, publicInitiator: sa.publicI, publicResponder: sa.publicR,
            initiatorSABody: sa.initiatorSABody, identificationBody: idBody)
        guard ConstantTime.equal(hash, expected) else {
            reportKeyMismatch(
                index, "\(hashName) of Main Mode message \(number) does not verify", now: now, into: &actions)
            return nil
        }
        return (decrypted, identity)
    }

    /// A Main Mode message 5 or 6 that does not decrypt or whose hash fails: with pre-shared keys the
    /// keys differ, nearly always because the shared keys do. Logged once per SA; the message is dropped
    /// (it could be forged) and the exchange runs into its timeout if the peer keeps sending such.
    mutating func reportKeyMismatch(
        _ index: Int, _ reason: String, now: MonotonicTime, into actions: inout [IKEAction]
    ) {
        dropLog.count()
        guard !isakmpSAs[index].reportedKeyMismatch else { return }
        isakmpSAs[index].reportedKeyMismatch = true
        emit(
            .authenticationFailed, .error,
            "\(reason): likely pre-shared key mismatch; check that both gateways "
                + "use the same key (isthmus key show \(connection))",
            details: ["reason": "likely-psk-mismatch", "rejected_by": "us"],
            ids: isakmpSAs[index].ids, now: now, into: &actions)
    }

    /// NAT-D payloads (RFC 3947 section 3.2): the peer's address and port first, then ours. With
    /// `forceUDPEncapsulation` ours is deliberately wrong so that both ends float and encapsulate.
    func natDiscoveryPayloads(_ sa: ISAKMPSA, remote: UDPEndpoint? = nil, local: UDPEndpoint? = nil)
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
    func detectNAT(
        _ sa: inout ISAKMPSA, _ hashes: [[UInt8]], datagram: IKEDatagram, crypto: IKEv1SACrypto, now: MonotonicTime,
        into actions: inout [IKEAction]
    ) {
        guard let first = hashes.first else { return }
        let ours = IKEv1SACrypto.natDetectionHash(
            prf: crypto.prf, cookieInitiator: sa.cookieI, cookieResponder: sa.cookieR, endpoint: datagram.destination)
        let theirs = IKEv1SACrypto.natDetectionHash(
            prf: crypto.prf, cookieInitiator: sa.cookieI, cookieResponder: sa.cookieR, endpoint: datagram.source)
        sa.nat = NATDetectionResult(local: first != ours, remote: !hashes.dropFirst().contains(theirs))
        if sa.nat.found {
            emit(
                .natDetected, .notice,
                "\(sa.nat.summary): IKE moves to UDP 4500 and ESP is UDP-encapsulated (RFC 3947, 3948)",
                details: ["local": "\(sa.nat.local)", "remote": "\(sa.nat.remote)"], ids: sa.ids, now: now,
                into: &actions)
        }
    }

    /// Phase 1 is complete: timers, events, and (for a replacement) the hand-over from the old SA.
    mutating func established(_ index: Int, now: MonotonicTime, into actions: inout [IKEAction]) {
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
        if sa.peerSupportsDPD, let dpd = configuration.liveness {
            deadPeerCheck = nil
            actions.append(.armTimer(.liveness, at: now + dpd.interval))
        }
        if sa.nat.local { actions.append(.armTimer(.natKeepalive, at: now + Self.natKeepaliveInterval)) }
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
    mutating func forgetOlderSAs(than index: Int, now: MonotonicTime, into actions: inout [IKEAction]) {
        let keep = isakmpSAs[index]
        let stale = isakmpSAs.filter { $0.cookieI != keep.cookieI || $0.cookieR != keep.cookieR }
        guard !stale.isEmpty || !ipsecSAs.isEmpty else { return }
        emit(
            .ikeSADeleted, .notice,
            "INITIAL-CONTACT: the peer restarted; removing \(stale.count) old ISAKMP SA(s) "
                + "and \(ipsecSAs.count) IPsec SA(s)", ids: keep.ids, now: now, into: &actions)
        for old in stale {
            emit(
                .ikeSAReplaced, .notice, "ISAKMP SA dropped: the peer restarted (INITIAL-CONTACT)",
                details: [
                    "reason": "peer-restarted", "kept": "\(keep.ids.first ?? "")", "dropped": "\(old.ids.first ?? "")",
                ],
                ids: old.ids, now: now, into: &actions)
        }
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
