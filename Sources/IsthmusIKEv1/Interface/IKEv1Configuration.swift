import IsthmusCrypto
import IsthmusIKE
import IsthmusIP

/// Everything an IKEv1 connection needs to know: the settings every IKE connection has
/// (``IKEConnectionSettings``, whose members read as this type's own: `configuration.local`), its phase 1
/// identities, and what only IKEv1 has. The daemon builds it from the gateway configuration (IsthmusGateway)
/// as it builds `IKEv2Configuration`, so this module never sees YAML: identities `.address(...)` of our
/// public address and the local network's gateway address, selectors from the site's and the local network's
/// prefixes (policy-based: one Quick Mode per pair).
public struct IKEv1Configuration: IKEConfiguration {
    /// A phase 1 identity (RFC 2407 section 4.6.2.1): ID_IPV4_ADDR / ID_IPV6_ADDR, ID_FQDN, ID_USER_FQDN or
    /// ID_KEY_ID, as IKEv2 has them.
    public typealias Identity = IKEIdentity

    /// What IKEv1 shares with IKEv2. `liveness` is dead peer detection (RFC 3706); `localSelectors` and
    /// `remoteSelectors` pair up into one Quick Mode SA each (``selectorPairs``); `espProposals` asks for
    /// PFS with the first DH group it names, which all proposals then carry (one KE payload per Quick Mode).
    public var settings: IKEConnectionSettings
    /// Our phase 1 identity and the one we expect from the peer.
    public var localIdentity: Identity
    public var remoteIdentity: Identity
    /// Our ISAKMP SA lifetime policy in kilobytes, besides `settings.ikeLifetime`.
    public var ikeLifetimeKilobytes: UInt64?
    /// Aggressive Mode sends a hash of the PSK in the clear that can be cracked offline; it is refused
    /// (with a log line naming the reason) whatever this says: this core does not implement it.
    public var allowAggressiveMode: Bool = false
    /// Tests only: behave like racoon and ignore the peer's RESPONDER-LIFETIME notifications.
    var ignoresResponderLifetime = false

    /// The IKEv1 configuration of a connection with `settings`.
    public init(_ settings: IKEConnectionSettings, localIdentity: Identity, remoteIdentity: Identity) {
        self.settings = settings
        self.localIdentity = localIdentity
        self.remoteIdentity = remoteIdentity
    }

    /// The (local, remote) selector pairs, one Quick Mode SA each, in configuration order.
    public var selectorPairs: [SelectorPair] {
        settings.localSelectors.flatMap { local in
            settings.remoteSelectors.filter { $0.family == local.family }.map { SelectorPair(local: local, remote: $0) }
        }
    }
}

/// One policy: our side's selector and the peer's, negotiated as IDci/IDcr of one Quick Mode.
public struct SelectorPair: Sendable, Hashable, CustomStringConvertible {
    public var local: TrafficSelector
    public var remote: TrafficSelector

    public var description: String { "\(local) <=> \(remote)" }
}
