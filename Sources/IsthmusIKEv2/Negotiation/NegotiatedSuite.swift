import IsthmusCrypto

/// The algorithms an IKE SA negotiated: one of each transform type (RFC 7296 section 2.7).
public struct NegotiatedIKESuite: Sendable, Hashable, CustomStringConvertible {
    /// The cipher (ENCR), with its key length if it has one.
    public let encryption: Algorithm
    /// The PRF, used for SKEYSEED and the key stream (RFC 7296 section 2.14).
    public let prf: Algorithm
    /// The integrity algorithm; nil for an AEAD cipher (RFC 5282 section 8).
    public let integrity: Algorithm?
    /// The Diffie-Hellman group of the KE payloads.
    public let keyExchange: Algorithm

    /// Creates a suite.
    /// - Precondition: each algorithm has the matching transform type, and `integrity` is nil exactly
    ///   when `encryption` is AEAD.
    public init(encryption: Algorithm, prf: Algorithm, integrity: Algorithm?, keyExchange: Algorithm) {
        precondition(encryption.type == .encryption && prf.type == .prf && keyExchange.type == .keyExchange)
        precondition(integrity?.type ?? .integrity == .integrity, "integrity must be an integrity algorithm")
        precondition(encryption.isAEAD == (integrity == nil), "AEAD exactly when there is no integrity algorithm")
        self.encryption = encryption
        self.prf = prf
        self.integrity = integrity
        self.keyExchange = keyExchange
    }

    /// The strongSwan proposal text of the chosen algorithms, as `Proposal` orders them:
    /// `aes256gcm16-prfsha256-ecp256`, `aes256-sha256-prfsha256-modp2048`.
    public var description: String {
        ([encryption] + (integrity.map { [$0] } ?? []) + [prf, keyExchange]).map(\.keyword)
            .joined(separator: "-")
    }
}

/// The algorithms a CHILD SA (ESP) negotiated: one of each transform type (RFC 7296 section 2.7).
public struct NegotiatedChildSuite: Sendable, Hashable, CustomStringConvertible {
    /// The cipher (ENCR), with its key length if it has one.
    public let encryption: Algorithm
    /// The integrity algorithm; nil for an AEAD cipher (RFC 4106 section 8).
    public let integrity: Algorithm?
    /// The PFS group for the CREATE_CHILD_SA KE payloads (RFC 7296 section 1.3); nil without PFS.
    public let keyExchange: Algorithm?
    /// Whether the SA uses 64-bit extended sequence numbers (RFC 4303 section 2.2.1).
    public let extendedSequenceNumbers: Bool

    /// Creates a suite.
    /// - Precondition: each algorithm has the matching transform type, and `integrity` is nil exactly
    ///   when `encryption` is AEAD.
    public init(encryption: Algorithm, integrity: Algorithm?, keyExchange: Algorithm?, extendedSequenceNumbers: Bool) {
        precondition(encryption.type == .encryption, "encryption must be a cipher")
        precondition(integrity?.type ?? .integrity == .integrity, "integrity must be an integrity algorithm")
        precondition(keyExchange?.type ?? .keyExchange == .keyExchange, "keyExchange must be a DH group")
        precondition(encryption.isAEAD == (integrity == nil), "AEAD exactly when there is no integrity algorithm")
        self.encryption = encryption
        self.integrity = integrity
        self.keyExchange = keyExchange
        self.extendedSequenceNumbers = extendedSequenceNumbers
    }

    /// The strongSwan proposal text of the chosen algorithms: `aes256gcm16`, `aes256-sha256`,
    /// `aes128-sha256-modp2048-esn` (`noesn`, the default, is left out).
    public var description: String {
        var keywords = [encryption.keyword]
        if let integrity { keywords.append(integrity.keyword) }
        if let keyExchange { keywords.append(keyExchange.keyword) }
        if extendedSequenceNumbers { keywords.append("esn") }
        return keywords.joined(separator: "-")
    }
}
