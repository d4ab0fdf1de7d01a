import IsthmusCrypto
import IsthmusGateway
import IsthmusIP

extension GatewayConfig {
    /// The connection of IKE version `version` whose remote site's gateway has `address` (literally, or as
    /// its DNS name last resolved in `peers`): what a responder factory needs to pick the connection for a
    /// peer's first message. Nil when none (or the peer is unknown).
    public func connection(forPeer address: IPAddress, version: IKEVersion, peers: PeerAddressBook) -> Connection? {
        connections.first {
            guard $0.ikeVersion == version, let remote = localNetwork(named: $0.localNetwork) else { return false }
            return peers.matches(remote.gateway, address)
        }
    }
}
