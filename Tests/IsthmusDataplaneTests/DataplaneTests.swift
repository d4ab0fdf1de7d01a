import IsthmusCrypto
@testable import IsthmusDataplane
import IsthmusESP
import IsthmusIP
import Dispatch
import XCTest

#if canImport(Glibc)
    import Glibc
#endif

final class DataplaneQueueTests: XCTestCase {
    private func readable(_ fd: CInt) -> Bool {
        var descriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        return poll(&descriptor, 1, 0) == 1
    }

    private let peer = UDPEndpoint(address: IPAddress(v4: 0xC633_6401), port: 4500)  // 198.51.100.1

    func testPushWakesAndTakeAllDrainsInOrder() throws {
        let queue = try DataplaneQueue()
        XCTAssertFalse(readable(queue.wakeFD))
        queue.push(.sendUDP([1], to: peer))
        queue.push(.sa(.remove(inboundSPI: 7)))
        XCTAssertTrue(readable(queue.wakeFD))
        let items = queue.takeAll()
        XCTAssertEqual(items.count, 2)
        guard case .sendUDP(let bytes, _) = items[0], case .sa(.remove(let spi)) = items[1] else {
            return XCTFail("unexpected order: \(items)")
        }
        XCTAssertEqual(bytes, [1])
        XCTAssertEqual(spi, 7)
        XCTAssertFalse(readable(queue.wakeFD), "the wake-up pipe is drained")
        XCTAssertTrue(queue.takeAll().isEmpty)
    }

    func testPushAfterTakeAllLeavesThePipeReadable() throws {
        let queue = try DataplaneQueue()
        queue.push(.stop)
        _ = queue.takeAll()
        queue.push(.stop)
        XCTAssertTrue(readable(queue.wakeFD))
    }

    func testConcurrentProducersLoseNothing() throws {
        let queue = try DataplaneQueue()
        let peer = self.peer
        DispatchQueue.concurrentPerform(iterations: 8) { worker in
            for index in 0..<1000 { queue.push(.sendUDP([UInt8(worker), UInt8(index & 0xFF)], to: peer)) }
        }
        XCTAssertEqual(queue.takeAll().count, 8000)
    }
}

final class TUNDeviceTests: XCTestCase {
    func testInterfaceNames() {
        XCTAssertTrue(TUNDevice.isValidName("isthmus0"))
        XCTAssertTrue(TUNDevice.isValidName("office-dynamic1"))  // 15 bytes
        XCTAssertFalse(TUNDevice.isValidName("office-dynamic12"))  // 16 bytes
        XCTAssertFalse(TUNDevice.isValidName(""))
        XCTAssertFalse(TUNDevice.isValidName("a/b"))
        XCTAssertFalse(TUNDevice.isValidName("a b"))
        XCTAssertThrowsError(try TUNDevice.open(name: "far-too-long-name-for-linux"))
    }
}

final class RawESPSocketTests: XCTestCase {
    func testPayloadOfAnIPv4ESPPacket() {
        var packet: [UInt8] = [0x45, 0, 0, 32, 0, 0, 0, 0, 64, 50, 0, 0, 198, 51, 100, 10, 203, 0, 113, 20]
        packet += [0, 0, 0, 1, 0, 0, 0, 1, 9, 9, 9, 9]
        packet.withUnsafeBytes { XCTAssertEqual(RawESPSocket.payload(of: $0), 20..<32) }
        // Options (IHL 6) are skipped.
        var withOptions = packet
        withOptions[0] = 0x46
        withOptions[3] = 36
        withOptions.insert(contentsOf: [1, 1, 1, 0], at: 20)
        withOptions.withUnsafeBytes { XCTAssertEqual(RawESPSocket.payload(of: $0), 24..<36) }
    }

    func testMalformedOuterHeadersAreRejected() {
        let short: [UInt8] = [0x45, 0, 0, 10]
        short.withUnsafeBytes { XCTAssertNil(RawESPSocket.payload(of: $0)) }
        var udp: [UInt8] = [0x45, 0, 0, 24, 0, 0, 0, 0, 64, 17, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 0, 0, 0, 0]
        udp.withUnsafeBytes { XCTAssertNil(RawESPSocket.payload(of: $0)) }
        udp[9] = 50
        udp[0] = 0x4F  // IHL 60 > packet
        udp.withUnsafeBytes { XCTAssertNil(RawESPSocket.payload(of: $0)) }
        udp[0] = 0x65  // version 6
        udp.withUnsafeBytes { XCTAssertNil(RawESPSocket.payload(of: $0)) }
    }
}
