import IsthmusCrypto
import IsthmusEvents
import IsthmusWire

/// INFORMATIONAL exchanges (RFC 7296 sections 1.4, 2.4): DELETE of IKE and CHILD SAs, liveness
/// checks, and tearing the SA down on request.
extension IKEv2StateMachine {
    /// How long the old inbound SA of a rekey keeps decrypting packets already in flight.
    static let oldInboundGrace: Duration = .seconds(2)

    // MARK: - Requests from the peer

    /// The peer's INFORMATIONAL, decrypted: DELETEs are carried out and answered; an empty one is a
    /// liveness check.
    mutating func handleInformationalRequest(
        _ message: IKEv2Message, _ inner: [IKEv2Payload], now: MonotonicTime, into actions: inout [IKEAction]
    ) {
        let deletes = inner.compactMap(\.delete)
        let closeAfterReply = deletes.contains { $0.protocolID == .ike }
        let response = header(.informational, messageID: message.messageID, response: true)
        let bytes: [[UInt8]]?
        switch state {
        case .established(var sa):
            let reply = deleteChildren(named: deletes, from: &sa, now: now, into: &actions)
            bytes = seal(response, reply, with: &sa.protection)
            state = .established(sa)
        case .deleting(var deleting):
            let reply = deleteChildren(named: deletes, from: &deleting.sa, now: now, into: &actions)
            bytes = seal(response, reply, with: &deleting.sa.protection)
            state = .deleting(deleting)
        case .authenticating(var authenticating):
            bytes = seal(response, [], with: &authenticating.protection)
            state = .authenticating(authenticating)
        case .idle, .connecting, .halfOpen, .closed:
            preconditionFailure("INFORMATIONAL requests are dispatched only with keys")
        }
        if let bytes { sendResponse(bytes, messageID: message.messageID, into: &actions) }
        if closeAfterReply {
            emit(.ikeSADeleted, .notice, "peer \(remote) deleted the IKE SA", now: now, into: &actions)
            if case .established(var sa) = state {
                removeAllChildren(reason: "their IKE SA was deleted by the peer", from: &sa, now: now, into: &actions)
                state = .established(sa)
            }
            close(restart: false, into: &actions)
        } else if inner.isEmpty, case .established = state, let liveness = configuration.liveness {
            // An empty request is the peer's liveness check: we are alive, and so is it.
            actions.append(.armTimer(.liveness, at: now + liveness.interval))
        }
    }

    /// Removes the CHILD SAs the peer's DELETE payloads name (its inbound SPIs, our outbound) and
    /// returns the DELETE payload of the answer, with our inbound SPIs.
    private mutating func deleteChildren(
        named deletes: [IKEv2DeletePayload], from sa: inout IKEv2EstablishedSA, now: MonotonicTime,
        into actions: inout [IKEAction]
    ) -> [IKEv2Payload] {
        var reply: [IKEv2Payload] = []
        for delete in deletes where delete.protocolID == .esp {
            var ours: [[UInt8]] = []
            for spiBytes in delete.spis where spiBytes.count == 4 {
                guard let child = sa.child(outbound: UInt32(bigEndianBytes: spiBytes)) else { continue }
                ours.append(child.inboundSPI.bigEndianBytes)
                if child.replaced {
                    // The peer deleted the SA it rekeyed, so it has moved to the new one (section 2.8).
                    for successor in sa.successors(of: child) {
                        actions.append(.childSA(.confirmOutbound(inboundSPI: successor.inboundSPI)))
                    }
                }
                removeChild(
                    inboundSPI: child.inboundSPI, reason: "deleted by the peer", from: &sa, now: now,
                    into: &actions)
            }
            if !ours.isEmpty {
                reply.append(.delete(IKEv2DeletePayload(protocolID: .esp, spiSize: 4, spis: ours)))
            }
        }
        return reply
    }

    // MARK: - Responses to our requests

    /// The answer to our INFORMATIONAL (verified already; its payloads carry nothing we need).
    mutating func handleInformationalResponse(
        _ exchange: IKEv2Exchange, now: MonotonicTime, into actions: inout [IKEAction]
    ) {
        switch exchange {
        case .liveness:
            if let liveness = configuration.liveness {
                actions.append(.armTimer(.liveness, at: now + liveness.interval))
            }
        case .deleteIKESA:
            emit(.ikeSADeleted, .info, "IKE SA deleted; peer \(remote) confirmed", now: now, into: &actions)
            var restart: Bool?
            if case .deleting(let deleting) = state { restart = deleting.restart }
            close(restart: restart, into: &actions)
        case .deleteChildSA(let spi):
            // Deleted on both ends: its inbound half decrypts what is in flight for a short grace.
            if case .established(var sa) = state {
                sa.update(inbound: spi) { $0.deleted = true }
                state = .established(sa)
            }
            actions.append(.armTimer(.expireChildSA(inboundSPI: spi), at: now + Self.oldInboundGrace))
        case .ikeSAInit, .ikeAuth, .rekeyChildSA, .rekeyIKESA:
            preconditionFailure("not an INFORMATIONAL exchange")
        }
    }

    // MARK: - Deleting a CHILD SA

    /// Sends INFORMATIONAL DELETE for one of our CHILD SAs (by inbound SPI), or queues it while
    /// another request is in flight; the SA is removed when the peer confirms, after a short grace for
    /// packets in flight (make-before-break, section 2.8).
    mutating func deleteChild(
        inboundSPI: UInt32, sa: inout IKEv2EstablishedSA, now: MonotonicTime, into actions: inout [IKEAction]
    ) {
        guard let child = sa.child(inbound: inboundSPI), !child.deleted else { return }
        guard !window.isBusy else {
            enqueue(.deleteChildSA(inboundSPI: inboundSPI))
            return
        }
        let delete = IKEv2Payload.delete(
            IKEv2DeletePayload(protocolID: .esp, spiSize: 4, spis: [inboundSPI.bigEndianBytes]))
        let message = header(.informational, messageID: window.nextRequestID, response: false)
        guard let bytes = seal(message, [delete], with: &sa.protection) else { return }
        // The peer may drop its inbound half as soon as the DELETE arrives: send nothing more on it.
        actions.append(.childSA(.retireOutbound(inboundSPI: inboundSPI)))
        sendRequest(bytes, .deleteChildSA(inboundSPI: inboundSPI), now: now, into: &actions)
    }

    /// `.expireChildSA` fires at the end of a deleted SA's grace, or at its hard lifetime (then it is
    /// deleted now).
    mutating func expireChildSA(inboundSPI: UInt32, now: MonotonicTime, into actions: inout [IKEAction]) {
        switch state {
        case .established(var sa):
            guard let child = sa.child(inbound: inboundSPI) else { return }
            if child.deleted {
                removeChild(
                    inboundSPI: inboundSPI, reason: "replaced by its rekeyed successor", from: &sa, now: now,
                    into: &actions)
            } else {
                deleteChild(inboundSPI: inboundSPI, sa: &sa, now: now, into: &actions)
            }
            state = .established(sa)
        case .deleting(var deleting):
            removeChild(
                inboundSPI: inboundSPI, reason: "replaced by its rekeyed successor", from: &deleting.sa,
                now: now, into: &actions)
            state = .deleting(deleting)
        case .idle, .connecting, .authenticating, .halfOpen, .closed:
            return
        }
    }

    // MARK: - Liveness (section 2.4)

    mutating func checkLiveness(now: MonotonicTime, into actions: inout [IKEAction]) {
        guard case .established(var sa) = state, let liveness = configuration.liveness else { return }
        let idle = now - lastInbound
        guard idle >= liveness.interval else {
            // Traffic arrived since the timer was armed: check again when the interval has passed.
            actions.append(.armTimer(.liveness, at: lastInbound + liveness.interval))
            return
        }
        guard !window.isBusy else {
            // A request is in flight; its retransmissions already test liveness.
            actions.append(.armTimer(.liveness, at: now + liveness.interval))
            return
        }
        let message = header(.informational, messageID: window.nextRequestID, response: false)
        guard let bytes = seal(message, [], with: &sa.protection) else { return }
        state = .established(sa)
        sendRequest(bytes, .liveness, now: now, into: &actions)
    }

    // MARK: - Tearing down

    /// Deletes the IKE SA (and with it every CHILD SA, section 1.4.1) and tells the peer; `restart`
    /// says whether the connection is negotiated again once the SA is closed.
    mutating func terminate(restart: Bool, now: MonotonicTime, into actions: inout [IKEAction]) {
        switch state {
        case .idle, .closed:
            return
        case .deleting(var deleting):
            // Already deleting: one DELETE in flight is enough (window of one request, section 2.3).
            deleting.restart = restart
            state = .deleting(deleting)
        case .connecting, .halfOpen, .authenticating:
            emit(.ikeSADeleted, .info, "negotiation abandoned on request", now: now, into: &actions)
            close(restart: restart, into: &actions)
        case .established(var sa):
            removeAllChildren(reason: "IKE SA deleted on request", from: &sa, now: now, into: &actions)
            completeRequest(into: &actions)
            queue.removeAll()
            let delete = IKEv2Payload.delete(IKEv2DeletePayload(protocolID: .ike, spiSize: 0, spis: []))
            let message = header(.informational, messageID: window.nextRequestID, response: false)
            guard let bytes = seal(message, [delete], with: &sa.protection) else {
                state = .established(sa)
                close(restart: restart, into: &actions)
                return
            }
            state = .deleting(DeletingState(sa, restart: restart))
            // A DELETE is sent three times at most (1 s, 2 s apart): the peer may already have dropped
            // the SA (an INITIAL_CONTACT elsewhere, a reboot), and we close anyway.
            sendRequest(bytes, .deleteIKESA, now: now, retransmitLimit: Self.deleteRetransmits, into: &actions)
            emit(.ikeSADeleted, .info, "deleting the IKE SA with \(remote)", now: now, into: &actions)
        }
    }
}
