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
    /// - Parameter peer: the address a responder's first message came from; nil for an initiator.
    public static func configuration(
        for name: String, in config: GatewayConfig, ikePort: UInt16 = 500, peers: PeerAddressBook = PeerAddressBook(),
        peer: IPAddress? = nil
    ) throws -> IKEv1Configuration {
        let (connection, remote, localAddress, remoteAddress) = try config.ikeEnds(
            of: name, version: .v1, peers: peers, peer: peer)
        return IKEv1Configuration(
            config.ikeSettings(
                of: connection, remote: remote, at: remoteAddress, localAddress: localAddress, ikePort: ikePort),
            localIdentity: connection.localIdentity ?? .address(localAddress),
            remoteIdentity: connection.remoteIdentity ?? .address(remoteAddress))
    }
}
