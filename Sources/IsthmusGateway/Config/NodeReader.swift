import IsthmusIP
import Yams

/// A YAML node together with its path in the document (`connections[0].dpd.interval`) and position.
struct LocatedNode {
    let node: Node
    let path: String
    let location: SourceLocation

    init(_ node: Node, path: String, fallback: SourceLocation) {
        self.node = node
        self.path = path
        self.location = node.mark.map { SourceLocation(line: $0.line, column: $0.column) } ?? fallback
    }

    /// What kind of YAML value this is, for "expected a list, found a number" messages.
    var kindName: String {
        switch node {
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .alias: return "an alias"
        case .scalar(let scalar):
            if scalar.style == .plain {
                if scalar.string.isEmpty || scalar.string == "~" || scalar.string == "null" { return "nothing (null)" }
                if Int(scalar.string) != nil { return "a number" }
            }
            return "text"
        }
    }
}

/// Reads a composed YAML tree into typed values, recording every problem instead of stopping at
/// the first, and remembering where each value was written so later checks can point at it.
struct NodeReader {
    /// Most YAML nodes one configuration may contain: bounds the work an alias bomb
    /// (`&a [*b, *b, ...]` nested) can cause, since aliases share nodes rather than copy them.
    static let maximumNodeCount = 100_000

    var sink: DiagnosticSink
    /// Where each path's value (and, under `path + "#key"`, its key) was written.
    private(set) var positions: [String: SourceLocation] = [:]
    private var visitedNodes = 0
    private var reportedBudget = false

    init(file: String) { sink = DiagnosticSink(file: file) }

    func location(of path: String) -> SourceLocation? { positions[path] }

    // MARK: - Containers

    /// The entries of a mapping, checked against the keys it may have.
    ///
    /// Unknown keys are errors with a did-you-mean; duplicate keys are errors; missing required keys
    /// are errors at the mapping itself. Returns nil (after reporting) when the value is not a mapping.
    mutating func mapping(
        _ value: LocatedNode, what: String, keys: [String], required: [String] = []
    ) -> [String: LocatedNode]? {
        guard count(value) else { return nil }
        guard case .mapping(let mapping) = value.node else {
            sink.error(
                value.location, "\(what) must be a mapping of keys to values, found \(value.kindName)",
                fix: "write it as 'key: value' lines indented under its name; allowed keys: "
                    + keys.joined(separator: ", "))
            return nil
        }
        var result: [String: LocatedNode] = [:]
        for (keyNode, valueNode) in mapping {
            let keyLocation = keyNode.mark.map { SourceLocation(line: $0.line, column: $0.column) } ?? value.location
            guard case .scalar(let keyScalar) = keyNode else {
                sink.error(keyLocation, "keys in \(what) must be plain names")
                continue
            }
            let key = keyScalar.string
            guard keys.contains(key) else {
                var message = "unknown key '\(key)' in \(what)"
                let fix: String
                if let suggestion = Suggestion.closest(to: key, in: keys) {
                    message += "; did you mean '\(suggestion)'?"
                    fix = "rename it to '\(suggestion)'"
                } else {
                    fix = "remove it; allowed keys here: " + keys.joined(separator: ", ")
                }
                sink.error(keyLocation, message, fix: fix)
                continue
            }
            guard result[key] == nil else {
                sink.error(keyLocation, "'\(key)' appears twice in \(what)", fix: "keep one of them")
                continue
            }
            let path = value.path.isEmpty ? key : "\(value.path).\(key)"
            let located = LocatedNode(valueNode, path: path, fallback: keyLocation)
            positions[path] = located.location
            positions[path + "#key"] = keyLocation
            result[key] = located
        }
        for key in required where result[key] == nil {
            sink.error(value.location, "\(what) has no '\(key)'", fix: "add '\(key): ...' to \(what)")
        }
        return result
    }

    /// The items of a list. With `scalarAsList`, a single value is a list of one (`prefixes: 10.0.1.0/24`).
    mutating func sequence(_ value: LocatedNode, what: String, scalarAsList: Bool = false) -> [LocatedNode]? {
        guard count(value) else { return nil }
        switch value.node {
        case .sequence(let sequence):
            return sequence.enumerated().map { index, node in
                let path = "\(value.path)[\(index)]"
                let located = LocatedNode(node, path: path, fallback: value.location)
                positions[path] = located.location
                return located
            }
        case .scalar where scalarAsList:
            return [value]
        case .scalar, .mapping, .alias:
            sink.error(
                value.location, "\(what) must be a list, found \(value.kindName)",
                fix: "write one '- item' line per entry")
            return nil
        }
    }

    // MARK: - Scalars

    /// A scalar's text. Numbers and booleans are accepted as their text (`ike_version: 1`).
    mutating func string(_ value: LocatedNode, what: String) -> String? {
        guard count(value) else { return nil }
        guard case .scalar(let scalar) = value.node else {
            sink.error(value.location, "\(what) must be a single value, found \(value.kindName)")
            return nil
        }
        if scalar.style == .plain, scalar.string.isEmpty || scalar.string == "~" || scalar.string == "null" {
            sink.error(value.location, "\(what) is empty", fix: "give \(what) a value")
            return nil
        }
        return scalar.string
    }

    /// A name: letters, digits, `-`, `_` and `.`, 1 to 63 characters (it becomes a socket and log name).
    mutating func name(_ value: LocatedNode, what: String) -> String? {
        guard let text = string(value, what: what) else { return nil }
        let allowed = text.unicodeScalars.allSatisfy {
            ($0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "-" || $0 == "_" || $0 == ".")
                && $0.isASCII
        }
        guard allowed, (1...Self.maximumNameLength).contains(text.count) else {
            sink.error(
                value.location, "\(what) '\(text)' is not a valid name",
                fix: "use 1 to \(Self.maximumNameLength) ASCII letters, digits, '-', '_' or '.'")
            return nil
        }
        return text
    }

    /// Longest name: names appear in socket paths (/run/isthmus/NAME.sock) and interface names.
    static let maximumNameLength = 63

    /// A string field turned into a value by `parse`; when it does not parse, an error `problem(text)` with
    /// `fix(text)` at the field.
    mutating func parsed<Value>(
        _ value: LocatedNode, what: String, _ parse: (String) -> Value?, problem: (String) -> String,
        fix: (String) -> String
    ) -> Value? {
        guard let text = string(value, what: what) else { return nil }
        guard let parsed = parse(text) else {
            sink.error(value.location, problem(text), fix: fix(text))
            return nil
        }
        return parsed
    }

    mutating func address(_ value: LocatedNode, what: String) -> IPAddress? {
        guard let text = string(value, what: what) else { return nil }
        do {
            return try IPAddress(parsing: text)
        } catch {
            sink.error(value.location, "\(what) \(error)", fix: "write an address such as 203.0.113.20 or 2001:db8::1")
            return nil
        }
    }

    mutating func prefix(_ value: LocatedNode, what: String) -> IPPrefix? {
        guard let text = string(value, what: what) else { return nil }
        do {
            return try IPPrefix(parsing: text)
        } catch {
            if let corrected = error.correctedPrefix {
                sink.error(value.location, "\(what) \(error)", fix: "write \(corrected)")
            } else {
                sink.error(value.location, "\(what) \(error)", fix: "write a prefix such as 10.0.1.0/24")
            }
            return nil
        }
    }

    mutating func prefixes(_ value: LocatedNode, what: String) -> [IPPrefix]? {
        guard let items = sequence(value, what: what, scalarAsList: true) else { return nil }
        var result: [IPPrefix] = []
        var failed = false
        for item in items {
            if let prefix = prefix(item, what: "\(what) entry") { result.append(prefix) } else { failed = true }
        }
        return failed ? nil : result
    }

    /// A duration: a whole number with unit `s`, `m`, `h` or `d` (`8h`, `28800s`); a bare number is seconds.
    mutating func duration(_ value: LocatedNode, what: String) -> Duration? {
        guard let text = string(value, what: what) else { return nil }
        let units: [Character: Int64] = ["s": 1, "m": 60, "h": 3600, "d": 86400]
        var digits = Substring(text)
        var multiplier: Int64 = 1
        if let last = text.last, let unit = units[Character(last.lowercased())] {
            digits = digits.dropLast()
            multiplier = unit
        }
        guard !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isNumber }), let number = Int64(digits),
            case let (seconds, overflow) = number.multipliedReportingOverflow(by: multiplier), !overflow,
            seconds <= Self.maximumDurationSeconds
        else {
            sink.error(
                value.location, "\(what) '\(text)' is not a duration",
                fix: "write a whole number with a unit: 45s, 30m, 8h or 1d")
            return nil
        }
        return .seconds(seconds)
    }

    /// Longest duration accepted at all (ten years); range rules per field come later.
    static let maximumDurationSeconds: Int64 = 10 * 365 * 86400

    /// A data volume in kilobytes: `102400000KB`, `100MB`, `2GB` (1 KB = 1024 bytes); a bare number is KB.
    mutating func kilobytes(_ value: LocatedNode, what: String) -> UInt64? {
        guard let text = string(value, what: what) else { return nil }
        let upper = text.uppercased()
        var digits = Substring(upper)
        var multiplier: UInt64 = 1
        for (suffix, factor) in [("KB", UInt64(1)), ("MB", 1024), ("GB", 1024 * 1024), ("K", 1), ("M", 1024)]
        where upper.hasSuffix(suffix) {
            digits = upper.dropLast(suffix.count)
            multiplier = factor
            break
        }
        while digits.last == " " { digits = digits.dropLast() }
        guard !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isNumber }), let number = UInt64(digits),
            case let (kilobytes, overflow) = number.multipliedReportingOverflow(by: multiplier), !overflow,
            kilobytes <= UInt64(UInt32.max)
        else {
            sink.error(
                value.location, "\(what) '\(text)' is not a size",
                fix: "write a whole number of KB, MB or GB up to 4294967295KB, such as 102400000KB")
            return nil
        }
        return kilobytes
    }

    mutating func integer(_ value: LocatedNode, what: String, range: ClosedRange<Int>) -> Int? {
        guard let text = string(value, what: what) else { return nil }
        guard text.count <= 20, let number = Int(text), range.contains(number) else {
            sink.error(
                value.location,
                "\(what) '\(text)' must be a whole number from \(range.lowerBound) to "
                    + "\(range.upperBound)")
            return nil
        }
        return number
    }

    /// One of a fixed set of words.
    mutating func choice<Value: RawRepresentable & CaseIterable>(
        _ value: LocatedNode, what: String, as type: Value.Type
    ) -> Value? where Value.RawValue == String {
        guard let text = string(value, what: what) else { return nil }
        if let chosen = Value(rawValue: text.lowercased()) { return chosen }
        let options = Value.allCases.map(\.rawValue)
        var message = "\(what) '\(text)' is not one of: \(options.joined(separator: ", "))"
        if let suggestion = Suggestion.closest(to: text, in: options) { message += "; did you mean '\(suggestion)'?" }
        sink.error(value.location, message)
        return nil
    }

    // MARK: - Budget

    /// Counts a visited node; false (once reported) when the document is too large to walk.
    private mutating func count(_ value: LocatedNode) -> Bool {
        visitedNodes += 1
        guard visitedNodes <= Self.maximumNodeCount else {
            if !reportedBudget {
                reportedBudget = true
                sink.error(
                    value.location,
                    "the configuration has more than \(Self.maximumNodeCount) values "
                        + "(after expanding YAML aliases)", fix: "write the configuration out without alias chains")
            }
            return false
        }
        return true
    }
}
