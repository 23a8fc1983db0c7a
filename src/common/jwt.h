/* jwt.h: base64url and HS256 JSON Web Tokens, as Web PubSub signs and checks them. */
#ifndef WPS_JWT_H
#define WPS_JWT_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

/* base64url without padding. Returns a new string, NULL on out of memory. */
char *b64url_encode(const void *data, size_t len);
/* Decode base64url (padding tolerated). Returns a new buffer (NUL-terminated for convenience,
 * the NUL not counted in *outlen), or NULL when s is not base64url. */
unsigned char *b64url_decode(const char *s, size_t len, size_t *outlen);
/* Standard base64 with padding (binary message data in the JSON protocol). New string. */
char *b64_encode(const void *data, size_t len);
unsigned char *b64_decode(const char *s, size_t len, size_t *outlen);

/* SHA-256 of data[0..len) into out (32 bytes), with the digest fetched once. Returns 0 or -1. */
int sha256_digest(const void *data, size_t len, unsigned char out[32]);

/* Sign: base64url({"alg":"HS256","typ":"JWT"}) "." base64url(payload) "." base64url(HMAC-SHA256).
 * The payload is used byte for byte. The key is the access key's UTF-8 bytes as given.
 * Returns a new string or NULL. */
char *jwt_sign(const char *payload, size_t payload_len, const void *key, size_t keylen);

/* A server REST token: payload {"aud":"<aud>","exp":<exp>} with aud JSON-escaped. New string. */
char *jwt_server_token(const char *aud, long long exp, const void *key, size_t keylen);

enum jwt_rc { JWT_OK = 0, JWT_MALFORMED = -1, JWT_BAD_ALG = -2, JWT_BAD_SIGNATURE = -3 };
/* Verify the signature (constant-time compare) and that the header says HS256. On JWT_OK,
 * *claims (if not NULL) receives a new reference to the decoded payload object.
 * Claims (aud, exp, ...) are the caller's to check. */
enum jwt_rc jwt_verify(const char *token, const void *key, size_t keylen, json_t **claims);

#endif
