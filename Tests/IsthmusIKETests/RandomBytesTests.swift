import XCTest

@testable import IsthmusIKE

/// Random bytes take eight bytes from each `next()` of the generator.
final class RandomBytesTests: XCTestCase {
    private struct Counting: RandomNumberGenerator {
        var calls = 0
        mutating func next() -> UInt64 {
            calls += 1
            return 0x0807_0605_0403_0201 &* UInt64(calls)
        }
    }

    func testEightBytesPerNumberAndEveryLength() {
        var generator = Counting()
        XCTAssertEqual(generator.bytes(11), [1, 2, 3, 4, 5, 6, 7, 8, 2, 4, 6])
        XCTAssertEqual(generator.calls, 2, "11 bytes: two numbers")
        XCTAssertEqual(generator.bytes(0), [])
        XCTAssertEqual(generator.calls, 2)
        var buffer = [UInt8](repeating: 0xEE, count: 12)
        generator.fill(&buffer[2..<6])
        XCTAssertEqual(buffer, [0xEE, 0xEE, 3, 6, 9, 12, 0xEE, 0xEE, 0xEE, 0xEE, 0xEE, 0xEE], "only the slice")
        XCTAssertEqual(generator.calls, 3)
    }
}
