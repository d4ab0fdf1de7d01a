import CIsthmusNet
import IsthmusIP

#if canImport(Glibc)
    import Glibc
#endif

/// A ``DatagramSocket`` that is a kernel socket (``NATTSocket``, ``RawESPSocket``): batches move with one
/// `sendmmsg` or `recvmmsg` call, single datagrams with `sendto`.
protocol KernelDatagramSocket: DatagramSocket {
    /// The socket's descriptor.
    var fd: CInt { get }
}

extension KernelDatagramSocket {
    var pollDescriptor: CInt { fd }

    func send(_ batch: DatagramBatch, from start: Int, count: Int) -> Int {
        let result = isthmus_sendmmsg(fd, batch.messages + start, UInt32(count), 0)
        return result >= 0 ? Int(result) : -Int(errno)
    }

    func receive(_ batch: DatagramBatch, count: Int) -> Int {
        Int(isthmus_recvmmsg(fd, batch.messages, UInt32(count), Int32(MSG_DONTWAIT)))
    }

    /// Sends one datagram now without blocking (IKE messages and NAT keepalives that IKE queued for the
    /// data-plane thread, which sends them in order with its ESP); on a raw socket only the destination's
    /// address counts.
    /// - Returns: `false` when the kernel refused it (full buffer, unreachable, wrong family).
    func send(_ bytes: [UInt8], to destination: UDPEndpoint) -> Bool {
        var storage = sockaddr_storage()
        guard let length = SocketAddressCoding.write(destination, into: &storage, socketFamily: address.family)
        else { return false }
        let sent = bytes.withUnsafeBytes { payload in
            withUnsafePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    sendto(fd, payload.baseAddress, payload.count, Int32(MSG_DONTWAIT), $0, length)
                }
            }
        }
        return sent == bytes.count
    }

    /// Sets an integer option of socket `fd`; whether the kernel took it.
    @discardableResult
    static func setOption(_ fd: CInt, _ level: CInt, _ name: CInt, _ value: CInt) -> Bool {
        var value = value
        return setsockopt(fd, level, name, &value, socklen_t(MemoryLayout<CInt>.size)) == 0
    }

    /// Gives socket `fd` receive and send buffers of ``NATTSocket/bufferBytes``, which absorb bursts between
    /// two turns of the loop: as root past `rmem_max` and `wmem_max` (the FORCE options), otherwise up to
    /// them.
    static func enlargeBuffers(_ fd: CInt) {
        for (force, plain) in [(SO_RCVBUFFORCE, SO_RCVBUF), (SO_SNDBUFFORCE, SO_SNDBUF)]
        where !setOption(fd, SOL_SOCKET, force, NATTSocket.bufferBytes) {
            setOption(fd, SOL_SOCKET, plain, NATTSocket.bufferBytes)
        }
    }
}
