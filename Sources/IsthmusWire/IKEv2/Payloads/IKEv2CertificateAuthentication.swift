/// The structures inside the payloads of IKEv2 certificate authentication: what a CERT payload carries
/// (RFC 7296 section 3.6), the authorities a CERTREQ names (section 3.7), the AUTH data of the Digital
/// Signature method (RFC 7427 section 3) and the SIGNATURE_HASH_ALGORITHMS notification (RFC 7427
/// section 4). Each parses untrusted bytes and throws ``WireError``, never traps.

/// What a CERT payload (RFC 7296 section 3.6) carries, by encoding.
public enum IKEv2CertificateContent: Hashable, Sendable {
    /// X.509 Certificate - Signature (4): one DER-encoded certificate.
    case x509(der: [UInt8])
    /// Hash and URL of X.509 certificate (12): the SHA-1 hash of the DER certificate and where it could be
    /// fetched. Parsed so it can be named in a log line; never followed.
    case hashAndURL(sha1: [UInt8], url: String)
    /// Any other encoding, kept raw.
    case other(CertificateEncoding, [UInt8])

    /// Length of a SHA-1 hash, the unit of CERTREQ data and of Hash and URL (RFC 7296 sections 3.6, 3.7).
    public static let sha1Length = 20

    /// Reads the content of a CERT payload. An X.509 certificate must not be empty; Hash and URL must
    /// hold a 20-byte hash and a URL in printable ASCII.
    public init(parsing payload: CertificatePayload) throws(WireError) {
        switch payload.encoding {
        case .x509Signature:
            guard !payload.data.isEmpty else {
                throw WireError(.truncated, at: 1, "an X.509 CERT payload holds no certificate")
            }
            self = .x509(der: payload.data)
        case .hashAndURLOfX509Certificate:
            guard payload.data.count > Self.sha1Length else {
                throw WireError(.truncated, at: 1, "a Hash and URL CERT payload needs a 20-byte hash and a URL")
            }
            let urlBytes = payload.data.dropFirst(Self.sha1Length)
            guard urlBytes.allSatisfy({ (0x21...0x7e).contains($0) }) else {
                throw WireError(
                    .invalidValue, at: 1 + Self.sha1Length, "the URL of a Hash and URL CERT payload is not printable")
            }
            self = .hashAndURL(
                sha1: Array(payload.data.prefix(Self.sha1Length)), url: String(decoding: urlBytes, as: UTF8.self))
        default:
            self = .other(payload.encoding, payload.data)
        }
    }

    /// The CERT payload that carries this content.
    public var payload: CertificatePayload {
        switch self {
        case .x509(let der): CertificatePayload(encoding: .x509Signature, data: der)
        case .hashAndURL(let hash, let url):
            CertificatePayload(encoding: .hashAndURLOfX509Certificate, data: hash + Array(url.utf8))
        case .other(let encoding, let data): CertificatePayload(encoding: encoding, data: data)
        }
    }
}

/// The authorities an X.509 CERTREQ payload names (RFC 7296 section 3.7): the SHA-1 hashes of their
/// SubjectPublicKeyInfo, concatenated.
public struct IKEv2CertificateAuthorities: Hashable, Sendable {
    /// One 20-byte SHA-1 hash per trusted authority.
    public var keyHashes: [[UInt8]]

    /// At most this many authorities are read from one CERTREQ (strongSwan sends one per CA it trusts).
    public static let maximumCount = 64

    public init(keyHashes: [[UInt8]]) {
        self.keyHashes = keyHashes
    }

    /// Reads an X.509 CERTREQ: the data must be a whole number of 20-byte hashes, at most
    /// ``maximumCount``; an empty one asks for any certificate.
    public init(parsing payload: CertificatePayload) throws(WireError) {
        guard payload.encoding == .x509Signature else {
            throw WireError(
                .invalidValue, at: 0, "a CERTREQ of encoding \(payload.encoding.rawValue) names no X.509 authorities",
                value: UInt32(payload.encoding.rawValue))
        }
        let length = IKEv2CertificateContent.sha1Length
        guard payload.data.count % length == 0 else {
            throw WireError(
                .lengthMismatch, at: 1, "CERTREQ data of \(payload.data.count) bytes is not a list of SHA-1 hashes")
        }
        guard payload.data.count / length <= Self.maximumCount else {
            throw WireError(.limitExceeded, at: 1, "CERTREQ names more than \(Self.maximumCount) authorities")
        }
        self.keyHashes = stride(from: 0, to: payload.data.count, by: length).map {
            Array(payload.data[$0..<($0 + length)])
        }
    }

    /// The CERTREQ payload naming these authorities.
    /// - Precondition: every hash is 20 bytes long.
    public var payload: CertificatePayload {
        precondition(keyHashes.allSatisfy { $0.count == IKEv2CertificateContent.sha1Length }, "SHA-1 hashes only")
        return CertificatePayload(encoding: .x509Signature, data: keyHashes.flatMap { $0 })
    }
}

/// The AUTH data of the Digital Signature method (14, RFC 7427 section 3): a one-octet length, the
/// DER AlgorithmIdentifier of the signature scheme, then the signature.
public struct IKEv2DigitalSignature: Hashable, Sendable {
    /// The DER-encoded ASN.1 AlgorithmIdentifier (1 to 255 octets).
    public var algorithmIdentifier: [UInt8]
    public var signature: [UInt8]

    public init(algorithmIdentifier: [UInt8], signature: [UInt8]) {
        self.algorithmIdentifier = algorithmIdentifier
        self.signature = signature
    }

    /// Reads the AUTH data of method 14: a length of 1 to 255, that many octets of AlgorithmIdentifier
    /// (a DER SEQUENCE), and a signature that is not empty.
    public init(parsing data: [UInt8]) throws(WireError) {
        var reader = WireReader(data)
        let length = Int(try reader.expectUInt8("AlgorithmIdentifier length"))
        guard length > 0 else {
            throw WireError(.lengthMismatch, at: 0, "the AlgorithmIdentifier of a Digital Signature AUTH is empty")
        }
        let identifier = try reader.expectBytes(length, "AlgorithmIdentifier")
        guard identifier[0] == 0x30 else {
            throw WireError(.invalidValue, at: 1, "the AlgorithmIdentifier is not a DER SEQUENCE")
        }
        let signature = Array(reader.readRemaining())
        guard !signature.isEmpty else {
            throw WireError(.truncated, at: 1 + length, "a Digital Signature AUTH holds no signature")
        }
        self.init(algorithmIdentifier: identifier, signature: signature)
    }

    /// The AUTH data as it goes on the wire.
    /// - Precondition: the AlgorithmIdentifier is 1 to 255 octets long.
    public var bytes: [UInt8] {
        precondition((1...255).contains(algorithmIdentifier.count), "AlgorithmIdentifier of 1-255 octets")
        return [UInt8(algorithmIdentifier.count)] + algorithmIdentifier + signature
    }
}

/// A hash algorithm of the SIGNATURE_HASH_ALGORITHMS notification (RFC 7427 section 4, IANA "IKEv2 Hash
/// Algorithms").
public struct IKEv2HashAlgorithm: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt16

    public init(rawValue: UInt16) {
        self.rawValue = rawValue
    }

    public static let sha1 = IKEv2HashAlgorithm(rawValue: 1)
    public static let sha256 = IKEv2HashAlgorithm(rawValue: 2)
    public static let sha384 = IKEv2HashAlgorithm(rawValue: 3)
    public static let sha512 = IKEv2HashAlgorithm(rawValue: 4)
    /// Identity (5), RFC 8420: the signature algorithm hashes by itself (EdDSA).
    public static let identity = IKEv2HashAlgorithm(rawValue: 5)

    public var description: String {
        switch self {
        case .sha1: "SHA-1"
        case .sha256: "SHA2-256"
        case .sha384: "SHA2-384"
        case .sha512: "SHA2-512"
        case .identity: "Identity"
        default: "hash \(rawValue)"
        }
    }

    /// At most this many algorithms are read from one notification.
    public static let maximumCount = 32

    /// Reads the data of N(SIGNATURE_HASH_ALGORITHMS): a list of 16-bit algorithm numbers.
    public static func parseList(_ data: [UInt8]) throws(WireError) -> [IKEv2HashAlgorithm] {
        guard data.count % 2 == 0 else {
            throw WireError(.lengthMismatch, at: 0, "SIGNATURE_HASH_ALGORITHMS data of odd length \(data.count)")
        }
        guard data.count / 2 <= maximumCount else {
            throw WireError(.limitExceeded, at: 0, "SIGNATURE_HASH_ALGORITHMS lists more than \(maximumCount)")
        }
        return stride(from: 0, to: data.count, by: 2).map {
            IKEv2HashAlgorithm(rawValue: UInt16(data[$0]) << 8 | UInt16(data[$0 + 1]))
        }
    }

    /// The data of N(SIGNATURE_HASH_ALGORITHMS) listing `algorithms`.
    public static func serializeList(_ algorithms: [IKEv2HashAlgorithm]) -> [UInt8] {
        algorithms.flatMap { [UInt8($0.rawValue >> 8), UInt8($0.rawValue & 0xff)] }
    }
}

extension IKEv2NotifyPayload {
    /// N(SIGNATURE_HASH_ALGORITHMS) listing `algorithms` (RFC 7427 section 4).
    public static func signatureHashAlgorithms(_ algorithms: [IKEv2HashAlgorithm]) -> IKEv2NotifyPayload {
        IKEv2NotifyPayload(
            protocolID: .none, spi: [], notifyType: .signatureHashAlgorithms,
            data: IKEv2HashAlgorithm.serializeList(algorithms))
    }
}
