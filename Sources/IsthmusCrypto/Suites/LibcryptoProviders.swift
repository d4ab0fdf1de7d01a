import CLibcrypto

/// Ciphers fetched from the system libcrypto.
///
/// Single DES lives in OpenSSL 3's "legacy" provider. Loading it into the process-wide default
/// library context would change what every other libcrypto user in the process sees, so this module
/// creates a private `OSSL_LIB_CTX` with the "legacy" and "default" providers loaded and fetches
/// DES-CBC (and MD4, for MS-CHAPv2) from it, once. Nothing global is touched.
enum LibcryptoProviders {
    /// The private library context holding DES-CBC, or `nil` when the legacy provider is not installed
    /// (Debian: `libssl3` ships `ossl-modules/legacy.so`).
    static let legacy: LegacyCiphers? = LegacyCiphers()
}

/// A private library context with the legacy provider and the ciphers fetched from it. Never freed.
final class LegacyCiphers: @unchecked Sendable {
    /// The OpenSSL name of single DES in CBC mode.
    private static let desCBCName = "DES-CBC"

    let desCBC: OpaquePointer
    /// MD4 (the NT password hash of MS-CHAPv2, RFC 2759 section 8.3), or `nil` if the provider lacks it.
    let md4: OpaquePointer?

    init?() {
        guard let libraryContext = OSSL_LIB_CTX_new() else { return nil }
        guard OSSL_PROVIDER_load(libraryContext, "legacy") != nil,
            OSSL_PROVIDER_load(libraryContext, "default") != nil,
            let cipher = EVP_CIPHER_fetch(libraryContext, Self.desCBCName, nil)
        else {
            ERR_clear_error()
            OSSL_LIB_CTX_free(libraryContext)
            return nil
        }
        self.desCBC = cipher
        self.md4 = EVP_MD_fetch(libraryContext, "MD4", nil)
        ERR_clear_error()
    }
}
