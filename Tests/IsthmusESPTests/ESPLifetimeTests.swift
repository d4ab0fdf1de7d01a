import IsthmusCrypto
import IsthmusEvents
import XCTest

@testable import IsthmusESP

final class ESPLifetimeTests: XCTestCase {
    private let v4AtoB = ipv4UDP(from: "192.168.1.10", to: "10.0.1.4")
    private let v4BtoA = ipv4UDP(from: "10.0.1.4", to: "192.168.1.10", sourcePort: 53, destinationPort: 40000)

    private func seconds(_ value: Int64) -> Duration { .seconds(value) }

    func testSoftAndHardByPackets() throws {
        var config = SAPairConfig(suite: TestSuite("aes128gcm16"))
        config.a.softLifetime = ESPLifetime(packets: 2)
        config.a.hardLifetime = ESPLifetime(packets: 3)
        let (a, b) = try config.engines()
        XCTAssertNotNil(a.seal(v4AtoB).packet)
        XCTAssertFalse(a.hasPendingLifetimeEvents)
        XCTAssertEqual(a.tick(now: seconds(1)), [])
        XCTAssertNotNil(a.seal(v4AtoB).packet)
        XCTAssertTrue(a.hasPendingLifetimeEvents)
        let soft = a.tick(now: seconds(2))
        XCTAssertEqual(soft.map(\.kind), [.soft])
        XCTAssertEqual(soft.first?.trigger, .packets)
        XCTAssertFalse(a.hasPendingLifetimeEvents, "the tick reported it")
        XCTAssertEqual(soft.first?.inboundSPI, Sites.spiToA)
        XCTAssertEqual(soft.first?.outboundSPI, Sites.spiToB)
        XCTAssertEqual(a.tick(now: seconds(3)), [], "soft is reported once")
        let third = try XCTUnwrap(a.seal(v4AtoB).packet, "exactly the hard limit of packets passes")
        XCTAssertEqual(a.seal(v4AtoB).result, .drop(.saExpired))
        XCTAssertEqual(a.statistics(inboundSPI: Sites.spiToA)?.hardLifetimeReached, .packets)
        let hard = a.tick(now: seconds(4))
        XCTAssertEqual(hard.map(\.kind), [.hard])
        XCTAssertEqual(hard.first?.trigger, .packets)
        XCTAssertEqual(a.installedInboundSPIs, [], "hard expiry removes the pair")
        XCTAssertEqual(a.seal(v4AtoB).result, .drop(.noPolicy))
        XCTAssertEqual(b.open(third).inner, v4AtoB, "the peer's SA is its own business")
    }

    func testSoftAndHardByBytesInbound() throws {
        var config = SAPairConfig(suite: TestSuite("aes256", "sha256"))
        let size = UInt64(v4AtoB.count)
        config.b.softLifetime = ESPLifetime(bytes: size * 2)
        config.b.hardLifetime = ESPLifetime(bytes: size * 3 + 1)
        let (a, b) = try config.engines()
        let packets = try (0..<5).map { _ in try XCTUnwrap(a.seal(v4AtoB).packet) }
        XCTAssertNotNil(b.open(packets[0]).inner)
        XCTAssertNotNil(b.open(packets[1]).inner)
        XCTAssertEqual(b.statistics(inboundSPI: Sites.spiToB)?.softLifetimeReached, .bytes)
        XCTAssertNotNil(b.open(packets[2]).inner)
        XCTAssertNotNil(b.open(packets[3]).inner, "under the limit before this packet: it passes")
        XCTAssertEqual(b.open(packets[4]).result, .drop(.saExpired))
        XCTAssertEqual(b.statistics(inboundSPI: Sites.spiToB)?.inbound.bytes, size * 4)
        // Soft and hard both pending: tick reports the hard one (the pair is gone; rekeying is moot).
        let events = b.tick(now: seconds(1))
        XCTAssertEqual(events.map(\.kind), [.hard])
        XCTAssertEqual(events.first?.trigger, .bytes)
        XCTAssertEqual(b.open(packets[4]).result, .drop(.unknownSPI))
    }

    func testSoftAndHardByTime() throws {
        var config = SAPairConfig(suite: TestSuite("chacha20poly1305"))
        config.a.softLifetime = ESPLifetime(time: seconds(3000))
        config.a.hardLifetime = ESPLifetime(time: seconds(3600))
        let a = ESPEngine()
        let b = ESPEngine()
        try a.install(config.a, now: seconds(100))
        try b.install(config.b, now: seconds(100))
        XCTAssertEqual(a.tick(now: seconds(3099)), [])
        let soft = a.tick(now: seconds(3100))
        XCTAssertEqual(soft.map(\.kind), [.soft])
        XCTAssertEqual(soft.first?.trigger, .time)
        XCTAssertEqual(soft.first?.time, seconds(3100))
        XCTAssertEqual(a.tick(now: seconds(3200)), [])
        let late = try XCTUnwrap(a.seal(v4AtoB, now: seconds(3699)).packet)
        XCTAssertEqual(b.open(late, now: seconds(3699)).inner, v4AtoB)
        XCTAssertEqual(a.seal(v4AtoB, now: seconds(3700)).result, .drop(.saExpired), "hard time checked per packet")
        // The inbound half of the same pair stops too.
        let fromB = try XCTUnwrap(b.seal(ipv4UDP(from: "10.0.1.4", to: "192.168.1.10"), now: seconds(3700)).packet)
        XCTAssertEqual(a.open(fromB, now: seconds(3700)).result, .drop(.saExpired))
        let hard = a.tick(now: seconds(3701))
        XCTAssertEqual(hard.map(\.kind), [.hard])
        XCTAssertEqual(hard.first?.trigger, .time)
        XCTAssertEqual(a.installedInboundSPIs, [])
        XCTAssertEqual(a.drops[.saExpired], 2)
    }

    func testHardTimeWithoutTrafficIsReportedByTick() throws {
        var config = SAPairConfig(suite: TestSuite("aes128gcm16"))
        config.a.hardLifetime = ESPLifetime(time: seconds(10))
        let (a, _) = try config.engines()
        XCTAssertEqual(a.tick(now: seconds(10)).map(\.kind), [.hard], "hard without soft is reported as hard")
    }

    func testThirtyTwoBitSequenceExhaustion() throws {
        var config = SAPairConfig(suite: TestSuite("aes128", "sha256"))
        config.a.initialOutboundSequence = UInt64(UInt32.max) - 2
        let (a, b) = try config.engines()
        let next = try XCTUnwrap(a.seal(v4AtoB).packet)
        XCTAssertEqual(Array(next[4..<8]), [0xff, 0xff, 0xff, 0xfe])
        XCTAssertEqual(a.statistics(inboundSPI: Sites.spiToA)?.softLifetimeReached, .sequenceNumbers)
        let last = try XCTUnwrap(a.seal(v4AtoB).packet)
        XCTAssertEqual(Array(last[4..<8]), [0xff, 0xff, 0xff, 0xff], "2^32 - 1 is the last number sent")
        XCTAssertEqual(a.seal(v4AtoB).result, .drop(.sequenceExhausted), "never cycles to 0")
        XCTAssertEqual(a.seal(v4AtoB).result, .drop(.sequenceExhausted))
        XCTAssertEqual(a.statistics(inboundSPI: Sites.spiToA)?.outboundDrops[.sequenceExhausted], 2)
        XCTAssertEqual(b.open(next).inner, v4AtoB)
        XCTAssertEqual(b.open(last).inner, v4AtoB)
        let events = a.tick(now: seconds(1))
        XCTAssertEqual(events.map(\.kind), [.hard])
        XCTAssertEqual(events.first?.trigger, .sequenceNumbers)
    }

    func testSequenceSoftMarginAsksForRekeyOnce() throws {
        var config = SAPairConfig(suite: TestSuite("aes128gcm16"))
        config.a.initialOutboundSequence = UInt64(UInt32.max) - OutboundSequence.softMargin - 2
        let (a, _) = try config.engines()
        XCTAssertNotNil(a.seal(v4AtoB).packet)
        XCTAssertEqual(a.tick(now: .zero), [])
        XCTAssertNotNil(a.seal(v4AtoB).packet)
        let events = a.tick(now: .zero)
        XCTAssertEqual(events.map(\.kind), [.soft])
        XCTAssertEqual(events.first?.trigger, .sequenceNumbers)
        XCTAssertNotNil(a.seal(v4AtoB).packet)
        XCTAssertEqual(a.tick(now: .zero), [])
    }

    func testRekeyMakeBeforeBreak() throws {
        let suite = TestSuite("aes256gcm16")
        let old = SAPairConfig(suite: suite)
        let (a, b) = try old.engines()
        let oldPacket = try XCTUnwrap(a.seal(v4AtoB).packet)
        let new = SAPairConfig(suite: suite, spiToA: 0xA000_0002, spiToB: 0xB000_0002, keySeed: 9)
        try a.install(new.a, now: seconds(50))
        try b.install(new.b, now: seconds(50))
        XCTAssertEqual(a.policies.count, 1, "both pairs share one policy")
        XCTAssertEqual(a.policies.first?.inboundSPIs, [Sites.spiToA, 0xA000_0002])
        guard case .packet(let sent) = a.seal(v4AtoB).result else { return XCTFail("no packet") }
        XCTAssertEqual(sent.outboundSPI, 0xB000_0002, "the newest SA protects new traffic")
        let newPacket = try XCTUnwrap(a.seal(v4AtoB).packet)
        XCTAssertEqual(b.open(newPacket).inner, v4AtoB)
        XCTAssertEqual(b.open(oldPacket).inner, v4AtoB, "the old inbound SA still decrypts in-flight packets")
        XCTAssertTrue(b.remove(inboundSPI: Sites.spiToB))
        XCTAssertFalse(b.remove(inboundSPI: Sites.spiToB))
        XCTAssertEqual(b.open(oldPacket).result, .drop(.unknownSPI))
        XCTAssertEqual(b.policies.first?.inboundSPIs, [0xB000_0002])
        // Removing the newest falls back to the older pair's outbound half.
        XCTAssertTrue(a.remove(inboundSPI: 0xA000_0002))
        guard case .packet(let fallback) = a.seal(v4AtoB).result else { return XCTFail("no packet") }
        XCTAssertEqual(fallback.outboundSPI, Sites.spiToB)
        XCTAssertTrue(a.remove(inboundSPI: Sites.spiToA))
        XCTAssertEqual(a.policies, [])
    }

    /// The responder of a rekey keeps sending on the old pair until the initiator's first packet on the
    /// new one shows that the initiator has it (RFC 7296 section 2.8).
    func testResponderSwitchesOutboundOnFirstInboundPacket() throws {
        let suite = TestSuite("aes256gcm16")
        let (a, b) = try SAPairConfig(suite: suite).engines()
        let new = SAPairConfig(suite: suite, spiToA: 0xA000_0002, spiToB: 0xB000_0002, keySeed: 9)
        var responderHalf = new.b
        responderHalf.outboundStart = .afterPeersFirstPacket(fallback: seconds(10))
        try b.install(responderHalf, now: seconds(1))
        guard case .packet(let before) = b.seal(v4BtoA).result else { return XCTFail("no packet") }
        XCTAssertEqual(before.outboundSPI, Sites.spiToA, "still the old SA: the initiator may not have the new one")
        try a.install(new.a, now: seconds(1))
        let first = try XCTUnwrap(a.seal(v4AtoB).packet)
        XCTAssertEqual(b.open(first).inner, v4AtoB)
        guard case .packet(let after) = b.seal(v4BtoA).result else { return XCTFail("no packet") }
        XCTAssertEqual(after.outboundSPI, 0xA000_0002, "the initiator sends on the new SA: follow it")
    }

    func testRetiredPairNoLongerSendsButStillDecrypts() throws {
        let suite = TestSuite("aes256gcm16")
        let (a, b) = try SAPairConfig(suite: suite).engines()
        let new = SAPairConfig(suite: suite, spiToA: 0xA000_0002, spiToB: 0xB000_0002, keySeed: 9)
        try a.install(new.a, now: .zero)
        try b.install(new.b, now: .zero)
        let inFlight = try XCTUnwrap(a.seal(v4AtoB).packet)
        XCTAssertTrue(a.retireOutbound(inboundSPI: 0xA000_0002), "deleting the newer pair (a rekey collision)")
        guard case .packet(let sent) = a.seal(v4AtoB).result else { return XCTFail("no packet") }
        XCTAssertEqual(sent.outboundSPI, Sites.spiToB, "back to the pair that is not being deleted")
        XCTAssertEqual(b.open(inFlight).inner, v4AtoB)
        XCTAssertFalse(a.retireOutbound(inboundSPI: 0x1234))
    }

    /// A waiting pair never sends into an SA the peer may lack, even when it is the only one left: packets
    /// are dropped until the peer confirms (IKE saw its DELETE of the old pair) or the fallback passes.
    func testWaitingPairAloneDropsUntilConfirmedOrFallback() throws {
        let suite = TestSuite("aes128gcm16")
        let (_, b) = try SAPairConfig(suite: suite).engines()
        var responderHalf = SAPairConfig(suite: suite, spiToA: 0xA000_0002, spiToB: 0xB000_0002).b
        responderHalf.outboundStart = .afterPeersFirstPacket(fallback: seconds(10))
        try b.install(responderHalf, now: .zero)
        XCTAssertTrue(b.remove(inboundSPI: Sites.spiToB), "the old pair is deleted before any traffic came")
        XCTAssertEqual(b.seal(v4BtoA, now: seconds(1)).result, .drop(.awaitingPeer))
        XCTAssertTrue(try b.apply(.confirmOutbound(inboundSPI: 0xB000_0002), now: seconds(2)))
        guard case .packet(let sent) = b.seal(v4BtoA, now: seconds(2)).result else { return XCTFail("no packet") }
        XCTAssertEqual(sent.outboundSPI, 0xA000_0002)

        let (_, c) = try SAPairConfig(suite: suite).engines()
        try c.install(responderHalf, now: .zero)
        XCTAssertTrue(c.remove(inboundSPI: Sites.spiToB))
        XCTAssertEqual(c.seal(v4BtoA, now: seconds(9)).result, .drop(.awaitingPeer))
        guard case .packet(let late) = c.seal(v4BtoA, now: seconds(10)).result else { return XCTFail("no packet") }
        XCTAssertEqual(late.outboundSPI, 0xA000_0002, "the fallback ends the wait")
    }

    /// An SA the peer may not have yet (IKEv1 Quick Mode) is installed with its outbound half held: it
    /// decrypts at once, the older SA keeps protecting outbound traffic, and the hold ends with the first
    /// authenticated packet on it, on request, or after its time.
    func testHeldOutboundHalfWaitsForThePeer() throws {
        let suite = TestSuite("aes256", "sha1")
        let (a, b) = try SAPairConfig(suite: suite).engines()
        let new = SAPairConfig(suite: suite, spiToA: 0xA000_0002, spiToB: 0xB000_0002, keySeed: 9)
        var heldA = new.a
        heldA.outboundStart = .afterPeersFirstPacket(fallback: seconds(90))
        try a.install(heldA, now: seconds(10))
        try b.install(new.b, now: seconds(10))
        guard case .packet(let before) = a.seal(v4AtoB, now: seconds(11)).result else { return XCTFail("no packet") }
        XCTAssertEqual(before.outboundSPI, Sites.spiToB, "the old SA carries traffic while the new one is held")
        // The peer sends on the new SA: it has the keys, so the hold ends.
        let fromB = try XCTUnwrap(b.seal(v4BtoA, now: seconds(12)).packet)
        XCTAssertEqual(a.open(fromB, now: seconds(12)).inner, v4BtoA, "a held SA decrypts at once")
        guard case .packet(let after) = a.seal(v4AtoB, now: seconds(12)).result else { return XCTFail("no packet") }
        XCTAssertEqual(after.outboundSPI, 0xB000_0002)

        // Released on request (the Quick Mode's message 3), and by time.
        let (c, _) = try SAPairConfig(suite: suite).engines()
        var heldC = new.a
        heldC.outboundStart = .afterPeersFirstPacket(fallback: seconds(1))
        try c.install(heldC, now: seconds(20))
        XCTAssertEqual(c.seal(v4AtoB, now: seconds(20)).result.outboundSPI, Sites.spiToB)
        XCTAssertEqual(c.seal(v4AtoB, now: seconds(21)).result.outboundSPI, 0xB000_0002, "the hold has run out")
        let (d, _) = try SAPairConfig(suite: suite).engines()
        var heldD = new.a
        heldD.outboundStart = .afterPeersFirstPacket(fallback: seconds(90))
        try d.install(heldD, now: seconds(20))
        XCTAssertTrue(d.confirmOutbound(inboundSPI: 0xA000_0002))
        XCTAssertFalse(d.confirmOutbound(inboundSPI: 0x1234))
        XCTAssertEqual(d.seal(v4AtoB, now: seconds(20)).result.outboundSPI, 0xB000_0002)

        // The only SA of its policy, held: outbound packets wait for the peer (counted), inbound ones pass.
        let lone = ESPEngine(random: CountingRandomSource())
        try lone.install(heldD, now: .zero)
        XCTAssertEqual(lone.seal(v4AtoB, now: seconds(1)).result, .drop(.awaitingPeer))
        XCTAssertEqual(lone.drops[.awaitingPeer], 1)
    }

    func testExpiredNewestFallsBackToOlderUsableSA() throws {
        let suite = TestSuite("aes128gcm16")
        let (a, _) = try SAPairConfig(suite: suite).engines()
        var newer = SAPairConfig(suite: suite, spiToA: 0xA000_0002, spiToB: 0xB000_0002).a
        newer.hardLifetime = ESPLifetime(packets: 1)
        try a.install(newer, now: .zero)
        guard case .packet(let first) = a.seal(v4AtoB).result, case .packet(let second) = a.seal(v4AtoB).result
        else { return XCTFail("no packet") }
        XCTAssertEqual(first.outboundSPI, 0xB000_0002)
        XCTAssertEqual(second.outboundSPI, Sites.spiToB)
    }

    func testInstallValidation() throws {
        let config = SAPairConfig(suite: TestSuite("aes128gcm16"))
        let engine = ESPEngine()
        try engine.install(config.a, now: .zero)
        XCTAssertThrowsError(try engine.install(config.a, now: .zero)) { error in
            XCTAssertEqual(error as? ESPInstallError, .duplicateInboundSPI(Sites.spiToA))
        }
        var zero = config.a
        zero.inboundSPI = 0
        XCTAssertThrowsError(try engine.install(zero, now: .zero)) {
            XCTAssertEqual($0 as? ESPInstallError, .reservedSPI)
        }
        var empty = SAPairConfig(suite: TestSuite("aes128gcm16"), spiToA: 7).a
        empty.remoteSelectors = []
        XCTAssertThrowsError(try engine.install(empty, now: .zero)) {
            XCTAssertEqual($0 as? ESPInstallError, .emptySelectors)
        }
        var window = SAPairConfig(suite: TestSuite("aes128gcm16"), spiToA: 8).a
        window.replayWindowSize = ReplayWindow.maximumSize + 1
        XCTAssertThrowsError(try engine.install(window, now: .zero)) {
            XCTAssertEqual($0 as? ESPInstallError, .invalidReplayWindow(4097))
        }
        var shortKey = SAPairConfig(suite: TestSuite("aes128gcm16"), spiToA: 9).a
        shortKey.outboundEncryptionKey = SecretBytesFactory.make(count: 5)
        XCTAssertThrowsError(try engine.install(shortKey, now: .zero)) { error in
            guard case .crypto = error as? ESPInstallError else { return XCTFail("\(error)") }
        }
        var noIntegrity = SAPairConfig(suite: TestSuite("aes128", "sha1"), spiToA: 10).a
        noIntegrity.integrity = nil
        XCTAssertThrowsError(try engine.install(noIntegrity, now: .zero))
        XCTAssertEqual(engine.installedInboundSPIs, [Sites.spiToA])
    }

    func testLifetimeEventsBecomeGatewayEvents() {
        let event = ESPLifetimeEvent(
            kind: .soft, trigger: .bytes, inboundSPI: 0xc1, outboundSPI: 0x520462f0, connection: "hq", time: .seconds(5)
        )
        let gateway = event.gatewayEvent
        XCTAssertEqual(gateway.kind, .childSASoftExpired)
        XCTAssertEqual(gateway.kind.rawValue, "child-sa-soft-expired")
        XCTAssertEqual(gateway.saIDs, ["esp 0x000000c1", "esp 0x520462f0"])
        XCTAssertEqual(gateway.connection, "hq")
        XCTAssertEqual(gateway.details["trigger"], "bytes")
        XCTAssertEqual(event.description, "esp 0x000000c1/0x520462f0 soft lifetime reached (rekey): bytes")
        var hard = event
        hard.kind = .hard
        XCTAssertEqual(hard.gatewayEvent.kind, .childSAHardExpired)
    }

    func testDropCountersDescription() {
        var counters = ESPDropCounters()
        XCTAssertEqual(counters.description, "none")
        counters.count(.replayed)
        counters.count(.replayed)
        counters.count(.noPolicy)
        XCTAssertEqual(counters.description, "replayed=2 no-policy=1")
        XCTAssertEqual(counters.total, 3)
        for reason in ESPDropReason.allCases {
            var single = ESPDropCounters()
            single.count(reason)
            XCTAssertEqual(single[reason], 1, "\(reason)")
            XCTAssertEqual(single.total, 1)
        }
    }
}

enum SecretBytesFactory {
    static func make(count: Int) -> SecretBytes { SecretBytes([UInt8](repeating: 7, count: count)) }
}

final class ESPPolicyDatabaseTests: XCTestCase {
    func testPoliciesMatchInInstallationOrder() throws {
        let suite = TestSuite("aes128gcm16")
        let engine = ESPEngine()
        var broad = SAPairConfig(suite: suite, spiToA: 0xA1, spiToB: 0xB1).a
        broad.remoteSelectors = [selector("10.0.0.0/8")]
        var narrow = SAPairConfig(suite: suite, spiToA: 0xA2, spiToB: 0xB2).a
        narrow.remoteSelectors = [selector("10.0.1.0/24")]
        try engine.install(broad, now: .zero)
        try engine.install(narrow, now: .zero)
        XCTAssertEqual(engine.policies.map(\.inboundSPIs), [[0xA1], [0xA2]])
        guard case .packet(let sent) = engine.seal(ipv4UDP(from: "192.168.1.1", to: "10.0.1.4")).result else {
            return XCTFail("no packet")
        }
        XCTAssertEqual(sent.outboundSPI, 0xB1, "first match wins (RFC 4301 4.4.1): the daemon orders the SPD")
        engine.remove(inboundSPI: 0xA1)
        guard case .packet(let after) = engine.seal(ipv4UDP(from: "192.168.1.1", to: "10.0.1.4")).result else {
            return XCTFail("no packet")
        }
        XCTAssertEqual(after.outboundSPI, 0xB2)
        XCTAssertEqual(engine.seal(ipv4UDP(from: "192.168.1.1", to: "10.9.0.1")).result, .drop(.noPolicy))
    }

    func testConfiguredReplayWindowSize() throws {
        var config = SAPairConfig(suite: TestSuite("aes128gcm16"))
        config.b.replayWindowSize = 64
        let (a, b) = try config.engines()
        let packets = try (0..<100).map { _ in
            try XCTUnwrap(a.seal(ipv4UDP(from: "192.168.1.1", to: "10.0.1.1")).packet)
        }
        XCTAssertNotNil(b.open(packets[99]).inner)
        XCTAssertNotNil(b.open(packets[36]).inner, "seq 37 = 100 - 64 + 1")
        XCTAssertEqual(b.open(packets[35]).result, .drop(.tooOld))
    }
}

extension ESPEncapsulationResult {
    /// The SPI the packet was sealed for, nil for a drop.
    var outboundSPI: UInt32? {
        if case .packet(let packet) = self { return packet.outboundSPI }
        return nil
    }
}
