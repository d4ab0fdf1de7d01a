import IsthmusCrypto
@testable import IsthmusDataplane
import IsthmusESP
import IsthmusIKEv2
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

    func testPushWakesAndTakeAllDrainsInOrder() throws {
        let queue = try DataplaneQueue(capacity: 4)
        XCTAssertFalse(readable(queue.wakeFD))
        XCTAssertTrue(queue.push(.inbound([1])))
        XCTAssertTrue(queue.push(.remove(inboundSPI: 7)))
        XCTAssertTrue(readable(queue.wakeFD))
        let items = queue.takeAll()
        XCTAssertEqual(items.count, 2)
        guard case .inbound(let bytes) = items[0], case .remove(let spi) = items[1] else {
            return XCTFail("unexpected order: \(items)")
        }
        XCTAssertEqual(bytes, [1])
        XCTAssertEqual(spi, 7)
        XCTAssertFalse(readable(queue.wakeFD), "the wake-up pipe is drained")
        XCTAssertTrue(queue.takeAll().isEmpty)
    }

    func testPacketsBeyondCapacityAreRefusedButControlIsNot() throws {
        let queue = try DataplaneQueue(capacity: 2)
        XCTAssertTrue(queue.push(.inbound([1])))
        XCTAssertTrue(queue.push(.inbound([2])))
        XCTAssertFalse(queue.push(.inbound([3])))
        XCTAssertTrue(queue.push(.remove(inboundSPI: 1)))
        XCTAssertTrue(queue.push(.stop))
        XCTAssertEqual(queue.count, 4)
        _ = queue.takeAll()
        XCTAssertTrue(queue.push(.inbound([4])), "capacity is free again after takeAll")
    }

    func testPushAfterTakeAllLeavesThePipeReadable() throws {
        let queue = try DataplaneQueue()
        queue.push(.stop)
        _ = queue.takeAll()
        queue.push(.stop)
        XCTAssertTrue(readable(queue.wakeFD))
    }

    func testConcurrentProducersLoseNothing() throws {
        let queue = try DataplaneQueue(capacity: 100_000)
        DispatchQueue.concurrentPerform(iterations: 8) { worker in
            for index in 0..<1000 { queue.push(.inbound([UInt8(worker), UInt8(index & 0xFF)])) }
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

final class ChildSAConversionTests: XCTestCase {
    private func ip(_ text: String) throws -> IPAddress { try IPAddress(parsing: text) }

    private func anyV4() throws -> [TrafficSelector] {
        [TrafficSelector(prefix: IPPrefix(masking: try ip("0.0.0.0"), length: 0))]
    }

    private func keys(_ seed: UInt8) -> SecretBytes { SecretBytes((0..<36).map { UInt8($0) &+ seed }) }

    private func child(
        inbound: UInt32, outbound: UInt32, keysIn: SecretBytes, keysOut: SecretBytes, local: String, remote: String
    )
        throws -> ChildSAParameters
    {
        ChildSAParameters(
            inboundSPI: inbound, outboundSPI: outbound,
            encryption: try XCTUnwrap(AlgorithmRegistry.algorithm(keyword: "aes256gcm16")), integrity: nil,
            extendedSequenceNumbers: false, inboundEncryptionKey: keysIn, inboundIntegrityKey: SecretBytes([]),
            outboundEncryptionKey: keysOut, outboundIntegrityKey: SecretBytes([]), localSelectors: try anyV4(),
            remoteSelectors: try anyV4(), local: UDPEndpoint(address: try ip(local), port: 4500),
            remote: UDPEndpoint(address: try ip(remote), port: 4500), udpEncapsulated: true,
            softLifetime: .seconds(3000), hardLifetime: .seconds(3600), hardLifetimeBytes: 1_000_000)
    }

    /// A route-based pair (0.0.0.0/0 both ways) converted on both gateways carries a ping one way.
    func testRouteBasedChildSAsInteroperate() throws {
        let office = ESPSecurityAssociation(
            childSA: try child(
                inbound: 0xA1, outbound: 0xB1, keysIn: keys(1), keysOut: keys(2), local: "198.51.100.10",
                remote: "203.0.113.20"), connection: "office-cloud")
        let cloud = ESPSecurityAssociation(
            childSA: try child(
                inbound: 0xB1, outbound: 0xA1, keysIn: keys(2), keysOut: keys(1), local: "203.0.113.20",
                remote: "198.51.100.10"), connection: "cloud-office")
        XCTAssertEqual(office.softLifetime, ESPLifetime(time: .seconds(3000), bytes: 900_000))
        XCTAssertEqual(office.hardLifetime, ESPLifetime(time: .seconds(3600), bytes: 1_000_000))
        XCTAssertEqual(office.tunnel.remote, ESPEndpoint(address: try ip("203.0.113.20"), port: 4500))
        XCTAssertTrue(office.tunnel.udpEncapsulated)
        XCTAssertNil(office.outboundHold)
        var held = try child(
            inbound: 0xA2, outbound: 0xB2, keysIn: keys(1), keysOut: keys(2), local: "198.51.100.10",
            remote: "203.0.113.20")
        held.outboundHold = .seconds(90)
        XCTAssertEqual(ESPSecurityAssociation(childSA: held, connection: "c").outboundHold, .seconds(90))
        let a = ESPEngine()
        let b = ESPEngine()
        try a.install(office, now: .zero)
        try b.install(cloud, now: .zero)

        // ICMP echo 192.168.1.10 -> 10.0.1.4 (checksums are not checked by the engine).
        var inner: [UInt8] = [0x45, 0, 0, 28, 0, 1, 0, 0, 64, 1, 0, 0, 192, 168, 1, 10, 10, 0, 1, 4]
        inner += [8, 0, 0, 0, 0, 1, 0, 1]
        let headroom = ESPEngine.requiredHeadroom
        let buffer = UnsafeMutableRawBufferPointer.allocate(
            byteCount: headroom + inner.count + ESPEngine.requiredTailroom, alignment: 16)
        defer { buffer.deallocate() }
        UnsafeMutableRawBufferPointer(rebasing: buffer[headroom..<(headroom + inner.count)]).copyBytes(from: inner)
        guard
            case .packet(let out) = a.encapsulate(
                innerPacketAt: headroom..<(headroom + inner.count), in: buffer, now: .zero)
        else { return XCTFail("no ESP packet") }
        XCTAssertEqual(out.outboundSPI, 0xB1)
        var esp = Array(UnsafeRawBufferPointer(rebasing: buffer[out.range]))
        var tampered = esp
        tampered[tampered.count - 1] ^= 1
        let bad = tampered.withUnsafeMutableBytes { b.decapsulate(espPacket: $0, now: .zero) }
        XCTAssertEqual(bad, .drop(.integrityFailure))
        let result = esp.withUnsafeMutableBytes { b.decapsulate(espPacket: $0, now: .zero) }
        guard case .packet(let decrypted) = result else { return XCTFail("not decapsulated: \(result)") }
        XCTAssertEqual(Array(esp[decrypted.range]), inner)
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
