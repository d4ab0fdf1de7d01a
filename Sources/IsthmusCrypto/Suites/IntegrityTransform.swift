/// An integrity (MAC) transform with its key, per SA (RFC 7296 section 3.3.2, "Transform Type 3").
public protocol IntegrityTransform: Sendable {
    /// The IKEv2 transform ID.
    var transformID: UInt16 { get }
    /// Bytes of key material this transform takes from the KDF.
    var keyLength: Int { get }
    /// Bytes of ICV on the wire (the truncated MAC, e.g. 16 for HMAC-SHA2-256-128).
    var icvLength: Int { get }

    /// Computes the ICV over `associatedData || payload || trailingData` and writes it to `icv`
    /// (which must be exactly ``icvLength`` bytes).
    func computeICV(
        associatedData: UnsafeRawBufferPointer,
        payload: UnsafeRawBufferPointer,
        trailingData: UnsafeRawBufferPointer,
        into icv: UnsafeMutableRawBufferPointer
    ) throws(IsthmusCryptoError)

    /// `true` when `icv` is the ICV of `associatedData || payload || trailingData`; compares in
    /// constant time.
    func isValidICV(
        _ icv: UnsafeRawBufferPointer,
        associatedData: UnsafeRawBufferPointer,
        payload: UnsafeRawBufferPointer,
        trailingData: UnsafeRawBufferPointer
    ) -> Bool
}

extension IntegrityTransform {
    /// The ICV over `associatedData || payload` (no trailing data).
    public func computeICV(
        associatedData: UnsafeRawBufferPointer,
        payload: UnsafeRawBufferPointer,
        into icv: UnsafeMutableRawBufferPointer
    ) throws(IsthmusCryptoError) {
        try computeICV(
            associatedData: associatedData, payload: payload,
            trailingData: UnsafeRawBufferPointer(start: nil, count: 0),
            into: icv
        )
    }

    /// `true` when `icv` is the ICV of `associatedData || payload` (no trailing data).
    public func isValidICV(
        _ icv: UnsafeRawBufferPointer,
        associatedData: UnsafeRawBufferPointer,
        payload: UnsafeRawBufferPointer
    ) -> Bool {
        isValidICV(
            icv, associatedData: associatedData, payload: payload,
            trailingData: UnsafeRawBufferPointer(start: nil, count: 0)
        )
    }

    /// Convenience for tests and IKE: the ICV of `data` as an array.
    public func icv(for data: [UInt8]) throws(IsthmusCryptoError) -> [UInt8] {
        var output = [UInt8](repeating: 0, count: icvLength)
        let result = data.withUnsafeBytes { bytes in
            output.withUnsafeMutableBytes { out in
                Result { () throws(IsthmusCryptoError) in
                    try computeICV(
                        associatedData: UnsafeRawBufferPointer(start: nil, count: 0), payload: bytes, into: out)
                }
            }
        }
        try result.get()
        return output
    }
}
