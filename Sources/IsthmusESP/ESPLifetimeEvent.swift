import IsthmusEvents

/// A lifetime limit an SA pair reached, reported by ``ESPEngine/tick(now:)`` for the daemon to hand
/// to IKE: soft asks for a rekey (reported once), hard means the pair was removed
/// (RFC 4301 section 4.4.2.1).
public struct ESPLifetimeEvent: Sendable, Hashable, CustomStringConvertible {
    /// Soft or hard.
    public enum Kind: Sendable, Hashable {
        /// Rekey now; the SA keeps working.
        case soft
        /// The SA pair is no longer used and has been removed from the engine.
        case hard
    }

    /// Which limit was reached.
    public enum Trigger: Sendable, Hashable, CustomStringConvertible {
        case time
        case bytes
        case packets
        /// The outbound 32-bit (or 64-bit) sequence number is (nearly) used up (RFC 4303 section 3.3.3).
        case sequenceNumbers
        /// The pair's released crypto contexts could not be keyed again (libcrypto failed): it cannot be used.
        case keying

        public var description: String {
            switch self {
            case .keying: "keying failure"
            case .time: "time"
            case .bytes: "bytes"
            case .packets: "packets"
            case .sequenceNumbers: "sequence numbers"
            }
        }
    }

    public var kind: Kind
    public var trigger: Trigger
    /// The pair's inbound SPI (how IKE names a CHILD SA to the engine).
    public var inboundSPI: UInt32
    public var outboundSPI: UInt32
    /// The connection name given at installation.
    public var connection: String
    /// The `now` of the ``ESPEngine/tick(now:)`` that reported it.
    public var time: MonotonicTime

    public init(
        kind: Kind, trigger: Trigger, inboundSPI: UInt32, outboundSPI: UInt32, connection: String,
        time: MonotonicTime
    ) {
        self.kind = kind
        self.trigger = trigger
        self.inboundSPI = inboundSPI
        self.outboundSPI = outboundSPI
        self.connection = connection
        self.time = time
    }

    public var description: String {
        let what = kind == .soft ? "soft lifetime reached (rekey)" : "hard lifetime reached (removed)"
        return "esp \(SAIdentifier.esp(inboundSPI))/\(SAIdentifier.esp(outboundSPI)) \(what): \(trigger)"
    }

    /// The event as the gateway logs it.
    public var gatewayEvent: GatewayEvent {
        GatewayEvent(
            time: time, connection: connection,
            saIDs: ["esp \(SAIdentifier.esp(inboundSPI))", "esp \(SAIdentifier.esp(outboundSPI))"],
            kind: kind == .soft ? .childSASoftExpired : .childSAHardExpired,
            severity: kind == .soft ? .info : .notice,
            message: kind == .soft
                ? "CHILD SA reached its soft \(trigger) lifetime; rekeying"
                : "CHILD SA reached its hard \(trigger) lifetime and was removed",
            details: ["trigger": trigger.description])
    }
}

extension GatewayEvent.Kind {
    /// A CHILD SA reached a soft lifetime in the ESP engine (time, bytes, packets, sequence numbers).
    public static let childSASoftExpired = GatewayEvent.Kind(rawValue: "child-sa-soft-expired")
    /// A CHILD SA reached a hard lifetime and the ESP engine removed it.
    public static let childSAHardExpired = GatewayEvent.Kind(rawValue: "child-sa-hard-expired")
}
