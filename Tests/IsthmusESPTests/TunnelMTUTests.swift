import IsthmusTestSupport
import XCTest

@testable import IsthmusESP

final class TunnelMTUTests: XCTestCase {
    /// An IPv4 TCP SYN 192.168.1.10:40000 -> 10.0.1.4:5201 with options MSS, NOP, NOP, SACK-permitted
    /// and a correct TCP checksum.
    private func ipv4SYN(mss: UInt16, flags: UInt8 = 0x02) -> [UInt8] {
        var ip: [UInt8] = [0x45, 0, 0, 0, 0x12, 0x34, 0x40, 0, 64, 6, 0, 0, 192, 168, 1, 10, 10, 0, 1, 4]
        var tcp: [UInt8] = [0x9C, 0x40, 0x14, 0x51, 0, 0, 0, 1, 0, 0, 0, 0, 0x70, flags, 0xFF, 0xFF, 0, 0, 0, 0]
        tcp += [2, 4, UInt8(mss >> 8), UInt8(mss & 0xFF), 1, 1, 4, 2]
        let total = ip.count + tcp.count
        ip[2] = UInt8(total >> 8)
        ip[3] = UInt8(total & 0xFF)
        let sum = tcpChecksum(source: Array(ip[12..<16]), destination: Array(ip[16..<20]), segment: tcp)
        tcp[16] = UInt8(sum >> 8)
        tcp[17] = UInt8(sum & 0xFF)
        return ip + tcp
    }

    private func ipv6SYN(mss: UInt16) -> [UInt8] {
        var tcp: [UInt8] = [0x9C, 0x40, 0x14, 0x51, 0, 0, 0, 1, 0, 0, 0, 0, 0x60, 0x02, 0xFF, 0xFF, 0, 0, 0, 0]
        tcp += [2, 4, UInt8(mss >> 8), UInt8(mss & 0xFF)]
        let source: [UInt8] = [0x20, 0x01, 0x0D, 0xB8] + Array(repeating: 0, count: 11) + [1]
        let destination: [UInt8] = [0x20, 0x01, 0x0D, 0xB8] + Array(repeating: 0, count: 11) + [2]
        let sum = tcpChecksum(source: source, destination: destination, segment: tcp)
        tcp[16] = UInt8(sum >> 8)
        tcp[17] = UInt8(sum & 0xFF)
        return [0x60, 0, 0, 0, 0, UInt8(tcp.count), 6, 64] + source + destination + tcp
    }

    /// The TCP checksum computed from scratch (pseudo-header + segment with a zero checksum field).
    private func tcpChecksum(source: [UInt8], destination: [UInt8], segment: [UInt8]) -> UInt16 {
        var zeroed = segment
        zeroed[16] = 0
        zeroed[17] = 0
        var pseudo = source + destination
        if source.count == 4 {
            pseudo += [0, 6, UInt8(segment.count >> 8), UInt8(segment.count & 0xFF)]
        } else {
            pseudo += [0, 0, UInt8(segment.count >> 8), UInt8(segment.count & 0xFF), 0, 0, 0, 6]
        }
        return (pseudo + zeroed).withUnsafeBytes { TunnelMTU.checksum($0) }
    }

    private func mss(_ packet: [UInt8], tcp: Int) -> UInt16 { UInt16(packet[tcp + 22]) << 8 | UInt16(packet[tcp + 23]) }

    private func storedChecksum(_ packet: [UInt8], tcp: Int) -> UInt16 {
        UInt16(packet[tcp + 16]) << 8 | UInt16(packet[tcp + 17])
    }

    func testIPv4SYNIsClampedAndItsChecksumStaysValid() {
        var packet = ipv4SYN(mss: 1460)
        let changed = packet.withUnsafeMutableBytes { TunnelMTU.clampMSS($0, to: 1359) }
        XCTAssertTrue(changed)
        XCTAssertEqual(mss(packet, tcp: 20), 1359)
        let expected = tcpChecksum(
            source: Array(packet[12..<16]), destination: Array(packet[16..<20]), segment: Array(packet[20...]))
        XCTAssertEqual(storedChecksum(packet, tcp: 20), expected)
    }

    func testSYNACKIsClampedButOtherSegmentsAndSmallerMSSAreNot() {
        var synAck = ipv4SYN(mss: 1460, flags: 0x12)
        XCTAssertTrue(synAck.withUnsafeMutableBytes { TunnelMTU.clampMSS($0, to: 1300) })
        XCTAssertEqual(mss(synAck, tcp: 20), 1300)
        var ack = ipv4SYN(mss: 1460, flags: 0x10)
        XCTAssertFalse(ack.withUnsafeMutableBytes { TunnelMTU.clampMSS($0, to: 1300) })
        XCTAssertEqual(mss(ack, tcp: 20), 1460)
        var small = ipv4SYN(mss: 1200)
        let before = small
        XCTAssertFalse(small.withUnsafeMutableBytes { TunnelMTU.clampMSS($0, to: 1300) })
        XCTAssertEqual(small, before)
    }

    func testIPv6SYNIsClamped() {
        var packet = ipv6SYN(mss: 1440)
        XCTAssertTrue(packet.withUnsafeMutableBytes { TunnelMTU.clampMSS($0, to: 1339) })
        XCTAssertEqual(mss(packet, tcp: 40), 1339)
        let expected = tcpChecksum(
            source: Array(packet[8..<24]), destination: Array(packet[24..<40]), segment: Array(packet[40...]))
        XCTAssertEqual(storedChecksum(packet, tcp: 40), expected)
    }

    func testMalformedAndTruncatedPacketsAreLeftAlone() {
        let good = ipv4SYN(mss: 1460)
        for length in 0..<good.count {
            var prefix = Array(good[0..<length])
            let copy = prefix
            _ = prefix.withUnsafeMutableBytes { TunnelMTU.clampMSS($0, to: 1000) }
            if length < good.count - 4 { XCTAssertEqual(prefix, copy, "prefix \(length) changed") }
        }
        // An option with length 0 or running past the header ends the walk.
        var zeroLength = good
        zeroLength[40] = 3
        zeroLength[41] = 0
        XCTAssertFalse(zeroLength.withUnsafeMutableBytes { TunnelMTU.clampMSS($0, to: 1000) })
        var fragment = good
        fragment[7] = 1  // fragment offset 8: no TCP header here
        XCTAssertFalse(fragment.withUnsafeMutableBytes { TunnelMTU.clampMSS($0, to: 1000) })
        var seeded = SplitMix64(seed: 7)
        for _ in 0..<2000 {
            var mutated = good
            for _ in 0..<3 {
                mutated[Int(seeded.next() % UInt64(mutated.count))] = UInt8(truncatingIfNeeded: seeded.next())
            }
            _ = mutated.withUnsafeMutableBytes { TunnelMTU.clampMSS($0, to: 1000) }
        }
    }

    func testFragmentationNeededQuotesTheHeaderAndCarriesTheMTU() throws {
        var big = ipv4SYN(mss: 1460)
        big += Array(repeating: 0xAB, count: 1400)
        let output = UnsafeMutableRawBufferPointer.allocate(byteCount: 1280, alignment: 16)
        defer { output.deallocate() }
        let length = try XCTUnwrap(
            big.withUnsafeBytes { TunnelMTU.packetTooBig(original: $0, mtu: 1399, into: output) })
        let icmp = Array(output[0..<length])
        XCTAssertEqual(length, 20 + 8 + 28)
        XCTAssertEqual(icmp[9], 1, "ICMP")
        XCTAssertEqual(Array(icmp[12..<16]), [10, 0, 1, 4], "from the original destination")
        XCTAssertEqual(Array(icmp[16..<20]), [192, 168, 1, 10], "to the original source")
        XCTAssertEqual(icmp[0..<20].withUnsafeBytes { TunnelMTU.checksum($0) }, 0, "IPv4 header checksum")
        XCTAssertEqual(icmp[20], 3)
        XCTAssertEqual(icmp[21], 4)
        XCTAssertEqual(UInt16(icmp[26]) << 8 | UInt16(icmp[27]), 1399)
        XCTAssertEqual(icmp[20...].withUnsafeBytes { TunnelMTU.checksum($0) }, 0, "ICMP checksum")
        XCTAssertEqual(Array(icmp[28...]), Array(big[0..<28]))
        XCTAssertTrue(big.withUnsafeBytes { TunnelMTU.forbidsFragmentation($0) })
        big[6] = 0
        XCTAssertFalse(big.withUnsafeBytes { TunnelMTU.forbidsFragmentation($0) })
    }

    func testICMPErrorsAreNeverAnsweredWithICMPErrors() {
        var unreachable: [UInt8] = [0x45, 0, 0, 56, 0, 0, 0x40, 0, 64, 1, 0, 0, 10, 0, 1, 4, 192, 168, 1, 10]
        unreachable += [3, 3, 0, 0] + Array(repeating: 0, count: 32)
        let output = UnsafeMutableRawBufferPointer.allocate(byteCount: 1280, alignment: 16)
        defer { output.deallocate() }
        XCTAssertNil(unreachable.withUnsafeBytes { TunnelMTU.packetTooBig(original: $0, mtu: 1300, into: output) })
        unreachable[20] = 8  // an echo request is answered
        XCTAssertNotNil(unreachable.withUnsafeBytes { TunnelMTU.packetTooBig(original: $0, mtu: 1300, into: output) })
    }

    func testPacketTooBigForIPv6HasAValidChecksum() throws {
        var big = ipv6SYN(mss: 1440) + Array(repeating: 0x5A, count: 1400)
        big[4] = UInt8((big.count - 40) >> 8)
        big[5] = UInt8((big.count - 40) & 0xFF)
        let output = UnsafeMutableRawBufferPointer.allocate(byteCount: 1280, alignment: 16)
        defer { output.deallocate() }
        let length = try XCTUnwrap(
            big.withUnsafeBytes { TunnelMTU.packetTooBig(original: $0, mtu: 1000, into: output) })
        XCTAssertEqual(length, 1280, "as much of the packet as fits in the minimum MTU")
        let icmp = Array(output[0..<length])
        XCTAssertEqual(icmp[40], 2)
        XCTAssertEqual(Array(icmp[44..<48]), [0, 0, 0x05, 0x00], "never below 1280")
        // Verify: pseudo-header + message sums to zero.
        var pseudo = Array(icmp[8..<40])
        let payloadLength = length - 40
        pseudo += [0, 0, UInt8(payloadLength >> 8), UInt8(payloadLength & 0xFF), 0, 0, 0, 58]
        XCTAssertEqual((pseudo + Array(icmp[40...])).withUnsafeBytes { TunnelMTU.checksum($0) }, 0)
    }

    func testInnerMTUForAPathOf1500() {
        XCTAssertEqual(TunnelMTU.innerMTU(pathMTU: 1500), 1399)
        XCTAssertEqual(TunnelMTU.innerMTU(pathMTU: 1500, outerIPv6: true), 1379)
    }
}
