/// Which protocol a proposal is for.
public enum ProposalProtocol: Sendable, Hashable, CustomStringConvertible {
    /// The IKE SA (IKEv2) or ISAKMP SA (IKEv1 phase 1).
    case ike
    /// A CHILD SA (IKEv2) or IPsec SA (IKEv1 phase 2) carrying ESP.
    case esp

    public var description: String {
        switch self {
        case .ike: "IKE"
        case .esp: "ESP"
        }
    }
}

/// The IKE version a proposal must be carried by.
public enum IKEVersion: Int, Sendable, Hashable, Codable, CustomStringConvertible {
    case v1 = 1
    case v2 = 2

    public var description: String { "IKEv\(rawValue)" }
}

/// One proposal: for each transform type, the acceptable algorithms in order of preference
/// (RFC 7296 section 3.3: any one of each type may be chosen).
///
/// The text form is strongSwan's: algorithm keywords joined by `-`, such as `aes256-sha1-modp1024`,
/// `aes128gcm16-prfsha256-ecp256` or, for ESP, `aes256-sha256-modp2048-esn`. Several proposals are
/// separated by commas (see ``ProposalList``).
public struct Proposal: Sendable, Hashable, CustomStringConvertible {
    public let encryption: [Algorithm]
    public let integrity: [Algorithm]
    public let prf: [Algorithm]
    /// DH groups; for ESP these request perfect forward secrecy and may be empty.
    public let keyExchange: [Algorithm]
    /// ESN choices; empty means "no ESN only".
    public let extendedSequenceNumbers: [Algorithm]

    /// Whether the proposal's ciphers are combined-mode (AEAD). A proposal is all AEAD or none.
    public var isAEAD: Bool { encryption.first?.isAEAD ?? false }

    /// Every algorithm in the canonical order: encryption, integrity, PRF, DH, ESN.
    public var algorithms: [Algorithm] { encryption + integrity + prf + keyExchange + extendedSequenceNumbers }

    /// The canonical strongSwan text of this proposal; parsing it gives back an equal proposal.
    public var description: String { algorithms.map(\.keyword).joined(separator: "-") }

    /// Parses one proposal (no commas) for `proto`, checking that `version` can carry it.
    ///
    /// For an IKE proposal without a PRF, the PRFs are derived from the integrity algorithms as
    /// strongSwan does (`aes256-sha1-modp1024` negotiates PRF_HMAC_SHA1); an AEAD IKE proposal must
    /// name its PRF explicitly. For IKEv1, whose PRF is the HMAC of the phase 1 hash (RFC 2409
    /// section 5), a PRF keyword must match an integrity algorithm and is not kept (see ``ikev1PRF``).
    public init(parsing text: String, for proto: ProposalProtocol, version: IKEVersion) throws(ProposalError) {
        let tokens = text.split(separator: "-", omittingEmptySubsequences: false).map {
            String($0).trimmingSpaces()
        }
        guard !text.trimmingSpaces().isEmpty else { throw ProposalError(.empty, proposal: text) }
        var byType: [TransformType: [Algorithm]] = [:]
        for token in tokens {
            guard !token.isEmpty else { throw ProposalError(.emptyKeyword, proposal: text) }
            guard let algorithm = AlgorithmRegistry.algorithm(keyword: token) else {
                if AlgorithmRegistry.knownUnsupported[token.lowercased()] != nil {
                    throw ProposalError(.unsupportedAlgorithm(token), proposal: text)
                }
                throw ProposalError(.unknownAlgorithm(token), proposal: text)
            }
            if !(byType[algorithm.type]?.contains(algorithm) ?? false) {
                byType[algorithm.type, default: []].append(algorithm)
            }
        }
        let encryption = byType[.encryption] ?? []
        let integrity = byType[.integrity] ?? []
        var prf = byType[.prf] ?? []
        let groups = byType[.keyExchange] ?? []
        let esn = byType[.extendedSequenceNumbers] ?? []

        guard !encryption.isEmpty else { throw ProposalError(.missing(.encryption), proposal: text) }
        let aead = encryption.filter(\.isAEAD)
        if !aead.isEmpty && aead.count != encryption.count {
            throw ProposalError(.mixedAEAD, proposal: text)
        }
        let isAEAD = !aead.isEmpty
        if isAEAD {
            if !integrity.isEmpty { throw ProposalError(.integrityWithAEAD(integrity[0].keyword), proposal: text) }
        } else if integrity.isEmpty {
            throw ProposalError(.missing(.integrity), proposal: text)
        }

        switch proto {
        case .ike:
            if !esn.isEmpty { throw ProposalError(.notAllowed(esn[0], in: proto), proposal: text) }
            guard !groups.isEmpty else { throw ProposalError(.missing(.keyExchange), proposal: text) }
            switch version {
            case .v2:
                if prf.isEmpty {
                    guard !isAEAD else { throw ProposalError(.aeadNeedsPRF, proposal: text) }
                    prf = integrity.compactMap(Self.prfMatching)
                }
            case .v1:
                if isAEAD { throw ProposalError(.ikev1CannotCarry(aead[0], proto), proposal: text) }
                for candidate in prf where !integrity.contains(where: { Self.prfMatching($0) == candidate }) {
                    throw ProposalError(.ikev1PRFMismatch(candidate), proposal: text)
                }
                // IKEv1 carries no PRF transform: it is implied by the hash (see `ikev1PRF`).
                prf = []
            }
        case .esp:
            if let first = prf.first { throw ProposalError(.notAllowed(first, in: proto), proposal: text) }
            if version == .v1 {
                // ESN is fine: RFC 4304 section 2 defines the IKEv1 attribute.
                for algorithm in encryption + integrity + groups where algorithm.ikev1Phase2Value == nil {
                    throw ProposalError(.ikev1CannotCarry(algorithm, proto), proposal: text)
                }
            }
        }
        if version == .v1, proto == .ike {
            for algorithm in encryption + integrity + groups where algorithm.ikev1Phase1Value == nil {
                throw ProposalError(.ikev1CannotCarry(algorithm, proto), proposal: text)
            }
        }
        self.encryption = encryption
        self.integrity = integrity
        self.prf = prf
        self.keyExchange = groups
        self.extendedSequenceNumbers = esn
    }

    /// The PRF each IKEv1 phase 1 hash implies (RFC 2409 section 5: the HMAC of the negotiated hash).
    public var ikev1PRF: [Algorithm] { integrity.compactMap(Self.prfMatching) }

    /// The PRF that IKEv2 pairs with an integrity algorithm when none is named (strongSwan's rule),
    /// and that IKEv1 uses implicitly.
    static func prfMatching(_ integrity: Algorithm) -> Algorithm? {
        guard integrity.type == .integrity else { return nil }
        return AlgorithmRegistry.prf.first { $0.ikev1Phase1Value == integrity.ikev1Phase1Value }
    }
}

/// An ordered list of proposals, most preferred first: `aes256gcm16-prfsha256-ecp256, aes256-sha256-modp2048`.
public struct ProposalList: Sendable, Hashable, CustomStringConvertible {
    public let proposals: [Proposal]

    public init(_ proposals: [Proposal]) {
        precondition(!proposals.isEmpty, "a proposal list is never empty")
        self.proposals = proposals
    }

    /// Parses comma-separated proposals; also accepts an already split list (one element per proposal).
    public init(parsing texts: [String], for proto: ProposalProtocol, version: IKEVersion) throws(ProposalError) {
        var proposals: [Proposal] = []
        for text in texts {
            for part in text.split(separator: ",", omittingEmptySubsequences: false) {
                let proposal = try Proposal(parsing: String(part), for: proto, version: version)
                if !proposals.contains(proposal) { proposals.append(proposal) }
            }
        }
        guard !proposals.isEmpty else { throw ProposalError(.empty, proposal: texts.joined(separator: ",")) }
        self.proposals = proposals
    }

    /// Every algorithm across the list, without repeats.
    public var algorithms: [Algorithm] {
        var seen: [Algorithm] = []
        for algorithm in proposals.flatMap(\.algorithms) where !seen.contains(algorithm) { seen.append(algorithm) }
        return seen
    }

    public var description: String { proposals.map(\.description).joined(separator: ", ") }
}

/// Why a proposal string was refused.
public struct ProposalError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Kind: Sendable, Hashable {
        case empty
        case emptyKeyword
        case unknownAlgorithm(String)
        case unsupportedAlgorithm(String)
        case missing(TransformType)
        case mixedAEAD
        case integrityWithAEAD(String)
        case aeadNeedsPRF
        case notAllowed(Algorithm, in: ProposalProtocol)
        case ikev1CannotCarry(Algorithm, ProposalProtocol)
        case ikev1PRFMismatch(Algorithm)
    }

    public let kind: Kind
    /// The proposal text as written.
    public let proposal: String

    public init(_ kind: Kind, proposal: String) {
        self.kind = kind
        self.proposal = proposal
    }

    /// The offending keyword for unknown or unsupported algorithms (for did-you-mean suggestions).
    public var keyword: String? {
        switch kind {
        case .unknownAlgorithm(let keyword), .unsupportedAlgorithm(let keyword): keyword
        default: nil
        }
    }

    public var description: String {
        let where_ = "in proposal '\(proposal.trimmingSpaces())'"
        switch kind {
        case .empty:
            return "the proposal is empty"
        case .emptyKeyword:
            return "empty algorithm name (two '-' in a row, or a '-' at an end) \(where_)"
        case .unknownAlgorithm(let keyword):
            return "unknown algorithm '\(keyword)' \(where_)"
        case .unsupportedAlgorithm(let keyword):
            return "'\(keyword)' \(AlgorithmRegistry.knownUnsupported[keyword.lowercased()] ?? "is not supported") "
                + where_
        case .missing(let type):
            let example: String
            switch type {
            case .encryption: example = "aes256"
            case .integrity: example = "sha256"
            case .keyExchange: example = "modp2048 or ecp256"
            case .prf: example = "prfsha256"
            case .extendedSequenceNumbers: example = "noesn"
            }
            return "no \(type) algorithm \(where_); add one such as \(example)"
        case .mixedAEAD:
            return "AEAD ciphers (GCM, ChaCha20-Poly1305) and plain ciphers cannot share one proposal \(where_); "
                + "split it into two proposals with a comma"
        case .integrityWithAEAD(let keyword):
            return "'\(keyword)' is an integrity algorithm, but the AEAD cipher already authenticates \(where_); "
                + "remove it"
        case .aeadNeedsPRF:
            return "an IKE proposal with an AEAD cipher must name its PRF \(where_); add one such as prfsha256"
        case .notAllowed(let algorithm, let proto):
            return "'\(algorithm.keyword)' (\(algorithm.type)) has no place in an \(proto) proposal \(where_)"
        case .ikev1CannotCarry(let algorithm, let proto):
            let phase = proto == .ike ? "phase 1" : "phase 2"
            return "IKEv1 \(phase) cannot negotiate \(algorithm.displayName) ('\(algorithm.keyword)') \(where_); "
                + "use IKEv2 or another algorithm"
        case .ikev1PRFMismatch(let algorithm):
            return "IKEv1 derives its PRF from the hash, and '\(algorithm.keyword)' matches no integrity algorithm "
                + "\(where_); remove it"
        }
    }
}

extension String {
    /// The string without leading and trailing spaces and tabs (no Foundation needed).
    func trimmingSpaces() -> String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" }
        guard let first = firstIndex(where: { !isSpace($0) }), let last = lastIndex(where: { !isSpace($0) }) else {
            return ""
        }
        return String(self[first...last])
    }
}
