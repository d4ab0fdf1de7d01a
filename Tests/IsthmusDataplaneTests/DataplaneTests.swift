import IsthmusCrypto
@testable import IsthmusDataplane
import IsthmusESP
import IsthmusIP
import Dispatch
import Logging
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

    func testConcurrentProducersLoseNothingBelowTheBound() throws {
        let queue = try DataplaneQueue(datagramCapacity: 8000, capacity: 8000)
        let peer = self.peer
        DispatchQueue.concurrentPerform(iterations: 8) { worker in
            for index in 0..<1000 { queue.push(.sendUDP([UInt8(worker), UInt8(index & 0xFF)], to: peer)) }
        }
        XCTAssertEqual(queue.takeAll().count, 8000)
        XCTAssertEqual(queue.dropped, 0)
    }

    /// Datagrams are refused at the datagram bound, other commands only at the larger one, `stop` never;
    /// each refusal is counted, and room comes back once the consumer took the queue.
    func testBoundsRefuseAndCountDrops() throws {
        let queue = try DataplaneQueue(datagramCapacity: 2, capacity: 4)
        XCTAssertTrue(queue.push(.sendUDP([1], to: peer)))
        XCTAssertTrue(queue.push(.sendUDP([2], to: peer)))
        XCTAssertFalse(queue.push(.sendUDP([3], to: peer)), "a third datagram is over the datagram bound")
        XCTAssertTrue(queue.push(.sa(.remove(inboundSPI: 1))), "SA changes have room datagrams do not")
        XCTAssertTrue(queue.push(.detach(interface: 1)))
        XCTAssertFalse(queue.push(.sa(.remove(inboundSPI: 2))), "the queue is full")
        XCTAssertTrue(queue.push(.stop), "stop is never refused")
        XCTAssertEqual(queue.dropped, 2)
        XCTAssertEqual(queue.count, 5)
        let taken = queue.takeAll()
        guard case .sendUDP(let first, _) = taken[0], case .stop = taken[4] else {
            return XCTFail("unexpected order: \(taken)")
        }
        XCTAssertEqual(first, [1])
        XCTAssertTrue(queue.push(.sendUDP([4], to: peer)), "room again after takeAll")
        XCTAssertEqual(queue.dropped, 2)
    }

    /// A data plane's counters show the queue's refusals as `command-queue-full` drops.
    func testQueueDropsReachTheCounters() throws {
        let plane = try Dataplane(
            device: MemoryPacketDevice(name: "mem0"), rawESP: nil, pathMTU: 1500,
            logger: Logger(label: "test"), queue: DataplaneQueue(datagramCapacity: 1, capacity: 1))
        plane.submit(.sendUDP([1], to: peer))
        plane.submit(.sendUDP([2], to: peer))
        plane.submit(.sendUDP([3], to: peer))
        XCTAssertEqual(plane.counters.drops["command-queue-full"], 2)
        XCTAssertEqual(plane.counters.running, false, "not started")
    }
}

final class HandoffBoundTests: XCTestCase {
    func testRefusesPastCapacityAndCountsEachRefusal() {
        let bound = HandoffBound(capacity: 2)
        XCTAssertTrue(bound.enter())
        XCTAssertTrue(bound.enter())
        XCTAssertFalse(bound.enter())
        XCTAssertFalse(bound.enter())
        XCTAssertEqual(bound.waiting, 2, "refused items take no room")
        XCTAssertEqual(bound.dropped, 2)
        bound.leave()
        XCTAssertTrue(bound.enter(), "room again once the consumer took one")
        XCTAssertEqual(bound.dropped, 2)
    }

    func testConcurrentProducersNeverExceedTheCapacity() {
        let bound = HandoffBound(capacity: 100)
        DispatchQueue.concurrentPerform(iterations: 8) { _ in
            for _ in 0..<1000 { _ = bound.enter() }
        }
        XCTAssertEqual(bound.waiting, 100)
        XCTAssertEqual(bound.dropped, 7900)
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
