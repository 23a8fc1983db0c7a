/* apiver.h: every api-version the Web PubSub service has published, and what each one has. */
#ifndef WPS_APIVER_H
#define WPS_APIVER_H

#include <stddef.h>
#include "ops.h"

/*
 * One row per folder of the REST specification (Azure/azure-rest-api-specs,
 * specification/webpubsub/data-plane/WebPubSub/{preview,stable}/<version>/webpubsub.json), oldest
 * first, previews included. A row says which of the operation table's operations the version's
 * specification defines and which query parameters each takes (a subset of ops_def.query).
 * docs/fidelity.md lists the files and commits the rows were read from.
 */
struct apiver {
	const char *name;  /* "2024-12-01", "2021-08-01-preview" */
	int preview;       /* 1 for the specification's preview/ folder */
	unsigned long ops; /* 1ul << ops_id for every operation the version has */
	unsigned feat;     /* APIVER_F_* */
};

enum apiver_feature {
	APIVER_F_TOKEN_GROUP = 1u << 0,   /* GenerateClientToken takes group */
	APIVER_F_CLIENT_TYPE = 1u << 1,   /* GenerateClientToken takes clientType */
	APIVER_F_FILTER = 1u << 2,        /* SendToAll/Group/User take filter */
	APIVER_F_DOLLAR_FILTER = 1u << 3, /* ... named $filter (2022-10-01-preview only) */
	APIVER_F_TTL = 1u << 4            /* the four sends take messageTtlSeconds */
};

/* The table, oldest first; *n receives its length. Borrowed, static. */
const struct apiver *apiver_table(size_t *n);
/* The row of version v (exact, case-sensitive), or NULL when the service never published it. */
const struct apiver *apiver_find(const char *v);
/* The newest stable version: the rules applied to a version that apiver_find does not know. */
const struct apiver *apiver_newest(void);
/* 1 when v looks like an api-version: YYYY-MM-DD (month 01..12, day 01..31), optionally followed by
 * "-" and 1 to 16 lower-case letters or digits ("2021-08-01-preview"). */
int apiver_syntax_ok(const char *v);
/* The OPQ_* bits operation id takes in version v (0 when v does not have it). */
unsigned apiver_query_mask(const struct apiver *v, enum ops_id id);
/* The oldest version that has operation id, or NULL. */
const struct apiver *apiver_first_with(enum ops_id id);

/* Check a routed request against the rules of its api-version (r's "api-version" parameter; when it
 * has none, against default_version): a value that is not an api-version is 400; a version the
 * table does not know is checked by apiver_newest()'s rules; an operation the version does not
 * have, or a query parameter the operation does not take in that version, is 400. Run after
 * ops_validate_query. Returns 0, or -1 with a 400 InvalidParameter in e. */
int apiver_validate(const struct ops_req *r, const char *default_version, struct ops_err *e);

#endif
