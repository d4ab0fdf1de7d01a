/// An elliptic-curve exchange: ECP groups 19, 20, 21 (RFC 5903) and Curve25519, group 31 (RFC 8031),
/// on swift-crypto.
struct ECDHExchange<Key: ECDHPrivateKey>: DiffieHellmanExchange {
    let groupID: UInt16
    let publicValue: [UInt8]
    private let privateKey: Key

    init(groupID: UInt16, privateKey: Key) throws(IsthmusCryptoError) {
        self.groupID = groupID
        self.privateKey = privateKey
        self.publicValue = privateKey.publicValue
    }

    init(groupID: UInt16, rawPrivateKey: SecretBytes, _ keyType: Key.Type) throws(IsthmusCryptoError) {
        guard rawPrivateKey.count == Key.scalarLength else {
            throw .invalidPrivateKey(
                "group \(groupID) private key must be \(Key.scalarLength) bytes, got \(rawPrivateKey.count)")
        }
        let key: Key
        do {
            key = try Key(scalar: rawPrivateKey)
        } catch {
            throw .invalidPrivateKey("group \(groupID) rejected the private key")
        }
        try self.init(groupID: groupID, privateKey: key)
    }

    func sharedSecret(peerPublicValue: [UInt8]) throws(IsthmusCryptoError) -> SecretBytes {
        guard peerPublicValue.count == Key.publicValueLength else {
            throw .invalidPeerPublicValue(
                "group \(groupID) KE data must be \(Key.publicValueLength) bytes, got \(peerPublicValue.count)")
        }
        let secret: SecretBytes
        do {
            secret = try privateKey.sharedSecret(with: peerPublicValue)
        } catch {
            throw .invalidPeerPublicValue("group \(groupID) KE data is not a valid public key")
        }
        // RFC 8031 section 2.3 (and a cheap sanity check for every curve): an all-zero result means a
        // low-order or otherwise degenerate peer value.
        guard secret != SecretBytes(zeros: secret.count) else {
            throw .invalidSharedSecret("group \(groupID) shared secret is all zeros")
        }
        return secret
    }
}
