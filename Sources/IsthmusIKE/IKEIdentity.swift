import IsthmusIP

/// An IKE identity: what a peer says it is in IDi/IDr (RFC 7296 section 3.5) or IKEv1's ID payload
/// (RFC 2407 section 4.6.2.1), and what a connection sends and expects. The ID types have the same numbers
/// in both versions. Written as strongSwan writes `id`: an address, `office.example.com` or
/// `@office.example.com` (FQDN), `office@example.com` (user FQDN), `keyid:6f6666696365` or `@#6f6666696365`
/// (key ID, hex), and a distinguished name as `C=CH, O=Example, CN=office` (whose text<->DER conversion lives
/// in IsthmusPKI, so a DN is parsed there and stored here both ways) or `asn1dn:#HEX`.
public enum IKEIdentity: Sendable, Hashable, CustomStringConvertible {
    /// ID_IPV4_ADDR or ID_IPV6_ADDR.
    case address(IPAddress)
    /// ID_FQDN: a host name without a trailing dot.
    case fqdn(String)
    /// ID_RFC822_ADDR (IKEv2) / ID_USER_FQDN (IKEv1): `user@domain`.
    case userFQDN(String)
    /// ID_KEY_ID: opaque bytes.
    case keyID([UInt8])
    /// ID_DER_ASN1_DN (9): the DER encoding of an X.501 Name and its text as strongSwan prints it
    /// (`C=CH, O=Example, CN=office`); the text is empty when nobody rendered it (a DN off the wire).
    case distinguishedName(der: [UInt8], text: String)

    /// The ID type number (1 IPv4, 2 FQDN, 3 user FQDN, 5 IPv6, 9 DER ASN.1 DN, 11 key ID).
    public var typeNumber: UInt8 {
        switch self {
        case .address(let address): address.family == .v4 ? 1 : 5
        case .fqdn: 2
        case .userFQDN: 3
        case .distinguishedName: 9
        case .keyID: 11
        }
    }

    /// The identification data as it goes on the wire.
    public var data: [UInt8] {
        switch self {
        case .address(let address): address.bytes
        case .fqdn(let name), .userFQDN(let name): Array(name.utf8)
        case .keyID(let bytes): bytes
        case .distinguishedName(let der, _): der
        }
    }

    /// The identity a payload of type `type` with `data` carries; nil for a type not supported here
    /// (GN, subnets and ranges) or data that does not fit it. A distinguished name (9) must be a DER
    /// SEQUENCE; its text is left empty for whoever can render DER (IsthmusPKI).
    public init?(type: UInt8, data: [UInt8]) {
        switch type {
        case 1, 5:
            guard data.count == (type == 1 ? 4 : 16), let address = IPAddress(bytes: data) else { return nil }
            self = .address(address)
        case 2, 3:
            guard !data.isEmpty, let text = String(validating: data, as: UTF8.self) else { return nil }
            self = type == 2 ? .fqdn(text) : .userFQDN(text)
        case 9:
            guard data.count > 2, data.first == 0x30 else { return nil }
            self = .distinguishedName(der: data, text: "")
        case 11:
            guard !data.isEmpty else { return nil }
            self = .keyID(data)
        default:
            return nil
        }
    }

    /// Parses strongSwan's `id` notation (see the type's description); nil for an empty or malformed one.
    public init?(parsing text: String) {
        guard !text.isEmpty, !text.contains(where: \.isWhitespace) else { return nil }
        if let address = try? IPAddress(parsing: text) {
            self = .address(address)
            return
        }
        for prefix in ["keyid:", "@#", "asn1dn:#"] where text.lowercased().hasPrefix(prefix) {
            let hex = Array(text.dropFirst(prefix.count).utf8)
            guard !hex.isEmpty, hex.count % 2 == 0 else { return nil }
            var bytes: [UInt8] = []
            var index = 0
            while index < hex.count {
                guard let byte = UInt8(String(decoding: hex[index..<(index + 2)], as: UTF8.self), radix: 16) else {
                    return nil
                }
                bytes.append(byte)
                index += 2
            }
            if prefix == "asn1dn:#" {
                guard let name = IKEIdentity(type: 9, data: bytes) else { return nil }
                self = name
            } else {
                self = .keyID(bytes)
            }
            return
        }
        if text.hasPrefix("@") {
            let name = String(text.dropFirst())
            guard !name.isEmpty, !name.contains("@") else { return nil }
            self = .fqdn(name)
        } else if text.contains("@") {
            let parts = text.split(separator: "@", omittingEmptySubsequences: false)
            guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else { return nil }
            self = .userFQDN(text)
        } else {
            guard !text.contains("/") else { return nil }
            self = .fqdn(text)
        }
    }

    /// Whether a peer presenting `self` is the one `expected` names: host and user names compare without
    /// regard to case (RFC 4343), addresses and key IDs exactly, distinguished names by their DER or, when
    /// both were rendered, by their text without regard to case (IsthmusPKI compares DER DNs attribute by
    /// attribute).
    public func matches(_ expected: IKEIdentity) -> Bool {
        switch (self, expected) {
        case (.fqdn(let a), .fqdn(let b)), (.userFQDN(let a), .userFQDN(let b)): a.lowercased() == b.lowercased()
        case (.distinguishedName(let a, let aText), .distinguishedName(let b, let bText)):
            a == b || (!aText.isEmpty && aText.lowercased() == bText.lowercased())
        default: self == expected
        }
    }

    public var description: String {
        switch self {
        case .address(let address): "\(address)"
        case .fqdn(let name): name
        case .userFQDN(let name): name
        case .keyID(let bytes): "keyid:" + Self.hex(bytes)
        case .distinguishedName(let der, let text): text.isEmpty ? "asn1dn:#" + Self.hex(der) : text
        }
    }

    private static func hex(_ bytes: [UInt8]) -> String {
        bytes.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
    }
}
