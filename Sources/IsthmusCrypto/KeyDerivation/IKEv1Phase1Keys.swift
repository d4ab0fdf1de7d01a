/// The keys of an IKEv1 ISAKMP SA (RFC 2409 section 5).
public struct IKEv1Phase1Keys: Sendable {
    /// SKEYID: the authentication-method-dependent root key.
    public let skeyid: SecretBytes
    /// SKEYID_d: derives phase 2 (Quick Mode) keying material.
    public let skeyidD: SecretBytes
    /// SKEYID_a: authenticates ISAKMP messages (the HASH payloads of phase 2 and informational exchanges).
    public let skeyidA: SecretBytes
    /// SKEYID_e: source of the ISAKMP SA encryption key
    /// (see ``IKEv1KeyDerivation/encryptionKey(prf:skeyidE:length:)``).
    public let skeyidE: SecretBytes
}
