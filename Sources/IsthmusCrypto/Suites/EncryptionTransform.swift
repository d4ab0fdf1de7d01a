/// An encryption transform as negotiated: either an AEAD (a complete ``PacketProtection``) or a
/// cipher that needs an integrity transform (``CipherTransform``).
public enum EncryptionTransform: Sendable {
    /// A combined-mode cipher (AES-GCM, ChaCha20-Poly1305): no separate integrity transform.
    case aead(any PacketProtection)
    /// A confidentiality-only cipher (AES-CBC, 3DES, DES): combine with an
    /// ``IntegrityTransform`` through ``LibcryptoEncryptThenMACProtection``, or use directly for IKEv1.
    case cipher(any CipherTransform)
}
