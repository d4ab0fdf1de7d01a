import IsthmusIP
import IsthmusMetrics

/// Where the dashboard listens (`isthmus run --dashboard ADDRESS:PORT`): the metrics endpoint's notation, and
/// a port alone means the loopback address (`8080` is `127.0.0.1:8080`).
public enum DashboardAddress {
    /// The address used when only a port is given.
    public static let defaultHost = "127.0.0.1"

    /// `ADDRESS:PORT`, `[IPv6]:PORT` or `PORT`; nil when `text` is none of them.
    public static func parse(_ text: String) -> MetricsAddress? {
        if !text.isEmpty, text.allSatisfy({ ("0"..."9").contains($0) }) {
            return MetricsAddress(parsing: "\(defaultHost):\(text)")
        }
        return MetricsAddress(parsing: text)
    }

    /// Whether `address` is a loopback address (127.0.0.0/8, ::1): only this machine reaches it. The dashboard
    /// speaks plain HTTP, so anywhere else its pages, and the token when actions are used, cross the network
    /// unencrypted.
    public static func isLoopback(_ address: MetricsAddress) -> Bool {
        switch address.host.family {
        case .v4: return address.host.value >> 24 == 127
        case .v6: return address.host.value == 1
        }
    }
}
