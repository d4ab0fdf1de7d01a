import IsthmusCrypto
import IsthmusEvents
import IsthmusIKE
import IsthmusIP
import IsthmusWire

/// What several exchanges share: error answers, reporting the peer's errors and our findings, the
/// IKE SA's timers, and access to payloads.
extension IKEv2StateMachine {
    /// Whether IKE and ESP use port 4500 and UDP encapsulation from IKE_AUTH on.
    var usesUDPEncapsulation: Bool { nat.found || configuration.forceUDPEncapsulation }

    /// Sends a protected response that carries only an error notification (cached like any response).
    mutating func respondWithError(
        _ type: IKEv2NotifyType, data: [UInt8] = [], to request: IKEv2Message,
        with protection: inout IKEv2MessageProtection, into actions: inout [IKEAction]
    ) {
        let notify = IKEv2Payload.notify(IKEv2NotifyPayload(protocolID: .none, spi: [], notifyType: type, data: data))
        let response = header(request.exchangeType, messageID: request.messageID, response: true)
        if let bytes = seal(response, [notify], with: &protection) {
            sendResponse(bytes, messageID: request.messageID, into: &actions)
        }
    }

    /// Sends an unprotected error answer (IKE_SA_INIT): it keeps no state (section 2.6), so it is not cached.
    func respondUnprotected(
        _ type: IKEv2NotifyType, data: [UInt8] = [], to request: IKEv2Message, into actions: inout [IKEAction]
    ) {
        var response = header(request.exchangeType, messageID: request.messageID, response: true)
        response.payloads = [.notify(IKEv2NotifyPayload(protocolID: .none, spi: [], notifyType: type, data: data))]
        send(response.serialize(), into: &actions)
    }

    /// Logs an error notification the peer sent, with what it most likely means.
    func reportPeerError(
        _ type: IKEv2NotifyType, in exchange: String, now: MonotonicTime, into actions: inout [IKEAction]
    ) {
        switch type {
        case .noProposalChosen:
            emit(
                .proposalMismatch, .error,
                "peer answered \(exchange) with NO_PROPOSAL_CHOSEN: it accepts none of "
                    + "\(exchange == "IKE_SA_INIT" ? configuration.ikeProposals : configuration.espProposals); "
                    + "ask for the peer's proposals and add one to 'ike'/'esp'",
                details: [
                    "ours": "\(exchange == "IKE_SA_INIT" ? configuration.ikeProposals : configuration.espProposals)",
                    "phase": exchange == "IKE_SA_INIT" ? "1" : "2", "rejected_by": "peer",
                ], now: now, into: &actions)
        case .authenticationFailed:
            emit(
                .authenticationFailed, .error,
                "peer answered \(exchange) with AUTHENTICATION_FAILED: the shared "
                    + "keys differ (the usual cause) or the peer expects another identity than "
                    + "\(configuration.localIdentity)", details: ["rejected_by": "peer"], now: now, into: &actions)
        case .tsUnacceptable:
            emit(
                .trafficSelectorMismatch, .error,
                "peer answered \(exchange) with TS_UNACCEPTABLE: we proposed local "
                    + "\(describeSelectors(configuration.localSelectors)) and remote "
                    + "\(describeSelectors(configuration.remoteSelectors)); the peer's subnets differ",
                details: [
                    "rejected_by": "peer", "ours_local": describeSelectors(configuration.localSelectors),
                    "ours_remote": describeSelectors(configuration.remoteSelectors),
                ], now: now, into: &actions)
        case .invalidSyntax:
            emit(.invalidSyntax, .error, "peer answered \(exchange) with INVALID_SYNTAX", now: now, into: &actions)
        default:
            emit(
                .messageDropped, .error, "peer answered \(exchange) with error notification \(type.rawValue)",
                now: now, into: &actions)
        }
    }

    /// Logs a failure we detected in a peer's message.
    func reportLocalFailure(_ error: any Error, in what: String, now: MonotonicTime, into actions: inout [IKEAction]) {
        if let failure = error as? IKEv2Failure, reportCertificateFailure(failure, in: what, now: now, into: &actions) {
            return
        }
        switch error as? IKEv2Failure {
        case .authenticationFailed?:
            emit(
                .authenticationFailed, .error,
                "\(what) from \(remote): AUTH does not verify; the shared keys of the "
                    + "two sides differ", details: ["rejected_by": "us"], now: now, into: &actions)
        case .unexpectedIdentity(let seen)?:
            emit(
                .authenticationFailed, .error,
                "\(what) from \(remote): peer identity is \(seen), expected "
                    + "\(configuration.remoteIdentity)", details: ["rejected_by": "us", "identity": "\(seen)"],
                now: now,
                into: &actions)
        default:
            emit(.invalidSyntax, .error, "\(what) from \(remote) unusable: \(error)", now: now, into: &actions)
        }
    }

    /// The details of a proposal-mismatch event: both sides' proposals in strongSwan keywords (`peer`, `ours`),
    /// the phase (`1` IKE SA, `2` CHILD SA) and who refused (`us`); never key material.
    func mismatchDetails(_ failure: IKEv2NegotiationFailure) -> [String: String] {
        [
            "peer": failure.peerProposals, "ours": failure.ourProposals,
            "phase": failure.proposalProtocol == .ike ? "1" : "2", "rejected_by": "us",
        ]
    }

    /// Arms the timers of a newly established (or rekeyed) IKE SA.
    mutating func scheduleIKETimers(_ sa: inout IKEv2EstablishedSA, now: MonotonicTime, into actions: inout [IKEAction])
    {
        if nat.local { actions.append(.armTimer(.natKeepalive, at: now + Self.natKeepaliveInterval)) }
        if let liveness = configuration.liveness {
            actions.append(.armTimer(.liveness, at: now + liveness.interval))
        }
        let rekey = rekeyTime(lifetime: configuration.ikeLifetime, from: now)
        sa.rekeyAt = rekey
        actions.append(.armTimer(.rekeyIKESA, at: rekey))
    }

    func trafficSelectorPayloads(initiator: [TrafficSelector], responder: [TrafficSelector]) -> [IKEv2Payload] {
        [.trafficSelectorInitiator(tsPayload(initiator)), .trafficSelectorResponder(tsPayload(responder))]
    }
}

extension IKEv2StateMachine {
    // MARK: - Randomness

    mutating func randomBytes(_ count: Int) -> [UInt8] {
        random.bytes(count)
    }

    mutating func randomNonZeroSPI64() -> UInt64 {
        var value: UInt64 = 0
        while value == 0 { value = random.next() }
        return value
    }

    /// A new inbound CHILD SA SPI: not reserved, and not one of this IKE SA's CHILD SAs already has.
    mutating func randomNonZeroSPI32() -> UInt32 {
        let inUse = inboundChildSPIs
        var value: UInt32 = 0
        // SPIs 1-255 are reserved by IANA (RFC 4303 section 2.1).
        while value < 256 || inUse.contains(value) { value = UInt32(truncatingIfNeeded: random.next()) }
        return value
    }

    /// A rekey time: the lifetime less a margin and a random jitter (both ends must not rekey together).
    mutating func rekeyTime(lifetime: Duration, from now: MonotonicTime) -> MonotonicTime {
        Self.rekeySchedule.rekeyTime(lifetime: lifetime, from: now, using: &random)
    }
}

func exchangeName(_ type: IKEv2ExchangeType) -> String {
    switch type {
    case .ikeSAInit: "IKE_SA_INIT"
    case .ikeAuth: "IKE_AUTH"
    case .createChildSA: "CREATE_CHILD_SA"
    case .informational: "INFORMATIONAL"
    default: "exchange \(type.rawValue)"
    }
}

extension [IKEv2Payload] {
    var notifies: [IKEv2NotifyPayload] {
        compactMap { if case .notify(let notify) = $0 { notify } else { nil } }
    }

    /// The first error notification (types below 16384, section 3.10.1).
    var firstError: IKEv2NotifyPayload? {
        notifies.first { $0.notifyType.rawValue < IKEv2NotifyType.firstStatusType }
    }

    func required<T>(_ pick: (IKEv2Payload) -> T?, _ name: String) throws -> T {
        guard let value = lazy.compactMap(pick).first else { throw IKEv2Failure.missingPayload(name) }
        return value
    }
}

extension IKEv2Payload {
    var securityAssociation: IKEv2SecurityAssociationPayload? {
        if case .securityAssociation(let value) = self { value } else { nil }
    }
    var keyExchange: IKEv2KeyExchangePayload? { if case .keyExchange(let value) = self { value } else { nil } }
    var nonce: IKEv2NoncePayload? { if case .nonce(let value) = self { value } else { nil } }
    var identificationInitiator: IKEv2IdentificationPayload? {
        if case .identificationInitiator(let value) = self { value } else { nil }
    }
    var identificationResponder: IKEv2IdentificationPayload? {
        if case .identificationResponder(let value) = self { value } else { nil }
    }
    var authentication: IKEv2AuthenticationPayload? {
        if case .authentication(let value) = self { value } else { nil }
    }
    var trafficSelectorInitiator: IKEv2TrafficSelectorPayload? {
        if case .trafficSelectorInitiator(let value) = self { value } else { nil }
    }
    var trafficSelectorResponder: IKEv2TrafficSelectorPayload? {
        if case .trafficSelectorResponder(let value) = self { value } else { nil }
    }
    var delete: IKEv2DeletePayload? { if case .delete(let value) = self { value } else { nil } }
}

extension UInt32 {
    init(bigEndianBytes bytes: some Collection<UInt8>) {
        self = bytes.reduce(0) { $0 << 8 | UInt32($1) }
    }
}
