import IsthmusIP

/// The dashboard's checks of who is asking, before anything is answered.
///
/// Every request must name the dashboard by an IP address or `localhost` in `Host` (a DNS name could be an
/// attacker's, rebound to this address). Actions must be POSTs from the dashboard's own pages (`Origin`, when
/// the browser sends it, is `http://` + `Host`; `Sec-Fetch-Site`, when sent, is `same-origin`) carrying the
/// token as `Authorization: Bearer TOKEN`. Pure: unit-tested.
public enum RequestGuard {
    /// Why a request is refused, or nil when `host` (the `Host` header) names the dashboard acceptably.
    public static func hostProblem(_ host: String?) -> String? {
        guard let host, !host.isEmpty else { return "the request names no Host" }
        guard let name = hostName(host) else { return "the Host '\(host.prefix(100))' is not an address and port" }
        if name.lowercased() == "localhost" { return nil }
        guard (try? IPAddress(parsing: name)) != nil else {
            return "the dashboard is reached by IP address (or localhost), not by the name '\(name.prefix(100))'"
        }
        return nil
    }

    /// The host part of a `Host` value: `10.0.0.1:8080` -> `10.0.0.1`, `[::1]:8080` -> `::1`, `localhost`.
    static func hostName(_ host: String) -> String? {
        if host.hasPrefix("[") {
            guard let close = host.firstIndex(of: "]") else { return nil }
            let rest = host[host.index(after: close)...]
            guard rest.isEmpty || (rest.hasPrefix(":") && rest.dropFirst().allSatisfy(\.isNumber)) else { return nil }
            return String(host[host.index(after: host.startIndex)..<close])
        }
        let parts = host.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count <= 2, !parts[0].isEmpty else { return nil }
        if parts.count == 2 { guard !parts[1].isEmpty, parts[1].allSatisfy(\.isNumber) else { return nil } }
        return String(parts[0])
    }

    /// Whether an action may be carried out: nil when it may, else why not (the answer is 403).
    /// - Parameters:
    ///   - method: the HTTP method; only `POST` is an action.
    ///   - host, origin, fetchSite, authorization: the request's `Host`, `Origin`, `Sec-Fetch-Site` and
    ///     `Authorization` headers.
    ///   - token: the dashboard's token; nil: it was started without one and is read-only.
    public static func actionProblem(
        method: String, host: String?, origin: String?, fetchSite: String?, authorization: String?,
        token: DashboardToken?
    ) -> String? {
        guard method == "POST" else { return "actions are POST requests" }
        if let problem = hostProblem(host) { return problem }
        if let origin, origin != "http://\(host ?? "")" {
            return "cross-site request refused (Origin \(origin.prefix(100)))"
        }
        if let fetchSite, fetchSite != "same-origin", fetchSite != "none" {
            return "cross-site request refused (Sec-Fetch-Site \(fetchSite.prefix(40)))"
        }
        guard let token else {
            return "the dashboard is read-only: the gateway was started without --dashboard-token-file"
        }
        guard token.authorizes(authorization) else {
            return authorization == nil
                ? "this action needs the dashboard token (Authorization: Bearer TOKEN)"
                : "the dashboard token is not the right one"
        }
        return nil
    }
}

/// Wrong tokens tried against the dashboard: past ``limit`` in one ``window``, actions are refused (429) until
/// the window is over, without looking at the token, so guessing it is slow whoever tries; the right token
/// works again a second later. Pure (the time is given): unit-tested.
public struct TokenThrottle: Sendable {
    /// Wrong tokens accepted for checking in one window.
    public static let limit = 10
    /// The window.
    public static let window: Duration = .seconds(1)

    private var start: ContinuousClock.Instant?
    private var failures = 0

    public init() {}

    /// Whether a token may be checked at `now`.
    public mutating func allows(at now: ContinuousClock.Instant) -> Bool {
        if let start, now - start >= Self.window {
            self.start = nil
            failures = 0
        }
        return failures < Self.limit
    }

    /// A wrong token was offered at `now`.
    public mutating func failed(at now: ContinuousClock.Instant) {
        if start == nil { start = now }
        failures += 1
    }
}
