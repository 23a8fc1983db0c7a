/* jwt.h: HS256 JSON Web Tokens, as Web PubSub signs and checks them (base64url in b64.h). */
#ifndef WPS_JWT_H
#define WPS_JWT_H

#include <stddef.h>
#include <jansson.h>

/* Sign: base64url({"alg":"HS256","typ":"JWT"}) "." base64url(payload) "." base64url(HMAC-SHA256).
 * The payload is used byte for byte. The key is the access key's UTF-8 bytes as given.
 * Returns a new string or NULL. */
char *jwt_sign(const char *payload, size_t payload_len, const void *key, size_t keylen);
/* The same with another header (a JSON object that must say "alg":"HS256"), used byte for byte. */
char *jwt_sign_header(const char *header, size_t header_len, const char *payload, size_t payload_len,
                      const void *key, size_t keylen);

/* A server REST token: payload {"aud":"<aud>","exp":<exp>} with aud JSON-escaped. New string. */
char *jwt_server_token(const char *aud, long long exp, const void *key, size_t keylen);

enum jwt_rc { JWT_OK = 0, JWT_MALFORMED = -1, JWT_BAD_ALG = -2, JWT_BAD_SIGNATURE = -3 };
/* Verify the signature (constant-time compare) and that the header says HS256. On JWT_OK,
 * *claims (if not NULL) receives a new reference to the decoded payload object.
 * Claims (aud, exp, ...) are the caller's to check. */
enum jwt_rc jwt_verify(const char *token, const void *key, size_t keylen, json_t **claims);

#endif
