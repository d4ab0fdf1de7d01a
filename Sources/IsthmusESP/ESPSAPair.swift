import IsthmusCrypto
import IsthmusIP

/// The mutable state of one installed SA pair. Owned by one ``ESPEngine``; a class so that the
/// per-packet updates (sequence numbers, replay bitmap, counters) happen in place, with no copy.
final class ESPSAPair {
    let inboundSPI: UInt32
    let outboundSPI: UInt32
    /// The keys, and the keyed contexts while the pair carries traffic. Read and built on every packet, by the
    /// engine's one thread only: no dynamic exclusivity check (it measured 40-70 ns a packet).
    @exclusivity(unchecked) var transforms: ESPTransforms
    var isAEAD: Bool { transforms.isAEAD }
    let extendedSequenceNumbers: Bool
    let localSelectors: [TrafficSelector]
    let remoteSelectors: [TrafficSelector]
    /// The outer endpoints; the remote one follows a peer behind a NAT that moved.
    var tunnel: ESPTunnel
    let softLifetime: ESPLifetime
    let hardLifetime: ESPLifetime
    let connection: String
    /// The data-plane interface whose SPD holds this pair (``ESPSecurityAssociation/interface``).
    let interface: Int
    let installedAt: Duration

    var replay: ReplayWindow
    var sequence: OutboundSequence
    var inbound = ESPTrafficCounters()
    var outbound = ESPTrafficCounters()
    var inboundDrops = ESPDropCounters()
    var outboundDrops = ESPDropCounters()
    var dummyPackets: UInt64 = 0
    /// The first soft limit reached, and whether ``ESPEngine/tick(now:)`` reported it.
    var softTrigger: ESPLifetimeEvent.Trigger? {
        didSet { if softTrigger != nil { limits.raised = true } }
    }
    var softReported = false
    /// Being deleted: never used for outbound traffic again.
    var outboundRetired = false
    /// The hard limit reached: the pair is no longer used.
    var hardTrigger: ESPLifetimeEvent.Trigger? {
        didSet { if hardTrigger != nil { limits.raised = true } }
    }
    /// The engine's flag, raised when this pair reaches a limit (``ESPEngine/hasPendingLifetimeEvents``).
    let limits: ESPLimitFlag
    /// Until this time the outbound half waits for the peer (nil: it does not); ends early with the first
    /// authenticated inbound packet or ``ESPEngine/confirmOutbound(inboundSPI:)`` (see ``ESPOutboundStart``).
    var outboundWaitsUntil: Duration?

    init(_ sa: ESPSecurityAssociation, now: Duration, limits: ESPLimitFlag) throws(ESPInstallError) {
        guard sa.inboundSPI != 0, sa.outboundSPI != 0 else { throw .reservedSPI }
        guard !sa.localSelectors.isEmpty, !sa.remoteSelectors.isEmpty else { throw .emptySelectors }
        guard (1...ReplayWindow.maximumSize).contains(sa.replayWindowSize) else {
            throw .invalidReplayWindow(sa.replayWindowSize)
        }
        transforms = try ESPTransforms(sa, now: now)
        inboundSPI = sa.inboundSPI
        outboundSPI = sa.outboundSPI
        extendedSequenceNumbers = sa.extendedSequenceNumbers
        localSelectors = sa.localSelectors
        remoteSelectors = sa.remoteSelectors
        tunnel = sa.tunnel
        softLifetime = sa.softLifetime
        hardLifetime = sa.hardLifetime
        connection = sa.connection
        interface = sa.interface
        installedAt = now
        replay = ReplayWindow(
            size: sa.replayWindowSize, extendedSequenceNumbers: sa.extendedSequenceNumbers,
            top: sa.initialInboundSequence)
        sequence = OutboundSequence(
            extendedSequenceNumbers: sa.extendedSequenceNumbers, last: sa.initialOutboundSequence)
        self.limits = limits
        if sequence.isExhausted {
            hardTrigger = .sequenceNumbers
            limits.raised = true
        }
        switch sa.outboundStart {
        case .now: outboundWaitsUntil = nil
        case .afterPeersFirstPacket(let fallback): outboundWaitsUntil = now + fallback
        }
    }

    /// Whether the pair may no longer be used; checks the hard time limit (RFC 4301 section 4.4.2.1).
    func isExpired(now: Duration) -> Bool {
        if hardTrigger != nil { return true }
        if let limit = hardLifetime.time, now - installedAt >= limit {
            hardTrigger = .time
            return true
        }
        return false
    }

    /// Whether the outbound half can protect one more packet now.
    func canSend(now: Duration) -> Bool {
        !outboundRetired && !isExpired(now: now) && !sequence.isExhausted && !isWaiting(now: now)
    }

    /// Whether the outbound half still waits for the peer (see ``ESPOutboundStart``).
    func isWaiting(now: Duration) -> Bool {
        guard let until = outboundWaitsUntil else { return false }
        if now >= until {
            outboundWaitsUntil = nil
            return false
        }
        return true
    }

    /// Notes the soft time limit (cheap; also done by ``ESPEngine/tick(now:)``).
    func checkSoftTime(now: Duration) {
        if softTrigger == nil, let limit = softLifetime.time, now - installedAt >= limit {
            softTrigger = .time
        }
    }

    /// Counts one packet of `bytes` inner bytes in one direction and notes soft and hard limits.
    /// The hard limit is checked after counting, so exactly `hard.packets` packets pass.
    func account(_ counters: inout ESPTrafficCounters, bytes: Int, now: Duration) {
        counters.packets &+= 1
        counters.bytes &+= UInt64(bytes)
        if softTrigger == nil {
            if let limit = softLifetime.packets, counters.packets >= limit {
                softTrigger = .packets
            } else if let limit = softLifetime.bytes, counters.bytes >= limit {
                softTrigger = .bytes
            } else {
                checkSoftTime(now: now)
            }
        }
        if hardTrigger == nil {
            if let limit = hardLifetime.packets, counters.packets >= limit {
                hardTrigger = .packets
            } else if let limit = hardLifetime.bytes, counters.bytes >= limit {
                hardTrigger = .bytes
            }
        }
    }

    var statistics: ESPSAStatistics {
        ESPSAStatistics(
            inboundSPI: inboundSPI, outboundSPI: outboundSPI, connection: connection, installedAt: installedAt,
            inbound: inbound, outbound: outbound, inboundDrops: inboundDrops, outboundDrops: outboundDrops,
            dummyPackets: dummyPackets, lastOutboundSequence: sequence.last, highestInboundSequence: replay.top,
            softLifetimeReached: softTrigger, hardLifetimeReached: hardTrigger)
    }
}

/// Raised by any pair of an engine that reaches a soft or hard limit, lowered by the engine's `tick`: finding
/// out whether a tick is due is one load, not a walk over every pair (a walk per `poll` turn was a tenth of the
/// data plane's time with 10,000 pairs installed).
final class ESPLimitFlag {
    var raised = false
}

/// One SPD entry: a selector pair and the SA pairs installed for it, oldest first.
final class ESPPolicyEntry {
    let interface: Int
    let localSelectors: [TrafficSelector]
    let remoteSelectors: [TrafficSelector]
    var pairs: [ESPSAPair]
    /// Its place in the SPD: entries made earlier match first.
    let order: UInt64

    /// The entry of the first pair installed for its interface and selectors, `order`-th in the SPD.
    init(_ pair: ESPSAPair, order: UInt64) {
        self.order = order
        self.interface = pair.interface
        self.localSelectors = pair.localSelectors
        self.remoteSelectors = pair.remoteSelectors
        self.pairs = [pair]
    }
}

/// What identifies an SPD entry: the interface and both selector lists.
struct ESPPolicyKey: Hashable {
    let interface: Int
    let localSelectors: [TrafficSelector]
    let remoteSelectors: [TrafficSelector]

    init(_ pair: ESPSAPair) {
        interface = pair.interface
        localSelectors = pair.localSelectors
        remoteSelectors = pair.remoteSelectors
    }
}
