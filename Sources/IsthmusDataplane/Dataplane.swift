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
    public typealias IKEReceiver =
        @Sendable (_ message: [UInt8], _ source: UDPEndpoint, _ destination: UDPEndpoint)
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
    /// Builds the data-plane thread's loop on a socket. Made where the TUN's type is known, so that the
    /// loop (generic over it) is specialized for ``TUNDevice``.
    private let makeLoop:
        @Sendable (
            _ plane: Dataplane, _ socket: any DatagramSocket, _ onIKE: @escaping IKEReceiver,
            _ onLifetime: @escaping LifetimeReceiver
        ) -> () -> Void
    private let queue: DataplaneQueue
    private let shared = Mutex(Shared())
    private let logger: Logger

    /// Opens the TUN device `tunName` (creating it when it does not exist).
    public convenience init(tunName: String, pathMTU: Int = 1500, logger: Logger)
        throws(DataplaneError)
    {
        let device = try TUNDevice(name: tunName, offload: Dataplane.segmentationOffload)
        if let (before, after) = TUNDevice.raiseTransmitQueue(name: tunName), before != after {
            logger.info(
                "TUN transmit queue raised", metadata: ["tun": "\(tunName)", "from": "\(before)", "to": "\(after)"])
        }
        let rawESP = RawESPSocket()
        if rawESP == nil {
            logger.warning(
                "no raw ESP socket (IP protocol 50): only UDP-encapsulated CHILD SAs carry traffic",
                metadata: ["errno": "\(errno)"])
        }
        try self.init(device: device, rawESP: rawESP, pathMTU: pathMTU, logger: logger)
    }

    /// A data plane on `device` (the TUN) and `rawESP` (ESP without UDP; nil: none): the real ones, or
    /// in-memory ones in tests.
    init<Device: PacketDevice>(device: Device, rawESP: (any DatagramSocket)?, pathMTU: Int, logger: Logger)
        throws(DataplaneError)
    {
        let queue = try DataplaneQueue()
        self.tunName = device.name
        self.vnetHeader = device.vnetHeader
        self.pathMTU = pathMTU
        self.logger = logger
        self.queue = queue
        self.makeLoop = { plane, socket, onIKE, onLifetime in
            let loop = DataplaneLoop(
                device: device, pathMTU: pathMTU, rawESP: rawESP, socket: socket, queue: queue, plane: plane,
                onIKE: onIKE, onLifetime: onLifetime, logger: logger)
            return { loop.run() }
        }
        shared.withLock { $0.counters.tun = device.name }
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
        try start(on: socket, onIKE: onIKE, onLifetime: onLifetime)
    }

    /// Starts the data-plane thread on `socket`: the NAT-T socket, or an in-memory one in tests.
    func start(
        on socket: any DatagramSocket, onIKE: @escaping IKEReceiver, onLifetime: @escaping LifetimeReceiver
    ) throws(DataplaneError) {
        let box = Unmanaged.passRetained(ThreadBody(makeLoop(self, socket, onIKE, onLifetime))).toOpaque()
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

    func countDrop(_ reason: String, count: UInt64 = 1) {
        shared.withLock { $0.ownDrops[reason, default: 0] += count }
    }

    func publish(_ counters: DataplaneCounters, engineDrops: ESPDropCounters) {
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
