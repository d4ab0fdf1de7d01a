import IsthmusCrypto
import IsthmusGateway
import IsthmusIKEv2
import IsthmusIP

/// The IKEv2 configurations of a gateway's connections: the translation from the network model
/// (sites, local networks, connections) to what one IKE SA needs. ``IKESessions`` makes the cores.
public enum IKEv2Sessions {
    /// The IKEv2 configuration of connection `name`.
    ///
    /// Traffic selectors: a static (policy-based) connection proposes this site's prefixes against the
    /// remote site's; a dynamic (route-based) one proposes 0.0.0.0/0 (and ::/0) both ways and lets the
    /// peer narrow, as route-based cloud gateways do (RFC 7296 section 2.9).
    /// - Parameter peer: the address a responder's first message came from (the peer of a connection whose
    ///   gateway is `any` is wherever it is); nil for an initiator.
    public static func configuration(
        for name: String, in config: GatewayConfig, ikePort: UInt16 = 500, peers: PeerAddressBook = PeerAddressBook(),
        peer: IPAddress? = nil
    ) throws -> IKEv2Configuration {
        let (connection, remote, localAddress, remoteAddress) = try config.ikeEnds(
            of: name, version: .v2, peers: peers, peer: peer)
        var settings = config.ikeSettings(
            of: connection, remote: remote, at: remoteAddress, localAddress: localAddress, ikePort: ikePort)
        if connection.kind == .dynamic {
            let families = Set(config.site.prefixes.map(\.family) + remote.prefixes.map(\.family))
            let any = families.sorted { $0 == .v4 && $1 == .v6 }.map(anySelector)
            settings.localSelectors = any
            settings.remoteSelectors = any
        }
        var configuration = IKEv2Configuration(
            settings, localIdentity: connection.localIdentity ?? .address(localAddress),
            remoteIdentity: connection.remoteIdentity ?? .address(remoteAddress), fragmentSize: connection.fragmentSize)
        try configuration.authenticate(as: connection, gateway: config.gateway)
        return configuration
    }

    private static func anySelector(_ family: IPFamily) -> TrafficSelector {
        let zero = IPAddress(family: family, value: 0)
        return TrafficSelector(prefix: IPPrefix(masking: zero, length: 0))
    }
}

extension GatewayConfig {
    /// Connection `name`, the local network it leads to and our IKE identity (the gateway's public address),
    /// when the connection runs IKE `version`; otherwise a ``DaemonError/Code/unusableConnection`` saying why.
    func ikeEnds(of name: String, version: IKEVersion, peers: PeerAddressBook, peer: IPAddress?) throws(DaemonError)
        -> (connection: Connection, remote: LocalNetwork, localAddress: IPAddress, remoteAddress: IPAddress)
    {
        guard let connection = connections.first(where: { $0.name == name }) else {
            throw .unusableConnection("no connection named \(name)")
        }
        guard connection.ikeVersion == version else {
            throw .unusableConnection("connection \(name) uses \(connection.ikeVersion)")
        }
        guard let remote = localNetwork(named: connection.localNetwork) else {
            throw .unusableConnection("connection \(name) leads to unknown local network \(connection.localNetwork)")
        }
        guard let localAddress = gateway.publicAddress else {
            throw .unusableConnection("gateway.public_address is needed to run IKE (it is our IKE identity)")
        }
        guard let remoteAddress = peer ?? peers.address(of: remote.gateway) else {
            if remote.gateway == .any {
                throw .unusableConnection(
                    "local network \(remote.name) has its gateway at any address: the connection waits for the peer")
            }
            throw .unusableConnection(
                "the gateway of local network \(remote.name), \(remote.gateway), is not resolved yet")
        }
        return (connection, remote, localAddress, remoteAddress)
    }
}

extension GatewayConfig {
    /// What the IKEv2 and IKEv1 configurations of `connection` share: its ends (our public address on
    /// `ikePort`, the gateway of the local network `remote` at `remoteAddress` on 500), key, proposals,
    /// `lifetimes` (`ike`, `esp`, `espKilobytes`), `dpd` (nil for action none) and `nat_traversal: force`;
    /// traffic selectors are this site's prefixes and the local network's (policy-based).
    func ikeSettings(
        of connection: Connection, remote: LocalNetwork, at remoteAddress: IPAddress, localAddress: IPAddress,
        ikePort: UInt16
    ) -> IKEConnectionSettings {
        IKEConnectionSettings(
            connectionName: connection.name,
            local: UDPEndpoint(address: localAddress, port: ikePort),
            remote: UDPEndpoint(address: remoteAddress, port: 500),
            sharedKey: connection.sharedKey.withMaterial { SecretBytes($0) },
            ikeProposals: connection.ike, espProposals: connection.esp,
            localSelectors: site.prefixes.map(TrafficSelector.init(prefix:)),
            remoteSelectors: remote.prefixes.map(TrafficSelector.init(prefix:)),
            ikeLifetime: connection.lifetimes.ike, childLifetime: connection.lifetimes.esp,
            childLifetimeKilobytes: connection.lifetimes.espKilobytes,
            liveness: IKELiveness(connection.deadPeerDetection),
            forceUDPEncapsulation: connection.natTraversal == .force)
    }
}

extension IKELiveness {
    /// The cores' liveness settings for a connection's `dpd:` (nil: `action: none`, no checks).
    init?(_ dpd: DeadPeerDetection) {
        switch dpd.action {
        case .none: return nil
        case .restart: self.init(interval: dpd.interval, timeout: dpd.timeout, action: .restart)
        case .clear: self.init(interval: dpd.interval, timeout: dpd.timeout, action: .clear)
        }
    }
}
