import IsthmusESP
import IsthmusEvents
import IsthmusIKE

/// Point-to-site clients (``PointToSiteSessions``): one IKE SA each under one logical connection, so the
/// duplicate rule is per client identity, not per connection.
extension DaemonState {
    /// A client's IKE SA `session` has its address: every older IKE SA of the same identity goes (RFC 7296
    /// 2.4; strongSwan's `uniqueids = replace`). With INITIAL_CONTACT the client holds none of them: they are
    /// forgotten without a DELETE; without it they are deleted. Other clients are never touched.
    func replaceOlderClientSAs(of session: any IKESession, peerRestarted: Bool) {
        let now = clock()
        let status = session.status(now: now)
        guard let identity = status.clientIdentity else { return }
        for other in clientSessions.connect(session, as: identity) where dispatcher.contains(other) {
            let older = other.status(now: now)
            guard older.clientIdentity == identity, older.state != .closed else { continue }
            record(
                GatewayEvent(
                    time: now, connection: PointToSiteSessions.connectionName, saIDs: ["ike \(older.localSPI)"],
                    kind: .ikeSAReplaced, severity: .notice,
                    message: "IKE SA \(older.localSPI) of client \(identity) "
                        + (peerRestarted ? "forgotten" : "deleted") + ": the client connected again (IKE SA "
                        + "\(status.localSPI)" + (peerRestarted ? ", INITIAL_CONTACT)" : ")"),
                    details: [
                        "reason": peerRestarted ? "peer-restarted" : "newer-ike-sa", "kept": status.localSPI,
                        "dropped": older.localSPI, "identity": identity,
                    ]))
            if peerRestarted {
                deliver(.forget(reason: "client \(identity) connected again with INITIAL_CONTACT"), to: other)
            } else {
                deliver(.terminate, to: other)
            }
        }
    }

    /// Names a client's CHILD SA after the client for the data plane (``PointToSiteSessions/trafficKey``), so
    /// its traffic is counted per client; site-to-site SAs are left as they are.
    func labelClientSA(_ change: inout ESPSAChange, of session: any IKESession, now: Duration) {
        guard case .install(var sa) = change, session.connectionName == PointToSiteSessions.connectionName,
            let identity = session.status(now: now).clientIdentity
        else { return }
        sa.connection = PointToSiteSessions.trafficKey(identity: identity)
        change = .install(sa)
    }
}

/// Point-to-site clients' IKE SAs by the client's identity, so that a client connecting again finds its own older
/// SAs without a walk over every session: that walk (a full status of each, over the dispatcher's sorted list)
/// made every new client cost time in proportion to the clients already up, and 2,000 clients took minutes of CPU
/// (`scripts/bench-ike --tunnels`). The sessions are held weakly, so one the dispatcher dropped goes away with its
/// last owner; identities left with none are swept once the inserts since the last sweep outnumber the identities
/// that sweep left (amortized constant time per connection).
struct ClientSessionIndex {
    private struct Entry {
        weak var session: (any IKESession)?
    }

    private var byIdentity: [String: [Entry]] = [:]
    private var insertsSinceSweep = 0
    /// Identities left by the last sweep.
    private var identitiesAfterSweep = 0

    /// The identities with an entry (live or not yet swept).
    var identityCount: Int { byIdentity.count }

    /// Records `session` as the newest IKE SA of `identity` and returns the others of that identity still in
    /// memory, oldest first (the caller checks whether each still counts).
    mutating func connect(_ session: any IKESession, as identity: String) -> [any IKESession] {
        let others = (byIdentity[identity] ?? []).compactMap(\.session).filter { $0 !== session }
        byIdentity[identity] = others.map { Entry(session: $0) } + [Entry(session: session)]
        insertsSinceSweep += 1
        if insertsSinceSweep > max(64, identitiesAfterSweep) { sweep() }
        return others
    }

    /// Drops entries whose sessions are gone, and identities left with none.
    mutating func sweep() {
        byIdentity = byIdentity.compactMapValues { entries in
            let live = entries.filter { $0.session != nil }
            return live.isEmpty ? nil : live
        }
        insertsSinceSweep = 0
        identitiesAfterSweep = byIdentity.count
    }
}
