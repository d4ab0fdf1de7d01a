import IsthmusCrypto

/// The users EAP-MSCHAPv2 accepts: each name with its NT password hash (MD4 of the UTF-16LE password,
/// RFC 2759 section 8.3). The passwords themselves are not kept; neither a hash nor a password is ever printed.
public struct EAPUserDatabase: Sendable {
    private var hashes: [String: SecretBytes]

    /// `ntHashes`: user name -> 16-byte NT password hash.
    public init(ntHashes: [String: SecretBytes]) {
        hashes = ntHashes
    }

    /// The number of users.
    public var count: Int { hashes.count }

    /// The user names, sorted.
    public var names: [String] { hashes.keys.sorted() }

    /// The entry for the name a client sent: the exact name, else the name without a Windows "DOMAIN\"
    /// prefix (RFC 2759 hashes the name without it), else the only case-insensitive match (Windows user names
    /// ignore case). Returns the name as configured and its hash.
    public func lookUp(_ sent: String) -> (name: String, ntHash: SecretBytes)? {
        if let hash = hashes[sent] { return (sent, hash) }
        let bare = String(decoding: MSCHAPv2Crypto.strippedUserName(Array(sent.utf8)), as: UTF8.self)
        if let hash = hashes[bare] { return (bare, hash) }
        let folded = hashes.filter { $0.key.lowercased() == bare.lowercased() }
        guard folded.count == 1, let only = folded.first else { return nil }
        return (only.key, only.value)
    }
}
