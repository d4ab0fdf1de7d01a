import IsthmusCrypto
import IsthmusIP
import XCTest

@testable import IsthmusESP

/// The SPD finds host entries by hash and scans the others, and still answers what a scan of every entry in
/// installation order would: the first entry of the packet's interface that covers it.
final class ESPPolicyTableTests: XCTestCase {
    func testHostAndNetworkEntriesMatchInInstallationOrder() throws {
        let engine = ESPEngine(random: CountingRandomSource())
        let suite = TestSuite("aes128gcm16")
        let keys = suite.keys(seed: 5)
        func install(_ spi: UInt32, remote: TrafficSelector, interface: Int = 0) throws {
            var sa = ESPSecurityAssociation(
                inboundSPI: spi, outboundSPI: spi | 0x8000_0000, encryption: suite.encryption, integrity: nil,
                extendedSequenceNumbers: false, inboundEncryptionKey: keys.encryption,
                inboundIntegrityKey: keys.integrity, outboundEncryptionKey: keys.encryption,
                outboundIntegrityKey: keys.integrity, localSelectors: [selector("0.0.0.0/0")],
                remoteSelectors: [remote],
                tunnel: ESPTunnel(local: Sites.aGateway, remote: Sites.bGateway, udpEncapsulated: true),
                connection: "c\(spi)")
            sa.interface = interface
            try engine.install(sa, now: .zero)
        }
        let host5 = selector("10.9.0.5/32")
        try install(
            0x1, remote: TrafficSelector(startAddress: host5.startAddress, endAddress: host5.endAddress, ipProtocol: 6))
        try install(0x2, remote: selector("10.9.0.1/32"))
        try install(0x3, remote: selector("10.9.0.0/24"))
        try install(0x4, remote: selector("10.9.0.2/32"))
        try install(0x5, remote: selector("10.9.0.1/32"), interface: 1)
        func outboundSPI(to destination: String, interface: Int = 0) -> UInt32? {
            let (result, _) = engine.seal(ipv4UDP(from: "192.168.1.10", to: destination), interface: interface)
            guard case .packet(let sent) = result else { return nil }
            return sent.outboundSPI & 0x7FFF_FFFF
        }
        XCTAssertEqual(outboundSPI(to: "10.9.0.1"), 0x2, "a host entry made before the network entry")
        XCTAssertEqual(outboundSPI(to: "10.9.0.2"), 0x3, "the network entry made before the host entry")
        XCTAssertEqual(outboundSPI(to: "10.9.0.5"), 0x3, "the TCP-only host entry does not cover UDP")
        XCTAssertEqual(outboundSPI(to: "10.9.0.1", interface: 1), 0x5, "each interface its own SPD")
        XCTAssertNil(outboundSPI(to: "10.9.1.1"))
        XCTAssertNil(outboundSPI(to: "10.9.0.2", interface: 1))
        XCTAssertTrue(engine.remove(inboundSPI: 0x3))
        XCTAssertEqual(outboundSPI(to: "10.9.0.2"), 0x4, "without the network entry the host entry answers")
        XCTAssertNil(outboundSPI(to: "10.9.0.5"))
        XCTAssertEqual(engine.policies.map { $0.inboundSPIs }, [[0x1], [0x2], [0x4], [0x5]], "SPD order kept")
        XCTAssertTrue(engine.remove(inboundSPI: 0x2))
        XCTAssertNil(outboundSPI(to: "10.9.0.1"), "interface 1's entry is not interface 0's")
    }

    /// An entry whose remote selectors name several hosts is found under each, and goes from each with its pair.
    func testAnEntryOfSeveralHostsIsFoundUnderEach() throws {
        let engine = ESPEngine(random: CountingRandomSource())
        let suite = TestSuite("aes128gcm16")
        let keys = suite.keys(seed: 6)
        let sa = ESPSecurityAssociation(
            inboundSPI: 0x7, outboundSPI: 0x8000_0007, encryption: suite.encryption, integrity: nil,
            extendedSequenceNumbers: false, inboundEncryptionKey: keys.encryption, inboundIntegrityKey: keys.integrity,
            outboundEncryptionKey: keys.encryption, outboundIntegrityKey: keys.integrity,
            localSelectors: [selector("0.0.0.0/0")],
            remoteSelectors: [selector("10.9.0.7/32"), selector("10.9.3.3/32"), selector("10.9.0.7/32")],
            tunnel: ESPTunnel(local: Sites.aGateway, remote: Sites.bGateway, udpEncapsulated: true), connection: "hosts"
        )
        try engine.install(sa, now: .zero)
        for destination in ["10.9.0.7", "10.9.3.3"] {
            let (result, _) = engine.seal(ipv4UDP(from: "192.168.1.10", to: destination))
            guard case .packet(let sent) = result else { return XCTFail("\(destination): \(result)") }
            XCTAssertEqual(sent.outboundSPI, 0x8000_0007, destination)
        }
        XCTAssertEqual(engine.seal(ipv4UDP(from: "192.168.1.10", to: "10.9.0.8")).result, .drop(.noPolicy))
        XCTAssertTrue(engine.remove(inboundSPI: 0x7))
        XCTAssertEqual(engine.seal(ipv4UDP(from: "192.168.1.10", to: "10.9.3.3")).result, .drop(.noPolicy))
        XCTAssertEqual(engine.policies.count, 0)
    }
}
