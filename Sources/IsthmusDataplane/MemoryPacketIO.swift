import CIsthmusNet
import IsthmusIP
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

// In-memory TUN devices and datagram sockets, for tests: two data planes in one process, joined by a
// `MemoryNetwork`, each on a `MemoryPacketDevice`. Packets live in memory; a pipe per device or socket
// only tells `poll` that something waits. They allocate per packet: they are not for production.

/// A TUN device in memory: the host side injects packets (the data plane reads them, in order) and takes
/// the packets the data plane wrote. With `vnetHeader`, packets go both ways behind a virtio-net header,
/// as the caller builds them and as the data plane writes them.
final class MemoryPacketDevice: PacketDevice {
    private struct State {
        var toDataplane: [[UInt8]] = []
        var written: [[UInt8]] = []
        var mtu: Int
    }

    let name: String
    let vnetHeader: Bool
    private let readiness: ReadinessPipe
    private let state: Mutex<State>

    init(name: String, mtu: Int = 1500, vnetHeader: Bool = false) throws(DataplaneError) {
        self.name = name
        self.vnetHeader = vnetHeader
        self.readiness = try ReadinessPipe()
        self.state = Mutex(State(mtu: mtu))
    }

    var pollDescriptor: CInt { readiness.readFD }

    /// Queues `packets` for the data plane, all at once (so that one turn can read them as one batch).
    func inject(_ packets: [[UInt8]]) {
        state.withLock { state in
            if state.toDataplane.isEmpty && !packets.isEmpty { readiness.signal() }
            state.toDataplane += packets
        }
    }

    /// Fails like a TUN device whose interface was deleted: `poll` reports a hang-up from now on.
    func fail() {
        state.withLock { $0.toDataplane = [] }
        readiness.clear()
        readiness.hangUp()
    }

    /// The packets the data plane wrote since the last call, oldest first.
    func takeWritten() -> [[UInt8]] {
        state.withLock { state in
            let written = state.written
            state.written = []
            return written
        }
    }

    /// The MTU the data plane reads on its ticks.
    var mtu: Int {
        get { state.withLock { $0.mtu } }
        set { state.withLock { $0.mtu = newValue } }
    }

    func readPacket(into buffer: UnsafeMutableRawPointer, capacity: Int) -> Int {
        state.withLock { state in
            guard !state.toDataplane.isEmpty else { return -1 }
            let packet = state.toDataplane.removeFirst()
            if state.toDataplane.isEmpty { readiness.clear() }
            let count = min(packet.count, capacity)
            packet.withUnsafeBytes { buffer.copyMemory(from: $0.baseAddress!, byteCount: count) }
            return count
        }
    }

    func writePacket(_ packet: UnsafeRawBufferPointer) -> Bool {
        let bytes = Array(packet)
        state.withLock { $0.written.append(bytes) }
        return true
    }

    func writePacket(_ packet: UnsafeRawBufferPointer, header: UnsafeRawBufferPointer) -> Bool {
        let bytes = Array(header) + Array(packet)
        state.withLock { $0.written.append(bytes) }
        return true
    }

    func currentMTU() -> Int? { mtu }
}

/// Links between ``MemoryDatagramSocket``s: a datagram sent to an address and port reaches the socket
/// bound there (raw ESP sockets: the address with port 0), or is lost.
final class MemoryNetwork: Sendable {
    private struct Entry {
        weak var socket: MemoryDatagramSocket?
    }

    private let sockets = Mutex<[UDPEndpoint: Entry]>([:])

    init() {}

    func attach(_ socket: MemoryDatagramSocket) {
        sockets.withLock { $0[socket.endpoint] = Entry(socket: socket) }
    }

    func socket(at endpoint: UDPEndpoint) -> MemoryDatagramSocket? {
        sockets.withLock { $0[endpoint]?.socket }
    }
}

/// A datagram socket in memory, on a ``MemoryNetwork``: UDP (a GSO train reaches a peer with receive
/// offload as one datagram with its segment size, like GRO, and others as its datagrams), or raw ESP
/// (IP protocol 50: received packets start with an IPv4 header).
final class MemoryDatagramSocket: DatagramSocket {
    enum Kind: Sendable {
        case udp
        case rawESP
    }

    /// One datagram as sent or received; `segmentSize` for a GSO train or a GRO read.
    struct Datagram: Sendable {
        var bytes: [UInt8]
        var source: UDPEndpoint
        var destination: UDPEndpoint
        var segmentSize: Int?
    }

    private struct State {
        var waiting: [Datagram] = []
        var held = false
        var sent: [Datagram] = []
        var beforeReceive: (@Sendable () -> Void)?

        var readable: Bool { !held && !waiting.isEmpty }
    }

    let address: IPAddress
    let port: UInt16
    let kind: Kind
    let receiveOffload: Bool
    private let network: MemoryNetwork
    private let readiness: ReadinessPipe
    private let state = Mutex(State())

    init(
        network: MemoryNetwork, address: IPAddress, port: UInt16, kind: Kind = .udp, receiveOffload: Bool = true
    ) throws(DataplaneError) {
        self.network = network
        self.address = address
        self.port = kind == .rawESP ? 0 : port
        self.kind = kind
        self.receiveOffload = kind == .udp && receiveOffload
        self.readiness = try ReadinessPipe()
        network.attach(self)
    }

    var endpoint: UDPEndpoint { UDPEndpoint(address: address, port: port) }
    var pollDescriptor: CInt { readiness.readFD }

    /// Everything sent from this socket so far (a GSO train is one entry, with its segment size).
    var sent: [Datagram] { state.withLock { $0.sent } }

    /// Datagrams that arrived and were not received yet.
    var waitingCount: Int { state.withLock { $0.waiting.count } }

    /// From now on, arriving datagrams wait unseen (not readable, not received) until ``release()``.
    func hold() {
        state.withLock { state in
            if state.readable { readiness.clear() }
            state.held = true
        }
    }

    func release() {
        state.withLock { state in
            state.held = false
            if state.readable { readiness.signal() }
        }
    }

    /// Runs `action` once, at the start of the next ``receive(_:count:)`` (on the receiving thread).
    func beforeNextReceive(_ action: @escaping @Sendable () -> Void) {
        state.withLock { $0.beforeReceive = action }
    }

    func send(_ batch: DatagramBatch, from start: Int, count: Int) -> Int {
        for index in start..<(start + count) {
            guard let message = batch.preparedSend(index) else { return index == start ? -Int(EINVAL) : index - start }
            transmit(message.bytes, to: message.destination, segmentSize: message.segmentSize)
        }
        return count
    }

    func send(_ bytes: [UInt8], to destination: UDPEndpoint) -> Bool {
        transmit(bytes, to: destination, segmentSize: nil)
        return true
    }

    func receive(_ batch: DatagramBatch, count: Int) -> Int {
        let action = state.withLock { state in
            let action = state.beforeReceive
            state.beforeReceive = nil
            return action
        }
        action?()
        return state.withLock { state in
            guard state.readable else { return -Int(EAGAIN) }
            let taken = min(count, state.waiting.count)
            for index in 0..<taken {
                let datagram = state.waiting[index]
                batch.fillReceived(
                    index, with: datagram.bytes, from: datagram.source, to: datagram.destination.address,
                    socketFamily: address.family, segmentSize: datagram.segmentSize)
            }
            state.waiting.removeFirst(taken)
            if state.waiting.isEmpty { readiness.clear() }
            return taken
        }
    }

    private func transmit(_ bytes: [UInt8], to destination: UDPEndpoint, segmentSize: Int?) {
        let datagram = Datagram(bytes: bytes, source: endpoint, destination: destination, segmentSize: segmentSize)
        state.withLock { $0.sent.append(datagram) }
        guard let peer = network.socket(at: destination) else { return }
        switch kind {
        case .rawESP:
            var packet = Self.ipv4Header(from: address, to: destination.address, payloadLength: bytes.count)
            packet += bytes
            peer.arrive([Datagram(bytes: packet, source: endpoint, destination: destination, segmentSize: nil)])
        case .udp:
            guard let size = segmentSize, size > 0, !peer.receiveOffload else {
                peer.arrive([datagram])
                return
            }
            peer.arrive(
                stride(from: 0, to: bytes.count, by: size).map { offset in
                    Datagram(
                        bytes: Array(bytes[offset..<min(offset + size, bytes.count)]), source: endpoint,
                        destination: destination, segmentSize: nil)
                })
        }
    }

    private func arrive(_ datagrams: [Datagram]) {
        state.withLock { state in
            let wasReadable = state.readable
            state.waiting += datagrams
            if !wasReadable && state.readable { readiness.signal() }
        }
    }

    /// The IPv4 header a raw socket reads before an ESP packet.
    static func ipv4Header(from source: IPAddress, to destination: IPAddress, payloadLength: Int) -> [UInt8] {
        let total = 20 + payloadLength
        let header: [UInt8] = [
            0x45, 0, UInt8(truncatingIfNeeded: total >> 8), UInt8(truncatingIfNeeded: total), 0, 0, 0, 0, 64, 50, 0, 0,
        ]
        return header + source.bytes + destination.bytes
    }
}

extension DatagramBatch {
    /// What slot `index` was prepared to send: its bytes, destination and GSO segment size.
    func preparedSend(_ index: Int) -> (bytes: [UInt8], destination: UDPEndpoint, segmentSize: Int?)? {
        let header = messages[index].msg_hdr
        guard let name = header.msg_name, let destination = SocketAddressCoding.read(UnsafeRawPointer(name)),
            let vectors = header.msg_iov
        else { return nil }
        // A GSO train is gathered from several pieces, as the kernel does.
        var bytes: [UInt8] = []
        for position in 0..<Int(header.msg_iovlen) {
            guard let base = vectors[position].iov_base else { return nil }
            bytes += UnsafeRawBufferPointer(start: base, count: vectors[position].iov_len)
        }
        return (bytes, destination, segmentSize(index))
    }

    /// Fills receive slot `index` as `recvmmsg` does: the bytes (cut to the buffer, `MSG_TRUNC` when
    /// cut), the source, packet info with `destination`, and the GRO segment size when there is one.
    func fillReceived(
        _ index: Int, with bytes: [UInt8], from source: UDPEndpoint, to destination: IPAddress,
        socketFamily: IPFamily, segmentSize: Int?
    ) {
        let message = messages + index
        let vector = message.pointee.msg_hdr.msg_iov!.pointee
        let count = min(bytes.count, vector.iov_len)
        bytes.withUnsafeBytes { vector.iov_base!.copyMemory(from: $0.baseAddress!, byteCount: count) }
        message.pointee.msg_len = UInt32(count)
        message.pointee.msg_hdr.msg_flags = bytes.count > vector.iov_len ? Int32(MSG_TRUNC) : 0
        let name = message.pointee.msg_hdr.msg_name!.bindMemory(to: sockaddr_storage.self, capacity: 1)
        message.pointee.msg_hdr.msg_namelen =
            SocketAddressCoding.write(source, into: &name.pointee, socketFamily: socketFamily) ?? 0
        let control = message.pointee.msg_hdr.msg_control!
        var used = 0
        func append<Value>(_ value: Value, level: CInt, type: CInt) {
            let header = (control + used).bindMemory(to: cmsghdr.self, capacity: 1)
            header.pointee.cmsg_len = isthmus_cmsg_len(MemoryLayout<Value>.size)
            header.pointee.cmsg_level = level
            header.pointee.cmsg_type = type
            withUnsafeBytes(of: value) {
                UnsafeMutableRawPointer(isthmus_cmsg_data(header)!).copyMemory(
                    from: $0.baseAddress!, byteCount: $0.count)
            }
            used += isthmus_cmsg_space(MemoryLayout<Value>.size)
        }
        if destination.family == .v4 {
            var info = in_pktinfo()
            info.ipi_addr.s_addr = UInt32(truncatingIfNeeded: destination.value).bigEndian
            append(info, level: CInt(IPPROTO_IP), type: IP_PKTINFO)
        } else {
            var info = isthmus_in6_pktinfo()
            withUnsafeMutableBytes(of: &info.ipi6_addr) { raw in
                for (offset, byte) in destination.bytes.enumerated() { raw[offset] = byte }
            }
            append(info, level: CInt(IPPROTO_IPV6), type: IPV6_PKTINFO)
        }
        if let segmentSize { append(CInt(segmentSize), level: ISTHMUS_SOL_UDP, type: ISTHMUS_UDP_GRO) }
        message.pointee.msg_hdr.msg_controllen = used
    }
}
