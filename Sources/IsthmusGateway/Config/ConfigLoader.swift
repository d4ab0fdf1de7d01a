import Glibc
import IsthmusCrypto
import IsthmusIP
import Yams

/// The outcome of loading a configuration: the model when there is no error, and every diagnostic.
public struct ConfigLoadResult: Sendable {
    /// The validated configuration; nil when any diagnostic is an error.
    public let config: GatewayConfig?
    /// Errors and warnings in file order.
    public let diagnostics: [Diagnostic]
    /// Where each value was written, by path (`connections[0].esp`; `PATH#key` for its key), so later
    /// checks (such as `isthmus export`) can point at the line to change.
    public internal(set) var positions: [String: SourceLocation] = [:]

    public var errors: [Diagnostic] { diagnostics.filter { $0.severity == .error } }
    public var warnings: [Diagnostic] { diagnostics.filter { $0.severity == .warning } }
}

/// Loads and validates a gateway configuration file.
///
/// Yams composes the YAML into a node tree that keeps each value's line and column; ``NodeReader``
/// turns the tree into the model while collecting every problem, and ``ConfigValidator`` checks the
/// rules that span several values (overlaps, references, ranges). Nothing here throws or traps on
/// bad input: everything wrong becomes a positioned ``Diagnostic``.
public enum ConfigLoader {
    /// Loads the file at `path`. Relative `file:` key paths are resolved against the file's folder. A key file,
    /// or this file when it holds a shared key inline, that group or others may read or another user owns
    /// (``SecretFileAccess``) is a warning, or with `secrets: .refuse` (`run`, `reload`) an error.
    public static func load(path: String, secrets: SecretFileAccess.Policy = .warn) -> ConfigLoadResult {
        var sink = DiagnosticSink(file: path)
        switch ConfigSource.read(path: path, limit: ConfigSource.maximumConfigBytes) {
        case .failure(.cannotOpen(let reason)):
            sink.error(.start, "cannot read the configuration: \(reason)", fix: "check the path and its permissions")
            return ConfigLoadResult(config: nil, diagnostics: sink.sorted)
        case .failure(.tooLarge(let size)):
            sink.error(
                .start,
                "the file is \(size) bytes; a configuration may be at most "
                    + "\(ConfigSource.maximumConfigBytes) bytes (1 MiB)", fix: "check that this is the right file")
            return ConfigLoadResult(config: nil, diagnostics: sink.sorted)
        case .success(let contents):
            let access = SecretAccessCheck(
                policy: secrets, user: geteuid(), configuration: (mode: contents.mode, owner: contents.owner))
            return load(bytes: contents.bytes, file: path, baseDirectory: directory(of: path), secrets: access)
        }
    }

    /// Loads configuration bytes; `file` names them in diagnostics. Key files are judged as `secrets` says
    /// (default: warnings for the user running this process; the bytes themselves are not a file).
    public static func load(
        bytes: [UInt8], file: String, baseDirectory: String, secrets: SecretAccessCheck? = nil
    ) -> ConfigLoadResult {
        var sink = DiagnosticSink(file: file)
        let text: String
        switch ConfigSource.text(from: bytes) {
        case .failure(let notText):
            sink.error(notText.location, notText.reason, fix: "give the YAML configuration file")
            return ConfigLoadResult(config: nil, diagnostics: sink.sorted)
        case .success(let decoded):
            text = decoded
        }
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch let error as YamlError {
            let (location, message) = describe(error)
            sink.error(location, "not valid YAML: \(message)", fix: "check indentation and quoting near this point")
            return ConfigLoadResult(config: nil, diagnostics: sink.sorted)
        } catch {
            sink.error(.start, "not valid YAML: \(error)")
            return ConfigLoadResult(config: nil, diagnostics: sink.sorted)
        }
        guard let root else {
            sink.error(
                .start, "the configuration is empty",
                fix: "start from examples/office.yaml or examples/cloud.yaml")
            return ConfigLoadResult(config: nil, diagnostics: sink.sorted)
        }
        var builder = ConfigBuilder(
            file: file, baseDirectory: baseDirectory,
            secrets: secrets ?? SecretAccessCheck(policy: .warn, user: geteuid(), configuration: nil))
        return builder.build(root: LocatedNode(root, path: "", fallback: .start))
    }

    /// Turns a Yams error into a position and a sentence.
    static func describe(_ error: YamlError) -> (SourceLocation, String) {
        func at(_ mark: Mark) -> SourceLocation { SourceLocation(line: mark.line, column: mark.column) }
        switch error {
        case .scanner(let context, let problem, let mark, _), .parser(let context, let problem, let mark, _),
            .composer(let context, let problem, let mark, _):
            if let context { return (at(mark), "\(problem) (\(context.text))") }
            return (at(mark), problem)
        case .reader(let problem, _, _, _):
            return (.start, problem)
        default:
            return (.start, "\(error)")
        }
    }

    static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }
}

/// How a load judges the files that hold secrets (``SecretFileAccess``): warn or refuse, for which user,
/// and the configuration file's own mode and owner (nil: not a file, nothing to judge).
public struct SecretAccessCheck: Sendable {
    public var policy: SecretFileAccess.Policy
    public var user: UInt32
    public var configuration: (mode: UInt32, owner: UInt32)?

    public init(policy: SecretFileAccess.Policy, user: UInt32, configuration: (mode: UInt32, owner: UInt32)?) {
        self.policy = policy
        self.user = user
        self.configuration = configuration
    }
}
