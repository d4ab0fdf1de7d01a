import XCTest

@testable import IsthmusESP

final class ReplayWindowTests: XCTestCase {
    /// Check then update, as the engine does after a packet authenticated.
    private func receive(_ window: inout ReplayWindow, _ low: UInt32) -> ReplayWindow.Verdict {
        let verdict = window.check(sequence: low)
        if case .fresh(let full) = verdict { XCTAssertTrue(window.update(sequence: full)) }
        return verdict
    }

    func testInOrderDuplicateAndZero() {
        var window = ReplayWindow(extendedSequenceNumbers: false)
        XCTAssertEqual(window.size, ReplayWindow.defaultSize)
        XCTAssertEqual(window.check(sequence: 0), .tooOld, "sequence number 0 is never sent (RFC 4303 3.3.3)")
        for sequence in UInt32(1)...100 {
            XCTAssertEqual(receive(&window, sequence), .fresh(UInt64(sequence)))
        }
        XCTAssertEqual(window.top, 100)
        XCTAssertEqual(window.check(sequence: 100), .replayed)
        XCTAssertEqual(window.check(sequence: 1), .replayed)
        XCTAssertFalse(window.update(sequence: 50), "a second update of the same number is refused")
    }

    func testOutOfOrderWithinWindowAndTooOld() {
        var window = ReplayWindow(size: 64, extendedSequenceNumbers: false)
        XCTAssertEqual(receive(&window, 200), .fresh(200))
        XCTAssertEqual(receive(&window, 150), .fresh(150), "inside the window, not seen: accepted")
        XCTAssertEqual(receive(&window, 137), .fresh(137), "the window's bottom edge (200 - 64 + 1)")
        XCTAssertEqual(window.check(sequence: 136), .tooOld)
        XCTAssertEqual(window.check(sequence: 150), .replayed)
        XCTAssertEqual(window.check(sequence: 1), .tooOld)
        // Sliding by less than the window keeps the remembered bits that are still inside.
        XCTAssertEqual(receive(&window, 210), .fresh(210))
        XCTAssertEqual(window.check(sequence: 150), .replayed)
        XCTAssertEqual(window.check(sequence: 146), .tooOld)
        XCTAssertEqual(receive(&window, 147), .fresh(147))
        // A jump larger than the whole bitmap clears it.
        XCTAssertEqual(receive(&window, 10_000), .fresh(10_000))
        XCTAssertEqual(window.check(sequence: 9_999), .fresh(9_999))
        XCTAssertEqual(window.check(sequence: 9_936), .tooOld)
        XCTAssertEqual(window.check(sequence: 210), .tooOld)
    }

    func testBitsOfSlidOutNumbersAreCleared() {
        // The ring reuses a bit for s and s + 64: sliding must clear it or s + 64 would look replayed.
        var window = ReplayWindow(size: 64, extendedSequenceNumbers: false)
        for sequence in UInt32(1)...64 { _ = receive(&window, sequence) }
        for sequence in UInt32(65)...200 {
            XCTAssertEqual(receive(&window, sequence), .fresh(UInt64(sequence)), "\(sequence)")
        }
        var sparse = ReplayWindow(size: 100, extendedSequenceNumbers: false)
        XCTAssertEqual(receive(&sparse, 5), .fresh(5))
        XCTAssertEqual(receive(&sparse, 133), .fresh(133), "same bit as 5 in a 128-bit ring")
        XCTAssertEqual(sparse.check(sequence: 5), .tooOld)
        XCTAssertEqual(sparse.check(sequence: 34), .fresh(34), "bottom of a 100-packet window")
        XCTAssertEqual(sparse.check(sequence: 33), .tooOld)
    }

    func testUnauthenticatedCheckDoesNotMoveTheWindow() {
        var window = ReplayWindow(extendedSequenceNumbers: false)
        _ = receive(&window, 1)
        XCTAssertEqual(window.check(sequence: 4_000_000_000), .fresh(4_000_000_000))
        // Not updated: the forged packet failed its ICV. Old numbers are still fine.
        XCTAssertEqual(window.top, 1)
        XCTAssertEqual(receive(&window, 2), .fresh(2))
    }

    func testSizeLimits() {
        XCTAssertEqual(ReplayWindow(size: ReplayWindow.maximumSize, extendedSequenceNumbers: true).size, 4096)
        XCTAssertEqual(ReplayWindow(size: 1, extendedSequenceNumbers: false).size, 1)
        var single = ReplayWindow(size: 1, extendedSequenceNumbers: false)
        XCTAssertEqual(receive(&single, 3), .fresh(3))
        XCTAssertEqual(single.check(sequence: 2), .tooOld)
        XCTAssertEqual(single.check(sequence: 3), .replayed)
    }

    // MARK: ESN (RFC 4303 Appendix A2.2)

    func testESNReconstructionCaseAWithinOneSubspace() {
        let high: UInt64 = 5 << 32
        var window = ReplayWindow(size: 64, extendedSequenceNumbers: true, top: high | 1000)
        XCTAssertEqual(window.check(sequence: 1001), .fresh(high | 1001))
        XCTAssertEqual(window.check(sequence: 937), .fresh(high | 937), "bottom of the window: same subspace")
        // Left of the window: taken as the next subspace (Seqh = Th + 1); the ICV then decides.
        XCTAssertEqual(window.check(sequence: 936), .fresh((6 << 32) | 936))
        XCTAssertEqual(receive(&window, 1001), .fresh(high | 1001))
        XCTAssertEqual(window.check(sequence: 1001), .replayed)
    }

    func testESNReconstructionCaseBAcrossTheBoundary() {
        // Top just past 2^32: the window's bottom lies in the previous subspace.
        let top: UInt64 = (1 << 32) + 10
        var window = ReplayWindow(size: 64, extendedSequenceNumbers: true, top: top)
        XCTAssertEqual(window.check(sequence: UInt32.max), .fresh(UInt64(UInt32.max)), "Seqh = Th - 1")
        XCTAssertEqual(window.check(sequence: UInt32.max - 52), .fresh(UInt64(UInt32.max) - 52), "the bottom")
        XCTAssertEqual(window.check(sequence: 11), .fresh(top + 1), "Seqh = Th")
        XCTAssertEqual(window.check(sequence: 0), .fresh(1 << 32), "low 0 is valid once the high half is 1")
        XCTAssertEqual(receive(&window, UInt32.max - 1), .fresh(UInt64(UInt32.max) - 1))
        XCTAssertEqual(window.check(sequence: UInt32.max - 1), .replayed)
        XCTAssertEqual(window.top, top, "an older number does not move the top")
    }

    func testESNCrossingTheBoundaryInOrder() {
        var window = ReplayWindow(size: 128, extendedSequenceNumbers: true, top: UInt64(UInt32.max) - 5)
        var expected = UInt64(UInt32.max) - 4
        for _ in 0..<20 {
            XCTAssertEqual(receive(&window, UInt32(truncatingIfNeeded: expected)), .fresh(expected))
            expected += 1
        }
        XCTAssertEqual(window.top, (1 << 32) + 14)
        XCTAssertEqual(window.check(sequence: UInt32.max), .replayed)
        XCTAssertEqual(window.check(sequence: 3), .replayed)
    }

    func testESNBeforeTheFirstSubspaceIsTooOld() {
        // Case B with Th = 0: a number "below" sequence 1 cannot exist.
        let window = ReplayWindow(size: 64, extendedSequenceNumbers: true, top: 10)
        XCTAssertEqual(window.check(sequence: UInt32.max), .tooOld)
        XCTAssertEqual(window.check(sequence: 0), .tooOld)
        XCTAssertEqual(window.check(sequence: 5), .fresh(5))
    }

    func testWithoutESNHighNumbersStayIn32Bits() {
        let window = ReplayWindow(size: 64, extendedSequenceNumbers: false, top: 1000)
        XCTAssertEqual(window.check(sequence: 500), .tooOld, "no ESN: never reinterpreted as the next subspace")
        XCTAssertEqual(window.check(sequence: UInt32.max), .fresh(UInt64(UInt32.max)))
    }

    // MARK: Outbound counter (RFC 4303 3.3.3)

    func testOutboundSequenceNeverCycles() {
        var counter = OutboundSequence(extendedSequenceNumbers: false, last: UInt64(UInt32.max) - 2)
        XCTAssertEqual(counter.next(), UInt64(UInt32.max) - 1)
        XCTAssertTrue(counter.isNearExhaustion)
        XCTAssertEqual(counter.next(), UInt64(UInt32.max))
        XCTAssertTrue(counter.isExhausted)
        XCTAssertNil(counter.next())
        XCTAssertNil(counter.next())
        XCTAssertEqual(counter.last, UInt64(UInt32.max))

        var esn = OutboundSequence(extendedSequenceNumbers: true, last: UInt64(UInt32.max))
        XCTAssertEqual(esn.next(), 1 << 32, "ESN continues past 2^32")
        XCTAssertFalse(esn.isNearExhaustion)
        var fresh = OutboundSequence(extendedSequenceNumbers: false)
        XCTAssertEqual(fresh.next(), 1, "the first packet carries 1")
    }
}
