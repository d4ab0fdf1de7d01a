/// The Authentication payload (RFC 7296 section 3.8).
public struct IKEv2AuthenticationPayload: PayloadBody {
    public var method: IKEv2AuthenticationMethod
    /// The authentication data (signature or MAC). For Digital Signature (14), it starts with the
    /// ASN.1 AlgorithmIdentifier length and value (RFC 7427 section 3); that is left to the caller.
    public var data: [UInt8]

    public init(method: IKEv2AuthenticationMethod, data: [UInt8]) {
        self.method = method
        self.data = data
    }

    init(parsing body: inout WireReader) throws(WireError) {
        self.method = IKEv2AuthenticationMethod(rawValue: try body.expectUInt8("AUTH method"))
        _ = try body.expectSlice(3, "AUTH reserved")
        self.data = Array(body.readRemaining())
    }

    func serializeBody(into writer: inout WireWriter) {
        writer.writeUInt8(self.method.rawValue)
        writer.writeZeros(3)
        writer.writeBytes(self.data)
    }
}

/// An IKEv2 authentication method (RFC 7296 section 3.8, RFC 4754, RFC 7427).
public struct IKEv2AuthenticationMethod: RawRepresentable, Hashable, Sendable {
    public var rawValue: UInt8

    public init(rawValue: UInt8) {
        self.rawValue = rawValue
    }

    /// RSA Digital Signature (1), PKCS#1 v1.5 with SHA-1.
    public static let rsaDigitalSignature = IKEv2AuthenticationMethod(rawValue: 1)
    /// Shared Key Message Integrity Code (2).
    public static let sharedKeyMessageIntegrityCode = IKEv2AuthenticationMethod(rawValue: 2)
    /// DSS Digital Signature (3).
    public static let dssDigitalSignature = IKEv2AuthenticationMethod(rawValue: 3)
    /// ECDSA with SHA-256 on the P-256 curve (9), RFC 4754.
    public static let ecdsaSHA256P256 = IKEv2AuthenticationMethod(rawValue: 9)
    /// ECDSA with SHA-384 on the P-384 curve (10), RFC 4754.
    public static let ecdsaSHA384P384 = IKEv2AuthenticationMethod(rawValue: 10)
    /// ECDSA with SHA-512 on the P-521 curve (11), RFC 4754.
    public static let ecdsaSHA512P521 = IKEv2AuthenticationMethod(rawValue: 11)
    /// Digital Signature (14), RFC 7427.
    public static let digitalSignature = IKEv2AuthenticationMethod(rawValue: 14)
}
