/// The Encrypted and Authenticated Fragment payload, SKF (RFC 7383 section 2.5).
///
/// Like ``IKEv2EncryptedPayload`` it ends the message; ``body`` is IV, ciphertext and ICV of one
/// fragment. Only the first fragment carries the first inner payload type; others carry 0.
public struct IKEv2EncryptedFragmentPayload: Hashable, Sendable {
    public var firstInnerPayloadType: IKEv2PayloadType
    /// The fragment number, 1 to ``totalFragments``.
    public var fragmentNumber: UInt16
    /// The total number of fragments of the original message, at least 1.
    public var totalFragments: UInt16
    public var body: [UInt8]

    /// Creates a fragment payload.
    /// - Precondition: `1 <= fragmentNumber <= totalFragments`.
    public init(
        firstInnerPayloadType: IKEv2PayloadType,
        fragmentNumber: UInt16,
        totalFragments: UInt16,
        body: [UInt8]
    ) {
        precondition(fragmentNumber >= 1 && fragmentNumber <= totalFragments, "invalid fragment number")
        self.firstInnerPayloadType = firstInnerPayloadType
        self.fragmentNumber = fragmentNumber
        self.totalFragments = totalFragments
        self.body = body
    }

    init(firstInnerPayloadType: IKEv2PayloadType, parsing body: inout WireReader) throws(WireError) {
        let start = body.offset
        let number = try body.expectUInt16("SKF fragment number")
        let total = try body.expectUInt16("SKF total fragments")
        guard number >= 1, number <= total else {
            throw WireError(.invalidValue, at: start, "fragment \(number) of \(total)")
        }
        self.init(
            firstInnerPayloadType: firstInnerPayloadType,
            fragmentNumber: number,
            totalFragments: total,
            body: Array(body.readRemaining())
        )
    }

    func serializeBody(into writer: inout WireWriter) {
        writer.writeInteger(self.fragmentNumber)
        writer.writeInteger(self.totalFragments)
        writer.writeBytes(self.body)
    }
}
