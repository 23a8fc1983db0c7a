/* auth.c: verification of the JWTs the emulator receives (REST calls and WebSocket clients). */
#include <config.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "auth.h"
#include "emulimits.h"
#include "jwt.h"
#include "pct.h"

#define NBF_SKEW_S 300
#define ENTRA_AUD  "https://webpubsub.azure.com"

/* The Entra ID test mode (auth_set_entra_issuer) and local auth (auth_set_local_auth). */
static char *entra_key;
static size_t entra_keylen;
static int local_auth_off;

int auth_set_entra_issuer(const char *key, size_t keylen)
{
	if (entra_key != NULL) {
		OPENSSL_cleanse(entra_key, entra_keylen);
		free(entra_key);
	}
	entra_key = NULL;
	entra_keylen = 0;
	if (key == NULL)
		return 0;
	if ((entra_key = malloc(keylen + 1)) == NULL)
		return -1;
	memcpy(entra_key, key, keylen);
	entra_key[keylen] = '\0';
	entra_keylen = keylen;
	return 0;
}

void auth_set_local_auth(int enabled)
{
	local_auth_off = !enabled;
}

static int why_set(char *why, size_t whylen, const char *msg)
{
	if (why && whylen)
		snprintf(why, whylen, "%s", msg);
	return -1;
}

/* Verify signature and lifetime. On 0, *claims is a new reference. */
static int verify_key(const char *key, size_t keylen, const char *token, time_t now, json_t **claims,
                      char *why, size_t whylen)
{
	json_t *c = NULL;
	enum jwt_rc rc = jwt_verify(token, key, keylen, &c);

	*claims = NULL;
	if (rc == JWT_BAD_SIGNATURE)
		return why_set(why, whylen, "The token signature is invalid");
	if (rc == JWT_BAD_ALG)
		return why_set(why, whylen, "The token is not signed with HS256");
	if (rc != JWT_OK || !json_is_object(c)) {
		json_decref(c);
		return why_set(why, whylen, "The token is malformed");
	}
	json_t *exp = json_object_get(c, "exp");
	if (!json_is_number(exp)) {
		json_decref(c);
		return why_set(why, whylen, "The token has no exp claim");
	}
	if (json_number_value(exp) <= (double)now) {
		json_decref(c);
		return why_set(why, whylen, "The token is expired");
	}
	json_t *nbf = json_object_get(c, "nbf");
	if (nbf && (!json_is_number(nbf) || json_number_value(nbf) > (double)(now + NBF_SKEW_S))) {
		json_decref(c);
		return why_set(why, whylen, "The token is not valid yet");
	}
	*claims = c;
	return 0;
}

static int verify(const struct emu *e, const char *token, time_t now, json_t **claims, char *why,
                  size_t whylen)
{
	return verify_key(e->key, e->keylen, token, now, claims, why, whylen);
}

/* 1 when the aud claim (a string or an array of strings) names the Web PubSub resource. */
static int aud_str_is_resource(const json_t *aud)
{
	return json_is_string(aud) && (strcmp(json_string_value(aud), ENTRA_AUD) == 0 ||
	                               strcmp(json_string_value(aud), ENTRA_AUD "/") == 0);
}

static int aud_is_resource(const json_t *aud)
{
	size_t i;

	if (!json_is_array(aud))
		return aud_str_is_resource(aud);
	for (i = 0; i < json_array_size(aud); i++)
		if (aud_str_is_resource(json_array_get(aud, i)))
			return 1;
	return 0;
}

/* The Entra ID test mode: 1 accepted, 0 not signed by the fake issuer (try the access key), -1
 * signed by it but not acceptable (why says so). */
static int entra_rest(const char *tok, time_t now, char *why, size_t whylen)
{
	json_t *claims = NULL;
	int rc = -1;

	if (entra_key == NULL || jwt_verify(tok, entra_key, entra_keylen, NULL) != JWT_OK)
		return 0;
	if (verify_key(entra_key, entra_keylen, tok, now, &claims, why, whylen) < 0)
		return -1;
	if (!aud_is_resource(json_object_get(claims, "aud")))
		why_set(why, whylen, "The Entra ID token's aud is not " ENTRA_AUD);
	else
		rc = 1;
	json_decref(claims);
	return rc;
}

static int aud_is(const char *aud, const char *hostport, const char *raw_uri)
{
	static const char scheme[] = "http://";
	size_t hl, sl = sizeof(scheme) - 1;
	if (!hostport || !*hostport)
		return 0;
	hl = strlen(hostport);
	return strncmp(aud, scheme, sl) == 0 && strncasecmp(aud + sl, hostport, hl) == 0 &&
	       strcmp(aud + sl + hl, raw_uri) == 0;
}

int auth_rest(const struct emu *e, const char *authorization, const char *host, const char *raw_uri,
              time_t now, char *why, size_t whylen)
{
	json_t *claims = NULL;
	int rc = -1;

	if (!authorization || strncasecmp(authorization, "Bearer ", 7) != 0)
		return why_set(why, whylen, "The request has no Bearer token");
	const char *tok = authorization + 7;
	while (*tok == ' ')
		tok++;
	if (entra_key != NULL) {
		int er = entra_rest(tok, now, why, whylen);
		if (er != 0)
			return er > 0 ? 0 : -1;
	}
	if (local_auth_off) {
		if (jwt_verify(tok, e->key, e->keylen, NULL) == JWT_OK)
			return why_set(why, whylen, "Local auth is disabled: use a Microsoft Entra ID token");
	}
	if (verify(e, tok, now, &claims, why, whylen) < 0)
		return -1;
	const char *aud = json_string_value(json_object_get(claims, "aud"));
	if (!aud) {
		why_set(why, whylen, "The token has no aud claim");
		goto out;
	}
	if (!aud_is(aud, e->hostport, raw_uri) && !aud_is(aud, host, raw_uri)) {
		why_set(why, whylen, "The token's aud is not the request URL");
		goto out;
	}
	rc = 0;
out:
	json_decref(claims);
	return rc;
}

/* Copy a claim that is a string or an array of strings. 0, or -1 (wrong type or too many). */
static int str_list(json_t *v, char ***out, size_t *n, size_t max)
{
	size_t i, cnt;
	*out = NULL;
	*n = 0;
	if (!v || json_is_null(v))
		return 0;
	if (json_is_string(v)) {
		if (!(*out = calloc(1, sizeof(char *))) || !((*out)[0] = strdup(json_string_value(v))))
			return -1;
		*n = 1;
		return 0;
	}
	if (!json_is_array(v) || (cnt = json_array_size(v)) > max)
		return -1;
	if (cnt == 0)
		return 0;
	if (!(*out = calloc(cnt, sizeof(char *))))
		return -1;
	for (i = 0; i < cnt; i++) {
		const char *s = json_string_value(json_array_get(v, i));
		if (!s || !((*out)[i] = strdup(s)))
			return -1;
		*n = i + 1;
	}
	return 0;
}

int auth_client(const struct emu *e, const char *token, const char *host, const char *hub, time_t now,
                struct auth_client *out, char *why, size_t whylen)
{
	return auth_client_at(e, token, host, "/client/hubs/", hub, now, out, why, whylen);
}

int auth_client_at(const struct emu *e, const char *token, const char *host, const char *prefix,
                   const char *hub, time_t now, struct auth_client *out, char *why, size_t whylen)
{
	size_t pl = strlen(prefix);
	json_t *claims = NULL;
	char *path = NULL;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (!token || !*token)
		return why_set(why, whylen, "No access token");
	if (verify(e, token, now, &claims, why, whylen) < 0)
		return -1;
	const char *aud = json_string_value(json_object_get(claims, "aud"));
	const char *sep = aud ? strstr(aud, "://") : NULL;
	if (!sep) {
		why_set(why, whylen, "The token has no valid aud claim");
		goto out;
	}
	const char *hp = sep + 3;
	const char *slash = strchr(hp, '/');
	size_t hpl = slash ? (size_t)(slash - hp) : strlen(hp);
	int host_ok = (hpl == strlen(e->hostport) && strncasecmp(hp, e->hostport, hpl) == 0) ||
	              (host && hpl == strlen(host) && strncasecmp(hp, host, hpl) == 0);
	path = slash ? pct_decode(slash, strlen(slash), 0, NULL) : NULL;
	if (!host_ok || !path || strncmp(path, prefix, pl) != 0 || strcasecmp(path + pl, hub) != 0) {
		why_set(why, whylen, "The token's aud is not this hub's client endpoint");
		goto out;
	}
	json_t *sub = json_object_get(claims, "sub");
	if (sub && !json_is_null(sub)) {
		if (!json_is_string(sub) || !json_string_length(sub)) {
			why_set(why, whylen, "The token's sub claim is invalid");
			goto out;
		}
		if (!(out->user = strdup(json_string_value(sub))))
			goto oom;
	}
	if (str_list(json_object_get(claims, "role"), &out->roles, &out->nroles, EMU_ROLES_MAX) < 0) {
		why_set(why, whylen, "The token's role claim is invalid");
		goto out;
	}
	if (str_list(json_object_get(claims, "webpubsub.group"), &out->groups, &out->ngroups,
	             EMU_TOKEN_GROUPS_MAX) < 0) {
		why_set(why, whylen, "The token's webpubsub.group claim is invalid");
		goto out;
	}
	for (size_t i = 0; i < out->ngroups; i++) {
		size_t l = strlen(out->groups[i]);
		if (l == 0 || l > WPS_GROUP_MAX) {
			why_set(why, whylen, "The token's webpubsub.group claim has an invalid group");
			goto out;
		}
	}
	rc = 0;
	goto out;
oom:
	why_set(why, whylen, "out of memory");
out:
	if (rc < 0)
		auth_client_release(out);
	free(path);
	json_decref(claims);
	return rc;
}

static void strv_free(char **v, size_t n)
{
	if (!v)
		return;
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

void auth_client_release(struct auth_client *a)
{
	if (!a)
		return;
	free(a->user);
	strv_free(a->roles, a->nroles);
	strv_free(a->groups, a->ngroups);
	memset(a, 0, sizeof(*a));
}
