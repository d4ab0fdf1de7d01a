import IsthmusCrypto
import IsthmusIKE
import IsthmusIP

/// The far end of one of our connections, described from its own point of view: what `isthmus export`
/// turns into a strongSwan, libreswan or router configuration.
///
/// The mirror of a connection: the peer's own address and prefixes are our local network's, its remote
/// endpoint and remote prefixes are ours. Identities are the two public addresses (Isthmus sends and
/// expects IP address identities, `ID_IPV4_ADDR`/`ID_IPV6_ADDR`). Proposals, lifetimes, the IKE version
/// and NAT-T are ours unchanged, since both ends must agree on them.
public struct PeerSide: Sendable, Hashable {
    /// Our connection's name; also the name of the peer's connection (so logs on both sides match).
    public var connectionName: String
    public var ikeVersion: IKEVersion
    /// Our connection's kind. The peer is policy-based either way: it proposes its prefixes against ours.
    public var kind: GatewayKind
    /// The peer's own public address (our local network's `gateway_address`): its local address and identity.
    public var localAddress: IPAddress
    /// Our public address: the peer's remote endpoint and remote identity.
    public var remoteAddress: IPAddress
    /// The prefixes behind the peer (our local network's `prefixes`).
    public var localPrefixes: [IPPrefix]
    /// The prefixes behind us (our site's prefixes, a virtual network's address spaces).
    public var remotePrefixes: [IPPrefix]
    public var ike: ProposalList
    public var esp: ProposalList
    public var lifetimes: Lifetimes
    /// The peer's liveness checks (see ``init(mirroring:in:)``).
    public var deadPeerDetection: DeadPeerDetection
    public var natTraversal: NATTraversalMode
    /// The pre-shared key; nil when the export leaves it out (`--no-key`).
    public var sharedKey: SharedKey?
    /// How the two ends authenticate; with certificates, the identities each end presents: the peer's
    /// (our `remote_id`, nil: its certificate's subject) and ours (our `local_id`, else our certificate's
    /// subject DN).
    public var authentication = ConnectionAuthentication.psk
    public var peerIdentity: IKEIdentity?
    public var ourIdentity: IKEIdentity?
    /// The peer's BGP over the tunnel (nil: the connection runs none).
    public var bgp: PeerBGP?
    /// A route-based libreswan peer's XFRM interface number (`ipsec-interface=N`, interface `ipsecN`): 1, or
    /// one per tunnel in a pair's export.
    public var ipsecInterface = 1

    /// Our gateway's name and our name for the peer (the local network), for headers.
    public var ourGatewayName: String
    public var peerName: String

    /// The peer of connection `name` in `config`.
    ///
    /// Liveness: the peer always checks, every `dpd.interval` and gives up after `dpd.timeout`, then
    /// re-initiates (`restart`). Our `dpd.action` says what *we* do; whatever it is, the peer's checks
    /// are what bring the tunnel back from its side (with `action: clear` or `none` we wait for the peer,
    /// as the cloud's static gateway does).
    public init(mirroring name: String, in config: GatewayConfig, includeKey: Bool = true) throws(ExportProblem) {
        guard let connection = config.connections.first(where: { $0.name == name }) else {
            let known = config.connections.map { "'\($0.name)'" }.joined(separator: ", ")
            throw ExportProblem(
                field: nil, message: "no connection named '\(name)'; this configuration has \(known)")
        }
        guard let remote = config.localNetwork(named: connection.localNetwork) else {
            throw ExportProblem(
                field: .connection(name, "local_network"),
                message: "connection '\(name)' leads to no local network '\(connection.localNetwork)'")
        }
        guard let ourAddress = config.gateway.publicAddress else {
            throw ExportProblem(
                field: .gateway("public_address"),
                message: "gateway.public_address is not set, and the peer needs it as its remote endpoint "
                    + "and remote identity",
                fix: "set gateway.public_address to this gateway's public IP address")
        }
        guard let peerAddress = remote.gatewayAddress else {
            throw ExportProblem(
                field: .connection(name, "local_network"),
                message: "local network '\(remote.name)' names its gateway by the DNS name \(remote.gateway); the "
                    + "export writes the peer's own address and identity, which a name does not give",
                fix: "configure that device by hand, or export from a configuration with its current address")
        }
        let families = Set([ourAddress.family, peerAddress.family])
        guard families.count == 1 else {
            throw ExportProblem(
                field: .gateway("public_address"),
                message: "our public address \(ourAddress) and the peer's \(peerAddress) are of "
                    + "different IP versions", fix: "give both gateways addresses of the same IP version")
        }
        connectionName = connection.name
        ikeVersion = connection.ikeVersion
        kind = connection.kind
        localAddress = peerAddress
        remoteAddress = ourAddress
        localPrefixes = remote.prefixes
        remotePrefixes = config.site.prefixes
        ike = connection.ike
        esp = connection.esp
        lifetimes = connection.lifetimes
        let ours = connection.deadPeerDetection
        deadPeerDetection = DeadPeerDetection(interval: ours.interval, timeout: ours.timeout, action: .restart)
        natTraversal = connection.natTraversal
        sharedKey = includeKey && connection.authentication == .psk ? connection.sharedKey : nil
        authentication = connection.authentication
        if authentication == .certificate {
            peerIdentity = connection.remoteIdentity
            ourIdentity =
                connection.localIdentity
                ?? config.gateway.certificates.credential.map {
                    .distinguishedName(der: $0.value.subjectDER, text: $0.value.subjectText)
                }
        }
        ourGatewayName = config.gateway.name
        peerName = remote.name
        bgp = PeerBGP(mirroring: connection, in: config)
    }

    /// Every pair of the peer's and our prefixes of the same IP version: one IKEv1 Quick Mode (one
    /// IPsec SA pair) each, as Isthmus's static connections negotiate them.
    public var selectorPairs: [(local: IPPrefix, remote: IPPrefix)] {
        localPrefixes.flatMap { local in
            remotePrefixes.filter { $0.family == local.family }.map { (local: local, remote: $0) }
        }
    }

    /// Whether the ESP proposals ask for perfect forward secrecy (a DH group in a proposal).
    public var espUsesPFS: Bool { esp.proposals.contains { !$0.keyExchange.isEmpty } }

    /// When a peer should start rekeying an SA of lifetime `lifetime` so the new SA is in place before
    /// the old one expires: at 90 %. Isthmus rekeys its own SAs 10-15 % early; both stay within the lifetime.
    public static func rekeyPoint(_ lifetime: Duration) -> Int64 { lifetime.wholeSeconds * 9 / 10 }
}

/// A setting the device cannot express, or something missing from our configuration, with the field of
/// our configuration to change. Never contains the key.
public struct ExportProblem: Error, Sendable, Hashable, CustomStringConvertible {
    /// A field of our configuration: where to change it.
    public enum Field: Sendable, Hashable {
        /// `gateway.KEY`
        case gateway(String)
        /// `KEY` of connection NAME.
        case connection(String, String)

        /// The human name: `gateway.public_address`, `connection 'cloud-office' esp`.
        public var description: String {
            switch self {
            case .gateway(let key): "gateway.\(key)"
            case .connection(let name, let key): "connection '\(name)' \(key)"
            }
        }
    }

    public var field: Field?
    public var message: String
    public var fix: String?

    public init(field: Field?, message: String, fix: String? = nil) {
        self.field = field
        self.message = message
        self.fix = fix
    }

    public var description: String {
        var text = message
        if let fix { text += "\n    fix: \(fix)" }
        return text
    }

    /// As a positioned diagnostic of `file`, at the field's line when the loader recorded it.
    public func diagnostic(file: String, config: GatewayConfig, positions: [String: SourceLocation]) -> Diagnostic {
        var location = SourceLocation.start
        switch field {
        case .gateway(let key):
            location = positions["gateway.\(key)"] ?? positions["gateway"] ?? .start
        case .connection(let name, let key):
            if let index = config.connections.firstIndex(where: { $0.name == name }) {
                let path = "connections[\(index)]"
                location = positions["\(path).\(key)"] ?? positions["\(path).name"] ?? positions[path] ?? .start
            }
        case nil:
            break
        }
        return Diagnostic(.error, file: file, at: location, message, fix: fix)
    }
}
