import Crypto
import Foundation

/// HMAC-based integrity with a truncated ICV: AUTH_HMAC_MD5_96 and AUTH_HMAC_SHA1_96 (RFC 2403,
/// RFC 2404), AUTH_HMAC_SHA2_256_128 / 384_192 / 512_256 (RFC 4868).
///
/// The HMAC is keyed once per SA (inner and outer pads absorbed) and that state is copied for each
/// packet, which is about twice as fast as keying per packet (SWIFT-NOTES.md 1.4).
public struct HMACIntegrity<H: HashFunction>: IntegrityTransform {
    public let transformID: UInt16
    public let keyLength: Int
    public let icvLength: Int

    private let keyed: HMAC<H>

    /// Creates the per-SA state. `key` must be `keyLength` bytes (checked by the factory).
    init(transformID: UInt16, key: SecretBytes, icvLength: Int) {
        self.transformID = transformID
        self.keyLength = key.count
        self.icvLength = icvLength
        self.keyed = key.withUnsafeBytes { HMAC<H>(key: SymmetricKey(data: $0)) }
    }

    private func mac(
        _ associatedData: UnsafeRawBufferPointer,
        _ payload: UnsafeRawBufferPointer,
        _ trailingData: UnsafeRawBufferPointer
    ) -> HMAC<H>.MAC {
        var state = keyed
        if associatedData.count > 0 { state.update(data: associatedData) }
        if payload.count > 0 { state.update(data: payload) }
        if trailingData.count > 0 { state.update(data: trailingData) }
        return state.finalize()
    }

    public func computeICV(
        associatedData: UnsafeRawBufferPointer,
        payload: UnsafeRawBufferPointer,
        trailingData: UnsafeRawBufferPointer,
        into icv: UnsafeMutableRawBufferPointer
    ) throws(CryptoSuiteError) {
        guard icv.count == icvLength else {
            throw .layout("ICV buffer must be \(icvLength) bytes, got \(icv.count)")
        }
        let icvLength = self.icvLength
        mac(associatedData, payload, trailingData).withUnsafeBytes { full in
            icv.copyMemory(from: UnsafeRawBufferPointer(rebasing: full[0..<icvLength]))
        }
    }

    public func isValidICV(
        _ icv: UnsafeRawBufferPointer,
        associatedData: UnsafeRawBufferPointer,
        payload: UnsafeRawBufferPointer,
        trailingData: UnsafeRawBufferPointer
    ) -> Bool {
        guard icv.count == icvLength else { return false }
        let icvLength = self.icvLength
        return mac(associatedData, payload, trailingData).withUnsafeBytes { full in
            ConstantTime.equal(UnsafeRawBufferPointer(rebasing: full[0..<icvLength]), icv)
        }
    }
}
