/* cfgtab.c: read, default, free, copy, compare and describe configuration sections declared as tables. */
#include <config.h>
#include "cfgtab.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define FIELD(obj, off)  ((void *)((char *)(obj) + (off)))
#define CFIELD(obj, off) ((const void *)((const char *)(obj) + (off)))

/* ---- errors ---- */

static void vfail(struct cfgtab_err *e, const config_setting_t *m, const char *fmt, va_list ap)
{
	vsnprintf(e->what, sizeof e->what, fmt, ap);
	if (m != NULL && config_setting_source_line(m) > 0)
		e->line = (int)config_setting_source_line(m);
}

int cfgtab_fail(struct cfgtab_err *e, const config_setting_t *m, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfail(e, m, fmt, ap);
	va_end(ap);
	return -1;
}

int cfgtab_fail_entry(struct cfgtab_err *e, const config_setting_t *array, size_t index, const char *fmt, ...)
{
	const config_setting_t *m = array != NULL ? config_setting_get_elem(array, (unsigned)index) : NULL;
	size_t n = strlen(e->key);
	va_list ap;

	snprintf(e->key + n, sizeof e->key - n, "[%zu]", index + 1);
	va_start(ap, fmt);
	vfail(e, m != NULL ? m : array, fmt, ap);
	va_end(ap);
	return -1;
}

int cfgtab_fail_member(struct cfgtab_err *e, const config_setting_t *s, const char *name, const char *fmt,
                       ...)
{
	const config_setting_t *m = s != NULL ? config_setting_get_member(s, name) : NULL;
	size_t n = strlen(e->key);
	va_list ap;

	snprintf(e->key + n, sizeof e->key - n, "%s%s", n > 0 ? "." : "", name);
	va_start(ap, fmt);
	vfail(e, m != NULL ? m : s, fmt, ap);
	va_end(ap);
	return -1;
}

void cfgtab_err_format(const struct cfgtab_err *e, const char *file, char *buf, size_t len)
{
	char where[48] = "";

	if (e->line > 0)
		snprintf(where, sizeof where, "%d: ", e->line);
	if (file != NULL)
		snprintf(buf, len, "%s:%s%s: %s", file, e->line > 0 ? where : " ", e->key, e->what);
	else
		snprintf(buf, len, "%s%s: %s", where, e->key, e->what);
}

/* e->key = prefix.name, or prefix[index] (counted from 1) when name is NULL. */
static void set_key(struct cfgtab_err *e, const char *prefix, const char *name, size_t index)
{
	int w;

	if (name == NULL)
		w = snprintf(e->key, sizeof e->key, "%s[%zu]", prefix, index + 1);
	else if (*prefix == '\0')
		w = snprintf(e->key, sizeof e->key, "%s", name);
	else
		w = snprintf(e->key, sizeof e->key, "%s.%s", prefix, name);
	if (w < 0 || (size_t)w >= sizeof e->key) /* cut: paths are far shorter than the bound */
		e->key[sizeof e->key - 1] = '\0';
}

/* ---- defaults and freeing ---- */

static void clear_key(const struct cfgtab_key *k, void *obj);

void cfgtab_clear(const struct cfgtab_section *sec, void *obj)
{
	size_t i;

	if (obj == NULL)
		return;
	for (i = 0; i < sec->nkeys; i++)
		clear_key(&sec->keys[i], obj);
}

static void clear_key(const struct cfgtab_key *k, void *obj)
{
	void *f = FIELD(obj, k->off);
	size_t i, *n;

	switch (k->type) {
	case CFGTAB_STRING:
		free(*(char **)f);
		*(char **)f = NULL;
		break;
	case CFGTAB_STRINGS:
		n = FIELD(obj, k->noff);
		for (i = 0; i < *n; i++) {
			free(((char **)f)[i]);
			((char **)f)[i] = NULL;
		}
		*n = 0;
		break;
	case CFGTAB_GROUP: cfgtab_clear(k->sub, f); break;
	case CFGTAB_LIST:
		n = FIELD(obj, k->noff);
		for (i = 0; i < *n; i++)
			cfgtab_clear(k->sub, (char *)f + i * k->sub->size);
		*n = 0;
		break;
	case CFGTAB_CUSTOM:
		if (k->clear != NULL)
			k->clear(obj);
		break;
	default: break;
	}
}

static int defaults_keys(const struct cfgtab_section *sec, void *obj);

static int default_key(const struct cfgtab_key *k, void *obj)
{
	void *f = FIELD(obj, k->off);

	switch (k->type) {
	case CFGTAB_BOOL: *(int *)f = k->def.i != 0; break;
	case CFGTAB_ENUM: *(int *)f = (int)k->def.i; break;
	case CFGTAB_INT:
	case CFGTAB_OCTAL: *(long *)f = k->def.i; break;
	case CFGTAB_DOUBLE: *(double *)f = k->def.d; break;
	case CFGTAB_STRING:
		*(char **)f = NULL;
		if (k->def.s != NULL && (*(char **)f = strdup(k->def.s)) == NULL)
			return -1;
		break;
	case CFGTAB_STRINGS:
		memset(f, 0, k->maxn * sizeof(char *));
		*(size_t *)FIELD(obj, k->noff) = 0;
		break;
	case CFGTAB_INTS:
		memset(f, 0, k->maxn * sizeof(int));
		if (k->ndef > 0)
			memcpy(f, k->def.ints, k->ndef * sizeof(int));
		*(size_t *)FIELD(obj, k->noff) = k->ndef;
		break;
	case CFGTAB_GROUP: return defaults_keys(k->sub, f);
	case CFGTAB_LIST:
		memset(f, 0, k->maxn * k->sub->size);
		*(size_t *)FIELD(obj, k->noff) = 0;
		break;
	case CFGTAB_CUSTOM: break;
	}
	return 0;
}

/* Make every owned pointer of obj empty (NULL strings, no entries), groups included, so that a failure
 * part-way through filling it can be cleared. */
static void nullify(const struct cfgtab_section *sec, void *obj)
{
	size_t i;

	for (i = 0; i < sec->nkeys; i++) {
		const struct cfgtab_key *k = &sec->keys[i];
		if (k->type == CFGTAB_STRING)
			*(char **)FIELD(obj, k->off) = NULL;
		else if (k->type == CFGTAB_STRINGS || k->type == CFGTAB_LIST)
			*(size_t *)FIELD(obj, k->noff) = 0;
		else if (k->type == CFGTAB_GROUP)
			nullify(k->sub, FIELD(obj, k->off));
	}
}

static int defaults_keys(const struct cfgtab_section *sec, void *obj)
{
	size_t i;

	nullify(sec, obj);
	for (i = 0; i < sec->nkeys; i++)
		if (default_key(&sec->keys[i], obj) < 0) {
			cfgtab_clear(sec, obj);
			return -1;
		}
	return 0;
}

int cfgtab_defaults(const struct cfgtab_section *sec, void *obj)
{
	memset(obj, 0, sec->size);
	return defaults_keys(sec, obj);
}

/* ---- reading ---- */

static int read_group(const struct cfgtab_section *sec, const config_setting_t *s, void *obj,
                      const char *prefix, struct cfgtab_err *e, int depth);

static int get_long(const config_setting_t *m, long long *v)
{
	switch (config_setting_type(m)) {
	case CONFIG_TYPE_INT: *v = config_setting_get_int(m); return 0;
	case CONFIG_TYPE_INT64: *v = config_setting_get_int64(m); return 0;
	default: return -1;
	}
}

/* A string value by the rules of every string key: 1..maxlen bytes, no control characters. */
static int get_text(const config_setting_t *m, size_t maxlen, const char **out, struct cfgtab_err *e)
{
	const char *v, *p;

	if (config_setting_type(m) != CONFIG_TYPE_STRING || (v = config_setting_get_string(m)) == NULL)
		return cfgtab_fail(e, m, "must be a string");
	if (*v == '\0' || strlen(v) > maxlen)
		return cfgtab_fail(e, m, "must be a non-empty string of at most %zu bytes", maxlen);
	for (p = v; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return cfgtab_fail(e, m, "must not contain control characters");
	*out = v;
	return 0;
}

static int is_array(const config_setting_t *m)
{
	return config_setting_is_array(m) || config_setting_is_list(m);
}

/* "\"a\", \"b\"" of an ENUM key's names into list. */
static void enum_list(const struct cfgtab_key *k, char *list, size_t n)
{
	size_t i, len = 0;

	list[0] = '\0';
	for (i = 0; k->names[i] != NULL && len < n; i++) {
		int w = snprintf(list + len, n - len, "%s\"%s\"", i ? ", " : "", k->names[i]);
		if (w < 0)
			break;
		len += (size_t)w;
	}
}

static int read_enum(const struct cfgtab_key *k, const config_setting_t *m, int *out, struct cfgtab_err *e)
{
	const char *v = config_setting_type(m) == CONFIG_TYPE_STRING ? config_setting_get_string(m) : NULL;
	char list[CFGTAB_WHAT_MAX - 20];
	size_t i;

	for (i = 0; v != NULL && k->names[i] != NULL; i++)
		if (strcmp(v, k->names[i]) == 0) {
			*out = k->values[i];
			return 0;
		}
	enum_list(k, list, sizeof list);
	return cfgtab_fail(e, m, "must be one of %s", list);
}

static int read_octal(const struct cfgtab_key *k, const config_setting_t *m, long *out, struct cfgtab_err *e)
{
	const char *v = config_setting_type(m) == CONFIG_TYPE_STRING ? config_setting_get_string(m) : NULL;
	char *end;
	long x;

	if (v == NULL || v[0] != '0' || strlen(v) < 2 || strlen(v) > 12 || strspn(v, "01234567") != strlen(v))
		return cfgtab_fail(e, m, "must be an octal string such as \"%#lo\" (%#lo..%#lo)", k->def.i,
		                   k->min, k->max);
	x = strtol(v, &end, 8);
	if (x < k->min || x > k->max)
		return cfgtab_fail(e, m, "must be an octal string such as \"%#lo\" (%#lo..%#lo)", k->def.i,
		                   k->min, k->max);
	*out = x;
	return 0;
}

static int read_strings(const struct cfgtab_key *k, const config_setting_t *m, void *obj, const char *path,
                        struct cfgtab_err *e)
{
	char **v = FIELD(obj, k->off);
	size_t *n = FIELD(obj, k->noff);
	int i, len;

	if (!is_array(m))
		return cfgtab_fail(e, m, "must be an array of strings [ \"...\" ]");
	len = config_setting_length(m);
	if ((size_t)len > k->maxn)
		return cfgtab_fail(e, m, "at most %zu entries", k->maxn);
	for (i = 0; i < len; i++) {
		const config_setting_t *el = config_setting_get_elem(m, (unsigned)i);
		const char *s;

		set_key(e, path, NULL, (size_t)i);
		if (get_text(el, k->maxlen, &s, e) < 0)
			return -1;
		if ((v[*n] = strdup(s)) == NULL)
			return cfgtab_fail(e, el, "out of memory");
		(*n)++;
	}
	snprintf(e->key, sizeof e->key, "%s", path);
	return 0;
}

static int read_ints(const struct cfgtab_key *k, const config_setting_t *m, void *obj, const char *path,
                     struct cfgtab_err *e)
{
	int *v = FIELD(obj, k->off);
	size_t *n = FIELD(obj, k->noff);
	int i, len;

	if (!is_array(m))
		return cfgtab_fail(e, m, "must be an array of integers [ ... ]");
	len = config_setting_length(m);
	if ((size_t)len > k->maxn)
		return cfgtab_fail(e, m, "at most %zu entries", k->maxn);
	*n = 0;
	for (i = 0; i < len; i++) {
		const config_setting_t *el = config_setting_get_elem(m, (unsigned)i);
		long long x;

		if (get_long(el, &x) < 0 || x < k->min || x > k->max) {
			set_key(e, path, NULL, (size_t)i);
			return cfgtab_fail(e, el, "must be an integer in %ld..%ld", k->min, k->max);
		}
		v[(*n)++] = (int)x;
	}
	return 0;
}

static int read_list(const struct cfgtab_key *k, const config_setting_t *m, void *obj, const char *path,
                     struct cfgtab_err *e, int depth)
{
	char *v = FIELD(obj, k->off);
	size_t *n = FIELD(obj, k->noff);
	int i, len;

	if (!config_setting_is_list(m))
		return cfgtab_fail(e, m, "must be a list ( { ... }, ... )");
	len = config_setting_length(m);
	if ((size_t)len > k->maxn)
		return cfgtab_fail(e, m, "at most %zu entries", k->maxn);
	for (i = 0; i < len; i++) {
		struct cfgtab_err at;
		const char *entry = at.key;

		set_key(&at, path, NULL, (size_t)i);
		/* counted before it is read, so that cfgtab_clear frees a half-read entry */
		(*n)++;
		if (cfgtab_defaults(k->sub, v + (size_t)i * k->sub->size) < 0) {
			(*n)--;
			return cfgtab_fail(e, m, "out of memory");
		}
		if (read_group(k->sub, config_setting_get_elem(m, (unsigned)i), v + (size_t)i * k->sub->size,
		               entry, e, depth + 1) < 0)
			return -1;
	}
	return 0;
}

/* Read member m into the key's field (the defaults are in place). */
static int read_key(const struct cfgtab_key *k, const config_setting_t *m, void *obj, const char *path,
                    struct cfgtab_err *e, int depth)
{
	void *f = FIELD(obj, k->off);
	long long x;
	const char *s;
	char *copy;

	switch (k->type) {
	case CFGTAB_BOOL:
		if (config_setting_type(m) != CONFIG_TYPE_BOOL)
			return cfgtab_fail(e, m, "must be true or false");
		*(int *)f = config_setting_get_bool(m) ? 1 : 0;
		break;
	case CFGTAB_INT:
		if (get_long(m, &x) < 0 || x < k->min || x > k->max)
			return cfgtab_fail(e, m, "must be an integer in %ld..%ld", k->min, k->max);
		*(long *)f = (long)x;
		break;
	case CFGTAB_DOUBLE: {
		double d;
		if (config_setting_type(m) == CONFIG_TYPE_FLOAT)
			d = config_setting_get_float(m);
		else if (get_long(m, &x) == 0)
			d = (double)x;
		else
			return cfgtab_fail(e, m, "must be a number in %.15g..%.15g", k->dmin, k->dmax);
		if (!(d >= k->dmin && d <= k->dmax))
			return cfgtab_fail(e, m, "must be a number in %.15g..%.15g", k->dmin, k->dmax);
		*(double *)f = d;
		break;
	}
	case CFGTAB_STRING:
		if (get_text(m, k->maxlen, &s, e) < 0)
			return -1;
		if ((k->flags & CFGTAB_ABSPATH) && s[0] != '/')
			return cfgtab_fail(e, m, "must be an absolute path");
		if ((copy = strdup(s)) == NULL)
			return cfgtab_fail(e, m, "out of memory");
		free(*(char **)f);
		*(char **)f = copy;
		break;
	case CFGTAB_ENUM: return read_enum(k, m, f, e) < 0 ? -1 : (k->check ? k->check(f, obj, m, e) : 0);
	case CFGTAB_OCTAL:
		if (read_octal(k, m, f, e) < 0)
			return -1;
		break;
	case CFGTAB_STRINGS:
		if (read_strings(k, m, obj, path, e) < 0)
			return -1;
		break;
	case CFGTAB_INTS:
		if (read_ints(k, m, obj, path, e) < 0)
			return -1;
		break;
	case CFGTAB_GROUP: return read_group(k->sub, m, f, path, e, depth + 1);
	case CFGTAB_LIST: return read_list(k, m, obj, path, e, depth);
	case CFGTAB_CUSTOM: return k->parse(m, obj, e);
	}
	return k->check != NULL ? k->check(f, obj, m, e) : 0;
}

static const struct cfgtab_key *find_key(const struct cfgtab_section *sec, const char *name)
{
	size_t i;

	for (i = 0; name != NULL && i < sec->nkeys; i++)
		if (strcmp(sec->keys[i].name, name) == 0)
			return &sec->keys[i];
	return NULL;
}

static int read_group(const struct cfgtab_section *sec, const config_setting_t *s, void *obj,
                      const char *prefix, struct cfgtab_err *e, int depth)
{
	char path[CFGTAB_KEY_MAX];
	size_t i;
	int n;

	snprintf(e->key, sizeof e->key, "%s", prefix);
	if (depth > CFGTAB_DEPTH)
		return cfgtab_fail(e, s, "nested too deeply");
	if (s != NULL) {
		if (!config_setting_is_group(s))
			return cfgtab_fail(e, s, "must be a group { ... }");
		n = config_setting_length(s);
		for (i = 0; i < (size_t)n; i++) {
			const config_setting_t *m = config_setting_get_elem(s, (unsigned)i);

			if (find_key(sec, config_setting_name(m)) == NULL) {
				set_key(e, prefix, config_setting_name(m) ? config_setting_name(m) : "?", 0);
				return cfgtab_fail(e, m, "unknown key");
			}
		}
	}
	for (i = 0; i < sec->nkeys; i++) {
		const struct cfgtab_key *k = &sec->keys[i];
		const config_setting_t *m = s != NULL ? config_setting_get_member(s, k->name) : NULL;

		set_key(e, prefix, k->name, 0);
		snprintf(path, sizeof path, "%s", e->key);
		if (m == NULL) {
			if ((k->flags & CFGTAB_REQUIRED) && s != NULL && k->type == CFGTAB_ENUM) {
				char list[CFGTAB_WHAT_MAX - 20];
				enum_list(k, list, sizeof list);
				return cfgtab_fail(e, s, "missing: one of %s", list);
			}
			if ((k->flags & CFGTAB_REQUIRED) && s != NULL)
				return cfgtab_fail(e, s, "missing");
			if (k->type == CFGTAB_GROUP &&
			    read_group(k->sub, NULL, FIELD(obj, k->off), path, e, depth + 1) < 0)
				return -1;
			continue;
		}
		if (read_key(k, m, obj, path, e, depth) < 0)
			return -1;
	}
	snprintf(e->key, sizeof e->key, "%s", prefix);
	return sec->check != NULL ? sec->check(obj, s, e) : 0;
}

int cfgtab_read(const struct cfgtab_section *sec, const config_setting_t *s, void *obj, struct cfgtab_err *e)
{
	memset(e, 0, sizeof *e);
	if (cfgtab_defaults(sec, obj) < 0)
		return cfgtab_fail(e, s, "out of memory");
	if (read_group(sec, s, obj, sec->name, e, 0) < 0) {
		cfgtab_clear(sec, obj);
		memset(obj, 0, sec->size);
		return -1;
	}
	return 0;
}

/* ---- copying and comparing ---- */

static int str_eq(const char *a, const char *b)
{
	return a == NULL || b == NULL ? a == b : strcmp(a, b) == 0;
}

static int key_equal(const struct cfgtab_key *k, const void *a, const void *b)
{
	const void *fa = CFIELD(a, k->off), *fb = CFIELD(b, k->off);
	size_t i, n;

	switch (k->type) {
	case CFGTAB_BOOL:
	case CFGTAB_ENUM: return *(const int *)fa == *(const int *)fb;
	case CFGTAB_INT:
	case CFGTAB_OCTAL: return *(const long *)fa == *(const long *)fb;
	case CFGTAB_DOUBLE: return *(const double *)fa == *(const double *)fb;
	case CFGTAB_STRING: return str_eq(*(char *const *)fa, *(char *const *)fb);
	case CFGTAB_GROUP: return cfgtab_equal(k->sub, fa, fb);
	case CFGTAB_CUSTOM: return 1;
	default: break;
	}
	n = *(const size_t *)CFIELD(a, k->noff);
	if (n != *(const size_t *)CFIELD(b, k->noff))
		return 0;
	for (i = 0; i < n; i++) {
		if (k->type == CFGTAB_STRINGS && !str_eq(((char *const *)fa)[i], ((char *const *)fb)[i]))
			return 0;
		if (k->type == CFGTAB_INTS && ((const int *)fa)[i] != ((const int *)fb)[i])
			return 0;
		if (k->type == CFGTAB_LIST && !cfgtab_equal(k->sub, (const char *)fa + i * k->sub->size,
		                                            (const char *)fb + i * k->sub->size))
			return 0;
	}
	return 1;
}

int cfgtab_equal(const struct cfgtab_section *sec, const void *a, const void *b)
{
	size_t i;

	for (i = 0; i < sec->nkeys; i++)
		if (!key_equal(&sec->keys[i], a, b))
			return 0;
	return 1;
}

static int copy_keys(const struct cfgtab_section *sec, void *dst, const void *src);

static int copy_key(const struct cfgtab_key *k, void *dst, const void *src)
{
	void *fd = FIELD(dst, k->off);
	const void *fs = CFIELD(src, k->off);
	size_t i, n, sz;

	switch (k->type) {
	case CFGTAB_STRING:
		return *(char *const *)fs == NULL || (*(char **)fd = strdup(*(char *const *)fs)) != NULL ? 0
		                                                                                         : -1;
	case CFGTAB_GROUP: return copy_keys(k->sub, fd, fs);
	case CFGTAB_CUSTOM: return -1;
	case CFGTAB_STRINGS:
	case CFGTAB_LIST: break;
	default: return 0; /* a plain value: copied with the object */
	}
	n = *(const size_t *)CFIELD(src, k->noff);
	sz = k->type == CFGTAB_LIST ? k->sub->size : 0;
	for (i = 0; i < n; i++) {
		if (k->type == CFGTAB_STRINGS && (((char **)fd)[i] = strdup(((char *const *)fs)[i])) == NULL)
			return -1;
		if (k->type == CFGTAB_LIST) {
			memcpy((char *)fd + i * sz, (const char *)fs + i * sz, sz);
			nullify(k->sub, (char *)fd + i * sz);
			(*(size_t *)FIELD(dst, k->noff))++;
			if (copy_keys(k->sub, (char *)fd + i * sz, (const char *)fs + i * sz) < 0)
				return -1;
			continue;
		}
		(*(size_t *)FIELD(dst, k->noff))++;
	}
	return 0;
}

/* dst holds src's plain values and empty owned pointers (nullify): give it copies of what src owns. */
static int copy_keys(const struct cfgtab_section *sec, void *dst, const void *src)
{
	size_t i;

	for (i = 0; i < sec->nkeys; i++)
		if (copy_key(&sec->keys[i], dst, src) < 0)
			return -1;
	return 0;
}

int cfgtab_copy(const struct cfgtab_section *sec, void *dst, const void *src)
{
	memcpy(dst, src, sec->size);
	nullify(sec, dst);
	if (copy_keys(sec, dst, src) < 0) {
		cfgtab_clear(sec, dst);
		return -1;
	}
	return 0;
}

static size_t diff_group(const struct cfgtab_section *sec, const void *a, const void *b, unsigned flags,
                         const char *prefix, void (*fn)(const char *, void *), void *arg)
{
	size_t i, calls = 0;

	for (i = 0; i < sec->nkeys; i++) {
		const struct cfgtab_key *k = &sec->keys[i];
		struct cfgtab_err path;

		set_key(&path, prefix, k->name, 0);
		if (k->type == CFGTAB_GROUP && !(k->flags & flags))
			calls += diff_group(k->sub, CFIELD(a, k->off), CFIELD(b, k->off), flags, path.key, fn,
			                    arg);
		else if ((k->flags & flags) && !key_equal(k, a, b)) {
			fn(path.key, arg);
			calls++;
		}
	}
	return calls;
}

size_t cfgtab_diff(const struct cfgtab_section *sec, const void *a, const void *b, unsigned flags,
                   void (*fn)(const char *key, void *arg), void *arg)
{
	return diff_group(sec, a, b, flags, sec->name, fn, arg);
}

/* ---- schema and template ---- */

static const char *type_name(const struct cfgtab_key *k)
{
	switch (k->type) {
	case CFGTAB_BOOL: return "boolean";
	case CFGTAB_INT: return "integer";
	case CFGTAB_DOUBLE: return "number";
	case CFGTAB_STRING: return k->flags & CFGTAB_ABSPATH ? "absolute path" : "string";
	case CFGTAB_ENUM: return "one of";
	case CFGTAB_OCTAL: return "octal string";
	case CFGTAB_STRINGS: return "array of strings";
	case CFGTAB_INTS: return "array of integers";
	case CFGTAB_GROUP: return "group";
	case CFGTAB_LIST: return "list of groups";
	case CFGTAB_CUSTOM: return k->type_doc;
	}
	return "?";
}

static const char *enum_name(const struct cfgtab_key *k, long v)
{
	size_t i;

	for (i = 0; k->names[i] != NULL; i++)
		if (k->values[i] == v)
			return k->names[i];
	return NULL;
}

/* The default as it would be written in a file, into buf; "" when there is none. */
static const char *default_text(const struct cfgtab_key *k, char *buf, size_t len)
{
	const char *name;
	size_t i, o;

	buf[0] = '\0';
	switch (k->type) {
	case CFGTAB_BOOL: snprintf(buf, len, "%s", k->def.i ? "true" : "false"); break;
	case CFGTAB_INT: snprintf(buf, len, "%ld", k->def.i); break;
	case CFGTAB_DOUBLE: snprintf(buf, len, "%.1f", k->def.d); break;
	case CFGTAB_OCTAL: snprintf(buf, len, "\"%#lo\"", k->def.i); break;
	case CFGTAB_STRING:
		if (k->def.s != NULL)
			snprintf(buf, len, "\"%s\"", k->def.s);
		break;
	case CFGTAB_ENUM:
		if ((name = enum_name(k, k->def.i)) != NULL)
			snprintf(buf, len, "\"%s\"", name);
		break;
	case CFGTAB_INTS:
		o = (size_t)snprintf(buf, len, "[ ");
		for (i = 0; i < k->ndef && o < len; i++)
			o += (size_t)snprintf(buf + o, len - o, "%s%d", i ? ", " : "", k->def.ints[i]);
		if (o < len)
			snprintf(buf + o, len - o, " ]");
		break;
	default: break;
	}
	return buf;
}

static int required(const struct cfgtab_key *k)
{
	return (k->flags & CFGTAB_REQUIRED) != 0;
}

static int schema_group(const struct cfgtab_section *sec, const char *prefix, json_t *arr)
{
	size_t i;

	for (i = 0; i < sec->nkeys; i++) {
		const struct cfgtab_key *k = &sec->keys[i];
		struct cfgtab_err path;
		char def[256];
		json_t *o;

		set_key(&path, prefix, k->name, 0);
		if (k->type == CFGTAB_LIST) {
			char entry[CFGTAB_KEY_MAX + 4];
			snprintf(entry, sizeof entry, "%s[]", path.key);
			o = json_pack("{s:s, s:s, s:I, s:b, s:b, s:s}", "key", path.key, "type", type_name(k),
			              "max_entries", (json_int_t)k->maxn, "required", required(k), "restart",
			              (k->flags & CFGTAB_RESTART) != 0, "doc", k->doc ? k->doc : "");
			if (o == NULL || json_array_append_new(arr, o) < 0 ||
			    schema_group(k->sub, entry, arr) < 0)
				return -1;
			continue;
		}
		if (k->type == CFGTAB_GROUP) {
			o = json_pack("{s:s, s:s, s:b, s:b, s:s}", "key", path.key, "type", "group",
			              "required", required(k), "restart", (k->flags & CFGTAB_RESTART) != 0,
			              "doc", k->doc ? k->doc : "");
			if (o == NULL || json_array_append_new(arr, o) < 0 ||
			    schema_group(k->sub, path.key, arr) < 0)
				return -1;
			continue;
		}
		o = json_pack("{s:s, s:s, s:b, s:b, s:s}", "key", path.key, "type", type_name(k), "required",
		              required(k), "restart", (k->flags & CFGTAB_RESTART) != 0, "doc",
		              k->doc ? k->doc : "");
		if (o == NULL)
			return -1;
		if (*default_text(k, def, sizeof def) != '\0')
			json_object_set_new(o, "default", json_string(def));
		if (k->type == CFGTAB_INT || k->type == CFGTAB_OCTAL || k->type == CFGTAB_INTS) {
			json_object_set_new(o, "min", json_integer(k->min));
			json_object_set_new(o, "max", json_integer(k->max));
		}
		if (k->type == CFGTAB_DOUBLE) {
			json_object_set_new(o, "min", json_real(k->dmin));
			json_object_set_new(o, "max", json_real(k->dmax));
		}
		if (k->type == CFGTAB_STRING || k->type == CFGTAB_STRINGS)
			json_object_set_new(o, "max_bytes", json_integer((json_int_t)k->maxlen));
		if (k->type == CFGTAB_STRINGS || k->type == CFGTAB_INTS)
			json_object_set_new(o, "max_entries", json_integer((json_int_t)k->maxn));
		if (k->type == CFGTAB_ENUM) {
			json_t *v = json_array();
			size_t j;
			for (j = 0; k->names[j] != NULL; j++)
				json_array_append_new(v, json_string(k->names[j]));
			json_object_set_new(o, "values", v);
		}
		if (json_array_append_new(arr, o) < 0)
			return -1;
	}
	return 0;
}

char *cfgtab_schema_json(const struct cfgtab_section *root)
{
	json_t *arr = json_array();
	char *out = NULL;

	if (arr != NULL && schema_group(root, root->name, arr) == 0)
		out = json_dumps(arr, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
	json_decref(arr);
	return out;
}

/* The range of a key for its comment: " (1..20)", " (\"a\", \"b\")", or "". */
static void range_text(const struct cfgtab_key *k, char *buf, size_t len)
{
	size_t i, o;

	buf[0] = '\0';
	switch (k->type) {
	case CFGTAB_INT: snprintf(buf, len, " (%ld..%ld)", k->min, k->max); break;
	case CFGTAB_INTS: snprintf(buf, len, " (at most %zu, each %ld..%ld)", k->maxn, k->min, k->max); break;
	case CFGTAB_DOUBLE: snprintf(buf, len, " (%.15g..%.15g)", k->dmin, k->dmax); break;
	case CFGTAB_OCTAL: snprintf(buf, len, " (%#lo..%#lo)", k->min, k->max); break;
	case CFGTAB_STRINGS: snprintf(buf, len, " (at most %zu)", k->maxn); break;
	case CFGTAB_LIST: snprintf(buf, len, " (at most %zu)", k->maxn); break;
	case CFGTAB_ENUM:
		o = (size_t)snprintf(buf, len, " (");
		for (i = 0; k->names[i] != NULL && o < len; i++)
			o += (size_t)snprintf(buf + o, len - o, "%s%s", i ? ", " : "", k->names[i]);
		if (o < len)
			snprintf(buf + o, len - o, ")");
		break;
	default: break;
	}
}

static void put_doc(FILE *out, int indent, const char *doc)
{
	const char *p = doc;

	while (p != NULL && *p != '\0') {
		size_t n = strcspn(p, "\n");
		fprintf(out, "%*s# %.*s\n", indent, "", (int)n, p);
		p += n + (p[n] == '\n');
	}
}

/* "name = value;  # doc (range) [restart]" on one line, or the comment on the line above when the whole
 * would be wider than TEMPLATE_WIDTH. */
#define TEMPLATE_WIDTH 110
static void put_key(FILE *out, int indent, int commented, const struct cfgtab_key *k, const char *value)
{
	char range[CFGTAB_WHAT_MAX], note[CFGTAB_WHAT_MAX * 2], line[CFGTAB_WHAT_MAX * 3];

	range_text(k, range, sizeof range);
	snprintf(note, sizeof note, "%s%s%s%s", k->doc ? k->doc : "", range, required(k) ? " (required)" : "",
	         k->flags & CFGTAB_RESTART ? " [restart]" : "");
	snprintf(line, sizeof line, "%*s%s%s = %s;", indent, "", commented ? "# " : "", k->name, value);
	if (strlen(line) + 4 + strlen(note) <= TEMPLATE_WIDTH)
		fprintf(out, "%s  # %s\n", line, note);
	else
		fprintf(out, "%*s# %s\n%s\n", indent, "", note, line);
}

static void template_group(const struct cfgtab_section *sec, int indent, int commented, FILE *out)
{
	size_t i;

	for (i = 0; i < sec->nkeys; i++) {
		const struct cfgtab_key *k = &sec->keys[i];
		char def[256];

		if (k->type == CFGTAB_GROUP) {
			int hide = commented || !(k->flags & (CFGTAB_SHOWN | CFGTAB_REQUIRED));

			if (i > 0 || indent == 0)
				fputc('\n', out);
			put_doc(out, indent, k->sub->doc != NULL ? k->sub->doc : k->doc);
			fprintf(out, "%*s%s%s = {\n", indent, "", hide ? "# " : "", k->name);
			template_group(k->sub, indent + 2, hide, out);
			fprintf(out, "%*s%s};\n", indent, "", hide ? "# " : "");
			continue;
		}
		if (k->type == CFGTAB_LIST) {
			char range[CFGTAB_WHAT_MAX];

			range_text(k, range, sizeof range);
			fprintf(out, "%*s# %s%s: %s\n", indent, "", k->name, range, k->doc ? k->doc : "");
			fprintf(out, "%*s# %s = ( {\n", indent, "", k->name);
			template_group(k->sub, indent + 2, 1, out);
			fprintf(out, "%*s# } );\n", indent, "");
			continue;
		}
		default_text(k, def, sizeof def);
		if ((k->flags & CFGTAB_SHOWN) && k->example != NULL)
			put_key(out, indent, commented, k, k->example);
		else if (*def != '\0')
			put_key(out, indent, commented, k, def);
		else
			put_key(out, indent, 1, k, k->example != NULL ? k->example : "...");
	}
}

int cfgtab_template(const struct cfgtab_section *root, const char *header, FILE *out)
{
	put_doc(out, 0, header);
	fputc('\n', out);
	template_group(root, 0, 0, out);
	return ferror(out) ? -1 : 0;
}
