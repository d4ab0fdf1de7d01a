import IsthmusIP

/// The data plane's view of its TUN device: one IP packet per read and per write, and a descriptor to
/// `poll`. Only the data-plane thread reads and writes.
///
/// ``TUNDevice`` is the real one, MemoryPacketDevice keeps packets in memory for tests. Reads and
/// writes happen once per packet, so ``DataplaneLoop`` is generic over the device (specialized, no
/// existential call per packet).
protocol PacketDevice: AnyObject, Sendable {
    /// The interface name (counters and logs).
    var name: String { get }
    /// Readable (`poll`, `POLLIN`) while packets wait to be read.
    var pollDescriptor: CInt { get }
    /// Whether every packet read starts with a ``VirtioNetHeader`` (and may be a TCP super-packet to cut)
    /// and every packet written must start with one.
    var vnetHeader: Bool { get }
    /// Reads one packet (behind its virtio-net header when the device speaks them) into `buffer`, never
    /// blocking.
    /// - Returns: its length; 0 or less when no packet waits.
    func readPacket(into buffer: UnsafeMutableRawPointer, capacity: Int) -> Int
    /// Writes one packet as it is (starting with its virtio-net header when the device speaks them);
    /// `false` when it was refused.
    func writePacket(_ packet: UnsafeRawBufferPointer) -> Bool
    /// Writes `header` (a virtio-net header) and `packet` as one packet; `false` when it was refused.
    func writePacket(_ packet: UnsafeRawBufferPointer, header: UnsafeRawBufferPointer) -> Bool
    /// The device's MTU now, nil when it cannot be read.
    func currentMTU() -> Int?
}

/// The data plane's view of a datagram socket, a batch at a time (`sendmmsg`, `recvmmsg`): the NAT-T UDP
/// socket (``NATTSocket``), the raw ESP socket (``RawESPSocket``), or MemoryDatagramSocket in tests.
/// Batches are ``DatagramBatch``es prepared by the caller; one call moves a whole batch, so the loop
/// holds sockets as existentials.
protocol DatagramSocket: AnyObject, Sendable {
    /// Readable (`poll`, `POLLIN`) while datagrams wait to be received.
    var pollDescriptor: CInt { get }
    /// The address bound (its family is the socket's; a wildcard for any) and the port (0: raw ESP).
    var address: IPAddress { get }
    var port: UInt16 { get }
    /// Whether received datagrams may come coalesced (UDP GRO, with their segment size).
    var receiveOffload: Bool { get }
    /// Sends messages `start..<start + count` of `batch` as
    /// ``DatagramBatch/prepareSend(_:packet:length:to:family:segmentSize:)`` left them (a GSO train when a
    /// segment size is set), blocking while the send buffer is full.
    /// - Returns: how many messages left, from `start` on (the first that failed stops the call), or
    ///   `-errno` when the first one failed.
    func send(_ batch: DatagramBatch, from start: Int, count: Int) -> Int
    /// Receives up to `count` datagrams into the first slots of `batch`, as
    /// ``DatagramBatch/prepareReceive(_:into:length:)`` left them, never blocking. Per slot: the length,
    /// whether it was truncated, the source, and the control messages (packet info: the address it was
    /// sent to; UDP GRO: the segment size of coalesced datagrams).
    /// - Returns: how many slots were filled; 0 or less when nothing waits.
    func receive(_ batch: DatagramBatch, count: Int) -> Int
    /// Sends one datagram now without blocking (IKE messages, NAT keepalives); `false` when refused.
    func send(_ bytes: [UInt8], to destination: UDPEndpoint) -> Bool
}
