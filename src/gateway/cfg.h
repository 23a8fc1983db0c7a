/* cfg.h: the gateway's configuration file (libconfig), parsed once into an immutable validated struct. */
#ifndef WPS_GW_CFG_H
#define WPS_GW_CFG_H

#include <stddef.h>
#include <sys/types.h>
#include "cfgtab.h"
#include "log.h"
#include "entra.h"
#include "events.h"
#include "access.h"
#include "batch.h"
#include "guard.h"
#include "metrics.h"
#include "outbox.h"
#include "ratelimit.h"
#include "retry.h"

/* Defaults and ranges of the keys that wpslimits.h does not already name. */
#define CFG_DEFAULT_UNIX_MODE          0660
#define CFG_DEFAULT_MAX_RESPONSE       (4L * 1024 * 1024)
#define CFG_DEFAULT_IDLE_TIMEOUT_S     60
#define CFG_DEFAULT_REQUEST_TIMEOUT_S  30 /* a whole request must arrive within this (slow senders) */
#define CFG_DEFAULT_HEADER_BYTES       16384
#define CFG_DEFAULT_SHUTDOWN_GRACE_MS  10000
#define CFG_DEFAULT_ATTEMPT_TIMEOUT_MS 10000
#define CFG_USER_MAX                   64 /* bytes in `user` */
#define CFG_TCP_MAX                    16 /* entries in listen.tcp */

/* upstream.http_version */
enum { CFG_HTTP_2 = 2, CFG_HTTP_1_1 = 1 };

/* Limits of the upstreams list. */
#define CFG_UPSTREAMS_MAX     16  /* entries in upstreams */
#define CFG_UPSTREAM_NAME_MAX 32  /* bytes of a name */
#define CFG_HUBS_MAX          64  /* entries in an upstream's hubs */
#define CFG_NO_UPSTREAM       ((size_t)-1)

/* One Web PubSub resource: an entry of `upstreams`, or the single `upstream` section (both read by
 * the same table, cfg_upstream_section). */
struct cfg_upstream {
	char *name;          /* [A-Za-z0-9_-], unique; the single `upstream` section: "default" */
	char *endpoint;      /* NULL when it comes from the connection string */
	char *reverse_proxy; /* NULL: requests go to the endpoint; else to this URL, signed for the endpoint */
	char *access_key_file; /* exactly one of these two, or upstream.entra */
	char *connection_string_file;
	char *api_version;
	long timeout_ms;
	char *ca_file; /* NULL: the system's CA store */
	long up_max_connections;
	int up_http_version; /* CFG_HTTP_2 or CFG_HTTP_1_1: what the gateway asks of an https service */
	long max_response_bytes;
	long attempt_timeout_ms; /* one attempt; the request as a whole has timeout_ms */
	struct entra_cfg entra;  /* upstream.entra (kind ENTRA_NONE: an access key) */
	char *hubs[CFG_HUBS_MAX]; /* hub names and `*` patterns routed here, in order */
	size_t nhubs;
	int is_default; /* `default = true`: hubs that no entry matches come here */
};

extern const struct cfgtab_section cfg_upstream_section;

struct cfg {
	char *file; /* the file it came from (not a key) */

	/* listen */
	char *unix_path; /* NULL: no unix socket */
	long unix_mode;
	char *unix_group;   /* as written; NULL: the group of the process */
	int unix_group_set; /* unix_group resolved into unix_gid */
	gid_t unix_gid;
	char *tcp[CFG_TCP_MAX]; /* ntcp addresses as written ("127.0.0.1:7080", "[::1]:7080") */
	size_t ntcp;
	int allow_non_loopback;

	/* upstream: the `upstream` section as read (moved into upstreams[0] once read) */
	struct cfg_upstream up0;
	/* upstreams: every upstream, in the file's order (the single `upstream` section: one, "default") */
	struct cfg_upstream upstreams[CFG_UPSTREAMS_MAX];
	size_t nupstreams;   /* >= 1 once loaded */
	size_t default_up;   /* the index of the one with default = true, or CFG_NO_UPSTREAM */

	/* limits */
	long max_body_bytes;
	long max_connections;
	long max_inflight;
	long idle_timeout_s;
	long request_timeout_s; /* 0: off */
	long max_header_bytes;
	long shutdown_grace_ms;

	/* log */
	enum wlog_level log_level;
	enum wlog_format log_format;

	/* process */
	char *user; /* `user`: switch to it after opening the sockets and the key; NULL: stay */
	uid_t user_uid;
	gid_t user_gid;

	/* the sections of the modules, each declared by its module's table */
	struct retry_cfg retry;
	struct outbox_cfg outbox; /* outbox.path NULL: no outbox */
	struct batch_cfg batch;
	struct metrics_cfg metrics;
	struct events_cfg events; /* nlisten 0: no events listener */
	struct access_cfg access;
	struct ratelimit_cfg ratelimit;
	struct guard_cfg guard;
};

/* The whole file as one table (cfgtab.h): its keys, and a group key per section of the modules. To
 * add a setting, add a member above and a row to the table of its section (cfg.c, or the module's). */
extern const struct cfgtab_section cfg_root_section;

/* Parse and validate path. Returns 0 and a new struct in *out (release with cfg_free), or -1 with
 * "FILE:LINE: KEY: WHAT" in err (never a value). */
int cfg_load(const char *path, struct cfg **out, char *err, size_t errlen);
void cfg_free(struct cfg *c); /* accepts NULL */
/* Call fn for every key flagged CFGTAB_RESTART that differs between a and b (a reload that changes it
 * takes effect only after a restart). Returns the number of calls. */
/* The upstream a request for hub goes to: the first entry (in the file's order, each entry's hubs in
 * their order) whose name or pattern matches, else the default, else CFG_NO_UPSTREAM. hub NULL (an
 * operation without a hub): the default, else the first. */
size_t cfg_route(const struct cfg *c, const char *hub);
/* The index of the upstream named name, or CFG_NO_UPSTREAM. */
size_t cfg_upstream_index(const struct cfg *c, const char *name);
/* 1 when the hub patterns a and b (literal characters and `*`, any run) match a common hub name. */
int cfg_hubs_overlap(const char *a, const char *b);
/* 1 when hub matches the pattern (literal characters and `*`). */
int cfg_hub_match(const char *pattern, const char *hub);

size_t cfg_restart_keys(const struct cfg *a, const struct cfg *b, void (*fn)(const char *key, void *arg),
                        void *arg);

#endif
