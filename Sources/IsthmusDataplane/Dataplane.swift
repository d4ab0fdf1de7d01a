import CIsthmusNet
import IsthmusESP
import IsthmusEvents
import IsthmusIP
import IsthmusWire
import Logging
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// The userspace ESP data plane: one thread owns the ``ESPEngine``, the TUN device and the NAT-T socket.
///
/// The thread `poll`s the TUN, the NAT-T socket, the raw ESP socket and the command queue's wake-up
/// pipe. Packets read from the TUN (up to ``batchSize`` per turn) are encapsulated in place, each in its
/// own preallocated slot, and leave in one `sendmmsg`. Datagrams on the NAT-T socket arrive in one
/// `recvmmsg` (split further when the kernel coalesced them with GRO); ESP is decrypted in place and
/// written to the TUN, IKE messages go to the IKE side. Nothing is allocated per packet. SA changes
/// arrive through ``submit(_:)`` from any thread; lifetime events go back to IKE (soft: rekey).
public final class Dataplane: Sendable {
    /// An IKE message that arrived on the NAT-T socket (non-ESP marker removed), with the address it was
    /// sent to; called on the data-plane thread.
    public typealias IKEReceiver = @Sendable (_ message: [UInt8], _ source: UDPEndpoint, _ destination: UDPEndpoint)
        -> Void
    /// A soft or hard lifetime event of an SA pair; called on the data-plane thread.
    public typealias LifetimeReceiver = @Sendable (ESPLifetimeEvent) -> Void

    private struct Shared: ~Copyable {
        var counters = DataplaneCounters()
        var engineDrops = ESPDropCounters()
        var ownDrops: [String: UInt64] = [:]
        var thread: pthread_t?
    }

    /// Packets moved per system call at most (TUN reads per turn, datagrams per `recvmmsg`/`sendmmsg`).
    public static let batchSize = 32

    public let tunName: String
    /// Whether the TUN hands over TCP super-packets with virtio-net headers (TSO, cut here).
    public let vnetHeader: Bool
    /// Whether to ask the TUN for TCP segmentation offload (ISTHMUS_TUN_OFFLOAD=0 turns it off).
    static let segmentationOffload: Bool = {
        guard let text = getenv("ISTHMUS_TUN_OFFLOAD") else { return true }
        return String(cString: text) != "0"
    }()
    /// The MTU of the path to the peers (outer packets).
    public let pathMTU: Int
    private let tunFD: CInt
    /// Raw IPv4 socket for ESP without UDP encapsulation (IP protocol 50); -1 when it cannot be opened.
    private let rawESPFD: CInt
    private let queue: DataplaneQueue
    private let shared = Mutex(Shared())
    private let logger: Logger

    /// Opens the TUN device `tunName` (creating it when it does not exist).
    public init(tunName: String, pathMTU: Int = 1500, logger: Logger)
        throws(DataplaneError)
    {
        self.tunName = tunName
        self.pathMTU = pathMTU
        self.logger = logger
        self.queue = try DataplaneQueue()
        (self.tunFD, self.vnetHeader) = try TUNDevice.open(name: tunName, offload: Dataplane.segmentationOffload)
        if let (before, after) = TUNDevice.raiseTransmitQueue(name: tunName), before != after {
            logger.info("TUN transmit queue raised", metadata: ["tun": "\(tunName)", "from": "\(before)", "to": "\(after)"])
        }
        self.rawESPFD = RawESPSocket.open()
        if rawESPFD < 0 {
            logger.warning(
                "no raw ESP socket (IP protocol 50): only UDP-encapsulated CHILD SAs carry traffic",
                metadata: ["errno": "\(errno)"])
        }
        shared.withLock { $0.counters.tun = tunName }
    }

    deinit {
        close(tunFD)
        if rawESPFD >= 0 { close(rawESPFD) }
    }

    /// Hands work to the data-plane thread (any thread).
    public func submit(_ command: DataplaneCommand) {
        queue.push(command)
    }

    /// A snapshot of the counters (any thread).
    public var counters: DataplaneCounters {
        shared.withLock { shared in
            var counters = shared.counters
            for reason in ESPDropReason.allCases where shared.engineDrops[reason] > 0 {
                counters.drops[reason.description, default: 0] += shared.engineDrops[reason]
            }
            for (reason, count) in shared.ownDrops { counters.drops[reason, default: 0] += count }
            return counters
        }
    }

    /// Starts the data-plane thread on `socket` (which it reads from now on).
    public func start(
        socket: NATTSocket, onIKE: @escaping IKEReceiver, onLifetime: @escaping LifetimeReceiver
    ) throws(DataplaneError) {
        let loop = Loop(
            tunName: tunName, pathMTU: pathMTU, tunFD: tunFD, vnetHeader: vnetHeader, rawESPFD: rawESPFD, socket: socket, queue: queue, plane: self, onIKE: onIKE,
            onLifetime: onLifetime, logger: logger)
        let box = Unmanaged.passRetained(ThreadBody { loop.run() }).toOpaque()
        var thread = pthread_t()
        let result = pthread_create(
            &thread, nil,
            { argument in
                guard let argument else { return nil }
                Unmanaged<ThreadBody>.fromOpaque(argument).takeRetainedValue().body()
                return nil
            }, box)
        guard result == 0 else {
            Unmanaged<ThreadBody>.fromOpaque(box).release()
            throw DataplaneError("cannot start the data-plane thread", errno: result)
        }
        shared.withLock { $0.thread = thread }
        logger.notice(
            "ESP data plane running",
            metadata: [
                "tun": "\(tunName)", "nat-t": "\(UDPEndpoint(address: socket.address, port: socket.port))",
                "tso": "\(vnetHeader)",
                "gro": "\(socket.receiveOffload)",
            ])
    }

    /// Stops the thread and waits for it (idempotent).
    public func stop() {
        guard
            let thread = shared.withLock({ shared -> pthread_t? in
                let thread = shared.thread
                shared.thread = nil
                return thread
            })
        else { return }
        queue.push(.stop)
        pthread_join(thread, nil)
    }

    fileprivate func countDrop(_ reason: String, count: UInt64 = 1) {
        shared.withLock { $0.ownDrops[reason, default: 0] += count }
    }

    fileprivate func publish(_ counters: DataplaneCounters, engineDrops: ESPDropCounters) {
        shared.withLock { shared in
            let tun = shared.counters.tun
            shared.counters = counters
            shared.counters.tun = tun
            shared.engineDrops = engineDrops
        }
    }
}

private final class ThreadBody {
    let body: () -> Void
    init(_ body: @escaping () -> Void) { self.body = body }
}

/// The data-plane thread's state; touched by that thread only after `start`.
private final class Loop: @unchecked Sendable {
    let tunName: String
    /// The largest inner packet that fits the path once encapsulated (any suite).
    let innerMTU: Int
    /// The largest UDP payload that leaves unfragmented: GSO trains only carry datagrams up to it.
    let largestUnfragmentedPayload: Int
    /// Whether equal-sized ESP datagrams to one peer leave as one GSO send (off after the kernel refuses).
    var segmentationOffload = true
    /// The TUN device's MTU, read at start and on every tick.
    var tunMTU: Int
    let tunFD: CInt
    let rawESPFD: CInt
    let socket: NATTSocket
    let queue: DataplaneQueue
    let plane: Dataplane
    let onIKE: Dataplane.IKEReceiver
    let onLifetime: Dataplane.LifetimeReceiver
    let logger: Logger

    init(
        tunName: String, pathMTU: Int, tunFD: CInt, vnetHeader: Bool, rawESPFD: CInt, socket: NATTSocket, queue: DataplaneQueue, plane: Dataplane,
        onIKE: @escaping Dataplane.IKEReceiver, onLifetime: @escaping Dataplane.LifetimeReceiver, logger: Logger
    ) {
        self.tunName = tunName
        self.innerMTU = TunnelMTU.innerMTU(pathMTU: pathMTU, outerIPv6: socket.address.family == .v6)
        self.largestUnfragmentedPayload =
            pathMTU - (socket.address.family == .v6 ? TunnelMTU.outerIPv6UDPOverhead : TunnelMTU.outerIPv4UDPOverhead)
        self.tunMTU = TUNDevice.mtu(name: tunName) ?? 1500
        self.tunFD = tunFD
        self.vnetHeader = vnetHeader
        emptyHeader.initializeMemory(as: UInt8.self, repeating: 0, count: VirtioNetHeader.size)
        self.rawESPFD = rawESPFD
        self.socket = socket
        self.queue = queue
        self.plane = plane
        self.onIKE = onIKE
        self.onLifetime = onLifetime
        self.logger = logger
    }

    static let batch = Dataplane.batchSize
    /// Slots for protected packets waiting to leave: more than a batch, since one TUN read of a TCP
    /// super-packet fills up to 45 slots (64 KiB in 1448-byte segments).
    static let outboundSlots = 64
    static let tickInterval: Duration = .seconds(1)
    /// Counters reach `status` at most this late while traffic flows.
    static let publishInterval: Duration = .milliseconds(20)
    /// The largest inner packet read from the TUN, and the largest datagram (or GRO train) received.
    static let maximumPacket = 65_535
    static let headroom = ESPEngine.requiredHeadroom
    static let slotBytes = (headroom + maximumPacket + ESPEngine.requiredTailroom + 63) & ~63

    let engine = ESPEngine()
    let origin = ContinuousClock.now
    var counters = DataplaneCounters()
    /// Counters changed since they were last published.
    var dirty = false
    /// A `stop` was taken from the queue in the middle of a turn.
    var stopRequested = false
    /// One slot per TUN packet of a batch: headroom, inner packet, tailroom.
    let outbound = UnsafeMutableRawBufferPointer.allocate(byteCount: outboundSlots * slotBytes, alignment: 64)
    /// Outbound slots taken by packets waiting to be sent; of them, ESP-in-UDP and raw ESP.
    var used = 0
    var udpPending = 0
    var rawPending = 0
    /// Merges decrypted TCP segments before they are written to the TUN (with virtio-net headers only).
    lazy var coalescer = TCPCoalescer(buffer: coalescerBuffer)
    let coalescerBuffer = UnsafeMutableRawBufferPointer.allocate(
        byteCount: TCPCoalescer.requiredCapacity, alignment: 64)
    /// Where a TCP super-packet read from the TUN waits while it is cut into segments.
    let superPacket = UnsafeMutableRawBufferPointer.allocate(byteCount: maximumPacket, alignment: 64)
    /// One slot per datagram of a `recvmmsg`.
    let inbound = UnsafeMutableRawBufferPointer.allocate(byteCount: batch * slotBytes, alignment: 64)
    /// Whether the TUN speaks virtio-net headers (segmentation offload on).
    let vnetHeader: Bool
    /// The header written before every packet: no offload asked of the kernel.
    let emptyHeader = UnsafeMutableRawPointer.allocate(byteCount: VirtioNetHeader.size, alignment: 16)
    /// Where ICMP "too big" answers are built.
    let icmpBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: TunnelMTU.minimumIPv6MTU, alignment: 16)
    let sendBatch = DatagramBatch(capacity: outboundSlots)
    /// The ESP-in-UDP packets of the current TUN batch, in order, before they are grouped for sending.
    let pending = UnsafeMutablePointer<PendingDatagram>.allocate(capacity: outboundSlots)
    /// Where GSO trains are laid out contiguously.
    let trains = UnsafeMutableRawBufferPointer.allocate(byteCount: outboundSlots * slotBytes, alignment: 64)
    let rawSendBatch = DatagramBatch(capacity: outboundSlots)
    let receiveBatch = DatagramBatch(capacity: batch)

    deinit {
        outbound.deallocate()
        inbound.deallocate()
        icmpBuffer.deallocate()
        pending.deallocate()
        trains.deallocate()
        superPacket.deallocate()
        emptyHeader.deallocate()
        coalescerBuffer.deallocate()
    }

    func now() -> Duration { ContinuousClock.now - origin }

    func slot(_ buffer: UnsafeMutableRawBufferPointer, _ index: Int) -> UnsafeMutableRawBufferPointer {
        UnsafeMutableRawBufferPointer(rebasing: buffer[(index * Self.slotBytes)..<((index + 1) * Self.slotBytes)])
    }

    func run() {
        var lastTick = Duration.zero
        var lastPublish = Duration.zero
        var fds = [
            pollfd(fd: tunFD, events: Int16(POLLIN), revents: 0),
            pollfd(fd: queue.wakeFD, events: Int16(POLLIN), revents: 0),
            pollfd(fd: socket.fd, events: Int16(POLLIN), revents: 0),
            // poll ignores negative fds: no raw socket, no events.
            pollfd(fd: rawESPFD, events: Int16(POLLIN), revents: 0),
        ]
        var running = true
        while running {
            if stopRequested { break }
            for index in fds.indices { fds[index].revents = 0 }
            // While counters wait to be published, wake up soon enough to publish them.
            let ready = poll(&fds, nfds_t(fds.count), dirty ? 20 : 500)
            if ready < 0 && errno != EINTR {
                logger.error("data plane poll failed", metadata: ["errno": "\(errno)"])
                break
            }
            // Commands first: SA installs must precede the packets that need them.
            if fds[1].revents != 0 { running = runCommands() && running }
            if fds[2].revents & Int16(POLLIN) != 0 { receiveUDP() }
            if fds[0].revents & Int16(POLLIN) != 0 {
                readTUN()
            } else if fds[0].revents & Int16(POLLERR | POLLHUP | POLLNVAL) != 0 {
                logger.error("TUN device failed; the data plane stops")
                break
            }
            if rawESPFD >= 0, fds[3].revents & Int16(POLLIN) != 0 { receiveRawESP() }
            writeCoalesced()
            let time = now()
            if time - lastTick >= Self.tickInterval || engine.hasPendingLifetimeEvents {
                lastTick = time
                if let mtu = TUNDevice.mtu(name: tunName) { tunMTU = mtu }
                for event in engine.tick(now: time) {
                    counters.lifetimeEvents &+= 1
                    dirty = true
                    logger.debug(
                        "ESP SA lifetime reached",
                        metadata: [
                            "kind": "\(event.kind)", "trigger": "\(event.trigger)", "connection": "\(event.connection)",
                            "in": "\(SAIdentifier.esp(event.inboundSPI))",
                        ])
                    if event.kind == .hard { counters.installedSAs = engine.installedInboundSPIs.count }
                    onLifetime(event)
                }
            }
            if dirty && time - lastPublish >= Self.publishInterval {
                lastPublish = time
                dirty = false
                counters.connections = engine.trafficByConnection()
                plane.publish(counters, engineDrops: engine.drops)
            }
        }
        counters.connections = engine.trafficByConnection()
        plane.publish(counters, engineDrops: engine.drops)
    }

    /// Runs queued commands before reading more ESP. IKE queues an SA before its message leaves, and the
    /// peer sends on the SA only after that message arrived: draining the queue right before each read
    /// means no packet on a new SA is read before the SA is installed (no `unknown-spi` at a rekey).
    func installPendingSAs() {
        guard queue.count > 0 else { return }
        if !runCommands() { stopRequested = true }
    }

    /// Runs queued commands; `false` when told to stop.
    func runCommands() -> Bool {
        var running = true
        for command in queue.takeAll() {
            dirty = true
            switch command {
            case .stop:
                running = false
            case .sa(let change):
                apply(change)
            case .sendUDP(let bytes, let destination):
                sendPending()
                if !socket.send(bytes, to: destination) { plane.countDrop("ike-send-error") }
            }
        }
        return running
    }

    /// Carries out an SA change from IKE and logs it.
    func apply(_ change: ESPSAChange) {
        let spi = "\(SAIdentifier.esp(change.inboundSPI))"
        let applied: Bool
        do {
            applied = try engine.apply(change, now: now())
        } catch {
            plane.countDrop("install-failed")
            if case .install(let sa) = change {
                logger.warning("ESP SA not installed: \(error)", metadata: ["connection": "\(sa.connection)"])
            }
            return
        }
        counters.installedSAs = engine.installedInboundSPIs.count
        guard applied else { return }
        switch change {
        case .install(let sa):
            let outbound: String
            switch sa.outboundStart {
            case .now: outbound = "now"
            case .afterPeersFirstPacket: outbound = "after the peer confirms"
            }
            logger.info(
                "ESP SA installed",
                metadata: [
                    "connection": "\(sa.connection)", "in": "\(spi)", "out": "\(SAIdentifier.esp(sa.outboundSPI))",
                    "remote": "\(sa.tunnel.remote)", "udp": "\(sa.tunnel.udpEncapsulated)", "outbound": "\(outbound)",
                ])
        case .remove: logger.info("ESP SA removed", metadata: ["in": "\(spi)"])
        case .retireOutbound: logger.info("ESP SA no longer sends", metadata: ["in": "\(spi)"])
        case .confirmOutbound: logger.debug("ESP SA outbound confirmed", metadata: ["in": "\(spi)"])
        }
    }

    /// Decapsulates the ESP packet in `packet` and writes its inner packet to the TUN.
    func deliver(_ packet: UnsafeMutableRawBufferPointer) {
        dirty = true
        let result = engine.decapsulate(espPacket: packet, now: now())
        guard case .packet(let inner) = result else { return }
        clampMSS(UnsafeMutableRawBufferPointer(rebasing: packet[inner.range]))
        counters.espPacketsIn &+= 1
        counters.espBytesIn &+= UInt64(packet.count)
        if vnetHeader {
            // Segments of one TCP flow are merged and written together (receive offload).
            let decrypted = UnsafeRawBufferPointer(rebasing: packet[inner.range])
            if coalescer.append(decrypted) { return }
            writeCoalesced()
            if coalescer.append(decrypted) { return }
        }
        if !writeTUN(packet.baseAddress! + inner.range.lowerBound, inner.range.count) {
            plane.countDrop("tun-write-error")
        }
    }

    /// Writes the TCP segments merged so far as one packet (GSO when there are several).
    func writeCoalesced() {
        let segments = coalescer.segments
        guard segments > 0 else { return }
        let packet = coalescer.finish()
        guard write(tunFD, packet.baseAddress!, packet.count) == packet.count else {
            plane.countDrop("tun-write-error", count: UInt64(segments))
            return
        }
        if segments > 1 {
            counters.coalescedWrites &+= 1
            counters.coalescedSegments &+= UInt64(segments)
        }
    }

    /// Reads up to a batch of inner packets from the TUN, protects each in its own slot (TCP
    /// super-packets are cut into segments first, each into a slot), and sends them together.
    func readTUN() {
        var reads = 0
        while reads < Self.batch {
            reads += 1
            // SA changes (a rekey's new SA, a retired old one) apply from the next packet on, not
            // after a whole batch.
            installPendingSAs()
            if stopRequested { break }
            if used == Self.outboundSlots { sendPending() }
            let buffer = slot(outbound, used)
            let start = Self.headroom - (vnetHeader ? VirtioNetHeader.size : 0)
            let count = read(tunFD, buffer.baseAddress! + start, Self.maximumPacket)
            guard count > 0 else { break }
            dirty = true
            counters.tunPacketsRead &+= 1
            guard vnetHeader else {
                protect(slot: used, length: count)
                continue
            }
            let length = count - VirtioNetHeader.size
            guard length > 0, let header = VirtioNetHeader(UnsafeRawBufferPointer(rebasing: buffer[start...])) else {
                plane.countDrop("malformed-inner-packet")
                continue
            }
            let inner = UnsafeMutableRawBufferPointer(rebasing: buffer[Self.headroom..<(Self.headroom + length)])
            if header.isTCPSegmentation {
                segment(UnsafeRawBufferPointer(inner), size: Int(header.gsoSize))
                continue
            }
            if header.flags & VirtioNetHeader.needsChecksum != 0,
                !TCPSegmentation.completeChecksum(
                    inner, start: Int(header.checksumStart), offset: Int(header.checksumOffset))
            {
                plane.countDrop("malformed-inner-packet")
                continue
            }
            protect(slot: used, length: length)
        }
        sendPending()
    }

    /// Cuts a TCP super-packet from the TUN (TSO) into segments of `size` payload bytes, each protected
    /// in its own slot. The super-packet is first copied aside: its slot is the first segment's.
    func segment(_ packet: UnsafeRawBufferPointer, size: Int) {
        guard let layout = TCPSegmentation.layout(packet) else {
            plane.countDrop("malformed-inner-packet")
            return
        }
        superPacket.baseAddress!.copyMemory(from: packet.baseAddress!, byteCount: packet.count)
        let source = UnsafeRawBufferPointer(rebasing: superPacket[0..<packet.count])
        counters.tcpSegmentationReads &+= 1
        for index in 0..<TCPSegmentation.segmentCount(layout, segmentSize: size) {
            if used == Self.outboundSlots { sendPending() }
            let buffer = slot(outbound, used)
            let output = UnsafeMutableRawBufferPointer(
                rebasing: buffer[Self.headroom..<(buffer.count - ESPEngine.requiredTailroom)])
            guard
                let length = TCPSegmentation.writeSegment(
                    index, of: source, layout: layout, segmentSize: size, into: output)
            else {
                plane.countDrop("malformed-inner-packet")
                return
            }
            protect(slot: used, length: length)
        }
    }

    /// Protects the inner packet at the headroom of outbound slot `index` and queues it for sending
    /// (the slot stays taken until the batch is sent); refuses it with ICMP when it does not fit.
    func protect(slot index: Int, length: Int) {
        let buffer = slot(outbound, index)
        let inner = UnsafeMutableRawBufferPointer(rebasing: buffer[Self.headroom..<(Self.headroom + length)])
        if length > innerMTU && TunnelMTU.forbidsFragmentation(UnsafeRawBufferPointer(inner)) {
            refuseTooBig(UnsafeRawBufferPointer(inner))
            return
        }
        clampMSS(inner)
        let result = engine.encapsulate(innerPacketAt: Self.headroom..<(Self.headroom + length), in: buffer, now: now())
        guard case .packet(let packet) = result else { return }
        let esp = buffer.baseAddress! + packet.range.lowerBound
        if packet.tunnel.udpEncapsulated {
            pending[udpPending] = PendingDatagram(bytes: esp, length: packet.range.count, destination: packet.tunnel.remote)
            udpPending += 1
        } else {
            // ESP straight in IP (no NAT): the kernel adds the IPv4 header; the port is unused.
            guard rawESPFD >= 0, packet.tunnel.remote.address.family == .v4,
                rawSendBatch.prepareSend(
                    rawPending, packet: esp, length: packet.range.count,
                    to: UDPEndpoint(address: packet.tunnel.remote.address, port: 0), family: .v4)
            else {
                plane.countDrop(rawESPFD < 0 ? "raw-esp-unsupported" : "send-error")
                return
            }
            rawPending += 1
        }
        used += 1
        counters.espBytesOut &+= UInt64(packet.range.count)
    }

    /// Sends everything queued from the outbound slots and frees them.
    func sendPending() {
        sendUDP(udpPending)
        flush(rawPending, batch: rawSendBatch, on: rawESPFD)
        udpPending = 0
        rawPending = 0
        used = 0
    }

    /// Sends the first `count` pending ESP-in-UDP packets: runs of equal-sized packets to one peer (the
    /// last of a run may be shorter) are copied side by side and leave as one GSO datagram train, the
    /// others alone; all in one `sendmmsg`.
    func sendUDP(_ count: Int) {
        var messages = 0
        var index = 0
        var laid = 0
        while index < count {
            let first = pending[index]
            var run = 1
            if segmentationOffload && first.length <= largestUnfragmentedPayload {
                while index + run < count, run < 64, pending[index + run].destination == first.destination,
                    pending[index + run].length <= first.length, pending[index + run - 1].length == first.length,
                    (run + 1) * first.length <= 65_000
                {
                    run += 1
                }
            }
            let prepared: Bool
            if run == 1 {
                prepared = sendBatch.prepareSend(
                    messages, packet: first.bytes, length: first.length, to: first.destination,
                    family: socket.address.family)
            } else {
                let start = trains.baseAddress! + laid
                var total = 0
                for offset in 0..<run {
                    let packet = pending[index + offset]
                    (start + total).copyMemory(from: packet.bytes, byteCount: packet.length)
                    total += packet.length
                }
                laid += total
                prepared = sendBatch.prepareSend(
                    messages, packet: start, length: total, to: first.destination, family: socket.address.family,
                    segmentSize: first.length)
                counters.segmentationTrains &+= 1
                counters.segmentedDatagrams &+= UInt64(run)
            }
            if prepared {
                messages += 1
            } else {
                plane.countDrop("send-error", count: UInt64(run))
            }
            index += run
        }
        flush(messages, batch: sendBatch, on: socket.fd)
    }

    /// Lowers the MSS of a TCP SYN so that its segments fit both the TUN and the path once encapsulated.
    func clampMSS(_ packet: UnsafeMutableRawBufferPointer) {
        guard packet.count > 0 else { return }
        let headers = packet[0] >> 4 == 6 ? 60 : 40
        if TunnelMTU.clampMSS(packet, to: min(tunMTU, innerMTU) - headers) { counters.mssClamped &+= 1 }
    }

    /// Answers an inner packet that cannot cross without fragmentation with ICMP "too big" (into the
    /// TUN, back to its sender) and drops it.
    func refuseTooBig(_ packet: UnsafeRawBufferPointer) {
        plane.countDrop("too-big")
        guard let length = TunnelMTU.packetTooBig(original: packet, mtu: innerMTU, into: icmpBuffer) else { return }
        if writeTUN(icmpBuffer.baseAddress!, length) { counters.icmpTooBigSent &+= 1 }
    }

    /// Writes one packet to the TUN, behind an empty virtio-net header when the device wants one
    /// (complete checksums, no segmentation); `false` when the kernel refused it.
    func writeTUN(_ packet: UnsafeMutableRawPointer, _ length: Int) -> Bool {
        guard vnetHeader else { return write(tunFD, packet, length) == length }
        var vectors = (
            iovec(iov_base: emptyHeader, iov_len: VirtioNetHeader.size), iovec(iov_base: packet, iov_len: length)
        )
        let written = withUnsafeMutablePointer(to: &vectors) {
            $0.withMemoryRebound(to: iovec.self, capacity: 2) { writev(tunFD, $0, 2) }
        }
        return written == VirtioNetHeader.size + length
    }

    /// Sends the first `count` prepared messages (blocking while the socket buffer is full) and counts
    /// the datagrams that left and those that did not.
    func flush(_ count: Int, batch: DatagramBatch, on fd: CInt) {
        var sent = 0
        var datagrams = 0
        var failed = 0
        for index in 0..<count { datagrams += batch.datagramCount(index) }
        while sent < count {
            let result = isthmus_sendmmsg(fd, batch.messages + sent, UInt32(count - sent), 0)
            counters.sendCalls &+= 1
            if result > 0 {
                sent += Int(result)
                continue
            }
            if result < 0 && errno == EINTR { continue }
            // The first message of the rest failed (unreachable, too big): count it, go on with the others.
            // A refused GSO train turns segmentation offload off for good (the kernel or route lacks it).
            let code = errno
            if let size = batch.segmentSize(sent), segmentationOffload {
                segmentationOffload = false
                logger.warning(
                    "UDP segmentation offload refused; sending datagrams one by one",
                    metadata: ["errno": "\(code)", "segment": "\(size)"])
            }
            let lost = batch.datagramCount(sent)
            plane.countDrop("send-error", count: UInt64(lost))
            failed += lost
            sent += 1
        }
        counters.espPacketsOut &+= UInt64(datagrams - failed)
        counters.datagramsSent &+= UInt64(datagrams - failed)
    }

    /// Reads a batch of datagrams from the NAT-T socket: ESP to the TUN, IKE to the IKE side.
    func receiveUDP() {
        var turns = 0
        while turns < 4 {
            turns += 1
            for index in 0..<Self.batch {
                let buffer = slot(inbound, index)
                receiveBatch.prepareReceive(index, into: buffer.baseAddress!, length: Self.maximumPacket)
            }
            installPendingSAs()
            let received = isthmus_recvmmsg(socket.fd, receiveBatch.messages, UInt32(Self.batch), Int32(MSG_DONTWAIT))
            guard received > 0 else { return }
            counters.receiveCalls &+= 1
            dirty = true
            for index in 0..<Int(received) {
                let length = receiveBatch.receivedLength(index)
                if receiveBatch.truncated(index) {
                    plane.countDrop("truncated-datagram")
                    continue
                }
                let (destination, segmentSize) = receiveBatch.control(index)
                let buffer = slot(inbound, index)
                let step = segmentSize ?? length
                var offset = 0
                while offset < length {
                    let end = min(offset + step, length)
                    counters.datagramsReceived &+= 1
                    datagram(
                        UnsafeMutableRawBufferPointer(rebasing: buffer[offset..<end]), slot: index,
                        destination: destination)
                    offset = end
                }
            }
            if Int(received) < Self.batch { return }
        }
    }

    /// One UDP payload from the NAT-T socket (RFC 3948 section 2.2: ESP, IKE after a zero marker, or a
    /// keepalive).
    func datagram(_ payload: UnsafeMutableRawBufferPointer, slot index: Int, destination: IPAddress?) {
        switch UDPEncapsulation.classify(UnsafeRawBufferPointer(payload)) {
        case .esp:
            deliver(payload)
        case .natKeepalive:
            counters.natKeepalivesIn &+= 1
        case .invalid:
            plane.countDrop("invalid-nat-t")
        case .ike(let offset):
            guard let source = receiveBatch.source(index) else {
                plane.countDrop("invalid-nat-t")
                return
            }
            counters.ikeMessagesIn &+= 1
            let local = UDPEndpoint(address: destination ?? socket.address, port: socket.port)
            onIKE(Array(UnsafeRawBufferPointer(rebasing: payload[offset...])), source, local)
        }
    }

    /// Reads batches of ESP without UDP from the raw socket (each with its IPv4 header first).
    func receiveRawESP() {
        var turns = 0
        while turns < 4 {
            turns += 1
            for index in 0..<Self.batch {
                receiveBatch.prepareReceive(index, into: slot(inbound, index).baseAddress!, length: Self.maximumPacket)
            }
            installPendingSAs()
            let received = isthmus_recvmmsg(rawESPFD, receiveBatch.messages, UInt32(Self.batch), Int32(MSG_DONTWAIT))
            guard received > 0 else { return }
            counters.receiveCalls &+= 1
            dirty = true
            for index in 0..<Int(received) {
                counters.datagramsReceived &+= 1
                let buffer = slot(inbound, index)
                let length = receiveBatch.receivedLength(index)
                guard !receiveBatch.truncated(index),
                    let esp = RawESPSocket.payload(of: UnsafeRawBufferPointer(rebasing: buffer[0..<length]))
                else {
                    plane.countDrop("malformed-outer-ip")
                    continue
                }
                deliver(UnsafeMutableRawBufferPointer(rebasing: buffer[esp]))
            }
            if Int(received) < Self.batch { return }
        }
    }
}

/// An ESP-in-UDP packet waiting in its outbound slot for the batch to be sent.
struct PendingDatagram {
    var bytes: UnsafeMutableRawPointer
    var length: Int
    var destination: UDPEndpoint
}
