#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif
import Logging

#if canImport(Glibc)
    import Glibc
#endif

/// A swift-log handler that writes one JSON object per line to standard error
/// (`isthmus run --log-format json`): `time`, `level`, `label`, `message` and the metadata as fields.
public struct JSONLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    public var logLevel: Logger.Level = .info
    private let label: String
    private let write: @Sendable (String) -> Void

    /// A handler writing to standard error.
    public init(label: String) {
        self.init(label: label, write: { JSONLogHandler.writeStandardError($0) })
    }

    /// A handler writing each line (newline included) through `write`.
    public init(label: String, write: @escaping @Sendable (String) -> Void) {
        self.label = label
        self.write = write
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { $1 } }
        if let extra = event.metadata { merged.merge(extra) { $1 } }
        var fields: [(String, String)] = [
            ("time", JSONText.string(Date().formatted(.iso8601))),
            ("level", JSONText.string(event.level.rawValue)),
            ("label", JSONText.string(label)),
            ("message", JSONText.string(event.message.description)),
        ]
        let reserved: Set = ["time", "level", "label", "message"]
        for key in merged.keys.sorted() where !reserved.contains(key) {
            if let value = merged[key] { fields.append((key, JSONText.value(value))) }
        }
        write("{" + fields.map { "\(JSONText.string($0.0)):\($0.1)" }.joined(separator: ",") + "}\n")
    }

    static func writeStandardError(_ text: String) {
        var remaining = Array(text.utf8)[...]
        while !remaining.isEmpty {
            let written = remaining.withUnsafeBytes { Glibc.write(2, $0.baseAddress, $0.count) }
            if written < 0 && errno == EINTR { continue }
            guard written > 0 else { return }
            remaining = remaining.dropFirst(written)
        }
    }
}

/// Minimal JSON text for log lines (no encoder round trip per line).
enum JSONText {
    static func string(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case let control where control.value < 0x20:
                let hex = String(control.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    static func value(_ value: Logger.Metadata.Value) -> String {
        switch value {
        case .string(let text): string(text)
        case .stringConvertible(let convertible): string(convertible.description)
        case .array(let values): "[" + values.map(Self.value).joined(separator: ",") + "]"
        case .dictionary(let dictionary):
            "{"
                + dictionary.keys.sorted().compactMap { key in
                    dictionary[key].map { "\(string(key)):\(Self.value($0))" }
                }.joined(separator: ",") + "}"
        }
    }
}
