/// The IP version of an address or prefix.
public enum IPFamily: Sendable, Hashable, CustomStringConvertible {
    case v4
    case v6

    /// Address width in bits: 32 or 128.
    public var bitWidth: Int {
        switch self {
        case .v4: 32
        case .v6: 128
        }
    }

    public var description: String {
        switch self {
        case .v4: "IPv4"
        case .v6: "IPv6"
        }
    }
}

/// An IPv4 or IPv6 address.
///
/// Both families share one 128-bit representation so prefix arithmetic is written once; an IPv4
/// address uses the low 32 bits. Textual forms follow RFC 4291 section 2.2 when parsing and
/// RFC 5952 when printing (lower case, longest zero run compressed).
public struct IPAddress: Sendable, Hashable, Comparable, CustomStringConvertible {
    public let family: IPFamily
    /// The address as an unsigned integer (IPv4 in the low 32 bits).
    public let value: UInt128

    public init(family: IPFamily, value: UInt128) {
        precondition(family == .v6 || value <= UInt128(UInt32.max), "IPv4 value out of range")
        self.family = family
        self.value = value
    }

    /// An IPv4 address from its 32-bit value.
    public init(v4 value: UInt32) {
        self.init(family: .v4, value: UInt128(value))
    }

    /// An address from network-order bytes: 4 for IPv4, 16 for IPv6; nil for any other count.
    public init?<Bytes: Collection>(bytes: Bytes) where Bytes.Element == UInt8 {
        let family: IPFamily
        switch bytes.count {
        case 4: family = .v4
        case 16: family = .v6
        default: return nil
        }
        var value: UInt128 = 0
        for byte in bytes { value = (value << 8) | UInt128(byte) }
        self.init(family: family, value: value)
    }

    /// The address in network byte order (4 or 16 bytes).
    public var bytes: [UInt8] {
        let count = family.bitWidth / 8
        return (0..<count).map { index in UInt8(truncatingIfNeeded: value >> UInt128(8 * (count - 1 - index))) }
    }

    /// Parses dotted-quad IPv4 or RFC 4291 IPv6 text (with `::` and an embedded dotted quad).
    public init(parsing text: some StringProtocol) throws(IPParseError) {
        let text = String(text)
        if text.contains(":") {
            self.init(family: .v6, value: try Self.parseV6(text))
        } else {
            self.init(family: .v4, value: UInt128(try Self.parseV4(text[...], whole: text)))
        }
    }

    public static func < (lhs: IPAddress, rhs: IPAddress) -> Bool {
        if lhs.family != rhs.family { return lhs.family == .v4 }
        return lhs.value < rhs.value
    }

    public var description: String {
        switch family {
        case .v4:
            let v = UInt32(truncatingIfNeeded: value)
            return "\(v >> 24).\((v >> 16) & 0xff).\((v >> 8) & 0xff).\(v & 0xff)"
        case .v6:
            return Self.formatV6(value)
        }
    }

    // MARK: - IPv4

    private static func parseV4(_ text: Substring, whole: String) throws(IPParseError) -> UInt32 {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else {
            throw IPParseError(input: whole, reason: "an IPv4 address has four dot-separated numbers")
        }
        var value: UInt32 = 0
        for part in parts {
            guard !part.isEmpty, part.count <= 3, part.allSatisfy({ $0.isASCII && $0.isNumber }) else {
                throw IPParseError(input: whole, reason: "'\(part)' is not a number from 0 to 255")
            }
            // Leading zeros are refused: inet_aton would read "010" as octal 8.
            guard part.count == 1 || part.first != "0" else {
                throw IPParseError(input: whole, reason: "'\(part)' has a leading zero (ambiguous: octal or decimal?)")
            }
            guard let octet = UInt32(part), octet <= 255 else {
                throw IPParseError(input: whole, reason: "\(part) is out of range: each number must be 0 to 255")
            }
            value = (value << 8) | octet
        }
        return value
    }

    // MARK: - IPv6

    private static func parseV6(_ text: String) throws(IPParseError) -> UInt128 {
        let halves = Self.splitAtDoubleColons(text)
        guard halves.count <= 2 else {
            throw IPParseError(input: text, reason: "'::' may appear only once in an IPv6 address")
        }
        func groups(_ part: String, allowTrailingV4: Bool) throws(IPParseError) -> [UInt16] {
            if part.isEmpty { return [] }
            let fields = part.split(separator: ":", omittingEmptySubsequences: false)
            var result: [UInt16] = []
            for (index, field) in fields.enumerated() {
                if field.contains("."), allowTrailingV4, index == fields.count - 1 {
                    let v4 = try parseV4(field, whole: text)
                    result.append(UInt16(v4 >> 16))
                    result.append(UInt16(v4 & 0xffff))
                    continue
                }
                guard !field.isEmpty, field.count <= 4, let group = UInt16(field, radix: 16) else {
                    throw IPParseError(input: text, reason: "'\(field)' is not a group of 1 to 4 hex digits")
                }
                result.append(group)
            }
            return result
        }
        let head: [UInt16]
        let tail: [UInt16]
        if halves.count == 2 {
            head = try groups(halves[0], allowTrailingV4: false)
            tail = try groups(halves[1], allowTrailingV4: true)
            guard head.count + tail.count <= 7 else {
                throw IPParseError(input: text, reason: "too many groups for an IPv6 address with '::'")
            }
        } else {
            head = try groups(halves[0], allowTrailingV4: true)
            tail = []
            guard head.count == 8 else {
                throw IPParseError(input: text, reason: "an IPv6 address has eight groups (or '::')")
            }
        }
        let all = head + Array(repeating: 0, count: 8 - head.count - tail.count) + tail
        return all.reduce(UInt128(0)) { ($0 << 16) | UInt128($1) }
    }

    /// Splits at each "::" (a string with three halves has two of them and is invalid).
    private static func splitAtDoubleColons(_ text: String) -> [String] {
        var halves: [String] = []
        var current = ""
        var index = text.startIndex
        while index < text.endIndex {
            let next = text.index(after: index)
            if text[index] == ":", next < text.endIndex, text[next] == ":" {
                halves.append(current)
                current = ""
                index = text.index(after: next)
            } else {
                current.append(text[index])
                index = next
            }
        }
        halves.append(current)
        return halves
    }

    /// RFC 5952 section 4: lower case, no leading zeros, the longest run (>= 2) of zero groups as `::`.
    private static func formatV6(_ value: UInt128) -> String {
        let groups = (0..<8).map { UInt16(truncatingIfNeeded: value >> UInt128(16 * (7 - $0))) }
        var bestStart = -1
        var bestLength = 0
        var index = 0
        while index < 8 {
            if groups[index] == 0 {
                var end = index
                while end < 8, groups[end] == 0 { end += 1 }
                if end - index > bestLength {
                    bestStart = index
                    bestLength = end - index
                }
                index = end
            } else {
                index += 1
            }
        }
        func hex(_ slice: ArraySlice<UInt16>) -> String {
            slice.map { String($0, radix: 16) }.joined(separator: ":")
        }
        guard bestLength >= 2 else { return hex(groups[...]) }
        return hex(groups[..<bestStart]) + "::" + hex(groups[(bestStart + bestLength)...])
    }
}

/// Why a text is not an IP address or prefix.
public struct IPParseError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The text that failed to parse.
    public let input: String
    /// A sentence for the user.
    public let reason: String
    /// For a prefix with host bits set: the prefix the user most likely meant.
    public let correctedPrefix: IPPrefix?

    public init(input: String, reason: String, correctedPrefix: IPPrefix? = nil) {
        self.input = input
        self.reason = reason
        self.correctedPrefix = correctedPrefix
    }

    public var description: String { "'\(input)': \(reason)" }
}
