import IsthmusESP
import IsthmusIP
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Work for the data-plane thread, from the IKE side: SA changes and datagrams to send on the NAT-T socket.
public enum DataplaneCommand: Sendable {
    /// Carry out an SA change from an IKE core.
    case sa(ESPSAChange)
    /// Send this datagram (an IKE message with its non-ESP marker, or a NAT keepalive) from the NAT-T
    /// socket, after every ESP packet protected before it: IKE's DELETE for an SA never overtakes
    /// packets still sent on that SA, and SA changes queued before it are in force when it leaves.
    case sendUDP([UInt8], to: UDPEndpoint)
    /// Read and write this TUN device as `interface` (the number SAs name in
    /// ``ESPSecurityAssociation/interface``), replacing the one attached under it.
    case attach(interface: Int, DataplaneDevice)
    /// Stop reading and writing the device of `interface` and let it go.
    case detach(interface: Int)
    /// Filter packets leaving the tunnels with these endpoint ACLs from now on (nil: none).
    case filter(EndpointFilter?)
    /// Leave the loop.
    case stop
}

/// A TUN device opened for a data plane (``Dataplane/openTUN(name:)``), to be attached to it.
public struct DataplaneDevice: Sendable {
    let device: any PacketDevice

    /// The interface name.
    public var name: String { device.name }
}

/// A multi-producer, single-consumer queue with a wake-up pipe the consumer can `poll`.
///
/// Only the IKE side pushes (SA changes, its own messages and keepalives), at the pace of IKE exchanges,
/// and the data-plane thread takes everything every turn; still the queue is bounded, so a stalled
/// consumer or a flood of IKE sends costs bounded memory: a datagram (``DataplaneCommand/sendUDP(_:to:)``)
/// is refused once ``datagramCapacity`` commands wait, any other command once ``capacity`` wait (SA
/// changes get the room datagrams cannot take), `stop` never. Refused commands are counted (``dropped``:
/// `command-queue-full` in the data plane's drops).
public final class DataplaneQueue: Sendable {
    private struct State {
        var items: [DataplaneCommand] = []
        var dropped: UInt64 = 0
    }

    private let state = Mutex(State())
    private let wake: ReadinessPipe
    /// Commands waiting beyond which datagrams are refused.
    public let datagramCapacity: Int
    /// Commands waiting beyond which everything but `stop` is refused.
    public let capacity: Int

    /// Read end of the wake-up pipe (non-blocking): readable when something was queued.
    public var wakeFD: CInt { wake.readFD }

    /// The default bounds: 1024 waiting datagrams (IKE sends a few per exchange), 8192 commands.
    public static let defaultDatagramCapacity = 1024
    public static let defaultCapacity = 8192

    /// - Throws: when the wake-up pipe cannot be created.
    public init(
        datagramCapacity: Int = defaultDatagramCapacity, capacity: Int = defaultCapacity
    ) throws(DataplaneError) {
        precondition(datagramCapacity > 0 && capacity >= datagramCapacity, "queue bounds out of order")
        wake = try ReadinessPipe()
        self.datagramCapacity = datagramCapacity
        self.capacity = capacity
    }

    /// Queues `command` and wakes the consumer.
    /// - Returns: `false` when the queue was full for it: it was dropped and counted.
    @discardableResult
    public func push(_ command: DataplaneCommand) -> Bool {
        let limit: Int
        switch command {
        case .stop: limit = .max
        case .sendUDP: limit = datagramCapacity
        case .sa, .attach, .detach, .filter: limit = capacity
        }
        let (accepted, wasEmpty) = state.withLock { state -> (Bool, Bool) in
            guard state.items.count < limit else {
                state.dropped &+= 1
                return (false, false)
            }
            state.items.append(command)
            return (true, state.items.count == 1)
        }
        if wasEmpty { wake.signal() }
        return accepted
    }

    /// Everything queued so far, oldest first. Empties the wake-up pipe first, so that a command
    /// queued after this call always leaves the pipe readable.
    public func takeAll() -> [DataplaneCommand] {
        wake.clear()
        return state.withLock { state in
            let taken = state.items
            state.items = []
            return taken
        }
    }

    /// Queued commands (for tests and status).
    public var count: Int { state.withLock { $0.items.count } }

    /// Commands refused because the queue was full, since it was made.
    public var dropped: UInt64 { state.withLock { $0.dropped } }
}

/// A data-plane setup failure, with the C error when there is one.
public struct DataplaneError: Error, Sendable, CustomStringConvertible {
    public var description: String
    /// The errno of the failed system call, when one failed.
    public var errno: CInt?

    public init(_ what: String, errno code: CInt? = nil) {
        self.errno = code
        if let code, let text = strerror(code) {
            description = "\(what): \(String(cString: text))"
        } else {
            description = what
        }
    }
}
