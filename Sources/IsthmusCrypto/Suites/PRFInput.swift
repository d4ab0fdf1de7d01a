/// One piece of PRF input: public bytes, a secret, or a single octet (IKEv1 uses 0, 1, 2 as suffixes).
///
/// The PRF absorbs the pieces in order as if concatenated, so secrets are never copied into
/// intermediate arrays.
public enum PRFInput: Sendable {
    /// Public bytes (nonces, SPIs, cookies, identities).
    case bytes([UInt8])
    /// Secret bytes (shared secrets, derived keys).
    case secret(SecretBytes)
    /// A single octet.
    case byte(UInt8)
}
