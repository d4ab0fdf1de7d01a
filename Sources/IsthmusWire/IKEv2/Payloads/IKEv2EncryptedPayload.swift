/// The Encrypted and Authenticated payload, SK (RFC 7296 section 3.14).
///
/// The codec does not decrypt. ``body`` is the IV, the ciphertext (with padding and pad length
/// inside it) and the ICV, exactly as on the wire; the crypto layer splits it by the negotiated
/// algorithm. After decryption and removal of the padding, pass the plaintext and
/// ``firstInnerPayloadType`` to ``IKEv2PayloadChain/parse(_:firstPayloadType:origin:)``.
/// The SK payload is always the last payload of a message (RFC 7296 section 3.14), so ``body`` is
/// the last `body.count` bytes of the datagram; the bytes before it (IKE header through the SK
/// generic payload header) are the associated data for AEAD ciphers (RFC 5282 section 5) and,
/// with the ciphertext, the input of the integrity checksum.
public struct IKEv2EncryptedPayload: Hashable, Sendable {
    /// The type of the first payload inside, from the SK payload's Next Payload field.
    public var firstInnerPayloadType: IKEv2PayloadType
    /// IV, ciphertext and ICV.
    public var body: [UInt8]

    public init(firstInnerPayloadType: IKEv2PayloadType, body: [UInt8]) {
        self.firstInnerPayloadType = firstInnerPayloadType
        self.body = body
    }
}
