import IsthmusCrypto
import IsthmusIP
import IsthmusWire
import XCTest

@testable import IsthmusESP

final class ESPEngineRoundTripTests: XCTestCase {
    private let v4AtoB = ipv4UDP(from: "192.168.1.10", to: "10.0.1.4")
    private let v4BtoA = ipv4UDP(from: "10.0.1.4", to: "192.168.1.10", sourcePort: 53, destinationPort: 40000)
    private let v6AtoB = ipv6UDP(from: "fd00:a::10", to: "fd00:b::4")
    private let v6BtoA = ipv6UDP(from: "fd00:b::4", to: "fd00:a::10")

    /// Every suite, both families, both directions, ESN off and on, several sizes (padding varies).
    func testRoundTripEverySuiteBothFamiliesWithAndWithoutESN() throws {
        for suite in TestSuite.all {
            for esn in [false, true] {
                let (a, b) = try SAPairConfig(suite: suite, esn: esn).engines()
                for (index, extra) in [0, 1, 2, 3, 15, 16, 17, 100].enumerated() {
                    let filler = [UInt8](repeating: 0xee, count: extra)
                    for (inner, from, to) in [
                        (ipv4UDP(from: "192.168.1.10", to: "10.0.1.4", payload: plaintextMarker + filler), a, b),
                        (ipv6UDP(from: "fd00:b::4", to: "fd00:a::10", payload: plaintextMarker + filler), b, a),
                    ] {
                        let context = "\(suite) esn=\(esn) +\(extra)"
                        let (result, packet) = from.seal(inner)
                        guard case .packet(let sent) = result, let packet else {
                            return XCTFail("\(context): \(result)")
                        }
                        XCTAssertEqual(sent.sequenceNumber, UInt64(index + 1), context)
                        XCTAssertFalse(contains(packet, plaintextMarker), "\(context): plaintext on the wire")
                        try checkLayout(packet, inner: inner, suite: suite, context: context)
                        let (received, output, _) = to.open(packet)
                        XCTAssertEqual(output, inner, context)
                        guard case .packet(let delivered) = received else { return XCTFail("\(context): \(received)") }
                        XCTAssertEqual(delivered.sequenceNumber, UInt64(index + 1), context)
                        XCTAssertEqual(delivered.family, inner[0] >> 4 == 4 ? .v4 : .v6, context)
                    }
                }
                let stats = try XCTUnwrap(a.statistics(inboundSPI: Sites.spiToA))
                XCTAssertEqual(stats.outbound.packets, 8)
                XCTAssertEqual(stats.inbound.packets, 8)
                XCTAssertEqual(stats.lastOutboundSequence, 8)
                XCTAssertEqual(stats.highestInboundSequence, 8)
                XCTAssertEqual(a.drops.total + b.drops.total, 0, "\(suite)")
            }
        }
    }

    /// Per-connection traffic adds up every pair of the connection, and keeps a removed pair's share.
    func testTrafficByConnectionSurvivesRemoval() throws {
        let config = SAPairConfig(suite: TestSuite("aes128gcm16"))
        let (a, b) = try config.engines()
        let inner = ipv4UDP(from: "192.168.1.10", to: "10.0.1.4", payload: plaintextMarker)
        for _ in 0..<3 {
            let (result, packet) = a.seal(inner)
            guard case .packet = result, let packet else { return XCTFail("\(result)") }
            _ = b.open(packet)
        }
        let size = UInt64(inner.count)
        XCTAssertEqual(a.trafficByConnection(), ["a-to-b": ESPConnectionTraffic(packetsOut: 3, bytesOut: 3 * size)])
        XCTAssertEqual(b.trafficByConnection(), ["b-to-a": ESPConnectionTraffic(packetsIn: 3, bytesIn: 3 * size)])
        // A rekeyed pair of the same connection: both pairs count while installed, the removed one still counts.
        var rekeyed = SAPairConfig(
            suite: TestSuite("aes128gcm16"), spiToA: 0xA000_0002, spiToB: 0xB000_0002, keySeed: 9)
        rekeyed.a.connection = "a-to-b"
        try a.install(rekeyed.a, now: .zero)
        let (result, _) = a.seal(inner)
        guard case .packet(let sent) = result else { return XCTFail("\(result)") }
        XCTAssertEqual(sent.outboundSPI, 0xB000_0002, "the newest pair sends")
        XCTAssertEqual(a.trafficByConnection()["a-to-b"], ESPConnectionTraffic(packetsOut: 4, bytesOut: 4 * size))
        XCTAssertTrue(a.remove(inboundSPI: Sites.spiToA))
        XCTAssertEqual(a.trafficByConnection()["a-to-b"], ESPConnectionTraffic(packetsOut: 4, bytesOut: 4 * size))
        XCTAssertTrue(a.remove(inboundSPI: 0xA000_0002))
        XCTAssertEqual(a.trafficByConnection(), ["a-to-b": ESPConnectionTraffic(packetsOut: 4, bytesOut: 4 * size)])
    }

    /// The wire layout: SPI, sequence, IV (the sequence number for AEADs), padded length, ICV.
    private func checkLayout(_ packet: [UInt8], inner: [UInt8], suite: TestSuite, context: String) throws {
        let header = try XCTUnwrap(packet.withUnsafeBytes { ESPHeader.parse($0) })
        let protection = try CryptoSuites.makeProtection(
            encryptionID: suite.encryption.ikev2ID, keyBits: suite.encryption.keyLengthBits,
            encryptionKey: suite.keys(seed: 1).encryption, integrityID: suite.integrity?.ikev2ID,
            integrityKey: suite.keys(seed: 1).integrity)
        let payload = packet.count - ESPHeader.size - protection.ivLength - protection.icvLength
        XCTAssertGreaterThanOrEqual(payload, inner.count + 2, context)
        XCTAssertEqual(payload % max(protection.blockSize, 4), 0, "\(context): aligned to block and 4 bytes")
        XCTAssertLessThan(payload - inner.count - 2, max(protection.blockSize, 4), "\(context): minimal padding")
        if suite.encryption.isAEAD {
            let iv = packet[8..<16].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            XCTAssertEqual(iv & 0xffff_ffff, UInt64(header.sequenceNumber), "\(context): AEAD IV = sequence number")
        }
    }

    /// Many SPD entries (point-to-site clients, each its own /32): removing one keeps the others in order,
    /// an entry goes with its last pair, and its selectors installed again make a new entry at the end.
    func testPolicyEntriesStayInOrderAcrossInstallsAndRemovals() throws {
        let engine = ESPEngine(random: CountingRandomSource())
        let suite = TestSuite("aes128gcm16")
        let keys = suite.keys(seed: 3)
        func client(_ number: Int, spi: UInt32) -> ESPSecurityAssociation {
            ESPSecurityAssociation(
                inboundSPI: spi, outboundSPI: spi | 0x8000_0000, encryption: suite.encryption, integrity: nil,
                extendedSequenceNumbers: false, inboundEncryptionKey: keys.encryption,
                inboundIntegrityKey: keys.integrity,
                outboundEncryptionKey: keys.encryption, outboundIntegrityKey: keys.integrity,
                localSelectors: [selector("0.0.0.0/0")], remoteSelectors: [selector("10.9.0.\(number)/32")],
                tunnel: ESPTunnel(local: Sites.aGateway, remote: Sites.bGateway, udpEncapsulated: true),
                connection: "point-to-site")
        }
        for number in 1...50 { try engine.install(client(number, spi: UInt32(0x1000 + number)), now: .zero) }
        try engine.install(client(7, spi: 0x2007), now: .zero)  // client 7's rekeyed CHILD SA: same entry
        XCTAssertEqual(engine.policies.count, 50)
        XCTAssertEqual(engine.installedCount, 51)
        XCTAssertTrue(engine.remove(inboundSPI: 0x1007))
        XCTAssertEqual(engine.policies.count, 50, "client 7 still has its rekeyed pair")
        XCTAssertEqual(engine.policies[6].inboundSPIs, [0x2007])
        XCTAssertTrue(engine.remove(inboundSPI: 0x2007))
        XCTAssertTrue(engine.remove(inboundSPI: 0x1020))
        XCTAssertFalse(engine.remove(inboundSPI: 0x1020), "already gone")
        let remaining = engine.policies.map { $0.remoteSelectors.first?.description ?? "" }
        XCTAssertEqual(remaining, (1...50).filter { $0 != 7 && $0 != 32 }.map { "10.9.0.\($0)/32" })
        try engine.install(client(7, spi: 0x3007), now: .zero)
        XCTAssertEqual(engine.policies.last?.inboundSPIs, [0x3007], "a new entry at the end of the SPD")
        XCTAssertEqual(engine.installedCount, 49)
        XCTAssertEqual(engine.installedInboundSPIs.count, 49)
    }

    func testESNCrossesThe32BitBoundary() throws {
        for suite in [TestSuite("aes256gcm16"), TestSuite("aes128", "sha256"), TestSuite("chacha20poly1305")] {
            var config = SAPairConfig(suite: suite, esn: true)
            let start = UInt64(UInt32.max) - 3
            config.a.initialOutboundSequence = start
            config.b.initialInboundSequence = start
            let (a, b) = try config.engines()
            for step in UInt64(1)...8 {
                let (result, packet) = a.seal(v4AtoB)
                guard case .packet(let sent) = result, let packet else { return XCTFail("\(suite): \(result)") }
                XCTAssertEqual(sent.sequenceNumber, start + step)
                // Only the low 32 bits travel (RFC 4303 2.2.1).
                XCTAssertEqual(
                    Array(packet[4..<8]),
                    withUnsafeBytes(of: UInt32(truncatingIfNeeded: start + step).bigEndian, Array.init))
                let (received, output, _) = b.open(packet)
                XCTAssertEqual(output, v4AtoB, "\(suite) step \(step)")
                guard case .packet(let delivered) = received else { return XCTFail("\(suite): \(received)") }
                XCTAssertEqual(delivered.sequenceNumber, start + step, "reconstructed high bits")
            }
            XCTAssertEqual(b.statistics(inboundSPI: Sites.spiToB)?.highestInboundSequence, (1 << 32) + 4)
        }
    }

    func testESNHighBitsAreAuthenticated() throws {
        // A receiver that believes it is in another 2^32 subspace computes a different ICV input.
        var config = SAPairConfig(suite: TestSuite("aes128gcm16"), esn: true)
        config.b.initialInboundSequence = 3 << 32
        let (a, b) = try config.engines()
        let (_, packet) = a.seal(v4AtoB)
        let (received, _, _) = b.open(try XCTUnwrap(packet))
        XCTAssertEqual(received, .drop(.integrityFailure))

        var etm = SAPairConfig(suite: TestSuite("aes128", "sha256"), esn: true)
        etm.b.initialInboundSequence = 3 << 32
        let (c, d) = try etm.engines()
        XCTAssertEqual(d.open(try XCTUnwrap(c.seal(v4AtoB).packet)).result, .drop(.integrityFailure))
    }

    func testCBCIVComesFromTheInjectedSource() throws {
        let (a, _) = try SAPairConfig(suite: TestSuite("aes128", "sha1")).engines()
        let packet = try XCTUnwrap(a.seal(v4AtoB).packet)
        XCTAssertEqual(Array(packet[8..<24]), (0..<16).map { 0x40 + UInt8($0) })
        let second = try XCTUnwrap(a.seal(v4AtoB).packet)
        XCTAssertEqual(Array(second[8..<24]), (16..<32).map { 0x40 + UInt8($0) }, "a fresh IV per packet")
    }

    func testSystemRandomSourceFillsOddLengths() {
        var source = SystemESPRandomSource()
        var bytes = [UInt8](repeating: 0, count: 19)
        bytes.withUnsafeMutableBytes { source.fill($0) }
        XCTAssertNotEqual(bytes, [UInt8](repeating: 0, count: 19))
    }

    func testSystemRandomSourceNeverRepeatsAcrossPoolRefills() {
        // 16-byte IVs across several 4 KiB refills of the pool, and one fill larger than the pool: no IV
        // repeats, the bytes are spread (not a constant or a counter), nothing is left zero.
        var source = SystemESPRandomSource()
        var seen = Set<[UInt8]>()
        var histogram = [Int](repeating: 0, count: 256)
        for _ in 0..<(3 * RandomPool.size / 16 + 7) {
            var iv = [UInt8](repeating: 0, count: 16)
            iv.withUnsafeMutableBytes { source.fill($0) }
            XCTAssertTrue(seen.insert(iv).inserted, "an IV repeated")
            for byte in iv { histogram[Int(byte)] += 1 }
        }
        XCTAssertGreaterThan(histogram.filter { $0 > 0 }.count, 250, "bytes spread over the whole range")
        var large = [UInt8](repeating: 0, count: RandomPool.size * 2 + 5)
        large.withUnsafeMutableBytes { source.fill($0) }
        XCTAssertNotEqual(Array(large[0..<32]), Array(large[RandomPool.size..<(RandomPool.size + 32)]))
        XCTAssertLessThan(large.filter { $0 == 0 }.count, large.count / 64, "no zero run left unfilled")
    }

    func testEncapsulationResultNamesTheTunnel() throws {
        let (a, b) = try SAPairConfig(suite: TestSuite("aes128gcm16")).engines()
        guard case .packet(let fromA) = a.seal(v4AtoB).result, case .packet(let fromB) = b.seal(v6BtoA).result else {
            return XCTFail("no packet")
        }
        XCTAssertEqual(fromA.outboundSPI, Sites.spiToB)
        XCTAssertEqual(fromA.tunnel.remote, Sites.bGateway)
        XCTAssertTrue(fromA.tunnel.udpEncapsulated)
        XCTAssertEqual(fromB.outboundSPI, Sites.spiToA)
        XCTAssertEqual(fromB.tunnel.remote, Sites.aGateway)
        XCTAssertFalse(fromB.tunnel.udpEncapsulated)
        XCTAssertEqual(fromA.range.lowerBound, ESPEngine.requiredHeadroom - 16, "GCM: 8-byte header + 8-byte IV")
    }

    func testCopyingEncapsulateAndLargeBuffers() throws {
        let (a, b) = try SAPairConfig(suite: TestSuite("aes256", "sha512")).engines()
        var buffer = [UInt8](repeating: 0, count: 2048)
        let result = v6AtoB.withUnsafeBytes { inner in
            buffer.withUnsafeMutableBytes { a.encapsulate(innerPacket: inner, into: $0, now: .zero) }
        }
        guard case .packet(let sent) = result else { return XCTFail("\(result)") }
        XCTAssertEqual(sent.range.lowerBound, 0, "AES-CBC uses all of the headroom: 8 + 16")
        XCTAssertEqual(b.open(Array(buffer[sent.range])).inner, v6AtoB)
    }

    func testInnerPacketWithTFCPaddingIsTrimmedToItsIPLength() throws {
        // RFC 4303 2.7: bytes after the inner packet's own length are TFC padding.
        let (a, b) = try SAPairConfig(suite: TestSuite("aes128gcm16")).engines()
        let padded = v4BtoA + [UInt8](repeating: 0, count: 30)
        let packet = try XCTUnwrap(b.seal(padded).packet)
        let (result, inner, _) = a.open(packet)
        XCTAssertEqual(inner, v4BtoA)
        guard case .packet(let delivered) = result else { return XCTFail("\(result)") }
        XCTAssertEqual(delivered.range.count, v4BtoA.count)
        XCTAssertEqual(a.statistics(inboundSPI: Sites.spiToA)?.inbound.bytes, UInt64(v4BtoA.count))
    }

    func testInnerPacketParser() {
        let v4 = ipv4UDP(from: "192.168.1.10", to: "10.0.1.4", sourcePort: 1234, destinationPort: 80)
        let parsed = v4.withUnsafeBytes { InnerPacket.parse($0) }
        XCTAssertEqual(parsed?.source, address("192.168.1.10"))
        XCTAssertEqual(parsed?.destination, address("10.0.1.4"))
        XCTAssertEqual(parsed?.ipProtocol, 17)
        XCTAssertEqual(parsed?.sourcePort, 1234)
        XCTAssertEqual(parsed?.destinationPort, 80)
        // IPv6 with a hop-by-hop header before UDP.
        var v6 = ipv6UDP(from: "fd00:a::1", to: "fd00:b::2", sourcePort: 5, destinationPort: 6)
        v6[6] = 0
        v6.insert(contentsOf: [17, 0, 1, 4, 0, 0, 0, 0], at: 40)
        v6[5] &+= 8
        let parsed6 = v6.withUnsafeBytes { InnerPacket.parse($0) }
        XCTAssertEqual(parsed6?.ipProtocol, 17)
        XCTAssertEqual(parsed6?.sourcePort, 5)
        XCTAssertEqual(parsed6?.destinationPort, 6)
        // Garbage never traps; it is refused.
        for bad: [UInt8] in [
            [], [0x45], [0x45] + [UInt8](repeating: 0, count: 19), [0x50] + [UInt8](repeating: 0, count: 40),
            Array(v4.prefix(30)), Array(v6.prefix(45)), [0x4f] + [UInt8](repeating: 0xff, count: 30),
        ] {
            XCTAssertNil(bad.withUnsafeBytes { InnerPacket.parse($0) }, "\(bad.prefix(4))")
        }
        // Non-first fragments carry no ports.
        var fragment = v4
        fragment[6] = 0x00
        fragment[7] = 0x10
        XCTAssertNil(fragment.withUnsafeBytes { InnerPacket.parse($0) }?.sourcePort)
        // Every truncation of a valid packet parses or is refused without trapping.
        for length in 0...v6.count {
            _ = Array(v6.prefix(length)).withUnsafeBytes { InnerPacket.parse($0) }
        }
    }
}
