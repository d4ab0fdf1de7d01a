/// Revoked certificates, as the cloud portal's "revoked certificates" list: serial numbers and thumbprints.
///
/// The file (`gateway.revoked`, written by `isthmus pki revoke`) has one entry a line, `serial HEX`,
/// `sha1 HEX` or `sha256 HEX` (colons allowed in HEX), with `#` starting a comment; blank lines are skipped.
public struct RevocationList: Sendable, Hashable {
    /// Serial numbers in lowercase hex, no colons, no leading zero bytes.
    public var serials: Set<String>
    /// SHA-1 thumbprints of the certificates' DER, lowercase hex.
    public var sha1Thumbprints: Set<String>
    /// SHA-256 thumbprints of the certificates' DER, lowercase hex.
    public var sha256Thumbprints: Set<String>

    /// An empty list.
    public init() {
        serials = []
        sha1Thumbprints = []
        sha256Thumbprints = []
    }

    /// The number of entries.
    public var count: Int { serials.count + sha1Thumbprints.count + sha256Thumbprints.count }

    /// Whether the certificate is on the list by its serial or either thumbprint.
    public func contains(_ certificate: CertificateDetails) -> Bool {
        serials.contains(certificate.serialHex) || sha1Thumbprints.contains(certificate.sha1Thumbprint)
            || sha256Thumbprints.contains(certificate.sha256Thumbprint)
    }

    /// Reads the file format above; the first bad line throws, naming its number.
    public init(parsing text: String) throws(RevocationListError) {
        self.init()
        for (index, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            var line = Substring(rawLine)
            if let hash = line.firstIndex(of: "#") { line = line[..<hash] }
            let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" })
            if words.isEmpty { continue }
            let lineNumber = index + 1
            let shown = String(rawLine.trimmingWhitespace())
            guard words.count == 2 else {
                throw RevocationListError(
                    line: lineNumber, text: shown, reason: "expected 'serial HEX', 'sha1 HEX' or 'sha256 HEX'")
            }
            guard let hex = Self.normalizedHex(words[1]) else {
                throw RevocationListError(line: lineNumber, text: shown, reason: "'\(words[1])' is not hex")
            }
            switch words[0].lowercased() {
            case "serial":
                serials.insert(Self.normalizedSerial(hex))
            case "sha1":
                guard hex.count == 40 else {
                    throw RevocationListError(
                        line: lineNumber, text: shown, reason: "a SHA-1 thumbprint has 40 hex digits")
                }
                sha1Thumbprints.insert(hex)
            case "sha256":
                guard hex.count == 64 else {
                    throw RevocationListError(
                        line: lineNumber, text: shown, reason: "a SHA-256 thumbprint has 64 hex digits")
                }
                sha256Thumbprints.insert(hex)
            default:
                throw RevocationListError(
                    line: lineNumber, text: shown,
                    reason: "'\(words[0])' is not an entry kind (serial, sha1 or sha256)")
            }
        }
    }

    /// Lowercase hex without colons, nil if anything else is in it or the digits are odd in number.
    static func normalizedHex(_ text: Substring) -> String? {
        let digits = text.filter { $0 != ":" }.lowercased()
        guard !digits.isEmpty, digits.count.isMultiple(of: 2),
            digits.allSatisfy({ $0.isHexDigit && $0.isASCII })
        else { return nil }
        return digits
    }

    /// A serial without leading zero bytes, as ``CertificateDetails/serialHex`` has it.
    static func normalizedSerial(_ hex: String) -> String {
        var digits = Substring(hex)
        while digits.count > 2, digits.hasPrefix("00") { digits = digits.dropFirst(2) }
        return String(digits)
    }

    /// One line of the file for a serial, with a comment (`serial 1a2b  # alice 2026-12-07`).
    public static func line(serialHex: String, comment: String) -> String {
        "serial \(normalizedSerial(serialHex.lowercased()))  # \(comment)\n"
    }

    /// One line of the file for a SHA-256 thumbprint, with a comment.
    public static func line(sha256Thumbprint: String, comment: String) -> String {
        "sha256 \(sha256Thumbprint.lowercased())  # \(comment)\n"
    }
}

/// A line of a revocation list file that cannot be read.
public struct RevocationListError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The line number, from 1.
    public let line: Int
    /// The line as written (comment included).
    public let text: String
    /// What is wrong with it.
    public let reason: String

    public init(line: Int, text: String, reason: String) {
        self.line = line
        self.text = text
        self.reason = reason
    }

    public var description: String { "Line \(line) of the revocation list ('\(text)'): \(reason)." }
}
