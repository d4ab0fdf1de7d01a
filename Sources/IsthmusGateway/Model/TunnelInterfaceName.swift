/// Names of the tunnel interfaces the daemon creates: one per route-based connection, one shared by the
/// policy-based connections of a gateway (strongSwan's XFRM interfaces and the cloud gateways'
/// per-connection tunnels are the model). Linux limits names to 15 bytes (IFNAMSIZ 16 with the NUL).
public enum TunnelInterfaceName {
    public static let maximumLength = 15
    /// What every derived name starts with, so that `ip link` shows at once which interfaces are ours.
    public static let prefix = "ist-"

    /// Whether `name` can be a Linux interface name: 1 to 15 bytes, no '/', ':' or white space or control
    /// characters, not `.` or `..`.
    public static func isValid(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        return !bytes.isEmpty && bytes.count <= maximumLength && name != "." && name != ".."
            && !bytes.contains(where: { $0 == UInt8(ascii: "/") || $0 == UInt8(ascii: ":") || $0 <= 0x20 || $0 >= 0x7F }
            )
    }

    /// `ist-` and the name, with characters other than letters, digits, `-`, `_` and `.` turned into `-`;
    /// a name too long keeps its first characters and ends in 4 hex digits of a hash of the whole name,
    /// so two long names that start alike still differ.
    public static func derived(from name: String) -> String {
        let cleaned = String(
            String.UnicodeScalarView(
                name.unicodeScalars.map {
                    $0.isASCII
                        && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || "-_.".unicodeScalars.contains($0))
                        ? $0 : "-"
                }))
        let whole = prefix + cleaned
        guard whole.utf8.count > maximumLength else { return whole }
        // FNV-1a over the original name: stable across runs and releases (Swift's hashValue is seeded).
        var hash: UInt32 = 2_166_136_261
        for byte in name.utf8 { hash = (hash ^ UInt32(byte)) &* 16_777_619 }
        let suffix = String(hash & 0xFFFF, radix: 16)
        let tag = String(repeating: "0", count: 4 - suffix.count) + suffix
        var head = String(whole.prefix(maximumLength - 5))
        while head.hasSuffix("-") { head.removeLast() }
        return head + "-" + tag
    }
}

extension TunnelInterfaceName {
    /// The interface that carries `connection`'s traffic: its own for a route-based connection, named
    /// after the remote site (one connection per site: `ist-office`, `ist-branch1`), the gateway's shared
    /// one for a policy-based connection (`ist-cloud`).
    public static func of(_ connection: Connection, gateway: GatewaySettings) -> String {
        switch connection.kind {
        case .dynamic: connection.interface ?? derived(from: connection.localNetwork)
        case .static: gateway.interface ?? derived(from: gateway.name)
        }
    }
}

extension TunnelInterfaceName {
    /// The one interface of a gateway's point-to-site clients: `ist-` and the gateway's name and `-p2s`
    /// (shortened with a hash when longer than 15 bytes), so it never takes a site's name.
    public static func pointToSite(of gateway: GatewaySettings) -> String {
        derived(from: gateway.name + "-p2s")
    }
}
