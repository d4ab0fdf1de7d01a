import IsthmusCrypto
import IsthmusEvents
import IsthmusIP

/// What the I/O shell feeds a protocol core.
public enum IKEInput: Sendable {
    /// An IKE message for this SA (routed by SPI), marker already stripped.
    case datagram(IKEDatagram)
    /// A timer the core armed has fired.
    case timer(IKETimer)
    /// Start (or restart) negotiating as initiator (`isthmus up`, start-up, DPD restart).
    case initiate
    /// Tear down: send DELETE for the IKE SA and its CHILD SAs, then close (`isthmus down`, shutdown).
    case terminate
    /// Close without telling the peer, which has said (INITIAL_CONTACT in a newer IKE SA) that it holds no
    /// state for this one: every CHILD SA is removed from the data plane, no DELETE is sent, no restart.
    case forget(reason: String)
    /// The operator reloaded a new pre-shared key (`isthmus reload`): the SAs stay, and the next
    /// authentication this session makes (an IKEv1 Main Mode replacing its ISAKMP SA, a restart) uses it.
    case sharedKeyChanged(SecretBytes)
}

/// One IKE SA's protocol core as the I/O shell drives it (IKEv2 and IKEv1).
///
/// The shell routes datagrams by SPI, runs the timers the core arms, performs the actions it returns
/// in order, and asks for ``status`` for `isthmus status`. A core never blocks, reads a clock, or
/// touches a socket; every call returns promptly with the actions to take.
public protocol IKESession: AnyObject, Sendable {
    /// The connection this SA belongs to.
    var connectionName: String { get }
    /// Our SPI (IKEv2) or cookie (IKEv1) for this SA: the shell routes inbound messages by it.
    var localSPI: UInt64 { get }
    /// Handles one input at time `now` and returns what to do.
    func handle(_ input: IKEInput, now: MonotonicTime) -> [IKEAction]
    /// A snapshot for `status`.
    func status(now: MonotonicTime) -> IKESAStatus
    /// What the metrics count of this SA each second, without building its ``status(now:)``.
    var summary: IKESASummary { get }
}

extension IKESession {
    /// Taken from the full status (sessions that have nothing cheaper).
    public var summary: IKESASummary {
        let status = self.status(now: .zero)
        return IKESASummary(state: status.state, client: status.virtualAddress == nil ? nil : status.clientIdentity)
    }
}

/// An IKE SA as the metrics count it: its state, and the identity of a point-to-site client that holds a
/// virtual address.
public struct IKESASummary: Sendable, Hashable {
    public var state: IKESAState
    public var client: String?

    public init(state: IKESAState, client: String?) {
        self.state = state
        self.client = client
    }
}

/// `status --json` for one IKE SA and its CHILD SAs.
public struct IKESAStatus: Sendable, Codable, Hashable {
    public struct ChildSA: Sendable, Codable, Hashable {
        public var inboundSPI: String
        public var outboundSPI: String
        public var localSelectors: [String]
        public var remoteSelectors: [String]
        /// strongSwan-style proposal text of what was negotiated, e.g. `aes256gcm16` or `aes256-sha256`.
        public var algorithms: String
        public var state: String
        /// Seconds until the next rekey, nil when none is scheduled.
        public var rekeyInSeconds: Int64?
        /// The lifetime in use (hard expiry), when the core reports it (IKEv1 negotiates it).
        public var lifetimeSeconds: Int64?
        /// Why that lifetime: `our policy`, `peer's proposal`, `peer's RESPONDER-LIFETIME`.
        public var lifetimeReason: String?

        public init(
            inboundSPI: String, outboundSPI: String, localSelectors: [String], remoteSelectors: [String],
            algorithms: String, state: String, rekeyInSeconds: Int64?, lifetimeSeconds: Int64? = nil,
            lifetimeReason: String? = nil
        ) {
            self.lifetimeSeconds = lifetimeSeconds
            self.lifetimeReason = lifetimeReason
            self.inboundSPI = inboundSPI
            self.outboundSPI = outboundSPI
            self.localSelectors = localSelectors
            self.remoteSelectors = remoteSelectors
            self.algorithms = algorithms
            self.state = state
            self.rekeyInSeconds = rekeyInSeconds
        }
    }

    public var connection: String
    public var ikeVersion: Int
    public var state: IKESAState
    public var role: String
    public var localSPI: String
    public var remoteSPI: String
    public var local: String
    public var remote: String
    /// Negotiated IKE proposal (strongSwan keywords), nil before IKE_SA_INIT completes.
    public var algorithms: String?
    /// Which sides are behind NAT, as detected (RFC 7296 2.23).
    public var natLocal: Bool
    public var natRemote: Bool
    /// Seconds since establishment, nil when not established.
    public var establishedSecondsAgo: Int64?
    public var rekeyInSeconds: Int64?
    /// The IKE SA (ISAKMP SA) lifetime in use and why, when the core reports it (IKEv1 negotiates it).
    public var lifetimeSeconds: Int64?
    public var lifetimeReason: String?
    /// Messages the core dropped (malformed, failed HASH, replays, out of state), when it counts them.
    public var droppedMessages: Int?
    /// A point-to-site client's authenticated identity and virtual address (the responder's lease, or the
    /// address an initiator was given), nil for a site-to-site SA.
    public var clientIdentity: String?
    public var virtualAddress: String?
    public var childSAs: [ChildSA]

    public init(
        connection: String, ikeVersion: Int, state: IKESAState, role: String, localSPI: String, remoteSPI: String,
        local: String, remote: String, algorithms: String?, natLocal: Bool, natRemote: Bool,
        establishedSecondsAgo: Int64?, rekeyInSeconds: Int64?, childSAs: [ChildSA], lifetimeSeconds: Int64? = nil,
        lifetimeReason: String? = nil
    ) {
        self.lifetimeSeconds = lifetimeSeconds
        self.lifetimeReason = lifetimeReason
        self.connection = connection
        self.ikeVersion = ikeVersion
        self.state = state
        self.role = role
        self.localSPI = localSPI
        self.remoteSPI = remoteSPI
        self.local = local
        self.remote = remote
        self.algorithms = algorithms
        self.natLocal = natLocal
        self.natRemote = natRemote
        self.establishedSecondsAgo = establishedSecondsAgo
        self.rekeyInSeconds = rekeyInSeconds
        self.childSAs = childSAs
    }
}
