import IsthmusCrypto
import XCTest

@testable import IsthmusESP

/// A pair's keyed contexts exist while it carries traffic: made by the first packet, released after a minute
/// without one, made again by the next packet, with the sequence numbers and replay window untouched.
final class ESPTransformsTests: XCTestCase {
    func testContextsFollowTrafficAndComeBackAfterIdling() throws {
        for suite in [TestSuite("aes128gcm16"), TestSuite("aes256", "sha256")] {
            let name = "\(suite)"
            let (a, b) = try SAPairConfig(suite: suite).engines()
            XCTAssertEqual(a.isKeyed(inboundSPI: Sites.spiToA), false, "\(name): installed, nothing sent yet")
            let inner = ipv4UDP(from: "192.168.1.10", to: "10.0.1.4", payload: plaintextMarker)
            var now = Duration.zero
            func roundTrip(_ expected: UInt64) {
                let (result, packet) = a.seal(inner, now: now)
                guard case .packet(let sent) = result, let packet else { return XCTFail("\(name): \(result)") }
                XCTAssertEqual(sent.sequenceNumber, expected, name)
                let (received, output, _) = b.open(packet, now: now)
                guard case .packet = received else { return XCTFail("\(name): \(received)") }
                XCTAssertEqual(output, inner, name)
            }
            func tick(_ count: Int) {
                for _ in 0..<count {
                    now += .seconds(1)
                    XCTAssertEqual(a.tick(now: now), [])
                    XCTAssertEqual(b.tick(now: now), [])
                }
            }
            roundTrip(1)
            XCTAssertEqual(a.isKeyed(inboundSPI: Sites.spiToA), true, "\(name): the first packet keyed the sender")
            XCTAssertEqual(b.isKeyed(inboundSPI: Sites.spiToB), true, "\(name): and the receiver")
            // Traffic every 30 s keeps the contexts.
            for sequence in 2...4 {
                tick(30)
                roundTrip(UInt64(sequence))
            }
            // The first tick after a packet sees it; the idle time is counted from that tick.
            tick(Int(ESPTransforms.idleTimeBeforeRelease.components.seconds))
            XCTAssertEqual(a.isKeyed(inboundSPI: Sites.spiToA), true, "\(name): not idle long enough")
            tick(1)
            XCTAssertEqual(a.isKeyed(inboundSPI: Sites.spiToA), false, "\(name): a minute idle releases them")
            XCTAssertEqual(b.isKeyed(inboundSPI: Sites.spiToB), false, name)
            roundTrip(5)
            XCTAssertEqual(b.isKeyed(inboundSPI: Sites.spiToB), true, "\(name): keyed again by the next packet")
            XCTAssertEqual(a.drops.total + b.drops.total, 0, name)
        }
    }

    /// Idleness is time, not ticks: many ticks within a second (the engine ticks at once when limits are
    /// pending) do not release a busy pair's contexts.
    func testManyTicksInASecondDoNotRelease() throws {
        let (a, b) = try SAPairConfig(suite: TestSuite("aes128gcm16")).engines()
        let inner = ipv4UDP(from: "192.168.1.10", to: "10.0.1.4", payload: plaintextMarker)
        let (result, packet) = a.seal(inner, now: .seconds(1))
        guard case .packet = result, let packet else { return XCTFail("\(result)") }
        _ = b.open(packet, now: .seconds(1))
        for step in 1...1000 { _ = a.tick(now: .seconds(1) + .milliseconds(step)) }
        XCTAssertEqual(a.isKeyed(inboundSPI: Sites.spiToA), true, "a thousand ticks in one second")
        XCTAssertEqual(a.tick(now: .seconds(63)), [])
        XCTAssertEqual(a.isKeyed(inboundSPI: Sites.spiToA), false, "a minute after the tick that saw the packet")
    }
}
