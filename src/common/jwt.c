/* jwt.c: base64/base64url and HS256 JSON Web Tokens (sign, verify) with OpenSSL. */
#include "config.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "jwt.h"
#include "wpslimits.h"

static const char b64_std[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char b64_url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* base64url("{\"alg\":\"HS256\",\"typ\":\"JWT\"}") */
static const char jwt_hs256_header[] = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9";

#define HS256_LEN 32 /* bytes of an HMAC-SHA256 */

static size_t b64_len(size_t n, int pad)
{
	return pad ? (n + 2) / 3 * 4 : n / 3 * 4 + (n % 3 ? n % 3 + 1 : 0);
}

/* Encode n bytes into out (room for b64_len(n, pad) bytes, no NUL written); returns the length. */
static size_t b64_encode_into(char *out, const unsigned char *in, size_t n, const char *alpha, int pad)
{
	size_t i, o = 0;

	for (i = 0; i + 3 <= n; i += 3) {
		unsigned long v = ((unsigned long)in[i] << 16) | ((unsigned long)in[i + 1] << 8) | in[i + 2];

		out[o++] = alpha[(v >> 18) & 63];
		out[o++] = alpha[(v >> 12) & 63];
		out[o++] = alpha[(v >> 6) & 63];
		out[o++] = alpha[v & 63];
	}
	if (n - i == 1) {
		unsigned long v = (unsigned long)in[i] << 16;

		out[o++] = alpha[(v >> 18) & 63];
		out[o++] = alpha[(v >> 12) & 63];
		if (pad) {
			out[o++] = '=';
			out[o++] = '=';
		}
	} else if (n - i == 2) {
		unsigned long v = ((unsigned long)in[i] << 16) | ((unsigned long)in[i + 1] << 8);

		out[o++] = alpha[(v >> 18) & 63];
		out[o++] = alpha[(v >> 12) & 63];
		out[o++] = alpha[(v >> 6) & 63];
		if (pad)
			out[o++] = '=';
	}
	return o;
}

static char *b64_encode_alloc(const void *data, size_t len, const char *alpha, int pad)
{
	size_t n;
	char *out;

	if (len > ((size_t)-1 / 4) * 3 - 4)
		return NULL;
	out = malloc(b64_len(len, pad) + 1);
	if (out == NULL)
		return NULL;
	n = b64_encode_into(out, data, len, alpha, pad);
	out[n] = '\0';
	return out;
}

static int b64_val(unsigned char c, int url)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == (url ? '-' : '+'))
		return 62;
	if (c == (url ? '_' : '/'))
		return 63;
	return -1;
}

/* Decode; '=' padding is optional but, when present, must be complete and final.
 * Non-zero trailing bits are rejected so that every byte string has one encoding. */
static unsigned char *b64_decode_any(const char *s, size_t len, size_t *outlen, int url)
{
	unsigned char *out;
	size_t i, o = 0, data_len = len;
	unsigned long acc = 0;
	int bits = 0;

	while (data_len > 0 && s[data_len - 1] == '=')
		data_len--;
	if (len - data_len > 2)
		return NULL;
	if (len != data_len && len % 4 != 0)
		return NULL;
	if (data_len % 4 == 1)
		return NULL;
	out = malloc(data_len / 4 * 3 + 3);
	if (out == NULL)
		return NULL;
	for (i = 0; i < data_len; i++) {
		int v = b64_val((unsigned char)s[i], url);

		if (v < 0)
			goto bad;
		acc = (acc << 6) | (unsigned long)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (unsigned char)((acc >> bits) & 0xFF);
		}
	}
	if (bits > 0 && (acc & ((1ul << bits) - 1)) != 0)
		goto bad;
	out[o] = '\0';
	if (outlen != NULL)
		*outlen = o;
	return out;
bad:
	free(out);
	return NULL;
}

char *b64url_encode(const void *data, size_t len)
{
	return b64_encode_alloc(data, len, b64_url, 0);
}

unsigned char *b64url_decode(const char *s, size_t len, size_t *outlen)
{
	return b64_decode_any(s, len, outlen, 1);
}

char *b64_encode(const void *data, size_t len)
{
	return b64_encode_alloc(data, len, b64_std, 1);
}

unsigned char *b64_decode(const char *s, size_t len, size_t *outlen)
{
	return b64_decode_any(s, len, outlen, 0);
}

/* SHA-256, fetched once: a fetched EVP_MD is immutable and may be shared by threads. HMAC() would
 * fetch it again on every call, which costs more than the hashing itself for a short JWT. */
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;
static EVP_MD *sha256_md;

static void sha256_fetch(void)
{
	sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

static int digest2(EVP_MD_CTX *ctx, const EVP_MD *md, const void *a, size_t alen, const void *b, size_t blen,
                   unsigned char out[HS256_LEN])
{
	unsigned int n = 0;

	if (EVP_DigestInit_ex(ctx, md, NULL) != 1 || EVP_DigestUpdate(ctx, a, alen) != 1 ||
	    EVP_DigestUpdate(ctx, b, blen) != 1 || EVP_DigestFinal_ex(ctx, out, &n) != 1 || n != HS256_LEN)
		return -1;
	return 0;
}

int sha256_digest(const void *data, size_t len, unsigned char out[32])
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

/* HMAC-SHA256 (RFC 2104) over data with key. */
static int hs256(const void *key, size_t keylen, const char *data, size_t n, unsigned char mac[HS256_LEN])
{
	unsigned char k0[64], pad[64], inner[HS256_LEN];
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
		if (HMAC(EVP_sha256(), keylen ? key : empty_key, (int)keylen, (const unsigned char *)data, n,
		         mac, &maclen) == NULL ||
		    maclen != HS256_LEN)
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

char *jwt_sign(const char *payload, size_t payload_len, const void *key, size_t keylen)
{
	size_t hlen = sizeof(jwt_hs256_header) - 1, plen, total, o;
	unsigned char mac[HS256_LEN];
	char *out;

	if (payload_len > WPS_JWT_MAX * 4)
		return NULL;
	plen = b64_len(payload_len, 0);
	total = hlen + 1 + plen + 1 + b64_len(HS256_LEN, 0);
	out = malloc(total + 1);
	if (out == NULL)
		return NULL;
	memcpy(out, jwt_hs256_header, hlen);
	o = hlen;
	out[o++] = '.';
	o += b64_encode_into(out + o, (const unsigned char *)payload, payload_len, b64_url, 0);
	if (hs256(key, keylen, out, o, mac) < 0) {
		free(out);
		return NULL;
	}
	out[o++] = '.';
	o += b64_encode_into(out + o, mac, HS256_LEN, b64_url, 0);
	out[o] = '\0';
	OPENSSL_cleanse(mac, sizeof(mac));
	return out;
}

/* Bytes needed to JSON-escape s (without quotes); '/' is left as it is. */
static size_t json_esc_len(const char *s)
{
	size_t n = 0;

	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\' || c == '\n' || c == '\r' || c == '\t' || c == '\b' || c == '\f')
			n += 2;
		else if (c < 0x20)
			n += 6;
		else
			n++;
	}
	return n;
}

static size_t json_esc_into(char *out, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;

	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		char e = 0;

		switch (c) {
		case '"': e = '"'; break;
		case '\\': e = '\\'; break;
		case '\n': e = 'n'; break;
		case '\r': e = 'r'; break;
		case '\t': e = 't'; break;
		case '\b': e = 'b'; break;
		case '\f': e = 'f'; break;
		default: break;
		}
		if (e) {
			out[o++] = '\\';
			out[o++] = e;
		} else if (c < 0x20) {
			out[o++] = '\\';
			out[o++] = 'u';
			out[o++] = '0';
			out[o++] = '0';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		} else {
			out[o++] = (char)c;
		}
	}
	return o;
}

char *jwt_server_token(const char *aud, long long exp, const void *key, size_t keylen)
{
	char stackbuf[1024], *payload = stackbuf, *tok = NULL;
	size_t elen, need, o;
	int n;

	if (aud == NULL)
		return NULL;
	elen = json_esc_len(aud);
	if (elen > WPS_JWT_MAX)
		return NULL;
	need = elen + 64; /* {"aud":"","exp":} and 20 digits */
	if (need > sizeof(stackbuf)) {
		payload = malloc(need);
		if (payload == NULL)
			return NULL;
	}
	memcpy(payload, "{\"aud\":\"", 8);
	o = 8 + json_esc_into(payload + 8, aud);
	n = snprintf(payload + o, need - o, "\",\"exp\":%lld}", exp);
	if (n < 0 || (size_t)n >= need - o)
		goto out;
	tok = jwt_sign(payload, o + (size_t)n, key, keylen);
out:
	if (payload != stackbuf)
		free(payload);
	return tok;
}

enum jwt_rc jwt_verify(const char *token, const void *key, size_t keylen, json_t **claims)
{
	const char *dot1, *dot2, *sig;
	unsigned char *hdr = NULL, *pl = NULL, *gotsig = NULL;
	unsigned char mac[HS256_LEN];
	size_t len, hdrlen = 0, pllen = 0, siglen = 0;
	json_t *h = NULL, *p = NULL, *alg;
	enum jwt_rc rc = JWT_MALFORMED;

	if (claims != NULL)
		*claims = NULL;
	if (token == NULL)
		return JWT_MALFORMED;
	len = strnlen(token, WPS_JWT_MAX + 1);
	if (len > WPS_JWT_MAX)
		return JWT_MALFORMED;
	dot1 = memchr(token, '.', len);
	if (dot1 == NULL)
		return JWT_MALFORMED;
	dot2 = memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - token));
	if (dot2 == NULL)
		return JWT_MALFORMED;
	sig = dot2 + 1;
	if (memchr(sig, '.', len - (size_t)(sig - token)) != NULL)
		return JWT_MALFORMED;

	hdr = b64url_decode(token, (size_t)(dot1 - token), &hdrlen);
	if (hdr == NULL)
		goto out;
	h = json_loadb((const char *)hdr, hdrlen, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(h))
		goto out;
	alg = json_object_get(h, "alg");
	if (!json_is_string(alg)) {
		rc = JWT_BAD_ALG;
		goto out;
	}
	if (strcmp(json_string_value(alg), "HS256") != 0) {
		rc = JWT_BAD_ALG;
		goto out;
	}
	gotsig = b64url_decode(sig, len - (size_t)(sig - token), &siglen);
	if (gotsig == NULL)
		goto out;
	if (siglen != HS256_LEN) {
		rc = JWT_BAD_SIGNATURE;
		goto out;
	}
	if (hs256(key, keylen, token, (size_t)(dot2 - token), mac) < 0)
		goto out;
	if (CRYPTO_memcmp(mac, gotsig, HS256_LEN) != 0) {
		rc = JWT_BAD_SIGNATURE;
		goto out;
	}
	pl = b64url_decode(dot1 + 1, (size_t)(dot2 - dot1 - 1), &pllen);
	if (pl == NULL)
		goto out;
	p = json_loadb((const char *)pl, pllen, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(p))
		goto out;
	rc = JWT_OK;
	if (claims != NULL) {
		*claims = p;
		p = NULL;
	}
out:
	OPENSSL_cleanse(mac, sizeof(mac));
	json_decref(p);
	json_decref(h);
	free(gotsig);
	free(pl);
	free(hdr);
	return rc;
}
