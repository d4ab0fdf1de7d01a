import IsthmusCrypto
import IsthmusIP

/// What an IKE connection is configured with, the same for IKEv2 and IKEv1: its ends, the pre-shared key,
/// the proposals, the traffic selectors, our lifetime policy and liveness checks. `IKEv2Configuration` and
/// `IKEv1Configuration` hold one and add their identities and what only their version has; the daemon builds
/// it from the gateway configuration, so no core sees YAML.
public struct IKEConnectionSettings: Sendable {
    public var connectionName: String
    /// Our address and IKE port; the peer's address and IKE port (500; 4500 once NAT-T floated).
    public var local: UDPEndpoint
    public var remote: UDPEndpoint
    /// The pre-shared key (RFC 7296 section 2.15, RFC 2409 section 5.4).
    public var sharedKey: SecretBytes
    /// IKE SA (phase 1) proposals, most preferred first (`aes256-sha256-modp2048`).
    public var ikeProposals: ProposalList
    /// CHILD SA (phase 2) proposals, most preferred first; a DH group in them asks for PFS.
    public var espProposals: ProposalList
    /// Traffic selectors: our side, the peer's (route-based: 0.0.0.0/0 both; policy-based: the prefixes).
    public var localSelectors: [TrafficSelector]
    public var remoteSelectors: [TrafficSelector]
    /// Our IKE SA (ISAKMP SA) lifetime policy.
    public var ikeLifetime: Duration
    /// Our CHILD SA (IPsec SA) lifetime policy: time, and volume in kilobytes (1 KB = 1024 bytes, as IKEv1
    /// negotiates it, RFC 2407 section 4.5).
    public var childLifetime: Duration
    public var childLifetimeKilobytes: UInt64?
    /// Liveness checks (IKEv2, RFC 7296 section 2.4) or dead peer detection (IKEv1, RFC 3706). Nil: none of
    /// ours (we still answer the peer's).
    public var liveness: IKELiveness?
    /// Always UDP-encapsulate ESP (and float IKE to 4500) even without NAT: our NAT detection hash for
    /// ourselves is deliberately wrong, as strongSwan's `encap = yes` does.
    public var forceUDPEncapsulation: Bool
    /// Send INITIAL_CONTACT (RFC 7296 section 2.4, RFC 2407 section 4.6.3.3) when authenticating: only when
    /// we hold no other SA with the peer (the first initiation after a start), since the peer then deletes
    /// every other SA it has with us.
    public var sendInitialContact: Bool = false

    public init(
        connectionName: String, local: UDPEndpoint, remote: UDPEndpoint, sharedKey: SecretBytes,
        ikeProposals: ProposalList, espProposals: ProposalList, localSelectors: [TrafficSelector],
        remoteSelectors: [TrafficSelector], ikeLifetime: Duration, childLifetime: Duration,
        childLifetimeKilobytes: UInt64?, liveness: IKELiveness?, forceUDPEncapsulation: Bool
    ) {
        self.connectionName = connectionName
        self.local = local
        self.remote = remote
        self.sharedKey = sharedKey
        self.ikeProposals = ikeProposals
        self.espProposals = espProposals
        self.localSelectors = localSelectors
        self.remoteSelectors = remoteSelectors
        self.ikeLifetime = ikeLifetime
        self.childLifetime = childLifetime
        self.childLifetimeKilobytes = childLifetimeKilobytes
        self.liveness = liveness
        self.forceUDPEncapsulation = forceUDPEncapsulation
    }
}

/// A version's configuration (`IKEv2Configuration`, `IKEv1Configuration`): the shared ``settings`` plus
/// its own; the settings' members read as the configuration's own (`configuration.local`).
@dynamicMemberLookup
public protocol IKEConfiguration: Sendable {
    var settings: IKEConnectionSettings { get set }
}

extension IKEConfiguration {
    public subscript<Value>(dynamicMember member: WritableKeyPath<IKEConnectionSettings, Value>) -> Value {
        get { settings[keyPath: member] }
        set { settings[keyPath: member] = newValue }
    }
}
