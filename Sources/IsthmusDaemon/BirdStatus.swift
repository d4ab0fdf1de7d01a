import IsthmusEvents

/// What BIRD says of one BGP session in `show protocols all` (BIRD 2's text, parsed here; pure).
public struct BGPSessionStatus: Sendable, Hashable, Codable {
    /// The BIRD protocol's name (``BirdConfiguration/protocolNames``).
    public var protocolName: String
    /// BIRD's protocol state: `up`, `start`, `down`, `flush`.
    public var state: String
    /// The BGP finite-state machine's state (RFC 4271 8.2.2): `Idle`, `Connect`, `Active`, `OpenSent`,
    /// `OpenConfirm`, `Established`.
    public var bgpState: String
    /// When BIRD's state last changed, as BIRD writes it.
    public var since: String
    public var neighborAddress: String?
    public var neighborASN: UInt32?
    public var localASN: UInt32?
    /// The last error, as BIRD words it (`BGP Error: Bad peer AS`, `Socket: Connection refused`).
    public var lastError: String?
    /// Routes learned from the peer and in use.
    public var imported: Int = 0
    /// Routes the peer announced that the accept list refused (kept by `import keep filtered`).
    public var filtered: Int = 0
    /// Routes announced to the peer.
    public var exported: Int = 0
    /// Hold time and keepalive as negotiated (`Hold timer: 8.452/9` gives 9).
    public var holdTime: Int?
    /// The last thing BIRD logged about the session (`Error: Bad peer AS: 65011`): its log says more than
    /// `show protocols`.
    public var logged: String?

    public var established: Bool { bgpState == "Established" }

    enum CodingKeys: String, CodingKey {
        case protocolName = "protocol"
        case state
        case bgpState = "bgp_state"
        case since
        case neighborAddress = "neighbor"
        case neighborASN = "neighbor_as"
        case localASN = "local_as"
        case lastError = "last_error"
        case imported, filtered, exported
        case holdTime = "hold_time"
        case logged
    }
}

/// Parsers of BIRD's control-socket replies.
public enum BirdStatus {
    /// The BGP protocols of a `show protocols all` reply (its lines with their reply codes removed).
    ///
    /// A protocol's block opens with its summary line (`1002-`: name, protocol, table, state, since, info;
    /// since is a date and a time with `timeformat protocol iso long`) and goes on with `Key: value` lines.
    public static func bgpSessions(_ lines: [String]) -> [BGPSessionStatus] {
        var sessions: [BGPSessionStatus] = []
        var current: BGPSessionStatus?
        var inChannel = false
        for line in lines {
            if let summary = summary(line) {
                if let current { sessions.append(current) }
                current = summary
                inChannel = false
                continue
            }
            // Any other protocol's summary line (column 0) ends a BGP block: its details are not the session's.
            if let first = line.first, first != " ", first != "\t" {
                if let current { sessions.append(current) }
                current = nil
                continue
            }
            guard current != nil else { continue }
            let trimmed = line.drop { $0 == " " }
            if trimmed.hasPrefix("Channel ") {
                inChannel = true
                continue
            }
            guard let colon = trimmed.firstIndex(of: ":") else { continue }
            let key = String(trimmed[..<colon])
            let value = String(trimmed[trimmed.index(after: colon)...].drop { $0 == " " })
            switch key {
            case "BGP state": current?.bgpState = value
            // `169.254.21.2%ist-office` for a session bound to an interface: the address alone.
            case "Neighbor address": current?.neighborAddress = value.split(separator: "%").first.map(String.init)
            case "Neighbor AS": current?.neighborASN = UInt32(value)
            case "Local AS": current?.localASN = UInt32(value)
            case "Last error": current?.lastError = value
            case "Hold timer":
                current?.holdTime = value.split(separator: "/").last.flatMap { Int($0) }
            case "Routes" where inChannel:
                let counts = routeCounts(value)
                current?.imported = counts["imported"] ?? 0
                current?.filtered = counts["filtered"] ?? 0
                current?.exported = counts["exported"] ?? 0
            default: break
            }
        }
        if let current { sessions.append(current) }
        return sessions
    }

    /// A protocol's summary line, when it is a BGP protocol's: `c_office BGP --- up 2026-12-07 14:32:02.215
    /// Established` (the header line, `Name Proto ...`, is not).
    static func summary(_ line: String) -> BGPSessionStatus? {
        guard let first = line.first, first != " ", first != "\t" else { return nil }
        let fields = line.split(separator: " ", omittingEmptySubsequences: true)
        guard fields.count >= 6, fields[1] == "BGP" else { return nil }
        // "up 2026-12-07 14:32:02.215 Established  BGP Error: ..." (iso long) or "up 14:32:02.215 ..." (short).
        var index = 4
        var since = String(fields[index])
        if fields.count > 5, fields[5].contains(":"), fields[4].contains("-") {
            since += " \(fields[5])"
            index = 5
        }
        let info = fields.dropFirst(index + 1)
        return BGPSessionStatus(
            protocolName: String(fields[0]), state: String(fields[3]), bgpState: info.first.map(String.init) ?? "",
            since: since)
    }

    /// A line of BIRD's log about protocol `name`: `2026-12-07 14:32:11.130 <RMT> c_office: Error: Bad peer AS: 65011`
    /// gives (`c_office`, `Error: Bad peer AS: 65011`); nil for other lines.
    public static func logLine(_ line: String) -> (protocolName: String, text: String)? {
        guard let close = line.range(of: "> ") else { return nil }
        let rest = line[close.upperBound...]
        guard let colon = rest.range(of: ": ") else { return nil }
        let name = rest[..<colon.lowerBound]
        guard !name.isEmpty, name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) else { return nil }
        return (String(name), String(rest[colon.upperBound...]))
    }

    /// `1 imported, 2 filtered, 1 exported, 1 preferred` as a table.
    static func routeCounts(_ text: String) -> [String: Int] {
        var counts: [String: Int] = [:]
        for part in text.split(separator: ",") {
            let words = part.split(separator: " ")
            if words.count == 2, let number = Int(words[0]) { counts[String(words[1])] = number }
        }
        return counts
    }
}

extension BirdStatus {
    /// The prefixes of a `show route` reply: ` 172.16.5.0/24  unicast [c_office ...] ...` (the indented
    /// `via` lines under each are skipped).
    public static func routePrefixes(_ lines: [String]) -> [String] {
        lines.compactMap { line in
            let trimmed = line.drop { $0 == " " }
            guard let first = trimmed.first, first.isHexDigit || first == ":",
                let token = trimmed.split(separator: " ").first, token.contains("/")
            else { return nil }
            return String(token)
        }
    }
}

/// The events a change of a BGP session's state makes (pure: two answers of BIRD in, events out).
enum BGPSessionEvents {
    /// - Parameter refused: the prefixes BIRD filtered, asked for only when their count grew.
    static func changes(
        from previous: BGPSessionStatus?, to now: BGPSessionStatus, connection: String, time: Duration,
        refused: () -> [String]
    ) -> [GatewayEvent] {
        var events: [GatewayEvent] = []
        var details = [
            "protocol": now.protocolName, "bgp_state": now.bgpState, "imported": "\(now.imported)",
            "exported": "\(now.exported)", "filtered": "\(now.filtered)",
        ]
        details["neighbor"] = now.neighborAddress
        details["neighbor_as"] = now.neighborASN.map { "\($0)" }
        details["last_error"] = now.lastError
        let peer = "\(now.neighborAddress ?? "the peer")\(now.neighborASN.map { " (AS \($0))" } ?? "")"
        let wasUp = previous?.established ?? false
        if now.established, !wasUp {
            events.append(
                GatewayEvent(
                    time: time, connection: connection, kind: .bgpSessionUp,
                    message: "BGP session with \(peer) established: \(now.imported) prefixes accepted, "
                        + "\(now.exported) announced", details: details))
        } else if !now.established, wasUp {
            events.append(
                GatewayEvent(
                    time: time, connection: connection, kind: .bgpSessionDown, severity: .warning,
                    message: "BGP session with \(peer) went down (now \(now.bgpState))"
                        + (now.lastError.map { ": \($0)" } ?? "") + "; its routes are withdrawn", details: details))
        } else if !now.established, let error = now.lastError, error != previous?.lastError {
            events.append(
                GatewayEvent(
                    time: time, connection: connection, kind: .bgpSessionDown, severity: .warning,
                    message: "BGP session with \(peer) is not established (\(now.bgpState)): \(error)",
                    details: details))
        }
        if now.filtered > (previous?.filtered ?? 0) {
            let prefixes = refused()
            var refusedDetails = details
            refusedDetails["prefixes"] = prefixes.joined(separator: " ")
            events.append(
                GatewayEvent(
                    time: time, connection: connection, kind: .bgpPrefixRefused, severity: .warning,
                    message: "\(peer) announced \(now.filtered) prefix(es) outside the accept list or inside our own "
                        + "address spaces, dropped: \(prefixes.isEmpty ? "?" : prefixes.joined(separator: ", "))",
                    details: refusedDetails))
        }
        return events
    }
}
