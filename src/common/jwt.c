/* jwt.c: HS256 JSON Web Tokens (sign, verify) as Web PubSub signs and checks them. */
#include <config.h>

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "b64.h"
#include "digest.h"
#include "jwt.h"
#include "wpslimits.h"

/* base64url("{\"alg\":\"HS256\",\"typ\":\"JWT\"}") */
static const char jwt_hs256_header[] = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9";

/* h64[0..hlen) (the encoded header) "." base64url(payload) "." base64url(HMAC). */
static char *sign_encoded(const char *h64, size_t hlen, const char *payload, size_t payload_len, const void *key,
                          size_t keylen)
{
	size_t plen, total, o;
	unsigned char mac[DIGEST_SHA256_LEN];
	char *out;

	if (payload_len > WPS_JWT_MAX * 4)
		return NULL;
	plen = b64_encoded_len(payload_len, 0);
	total = hlen + 1 + plen + 1 + b64_encoded_len(DIGEST_SHA256_LEN, 0);
	out = malloc(total + 1);
	if (out == NULL)
		return NULL;
	memcpy(out, h64, hlen);
	o = hlen;
	out[o++] = '.';
	o += b64url_encode_into(out + o, (const unsigned char *)payload, payload_len);
	if (digest_hmac_sha256(key, keylen, out, o, mac) < 0) {
		free(out);
		return NULL;
	}
	out[o++] = '.';
	o += b64url_encode_into(out + o, mac, DIGEST_SHA256_LEN);
	out[o] = '\0';
	OPENSSL_cleanse(mac, sizeof(mac));
	return out;
}

char *jwt_sign(const char *payload, size_t payload_len, const void *key, size_t keylen)
{
	return sign_encoded(jwt_hs256_header, sizeof(jwt_hs256_header) - 1, payload, payload_len, key, keylen);
}

char *jwt_sign_header(const char *header, size_t header_len, const char *payload, size_t payload_len,
                      const void *key, size_t keylen)
{
	char *h64, *out;

	if (header_len > WPS_JWT_MAX || (h64 = b64url_encode(header, header_len)) == NULL)
		return NULL;
	out = sign_encoded(h64, strlen(h64), payload, payload_len, key, keylen);
	free(h64);
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
	unsigned char mac[DIGEST_SHA256_LEN];
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
	if (siglen != DIGEST_SHA256_LEN) {
		rc = JWT_BAD_SIGNATURE;
		goto out;
	}
	if (digest_hmac_sha256(key, keylen, token, (size_t)(dot2 - token), mac) < 0)
		goto out;
	if (CRYPTO_memcmp(mac, gotsig, DIGEST_SHA256_LEN) != 0) {
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
