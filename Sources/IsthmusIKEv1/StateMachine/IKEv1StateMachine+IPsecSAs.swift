import IsthmusCrypto
import IsthmusEvents
import IsthmusIKE
import IsthmusIP
import IsthmusWire

/// IPsec SAs after Quick Mode: keys and lifetimes (RFC 2409 section 5.5), installation with make-before-break,
/// rekeying, expiry and removal.
extension IKEv1StateMachine {
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
    mutating func install(
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
