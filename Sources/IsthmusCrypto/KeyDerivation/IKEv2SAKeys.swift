/// The seven keys of an IKE SA (RFC 7296 section 2.14).
public struct IKEv2SAKeys: Sendable {
    /// Key for deriving CHILD_SA keys and the next SKEYSEED.
    public let skD: SecretBytes
    /// Integrity key, initiator to responder.
    public let skAi: SecretBytes
    /// Integrity key, responder to initiator.
    public let skAr: SecretBytes
    /// Encryption key (with salt for AEADs), initiator to responder.
    public let skEi: SecretBytes
    /// Encryption key (with salt for AEADs), responder to initiator.
    public let skEr: SecretBytes
    /// Key for the initiator's AUTH payload (RFC 7296 section 2.15).
    public let skPi: SecretBytes
    /// Key for the responder's AUTH payload.
    public let skPr: SecretBytes
}
