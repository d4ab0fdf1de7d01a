import IsthmusCrypto
import IsthmusIP
import IsthmusTestSupport
import IsthmusWire
import XCTest

@testable import IsthmusESP

final class ESPEngineDropTests: XCTestCase {
    private let v4AtoB = ipv4UDP(from: "192.168.1.10", to: "10.0.1.4")
    private let v4BtoA = ipv4UDP(from: "10.0.1.4", to: "192.168.1.10")

    /// Builds an ESP packet to B's inbound SA with the crypto layer directly, so the plaintext
    /// (padding, Next Header) can be anything. Without ESN.
    private func craft(
        suite: TestSuite, plaintext: [UInt8], spi: UInt32 = Sites.spiToB, sequence: UInt32 = 1, keySeed: UInt8 = 1
    ) throws -> [UInt8] {
        let keys = suite.keys(seed: keySeed)
        let protection = try CryptoSuites.makeProtection(
            encryptionID: suite.encryption.ikev2ID, keyBits: suite.encryption.keyLengthBits,
            encryptionKey: keys.encryption, integrityID: suite.integrity?.ikev2ID, integrityKey: keys.integrity)
        var packet =
            withUnsafeBytes(of: spi.bigEndian, Array.init) + withUnsafeBytes(of: sequence.bigEndian, Array.init)
        packet += (0..<protection.ivLength).map { UInt8($0) &+ 0x31 }
        packet += plaintext + [UInt8](repeating: 0, count: protection.icvLength)
        try packet.withUnsafeMutableBytes { buffer in
            try protection.seal(
                UnsafeMutableRawBufferPointer(rebasing: buffer[8...]),
                associatedData: UnsafeRawBufferPointer(rebasing: buffer[0..<8]))
        }
        return packet
    }

    /// `inner` followed by `padding`, Pad Length and Next Header.
    private func payload(_ inner: [UInt8], padding: [UInt8], padLength: UInt8? = nil, nextHeader: UInt8 = 4) -> [UInt8]
    {
        inner + padding + [padLength ?? UInt8(padding.count), nextHeader]
    }

    /// The correct padding for `inner` under `suite`, so that only the tested field is wrong.
    private func goodPadding(_ inner: [UInt8], _ suite: TestSuite) throws -> [UInt8] {
        let protection = try CryptoSuites.makeProtection(
            encryptionID: suite.encryption.ikev2ID, keyBits: suite.encryption.keyLengthBits,
            encryptionKey: suite.keys(seed: 1).encryption, integrityID: suite.integrity?.ikev2ID,
            integrityKey: suite.keys(seed: 1).integrity)
        let count = ESPTrailer.padLength(payloadLength: inner.count, blockSize: protection.blockSize)
        return (0..<count).map { UInt8($0 + 1) }
    }

    func testCraftedPacketWithCorrectPaddingIsAccepted() throws {
        for suite in [TestSuite("aes128gcm16"), TestSuite("aes256", "sha256"), TestSuite("3des", "sha1")] {
            let (_, b) = try SAPairConfig(suite: suite).engines()
            let packet = try craft(suite: suite, plaintext: payload(v4AtoB, padding: try goodPadding(v4AtoB, suite)))
            XCTAssertEqual(b.open(packet).inner, v4AtoB, "\(suite): the crafting helper itself is right")
        }
    }

    func testWrongPaddingIsDropped() throws {
        for suite in [TestSuite("aes128gcm16"), TestSuite("aes256", "sha256"), TestSuite("chacha20poly1305")] {
            let (_, b) = try SAPairConfig(suite: suite).engines()
            var sequence: UInt32 = 1
            var cases: [[UInt8]] = []
            // Padding bytes not 1, 2, 3, ... (RFC 4303 2.4).
            var wrong = try goodPadding(v4AtoB, suite)
            if wrong.isEmpty { wrong = suite.encryption.isAEAD ? [1, 2, 3, 4] : Array(1...16) }
            var zeros = wrong
            zeros[zeros.count - 1] = 0
            cases.append(payload(v4AtoB, padding: zeros))
            var swapped = wrong
            swapped.swapAt(0, swapped.count - 1)
            if swapped != wrong { cases.append(payload(v4AtoB, padding: swapped)) }
            // Pad Length larger than the whole payload.
            cases.append(payload(v4AtoB, padding: wrong, padLength: 255))
            for plaintext in cases {
                let packet = try craft(suite: suite, plaintext: plaintext, sequence: sequence)
                sequence += 1
                XCTAssertEqual(b.open(packet).result, .drop(.badPadding), "\(suite)")
            }
            XCTAssertEqual(b.statistics(inboundSPI: Sites.spiToB)?.inboundDrops[.badPadding], UInt64(cases.count))
            XCTAssertEqual(b.drops[.badPadding], UInt64(cases.count))
        }
    }

    func testNextHeaderChecks() throws {
        let suite = TestSuite("aes128gcm16")
        let (_, b) = try SAPairConfig(suite: suite).engines()
        let padding = try goodPadding(v4AtoB, suite)
        // TCP (6) is not a tunnel-mode Next Header.
        let tcp = try craft(suite: suite, plaintext: payload(v4AtoB, padding: padding, nextHeader: 6), sequence: 1)
        XCTAssertEqual(b.open(tcp).result, .drop(.badNextHeader))
        // 59: an authenticated dummy packet is discarded silently (RFC 4303 2.6), not counted as a drop.
        let dummy = try craft(suite: suite, plaintext: payload([0xde, 0xad], padding: [], nextHeader: 59), sequence: 2)
        XCTAssertEqual(b.open(dummy).result, .dummy(inboundSPI: Sites.spiToB))
        XCTAssertEqual(b.statistics(inboundSPI: Sites.spiToB)?.dummyPackets, 1)
        // Next Header 41 announcing an IPv4 packet.
        let mismatch = try craft(
            suite: suite, plaintext: payload(v4AtoB, padding: padding, nextHeader: 41), sequence: 3)
        XCTAssertEqual(b.open(mismatch).result, .drop(.malformedInnerPacket))
        // Not an IP packet at all.
        let garbage = try craft(suite: suite, plaintext: payload([0x99, 1, 2, 3], padding: []), sequence: 4)
        XCTAssertEqual(b.open(garbage).result, .drop(.malformedInnerPacket))
        XCTAssertEqual(b.drops.total, 3)
    }

    func testReplayDuplicateTooOldAndOutOfOrder() throws {
        let (a, b) = try SAPairConfig(suite: TestSuite("aes256gcm16")).engines()
        var packets: [[UInt8]] = []
        for _ in 0..<1100 { packets.append(try XCTUnwrap(a.seal(v4AtoB).packet)) }
        XCTAssertEqual(b.open(packets[1099]).inner, v4AtoB, "seq 1100")
        XCTAssertEqual(b.open(packets[1099]).result, .drop(.replayed))
        XCTAssertEqual(b.open(packets[1050]).inner, v4AtoB, "seq 1051: out of order, inside the window")
        XCTAssertEqual(b.open(packets[76]).inner, v4AtoB, "seq 77: exactly the bottom of 1024")
        XCTAssertEqual(b.open(packets[75]).result, .drop(.tooOld), "seq 76: left of the window")
        XCTAssertEqual(b.open(packets[0]).result, .drop(.tooOld))
        XCTAssertEqual(b.open(packets[1050]).result, .drop(.replayed))
        let stats = try XCTUnwrap(b.statistics(inboundSPI: Sites.spiToB))
        XCTAssertEqual(stats.inboundDrops[.replayed], 2)
        XCTAssertEqual(stats.inboundDrops[.tooOld], 2)
        XCTAssertEqual(stats.inbound.packets, 3)
    }

    func testForgedPacketWithHugeSequenceDoesNotAdvanceTheWindow() throws {
        for suite in [TestSuite("aes128gcm16"), TestSuite("aes128", "sha256")] {
            let (a, b) = try SAPairConfig(suite: suite).engines()
            let first = try XCTUnwrap(a.seal(v4AtoB).packet)
            // Right SPI, huge sequence number, wrong key: fails integrity.
            let forged = try craft(
                suite: suite, plaintext: payload(v4AtoB, padding: try goodPadding(v4AtoB, suite)),
                sequence: 4_000_000_000, keySeed: 77)
            XCTAssertEqual(b.open(forged).result, .drop(.integrityFailure), "\(suite)")
            // Also a genuine packet whose sequence number was rewritten.
            var rewritten = try XCTUnwrap(a.seal(v4AtoB).packet)
            rewritten[4] = 0xff
            XCTAssertEqual(b.open(rewritten).result, .drop(.integrityFailure), "\(suite)")
            XCTAssertEqual(b.statistics(inboundSPI: Sites.spiToB)?.highestInboundSequence, 0)
            XCTAssertEqual(b.open(first).inner, v4AtoB, "\(suite): seq 1 still fresh")
        }
    }

    func testEveryBitFlipIsAnIntegrityFailureAndExposesNoPlaintext() throws {
        let suites = [
            TestSuite("aes128gcm16"), TestSuite("aes128gcm8"), TestSuite("chacha20poly1305"),
            TestSuite("aes256", "sha256"), TestSuite("3des", "sha1"),
        ]
        for suite in suites {
            let (a, b) = try SAPairConfig(suite: suite).engines()
            for _ in 0..<4 { _ = a.seal(v4AtoB) }
            let packet = try XCTUnwrap(a.seal(v4AtoB).packet)  // sequence 5, none delivered yet
            var failures: UInt64 = 0
            for index in 0..<packet.count {
                for bit in 0..<8 {
                    var flipped = packet
                    flipped[index] ^= 1 << bit
                    let (result, inner, buffer) = b.open(flipped)
                    XCTAssertNil(inner)
                    if index < 4 {
                        XCTAssertEqual(result, .drop(.unknownSPI), "\(suite) byte \(index)")
                    } else {
                        XCTAssertEqual(result, .drop(.integrityFailure), "\(suite) byte \(index) bit \(bit)")
                        failures += 1
                    }
                    XCTAssertFalse(contains(buffer, plaintextMarker), "\(suite) byte \(index): plaintext exposed")
                }
            }
            XCTAssertEqual(b.statistics(inboundSPI: Sites.spiToB)?.inboundDrops[.integrityFailure], failures)
            XCTAssertEqual(b.drops[.unknownSPI], 32)
            XCTAssertEqual(b.open(packet).inner, v4AtoB, "\(suite): the untouched packet still decrypts")
        }
    }

    func testUnknownSPITruncatedAndOversized() throws {
        let suite = TestSuite("aes128", "sha1")
        let (a, b) = try SAPairConfig(suite: suite).engines()
        let packet = try XCTUnwrap(a.seal(v4AtoB).packet)
        var unknown = packet
        unknown[3] ^= 0x55
        XCTAssertEqual(b.open(unknown).result, .drop(.unknownSPI))
        XCTAssertEqual(b.open([0, 0, 0, 0, 0, 0, 0, 1, 2, 3]).result, .drop(.unknownSPI), "SPI 0 is reserved")
        for length in 0..<8 {
            XCTAssertEqual(b.open(Array(packet.prefix(length))).result, .drop(.truncated), "\(length)")
        }
        // Shorter than header + IV + trailer + ICV, or not whole blocks: truncated; whole blocks: ICV fails.
        for length in 8..<packet.count {
            let result = b.open(Array(packet.prefix(length))).result
            let body = length - 8 - 16 - 12
            let expected: ESPDropReason = body >= 2 && body % 16 == 0 ? .integrityFailure : .truncated
            XCTAssertEqual(result, .drop(expected), "length \(length)")
        }
        XCTAssertEqual(b.open(packet + [UInt8](repeating: 0, count: 65_536 - packet.count)).result, .drop(.oversized))
        XCTAssertEqual(b.open(packet).inner, v4AtoB)
        XCTAssertEqual(b.drops[.unknownSPI], 2)
        XCTAssertEqual(b.drops[.oversized], 1)
    }

    func testEncapsulationWithoutRoomOrWithAnOversizedInnerPacket() throws {
        let (a, _) = try SAPairConfig(suite: TestSuite("aes256", "sha512")).engines()
        // Not enough headroom for header + 16-byte IV.
        var buffer = [UInt8](repeating: 0, count: 200)
        let inner = 10..<(10 + v4AtoB.count)
        buffer.replaceSubrange(inner, with: v4AtoB)
        XCTAssertEqual(
            buffer.withUnsafeMutableBytes { a.encapsulate(innerPacketAt: inner, in: $0, now: .zero) },
            .drop(.oversized))
        // Not enough tailroom for padding and a 32-byte ICV.
        var tight = [UInt8](repeating: 0, count: ESPEngine.requiredHeadroom + v4AtoB.count + 20)
        let range = ESPEngine.requiredHeadroom..<(ESPEngine.requiredHeadroom + v4AtoB.count)
        tight.replaceSubrange(range, with: v4AtoB)
        XCTAssertEqual(
            tight.withUnsafeMutableBytes { a.encapsulate(innerPacketAt: range, in: $0, now: .zero) },
            .drop(.oversized))
        XCTAssertEqual(a.statistics(inboundSPI: Sites.spiToA)?.lastOutboundSequence, 0, "no number consumed")
        // An inner packet larger than any IP packet.
        var huge = [UInt8](repeating: 0, count: 70_000)
        XCTAssertEqual(
            huge.withUnsafeMutableBytes { a.encapsulate(innerPacketAt: 100..<65_700, in: $0, now: .zero) },
            .drop(.oversized))
        XCTAssertEqual(a.drops[.oversized], 3)
        // Not an IP packet.
        XCTAssertEqual(a.seal([0x12, 0x34, 0x56]).result, .drop(.malformedInnerPacket))
    }

    func testNoPolicyProducesNothing() throws {
        let (a, _) = try SAPairConfig(suite: TestSuite("aes128gcm16")).engines()
        for inner in [
            ipv4UDP(from: "192.168.2.1", to: "10.0.1.4"),  // source outside our selectors
            ipv4UDP(from: "192.168.1.1", to: "10.0.2.4"),  // destination outside theirs
            ipv4UDP(from: "10.0.1.4", to: "192.168.1.10"),  // reversed
            ipv6UDP(from: "fd00:a::1", to: "fd00:c::1"),
        ] {
            var buffer = [UInt8](
                repeating: 0, count: ESPEngine.requiredHeadroom + inner.count + ESPEngine.requiredTailroom)
            let range = ESPEngine.requiredHeadroom..<(ESPEngine.requiredHeadroom + inner.count)
            buffer.replaceSubrange(range, with: inner)
            let before = buffer
            let result = buffer.withUnsafeMutableBytes { a.encapsulate(innerPacketAt: range, in: $0, now: .zero) }
            XCTAssertEqual(result, .drop(.noPolicy))
            XCTAssertEqual(buffer, before, "nothing written: the packet is never sent in clear or half-built")
        }
        XCTAssertEqual(a.drops[.noPolicy], 4)
        XCTAssertEqual(ESPEngine().seal(v4AtoB).result, .drop(.noPolicy), "an empty SPD protects nothing")
    }

    func testInboundSelectorMismatchIsDropped() throws {
        // A misbehaving peer: B's SA claims 10.0.0.0/8 but A negotiated only 10.0.1.0/24 for it.
        var config = SAPairConfig(suite: TestSuite("aes128gcm16"))
        config.b.localSelectors = [selector("10.0.0.0/8")]
        config.b.remoteSelectors = [selector("192.168.0.0/16")]
        let (a, b) = try config.engines()
        let spoofedSource = try XCTUnwrap(b.seal(ipv4UDP(from: "10.9.9.9", to: "192.168.1.10")).packet)
        XCTAssertEqual(a.open(spoofedSource).result, .drop(.selectorMismatch))
        let wrongDestination = try XCTUnwrap(b.seal(ipv4UDP(from: "10.0.1.4", to: "192.168.7.7")).packet)
        XCTAssertEqual(a.open(wrongDestination).result, .drop(.selectorMismatch))
        XCTAssertEqual(a.open(try XCTUnwrap(b.seal(v4BtoA).packet)).inner, v4BtoA)
        XCTAssertEqual(a.statistics(inboundSPI: Sites.spiToA)?.inboundDrops[.selectorMismatch], 2)
        XCTAssertEqual(a.statistics(inboundSPI: Sites.spiToA)?.inbound.packets, 1)
    }

    func testPortAndProtocolSelectors() throws {
        // Only DNS over UDP from A's subnet to B's resolver is protected.
        let dns = TrafficSelector(
            startAddress: address("10.0.1.53"), endAddress: address("10.0.1.53"), ipProtocol: 17, startPort: 53,
            endPort: 53)
        var config = SAPairConfig(suite: TestSuite("aes128gcm16"))
        config.a.remoteSelectors = [dns]
        config.b.localSelectors = [dns]
        let (a, b) = try config.engines()
        let query = ipv4UDP(from: "192.168.1.10", to: "10.0.1.53", destinationPort: 53)
        XCTAssertEqual(b.open(try XCTUnwrap(a.seal(query).packet)).inner, query)
        XCTAssertEqual(
            a.seal(ipv4UDP(from: "192.168.1.10", to: "10.0.1.53", destinationPort: 54)).result,
            .drop(.noPolicy))
        var tcp = query
        tcp[9] = 6
        XCTAssertEqual(a.seal(tcp).result, .drop(.noPolicy))
        let answer = ipv4UDP(from: "10.0.1.53", to: "192.168.1.10", sourcePort: 53, destinationPort: 40000)
        XCTAssertEqual(a.open(try XCTUnwrap(b.seal(answer).packet)).inner, answer)
        let fromOtherPort = ipv4UDP(from: "10.0.1.53", to: "192.168.1.10", sourcePort: 5353, destinationPort: 40000)
        XCTAssertEqual(b.seal(fromOtherPort).result, .drop(.noPolicy))
    }
}

final class ESPEngineRobustnessTests: XCTestCase {
    func testRandomPacketsWithAValidSPINeverTrapAndAreAllDropped() throws {
        var generator = SplitMix64(seed: 42)
        for suite in [TestSuite("aes128gcm16"), TestSuite("aes128", "sha1"), TestSuite("3des", "sha1")] {
            let (_, b) = try SAPairConfig(suite: suite).engines()
            for _ in 0..<2000 {
                let length = Int.random(in: 0...200, using: &generator)
                var packet = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
                if length >= 4, Bool.random(using: &generator) {
                    packet.replaceSubrange(0..<4, with: [0xB0, 0x00, 0x00, 0x01])
                }
                guard case .drop = b.open(packet).result else { return XCTFail("\(suite): random bytes accepted") }
            }
            XCTAssertEqual(b.drops.total, 2000)
        }
    }

    func testRandomInnerPacketsNeverTrap() throws {
        var generator = SplitMix64(seed: 7)
        let (a, b) = try SAPairConfig(suite: TestSuite("aes256gcm16")).engines()
        var sent = 0
        for round in 0..<3000 {
            var inner = ipv4UDP(from: "192.168.1.10", to: "10.0.1.4")
            if round % 2 == 0 { inner = ipv6UDP(from: "fd00:a::1", to: "fd00:b::1") }
            // Corrupt a few header bytes, and sometimes the length.
            for _ in 0..<3 {
                let index = Int.random(in: 0..<min(inner.count, 48), using: &generator)
                inner[index] = UInt8.random(in: 0...255, using: &generator)
            }
            if Bool.random(using: &generator) {
                inner = Array(inner.prefix(Int.random(in: 0...inner.count, using: &generator)))
            }
            if case .packet = a.seal(inner).result {
                sent += 1
            }
        }
        XCTAssertGreaterThan(sent, 0)
        XCTAssertEqual(UInt64(sent) + a.drops.total, 3000)
        XCTAssertEqual(b.drops.total, 0)
    }

    func testOutputLargerThanAnIPPacketIsRefused() throws {
        let (a, _) = try SAPairConfig(suite: TestSuite("aes128gcm16")).engines()
        let payload = [UInt8](repeating: 0x55, count: InnerPacket.maximumLength - 28)
        let inner = ipv4UDP(from: "192.168.1.10", to: "10.0.1.4", payload: payload)
        XCTAssertEqual(inner.count, InnerPacket.maximumLength)
        XCTAssertEqual(a.seal(inner).result, .drop(.oversized), "ESP overhead pushes it past 65535")
        XCTAssertEqual(a.statistics(inboundSPI: Sites.spiToA)?.lastOutboundSequence, 0)
    }
}
