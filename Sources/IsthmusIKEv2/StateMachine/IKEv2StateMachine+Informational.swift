import IsthmusCrypto
import IsthmusEvents
import IsthmusWire

/// INFORMATIONAL exchanges (RFC 7296 sections 1.4, 2.4): DELETE of IKE and CHILD SAs, liveness
/// checks, and tearing the SA down on request.
extension IKEv2StateMachine {
    // MARK: - Requests from the peer

    mutating func handleInformationalRequest(
        _ message: IKEv2Message, datagram: IKEDatagram, now: MonotonicTime, into actions: inout [IKEAction]
    ) {
        guard let crypto else { return }
        let inner: [IKEv2Payload]
        do {
            inner = try openInner(message, datagram, crypto)
        } catch {
            drop("INFORMATIONAL request failed integrity: \(error)", now: now, into: &actions)
            return
        }
        var reply: [IKEv2Payload] = []
        var closeAfterReply = false
        for delete in inner.compactMap(\.delete) {
            switch delete.protocolID {
            case .ike:
                closeAfterReply = true
            case .esp:
                // The peer names its inbound SPIs (our outbound); we answer with our inbound ones.
                var ours: [[UInt8]] = []
                for spiBytes in delete.spis where spiBytes.count == 4 {
                    let outbound = UInt32(bigEndianBytes: spiBytes)
                    guard let child = childSAs.first(where: { $0.parameters.outboundSPI == outbound }) else { continue }
                    let inbound = child.parameters.inboundSPI
                    ours.append(inbound.bigEndianBytes)
                    if child.replaced {
                        // The peer deleted the SA it rekeyed, so it has moved to the new one (section 2.8).
                        for successor in successors(of: child) {
                            actions.append(.childSA(.confirmOutbound(inboundSPI: successor.parameters.inboundSPI)))
                        }
                    }
                    removeChild(inboundSPI: inbound, reason: "deleted by the peer", now: now, into: &actions)
                }
                if !ours.isEmpty {
                    reply.append(.delete(IKEv2DeletePayload(protocolID: .esp, spiSize: 4, spis: ours)))
                }
            default:
                continue
            }
        }
        if let bytes = seal(header(.informational, messageID: message.messageID, response: true), reply) {
            sendResponse(bytes, messageID: message.messageID, into: &actions)
        }
        if closeAfterReply {
            emit(.ikeSADeleted, .notice, "peer \(remote) deleted the IKE SA", now: now, into: &actions)
            restartAfterClose = false
            removeAllChildren(reason: "their IKE SA was deleted by the peer", now: now, into: &actions)
            close(into: &actions)
        } else if inner.isEmpty, phase == .established, let liveness = configuration.liveness {
            // An empty request is the peer's liveness check: we are alive, and so is it.
            actions.append(.armTimer(.liveness, at: now + liveness.interval))
        }
    }

    // MARK: - Responses to our requests

    mutating func handleInformationalResponse(
        _ message: IKEv2Message, datagram: IKEDatagram, purpose: Outstanding.Purpose, now: MonotonicTime,
        into actions: inout [IKEAction]
    ) {
        guard let crypto, (try? openInner(message, datagram, crypto)) != nil else {
            drop("INFORMATIONAL response failed integrity", now: now, into: &actions)
            return
        }
        completeRequest(into: &actions)
        switch purpose {
        case .liveness:
            if let liveness = configuration.liveness {
                actions.append(.armTimer(.liveness, at: now + liveness.interval))
            }
        case .deleteIKESA:
            emit(.ikeSADeleted, .info, "IKE SA deleted; peer \(remote) confirmed", now: now, into: &actions)
            close(into: &actions)
        case .deleteChildSA:
            if let spi = deletingChildSPI {
                deletingChildSPI = nil
                deletedChildSPIs.insert(spi)
                actions.append(.armTimer(.expireChildSA(inboundSPI: spi), at: now + Self.oldInboundGrace))
            }
        case .ikeSAInit, .ikeAuth, .createChildSA, .rekeyIKESA:
            break
        }
    }

    // MARK: - Liveness (section 2.4)

    mutating func checkLiveness(now: MonotonicTime, into actions: inout [IKEAction]) {
        guard phase == .established, let liveness = configuration.liveness else { return }
        let idle = now - lastInbound
        guard idle >= liveness.interval else {
            // Traffic arrived since the timer was armed: check again when the interval has passed.
            actions.append(.armTimer(.liveness, at: lastInbound + liveness.interval))
            return
        }
        guard outstanding == nil else {
            // A request is in flight; its retransmissions already test liveness.
            actions.append(.armTimer(.liveness, at: now + liveness.interval))
            return
        }
        let messageID = nextRequestID
        guard let bytes = seal(header(.informational, messageID: messageID, response: false), []) else { return }
        nextRequestID &+= 1
        sendRequest(bytes, messageID: messageID, purpose: .liveness, now: now, into: &actions)
    }

    // MARK: - Tearing down

    /// Deletes the IKE SA (and with it every CHILD SA, section 1.4.1) and tells the peer.
    mutating func terminate(now: MonotonicTime, into actions: inout [IKEAction]) {
        switch phase {
        case .idle, .closed, .deleting:
            // Already deleting: one DELETE in flight is enough (window of one request, section 2.3).
            return
        case .initSent, .initReplied, .authSent:
            emit(.ikeSADeleted, .info, "negotiation abandoned on request", now: now, into: &actions)
            close(into: &actions)
        case .established:
            removeAllChildren(reason: "IKE SA deleted on request", now: now, into: &actions)
            if let outstanding { actions.append(.cancelTimer(.retransmit(messageID: outstanding.messageID))) }
            outstanding = nil
            let delete = IKEv2Payload.delete(IKEv2DeletePayload(protocolID: .ike, spiSize: 0, spis: []))
            let messageID = nextRequestID
            guard let bytes = seal(header(.informational, messageID: messageID, response: false), [delete]) else {
                close(into: &actions)
                return
            }
            nextRequestID &+= 1
            phase = .deleting
            // A DELETE is sent three times at most (1 s, 2 s apart): the peer may already have dropped
            // the SA (an INITIAL_CONTACT elsewhere, a reboot), and we close anyway.
            outstanding = Outstanding(
                messageID: messageID, datagrams: bytes, retransmits: Self.maximumRetransmits - Self.deleteRetransmits,
                purpose: .deleteIKESA)
            send(bytes, into: &actions)
            actions.append(.armTimer(.retransmit(messageID: messageID), at: now + retransmitTimeout(0)))
            emit(.ikeSADeleted, .info, "deleting the IKE SA with \(remote)", now: now, into: &actions)
        }
    }

    mutating func removeAllChildren(reason: String, now: MonotonicTime, into actions: inout [IKEAction]) {
        for spi in childSAs.map(\.parameters.inboundSPI) {
            removeChild(inboundSPI: spi, reason: reason, now: now, into: &actions)
        }
    }

    /// The CHILD SAs of the same selectors that have not been replaced themselves (after a collision, both
    /// new ones until one is deleted).
    func successors(of child: ChildSA) -> [ChildSA] {
        childSAs.filter {
            !$0.replaced && $0.parameters.inboundSPI != child.parameters.inboundSPI
                && $0.parameters.localSelectors == child.parameters.localSelectors
                && $0.parameters.remoteSelectors == child.parameters.remoteSelectors
        }
    }
}

extension UInt32 {
    init(bigEndianBytes bytes: some Collection<UInt8>) {
        self = bytes.reduce(0) { $0 << 8 | UInt32($1) }
    }
}
