import IsthmusCrypto
import IsthmusEvents
import IsthmusTestSupport
import IsthmusWire
import XCTest

@testable import IsthmusIKEv2

/// A hostile peer: spoofed messages must not count as signs of life.
final class IKEv2HardeningTests: XCTestCase {
    private func pair(liveness: IKELiveness? = nil) -> Pair {
        Pair(initiator: configuration(office: true), responder: configuration(office: false, liveness: liveness))
    }

    /// A forged datagram with the IKE SA's SPIs and the next message ID fails integrity: it must not count as
    /// a sign of life (it used to, so a spoofer could keep a dead peer looking alive).
    func testOnlyAnAuthenticatedMessageHoldsOffTheLivenessCheck() throws {
        let pair = pair(liveness: IKELiveness(interval: .seconds(10), timeout: .seconds(30), action: .clear))
        pair.establish()
        var forged = try XCTUnwrap(pair.sent.last { $0.from == .initiator }?.datagram)
        forged.bytes[18] = IKEv2ExchangeType.informational.rawValue
        forged.bytes.replaceSubrange(20..<24, with: [0, 0, 0, 2])
        forged.bytes[forged.bytes.count - 1] ^= 0xFF
        pair.now = .seconds(9)
        pair.input(.responder, .datagram(forged))
        XCTAssertTrue(pair.kinds(.responder).contains(.messageDropped))
        let sentBefore = pair.sent.count
        XCTAssertEqual(pair.fireNextTimer { side, timer in side == .responder && timer == .liveness }?.1, .liveness)
        XCTAssertEqual(pair.now, .seconds(10))
        XCTAssertEqual(pair.sent.count, sentBefore + 1, "the liveness check goes out at 10 s, not at 19 s")
    }
}
