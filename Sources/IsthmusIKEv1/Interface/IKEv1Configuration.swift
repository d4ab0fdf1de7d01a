import IsthmusCrypto
import IsthmusIKE
import IsthmusIP

/// Everything an IKEv1 connection needs to know; the daemon builds it from the gateway configuration
/// (IsthmusGateway) with the initializer below, which mirrors `IKEv2Configuration`'s, so this module
/// never sees YAML. From a `Connection` and its `LocalNetwork`, as `IKEv2Sessions.configuration` does:
/// `local`/`remote` from `gateway.public_address` and the local network's gateway address (port 500),
/// `sharedKey` from `connection.sharedKey`, identities `.address(...)` of those addresses,
/// `ikeProposals`/`espProposals` from `connection.ike`/`.esp`, selectors from the site's and the local
/// network's prefixes, `ikeLifetime`, `childLifetime`, `childLifetimeKilobytes` from
/// `connection.lifetimes` (`ike`, `esp`, `espKilobytes`), `deadPeerDetection` from `connection.dpd`
/// (nil for action none) and `forceUDPEncapsulation` for `nat_traversal: force`.
public struct IKEv1Configuration: Sendable {
    /// A phase 1 identity (RFC 2407 section 4.6.2.1): ID_IPV4_ADDR / ID_IPV6_ADDR or ID_FQDN.
    public enum Identity: Sendable, Hashable, CustomStringConvertible {
        case address(IPAddress)
        case fqdn(String)

        public var description: String {
            switch self {
            case .address(let address): "\(address)"
            case .fqdn(let name): name
            }
        }
    }

    /// Dead peer detection (RFC 3706), the same settings as IKEv2's liveness checks.
    public typealias DeadPeerDetection = IKELiveness

    public var connectionName: String
    /// Our address and IKE port; the peer's address and IKE port (500; 4500 after NAT-T floated).
    public var local: UDPEndpoint
    public var remote: UDPEndpoint
    /// The pre-shared key (RFC 2409 section 5.4).
    public var sharedKey: SecretBytes
    /// Our phase 1 identity and the one we expect from the peer.
    public var localIdentity: Identity
    public var remoteIdentity: Identity
    /// Phase 1 proposals (`aes256-sha256-modp2048`), most preferred first.
    public var ikeProposals: ProposalList
    /// Phase 2 proposals (`aes256-sha256`, with a DH group for PFS), most preferred first. PFS uses the
    /// first DH group named; all proposals then carry it (one KE payload per Quick Mode).
    public var espProposals: ProposalList
    /// Our prefixes and the peer's: one Quick Mode SA per (local, remote) pair (policy-based).
    public var localSelectors: [TrafficSelector]
    public var remoteSelectors: [TrafficSelector]
    /// Our ISAKMP SA lifetime policy (seconds), and optionally in kilobytes.
    public var ikeLifetime: Duration
    public var ikeLifetimeKilobytes: UInt64?
    /// Our IPsec SA lifetime policy: seconds, and kilobytes (1 KB = 1024 bytes, RFC 2407 section 4.5).
    public var childLifetime: Duration
    public var childLifetimeKilobytes: UInt64?
    /// Nil: no R-U-THERE of ours (we still answer the peer's).
    public var deadPeerDetection: DeadPeerDetection?
    /// Always UDP-encapsulate ESP (and float IKE to 4500) even without NAT: our NAT-D hash for
    /// ourselves is deliberately wrong, as strongSwan's `encap = yes` does.
    public var forceUDPEncapsulation: Bool
    /// Send INITIAL-CONTACT in Main Mode message 5 (RFC 2407 section 4.6.3.3): only when we hold no other
    /// SA with the peer (the first initiation after a start).
    public var sendInitialContact: Bool = false
    /// Aggressive Mode sends a hash of the PSK in the clear that can be cracked offline; it is refused
    /// (with a log line naming the reason) whatever this says: this core does not implement it.
    public var allowAggressiveMode: Bool = false
    /// Tests only: behave like racoon and ignore the peer's RESPONDER-LIFETIME notifications.
    var ignoresResponderLifetime = false

    /// The IKEv1 configuration of a connection. Parameters mirror `IKEv2Configuration`; lifetimes in
    /// bytes are given in kilobytes as IKEv1 negotiates them.
    public init(
        connectionName: String, local: UDPEndpoint, remote: UDPEndpoint, sharedKey: SecretBytes,
        localIdentity: Identity, remoteIdentity: Identity, ikeProposals: ProposalList, espProposals: ProposalList,
        localSelectors: [TrafficSelector], remoteSelectors: [TrafficSelector], ikeLifetime: Duration,
        childLifetime: Duration, childLifetimeKilobytes: UInt64?, deadPeerDetection: DeadPeerDetection?,
        forceUDPEncapsulation: Bool
    ) {
        self.connectionName = connectionName
        self.local = local
        self.remote = remote
        self.sharedKey = sharedKey
        self.localIdentity = localIdentity
        self.remoteIdentity = remoteIdentity
        self.ikeProposals = ikeProposals
        self.espProposals = espProposals
        self.localSelectors = localSelectors
        self.remoteSelectors = remoteSelectors
        self.ikeLifetime = ikeLifetime
        self.childLifetime = childLifetime
        self.childLifetimeKilobytes = childLifetimeKilobytes
        self.deadPeerDetection = deadPeerDetection
        self.forceUDPEncapsulation = forceUDPEncapsulation
    }

    /// The (local, remote) selector pairs, one Quick Mode SA each, in configuration order.
    public var selectorPairs: [SelectorPair] {
        localSelectors.flatMap { local in
            remoteSelectors.filter { $0.family == local.family }.map { SelectorPair(local: local, remote: $0) }
        }
    }
}

/// One policy: our side's selector and the peer's, negotiated as IDci/IDcr of one Quick Mode.
public struct SelectorPair: Sendable, Hashable, CustomStringConvertible {
    public var local: TrafficSelector
    public var remote: TrafficSelector

    public init(local: TrafficSelector, remote: TrafficSelector) {
        self.local = local
        self.remote = remote
    }

    public var description: String { "\(local) <=> \(remote)" }
}
