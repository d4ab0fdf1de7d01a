import Crypto
import CryptoExtras
import SwiftASN1
import X509

/// The public key of a verified certificate: checks the signatures of IKE AUTH payloads.
public struct PeerPublicKey: Sendable {
    enum Backing: Sendable {
        case p256(P256.Signing.PublicKey)
        case p384(P384.Signing.PublicKey)
        case p521(P521.Signing.PublicKey)
        case rsa(_RSA.Signing.PublicKey)
    }

    let backing: Backing

    init(backing: Backing) { self.backing = backing }

    init(_ key: Certificate.PublicKey, subject: String) throws(CertificateFailure) {
        if let p256 = P256.Signing.PublicKey(key) {
            backing = .p256(p256)
        } else if let p384 = P384.Signing.PublicKey(key) {
            backing = .p384(p384)
        } else if let p521 = P521.Signing.PublicKey(key) {
            backing = .p521(p521)
        } else if let rsa = _RSA.Signing.PublicKey(key) {
            guard rsa.keySizeInBits >= 2048 else {
                throw .unsupportedKey("the certificate '\(subject)' has an RSA key of \(rsa.keySizeInBits) bits")
            }
            backing = .rsa(rsa)
        } else {
            throw .unsupportedKey("the certificate '\(subject)' has a \(key) key (ECDSA or RSA expected)")
        }
    }

    /// A key from its SubjectPublicKeyInfo DER (RSA of at least 2048 bits, ECDSA P-256/P-384/P-521).
    public init(subjectPublicKeyInfoDER der: [UInt8]) throws(CertificateFailure) {
        let key: Certificate.PublicKey
        do {
            key = try Certificate.PublicKey(derEncoded: der)
        } catch {
            throw .malformed("the public key does not decode (\(error))")
        }
        try self.init(key, subject: "public key")
    }

    /// The SubjectPublicKeyInfo DER of the key (RFC 5280 4.1.2.7: algorithm and key). swift-certificates'
    /// `subjectPublicKeyInfoBytes` is only the key's BIT STRING content; this is the whole structure.
    public var subjectPublicKeyInfoDER: [UInt8] { Self.spkiDER(certificateKey) }

    static func spkiDER(_ key: Certificate.PublicKey) -> [UInt8] {
        var serializer = DER.Serializer()
        // Serializing a key swift-certificates holds cannot fail: its SPKI is built from valid parts.
        guard (try? serializer.serialize(key)) != nil else { return [] }
        return serializer.serializedBytes
    }

    var certificateKey: Certificate.PublicKey {
        switch backing {
        case .p256(let key): Certificate.PublicKey(key)
        case .p384(let key): Certificate.PublicKey(key)
        case .p521(let key): Certificate.PublicKey(key)
        case .rsa(let key): Certificate.PublicKey(key)
        }
    }

    /// "ECDSA P-256", "RSA 3072".
    public var keyDescription: String {
        switch backing {
        case .p256: "ECDSA P-256"
        case .p384: "ECDSA P-384"
        case .p521: "ECDSA P-521"
        case .rsa(let key): "RSA \(key.keySizeInBits)"
        }
    }

    /// Whether the key is RSA (the schemes it verifies are the `rsa...` ones).
    public var isRSA: Bool {
        if case .rsa = backing { return true }
        return false
    }

    /// The ECDSA scheme of RFC 4754 for the key's curve (IKEv2 AUTH methods 9, 10, 11), nil for RSA.
    public var rawECDSAScheme: SignatureScheme? {
        switch backing {
        case .p256: .ecdsaSHA256
        case .p384: .ecdsaSHA384
        case .p521: .ecdsaSHA512
        case .rsa: nil
        }
    }

    /// Checks a signature as RFC 7427 (AUTH method 14) carries it: ECDSA as DER ECDSA-Sig-Value (X9.62),
    /// RSA as the modulus-length signature. False for a scheme of the other key type and for any bytes that do
    /// not decode.
    public func verify(_ signature: [UInt8], over data: [UInt8], scheme: SignatureScheme) -> Bool {
        switch backing {
        case .p256(let key):
            guard scheme.isECDSA, let sig = try? P256.Signing.ECDSASignature(derRepresentation: signature) else {
                return false
            }
            return Digests.with(scheme.hash, data) { key.isValidSignature(sig, for: $0) }
        case .p384(let key):
            guard scheme.isECDSA, let sig = try? P384.Signing.ECDSASignature(derRepresentation: signature) else {
                return false
            }
            return Digests.with(scheme.hash, data) { key.isValidSignature(sig, for: $0) }
        case .p521(let key):
            guard scheme.isECDSA, let sig = try? P521.Signing.ECDSASignature(derRepresentation: signature) else {
                return false
            }
            return Digests.with(scheme.hash, data) { key.isValidSignature(sig, for: $0) }
        case .rsa(let key):
            return Self.verifyRSA(key, signature, data, scheme)
        }
    }

    /// Checks a signature without an AlgorithmIdentifier: ECDSA as the fixed-length r||s of RFC 4754 (IKEv2
    /// AUTH methods 9/10/11, each half as long as the curve's field), RSA as with ``verify(_:over:scheme:)``
    /// (AUTH method 1 is `.rsaPKCS1SHA1`).
    public func verifyRaw(_ signature: [UInt8], over data: [UInt8], scheme: SignatureScheme) -> Bool {
        switch backing {
        case .p256(let key):
            guard scheme.isECDSA, signature.count == 64,
                let sig = try? P256.Signing.ECDSASignature(rawRepresentation: signature)
            else { return false }
            return Digests.with(scheme.hash, data) { key.isValidSignature(sig, for: $0) }
        case .p384(let key):
            guard scheme.isECDSA, signature.count == 96,
                let sig = try? P384.Signing.ECDSASignature(rawRepresentation: signature)
            else { return false }
            return Digests.with(scheme.hash, data) { key.isValidSignature(sig, for: $0) }
        case .p521(let key):
            guard scheme.isECDSA, signature.count == 132,
                let sig = try? P521.Signing.ECDSASignature(rawRepresentation: signature)
            else { return false }
            return Digests.with(scheme.hash, data) { key.isValidSignature(sig, for: $0) }
        case .rsa(let key):
            return Self.verifyRSA(key, signature, data, scheme)
        }
    }

    private static func verifyRSA(
        _ key: _RSA.Signing.PublicKey, _ signature: [UInt8], _ data: [UInt8], _ scheme: SignatureScheme
    ) -> Bool {
        guard !scheme.isECDSA, signature.count == (key.keySizeInBits + 7) / 8 else { return false }
        let sig = _RSA.Signing.RSASignature(rawRepresentation: signature)
        let padding: _RSA.Signing.Padding =
            switch scheme {
            case .rsaPSSSHA256, .rsaPSSSHA384, .rsaPSSSHA512: .PSS
            default: .insecurePKCS1v1_5
            }
        return Digests.with(scheme.hash, data) { key.isValidSignature(sig, for: $0, padding: padding) }
    }
}

/// Hashing `data` with a scheme's hash and handing the digest to generic swift-crypto calls.
enum Digests {
    static func with<R>(_ hash: SignatureScheme.Hash, _ data: [UInt8], _ body: (any Digest) throws -> R) rethrows
        -> R
    {
        switch hash {
        case .sha1: try body(Insecure.SHA1.hash(data: data))
        case .sha256: try body(SHA256.hash(data: data))
        case .sha384: try body(SHA384.hash(data: data))
        case .sha512: try body(SHA512.hash(data: data))
        }
    }
}
