/* dcfg.c: libconfig helpers shared by the gateway modules: typed, range-checked members, errors by key and line. */
#include <config.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/dcfg.h"

/* "a.b.c" or "a.list[2]" for setting m; "(root)" for the root. */
static void dcfg_path(const config_setting_t *m, char *out, size_t outlen)
{
	const config_setting_t *chain[16];
	size_t n = 0, i, len = 0;

	out[0] = '\0';
	for (; m != NULL && config_setting_parent(m) != NULL && n < 16; m = config_setting_parent(m))
		chain[n++] = m;
	if (n == 0) {
		snprintf(out, outlen, "(root)");
		return;
	}
	for (i = n; i-- > 0;) {
		const char *name = config_setting_name(chain[i]);
		int w;

		if (name != NULL)
			w = snprintf(out + len, outlen - len, "%s%s", len ? "." : "", name);
		else
			w = snprintf(out + len, outlen - len, "[%d]", config_setting_index(chain[i]));
		if (w < 0 || (size_t)w >= outlen - len)
			return;
		len += (size_t)w;
	}
}

int dcfg_fail(const config_setting_t *m, char *err, size_t errlen, const char *fmt, ...)
{
	char path[256], msg[256];
	va_list ap;

	if (err == NULL || errlen == 0)
		return -1;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (m == NULL) {
		snprintf(err, errlen, "%s", msg);
		return -1;
	}
	dcfg_path(m, path, sizeof(path));
	snprintf(err, errlen, "%s (line %d): %s", path, config_setting_source_line(m), msg);
	return -1;
}

int dcfg_keyfail(const config_setting_t *m, char *err, size_t errlen, const char *key, const char *fmt, ...)
{
	char msg[256];
	va_list ap;
	int line = m != NULL ? config_setting_source_line(m) : 0;

	if (err == NULL || errlen == 0)
		return -1;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (line > 0)
		snprintf(err, errlen, "%s: %s (line %d)", key, msg, line);
	else
		snprintf(err, errlen, "%s: %s", key, msg);
	return -1;
}

int dcfg_check_members(const config_setting_t *s, const char *const *known, char *err, size_t errlen)
{
	int i, n;

	if (s == NULL)
		return 0;
	if (!config_setting_is_group(s))
		return dcfg_fail(s, err, errlen, "must be a group { ... }");
	n = config_setting_length(s);
	for (i = 0; i < n; i++) {
		const config_setting_t *m = config_setting_get_elem(s, (unsigned)i);
		const char *name = config_setting_name(m);
		size_t k;

		for (k = 0; known[k] != NULL; k++)
			if (name != NULL && strcmp(name, known[k]) == 0)
				break;
		if (known[k] == NULL)
			return dcfg_fail(m, err, errlen, "unknown key");
	}
	return 0;
}

static const config_setting_t *dcfg_member(const config_setting_t *s, const char *name)
{
	if (s == NULL || !config_setting_is_group(s))
		return NULL;
	return config_setting_get_member(s, name);
}

int dcfg_long(const config_setting_t *s, const char *name, long min, long max, long *out, char *err,
              size_t errlen)
{
	const config_setting_t *m = dcfg_member(s, name);
	long long v;

	if (m == NULL)
		return 0;
	switch (config_setting_type(m)) {
	case CONFIG_TYPE_INT: v = config_setting_get_int(m); break;
	case CONFIG_TYPE_INT64: v = config_setting_get_int64(m); break;
	default: return dcfg_fail(m, err, errlen, "must be an integer in %ld..%ld", min, max);
	}
	if (v < min || v > max)
		return dcfg_fail(m, err, errlen, "must be an integer in %ld..%ld", min, max);
	*out = (long)v;
	return 0;
}

int dcfg_double(const config_setting_t *s, const char *name, double min, double max, double *out, char *err,
                size_t errlen)
{
	const config_setting_t *m = dcfg_member(s, name);
	double v;

	if (m == NULL)
		return 0;
	switch (config_setting_type(m)) {
	case CONFIG_TYPE_INT: v = config_setting_get_int(m); break;
	case CONFIG_TYPE_INT64: v = (double)config_setting_get_int64(m); break;
	case CONFIG_TYPE_FLOAT: v = config_setting_get_float(m); break;
	default: return dcfg_fail(m, err, errlen, "must be a number in %g..%g", min, max);
	}
	if (!(v >= min && v <= max))
		return dcfg_fail(m, err, errlen, "must be a number in %g..%g", min, max);
	*out = v;
	return 0;
}

int dcfg_bool(const config_setting_t *s, const char *name, int *out, char *err, size_t errlen)
{
	const config_setting_t *m = dcfg_member(s, name);

	if (m == NULL)
		return 0;
	if (config_setting_type(m) != CONFIG_TYPE_BOOL)
		return dcfg_fail(m, err, errlen, "must be true or false");
	*out = config_setting_get_bool(m) ? 1 : 0;
	return 0;
}

int dcfg_string(const config_setting_t *s, const char *name, size_t maxlen, char **out, char *err,
                size_t errlen)
{
	const config_setting_t *m = dcfg_member(s, name);
	const char *v;
	char *copy;

	if (m == NULL)
		return 0;
	if (config_setting_type(m) != CONFIG_TYPE_STRING || (v = config_setting_get_string(m)) == NULL)
		return dcfg_fail(m, err, errlen, "must be a string");
	if (*v == '\0' || strlen(v) > maxlen)
		return dcfg_fail(m, err, errlen, "must be a non-empty string of at most %zu bytes", maxlen);
	if ((copy = strdup(v)) == NULL)
		return dcfg_fail(m, err, errlen, "out of memory");
	free(*out);
	*out = copy;
	return 0;
}
