import IsthmusIKE
import IsthmusIP

/// How long a connection whose IKE SA closed asking for a restart (liveness restart, end of lifetime, a
/// failed attempt) waits before it is negotiated again: doubled per failed attempt up to the maximum, so a
/// misconfigured peer is retried without flooding it or the log. Pure: the daemon arms the timer.
public struct RestartBackoff: Sendable {
    /// The first delay.
    public static let initialDelay: Duration = .seconds(5)
    /// The longest delay (reached after about six failed attempts).
    public static let maximumDelay: Duration = .seconds(300)
    /// Doublings at most (keeps the shift far from overflow).
    static let maximumDoublings = 8

    /// Consecutive restarts per connection without an established IKE SA.
    private var attempts: [String: Int] = [:]

    public init() {}

    /// The delay before the next restart of `connection`, counting this attempt.
    public mutating func nextDelay(for connection: String) -> Duration {
        let done = attempts[connection, default: 0]
        attempts[connection] = done + 1
        return min(Self.initialDelay * (1 << min(done, Self.maximumDoublings)), Self.maximumDelay)
    }

    /// The connection is up (or was changed, removed, re-added): the next failure starts from the first delay.
    public mutating func reset(_ connection: String) {
        attempts[connection] = nil
    }

    /// Restarts counted for `connection` since it was last up.
    public func attempts(of connection: String) -> Int { attempts[connection, default: 0] }
}

/// Why a session gives way to another IKE SA of the same connection.
public enum DuplicateIKESA: Sendable, Hashable {
    /// Still negotiating while the connection already has a working IKE SA: withdrawn.
    case negotiationWithdrawn
    /// Both gateways initiated and both SAs came up: the one initiated by the lower public address stays.
    case bothInitiated(kept: String)
    /// A newer IKE SA came up well after this one, or initiated by the same side (the peer restarted without
    /// INITIAL_CONTACT, or re-authenticated): the newer one stays, as strongSwan's `uniqueids = yes` has it.
    case replaced(kept: String)
}

extension IKEDispatcher {
    /// Two IKE SAs of one connection established within this many seconds of each other come from both
    /// gateways initiating at once; further apart, the older one belongs to a peer that has since restarted
    /// or re-authenticated. Retransmissions (about 1, 2, 4 s) and a DH computation fit well inside it, a
    /// restarted gateway's new IKE SA does not (a restart, then its own start-up and IKE_SA_INIT).
    public static let simultaneousEstablishmentWindow: Int64 = 10

    /// The sessions of one connection that must give way once one of its IKE SAs is established, and why.
    ///
    /// - A negotiation still in progress gives way to a working SA (withdrawn), except the one the last rule
    ///   would keep, once past its key exchange, while every working SA is of the other role and younger than
    ///   the window (both gateways initiated at once and each answered the other first: it is kept until it is
    ///   established).
    /// - Of the established SAs, the newest stays when every other was established more than
    ///   ``simultaneousEstablishmentWindow`` seconds before it, or when they all have the same role (one side
    ///   initiated again): the peer restarted or re-authenticated, and keeping the old SA would keep an SA the
    ///   peer no longer has (traffic stops until liveness checks fail). A peer that says so with
    ///   INITIAL_CONTACT has its old SAs forgotten before this rule runs.
    /// - Established within the window of each other with both roles, both gateways initiated at once: each
    ///   ends up with two IKE SAs (one as initiator, one as responder), and both sides keep the SA initiated by
    ///   the gateway with the lower public address and delete the other; no coordination message is needed.
    public static func duplicates(
        among statuses: [(session: any IKESession, status: IKESAStatus)], ourAddress: IPAddress, peerAddress: IPAddress
    ) -> [(session: any IKESession, status: IKESAStatus, reason: DuplicateIKESA)] {
        guard statuses.count > 1 else { return [] }
        // Both gateways initiating at once (after a blackout both liveness checks fail together and both restart
        // on the same backoff): each completes the other's negotiation as responder before its own is done. Were
        // both to withdraw their own, each would keep a different IKE SA (the one the other withdrew) and the
        // liveness checks would fail again, every time. So the negotiation that the lower-address rule below
        // would keep (ours when we are the lower address, the peer's when we are the higher) is not withdrawn
        // for a young SA of the other role: once it is established, the rule below settles the pair. Only a
        // negotiation the peer may already hold established (IKE_AUTH or Main Mode message 5 sent, or the peer's
        // being answered) is kept so: one still exchanging keys is withdrawn as before, which leaves a peer that
        // made no such rule (strongSwan answering a crossed IKE_SA_INIT) with its working SA undisturbed.
        let winnerRole = ourAddress < peerAddress ? "initiator" : "responder"
        let working = statuses.filter { $0.status.state.isWorking }
        let crossed =
            !working.isEmpty
            && working.allSatisfy {
                $0.status.role != winnerRole
                    && ($0.status.establishedSecondsAgo ?? 0) <= simultaneousEstablishmentWindow
            }
        var losers: [(session: any IKESession, status: IKESAStatus, reason: DuplicateIKESA)] =
            statuses
            .filter {
                !$0.status.state.isWorking
                    && !(crossed && $0.status.role == winnerRole && $0.status.state.isPastKeyExchange)
            }
            .map { ($0.session, $0.status, .negotiationWithdrawn) }
        let established = statuses.filter { $0.status.state == .established }
        guard established.count > 1 else { return losers }
        // The newest: the smallest age; of equal ages the one registered last (statuses are oldest first).
        let ages = established.map { $0.status.establishedSecondsAgo ?? 0 }
        let newestAge = ages.min() ?? 0
        let newestIndex = ages.lastIndex(of: newestAge) ?? established.count - 1
        let newest = established[newestIndex]
        let othersOlder = ages.enumerated().allSatisfy { index, age in
            index == newestIndex || age - newestAge > simultaneousEstablishmentWindow
        }
        // Both gateways initiating gives one SA of each role; SAs of one role are a repeat of one side's.
        let bothRoles = Set(established.map(\.status.role)).count > 1
        if othersOlder || !bothRoles {
            for loser in established where loser.session !== newest.session {
                losers.append((loser.session, loser.status, .replaced(kept: newest.status.localSPI)))
            }
            return losers
        }
        guard let winner = established.first(where: { $0.status.role == winnerRole }) else { return losers }
        for loser in established where loser.session !== winner.session {
            losers.append((loser.session, loser.status, .bothInitiated(kept: winner.status.localSPI)))
        }
        return losers
    }
}
