import IsthmusDataplane
import IsthmusIKE

/// `status` of the point-to-site clients: the pool and each connected client.
public struct PointToSiteStatus: Sendable, Codable, Hashable {
    /// One connected client (one established IKE SA with a virtual address).
    public struct Client: Sendable, Codable, Hashable {
        /// Its authenticated identity (IDi with a pre-shared key).
        public var identity: String
        public var virtualAddress: String
        /// Where its IKE and ESP come from (its NAT's public address and port, usually).
        public var outerAddress: String
        public var connectedSecondsAgo: Int64?
        /// Its ESP traffic (inner bytes), all its CHILD SAs since the gateway started.
        public var bytesIn: UInt64?
        public var bytesOut: UInt64?
    }

    public var pool: String
    /// Addresses the pool can hand out, and those leased to connected clients.
    public var size: Int
    public var inUse: Int
    /// The interface the clients share.
    public var interface: String?
    public var clients: [Client]
}

extension DaemonState {
    /// The point-to-site section of `status` (nil when the gateway offers none), from the statuses of the
    /// point-to-site IKE SAs.
    func pointToSiteStatus(statuses: [IKESAStatus]) -> PointToSiteStatus? {
        guard let settings = config.gateway.pointToSite else { return nil }
        let pool = options.clientPools.pool?.snapshot ?? AddressPool(prefix: settings.addressPool)
        let traffic = dataplane?.counters.connections ?? [:]
        let clients = statuses.compactMap { status -> PointToSiteStatus.Client? in
            guard status.state != .closed, let identity = status.clientIdentity, let address = status.virtualAddress
            else { return nil }
            let counted = traffic[PointToSiteSessions.trafficKey(identity: identity)]
            return PointToSiteStatus.Client(
                identity: identity, virtualAddress: address, outerAddress: status.remote,
                connectedSecondsAgo: status.establishedSecondsAgo, bytesIn: counted?.bytesIn,
                bytesOut: counted?.bytesOut)
        }.sorted { ($0.virtualAddress, $0.identity) < ($1.virtualAddress, $1.identity) }
        return PointToSiteStatus(
            pool: "\(settings.addressPool)", size: pool.size, inUse: pool.inUse,
            interface: dataPath?.status(of: PointToSiteSessions.connectionName)?.interface, clients: clients)
    }
}
