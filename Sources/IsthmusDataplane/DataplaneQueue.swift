import IsthmusESP
import IsthmusIP
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Work for the data-plane thread: ESP received on UDP 4500 and SA changes from IKE.
public enum DataplaneCommand: Sendable {
    /// An ESP packet (from its SPI on, UDP header and marker already stripped) to decapsulate.
    case inbound([UInt8])
    /// Install an SA pair in the engine.
    case install(ESPSecurityAssociation)
    /// Remove the SA pair with this inbound SPI.
    case remove(inboundSPI: UInt32)
    /// Stop sending on the SA pair with this inbound SPI (it is being deleted).
    case retireOutbound(inboundSPI: UInt32)
    /// Send this datagram (an IKE message with its non-ESP marker, or a NAT keepalive) from the NAT-T
    /// socket, after every ESP packet protected before it: IKE's DELETE for an SA never overtakes
    /// packets still sent on that SA, and SA changes queued before it are in force when it leaves.
    case sendUDP([UInt8], to: UDPEndpoint)
    /// Let the outbound half of the pair with this inbound SPI carry traffic now (its hold ends).
    case releaseOutbound(inboundSPI: UInt32)
    /// Leave the loop.
    case stop
}

/// A bounded multi-producer, single-consumer queue with a wake-up pipe the consumer can `poll`.
///
/// Inbound packets beyond `capacity` are refused (and counted by the caller); SA changes and `stop`
/// are always accepted, so a flood of ESP cannot keep an SA from being installed or removed.
public final class DataplaneQueue: Sendable {
    private struct State: ~Copyable {
        var items: [DataplaneCommand] = []
        var packets = 0
    }

    /// Most queued inbound packets.
    public let capacity: Int
    private let state = Mutex(State())
    /// Read end of the wake-up pipe (non-blocking): readable when something was queued.
    public let wakeFD: CInt
    private let signalFD: CInt

    /// - Throws: when the wake-up pipe cannot be created.
    public init(capacity: Int = 1024) throws(DataplaneError) {
        self.capacity = capacity
        var fds: [CInt] = [-1, -1]
        guard pipe(&fds) == 0 else { throw DataplaneError("cannot create a pipe", errno: errno) }
        for fd in fds {
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        }
        wakeFD = fds[0]
        signalFD = fds[1]
    }

    deinit {
        close(wakeFD)
        close(signalFD)
    }

    /// Queues `command`; `false` when it is a packet and the queue is full (the packet is dropped).
    @discardableResult
    public func push(_ command: DataplaneCommand) -> Bool {
        let wasEmpty: Bool? = state.withLock { state in
            if case .inbound = command {
                guard state.packets < capacity else { return nil }
                state.packets += 1
            }
            state.items.append(command)
            return state.items.count == 1
        }
        guard let wasEmpty else { return false }
        if wasEmpty {
            var byte: UInt8 = 1
            _ = write(signalFD, &byte, 1)  // EAGAIN: the pipe is full, the consumer is awake anyway
        }
        return true
    }

    /// Everything queued so far, oldest first. Empties the wake-up pipe first, so that a command
    /// queued after this call always leaves the pipe readable.
    public func takeAll() -> [DataplaneCommand] {
        var sink = [UInt8](repeating: 0, count: 64)
        while read(wakeFD, &sink, sink.count) > 0 {}
        return state.withLock { state in
            let items = state.items
            state.items = []
            state.packets = 0
            return items
        }
    }

    /// Queued commands (for tests and status).
    public var count: Int { state.withLock { $0.items.count } }
}

/// A data-plane setup failure, with the C error when there is one.
public struct DataplaneError: Error, Sendable, CustomStringConvertible {
    public var description: String
    public init(_ what: String, errno code: CInt? = nil) {
        if let code, let text = strerror(code) {
            description = "\(what): \(String(cString: text))"
        } else {
            description = what
        }
    }
}
