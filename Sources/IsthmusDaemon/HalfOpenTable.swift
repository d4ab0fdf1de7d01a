import IsthmusIKEv2
import IsthmusIP

/// Limits on half-open responder SAs (strongSwan: `init_limit_half_open`, `block_threshold`,
/// `cookie_threshold`). An SA is half-open from the peer's first message until it authenticates.
public struct HalfOpenLimits: Sendable, Hashable {
    /// Most half-open SAs at once, separate from the session table (``DaemonOptions/maximumSessions``).
    public var total: Int
    /// Most half-open SAs from one IP address. IKEv2: a request from an address at its limit must carry a
    /// COOKIE; IKEv1 (which has none): the address's oldest half-open SA gives way.
    public var perSource: Int
    /// IKEv2: half-open SAs at which every IKE_SA_INIT request must carry a COOKIE (RFC 7296 section 2.6).
    public var cookieThreshold: Int

    public static let standard = HalfOpenLimits(
        total: 1000, perSource: 5, cookieThreshold: IKEv2CookieChallenge.halfOpenCookieThreshold)

    public init(total: Int, perSource: Int, cookieThreshold: Int) {
        self.total = max(1, total)
        self.perSource = max(1, perSource)
        self.cookieThreshold = max(0, cookieThreshold)
    }
}

/// The dispatcher's half-open SAs, indexed three ways so that nothing on the per-packet path scans the table:
/// by (peer, initiator SPI) for retransmitted first messages, by peer address (oldest first) for the
/// per-source limit, and, for the global limit, the unproven ones oldest first. An SA is "proven" once the
/// peer showed it receives at its address: it used our SPI or cookie (IKEv1 message 3, IKEv2 IKE_AUTH), or it
/// returned an IKEv2 COOKIE.
struct HalfOpenTable {
    /// A half-open SA's key: the peer's address and its initiator SPI (RFC 7296 section 2.1 retransmits).
    struct Key: Hashable {
        var peer: UDPEndpoint
        var initiatorSPI: UInt64
    }

    struct Record {
        var key: Key
        var proven: Bool
        /// The dispatcher's registration order of the session: unique, increasing.
        var order: UInt64
    }

    private(set) var records: [ObjectIdentifier: Record] = [:]
    private var byKey: [Key: ObjectIdentifier] = [:]
    /// Per address, oldest first; at most a few each (the per-source limit).
    private var byAddress: [IPAddress: [ObjectIdentifier]] = [:]
    /// Unproven SAs, oldest first; entries that were proven or removed meanwhile are skipped (and compacted).
    private var unproven: [(id: ObjectIdentifier, order: UInt64)] = []
    private var unprovenHead = 0

    var count: Int { records.count }

    /// How many are not proven.
    private(set) var unprovenCount = 0

    func session(for key: Key) -> ObjectIdentifier? { byKey[key] }

    func count(from address: IPAddress) -> Int { byAddress[address]?.count ?? 0 }

    /// How many half-open SAs from one address are at most (for `status`).
    var largestPerSource: Int { byAddress.values.lazy.map(\.count).max() ?? 0 }

    func isHalfOpen(_ id: ObjectIdentifier) -> Bool { records[id] != nil }

    mutating func insert(_ id: ObjectIdentifier, key: Key, order: UInt64, proven: Bool) {
        guard records[id] == nil, byKey[key] == nil else { return }
        records[id] = Record(key: key, proven: proven, order: order)
        byKey[key] = id
        byAddress[key.peer.address, default: []].append(id)
        if !proven {
            unproven.append((id, order))
            unprovenCount += 1
        }
    }

    /// The peer showed it receives at its address.
    mutating func prove(_ id: ObjectIdentifier) {
        guard records[id]?.proven == false else { return }
        records[id]?.proven = true
        unprovenCount -= 1
    }

    mutating func remove(_ id: ObjectIdentifier) {
        guard let record = records.removeValue(forKey: id) else { return }
        if !record.proven { unprovenCount -= 1 }
        if byKey[record.key] == id { byKey[record.key] = nil }
        let address = record.key.peer.address
        if var ids = byAddress[address] {
            ids.removeAll { $0 == id }
            byAddress[address] = ids.isEmpty ? nil : ids
        }
        compactIfSparse()
    }

    /// The SA that gives way to a new one from `address`: its oldest unproven one, else its oldest.
    func victim(from address: IPAddress) -> ObjectIdentifier? {
        guard let ids = byAddress[address] else { return nil }
        return ids.first { records[$0]?.proven == false } ?? ids.first
    }

    /// The oldest unproven half-open SA of all, if any.
    mutating func oldestUnproven() -> ObjectIdentifier? {
        while unprovenHead < unproven.count {
            let candidate = unproven[unprovenHead]
            if let record = records[candidate.id], record.order == candidate.order, !record.proven {
                return candidate.id
            }
            unprovenHead += 1
        }
        compactIfSparse()
        return nil
    }

    /// Keeps the unproven queue within a constant factor of the table (amortised O(1) per operation).
    private mutating func compactIfSparse() {
        let live = unproven.count - unprovenHead
        guard unprovenHead > 1024 || live > 2 * records.count + 64 else { return }
        unproven = unproven[unprovenHead...].filter { entry in
            records[entry.id].map { $0.order == entry.order && !$0.proven } ?? false
        }
        unprovenHead = 0
    }
}
