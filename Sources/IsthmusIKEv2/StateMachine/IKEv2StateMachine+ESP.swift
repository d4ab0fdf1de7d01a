import IsthmusCrypto
import IsthmusIP

/// A negotiated CHILD SA with its keys, as handed to ``IKEv2StateMachine/espSecurityAssociation(for:)``.
struct IKEv2ChildSAInstall {
    var suite: NegotiatedChildSuite
    var inboundSPI: UInt32
    var outboundSPI: UInt32
    var inbound: DirectionKeys
    var outbound: DirectionKeys
    var localSelectors: [TrafficSelector]
    var remoteSelectors: [TrafficSelector]
    /// The responder of a rekey sends on the new SA only once the initiator has moved to it (RFC 7296
    /// section 2.8); everyone else at once.
    var outboundStart: ESPOutboundStart
}

extension IKEv2StateMachine {
    /// The responder of a CHILD SA rekey sends on the new SA at the latest this long after installing it, even
    /// when the initiator sent nothing on it and did not delete the old one (it has had the keys since it
    /// read our answer; an answer lost once is resent well within this time).
    static let rekeyResponderOutboundFallback: Duration = .seconds(10)

    /// The one place IKEv2 builds the ESP engine's SA for a negotiated CHILD SA: keys, selectors, outer
    /// endpoints (UDP 4500 after NAT detection), both lifetimes (``ChildSALifetimes``) and when outbound
    /// traffic starts. Other changes are ``ESPSAChange`` cases emitted directly.
    mutating func espSecurityAssociation(for child: IKEv2ChildSAInstall) -> ESPSecurityAssociation {
        let lifetimes = ChildSALifetimes.esp(
            softTime: configuration.childLifetime,
            hardTime: configuration.childLifetime + configuration.childLifetime / 10,
            hardBytes: configuration.childLifetimeKilobytes.map { $0 * 1024 }, random: &random)
        var parameters = ESPSecurityAssociation(
            inboundSPI: child.inboundSPI, outboundSPI: child.outboundSPI, encryption: child.suite.encryption,
            integrity: child.suite.integrity, extendedSequenceNumbers: child.suite.extendedSequenceNumbers,
            inboundEncryptionKey: child.inbound.encryption, inboundIntegrityKey: child.inbound.integrity,
            outboundEncryptionKey: child.outbound.encryption, outboundIntegrityKey: child.outbound.integrity,
            localSelectors: child.localSelectors, remoteSelectors: child.remoteSelectors,
            tunnel: ESPTunnel(
                local: UDPEndpoint(address: local.address, port: usesUDPEncapsulation ? 4500 : 0),
                remote: UDPEndpoint(address: remote.address, port: usesUDPEncapsulation ? remote.port : 0),
                udpEncapsulated: usesUDPEncapsulation),
            softLifetime: lifetimes.soft, hardLifetime: lifetimes.hard, connection: configuration.connectionName)
        parameters.outboundStart = child.outboundStart
        return parameters
    }
}
