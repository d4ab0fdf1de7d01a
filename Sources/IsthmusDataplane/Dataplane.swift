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

/// The userspace ESP data plane: one thread owns the ``ESPEngine``, the TUN devices and the NAT-T socket.
///
/// Each TUN device is an interface with its own SPD (one per route-based connection, one shared by the
/// policy-based ones): ``attach(_:as:)`` and ``detach(interface:)`` add and remove them while it runs.
/// The thread `poll`s the TUN devices, the NAT-T socket, the raw ESP socket and the command queue's wake-up
/// pipe. Packets read from the TUN (up to ``batchSize`` per turn) are encapsulated in place, each in its
/// own preallocated slot, and leave in one `sendmmsg`. Datagrams on the NAT-T socket arrive in one
/// `recvmmsg` (split further when the kernel coalesced them with GRO); ESP is decrypted in place and
/// written to the TUN, IKE messages go to the IKE side. Nothing is allocated per packet. SA changes
/// arrive through ``submit(_:)`` from any thread; lifetime events go back to IKE (soft: rekey).
public final class Dataplane: Sendable {
    /// An IKE message that arrived on the NAT-T socket (non-ESP marker removed), with the address it was
    /// sent to; called on the data-plane thread.
    public typealias IKEReceiver =
        @Sendable (_ message: [UInt8], _ source: UDPEndpoint, _ destination: UDPEndpoint)
        -> Void
    /// A soft or hard lifetime event of an SA pair; called on the data-plane thread.
    public typealias LifetimeReceiver = @Sendable (ESPLifetimeEvent) -> Void
    /// A packet an endpoint ACL denied (at most ``ACLDenial/reportsPerSecond`` a second); called on the
    /// data-plane thread.
    public typealias DenialReceiver = @Sendable (ACLDenial) -> Void
    /// A TUN device failed (its interface was deleted, or it reports an error) and was detached; called
    /// on the data-plane thread with the interface number and the device's name.
    public typealias DeviceFailureReceiver = @Sendable (_ interface: Int, _ name: String) -> Void

    private struct Shared: ~Copyable {
        var counters = DataplaneCounters()
        var engineDrops = ESPDropCounters()
        var ownDrops: [String: UInt64] = [:]
        var thread: pthread_t?
        var onDenial: DenialReceiver?
        var onDeviceFailure: DeviceFailureReceiver?
        /// Why the thread left its loop without being told to stop (nil while it runs or after `stop`).
        var failure: String?
    }

    /// The data-plane thread's name (at most 15 bytes).
    public static let threadName = "ist-dataplane"

    /// Packets moved per system call at most (TUN reads per turn, datagrams per `recvmmsg`/`sendmmsg`).
    public static let batchSize = 32

    /// The socket buffers the data plane's sockets ask for; the daemon's IKE sockets ask for as much.
    public static let socketBufferBytes = Int(NATTSocket.bufferBytes)

    /// Whether to ask the TUN for TCP segmentation offload (ISTHMUS_TUN_OFFLOAD=0 turns it off).
    static let segmentationOffload: Bool = {
        guard let text = getenv("ISTHMUS_TUN_OFFLOAD") else { return true }
        return String(cString: text) != "0"
    }()
    /// The MTU of the path to the peers (outer packets).
    public let pathMTU: Int
    /// Builds the data-plane thread's loop on a socket. Made where the TUN's type is known, so that the
    /// loop (generic over it) is specialized for ``TUNDevice``.
    private let makeLoop:
        @Sendable (
            _ plane: Dataplane, _ socket: any DatagramSocket, _ onIKE: @escaping IKEReceiver,
            _ onLifetime: @escaping LifetimeReceiver
        ) -> () -> Void
    private let queue: DataplaneQueue
    private let shared = Mutex(Shared())
    /// Turns of the data-plane loop so far: a thread that runs turns at least twice a second (its `poll`
    /// waits at most 500 ms), so a count that stands still means a stalled thread (``DataplaneWatchdog``).
    private let turnCount = Atomic<UInt64>(0)
    /// Whether the thread is in its loop.
    private let loopRunning = Atomic<Bool>(false)
    private let logger: Logger

    /// A data plane for TUN devices, none attached yet (``openTUN(name:logger:)``, ``attach(_:as:)``).
    public convenience init(pathMTU: Int = 1500, logger: Logger) throws(DataplaneError) {
        let rawESP = RawESPSocket()
        if rawESP == nil {
            logger.warning(
                "no raw ESP socket (IP protocol 50): only UDP-encapsulated CHILD SAs carry traffic",
                metadata: ["errno": "\(errno)"])
        }
        try self.init(
            devices: [(interface: Int, device: TUNDevice)](), rawESP: rawESP, pathMTU: pathMTU, logger: logger)
    }

    /// Opens (creating when it does not exist) the TUN device `name` the way the data plane reads it:
    /// with segmentation offload unless ISTHMUS_TUN_OFFLOAD=0, and a long transmit queue.
    public static func openTUN(name: String, logger: Logger) throws(DataplaneError) -> DataplaneDevice {
        let device = try TUNDevice(name: name, offload: segmentationOffload)
        if let (before, after) = TUNDevice.raiseTransmitQueue(name: name), before != after {
            logger.debug(
                "TUN transmit queue raised", metadata: ["tun": "\(name)", "from": "\(before)", "to": "\(after)"])
        }
        return DataplaneDevice(device: device)
    }

    /// A data plane on `device` as interface 0 and `rawESP` (ESP without UDP; nil: none): in-memory ones
    /// in tests.
    convenience init<Device: PacketDevice>(
        device: Device, rawESP: (any DatagramSocket)?, pathMTU: Int, logger: Logger, queue: DataplaneQueue? = nil
    ) throws(DataplaneError) {
        try self.init(devices: [(0, device)], rawESP: rawESP, pathMTU: pathMTU, logger: logger, queue: queue)
    }

    /// A data plane on `devices` (TUN devices and their interface numbers) and `rawESP`, with `queue` for
    /// its commands (default: one with the default bounds).
    init<Device: PacketDevice>(
        devices: [(interface: Int, device: Device)], rawESP: (any DatagramSocket)?, pathMTU: Int, logger: Logger,
        queue given: DataplaneQueue? = nil
    ) throws(DataplaneError) {
        let queue: DataplaneQueue
        if let given { queue = given } else { queue = try DataplaneQueue() }
        self.pathMTU = pathMTU
        self.logger = logger
        self.queue = queue
        self.makeLoop = { plane, socket, onIKE, onLifetime in
            let loop = DataplaneLoop(
                devices: devices, pathMTU: pathMTU, rawESP: rawESP, socket: socket, queue: queue, plane: plane,
                onIKE: onIKE, onLifetime: onLifetime, logger: logger)
            return { loop.run() }
        }
        setInterfaces(devices.map(\.device.name))
    }

    /// Reads and writes `device` as interface `interface` from the next turn on (any thread); SAs whose
    /// ``ESPSecurityAssociation/interface`` is `interface` carry its traffic.
    public func attach(_ device: DataplaneDevice, as interface: Int) {
        queue.push(.attach(interface: interface, device))
    }

    /// Lets go of the device of `interface` (any thread): a TUN device the data plane created disappears
    /// when its descriptor closes, and the kernel removes its routes with it.
    public func detach(interface: Int) {
        queue.push(.detach(interface: interface))
    }

    /// Applies `filter` to every packet leaving a tunnel from the next packet on (any thread).
    public func setEndpointFilter(_ filter: EndpointFilter?) {
        queue.push(.filter(filter))
    }

    /// Where denied packets are reported (any thread).
    public func onDenial(_ receiver: @escaping DenialReceiver) {
        shared.withLock { $0.onDenial = receiver }
    }

    /// Where failed TUN devices are reported (any thread).
    public func onDeviceFailure(_ receiver: @escaping DeviceFailureReceiver) {
        shared.withLock { $0.onDeviceFailure = receiver }
    }

    func reportDeviceFailure(interface: Int, name: String) {
        shared.withLock { $0.onDeviceFailure }?(interface, name)
    }

    /// Turns the data-plane loop has run (any thread; see ``DataplaneWatchdog``).
    public var turns: UInt64 { turnCount.load(ordering: .relaxed) }

    /// Whether the data-plane thread is in its loop (any thread).
    public var isRunning: Bool { loopRunning.load(ordering: .acquiring) }

    /// Why the thread left its loop without a `stop`, or nil (any thread).
    public var failure: String? { shared.withLock { $0.failure } }

    func countTurn() { turnCount.wrappingAdd(1, ordering: .relaxed) }

    func loopStarted() { loopRunning.store(true, ordering: .releasing) }

    func loopEnded(failure: String?) {
        shared.withLock { $0.failure = failure }
        loopRunning.store(false, ordering: .releasing)
    }

    func reportDenial(_ denial: ACLDenial) {
        shared.withLock { $0.onDenial }?(denial)
    }

    /// The names of the attached devices, for the counters.
    func setInterfaces(_ names: [String]) {
        shared.withLock { $0.counters.interfaces = names }
    }

    /// Hands work to the data-plane thread (any thread).
    public func submit(_ command: DataplaneCommand) {
        queue.push(command)
    }

    /// A snapshot of the counters (any thread).
    public var counters: DataplaneCounters {
        let queueDrops = queue.dropped
        let running = isRunning
        return shared.withLock { shared in
            var counters = shared.counters
            counters.running = running
            counters.failure = shared.failure
            if queueDrops > 0 { counters.drops["command-queue-full", default: 0] += queueDrops }
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
        try start(on: socket, onIKE: onIKE, onLifetime: onLifetime)
    }

    /// Starts the data-plane thread on `socket`: the NAT-T socket, or an in-memory one in tests.
    func start(
        on socket: any DatagramSocket, onIKE: @escaping IKEReceiver, onLifetime: @escaping LifetimeReceiver
    ) throws(DataplaneError) {
        let box = Unmanaged.passRetained(ThreadBody(makeLoop(self, socket, onIKE, onLifetime))).toOpaque()
        var thread = pthread_t()
        // Running from now on: a watchdog that looks right after `start` must not see a dead thread.
        loopStarted()
        let result = pthread_create(
            &thread, nil,
            { argument in
                guard let argument else { return nil }
                // Named, so that `top -H` and /proc/PID/task/*/comm show which thread moves the packets.
                _ = isthmus_set_thread_name(Dataplane.threadName)
                Unmanaged<ThreadBody>.fromOpaque(argument).takeRetainedValue().body()
                return nil
            }, box)
        guard result == 0 else {
            Unmanaged<ThreadBody>.fromOpaque(box).release()
            loopEnded(failure: nil)
            throw DataplaneError("cannot start the data-plane thread", errno: result)
        }
        shared.withLock { $0.thread = thread }
        logger.notice(
            "ESP data plane running",
            metadata: [
                "nat-t": "\(UDPEndpoint(address: socket.address, port: socket.port))",
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

    /// Counts `count` packets or messages dropped for `reason` in the data plane's drops (any thread).
    public func countDrop(_ reason: String, count: UInt64 = 1) {
        shared.withLock { $0.ownDrops[reason, default: 0] += count }
    }

    func publish(_ counters: DataplaneCounters, engineDrops: ESPDropCounters) {
        shared.withLock { shared in
            let interfaces = shared.counters.interfaces
            shared.counters = counters
            shared.counters.interfaces = interfaces
            shared.engineDrops = engineDrops
        }
    }
}

private final class ThreadBody {
    let body: () -> Void
    init(_ body: @escaping () -> Void) { self.body = body }
}
