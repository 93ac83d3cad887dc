#ifndef FERRY_CLIBCRYPTO_SHIM_H
#define FERRY_CLIBCRYPTO_SHIM_H
/* SHA256_Init/Update/Final: deprecated in OpenSSL 3 but about 6x faster than EVP_Digest for short inputs
   (no provider fetch); used for deduplication keys on the send path. */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>
#include <openssl/pem.h>
#include <openssl/asn1.h>
#include <openssl/crypto.h>
#include <openssl/err.h>

/* SHA-256 of the concatenation of up to three byte ranges (a range may be empty), into `out` (32 bytes). */
static inline void ferry_sha256_parts(const void *a, size_t a_length, const void *b, size_t b_length,
                                      const void *c, size_t c_length, unsigned char *out) {
    SHA256_CTX context;
    SHA256_Init(&context);
    if (a_length > 0) SHA256_Update(&context, a, a_length);
    if (b_length > 0) SHA256_Update(&context, b, b_length);
    if (c_length > 0) SHA256_Update(&context, c, c_length);
    SHA256_Final(out, &context);
}
#endif
