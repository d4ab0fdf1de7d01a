import IsthmusESP
import IsthmusEvents
import Logging
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Counters of the userspace data plane, as `status --json` shows them.
public struct DataplaneCounters: Sendable, Codable, Hashable {
    /// The TUN device.
    public var tun: String = ""
    /// Inner packets read from the TUN, protected and sent (ESP packets and their ESP bytes).
    public var espPacketsOut: UInt64 = 0
    public var espBytesOut: UInt64 = 0
    /// ESP packets received, decrypted and written to the TUN (and their ESP bytes).
    public var espPacketsIn: UInt64 = 0
    public var espBytesIn: UInt64 = 0
    /// Packets read from the TUN (whether or not they could be sent).
    public var tunPacketsRead: UInt64 = 0
    /// SA pairs installed in the engine now.
    public var installedSAs: Int = 0
    /// Dropped packets by reason: the engine's (`unknown-spi`, `integrity-failure`, `no-policy`, ...)
    /// and the data plane's own (`queue-full`, `raw-esp-unsupported`, `tun-write-error`, `install-failed`).
    public var drops: [String: UInt64] = [:]
    /// Soft and hard lifetime events reported by the engine.
    public var lifetimeEvents: UInt64 = 0

    public init() {}
}

/// The userspace ESP data plane: one thread owns the ``ESPEngine`` and the TUN device.
///
/// The thread `poll`s the TUN fd and the command queue's wake-up pipe: packets read from the TUN are
/// encapsulated in place (read at offset ``ESPEngine/requiredHeadroom``) and handed to `send`; ESP
/// packets and SA changes arrive through ``submit(_:)`` from any thread. The engine is ticked about
/// once a second; lifetime events are logged (IKE rekeys on its own timers).
public final class Dataplane: Sendable {
    /// Sends one ESP packet (from its SPI on) in UDP from our NAT-T port to `destination`.
    public typealias Sender = @Sendable (_ packet: [UInt8], _ destination: ESPEndpoint) -> Void

    private struct Shared: ~Copyable {
        var counters = DataplaneCounters()
        var engineDrops = ESPDropCounters()
        var ownDrops: [String: UInt64] = [:]
        var thread: pthread_t?
    }

    public let tunName: String
    private let tunFD: CInt
    /// Raw IPv4 socket for ESP without UDP encapsulation (IP protocol 50); -1 when it cannot be opened.
    private let rawESPFD: CInt
    private let queue: DataplaneQueue
    private let shared = Mutex(Shared())
    private let logger: Logger

    /// Opens the TUN device `tunName` (creating it when it does not exist).
    public init(tunName: String, logger: Logger, queueCapacity: Int = 1024) throws(DataplaneError) {
        self.tunName = tunName
        self.logger = logger
        self.queue = try DataplaneQueue(capacity: queueCapacity)
        self.tunFD = try TUNDevice.open(name: tunName)
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

    /// Hands work to the data-plane thread; a packet is dropped (and counted) when the queue is full.
    public func submit(_ command: DataplaneCommand) {
        if !queue.push(command) { countDrop("queue-full") }
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

    /// Starts the data-plane thread; `send` is called on it for every ESP packet to send.
    public func start(send: @escaping Sender) throws(DataplaneError) {
        let loop = Loop(tunFD: tunFD, rawESPFD: rawESPFD, queue: queue, plane: self, send: send, logger: logger)
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
        logger.notice("ESP data plane running", metadata: ["tun": "\(tunName)"])
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

    fileprivate func countDrop(_ reason: String) {
        shared.withLock { $0.ownDrops[reason, default: 0] += 1 }
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
    let tunFD: CInt
    let rawESPFD: CInt
    let queue: DataplaneQueue
    let plane: Dataplane
    let send: Dataplane.Sender
    let logger: Logger

    init(
        tunFD: CInt, rawESPFD: CInt, queue: DataplaneQueue, plane: Dataplane, send: @escaping Dataplane.Sender,
        logger: Logger
    ) {
        self.tunFD = tunFD
        self.rawESPFD = rawESPFD
        self.queue = queue
        self.plane = plane
        self.send = send
        self.logger = logger
    }

    /// Most packets read from the TUN per wake-up before the queue gets a turn.
    static let tunBatch = 64
    static let tickInterval: Duration = .seconds(1)

    func run() {
        let engine = ESPEngine()
        let origin = ContinuousClock.now
        func now() -> Duration { ContinuousClock.now - origin }
        var counters = DataplaneCounters()
        let headroom = ESPEngine.requiredHeadroom
        let maximumInner = 65_535
        let buffer = UnsafeMutableRawBufferPointer.allocate(
            byteCount: headroom + maximumInner + ESPEngine.requiredTailroom, alignment: 16)
        defer { buffer.deallocate() }
        var lastTick = Duration.zero
        let rawBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 65_535, alignment: 16)
        defer { rawBuffer.deallocate() }
        var fds = [
            pollfd(fd: tunFD, events: Int16(POLLIN), revents: 0),
            pollfd(fd: queue.wakeFD, events: Int16(POLLIN), revents: 0),
            // poll ignores negative fds: no raw socket, no events.
            pollfd(fd: rawESPFD, events: Int16(POLLIN), revents: 0),
        ]
        var running = true
        /// Decapsulates the ESP packet in `packet` and writes its inner packet to the TUN.
        func deliver(_ packet: UnsafeMutableRawBufferPointer) {
            let result = engine.decapsulate(espPacket: packet, now: now())
            guard case .packet(let inner) = result else { return }
            let written = write(tunFD, packet.baseAddress! + inner.range.lowerBound, inner.range.count)
            if written == inner.range.count {
                counters.espPacketsIn &+= 1
                counters.espBytesIn &+= UInt64(packet.count)
            } else {
                plane.countDrop("tun-write-error")
            }
        }
        while running {
            for index in fds.indices { fds[index].revents = 0 }
            let ready = poll(&fds, nfds_t(fds.count), 500)
            if ready < 0 && errno != EINTR {
                logger.error("data plane poll failed", metadata: ["errno": "\(errno)"])
                break
            }
            // Commands first: SA installs must precede the packets that need them.
            if fds[1].revents != 0 {
                for command in queue.takeAll() {
                    switch command {
                    case .stop:
                        running = false
                    case .install(let sa):
                        do {
                            try engine.install(sa, now: now())
                            logger.info(
                                "ESP SA installed",
                                metadata: [
                                    "connection": "\(sa.connection)", "in": "\(SAIdentifier.esp(sa.inboundSPI))",
                                    "out": "\(SAIdentifier.esp(sa.outboundSPI))", "remote": "\(sa.tunnel.remote)",
                                    "udp": "\(sa.tunnel.udpEncapsulated)",
                                ])
                        } catch {
                            plane.countDrop("install-failed")
                            logger.warning(
                                "ESP SA not installed: \(error)", metadata: ["connection": "\(sa.connection)"])
                        }
                    case .remove(let spi):
                        if engine.remove(inboundSPI: spi) {
                            logger.info("ESP SA removed", metadata: ["in": "\(SAIdentifier.esp(spi))"])
                        }
                    case .inbound(var packet):
                        packet.withUnsafeMutableBytes { deliver($0) }
                    }
                }
            }
            if fds[0].revents & Int16(POLLIN) != 0 {
                var batch = 0
                while batch < Self.tunBatch {
                    batch += 1
                    let count = read(tunFD, buffer.baseAddress! + headroom, maximumInner)
                    guard count > 0 else { break }
                    counters.tunPacketsRead &+= 1
                    let result = engine.encapsulate(
                        innerPacketAt: headroom..<(headroom + count), in: buffer, now: now())
                    guard case .packet(let packet) = result else { continue }
                    guard packet.tunnel.udpEncapsulated else {
                        let esp = UnsafeRawBufferPointer(rebasing: buffer[packet.range])
                        if RawESPSocket.send(esp, on: rawESPFD, to: packet.tunnel.remote.address) {
                            counters.espPacketsOut &+= 1
                            counters.espBytesOut &+= UInt64(esp.count)
                        } else {
                            plane.countDrop(rawESPFD < 0 ? "raw-esp-unsupported" : "send-error")
                        }
                        continue
                    }
                    let bytes = Array(UnsafeRawBufferPointer(rebasing: buffer[packet.range]))
                    send(bytes, packet.tunnel.remote)
                    counters.espPacketsOut &+= 1
                    counters.espBytesOut &+= UInt64(bytes.count)
                }
            } else if fds[0].revents & Int16(POLLERR | POLLHUP | POLLNVAL) != 0 {
                logger.error("TUN device failed; the data plane stops")
                break
            }
            if rawESPFD >= 0, fds[2].revents & Int16(POLLIN) != 0 {
                var batch = 0
                while batch < Self.tunBatch {
                    batch += 1
                    let count = recv(rawESPFD, rawBuffer.baseAddress!, rawBuffer.count, Int32(MSG_DONTWAIT))
                    guard count > 0 else { break }
                    guard let esp = RawESPSocket.payload(of: UnsafeRawBufferPointer(rebasing: rawBuffer[0..<count]))
                    else {
                        plane.countDrop("malformed-outer-ip")
                        continue
                    }
                    deliver(UnsafeMutableRawBufferPointer(rebasing: rawBuffer[esp]))
                }
            }
            let time = now()
            if time - lastTick >= Self.tickInterval || engine.hasPendingLifetimeEvents {
                lastTick = time
                for event in engine.tick(now: time) {
                    counters.lifetimeEvents &+= 1
                    logger.notice(
                        "ESP SA lifetime reached",
                        metadata: [
                            "kind": "\(event.kind)", "trigger": "\(event.trigger)", "connection": "\(event.connection)",
                            "in": "\(SAIdentifier.esp(event.inboundSPI))",
                        ])
                }
            }
            counters.installedSAs = engine.installedInboundSPIs.count
            plane.publish(counters, engineDrops: engine.drops)
        }
    }
}
