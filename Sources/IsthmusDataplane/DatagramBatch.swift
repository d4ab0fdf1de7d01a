import CIsthmusNet
import IsthmusIP

#if canImport(Glibc)
    import Glibc
#endif

/// Preallocated `mmsghdr`s for one `recvmmsg` or `sendmmsg`: per slot an iovec, a peer address and a
/// control buffer (packet info and the GRO segment size). Allocated once; nothing per packet.
/// Owned by the data-plane thread.
final class DatagramBatch {
    let capacity: Int
    let messages: UnsafeMutablePointer<isthmus_mmsghdr>
    private let iovecs: UnsafeMutablePointer<iovec>
    private let names: UnsafeMutablePointer<sockaddr_storage>
    private let controls: UnsafeMutableRawPointer
    /// The pieces of GSO trains gathered from separate buffers (``setTrainPart(_:_:_:)``), and the bytes
    /// each slot sends.
    private let trainVectors: UnsafeMutablePointer<iovec>
    private let lengths: UnsafeMutablePointer<Int>
    /// Room for IP_PKTINFO or IPV6_PKTINFO plus UDP_GRO's segment size.
    static let controlBytes = 128

    init(capacity: Int) {
        self.capacity = capacity
        messages = .allocate(capacity: capacity)
        messages.initialize(repeating: isthmus_mmsghdr(), count: capacity)
        iovecs = .allocate(capacity: capacity)
        iovecs.initialize(repeating: iovec(), count: capacity)
        names = .allocate(capacity: capacity)
        names.initialize(repeating: sockaddr_storage(), count: capacity)
        controls = .allocate(byteCount: capacity * Self.controlBytes, alignment: 16)
        trainVectors = .allocate(capacity: capacity)
        trainVectors.initialize(repeating: iovec(), count: capacity)
        lengths = .allocate(capacity: capacity)
        lengths.initialize(repeating: 0, count: capacity)
    }

    deinit {
        messages.deallocate()
        iovecs.deallocate()
        names.deallocate()
        controls.deallocate()
        trainVectors.deallocate()
        lengths.deallocate()
    }

    /// Makes slot `index` ready to receive up to `length` bytes at `buffer`.
    func prepareReceive(_ index: Int, into buffer: UnsafeMutableRawPointer, length: Int) {
        iovecs[index] = iovec(iov_base: buffer, iov_len: length)
        messages[index].msg_len = 0
        messages[index].msg_hdr = msghdr(
            msg_name: UnsafeMutableRawPointer(names + index),
            msg_namelen: socklen_t(MemoryLayout<sockaddr_storage>.size), msg_iov: iovecs + index, msg_iovlen: 1,
            msg_control: controls + index * Self.controlBytes, msg_controllen: Self.controlBytes, msg_flags: 0)
    }

    /// Makes slot `index` send `length` bytes at `packet` to `destination`; `false` when the address
    /// cannot be used on a socket of `family`. With `segmentSize`, the bytes are several datagrams of
    /// that size (the last may be shorter) that the kernel splits (UDP GSO, `UDP_SEGMENT`).
    func prepareSend(
        _ index: Int, packet: UnsafeMutableRawPointer, length: Int, to destination: UDPEndpoint, family: IPFamily,
        segmentSize: Int? = nil
    ) -> Bool {
        iovecs[index] = iovec(iov_base: packet, iov_len: length)
        return prepareSend(
            index, vectors: iovecs + index, count: 1, length: length, to: destination, family: family,
            segmentSize: segmentSize)
    }

    /// Sets piece `position` of the train pieces: `length` bytes at `bytes`.
    func setTrainPart(_ position: Int, _ bytes: UnsafeMutableRawPointer, _ length: Int) {
        trainVectors[position] = iovec(iov_base: bytes, iov_len: length)
    }

    /// Makes slot `index` send train pieces `parts` (set with ``setTrainPart(_:_:_:)``), each a datagram of
    /// `segmentSize` bytes but the last (which may be shorter), as one GSO train gathered by the kernel:
    /// no copy in user space.
    func prepareSendTrain(
        _ index: Int, parts: Range<Int>, to destination: UDPEndpoint, family: IPFamily, segmentSize: Int
    ) -> Bool {
        precondition(parts.lowerBound >= 0 && parts.upperBound <= capacity, "train pieces beyond the batch")
        var length = 0
        for position in parts { length += trainVectors[position].iov_len }
        return prepareSend(
            index, vectors: trainVectors + parts.lowerBound, count: parts.count, length: length, to: destination,
            family: family, segmentSize: segmentSize)
    }

    private func prepareSend(
        _ index: Int, vectors: UnsafeMutablePointer<iovec>, count: Int, length: Int, to destination: UDPEndpoint,
        family: IPFamily, segmentSize: Int?
    ) -> Bool {
        guard let nameLength = SocketAddressCoding.write(destination, into: &names[index], socketFamily: family)
        else { return false }
        lengths[index] = length
        messages[index].msg_len = 0
        var control: UnsafeMutableRawPointer?
        var controlLength = 0
        if segmentSize != nil {
            control = controls + index * Self.controlBytes
            controlLength = isthmus_cmsg_space(MemoryLayout<UInt16>.size)
        }
        messages[index].msg_hdr = msghdr(
            msg_name: UnsafeMutableRawPointer(names + index), msg_namelen: nameLength, msg_iov: vectors,
            msg_iovlen: count, msg_control: control, msg_controllen: controlLength, msg_flags: 0)
        if let segmentSize, let header = isthmus_cmsg_firsthdr(&messages[index].msg_hdr) {
            header.pointee.cmsg_len = isthmus_cmsg_len(MemoryLayout<UInt16>.size)
            header.pointee.cmsg_level = ISTHMUS_SOL_UDP
            header.pointee.cmsg_type = ISTHMUS_UDP_SEGMENT
            UnsafeMutableRawPointer(isthmus_cmsg_data(header)!).storeBytes(
                of: UInt16(segmentSize), as: UInt16.self)
        }
        return true
    }

    /// How many datagrams slot `index` sends (more than one for a GSO train).
    func datagramCount(_ index: Int) -> Int {
        guard let size = segmentSize(index), size > 0 else { return 1 }
        return (lengths[index] + size - 1) / size
    }

    /// The segment size slot `index` was prepared with (GSO), nil for a single datagram.
    func segmentSize(_ index: Int) -> Int? {
        guard messages[index].msg_hdr.msg_controllen > 0, let header = isthmus_cmsg_firsthdr(&messages[index].msg_hdr)
        else { return nil }
        return Int(UnsafeRawPointer(isthmus_cmsg_data(header)!).loadUnaligned(as: UInt16.self))
    }

    /// Bytes received in slot `index`.
    func receivedLength(_ index: Int) -> Int { Int(messages[index].msg_len) }

    /// Whether the datagram in slot `index` was cut short (the buffer was too small).
    func truncated(_ index: Int) -> Bool { messages[index].msg_hdr.msg_flags & Int32(MSG_TRUNC) != 0 }

    /// The sender of the datagram in slot `index`.
    func source(_ index: Int) -> UDPEndpoint? {
        SocketAddressCoding.read(UnsafeRawPointer(names + index))
    }

    /// What the control messages of slot `index` say: the datagram's destination address (packet info)
    /// and the GRO segment size when the kernel coalesced several datagrams into one read.
    func control(_ index: Int) -> (destination: IPAddress?, segmentSize: Int?) {
        var destination: IPAddress?
        var segmentSize: Int?
        var header = isthmus_cmsg_firsthdr(&messages[index].msg_hdr)
        while let current = header {
            let data = UnsafeRawPointer(isthmus_cmsg_data(current)!)
            let level = current.pointee.cmsg_level
            let type = current.pointee.cmsg_type
            if level == CInt(IPPROTO_IP) && type == IP_PKTINFO {
                let info = data.loadUnaligned(as: in_pktinfo.self)
                destination = IPAddress(v4: UInt32(bigEndian: info.ipi_addr.s_addr))
            } else if level == CInt(IPPROTO_IPV6) && type == IPV6_PKTINFO {
                let info = data.loadUnaligned(as: isthmus_in6_pktinfo.self)
                destination = SocketAddressCoding.ipv6(info.ipi6_addr)
            } else if level == ISTHMUS_SOL_UDP && type == ISTHMUS_UDP_GRO {
                let size = Int(data.loadUnaligned(as: CInt.self))
                if size > 0 { segmentSize = size }
            }
            header = isthmus_cmsg_nxthdr(&messages[index].msg_hdr, current)
        }
        return (destination, segmentSize)
    }
}
