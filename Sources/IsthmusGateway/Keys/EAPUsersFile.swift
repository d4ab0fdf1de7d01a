import Glibc
import IsthmusCrypto
import IsthmusIKEv2
import Yams

/// The users file of EAP-MSCHAPv2 clients (`point_to_site.users_file`): a YAML mapping of user names to
/// passwords, or to NT password hashes when the password should not be stored:
///
/// ```yaml
/// alice: "correct horse battery staple"
/// bob: {nt_hash: 8846F7EAEE8FB117AD06BDD830B7586C}
/// ```
///
/// It holds secrets, so it must be the owner's alone (mode 0600 or stricter, owned by the user running isthmus
/// or root) or it is refused. Duplicate names, empty passwords and malformed hashes are errors at their line.
/// Only NT hashes are kept after loading; no message ever contains a password or a hash.
public enum EAPUsersFile {
    /// What loading gave: the users when there was no error, and every problem found.
    public struct LoadResult: Sendable {
        public var users: EAPUserDatabase?
        public var diagnostics: [Diagnostic]
    }

    /// Largest users file accepted (a line a user: thousands of users).
    static let maximumBytes = 1 << 20

    /// Reads and checks the users file at `path` as user `user` would own it.
    public static func load(path: String, user: UInt32 = geteuid()) -> LoadResult {
        var sink = DiagnosticSink(file: path)
        switch ConfigSource.read(path: path, limit: maximumBytes) {
        case .failure(.cannotOpen(let reason)):
            sink.error(.start, "cannot read the users file: \(reason)", fix: "create it with mode 0600")
        case .failure(.tooLarge(let size)):
            sink.error(.start, "the users file is \(size) bytes, more than the \(maximumBytes) accepted")
        case .success(let contents):
            if let problem = SecretFileAccess.problem(
                what: "the users file", path: path, mode: contents.mode, owner: contents.owner, user: user)
            {
                sink.error(.start, problem.message, fix: problem.fix)
                return LoadResult(users: nil, diagnostics: sink.sorted)
            }
            switch ConfigSource.text(from: contents.bytes) {
            case .failure(let notText):
                sink.error(notText.location, notText.reason, fix: "write one 'name: password' line per user")
            case .success(let text):
                return parse(text: text, file: path)
            }
        }
        return LoadResult(users: nil, diagnostics: sink.sorted)
    }

    /// Parses the text of a users file (`file` names it in the diagnostics).
    public static func parse(text: String, file: String) -> LoadResult {
        var sink = DiagnosticSink(file: file)
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch let error as YamlError {
            // Yams quotes the document in its messages: only its first line is kept, and a duplicate name is
            // found and placed here, so no password reaches a diagnostic.
            let (location, message) = ConfigLoader.describe(error)
            if message.contains("duplicated key") {
                reportDuplicates(in: text, sink: &sink)
            }
            if sink.diagnostics.isEmpty {
                let problem = message.split(separator: "\n").first.map(String.init) ?? "unreadable"
                sink.error(
                    location, "not valid YAML: \(problem.prefix(80))", fix: "write one 'name: password' line per user")
            }
            return LoadResult(users: nil, diagnostics: sink.sorted)
        } catch {
            sink.error(.start, "not valid YAML", fix: "write one 'name: password' line per user")
            return LoadResult(users: nil, diagnostics: sink.sorted)
        }
        guard let root, case .mapping(let mapping) = root else {
            sink.error(
                .start, "the users file must be a mapping of user names to passwords",
                fix: "write one 'name: password' (or 'name: {nt_hash: HEX}') line per user")
            return LoadResult(users: nil, diagnostics: sink.sorted)
        }
        var hashes: [String: SecretBytes] = [:]
        var firstSeen: [String: SourceLocation] = [:]
        for (keyNode, valueNode) in mapping {
            let at = location(keyNode) ?? .start
            guard case .scalar(let key) = keyNode, !key.string.isEmpty else {
                sink.error(at, "a user name must be non-empty text")
                continue
            }
            let name = key.string
            guard name.utf8.count <= EAPMSCHAPv2Server.maximumNameLength, !name.contains(where: \.isNewline) else {
                sink.error(at, "the user name '\(name.prefix(40))' is too long or has a line break")
                continue
            }
            if let earlier = firstSeen[name] {
                sink.error(at, "user '\(name)' appears twice (first at line \(earlier.line))", fix: "keep one of them")
                continue
            }
            firstSeen[name] = at
            if let hash = ntHash(of: valueNode, user: name, at: location(valueNode) ?? at, sink: &sink) {
                hashes[name] = hash
            }
        }
        if hashes.isEmpty, sink.diagnostics.isEmpty {
            sink.error(.start, "the users file names no user", fix: "add a 'name: password' line")
        }
        let failed = sink.diagnostics.contains { $0.severity == .error }
        return LoadResult(users: failed ? nil : EAPUserDatabase(ntHashes: hashes), diagnostics: sink.sorted)
    }

    /// The NT hash of one entry: a password, or `{nt_hash: 32 hex digits}`.
    private static func ntHash(of node: Node, user: String, at: SourceLocation, sink: inout DiagnosticSink)
        -> SecretBytes?
    {
        switch node {
        case .scalar(let scalar):
            guard !scalar.string.isEmpty, scalar.style != .plain || scalar.string != "~" && scalar.string != "null"
            else {
                sink.error(at, "user '\(user)' has an empty password", fix: "give a password or an nt_hash")
                return nil
            }
            do {
                return try MSCHAPv2Crypto.ntPasswordHash(password: scalar.string)
            } catch {
                sink.error(at, "cannot hash the password of user '\(user)': \(error)")
                return nil
            }
        case .mapping(let mapping):
            guard mapping.count == 1, let (keyNode, valueNode) = mapping.first,
                case .scalar(let key) = keyNode, key.string == "nt_hash", case .scalar(let value) = valueNode
            else {
                sink.error(at, "user '\(user)' must map to a password or to {nt_hash: HEX}")
                return nil
            }
            guard let bytes = hexBytes(value.string), bytes.count == MSCHAPv2Crypto.passwordHashLength else {
                sink.error(
                    location(valueNode) ?? at, "the nt_hash of user '\(user)' must be 32 hex digits (16 bytes)",
                    fix: "compute it as MD4 of the UTF-16LE password, e.g. with 'iconv -t utf-16le | openssl "
                        + "dgst -md4 -provider legacy'")
                return nil
            }
            return SecretBytes(bytes)
        case .sequence, .alias:
            sink.error(at, "user '\(user)' must map to a password or to {nt_hash: HEX}")
            return nil
        }
    }

    /// The names written twice as top-level keys, each at its second line.
    private static func reportDuplicates(in text: String, sink: inout DiagnosticSink) {
        var firstLine: [String: Int] = [:]
        for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            guard let first = line.first, !first.isWhitespace, first != "#", let colon = line.firstIndex(of: ":")
            else { continue }
            var name = String(line[..<colon].reversed().drop(while: \.isWhitespace).reversed())
            if name.count >= 2, let quote = name.first, quote == "\"" || quote == "'", name.last == quote {
                name = String(name.dropFirst().dropLast())
            }
            if let earlier = firstLine[name] {
                sink.error(
                    SourceLocation(line: index + 1, column: 1),
                    "user '\(name)' appears twice (first at line \(earlier))", fix: "keep one of them")
            } else {
                firstLine[name] = index + 1
            }
        }
    }

    private static func location(_ node: Node) -> SourceLocation? {
        node.mark.map { SourceLocation(line: $0.line, column: $0.column) }
    }

    private static func hexBytes(_ text: String) -> [UInt8]? {
        let digits = Array(text.utf8)
        guard digits.count % 2 == 0 else { return nil }
        var bytes: [UInt8] = []
        var index = 0
        while index < digits.count {
            guard let high = hexValue(digits[index]), let low = hexValue(digits[index + 1]) else { return nil }
            bytes.append(high << 4 | low)
            index += 2
        }
        return bytes
    }

    private static func hexValue(_ digit: UInt8) -> UInt8? {
        switch digit {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): digit - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): digit - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): digit - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
