import IsthmusCrypto

/// The algorithms of an ISAKMP SA: cipher, hash (whose HMAC is the PRF, RFC 2409 section 5) and group.
public struct IKEv1Phase1Suite: Sendable, Hashable, CustomStringConvertible {
    public let encryption: Algorithm
    public let hash: Algorithm
    public let group: Algorithm
    /// The PRF implied by the hash.
    public let prf: Algorithm

    init?(encryption: Algorithm, hash: Algorithm, group: Algorithm) {
        guard
            let prf = AlgorithmRegistry.all.first(where: {
                $0.type == .prf && $0.ikev1Phase1Value != nil && $0.ikev1Phase1Value == hash.ikev1Phase1Value
            })
        else { return nil }
        self.encryption = encryption
        self.hash = hash
        self.group = group
        self.prf = prf
    }

    /// strongSwan's proposal text: `aes256-sha256-modp2048`.
    public var description: String { "\(encryption.keyword)-\(hash.keyword)-\(group.keyword)" }
}

/// The algorithms of an IPsec SA negotiated in Quick Mode.
public struct IKEv1ESPSuite: Sendable, Hashable, CustomStringConvertible {
    public let encryption: Algorithm
    /// Nil for AEAD ciphers.
    public let integrity: Algorithm?
    /// The PFS group, nil without PFS.
    public let group: Algorithm?
    public let extendedSequenceNumbers: Bool

    /// strongSwan's proposal text: `aes256-sha256`, `aes256-sha256-modp2048` with PFS.
    public var description: String {
        ([encryption] + (integrity.map { [$0] } ?? []) + (group.map { [$0] } ?? [])).map(\.keyword)
            .joined(separator: "-") + (extendedSequenceNumbers ? "-esn" : "")
    }
}

/// A lifetime in seconds and optionally kilobytes (RFC 2409 Appendix A, RFC 2407 section 4.5).
public struct IKEv1Lifetime: Sendable, Hashable, CustomStringConvertible {
    public var seconds: UInt64?
    public var kilobytes: UInt64?

    public init(seconds: UInt64?, kilobytes: UInt64? = nil) {
        self.seconds = seconds
        self.kilobytes = kilobytes
    }

    public var description: String {
        let parts = [seconds.map { "\($0)s" }, kilobytes.map { "\($0)KB" }].compactMap { $0 }
        return parts.isEmpty ? "none" : parts.joined(separator: "/")
    }

    /// Each limit the smaller of both (a missing limit is no limit).
    func smaller(_ other: IKEv1Lifetime) -> IKEv1Lifetime {
        func minimum(_ a: UInt64?, _ b: UInt64?) -> UInt64? {
            switch (a, b) {
            case (let a?, let b?): Swift.min(a, b)
            case (let a?, nil): a
            case (nil, let b): b
            }
        }
        return IKEv1Lifetime(seconds: minimum(seconds, other.seconds), kilobytes: minimum(kilobytes, other.kilobytes))
    }

    /// Whether any limit of ours is shorter than `other`'s (so the responder must tell the initiator).
    func isShorter(than other: IKEv1Lifetime) -> Bool {
        if let mine = seconds, mine < (other.seconds ?? .max) { return true }
        if let mine = kilobytes, mine < (other.kilobytes ?? .max) { return true }
        return false
    }
}
