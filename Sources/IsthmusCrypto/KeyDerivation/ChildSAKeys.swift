/// The keys of one direction of a CHILD_SA (or a phase 2 SA).
public struct DirectionKeys: Sendable {
    /// Encryption key, including the salt for AEADs.
    public let encryption: SecretBytes
    /// Integrity key (empty with an AEAD).
    public let integrity: SecretBytes
}

/// The keys of a CHILD_SA pair (RFC 7296 section 2.17).
public struct ChildSAKeys: Sendable {
    /// Keys for traffic from the initiator of the CREATE_CHILD_SA (or IKE_AUTH) exchange.
    public let initiatorToResponder: DirectionKeys
    /// Keys for traffic towards the initiator.
    public let responderToInitiator: DirectionKeys
}
