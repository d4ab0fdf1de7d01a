import IsthmusCrypto
import IsthmusEvents
import IsthmusIP
import IsthmusWire

/// The ESP data-plane core (RFC 4303 tunnel mode): the SAD, the SPD, encapsulation, decapsulation,
/// anti-replay and SA lifetimes. Pure and deterministic: no I/O, no clock (`now` is passed in),
/// no locks — one data-plane thread owns an engine (so it is not `Sendable`).
///
/// ## Buffers
/// Both directions work in place on a buffer the I/O layer owns:
/// - Outbound, the inner packet sits at `buffer[inner]` with at least ``requiredHeadroom`` bytes
///   before it and ``requiredTailroom`` after it. The engine writes the ESP header and IV into the
///   headroom, padding, trailer and ICV into the tailroom, encrypts in place and returns the range of
///   the ESP packet. Read TUN packets at offset ``requiredHeadroom`` of a buffer of
///   `requiredHeadroom + MTU + requiredTailroom` bytes and nothing is ever copied.
/// - Inbound, the buffer is exactly the ESP packet (from the SPI, after any UDP encapsulation, RFC
///   3948); it is decrypted in place and the inner packet's range inside it returned.
///
/// ## Allocation
/// The engine itself allocates nothing per packet, measured (not assumed) by `ESPAllocationTests`,
/// which counts `malloc` calls with an `LD_PRELOAD` shim: lookups hash a `UInt32`, the replay bitmap
/// and the SPD arrays are allocated at installation, counters are stored inline, ESN associated data
/// is built on the stack, and hot loops are index loops (unspecialised generic algorithms such as
/// `first(where:)` allocate in debug builds). The crypto layer (``PacketProtection``) allocates nothing
/// per packet either: every suite runs on system libcrypto with keyed contexts (EVP AES-GCM,
/// ChaCha20-Poly1305, AES-CBC, 3DES and DES contexts; HMAC on pre-keyed hash states), and the same test checks
/// all of them end to end, with and without ESN. The contexts are made by a pair's first packet and kept while
/// it carries traffic; a pair idle for a minute gives them back (``ESPTransforms``), so its next packet makes
/// them again. What does allocate:
/// - `install`, `remove`, `tick(now:)`, `policies` and `statistics` allocate (control path only), and so
///   does `tick` when it has events to return.
public final class ESPEngine {
    /// Bytes the caller must leave before the inner packet: ESP header (8, RFC 4303 section 2) plus
    /// the largest IV (16, AES-CBC, RFC 3602 section 3).
    public static let requiredHeadroom = ESPHeader.size + 16
    /// Bytes the caller must leave after the inner packet: the largest padding for a 16-byte block
    /// (15), Pad Length and Next Header (2) and the largest ICV (32, HMAC-SHA2-512-256, RFC 4868).
    public static let requiredTailroom = 15 + ESPTrailer.size + 32
    /// The largest ESP packet produced or accepted: an IP packet cannot be longer. The path MTU is the
    /// I/O layer's business (it knows the outer headers and the route).
    public static let maximumESPPacketLength = 65_535
    /// Next Header for an IPv4 inner packet (RFC 4303 section 2.6, IANA protocol 4).
    static let nextHeaderIPv4: UInt8 = 4
    /// Next Header for an IPv6 inner packet (IANA protocol 41).
    static let nextHeaderIPv6: UInt8 = 41

    /// Drops over all SAs, plus those no SA can be blamed for (unknown SPI, no policy).
    public private(set) var drops = ESPDropCounters()

    private var random: any ESPRandomSource
    /// The SAD for inbound packets (RFC 4301 section 4.4.2), by our SPI.
    private var inboundSAs: [UInt32: ESPSAPair] = [:]
    /// All pairs in installation order (deterministic `tick` output).
    private var pairs: [ESPSAPair] = []
    /// The SPD (RFC 4301 section 4.4.1): first match wins; entries in installation order.
    @exclusivity(unchecked) private var spd = ESPPolicyTable()
    /// Raised when a pair reaches a limit that ``tick(now:)`` has not reported yet.
    private let limits = ESPLimitFlag()
    /// Traffic of removed pairs per connection, so per-connection totals never go back when SAs go.
    private var removedTraffic: [String: ESPConnectionTraffic] = [:]

    /// Creates an empty engine; `random` supplies CBC IVs (the system CSPRNG unless a test injects one).
    public init(random: any ESPRandomSource = SystemESPRandomSource()) {
        self.random = random
    }

    // MARK: SAD and SPD

    /// Installs an SA pair: its inbound half under its SPI, its outbound half as the newest SA of the
    /// policy for its selectors (created at the end of the SPD when no policy has exactly these
    /// selectors). A rekeyed pair for the same selectors takes over outbound traffic at once while
    /// the old pair keeps decrypting until it is removed (make-before-break, RFC 7296 section 2.8).
    public func install(_ sa: ESPSecurityAssociation, now: MonotonicTime) throws(ESPInstallError) {
        guard inboundSAs[sa.inboundSPI] == nil else { throw .duplicateInboundSPI(sa.inboundSPI) }
        let pair = try ESPSAPair(sa, now: now, limits: limits)
        inboundSAs[pair.inboundSPI] = pair
        pairs.append(pair)
        spd.add(pair)
    }

    /// Removes both halves of the SA pair with this inbound SPI; its policy goes when it has no SA left.
    ///
    /// - Returns: `false` when no such pair is installed.
    @discardableResult
    public func remove(inboundSPI: UInt32) -> Bool {
        guard let pair = inboundSAs.removeValue(forKey: inboundSPI) else { return false }
        removedTraffic[pair.connection, default: ESPConnectionTraffic()].add(
            inbound: pair.inbound, outbound: pair.outbound)
        if let index = pairs.firstIndex(where: { $0 === pair }) { pairs.remove(at: index) }
        spd.remove(pair)
        return true
    }

    /// Stops using the pair with this inbound SPI for outbound traffic (its DELETE is on the way: the
    /// peer may drop its inbound half any moment); it keeps decrypting until ``remove(inboundSPI:)``.
    ///
    /// - Returns: `false` when no such pair is installed.
    @discardableResult
    public func retireOutbound(inboundSPI: UInt32) -> Bool {
        guard let pair = inboundSAs[inboundSPI] else { return false }
        pair.outboundRetired = true
        return true
    }

    /// Lets the outbound half of the pair with this inbound SPI carry traffic now (the peer has confirmed
    /// it has the keys), ending its wait (``ESPOutboundStart/afterPeersFirstPacket(fallback:)``).
    ///
    /// - Returns: `false` when no such pair is installed.
    @discardableResult
    public func confirmOutbound(inboundSPI: UInt32) -> Bool {
        guard let pair = inboundSAs[inboundSPI] else { return false }
        pair.outboundWaitsUntil = nil
        return true
    }

    /// Carries out one SA change from IKE.
    ///
    /// - Returns: `false` when the change names a pair that is not installed (already removed: not an
    ///   error, IKE and the data plane may cross).
    /// - Throws: when the engine refuses to install the pair.
    @discardableResult
    public func apply(_ change: ESPSAChange, now: MonotonicTime) throws(ESPInstallError) -> Bool {
        switch change {
        case .install(let sa):
            try install(sa, now: now)
            return true
        case .retireOutbound(let spi): return retireOutbound(inboundSPI: spi)
        case .confirmOutbound(let spi): return confirmOutbound(inboundSPI: spi)
        case .remove(let spi): return remove(inboundSPI: spi)
        case .moveRemote(let spi, let remote):
            guard let pair = inboundSAs[spi] else { return false }
            pair.tunnel.remote = remote
            return true
        }
    }

    /// The inbound SPIs of all installed pairs, in installation order.
    public var installedInboundSPIs: [UInt32] { pairs.map(\.inboundSPI) }

    /// How many pairs are installed (without building ``installedInboundSPIs``).
    public var installedCount: Int { inboundSAs.count }

    /// The SPD in match order.
    public var policies: [ESPPolicy] {
        spd.entries.map {
            ESPPolicy(
                interface: $0.interface, localSelectors: $0.localSelectors, remoteSelectors: $0.remoteSelectors,
                inboundSPIs: $0.pairs.map(\.inboundSPI))
        }
    }

    /// Every connection's traffic since start: installed pairs plus the removed ones (control path: it
    /// allocates). Connections are those named by the SAs installed, so the table stays as small as the
    /// configuration.
    public func trafficByConnection() -> [String: ESPConnectionTraffic] {
        var traffic = removedTraffic
        for pair in pairs {
            traffic[pair.connection, default: ESPConnectionTraffic()].add(
                inbound: pair.inbound, outbound: pair.outbound)
        }
        return traffic
    }

    /// Counters and state of the pair with this inbound SPI.
    public func statistics(inboundSPI: UInt32) -> ESPSAStatistics? {
        inboundSAs[inboundSPI]?.statistics
    }

    // MARK: Lifetimes

    /// Whether some pair reached a limit that ``tick(now:)`` has not reported yet; lets the I/O layer
    /// call `tick` right after a batch instead of waiting for its timer.
    public var hasPendingLifetimeEvents: Bool { limits.raised }

    /// Whether the pair of `inboundSPI` holds keyed contexts now (tests); nil when it is not installed.
    func isKeyed(inboundSPI: UInt32) -> Bool? { inboundSAs[inboundSPI]?.transforms.isKeyed }

    /// Checks every pair's time limits and reports, in installation order, pairs that reached a soft
    /// limit (once per pair: rekey) and pairs that reached a hard limit (removed from the engine now).
    /// Pairs without a packet for ``ESPTransforms/idleTimeBeforeRelease`` release their keyed contexts.
    /// Call it from a timer (once a second is plenty) and after ``hasPendingLifetimeEvents``.
    public func tick(now: MonotonicTime) -> [ESPLifetimeEvent] {
        var events: [ESPLifetimeEvent] = []
        var expired: [UInt32] = []
        for pair in pairs {
            pair.transforms.tick(packets: pair.inbound.packets &+ pair.outbound.packets, now: now)
            pair.checkSoftTime(now: now)
            if pair.isExpired(now: now), let trigger = pair.hardTrigger {
                events.append(event(.hard, trigger, pair, now))
                expired.append(pair.inboundSPI)
            } else if let trigger = pair.softTrigger, !pair.softReported {
                pair.softReported = true
                events.append(event(.soft, trigger, pair, now))
            }
        }
        for spi in expired { remove(inboundSPI: spi) }
        // Every limit reached so far (also during this walk) has been reported.
        limits.raised = false
        return events
    }

    private func event(
        _ kind: ESPLifetimeEvent.Kind, _ trigger: ESPLifetimeEvent.Trigger, _ pair: ESPSAPair, _ now: Duration
    ) -> ESPLifetimeEvent {
        ESPLifetimeEvent(
            kind: kind, trigger: trigger, inboundSPI: pair.inboundSPI, outboundSPI: pair.outboundSPI,
            connection: pair.connection, time: now)
    }

    // MARK: Outbound

    /// Protects the inner packet at `buffer[inner]` in place (RFC 4303 section 3.3).
    ///
    /// Finds the first policy of the interface the packet came from whose local selectors cover the
    /// source and remote selectors the destination (with protocol and ports), takes its newest usable SA, writes the ESP header
    /// (SPI, sequence number), the IV (AEADs: the 64-bit sequence number, unique per key, RFC 4106
    /// section 3.1; CBC: random, RFC 3602 section 2.4), padding 1, 2, 3, ... to the cipher block and
    /// 4 bytes (RFC 4303 section 2.4), Pad Length and Next Header (4 or 41), then seals.
    ///
    /// - Parameters:
    ///   - inner: where the inner IPv4 or IPv6 packet lies in `buffer`.
    ///   - buffer: with ``requiredHeadroom`` bytes before `inner` and ``requiredTailroom`` after it.
    ///   - now: the caller's monotonic time, for lifetimes.
    ///   - interface: the data-plane interface the packet was read from; only its SPD is searched.
    /// - Returns: the ESP packet's range and destination, or a counted drop; without a policy the
    ///   packet is dropped (`.noPolicy`), never sent in clear.
    /// - Precondition: `inner` lies within `buffer` (the caller's bookkeeping, not packet input).
    public func encapsulate(
        innerPacketAt inner: Range<Int>, in buffer: UnsafeMutableRawBufferPointer, now: MonotonicTime,
        interface: Int = 0
    ) -> ESPEncapsulationResult {
        precondition(inner.lowerBound >= 0 && inner.upperBound <= buffer.count, "inner packet outside the buffer")
        guard inner.count <= InnerPacket.maximumLength else { return dropEngine(.oversized) }
        guard let packet = InnerPacket.parse(UnsafeRawBufferPointer(rebasing: buffer[inner])) else {
            return dropEngine(.malformedInnerPacket)
        }
        guard let entry = spd.entry(for: packet, interface: interface) else { return dropEngine(.noPolicy) }
        guard let pair = newestUsable(entry, now: now) else {
            guard let newest = entry.pairs.last else { return dropEngine(.noPolicy) }
            if newest.isWaiting(now: now) { return drop(.awaitingPeer, outbound: newest) }
            return drop(newest.sequence.isExhausted ? .sequenceExhausted : .saExpired, outbound: newest)
        }
        guard let protection = pair.transforms.keyedOutbound() else {
            // libcrypto could not key it again: the pair is done, and its IKE SA hears so at the next tick.
            pair.hardTrigger = .keying
            return drop(.cryptoFailure, outbound: pair)
        }
        let ivLength = pair.transforms.ivLength
        let headerStart = inner.lowerBound - ESPHeader.size - ivLength
        let padLength = ESPTrailer.padLength(payloadLength: inner.count, blockSize: pair.transforms.blockSize)
        let trailerEnd = inner.upperBound + padLength + ESPTrailer.size
        let end = trailerEnd + pair.transforms.icvLength
        guard headerStart >= 0, end <= buffer.count, end - headerStart <= Self.maximumESPPacketLength else {
            return drop(.oversized, outbound: pair)
        }
        guard let sequence = pair.sequence.next() else {
            pair.hardTrigger = .sequenceNumbers
            return drop(.sequenceExhausted, outbound: pair)
        }
        if pair.sequence.isExhausted {
            pair.hardTrigger = .sequenceNumbers
        } else if pair.sequence.isNearExhaustion, pair.softTrigger == nil {
            pair.softTrigger = .sequenceNumbers
        }

        // ESP header (RFC 4303 section 2.1, 2.2): SPI, low 32 bits of the sequence number.
        let low = UInt32(truncatingIfNeeded: sequence)
        let high = UInt32(truncatingIfNeeded: sequence >> 32)
        buffer.storeBytes(of: pair.outboundSPI.bigEndian, toByteOffset: headerStart, as: UInt32.self)
        buffer.storeBytes(of: low.bigEndian, toByteOffset: headerStart + 4, as: UInt32.self)
        let ivStart = headerStart + ESPHeader.size
        if pair.isAEAD {
            buffer.storeBytes(of: sequence.bigEndian, toByteOffset: ivStart, as: UInt64.self)
        } else {
            random.fill(UnsafeMutableRawBufferPointer(rebasing: buffer[ivStart..<inner.lowerBound]))
        }
        let nextHeader = packet.family == .v4 ? Self.nextHeaderIPv4 : Self.nextHeaderIPv6
        do {
            _ = try ESPTrailer.write(
                into: UnsafeMutableRawBufferPointer(rebasing: buffer[inner.lowerBound..<trailerEnd]),
                payloadLength: inner.count, padLength: padLength, nextHeader: nextHeader)
        } catch {
            return drop(.oversized, outbound: pair)
        }
        let sealed = UnsafeMutableRawBufferPointer(rebasing: buffer[ivStart..<end])
        let header = UnsafeRawBufferPointer(rebasing: buffer[headerStart..<ivStart])
        let ok = Self.withAuthenticatedData(
            pair: pair, spi: pair.outboundSPI, header: header, high: high, low: low
        ) { associatedData, trailingData in
            do {
                try protection.seal(sealed, associatedData: associatedData, trailingData: trailingData)
                return true
            } catch {
                return false
            }
        }
        guard ok else {
            // Never let a half-built packet out: the plaintext stays in the caller's buffer only.
            return drop(.cryptoFailure, outbound: pair)
        }
        pair.account(&pair.outbound, bytes: inner.count, now: now)
        return .packet(
            ESPOutboundPacket(
                range: headerStart..<end, outboundSPI: pair.outboundSPI, sequenceNumber: sequence,
                tunnel: pair.tunnel))
    }

    /// Copies `innerPacket` to offset ``requiredHeadroom`` of `buffer` and protects it there; for
    /// callers whose inner packet is not already in a buffer with headroom.
    public func encapsulate(
        innerPacket: UnsafeRawBufferPointer, into buffer: UnsafeMutableRawBufferPointer, now: MonotonicTime,
        interface: Int = 0
    ) -> ESPEncapsulationResult {
        let start = Self.requiredHeadroom
        guard start + innerPacket.count <= buffer.count else { return dropEngine(.oversized) }
        let inner = start..<(start + innerPacket.count)
        if innerPacket.count > 0 {
            UnsafeMutableRawBufferPointer(rebasing: buffer[inner]).copyMemory(from: innerPacket)
        }
        return encapsulate(innerPacketAt: inner, in: buffer, now: now, interface: interface)
    }

    // MARK: Inbound

    /// Verifies and decrypts the ESP packet that fills `espPacket`, in place (RFC 4303 section 3.4).
    ///
    /// Order: header and SA lookup (unknown SPI), lifetime, length, replay check with ESN
    /// reconstruction (Appendix A2.2), integrity (no plaintext is exposed on failure), replay window
    /// update (only now, so forged packets cannot move it), trailer (padding 1, 2, 3, ..., Next Header
    /// 4 or 41; 59 is a dummy packet), inner header, selector check (RFC 4301 section 5.2), accounting.
    ///
    /// - Parameters:
    ///   - espPacket: the ESP packet from its SPI to its ICV (the UDP payload with NAT-T).
    ///   - now: the caller's monotonic time, for lifetimes.
    public func decapsulate(espPacket packet: UnsafeMutableRawBufferPointer, now: MonotonicTime)
        -> ESPDecapsulationResult
    {
        guard packet.count <= Self.maximumESPPacketLength else { return dropEngine(.oversized) }
        guard packet.count >= ESPHeader.size else { return dropEngine(.truncated) }
        guard let header = ESPHeader.parse(UnsafeRawBufferPointer(packet)),
            let pair = inboundSAs[header.spi]
        else { return dropEngine(.unknownSPI) }
        guard !pair.isExpired(now: now) else { return drop(.saExpired, inbound: pair) }
        let payloadStart = ESPHeader.size + pair.transforms.ivLength
        let payloadEnd = packet.count - pair.transforms.icvLength
        guard payloadEnd - payloadStart >= ESPTrailer.size,
            (payloadEnd - payloadStart) % pair.transforms.blockSize == 0
        else { return drop(.truncated, inbound: pair) }

        let sequence: UInt64
        switch pair.replay.check(sequence: header.sequenceNumber) {
        case .fresh(let full): sequence = full
        case .replayed: return drop(.replayed, inbound: pair)
        case .tooOld: return drop(.tooOld, inbound: pair)
        }
        guard let protection = pair.transforms.keyedInbound() else {
            pair.hardTrigger = .keying
            return drop(.cryptoFailure, inbound: pair)
        }
        let sealed = UnsafeMutableRawBufferPointer(rebasing: packet[ESPHeader.size...])
        let headerBytes = UnsafeRawBufferPointer(rebasing: packet[0..<ESPHeader.size])
        let authentic = Self.withAuthenticatedData(
            pair: pair, spi: header.spi, header: headerBytes, high: UInt32(truncatingIfNeeded: sequence >> 32),
            low: header.sequenceNumber
        ) { associatedData, trailingData in
            do {
                try protection.open(sealed, associatedData: associatedData, trailingData: trailingData)
                return true
            } catch {
                return false
            }
        }
        guard authentic else { return drop(.integrityFailure, inbound: pair) }
        guard pair.replay.update(sequence: sequence) else { return drop(.replayed, inbound: pair) }

        let payload = UnsafeRawBufferPointer(rebasing: packet[payloadStart..<payloadEnd])
        let trailer: ESPTrailer
        do {
            trailer = try ESPTrailer.parse(payload)
        } catch {
            return drop(.badPadding, inbound: pair)
        }
        if trailer.isDummyPacket {
            pair.dummyPackets &+= 1
            return .dummy(inboundSPI: pair.inboundSPI)
        }
        let family: IPFamily
        switch trailer.nextHeader {
        case Self.nextHeaderIPv4: family = .v4
        case Self.nextHeaderIPv6: family = .v6
        default: return drop(.badNextHeader, inbound: pair)
        }
        let innerStart = payloadStart
        let innerBytes = UnsafeRawBufferPointer(rebasing: packet[innerStart..<(innerStart + trailer.payloadLength)])
        guard let inner = InnerPacket.parse(innerBytes), inner.family == family else {
            return drop(.malformedInnerPacket, inbound: pair)
        }
        // RFC 4301 section 5.2 step 4: the inner header must match the SA's selectors; the peer's
        // selectors cover the source, ours the destination.
        guard inner.matches(sources: pair.remoteSelectors, destinations: pair.localSelectors) else {
            return drop(.selectorMismatch, inbound: pair)
        }
        pair.account(&pair.inbound, bytes: inner.length, now: now)
        // The peer sends on this SA, so it has the keys: a waiting outbound half may be used now.
        pair.outboundWaitsUntil = nil
        return .packet(
            ESPInboundPacket(
                range: innerStart..<(innerStart + inner.length), family: family, inboundSPI: pair.inboundSPI,
                sequenceNumber: sequence, interface: pair.interface, header: inner))
    }

    // MARK: Helpers

    /// The newest pair of `entry` whose outbound half may send (make-before-break): a pair still waiting
    /// for the peer (``ESPOutboundStart``) leaves the traffic to older ones.
    private func newestUsable(_ entry: ESPPolicyEntry, now: MonotonicTime) -> ESPSAPair? {
        var index = entry.pairs.count - 1
        while index >= 0 {
            let pair = entry.pairs[index]
            if pair.canSend(now: now) { return pair }
            index -= 1
        }
        return nil
    }

    /// Calls `body` with the associated and trailing data the ICV covers (RFC 4303 section 3.3.2.1):
    /// without ESN the ESP header; with ESN, for AEADs SPI || seq-high || seq-low (RFC 4106 section 5),
    /// for encrypt-then-MAC the ESP header with seq-high authenticated after the payload. Built on the
    /// stack.
    private static func withAuthenticatedData(
        pair: ESPSAPair, spi: UInt32, header: UnsafeRawBufferPointer, high: UInt32, low: UInt32,
        _ body: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) -> Bool
    ) -> Bool {
        let none = UnsafeRawBufferPointer(start: nil, count: 0)
        guard pair.extendedSequenceNumbers else { return body(header, none) }
        if pair.isAEAD {
            let words = (spi.bigEndian, high.bigEndian, low.bigEndian)
            return withUnsafeBytes(of: words) { body($0, none) }
        }
        let trailing = high.bigEndian
        return withUnsafeBytes(of: trailing) { body(header, $0) }
    }

    private func dropEngine<Result: ESPDropResult>(_ reason: ESPDropReason) -> Result {
        drops.count(reason)
        return Result.drop(reason)
    }

    private func drop(_ reason: ESPDropReason, outbound pair: ESPSAPair) -> ESPEncapsulationResult {
        drops.count(reason)
        pair.outboundDrops.count(reason)
        return .drop(reason)
    }

    private func drop(_ reason: ESPDropReason, inbound pair: ESPSAPair) -> ESPDecapsulationResult {
        drops.count(reason)
        pair.inboundDrops.count(reason)
        return .drop(reason)
    }
}
