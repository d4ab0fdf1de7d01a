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
        for other in sessions(of: PointToSiteSessions.connectionName) where other !== session {
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
