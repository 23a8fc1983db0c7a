/* cli.h: the wpsgate command-line client: options, commands, and the HTTP transport to wpsgated. */
#ifndef WPS_CLI_H
#define WPS_CLI_H

#include <stddef.h>
#include "buf.h"

/* Exit codes, documented in wpsgate(1). */
enum cli_exit {
	CLI_OK = 0,         /* done; for `exists`/`check`: it exists */
	CLI_ERR_ANSWER = 1, /* the gateway or the service answered an error; for `exists`: it does not */
	CLI_ERR_USAGE = 2,  /* bad command line or input */
	CLI_ERR_CONNECT = 3 /* the gateway could not be reached or did not answer */
};

/* Bounds of the client. */
#define CLI_DEFAULT_SOCKET    "/run/wpsgate/wpsgate.sock"
#define CLI_DEFAULT_TIMEOUT_S 120                 /* whole request, connect included */
#define CLI_BODY_MAX          (64L * 1024 * 1024) /* bytes read from stdin for `send` */
#define CLI_RESPONSE_MAX      (16L * 1024 * 1024) /* bytes of one answer kept */
#define CLI_PATH_MAX          65536               /* bytes of path plus query built for one request */
#define CLI_PAGES_MAX         100000              /* pages followed by `group list` */

/* One bit per option, for checking which options a command accepts. */
enum cli_opt {
	O_SOCKET,
	O_URL,
	O_TIMEOUT,
	O_VERBOSE,
	O_HELP,
	O_HUB,
	O_GROUP,
	O_USER,
	O_CONNECTION,
	O_PERMISSION,
	O_TARGET,
	O_JSON,
	O_TEXT,
	O_BINARY,
	O_EXCLUDE,
	O_FILTER,
	O_TTL,
	O_ROLE,
	O_MINUTES,
	O_MQTT,
	O_CLIENT_TYPE,
	O_REASON,
	O_TOP,
	O_MAXPAGESIZE,
	O__COUNT
};
#define OB(o)           (1u << (o))
#define CLI_GLOBAL_OPTS (OB(O_SOCKET) | OB(O_URL) | OB(O_TIMEOUT) | OB(O_VERBOSE) | OB(O_HELP))

/* Repeated option values; the strings are borrowed from argv. */
struct cli_strv {
	const char **v;
	size_t n, cap;
};

enum cli_ctype { CT_UNSET, CT_JSON, CT_TEXT, CT_BINARY };

/* Everything the command line said. Strings are borrowed from argv. */
struct cli_opts {
	const char *socket, *url;
	long timeout_s;
	int verbose;
	const char *hub, *user, *connection, *permission, *target, *filter, *reason;
	struct cli_strv groups, excludes, roles;
	enum cli_ctype ctype;
	long ttl, minutes, top, maxpagesize; /* -1 when not given */
	int mqtt;
	unsigned seen; /* OB() bits of the options given */
	char **args;   /* positional arguments after the command words */
	int nargs;
};

struct cli_http;

struct cli_cmd {
	const char *group; /* "group", or NULL for a top-level command */
	const char *name;  /* "add" */
	unsigned allowed;  /* OB() bits, besides CLI_GLOBAL_OPTS */
	int maxargs;       /* positional arguments accepted */
	int (*run)(const struct cli_cmd *c, struct cli_opts *o, struct cli_http *h);
	const char *synopsis;
	const char *help;
};

/* cli_main.c */
int cli_main(int argc, char **argv);
/* Print "wpsgate: <fmt>" to stderr and return CLI_ERR_USAGE. */
int cli_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Print "wpsgate: <fmt>" to stderr. */
void cli_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void cli_strv_free(struct cli_strv *s);

/* cli_cmd.c: the command table (terminated by an entry with name NULL). */
extern const struct cli_cmd cli_commands[];

/* cli_status.c */
int cmd_status(const struct cli_cmd *c, struct cli_opts *o, struct cli_http *h);

/* cli_http.c: one request at a time to wpsgated over its unix socket or a TCP URL. */
struct cli_resp {
	long status;
	struct buf body;   /* bounded by CLI_RESPONSE_MAX */
	char ctype[128];   /* Content-Type of the answer, "" if none */
	char errcode[128]; /* x-ms-error-code of the answer, "" if none */
};

/* Borrows o->socket / o->url; returns a new transport, or NULL after printing why (usage error). */
struct cli_http *cli_http_new(const struct cli_opts *o);
void cli_http_free(struct cli_http *h);
/* "unix:/run/wpsgate/wpsgate.sock" or the URL; borrowed. */
const char *cli_http_where(const struct cli_http *h);
/* Send one request. pathq: "/api/..." with its query, already percent-encoded. ctype and body may
 * be NULL. Returns 0 when an answer arrived (of any status; r filled, resp_free it), or
 * CLI_ERR_CONNECT after printing why the gateway could not be reached. */
int cli_http_do(struct cli_http *h, const char *method, const char *pathq, const char *ctype,
                const void *body, size_t len, struct cli_resp *r);
void resp_init(struct cli_resp *r);
void resp_free(struct cli_resp *r);
/* cli_parse.c: one answer read from the bytes received so far (all of them, each call). */
struct cli_parse {
	int head;       /* the request was HEAD: no body */
	size_t base;    /* where the current header block starts (after interim 1xx answers) */
	size_t hdr_end; /* where the body starts; 0 until the headers are complete */
	long status;
	long long clen; /* Content-Length, -1 if none */
	int chunked;
	int too_large;     /* the body passed CLI_RESPONSE_MAX */
	const char *error; /* why, after -1 */
};
void cli_parse_init(struct cli_parse *ps, int head);
/* 1: the answer is complete (r->status, ctype, errcode, body); 0: more bytes are needed (eof 0);
 * -1: malformed, cut short or too large (ps->error). */
int cli_parse(struct cli_parse *ps, const char *data, size_t len, int eof, struct cli_resp *r);

/* Print the error an answer carries ("wpsgate: <what>: 404 NotFound: message") and return
 * CLI_ERR_ANSWER. */
int resp_error(const struct cli_resp *r, const char *what);

#endif
