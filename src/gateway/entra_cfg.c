/* entra_cfg.c: the upstream.entra config section (kinds, keys, AZURE_* environment) and its secret files. */
#include <config.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cfgtab.h"
#include "entra.h"
#include "entra_impl.h"
#include "secret.h"
#include "url.h"

#define KEY_PREFIX "upstream.entra"
#define STR_MAX    4096 /* bytes of any string value of the section */

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

/* The keys each kind uses; any other key of the section is refused (a typo or a half-edited section
 * should not pass). */
struct kind_rule {
	enum entra_kind kind;
	const char *unused[5]; /* NULL-terminated */
};
static const struct kind_rule kind_rules[] = {
	{ ENTRA_CLIENT_SECRET, { "federated_token_file", "imds_endpoint", NULL } },
	{ ENTRA_WORKLOAD_IDENTITY, { "client_secret_file", "imds_endpoint", NULL } },
	{ ENTRA_MANAGED_IDENTITY,
	  { "tenant_id", "client_secret_file", "federated_token_file", "authority_host", NULL } },
};

static int check_unused(const struct entra_cfg *c, const config_setting_t *s, struct cfgtab_err *e)
{
	size_t i, j;

	for (i = 0; i < sizeof kind_rules / sizeof kind_rules[0]; i++)
		if (kind_rules[i].kind == c->kind)
			for (j = 0; kind_rules[i].unused[j] != NULL; j++)
				if (config_setting_get_member(s, kind_rules[i].unused[j]) != NULL)
					return cfgtab_fail_member(e, s, kind_rules[i].unused[j],
					                          "not used with kind \"%s\"",
					                          entra_kind_name(c->kind));
	return 0;
}

/* A key the kind needs: from the section or, for workload identity, from the environment. */
static int need(struct cfgtab_err *e, const config_setting_t *s, const char *key, const char *value,
                const char *var)
{
	if (value != NULL)
		return 0;
	if (var != NULL)
		return cfgtab_fail_member(e, s, key, "missing (and %s is not set)", var);
	return cfgtab_fail_member(e, s, key, "missing");
}

static int check_required(struct entra_cfg *c, const config_setting_t *s, struct cfgtab_err *e)
{
	if (c->kind == ENTRA_CLIENT_SECRET)
		return need(e, s, "tenant_id", c->tenant_id, NULL) < 0 ||
		                       need(e, s, "client_id", c->client_id, NULL) < 0 ||
		                       need(e, s, "client_secret_file", c->client_secret_file, NULL) < 0
		               ? -1
		               : 0;
	if (c->kind != ENTRA_WORKLOAD_IDENTITY)
		return 0;
	if (from_env(&c->tenant_id, "AZURE_TENANT_ID") < 0 ||
	    from_env(&c->client_id, "AZURE_CLIENT_ID") < 0 ||
	    from_env(&c->federated_token_file, "AZURE_FEDERATED_TOKEN_FILE") < 0 ||
	    from_env(&c->authority_host, "AZURE_AUTHORITY_HOST") < 0)
		return cfgtab_fail(e, s, "out of memory");
	return need(e, s, "tenant_id", c->tenant_id, "AZURE_TENANT_ID") < 0 ||
	                       need(e, s, "client_id", c->client_id, "AZURE_CLIENT_ID") < 0 ||
	                       need(e, s, "federated_token_file", c->federated_token_file,
	                            "AZURE_FEDERATED_TOKEN_FILE") < 0
	               ? -1
	               : 0;
}

/* The ids (from the file or the environment) and the endpoint of the kind, with its default. */
static int check_values(struct entra_cfg *c, const config_setting_t *s, struct cfgtab_err *e)
{
	int set;
	char why[160];
	size_t len;

	set = config_setting_get_member(s, "tenant_id") != NULL;
	if (c->tenant_id != NULL && !id_ok(c->tenant_id))
		return cfgtab_fail_member(e, s, "tenant_id", "%s",
		                          set ? "must be a GUID or a domain name"
		                              : "AZURE_TENANT_ID must be a GUID or a domain name");
	set = config_setting_get_member(s, "client_id") != NULL;
	if (c->client_id != NULL && !id_ok(c->client_id))
		return cfgtab_fail_member(e, s, "client_id", "%s",
		                          set ? "must be a GUID" : "AZURE_CLIENT_ID must be a GUID");
	if (c->kind == ENTRA_MANAGED_IDENTITY) {
		c->imds_set = c->imds_endpoint != NULL;
		if (c->imds_endpoint == NULL && (c->imds_endpoint = strdup(ENTRA_DEFAULT_IMDS)) == NULL)
			return cfgtab_fail(e, s, "out of memory");
		if (!url_metadata_ok(c->imds_endpoint, why, sizeof why))
			return cfgtab_fail_member(e, s, "imds_endpoint", "%s", why);
		return 0;
	}
	set = config_setting_get_member(s, "authority_host") != NULL;
	if (c->authority_host == NULL && (c->authority_host = strdup(ENTRA_DEFAULT_AUTHORITY)) == NULL)
		return cfgtab_fail(e, s, "out of memory");
	if (!url_endpoint_ok(c->authority_host, why, sizeof why))
		return cfgtab_fail_member(e, s, "authority_host", "%s%s", set ? "" : "AZURE_AUTHORITY_HOST ",
		                          why);
	len = strlen(c->authority_host);
	if (len > 0 && c->authority_host[len - 1] == '/')
		c->authority_host[len - 1] = '\0';
	return 0;
}

static int check_entra(void *obj, const config_setting_t *s, struct cfgtab_err *e)
{
	struct entra_cfg *c = obj;

	if (s == NULL)
		return 0; /* no section: ENTRA_NONE, an access key */
	if (check_unused(c, s, e) < 0 || check_required(c, s, e) < 0)
		return -1;
	return check_values(c, s, e);
}

static const char *const kind_names[] = { "client_secret", "managed_identity", "workload_identity", NULL };
static const int kind_values[] = { ENTRA_CLIENT_SECRET, ENTRA_MANAGED_IDENTITY, ENTRA_WORKLOAD_IDENTITY };

#define E struct entra_cfg
static const struct cfgtab_key entra_keys[] = {
	{ .name = "kind",
	  .type = CFGTAB_ENUM,
	  .off = offsetof(E, kind),
	  .flags = CFGTAB_REQUIRED,
	  .def.i = ENTRA_NONE,
	  .names = kind_names,
	  .values = kind_values,
	  .example = "\"managed_identity\"",
	  .doc = "an app registration, an Azure-managed identity, or a Kubernetes federated token" },
	CFGTAB_STRING_KEY(E, tenant_id, "tenant_id", NULL, STR_MAX, 0, NULL, "\"contoso.onmicrosoft.com\"",
	                  "client_secret, workload_identity (or AZURE_TENANT_ID): a GUID or a domain name"),
	CFGTAB_STRING_KEY(
	        E, client_id, "client_id", NULL, STR_MAX, 0, NULL, "\"00000000-0000-0000-0000-000000000000\"",
	        "the application or identity (managed_identity: a user-assigned one; AZURE_CLIENT_ID)"),
	CFGTAB_STRING_KEY(E, client_secret_file, "client_secret_file", NULL, STR_MAX, 0, NULL,
	                  "\"client-secret\"",
	                  "client_secret: the secret, same file rules as upstream.access_key_file"),
	CFGTAB_STRING_KEY(E, federated_token_file, "federated_token_file", NULL, STR_MAX, 0, NULL,
	                  "\"/var/run/secrets/azure/tokens/azure-identity-token\"",
	                  "workload_identity: the projected token, re-read for every fetch "
	                  "(AZURE_FEDERATED_TOKEN_FILE)"),
	CFGTAB_STRING_KEY(E, authority_host, "authority_host", NULL, STR_MAX, 0, NULL,
	                  "\"" ENTRA_DEFAULT_AUTHORITY "\"",
	                  "client_secret, workload_identity: the token service (AZURE_AUTHORITY_HOST)"),
	CFGTAB_STRING_KEY(E, imds_endpoint, "imds_endpoint", NULL, STR_MAX, 0, NULL,
	                  "\"" ENTRA_DEFAULT_IMDS "\"", "managed_identity: the metadata token URL"),
	CFGTAB_INT_KEY(E, timeout_ms, "timeout_ms", ENTRA_DEFAULT_TIMEOUT_MS, 100, 120000, 0,
	               "one token request"),
};
#undef E

const struct cfgtab_section entra_cfg_section = CFGTAB_SECTION(
        KEY_PREFIX, struct entra_cfg, entra_keys, check_entra,
        "Or Microsoft Entra ID instead of a key (for a resource with local auth disabled; the identity "
        "needs\n"
        "the role \"Web PubSub Service Owner\"): upstream.endpoint plus this, without access_key_file.");

int entra_cfg_equal(const struct entra_cfg *a, const struct entra_cfg *b)
{
	return a->imds_set == b->imds_set && cfgtab_equal(&entra_cfg_section, a, b);
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
		if ((v = secret_read(c->client_secret_file, SECRET_FILE_MAX, SECRET_CREDENTIAL, "credential",
		                     len, msg, sizeof msg)) == NULL)
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
