/// A pseudo-random function as negotiated (RFC 7296 section 3.3.2, "Transform Type 2"), also usable
/// as the IKEv1 PRF and hash (RFC 2409 section 5).
public protocol PseudoRandomFunction: Sendable {
    /// The IKEv2 transform ID.
    var transformID: UInt16 { get }
    /// Bytes of output of one PRF call (and of the underlying hash).
    var outputLength: Int { get }
    /// The key length to derive for this PRF: SK_d, SK_pi and SK_pr have this length
    /// (RFC 7296 section 2.13: for HMAC PRFs the output length).
    var preferredKeyLength: Int { get }

    /// `prf(key, inputs...)`.
    func compute(key: SecretBytes, _ inputs: [PRFInput]) -> SecretBytes

    /// The plain hash of `inputs` with the PRF's hash function (IKEv1 IVs, RFC 2409 Appendix B).
    func hash(_ inputs: [PRFInput]) -> [UInt8]
}
