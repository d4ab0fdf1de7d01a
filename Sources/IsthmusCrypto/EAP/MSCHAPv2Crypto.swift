import CLibcrypto
import Crypto

/// The computations of MS-CHAPv2 (RFC 2759 section 8) and of its keys (RFC 3079 section 3), as EAP-MSCHAPv2
/// uses them to authenticate a point-to-site client by user name and password.
///
/// MD4 (the NT password hash) is fetched from the private library context that holds OpenSSL 3's legacy
/// provider (``LibcryptoProviders``); single DES is 3DES-EDE with three equal keys from the default provider
/// (E(K, D(K, E(K, x))) = E(K, x)). SHA-1 is swift-crypto's.
public enum MSCHAPv2Crypto {
    /// The lengths of the fixed fields (RFC 2759 sections 4 and 8).
    public static let challengeLength = 16
    public static let ntResponseLength = 24
    public static let passwordHashLength = 16
    /// The MSK of EAP-MSCHAPv2 as strongSwan and Windows derive it: MasterReceiveKey | MasterSendKey
    /// (server side, 16 bytes each) | 32 zero bytes.
    public static let mskLength = 64

    /// NtPasswordHash (RFC 2759 section 8.3): MD4 of the password in UTF-16 little-endian.
    public static func ntPasswordHash(password: String) throws(IsthmusCryptoError) -> SecretBytes {
        var unicode: [UInt8] = []
        unicode.reserveCapacity(password.utf16.count * 2)
        for unit in password.utf16 {
            unicode.append(UInt8(truncatingIfNeeded: unit))
            unicode.append(UInt8(truncatingIfNeeded: unit >> 8))
        }
        defer { SecureZero.wipe(&unicode) }
        return SecretBytes(try md4(unicode))
    }

    /// HashNtPasswordHash (section 8.4): MD4 of the password hash.
    public static func hashNtPasswordHash(_ passwordHash: SecretBytes) throws(IsthmusCryptoError) -> SecretBytes {
        var bytes = passwordHash.copyBytes()
        defer { SecureZero.wipe(&bytes) }
        return SecretBytes(try md4(bytes))
    }

    /// ChallengeHash (section 8.2): the first 8 bytes of SHA-1(PeerChallenge | AuthenticatorChallenge |
    /// UserName), where UserName is the name without any "DOMAIN\" prefix.
    public static func challengeHash(
        peerChallenge: [UInt8], authenticatorChallenge: [UInt8], userName: [UInt8]
    ) -> [UInt8] {
        var sha = Insecure.SHA1()
        sha.update(data: peerChallenge)
        sha.update(data: authenticatorChallenge)
        sha.update(data: strippedUserName(userName))
        return Array(sha.finalize().prefix(8))
    }

    /// The user name as the hashes take it: what follows the last backslash ("DOMAIN\user" -> "user").
    public static func strippedUserName(_ name: [UInt8]) -> [UInt8] {
        guard let slash = name.lastIndex(of: UInt8(ascii: "\\")) else { return name }
        return Array(name[(slash + 1)...])
    }

    /// ChallengeResponse (section 8.5): the 8-byte challenge hash encrypted with DES under each of the three
    /// 7-byte thirds of the zero-padded 21-byte password hash.
    public static func challengeResponse(challengeHash: [UInt8], passwordHash: SecretBytes)
        throws(IsthmusCryptoError) -> [UInt8]
    {
        guard challengeHash.count == 8, passwordHash.count == passwordHashLength else {
            throw .invalidParameter("MS-CHAPv2 needs an 8-byte challenge hash and a 16-byte password hash")
        }
        var padded = passwordHash.copyBytes() + [UInt8](repeating: 0, count: 5)
        defer { SecureZero.wipe(&padded) }
        var response: [UInt8] = []
        for third in 0..<3 {
            var key = desKey(expanding: padded[(third * 7)..<(third * 7 + 7)])
            defer { SecureZero.wipe(&key) }
            response += try desEncrypt(block: challengeHash, key: key)
        }
        return response
    }

    /// GenerateNTResponse (section 8.1).
    public static func ntResponse(
        authenticatorChallenge: [UInt8], peerChallenge: [UInt8], userName: [UInt8], passwordHash: SecretBytes
    ) throws(IsthmusCryptoError) -> [UInt8] {
        let hash = challengeHash(
            peerChallenge: peerChallenge, authenticatorChallenge: authenticatorChallenge, userName: userName)
        return try challengeResponse(challengeHash: hash, passwordHash: passwordHash)
    }

    /// GenerateAuthenticatorResponse (section 8.7): "S=" and 40 upper-case hex digits.
    public static func authenticatorResponse(
        passwordHash: SecretBytes, ntResponse: [UInt8], peerChallenge: [UInt8], authenticatorChallenge: [UInt8],
        userName: [UInt8]
    ) throws(IsthmusCryptoError) -> String {
        let hashHash = try hashNtPasswordHash(passwordHash)
        var first = Insecure.SHA1()
        hashHash.withUnsafeBytes { first.update(bufferPointer: $0) }
        first.update(data: ntResponse)
        first.update(data: magic1)
        let digest = Array(first.finalize())
        var second = Insecure.SHA1()
        second.update(data: digest)
        second.update(
            data: challengeHash(
                peerChallenge: peerChallenge, authenticatorChallenge: authenticatorChallenge, userName: userName))
        second.update(data: magic2)
        let hex = second.finalize().map { byte in
            let digits = Array("0123456789ABCDEF".utf8)
            return String(decoding: [digits[Int(byte >> 4)], digits[Int(byte & 0x0f)]], as: UTF8.self)
        }
        return "S=" + hex.joined()
    }

    /// GetMasterKey (RFC 3079 section 3.4): SHA-1(PasswordHashHash | NTResponse | Magic1), first 16 bytes.
    public static func masterKey(passwordHashHash: SecretBytes, ntResponse: [UInt8]) -> SecretBytes {
        var sha = Insecure.SHA1()
        passwordHashHash.withUnsafeBytes { sha.update(bufferPointer: $0) }
        sha.update(data: ntResponse)
        sha.update(data: keyMagic1)
        return SecretBytes(sha.finalize().prefix(16))
    }

    /// GetAsymmetricStartKey (RFC 3079 section 3.4) for 128-bit keys: the send or receive key of the client
    /// or of the server.
    public static func asymmetricStartKey(masterKey: SecretBytes, isSend: Bool, isServer: Bool) -> SecretBytes {
        // Magic2 is the client's send key and the server's receive key; Magic3 the other way round.
        let magic = isSend == isServer ? keyMagic3 : keyMagic2
        var sha = Insecure.SHA1()
        masterKey.withUnsafeBytes { sha.update(bufferPointer: $0) }
        sha.update(data: [UInt8](repeating: 0, count: 40))
        sha.update(data: magic)
        sha.update(data: [UInt8](repeating: 0xf2, count: 40))
        return SecretBytes(sha.finalize().prefix(16))
    }

    /// The 64-byte MSK of EAP-MSCHAPv2 (what IKEv2 AUTH is keyed with, RFC 7296 section 2.16): the server's
    /// receive key, the server's send key, then 32 zero bytes (strongSwan's eap_mschapv2 and Windows).
    public static func msk(passwordHash: SecretBytes, ntResponse: [UInt8]) throws(IsthmusCryptoError) -> SecretBytes {
        let master = masterKey(passwordHashHash: try hashNtPasswordHash(passwordHash), ntResponse: ntResponse)
        let receive = asymmetricStartKey(masterKey: master, isSend: false, isServer: true)
        let send = asymmetricStartKey(masterKey: master, isSend: true, isServer: true)
        return SecretBytes(receive.copyBytes() + send.copyBytes() + [UInt8](repeating: 0, count: 32))
    }

    // MARK: - Primitives

    /// MD4 through the legacy provider's private library context.
    static func md4(_ data: [UInt8]) throws(IsthmusCryptoError) -> [UInt8] {
        guard let digest = LibcryptoProviders.legacy?.md4 else {
            throw .unsupportedTransform("MD4 (OpenSSL's legacy provider is not installed)")
        }
        var output = [UInt8](repeating: 0, count: 16)
        var length: UInt32 = 0
        let ok = data.withUnsafeBytes { input in
            output.withUnsafeMutableBytes { out in
                EVP_Digest(
                    input.baseAddress, input.count, out.bindMemory(to: UInt8.self).baseAddress, &length, digest, nil)
            }
        }
        guard ok == 1, length == 16 else { throw .backendFailure("EVP_Digest(MD4) failed") }
        return output
    }

    /// One DES block: 3DES-EDE in ECB mode with K1 = K2 = K3.
    static func desEncrypt(block: [UInt8], key: [UInt8]) throws(IsthmusCryptoError) -> [UInt8] {
        guard block.count == 8, key.count == 8, let context = EVP_CIPHER_CTX_new() else {
            throw .invalidParameter("DES takes an 8-byte block and an 8-byte key")
        }
        defer { EVP_CIPHER_CTX_free(context) }
        var tripled = key + key + key
        defer { SecureZero.wipe(&tripled) }
        var output = [UInt8](repeating: 0, count: 16)
        var produced: Int32 = 0
        let ok = tripled.withUnsafeBytes { keyBytes in
            block.withUnsafeBytes { input in
                output.withUnsafeMutableBytes { out in
                    EVP_EncryptInit_ex(
                        context, EVP_des_ede3_ecb(), nil, keyBytes.bindMemory(to: UInt8.self).baseAddress, nil) == 1
                        && EVP_CIPHER_CTX_set_padding(context, 0) == 1
                        && EVP_EncryptUpdate(
                            context, out.bindMemory(to: UInt8.self).baseAddress, &produced,
                            input.bindMemory(to: UInt8.self).baseAddress, 8) == 1
                }
            }
        }
        guard ok, produced == 8 else { throw .backendFailure("DES encryption failed") }
        return Array(output.prefix(8))
    }

    /// Spreads 56 key bits over 8 bytes, 7 bits each in the high bits (RFC 2759 appendix, DesEncrypt); the
    /// low (parity) bit is left zero: DES ignores it.
    static func desKey(expanding seven: ArraySlice<UInt8>) -> [UInt8] {
        let bytes = Array(seven)
        var bits: UInt64 = 0
        for byte in bytes { bits = (bits << 8) | UInt64(byte) }
        return (0..<8).map { index in UInt8(truncatingIfNeeded: (bits >> UInt64(49 - 7 * index)) << 1) & 0xfe }
    }

    /// "Magic server to client signing constant" (RFC 2759 section 8.7).
    static let magic1 = Array("Magic server to client signing constant".utf8)
    /// "Pad to make it do more than one iteration" (RFC 2759 section 8.7).
    static let magic2 = Array("Pad to make it do more than one iteration".utf8)
    /// RFC 3079 section 3.4's Magic1, Magic2 and Magic3.
    static let keyMagic1 = Array("This is the MPPE Master Key".utf8)
    static let keyMagic2 = Array(
        "On the client side, this is the send key; on the server side, it is the receive key.".utf8)
    static let keyMagic3 = Array(
        "On the client side, this is the receive key; on the server side, it is the send key.".utf8)
}
