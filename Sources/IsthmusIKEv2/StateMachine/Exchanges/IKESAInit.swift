import IsthmusCrypto
import IsthmusEvents
import IsthmusIP
import IsthmusWire

/// Our IKE_SA_INIT in flight: what a COOKIE or INVALID_KE retry and the response need.
struct IKESAInitRequest: Sendable {
    let group: Algorithm
    let nonce: [UInt8]
    let keyExchange: any DiffieHellmanExchange
    /// The responder's cookie, repeated in every later IKE_SA_INIT of this attempt (section 2.6).
    let cookie: [UInt8]?
    /// The request as sent, signed by our AUTH (section 2.15).
    let bytes: [UInt8]
    /// COOKIE answers followed in this attempt, and the DH groups sent (INVALID_KE_PAYLOAD retries): both
    /// bounded, so a responder (or anyone forging its unprotected answers) cannot keep us looping.
    var cookiesFollowed = 0
    var groupsTried: [UInt16] = []
}

/// IKE_SA_INIT (RFC 7296 sections 1.2, 2.6, 2.23) for both roles: nonces, key shares, cookies,
/// NAT detection and the announcement of fragmentation (RFC 7383).
extension IKEv2StateMachine {
    // MARK: - Initiator

    mutating func startInitiator(now: MonotonicTime, into actions: inout [IKEAction]) {
        precondition(role == .initiator, "a responder session never initiates; the shell makes a new one")
        spis.responder = 0
        local = configuration.local
        remote = configuration.remote
        guard let group = configuration.ikeProposals.proposals.first?.keyExchange.first else {
            preconditionFailure("an IKE proposal always has a DH group (ProposalList validation)")
        }
        sendInitRequest(group: group, repeating: nil, cookie: nil, retries: (0, []), now: now, into: &actions)
        emit(
            .ikeSAInitiating, .info, "initiating IKE_SA_INIT to \(remote), offering \(configuration.ikeProposals)",
            now: now, into: &actions)
    }

    /// Sends IKE_SA_INIT. A COOKIE retry repeats the nonce and KE of `repeating` (the cookie covers Ni,
    /// section 2.6); a first attempt or an INVALID_KE retry makes new ones.
    private mutating func sendInitRequest(
        group: Algorithm, repeating previous: IKESAInitRequest?, cookie: [UInt8]?,
        retries: (cookies: Int, groups: [UInt16]), now: MonotonicTime, into actions: inout [IKEAction]
    ) {
        let nonce: [UInt8]
        let keyExchange: any DiffieHellmanExchange
        if let previous {
            nonce = previous.nonce
            keyExchange = previous.keyExchange
        } else {
            nonce = randomBytes(Self.nonceLength)
            do {
                keyExchange = try DiffieHellman.makeExchange(groupID: group.ikev2ID, using: &random)
            } catch {
                emit(.invalidKE, .error, "cannot create a \(group.displayName) key: \(error)", now: now, into: &actions)
                close(restart: nil, into: &actions)
                return
            }
        }
        var payloads: [IKEv2Payload] = []
        if let cookie {
            payloads.append(.notify(IKEv2NotifyPayload(protocolID: .none, spi: [], notifyType: .cookie, data: cookie)))
        }
        payloads += [
            .securityAssociation(offerIKE()),
            .keyExchange(IKEv2KeyExchangePayload(group: group.ikev2ID, keyExchangeData: keyExchange.publicValue)),
            .nonce(IKEv2NoncePayload(nonce: nonce)),
        ]
        payloads += natDetectionPayloads()
        payloads.append(Self.fragmentationSupported)
        payloads += signatureHashAlgorithmsPayloads
        // Every attempt is a new IKE_SA_INIT with message ID 0 (section 2.6).
        window.reset()
        var message = header(.ikeSAInit, messageID: window.nextRequestID, response: false)
        message.payloads = payloads
        let bytes = message.serialize()
        state = .connecting
        let request = IKESAInitRequest(
            group: group, nonce: nonce, keyExchange: keyExchange, cookie: cookie, bytes: bytes,
            cookiesFollowed: retries.cookies,
            groupsTried: retries.groups.contains(group.ikev2ID) ? retries.groups : retries.groups + [group.ikev2ID])
        sendRequest([bytes], .ikeSAInit(request), now: now, into: &actions)
    }

    /// The responder's answer (the request is out of the window already): a cookie or group to retry
    /// with, an error, or its half of the keys, after which IKE_AUTH goes out.
    mutating func handleInitResponse(
        _ message: IKEv2Message, datagram: IKEDatagram, request: IKESAInitRequest, now: MonotonicTime,
        into actions: inout [IKEAction]
    ) {
        let notifies = message.payloads.notifies
        if let cookieNotify = notifies.first(where: { $0.notifyType == .cookie }) {
            // Section 2.6: repeat IKE_SA_INIT with the cookie first; a cookie is 1 to 64 octets, and a
            // responder that keeps asking is given up on.
            guard request.cookiesFollowed < Self.maximumCookieRetries, (1...64).contains(cookieNotify.data.count)
            else {
                giveUpInitiating(
                    "the responder answered with COOKIE \(request.cookiesFollowed + 1) times (or an invalid one): "
                        + "giving up on this attempt", now: now, into: &actions)
                return
            }
            emit(
                .cookieRequested, .notice, "responder asked for a cookie (it is under load); retrying with it",
                now: now, into: &actions)
            sendInitRequest(
                group: request.group, repeating: request, cookie: cookieNotify.data,
                retries: (request.cookiesFollowed + 1, request.groupsTried), now: now, into: &actions)
            return
        }
        if let invalidKE = notifies.first(where: { $0.notifyType == .invalidKEPayload }) {
            let wanted = invalidKE.data.count == 2 ? UInt16(invalidKE.data[0]) << 8 | UInt16(invalidKE.data[1]) : 0
            let offered = configuration.ikeProposals.proposals.flatMap(\.keyExchange)
            if offered.contains(where: { $0.ikev2ID == wanted }), request.groupsTried.contains(wanted) {
                // Section 1.2: one retry per group; a responder asking again for a group it had is looping.
                giveUpInitiating(
                    "the responder asked again for DH group \(wanted), which we already sent: giving up on this "
                        + "attempt", now: now, into: &actions)
                return
            }
            guard let group = offered.first(where: { $0.ikev2ID == wanted }), wanted != request.group.ikev2ID else {
                emit(
                    .invalidKE, .error,
                    "responder wants DH group \(wanted), which we did not offer "
                        + "(we offer \(offered.map(\.keyword).joined(separator: ", "))): add it to 'ike'",
                    now: now, into: &actions)
                close(restart: nil, into: &actions)
                return
            }
            emit(
                .invalidKE, .notice, "responder prefers \(group.displayName); retrying with it",
                details: ["group": "\(wanted)"], now: now, into: &actions)
            sendInitRequest(
                group: group, repeating: nil, cookie: request.cookie,
                retries: (request.cookiesFollowed, request.groupsTried), now: now, into: &actions)
            return
        }
        if let error = notifies.first(where: { $0.notifyType.rawValue < IKEv2NotifyType.firstStatusType }) {
            reportPeerError(error.notifyType, in: "IKE_SA_INIT", now: now, into: &actions)
            close(restart: nil, into: &actions)
            return
        }
        do {
            guard message.responderSPI != 0 else { throw IKEv2Failure.missingPayload("responder SPI") }
            let sa = try message.payloads.required(\.securityAssociation, "SA")
            let ke = try message.payloads.required(\.keyExchange, "KE")
            let nonce = try message.payloads.required(\.nonce, "Nr")
            let suite: NegotiatedIKESuite
            switch acceptIKE(sa) {
            case .success(let accepted): suite = accepted
            case .failure(let failure):
                emit(
                    .proposalMismatch, .error, "responder chose a proposal we did not offer: \(failure)",
                    details: mismatchDetails(failure), now: now, into: &actions)
                close(restart: nil, into: &actions)
                return
            }
            guard ke.group == suite.keyExchange.ikev2ID, ke.group == request.group.ikev2ID else {
                throw IKEv2Failure.missingPayload("KE for the chosen group")
            }
            let shared = try request.keyExchange.sharedSecret(peerPublicValue: ke.keyExchangeData)
            spis.responder = message.responderSPI
            let crypto = try IKEv2SACrypto(
                suite: suite, sharedSecret: shared, nonceInitiator: request.nonce, nonceResponder: nonce.nonce,
                spiInitiator: spis.initiator, spiResponder: spis.responder, weAreInitiator: true)
            let protection = IKEv2MessageProtection(
                suite: suite, crypto: crypto,
                peerSupportsFragmentation: notifies.contains { $0.notifyType == .ikev2FragmentationSupported })
            let initialMessages = IKEv2InitialMessages(
                request: request.bytes, response: datagram.bytes, nonceInitiator: request.nonce,
                nonceResponder: nonce.nonce)
            detectNAT(message.payloads, datagram: datagram, now: now, into: &actions)
            if usesUDPEncapsulation {
                local.port = 4500
                remote.port = 4500
            }
            var authenticating = AuthenticatingState(protection: protection, initialMessages: initialMessages)
            sendAuthRequest(&authenticating, now: now, into: &actions)
            state = .authenticating(authenticating)
        } catch {
            emit(.invalidSyntax, .error, "unusable IKE_SA_INIT response: \(error)", now: now, into: &actions)
            close(restart: nil, into: &actions)
        }
    }

    // MARK: - Responder

    mutating func handleInitRequest(
        _ message: IKEv2Message, datagram: IKEDatagram, now: MonotonicTime, into actions: inout [IKEAction]
    ) {
        guard role == .responder else {
            drop("IKE_SA_INIT request sent to an initiator's SA", now: now, into: &actions)
            return
        }
        do {
            let sa = try message.payloads.required(\.securityAssociation, "SA")
            let ke = try message.payloads.required(\.keyExchange, "KE")
            let nonce = try message.payloads.required(\.nonce, "Ni")
            guard (16...256).contains(nonce.nonce.count) else {
                throw IKEv2Failure.missingPayload("Ni of 16-256 bytes")
            }
            spis.initiator = message.initiatorSPI
            local = datagram.destination
            remote = datagram.source
            let suite: NegotiatedIKESuite
            let reply: IKEv2SecurityAssociationPayload
            switch selectIKE(sa, peerGroup: ke.group) {
            case .success(let selection): (suite, reply) = selection
            case .failure(let failure):
                emit(
                    .proposalMismatch, .error, "no common IKE proposal: \(failure)", details: mismatchDetails(failure),
                    now: now, into: &actions)
                respondUnprotected(.noProposalChosen, to: message, into: &actions)
                close(restart: nil, into: &actions)
                return
            }
            guard ke.group == suite.keyExchange.ikev2ID else {
                // Section 1.3: tell the initiator which group to use; keep no state.
                emit(
                    .invalidKE, .notice,
                    "initiator sent a DH group \(ke.group) key; asking for "
                        + "\(suite.keyExchange.displayName)", now: now, into: &actions)
                let group = suite.keyExchange.ikev2ID
                respondUnprotected(
                    .invalidKEPayload, data: [UInt8(group >> 8), UInt8(group & 0xff)], to: message,
                    into: &actions)
                close(restart: nil, into: &actions)
                return
            }
            let exchange = try DiffieHellman.makeExchange(groupID: suite.keyExchange.ikev2ID, using: &random)
            let shared = try exchange.sharedSecret(peerPublicValue: ke.keyExchangeData)
            let ourNonce = randomBytes(Self.nonceLength)
            let crypto = try IKEv2SACrypto(
                suite: suite, sharedSecret: shared, nonceInitiator: nonce.nonce, nonceResponder: ourNonce,
                spiInitiator: spis.initiator, spiResponder: spis.responder, weAreInitiator: false)
            detectNAT(message.payloads, datagram: datagram, now: now, into: &actions)
            var response = header(.ikeSAInit, messageID: 0, response: true)
            response.payloads =
                [
                    .securityAssociation(reply),
                    .keyExchange(
                        IKEv2KeyExchangePayload(group: suite.keyExchange.ikev2ID, keyExchangeData: exchange.publicValue)
                    ),
                    .nonce(IKEv2NoncePayload(nonce: ourNonce)),
                ] + natDetectionPayloads()
            let peerSupportsFragmentation = message.payloads.notifies.contains {
                $0.notifyType == .ikev2FragmentationSupported
            }
            if peerSupportsFragmentation { response.payloads.append(Self.fragmentationSupported) }
            response.payloads += certificateRequestPayloads + signatureHashAlgorithmsPayloads
            let responseBytes = response.serialize()
            state = .halfOpen(
                HalfOpenState(
                    protection: IKEv2MessageProtection(
                        suite: suite, crypto: crypto, peerSupportsFragmentation: peerSupportsFragmentation),
                    initialMessages: IKEv2InitialMessages(
                        request: datagram.bytes, response: responseBytes, nonceInitiator: nonce.nonce,
                        nonceResponder: ourNonce)))
            sendResponse([responseBytes], messageID: 0, into: &actions)
            actions.append(.armTimer(.abandon, at: now + Self.halfOpenTimeout))
        } catch {
            emit(.invalidSyntax, .error, "unusable IKE_SA_INIT request: \(error)", now: now, into: &actions)
            respondUnprotected(.invalidSyntax, to: message, into: &actions)
            close(restart: nil, into: &actions)
        }
    }

    // MARK: - NAT detection (section 2.23) and fragmentation (RFC 7383)

    /// NAT_DETECTION_SOURCE_IP and _DESTINATION_IP for the current endpoints. With
    /// `forceUDPEncapsulation` the source hash is deliberately wrong so the peer floats to 4500 too.
    private func natDetectionPayloads() -> [IKEv2Payload] {
        var sourceHash = NATDetection.hash(spiInitiator: spis.initiator, spiResponder: spis.responder, endpoint: local)
        if configuration.forceUDPEncapsulation { sourceHash = sourceHash.map { ~$0 } }
        let destinationHash = NATDetection.hash(
            spiInitiator: spis.initiator, spiResponder: spis.responder, endpoint: remote)
        return [
            .notify(
                IKEv2NotifyPayload(protocolID: .none, spi: [], notifyType: .natDetectionSourceIP, data: sourceHash)),
            .notify(
                IKEv2NotifyPayload(
                    protocolID: .none, spi: [], notifyType: .natDetectionDestinationIP, data: destinationHash)),
        ]
    }

    /// Compares the peer's NAT-D hashes with what we see.
    private mutating func detectNAT(
        _ payloads: [IKEv2Payload], datagram: IKEDatagram, now: MonotonicTime, into actions: inout [IKEAction]
    ) {
        let notifies = payloads.notifies
        let sources = notifies.filter { $0.notifyType == .natDetectionSourceIP }.map(\.data)
        let destinations = notifies.filter { $0.notifyType == .natDetectionDestinationIP }.map(\.data)
        guard !sources.isEmpty, !destinations.isEmpty else { return }
        // The hashes cover the SPIs as they appear in that message's header (zero SPIr in a request).
        let header =
            (try? IKEv2Header.parse(datagram.bytes[...])).map { ($0.initiatorSPI, $0.responderSPI) }
            ?? (spis.initiator, spis.responder)
        let seenSource = NATDetection.hash(spiInitiator: header.0, spiResponder: header.1, endpoint: datagram.source)
        let seenDestination = NATDetection.hash(
            spiInitiator: header.0, spiResponder: header.1, endpoint: datagram.destination)
        nat = NATDetectionResult(local: !destinations.contains(seenDestination), remote: !sources.contains(seenSource))
        if nat.found {
            emit(
                .natDetected, .notice, "\(nat.summary): IKE and ESP move to UDP 4500 (RFC 3948)",
                details: ["local": "\(nat.local)", "remote": "\(nat.remote)"], now: now, into: &actions)
        }
    }

    /// N(IKEV2_FRAGMENTATION_SUPPORTED): we reassemble and send fragments (RFC 7383 section 2.3).
    static let fragmentationSupported = IKEv2Payload.notify(
        IKEv2NotifyPayload(protocolID: .none, spi: [], notifyType: .ikev2FragmentationSupported, data: []))
}
