/* entra_cfg.c: the upstream.entra config section (kinds, keys, AZURE_* environment) and its secret files. */
#include <config.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cfg.h"
#include "cred.h"
#include "entra.h"
#include "entra_impl.h"
#include "gateway/dcfg.h"
#include "guard.h"
#include "secret.h"
#include "url.h"

#define KEY_PREFIX "upstream.entra"
#define STR_MAX    4096 /* bytes of any string value of the section */

static const char *const known_keys[] = { "kind",
	                                  "tenant_id",
	                                  "client_id",
	                                  "client_secret_file",
	                                  "federated_token_file",
	                                  "authority_host",
	                                  "imds_endpoint",
	                                  "timeout_ms",
	                                  NULL };

__attribute__((format(printf, 5, 6))) static int fail(char *err, size_t errlen, const config_setting_t *s,
                                                      const char *key, const char *fmt, ...)
{
	char what[200], full[512]; /* a key as long as any err buffer */
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof what, fmt, ap);
	va_end(ap);
	snprintf(full, sizeof full, KEY_PREFIX "%s%s", *key ? "." : "", key);
	return dcfg_keyfail(s, err, errlen, full, "%s", what);
}

const char *entra_kind_name(enum entra_kind k)
{
	switch (k) {
	case ENTRA_CLIENT_SECRET: return "client_secret";
	case ENTRA_MANAGED_IDENTITY: return "managed_identity";
	case ENTRA_WORKLOAD_IDENTITY: return "workload_identity";
	case ENTRA_NONE:
	default: return "none";
	}
}

/* A string member: absent leaves *out alone; present must be a non-empty string without control
 * characters. */
static int get_str(const config_setting_t *s, const char *name, char **out, char *err, size_t errlen)
{
	const config_setting_t *m = config_setting_get_member(s, name);
	const char *v, *p;

	if (m == NULL)
		return 0;
	if (config_setting_type(m) != CONFIG_TYPE_STRING)
		return fail(err, errlen, m, name, "must be a string");
	v = config_setting_get_string(m);
	if (v == NULL || *v == '\0')
		return fail(err, errlen, m, name, "must not be empty");
	if (strlen(v) > STR_MAX)
		return fail(err, errlen, m, name, "longer than %d bytes", STR_MAX);
	for (p = v; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return fail(err, errlen, m, name, "contains a control character");
	free(*out);
	if ((*out = strdup(v)) == NULL)
		return fail(err, errlen, m, name, "out of memory");
	return 0;
}

/* Take an environment variable when the key was not set. -1 only when out of memory. */
static int from_env(char **out, const char *var)
{
	const char *v;

	if (*out != NULL || (v = getenv(var)) == NULL || *v == '\0')
		return 0;
	return (*out = strdup(v)) != NULL ? 0 : -1;
}

/* tenant ids are GUIDs or domain names; client ids GUIDs: they go into a URL path or a form. */
static int id_ok(const char *v)
{
	size_t n = strlen(v);

	if (n == 0 || n > ENTRA_ID_MAX)
		return 0;
	for (; *v != '\0'; v++)
		if (!((*v >= 'a' && *v <= 'z') || (*v >= 'A' && *v <= 'Z') || (*v >= '0' && *v <= '9') ||
		      *v == '-' || *v == '.' || *v == '_'))
			return 0;
	return 1;
}

void entra_cfg_fini(struct entra_cfg *c)
{
	if (c == NULL)
		return;
	free(c->tenant_id);
	free(c->client_id);
	free(c->client_secret_file);
	free(c->federated_token_file);
	free(c->authority_host);
	free(c->imds_endpoint);
	memset(c, 0, sizeof *c);
}

/* Refuse a key that the kind does not use (a typo or a half-edited section should not pass). */
static int unused(const config_setting_t *s, const char *name, const char *kind, char *err, size_t errlen)
{
	const config_setting_t *m = config_setting_get_member(s, name);

	if (m == NULL)
		return 0;
	return fail(err, errlen, m, name, "not used with kind \"%s\"", kind);
}

int entra_cfg_parse(const config_setting_t *s, struct entra_cfg *out, char *err, size_t errlen)
{
	const config_setting_t *m;
	char *kind = NULL, why[160];
	const char *kn;
	int i, n;

	memset(out, 0, sizeof *out);
	out->timeout_ms = ENTRA_DEFAULT_TIMEOUT_MS;
	if (s == NULL)
		return 0;
	if (!config_setting_is_group(s)) {
		fail(err, errlen, s, "", "must be a group { ... }");
		goto bad;
	}
	n = config_setting_length(s);
	for (i = 0; i < n; i++) {
		const char *const *k;
		const char *name;

		m = config_setting_get_elem(s, (unsigned)i);
		name = config_setting_name(m);
		for (k = known_keys; name != NULL && *k != NULL; k++)
			if (strcmp(*k, name) == 0)
				break;
		if (name == NULL || *k == NULL) {
			fail(err, errlen, m, name ? name : "?", "unknown key");
			goto bad;
		}
	}
	if (get_str(s, "kind", &kind, err, errlen) < 0 ||
	    get_str(s, "tenant_id", &out->tenant_id, err, errlen) < 0 ||
	    get_str(s, "client_id", &out->client_id, err, errlen) < 0 ||
	    get_str(s, "client_secret_file", &out->client_secret_file, err, errlen) < 0 ||
	    get_str(s, "federated_token_file", &out->federated_token_file, err, errlen) < 0 ||
	    get_str(s, "authority_host", &out->authority_host, err, errlen) < 0 ||
	    get_str(s, "imds_endpoint", &out->imds_endpoint, err, errlen) < 0)
		goto bad;
	if ((m = config_setting_get_member(s, "timeout_ms")) != NULL) {
		long long v;
		if (config_setting_type(m) == CONFIG_TYPE_INT)
			v = config_setting_get_int(m);
		else if (config_setting_type(m) == CONFIG_TYPE_INT64)
			v = config_setting_get_int64(m);
		else {
			fail(err, errlen, m, "timeout_ms", "must be an integer");
			goto bad;
		}
		if (v < 100 || v > 120000) {
			fail(err, errlen, m, "timeout_ms", "out of range (100..120000)");
			goto bad;
		}
		out->timeout_ms = (long)v;
	}
	if (kind == NULL) {
		fail(err, errlen, s, "kind",
		     "missing (client_secret, managed_identity or workload_identity)");
		goto bad;
	}
	if (strcmp(kind, "client_secret") == 0)
		out->kind = ENTRA_CLIENT_SECRET;
	else if (strcmp(kind, "managed_identity") == 0)
		out->kind = ENTRA_MANAGED_IDENTITY;
	else if (strcmp(kind, "workload_identity") == 0)
		out->kind = ENTRA_WORKLOAD_IDENTITY;
	else {
		fail(err, errlen, config_setting_get_member(s, "kind"), "kind",
		     "unknown (client_secret, managed_identity or workload_identity)");
		goto bad;
	}
	kn = entra_kind_name(out->kind);

	switch (out->kind) {
	case ENTRA_CLIENT_SECRET:
		if (unused(s, "federated_token_file", kn, err, errlen) < 0 ||
		    unused(s, "imds_endpoint", kn, err, errlen) < 0)
			goto bad;
		if (out->tenant_id == NULL) {
			fail(err, errlen, s, "tenant_id", "missing");
			goto bad;
		}
		if (out->client_id == NULL) {
			fail(err, errlen, s, "client_id", "missing");
			goto bad;
		}
		if (out->client_secret_file == NULL) {
			fail(err, errlen, s, "client_secret_file", "missing");
			goto bad;
		}
		break;
	case ENTRA_WORKLOAD_IDENTITY:
		if (unused(s, "client_secret_file", kn, err, errlen) < 0 ||
		    unused(s, "imds_endpoint", kn, err, errlen) < 0)
			goto bad;
		if (from_env(&out->tenant_id, "AZURE_TENANT_ID") < 0 ||
		    from_env(&out->client_id, "AZURE_CLIENT_ID") < 0 ||
		    from_env(&out->federated_token_file, "AZURE_FEDERATED_TOKEN_FILE") < 0 ||
		    from_env(&out->authority_host, "AZURE_AUTHORITY_HOST") < 0) {
			fail(err, errlen, s, "", "out of memory");
			goto bad;
		}
		if (out->tenant_id == NULL) {
			fail(err, errlen, s, "tenant_id", "missing (and AZURE_TENANT_ID is not set)");
			goto bad;
		}
		if (out->client_id == NULL) {
			fail(err, errlen, s, "client_id", "missing (and AZURE_CLIENT_ID is not set)");
			goto bad;
		}
		if (out->federated_token_file == NULL) {
			fail(err, errlen, s, "federated_token_file",
			     "missing (and AZURE_FEDERATED_TOKEN_FILE is not set)");
			goto bad;
		}
		break;
	case ENTRA_MANAGED_IDENTITY:
		if (unused(s, "tenant_id", kn, err, errlen) < 0 ||
		    unused(s, "client_secret_file", kn, err, errlen) < 0 ||
		    unused(s, "federated_token_file", kn, err, errlen) < 0 ||
		    unused(s, "authority_host", kn, err, errlen) < 0)
			goto bad;
		break;
	case ENTRA_NONE:
	default: break;
	}
	if (out->tenant_id != NULL && !id_ok(out->tenant_id)) {
		m = config_setting_get_member(s, "tenant_id");
		fail(err, errlen, m ? m : s, "tenant_id", "%s",
		     m ? "must be a GUID or a domain name"
		       : "AZURE_TENANT_ID must be a GUID or a domain name");
		goto bad;
	}
	if (out->client_id != NULL && !id_ok(out->client_id)) {
		m = config_setting_get_member(s, "client_id");
		fail(err, errlen, m ? m : s, "client_id", "%s",
		     m ? "must be a GUID" : "AZURE_CLIENT_ID must be a GUID");
		goto bad;
	}
	if (out->kind != ENTRA_MANAGED_IDENTITY) {
		size_t len;
		if (out->authority_host == NULL &&
		    (out->authority_host = strdup(ENTRA_DEFAULT_AUTHORITY)) == NULL) {
			fail(err, errlen, s, "authority_host", "out of memory");
			goto bad;
		}
		if (!url_endpoint_ok(out->authority_host, why, sizeof why)) {
			m = config_setting_get_member(s, "authority_host");
			fail(err, errlen, m ? m : s, "authority_host", "%s%s",
			     m ? "" : "AZURE_AUTHORITY_HOST ", why);
			goto bad;
		}
		len = strlen(out->authority_host);
		if (len > 0 && out->authority_host[len - 1] == '/')
			out->authority_host[len - 1] = '\0';
	} else {
		out->imds_set = out->imds_endpoint != NULL;
		if (out->imds_endpoint == NULL && (out->imds_endpoint = strdup(ENTRA_DEFAULT_IMDS)) == NULL) {
			fail(err, errlen, s, "imds_endpoint", "out of memory");
			goto bad;
		}
		if (!url_metadata_ok(out->imds_endpoint, why, sizeof why)) {
			fail(err, errlen, config_setting_get_member(s, "imds_endpoint"), "imds_endpoint",
			     "%s", why);
			goto bad;
		}
	}
	free(kind);
	return 0;
bad:
	free(kind);
	entra_cfg_fini(out);
	return -1;
}

static int str_eq(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

int entra_cfg_equal(const struct entra_cfg *a, const struct entra_cfg *b)
{
	return a->kind == b->kind && a->imds_set == b->imds_set && a->timeout_ms == b->timeout_ms &&
	       str_eq(a->tenant_id, b->tenant_id) && str_eq(a->client_id, b->client_id) &&
	       str_eq(a->client_secret_file, b->client_secret_file) &&
	       str_eq(a->federated_token_file, b->federated_token_file) &&
	       str_eq(a->authority_host, b->authority_host) && str_eq(a->imds_endpoint, b->imds_endpoint);
}

static int dup_str(char **dst, const char *src)
{
	*dst = NULL;
	if (src == NULL)
		return 0;
	return (*dst = strdup(src)) != NULL ? 0 : -1;
}

int entra_cfg_copy(struct entra_cfg *dst, const struct entra_cfg *src)
{
	memset(dst, 0, sizeof *dst);
	dst->kind = src->kind;
	dst->imds_set = src->imds_set;
	dst->timeout_ms = src->timeout_ms;
	if (dup_str(&dst->tenant_id, src->tenant_id) < 0 || dup_str(&dst->client_id, src->client_id) < 0 ||
	    dup_str(&dst->client_secret_file, src->client_secret_file) < 0 ||
	    dup_str(&dst->federated_token_file, src->federated_token_file) < 0 ||
	    dup_str(&dst->authority_host, src->authority_host) < 0 ||
	    dup_str(&dst->imds_endpoint, src->imds_endpoint) < 0) {
		entra_cfg_fini(dst);
		return -1;
	}
	return 0;
}

/* The federated token: Kubernetes projects it world-readable and rotates it, so no mode rule here;
 * it is a short-lived signed assertion, not a long-lived secret. */
static char *read_assertion(const char *name, size_t *len, char *err, size_t errlen)
{
	return secret_read(name, ENTRA_ASSERTION_MAX, SECRET_CREDDIR | SECRET_NO_CR, NULL, len, err, errlen);
}

char *entra_read_secret(const struct entra_cfg *c, size_t *len, char *err, size_t errlen)
{
	char msg[400], *v = NULL;

	*len = 0;
	if (c->kind == ENTRA_CLIENT_SECRET) {
		if ((v = cred_read_file(c->client_secret_file, len, msg, sizeof msg)) == NULL)
			snprintf(err, errlen, KEY_PREFIX ".client_secret_file: %s", msg);
	} else if (c->kind == ENTRA_WORKLOAD_IDENTITY) {
		if ((v = read_assertion(c->federated_token_file, len, msg, sizeof msg)) == NULL)
			snprintf(err, errlen, KEY_PREFIX ".federated_token_file: %s", msg);
	} else {
		snprintf(err, errlen, "no secret file for kind %s", entra_kind_name(c->kind));
	}
	return v;
}

int entra_preflight(const struct entra_cfg *c, char *err, size_t errlen)
{
	char *v;
	size_t len;

	if (c->kind != ENTRA_CLIENT_SECRET && c->kind != ENTRA_WORKLOAD_IDENTITY)
		return 0;
	if ((v = entra_read_secret(c, &len, err, errlen)) == NULL)
		return -1;
	secret_free(v);
	return 0;
}
