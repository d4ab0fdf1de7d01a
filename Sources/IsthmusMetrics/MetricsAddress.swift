import IsthmusIP

/// Where the metrics endpoint listens: an IP address and a TCP port (`127.0.0.1:9469`, `[::1]:9469`).
public struct MetricsAddress: Sendable, Hashable, CustomStringConvertible {
    public var host: IPAddress
    public var port: Int

    /// Parses `ADDRESS:PORT`, with an IPv6 address in brackets; nil when `text` is not one.
    public init?(parsing text: String) {
        let hostText: Substring
        let portText: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { return nil }
            hostText = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            guard rest.hasPrefix(":") else { return nil }
            portText = rest.dropFirst()
        } else {
            guard let colon = text.lastIndex(of: ":") else { return nil }
            hostText = text[..<colon]
            portText = text[text.index(after: colon)...]
            // An IPv6 address needs brackets, or its last group would read as the port.
            guard !hostText.contains(":") else { return nil }
        }
        guard let host = try? IPAddress(parsing: hostText), !portText.isEmpty,
            portText.allSatisfy({ ("0"..."9").contains($0) }), let port = Int(portText), (1...65535).contains(port)
        else { return nil }
        self.host = host
        self.port = port
    }

    /// `127.0.0.1:9469` or `[::1]:9469`.
    public var description: String {
        host.family == .v6 ? "[\(host)]:\(port)" : "\(host):\(port)"
    }
}
