import IsthmusCrypto
import Synchronization

/// The algorithms an IKE SA negotiated: one of each transform type (RFC 7296 section 2.7).
public struct NegotiatedIKESuite: Sendable, Hashable, CustomStringConvertible {
    /// The cipher (ENCR), with its key length if it has one.
    public var encryption: Algorithm { storage.fields.encryption }
    /// The PRF, used for SKEYSEED and the key stream (RFC 7296 section 2.14).
    public var prf: Algorithm { storage.fields.prf }
    /// The integrity algorithm; nil for an AEAD cipher (RFC 5282 section 8).
    public var integrity: Algorithm? { storage.fields.integrity }
    /// The Diffie-Hellman group of the KE payloads.
    public var keyExchange: Algorithm { storage.fields.keyExchange }

    private struct Fields: Hashable, Sendable {
        let encryption: Algorithm
        let prf: Algorithm
        let integrity: Algorithm?
        let keyExchange: Algorithm
    }

    /// Shared by every SA that negotiated the same algorithms (``SuiteStorage``).
    private let storage: SuiteStorage<Fields>

    /// Creates a suite.
    /// - Precondition: each algorithm has the matching transform type, and `integrity` is nil exactly
    ///   when `encryption` is AEAD.
    public init(encryption: Algorithm, prf: Algorithm, integrity: Algorithm?, keyExchange: Algorithm) {
        precondition(encryption.type == .encryption && prf.type == .prf && keyExchange.type == .keyExchange)
        precondition(integrity?.type ?? .integrity == .integrity, "integrity must be an integrity algorithm")
        precondition(encryption.isAEAD == (integrity == nil), "AEAD exactly when there is no integrity algorithm")
        storage = SuiteStorage.interned(
            Fields(encryption: encryption, prf: prf, integrity: integrity, keyExchange: keyExchange), kind: "ike"
        ) { fields in
            // The strongSwan proposal text of the chosen algorithms, as `Proposal` orders them.
            ([fields.encryption] + (fields.integrity.map { [$0] } ?? []) + [fields.prf, fields.keyExchange])
                .map(\.keyword).joined(separator: "-")
        }
    }

    /// The strongSwan proposal text of the chosen algorithms, as `Proposal` orders them:
    /// `aes256gcm16-prfsha256-ecp256`, `aes256-sha256-prfsha256-modp2048`.
    public var description: String { storage.description }

    public static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.storage === rhs.storage || lhs.storage.fields == rhs.storage.fields
    }

    public func hash(into hasher: inout Hasher) { hasher.combine(storage.fields) }
}

/// The algorithms a CHILD SA (ESP) negotiated: one of each transform type (RFC 7296 section 2.7).
public struct NegotiatedChildSuite: Sendable, Hashable, CustomStringConvertible {
    /// The cipher (ENCR), with its key length if it has one.
    public var encryption: Algorithm { storage.fields.encryption }
    /// The integrity algorithm; nil for an AEAD cipher (RFC 4106 section 8).
    public var integrity: Algorithm? { storage.fields.integrity }
    /// The PFS group for the CREATE_CHILD_SA KE payloads (RFC 7296 section 1.3); nil without PFS.
    public var keyExchange: Algorithm? { storage.fields.keyExchange }
    /// Whether the SA uses 64-bit extended sequence numbers (RFC 4303 section 2.2.1).
    public var extendedSequenceNumbers: Bool { storage.fields.extendedSequenceNumbers }

    private struct Fields: Hashable, Sendable {
        let encryption: Algorithm
        let integrity: Algorithm?
        let keyExchange: Algorithm?
        let extendedSequenceNumbers: Bool
    }

    /// Shared by every CHILD SA that negotiated the same algorithms (``SuiteStorage``).
    private let storage: SuiteStorage<Fields>

    /// Creates a suite.
    /// - Precondition: each algorithm has the matching transform type, and `integrity` is nil exactly
    ///   when `encryption` is AEAD.
    public init(encryption: Algorithm, integrity: Algorithm?, keyExchange: Algorithm?, extendedSequenceNumbers: Bool) {
        precondition(encryption.type == .encryption, "encryption must be a cipher")
        precondition(integrity?.type ?? .integrity == .integrity, "integrity must be an integrity algorithm")
        precondition(keyExchange?.type ?? .keyExchange == .keyExchange, "keyExchange must be a DH group")
        precondition(encryption.isAEAD == (integrity == nil), "AEAD exactly when there is no integrity algorithm")
        storage = SuiteStorage.interned(
            Fields(
                encryption: encryption, integrity: integrity, keyExchange: keyExchange,
                extendedSequenceNumbers: extendedSequenceNumbers), kind: "child"
        ) { fields in
            var keywords = [fields.encryption.keyword]
            if let integrity = fields.integrity { keywords.append(integrity.keyword) }
            if let keyExchange = fields.keyExchange { keywords.append(keyExchange.keyword) }
            if fields.extendedSequenceNumbers { keywords.append("esn") }
            return keywords.joined(separator: "-")
        }
    }

    /// The strongSwan proposal text of the chosen algorithms: `aes256gcm16`, `aes256-sha256`,
    /// `aes128-sha256-modp2048-esn` (`noesn`, the default, is left out).
    public var description: String { storage.description }

    public static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.storage === rhs.storage || lhs.storage.fields == rhs.storage.fields
    }

    public func hash(into hasher: inout Hasher) { hasher.combine(storage.fields) }
}

/// The algorithms of one negotiated suite and their proposal text, made once and shared by every SA that
/// negotiated the same suite. A suite held its four `Algorithm` values inline (about 350 bytes, names and
/// keywords included) in every IKE SA and CHILD SA, and `status` formatted its text again for each; the
/// table holds one entry per distinct suite, which the configured proposals bound.
final class SuiteStorage<Fields: Hashable & Sendable>: Sendable {
    let fields: Fields
    let description: String

    private init(fields: Fields, description: String) {
        self.fields = fields
        self.description = description
    }

    /// The shared storage of `fields`, made now if this suite was never negotiated before. The table is keyed
    /// by the suite's kind and proposal text (keywords name algorithms uniquely); a hit is used only when its
    /// fields are equal.
    static func interned(_ fields: Fields, kind: String, describe: (Fields) -> String) -> SuiteStorage {
        let description = describe(fields)
        let key = kind + ":" + description
        if let shared = suiteTable.withLock({ $0[key] }) as? SuiteStorage, shared.fields == fields { return shared }
        let made = SuiteStorage(fields: fields, description: description)
        suiteTable.withLock { table in
            if table[key] == nil { table[key] = made }
        }
        return made
    }
}

/// Every suite negotiated so far, by kind and proposal text (``SuiteStorage``).
private let suiteTable = Mutex<[String: any AnyObject & Sendable]>([:])
