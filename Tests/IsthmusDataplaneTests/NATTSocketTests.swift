import CIsthmusNet
import IsthmusIP
import XCTest

@testable import IsthmusDataplane

#if canImport(Glibc)
    import Glibc
#endif

/// The NAT-T socket and the batch plumbing on loopback (no root, no TUN needed).
final class NATTSocketTests: XCTestCase {
    private func loopback() throws -> IPAddress { try IPAddress(parsing: "127.0.0.1") }

    func testBindsAnEphemeralPortAndSendsOneDatagram() throws {
        let a = try NATTSocket(address: try loopback(), port: 0)
        let b = try NATTSocket(address: try loopback(), port: 0)
        XCTAssertNotEqual(a.port, 0)
        XCTAssertTrue(a.send([0, 0, 0, 0, 1, 2, 3], to: UDPEndpoint(address: try loopback(), port: b.port)))
        let batch = DatagramBatch(capacity: 4)
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 4 * 2048, alignment: 16)
        defer { buffer.deallocate() }
        for index in 0..<4 { batch.prepareReceive(index, into: buffer.baseAddress! + index * 2048, length: 2048) }
        var descriptor = pollfd(fd: b.fd, events: Int16(POLLIN), revents: 0)
        XCTAssertEqual(poll(&descriptor, 1, 2000), 1)
        let received = isthmusReceive(b.fd, batch)
        XCTAssertEqual(received, 1)
        XCTAssertEqual(batch.receivedLength(0), 7)
        XCTAssertEqual(Array(buffer[0..<7]), [0, 0, 0, 0, 1, 2, 3])
        XCTAssertEqual(batch.source(0), UDPEndpoint(address: try loopback(), port: a.port))
        XCTAssertEqual(batch.control(0).destination, try loopback(), "IP_PKTINFO names the address it was sent to")
    }

    func testABatchLeavesInOneCallAndArrivesInOne() throws {
        let a = try NATTSocket(address: try loopback(), port: 0)
        let b = try NATTSocket(address: try loopback(), port: 0)
        let out = DatagramBatch(capacity: 8)
        let payloads = UnsafeMutableRawBufferPointer.allocate(byteCount: 8 * 100, alignment: 16)
        defer { payloads.deallocate() }
        let destination = UDPEndpoint(address: try loopback(), port: b.port)
        for index in 0..<8 {
            for byte in 0..<(10 + index) { payloads[index * 100 + byte] = UInt8(index) }
            XCTAssertTrue(
                out.prepareSend(
                    index, packet: payloads.baseAddress! + index * 100, length: 10 + index, to: destination, family: .v4
                ))
        }
        XCTAssertEqual(isthmusSend(a.fd, out, count: 8), 8, "one sendmmsg sends all eight")
        let batch = DatagramBatch(capacity: 8)
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 8 * 2048, alignment: 16)
        defer { buffer.deallocate() }
        var total = 0
        let deadline = ContinuousClock.now + .seconds(2)
        while total < 8 && ContinuousClock.now < deadline {
            for index in 0..<8 { batch.prepareReceive(index, into: buffer.baseAddress! + index * 2048, length: 2048) }
            var descriptor = pollfd(fd: b.fd, events: Int16(POLLIN), revents: 0)
            _ = poll(&descriptor, 1, 200)
            let received = isthmusReceive(b.fd, batch)
            guard received > 0 else { continue }
            for index in 0..<received {
                let length = batch.receivedLength(index)
                XCTAssertEqual(length, 10 + total, "datagrams keep their order and boundaries")
                XCTAssertEqual(buffer[index * 2048], UInt8(total))
                total += 1
            }
        }
        XCTAssertEqual(total, 8)
    }

    func testATrainGatheredFromSeparateBuffersLeavesAsItsDatagrams() throws {
        // Three ESP-sized pieces in three buffers (as in three outbound slots), one message with UDP_SEGMENT:
        // the kernel gathers and splits them; the receiver sees 100, 100 and 60 bytes, in order (or one GRO
        // read of 260 bytes with segment size 100).
        let a = try NATTSocket(address: try loopback(), port: 0)
        let b = try NATTSocket(address: try loopback(), port: 0)
        let out = DatagramBatch(capacity: 4)
        let pieces = UnsafeMutableRawBufferPointer.allocate(byteCount: 3 * 512, alignment: 16)
        defer { pieces.deallocate() }
        let lengths = [100, 100, 60]
        var expected: [UInt8] = []
        for (index, length) in lengths.enumerated() {
            for byte in 0..<length { pieces[index * 512 + byte] = UInt8(truncatingIfNeeded: index * 64 + byte) }
            expected += pieces[(index * 512)..<(index * 512 + length)]
            out.setTrainPart(index, pieces.baseAddress! + index * 512, length)
        }
        let destination = UDPEndpoint(address: try loopback(), port: b.port)
        XCTAssertTrue(out.prepareSendTrain(0, parts: 0..<3, to: destination, family: .v4, segmentSize: 100))
        XCTAssertEqual(out.datagramCount(0), 3)
        XCTAssertEqual(out.segmentSize(0), 100)
        XCTAssertEqual(isthmusSend(a.fd, out, count: 1), 1)
        let batch = DatagramBatch(capacity: 4)
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 4 * 2048, alignment: 16)
        defer { buffer.deallocate() }
        var received: [UInt8] = []
        var sizes: [Int] = []
        let deadline = ContinuousClock.now + .seconds(2)
        while received.count < expected.count && ContinuousClock.now < deadline {
            for index in 0..<4 { batch.prepareReceive(index, into: buffer.baseAddress! + index * 2048, length: 2048) }
            var descriptor = pollfd(fd: b.fd, events: Int16(POLLIN), revents: 0)
            _ = poll(&descriptor, 1, 200)
            let count = isthmusReceive(b.fd, batch)
            guard count > 0 else { continue }
            for index in 0..<count {
                let length = batch.receivedLength(index)
                received += buffer[(index * 2048)..<(index * 2048 + length)]
                if let size = batch.control(index).segmentSize {
                    var left = length
                    while left > 0 {
                        sizes.append(min(size, left))
                        left -= size
                    }
                } else {
                    sizes.append(length)
                }
            }
        }
        XCTAssertEqual(received, expected, "the pieces arrive whole and in order")
        XCTAssertEqual(sizes, lengths, "as three datagrams")
    }

    func testAnIPv6AddressCannotBeSentOnAnIPv4Socket() throws {
        let a = try NATTSocket(address: try loopback(), port: 0)
        XCTAssertFalse(a.send([1], to: UDPEndpoint(address: try IPAddress(parsing: "2001:db8::1"), port: 4500)))
    }

    func testSocketAddressesRoundTrip() throws {
        for (text, family) in [("198.51.100.10", IPFamily.v4), ("2001:db8::7", .v6), ("203.0.113.20", .v6)] {
            let endpoint = UDPEndpoint(address: try IPAddress(parsing: text), port: 4500)
            var storage = sockaddr_storage()
            XCTAssertNotNil(SocketAddressCoding.write(endpoint, into: &storage, socketFamily: family))
            XCTAssertEqual(SocketAddressCoding.read(&storage), endpoint, "\(text) on an \(family) socket")
        }
    }

    func testTheSamePortCannotBeBoundTwice() throws {
        let a = try NATTSocket(address: try loopback(), port: 0)
        XCTAssertThrowsError(try NATTSocket(address: try loopback(), port: a.port))
    }

    private func isthmusReceive(_ fd: CInt, _ batch: DatagramBatch) -> Int {
        Int(isthmus_recvmmsg(fd, batch.messages, UInt32(batch.capacity), Int32(MSG_DONTWAIT)))
    }

    private func isthmusSend(_ fd: CInt, _ batch: DatagramBatch, count: Int) -> Int {
        Int(isthmus_sendmmsg(fd, batch.messages, UInt32(count), 0))
    }
}
