import IsthmusTestSupport
import XCTest

@testable import IsthmusWire

/// Asserts that `body` throws a ``WireError`` with `code`, and returns it.
@discardableResult
func assertWireError<T>(
    _ code: WireError.Code,
    _ body: () throws -> T,
    file: StaticString = #filePath,
    line: UInt = #line
) -> WireError? {
    do {
        let value = try body()
        XCTFail("expected \(code), got \(value)", file: file, line: line)
        return nil
    } catch let error as WireError {
        XCTAssertEqual(error.code, code, "wrong error: \(error)", file: file, line: line)
        return error
    } catch {
        XCTFail("unexpected error type \(error)", file: file, line: line)
        return nil
    }
}

/// Sets the 32-bit length field of an IKE/ISAKMP header (offset 24) to the buffer's length.
func withFixedLength(_ bytes: [UInt8]) -> [UInt8] {
    var copy = bytes
    let length = UInt32(copy.count)
    if copy.count >= 28 {
        copy[24] = UInt8(truncatingIfNeeded: length >> 24)
        copy[25] = UInt8(truncatingIfNeeded: length >> 16)
        copy[26] = UInt8(truncatingIfNeeded: length >> 8)
        copy[27] = UInt8(truncatingIfNeeded: length)
    }
    return copy
}

/// Returns `count` mutants of `bytes`: random byte changes, insertions, deletions and truncations.
func mutants(of bytes: [UInt8], count: Int, seed: UInt64) -> [[UInt8]] {
    var generator = SplitMix64(seed: seed)
    var result: [[UInt8]] = []
    for _ in 0..<count {
        var mutant = bytes
        for _ in 0..<Int.random(in: 1...4, using: &generator) {
            switch Int.random(in: 0..<4, using: &generator) {
            case 0 where !mutant.isEmpty:
                mutant[Int.random(in: 0..<mutant.count, using: &generator)] = UInt8.random(
                    in: 0...255,
                    using: &generator
                )
            case 1:
                mutant.insert(
                    UInt8.random(in: 0...255, using: &generator),
                    at: Int.random(in: 0...mutant.count, using: &generator)
                )
            case 2 where !mutant.isEmpty:
                mutant.remove(at: Int.random(in: 0..<mutant.count, using: &generator))
            default:
                mutant = Array(mutant.prefix(Int.random(in: 0...mutant.count, using: &generator)))
            }
        }
        result.append(mutant)
    }
    return result
}
