import IsthmusIKE
import IsthmusTestSupport
import XCTest

/// The cores decide an ESP pair's lifetimes once (``ChildSALifetimes``): the data plane takes them as given.
final class ChildSALifetimesTests: XCTestCase {
    func testSoftBytesAreJitteredBelowTheHardLimit() {
        var random = SplitMix64(seed: 0x11FE)
        var seen = Set<UInt64>()
        for _ in 0..<200 {
            let (soft, hard) = ChildSALifetimes.esp(
                softTime: .seconds(3000), hardTime: .seconds(3600), hardBytes: 1_000_000, random: &random)
            XCTAssertEqual(hard, ESPLifetime(time: .seconds(3600), bytes: 1_000_000))
            XCTAssertEqual(soft.time, .seconds(3000))
            let bytes = try! XCTUnwrap(soft.bytes)
            XCTAssertTrue((800_000...900_000).contains(bytes), "\(bytes)")
            seen.insert(bytes)
        }
        XCTAssertGreaterThan(seen.count, 50, "the fraction varies, so two peers rarely rekey at once")
    }

    func testNoByteLimitDrawsNoRandomNumber() {
        var random = SplitMix64(seed: 7)
        var before = random
        let (soft, hard) = ChildSALifetimes.esp(
            softTime: .seconds(50), hardTime: .seconds(60), hardBytes: nil, random: &random)
        XCTAssertEqual(soft, ESPLifetime(time: .seconds(50)))
        XCTAssertEqual(hard, ESPLifetime(time: .seconds(60)))
        XCTAssertEqual(random.next(), before.next(), "capture-replay tests rely on the cores' random sequence")
    }
}
