import ArgumentParser
import Foundation
import IsthmusCrypto
import IsthmusESP
import IsthmusIP

/// `isthmus-bench esp`: the user-space half of the data plane in memory, one thread, no kernel: TCP
/// super-packets (what a TUN with TSO hands over) cut into segments, sealed by one `ESPEngine`, opened by
/// another and merged back into super-packets, each stage timed. The regression guard for data-plane work
/// (run it before and after a change, in one sitting); the kernel's share is `scripts/bench-tunnel`'s.
struct ESPPipelineBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "esp",
        abstract: "ESP data-plane stages in memory (segment, seal, open, coalesce): ns per packet, Gbit/s per core."
    )

    @Option(help: "Seconds per suite.")
    var seconds: Double = 3

    @Option(help: "TCP payload bytes per segment (the MSS; 1360 fits the lab's 1400-byte tunnel MTU).")
    var mss: Int = 1360

    @Option(help: "Segments per super-packet (the kernel's TSO trains here are about 45).")
    var segments: Int = 45

    @Option(parsing: .upToNextOption, help: "ESP suites (strongSwan keywords).")
    var suites: [String] = ["aes128gcm16", "aes256-sha256"]

    func validate() throws {
        guard seconds > 0, seconds <= 600 else { throw ValidationError("--seconds must be in (0, 600]") }
        guard mss >= 64, mss <= 9000 else { throw ValidationError("--mss must be in 64...9000") }
        guard segments >= 1, segments * mss + 40 <= 65_535, segments <= TCPCoalescer.maximumSegments else {
            throw ValidationError("--segments must be in 1...64 and fit a 64 KiB super-packet")
        }
    }

    func run() throws {
        print("isthmus-bench esp: \(segments) x \(mss)-byte TCP segments per super-packet, \(seconds) s per suite")
        print("per packet: segment (cut + TCP checksum), seal (ESPEngine.encapsulate), open (decapsulate),")
        print("coalesce (checksum check + merge); Gbit/s = TCP payload per core for each gateway's user-space share")
        print("")
        print(
            "suite".padding(toLength: 16, withPad: " ", startingAt: 0)
                + "segment   seal      open      coalesce  sender Gb/s  receiver Gb/s")
        for name in suites {
            let result = try measure(suite: name)
            let perPacket = result.perPacketNanoseconds
            let bits = Double(mss * 8)
            let sender = bits / (perPacket.segment + perPacket.seal)
            let receiver = bits / (perPacket.open + perPacket.coalesce)
            let cells = [perPacket.segment, perPacket.seal, perPacket.open, perPacket.coalesce].map {
                String(format: "%.0f ns", $0).padding(toLength: 10, withPad: " ", startingAt: 0)
            }
            print(
                name.padding(toLength: 16, withPad: " ", startingAt: 0) + cells.joined()
                    + String(format: "%-13.2f%.2f", sender, receiver))
        }
    }

    /// Nanoseconds per packet of each stage, and how many packets were measured.
    struct Result {
        var segment = 0.0
        var seal = 0.0
        var open = 0.0
        var coalesce = 0.0
        var packets = 0

        var perPacketNanoseconds: (segment: Double, seal: Double, open: Double, coalesce: Double) {
            let count = Double(max(packets, 1))
            return (segment / count, seal / count, open / count, coalesce / count)
        }
    }

    private func measure(suite name: String) throws -> Result {
        let proposal: Proposal
        do {
            proposal = try Proposal(parsing: name, for: .esp, version: .v2)
        } catch {
            throw ValidationError("\(error)")
        }
        guard let encryption = proposal.encryption.first else { throw ValidationError("\(name) names no cipher") }
        let (sender, receiver) = try engines(encryption: encryption, integrity: proposal.integrity.first)
        let superPacket = Self.superPacket(mss: mss, segments: segments)
        let layout = superPacket.withUnsafeBytes { TCPSegmentation.layout($0) }
        guard let layout else { throw ValidationError("the synthetic super-packet does not parse") }

        let slotSize = ESPEngine.requiredHeadroom + mss + 60 + ESPEngine.requiredTailroom
        let slots = UnsafeMutableRawBufferPointer.allocate(byteCount: slotSize * segments, alignment: 64)
        let merged = UnsafeMutableRawBufferPointer.allocate(byteCount: TCPCoalescer.requiredCapacity, alignment: 64)
        defer {
            slots.deallocate()
            merged.deallocate()
        }
        var coalescer = TCPCoalescer(buffer: merged)
        var lengths = [Int](repeating: 0, count: segments)
        var ranges = [Range<Int>](repeating: 0..<0, count: segments)
        var result = Result()
        let clock = ContinuousClock()
        let now = Duration.zero
        var sink = 0
        let end = clock.now.advanced(by: .seconds(seconds))
        var first = true
        while clock.now < end {
            var stage = clock.now
            func lap(_ total: inout Double) {
                let next = clock.now
                total += (next - stage).seconds * 1e9
                stage = next
            }
            var part = Result()
            try superPacket.withUnsafeBytes { source in
                for index in 0..<segments {
                    let slot = UnsafeMutableRawBufferPointer(
                        rebasing: slots[(index * slotSize + ESPEngine.requiredHeadroom)..<((index + 1) * slotSize)])
                    guard
                        let length = TCPSegmentation.writeSegment(
                            index, of: source, layout: layout, segmentSize: mss, into: slot)
                    else { throw ValidationError("segmentation failed") }
                    lengths[index] = length
                }
            }
            lap(&part.segment)
            for index in 0..<segments {
                let slot = UnsafeMutableRawBufferPointer(rebasing: slots[(index * slotSize)..<((index + 1) * slotSize)])
                let inner = ESPEngine.requiredHeadroom..<(ESPEngine.requiredHeadroom + lengths[index])
                guard case .packet(let packet) = sender.encapsulate(innerPacketAt: inner, in: slot, now: now) else {
                    throw ValidationError("encapsulation dropped the packet")
                }
                ranges[index] = packet.range
            }
            lap(&part.seal)
            for index in 0..<segments {
                let range = ranges[index]
                let esp = UnsafeMutableRawBufferPointer(
                    rebasing: slots[(index * slotSize + range.lowerBound)..<(index * slotSize + range.upperBound)])
                guard case .packet(let packet) = receiver.decapsulate(espPacket: esp, now: now) else {
                    throw ValidationError("decapsulation dropped the packet")
                }
                let base = index * slotSize + range.lowerBound
                ranges[index] = (base + packet.range.lowerBound)..<(base + packet.range.upperBound)
            }
            lap(&part.open)
            for index in 0..<segments {
                let inner = UnsafeRawBufferPointer(rebasing: slots[ranges[index]])
                guard coalescer.append(inner) else { throw ValidationError("a segment did not merge") }
            }
            sink &+= coalescer.finish().count
            lap(&part.coalesce)
            part.packets = segments
            if first {
                first = false  // warm-up: first-use costs are not the steady state
                continue
            }
            result.segment += part.segment
            result.seal += part.seal
            result.open += part.open
            result.coalesce += part.coalesce
            result.packets += part.packets
        }
        guard sink > 0 else { throw ValidationError("nothing was merged") }
        return result
    }

    /// Two engines holding the same CHILD SA pair, office (sender) and cloud (receiver).
    private func engines(encryption: Algorithm, integrity: Algorithm?) throws -> (ESPEngine, ESPEngine) {
        let encryptionLength = try CryptoSuites.encryptionKeyLength(
            encryptionID: encryption.ikev2ID, keyBits: encryption.keyLengthBits)
        let integrityLength = try integrity.map { try CryptoSuites.integrityKeyLength(integrityID: $0.ikev2ID) } ?? 0
        func key(_ count: Int, _ seed: Int) -> SecretBytes {
            SecretBytes((0..<count).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ seed) })
        }
        let office = try IPPrefix(parsing: "192.168.1.0/24")
        let cloud = try IPPrefix(parsing: "10.0.1.0/24")
        let officeEnd = ESPEndpoint(address: try IPAddress(parsing: "198.51.100.10"), port: 4500)
        let cloudEnd = ESPEndpoint(address: try IPAddress(parsing: "203.0.113.20"), port: 4500)
        func sa(
            inbound: UInt32, outbound: UInt32, local: IPPrefix, remote: IPPrefix, me: ESPEndpoint, peer: ESPEndpoint
        )
            -> ESPSecurityAssociation
        {
            let inSeed = Int(inbound & 0xFF)
            let outSeed = Int(outbound & 0xFF)
            return ESPSecurityAssociation(
                inboundSPI: inbound, outboundSPI: outbound, encryption: encryption, integrity: integrity,
                extendedSequenceNumbers: false, inboundEncryptionKey: key(encryptionLength, inSeed),
                inboundIntegrityKey: key(integrityLength, inSeed + 1),
                outboundEncryptionKey: key(encryptionLength, outSeed),
                outboundIntegrityKey: key(integrityLength, outSeed + 1),
                localSelectors: [TrafficSelector(prefix: local)], remoteSelectors: [TrafficSelector(prefix: remote)],
                tunnel: ESPTunnel(local: me, remote: peer, udpEncapsulated: false), connection: "bench")
        }
        let sender = ESPEngine()
        let receiver = ESPEngine()
        try sender.install(
            sa(inbound: 0xA1, outbound: 0xB2, local: office, remote: cloud, me: officeEnd, peer: cloudEnd), now: .zero)
        try receiver.install(
            sa(inbound: 0xB2, outbound: 0xA1, local: cloud, remote: office, me: cloudEnd, peer: officeEnd), now: .zero)
        return (sender, receiver)
    }

    /// An IPv4 TCP super-packet 192.168.1.10:40000 -> 10.0.1.4:5201 of `segments` x `mss` payload bytes,
    /// flags ACK|PSH, with a 12-byte timestamp option as Linux sends.
    static func superPacket(mss: Int, segments: Int) -> [UInt8] {
        let headers = 20 + 32
        let total = headers + mss * segments
        var packet = [UInt8](repeating: 0, count: total)
        packet[0] = 0x45
        packet[2] = UInt8(total >> 8)
        packet[3] = UInt8(total & 0xFF)
        packet[6] = 0x40  // DF
        packet[8] = 64
        packet[9] = 6
        packet.replaceSubrange(12..<16, with: [192, 168, 1, 10])
        packet.replaceSubrange(16..<20, with: [10, 0, 1, 4])
        let tcp = 20
        packet.replaceSubrange(tcp..<(tcp + 4), with: [0x9C, 0x40, 0x14, 0x51])
        packet.replaceSubrange((tcp + 4)..<(tcp + 8), with: [0x12, 0x34, 0x56, 0x78])
        packet[tcp + 12] = 8 << 4  // 32-byte header
        packet[tcp + 13] = 0x18  // ACK|PSH
        packet[tcp + 14] = 0x01
        packet[tcp + 15] = 0xF5
        packet.replaceSubrange((tcp + 20)..<(tcp + 32), with: [1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2])
        var state: UInt32 = 0x1234_5678
        for index in headers..<total {
            state = state &* 1_664_525 &+ 1_013_904_223
            packet[index] = UInt8(truncatingIfNeeded: state >> 24)
        }
        return packet
    }
}
