/* apiver.c: the table of published api-versions and the per-version request rules. */
#include <config.h>

#include <string.h>

#include "apiver.h"

#define OPBIT(id) (1ul << (id))

/* 2021-05-01-preview: what every later version keeps (2020-10-01 had these too). */
#define OPS_2021_05                                                                                          \
	(OPBIT(OP_GET_SERVICE_STATUS) | OPBIT(OP_SEND_TO_ALL) | OPBIT(OP_CONNECTION_EXISTS) |                \
	 OPBIT(OP_CLOSE_CONNECTION) | OPBIT(OP_SEND_TO_CONNECTION) | OPBIT(OP_GROUP_EXISTS) |                \
	 OPBIT(OP_SEND_TO_GROUP) | OPBIT(OP_ADD_CONNECTION_TO_GROUP) |                                       \
	 OPBIT(OP_REMOVE_CONNECTION_FROM_GROUP) | OPBIT(OP_USER_EXISTS) | OPBIT(OP_SEND_TO_USER) |           \
	 OPBIT(OP_ADD_USER_TO_GROUP) | OPBIT(OP_REMOVE_USER_FROM_GROUP) |                                    \
	 OPBIT(OP_REMOVE_USER_FROM_ALL_GROUPS) | OPBIT(OP_GRANT_PERMISSION) | OPBIT(OP_REVOKE_PERMISSION) |  \
	 OPBIT(OP_CHECK_PERMISSION))
#define OPS_2021_08 (OPS_2021_05 | OPBIT(OP_GENERATE_CLIENT_TOKEN))
#define OPS_2021_10                                                                                          \
	(OPS_2021_08 | OPBIT(OP_CLOSE_ALL_CONNECTIONS) | OPBIT(OP_CLOSE_GROUP_CONNECTIONS) |                 \
	 OPBIT(OP_CLOSE_USER_CONNECTIONS))
#define OPS_2022_11 (OPS_2021_10 | OPBIT(OP_REMOVE_CONNECTION_FROM_ALL_GROUPS))
#define OPS_2023_07                                                                                          \
	(OPS_2022_11 | OPBIT(OP_ADD_CONNECTIONS_TO_GROUPS) | OPBIT(OP_REMOVE_CONNECTIONS_FROM_GROUPS))
#define OPS_2024_12 (OPS_2023_07 | OPBIT(OP_LIST_CONNECTIONS_IN_GROUP))

#define F_2022_11 (APIVER_F_TOKEN_GROUP | APIVER_F_FILTER)
#define F_2023_07 (F_2022_11 | APIVER_F_TTL)
#define F_2024_01 (F_2023_07 | APIVER_F_CLIENT_TYPE)

/* The specification's folders. 2020-10-01 also has UserExistsInGroup (HEAD
 * /api/hubs/{hub}/users/{userId}/groups/{group}), which no later version has and the operation
 * table does not route. 2021-01-01 is a folder under preview/ whose file says "version":
 * "2020-10-01" and defines its operations under /ws/api/...: of the table it has the health probe
 * only. */
static const struct apiver versions[] = {
	{ "2020-10-01", 1, OPS_2021_05, 0 },
	{ "2021-01-01", 1, OPBIT(OP_GET_SERVICE_STATUS), 0 },
	{ "2021-05-01-preview", 1, OPS_2021_05, 0 },
	{ "2021-08-01-preview", 1, OPS_2021_08, 0 },
	{ "2021-10-01", 0, OPS_2021_10, 0 },
	{ "2022-10-01-preview", 1, OPS_2022_11, APIVER_F_TOKEN_GROUP | APIVER_F_DOLLAR_FILTER },
	{ "2022-11-01", 0, OPS_2022_11, F_2022_11 },
	{ "2023-07-01", 0, OPS_2023_07, F_2023_07 },
	{ "2024-01-01", 0, OPS_2023_07, F_2024_01 },
	{ "2024-12-01", 0, OPS_2024_12, F_2024_01 },
};

#define NVERSIONS (sizeof(versions) / sizeof(versions[0]))

const struct apiver *apiver_table(size_t *n)
{
	if (n != NULL)
		*n = NVERSIONS;
	return versions;
}

const struct apiver *apiver_find(const char *v)
{
	size_t i;

	if (v == NULL)
		return NULL;
	for (i = 0; i < NVERSIONS; i++)
		if (strcmp(v, versions[i].name) == 0)
			return &versions[i];
	return NULL;
}

const struct apiver *apiver_newest(void)
{
	size_t i = NVERSIONS;

	while (i > 0 && versions[i - 1].preview)
		i--;
	return &versions[i - 1];
}

#define LABEL_MAX 16 /* characters after YYYY-MM-DD- */

int apiver_syntax_ok(const char *v)
{
	static const char shape[] = "dddd-dd-dd";
	size_t i, n;
	int month, day;

	if (v == NULL)
		return 0;
	for (i = 0; shape[i] != '\0'; i++) {
		if (shape[i] == 'd' ? !(v[i] >= '0' && v[i] <= '9') : v[i] != shape[i])
			return 0;
	}
	month = (v[5] - '0') * 10 + (v[6] - '0');
	day = (v[8] - '0') * 10 + (v[9] - '0');
	if (month < 1 || month > 12 || day < 1 || day > 31)
		return 0;
	if (v[i] == '\0')
		return 1;
	if (v[i++] != '-')
		return 0;
	for (n = 0; v[i] != '\0'; i++, n++)
		if (!((v[i] >= 'a' && v[i] <= 'z') || (v[i] >= '0' && v[i] <= '9')) || n >= LABEL_MAX)
			return 0;
	return n > 0;
}

unsigned apiver_query_mask(const struct apiver *v, enum ops_id id)
{
	const struct ops_def *d = ops_by_id(id);
	unsigned q;

	if (v == NULL || d == NULL || !(v->ops & OPBIT(id)))
		return 0;
	q = d->query;
	if (id == OP_GENERATE_CLIENT_TOKEN) {
		if (!(v->feat & APIVER_F_TOKEN_GROUP))
			q &= ~(unsigned)OPQ_GROUP;
		if (!(v->feat & APIVER_F_CLIENT_TYPE))
			q &= ~(unsigned)OPQ_CLIENT_TYPE;
	}
	if (!(v->feat & APIVER_F_FILTER))
		q &= ~(unsigned)OPQ_FILTER;
	if (!(v->feat & APIVER_F_DOLLAR_FILTER))
		q &= ~(unsigned)OPQ_DOLLAR_FILTER;
	if (!(v->feat & APIVER_F_TTL))
		q &= ~(unsigned)OPQ_TTL;
	return q;
}

const struct apiver *apiver_first_with(enum ops_id id)
{
	size_t i;

	for (i = 0; i < NVERSIONS; i++)
		if (versions[i].ops & OPBIT(id))
			return &versions[i];
	return NULL;
}

int apiver_validate(const struct ops_req *r, const char *default_version, struct ops_err *e)
{
	const char *given = ops_query_get(r, "api-version");
	const char *name = given != NULL ? given : default_version;
	const struct apiver *v;
	const struct apiver *first;
	unsigned mask;
	size_t i;

	if (r->op == NULL)
		return ops_fail(e, 404, "NotFound", "No such operation");
	if (given != NULL && !apiver_syntax_ok(given))
		return ops_fail(e, 400, "InvalidParameter",
		                "api-version must be a date YYYY-MM-DD, optionally with a suffix "
		                "such as -preview");
	v = apiver_find(name);
	if (v == NULL)
		v = apiver_newest();
	if (!(v->ops & OPBIT(r->op->id))) {
		first = apiver_first_with(r->op->id);
		return ops_fail(e, 400, "InvalidParameter",
		                "api-version %s has no %s (the service added it in %s)", v->name, r->op->name,
		                first != NULL ? first->name : "no version");
	}
	mask = apiver_query_mask(v, r->op->id);
	for (i = 0; i < r->nquery; i++) {
		unsigned bit = ops_query_bit(r->query[i].key);

		if (bit != 0 && bit != OPQ_API_VERSION && !(mask & bit))
			return ops_fail(e, 400, "InvalidParameter",
			                "%s of api-version %s takes no query parameter %s", r->op->name,
			                v->name, bit == OPQ_DOLLAR_FILTER ? "$filter" : r->query[i].key);
	}
	return 0;
}
