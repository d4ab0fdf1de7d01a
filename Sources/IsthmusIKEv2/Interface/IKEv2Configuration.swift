import IsthmusCrypto
import IsthmusIKE
import IsthmusIP

/// Everything an IKEv2 SA needs to know about its connection; the daemon builds it from the
/// gateway configuration (IsthmusGateway), so this module never sees YAML.
public struct IKEv2Configuration: Sendable {
    /// Liveness (RFC 7296 section 2.4) settings, shared with IKEv1's dead peer detection.
    public typealias Liveness = IKELiveness

    public var connectionName: String
    /// Our address; the peer's address and IKE port.
    public var local: UDPEndpoint
    public var remote: UDPEndpoint
    /// The pre-shared key (RFC 7296 section 2.15).
    public var sharedKey: SecretBytes
    /// Our identity and the one we expect (ID_IPV4_ADDR / ID_IPV6_ADDR of the public addresses).
    public var localIdentity: IPAddress
    public var remoteIdentity: IPAddress
    public var ikeProposals: ProposalList
    public var espProposals: ProposalList
    /// Traffic selectors: our side, their side (route-based: 0.0.0.0/0 both; policy-based: the prefixes).
    public var localSelectors: [TrafficSelector]
    public var remoteSelectors: [TrafficSelector]
    public var ikeLifetime: Duration
    public var childLifetime: Duration
    public var childLifetimeBytes: UInt64?
    /// Nil: no liveness checks.
    public var liveness: Liveness?
    /// Always UDP-encapsulate ESP (and float IKE to 4500) even without NAT.
    public var forceUDPEncapsulation: Bool
    /// Send INITIAL_CONTACT in IKE_AUTH (RFC 7296 2.4): only when we hold no other IKE SA with the peer,
    /// i.e. after a start, since the peer deletes every other SA it has with us on receiving it.
    public var sendInitialContact: Bool = false
    /// Largest IKE message sent whole; larger protected messages are fragmented (RFC 7383) when the
    /// peer announced support.
    public var fragmentSize: Int

    /// strongSwan's default `fragment_size`: fits IPv6's minimum MTU with room for the headers.
    public static let defaultFragmentSize = 1280

    public init(
        connectionName: String, local: UDPEndpoint, remote: UDPEndpoint, sharedKey: SecretBytes,
        localIdentity: IPAddress, remoteIdentity: IPAddress, ikeProposals: ProposalList, espProposals: ProposalList,
        localSelectors: [TrafficSelector], remoteSelectors: [TrafficSelector], ikeLifetime: Duration,
        childLifetime: Duration, childLifetimeBytes: UInt64?, liveness: Liveness?, forceUDPEncapsulation: Bool,
        fragmentSize: Int = IKEv2Configuration.defaultFragmentSize
    ) {
        self.fragmentSize = fragmentSize
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
        self.childLifetimeBytes = childLifetimeBytes
        self.liveness = liveness
        self.forceUDPEncapsulation = forceUDPEncapsulation
    }
}
