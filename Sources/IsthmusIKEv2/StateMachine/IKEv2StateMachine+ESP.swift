import IsthmusCrypto
import IsthmusIP

/// What IKEv2 asks of the ESP engine for one CHILD SA.
enum IKEv2ESPChange {
    /// Install both halves of a new CHILD SA.
    case install(IKEv2ChildSAInstall)
    /// Remove both halves (by our inbound SPI).
    case remove(inboundSPI: UInt32)
    /// Stop sending on it now (its DELETE is on the way); the inbound half stays until `remove`.
    case stopSending(inboundSPI: UInt32)
}

/// A negotiated CHILD SA with its keys, as handed to ``IKEv2StateMachine/changeESP(_:into:)``.
struct IKEv2ChildSAInstall {
    var suite: NegotiatedChildSuite
    var inboundSPI: UInt32
    var outboundSPI: UInt32
    var inbound: DirectionKeys
    var outbound: DirectionKeys
    var localSelectors: [TrafficSelector]
    var remoteSelectors: [TrafficSelector]
    /// The responder of a rekey sends on the new SA only once the initiator's traffic arrives on it
    /// (RFC 7296 section 2.8).
    var sendAfterFirstInbound: Bool
}

extension IKEv2StateMachine {
    /// The one place IKEv2 turns its CHILD SA changes into actions for the ESP engine.
    func changeESP(_ change: IKEv2ESPChange, into actions: inout [IKEAction]) {
        switch change {
        case .install(let child):
            var parameters = ChildSAParameters(
                inboundSPI: child.inboundSPI, outboundSPI: child.outboundSPI, encryption: child.suite.encryption,
                integrity: child.suite.integrity, extendedSequenceNumbers: child.suite.extendedSequenceNumbers,
                inboundEncryptionKey: child.inbound.encryption, inboundIntegrityKey: child.inbound.integrity,
                outboundEncryptionKey: child.outbound.encryption, outboundIntegrityKey: child.outbound.integrity,
                localSelectors: child.localSelectors, remoteSelectors: child.remoteSelectors,
                local: UDPEndpoint(address: local.address, port: usesUDPEncapsulation ? 4500 : 0),
                remote: UDPEndpoint(address: remote.address, port: usesUDPEncapsulation ? remote.port : 0),
                udpEncapsulated: usesUDPEncapsulation, softLifetime: configuration.childLifetime,
                hardLifetime: configuration.childLifetime + configuration.childLifetime / 10,
                hardLifetimeBytes: configuration.childLifetimeBytes.map { $0 * 1024 })
            parameters.sendAfterFirstInbound = child.sendAfterFirstInbound
            actions.append(.installChildSA(parameters))
        case .remove(let spi):
            actions.append(.removeChildSA(inboundSPI: spi))
        case .stopSending(let spi):
            actions.append(.retireChildSAOutbound(inboundSPI: spi))
        }
    }
}
