import IsthmusEvents
import IsthmusIKE
import Logging

/// One IKE SA per connection: what gives way when a second one comes up (see
/// ``IKEDispatcher/duplicates(among:ourAddress:peerAddress:)`` and docs/ARCHITECTURE.md); and one owner per
/// inbound CHILD SA SPI across the gateway.
extension DaemonState {
    /// The peer restarted (INITIAL_CONTACT in `session`'s IKE_AUTH or Main Mode): every IKE SA of the
    /// connection established more than ``IKEDispatcher/simultaneousEstablishmentWindow`` ago is forgotten at
    /// once, its CHILD SAs leave the data plane, and no DELETE is sent (the peer has no state to delete;
    /// strongSwan does the same). Each gets an `ike-sa-replaced` event.
    ///
    /// Younger SAs are left to ``resolveDuplicateIKESAs(of:)``: two gateways that start together both send
    /// INITIAL_CONTACT in crossed IKE_AUTHs, and if each forgot its own SA they would keep different ones.
    func forgetIKESAs(replacedBy session: any IKESession) {
        // Point-to-site clients are not duplicates of each other (replaceOlderClientSAs).
        guard session.connectionName != PointToSiteSessions.connectionName else { return }
        let now = clock()
        let name = session.connectionName
        let kept = session.status(now: now).localSPI
        for other in sessions(of: name) where other !== session {
            let status = other.status(now: now)
            guard status.state.isWorking,
                (status.establishedSecondsAgo ?? 0) > IKEDispatcher.simultaneousEstablishmentWindow
            else { continue }
            record(
                GatewayEvent(
                    time: now, connection: name, saIDs: ["ike \(status.localSPI)"], kind: .ikeSAReplaced,
                    severity: .notice,
                    message: "IKE SA \(status.localSPI) (\(status.state)) dropped: the peer restarted "
                        + "(INITIAL_CONTACT in IKE SA \(kept))",
                    details: ["reason": "peer-restarted", "kept": kept, "dropped": status.localSPI]))
            deliver(.forget(reason: "the peer restarted (INITIAL_CONTACT in IKE SA \(kept))"), to: other)
        }
    }

    /// Terminates the sessions of `name` that must give way to its established IKE SA
    /// (``IKEDispatcher/duplicates(among:ourAddress:peerAddress:)`` decides).
    func resolveDuplicateIKESAs(of name: String) {
        guard let ours = config.gateway.publicAddress,
            let connection = config.connections.first(where: { $0.name == name }),
            let remote = config.localNetwork(named: connection.localNetwork),
            let peer = options.peers.address(of: remote.gateway)
        else { return }
        let now = clock()
        let all = sessions(of: name).map { (session: $0, status: $0.status(now: now)) }
        for loser in IKEDispatcher.duplicates(among: all, ourAddress: ours, peerAddress: peer) {
            switch loser.reason {
            case .negotiationWithdrawn:
                logger.notice(
                    "withdrawing an IKE SA negotiation: the connection is already up",
                    metadata: ["connection": "\(name)", "withdrawn": "\(loser.status.localSPI)"])
            case .bothInitiated(let kept):
                logger.notice(
                    "duplicate IKE SA: both gateways initiated; keeping the one initiated by the lower address",
                    metadata: ["connection": "\(name)", "kept": "\(kept)", "deleted": "\(loser.status.localSPI)"])
            case .replaced(let kept):
                record(
                    GatewayEvent(
                        time: now, connection: name, saIDs: ["ike \(loser.status.localSPI)"], kind: .ikeSAReplaced,
                        severity: .notice,
                        message: "IKE SA \(loser.status.localSPI) deleted: a newer IKE SA \(kept) of the same peer "
                            + "is up (a restart or re-authentication without INITIAL_CONTACT)",
                        details: ["reason": "newer-ike-sa", "kept": kept, "dropped": loser.status.localSPI]))
            }
            deliver(.terminate, to: loser.session)
        }
    }

    /// A session installed a CHILD SA whose inbound SPI another IKE SA's CHILD SA already has (each core picks
    /// its SPIs at random, unique within its own IKE SA: a 2^-32 chance per SA). The data plane never saw it;
    /// the session is terminated, so its SA is negotiated again (with a new SPI) rather than left half
    /// installed. The other SA keeps its entry: changes naming the SPI from anyone but its owner are ignored.
    func refuseDuplicateInboundSPI(_ spi: UInt32, of session: any IKESession) {
        let now = clock()
        record(
            GatewayEvent(
                time: now, connection: session.connectionName, saIDs: ["esp \(SAIdentifier.esp(spi))"],
                kind: .childSARefused, severity: .warning,
                message: "CHILD SA \(SAIdentifier.esp(spi)) not installed: another IKE SA's CHILD SA has this inbound "
                    + "SPI; its IKE SA is deleted and negotiated again",
                details: ["reason": "duplicate-inbound-spi"]))
        deliver(.terminate, to: session)
    }
}
