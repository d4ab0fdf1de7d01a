import IsthmusCrypto
import IsthmusEvents
import IsthmusIKE
import IsthmusIP
import IsthmusWire

/// Main Mode, responder side (RFC 2409 section 5.4): messages 3 and 5 (message 1 is in `+MainMode`).
extension IKEv1StateMachine {
    // MARK: - Responder

    /// Message 3: KE, Ni, NAT-D. Then message 4.
    mutating func handleMM3(
        _ index: Int, _ message: ISAKMPMessage, datagram: IKEDatagram, now: MonotonicTime,
        into actions: inout [IKEAction]
    ) {
        var sa = isakmpSAs[index]
        do {
            let (crypto, payloads) = try deriveKeys(&sa, from: message)
            var out: [ISAKMPPayload] = [
                .keyExchange(ISAKMPDataPayload(data: sa.publicR)), .nonce(ISAKMPNoncePayload(nonce: sa.nonceR)),
            ]
            if sa.peerSupportsNATT, !payloads.natDiscoveries.isEmpty {
                detectNAT(&sa, payloads.natDiscoveries, datagram: datagram, crypto: crypto, now: now, into: &actions)
                out += natDiscoveryPayloads(sa, remote: datagram.source, local: datagram.destination)
            }
            let bytes = ISAKMPMessage(
                initiatorCookie: sa.cookieI, responderCookie: sa.cookieR, exchangeType: .identityProtection,
                messageID: 0, body: .payloads(out)
            ).serialize()
            // Message 3 carries our cookie: the peer receives at its address. Now it is worth an event.
            emit(
                .ikeSAInitiating, .info,
                "Main Mode from \(datagram.source): chose \(sa.suite.map { "\($0)" } ?? "?")"
                    + (sa.isRekey ? " (the peer is replacing the ISAKMP SA)" : ""), ids: sa.ids, now: now,
                into: &actions)
            sendNextMainModeMessage(
                bytes, of: sa, at: index, phase: .repliedMM4, answering: datagram, now: now, into: &actions)
        } catch {
            drop("unusable Main Mode message 3: \(error)", ids: sa.ids, now: now, into: &actions)
        }
    }

    /// Message 5: IDii and HASH_I. A message that will not decrypt almost always means the keys differ,
    /// i.e. the pre-shared keys do (RFC 2409 section 5.4: SKEYID depends on the key).
    mutating func handleMM5(
        _ index: Int, _ message: ISAKMPMessage, datagram: IKEDatagram, now: MonotonicTime,
        into actions: inout [IKEAction]
    ) {
        var sa = isakmpSAs[index]
        guard let crypto = sa.crypto else { return }
        let decrypted: IKEv1SACrypto.Decrypted
        let identity: IKEv1Configuration.Identity?
        do {
            guard let peer = try verifiedPeerHash(index, message, now: now, into: &actions) else { return }
            decrypted = peer.decrypted
            identity = peer.identity
        } catch {
            drop("unusable Main Mode message 5: \(error)", ids: sa.ids, now: now, into: &actions)
            return
        }
        guard matches(identity, configuration.remoteIdentity) else {
            emit(
                .authenticationFailed, .error,
                "peer identifies as \(identity.map { "\($0)" } ?? "an unreadable ID"), "
                    + "expected \(configuration.remoteIdentity): check the peer's local ID (or our remote ID)",
                details: ["rejected_by": "us", "identity": identity.map { "\($0)" } ?? ""], ids: sa.ids, now: now,
                into: &actions)
            dropLog.count()
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
            sa.answered = IKECachedResponse(requestBytes: datagram.bytes, datagrams: [sealed.bytes])
            sa.retransmission = nil
            isakmpSAs[index] = sa
            lastInbound = now
            // Answer where the initiator is now (it may have floated to 4500, or sit behind a NAT).
            local = datagram.destination
            remote = datagram.source
            armRetransmitTimer(0, into: &actions)
            let initialContact = decrypted.payloads.notifications.contains { $0.notifyType == .initialContact }
            if initialContact { forgetOlderSAs(than: index, now: now, into: &actions) }
            send(sealed.bytes, into: &actions)
            guard let newIndex = isakmpSAs.firstIndex(where: { $0.cookieI == sa.cookieI && $0.cookieR == sa.cookieR })
            else { return }
            established(newIndex, now: now, into: &actions)
            if initialContact {
                // Other sessions of the connection (another ISAKMP SA the peer opened, ours) go too.
                emit(
                    .peerRestarted, .notice,
                    "peer \(remote) sent INITIAL-CONTACT: it holds no other ISAKMP SA with us; older SAs of this "
                        + "connection are forgotten", details: ["peer": "\(remote)"], ids: sa.ids, now: now,
                    into: &actions)
            }
            if sa.lifetimeReason.hasPrefix("our policy") {
                // RFC 2407 4.6.3.1, as Cisco does for phase 1: an Informational after message 6.
                sendResponderLifetime(phase1: isakmpSAs[newIndex], now: now, into: &actions)
            }
        } catch {
            drop("cannot answer Main Mode message 5: \(error)", ids: sa.ids, now: now, into: &actions)
        }
    }
}
