/* ratelimit.c: per-peer token buckets and in-flight counts in a fixed-size hash table with LRU eviction. */
#include <config.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ratelimit.h"
#include "cfgtab.h"

#define NIL        (-1)
#define RL_EPSILON 1e-9

struct rl_entry {
	uint64_t key;
	double tokens;
	uint64_t last_ms;
	unsigned inflight;
	int32_t hnext;      /* next in the hash chain, or in the free list */
	int32_t prev, next; /* LRU list: head is the most recently seen */
};

struct ratelimit {
	struct ratelimit_cfg cfg;
	struct rl_entry *e;
	int32_t *heads;  /* nbuckets chain heads */
	size_t nbuckets; /* a power of two >= 2 * cap */
	size_t cap, used;
	int32_t free_list;
	int32_t lru_head, lru_tail;
};

/* A rate given without a burst gets a bucket of two seconds' worth (at least one request). */
static int check_ratelimit(void *obj, const config_setting_t *s, struct cfgtab_err *e)
{
	struct ratelimit_cfg *c = obj;

	(void)e;
	if (s != NULL && config_setting_get_member(s, "burst") == NULL &&
	    config_setting_get_member(s, "rate") != NULL)
		c->burst = c->rate * 2 >= 1 ? c->rate * 2 : 1;
	return 0;
}

#define RL struct ratelimit_cfg
static const struct cfgtab_key ratelimit_keys[] = {
	CFGTAB_DOUBLE_KEY(RL, rate, "rate", RATELIMIT_DEFAULT_RATE, 0, 1e9, 0,
	                  "requests per second; 0: no rate limit"),
	CFGTAB_DOUBLE_KEY(RL, burst, "burst", RATELIMIT_DEFAULT_BURST, 1, 1e9, 0,
	                  "bucket size (with a rate given but no burst: two seconds' worth)"),
	CFGTAB_INT_KEY(RL, max_peers, "max_peers", RATELIMIT_DEFAULT_PEERS, 1, RATELIMIT_PEERS_MAX,
	               CFGTAB_RESTART, "peers tracked at once"),
	CFGTAB_INT_KEY(RL, max_inflight, "max_inflight_per_peer", RATELIMIT_DEFAULT_INFLIGHT, 0, 10000000, 0,
	               "requests in flight per peer; 0: no limit"),
};
#undef RL

const struct cfgtab_section ratelimit_cfg_section = CFGTAB_SECTION(
        "ratelimit", struct ratelimit_cfg, ratelimit_keys, check_ratelimit,
        "Per peer (a Unix-socket uid; all TCP peers share one): a token bucket (429 TooManyRequests with\n"
        "Retry-After) and a limit of requests in flight (429). /healthz and /readyz are never limited.");

/* Whole seconds, rounded up, of a positive amount (without libm). */
static double ceil_pos(double v)
{
	double t = (double)(long long)v;

	return t < v ? t + 1 : t;
}

static size_t hash_key(uint64_t k, size_t nbuckets)
{
	k ^= k >> 33;
	k *= 0xff51afd7ed558ccdULL;
	k ^= k >> 33;
	k *= 0xc4ceb9fe1a85ec53ULL;
	k ^= k >> 33;
	return (size_t)k & (nbuckets - 1);
}

struct ratelimit *ratelimit_new(const struct ratelimit_cfg *cfg)
{
	struct ratelimit *rl;
	size_t i, cap = cfg->max_peers;

	if (cap == 0)
		cap = 1;
	if (cap > RATELIMIT_PEERS_MAX)
		cap = RATELIMIT_PEERS_MAX;
	rl = calloc(1, sizeof(*rl));
	if (rl == NULL)
		return NULL;
	rl->cfg = *cfg;
	rl->cap = cap;
	rl->nbuckets = 2;
	while (rl->nbuckets < 2 * cap)
		rl->nbuckets *= 2;
	rl->e = calloc(cap, sizeof(*rl->e));
	rl->heads = malloc(rl->nbuckets * sizeof(*rl->heads));
	if (rl->e == NULL || rl->heads == NULL)
		goto bad;
	for (i = 0; i < rl->nbuckets; i++)
		rl->heads[i] = NIL;
	for (i = 0; i < cap; i++)
		rl->e[i].hnext = i + 1 < cap ? (int32_t)(i + 1) : NIL;
	rl->free_list = 0;
	rl->lru_head = rl->lru_tail = NIL;
	return rl;
bad:
	ratelimit_free(rl);
	return NULL;
}

void ratelimit_free(struct ratelimit *rl)
{
	if (rl == NULL)
		return;
	free(rl->e);
	free(rl->heads);
	free(rl);
}

void ratelimit_reconfigure(struct ratelimit *rl, const struct ratelimit_cfg *cfg)
{
	size_t keep = rl->cfg.max_peers;
	int32_t i;

	rl->cfg = *cfg;
	rl->cfg.max_peers = keep;
	for (i = rl->lru_head; i != NIL; i = rl->e[i].next)
		if (rl->e[i].tokens > rl->cfg.burst)
			rl->e[i].tokens = rl->cfg.burst;
}

static int32_t find(const struct ratelimit *rl, uint64_t key)
{
	int32_t i;

	for (i = rl->heads[hash_key(key, rl->nbuckets)]; i != NIL; i = rl->e[i].hnext)
		if (rl->e[i].key == key)
			return i;
	return NIL;
}

static void lru_unlink(struct ratelimit *rl, int32_t i)
{
	struct rl_entry *x = &rl->e[i];

	if (x->prev != NIL)
		rl->e[x->prev].next = x->next;
	else
		rl->lru_head = x->next;
	if (x->next != NIL)
		rl->e[x->next].prev = x->prev;
	else
		rl->lru_tail = x->prev;
	x->prev = x->next = NIL;
}

static void lru_push_head(struct ratelimit *rl, int32_t i)
{
	struct rl_entry *x = &rl->e[i];

	x->prev = NIL;
	x->next = rl->lru_head;
	if (rl->lru_head != NIL)
		rl->e[rl->lru_head].prev = i;
	rl->lru_head = i;
	if (rl->lru_tail == NIL)
		rl->lru_tail = i;
}

static void hash_unlink(struct ratelimit *rl, int32_t i)
{
	int32_t *pp = &rl->heads[hash_key(rl->e[i].key, rl->nbuckets)];

	while (*pp != NIL && *pp != i)
		pp = &rl->e[*pp].hnext;
	if (*pp == i)
		*pp = rl->e[i].hnext;
}

/* A slot for a new peer: a free one, else the least recently seen idle peer's. NIL when none. */
static int32_t take_slot(struct ratelimit *rl)
{
	int32_t i;

	if (rl->free_list != NIL) {
		i = rl->free_list;
		rl->free_list = rl->e[i].hnext;
		rl->used++;
		return i;
	}
	for (i = rl->lru_tail; i != NIL; i = rl->e[i].prev)
		if (rl->e[i].inflight == 0)
			break;
	if (i == NIL)
		return NIL;
	hash_unlink(rl, i);
	lru_unlink(rl, i);
	return i;
}

enum rl_verdict ratelimit_acquire(struct ratelimit *rl, uint64_t key, uint64_t now_ms,
                                  unsigned *retry_after_s)
{
	struct rl_entry *x;
	int32_t i = find(rl, key);

	*retry_after_s = 0;
	if (i == NIL) {
		size_t h;

		i = take_slot(rl);
		if (i == NIL) {
			*retry_after_s = 1;
			return RL_FULL;
		}
		x = &rl->e[i];
		x->key = key;
		x->tokens = rl->cfg.burst;
		x->last_ms = now_ms;
		x->inflight = 0;
		h = hash_key(key, rl->nbuckets);
		x->hnext = rl->heads[h];
		rl->heads[h] = i;
	} else {
		lru_unlink(rl, i);
	}
	lru_push_head(rl, i);
	x = &rl->e[i];

	if (now_ms > x->last_ms) {
		x->tokens += (double)(now_ms - x->last_ms) * rl->cfg.rate / 1000.0;
		if (x->tokens > rl->cfg.burst)
			x->tokens = rl->cfg.burst;
		x->last_ms = now_ms;
	}
	if (rl->cfg.max_inflight != 0 && x->inflight >= rl->cfg.max_inflight) {
		*retry_after_s = 1;
		return RL_INFLIGHT;
	}
	if (rl->cfg.rate > 0) {
		/* The epsilon absorbs rounding of refills summed over many small steps. */
		if (x->tokens < 1.0 - RL_EPSILON) {
			double s = (1.0 - x->tokens) / rl->cfg.rate - RL_EPSILON;

			s = s > RATELIMIT_RETRY_AFTER_MAX ? RATELIMIT_RETRY_AFTER_MAX : ceil_pos(s);

			if (s < 1)
				s = 1;
			if (s > RATELIMIT_RETRY_AFTER_MAX)
				s = RATELIMIT_RETRY_AFTER_MAX;
			*retry_after_s = (unsigned)s;
			return RL_RATE;
		}
		x->tokens -= 1.0;
	}
	x->inflight++;
	return RL_ALLOW;
}

void ratelimit_release(struct ratelimit *rl, uint64_t key)
{
	int32_t i = find(rl, key);

	if (i != NIL && rl->e[i].inflight > 0)
		rl->e[i].inflight--;
}

size_t ratelimit_peers(const struct ratelimit *rl)
{
	return rl->used;
}

unsigned ratelimit_inflight(const struct ratelimit *rl, uint64_t key)
{
	int32_t i = find(rl, key);

	return i == NIL ? 0 : rl->e[i].inflight;
}
