/// Attribute type numbers for ISAKMP transforms.
///
/// Phase 1 (RFC 2409 Appendix A) and Phase 2 (RFC 2407 section 4.5) use different numbering.
public enum ISAKMPAttributeType {
    /// Phase 1 (KEY_IKE transform) attribute types, RFC 2409 Appendix A.
    public enum Phase1 {
        public static let encryptionAlgorithm: UInt16 = 1
        public static let hashAlgorithm: UInt16 = 2
        public static let authenticationMethod: UInt16 = 3
        public static let groupDescription: UInt16 = 4
        public static let lifeType: UInt16 = 11
        public static let lifeDuration: UInt16 = 12
        public static let keyLength: UInt16 = 14
    }

    /// Phase 2 (IPsec DOI) attribute types, RFC 2407 section 4.5.
    public enum Phase2 {
        public static let saLifeType: UInt16 = 1
        public static let saLifeDuration: UInt16 = 2
        public static let groupDescription: UInt16 = 3
        public static let encapsulationMode: UInt16 = 4
        public static let authenticationAlgorithm: UInt16 = 5
        public static let keyLength: UInt16 = 6
    }
}
