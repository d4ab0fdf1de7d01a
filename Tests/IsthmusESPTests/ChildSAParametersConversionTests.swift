import IsthmusCrypto
import IsthmusIKEv2
import IsthmusIP
import XCTest

@testable import IsthmusESP

extension ESPSecurityAssociation {
    /// How the daemon turns what IKEv2 negotiated into an ESP engine SA pair. Kept here rather than in
    /// IsthmusESP so that the data plane does not depend on the IKEv2 module; the daemon (which
    /// depends on both) owns the production copy.
    init(_ child: ChildSAParameters, connection: String, softBytesFraction: (UInt64, UInt64) = (9, 10)) {
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
    }
}

final class ChildSAParametersConversionTests: XCTestCase {
    func testIKEv2ChildSAParametersInstallAndInteroperate() throws {
        let suite = TestSuite("aes256gcm16")
        let toB = suite.keys(seed: 3)
        let toA = suite.keys(seed: 4)
        let a = UDPEndpoint(address: address("198.51.100.1"), port: 4500)
        let b = UDPEndpoint(address: address("203.0.113.1"), port: 4500)
        func child(
            inbound: UInt32, outbound: UInt32, keysIn: (SecretBytes, SecretBytes),
            keysOut: (SecretBytes, SecretBytes), local: UDPEndpoint, remote: UDPEndpoint,
            localSelectors: [TrafficSelector], remoteSelectors: [TrafficSelector]
        ) -> ChildSAParameters {
            ChildSAParameters(
                inboundSPI: inbound, outboundSPI: outbound, encryption: suite.encryption, integrity: nil,
                extendedSequenceNumbers: true, inboundEncryptionKey: keysIn.0, inboundIntegrityKey: keysIn.1,
                outboundEncryptionKey: keysOut.0, outboundIntegrityKey: keysOut.1, localSelectors: localSelectors,
                remoteSelectors: remoteSelectors, local: local, remote: remote, udpEncapsulated: true,
                softLifetime: .seconds(3000), hardLifetime: .seconds(3600), hardLifetimeBytes: 1_000_000)
        }
        let atA = child(
            inbound: 0xA1, outbound: 0xB1, keysIn: toA, keysOut: toB, local: a, remote: b,
            localSelectors: Sites.aSelectors, remoteSelectors: Sites.bSelectors)
        let atB = child(
            inbound: 0xB1, outbound: 0xA1, keysIn: toB, keysOut: toA, local: b, remote: a,
            localSelectors: Sites.bSelectors, remoteSelectors: Sites.aSelectors)
        let configA = ESPSecurityAssociation(atA, connection: "hq")
        XCTAssertEqual(configA.softLifetime, ESPLifetime(time: .seconds(3000), bytes: 900_000))
        XCTAssertEqual(configA.hardLifetime, ESPLifetime(time: .seconds(3600), bytes: 1_000_000))
        let engineA = ESPEngine()
        let engineB = ESPEngine()
        try engineA.install(configA, now: .zero)
        try engineB.install(ESPSecurityAssociation(atB, connection: "branch"), now: .zero)
        let inner = ipv6UDP(from: "fd00:a::1", to: "fd00:b::1")
        let packet = try XCTUnwrap(engineA.seal(inner).packet)
        XCTAssertEqual(engineB.open(packet).inner, inner)
    }
}
