/// How many bytes each IKE SA key takes from prf+ (RFC 7296 section 2.14).
public struct IKEv2KeyLengths: Sendable, Equatable {
    /// Bytes of SK_d, SK_pi and SK_pr: the PRF's preferred key length (RFC 7296 section 2.13).
    public var prfKeyLength: Int
    /// Bytes of SK_ai and SK_ar (0 with an AEAD).
    public var integrityKeyLength: Int
    /// Bytes of SK_ei and SK_er, including any salt (RFC 5282 section 7.1, RFC 7634 section 4).
    public var encryptionKeyLength: Int

    /// Lengths given directly.
    public init(prfKeyLength: Int, integrityKeyLength: Int, encryptionKeyLength: Int) {
        self.prfKeyLength = prfKeyLength
        self.integrityKeyLength = integrityKeyLength
        self.encryptionKeyLength = encryptionKeyLength
    }

    /// Lengths for a negotiated IKE SA suite.
    ///
    /// - Parameters:
    ///   - integrityID: `nil` or NONE (0) with an AEAD.
    public init(prfID: UInt16, encryptionID: UInt16, keyBits: Int?, integrityID: UInt16?) throws(IsthmusCryptoError) {
        let prf = try CryptoSuites.make(prfID: prfID)
        let integrity: Int
        if let integrityID, integrityID != CryptoSuites.IntegrityID.none {
            integrity = try CryptoSuites.integrityKeyLength(integrityID: integrityID)
        } else {
            integrity = 0
        }
        self.init(
            prfKeyLength: prf.preferredKeyLength,
            integrityKeyLength: integrity,
            encryptionKeyLength: try CryptoSuites.encryptionKeyLength(encryptionID: encryptionID, keyBits: keyBits)
        )
    }

    /// Total bytes of {SK_d | SK_ai | SK_ar | SK_ei | SK_er | SK_pi | SK_pr}.
    public var totalLength: Int { 3 * prfKeyLength + 2 * integrityKeyLength + 2 * encryptionKeyLength }
}
