import IsthmusIP
import X509

/// A subject alternative name of a certificate (RFC 5280 4.2.1.6) of the kinds IKE identities use.
public enum SubjectAltName: Sendable, Hashable, CustomStringConvertible {
    /// dNSName: an IKE ID_FQDN.
    case dns(String)
    /// rfc822Name: an IKE ID_RFC822_ADDR (user FQDN).
    case email(String)
    /// iPAddress: an IKE ID_IPV4_ADDR / ID_IPV6_ADDR.
    case ip(IPAddress)

    /// As `openssl x509 -text` and the CLI print it: "DNS:vpn.example.com", "email:..", "IP:..".
    public var description: String {
        switch self {
        case .dns(let name): "DNS:\(name)"
        case .email(let address): "email:\(address)"
        case .ip(let address): "IP:\(address)"
        }
    }

    /// The names of a certificate's subjectAltName extension that Isthmus matches (others are skipped).
    static func names(of certificate: Certificate) throws -> [SubjectAltName] {
        guard let names = try certificate.extensions.subjectAlternativeNames else { return [] }
        return names.compactMap { name in
            switch name {
            case .dnsName(let dns): .dns(dns)
            case .rfc822Name(let email): .email(email)
            case .ipAddress(let octets): IPAddress(bytes: octets.bytes).map { .ip($0) }
            default: nil
            }
        }
    }

    /// The name as a swift-certificates GeneralName (for issuing).
    public var generalName: GeneralName {
        switch self {
        case .dns(let name): .dnsName(name)
        case .email(let address): .rfc822Name(address)
        case .ip(let address): .ipAddress(.init(contentBytes: address.bytes[...]))
        }
    }

    /// Reads the CLI's notation: `dns:NAME`, `email:ADDRESS`, `ip:ADDRESS` (the prefix case-insensitive).
    public init(parsing text: String) throws(CertificateFailure) {
        guard let colon = text.firstIndex(of: ":") else {
            throw .malformed("'\(text)' is not a subject alternative name (dns:NAME, email:ADDRESS or ip:ADDRESS)")
        }
        let kind = text[..<colon].lowercased()
        let value = String(text[text.index(after: colon)...])
        guard !value.isEmpty else { throw .malformed("'\(text)' has an empty name") }
        switch kind {
        case "dns": self = .dns(value)
        case "email": self = .email(value)
        case "ip":
            guard let address = try? IPAddress(parsing: value) else {
                throw .malformed("'\(value)' is not an IP address")
            }
            self = .ip(address)
        default:
            throw .malformed("'\(text)' is not a subject alternative name (dns:NAME, email:ADDRESS or ip:ADDRESS)")
        }
    }
}
