/// When a connection's SAs were set up during the last hour, kept by the daemon beside the event history
/// so that `diagnose` can count them even when a flapping connection's events have pushed the older ones
/// out of its ring (``EventHistory``).
///
/// Times are the daemon's uptime in seconds (the cores' monotonic clock). Each list keeps at most
/// ``maximumEntries`` times and none older than ``window`` before the newest one noted.
public struct SASetupLog: Sendable, Hashable {
    /// How far back setups are kept: one hour.
    public static let window: Double = 3600
    /// Most times each list keeps (an SA set up every second for an hour fits).
    public static let maximumEntries = 4096

    /// IKE SAs established from scratch (`ike-sa-established`).
    public private(set) var ikeEstablished: [Double] = []
    /// IKE SAs replaced by a rekey (`ike-sa-rekeyed`).
    public private(set) var ikeRekeyed: [Double] = []
    /// CHILD SAs installed, new or by a rekey (`child-sa-installed`, and IKEv1's `child-sa-rekeyed`, which
    /// names the new SA).
    public private(set) var childSetups: [Double] = []

    public init() {}

    /// Notes one event if it sets up an SA.
    public mutating func note(kind: String, details: [String: String], at time: Double) {
        switch kind {
        case "ike-sa-established": Self.append(time, to: &ikeEstablished)
        case "ike-sa-rekeyed": Self.append(time, to: &ikeRekeyed)
        case "child-sa-installed": Self.append(time, to: &childSetups)
        case "child-sa-rekeyed" where details["inbound_spi"] != nil: Self.append(time, to: &childSetups)
        default: return
        }
    }

    /// How many of `times` are at or after `start`.
    public static func count(_ times: [Double], since start: Double) -> Int {
        times.reduce(0) { $0 + ($1 >= start ? 1 : 0) }
    }

    private static func append(_ time: Double, to times: inout [Double]) {
        times.append(time)
        let cut = time - window
        if let first = times.first, first < cut { times.removeAll { $0 < cut } }
        if times.count > maximumEntries { times.removeFirst(times.count - maximumEntries) }
    }
}
