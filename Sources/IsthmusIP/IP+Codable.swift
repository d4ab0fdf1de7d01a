// Addresses and prefixes encode as their text form (`192.168.1.0/24`), as configuration files write them.

extension IPAddress: Codable, IPTextCodable {}

extension IPPrefix: Codable, IPTextCodable {}

/// A value coded as its text form: parsed when decoded (a parse error becomes
/// `DecodingError.dataCorrupted`, with its sentence), its `description` when encoded.
protocol IPTextCodable: Codable, CustomStringConvertible {
    init(parsing text: String) throws(IPParseError)
}

extension IPTextCodable {
    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        do {
            self = try Self(parsing: text)
        } catch {
            throw DecodingError.dataCorrupted(
                .init(codingPath: decoder.codingPath, debugDescription: error.description))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}
