/// New pre-shared keys for `isthmus key rotate`.
///
/// A key is 32 bytes (256 bits) from the system CSPRNG written as a 43-character base-62 number
/// (`0-9 A-Z a-z`). The form is chosen for the devices that have to accept it:
/// - letters and digits only: no quote, `#`, `$`, `\`, `=` or space that a router's web form, a
///   `swanctl.conf`/`ipsec.secrets` string or a shell would have to escape, and nothing a human
///   confuses when reading it out (there is no punctuation at all);
/// - 43 characters fit every length limit we know of: the NETGEAR ProSAFE "Pre-shared Key" field
///   (8 to 49 characters), cloud consoles (up to 128), strongSwan and libreswan (no limit);
/// - 256 bits, as strong as the strongest key IKE negotiates (RFC 7296 section 2.15 asks for a PSK
///   as strong as the negotiated keys).
///
/// Base 62 of the whole 256-bit number (not one character per byte) keeps every bit: the encoding is
/// a bijection, so the key has exactly the 256 bits of entropy the bytes had.
public enum SharedKeyGenerator {
    /// Random bytes per key: 256 bits.
    public static let keyBytes = 32
    /// The alphabet: digits, upper case, lower case (62 symbols, all printable ASCII).
    public static let alphabet = Array("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz".utf8)
    /// Characters of a key: the smallest n with 62^n >= 2^256 (43 * log2(62) = 256.03).
    public static let keyCharacters = 43

    /// A new key from the system CSPRNG (`getrandom(2)` through `SystemRandomNumberGenerator`).
    public static func generate() -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        return generate(using: &generator)
    }

    /// A new key from `generator` (tests pass a deterministic one).
    public static func generate<G: RandomNumberGenerator>(using generator: inout G) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: keyBytes)
        for index in bytes.indices { bytes[index] = UInt8.random(in: .min ... .max, using: &generator) }
        defer { for index in bytes.indices { bytes[index] = 0 } }
        return encode(bytes)
    }

    /// `bytes` as a big-endian number in base 62, left-padded with `0` to ``keyCharacters`` digits
    /// (for 32 bytes; longer inputs give as many digits as they need).
    static func encode(_ bytes: [UInt8]) -> [UInt8] {
        var number = bytes
        var digits: [UInt8] = []
        digits.reserveCapacity(keyCharacters)
        while number.contains(where: { $0 != 0 }) {
            // Long division of the base-256 number by 62; the remainder is the next digit.
            var remainder = 0
            for index in number.indices {
                let value = remainder << 8 | Int(number[index])
                number[index] = UInt8(value / 62)
                remainder = value % 62
            }
            digits.append(alphabet[remainder])
        }
        while digits.count < keyCharacters { digits.append(alphabet[0]) }
        for index in number.indices { number[index] = 0 }
        return digits.reversed()
    }
}
