/* rest.h: the emulator's REST API: the 25 data-plane operations against hub state, answered as the
 * service answers them (tests/vectors/service). */
#ifndef EMU_REST_H
#define EMU_REST_H

#include <stddef.h>
#include <time.h>

#include "buf.h"
#include "emu.h"

struct rest_req {
	const char *method;
	const char *raw_uri;       /* request target as received: path?query, still percent-encoded */
	const char *host;          /* Host header, or NULL */
	const char *authorization; /* Authorization header, or NULL */
	const char *content_type;  /* or NULL */
	const char *body;
	size_t len;
};

struct rest_resp {
	int status;
	struct buf body;          /* JSON or empty */
	const char *content_type; /* static; NULL when there is no body */
	char error_code[64];      /* x-ms-error-code, "" for none */
	const char *api_versions; /* api-supported-versions (static), NULL for none */
	const char *op_label;     /* for the log line: the operation's label, or "-" */
};

/* Answer one request. rs is initialised here; release with rest_resp_release. */
void rest_handle(struct emu *e, const struct rest_req *rq, struct rest_resp *rs, time_t now);
void rest_resp_release(struct rest_resp *rs);

/* The value of api-supported-versions: the table's stable versions, ", "-separated. Static. */
const char *rest_supported_versions(void);
/* Append the service's error body {"code","message","target","details":null,"inner":null}
 * (target NULL: null). 0 or -1. */
int rest_error_json(struct buf *out, const char *code, const char *message, const char *target);

#endif
