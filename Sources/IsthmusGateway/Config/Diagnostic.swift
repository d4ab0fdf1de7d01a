/// A position in a configuration file: 1-based line and column (columns count Unicode scalars).
public struct SourceLocation: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var line: Int
    public var column: Int

    public init(line: Int, column: Int) {
        self.line = line
        self.column = column
    }

    public static let start = SourceLocation(line: 1, column: 1)

    public static func < (lhs: SourceLocation, rhs: SourceLocation) -> Bool {
        (lhs.line, lhs.column) < (rhs.line, rhs.column)
    }

    public var description: String { "\(line):\(column)" }
}

/// One problem found in a configuration, with where it is and how to fix it.
public struct Diagnostic: Sendable, Hashable, CustomStringConvertible {
    public enum Severity: String, Sendable, Hashable {
        case error
        case warning
    }

    public var severity: Severity
    public var file: String
    public var location: SourceLocation
    /// What is wrong, in one sentence.
    public var message: String
    /// What to change; nil when the message already says it.
    public var fix: String?
    /// Other places the problem involves (the peer's value in a pair check), each with what it is.
    public var notes: [Note] = []

    /// A related position: `FILE:LINE:COLUMN: note: message`.
    public struct Note: Sendable, Hashable, CustomStringConvertible {
        public var file: String
        public var location: SourceLocation
        public var message: String

        public init(file: String, at location: SourceLocation, _ message: String) {
            self.file = file
            self.location = location
            self.message = message
        }

        public var description: String { "\(file):\(location): note: \(message)" }
    }

    public init(_ severity: Severity, file: String, at location: SourceLocation, _ message: String, fix: String? = nil)
    {
        self.severity = severity
        self.file = file
        self.location = location
        self.message = message
        self.fix = fix
    }

    /// `FILE:LINE:COLUMN: error: message`, then each note and the fix on their own indented lines.
    public var description: String {
        var text = "\(file):\(location): \(severity.rawValue): \(message)"
        for note in notes { text += "\n    \(note)" }
        if let fix { text += "\n    fix: \(fix)" }
        return text
    }
}

/// Collects diagnostics while a configuration is read and validated.
struct DiagnosticSink {
    let file: String
    private(set) var diagnostics: [Diagnostic] = []

    init(file: String) { self.file = file }

    mutating func error(_ location: SourceLocation, _ message: String, fix: String? = nil) {
        diagnostics.append(Diagnostic(.error, file: file, at: location, message, fix: fix))
    }

    /// Adds a diagnostic built elsewhere (one with notes).
    mutating func append(_ diagnostic: Diagnostic) {
        diagnostics.append(diagnostic)
    }

    mutating func warning(_ location: SourceLocation, _ message: String, fix: String? = nil) {
        diagnostics.append(Diagnostic(.warning, file: file, at: location, message, fix: fix))
    }

    var hasErrors: Bool { diagnostics.contains { $0.severity == .error } }

    /// Diagnostics in file order (stable for equal positions).
    var sorted: [Diagnostic] {
        diagnostics.enumerated().sorted { lhs, rhs in
            lhs.element.location != rhs.element.location
                ? lhs.element.location < rhs.element.location : lhs.offset < rhs.offset
        }.map(\.element)
    }
}
