/// The Certificate and Certificate Request payloads, laid out alike in both versions (RFC 2408
/// sections 3.9 and 3.10, RFC 7296 sections 3.6 and 3.7): an encoding octet, then the data.
///
/// For a Certificate Request the data names trusted authorities: in IKEv2 with X.509 encoding, a
/// concatenation of 20-byte SHA-1 hashes of their public keys; in IKEv1 a distinguished name.
public struct CertificatePayload: PayloadBody {
    public var encoding: CertificateEncoding
    public var data: [UInt8]

    public init(encoding: CertificateEncoding, data: [UInt8]) {
        self.encoding = encoding
        self.data = data
    }

    init(parsing body: inout WireReader) throws(WireError) {
        self.encoding = CertificateEncoding(rawValue: try body.expectUInt8("certificate encoding"))
        self.data = Array(body.readRemaining())
    }

    func serializeBody(into writer: inout WireWriter) {
        writer.writeUInt8(self.encoding.rawValue)
        writer.writeBytes(self.data)
    }
}

/// A certificate encoding (RFC 2408 section 3.9, RFC 7296 section 3.6): IKEv2 kept ISAKMP's values
/// and added its own.
public struct CertificateEncoding: RawRepresentable, Hashable, Sendable {
    public var rawValue: UInt8

    public init(rawValue: UInt8) {
        self.rawValue = rawValue
    }

    /// X.509 Certificate - Signature (4): a DER-encoded certificate.
    public static let x509Signature = CertificateEncoding(rawValue: 4)
    /// Certificate Revocation List (7).
    public static let crl = CertificateEncoding(rawValue: 7)
    /// Raw RSA Key (11), IKEv2 only, deprecated by RFC 7670.
    public static let rawRSAKey = CertificateEncoding(rawValue: 11)
    /// Hash and URL of X.509 certificate (12), IKEv2 only.
    public static let hashAndURLOfX509Certificate = CertificateEncoding(rawValue: 12)
    /// Hash and URL of X.509 bundle (13), IKEv2 only.
    public static let hashAndURLOfX509Bundle = CertificateEncoding(rawValue: 13)
    /// Raw Public Key (15), IKEv2 only, RFC 7670.
    public static let rawPublicKey = CertificateEncoding(rawValue: 15)
}
