/// Generic receive offload in user space: consecutive segments of one TCP flow, as they come out of the
/// tunnel, are merged into one super-packet that is written to the TUN with a ``VirtioNetHeader``
/// asking the kernel to treat it as a GSO packet. The kernel then forwards, and the receiving host's TCP
/// acknowledges, one packet where there were dozens.
///
/// Only plain data segments are merged: TCP over IPv4 (not fragmented) or IPv6 without extension
/// headers, flags ACK (and PSH on the last), identical IP and TCP headers apart from length,
/// identification, checksums and sequence number, contiguous sequence numbers, equal payload sizes (the
/// last may be shorter), and a valid TCP checksum (a corrupted segment is never "repaired" by the new
/// checksum). Everything else is written as it came.
///
/// Works in a buffer the caller owns (``requiredCapacity`` bytes); allocates nothing.
public struct TCPCoalescer {
    /// The buffer must hold a virtio-net header and the largest IP packet.
    public static let requiredCapacity = VirtioNetHeader.size + 65_535
    /// Most segments merged into one packet.
    public static let maximumSegments = 64

    private let buffer: UnsafeMutableRawBufferPointer
    /// Segments in the packet being built (0: none).
    public private(set) var segments = 0
    private var layout = TCPSegmentation.Layout(ipv6: false, tcpOffset: 0, payloadOffset: 0, payloadLength: 0)
    private var segmentSize = 0
    private var nextSequence: UInt32 = 0
    /// The last merged segment was shorter than the others or carried PSH: nothing may follow it.
    private var closed = false

    /// - Precondition: `buffer` has at least ``requiredCapacity`` bytes.
    public init(buffer: UnsafeMutableRawBufferPointer) {
        precondition(buffer.count >= Self.requiredCapacity, "coalescing buffer too small")
        self.buffer = buffer
    }

    /// The packet (without header) being built.
    private var packet: UnsafeMutableRawBufferPointer {
        UnsafeMutableRawBufferPointer(
            rebasing: buffer[
                VirtioNetHeader.size..<(VirtioNetHeader.size + layout.payloadOffset + layout.payloadLength)])
    }

    /// Whether `candidate` is a data segment that may start or join a merged packet.
    public static func mergeable(_ candidate: UnsafeRawBufferPointer) -> TCPSegmentation.Layout? {
        guard let layout = shape(candidate) else { return nil }
        let segment = InternetChecksum.networkOrderSum(UnsafeRawBufferPointer(rebasing: candidate[layout.tcpOffset...]))
        return checksumValid(candidate, layout, segmentSum: segment) ? layout : nil
    }

    /// Everything ``mergeable(_:)`` asks but the checksum: TCP over IPv4 (not fragmented) or IPv6, the
    /// IP length matching, ACK and maybe PSH only, some payload.
    private static func shape(_ candidate: UnsafeRawBufferPointer) -> TCPSegmentation.Layout? {
        guard let layout = TCPSegmentation.layout(candidate), layout.payloadLength > 0 else { return nil }
        if !layout.ipv6 {
            // Not a fragment (MF clear, offset 0); the IPv4 total length must match what we hold.
            guard candidate[6] & 0x3F == 0, candidate[7] == 0 else { return nil }
            guard Int(candidate[2]) << 8 | Int(candidate[3]) == candidate.count else { return nil }
        } else {
            guard Int(candidate[4]) << 8 | Int(candidate[5]) == candidate.count - 40 else { return nil }
        }
        // ACK, optionally PSH; nothing else (SYN, FIN, RST, URG, ECE, CWR end or start a flow's phase).
        let flags = candidate[layout.tcpOffset + 13]
        guard flags & 0x10 != 0, flags & ~0x18 == 0 else { return nil }
        return layout
    }

    /// A valid checksum: pseudo-header plus segment (whose sum is `segmentSum`) sums to all ones.
    private static func checksumValid(
        _ candidate: UnsafeRawBufferPointer, _ layout: TCPSegmentation.Layout, segmentSum: UInt64
    ) -> Bool {
        var sum = segmentSum
        sum &+= InternetChecksum.networkOrderSum(
            UnsafeRawBufferPointer(rebasing: candidate[(layout.ipv6 ? 8..<40 : 12..<20)]))
        sum &+= 6 &+ UInt64(candidate.count - layout.tcpOffset)
        return InternetChecksum.fold(sum) == 0xFFFF
    }

    /// Adds `candidate` to the packet being built.
    /// - Returns: `false` when it cannot join (the caller then ``finish()``es and starts again, or writes
    ///   the candidate as it is when it is not mergeable at all).
    public mutating func append(_ candidate: UnsafeRawBufferPointer) -> Bool {
        // The checksum is verified as the bytes are copied (one pass); a segment that fails it leaves
        // only bytes past the packet being built, which nothing reads.
        guard let candidateLayout = Self.shape(candidate) else { return false }
        let tcp = candidateLayout.tcpOffset
        if segments == 0 {
            guard candidate.count <= buffer.count - VirtioNetHeader.size else { return false }
            let destination = buffer.baseAddress! + VirtioNetHeader.size
            destination.copyMemory(from: candidate.baseAddress!, byteCount: tcp)
            let segmentSum = InternetChecksum.copyAndSum(
                UnsafeRawBufferPointer(rebasing: candidate[tcp...]), to: destination + tcp)
            guard Self.checksumValid(candidate, candidateLayout, segmentSum: segmentSum) else { return false }
            layout = candidateLayout
            segmentSize = candidateLayout.payloadLength
            nextSequence = Self.sequence(candidate, candidateLayout) &+ UInt32(segmentSize)
            closed = candidate[candidateLayout.tcpOffset + 13] & 0x08 != 0
            segments = 1
            return true
        }
        guard !closed, segments < Self.maximumSegments, candidateLayout == headerShape(of: candidateLayout),
            candidateLayout.payloadLength <= segmentSize,
            layout.payloadOffset + layout.payloadLength + candidateLayout.payloadLength <= 65_535,
            Self.sequence(candidate, candidateLayout) == nextSequence, sameHeaders(candidate)
        else { return false }
        let payloadSum = InternetChecksum.copyAndSum(
            UnsafeRawBufferPointer(rebasing: candidate[candidateLayout.payloadOffset...]),
            to: buffer.baseAddress! + VirtioNetHeader.size + layout.payloadOffset + layout.payloadLength)
        let headerSum = InternetChecksum.networkOrderSum(
            UnsafeRawBufferPointer(rebasing: candidate[tcp..<candidateLayout.payloadOffset]))
        guard Self.checksumValid(candidate, candidateLayout, segmentSum: headerSum &+ payloadSum) else { return false }
        layout.payloadLength += candidateLayout.payloadLength
        nextSequence &+= UInt32(candidateLayout.payloadLength)
        let flags = candidate[candidateLayout.tcpOffset + 13]
        if flags & 0x08 != 0 {
            packet[layout.tcpOffset + 13] |= 0x08
            closed = true
        }
        if candidateLayout.payloadLength < segmentSize { closed = true }
        segments += 1
        return true
    }

    /// The candidate's layout as it would have to be to join: same header sizes and family.
    private func headerShape(of candidate: TCPSegmentation.Layout) -> TCPSegmentation.Layout {
        TCPSegmentation.Layout(
            ipv6: layout.ipv6, tcpOffset: layout.tcpOffset, payloadOffset: layout.payloadOffset,
            payloadLength: candidate.payloadLength)
    }

    /// IP fields that must match (all but length, identification and checksum), and the TCP header
    /// apart from sequence number, flags' PSH and checksum (ports, acknowledgment, window, options).
    private func sameHeaders(_ candidate: UnsafeRawBufferPointer) -> Bool {
        let held = packet
        func equal(_ range: Range<Int>) -> Bool {
            var index = range.lowerBound
            while index < range.upperBound {
                if held[index] != candidate[index] { return false }
                index += 1
            }
            return true
        }
        let tcp = layout.tcpOffset
        let ip = layout.ipv6 ? equal(0..<4) && equal(6..<40) : equal(0..<2) && equal(6..<10) && equal(12..<tcp)
        guard ip, equal(tcp..<(tcp + 4)), equal((tcp + 8)..<(tcp + 13)), equal((tcp + 14)..<(tcp + 16)),
            equal((tcp + 18)..<layout.payloadOffset)
        else { return false }
        return held[tcp + 13] & ~0x08 == candidate[tcp + 13] & ~0x08
    }

    private static func sequence(_ packet: UnsafeRawBufferPointer, _ layout: TCPSegmentation.Layout) -> UInt32 {
        let offset = layout.tcpOffset + 4
        return UInt32(packet[offset]) << 24 | UInt32(packet[offset + 1]) << 16 | UInt32(packet[offset + 2]) << 8
            | UInt32(packet[offset + 3])
    }

    /// Finishes the packet being built: one segment is returned as it came (checksums complete, an
    /// empty virtio-net header), several become one GSO packet (lengths and IPv4 header checksum fixed,
    /// a partial TCP checksum the kernel completes). Empties the coalescer.
    /// - Returns: header and packet, ready for one `write` to a TUN with virtio-net headers; empty when
    ///   nothing was held.
    public mutating func finish() -> UnsafeRawBufferPointer {
        guard segments > 0 else { return UnsafeRawBufferPointer(rebasing: buffer[0..<0]) }
        let total = layout.payloadOffset + layout.payloadLength
        let header = buffer.baseAddress!
        header.initializeMemory(as: UInt8.self, repeating: 0, count: VirtioNetHeader.size)
        if segments > 1 {
            let packet = self.packet
            let tcp = layout.tcpOffset
            func write16(_ offset: Int, _ value: UInt16) {
                packet[offset] = UInt8(value >> 8)
                packet[offset + 1] = UInt8(value & 0xFF)
            }
            if layout.ipv6 {
                write16(4, UInt16(total - 40))
            } else {
                write16(2, UInt16(total))
                write16(10, 0)
                let sum = InternetChecksum.networkOrderSum(UnsafeRawBufferPointer(rebasing: packet[0..<tcp]))
                write16(10, ~InternetChecksum.fold(sum))
            }
            // Partial checksum: the pseudo-header sum, folded, not complemented (CHECKSUM_PARTIAL).
            var pseudo = InternetChecksum.networkOrderSum(
                UnsafeRawBufferPointer(rebasing: packet[(layout.ipv6 ? 8..<40 : 12..<20)]))
            pseudo &+= 6 &+ UInt64(total - tcp)
            write16(tcp + 16, InternetChecksum.fold(pseudo))
            // virtio-net header fields are in host byte order (the TUN's default).
            header.storeBytes(of: VirtioNetHeader.needsChecksum, toByteOffset: 0, as: UInt8.self)
            header.storeBytes(
                of: layout.ipv6 ? VirtioNetHeader.gsoTCPv6 : VirtioNetHeader.gsoTCPv4, toByteOffset: 1, as: UInt8.self)
            header.storeBytes(of: UInt16(layout.payloadOffset), toByteOffset: 2, as: UInt16.self)
            header.storeBytes(of: UInt16(segmentSize), toByteOffset: 4, as: UInt16.self)
            header.storeBytes(of: UInt16(tcp), toByteOffset: 6, as: UInt16.self)
            header.storeBytes(of: UInt16(16), toByteOffset: 8, as: UInt16.self)
        }
        segments = 0
        closed = false
        return UnsafeRawBufferPointer(rebasing: buffer[0..<(VirtioNetHeader.size + total)])
    }
}
