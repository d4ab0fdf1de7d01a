import Crypto

/// A SHA-256 digest of a message: what a responder keeps to recognise a repeated request (IKEv1 names a
/// Main Mode or Quick Mode request by its bytes) without keeping the request itself.
public struct MessageDigest: Sendable, Hashable {
    private let bytes: [UInt8]

    public init(of message: [UInt8]) {
        bytes = Array(SHA256.hash(data: message))
    }
}
