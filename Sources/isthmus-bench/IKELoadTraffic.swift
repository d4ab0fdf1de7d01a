import IsthmusESP
import IsthmusEvents
import IsthmusIKE
import IsthmusIP

/// What `isthmus-bench ike --traffic N` measures: N of the tunnels held pass ICMP echo traffic through the
/// responder while their CHILD SAs are rekeyed, and every request should come back.
struct TrafficPlan: Sendable {
    /// Tunnels that send (the first ones established).
    var tunnels: Int
    /// Time between two echo requests of one tunnel.
    var interval: Duration
    /// How long the tunnels send; then the generator waits `drain` for the last replies.
    var duration: Duration
    var drain: Duration = .seconds(2)
    /// The address behind the responder that answers the echoes (in the responder's traffic selector).
    var target: IPAddress
}

/// The traffic figures in the summary.
struct TrafficSummary: Sendable, Codable, Hashable {
    var tunnels: Int
    var seconds: Double
    var requestsSent: Int
    var repliesReceived: Int
    /// Requests with no reply (`requestsSent - repliesReceived`, never negative).
    var lost: Int
    /// CHILD SAs installed after each sending tunnel's first: the rekeys the traffic went through.
    var childRekeys: Int
    /// Requests the generator could not protect (no SA usable at that moment), by reason.
    var notSent: [String: Int]
    /// ESP the generator received but could not open (replays, unknown SPIs, ...), by reason.
    var receiveDrops: [String: Int]
}

/// The generator's side of the ESP traffic: one engine per tunnel (its SAs only, so no SPD is searched), ICMP
/// echo requests from the tunnel's virtual address, replies counted by the echo identifier.
final class LoadTraffic {
    let plan: TrafficPlan
    private var engines: [Int: ESPEngine] = [:]
    /// Our inbound SPIs to the tunnel.
    private var tunnelBySPI: [UInt32: Int] = [:]
    /// Each tunnel's virtual address (the local selector of its CHILD SA).
    private var address: [Int: IPAddress] = [:]
    private var installs: [Int: Int] = [:]
    private var sending: [Int] = []
    private var nextSend: [Int: MonotonicTime] = [:]
    private var sequence: [Int: UInt16] = [:]
    private(set) var started: MonotonicTime?
    private var sent = 0
    private var received = 0
    private var notSent: [String: Int] = [:]
    private var buffer = [UInt8](repeating: 0, count: 2048)

    init(plan: TrafficPlan) {
        self.plan = plan
    }

    /// Applies a CHILD SA change of tunnel `index` to its engine.
    func apply(_ change: ESPSAChange, tunnel index: Int, now: MonotonicTime) {
        let engine = engines[index] ?? ESPEngine()
        engines[index] = engine
        if case .install(let sa) = change {
            tunnelBySPI[sa.inboundSPI] = index
            installs[index, default: 0] += 1
            if let selector = sa.localSelectors.first, selector.startAddress == selector.endAddress {
                address[index] = selector.startAddress
            }
        }
        _ = try? engine.apply(change, now: now)
        if case .remove(let spi) = change { tunnelBySPI[spi] = nil }
    }

    /// Forgets a tunnel whose IKE SA closed.
    func close(tunnel index: Int) {
        engines[index] = nil
        tunnelBySPI = tunnelBySPI.filter { $0.value != index }
    }

    /// Starts sending on the first `plan.tunnels` tunnels with an address, spread over one interval.
    func start(now: MonotonicTime) {
        started = now
        sending = Array(address.keys.sorted().prefix(plan.tunnels))
        for (position, index) in sending.enumerated() {
            nextSend[index] = now + plan.interval * (Double(position) / Double(max(1, sending.count)))
        }
    }

    /// Whether the run (sending, then waiting for the last replies) is over.
    func finished(now: MonotonicTime) -> Bool {
        guard let started else { return false }
        return now >= started + plan.duration + plan.drain
    }

    /// Sends the echo requests due; `send` puts one ESP packet on the NAT-T socket.
    func sendDue(now: MonotonicTime, send: ([UInt8], UDPEndpoint) -> Void) {
        guard let started, now < started + plan.duration else { return }
        for index in sending {
            guard let due = nextSend[index], now >= due else { continue }
            nextSend[index] = due + plan.interval
            guard let engine = engines[index], let source = address[index] else { continue }
            let number = sequence[index, default: 0] &+ 1
            sequence[index] = number
            let request = Self.echoRequest(
                from: source, to: plan.target, identifier: UInt16(truncatingIfNeeded: index), sequence: number)
            sent += 1
            let result = request.withUnsafeBytes { inner in
                buffer.withUnsafeMutableBytes { engine.encapsulate(innerPacket: inner, into: $0, now: now) }
            }
            switch result {
            case .packet(let packet):
                send(Array(buffer[packet.range]), packet.tunnel.remote)
            case .drop(let reason):
                notSent["\(reason)", default: 0] += 1
            }
        }
    }

    /// One ESP packet from the NAT-T socket (marker-less, RFC 3948): counted when it is an echo reply.
    func receive(_ packet: inout [UInt8], now: MonotonicTime) {
        guard packet.count >= 8 else { return }
        let spi = packet.prefix(4).reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        guard let index = tunnelBySPI[spi], let engine = engines[index] else { return }
        let result = packet.withUnsafeMutableBytes { engine.decapsulate(espPacket: $0, now: now) }
        guard case .packet(let inner) = result,
            Self.isEchoReply(packet[inner.range], identifier: UInt16(truncatingIfNeeded: index))
        else { return }
        received += 1
    }

    /// Lifetime events of every engine (the caller hands them to the tunnels' IKE SAs).
    func tick(now: MonotonicTime) -> [(tunnel: Int, event: ESPLifetimeEvent)] {
        engines.flatMap { index, engine in engine.tick(now: now).map { (index, $0) } }
    }

    var summary: TrafficSummary {
        var drops: [String: Int] = [:]
        for engine in engines.values {
            for reason in ESPDropReason.allCases where engine.drops[reason] > 0 {
                drops["\(reason)", default: 0] += Int(engine.drops[reason])
            }
        }
        let seconds = plan.duration.components
        return TrafficSummary(
            tunnels: sending.count, seconds: Double(seconds.seconds) + Double(seconds.attoseconds) / 1e18,
            requestsSent: sent, repliesReceived: received, lost: max(0, sent - received),
            childRekeys: sending.reduce(0) { $0 + max(0, installs[$1, default: 0] - 1) }, notSent: notSent,
            receiveDrops: drops)
    }

    // MARK: Packets

    /// An IPv4 ICMP echo request with 56 bytes of data (what `ping` sends).
    static func echoRequest(from source: IPAddress, to destination: IPAddress, identifier: UInt16, sequence: UInt16)
        -> [UInt8]
    {
        var packet = [UInt8](repeating: 0, count: 20 + 8 + 56)
        packet[0] = 0x45
        packet[2] = UInt8(packet.count >> 8)
        packet[3] = UInt8(packet.count & 0xFF)
        packet[6] = 0x40  // DF
        packet[8] = 64
        packet[9] = 1
        packet.replaceSubrange(12..<16, with: source.bytes)
        packet.replaceSubrange(16..<20, with: destination.bytes)
        store(checksum(packet[0..<20]), in: &packet, at: 10)
        packet[20] = 8
        store(identifier, in: &packet, at: 24)
        store(sequence, in: &packet, at: 26)
        for offset in 28..<packet.count { packet[offset] = UInt8(truncatingIfNeeded: offset) }
        store(checksum(packet[20...]), in: &packet, at: 22)
        return packet
    }

    /// Whether `packet` is an IPv4 ICMP echo reply with echo identifier `identifier`.
    static func isEchoReply(_ packet: ArraySlice<UInt8>, identifier: UInt16) -> Bool {
        let start = packet.startIndex
        guard packet.count >= 28, packet[start] >> 4 == 4, packet[start + 9] == 1 else { return false }
        let icmp = start + Int(packet[start] & 0x0F) * 4
        guard packet.count >= icmp - start + 8 else { return false }
        return packet[icmp] == 0 && UInt16(packet[icmp + 4]) << 8 | UInt16(packet[icmp + 5]) == identifier
    }

    private static func store(_ value: UInt16, in packet: inout [UInt8], at offset: Int) {
        packet[offset] = UInt8(value >> 8)
        packet[offset + 1] = UInt8(value & 0xFF)
    }

    /// The Internet checksum (RFC 1071) of `bytes`.
    static func checksum(_ bytes: ArraySlice<UInt8>) -> UInt16 {
        let sum = bytes.withUnsafeBytes { InternetChecksum.networkOrderSum($0) }
        return ~InternetChecksum.fold(sum)
    }
}
