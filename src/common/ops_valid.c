/* ops_valid.c: validation of path values, query parameters and bodies for the operation table. */
#include <config.h>

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "utf8.h"
#include "ops.h"
#include "pct.h"

#define QUOTE_MAX 64 /* bytes of user input echoed in an error message */

/* Copy at most QUOTE_MAX bytes of user input into out as printable ASCII, "..." when cut. */
static void quote_input(const char *s, char out[QUOTE_MAX + 4])
{
	size_t len = strlen(s), i, n = len > QUOTE_MAX ? QUOTE_MAX : len;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		out[i] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
	}
	if (len > n) {
		memcpy(out + n, "...", 3);
		n += 3;
	}
	out[n] = '\0';
}

static int has_control(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s == 0x7f)
			return 1;
	return 0;
}

/* Code points in a valid UTF-8 string. */
static size_t utf8_chars(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		if (((unsigned char)*s & 0xC0) != 0x80)
			n++;
	return n;
}

/* Decode one code point of valid UTF-8 at s; returns its length. */
static size_t utf8_next(const unsigned char *s, unsigned long *cp)
{
	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	}
	if (s[0] < 0xE0) {
		*cp = ((unsigned long)(s[0] & 0x1F) << 6) | (s[1] & 0x3F);
		return 2;
	}
	if (s[0] < 0xF0) {
		*cp = ((unsigned long)(s[0] & 0x0F) << 12) | ((unsigned long)(s[1] & 0x3F) << 6) |
		      (s[2] & 0x3F);
		return 3;
	}
	*cp = ((unsigned long)(s[0] & 0x07) << 18) | ((unsigned long)(s[1] & 0x3F) << 12) |
	      ((unsigned long)(s[2] & 0x3F) << 6) | (s[3] & 0x3F);
	return 4;
}

/* White space as .NET's char.IsWhiteSpace sees it. */
static int is_space_cp(unsigned long c)
{
	return c == ' ' || (c >= 0x09 && c <= 0x0D) || c == 0x85 || c == 0xA0 || c == 0x1680 ||
	       (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F ||
	       c == 0x3000;
}

static int valid_text(const char *s, size_t maxchars)
{
	size_t len;

	if (s == NULL || *s == '\0')
		return 0;
	len = strlen(s);
	if (len > maxchars * 4 || !utf8_valid(s, len) || has_control(s))
		return 0;
	return utf8_chars(s) <= maxchars;
}

int ops_valid_hub(const char *s)
{
	size_t i;

	if (s == NULL || !((s[0] >= 'A' && s[0] <= 'Z') || (s[0] >= 'a' && s[0] <= 'z')))
		return 0;
	for (i = 1; s[i]; i++) {
		char c = s[i];

		if (i >= WPS_HUB_MAX)
			return 0;
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '`' || c == ',' || c == '.' || c == '[' || c == ']'))
			return 0;
	}
	return 1;
}

int ops_valid_group(const char *s)
{
	const unsigned char *p;

	if (!valid_text(s, WPS_GROUP_MAX))
		return 0;
	for (p = (const unsigned char *)s; *p;) {
		unsigned long cp;

		p += utf8_next(p, &cp);
		if (!is_space_cp(cp))
			return 1;
	}
	return 0; /* only white space */
}

int ops_valid_id(const char *s)
{
	return valid_text(s, WPS_ID_MAX);
}

int ops_valid_permission(const char *s)
{
	return s != NULL && (strcmp(s, "sendToGroup") == 0 || strcmp(s, "joinLeaveGroup") == 0);
}

/* ---- query parameters ---- */

int ops_add_query(struct ops_req *r, const char *raw_key, const char *raw_val, struct ops_err *e)
{
	char *key = NULL, *val = NULL;
	size_t klen, vlen = 0;

	if (r->nquery >= WPS_QUERY_PARAMS_MAX)
		return ops_fail(e, 400, "InvalidParameter", "More than %d query parameters",
		                WPS_QUERY_PARAMS_MAX);
	key = pct_decode(raw_key, strlen(raw_key), 1, &klen);
	if (key == NULL) {
		ops_fail(e, 400, "InvalidParameter",
		         "A query parameter name has a malformed percent-escape or a NUL byte");
		goto bad;
	}
	if (klen == 0) {
		ops_fail(e, 400, "InvalidParameter", "A query parameter has an empty name");
		goto bad;
	}
	val = raw_val != NULL ? pct_decode(raw_val, strlen(raw_val), 1, &vlen) : strdup("");
	if (val == NULL) {
		char q[QUOTE_MAX + 4];

		quote_input(key, q);
		ops_fail(e, 400, "InvalidParameter",
		         "The query parameter '%s' has a malformed percent-escape or a NUL byte", q);
		goto bad;
	}
	if (!utf8_valid(key, klen) || !utf8_valid(val, vlen)) {
		ops_fail(e, 400, "InvalidParameter", "A query parameter is not valid UTF-8");
		goto bad;
	}
	if (has_control(key) || has_control(val)) {
		ops_fail(e, 400, "InvalidParameter", "A query parameter contains a control character");
		goto bad;
	}
	if (r->nquery == r->capquery) {
		size_t ncap = r->capquery ? r->capquery * 2 : 4;
		struct ops_kv *n;

		if (ncap > WPS_QUERY_PARAMS_MAX)
			ncap = WPS_QUERY_PARAMS_MAX;
		if ((n = realloc(r->query, ncap * sizeof(*n))) == NULL) {
			ops_fail(e, 500, "InternalError", "Out of memory");
			goto bad;
		}
		r->query = n;
		r->capquery = ncap;
	}
	r->query[r->nquery].key = key;
	r->query[r->nquery].val = val;
	r->nquery++;
	return 0;
bad:
	free(key);
	free(val);
	return -1;
}

int ops_parse_query(struct ops_req *r, const char *raw_query, struct ops_err *e)
{
	const char *p = raw_query, *amp, *eq;
	char *pair = NULL;
	int rc = 0;

	if (raw_query == NULL)
		return 0;
	if (strlen(raw_query) > WPS_URL_MAX)
		return ops_fail(e, 400, "InvalidParameter", "The query string is too long");
	while (*p) {
		size_t n;

		amp = strchr(p, '&');
		n = amp != NULL ? (size_t)(amp - p) : strlen(p);
		if (n > 0) {
			pair = strndup(p, n);
			if (pair == NULL)
				return ops_fail(e, 400, "InvalidParameter", "Out of memory");
			eq = strchr(pair, '=');
			if (eq != NULL)
				pair[eq - pair] = '\0';
			rc = ops_add_query(r, pair, eq != NULL ? pair + (eq - pair) + 1 : NULL, e);
			free(pair);
			if (rc < 0)
				return -1;
		}
		if (amp == NULL)
			break;
		p = amp + 1;
	}
	return 0;
}

const char *ops_query_get(const struct ops_req *r, const char *key)
{
	size_t i;

	for (i = 0; i < r->nquery; i++)
		if (strcmp(r->query[i].key, key) == 0)
			return r->query[i].val;
	return NULL;
}

static const struct {
	const char *name;
	unsigned bit;
	int repeated;
} qparams[] = {
	{ "api-version", OPQ_API_VERSION, 0 },
	{ "excluded", OPQ_EXCLUDED, 1 },
	{ "filter", OPQ_FILTER, 0 },
	{ "messageTtlSeconds", OPQ_TTL, 0 },
	{ "reason", OPQ_REASON, 0 },
	{ "userId", OPQ_USER_ID, 0 },
	{ "role", OPQ_ROLE, 1 },
	{ "minutesToExpire", OPQ_MINUTES, 0 },
	{ "group", OPQ_GROUP, 1 },
	{ "clientType", OPQ_CLIENT_TYPE, 0 },
	{ "targetName", OPQ_TARGET_NAME, 0 },
	{ "maxpagesize", OPQ_MAXPAGESIZE, 0 },
	{ "top", OPQ_TOP, 0 },
	{ "continuationToken", OPQ_CONTINUATION, 0 },
	{ "$filter", OPQ_DOLLAR_FILTER, 0 },
};

unsigned ops_query_bit(const char *key)
{
	size_t k;

	for (k = 0; key != NULL && k < sizeof(qparams) / sizeof(qparams[0]); k++)
		if (strcmp(key, qparams[k].name) == 0)
			return qparams[k].bit;
	return 0;
}

/* Strictly decimal digits, value in [min, max]. */
static int int_in_range(const char *s, long long min, long long max)
{
	long long v = 0;

	if (*s == '\0')
		return 0;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return 0;
		if (v > (LLONG_MAX - (*s - '0')) / 10)
			return 0;
		v = v * 10 + (*s - '0');
		if (v > max)
			return 0;
	}
	return v >= min;
}

static int check_value(const struct ops_req *r, unsigned bit, const char *name, const char *v,
                       struct ops_err *e)
{
	switch (bit) {
	case OPQ_TTL:
		if (!int_in_range(v, 0, WPS_TTL_MAX))
			return ops_fail(e, 400, "InvalidParameter",
			                "messageTtlSeconds must be an integer from 0 to %d", WPS_TTL_MAX);
		break;
	case OPQ_MINUTES:
		if (!int_in_range(v, 1, INT_MAX))
			return ops_fail(e, 400, "InvalidParameter",
			                "minutesToExpire must be an integer of at least 1");
		break;
	case OPQ_MAXPAGESIZE:
		if (!int_in_range(v, 1, WPS_PAGESIZE_MAX))
			return ops_fail(e, 400, "InvalidParameter",
			                "maxpagesize must be an integer from 1 to %d", WPS_PAGESIZE_MAX);
		break;
	case OPQ_TOP:
		if (!int_in_range(v, 1, INT_MAX))
			return ops_fail(e, 400, "InvalidParameter", "top must be an integer of at least 1");
		break;
	case OPQ_CLIENT_TYPE:
		if (strcasecmp(v, "Default") != 0 && strcasecmp(v, "MQTT") != 0 &&
		    strcasecmp(v, "SocketIO") != 0)
			return ops_fail(e, 400, "InvalidParameter", "clientType must be Default or MQTT");
		break;
	case OPQ_GROUP:
	case OPQ_TARGET_NAME:
		if (!ops_valid_group(v))
			return ops_fail(e, 400, "InvalidParameter",
			                "%s must be a valid group name: 1 to %d "
			                "characters, not only whitespace",
			                name, WPS_GROUP_MAX);
		break;
	case OPQ_USER_ID:
		if (!ops_valid_id(v))
			return ops_fail(e, 400, "InvalidParameter", "userId must be 1 to %d characters",
			                WPS_ID_MAX);
		break;
	case OPQ_ROLE:
	case OPQ_EXCLUDED:
	case OPQ_CONTINUATION:
		if (*v == '\0')
			return ops_fail(e, 400, "InvalidParameter", "%s must not be empty", name);
		if (strlen(v) > WPS_ID_MAX * 4)
			return ops_fail(e, 400, "InvalidParameter", "%s is too long", name);
		break;
	case OPQ_FILTER:
	case OPQ_DOLLAR_FILTER:
		if (strlen(v) > WPS_FILTER_MAX)
			return ops_fail(e, 400, "InvalidParameter", "%s is longer than %d bytes", name,
			                WPS_FILTER_MAX);
		break;
	case OPQ_REASON:
		if (strlen(v) > WPS_ERRMSG_MAX * 4)
			return ops_fail(e, 400, "InvalidParameter", "reason is too long");
		break;
	default: break;
	}
	(void)r;
	return 0;
}

int ops_validate_query(const struct ops_req *r, struct ops_err *e)
{
	size_t i, j, k;

	if (r->op == NULL)
		return ops_fail(e, 404, "NotFound", "No such operation");
	for (i = 0; i < r->nquery; i++) {
		const char *key = r->query[i].key;
		char q[QUOTE_MAX + 4];

		for (k = 0; k < sizeof(qparams) / sizeof(qparams[0]); k++)
			if (strcmp(key, qparams[k].name) == 0)
				break;
		if (k == sizeof(qparams) / sizeof(qparams[0]) ||
		    (qparams[k].bit != OPQ_API_VERSION && !(r->op->query & qparams[k].bit))) {
			quote_input(key, q);
			return ops_fail(e, 400, "InvalidParameter", "Unknown query parameter '%s' for %s", q,
			                r->op->name);
		}
		if (!qparams[k].repeated) {
			for (j = 0; j < i; j++)
				if (strcmp(r->query[j].key, key) == 0)
					return ops_fail(e, 400, "InvalidParameter",
					                "The query parameter '%s' is given more than once",
					                key);
		}
		if (check_value(r, qparams[k].bit, qparams[k].name, r->query[i].val, e) < 0)
			return -1;
	}
	return 0;
}

/* ---- bodies ---- */

/* Compare the media type of a Content-Type value (parameters ignored) with want. */
static int media_type_is(const char *ct, const char *want)
{
	size_t n, wl = strlen(want);

	if (ct == NULL)
		return 0;
	while (*ct == ' ' || *ct == '\t')
		ct++;
	n = strcspn(ct, ";");
	while (n > 0 && (ct[n - 1] == ' ' || ct[n - 1] == '\t'))
		n--;
	return n == wl && strncasecmp(ct, want, wl) == 0;
}

static int validate_groups_json(const char *body, size_t len, struct ops_err *e)
{
	json_t *root, *groups, *v;
	const char *k;
	size_t i;
	int rc = -1;

	root = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(root)) {
		ops_fail(e, 400, "InvalidBody",
		         "The body must be a JSON object {\"groups\":[...],\"filter\":\"...\"}");
		goto out;
	}
	json_object_foreach(root, k, v)
	{
		if (strcmp(k, "groups") != 0 && strcmp(k, "filter") != 0) {
			char q[QUOTE_MAX + 4];

			quote_input(k, q);
			ops_fail(e, 400, "InvalidBody", "Unknown member '%s' in the body", q);
			goto out;
		}
	}
	groups = json_object_get(root, "groups");
	if (!json_is_array(groups) || json_array_size(groups) < 1 ||
	    json_array_size(groups) > WPS_GROUPS_JSON_MAX) {
		ops_fail(e, 400, "InvalidBody", "groups must be an array of 1 to %d group names",
		         WPS_GROUPS_JSON_MAX);
		goto out;
	}
	json_array_foreach(groups, i, v)
	{
		if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v) ||
		    !ops_valid_group(json_string_value(v))) {
			ops_fail(e, 400, "InvalidBody", "groups[%zu] is not a valid group name", i);
			goto out;
		}
	}
	v = json_object_get(root, "filter");
	/* the SDKs send "filter":null when the application gives none */
	if (v != NULL && !json_is_null(v) &&
	    (!json_is_string(v) || json_string_length(v) > WPS_FILTER_MAX ||
	     strlen(json_string_value(v)) != json_string_length(v))) {
		ops_fail(e, 400, "InvalidBody", "filter must be a string of at most %d bytes",
		         WPS_FILTER_MAX);
		goto out;
	}
	rc = 0;
out:
	json_decref(root);
	return rc;
}

int ops_validate_body(const struct ops_req *r, const char *content_type, const char *body, size_t len,
                      size_t max, struct ops_err *e)
{
	if (r->op == NULL)
		return ops_fail(e, 404, "NotFound", "No such operation");
	switch (r->op->body) {
	case OPB_NONE: return 0;
	case OPB_MESSAGE:
		if (!media_type_is(content_type, "application/json") &&
		    !media_type_is(content_type, "text/plain") &&
		    !media_type_is(content_type, "application/octet-stream"))
			return ops_fail(e, 415, "UnsupportedMediaType",
			                "The Content-Type must be "
			                "application/json, text/plain or application/octet-stream");
		if (len > max)
			return ops_fail(e, 413, "PayloadTooLarge", "The body is larger than %zu bytes", max);
		return 0;
	case OPB_GROUPS_JSON:
		if (!media_type_is(content_type, "application/json"))
			return ops_fail(e, 415, "UnsupportedMediaType",
			                "The Content-Type must be application/json");
		if (len > max)
			return ops_fail(e, 413, "PayloadTooLarge", "The body is larger than %zu bytes", max);
		if (body == NULL && len > 0)
			return ops_fail(e, 400, "InvalidBody", "No body");
		return validate_groups_json(body != NULL ? body : "", len, e);
	}
	return 0;
}

int ops_parse_request(const char *method, const char *raw_url, struct ops_req *r, struct ops_err *e)
{
	const char *q;

	if (raw_url == NULL)
		return ops_fail(e, 404, "NotFound", "No such operation");
	if (strlen(raw_url) > WPS_URL_MAX)
		return ops_fail(e, 400, "InvalidParameter", "The URL is too long");
	if (ops_route(method, raw_url, r, e) < 0)
		return -1;
	q = strchr(raw_url, '?');
	if (q != NULL && (ops_parse_query(r, q + 1, e) < 0 || ops_validate_query(r, e) < 0))
		goto bad;
	if (q == NULL && ops_validate_query(r, e) < 0)
		goto bad;
	return 0;
bad:
	ops_req_free(r);
	return -1;
}
