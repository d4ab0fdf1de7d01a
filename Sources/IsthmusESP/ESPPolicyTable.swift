import IsthmusIP

/// The SPD (RFC 4301 section 4.4.1): entries in installation order, the first whose selectors cover a packet
/// wins. Finding it does not scan every entry.
///
/// An entry whose remote selectors are all single addresses (a point-to-site client's `/32`, a host-to-host
/// tunnel) is filed under each of those addresses; the others (networks, as site-to-site connections have) are
/// scanned in order. A packet's entry is the earlier of the first scanned entry that covers it and the first
/// entry filed under its destination that covers it: exactly what a scan of the whole SPD in order would find,
/// but 10,000 point-to-site clients cost one hash lookup per packet instead of up to 10,000 comparisons.
struct ESPPolicyTable {
    /// Entries by interface and selectors, so that installing and removing a pair finds its entry by hash.
    private var byKey: [ESPPolicyKey: ESPPolicyEntry] = [:]
    /// Host entries under each of their remote addresses, in installation order.
    private var byRemoteHost: [IPAddress: [ESPPolicyEntry]] = [:]
    /// The other entries, in installation order.
    private var scanned: [ESPPolicyEntry] = []
    private var nextOrder: UInt64 = 0

    /// Files `pair` under the entry for its interface and selectors, made at the end of the SPD when none has
    /// exactly these; a pair added to an existing entry becomes its newest.
    mutating func add(_ pair: ESPSAPair) {
        let key = ESPPolicyKey(pair)
        if let entry = byKey[key] {
            entry.pairs.append(pair)
            return
        }
        nextOrder += 1
        let entry = ESPPolicyEntry(pair, order: nextOrder)
        byKey[key] = entry
        if let hosts = Self.remoteHosts(entry.remoteSelectors) {
            for host in hosts { byRemoteHost[host, default: []].append(entry) }
        } else {
            scanned.append(entry)
        }
    }

    /// Takes `pair` out of its entry; the entry goes when it has no pair left.
    mutating func remove(_ pair: ESPSAPair) {
        let key = ESPPolicyKey(pair)
        guard let entry = byKey[key] else { return }
        entry.pairs.removeAll { $0 === pair }
        guard entry.pairs.isEmpty else { return }
        byKey[key] = nil
        if let hosts = Self.remoteHosts(entry.remoteSelectors) {
            for host in hosts {
                byRemoteHost[host]?.removeAll { $0 === entry }
                if byRemoteHost[host]?.isEmpty == true { byRemoteHost[host] = nil }
            }
        } else {
            scanned.removeAll { $0 === entry }
        }
    }

    /// The first entry of `interface` whose selectors cover `packet`, nil when none does.
    ///
    /// Index loops: unspecialised generic algorithms allocate in debug builds (`ESPAllocationTests`).
    func entry(for packet: InnerPacket, interface: Int) -> ESPPolicyEntry? {
        var found: ESPPolicyEntry?
        var index = 0
        while index < scanned.count {
            let entry = scanned[index]
            if entry.interface == interface,
                packet.matches(sources: entry.localSelectors, destinations: entry.remoteSelectors)
            {
                found = entry
                break
            }
            index += 1
        }
        // Site-to-site gateways have no host entries: no hash of the destination then.
        guard !byRemoteHost.isEmpty, let candidates = byRemoteHost[packet.destination] else { return found }
        index = 0
        while index < candidates.count {
            let entry = candidates[index]
            if let found, found.order < entry.order { return found }
            if entry.interface == interface,
                packet.matches(sources: entry.localSelectors, destinations: entry.remoteSelectors)
            {
                return entry
            }
            index += 1
        }
        return found
    }

    /// Every entry in match (installation) order.
    var entries: [ESPPolicyEntry] { byKey.values.sorted { $0.order < $1.order } }

    /// The addresses of `selectors` when each covers one address only; nil when any covers more.
    private static func remoteHosts(_ selectors: [TrafficSelector]) -> [IPAddress]? {
        var hosts: [IPAddress] = []
        for selector in selectors {
            guard selector.startAddress == selector.endAddress else { return nil }
            if !hosts.contains(selector.startAddress) { hosts.append(selector.startAddress) }
        }
        return hosts.isEmpty ? nil : hosts
    }
}
