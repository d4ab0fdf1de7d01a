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

/// What the two HMAC integrity transforms share (``LibcryptoHMACIntegrity``, the backend, and
/// swift-crypto's ``HMACIntegrity``, its cross-check): the ICV buffer checks around a keyed HMAC that
/// writes or compares the MAC truncated to the ICV (RFC 2404 section 2, RFC 4868 section 2.1.1).
protocol TruncatedHMAC: IntegrityTransform {
    /// Writes the first `icv.count` bytes of the HMAC of `a || b || c` to `icv`; `false` when the
    /// backend fails.
    func writeMAC(
        _ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer, _ c: UnsafeRawBufferPointer,
        into icv: UnsafeMutableRawBufferPointer
    ) -> Bool

    /// `true` when `icv` equals the first `icv.count` bytes of the HMAC of `a || b || c`, compared in
    /// constant time.
    func macMatches(
        _ icv: UnsafeRawBufferPointer, _ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer,
        _ c: UnsafeRawBufferPointer
    ) -> Bool
}

extension TruncatedHMAC {
    public func computeICV(
        associatedData: UnsafeRawBufferPointer,
        payload: UnsafeRawBufferPointer,
        trailingData: UnsafeRawBufferPointer,
        into icv: UnsafeMutableRawBufferPointer
    ) throws(IsthmusCryptoError) {
        guard icv.count == icvLength else {
            throw .invalidPacketLayout("ICV buffer must be \(icvLength) bytes, got \(icv.count)")
        }
        guard writeMAC(associatedData, payload, trailingData, into: icv) else {
            throw .backendFailure("HMAC computation failed")
        }
    }

    public func isValidICV(
        _ icv: UnsafeRawBufferPointer,
        associatedData: UnsafeRawBufferPointer,
        payload: UnsafeRawBufferPointer,
        trailingData: UnsafeRawBufferPointer
    ) -> Bool {
        guard icv.count == icvLength else { return false }
        return macMatches(icv, associatedData, payload, trailingData)
    }
}
