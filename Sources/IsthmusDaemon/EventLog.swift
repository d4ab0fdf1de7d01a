import IsthmusEvents
import Logging

/// One event as `status`/`events` report it: the core's ``GatewayEvent`` plus when it happened.
public struct EventRecord: Sendable, Codable, Hashable {
    /// Seconds since the daemon started (the cores' monotonic time).
    public var uptimeSeconds: Double
    public var connection: String
    public var saIDs: [String]
    public var kind: String
    public var severity: String
    public var message: String
    public var details: [String: String]

    public init(_ event: GatewayEvent) {
        let parts = event.time.components
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
}

/// A bounded ring of the most recent events, oldest first.
public struct EventRing: Sendable {
    public let capacity: Int
    private var storage: [EventRecord] = []
    private var head = 0

    public init(capacity: Int) {
        self.capacity = max(1, capacity)
        storage.reserveCapacity(min(self.capacity, 1024))
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
