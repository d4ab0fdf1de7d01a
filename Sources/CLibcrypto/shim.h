#ifndef ISTHMUS_CLIBCRYPTO_SHIM_H
#define ISTHMUS_CLIBCRYPTO_SHIM_H
// Debian's OpenSSL 3 libcrypto. Only IsthmusCrypto imports this module.
#include <openssl/opensslv.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/bn.h>
#include <openssl/provider.h>
#include <openssl/err.h>
#include <openssl/md5.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <openssl/pkcs12.h>

// MARK: Hash states for HMAC without an allocation per packet (LibcryptoHMACIntegrity.swift)
//
// HMAC keyed once per SA keeps the inner and outer hash states after absorbing K^ipad and K^opad and
// copies them for each packet. On OpenSSL 3.0 every EVP way to do that allocates per packet:
// EVP_MAC_init(ctx, NULL, 0, NULL) and HMAC_Init_ex(ctx, NULL, ...) both go through
// EVP_MD_CTX_copy_ex, which frees and re-allocates the provider digest context (dupctx), once at init
// and once at final; EVP_DigestInit_ex on a used context frees and re-creates it too. The low-level
// SHA*_CTX / MD5_CTX structs are plain values: a copy is a memcpy and nothing is allocated. They are
// deprecated in OpenSSL 3.0 (still exported, same assembly as EVP), so the calls are wrapped here,
// where the deprecation warning is silenced once, instead of at every Swift call site.

#define ISTHMUS_HASH_MD5 1
#define ISTHMUS_HASH_SHA1 2
#define ISTHMUS_HASH_SHA256 3
#define ISTHMUS_HASH_SHA384 4
#define ISTHMUS_HASH_SHA512 5

/// One hash state of any of the kinds above (SHA-384 uses SHA512_CTX).
typedef union isthmus_hash_state {
    MD5_CTX md5;
    SHA_CTX sha1;
    SHA256_CTX sha256;
    SHA512_CTX sha512;
} isthmus_hash_state;

#pragma clang diagnostic push
#pragma clang diagnostic ignored "-Wdeprecated-declarations"

/// Starts a hash of `kind`; 1 on success, 0 for an unknown kind.
static inline int isthmus_hash_init(int kind, isthmus_hash_state *state) {
    switch (kind) {
    case ISTHMUS_HASH_MD5: return MD5_Init(&state->md5);
    case ISTHMUS_HASH_SHA1: return SHA1_Init(&state->sha1);
    case ISTHMUS_HASH_SHA256: return SHA256_Init(&state->sha256);
    case ISTHMUS_HASH_SHA384: return SHA384_Init(&state->sha512);
    case ISTHMUS_HASH_SHA512: return SHA512_Init(&state->sha512);
    default: return 0;
    }
}

/// Absorbs `count` bytes; 1 on success.
static inline int isthmus_hash_update(int kind, isthmus_hash_state *state, const void *bytes, size_t count) {
    switch (kind) {
    case ISTHMUS_HASH_MD5: return MD5_Update(&state->md5, bytes, count);
    case ISTHMUS_HASH_SHA1: return SHA1_Update(&state->sha1, bytes, count);
    case ISTHMUS_HASH_SHA256: return SHA256_Update(&state->sha256, bytes, count);
    case ISTHMUS_HASH_SHA384: return SHA384_Update(&state->sha512, bytes, count);
    case ISTHMUS_HASH_SHA512: return SHA512_Update(&state->sha512, bytes, count);
    default: return 0;
    }
}

/// Writes the digest (16, 20, 32, 48 or 64 bytes) to `digest`; 1 on success.
static inline int isthmus_hash_final(int kind, isthmus_hash_state *state, unsigned char *digest) {
    switch (kind) {
    case ISTHMUS_HASH_MD5: return MD5_Final(digest, &state->md5);
    case ISTHMUS_HASH_SHA1: return SHA1_Final(digest, &state->sha1);
    case ISTHMUS_HASH_SHA256: return SHA256_Final(digest, &state->sha256);
    case ISTHMUS_HASH_SHA384: return SHA384_Final(digest, &state->sha512);
    case ISTHMUS_HASH_SHA512: return SHA512_Final(digest, &state->sha512);
    default: return 0;
    }
}

#pragma clang diagnostic pop

#endif
