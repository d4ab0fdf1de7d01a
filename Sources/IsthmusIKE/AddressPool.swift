import IsthmusIP
import Synchronization

/// Why a pool handed out no address.
public enum AddressPoolError: Error, Sendable, Hashable, CustomStringConvertible {
    /// Every usable address of the pool is leased to a client that is connected.
    case exhausted(pool: IPPrefix, size: Int)
    /// A client asked (CFG_REQUEST) for an address the pool never hands out: outside it, its network or
    /// broadcast address, or one of the gateway's own. The request is refused; the pool chooses instead.
    case notInPool(requested: IPAddress, pool: IPPrefix)

    public var description: String {
        switch self {
        case .exhausted(let pool, let size):
            "the address pool \(pool) is exhausted: all \(size) usable addresses are leased to connected clients"
        case .notInPool(let requested, let pool):
            "the requested address \(requested) is not one the address pool \(pool) hands out"
        }
    }
}

/// The virtual addresses of point-to-site clients (RFC 7296 section 3.15, INTERNAL_IP4_ADDRESS): pure, no
/// clock, deterministic.
///
/// Leases are keyed by the client's authenticated identity (IDi for a pre-shared key, the certificate's
/// subject or the EAP user name once those methods authenticate; the caller decides which), as strongSwan's
/// memory pool does:
/// - An address is online for at most one identity at every moment.
/// - An identity that returns gets its previous address back while no other identity has taken it
///   (sticky); an identity connected twice (a client replacing its IKE SA) shares its one address, counted, and
///   the address goes offline when the last of its IKE SAs releases it.
/// - A requested address (the client's CFG_REQUEST) is honoured only when it is usable, not online and not
///   remembered for another identity; otherwise the pool chooses.
/// - The pool chooses a never-used address first, then the one that went offline longest ago (its previous
///   identity forgets it); with none, ``AddressPoolError/exhausted(pool:size:)``.
/// - The network and broadcast addresses (IPv4 prefixes up to /30) and every address inside an `excluded`
///   prefix (the gateway's own networks, should they overlap) are never handed out.
public struct AddressPool: Sendable {
    /// The pool as configured.
    public let prefix: IPPrefix
    /// Prefixes never handed out (clipped to the pool).
    public let excluded: [IPPrefix]
    /// How many addresses the pool can hand out.
    public let size: Int

    private struct Online: Sendable {
        var identity: String
        var count: Int
    }

    /// Online addresses and who holds them.
    private var online: [IPAddress: Online] = [:]
    /// Each identity's last address (online or offline).
    private var remembered: [String: IPAddress] = [:]
    /// Who each remembered address belongs to (the inverse of `remembered`).
    private var owners: [IPAddress: String] = [:]
    /// Offline remembered addresses, oldest release first.
    private var offline: [IPAddress] = []
    /// Offset of the next never-used candidate from the pool's first address.
    private var freshCursor: UInt128 = 0

    /// A pool handing out the addresses of `prefix`, except those of `excluded`.
    public init(prefix: IPPrefix, excluding excluded: [IPPrefix] = []) {
        self.prefix = prefix
        let clipped = excluded.compactMap { other -> IPPrefix? in
            if prefix.contains(other) { return other }
            if other.contains(prefix) { return prefix }
            return nil
        }
        // Prefixes are nested or disjoint: keep the outermost ones.
        let outer = clipped.filter { candidate in
            !clipped.contains { $0 != candidate && $0.contains(candidate) }
        }
        var unique: [IPPrefix] = []
        for item in outer where !unique.contains(item) { unique.append(item) }
        self.excluded = unique
        let bits = prefix.family.bitWidth - prefix.length
        let total: UInt128 = bits >= 127 ? UInt128.max : UInt128(1) << UInt128(bits)
        var usable = total
        for item in unique {
            let itemBits = item.family.bitWidth - item.length
            usable -= itemBits >= 127 ? usable : min(usable, UInt128(1) << UInt128(itemBits))
        }
        for special in Self.special(of: prefix) where !unique.contains(where: { $0.contains(special) }) {
            usable -= min(usable, 1)
        }
        self.size = usable > UInt128(Int.max) ? Int.max : Int(usable)
    }

    /// The network and broadcast addresses of an IPv4 prefix of length 30 or less.
    private static func special(of prefix: IPPrefix) -> [IPAddress] {
        guard prefix.family == .v4, prefix.length <= 30 else { return [] }
        return [prefix.network, prefix.lastAddress]
    }

    /// Whether the pool may hand out `address` at all.
    public func isUsable(_ address: IPAddress) -> Bool {
        prefix.contains(address) && !Self.special(of: prefix).contains(address)
            && !excluded.contains { $0.contains(address) }
    }

    /// Why a client's requested address cannot be honoured whatever the leases (``AddressPoolError/notInPool``),
    /// nil when the pool could hand it out. 0.0.0.0 is no request ("any address", as some clients send it).
    public func refusal(ofRequested requested: IPAddress) -> AddressPoolError? {
        if requested.family == .v4, requested == IPAddress(v4: 0) { return nil }
        return isUsable(requested) ? nil : .notInPool(requested: requested, pool: prefix)
    }

    /// A pool of `prefix` that keeps the online leases of `old`, for a reload that changed the pool: connected
    /// clients keep their addresses (inside the new pool or not), none of them is handed out again while held,
    /// and one outside the new pool is forgotten when its client goes.
    public init(prefix: IPPrefix, excluding excluded: [IPPrefix] = [], keeping old: AddressPool) {
        self.init(prefix: prefix, excluding: excluded)
        for (address, holder) in old.online {
            online[address] = holder
            remembered[holder.identity] = address
            owners[address] = holder.identity
        }
    }

    /// How many addresses are online.
    public var inUse: Int { online.count }

    /// The identity holding `address` now, nil when it is not online.
    public func holder(of address: IPAddress) -> String? { online[address]?.identity }

    /// The online addresses and their identities, in address order.
    public var leases: [(address: IPAddress, identity: String)] {
        online.map { ($0.key, $0.value.identity) }.sorted { $0.address < $1.address }
    }

    /// Leases an address to `identity` (see the type's rules).
    public mutating func lease(to identity: String, requested: IPAddress? = nil) -> Result<IPAddress, AddressPoolError>
    {
        if let previous = remembered[identity] {
            if var holder = online[previous] {
                holder.count += 1
                online[previous] = holder
            } else {
                offline.removeAll { $0 == previous }
                online[previous] = Online(identity: identity, count: 1)
            }
            return .success(previous)
        }
        if let requested, isUsable(requested), online[requested] == nil, owners[requested] == nil {
            take(requested, for: identity)
            return .success(requested)
        }
        if let fresh = nextFresh() {
            take(fresh, for: identity)
            return .success(fresh)
        }
        if !offline.isEmpty {
            let reclaimed = offline.removeFirst()
            if let previousOwner = owners[reclaimed] { remembered[previousOwner] = nil }
            take(reclaimed, for: identity)
            return .success(reclaimed)
        }
        return .failure(.exhausted(pool: prefix, size: size))
    }

    /// Releases one lease of `address` by `identity` (an IKE SA of the client closed); the address goes
    /// offline, still remembered for the identity, when no other IKE SA of it holds it. A release by anyone
    /// but the holder changes nothing.
    public mutating func release(_ address: IPAddress, of identity: String) {
        guard var holder = online[address], holder.identity == identity else { return }
        holder.count -= 1
        if holder.count > 0 {
            online[address] = holder
        } else if isUsable(address) {
            online[address] = nil
            offline.append(address)
        } else {
            // Kept from an earlier pool (``init(prefix:excluding:keeping:)``): never handed out again.
            online[address] = nil
            owners[address] = nil
            remembered[identity] = nil
        }
    }

    private mutating func take(_ address: IPAddress, for identity: String) {
        if let previousOwner = owners[address] { remembered[previousOwner] = nil }
        remembered[identity] = address
        owners[address] = identity
        online[address] = Online(identity: identity, count: 1)
    }

    /// The next address never handed out, walking the pool once.
    private mutating func nextFresh() -> IPAddress? {
        let bits = prefix.family.bitWidth - prefix.length
        let total: UInt128 = bits >= 127 ? UInt128.max : UInt128(1) << UInt128(bits)
        while freshCursor < total {
            let candidate = IPAddress(family: prefix.family, value: prefix.network.value + freshCursor)
            freshCursor += 1
            guard isUsable(candidate) else {
                // Skip a whole excluded prefix at once (an excluded /8 in a /7 pool must not take 2^24 steps).
                if let block = excluded.first(where: { $0.contains(candidate) }) {
                    freshCursor = max(freshCursor, block.lastAddress.value - prefix.network.value + 1)
                }
                continue
            }
            if online[candidate] == nil, owners[candidate] == nil { return candidate }
        }
        return nil
    }
}

/// Where a point-to-site responder leases its client's virtual address: the daemon's one pool, shared by every
/// client's IKE SA (``SharedAddressPool``), or a test's.
public protocol VirtualAddressLeasing: AnyObject, Sendable {
    /// Leases an address to `identity`, preferring `requested` (``AddressPool/lease(to:requested:)``).
    func lease(to identity: String, requested: IPAddress?) -> Result<IPAddress, AddressPoolError>
    /// Gives one lease back (``AddressPool/release(_:of:)``).
    func release(_ address: IPAddress, of identity: String)
    /// Why a requested address cannot be honoured (``AddressPool/refusal(ofRequested:)``).
    func refusal(ofRequested requested: IPAddress) -> AddressPoolError?
}

/// The daemon's address pool, shared by every point-to-site IKE SA: an ``AddressPool`` behind a lock. The
/// daemon calls the cores from its one event loop, so the lock is never contended; it makes the type
/// `Sendable` without trusting that. It outlives reloads that keep the pool's prefix.
public final class SharedAddressPool: VirtualAddressLeasing {
    private let pool: Mutex<AddressPool>

    public init(_ pool: AddressPool) { self.pool = Mutex(pool) }

    /// A snapshot of the pool (for `status` and metrics).
    public var snapshot: AddressPool { pool.withLock { $0 } }

    public func lease(to identity: String, requested: IPAddress?) -> Result<IPAddress, AddressPoolError> {
        pool.withLock { $0.lease(to: identity, requested: requested) }
    }

    public func release(_ address: IPAddress, of identity: String) {
        pool.withLock { $0.release(address, of: identity) }
    }

    /// The pool becomes `prefix` (a reload changed it), keeping every online lease
    /// (``AddressPool/init(prefix:excluding:keeping:)``): the clients hold this same object, so their releases
    /// still arrive.
    public func reconfigure(prefix: IPPrefix, excluding excluded: [IPPrefix]) {
        pool.withLock { $0 = AddressPool(prefix: prefix, excluding: excluded, keeping: $0) }
    }

    public func refusal(ofRequested requested: IPAddress) -> AddressPoolError? {
        pool.withLock { $0.refusal(ofRequested: requested) }
    }
}
