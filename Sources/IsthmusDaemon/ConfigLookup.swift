import IsthmusCrypto
import IsthmusGateway
import IsthmusIP

extension GatewayConfig {
    /// The connection of IKE version `version` whose remote site's gateway has `address`: what a responder
    /// factory needs to pick the connection for a peer's first message. Nil when none (or the peer is
    /// unknown).
    public func connection(forPeer address: IPAddress, version: IKEVersion) -> Connection? {
        connections.first {
            $0.ikeVersion == version && localNetwork(named: $0.localNetwork)?.gatewayAddress == address
        }
    }
}
