#ifndef ISTHMUS_CLIBCRYPTO_SHIM_H
#define ISTHMUS_CLIBCRYPTO_SHIM_H
// Debian's OpenSSL 3 libcrypto. Only IsthmusCrypto imports this module.
#include <openssl/opensslv.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/bn.h>
#include <openssl/provider.h>
#include <openssl/err.h>
#endif
