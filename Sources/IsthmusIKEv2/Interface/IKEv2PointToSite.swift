import IsthmusIKE
import IsthmusIP

/// What a point-to-site responder gives its remote-access clients (RFC 7296 section 3.15): a virtual address
/// from the gateway's pool, DNS servers and the networks reached through the tunnel.
///
/// The pool is injected as a reference (``VirtualAddressLeasing``) rather than returned as an action: the
/// CP(CFG_REPLY) and the CHILD SA's selectors of the very IKE_AUTH response need the address, so the core must
/// have it while it builds that response, and an action would need a second round through the shell. The
/// daemon owns the pool (one for every client's IKE SA) and calls the cores only from its event loop; tests
/// give each core a pool of their own, so a run stays deterministic. The core leases when it answers a
/// client's CFG_REQUEST and releases once when its IKE SA closes, however it closes (delete, liveness,
/// replacement, shutdown).
public struct IKEv2PointToSite: Sendable {
    /// Where client addresses are leased.
    public var addresses: any VirtualAddressLeasing
    /// INTERNAL_IP4_DNS (the virtual network's `dns_servers`; IPv6 ones are not offered).
    public var dnsServers: [IPAddress]
    /// The networks behind the gateway: INTERNAL_IP4_SUBNET each, and the CHILD SA's TSr; `0.0.0.0/0` for a
    /// full tunnel.
    public var networks: [IPPrefix]

    public init(addresses: any VirtualAddressLeasing, dnsServers: [IPAddress], networks: [IPPrefix]) {
        self.addresses = addresses
        self.dnsServers = dnsServers
        self.networks = networks
    }
}

/// A remote-access client of this IKE SA: who authenticated and the virtual address it has. A responder
/// holds the address as a lease of its pool; an initiator that asked for an address records what it got.
struct IKEv2Client: Sendable {
    var identity: String
    var virtualAddress: IPAddress
    /// Whether we leased it (responder): released when the IKE SA closes.
    var leased: Bool
}
