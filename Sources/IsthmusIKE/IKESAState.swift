/// The state of one IKE SA as `status` shows it, for both IKE versions; the raw values are the JSON strings.
public enum IKESAState: String, Sendable, Codable, Hashable, CaseIterable, CustomStringConvertible {
    /// Nothing sent or received yet.
    case idle
    /// Initiator: IKE_SA_INIT (IKEv2) or Main Mode messages 1 to 4 (IKEv1) in progress.
    case connecting
    /// Initiator: IKE_AUTH (IKEv1: Main Mode message 5) sent, no answer yet.
    case authenticating
    /// Responder: IKE_SA_INIT (IKEv1: Main Mode message 1 or 3) answered, not yet authenticated.
    case halfOpen = "half-open"
    /// Authenticated; CHILD SAs can be negotiated.
    case established
    /// IKEv1: an established ISAKMP SA being replaced by a new Main Mode (the old one still works).
    case rekeying
    /// Our DELETE for the IKE SA is on its way.
    case deleting
    /// Finished; the shell forgets it.
    case closed

    public var description: String { rawValue }

    /// Whether a negotiation is past its key exchange: IKE_AUTH (IKEv1: Main Mode message 5) sent, or a
    /// responder's half-open SA, so the peer may hold it established before we do.
    public var isPastKeyExchange: Bool {
        switch self {
        case .authenticating, .halfOpen: true
        case .idle, .connecting, .established, .rekeying, .deleting, .closed: false
        }
    }

    /// Whether the SA carries a working, authenticated IKE SA: a negotiation that is not yet there must
    /// give way to it (duplicate resolution, `up` of a connection that is up).
    public var isWorking: Bool {
        switch self {
        case .established, .deleting, .rekeying: true
        case .idle, .connecting, .authenticating, .halfOpen, .closed: false
        }
    }
}

/// Liveness checks of an IKE SA, the same for both versions: IKEv2's empty INFORMATIONAL (RFC 7296 section
/// 2.4) and IKEv1's R-U-THERE (RFC 3706).
public struct IKELiveness: Sendable, Hashable {
    /// What happens when the peer is declared dead.
    public enum Action: Sendable, Hashable {
        /// Delete the SAs and initiate again.
        case restart
        /// Delete the SAs and wait for the peer.
        case clear
    }

    /// Idle time before a check is sent.
    public var interval: Duration
    /// How long checks go unanswered before the peer is declared dead.
    public var timeout: Duration
    public var action: Action

    public init(interval: Duration, timeout: Duration, action: Action) {
        self.interval = interval
        self.timeout = timeout
        self.action = action
    }
}
