/* ratelimit.h: per-peer request rate (token bucket) and requests-in-flight limits, in a bounded table. */
#ifndef WPS_GW_RATELIMIT_H
#define WPS_GW_RATELIMIT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "cfgtab.h"

#include "wpslimits.h"

/* Defaults stop a runaway peer without capping a healthy one: every TCP peer shares one bucket, and
 * the gateway's own throughput on a small machine is well below the default rate. */
#define RATELIMIT_DEFAULT_RATE     100000.0                 /* requests per second per peer */
#define RATELIMIT_DEFAULT_BURST    200000.0                 /* bucket size */
#define RATELIMIT_DEFAULT_PEERS    1024                     /* peers tracked at once */
#define RATELIMIT_DEFAULT_INFLIGHT WPS_DEFAULT_MAX_INFLIGHT /* requests in flight per peer */
#define RATELIMIT_PEERS_MAX        65536
#define RATELIMIT_RETRY_AFTER_MAX  3600 /* seconds; Retry-After is never larger */

/* `ratelimit = { rate = 200.0; burst = 400; max_peers = 1024; max_inflight_per_peer = 256; };`
 * rate = 0 turns the rate limit off, max_inflight_per_peer = 0 the in-flight limit. */
struct ratelimit_cfg {
	double rate;       /* tokens added per second */
	double burst;      /* bucket capacity (>= 1 when rate > 0) */
	long max_peers;    /* table size; fixed when the table is created */
	long max_inflight; /* per peer; 0: no limit */
};

/* The `ratelimit` section (cfgtab.h). */
extern const struct cfgtab_section ratelimit_cfg_section;

/* A peer key: the uid of a Unix-socket peer, or RATELIMIT_KEY_TCP for every TCP peer together. */
#define RATELIMIT_KEY_TCP ((uint64_t)1 << 32)
static inline uint64_t ratelimit_key_uid(uid_t uid)
{
	return (uint64_t)uid;
}

enum rl_verdict {
	RL_ALLOW,    /* go on; call ratelimit_release() when the request is done */
	RL_RATE,     /* 429 with Retry-After: *retry_after_s */
	RL_INFLIGHT, /* 429: too many requests in flight for this peer (Retry-After: 1) */
	RL_FULL      /* 503: the table is full of peers with requests in flight */
};

struct ratelimit;

/* A new table (ratelimit_free). cfg is copied. NULL when out of memory. */
struct ratelimit *ratelimit_new(const struct ratelimit_cfg *cfg);
void ratelimit_free(struct ratelimit *rl); /* accepts NULL */
/* Take new rates on reload, keeping every peer's state (tokens are clamped to the new burst).
 * max_peers keeps its value from ratelimit_new. */
void ratelimit_reconfigure(struct ratelimit *rl, const struct ratelimit_cfg *cfg);

/* Admit one request of peer key at monotonic time now_ms. On RL_ALLOW a token is taken and the
 * peer's in-flight count raised; on RL_RATE *retry_after_s is the whole seconds (>= 1) until a
 * token is there. When the table is full the least recently seen peer without requests in flight
 * is forgotten (its bucket starts full again when it comes back). */
enum rl_verdict ratelimit_acquire(struct ratelimit *rl, uint64_t key, uint64_t now_ms,
                                  unsigned *retry_after_s);
/* The request admitted by ratelimit_acquire is finished. Exactly once per RL_ALLOW. */
void ratelimit_release(struct ratelimit *rl, uint64_t key);

/* For tests and metrics: peers in the table, and a peer's requests in flight (0 when unknown). */
size_t ratelimit_peers(const struct ratelimit *rl);
unsigned ratelimit_inflight(const struct ratelimit *rl, uint64_t key);

#endif
