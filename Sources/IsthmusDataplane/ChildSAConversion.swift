import IsthmusESP
import IsthmusIKEv2

extension ESPSecurityAssociation {
    /// The ESP engine's SA pair for a CHILD SA that IKEv2 negotiated: keys, selectors, outer endpoints
    /// and lifetimes. The soft byte limit is `softBytesFraction` of the hard one (9/10: rekey before
    /// traffic stops); the soft time limit is the one IKE computed (it rekeys on its own timer too).
    public init(childSA child: ChildSAParameters, connection: String, softBytesFraction: (UInt64, UInt64) = (9, 10)) {
        let hardBytes = child.hardLifetimeBytes
        self.init(
            inboundSPI: child.inboundSPI, outboundSPI: child.outboundSPI, encryption: child.encryption,
            integrity: child.integrity, extendedSequenceNumbers: child.extendedSequenceNumbers,
            inboundEncryptionKey: child.inboundEncryptionKey, inboundIntegrityKey: child.inboundIntegrityKey,
            outboundEncryptionKey: child.outboundEncryptionKey, outboundIntegrityKey: child.outboundIntegrityKey,
            localSelectors: child.localSelectors, remoteSelectors: child.remoteSelectors,
            tunnel: ESPTunnel(
                local: ESPEndpoint(address: child.local.address, port: child.local.port),
                remote: ESPEndpoint(address: child.remote.address, port: child.remote.port),
                udpEncapsulated: child.udpEncapsulated),
            softLifetime: ESPLifetime(
                time: child.softLifetime,
                bytes: hardBytes.map { $0 / softBytesFraction.1 * softBytesFraction.0 }),
            hardLifetime: ESPLifetime(time: child.hardLifetime, bytes: hardBytes),
            connection: connection)
        sendAfterFirstInbound = child.sendAfterFirstInbound
        outboundHold = child.outboundHold
    }
}
