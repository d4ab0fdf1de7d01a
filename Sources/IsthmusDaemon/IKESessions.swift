import IsthmusCrypto
import IsthmusGateway

/// The IKE cores the daemon drives, for every connection of a gateway: an IKEv1 or IKEv2 initiator by the
/// connection's `ike_version`, and a responder by the version in the header of the peer's first message
/// (an ISAKMP Main Mode message 1 or an IKE_SA_INIT request), for the connection that names the peer's
/// address (see ``IKEv1Sessions`` and ``IKEv2Sessions``).
public enum IKESessions {
    public static func factories(config: GatewayConfig, ikePort: UInt16 = 500)
        -> (makeInitiator: GatewayDaemon.InitiatorFactory, makeResponder: GatewayDaemon.ResponderFactory)
    {
        let v1 = IKEv1Sessions.factories(config: config, ikePort: ikePort)
        let v2 = IKEv2Sessions.factories(config: config, ikePort: ikePort)
        var versions: [String: IKEVersion] = [:]
        for connection in config.connections where versions[connection.name] == nil {
            versions[connection.name] = connection.ikeVersion
        }
        let makeInitiator: GatewayDaemon.InitiatorFactory = { [versions] name in
            switch versions[name] {
            case .v1?: v1.makeInitiator(name)
            case .v2?: v2.makeInitiator(name)
            case nil: nil
            }
        }
        let makeResponder: GatewayDaemon.ResponderFactory = { datagram in
            switch IKEHeaderPeek(datagram.bytes)?.majorVersion {
            case 1?: v1.makeResponder(datagram)
            case 2?: v2.makeResponder(datagram)
            default: nil
            }
        }
        return (makeInitiator, makeResponder)
    }
}
