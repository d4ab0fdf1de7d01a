import IsthmusCrypto
import IsthmusGateway
import IsthmusIP

extension GatewayConfig {
    /// The connection whose remote site's gateway has `address`: what a responder factory needs to pick
    /// the connection for a new IKE_SA_INIT request. Nil when none (or the peer is unknown).
    public func connection(forPeer address: IPAddress) -> Connection? {
        connections.first { localNetwork(named: $0.localNetwork)?.gatewayAddress == address }
    }

    /// The connection of IKE version `version` whose remote site's gateway has `address`.
    public func connection(forPeer address: IPAddress, version: IKEVersion) -> Connection? {
        connections.first {
            $0.ikeVersion == version && localNetwork(named: $0.localNetwork)?.gatewayAddress == address
        }
    }
}
