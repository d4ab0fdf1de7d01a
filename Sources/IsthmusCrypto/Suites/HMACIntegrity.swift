import Crypto
import Foundation

/// HMAC-based integrity with a truncated ICV: AUTH_HMAC_MD5_96 and AUTH_HMAC_SHA1_96 (RFC 2403,
/// RFC 2404), AUTH_HMAC_SHA2_256_128 / 384_192 / 512_256 (RFC 4868).
///
/// The HMAC is keyed once per SA (inner and outer pads absorbed) and that state is copied for each
/// packet, which is about twice as fast as keying per packet (measured with scripts/bench).
///
/// - Note: not what the factory builds: copying the keyed `HMAC<H>` allocates per packet (its hash
///   state is copy-on-write storage). ``LibcryptoHMACIntegrity`` is the backend; this type stays as an
///   independent implementation that tests cross-check it against.
public struct HMACIntegrity<H: HashFunction>: TruncatedHMAC {
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

    func writeMAC(
        _ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer, _ c: UnsafeRawBufferPointer,
        into icv: UnsafeMutableRawBufferPointer
    ) -> Bool {
        mac(a, b, c).withUnsafeBytes { full in
            icv.copyMemory(from: UnsafeRawBufferPointer(rebasing: full[0..<icv.count]))
        }
        return true
    }

    func macMatches(
        _ icv: UnsafeRawBufferPointer, _ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer,
        _ c: UnsafeRawBufferPointer
    ) -> Bool {
        mac(a, b, c).withUnsafeBytes { full in
            ConstantTime.equal(UnsafeRawBufferPointer(rebasing: full[0..<icv.count]), icv)
        }
    }
}

extension CryptoSuites {
    /// swift-crypto's HMAC for an integrity transform ID, any key and ICV length: the independent
    /// implementation tests compare ``LibcryptoHMACIntegrity`` with. `nil` for an unknown ID.
    static func swiftCryptoIntegrity(integrityID: UInt16, key: SecretBytes, icvLength: Int)
        -> (any IntegrityTransform)?
    {
        switch integrityID {
        case IntegrityID.hmacMD5_96:
            return HMACIntegrity<Insecure.MD5>(transformID: integrityID, key: key, icvLength: icvLength)
        case IntegrityID.hmacSHA1_96:
            return HMACIntegrity<Insecure.SHA1>(transformID: integrityID, key: key, icvLength: icvLength)
        case IntegrityID.hmacSHA2_256_128:
            return HMACIntegrity<SHA256>(transformID: integrityID, key: key, icvLength: icvLength)
        case IntegrityID.hmacSHA2_384_192:
            return HMACIntegrity<SHA384>(transformID: integrityID, key: key, icvLength: icvLength)
        case IntegrityID.hmacSHA2_512_256:
            return HMACIntegrity<SHA512>(transformID: integrityID, key: key, icvLength: icvLength)
        default:
            return nil
        }
    }
}
