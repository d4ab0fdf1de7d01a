import IsthmusCrypto
import IsthmusGateway
import IsthmusIKEv1
import IsthmusIKEv2
import IsthmusIP
import Synchronization

/// The IKE cores the daemon drives, for every connection of a gateway: an IKEv1 or IKEv2 initiator by the
/// connection's `ike_version`, and a responder by the version in the header of the peer's first message
/// (an ISAKMP Main Mode message 1 or an IKE_SA_INIT request), for the connection that names the peer's
/// address (see ``IKEv1Sessions`` and ``IKEv2Sessions``).
public enum IKESessions {
    /// - Parameter initialContact: which connections have initiated since the daemon started; a reload
    ///   passes the running daemon's ledger so that a reloaded connection does not send INITIAL_CONTACT
    ///   again while the peer may hold SAs it negotiated with us.
    /// - Parameter peers: where remote gateways named by DNS were last resolved (shared with the daemon,
    ///   which resolves them: ``DaemonOptions/peers``).
    /// - Parameter clientPools: the point-to-site address pool (shared with the daemon,
    ///   ``DaemonOptions/clientPools``, so leases outlive a reload).
    public static func factories(
        config: GatewayConfig, ikePort: UInt16 = 500, initialContact: InitialContactLedger = InitialContactLedger(),
        peers: PeerAddressBook = PeerAddressBook(), clientPools: ClientAddressPools = ClientAddressPools()
    )
        -> (makeInitiator: GatewayDaemon.InitiatorFactory, makeResponder: GatewayDaemon.ResponderFactory)
    {
        let v1 = factories(
            version: .v1, config: config, initialContact: initialContact, peers: peers,
            configuration: {
                try IKEv1Sessions.configuration(for: $0, in: config, ikePort: ikePort, peers: peers, peer: $1)
            },
            initiating: { IKEv1Session(initiating: $0, random: SystemRandomNumberGenerator()) },
            responding: { IKEv1Session(responding: $0, random: SystemRandomNumberGenerator()) })
        let v2 = factories(
            version: .v2, config: config, initialContact: initialContact, peers: peers,
            configuration: {
                try IKEv2Sessions.configuration(for: $0, in: config, ikePort: ikePort, peers: peers, peer: $1)
            },
            initiating: { IKEv2Session(initiating: $0, random: SystemRandomNumberGenerator()) },
            responding: { IKEv2Session(responding: $0, random: SystemRandomNumberGenerator()) })
        var versions: [String: IKEVersion] = [:]
        for connection in config.connections where versions[connection.name] == nil {
            versions[connection.name] = connection.ikeVersion
        }
        let makeInitiator: GatewayDaemon.InitiatorFactory = { [versions] name in
            switch versions[name] {
            case .v1?: v1.makeInitiator(name)
            case .v2?: v2.makeInitiator(name)
            case nil: nil
            }
        }
        // A first message no site connection claims: a point-to-site client, when the gateway offers it.
        let pool = clientPools.pool(for: config)
        // The users file is read here, once per configuration (start and reload), not per client.
        let users = PointToSiteSessions.users(of: config)
        let pointToSite: GatewayDaemon.ResponderFactory = { datagram in
            guard let pool,
                let configuration = PointToSiteSessions.configuration(
                    in: config, pool: pool, peer: datagram.source, local: datagram.destination, users: users)
            else { return nil }
            return IKEv2Session(responding: configuration, random: SystemRandomNumberGenerator())
        }
        let makeResponder: GatewayDaemon.ResponderFactory = { datagram in
            switch IKEHeaderPeek(datagram.bytes)?.majorVersion {
            case 1?: v1.makeResponder(datagram)
            case 2?: v2.makeResponder(datagram) ?? pointToSite(datagram)
            default: nil
            }
        }
        return (makeInitiator, makeResponder)
    }
}

extension IKESessions {
    /// One IKE version's factories: an initiator for connection NAME, a responder for a first message from
    /// the peer of a connection of `version`. `configuration` builds a connection's configuration (and
    /// throws when the connection cannot run this version); `initiating` and `responding` make the
    /// version's session from it.
    static func factories<Configuration: IKEConfiguration>(
        version: IKEVersion, config: GatewayConfig, initialContact: InitialContactLedger, peers: PeerAddressBook,
        configuration: @escaping @Sendable (_ connection: String, _ peer: IPAddress?) throws -> Configuration,
        initiating: @escaping @Sendable (Configuration) -> any IKESession,
        responding: @escaping @Sendable (Configuration) -> any IKESession
    ) -> (makeInitiator: GatewayDaemon.InitiatorFactory, makeResponder: GatewayDaemon.ResponderFactory) {
        let makeInitiator: GatewayDaemon.InitiatorFactory = { name in
            guard var configuration = try? configuration(name, nil) else { return nil }
            configuration.sendInitialContact = initialContact.firstInitiation(of: name)
            return initiating(configuration)
        }
        let makeResponder: GatewayDaemon.ResponderFactory = { datagram in
            guard let connection = config.connection(forPeer: datagram.source.address, version: version, peers: peers),
                var configuration = try? configuration(connection.name, datagram.source.address)
            else { return nil }
            // Answer from the address the peer's first message reached.
            configuration.local = datagram.destination
            return responding(configuration)
        }
        return (makeInitiator, makeResponder)
    }
}

/// INITIAL_CONTACT (RFC 7296 2.4; INITIAL-CONTACT in IKEv1, RFC 2407 4.6.3.3) tells the peer we hold no
/// other SA with it: true only for a connection's first initiation since the daemon started (later ones may
/// overlap an SA the peer initiated). One ledger per daemon, shared by every set of factories.
public final class InitialContactLedger: Sendable {
    private let started = Mutex<Set<String>>([])

    public init() {}

    /// True the first time `name` is asked about, false afterwards.
    public func firstInitiation(of name: String) -> Bool {
        started.withLock { $0.insert(name).inserted }
    }
}
