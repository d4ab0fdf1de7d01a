/// The Certificate payload (CERT, RFC 7296 section 3.6) and the Certificate Request payload
/// (CERTREQ, RFC 7296 section 3.7), which share one layout: an encoding octet then data.
///
/// For CERTREQ with X.509 encoding, `data` is a concatenation of 20-byte SHA-1 hashes of trusted
/// CA public keys.
public struct IKEv2CertificatePayload: PayloadBody {
    public var encoding: IKEv2CertificateEncoding
    public var data: [UInt8]

    public init(encoding: IKEv2CertificateEncoding, data: [UInt8]) {
        self.encoding = encoding
        self.data = data
    }

    init(parsing body: inout WireReader) throws(WireError) {
        self.encoding = IKEv2CertificateEncoding(rawValue: try body.expectUInt8("certificate encoding"))
        self.data = Array(body.readRemaining())
    }

    func serializeBody(into writer: inout WireWriter) {
        writer.writeUInt8(self.encoding.rawValue)
        writer.writeBytes(self.data)
    }
}

/// A certificate encoding (RFC 7296 section 3.6).
public struct IKEv2CertificateEncoding: RawRepresentable, Hashable, Sendable {
    public var rawValue: UInt8

    public init(rawValue: UInt8) {
        self.rawValue = rawValue
    }

    /// X.509 Certificate - Signature (4): a DER-encoded certificate.
    public static let x509Signature = IKEv2CertificateEncoding(rawValue: 4)
    /// Certificate Revocation List (7).
    public static let crl = IKEv2CertificateEncoding(rawValue: 7)
    /// Raw RSA Key (11), deprecated by RFC 7670.
    public static let rawRSAKey = IKEv2CertificateEncoding(rawValue: 11)
    /// Hash and URL of X.509 certificate (12).
    public static let hashAndURLOfX509Certificate = IKEv2CertificateEncoding(rawValue: 12)
    /// Hash and URL of X.509 bundle (13).
    public static let hashAndURLOfX509Bundle = IKEv2CertificateEncoding(rawValue: 13)
    /// Raw Public Key (15), RFC 7670.
    public static let rawPublicKey = IKEv2CertificateEncoding(rawValue: 15)
}
