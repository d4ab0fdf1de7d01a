/// The Nonce payload (RFC 2408 section 3.13, RFC 7296 section 3.9): the nonce and nothing else, its
/// length bounded by the version's `Lengths`. ``IKEv2NoncePayload`` and ``ISAKMPNoncePayload`` name
/// the two versions' payloads.
public struct NoncePayload<Lengths: NonceLengths>: PayloadBody {
    /// The nonce, of a length in `Lengths.range`.
    public var nonce: [UInt8]

    /// Creates a nonce payload.
    /// - Precondition: the nonce's length is in `Lengths.range`.
    public init(nonce: [UInt8]) {
        precondition(Lengths.range.contains(nonce.count), "nonce of \(nonce.count) bytes, outside \(Lengths.range)")
        self.nonce = nonce
    }

    init(parsing body: inout WireReader) throws(WireError) {
        let start = body.offset
        let nonce = body.readRemaining()
        guard Lengths.range.contains(nonce.count) else {
            throw WireError(.invalidValue, at: start, "nonce of \(nonce.count) bytes, outside \(Lengths.range)")
        }
        self.nonce = Array(nonce)
    }

    func serializeBody(into writer: inout WireWriter) {
        writer.writeBytes(self.nonce)
    }
}

/// The nonce lengths one version allows, in bytes.
public protocol NonceLengths: Sendable {
    static var range: ClosedRange<Int> { get }
}

/// The Nonce payload of IKEv2, Ni or Nr: 16 to 256 bytes (RFC 7296 section 3.9).
public typealias IKEv2NoncePayload = NoncePayload<IKEv2NonceLengths>

/// IKEv2 nonces: ``WireLimits/minimumIKEv2NonceLength`` (16) to ``WireLimits/maximumIKEv2NonceLength``
/// (256) bytes (RFC 7296 section 3.9).
public enum IKEv2NonceLengths: NonceLengths {
    public static let range = WireLimits.minimumIKEv2NonceLength...WireLimits.maximumIKEv2NonceLength
}

/// The Nonce payload of IKEv1: 8 to 256 bytes (RFC 2409 section 5).
public typealias ISAKMPNoncePayload = NoncePayload<IKEv1NonceLengths>

/// IKEv1 nonces: ``WireLimits/minimumIKEv1NonceLength`` (8) to ``WireLimits/maximumIKEv1NonceLength``
/// (256) bytes (RFC 2409 section 5).
public enum IKEv1NonceLengths: NonceLengths {
    public static let range = WireLimits.minimumIKEv1NonceLength...WireLimits.maximumIKEv1NonceLength
}
