import IsthmusCrypto
import IsthmusGateway
import IsthmusIP

extension GatewayConfig {
    /// The connection of IKE version `version` whose remote site's gateway has `address` (literally, or as
    /// its DNS name last resolved in `peers`), else the one whose remote gateway is `any` (`check` allows one
    /// per IKE version): what a responder factory needs to pick the connection for a peer's first message.
    /// Nil when none (the peer is unknown).
    public func connection(forPeer address: IPAddress, version: IKEVersion, peers: PeerAddressBook) -> Connection? {
        let candidates = connections.compactMap { connection -> (Connection, LocalNetwork)? in
            guard connection.ikeVersion == version, let remote = localNetwork(named: connection.localNetwork) else {
                return nil
            }
            return (connection, remote)
        }
        return candidates.first(where: { peers.matches($0.1.gateway, address) })?.0
            ?? candidates.first(where: { $0.1.gateway == .any })?.0
    }
}
