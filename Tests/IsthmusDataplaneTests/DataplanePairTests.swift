import Foundation
import IsthmusCrypto
@testable import IsthmusDataplane
import IsthmusESP
import IsthmusIP
import Logging
import Synchronization
import XCTest

/// Two data planes in one process, joined by in-memory sockets, each on an in-memory TUN (the model is
/// wireguard-go's `genTestPair`). Site A (192.168.1.0/24) is behind 198.51.100.1, site B (10.0.1.0/24)
/// behind 203.0.113.1; SAs go in through `submit(.sa(.install(...)))`, as IKE puts them in.
final class DataplanePairTests: XCTestCase {
    /// One gateway: its data plane, TUN, NAT-T socket and raw ESP socket, and the IKE messages it got.
    final class Gateway: Sendable {
        let plane: Dataplane
        let tun: MemoryPacketDevice
        let udp: MemoryDatagramSocket
        let raw: MemoryDatagramSocket
        let ikeMessages = Mutex<[(message: [UInt8], source: UDPEndpoint, destination: UDPEndpoint)]>([])

        init(name: String, address: IPAddress, network: MemoryNetwork, receiveOffload: Bool) throws {
            tun = try MemoryPacketDevice(name: name)
            udp = try MemoryDatagramSocket(
                network: network, address: address, port: 4500, receiveOffload: receiveOffload)
            raw = try MemoryDatagramSocket(network: network, address: address, port: 0, kind: .rawESP)
            plane = try Dataplane(
                device: tun, rawESP: raw, pathMTU: 1500,
                logger: Logger(label: "test.dataplane", factory: { _ in SwiftLogNoOpLogHandler() }))
        }

        func start() throws {
            try plane.start(
                on: udp,
                onIKE: { [self] message, source, destination in
                    ikeMessages.withLock { $0.append((message, source, destination)) }
                }, onLifetime: { _ in })
        }
    }

    static let aGateway = try! IPAddress(parsing: "198.51.100.1")
    static let bGateway = try! IPAddress(parsing: "203.0.113.1")
    static let suite = AlgorithmRegistry.algorithm(keyword: "aes128gcm16")!

    private var gateways: [Gateway] = []

    override func tearDown() {
        for gateway in gateways { gateway.plane.stop() }
        gateways = []
    }

    /// A TUN device that fails (poll: hang-up, as after `ip link del`) is detached and reported with its
    /// interface number and name; the loop goes on (the other device still carries traffic).
    func testAFailedDeviceIsDetachedAndReported() throws {
        let (a, _) = try makePair()
        let spare = try MemoryPacketDevice(name: "mem-spare")
        a.plane.attach(DataplaneDevice(device: spare), as: 7)
        let reported = Mutex<[(Int, String)]>([])
        let done = DispatchSemaphore(value: 0)
        a.plane.onDeviceFailure { interface, name in
            reported.withLock { $0.append((interface, name)) }
            done.signal()
        }
        spare.fail()
        XCTAssertEqual(done.wait(timeout: .now() + 10), .success, "no report")
        let seen = reported.withLock { $0 }
        XCTAssertEqual(seen.map(\.0), [7])
        XCTAssertEqual(seen.map(\.1), ["mem-spare"])
        XCTAssertTrue(a.plane.isRunning)
        XCTAssertEqual(a.plane.counters.interfaces, ["mem-a"], "detached before it is reported")
    }

    /// Two started gateways; B coalesces received datagrams (GRO) unless told otherwise.
    private func makePair(bReceiveOffload: Bool = true) throws -> (a: Gateway, b: Gateway) {
        let network = MemoryNetwork()
        let a = try Gateway(name: "mem-a", address: Self.aGateway, network: network, receiveOffload: true)
        let b = try Gateway(name: "mem-b", address: Self.bGateway, network: network, receiveOffload: bReceiveOffload)
        gateways = [a, b]
        try a.start()
        try b.start()
        return (a, b)
    }

    /// Both halves of one CHILD SA pair with matching keys, as IKE would hand them to each side.
    private func saPair(
        spiToA: UInt32, spiToB: UInt32, keySeed: UInt8 = 1, udpEncapsulated: Bool = true
    ) throws -> (a: ESPSecurityAssociation, b: ESPSecurityAssociation) {
        let keyLength = try CryptoSuites.encryptionKeyLength(
            encryptionID: Self.suite.ikev2ID, keyBits: Self.suite.keyLengthBits)
        func key(_ seed: UInt8) -> SecretBytes {
            SecretBytes((0..<keyLength).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ Int(seed)) })
        }
        let toB = key(keySeed)
        let toA = key(keySeed &+ 100)
        let siteA = [TrafficSelector(prefix: try IPPrefix(parsing: "192.168.1.0/24"))]
        let siteB = [TrafficSelector(prefix: try IPPrefix(parsing: "10.0.1.0/24"))]
        let aEnd = UDPEndpoint(address: Self.aGateway, port: 4500)
        let bEnd = UDPEndpoint(address: Self.bGateway, port: 4500)
        let a = ESPSecurityAssociation(
            inboundSPI: spiToA, outboundSPI: spiToB, encryption: Self.suite, integrity: nil,
            extendedSequenceNumbers: false, inboundEncryptionKey: toA, inboundIntegrityKey: SecretBytes([]),
            outboundEncryptionKey: toB, outboundIntegrityKey: SecretBytes([]), localSelectors: siteA,
            remoteSelectors: siteB, tunnel: ESPTunnel(local: aEnd, remote: bEnd, udpEncapsulated: udpEncapsulated),
            connection: "a-to-b")
        let b = ESPSecurityAssociation(
            inboundSPI: spiToB, outboundSPI: spiToA, encryption: Self.suite, integrity: nil,
            extendedSequenceNumbers: false, inboundEncryptionKey: toB, inboundIntegrityKey: SecretBytes([]),
            outboundEncryptionKey: toA, outboundIntegrityKey: SecretBytes([]), localSelectors: siteB,
            remoteSelectors: siteA, tunnel: ESPTunnel(local: bEnd, remote: aEnd, udpEncapsulated: udpEncapsulated),
            connection: "b-to-a")
        return (a, b)
    }

    /// Installs a pair on both gateways, through the queue IKE uses.
    private func install(_ pair: (a: ESPSecurityAssociation, b: ESPSecurityAssociation), on a: Gateway, _ b: Gateway) {
        a.plane.submit(.sa(.install(pair.a)))
        b.plane.submit(.sa(.install(pair.b)))
    }

    /// An ICMP echo request (or reply) in IPv4, checksums filled in.
    private func icmpEcho(
        from source: String, to destination: String, sequence: UInt16, reply: Bool = false, payloadLength: Int = 56
    ) throws -> [UInt8] {
        func checksum(_ bytes: ArraySlice<UInt8>) -> UInt16 {
            var sum: UInt32 = 0
            var index = bytes.startIndex
            while index < bytes.endIndex {
                let high = UInt32(bytes[index]) << 8
                let low = index + 1 < bytes.endIndex ? UInt32(bytes[index + 1]) : 0
                sum += high | low
                index += 2
            }
            while sum >> 16 != 0 { sum = (sum & 0xFFFF) + (sum >> 16) }
            return ~UInt16(sum)
        }
        let total = 20 + 8 + payloadLength
        var packet: [UInt8] = [0x45, 0, UInt8(total >> 8), UInt8(total & 0xFF), 0, 1, 0, 0, 64, 1, 0, 0]
        packet += try IPAddress(parsing: source).bytes + IPAddress(parsing: destination).bytes
        let header = checksum(packet[0..<20])
        packet[10] = UInt8(header >> 8)
        packet[11] = UInt8(header & 0xFF)
        packet += [reply ? 0 : 8, 0, 0, 0, 0x49, 0x53, UInt8(sequence >> 8), UInt8(sequence & 0xFF)]
        packet += (0..<payloadLength).map { UInt8(truncatingIfNeeded: $0) }
        let icmp = checksum(packet[20...])
        packet[22] = UInt8(icmp >> 8)
        packet[23] = UInt8(icmp & 0xFF)
        return packet
    }

    /// Waits (up to five seconds) until `condition` holds.
    private func eventually(_ condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(5)
        while Date() < deadline {
            if condition() { return true }
            usleep(2_000)
        }
        return condition()
    }

    /// The packets the data plane writes to `tun`, once `count` of them arrived (or what came in five seconds).
    private func packets(from tun: MemoryPacketDevice, count: Int) -> [[UInt8]] {
        var packets: [[UInt8]] = []
        _ = eventually {
            packets += tun.takeWritten()
            return packets.count >= count
        }
        return packets
    }

    private func spi(_ datagram: MemoryDatagramSocket.Datagram?) -> UInt32? {
        guard let bytes = datagram?.bytes, bytes.count >= 4 else { return nil }
        return bytes[0..<4].reduce(0) { $0 << 8 | UInt32($1) }
    }

    func testPingCrossesTwoDataplanes() throws {
        let (a, b) = try makePair()
        install(try saPair(spiToA: 0xA000_0001, spiToB: 0xB000_0001), on: a, b)
        let request = try icmpEcho(from: "192.168.1.10", to: "10.0.1.20", sequence: 1)
        a.tun.inject([request])
        XCTAssertEqual(packets(from: b.tun, count: 1), [request])
        let reply = try icmpEcho(from: "10.0.1.20", to: "192.168.1.10", sequence: 1, reply: true)
        b.tun.inject([reply])
        XCTAssertEqual(packets(from: a.tun, count: 1), [reply])

        let sent = a.udp.sent
        XCTAssertEqual(sent.count, 1)
        XCTAssertEqual(sent.first?.destination, b.udp.endpoint)
        XCTAssertNil(sent.first?.segmentSize)
        XCTAssertEqual(spi(sent.first), 0xB000_0001)
        for (gateway, name) in [(a, "a-to-b"), (b, "b-to-a")] {
            XCTAssertTrue(eventually { gateway.plane.counters.espPacketsIn == 1 })
            let counters = gateway.plane.counters
            XCTAssertEqual(counters.interfaces, [gateway.tun.name])
            XCTAssertEqual(counters.tunPacketsRead, 1)
            XCTAssertEqual(counters.espPacketsOut, 1)
            XCTAssertEqual(counters.datagramsSent, 1)
            XCTAssertEqual(counters.datagramsReceived, 1)
            XCTAssertEqual(counters.installedSAs, 1)
            XCTAssertEqual(counters.segmentationTrains, 0)
            XCTAssertEqual(counters.connections[name]?.packetsOut, 1)
            XCTAssertEqual(counters.connections[name]?.packetsIn, 1)
            XCTAssertEqual(counters.drops, [:])
        }

        // IKE and keepalives share the port: a message with the non-ESP marker reaches the other side's
        // IKE (marker removed, with the address it was sent to); a keepalive is only counted.
        let ike = [UInt8](repeating: 0x2A, count: 28)
        a.plane.submit(.sendUDP([0, 0, 0, 0] + ike, to: b.udp.endpoint))
        a.plane.submit(.sendUDP([0xFF], to: b.udp.endpoint))
        XCTAssertTrue(eventually { b.plane.counters.natKeepalivesIn == 1 })
        let messages = b.ikeMessages.withLock { $0 }
        XCTAssertEqual(messages.count, 1)
        XCTAssertEqual(messages.first?.message, ike)
        XCTAssertEqual(messages.first?.source, a.udp.endpoint)
        XCTAssertEqual(messages.first?.destination, b.udp.endpoint)
        XCTAssertEqual(b.plane.counters.ikeMessagesIn, 1)
    }

    func testEqualSizedPacketsLeaveAsOneGSOTrainAndAreSplitOnTheOtherSide() throws {
        let (a, b) = try makePair()
        install(try saPair(spiToA: 0xA000_0002, spiToB: 0xB000_0002), on: a, b)
        let requests = try (1...10).map { try icmpEcho(from: "192.168.1.10", to: "10.0.1.20", sequence: $0) }
        a.tun.inject(requests)
        let delivered = packets(from: b.tun, count: 10)
        XCTAssertEqual(delivered.count, 10)
        XCTAssertTrue(delivered == requests, "every packet arrives once, in order")

        // One send: the ten ESP datagrams side by side with their size; B read them as one GRO datagram.
        let sent = a.udp.sent
        XCTAssertEqual(sent.count, 1)
        let size = try XCTUnwrap(sent.first?.segmentSize)
        XCTAssertEqual(sent.first?.bytes.count, 10 * size)
        // Each side publishes its counters at most 20 ms after the fact: wait for both.
        XCTAssertTrue(eventually { a.plane.counters.datagramsSent == 10 && b.plane.counters.espPacketsIn == 10 })
        let out = a.plane.counters
        XCTAssertEqual(out.tunPacketsRead, 10)
        XCTAssertEqual(out.segmentationTrains, 1)
        XCTAssertEqual(out.segmentedDatagrams, 10)
        XCTAssertEqual(out.sendCalls, 1)
        XCTAssertEqual(out.datagramsSent, 10)
        XCTAssertEqual(out.espPacketsOut, 10)
        XCTAssertEqual(out.espBytesOut, UInt64(10 * size))
        let received = b.plane.counters
        XCTAssertEqual(received.receiveCalls, 1)
        XCTAssertEqual(received.datagramsReceived, 10)
        XCTAssertEqual(received.espBytesIn, UInt64(10 * size))
        XCTAssertEqual(received.drops, [:])
    }

    /// A rekey: B reads a full batch of packets on the old SA; meanwhile IKE queues the new SA, and the next
    /// read, in the same turn, holds a packet on it. The queued install runs before that read: the packet
    /// is decrypted, never dropped as `unknown-spi`.
    func testPacketOnANewSARightAfterItsInstallIsDecrypted() throws {
        let (a, b) = try makePair(bReceiveOffload: false)
        install(try saPair(spiToA: 0xA000_0003, spiToB: 0xB000_0003), on: a, b)
        let batch = Dataplane.batchSize
        let old = try (1...batch).map { try icmpEcho(from: "192.168.1.10", to: "10.0.1.20", sequence: UInt16($0)) }
        b.udp.hold()
        a.tun.inject(old)
        XCTAssertTrue(eventually { b.udp.waitingCount == batch })

        let rekeyed = try saPair(spiToA: 0xA000_0004, spiToB: 0xB000_0004, keySeed: 2)
        a.plane.submit(.sa(.install(rekeyed.a)))
        let new = try icmpEcho(from: "192.168.1.10", to: "10.0.1.20", sequence: 1000)
        a.tun.inject([new])
        XCTAssertTrue(eventually { b.udp.waitingCount == batch + 1 })
        XCTAssertEqual(spi(a.udp.sent.last), 0xB000_0004, "A sends on the new SA")

        // IKE on B queues the new SA while B's data plane reads the old SA's batch.
        let plane = b.plane
        b.udp.beforeNextReceive { plane.submit(.sa(.install(rekeyed.b))) }
        b.udp.release()
        let delivered = packets(from: b.tun, count: batch + 1)
        XCTAssertEqual(delivered.count, batch + 1)
        XCTAssertTrue(delivered == old + [new], "every packet arrives once, in order")
        XCTAssertTrue(eventually { b.plane.counters.espPacketsIn == UInt64(batch + 1) })
        let counters = b.plane.counters
        XCTAssertNil(counters.drops["unknown-spi"])
        XCTAssertEqual(counters.drops, [:])
        XCTAssertEqual(counters.installedSAs, 2)
        XCTAssertEqual(counters.datagramsReceived, UInt64(batch + 1))
        XCTAssertEqual(counters.receiveCalls, 2, "one full batch, then the packet on the new SA")
    }

    func testRawESPCarriesPacketsWithoutUDP() throws {
        let (a, b) = try makePair()
        install(try saPair(spiToA: 0xA000_0005, spiToB: 0xB000_0005, udpEncapsulated: false), on: a, b)
        let request = try icmpEcho(from: "192.168.1.10", to: "10.0.1.20", sequence: 7)
        a.tun.inject([request])
        XCTAssertEqual(packets(from: b.tun, count: 1), [request])
        XCTAssertTrue(a.udp.sent.isEmpty)
        XCTAssertEqual(a.raw.sent.count, 1)
        XCTAssertEqual(spi(a.raw.sent.first), 0xB000_0005)
        XCTAssertTrue(eventually { a.plane.counters.datagramsSent == 1 && b.plane.counters.espPacketsIn == 1 })
        XCTAssertEqual(b.plane.counters.drops, [:])
    }

    /// `status --json` shows these keys; the restructured data plane must not change them.
    func testCountersKeepTheirJSONKeys() throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let object = try JSONSerialization.jsonObject(with: encoder.encode(DataplaneCounters()))
        let keys = try XCTUnwrap(object as? [String: Any]).keys.sorted()
        XCTAssertEqual(
            keys,
            [
                "coalescedSegments", "coalescedWrites", "connections", "datagramsReceived", "datagramsSent", "drops",
                "espBytesIn", "espBytesOut", "espPacketsIn", "espPacketsOut", "icmpTooBigSent", "ikeMessagesIn",
                "installedSAs", "lifetimeEvents", "mssClamped", "natKeepalivesIn", "receiveCalls", "segmentationTrains",
                "segmentedDatagrams", "sendCalls", "tcpSegmentationReads", "tunPacketsRead", "interfaces", "aclHits",
            ].sorted())
    }

    /// A hub with two route-based peers, both with 0.0.0.0/0 selectors: each of the hub's interfaces has
    /// its own SPD, so what the kernel routes into interface 1 goes to spoke A, into interface 2 to spoke
    /// C, and what each spoke sends comes out of its own interface.
    func testRouteBasedPeersWithTheSameSelectorsEachGetTheirOwnInterfacesTraffic() throws {
        let network = MemoryNetwork()
        let address = { (text: String) in try! IPAddress(parsing: text) }
        let a = try Gateway(name: "mem-a", address: address("198.51.100.1"), network: network, receiveOffload: true)
        let c = try Gateway(name: "mem-c", address: address("198.51.100.2"), network: network, receiveOffload: true)
        let hubUDP = try MemoryDatagramSocket(network: network, address: Self.bGateway, port: 4500)
        let hubRaw = try MemoryDatagramSocket(network: network, address: Self.bGateway, port: 0, kind: .rawESP)
        let toA = try MemoryPacketDevice(name: "mem-h1")
        let toC = try MemoryPacketDevice(name: "mem-h2")
        let hub = try Dataplane(
            devices: [(1, toA), (2, toC)], rawESP: hubRaw, pathMTU: 1500,
            logger: Logger(label: "test.dataplane", factory: { _ in SwiftLogNoOpLogHandler() }))
        defer { hub.stop() }
        gateways = [a, c]
        try a.start()
        try c.start()
        try hub.start(on: hubUDP, onIKE: { _, _, _ in }, onLifetime: { _ in })
        let any = [TrafficSelector(prefix: try IPPrefix(parsing: "0.0.0.0/0"))]
        for (spoke, interface, spi) in [(a, 1, UInt32(0x1000)), (c, 2, UInt32(0x2000))] {
            var pair = try saPair(spiToA: spi + 1, spiToB: spi + 2, keySeed: UInt8(interface))
            pair.a.localSelectors = any
            pair.a.remoteSelectors = any
            pair.a.tunnel.local = spoke.udp.endpoint
            pair.b.localSelectors = any
            pair.b.remoteSelectors = any
            pair.b.tunnel.remote = spoke.udp.endpoint
            pair.b.interface = interface
            spoke.plane.submit(.sa(.install(pair.a)))
            hub.submit(.sa(.install(pair.b)))
        }
        let toSpokeC = try icmpEcho(from: "10.0.1.4", to: "192.168.2.10", sequence: 1)
        toC.inject([toSpokeC])
        XCTAssertEqual(packets(from: c.tun, count: 1), [toSpokeC])
        let toSpokeA = try icmpEcho(from: "10.0.1.4", to: "192.168.2.10", sequence: 2)
        toA.inject([toSpokeA])
        XCTAssertEqual(packets(from: a.tun, count: 1), [toSpokeA])
        XCTAssertEqual(c.tun.takeWritten(), [], "spoke C got spoke A's packet")

        let fromC = try icmpEcho(from: "192.168.2.10", to: "10.0.1.4", sequence: 3, reply: true)
        c.tun.inject([fromC])
        XCTAssertEqual(packets(from: toC, count: 1), [fromC])
        XCTAssertEqual(toA.takeWritten(), [], "spoke C's packet came out of spoke A's interface")
        XCTAssertEqual(hub.counters.interfaces, ["mem-h1", "mem-h2"])
    }
}
