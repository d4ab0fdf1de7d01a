import CIsthmusNet
import IsthmusESP
import IsthmusEvents
import IsthmusIP
import IsthmusWire
import Logging

#if canImport(Glibc)
    import Glibc
#endif

/// The data-plane thread: its state (touched by that thread only after `start`), its `poll` loop, the
/// commands from IKE and the once-a-second tick.
///
/// Each turn of ``run()``: wait in `poll` for the TUN devices, the NAT-T socket, the raw ESP socket and
/// the command queue; run queued commands first (an SA install precedes the packets that need it); read
/// the NAT-T socket (DataplaneLoop+Inbound.swift), then each TUN (DataplaneLoop+Outbound.swift), then the
/// raw ESP socket; write the TCP segments merged meanwhile; tick the engine's lifetimes; publish the
/// counters. The loop is generic over its TUN type (read and written once per packet, so those calls are
/// specialized for ``TUNDevice`` in release builds); the sockets are existentials, called once per batch.
///
/// Each TUN device is one interface with an SPD of its own (``ESPSecurityAssociation/interface``): a
/// packet read from it is matched against that interface's policies only, and a packet decrypted on an
/// SA goes to that SA's interface. Devices come and go with ``DataplaneCommand/attach(interface:_:)``
/// and ``DataplaneCommand/detach(interface:)``; one that fails is detached, the others go on.
final class DataplaneLoop<Device: PacketDevice>: @unchecked Sendable {
    /// The largest inner packet that fits the path once encapsulated (any suite).
    let innerMTU: Int
    /// The largest UDP payload that leaves unfragmented: GSO trains only carry datagrams up to it.
    let largestUnfragmentedPayload: Int
    /// Whether equal-sized ESP datagrams to one peer leave as one GSO send (off after the kernel refuses).
    var segmentationOffload = true
    /// The TUN devices, in attachment order.
    var interfaces: [TunnelInterface<Device>] = []
    /// Whether the set of devices changed since `poll`'s descriptors were built.
    var interfacesChanged = true
    /// ESP without UDP (IP protocol 50); nil when it cannot be used.
    let rawESP: (any DatagramSocket)?
    /// The NAT-T socket: ESP-in-UDP and IKE.
    let socket: any DatagramSocket
    /// The NAT-T socket's address family (destinations are written for it).
    let socketFamily: IPFamily
    let queue: DataplaneQueue
    let plane: Dataplane
    let onIKE: Dataplane.IKEReceiver
    let onLifetime: Dataplane.LifetimeReceiver
    let logger: Logger

    init(
        devices: [(interface: Int, device: Device)], pathMTU: Int, rawESP: (any DatagramSocket)?,
        socket: any DatagramSocket,
        queue: DataplaneQueue, plane: Dataplane, onIKE: @escaping Dataplane.IKEReceiver,
        onLifetime: @escaping Dataplane.LifetimeReceiver, logger: Logger
    ) {
        let family = socket.address.family
        self.innerMTU = TunnelMTU.innerMTU(pathMTU: pathMTU, outerIPv6: family == .v6)
        self.largestUnfragmentedPayload =
            pathMTU - (family == .v6 ? TunnelMTU.outerIPv6UDPOverhead : TunnelMTU.outerIPv4UDPOverhead)
        self.interfaces = devices.map { TunnelInterface(interface: $0.interface, device: $0.device) }
        emptyHeader.initializeMemory(as: UInt8.self, repeating: 0, count: VirtioNetHeader.size)
        self.rawESP = rawESP
        self.socket = socket
        self.socketFamily = family
        self.queue = queue
        self.plane = plane
        self.onIKE = onIKE
        self.onLifetime = onLifetime
        self.logger = logger
    }

    // Generic classes hold no static stored properties: the sizes live in ``DataplaneLimits``.
    static var batch: Int { DataplaneLimits.batch }
    static var outboundSlots: Int { DataplaneLimits.outboundSlots }
    static var tickInterval: Duration { DataplaneLimits.tickInterval }
    static var publishInterval: Duration { DataplaneLimits.publishInterval }
    static var maximumPacket: Int { DataplaneLimits.maximumPacket }
    static var headroom: Int { DataplaneLimits.headroom }
    static var slotBytes: Int { DataplaneLimits.slotBytes }

    let engine = ESPEngine()
    /// The endpoint ACLs and their counts per endpoint (rules, then no match, then replies).
    var filter: EndpointFilter?
    var aclHits: [[UInt64]] = []
    /// Denials reported in the current second, and those left unreported since the last report.
    var denialWindow = (start: Duration.zero, reported: 0, suppressed: UInt64(0))
    /// The device the last inbound packet went to (most packets go where the one before went).
    var lastDelivered: TunnelInterface<Device>?
    let origin = ContinuousClock.now
    /// The time of the packets being handled: read once per TUN read or `recvmmsg` batch, not per packet
    /// (lifetimes and activation are second-scale; a clock read per packet showed in profiles).
    var batchTime = Duration.zero
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
    /// Where the TCP segments merged in ``coalescer`` go.
    var coalescerTarget: TunnelInterface<Device>?
    /// The header written before every packet: no offload asked of the kernel.
    let emptyHeader = UnsafeMutableRawPointer.allocate(byteCount: VirtioNetHeader.size, alignment: 16)
    /// Where ICMP "too big" answers are built.
    let icmpBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: TunnelMTU.minimumIPv6MTU, alignment: 16)
    let sendBatch = DatagramBatch(capacity: outboundSlots)
    /// The ESP-in-UDP packets of the current TUN batch, in order, before they are grouped for sending.
    let pending = UnsafeMutablePointer<PendingDatagram>.allocate(capacity: outboundSlots)
    let rawSendBatch = DatagramBatch(capacity: outboundSlots)
    let receiveBatch = DatagramBatch(capacity: batch)

    deinit {
        outbound.deallocate()
        inbound.deallocate()
        icmpBuffer.deallocate()
        pending.deallocate()
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
        var lastConnectionsPublish = Duration.zero
        var connectionsStale = false
        // The queue, the NAT-T socket and the raw ESP socket, then one entry per TUN device.
        let fixed = [
            pollfd(fd: queue.wakeFD, events: Int16(POLLIN), revents: 0),
            pollfd(fd: socket.pollDescriptor, events: Int16(POLLIN), revents: 0),
            // poll ignores negative fds: no raw socket, no events.
            pollfd(fd: rawESP?.pollDescriptor ?? -1, events: Int16(POLLIN), revents: 0),
        ]
        var fds = fixed
        var polled: [TunnelInterface<Device>] = []
        var running = true
        var failure: String?
        // Adaptive busy polling: for `busyPoll` after the last packet the loop polls without sleeping, so
        // the answer to what it just sent (a ping's reply, a TCP ACK) is read without a wake-up; idle,
        // it blocks in poll and costs nothing.
        let busyPoll = DataplaneLimits.busyPoll
        var lastPacket = Duration.zero - busyPoll
        while running {
            if stopRequested { break }
            plane.countTurn()
            if interfacesChanged {
                interfacesChanged = false
                polled = interfaces
                fds = fixed + polled.map { pollfd(fd: $0.device.pollDescriptor, events: Int16(POLLIN), revents: 0) }
            }
            for index in fds.indices { fds[index].revents = 0 }
            // While counters wait to be published, wake up soon enough to publish them.
            let spinning = busyPoll > .zero && now() - lastPacket < busyPoll
            let ready = poll(&fds, nfds_t(fds.count), spinning ? 0 : dirty || connectionsStale ? 20 : 500)
            if busyPoll > .zero, ready > 0, fds[1...].contains(where: { $0.revents & Int16(POLLIN) != 0 }) {
                lastPacket = now()
            } else if spinning && ready == 0 {
                // Nothing yet: let whatever else waits for this CPU run (the peer namespace's softirq, the
                // other gateway, the application) instead of holding it until the end of the time slice.
                sched_yield()
            }
            if ready < 0 && errno != EINTR {
                let code = errno
                failure = "poll failed: " + String(cString: strerror(code))
                logger.error("data plane poll failed", metadata: ["errno": "\(code)"])
                break
            }
            // Commands first: SA installs must precede the packets that need them.
            if fds[0].revents != 0 { running = runCommands() && running }
            if fds[1].revents & Int16(POLLIN) != 0 { receiveUDP() }
            for (index, tunnel) in polled.enumerated() where !tunnel.detached {
                let events = fds[fixed.count + index].revents
                if events & Int16(POLLIN) != 0 {
                    readTUN(tunnel)
                } else if events & Int16(POLLERR | POLLHUP | POLLNVAL) != 0 {
                    logger.error(
                        "TUN device failed (interface deleted?); it is detached, the others go on",
                        metadata: ["tun": "\(tunnel.device.name)"])
                    detach(interface: tunnel.interface)
                    plane.reportDeviceFailure(interface: tunnel.interface, name: tunnel.device.name)
                }
            }
            if rawESP != nil, fds[2].revents & Int16(POLLIN) != 0 { receiveRawESP() }
            writeCoalesced()
            let time = now()
            if time - lastTick >= Self.tickInterval || engine.hasPendingLifetimeEvents {
                lastTick = time
                for tunnel in interfaces { tunnel.readMTU() }
                for event in engine.tick(now: time) {
                    counters.lifetimeEvents &+= 1
                    dirty = true
                    logger.debug(
                        "ESP SA lifetime reached",
                        metadata: [
                            "kind": "\(event.kind)", "trigger": "\(event.trigger)", "connection": "\(event.connection)",
                            "in": "\(SAIdentifier.esp(event.inboundSPI))",
                        ])
                    if event.kind == .hard { counters.installedSAs = engine.installedCount }
                    onLifetime(event)
                }
            }
            if (dirty || connectionsStale) && time - lastPublish >= Self.publishInterval {
                lastPublish = time
                dirty = false
                // The per-connection table costs a walk over every SA: with many installed (10,000 point-to-site
                // clients, 50 publishes a second) it is rebuilt once a second only, and a skipped rebuild is
                // owed (`connectionsStale` keeps publishing until it is done, also after the traffic stopped).
                if engine.installedCount <= DataplaneLimits.connectionTableEveryPublish
                    || time - lastConnectionsPublish >= Self.tickInterval
                {
                    lastConnectionsPublish = time
                    counters.connections = engine.trafficByConnection()
                    connectionsStale = false
                } else {
                    connectionsStale = true
                }
                counters.aclHits = aclCounters()
                plane.publish(counters, engineDrops: engine.drops)
            }
        }
        counters.connections = engine.trafficByConnection()
        counters.aclHits = aclCounters()
        plane.publish(counters, engineDrops: engine.drops)
        plane.loopEnded(failure: failure)
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
            case .attach(let interface, let device):
                attach(interface: interface, device: device)
            case .detach(let interface):
                detach(interface: interface)
            case .filter(let filter):
                setFilter(filter)
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
        counters.installedSAs = engine.installedCount
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
        case .moveRemote(_, let remote):
            logger.info("ESP SA follows its peer", metadata: ["in": "\(spi)", "remote": "\(remote)"])
        case .confirmOutbound: logger.debug("ESP SA outbound confirmed", metadata: ["in": "\(spi)"])
        }
    }
}

extension DataplaneLoop {
    /// Adds a TUN device as `interface` (replacing a device attached under that number).
    func attach(interface: Int, device: DataplaneDevice) {
        guard let device = device.device as? Device else {
            logger.error("TUN device of the wrong type not attached", metadata: ["tun": "\(device.name)"])
            return
        }
        detach(interface: interface)
        interfaces.append(TunnelInterface(interface: interface, device: device))
        interfacesChanged = true
        plane.setInterfaces(interfaces.map(\.device.name))
        logger.info("TUN device attached", metadata: ["tun": "\(device.name)", "interface": "\(interface)"])
    }

    /// Removes the TUN device of `interface`: its descriptor closes when the last reference goes (a TUN
    /// the daemon created disappears with it, and so do its routes).
    func detach(interface: Int) {
        guard let index = interfaces.firstIndex(where: { $0.interface == interface }) else { return }
        let tunnel = interfaces.remove(at: index)
        if coalescerTarget === tunnel { writeCoalesced() }
        tunnel.detached = true
        interfacesChanged = true
        plane.setInterfaces(interfaces.map(\.device.name))
        logger.info("TUN device detached", metadata: ["tun": "\(tunnel.device.name)", "interface": "\(interface)"])
    }

    /// The attached device of `interface`, nil when there is none.
    func tunnel(_ interface: Int) -> TunnelInterface<Device>? {
        if let last = lastDelivered, last.interface == interface, !last.detached { return last }
        for tunnel in interfaces where tunnel.interface == interface {
            lastDelivered = tunnel
            return tunnel
        }
        return nil
    }
}

/// One TUN device of the loop: the interface number its SAs name, and what the loop keeps of it.
final class TunnelInterface<Device: PacketDevice> {
    let interface: Int
    let device: Device
    /// Whether the device speaks virtio-net headers (segmentation offload on).
    let vnetHeader: Bool
    /// The device's MTU, read at attachment and on every tick.
    var mtu: Int
    /// Detached while the loop still held it.
    var detached = false

    init(interface: Int, device: Device) {
        self.interface = interface
        self.device = device
        self.vnetHeader = device.vnetHeader
        self.mtu = device.currentMTU() ?? 1500
    }

    func readMTU() {
        if let mtu = device.currentMTU() { self.mtu = mtu }
    }
}

/// Sizes and intervals of the data-plane loop.
enum DataplaneLimits {
    static let batch = Dataplane.batchSize
    /// Slots for protected packets waiting to leave: more than a batch, since one TUN read of a TCP
    /// super-packet fills up to 45 slots (64 KiB in 1448-byte segments).
    static let outboundSlots = 64
    static let tickInterval: Duration = .seconds(1)
    /// Counters reach `status` at most this late while traffic flows (per-connection counters: a second late
    /// when more than ``connectionTableEveryPublish`` SA pairs are installed).
    static let publishInterval: Duration = .milliseconds(20)
    static let connectionTableEveryPublish = 1_000
    /// The largest inner packet read from the TUN, and the largest datagram (or GRO train) received.
    static let maximumPacket = 65_535
    /// How long the loop keeps polling without sleeping after the last packet: ISTHMUS_BUSY_POLL_US
    /// microseconds, default 0 (off). Measured in the lab (2 vCPUs shared by both gateways and the hosts)
    /// it made the ping RTT longer, not shorter (0.40 against 0.36 ms): a spinning thread takes the core
    /// the other side needs. It is for gateways with a core to spare.
    static let busyPoll: Duration = {
        guard let text = getenv("ISTHMUS_BUSY_POLL_US"), let value = Int(String(cString: text)), value >= 0 else {
            return .zero
        }
        return .microseconds(min(value, 10_000))
    }()
    static let headroom = ESPEngine.requiredHeadroom
    static let slotBytes = (headroom + maximumPacket + ESPEngine.requiredTailroom + 63) & ~63
}
