import CIsthmusNet
import IsthmusESP
import IsthmusEvents
import IsthmusIP
import IsthmusWire
import Logging

#if canImport(Glibc)
    import Glibc
#endif

// Inbound flow: ESP from the peers reaches the TUN as inner packets.
//
// 1. Reception (receiveUDP, receiveRawESP): one `recvmmsg` fills a slot per datagram, up to four
//    batches a turn. Queued SA changes are applied before every read, so a packet on a new SA is never
//    read before its SA is installed (no `unknown-spi` at a rekey).
// 2. Splitting (receiveUDP): a GRO read (equal-sized datagrams coalesced by the kernel) is cut back into
//    its datagrams; raw ESP loses its IPv4 header.
// 3. Classification (datagram): RFC 3948 section 2.2 tells ESP, IKE (after the non-ESP marker, handed to
//    the IKE side) and NAT keepalives apart.
// 4. Decapsulation (deliver): the engine finds the SA by SPI, checks anti-replay and integrity, decrypts
//    in place and checks the inner packet against the SA's selectors; the SA's interface names the TUN
//    device it goes to; TCP SYNs have their MSS lowered.
// 5. Endpoint ACLs (admit, DataplaneLoop+Filter.swift): a packet to a listed service passes only when a
//    rule of its endpoint permits its source; denials are counted and reported.
// 6. Coalescing (deliver): with virtio-net headers, TCP segments of one flow are merged into one
//    super-packet (receive offload).
// 7. TUN write (writeCoalesced, writeTUN): one write per packet or per merged run; the loop writes what
//    is still merged at the end of every turn.
//
// The functions in this file come roughly in the order in which a packet meets them.

extension DataplaneLoop {
    /// Reads batches of datagrams from the NAT-T socket: ESP to the TUN, IKE to the IKE side.
    func receiveUDP() {
        receiveBatches(from: socket) { index in
            let length = receiveBatch.receivedLength(index)
            if receiveBatch.truncated(index) {
                plane.countDrop("truncated-datagram")
                return
            }
            let (destination, segmentSize) = receiveBatch.control(index)
            let buffer = slot(inbound, index)
            let step = segmentSize ?? length
            var offset = 0
            while offset < length {
                let end = min(offset + step, length)
                counters.datagramsReceived &+= 1
                datagram(
                    UnsafeMutableRawBufferPointer(rebasing: buffer[offset..<end]), slot: index,
                    destination: destination)
                offset = end
            }
        }
    }

    /// Up to four batches from `socket`, the next only when the last came full. Queued SA changes are
    /// applied before every read; `body` gets the index of every slot filled.
    private func receiveBatches(from socket: any DatagramSocket, _ body: (Int) -> Void) {
        for _ in 0..<4 {
            for index in 0..<Self.batch {
                receiveBatch.prepareReceive(index, into: slot(inbound, index).baseAddress!, length: Self.maximumPacket)
            }
            installPendingSAs()
            let received = socket.receive(receiveBatch, count: Self.batch)
            guard received > 0 else { return }
            batchTime = now()
            counters.receiveCalls &+= 1
            dirty = true
            for index in 0..<received { body(index) }
            if received < Self.batch { return }
        }
    }

    /// One UDP payload from the NAT-T socket (RFC 3948 section 2.2: ESP, IKE after a zero marker, or a
    /// keepalive).
    func datagram(_ payload: UnsafeMutableRawBufferPointer, slot index: Int, destination: IPAddress?) {
        switch UDPEncapsulation.classify(UnsafeRawBufferPointer(payload)) {
        case .esp:
            deliver(payload)
        case .natKeepalive:
            counters.natKeepalivesIn &+= 1
        case .invalid:
            plane.countDrop("invalid-nat-t")
        case .ike(let offset):
            guard let source = receiveBatch.source(index) else {
                plane.countDrop("invalid-nat-t")
                return
            }
            counters.ikeMessagesIn &+= 1
            let local = UDPEndpoint(address: destination ?? socket.address, port: socket.port)
            onIKE(Array(UnsafeRawBufferPointer(rebasing: payload[offset...])), source, local)
        }
    }

    /// Reads batches of ESP without UDP from the raw socket (each with its IPv4 header first).
    func receiveRawESP() {
        guard let rawESP else { return }
        receiveBatches(from: rawESP) { index in
            counters.datagramsReceived &+= 1
            let buffer = slot(inbound, index)
            let length = receiveBatch.receivedLength(index)
            guard !receiveBatch.truncated(index),
                let esp = RawESPSocket.payload(of: UnsafeRawBufferPointer(rebasing: buffer[0..<length]))
            else {
                plane.countDrop("malformed-outer-ip")
                return
            }
            deliver(UnsafeMutableRawBufferPointer(rebasing: buffer[esp]))
        }
    }

    /// Decapsulates the ESP packet in `packet` and writes its inner packet to its SA's TUN device.
    func deliver(_ packet: UnsafeMutableRawBufferPointer) {
        dirty = true
        let result = engine.decapsulate(espPacket: packet, now: batchTime)
        guard case .packet(let inner) = result else { return }
        guard let tunnel = tunnel(inner.interface) else {
            plane.countDrop("no-interface")
            return
        }
        guard admit(inner, in: packet) else { return }
        clampMSS(UnsafeMutableRawBufferPointer(rebasing: packet[inner.range]), mtu: tunnel.mtu)
        counters.espPacketsIn &+= 1
        counters.espBytesIn &+= UInt64(packet.count)
        if tunnel.vnetHeader {
            // Segments of one TCP flow are merged and written together (receive offload).
            let decrypted = UnsafeRawBufferPointer(rebasing: packet[inner.range])
            if coalescerTarget === tunnel, coalescer.append(decrypted) { return }
            writeCoalesced()
            coalescerTarget = tunnel
            if coalescer.append(decrypted) { return }
        }
        if !writeTUN(packet.baseAddress! + inner.range.lowerBound, inner.range.count, to: tunnel) {
            plane.countDrop("tun-write-error")
        }
    }

    /// Writes the TCP segments merged so far as one packet (GSO when there are several).
    func writeCoalesced() {
        let segments = coalescer.segments
        guard segments > 0, let tunnel = coalescerTarget else { return }
        let packet = coalescer.finish()
        guard tunnel.device.writePacket(UnsafeRawBufferPointer(packet)) else {
            plane.countDrop("tun-write-error", count: UInt64(segments))
            return
        }
        if segments > 1 {
            counters.coalescedWrites &+= 1
            counters.coalescedSegments &+= UInt64(segments)
        }
    }

    /// Writes one packet to a TUN device, behind an empty virtio-net header when the device wants one
    /// (complete checksums, no segmentation); `false` when the kernel refused it.
    func writeTUN(_ packet: UnsafeMutableRawPointer, _ length: Int, to tunnel: TunnelInterface<Device>) -> Bool {
        let bytes = UnsafeRawBufferPointer(start: packet, count: length)
        guard tunnel.vnetHeader else { return tunnel.device.writePacket(bytes) }
        return tunnel.device.writePacket(
            bytes, header: UnsafeRawBufferPointer(start: emptyHeader, count: VirtioNetHeader.size))
    }
}
