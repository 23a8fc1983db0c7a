/* cred.c: read the access key or the connection string from a private file and sign upstream JWTs. */
#include <config.h>
#include "cred.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>

#include "cfg.h"
#include "connstr.h"
#include "entra.h"
#include "jwt.h"
#include "secret.h"
#include "wpslimits.h"
#include "url.h"

static char *read_credential(const char *name, size_t *len, char *err, size_t errlen)
{
	return secret_read(name, SECRET_FILE_MAX, SECRET_CREDENTIAL, "credential", len, err, errlen);
}

int cred_load(const struct cfg *cfg, struct cred **out, char *err, size_t errlen)
{
	return cred_load_upstream(cfg, 0, out, err, errlen);
}

int cred_load_upstream(const struct cfg *cfg, size_t i, struct cred **out, char *err, size_t errlen)
{
	const struct cfg_upstream *u = &cfg->upstreams[i];
	char pre[48];
	struct cred *c;
	struct connstr cs = { NULL, NULL };
	char *raw = NULL, msg[400];
	size_t len;

	*out = NULL;
	if (cfg->nupstreams > 1)
		snprintf(pre, sizeof pre, "upstreams[%zu]", i + 1);
	else
		snprintf(pre, sizeof pre, "upstream");
	if ((c = calloc(1, sizeof *c)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (u->entra.kind != ENTRA_NONE) {
		/* Entra ID: no key; check the secret or federated token file now (-t, start, SIGHUP) */
		if (entra_preflight(&u->entra, err, errlen) < 0)
			goto bad;
		if ((c->endpoint = strdup(u->endpoint)) == NULL) {
			snprintf(err, errlen, "out of memory");
			goto bad;
		}
	} else if (u->access_key_file != NULL) {
		if ((c->key = read_credential(u->access_key_file, &c->keylen, msg, sizeof msg)) == NULL) {
			snprintf(err, errlen, "%s.access_key_file: %s", pre, msg);
			goto bad;
		}
		if ((c->endpoint = strdup(u->endpoint)) == NULL) {
			snprintf(err, errlen, "out of memory");
			goto bad;
		}
	} else {
		if ((raw = read_credential(u->connection_string_file, &len, msg, sizeof msg)) == NULL) {
			snprintf(err, errlen, "%s.connection_string_file: %s", pre, msg);
			goto bad;
		}
		if (connstr_parse(raw, &cs, msg, sizeof msg) < 0) {
			snprintf(err, errlen, "%s.connection_string_file: %s: %s", pre,
			         u->connection_string_file, msg);
			goto bad;
		}
		if (!url_endpoint_ok(cs.endpoint, msg, sizeof msg)) {
			snprintf(err, errlen, "%s.connection_string_file: %s: Endpoint %s", pre,
			         u->connection_string_file, msg);
			goto bad;
		}
		if (u->endpoint != NULL && strcmp(u->endpoint, cs.endpoint) != 0) {
			snprintf(err, errlen,
			         "%s.endpoint differs from the Endpoint of the connection string in %s "
			         "(remove that endpoint or make them equal)",
			         pre, u->connection_string_file);
			goto bad;
		}
		c->key = cs.access_key;
		c->keylen = strlen(cs.access_key);
		c->endpoint = cs.endpoint;
		cs.access_key = NULL;
		cs.endpoint = NULL;
	}
	if (i == 0 && cfg->events.nlisten > 0 && cfg->events.secondary_key_file != NULL &&
	    (c->key2 = read_credential(cfg->events.secondary_key_file, &c->key2len, msg, sizeof msg)) ==
	            NULL) {
		snprintf(err, errlen, "events.secondary_key_file: %s", msg);
		goto bad;
	}
	secret_free(raw);
	*out = c;
	return 0;
bad:
	connstr_free(&cs);
	secret_free(raw);
	cred_free(c);
	return -1;
}

/* The last Authorization values made, by URL. A token is a pure function of (key, aud = url,
 * exp = now + lifetime): within one second every request to the same URL gets the same bytes, so
 * they are made once (HMAC-SHA256 and base64 are ~20,000 instructions; a copy is ~200). Entries
 * are wiped when replaced and when their credential is freed. Direct-mapped by a hash of the URL;
 * a lock because nothing promises that only the loop thread signs. */
#define CRED_CACHE_SLOTS   16
#define CRED_CACHE_URL_MAX 512 /* longer URLs are signed every time */
struct cred_cache_ent {
	const struct cred *owner;
	time_t now;
	size_t urllen;
	char url[CRED_CACHE_URL_MAX];
	char *value; /* "Bearer <jwt>" */
};
static struct cred_cache_ent cred_cache[CRED_CACHE_SLOTS];
static pthread_mutex_t cred_cache_lock = PTHREAD_MUTEX_INITIALIZER;

static void cache_clear(struct cred_cache_ent *e)
{
	secret_free(e->value);
	e->value = NULL;
	e->owner = NULL;
}

static void cache_forget(const struct cred *c)
{
	size_t i;

	pthread_mutex_lock(&cred_cache_lock);
	for (i = 0; i < CRED_CACHE_SLOTS; i++)
		if (cred_cache[i].owner == c)
			cache_clear(&cred_cache[i]);
	pthread_mutex_unlock(&cred_cache_lock);
}

static struct cred_cache_ent *cache_slot(const char *url, size_t len)
{
	uint32_t h = 2166136261u; /* FNV-1a */
	size_t i;

	for (i = 0; i < len; i++)
		h = (h ^ (unsigned char)url[i]) * 16777619u;
	return &cred_cache[h % CRED_CACHE_SLOTS];
}

void cred_free(struct cred *c)
{
	if (c == NULL)
		return;
	cache_forget(c);
	secret_free(c->key);
	secret_free(c->key2);
	free(c->endpoint);
	free(c);
}

static char *make_authorization(const struct cred *c, const char *url, time_t now)
{
	char *jwt, *out;
	size_t n;

	jwt = jwt_server_token(url, (long long)now + WPS_JWT_LIFETIME_S, c->key, c->keylen);
	if (jwt == NULL)
		return NULL;
	n = strlen(jwt) + sizeof "Bearer ";
	if ((out = malloc(n)) != NULL) {
		memcpy(out, "Bearer ", 7);
		memcpy(out + 7, jwt, n - 7);
	}
	secret_free(jwt);
	return out;
}

char *cred_authorization(const struct cred *c, const char *url, time_t now)
{
	struct cred_cache_ent *e;
	char *out = NULL;
	size_t len;

	if (c->key == NULL)
		return NULL; /* Entra ID: upstream.c asks entra_bearer instead */
	len = strlen(url);
	if (len >= CRED_CACHE_URL_MAX)
		return make_authorization(c, url, now);
	e = cache_slot(url, len);
	pthread_mutex_lock(&cred_cache_lock);
	if (e->owner == c && e->now == now && e->urllen == len && memcmp(e->url, url, len) == 0) {
		out = strdup(e->value);
		pthread_mutex_unlock(&cred_cache_lock);
		return out;
	}
	out = make_authorization(c, url, now);
	if (out != NULL) {
		char *copy = strdup(out);
		if (copy != NULL) {
			cache_clear(e);
			e->owner = c;
			e->now = now;
			e->urllen = len;
			memcpy(e->url, url, len);
			e->value = copy;
		}
	}
	pthread_mutex_unlock(&cred_cache_lock);
	return out;
}
