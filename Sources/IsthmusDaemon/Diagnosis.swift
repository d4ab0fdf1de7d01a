/// `isthmus diagnose`'s answer for one connection: whether it is healthy and, when not, why and what to
/// change. The JSON keys are a stable contract (scripts, the dashboard and the on-the-wire tests read them):
/// `connection`, `state` (`up`, `connecting`, `down`), `healthy`, `summary`, `findings`.
public struct ConnectionDiagnosis: Sendable, Codable, Hashable {
    /// The connection's configured name (or the name a session carries that the configuration lacks).
    public var connection: String
    /// `up` (an IKE SA is established), `connecting` (a negotiation is in progress) or `down`.
    public var state: String
    /// Up and nothing found.
    public var healthy: Bool
    /// One line: the verdict.
    public var summary: String
    /// What is wrong, most severe first; empty when healthy.
    public var findings: [DiagnosisFinding]

    public init(connection: String, state: String, healthy: Bool, summary: String, findings: [DiagnosisFinding]) {
        self.connection = connection
        self.state = state
        self.healthy = healthy
        self.summary = summary
        self.findings = findings
    }
}

/// One cause found for a connection, with what it rests on and how to fix it.
///
/// JSON keys: `cause`, `severity`, `summary`, `explanation`, `evidence`, `fixes`, `details`.
public struct DiagnosisFinding: Sendable, Codable, Hashable {
    /// Stable identifiers of the causes `diagnose` knows.
    public enum Cause: String, Sendable, Codable, Hashable, CaseIterable {
        case proposalMismatch = "proposal-mismatch"
        case authenticationFailed = "authentication-failed"
        case trafficSelectorMismatch = "traffic-selector-mismatch"
        case peerUnreachable = "peer-unreachable"
        case natUDP4500Blocked = "nat-udp4500-blocked"
        case flapping
        case lifetimeMismatch = "lifetime-mismatch"
        case mtu
        case aclDenied = "acl-denied"
        case dataPathDown = "data-path-down"
        case keyFileChanged = "key-file-changed"
        case dpdTimeout = "dpd-timeout"
        case bgpSessionDown = "bgp-session-down"
        case bgpPrefixRefused = "bgp-prefix-refused"
        case routingDaemonDown = "routing-daemon-down"
    }

    /// How bad it is: `error` (no tunnel, or no traffic), `warning` (works badly), `notice` (worth knowing).
    public enum Severity: String, Sendable, Codable, Hashable, Comparable {
        case error, warning, notice

        var rank: Int {
            switch self {
            case .error: 0
            case .warning: 1
            case .notice: 2
            }
        }

        public static func < (lhs: Severity, rhs: Severity) -> Bool { lhs.rank < rhs.rank }
    }

    public var cause: Cause
    public var severity: Severity
    /// One line: what is wrong.
    public var summary: String
    /// A few sentences for a network engineer: what it means and why we think so.
    public var explanation: String
    public var evidence: [DiagnosisEvidence]
    public var fixes: [DiagnosisFix]
    /// Machine-readable facts (both proposal lists, both selector sets, counts); never key material.
    public var details: [String: String]

    public init(
        cause: Cause, severity: Severity, summary: String, explanation: String, evidence: [DiagnosisEvidence] = [],
        fixes: [DiagnosisFix] = [], details: [String: String] = [:]
    ) {
        self.cause = cause
        self.severity = severity
        self.summary = summary
        self.explanation = explanation
        self.evidence = evidence
        self.fixes = fixes
        self.details = details
    }
}

/// What a finding rests on: an event (with its time), a counter, a configuration value or a status field.
///
/// JSON keys: `source` (`event`, `counter`, `config`, `status`), `name`, `time` (ISO 8601 UTC, events only),
/// `text`.
public struct DiagnosisEvidence: Sendable, Codable, Hashable {
    public enum Source: String, Sendable, Codable, Hashable {
        case event, counter, config, status
    }

    public var source: Source
    /// The event kind, the counter's or field's name, or the configuration position (`cloud.yaml:23`).
    public var name: String
    /// When the event was recorded (ISO 8601, UTC); nil for other sources.
    public var time: String?
    /// The event's message, or the value in words.
    public var text: String

    public init(source: Source, name: String, time: String? = nil, text: String) {
        self.source = source
        self.name = name
        self.time = time
        self.text = text
    }

    /// An event record as evidence.
    public init(_ record: EventRecord) {
        self.init(source: .event, name: record.kind, time: record.time, text: record.message)
    }
}

/// One thing to change, on our side or on the peer.
///
/// JSON keys: `side` (`local`, `peer`), `text`, `yaml`, `command`, `device` (absent when nil).
public struct DiagnosisFix: Sendable, Codable, Hashable {
    public enum Side: String, Sendable, Codable, Hashable {
        case local, peer
    }

    public var side: Side
    /// What to do, one or two sentences (with the configuration position when known).
    public var text: String
    /// The exact YAML line(s) to set on our side.
    public var yaml: String?
    /// A command to run, such as `isthmus reload`.
    public var command: String?
    /// The peer device the `text` speaks to: `strongswan`, `libreswan`, `netgear` or `generic`.
    public var device: String?

    public init(side: Side, text: String, yaml: String? = nil, command: String? = nil, device: String? = nil) {
        self.side = side
        self.text = text
        self.yaml = yaml
        self.command = command
        self.device = device
    }
}

/// `isthmus diagnose --json`: `{"gateway": NAME, "connections": [ConnectionDiagnosis]}`.
public struct DiagnosisReport: Sendable, Codable, Hashable {
    public var gateway: String
    public var connections: [ConnectionDiagnosis]

    public init(gateway: String, connections: [ConnectionDiagnosis]) {
        self.gateway = gateway
        self.connections = connections
    }
}
