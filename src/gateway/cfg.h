/* cfg.h: the gateway's configuration file (libconfig), parsed once into an immutable validated struct. */
#ifndef WPS_GW_CFG_H
#define WPS_GW_CFG_H

#include <stddef.h>
#include <sys/types.h>
#include <libconfig.h>
#include "log.h"
#include "entra.h"
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

struct cfg {
	char *file; /* the file it came from */

	/* listen */
	char *unix_path; /* NULL: no unix socket */
	mode_t unix_mode;
	int unix_group_set; /* 1 when listen.unix.group was given */
	gid_t unix_gid;
	char **tcp; /* ntcp addresses as written ("127.0.0.1:7080", "[::1]:7080") */
	size_t ntcp;
	int allow_non_loopback;

	/* upstream */
	char *endpoint;        /* NULL when it comes from the connection string */
	char *access_key_file; /* exactly one of these two is set */
	char *connection_string_file;
	char *api_version;
	long timeout_ms;
	char *ca_file; /* NULL: the system's CA store */
	long up_max_connections;
	long max_response_bytes;
	long attempt_timeout_ms; /* one attempt; the request as a whole has timeout_ms */

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

	/* Sections of the modules (see `sections` in cfg.c), parsed and validated with the file. */
	struct retry_cfg retry;
	struct outbox_cfg outbox; /* outbox.path NULL: no outbox */
	struct batch_cfg batch;
	struct metrics_cfg metrics;
	struct access_cfg access;
	struct ratelimit_cfg ratelimit;
	struct guard_cfg guard;

	/* The parsed file, kept for the sections other modules own (cfg_section). */
	struct entra_cfg entra; /* upstream.entra (kind ENTRA_NONE: an access key) */
	config_t *tree_;
};

/* Sections owned by other modules (retry, outbox, metrics, acl, upstream.entra, ...) are registered
 * in cfg.c's `sections` table with a check function that validates a section (it is called with
 * NULL when the section is absent), so that `-t` and SIGHUP refuse a bad one. The module then reads
 * its section with cfg_section at start and at reload. A name is a top-level group ("outbox") or
 * one level down ("upstream.entra"). */
typedef int (*cfg_check_fn)(const config_setting_t *s, char *err, size_t errlen);
/* A section that is kept parsed in struct cfg: load fills its member (s NULL: the defaults) and
 * returns 0, or -1 with "key: what (line N)" in err. */
struct cfg;
typedef int (*cfg_load_fn)(const config_setting_t *s, struct cfg *c, char *err, size_t errlen);
struct cfg_section {
	const char *name;
	cfg_check_fn check; /* may be NULL when load is given */
	cfg_load_fn load;   /* may be NULL: the module reads its section itself with cfg_section */
};
/* The section (borrowed, valid as long as c), or NULL when the file does not have it. */
const config_setting_t *cfg_section(const struct cfg *c, const char *name);

/* Parse and validate path. Returns 0 and a new struct in *out (release with cfg_free), or -1 with a
 * message naming the file, the key and its line in err (never a value). */
int cfg_load(const char *path, struct cfg **out, char *err, size_t errlen);
void cfg_free(struct cfg *c); /* accepts NULL */

#endif
