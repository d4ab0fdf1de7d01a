import IsthmusCrypto
import IsthmusEvents
import IsthmusIP
import IsthmusWire

/// An established IKE SA: its keys, its CHILD SAs, its timers, and the SA it replaced until that
/// one's DELETE is done. Built from the phase before it; the SPIs are the state machine's (every
/// phase has them).
struct IKEv2EstablishedSA {
    /// A CHILD SA as this IKE SA knows it.
    struct ChildSA {
        /// The SPI the peer puts on packets to us (names the SA on our side) and the one we put on ours.
        let inboundSPI: UInt32
        let outboundSPI: UInt32
        let localSelectors: [TrafficSelector]
        let remoteSelectors: [TrafficSelector]
        let suite: NegotiatedChildSuite
        var installedAt: MonotonicTime
        var rekeyAt: MonotonicTime?
        /// A successor exists (our rekey completed, or the peer rekeyed it): it only waits for its
        /// DELETE, and is never rekeyed again (a late soft-lifetime event must not fork it).
        var replaced = false
        /// The peer confirmed its DELETE: it only decrypts packets in flight until its grace ends.
        var deleted = false
    }

    /// The IKE SA a rekey replaced, kept only to send or answer its DELETE (section 2.18), on its
    /// own SPIs, keys and message IDs.
    struct RetiredIKESA {
        let spis: IKEv2SPIs
        var protection: IKEv2MessageProtection
        var nextRequestID: UInt32
        /// The message ID of our DELETE on this SA, once sent: its answer ends the SA.
        var deleteMessageID: UInt32?
    }

    var protection: IKEv2MessageProtection
    let establishedAt: MonotonicTime
    var rekeyAt: MonotonicTime?
    var childSAs: [ChildSA] = []
    /// The PFS group the peer asked for with INVALID_KE_PAYLOAD in a CHILD SA rekey.
    var childGroupOverride: Algorithm?
    var retired: RetiredIKESA?

    /// Initiator: the peer's IKE_AUTH response verified.
    init(_ previousState: IKEv2StateMachine.AuthenticatingState, now: MonotonicTime) {
        protection = previousState.protection
        establishedAt = now
    }

    /// Responder: the peer's IKE_AUTH request verified.
    init(_ previousState: IKEv2StateMachine.HalfOpenState, now: MonotonicTime) {
        protection = previousState.protection
        establishedAt = now
    }

    func child(inbound spi: UInt32) -> ChildSA? { childSAs.first { $0.inboundSPI == spi } }
    func child(outbound spi: UInt32) -> ChildSA? { childSAs.first { $0.outboundSPI == spi } }

    /// The CHILD SAs of the same selectors that have not been replaced themselves (after a collision,
    /// both new ones until one is deleted).
    func successors(of child: ChildSA) -> [ChildSA] {
        childSAs.filter {
            !$0.replaced && $0.inboundSPI != child.inboundSPI && $0.localSelectors == child.localSelectors
                && $0.remoteSelectors == child.remoteSelectors
        }
    }

    mutating func update(inbound spi: UInt32, _ change: (inout ChildSA) -> Void) {
        guard let index = childSAs.firstIndex(where: { $0.inboundSPI == spi }) else { return }
        change(&childSAs[index])
    }

    mutating func removeChild(inbound spi: UInt32) -> ChildSA? {
        guard let index = childSAs.firstIndex(where: { $0.inboundSPI == spi }) else { return nil }
        return childSAs.remove(at: index)
    }
}
