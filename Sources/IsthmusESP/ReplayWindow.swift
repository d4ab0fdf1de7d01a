/// The receiver's anti-replay window of one inbound SA (RFC 4303 section 3.4.3, Appendix A).
///
/// Use it in two steps so that forged packets cannot move the window:
/// 1. ``check(sequence:)`` with the 32 bits from the ESP header, *before* the ICV is verified. It
///    rejects replays and packets left of the window and, with extended sequence numbers, reconstructs
///    the high 32 bits (Appendix A2.2); the returned 64-bit number is what the ICV covers.
/// 2. ``update(sequence:)`` with that 64-bit number, only *after* the packet authenticated
///    (RFC 4303 section 3.4.3: "the receive window is updated only if the integrity verification
///    succeeds").
///
/// The bitmap is allocated once in `init`; checks and updates never allocate.
public struct ReplayWindow: Sendable, Hashable {
    /// The default window: 1024 packets, far above RFC 4303's minimum of 32 (section 3.4.3) so that
    /// reordering by multi-queue NICs and ECMP at multi-Gbit/s rates does not cause false drops.
    public static let defaultSize = 1024
    /// The largest window accepted: 4096 packets is a 512-byte bitmap, enough for about a
    /// millisecond of reordering at 4 Mpps; beyond that the ESN high-bit guess gets riskier.
    public static let maximumSize = 4096
    /// Bits per bitmap word.
    private static let wordBits = 64

    /// What the header's sequence number means for this window.
    public enum Verdict: Sendable, Hashable {
        /// Not seen yet and inside or right of the window: verify the ICV over this full 64-bit
        /// number (the high half is 0 without ESN).
        case fresh(UInt64)
        /// Already received (its bit is set).
        case replayed
        /// Left of the window, or sequence number 0 (never sent, RFC 4303 section 3.3.3).
        case tooOld
    }

    /// The window size W in packets.
    public let size: Int
    /// Whether the SA uses 64-bit extended sequence numbers (RFC 4303 section 2.2.1).
    public let extendedSequenceNumbers: Bool
    /// The highest authenticated sequence number (0 before the first packet).
    public private(set) var top: UInt64
    /// Ring of `bitCount` bits; the bit of sequence number `s` is `s % bitCount`.
    private var bitmap: [UInt64]
    private let bitCount: UInt64

    /// Creates an empty window.
    ///
    /// - Parameters:
    ///   - size: the window size in packets, `1...maximumSize`.
    ///   - extendedSequenceNumbers: whether the SA negotiated ESN.
    ///   - top: the highest sequence number to assume already received (tests and SA migration).
    /// - Precondition: `size` within `1...maximumSize` (a configuration error, not packet input).
    public init(size: Int = ReplayWindow.defaultSize, extendedSequenceNumbers: Bool, top: UInt64 = 0) {
        precondition((1...ReplayWindow.maximumSize).contains(size), "replay window size out of range")
        self.size = size
        self.extendedSequenceNumbers = extendedSequenceNumbers
        self.top = extendedSequenceNumbers ? top : min(top, UInt64(UInt32.max))
        let words = (size + ReplayWindow.wordBits - 1) / ReplayWindow.wordBits
        self.bitmap = Array(repeating: 0, count: words)
        self.bitCount = UInt64(words * ReplayWindow.wordBits)
    }

    /// Classifies the 32-bit sequence number of a received packet (before integrity verification).
    ///
    /// With ESN the high 32 bits are inferred from the window as in RFC 4303 Appendix A2.2: a number
    /// at or right of the window's bottom belongs to the top's 2^32 subspace, one left of it to the
    /// next subspace (the window has wrapped or will wrap).
    public func check(sequence low: UInt32) -> Verdict {
        guard extendedSequenceNumbers else { return check(full: UInt64(low)) }
        guard let full = reconstruct(low) else { return .tooOld }
        return check(full: full)
    }

    /// Reconstructs the 64-bit sequence number from its low 32 bits (RFC 4303 Appendix A2.2), or
    /// `nil` when it would lie before sequence number 1 (or past 2^64 - 1).
    func reconstruct(_ low: UInt32) -> UInt64? {
        let topLow = UInt32(truncatingIfNeeded: top)
        let topHigh = UInt32(truncatingIfNeeded: top >> 32)
        let window = UInt32(size)
        let bottom = topLow &- window &+ 1
        let high: UInt32
        if topLow >= window - 1 {
            // Case A: the window lies within one 2^32 subspace.
            if low >= bottom {
                high = topHigh
            } else {
                guard topHigh < UInt32.max else { return nil }
                high = topHigh + 1
            }
        } else {
            // Case B: the window spans two subspaces; `bottom` wrapped below 0.
            if low >= bottom {
                guard topHigh > 0 else { return nil }
                high = topHigh - 1
            } else {
                high = topHigh
            }
        }
        return UInt64(high) << 32 | UInt64(low)
    }

    /// Classifies a full 64-bit sequence number against the window.
    func check(full: UInt64) -> Verdict {
        guard full != 0 else { return .tooOld }
        if full > top { return .fresh(full) }
        guard top - full < UInt64(size) else { return .tooOld }
        return isSet(full) ? .replayed : .fresh(full)
    }

    /// Records an authenticated packet: slides the window right when `sequence` is above the top
    /// and marks it received (RFC 4303 Appendix A). Call only after the ICV verified.
    ///
    /// - Returns: `false` when the number was already recorded or is left of the window (a caller
    ///   bug or a race between two packets with the same number; the packet must then be dropped).
    @discardableResult
    public mutating func update(sequence full: UInt64) -> Bool {
        guard full != 0 else { return false }
        if full > top {
            let advance = full - top
            // While loops: unspecialised range iterators allocate in debug builds.
            if advance >= bitCount {
                var index = 0
                while index < bitmap.count {
                    bitmap[index] = 0
                    index += 1
                }
            } else {
                var cleared = top
                var remaining = advance
                while remaining > 0 {
                    cleared &+= 1
                    clear(cleared)
                    remaining -= 1
                }
            }
            top = full
            set(full)
            return true
        }
        guard top - full < UInt64(size), !isSet(full) else { return false }
        set(full)
        return true
    }

    private func isSet(_ sequence: UInt64) -> Bool {
        let bit = sequence % bitCount
        return bitmap[Int(bit / 64)] & (1 << (bit % 64)) != 0
    }

    private mutating func set(_ sequence: UInt64) {
        let bit = sequence % bitCount
        bitmap[Int(bit / 64)] |= 1 << (bit % 64)
    }

    private mutating func clear(_ sequence: UInt64) {
        let bit = sequence % bitCount
        bitmap[Int(bit / 64)] &= ~(1 << (bit % 64))
    }
}
