/* digest.h: SHA-256 and HMAC-SHA256 (RFC 2104), the hashes wpsgate signs and checks with. */
#ifndef WPS_DIGEST_H
#define WPS_DIGEST_H

#include <stddef.h>

#define DIGEST_SHA256_LEN 32 /* bytes of a SHA-256 digest or an HMAC-SHA256 */

/* SHA-256 of data[0..len) into out. Returns 0 or -1. Safe from any thread. */
int digest_sha256(const void *data, size_t len, unsigned char out[DIGEST_SHA256_LEN]);
/* HMAC-SHA256 of data[0..n) with key[0..keylen) into mac. Returns 0 or -1. Safe from any thread. */
int digest_hmac_sha256(const void *key, size_t keylen, const void *data, size_t n,
                       unsigned char mac[DIGEST_SHA256_LEN]);

#endif
