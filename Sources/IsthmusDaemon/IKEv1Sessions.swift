import IsthmusCrypto
import IsthmusGateway
import IsthmusIKEv1
import IsthmusIP

/// Routing by either cookie, and a peer's new Main Mode to the session whose ISAKMP SA it replaces.
extension IKEv1Session: IKEv1SessionRouting {}

/// The IKEv1 configurations of a gateway's connections, as ``IKEv2Sessions`` builds the IKEv2 ones;
/// ``IKESessions`` makes the cores from them, picking between the two by the connection's IKE version
/// (initiators) or the header's (responders).
public enum IKEv1Sessions {
    /// The IKEv1 configuration of connection `name` (a static, policy-based connection: one Quick Mode per
    /// pair of this site's and the remote site's prefixes).
    public static func configuration(
        for name: String, in config: GatewayConfig, ikePort: UInt16 = 500, peers: PeerAddressBook = PeerAddressBook()
    ) throws -> IKEv1Configuration {
        let (connection, remote, localAddress, remoteAddress) = try config.ikeEnds(of: name, version: .v1, peers: peers)
        let deadPeerDetection = IKELiveness(connection.deadPeerDetection)
        return IKEv1Configuration(
            connectionName: connection.name,
            local: UDPEndpoint(address: localAddress, port: ikePort),
            remote: UDPEndpoint(address: remoteAddress, port: 500),
            sharedKey: connection.sharedKey.withMaterial { SecretBytes($0) },
            localIdentity: .address(localAddress), remoteIdentity: .address(remoteAddress),
            ikeProposals: connection.ike, espProposals: connection.esp,
            localSelectors: config.site.prefixes.map(TrafficSelector.init(prefix:)),
            remoteSelectors: remote.prefixes.map(TrafficSelector.init(prefix:)),
            ikeLifetime: connection.lifetimes.ike, childLifetime: connection.lifetimes.esp,
            childLifetimeKilobytes: connection.lifetimes.espKilobytes, deadPeerDetection: deadPeerDetection,
            forceUDPEncapsulation: connection.natTraversal == .force)
    }
}
