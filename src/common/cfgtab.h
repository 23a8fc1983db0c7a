/* cfgtab.h: configuration declared as tables. A section names each of its keys once, with its type,
 * default, range and one line of documentation; one reader turns a libconfig group into a struct by
 * the table, with one shape of error, and the same table gives the schema and the annotated template
 * that the man page and the shipped example are checked against. Modelled on Redis's standardConfig.
 *
 * A module declares its section next to the struct it fills:
 *
 *   static const struct cfgtab_key retry_keys[] = {
 *           CFGTAB_INT(struct retry_cfg, max_attempts, "max_attempts", 4, 1, 20, 0,
 *                      "attempts per request, the first included"),
 *           ...
 *   };
 *   const struct cfgtab_section retry_section = CFGTAB_SECTION("retry", struct retry_cfg, retry_keys,
 *           retry_check, "Retries of failed upstream attempts ...");
 *
 * and a parent section lists it as a CFGTAB_GROUP key. Errors name the key (its path from the root,
 * list entries counted from 1: "access.rules[2].users") and the line, never a value. */
#ifndef WPS_CFGTAB_H
#define WPS_CFGTAB_H

#include <stddef.h>
#include <stdio.h>
#include <libconfig.h>

#define CFGTAB_KEY_MAX  160 /* bytes of a key path in an error */
#define CFGTAB_WHAT_MAX 240 /* bytes of what is wrong */
#define CFGTAB_DEPTH    8   /* groups inside groups */

enum cfgtab_type {
	CFGTAB_BOOL,    /* int, 0 or 1 */
	CFGTAB_INT,     /* long, in min..max */
	CFGTAB_DOUBLE,  /* double, in dmin..dmax; an integer is taken too */
	CFGTAB_STRING,  /* char *: a new string, NULL while unset; 1..maxlen bytes, no control characters */
	CFGTAB_ENUM,    /* int: values[i] for the string names[i] */
	CFGTAB_OCTAL,   /* long from a string of octal digits with a leading 0 ("0660"), in min..max */
	CFGTAB_STRINGS, /* char *[maxn] with the count (size_t) at noff: an array of strings as above */
	CFGTAB_INTS,    /* int[maxn] with the count (size_t) at noff: an array of integers in min..max */
	CFGTAB_GROUP,   /* a group { ... } read with sub into the object at off (off 0: this object) */
	CFGTAB_LIST,    /* a list ( { ... }, ... ) of at most maxn groups read with sub into an array of
	                 * sub->size-byte objects at off, the count (size_t) at noff */
	CFGTAB_CUSTOM   /* parse reads it into the object; clear frees what it holds; no default */
};

/* Flags of a key. */
#define CFGTAB_REQUIRED 0x1u /* absent is an error ("missing") */
#define CFGTAB_RESTART  0x2u /* a change takes effect only after a restart (cfgtab_diff reports it) */
#define CFGTAB_ABSPATH  0x4u /* STRING: must start with '/' */
#define CFGTAB_SHOWN    0x8u /* template: write the example as a setting, not as a comment */

/* What is wrong, where. */
struct cfgtab_err {
	char key[CFGTAB_KEY_MAX];
	int line; /* 0: not known */
	char what[CFGTAB_WHAT_MAX];
};

struct cfgtab_section;

struct cfgtab_key {
	const char *name;
	enum cfgtab_type type;
	size_t off;  /* of the field in the section's object */
	size_t noff; /* STRINGS, INTS, LIST: of the size_t count */
	unsigned flags;
	long min, max;     /* INT, OCTAL, INTS elements */
	double dmin, dmax; /* DOUBLE */
	size_t maxlen;     /* STRING, STRINGS elements: bytes */
	size_t maxn;       /* STRINGS, INTS, LIST: entries */
	union {
		long i; /* BOOL, INT, OCTAL, ENUM (a value of values[]) */
		double d;
		const char *s;   /* STRING; NULL: unset */
		const int *ints; /* INTS, with ndef entries */
	} def;
	size_t ndef;
	const char *const *names; /* ENUM: NULL-terminated */
	const int *values;        /* ENUM: one per name */
	const struct cfgtab_section *sub;
	/* After the typed read (not for CUSTOM): further rules on the value just read (field points at it;
	 * obj is the section's object, m the setting). May normalise the value or fill derived members of
	 * obj. Returns 0, or -1 with e->what set (cfgtab_fail) and, optionally, e->line. */
	int (*check)(void *field, void *obj, const config_setting_t *m, struct cfgtab_err *e);
	/* CUSTOM: read m into obj; clear frees what parse put into obj (may be NULL). */
	int (*parse)(const config_setting_t *m, void *obj, struct cfgtab_err *e);
	void (*clear)(void *obj);
	const char *type_doc; /* CUSTOM: the value's form, for the schema ("array of user names or ids") */
	const char *example;  /* a value as written in a file, for the template (keys without a default) */
	const char *doc;      /* one line */
};

struct cfgtab_section {
	const char *name; /* the path of its key from the root ("upstream.entra"); "" for the root */
	const struct cfgtab_key *keys;
	size_t nkeys;
	size_t size; /* of its object (a LIST's entries) */
	/* After every key: the rules between keys (s: the group, NULL when it is absent). 0 or -1. */
	int (*check)(void *obj, const config_setting_t *s, struct cfgtab_err *e);
	const char *doc; /* a paragraph for the template: lines separated by '\n' */
};

#define CFGTAB_SECTION(nm, type, keys_, check_, doc_)                                                        \
	{                                                                                                    \
		.name = (nm), .keys = (keys_), .nkeys = sizeof(keys_) / sizeof((keys_)[0]),                  \
		.size = sizeof(type), .check = (check_), .doc = (doc_)                                       \
	}

/* Table rows: T is the section's struct, F the member. */
#define CFGTAB_BOOL_KEY(T, F, nm, dflt, fl, doc_)                                                            \
	{                                                                                                    \
		.name = (nm), .type = CFGTAB_BOOL, .off = offsetof(T, F), .flags = (fl), .def.i = (dflt),    \
		.doc = (doc_)                                                                                \
	}
#define CFGTAB_INT_KEY(T, F, nm, dflt, lo, hi, fl, doc_)                                                     \
	{                                                                                                    \
		.name = (nm), .type = CFGTAB_INT, .off = offsetof(T, F), .flags = (fl), .min = (lo),         \
		.max = (hi), .def.i = (dflt), .doc = (doc_)                                                  \
	}
#define CFGTAB_DOUBLE_KEY(T, F, nm, dflt, lo, hi, fl, doc_)                                                  \
	{                                                                                                    \
		.name = (nm), .type = CFGTAB_DOUBLE, .off = offsetof(T, F), .flags = (fl), .dmin = (lo),     \
		.dmax = (hi), .def.d = (dflt), .doc = (doc_)                                                 \
	}
#define CFGTAB_STRING_KEY(T, F, nm, dflt, len, fl, chk, ex, doc_)                                            \
	{                                                                                                    \
		.name = (nm), .type = CFGTAB_STRING, .off = offsetof(T, F), .flags = (fl), .maxlen = (len),  \
		.def.s = (dflt), .check = (chk), .example = (ex), .doc = (doc_)                              \
	}
#define CFGTAB_ENUM_KEY(T, F, nm, dflt, names_, values_, fl, doc_)                                           \
	{                                                                                                    \
		.name = (nm), .type = CFGTAB_ENUM, .off = offsetof(T, F), .flags = (fl), .def.i = (dflt),    \
		.names = (names_), .values = (values_), .doc = (doc_)                                        \
	}
#define CFGTAB_OCTAL_KEY(T, F, nm, dflt, lo, hi, fl, doc_)                                                   \
	{                                                                                                    \
		.name = (nm), .type = CFGTAB_OCTAL, .off = offsetof(T, F), .flags = (fl), .min = (lo),       \
		.max = (hi), .def.i = (dflt), .doc = (doc_)                                                  \
	}
#define CFGTAB_STRINGS_KEY(T, F, N, nm, n, len, fl, chk, ex, doc_)                                           \
	{                                                                                                    \
		.name = (nm), .type = CFGTAB_STRINGS, .off = offsetof(T, F), .noff = offsetof(T, N),         \
		.flags = (fl), .maxn = (n), .maxlen = (len), .check = (chk), .example = (ex), .doc = (doc_)  \
	}
#define CFGTAB_INTS_KEY(T, F, N, nm, dflt, ndflt, n, lo, hi, fl, chk, doc_)                                  \
	{                                                                                                    \
		.name = (nm), .type = CFGTAB_INTS, .off = offsetof(T, F), .noff = offsetof(T, N),            \
		.flags = (fl), .maxn = (n), .min = (lo), .max = (hi), .def.ints = (dflt), .ndef = (ndflt),   \
		.check = (chk), .doc = (doc_)                                                                \
	}
/* A group whose keys are members of this same object (off 0), or of the member F of T. */
#define CFGTAB_GROUP_KEY(nm, offset, sub_, fl, doc_)                                                         \
	{                                                                                                    \
		.name = (nm), .type = CFGTAB_GROUP, .off = (offset), .flags = (fl), .sub = (sub_),           \
		.doc = (doc_)                                                                                \
	}
#define CFGTAB_LIST_KEY(T, F, N, nm, n, sub_, fl, ex, doc_)                                                  \
	{                                                                                                    \
		.name = (nm), .type = CFGTAB_LIST, .off = offsetof(T, F), .noff = offsetof(T, N),            \
		.flags = (fl), .maxn = (n), .sub = (sub_), .example = (ex), .doc = (doc_)                    \
	}
#define CFGTAB_CUSTOM_KEY(nm, parse_, clear_, fl, tdoc, ex, doc_)                                            \
	{                                                                                                    \
		.name = (nm), .type = CFGTAB_CUSTOM, .flags = (fl), .parse = (parse_), .clear = (clear_),    \
		.type_doc = (tdoc), .example = (ex), .doc = (doc_)                                           \
	}

/* Read the group s (NULL: absent, every default stays) into obj by the table. obj is set to the
 * defaults first (cfgtab_defaults: zeroed, its old contents not freed). Keys are named from sec->name.
 * Returns 0 (release obj with cfgtab_clear), or -1 with e filled and obj cleared and zeroed. */
int cfgtab_read(const struct cfgtab_section *sec, const config_setting_t *s, void *obj, struct cfgtab_err *e);
/* Zero obj (its old contents are not freed), then set every key to its default (strings copied). 0 or
 * -1 (out of memory; obj then cleared). */
int cfgtab_defaults(const struct cfgtab_section *sec, void *obj);
/* Free what obj holds (strings, entries, CUSTOM keys' clear) and zero those members. Accepts NULL. */
void cfgtab_clear(const struct cfgtab_section *sec, void *obj);
/* Deep copy of src into dst (dst's old contents are not freed). Not for sections with CUSTOM keys.
 * 0 or -1 (out of memory; dst then cleared). */
int cfgtab_copy(const struct cfgtab_section *sec, void *dst, const void *src);
/* 1 when a and b hold the same values for every key (CUSTOM keys are not compared), else 0. */
int cfgtab_equal(const struct cfgtab_section *sec, const void *a, const void *b);
/* Call fn with the path of every key flagged with any of flags whose value differs between a and b
 * (a whole group or list is reported by its own path). Returns the number of calls. */
size_t cfgtab_diff(const struct cfgtab_section *sec, const void *a, const void *b, unsigned flags,
                   void (*fn)(const char *key, void *arg), void *arg);

/* The table as JSON, one object per key in table order: key, type, default (absent: none), min/max,
 * values (ENUM), max_entries, max_bytes, required, restart, doc. A new string, NULL on out of memory. */
char *cfgtab_schema_json(const struct cfgtab_section *root);
/* An annotated configuration file: every section with its doc, every key with its doc line, range and
 * default; keys at their defaults are written as comments unless flagged CFGTAB_SHOWN (their example).
 * Returns 0 or -1 (write error). */
int cfgtab_template(const struct cfgtab_section *root, const char *header, FILE *out);

/* Set e: the key path, the line of m (may be NULL), what (printf). Returns -1. */
int cfgtab_fail(struct cfgtab_err *e, const config_setting_t *m, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
/* Set e for member name of the group s (its own line when it is there, else the group's line). */
int cfgtab_fail_member(struct cfgtab_err *e, const config_setting_t *s, const char *name, const char *fmt,
                       ...) __attribute__((format(printf, 4, 5)));
/* Set e for entry index (from 0) of the array or list setting array: KEY[index + 1], its line. */
int cfgtab_fail_entry(struct cfgtab_err *e, const config_setting_t *array, size_t index, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));
/* "FILE:LINE: KEY: WHAT" (no LINE when it is not known; no "FILE:" when file is NULL). */
void cfgtab_err_format(const struct cfgtab_err *e, const char *file, char *buf, size_t len);

#endif
