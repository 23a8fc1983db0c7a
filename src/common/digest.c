/* digest.c: SHA-256 and HMAC-SHA256 with OpenSSL, the digest fetched once for the whole process. */
#include <config.h>

#include <pthread.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "digest.h"

/* SHA-256, fetched once: a fetched EVP_MD is immutable and may be shared by threads. HMAC() would
 * fetch it again on every call, which costs more than the hashing itself for a short JWT. */
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;
static EVP_MD *sha256_md;

static void sha256_fetch(void)
{
	sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

static int digest2(EVP_MD_CTX *ctx, const EVP_MD *md, const void *a, size_t alen, const void *b, size_t blen,
                   unsigned char out[DIGEST_SHA256_LEN])
{
	unsigned int n = 0;

	if (EVP_DigestInit_ex(ctx, md, NULL) != 1 || EVP_DigestUpdate(ctx, a, alen) != 1 ||
	    EVP_DigestUpdate(ctx, b, blen) != 1 || EVP_DigestFinal_ex(ctx, out, &n) != 1 ||
	    n != DIGEST_SHA256_LEN)
		return -1;
	return 0;
}

int digest_sha256(const void *data, size_t len, unsigned char out[DIGEST_SHA256_LEN])
{
	EVP_MD_CTX *ctx;
	int rc;

	pthread_once(&sha256_once, sha256_fetch);
	if (sha256_md == NULL || (ctx = EVP_MD_CTX_new()) == NULL)
		return -1;
	rc = digest2(ctx, sha256_md, data, len, "", 0, out);
	EVP_MD_CTX_free(ctx);
	return rc;
}

int digest_hmac_sha256(const void *key, size_t keylen, const void *data, size_t n,
                       unsigned char mac[DIGEST_SHA256_LEN])
{
	unsigned char k0[64], pad[64], inner[DIGEST_SHA256_LEN];
	EVP_MD_CTX *ctx = NULL;
	size_t i;
	int rc = -1;

	pthread_once(&sha256_once, sha256_fetch);
	if (sha256_md == NULL) {
		unsigned int maclen = 0;
		static const unsigned char empty_key[1];

		/* HMAC() treats a NULL key as "reuse the last one"; give it a real pointer */
		if (keylen > (size_t)0x7fffffff)
			return -1;
		if (HMAC(EVP_sha256(), keylen ? key : empty_key, (int)keylen, data, n, mac, &maclen) ==
		            NULL ||
		    maclen != DIGEST_SHA256_LEN)
			return -1;
		return 0;
	}
	ctx = EVP_MD_CTX_new();
	if (ctx == NULL)
		return -1;
	memset(k0, 0, sizeof(k0));
	if (keylen > sizeof(k0)) {
		if (digest2(ctx, sha256_md, key, keylen, "", 0, k0) < 0)
			goto out;
	} else if (keylen > 0) {
		memcpy(k0, key, keylen);
	}
	for (i = 0; i < sizeof(k0); i++)
		pad[i] = k0[i] ^ 0x36;
	if (digest2(ctx, sha256_md, pad, sizeof(pad), data, n, inner) < 0)
		goto out;
	for (i = 0; i < sizeof(k0); i++)
		pad[i] = k0[i] ^ 0x5c;
	if (digest2(ctx, sha256_md, pad, sizeof(pad), inner, sizeof(inner), mac) < 0)
		goto out;
	rc = 0;
out:
	OPENSSL_cleanse(k0, sizeof(k0));
	OPENSSL_cleanse(pad, sizeof(pad));
	OPENSSL_cleanse(inner, sizeof(inner));
	EVP_MD_CTX_free(ctx);
	return rc;
}
