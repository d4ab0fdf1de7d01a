#if canImport(Glibc)
    import Glibc
#endif
import IsthmusEvents
import Logging

/// One event as `status`/`events`/`logs` report it: the core's ``GatewayEvent`` plus when it happened.
///
/// JSON keys (stable, scripts read them): `connection`, `details`, `kind`, `message`, `saIDs`, `sequence`,
/// `severity`, `time`, `uptimeSeconds`.
public struct EventRecord: Sendable, Codable, Hashable {
    /// Wall-clock time the daemon recorded the event: ISO 8601 in UTC with milliseconds
    /// (`2026-11-29T14:03:07.123Z`).
    public var time: String
    /// Position in the daemon's recording order (1, 2, ...; 0 for a record not recorded by a daemon): merged
    /// histories are sorted by it, so events with equal times keep their order.
    public var sequence: UInt64
    /// Seconds since the daemon started (the cores' monotonic time).
    public var uptimeSeconds: Double
    public var connection: String
    public var saIDs: [String]
    public var kind: String
    public var severity: String
    public var message: String
    public var details: [String: String]

    /// - Parameter time: the wall-clock time as ``EventRecord/timestamp(_:)`` writes it; default: now.
    public init(_ event: GatewayEvent, time: String = EventRecord.timestamp(.now()), sequence: UInt64 = 0) {
        let parts = event.time.components
        self.time = time
        self.sequence = sequence
        uptimeSeconds = Double(parts.seconds) + Double(parts.attoseconds) / 1e18
        connection = event.connection
        saIDs = event.saIDs
        kind = event.kind.rawValue
        severity = event.severity.rawValue
        message = event.message
        details = event.details
    }

    /// The one-line human form, as ``GatewayEvent/description``.
    public var line: String {
        let ids = saIDs.isEmpty ? "" : " [\(saIDs.joined(separator: " "))]"
        return "\(connection)\(ids) \(kind): \(message)"
    }

    /// The `isthmus logs` form: `TIME [SEVERITY ]connection [sa ids] kind: message`, the severity upper-case
    /// and only when it is not `info`.
    public var logLine: String {
        severity == "info" ? "\(time) \(line)" : "\(time) \(severity.uppercased()) \(line)"
    }

    /// A wall-clock instant: whole seconds since the Unix epoch and milliseconds.
    public struct WallTime: Sendable, Hashable {
        public var seconds: Int64
        public var milliseconds: Int

        public init(seconds: Int64, milliseconds: Int) {
            self.seconds = seconds
            self.milliseconds = milliseconds
        }

        /// `CLOCK_REALTIME` now.
        public static func now() -> WallTime {
            var spec = timespec()
            clock_gettime(CLOCK_REALTIME, &spec)
            return WallTime(seconds: Int64(spec.tv_sec), milliseconds: Int(spec.tv_nsec / 1_000_000))
        }
    }

    /// `2026-11-29T14:03:07.123Z`: ISO 8601, UTC, milliseconds (proleptic Gregorian calendar, no libc).
    public static func timestamp(_ instant: WallTime) -> String {
        let days = instant.seconds >= 0 ? instant.seconds / 86400 : (instant.seconds - 86399) / 86400
        let secondOfDay = instant.seconds - days * 86400
        // Civil date from days since 1970-01-01 (H. Hinnant, "chrono-compatible low-level date algorithms").
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthIndex = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * monthIndex + 2) / 5 + 1
        let month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        func pad(_ value: Int64, _ width: Int) -> String {
            let text = String(value)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        let millis = Int64(min(max(instant.milliseconds, 0), 999))
        return "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2))T\(pad(secondOfDay / 3600, 2)):"
            + "\(pad(secondOfDay % 3600 / 60, 2)):\(pad(secondOfDay % 60, 2)).\(pad(millis, 3))Z"
    }
}

/// A bounded ring of the most recent events, oldest first.
public struct EventRing: Sendable {
    public let capacity: Int
    private var storage: [EventRecord] = []
    private var head = 0

    public init(capacity: Int) {
        self.capacity = max(1, capacity)
    }

    /// Appends, overwriting the oldest record when full.
    public mutating func append(_ record: EventRecord) {
        if storage.count < capacity {
            storage.append(record)
        } else {
            storage[head] = record
            head = (head + 1) % capacity
        }
    }

    /// Every record, oldest first.
    public var records: [EventRecord] { Array(storage[head...] + storage[..<head]) }

    public var count: Int { storage.count }
}

/// The daemon's event history: one bounded ring per connection, so a chatty connection cannot push
/// another's history out, and one shared ring for gateway-level events (no connection name) and for
/// connections beyond ``maximumConnectionRings``.
///
/// Memory is bounded: at most `maximumConnectionRings + 1` rings of `capacity` records each. Connection
/// names come from the configuration (and from sessions left over from an earlier one), so the bound on
/// rings only matters when something names many connections the configuration does not have.
public struct EventHistory: Sendable {
    /// Most connections with a ring of their own; events of further connections go to the shared ring.
    public static let maximumConnectionRings = 256
    /// Most records one merged answer (every connection) carries, the newest: about 3 MB of JSON, well
    /// below the client's ``ControlCodec/maximumResponseBytes``.
    public static let maximumMergedRecords = 10_000

    /// Records each ring keeps.
    public let capacity: Int
    private var rings: [String: EventRing] = [:]
    private var shared: EventRing
    private var lastSequence: UInt64 = 0

    public init(capacity: Int) {
        self.capacity = max(1, capacity)
        shared = EventRing(capacity: self.capacity)
    }

    /// Stores one record, numbering it; returns it as stored (with its ``EventRecord/sequence``).
    @discardableResult
    public mutating func append(_ record: EventRecord) -> EventRecord {
        lastSequence &+= 1
        var numbered = record
        numbered.sequence = lastSequence
        let name = record.connection
        if !name.isEmpty, rings[name] != nil || rings.count < Self.maximumConnectionRings {
            rings[name, default: EventRing(capacity: capacity)].append(numbered)
        } else {
            shared.append(numbered)
        }
        return numbered
    }

    /// One connection's history, oldest first (at most `capacity` records).
    public func records(of connection: String) -> [EventRecord] {
        if let ring = rings[connection] { return ring.records }
        return shared.records.filter { $0.connection == connection }
    }

    /// Every connection's history and the gateway's own events, merged in recording order (oldest first);
    /// at most ``maximumMergedRecords``, the newest.
    public var records: [EventRecord] {
        var all = shared.records
        for ring in rings.values { all += ring.records }
        all.sort { $0.sequence < $1.sequence }
        return Array(all.suffix(Self.maximumMergedRecords))
    }

    /// How many connections have a ring of their own.
    public var connectionRingCount: Int { rings.count }
}

extension GatewayEvent.Severity {
    /// The swift-log level an event of this severity is logged at.
    var logLevel: Logger.Level {
        switch self {
        case .info: .info
        case .notice: .notice
        case .warning: .warning
        case .error: .error
        }
    }
}

extension Logger {
    /// Logs one event as one line: `connection [sa ids] kind: message`, with the fields as metadata.
    func log(_ event: GatewayEvent) {
        var metadata: Logger.Metadata = [
            "connection": .string(event.connection),
            "kind": .string(event.kind.rawValue),
        ]
        if !event.saIDs.isEmpty { metadata["sa_ids"] = .array(event.saIDs.map { .string($0) }) }
        if !event.details.isEmpty { metadata["details"] = .dictionary(event.details.mapValues { .string($0) }) }
        log(level: event.severity.logLevel, "\(event.description)", metadata: metadata)
    }
}
