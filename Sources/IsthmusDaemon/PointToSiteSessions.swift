import Foundation
import IsthmusCrypto
import IsthmusGateway
import IsthmusIKE
import IsthmusIKEv2
import IsthmusIP
import Synchronization

/// Remote-access clients of a dynamic gateway (`gateway.point_to_site`): every client is an IKE SA of its own
/// under one logical connection, ``connectionName``, answered by an IKEv2 responder whose configuration
/// carries the pool (``IKEv2PointToSite``).
///
/// A first IKE_SA_INIT from an address no site connection claims (``IKESessions``) becomes such a responder.
/// The client's authenticated identity (IDi with a pre-shared key) keys its lease and its duplicates: a client
/// reconnecting replaces its own older IKE SA, never another client's (``DaemonState/replaceOlderClientSAs``).
public enum PointToSiteSessions {
    /// The logical connection of every client in events, `status` and metrics.
    public static let connectionName = "point-to-site"

    /// How a client's CHILD SAs are named to the data plane (the ESP SA's `connection`): per identity, so the
    /// data plane counts each client's traffic on its own (``DataPath`` puts them all on the one interface).
    static func trafficKey(identity: String) -> String { "\(connectionName) \(identity)" }

    /// Whether a data-plane traffic key is a client's (``trafficKey(identity:)``).
    static func isClientTrafficKey(_ key: String) -> Bool { key.hasPrefix(connectionName + " ") }

    /// The networks clients reach: 0.0.0.0/0 for a full tunnel, else this gateway's IPv4 prefixes.
    static func networks(of config: GatewayConfig) -> [IPPrefix] {
        if config.gateway.pointToSite?.fullTunnel == true {
            return [IPPrefix(masking: IPAddress(v4: 0), length: 0)]
        }
        return config.site.prefixes.filter { $0.family == .v4 }
    }

    /// The responder configuration for a client whose first message came from `peer` to `local`; nil when the
    /// gateway offers no point-to-site, has no public address or no way to authenticate itself and its clients.
    /// The gateway proves itself with its certificate (its identity its subject DN) when `auth` lists
    /// `certificate`, or lists `eap-mschapv2` without `psk`, and the gateway has one (`gateway.certificate`): what
    /// Windows and strongSwan EAP clients expect; otherwise with the pre-shared key. Clients then authenticate
    /// with certificates issued under `gateway.certificate_authorities`, the key, or EAP-MSCHAPv2 (a client whose
    /// IKE_AUTH has no AUTH). The gateway's method is chosen before the client's IKE_AUTH shows its own, which is
    /// one reason validation keeps `psk` from being listed with another method.
    /// - Parameter users: the users file's users (``users(of:)``), read once per configuration.
    public static func configuration(
        in config: GatewayConfig, pool: SharedAddressPool, peer: UDPEndpoint, local: UDPEndpoint,
        users: EAPUserDatabase? = nil
    ) -> IKEv2Configuration? {
        guard let p2s = config.gateway.pointToSite, config.gateway.kind == .dynamic,
            let ours = config.gateway.publicAddress
        else { return nil }
        let certificates = config.gateway.certificates
        let credential = certificates.credential?.value
        let byCertificate =
            p2s.authentication.contains(.certificate) && credential != nil && !certificates.authoritiesDER.isEmpty
        let eap = p2s.authentication.contains(.eapMSCHAPv2) && users != nil
        let signsWithCertificate =
            byCertificate || (eap && credential != nil && !p2s.authentication.contains(.psk))
        let key: SecretBytes
        if signsWithCertificate {
            key = SecretBytes([])
        } else if p2s.authentication.contains(.psk) || eap, let shared = p2s.sharedKey {
            key = shared.withMaterial { SecretBytes($0) }
        } else {
            return nil
        }
        let networks = networks(of: config)
        let any = TrafficSelector(prefix: IPPrefix(masking: IPAddress(v4: 0), length: 0))
        var dnsServers: [IPAddress] = []
        if case .virtualNetwork(let network) = config.site { dnsServers = network.dnsServers }
        let lifetimes = Lifetimes.default
        let settings = IKEConnectionSettings(
            connectionName: connectionName, local: local, remote: UDPEndpoint(address: peer.address, port: 500),
            sharedKey: key, ikeProposals: p2s.ike, espProposals: p2s.esp,
            localSelectors: networks.map(TrafficSelector.init(prefix:)), remoteSelectors: [any],
            ikeLifetime: lifetimes.ike, childLifetime: lifetimes.esp, childLifetimeKilobytes: lifetimes.espKilobytes,
            liveness: IKELiveness(interval: .seconds(30), timeout: .seconds(150), action: .clear),
            forceUDPEncapsulation: false)
        var configuration = IKEv2Configuration(
            settings, localIdentity: .address(ours), remoteIdentity: .address(peer.address))
        configuration.pointToSite = IKEv2PointToSite(addresses: pool, dnsServers: dnsServers, networks: networks)
        if signsWithCertificate, let credential {
            configuration.authentication = .certificate(
                local: credential, peers: certificates.verifier, wallClock: { Date() })
            configuration.localIdentity = .distinguishedName(der: credential.subjectDER, text: credential.subjectText)
            configuration.remoteIdentityConfigured = false
            configuration.certificateRequestHashes = IKEv2Authentication.keyHashes(
                ofRootsDER: certificates.authoritiesDER)
        }
        if eap, let users {
            configuration.eapUsers = users
            // A client that sends AUTH (key or certificate) is taken when the gateway offers that method.
            configuration.eapRequired = !byCertificate && !p2s.authentication.contains(.psk)
        }
        return configuration
    }

    /// The users of `eap-mschapv2` (`point_to_site.users_file`), nil when the gateway does not offer it or the
    /// file no longer loads (the configuration check reported why when it was loaded).
    public static func users(of config: GatewayConfig) -> EAPUserDatabase? {
        guard let p2s = config.gateway.pointToSite, p2s.authentication.contains(.eapMSCHAPv2),
            let path = p2s.usersFile
        else { return nil }
        return EAPUsersFile.load(path: path).users
    }
}

/// The daemon's client address pool, kept across reloads: a reload that keeps `address_pool` (and the
/// gateway's own prefixes) keeps every lease; one that changes it reconfigures the same pool, keeping the
/// leases of connected clients so none of their addresses is handed out twice. Shared by the IKE factories and
/// `status`.
public final class ClientAddressPools: Sendable {
    private let current = Mutex<SharedAddressPool?>(nil)

    public init() {}

    /// The pool for `config`'s `point_to_site` (nil when it has none), created when the pool changed.
    public func pool(for config: GatewayConfig) -> SharedAddressPool? {
        guard let p2s = config.gateway.pointToSite else { return nil }
        let excluded = config.site.prefixes
        return current.withLock { current in
            if let existing = current {
                if existing.snapshot.prefix != p2s.addressPool
                    || existing.snapshot.excluded != AddressPool(prefix: p2s.addressPool, excluding: excluded).excluded
                {
                    existing.reconfigure(prefix: p2s.addressPool, excluding: excluded)
                }
                return existing
            }
            let made = SharedAddressPool(AddressPool(prefix: p2s.addressPool, excluding: excluded))
            current = made
            return made
        }
    }

    /// The pool in use, if any.
    public var pool: SharedAddressPool? { current.withLock { $0 } }
}
