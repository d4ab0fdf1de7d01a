import CIsthmusNet
import IsthmusESP
import IsthmusEvents
import IsthmusIP
import IsthmusWire
import Logging

#if canImport(Glibc)
    import Glibc
#endif

// Outbound flow: inner packets read from the TUN leave as ESP.
//
// 1. TUN read (readTUN): up to a batch of packets from one TUN device, each read straight into its own
//    outbound slot behind the headroom ESP needs. Queued SA changes are applied before every read.
// 2. Segmentation (readTUN, segment): with virtio-net headers, a TCP super-packet (TSO) is cut into
//    segments, one slot each; a packet whose checksum the kernel left to us gets it completed.
// 3. Admission (protect, clampMSS, refuseTooBig): a packet too big for the path that must not be
//    fragmented is answered with ICMP "too big" into the TUN; a TCP SYN has its MSS lowered.
// 4. Protection (protect): the engine picks the SA by the policies of the device's interface and
//    encapsulates in place (ESP header, IV, trailer, ICV). ESP-in-UDP packets wait in order; raw ESP is prepared in its own batch.
// 5. Grouping (sendUDP): runs of equal-sized ESP-in-UDP packets to one peer are laid side by side and
//    leave as one UDP GSO train; the others leave alone.
// 6. Transmission (sendPending, flush): one `sendmmsg` per socket for the whole batch; a refused GSO
//    train turns segmentation offload off.
//
// The functions in this file come roughly in the order in which a packet meets them.

extension DataplaneLoop {
    /// Reads up to a batch of inner packets from one TUN device, protects each in its own slot (TCP
    /// super-packets are cut into segments first, each into a slot), and sends them together.
    func readTUN(_ tunnel: TunnelInterface<Device>) {
        let vnetHeader = tunnel.vnetHeader
        var reads = 0
        while reads < Self.batch {
            reads += 1
            // SA changes (a rekey's new SA, a retired old one) apply from the next packet on, not
            // after a whole batch.
            installPendingSAs()
            if stopRequested { break }
            if used == Self.outboundSlots { sendPending() }
            let buffer = slot(outbound, used)
            let start = Self.headroom - (vnetHeader ? VirtioNetHeader.size : 0)
            let count = tunnel.device.readPacket(into: buffer.baseAddress! + start, capacity: Self.maximumPacket)
            guard count > 0 else { break }
            batchTime = now()
            dirty = true
            counters.tunPacketsRead &+= 1
            guard vnetHeader else {
                protect(slot: used, length: count, from: tunnel)
                continue
            }
            let length = count - VirtioNetHeader.size
            guard length > 0, let header = VirtioNetHeader(UnsafeRawBufferPointer(rebasing: buffer[start...])) else {
                plane.countDrop("malformed-inner-packet")
                continue
            }
            let inner = UnsafeMutableRawBufferPointer(rebasing: buffer[Self.headroom..<(Self.headroom + length)])
            if header.isTCPSegmentation {
                segment(UnsafeRawBufferPointer(inner), size: Int(header.gsoSize), from: tunnel)
                continue
            }
            if header.flags & VirtioNetHeader.needsChecksum != 0,
                !TCPSegmentation.completeChecksum(
                    inner, start: Int(header.checksumStart), offset: Int(header.checksumOffset))
            {
                plane.countDrop("malformed-inner-packet")
                continue
            }
            protect(slot: used, length: length, from: tunnel)
        }
        sendPending()
    }

    /// Cuts a TCP super-packet from the TUN (TSO) into segments of `size` payload bytes, each protected
    /// in its own slot. The super-packet is first copied aside: its slot is the first segment's.
    func segment(_ packet: UnsafeRawBufferPointer, size: Int, from tunnel: TunnelInterface<Device>) {
        guard let layout = TCPSegmentation.layout(packet) else {
            plane.countDrop("malformed-inner-packet")
            return
        }
        superPacket.baseAddress!.copyMemory(from: packet.baseAddress!, byteCount: packet.count)
        let source = UnsafeRawBufferPointer(rebasing: superPacket[0..<packet.count])
        counters.tcpSegmentationReads &+= 1
        for index in 0..<TCPSegmentation.segmentCount(layout, segmentSize: size) {
            if used == Self.outboundSlots { sendPending() }
            let buffer = slot(outbound, used)
            let output = UnsafeMutableRawBufferPointer(
                rebasing: buffer[Self.headroom..<(buffer.count - ESPEngine.requiredTailroom)])
            guard
                let length = TCPSegmentation.writeSegment(
                    index, of: source, layout: layout, segmentSize: size, into: output)
            else {
                plane.countDrop("malformed-inner-packet")
                return
            }
            protect(slot: used, length: length, from: tunnel)
        }
    }

    /// Protects the inner packet at the headroom of outbound slot `index`, read from `tunnel`, and queues
    /// it for sending (the slot stays taken until the batch is sent); refuses it with ICMP when it does
    /// not fit.
    func protect(slot index: Int, length: Int, from tunnel: TunnelInterface<Device>) {
        let buffer = slot(outbound, index)
        let inner = UnsafeMutableRawBufferPointer(rebasing: buffer[Self.headroom..<(Self.headroom + length)])
        if length > innerMTU && TunnelMTU.forbidsFragmentation(UnsafeRawBufferPointer(inner)) {
            refuseTooBig(UnsafeRawBufferPointer(inner), to: tunnel)
            return
        }
        clampMSS(inner, mtu: tunnel.mtu)
        let result = engine.encapsulate(
            innerPacketAt: Self.headroom..<(Self.headroom + length), in: buffer, now: batchTime,
            interface: tunnel.interface)
        guard case .packet(let packet) = result else { return }
        let esp = buffer.baseAddress! + packet.range.lowerBound
        if packet.tunnel.udpEncapsulated {
            pending[udpPending] = PendingDatagram(
                bytes: esp, length: packet.range.count, destination: packet.tunnel.remote)
            udpPending += 1
        } else {
            // ESP straight in IP (no NAT): the kernel adds the IPv4 header; the port is unused.
            guard rawESP != nil, packet.tunnel.remote.address.family == .v4,
                rawSendBatch.prepareSend(
                    rawPending, packet: esp, length: packet.range.count,
                    to: UDPEndpoint(address: packet.tunnel.remote.address, port: 0), family: .v4)
            else {
                plane.countDrop(rawESP == nil ? "raw-esp-unsupported" : "send-error")
                return
            }
            rawPending += 1
        }
        used += 1
        counters.espBytesOut &+= UInt64(packet.range.count)
    }

    /// Sends everything queued from the outbound slots and frees them.
    func sendPending() {
        sendUDP(udpPending)
        if let rawESP { flush(rawPending, batch: rawSendBatch, on: rawESP) }
        udpPending = 0
        rawPending = 0
        used = 0
    }

    /// Sends the first `count` pending ESP-in-UDP packets: runs of equal-sized packets to one peer (the
    /// last of a run may be shorter) leave as one GSO datagram train that the kernel gathers from their
    /// slots, the others alone; all in one `sendmmsg`.
    func sendUDP(_ count: Int) {
        var messages = 0
        var index = 0
        while index < count {
            let first = pending[index]
            var run = 1
            if segmentationOffload && first.length <= largestUnfragmentedPayload {
                while index + run < count, run < 64, pending[index + run].destination == first.destination,
                    pending[index + run].length <= first.length, pending[index + run - 1].length == first.length,
                    (run + 1) * first.length <= 65_000
                {
                    run += 1
                }
            }
            let prepared: Bool
            if run == 1 {
                prepared = sendBatch.prepareSend(
                    messages, packet: first.bytes, length: first.length, to: first.destination,
                    family: socketFamily)
            } else {
                for position in index..<(index + run) {
                    sendBatch.setTrainPart(position, pending[position].bytes, pending[position].length)
                }
                prepared = sendBatch.prepareSendTrain(
                    messages, parts: index..<(index + run), to: first.destination, family: socketFamily,
                    segmentSize: first.length)
                counters.segmentationTrains &+= 1
                counters.segmentedDatagrams &+= UInt64(run)
            }
            if prepared {
                messages += 1
            } else {
                plane.countDrop("send-error", count: UInt64(run))
            }
            index += run
        }
        flush(messages, batch: sendBatch, on: socket)
    }

    /// Lowers the MSS of a TCP SYN so that its segments fit both the TUN (MTU `mtu`) and the path once
    /// encapsulated.
    func clampMSS(_ packet: UnsafeMutableRawBufferPointer, mtu: Int) {
        guard packet.count > 0 else { return }
        let headers = packet[0] >> 4 == 6 ? 60 : 40
        if TunnelMTU.clampMSS(packet, to: min(mtu, innerMTU) - headers) { counters.mssClamped &+= 1 }
    }

    /// Answers an inner packet that cannot cross without fragmentation with ICMP "too big" (into the
    /// TUN, back to its sender) and drops it.
    func refuseTooBig(_ packet: UnsafeRawBufferPointer, to tunnel: TunnelInterface<Device>) {
        plane.countDrop("too-big")
        guard let length = TunnelMTU.packetTooBig(original: packet, mtu: innerMTU, into: icmpBuffer) else { return }
        if writeTUN(icmpBuffer.baseAddress!, length, to: tunnel) { counters.icmpTooBigSent &+= 1 }
    }

    /// Sends the first `count` prepared messages (blocking while the socket buffer is full) and counts
    /// the datagrams that left and those that did not.
    func flush(_ count: Int, batch: DatagramBatch, on socket: any DatagramSocket) {
        var sent = 0
        var datagrams = 0
        var failed = 0
        for index in 0..<count { datagrams += batch.datagramCount(index) }
        while sent < count {
            let result = socket.send(batch, from: sent, count: count - sent)
            counters.sendCalls &+= 1
            if result > 0 {
                sent += result
                continue
            }
            if result == -Int(EINTR) { continue }
            // The first message of the rest failed (unreachable, too big): count it, go on with the others.
            // A refused GSO train turns segmentation offload off for good (the kernel or route lacks it).
            let code = -result
            if let size = batch.segmentSize(sent), segmentationOffload {
                segmentationOffload = false
                logger.warning(
                    "UDP segmentation offload refused; sending datagrams one by one",
                    metadata: ["errno": "\(code)", "segment": "\(size)"])
            }
            let lost = batch.datagramCount(sent)
            plane.countDrop("send-error", count: UInt64(lost))
            failed += lost
            sent += 1
        }
        counters.espPacketsOut &+= UInt64(datagrams - failed)
        counters.datagramsSent &+= UInt64(datagrams - failed)
    }
}

/// An ESP-in-UDP packet waiting in its outbound slot for the batch to be sent.
struct PendingDatagram {
    var bytes: UnsafeMutableRawPointer
    var length: Int
    var destination: UDPEndpoint
}
