import Crypto
import Foundation

/// HMAC as a PRF: PRF_HMAC_MD5 (RFC 2104), PRF_HMAC_SHA1, PRF_HMAC_SHA2_256/384/512 (RFC 4868).
///
/// Keys of any length are accepted (HMAC hashes keys longer than its block size, RFC 2104 section 2),
/// which SKEYSEED = prf(Ni | Nr, g^ir) relies on.
public struct HMACPRF<H: HashFunction>: PseudoRandomFunction {
    public let transformID: UInt16
    public var outputLength: Int { H.Digest.byteCount }
    public var preferredKeyLength: Int { H.Digest.byteCount }

    init(transformID: UInt16) {
        self.transformID = transformID
    }

    public func compute(key: SecretBytes, _ inputs: [PRFInput]) -> SecretBytes {
        var state = key.withUnsafeBytes { HMAC<H>(key: SymmetricKey(data: $0)) }
        for input in inputs {
            switch input {
            case .bytes(let bytes): state.update(data: bytes)
            case .secret(let secret): secret.withUnsafeBytes { state.update(data: $0) }
            case .byte(let byte): state.update(data: [byte])
            }
        }
        return state.finalize().withUnsafeBytes { SecretBytes(copying: $0) }
    }

    public func hash(_ inputs: [PRFInput]) -> [UInt8] {
        var hasher = H()
        for input in inputs {
            switch input {
            case .bytes(let bytes): hasher.update(data: bytes)
            case .secret(let secret): secret.withUnsafeBytes { hasher.update(bufferPointer: $0) }
            case .byte(let byte): hasher.update(data: [byte])
            }
        }
        return Array(hasher.finalize())
    }
}
