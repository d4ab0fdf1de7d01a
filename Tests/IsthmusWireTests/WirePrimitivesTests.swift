import XCTest

@testable import IsthmusWire

final class WirePrimitivesTests: XCTestCase {
    func testReaderReadsBigEndianAndTracksOffset() {
        var reader = WireReader([0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07], origin: 100)
        XCTAssertEqual(reader.readUInt8(), 0x01)
        XCTAssertEqual(reader.offset, 101)
        XCTAssertEqual(reader.readInteger(as: UInt16.self), 0x0203)
        XCTAssertEqual(reader.readInteger(as: UInt32.self), 0x0405_0607)
        XCTAssertEqual(reader.offset, 107)
        XCTAssertTrue(reader.isAtEnd)
        XCTAssertNil(reader.readUInt8())
    }

    func testShortReadsReturnNilWithoutConsuming() {
        var reader = WireReader([0xAA, 0xBB, 0xCC])
        XCTAssertNil(reader.readInteger(as: UInt32.self))
        XCTAssertNil(reader.readSlice(4))
        XCTAssertNil(reader.readSlice(-1))
        XCTAssertEqual(reader.remaining, 3)
        XCTAssertEqual(reader.offset, 0)
        XCTAssertEqual(reader.readInteger(as: UInt16.self), 0xAABB)
    }

    func testReaderOverSliceWithNonZeroStartIndex() throws {
        let base: [UInt8] = [0, 0, 0, 0x12, 0x34, 0x56]
        var reader = WireReader(base[3...], origin: 3)
        XCTAssertEqual(try reader.expectUInt16("x"), 0x1234)
        var sub = try XCTUnwrap(reader.readSubReader(1))
        XCTAssertEqual(sub.offset, 5)
        XCTAssertEqual(sub.readUInt8(), 0x56)
        XCTAssertNil(sub.readUInt8())
        XCTAssertTrue(reader.isAtEnd)
    }

    func testExpectThrowsTruncatedWithOffset() {
        var reader = WireReader([0x01, 0x02], origin: 40)
        _ = reader.readUInt8()
        let error = assertWireError(.truncated) { try reader.expectUInt32("field") }
        XCTAssertEqual(error?.offset, 41)
    }

    func testExpectAtEndReportsTrailingData() {
        var reader = WireReader([0x01, 0x02])
        _ = reader.readUInt8()
        assertWireError(.trailingData) { try reader.expectAtEnd("thing") }
        _ = reader.readUInt8()
        XCTAssertNoThrow(try reader.expectAtEnd("thing"))
    }

    func testRewindOnNilOrError() {
        var reader = WireReader([0x01, 0x02, 0x03])
        let result: UInt16? = reader.rewindOnNilOrError { reader in
            _ = reader.readUInt8()
            return reader.readInteger(as: UInt32.self).map { UInt16(truncatingIfNeeded: $0) }
        }
        XCTAssertNil(result)
        XCTAssertEqual(reader.remaining, 3)
        XCTAssertThrowsError(
            try reader.rewindOnNilOrError { reader -> UInt8? in
                _ = reader.readUInt8()
                throw WireError(code: .invalidValue, offset: 0, reason: "test")
            }
        )
        XCTAssertEqual(reader.offset, 0)
    }

    func testWriterBigEndianAndPatching() {
        var writer = WireWriter()
        writer.writeUInt8(0xFE)
        let position = writer.reserveUInt16()
        writer.writeInteger(UInt32(0x0102_0304))
        writer.writeInteger(UInt64(0x1122_3344_5566_7788))
        writer.writeZeros(2)
        writer.patchLength16(at: position, from: 0)
        XCTAssertEqual(writer.bytes, [UInt8](hex: "fe 0011 01020304 1122334455667788 0000"))
    }

    func testDataAttributeRoundTripAndForms() throws {
        var writer = WireWriter()
        DataAttribute.keyLength(256).serialize(into: &writer)
        DataAttribute(type: 12, value: .variable([0x00, 0x00, 0x70, 0x80])).serialize(into: &writer)
        XCTAssertEqual(writer.bytes, [UInt8](hex: "800e0100 000c0004 00007080"))
        var reader = WireReader(writer.bytes)
        let attributes = try DataAttribute.parseList(from: &reader)
        XCTAssertEqual(attributes, [.keyLength(256), DataAttribute(type: 12, value: .variable([0, 0, 0x70, 0x80]))])
    }

    func testDataAttributeListLimit() {
        let one: [UInt8] = [0x80, 0x0e, 0x00, 0x80]
        let bytes = Array([[UInt8]](repeating: one, count: WireLimits.maximumAttributeCount + 1).joined())
        var reader = WireReader(bytes)
        assertWireError(.limitExceeded) { try DataAttribute.parseList(from: &reader) }
        var exact = WireReader(Array(bytes.dropLast(4)))
        XCTAssertEqual(try DataAttribute.parseList(from: &exact).count, WireLimits.maximumAttributeCount)
    }

    func testDataAttributeVariableLengthBeyondInput() {
        var reader = WireReader([UInt8](hex: "000c 0010 0000"))
        assertWireError(.truncated) { try DataAttribute.parseList(from: &reader) }
    }

    func testErrorEqualityIsOnCodeOnly() {
        let a = WireError(code: .truncated, offset: 1, reason: "a")
        let b = WireError(code: .truncated, offset: 9, reason: "b")
        let c = WireError(code: .trailingData, offset: 1, reason: "a")
        XCTAssertEqual(a, b)
        XCTAssertNotEqual(a, c)
        XCTAssertTrue(a.description.contains("truncated"))
    }
}
