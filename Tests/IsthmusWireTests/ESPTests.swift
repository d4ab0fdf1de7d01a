import XCTest

@testable import IsthmusWire

final class ESPTests: XCTestCase {
    func testHeaderParse() {
        let packet = [UInt8](hex: "c0ffee01 00000005 deadbeef")
        let header = packet.withUnsafeBytes { ESPHeader.parse($0) }
        XCTAssertEqual(header, ESPHeader(spi: 0xC0FF_EE01, sequenceNumber: 5))
    }

    func testHeaderParseRejectsShortAndZeroSPI() {
        for length in 0..<ESPHeader.size {
            let packet = Array([UInt8](hex: "c0ffee01 00000005").prefix(length))
            XCTAssertNil(packet.withUnsafeBytes { ESPHeader.parse($0) }, "length \(length)")
        }
        XCTAssertNil([UInt8](hex: "00000000 00000001").withUnsafeBytes { ESPHeader.parse($0) })
    }

    func testHeaderWrite() throws {
        var buffer = [UInt8](repeating: 0xEE, count: 10)
        try buffer.withUnsafeMutableBytes { try ESPHeader(spi: 0x0102_0304, sequenceNumber: 0xA0B0_C0D0).write(to: $0) }
        XCTAssertEqual(buffer, [UInt8](hex: "01020304 a0b0c0d0 eeee"))
        var small = [UInt8](repeating: 0, count: 7)
        assertWireError(.bufferTooSmall) {
            try small.withUnsafeMutableBytes { try ESPHeader(spi: 1, sequenceNumber: 1).write(to: $0) }
        }
    }

    func testTrailerParse() throws {
        let plain = [UInt8](hex: "4500001c aabbccdd 01 02 03 04 05 06 06 04")
        let trailer = try plain.withUnsafeBytes { try ESPTrailer.parse($0) }
        XCTAssertEqual(trailer, ESPTrailer(payloadLength: 8, padLength: 6, nextHeader: 4))
        XCTAssertFalse(trailer.isDummyPacket)
        let noPad = [UInt8](hex: "aa 00 29")
        XCTAssertEqual(try noPad.withUnsafeBytes { try ESPTrailer.parse($0) }.payloadLength, 1)
        let dummy = [UInt8](hex: "00 3b")
        XCTAssertTrue(try dummy.withUnsafeBytes { try ESPTrailer.parse($0) }.isDummyPacket)
    }

    func testTrailerRejectsBadPadding() {
        let wrongByte = [UInt8](hex: "aabbccdd 01 02 04 03 04")
        let error = assertWireError(.invalidValue) { try wrongByte.withUnsafeBytes { try ESPTrailer.parse($0) } }
        XCTAssertEqual(error?.offset, 6)
        let zeroPad = [UInt8](hex: "aabbccdd 00 00 02 04")
        assertWireError(.invalidValue) { try zeroPad.withUnsafeBytes { try ESPTrailer.parse($0) } }
        let tooLong = [UInt8](hex: "01 02 03 04 04")
        assertWireError(.lengthMismatch) { try tooLong.withUnsafeBytes { try ESPTrailer.parse($0) } }
        assertWireError(.truncated) { try [UInt8]([4]).withUnsafeBytes { try ESPTrailer.parse($0) } }
        assertWireError(.truncated) { try [UInt8]().withUnsafeBytes { try ESPTrailer.parse($0) } }
    }

    func testPadLength() {
        // AES-CBC, 16-byte blocks.
        XCTAssertEqual(ESPTrailer.padLength(payloadLength: 14, blockSize: 16), 0)
        XCTAssertEqual(ESPTrailer.padLength(payloadLength: 15, blockSize: 16), 15)
        XCTAssertEqual(ESPTrailer.padLength(payloadLength: 100, blockSize: 16), 10)
        // AEAD stream modes still align to 4 bytes (RFC 4303 section 2.4).
        XCTAssertEqual(ESPTrailer.padLength(payloadLength: 100, blockSize: 1), 2)
        XCTAssertEqual(ESPTrailer.padLength(payloadLength: 102, blockSize: 1), 0)
        XCTAssertEqual(ESPTrailer.padLength(payloadLength: 0, blockSize: 8), 6)
        for length in 0..<200 {
            for blockSize in [1, 4, 8, 16] {
                let pad = ESPTrailer.padLength(payloadLength: length, blockSize: blockSize)
                XCTAssertEqual((length + pad + 2) % max(blockSize, 4), 0)
                XCTAssertLessThan(pad, max(blockSize, 4))
            }
        }
    }

    func testTrailerWriteThenParse() throws {
        let payload: [UInt8] = Array(0..<37)
        let pad = ESPTrailer.padLength(payloadLength: payload.count, blockSize: 16)
        var buffer = payload + Array(repeating: 0, count: pad + 2 + 5)
        let total = try buffer.withUnsafeMutableBytes {
            try ESPTrailer.write(into: $0, payloadLength: payload.count, padLength: pad, nextHeader: 41)
        }
        XCTAssertEqual(total, 48)
        XCTAssertEqual(Array(buffer[37..<48]), [1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 41])
        let trailer = try buffer.withUnsafeBytes {
            try ESPTrailer.parse(UnsafeRawBufferPointer(rebasing: $0[..<total]))
        }
        XCTAssertEqual(trailer, ESPTrailer(payloadLength: 37, padLength: 9, nextHeader: 41))
        var small = [UInt8](repeating: 0, count: 10)
        assertWireError(.bufferTooSmall) {
            try small.withUnsafeMutableBytes {
                try ESPTrailer.write(into: $0, payloadLength: 9, padLength: 0, nextHeader: 4)
            }
        }
        assertWireError(.invalidValue) {
            try small.withUnsafeMutableBytes {
                try ESPTrailer.write(into: $0, payloadLength: 0, padLength: 256, nextHeader: 4)
            }
        }
    }

    func testUDPEncapsulationClassification() {
        func classify(_ bytes: [UInt8]) -> UDPEncapsulation.Packet {
            bytes.withUnsafeBytes { UDPEncapsulation.classify($0) }
        }
        XCTAssertEqual(classify([0xFF]), .natKeepalive)
        XCTAssertEqual(classify([0x00]), .invalid)
        XCTAssertEqual(classify([]), .invalid)
        XCTAssertEqual(classify([0, 0, 0]), .invalid)
        XCTAssertEqual(classify([0, 0, 0, 0] + IKEv2MessageTests.ikeSAInitRequest), .ike(payloadOffset: 4))
        XCTAssertEqual(classify([UInt8](hex: "c0ffee01 00000001 aabb")), .esp(spi: 0xC0FF_EE01))
        XCTAssertEqual(classify([UInt8](hex: "00000001 0000000a")), .esp(spi: 1))
        XCTAssertEqual(classify([UInt8](hex: "c0ffee01 0000")), .invalid)
        XCTAssertEqual(classify([0xFF, 0xFF]), .invalid)
    }
}
