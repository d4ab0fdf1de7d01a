import XCTest

@testable import IsthmusESP

final class TCPSegmentationTests: XCTestCase {
    /// A TCP super-packet 192.168.1.10:40000 -> 10.0.1.4:5201 (IPv4) or 2001:db8::1 -> ::2 (IPv6) with
    /// `payload` bytes, flags PSH|ACK|FIN|CWR and a partial (pseudo-header) checksum, as the kernel hands it.
    private func superPacket(ipv6: Bool, payload: Int) -> [UInt8] {
        var tcp: [UInt8] = [
            0x9C, 0x40, 0x14, 0x51, 0x10, 0x00, 0x00, 0x00, 0, 0, 0, 1, 0x80, 0x80 | 0x18 | 0x01, 0xFF, 0xFF,
        ]
        tcp += [0, 0, 0, 0] + [1, 1, 8, 10] + Array(repeating: 0x33, count: 8)  // NOP NOP timestamps
        let body = (0..<payload).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 3) }
        if ipv6 {
            let source: [UInt8] = [0x20, 0x01, 0x0D, 0xB8] + Array(repeating: 0, count: 11) + [1]
            let destination: [UInt8] = [0x20, 0x01, 0x0D, 0xB8] + Array(repeating: 0, count: 11) + [2]
            let length = tcp.count + payload
            return [0x60, 0, 0, 0, UInt8(truncatingIfNeeded: length >> 8), UInt8(truncatingIfNeeded: length), 6, 64]
                + source + destination + tcp + body
        }
        let total = 20 + tcp.count + payload
        return [
            0x45, 0, UInt8(truncatingIfNeeded: total >> 8), UInt8(truncatingIfNeeded: total), 0x12, 0x34, 0x40, 0, 64,
            6, 0, 0,
        ]
            + [192, 168, 1, 10, 10, 0, 1, 4] + tcp + body
    }

    /// RFC 1071 by the book, one 16-bit big-endian word at a time.
    private func referenceChecksum(_ bytes: [UInt8]) -> UInt16 {
        var sum: UInt32 = 0
        var index = 0
        while index + 1 < bytes.count {
            sum += UInt32(bytes[index]) << 8 | UInt32(bytes[index + 1])
            index += 2
        }
        if index < bytes.count { sum += UInt32(bytes[index]) << 8 }
        while sum >> 16 != 0 { sum = (sum & 0xFFFF) + (sum >> 16) }
        return ~UInt16(sum)
    }

    private func tcpChecksumIsValid(_ segment: [UInt8], ipv6: Bool) -> Bool {
        let tcp = ipv6 ? 40 : Int(segment[0] & 0x0F) * 4
        let length = segment.count - tcp
        var pseudo = ipv6 ? Array(segment[8..<40]) : Array(segment[12..<20])
        pseudo +=
            ipv6
            ? [0, 0, UInt8(length >> 8), UInt8(length & 0xFF), 0, 0, 0, 6]
            : [0, 6, UInt8(length >> 8), UInt8(length & 0xFF)]
        return referenceChecksum(pseudo + Array(segment[tcp...])) == 0
    }

    private func segments(of packet: [UInt8], size: Int) throws -> [[UInt8]] {
        try packet.withUnsafeBytes { source in
            let layout = try XCTUnwrap(TCPSegmentation.layout(source))
            let output = UnsafeMutableRawBufferPointer.allocate(byteCount: 65_536, alignment: 16)
            defer { output.deallocate() }
            return try (0..<TCPSegmentation.segmentCount(layout, segmentSize: size)).map { index in
                let length = try XCTUnwrap(
                    TCPSegmentation.writeSegment(index, of: source, layout: layout, segmentSize: size, into: output))
                return Array(output[0..<length])
            }
        }
    }

    func testIPv4SuperPacketBecomesValidSegments() throws {
        let packet = superPacket(ipv6: false, payload: 4000)
        let parts = try segments(of: packet, size: 1448)
        XCTAssertEqual(parts.map(\.count), [52 + 1448, 52 + 1448, 52 + 1104])
        for (index, part) in parts.enumerated() {
            XCTAssertEqual(Int(part[2]) << 8 | Int(part[3]), part.count, "IPv4 total length")
            XCTAssertEqual(Int(part[4]) << 8 | Int(part[5]), 0x1234 + index, "IPv4 identification")
            XCTAssertEqual(referenceChecksum(Array(part[0..<20])), 0, "IPv4 header checksum")
            XCTAssertTrue(tcpChecksumIsValid(part, ipv6: false), "TCP checksum of segment \(index)")
            let sequence = UInt32(part[24]) << 24 | UInt32(part[25]) << 16 | UInt32(part[26]) << 8 | UInt32(part[27])
            XCTAssertEqual(sequence, 0x1000_0000 + UInt32(index * 1448))
            let flags = part[33]
            XCTAssertEqual(flags & 0x80 != 0, index == 0, "CWR on the first segment only")
            XCTAssertEqual(flags & 0x09 != 0, index == 2, "FIN and PSH on the last segment only")
            XCTAssertEqual(flags & 0x10, 0x10, "ACK everywhere")
            XCTAssertEqual(
                Array(part[52...]), Array(packet[(52 + index * 1448)..<(52 + index * 1448 + part.count - 52)]))
        }
    }

    func testIPv6SuperPacketBecomesValidSegments() throws {
        let packet = superPacket(ipv6: true, payload: 3000)
        let parts = try segments(of: packet, size: 1428)
        XCTAssertEqual(parts.count, 3)
        for part in parts {
            XCTAssertEqual(Int(part[4]) << 8 | Int(part[5]), part.count - 40, "IPv6 payload length")
            XCTAssertTrue(tcpChecksumIsValid(part, ipv6: true))
        }
    }

    func testPartialChecksumIsCompleted() throws {
        var packet = superPacket(ipv6: false, payload: 999)
        // What the kernel leaves for "hardware": the folded pseudo-header sum in the checksum field.
        let length = packet.count - 20
        let pseudo = Array(packet[12..<20]) + [0, 6, UInt8(length >> 8), UInt8(length & 0xFF)]
        let partial = ~referenceChecksum(pseudo)
        packet[36] = UInt8(partial >> 8)
        packet[37] = UInt8(partial & 0xFF)
        XCTAssertTrue(packet.withUnsafeMutableBytes { TCPSegmentation.completeChecksum($0, start: 20, offset: 16) })
        XCTAssertTrue(tcpChecksumIsValid(packet, ipv6: false))
        XCTAssertFalse(packet.withUnsafeMutableBytes { TCPSegmentation.completeChecksum($0, start: 20, offset: 5000) })
    }

    func testFastChecksumMatchesTheReferenceOnEveryLength() {
        var generator = SystemRandomNumberGenerator()
        for length in 0..<300 {
            let bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
            let fast = bytes.withUnsafeBytes { ~InternetChecksum.fold(InternetChecksum.networkOrderSum($0)) }
            XCTAssertEqual(fast, referenceChecksum(bytes), "length \(length)")
        }
    }

    func testCopyAndSumCopiesAndMatchesTheReferenceAtEveryAlignment() {
        var generator = SystemRandomNumberGenerator()
        // Lengths across the 16-byte vector body, its 4- and 2-byte tails and an odd last byte, at every
        // source offset modulo 8 (segments start wherever the super-packet puts them).
        for length in [0, 1, 2, 3, 4, 5, 15, 16, 17, 31, 33, 63, 64, 65, 1359, 1360, 1448, 9001] {
            for offset in 0..<8 {
                let bytes = (0..<(length + offset)).map { _ in UInt8.random(in: 0...255, using: &generator) }
                var copy = [UInt8](repeating: 0xEE, count: length + 3)
                let sum = bytes.withUnsafeBytes { source in
                    copy.withUnsafeMutableBytes { destination in
                        InternetChecksum.copyAndSum(
                            UnsafeRawBufferPointer(rebasing: source[offset...]), to: destination.baseAddress! + 1)
                    }
                }
                let expected = referenceChecksum(Array(bytes[offset...]))
                XCTAssertEqual(~InternetChecksum.fold(sum), expected, "length \(length) offset \(offset)")
                XCTAssertEqual(Array(copy[1..<(length + 1)]), Array(bytes[offset...]), "length \(length)")
                XCTAssertEqual(copy[0], 0xEE, "nothing written before the destination")
                XCTAssertEqual(Array(copy[(length + 1)...]), [0xEE, 0xEE], "nothing written past the length")
                let plain = bytes.withUnsafeBytes {
                    ~InternetChecksum.fold(
                        InternetChecksum.networkOrderSum(UnsafeRawBufferPointer(rebasing: $0[offset...])))
                }
                XCTAssertEqual(plain, expected, "length \(length) offset \(offset)")
            }
        }
    }

    func testChecksumOfAllOnesCarriesCorrectly() {
        // Every word 0xFFFF: the sums carry on every addition, the folded result stays 0xFFFF (checksum 0).
        let bytes = [UInt8](repeating: 0xFF, count: 65_535)
        let sum = bytes.withUnsafeBytes { InternetChecksum.networkOrderSum($0) }
        XCTAssertEqual(~InternetChecksum.fold(sum), referenceChecksum(bytes))
    }

    func testVirtioHeaderIsReadInHostOrder() throws {
        let bytes: [UInt8] = [1, 1, 52, 0, 0xA8, 0x05, 20, 0, 16, 0]
        let header = try XCTUnwrap(bytes.withUnsafeBytes { VirtioNetHeader($0) })
        XCTAssertTrue(header.isTCPSegmentation)
        XCTAssertEqual(header.gsoSize, 1448)
        XCTAssertEqual(header.checksumStart, 20)
        XCTAssertEqual(header.checksumOffset, 16)
        XCTAssertNil([UInt8](repeating: 0, count: 9).withUnsafeBytes { VirtioNetHeader($0) })
    }

    func testMalformedSuperPacketsAreRefusedNotTrapped() {
        let good = superPacket(ipv6: false, payload: 3000)
        let output = UnsafeMutableRawBufferPointer.allocate(byteCount: 65_536, alignment: 16)
        defer { output.deallocate() }
        for length in 0..<64 {
            let prefix = Array(good[0..<length])
            prefix.withUnsafeBytes { source in
                guard let layout = TCPSegmentation.layout(source) else { return }
                for index in 0..<TCPSegmentation.segmentCount(layout, segmentSize: 100) {
                    _ = TCPSegmentation.writeSegment(index, of: source, layout: layout, segmentSize: 100, into: output)
                }
            }
        }
        var badOffset = good
        badOffset[32] = 0xF0  // TCP header of 60 bytes claims more than a short packet has
        XCTAssertNil(Array(badOffset[0..<70]).withUnsafeBytes { TCPSegmentation.layout($0) })
        var notTCP = good
        notTCP[9] = 17
        XCTAssertNil(notTCP.withUnsafeBytes { TCPSegmentation.layout($0) })
        let small = UnsafeMutableRawBufferPointer.allocate(byteCount: 100, alignment: 16)
        defer { small.deallocate() }
        good.withUnsafeBytes { source in
            let layout = TCPSegmentation.layout(source)!
            XCTAssertNil(TCPSegmentation.writeSegment(0, of: source, layout: layout, segmentSize: 1448, into: small))
            XCTAssertNil(TCPSegmentation.writeSegment(9, of: source, layout: layout, segmentSize: 1448, into: output))
        }
    }
}

final class TCPCoalescerTests: XCTestCase {
    private let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: TCPCoalescer.requiredCapacity, alignment: 16)
    private let output = UnsafeMutableRawBufferPointer.allocate(byteCount: 65_536, alignment: 16)

    override func tearDown() {
        buffer.deallocate()
        output.deallocate()
    }

    /// Valid segments (complete checksums) of one flow: cut from a super-packet by TCPSegmentation.
    private func segments(payload: Int, size: Int, ipv6: Bool = false, psh: Bool = false) -> [[UInt8]] {
        var tcp: [UInt8] = [
            0x9C, 0x40, 0x14, 0x51, 0x10, 0, 0, 0, 0, 0, 0, 1, 0x80, psh ? 0x18 : 0x10, 0xFF, 0xFF, 0, 0, 0, 0,
        ]
        tcp += [1, 1, 8, 10] + Array(repeating: 0x44, count: 8)
        let body = (0..<payload).map { UInt8(truncatingIfNeeded: $0 &* 13 &+ 1) }
        var packet: [UInt8]
        if ipv6 {
            let length = tcp.count + payload
            packet = [0x60, 0, 0, 0, UInt8(length >> 8), UInt8(length & 0xFF), 6, 64]
            packet += [0x20, 0x01, 0x0D, 0xB8] + Array(repeating: 0, count: 11) + [1]
            packet += [0x20, 0x01, 0x0D, 0xB8] + Array(repeating: 0, count: 11) + [2]
        } else {
            let total = 20 + tcp.count + payload
            packet = [
                0x45, 0, UInt8(total >> 8), UInt8(total & 0xFF), 0, 7, 0x40, 0, 64, 6, 0, 0, 10, 0, 1, 4, 192, 168, 1,
                10,
            ]
        }
        packet += tcp + body
        return packet.withUnsafeBytes { source in
            let layout = TCPSegmentation.layout(source)!
            return (0..<TCPSegmentation.segmentCount(layout, segmentSize: size)).map { index in
                let length = TCPSegmentation.writeSegment(
                    index, of: source, layout: layout, segmentSize: size, into: output)!
                return Array(output[0..<length])
            }
        }
    }

    private func feed(_ coalescer: inout TCPCoalescer, _ packet: [UInt8]) -> Bool {
        packet.withUnsafeBytes { coalescer.append($0) }
    }

    /// Re-cuts a merged GSO packet the way the kernel would and returns the segments.
    private func resegment(_ merged: [UInt8]) throws -> [[UInt8]] {
        let header = try XCTUnwrap(merged.withUnsafeBytes { VirtioNetHeader($0) })
        let packet = Array(merged[VirtioNetHeader.size...])
        XCTAssertTrue(header.isTCPSegmentation)
        XCTAssertEqual(header.flags, VirtioNetHeader.needsChecksum)
        return try packet.withUnsafeBytes { source in
            let layout = try XCTUnwrap(TCPSegmentation.layout(source))
            XCTAssertEqual(Int(header.headerLength), layout.payloadOffset)
            XCTAssertEqual(Int(header.checksumStart), layout.tcpOffset)
            XCTAssertEqual(header.checksumOffset, 16)
            return (0..<TCPSegmentation.segmentCount(layout, segmentSize: Int(header.gsoSize))).map { index in
                let length = TCPSegmentation.writeSegment(
                    index, of: source, layout: layout, segmentSize: Int(header.gsoSize), into: output)!
                return Array(output[0..<length])
            }
        }
    }

    func testConsecutiveSegmentsMergeAndCutBackToTheSameSegments() throws {
        for ipv6 in [false, true] {
            let original = segments(payload: 5000, size: 1400, ipv6: ipv6)
            var coalescer = TCPCoalescer(buffer: buffer)
            for segment in original { XCTAssertTrue(feed(&coalescer, segment)) }
            XCTAssertEqual(coalescer.segments, 4)
            let merged = Array(coalescer.finish())
            XCTAssertEqual(coalescer.segments, 0)
            var recut = try resegment(merged)
            // The IPv4 identification is not kept per segment (the kernel numbers them); compare the rest.
            if !ipv6 {
                for index in recut.indices {
                    recut[index][4] = original[index][4]
                    recut[index][5] = original[index][5]
                    recut[index][10] = original[index][10]
                    recut[index][11] = original[index][11]
                }
            }
            XCTAssertEqual(recut, original, ipv6 ? "IPv6" : "IPv4")
        }
    }

    func testOneSegmentIsWrittenAsItCame() {
        let single = segments(payload: 700, size: 1400)[0]
        var coalescer = TCPCoalescer(buffer: buffer)
        XCTAssertTrue(feed(&coalescer, single))
        let written = Array(coalescer.finish())
        XCTAssertEqual(Array(written[0..<VirtioNetHeader.size]), Array(repeating: 0, count: VirtioNetHeader.size))
        XCTAssertEqual(Array(written[VirtioNetHeader.size...]), single)
    }

    func testGapsOtherFlowsShortAndPushedSegmentsEndAMerge() {
        let flow = segments(payload: 5600, size: 1400)
        var coalescer = TCPCoalescer(buffer: buffer)
        XCTAssertTrue(feed(&coalescer, flow[0]))
        XCTAssertFalse(feed(&coalescer, flow[2]), "a gap in sequence numbers")
        var otherFlow = flow[1]
        otherFlow[23] ^= 1  // destination port
        XCTAssertFalse(feed(&coalescer, otherFlow), "not mergeable: checksum no longer valid")
        XCTAssertTrue(feed(&coalescer, flow[1]))
        _ = coalescer.finish()

        let short = segments(payload: 3500, size: 1400)  // 1400, 1400, 700
        XCTAssertTrue(feed(&coalescer, short[0]))
        XCTAssertTrue(feed(&coalescer, short[2].count < short[1].count ? short[1] : short[1]))
        XCTAssertTrue(feed(&coalescer, short[2]))
        XCTAssertFalse(feed(&coalescer, flow[0]), "nothing follows a short segment")
        _ = coalescer.finish()

        let long = segments(payload: 7000, size: 1400)
        var pushed = long[1]
        pushed[33] |= 0x08  // PSH, checksum adjusted for the flag word
        let old = UInt16(pushed[32]) << 8 | UInt16(pushed[33] & ~0x08)
        let new = UInt16(pushed[32]) << 8 | UInt16(pushed[33])
        let fixed = TunnelMTU.adjustChecksum(UInt16(pushed[36]) << 8 | UInt16(pushed[37]), old: old, new: new)
        pushed[36] = UInt8(fixed >> 8)
        pushed[37] = UInt8(fixed & 0xFF)
        XCTAssertTrue(feed(&coalescer, long[0]))
        XCTAssertTrue(feed(&coalescer, pushed), "PSH may end a merge")
        XCTAssertFalse(feed(&coalescer, long[2]), "nothing follows a segment with PSH")
        let merged = Array(coalescer.finish())
        XCTAssertEqual(merged[VirtioNetHeader.size + 33] & 0x08, 0x08, "the merged packet carries PSH")
    }

    func testControlSegmentsAndCorruptedSegmentsAreNeverMerged() {
        var segment = segments(payload: 1400, size: 1400)[0]
        var coalescer = TCPCoalescer(buffer: buffer)
        var fin = segment
        fin[33] |= 0x01
        XCTAssertFalse(feed(&coalescer, fin), "FIN (its checksum is now wrong too)")
        segment[60] ^= 0xFF  // payload corrupted: the checksum no longer matches
        XCTAssertFalse(feed(&coalescer, segment))
        XCTAssertEqual(coalescer.segments, 0)
        XCTAssertEqual(coalescer.finish().count, 0)
        let fragment = [UInt8](repeating: 0, count: 10)
        XCTAssertFalse(feed(&coalescer, fragment))
    }
}
