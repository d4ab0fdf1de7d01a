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
/// so the queue needs no bound: packets never travel through it.
public final class DataplaneQueue: Sendable {
    private let items = Mutex<[DataplaneCommand]>([])
    private let wake: ReadinessPipe

    /// Read end of the wake-up pipe (non-blocking): readable when something was queued.
    public var wakeFD: CInt { wake.readFD }

    /// - Throws: when the wake-up pipe cannot be created.
    public init() throws(DataplaneError) {
        wake = try ReadinessPipe()
    }

    /// Queues `command` and wakes the consumer.
    public func push(_ command: DataplaneCommand) {
        let wasEmpty = items.withLock { items in
            items.append(command)
            return items.count == 1
        }
        if wasEmpty { wake.signal() }
    }

    /// Everything queued so far, oldest first. Empties the wake-up pipe first, so that a command
    /// queued after this call always leaves the pipe readable.
    public func takeAll() -> [DataplaneCommand] {
        wake.clear()
        return items.withLock { items in
            let taken = items
            items = []
            return taken
        }
    }

    /// Queued commands (for tests and status).
    public var count: Int { items.withLock { $0.count } }
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
