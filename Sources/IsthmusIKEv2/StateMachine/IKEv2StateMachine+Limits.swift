import IsthmusEvents
import IsthmusIKE
import IsthmusWire

/// Bounds on what an authenticated peer can make an IKE SA hold.
extension IKEv2StateMachine {
    /// Most CHILD SAs one IKE SA holds (each is an SAD entry and an SPD policy in the data plane). strongSwan
    /// sets no limit; a site-to-site connection of ours needs one (two while it is rekeyed), a peer with one
    /// CHILD SA per pair of subnets a few more. Past it a new CHILD SA is refused with NO_ADDITIONAL_SAS
    /// (RFC 7296 section 1.3); a rekey may go up to twice the limit (every CHILD SA rekeyed at once, the old
    /// ones waiting for their DELETE).
    public static let maximumChildSAs = 32

    /// Why a CHILD SA request must be refused before any work on it: the IKE SA is full, or the peer named
    /// an SPI for its side that one of our CHILD SAs already sends with (a peer's DELETE names it, so two
    /// would be ambiguous). Nil when it may go ahead.
    func childRequestRefusal(
        rekey: Bool, peerSPI: UInt32, in established: IKEv2EstablishedSA
    ) -> (notify: IKEv2NotifyType, reason: String)? {
        let limit = rekey ? 2 * Self.maximumChildSAs : Self.maximumChildSAs
        if established.childSAs.count >= limit {
            return (
                .noAdditionalSAs,
                "NO_ADDITIONAL_SAS: this IKE SA already holds \(established.childSAs.count) CHILD SAs "
                    + "(at most \(Self.maximumChildSAs), twice that while rekeying)"
            )
        }
        if established.child(outbound: peerSPI) != nil {
            return (
                .noProposalChosen,
                "peer's SPI \(SAIdentifier.esp(peerSPI)) is already used by one of its CHILD SAs"
            )
        }
        return nil
    }

    /// The inbound SPIs of this IKE SA's CHILD SAs: a new one must differ from all of them.
    var inboundChildSPIs: Set<UInt32> {
        switch state {
        case .established(let sa): Set(sa.childSAs.map(\.inboundSPI))
        case .deleting(let deleting): Set(deleting.sa.childSAs.map(\.inboundSPI))
        case .idle, .connecting, .authenticating, .halfOpen, .closed: []
        }
    }

    /// COOKIE answers our IKE_SA_INIT follows in one attempt (RFC 7296 2.6). A responder under load asks
    /// once; a second time can follow a secret change on its side; more is a loop (or a forged answer).
    public static let maximumCookieRetries = 3

    /// Our IKE_SA_INIT attempt ends: the peer's COOKIE or INVALID_KE_PAYLOAD answers went past their limits.
    /// The connection is restarted later with the usual backoff.
    mutating func giveUpInitiating(_ reason: String, now: MonotonicTime, into actions: inout [IKEAction]) {
        emit(.initiationFailed, .error, reason, now: now, into: &actions)
        close(restart: nil, into: &actions)
    }
}
