import IsthmusCrypto
import IsthmusGateway
import IsthmusIKEv1
import IsthmusIP

/// Routing by either cookie, and a peer's new Main Mode to the session whose ISAKMP SA it replaces.
extension IKEv1Session: IKEv1SessionRouting {}

/// Builds IKEv1 cores from the gateway configuration, as ``IKEv2Sessions`` does for IKEv2; ``IKESessions``
/// picks between the two by the connection's IKE version (initiators) or the header's (responders).
public enum IKEv1Sessions {
    /// The IKEv1 configuration of connection `name` (a static, policy-based connection: one Quick Mode per
    /// pair of this site's and the remote site's prefixes).
    public static func configuration(for name: String, in config: GatewayConfig, ikePort: UInt16 = 500) throws
        -> IKEv1Configuration
    {
        let (connection, remote, localAddress) = try config.ikeEnds(of: name, version: .v1)
        let deadPeerDetection = IKELiveness(connection.deadPeerDetection)
        return IKEv1Configuration(
            connectionName: connection.name,
            local: UDPEndpoint(address: localAddress, port: ikePort),
            remote: UDPEndpoint(address: remote.gatewayAddress, port: 500),
            sharedKey: connection.sharedKey.withMaterial { SecretBytes($0) },
            localIdentity: .address(localAddress), remoteIdentity: .address(remote.gatewayAddress),
            ikeProposals: connection.ike, espProposals: connection.esp,
            localSelectors: config.site.prefixes.map(TrafficSelector.init(prefix:)),
            remoteSelectors: remote.prefixes.map(TrafficSelector.init(prefix:)),
            ikeLifetime: connection.lifetimes.ike, childLifetime: connection.lifetimes.esp,
            childLifetimeKilobytes: connection.lifetimes.espKilobytes, deadPeerDetection: deadPeerDetection,
            forceUDPEncapsulation: connection.natTraversal == .force)
    }

    /// Factories for the daemon: an initiator per IKEv1 connection, a responder for a Main Mode message 1
    /// from a configured peer's address.
    public static func factories(
        config: GatewayConfig, ikePort: UInt16 = 500, initialContact: InitialContactLedger = InitialContactLedger()
    )
        -> (makeInitiator: GatewayDaemon.InitiatorFactory, makeResponder: GatewayDaemon.ResponderFactory)
    {
        let makeInitiator: GatewayDaemon.InitiatorFactory = { name in
            guard var configuration = try? configuration(for: name, in: config, ikePort: ikePort) else { return nil }
            configuration.sendInitialContact = initialContact.firstInitiation(of: name)
            return IKEv1Session(initiating: configuration, random: SystemRandomNumberGenerator())
        }
        let makeResponder: GatewayDaemon.ResponderFactory = { datagram in
            guard let connection = config.connection(forPeer: datagram.source.address, version: .v1),
                var configuration = try? configuration(for: connection.name, in: config, ikePort: ikePort)
            else { return nil }
            configuration.local = datagram.destination
            return IKEv1Session(responding: configuration, random: SystemRandomNumberGenerator())
        }
        return (makeInitiator, makeResponder)
    }
}
