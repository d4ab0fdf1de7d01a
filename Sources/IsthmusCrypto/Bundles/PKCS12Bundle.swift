import CLibcrypto

/// PKCS#12 files (RFC 7292) for client bundles: a certificate, its private key and the CA above it, as
/// Windows' certificate import and macOS' Keychain take them, written by Debian's libcrypto.
///
/// The modern profile: key and certificates encrypted with PBES2 (PBKDF2 with HMAC-SHA-256, AES-256-CBC,
/// 2048 iterations), the whole file authenticated with an HMAC-SHA-256 MAC; what `openssl pkcs12 -export`
/// of OpenSSL 3 writes by default and Windows 10 (1709 and later) and current macOS read.
public enum PKCS12Bundle {
    /// PBKDF2 and MAC iterations (OpenSSL's PKCS12_DEFAULT_ITER).
    public static let iterations: Int32 = 2048

    /// The DER of a PKCS#12 file with `certificateDER`, its key (PKCS#8 or traditional DER) and `chainDER`,
    /// the key bag named `friendlyName`, protected by `password` (no NUL bytes). Mismatched or undecodable
    /// inputs are `invalidParameter`; the error never contains the key or the password.
    public static func make(
        certificateDER: [UInt8], privateKeyDER: [UInt8], chainDER: [[UInt8]], friendlyName: String,
        password: [UInt8]
    ) throws(IsthmusCryptoError) -> [UInt8] {
        guard !password.contains(0) else { throw .invalidParameter("the PKCS#12 password contains a NUL byte") }
        defer { ERR_clear_error() }
        guard let certificate = readCertificate(certificateDER) else {
            throw .invalidParameter("the certificate for the PKCS#12 file does not decode")
        }
        defer { X509_free(certificate) }
        let key: OpaquePointer? = privateKeyDER.withUnsafeBufferPointer { buffer in
            var cursor = buffer.baseAddress
            return d2i_AutoPrivateKey(nil, &cursor, buffer.count)
        }
        guard let key else { throw .invalidParameter("the private key for the PKCS#12 file does not decode") }
        defer { EVP_PKEY_free(key) }
        guard X509_check_private_key(certificate, key) == 1 else {
            throw .invalidParameter("the private key does not belong to the certificate")
        }
        var chain: [OpaquePointer] = []
        defer { chain.forEach { X509_free($0) } }
        for der in chainDER {
            guard let parsed = readCertificate(der) else {
                throw .invalidParameter("a chain certificate for the PKCS#12 file does not decode")
            }
            chain.append(parsed)
        }
        guard let stack = OPENSSL_sk_new_null() else { throw .backendFailure("OPENSSL_sk_new_null") }
        defer { OPENSSL_sk_free(stack) }
        for certificate in chain where OPENSSL_sk_push(stack, UnsafeRawPointer(certificate)) <= 0 {
            throw .backendFailure("OPENSSL_sk_push")
        }
        var passwordCString = password.map { CChar(bitPattern: $0) } + [0]
        defer { secureZero(&passwordCString) }
        let bundle: OpaquePointer? = passwordCString.withUnsafeBufferPointer { pass in
            friendlyName.withCString { name in
                // mac_iter -1: no MAC here; PKCS12_set_mac below adds the SHA-256 one (OpenSSL 3.0's default
                // inside PKCS12_create is SHA-1).
                PKCS12_create(
                    pass.baseAddress, name, key, certificate, stack, NID_aes_256_cbc, NID_aes_256_cbc, iterations, -1,
                    0)
            }
        }
        guard let bundle else { throw .backendFailure("PKCS12_create: \(lastError())") }
        defer { PKCS12_free(bundle) }
        let macked = passwordCString.withUnsafeBufferPointer { pass in
            PKCS12_set_mac(bundle, pass.baseAddress, -1, nil, 0, iterations, EVP_sha256())
        }
        guard macked == 1 else { throw .backendFailure("PKCS12_set_mac: \(lastError())") }
        let length = i2d_PKCS12(bundle, nil)
        guard length > 0 else { throw .backendFailure("i2d_PKCS12: \(lastError())") }
        var output = [UInt8](repeating: 0, count: Int(length))
        let written = output.withUnsafeMutableBufferPointer { buffer -> Int32 in
            var cursor = buffer.baseAddress
            return i2d_PKCS12(bundle, &cursor)
        }
        guard written == length else { throw .backendFailure("i2d_PKCS12 wrote \(written) of \(length) bytes") }
        return output
    }

    /// What a PKCS#12 file holds, read back with `password`: the certificate's DER, whether a key came with it,
    /// and the chain's DERs. A wrong password or a damaged file is `authenticationFailure` / `invalidParameter`.
    public static func open(_ der: [UInt8], password: [UInt8]) throws(IsthmusCryptoError) -> (
        certificateDER: [UInt8], hasKey: Bool, chainDER: [[UInt8]]
    ) {
        defer { ERR_clear_error() }
        let bundle: OpaquePointer? = der.withUnsafeBufferPointer { buffer in
            var cursor = buffer.baseAddress
            return d2i_PKCS12(nil, &cursor, buffer.count)
        }
        guard let bundle else { throw .invalidParameter("the PKCS#12 file does not decode") }
        defer { PKCS12_free(bundle) }
        var passwordCString = password.map { CChar(bitPattern: $0) } + [0]
        defer { secureZero(&passwordCString) }
        let verified = passwordCString.withUnsafeBufferPointer { PKCS12_verify_mac(bundle, $0.baseAddress, -1) }
        guard verified == 1 else { throw .authenticationFailure() }
        var key: OpaquePointer?
        var certificate: OpaquePointer?
        var stack: OpaquePointer?
        let parsed = passwordCString.withUnsafeBufferPointer {
            PKCS12_parse(bundle, $0.baseAddress, &key, &certificate, &stack)
        }
        defer {
            if let key { EVP_PKEY_free(key) }
            if let certificate { X509_free(certificate) }
        }
        var chain: [[UInt8]] = []
        if let stack {
            for index in 0..<OPENSSL_sk_num(stack) {
                if let element = OPENSSL_sk_value(stack, index) {
                    let x509 = OpaquePointer(element)
                    chain.append(encode(x509))
                    X509_free(x509)
                }
            }
            OPENSSL_sk_free(stack)
        }
        guard parsed == 1, let certificate else { throw .invalidParameter("the PKCS#12 file has no certificate") }
        return (encode(certificate), key != nil, chain)
    }

    private static func readCertificate(_ der: [UInt8]) -> OpaquePointer? {
        der.withUnsafeBufferPointer { buffer in
            var cursor = buffer.baseAddress
            return d2i_X509(nil, &cursor, buffer.count)
        }
    }

    private static func encode(_ certificate: OpaquePointer) -> [UInt8] {
        let length = i2d_X509(certificate, nil)
        guard length > 0 else { return [] }
        var output = [UInt8](repeating: 0, count: Int(length))
        _ = output.withUnsafeMutableBufferPointer { buffer -> Int32 in
            var cursor = buffer.baseAddress
            return i2d_X509(certificate, &cursor)
        }
        return output
    }

    private static func lastError() -> String {
        let code = ERR_get_error()
        guard code != 0 else { return "no libcrypto error" }
        var buffer = [CChar](repeating: 0, count: 256)
        ERR_error_string_n(code, &buffer, buffer.count)
        return String(decoding: buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    private static func secureZero(_ bytes: inout [CChar]) {
        bytes.withUnsafeMutableBytes { buffer in
            if let base = buffer.baseAddress { OPENSSL_cleanse(base, buffer.count) }
        }
    }
}
