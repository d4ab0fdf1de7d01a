import IsthmusCrypto
import XCTest

final class SecretBytesTests: XCTestCase {
    func testDescriptionsAreRedacted() {
        let secret = SecretBytes([0xde, 0xad, 0xbe, 0xef])
        XCTAssertEqual(secret.description, "<secret 4 bytes>")
        XCTAssertEqual(secret.debugDescription, "<secret 4 bytes>")
        XCTAssertEqual("\(secret)", "<secret 4 bytes>")
        XCTAssertEqual(String(reflecting: secret), "<secret 4 bytes>")
        var dumped = ""
        dump(secret, to: &dumped)
        XCTAssertFalse(dumped.lowercased().contains("de"), dumped)
        XCTAssertFalse(dumped.contains("222"), dumped)  // 0xde in decimal
    }

    func testEqualityIsByContentAndLength() {
        XCTAssertEqual(SecretBytes([1, 2, 3]), SecretBytes([1, 2, 3]))
        XCTAssertNotEqual(SecretBytes([1, 2, 3]), SecretBytes([1, 2, 4]))
        XCTAssertNotEqual(SecretBytes([1, 2, 3]), SecretBytes([1, 2]))
        XCTAssertEqual(SecretBytes([]), SecretBytes(zeros: 0))
        XCTAssertTrue(ConstantTime.equal([9, 8], [9, 8]))
        XCTAssertFalse(ConstantTime.equal([9, 8], [9, 7]))
        XCTAssertFalse(ConstantTime.equal([9, 8], [9]))
    }

    func testSlicingAndAppending() {
        let secret = SecretBytes(Array(0..<10))
        XCTAssertEqual(secret.slice(2..<5).copyBytes(), [2, 3, 4])
        XCTAssertEqual(secret.prefix(3).copyBytes(), [0, 1, 2])
        XCTAssertEqual(secret.prefix(50).count, 10)
        XCTAssertEqual(secret.slice(8..<20).copyBytes(), [8, 9])
        XCTAssertEqual(secret.slice(-3..<1).copyBytes(), [0])
        XCTAssertEqual(SecretBytes([1]).appending(SecretBytes([2, 3])).copyBytes(), [1, 2, 3])
        XCTAssertEqual(SecretBytes([]).appending(SecretBytes([])).count, 0)
    }

    func testInitializerWritesInPlace() throws {
        let secret = SecretBytes(count: 4) { buffer in
            for index in buffer.indices { buffer[index] = UInt8(index * 2) }
        }
        XCTAssertEqual(secret.copyBytes(), [0, 2, 4, 6])
        struct Failure: Error {}
        XCTAssertThrowsError(try SecretBytes(count: 4) { (_) throws(Failure) in throw Failure() })
    }

    func testWipeZeroesBuffers() {
        var bytes: [UInt8] = [1, 2, 3, 4]
        SecureZero.wipe(&bytes)
        XCTAssertEqual(bytes, [0, 0, 0, 0])
        let pointer = UnsafeMutableRawBufferPointer.allocate(byteCount: 8, alignment: 1)
        defer { pointer.deallocate() }
        pointer.copyBytes(from: [UInt8](repeating: 0xff, count: 8))
        SecureZero.wipe(pointer)
        XCTAssertEqual(Array(pointer), [UInt8](repeating: 0, count: 8))
    }

    func testCopiesShareValueSemantics() {
        let original = SecretBytes([5, 6, 7])
        var copy: SecretBytes? = original
        XCTAssertEqual(copy, original)
        copy = nil
        XCTAssertEqual(original.copyBytes(), [5, 6, 7])
    }
}
