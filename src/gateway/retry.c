/* retry.c: retry policy for upstream attempts: classification, jittered backoff, server hints, budget, breaker. */
#include <config.h>

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <curl/curl.h>

#include "cfgtab.h"
#include "gateway/retry.h"

struct budget_slot {
	int64_t epoch; /* now_ms / slot width; the slot is stale when it is not within the window */
	uint64_t requests;
	uint64_t retries;
};

struct retry_policy {
	struct retry_cfg cfg;
	retry_rng_fn rng;
	void *rng_arg;
	uint64_t rng_state; /* for the internal generator */
	retry_change_fn on_change;
	void *change_arg;

	struct budget_slot slots[RETRY_BUDGET_SLOTS];

	enum retry_breaker_state state;
	long consecutive;
	int64_t opened_at;
	long probes_out;
	int64_t last_probe_at;

	struct retry_stats stats;
};

static const int retry_default_statuses[] = { 408, 429, 500, 502, 503, 504 };

static int check_statuses(void *field, void *obj, const config_setting_t *m, struct cfgtab_err *e)
{
	const struct retry_cfg *c = obj;
	size_t i;

	(void)field;
	for (i = 0; i < c->nstatuses; i++)
		if (c->statuses[i] != 408 && c->statuses[i] != 429 && c->statuses[i] < 500)
			return cfgtab_fail_entry(e, m, i, "only 408, 429 and 500..599 may be retried");
	return 0;
}

static int check_retry(void *obj, const config_setting_t *s, struct cfgtab_err *e)
{
	const struct retry_cfg *c = obj;

	if (c->max_delay_ms < c->base_delay_ms)
		return cfgtab_fail_member(e, s, "max_delay_ms", "must not be below base_delay_ms");
	return 0;
}

#define R struct retry_cfg
static const struct cfgtab_key breaker_keys[] = {
	CFGTAB_BOOL_KEY(R, breaker_enabled, "enabled", 1, 0,
	                "answer 503 CircuitOpen at once while the service fails"),
	CFGTAB_INT_KEY(R, breaker_failures, "failures", 5, 1, 1000000, 0,
	               "consecutive failed attempts that open it"),
	CFGTAB_INT_KEY(R, breaker_cooldown_ms, "cooldown_ms", 5000, 1, 3600000, 0,
	               "how long it stays open before it lets probes through"),
	CFGTAB_INT_KEY(R, breaker_probes, "probes", 1, 1, 1000, 0,
	               "requests let through to test the service"),
};
static const struct cfgtab_section breaker_section = CFGTAB_SECTION(
        "retry.breaker", R, breaker_keys, NULL,
        "After `failures` consecutive failed attempts the gateway answers 503 CircuitOpen with\n"
        "Retry-After at once for cooldown_ms, then lets `probes` requests through; the state\n"
        "is in /readyz and the metrics.");

static const struct cfgtab_key retry_keys[] = {
	CFGTAB_INT_KEY(R, max_attempts, "max_attempts", 4, 1, RETRY_MAX_ATTEMPTS_LIMIT, 0,
	               "attempts per request, the first included"),
	CFGTAB_INT_KEY(R, base_delay_ms, "base_delay_ms", 200, 1, 60000, 0,
	               "full-jitter backoff: uniform(0, min(max_delay_ms, base * 2^(n-1)))"),
	CFGTAB_INT_KEY(R, max_delay_ms, "max_delay_ms", 10000, 1, 600000, 0, "not below base_delay_ms"),
	CFGTAB_INT_KEY(R, retry_after_max_ms, "retry_after_max_ms", 30000, 0, 3600000, 0,
	               "Retry-After, retry-after-ms and x-ms-retry-after-ms are cut to this"),
	CFGTAB_INTS_KEY(R, statuses, nstatuses, "statuses", retry_default_statuses,
	                sizeof retry_default_statuses / sizeof retry_default_statuses[0], RETRY_STATUSES_MAX,
	                100, 599, 0, check_statuses, "statuses retried: only 408, 429 and 500..599"),
	CFGTAB_BOOL_KEY(R, on_connect_error, "on_connect_error", 1, 0,
	                "retry a refused connection, DNS or TLS failure: nothing was sent"),
	CFGTAB_BOOL_KEY(R, on_timeout, "on_timeout", 1, 0, "retry when upstream.attempt_timeout_ms passed"),
	CFGTAB_BOOL_KEY(R, on_reset, "on_reset", 1, 0,
	                "retry when the connection broke after the request went out (may duplicate)"),
	CFGTAB_DOUBLE_KEY(R, budget_ratio, "budget_ratio", 0.2, 0.0, 10.0, 0,
	                  "retries at most this share of the requests over the window ..."),
	CFGTAB_INT_KEY(R, budget_window_ms, "budget_window_ms", 10000, 1000, 3600000, 0,
	               "... of this length ..."),
	CFGTAB_INT_KEY(R, budget_min_per_s, "budget_min_per_s", 10, 0, 100000, 0,
	               "... plus this many per second of the window"),
	CFGTAB_GROUP_KEY("breaker", 0, &breaker_section, CFGTAB_SHOWN, "the circuit breaker"),
};
#undef R

const struct cfgtab_section retry_cfg_section = CFGTAB_SECTION(
        "retry", struct retry_cfg, retry_keys, check_retry,
        "Retries of failed upstream attempts, each signed afresh; any other answer (2xx, other\n"
        "4xx/5xx) is final.");

enum retry_net retry_net_from_curl(int curlcode)
{
	switch ((CURLcode)curlcode) {
	case CURLE_OK: return RETRY_NET_NONE;
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_CONNECT:
	case CURLE_SSL_CONNECT_ERROR: return RETRY_NET_CONNECT;
	case CURLE_OPERATION_TIMEDOUT: return RETRY_NET_TIMEOUT;
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM: return RETRY_NET_RESET;
	default: return RETRY_NET_FATAL;
	}
}

static uint64_t retry_internal_rng(void *arg)
{
	uint64_t *s = arg, z;

	/* splitmix64 */
	z = (*s += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

struct retry_policy *retry_new(const struct retry_cfg *cfg, retry_rng_fn rng, void *rng_arg,
                               retry_change_fn on_change, void *change_arg)
{
	struct retry_policy *p = calloc(1, sizeof(*p));

	if (p == NULL)
		return NULL;
	p->cfg = *cfg;
	if (rng != NULL) {
		p->rng = rng;
		p->rng_arg = rng_arg;
	} else {
		if (getrandom(&p->rng_state, sizeof(p->rng_state), GRND_NONBLOCK) !=
		    (ssize_t)sizeof(p->rng_state))
			p->rng_state = (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)p;
		p->rng = retry_internal_rng;
		p->rng_arg = &p->rng_state;
	}
	p->on_change = on_change;
	p->change_arg = change_arg;
	p->state = RETRY_BREAKER_CLOSED;
	return p;
}

void retry_free(struct retry_policy *p)
{
	free(p);
}

void retry_set_cfg(struct retry_policy *p, const struct retry_cfg *cfg)
{
	p->cfg = *cfg;
}

const struct retry_cfg *retry_get_cfg(const struct retry_policy *p)
{
	return &p->cfg;
}

/* ---- budget ---- */

static int64_t budget_slot_width(const struct retry_cfg *c)
{
	int64_t w = c->budget_window_ms / RETRY_BUDGET_SLOTS;

	return w > 0 ? w : 1;
}

static struct budget_slot *budget_current(struct retry_policy *p, int64_t now_ms)
{
	int64_t epoch = now_ms / budget_slot_width(&p->cfg);
	struct budget_slot *s = &p->slots[(uint64_t)epoch % RETRY_BUDGET_SLOTS];

	if (s->epoch != epoch) {
		s->epoch = epoch;
		s->requests = 0;
		s->retries = 0;
	}
	return s;
}

static void budget_sums(const struct retry_policy *p, int64_t now_ms, uint64_t *requests, uint64_t *retries)
{
	int64_t epoch = now_ms / budget_slot_width(&p->cfg);
	size_t i;

	*requests = *retries = 0;
	for (i = 0; i < RETRY_BUDGET_SLOTS; i++) {
		const struct budget_slot *s = &p->slots[i];

		if (s->epoch > epoch - RETRY_BUDGET_SLOTS && s->epoch <= epoch) {
			*requests += s->requests;
			*retries += s->retries;
		}
	}
}

/* 1 when one more retry fits: retries < ratio * requests + min_per_s * window seconds. */
static int budget_allows(const struct retry_policy *p, int64_t now_ms)
{
	uint64_t req, ret;
	double allowance;

	budget_sums(p, now_ms, &req, &ret);
	allowance = p->cfg.budget_ratio * (double)req +
	            (double)p->cfg.budget_min_per_s * (double)p->cfg.budget_window_ms / 1000.0;
	return (double)ret + 1.0 <= allowance;
}

void retry_begin(struct retry_policy *p, int64_t now_ms)
{
	budget_current(p, now_ms)->requests++;
	p->stats.requests++;
}

/* ---- breaker ---- */

static void breaker_set(struct retry_policy *p, enum retry_breaker_state to, int64_t now_ms)
{
	enum retry_breaker_state from = p->state;

	if (from == to)
		return;
	p->state = to;
	if (to == RETRY_BREAKER_OPEN) {
		p->opened_at = now_ms;
		p->stats.breaker_opens++;
	} else if (to == RETRY_BREAKER_HALF_OPEN) {
		p->probes_out = 0;
		p->last_probe_at = now_ms;
	} else {
		p->consecutive = 0;
	}
	if (p->on_change != NULL)
		p->on_change(from, to, p->change_arg);
}

enum retry_admit retry_admit(struct retry_policy *p, int64_t now_ms, int *probe, long *wait_ms)
{
	*probe = 0;
	*wait_ms = 0;
	if (!p->cfg.breaker_enabled || p->state == RETRY_BREAKER_CLOSED)
		return RETRY_ADMIT_OK;
	if (p->state == RETRY_BREAKER_OPEN) {
		int64_t until = p->opened_at + p->cfg.breaker_cooldown_ms;

		if (now_ms < until) {
			*wait_ms = (long)(until - now_ms);
			p->stats.breaker_refusals++;
			return RETRY_ADMIT_OPEN;
		}
		breaker_set(p, RETRY_BREAKER_HALF_OPEN, now_ms);
	}
	/* Half-open. Probes that never reported back (their request was abandoned) stop counting after
	 * a cool-down, so the breaker cannot stay half-open for ever. */
	if (p->probes_out >= p->cfg.breaker_probes && now_ms - p->last_probe_at >= p->cfg.breaker_cooldown_ms)
		p->probes_out = 0;
	if (p->probes_out < p->cfg.breaker_probes) {
		p->probes_out++;
		p->last_probe_at = now_ms;
		*probe = 1;
		return RETRY_ADMIT_PROBE;
	}
	*wait_ms = p->cfg.breaker_cooldown_ms < 1000 ? p->cfg.breaker_cooldown_ms : 1000;
	p->stats.breaker_refusals++;
	return RETRY_ADMIT_OPEN;
}

void retry_record(struct retry_policy *p, int failed, int probe, int64_t now_ms)
{
	if (!p->cfg.breaker_enabled)
		return;
	switch (p->state) {
	case RETRY_BREAKER_CLOSED:
		if (!failed)
			p->consecutive = 0;
		else if (++p->consecutive >= p->cfg.breaker_failures)
			breaker_set(p, RETRY_BREAKER_OPEN, now_ms);
		break;
	case RETRY_BREAKER_OPEN:
		/* late results of attempts admitted before it opened change nothing */
		break;
	case RETRY_BREAKER_HALF_OPEN:
		if (!probe)
			break;
		if (p->probes_out > 0)
			p->probes_out--;
		breaker_set(p, failed ? RETRY_BREAKER_OPEN : RETRY_BREAKER_CLOSED, now_ms);
		break;
	}
}

/* ---- classification and delays ---- */

int retry_is_retryable(const struct retry_cfg *cfg, const struct retry_outcome *o, enum retry_reason *cause)
{
	size_t i;

	*cause = RETRY_R_NONE;
	switch (o->net) {
	case RETRY_NET_CONNECT: *cause = RETRY_R_CONNECT; return cfg->on_connect_error;
	case RETRY_NET_TIMEOUT: *cause = RETRY_R_TIMEOUT; return cfg->on_timeout;
	case RETRY_NET_RESET: *cause = RETRY_R_RESET; return cfg->on_reset;
	case RETRY_NET_FATAL: return 0;
	case RETRY_NET_NONE: break;
	}
	*cause = RETRY_R_STATUS;
	for (i = 0; i < cfg->nstatuses; i++)
		if (cfg->statuses[i] == o->status)
			return 1;
	return 0;
}

long retry_backoff_ms(struct retry_policy *p, long attempt)
{
	uint64_t cap = (uint64_t)p->cfg.base_delay_ms;
	long i;

	for (i = 1; i < attempt && cap < (uint64_t)p->cfg.max_delay_ms; i++)
		cap *= 2;
	if (cap > (uint64_t)p->cfg.max_delay_ms)
		cap = (uint64_t)p->cfg.max_delay_ms;
	return (long)(p->rng(p->rng_arg) % (cap + 1));
}

/* Non-negative decimal integer with optional surrounding blanks; -1 when not that. Saturates. */
static long long parse_uint(const char *s)
{
	long long v = 0;
	int digits = 0;

	while (*s == ' ' || *s == '\t')
		s++;
	for (; *s >= '0' && *s <= '9'; s++, digits++)
		v = v > 100000000000LL ? v : v * 10 + (*s - '0');
	while (*s == ' ' || *s == '\t')
		s++;
	return digits > 0 && *s == '\0' ? v : -1;
}

static int month_index(const char *m)
{
	static const char *const months[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
		                              "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	int i;

	for (i = 0; i < 12; i++)
		if (strcmp(m, months[i]) == 0)
			return i;
	return -1;
}

int retry_parse_http_date(const char *s, time_t *out)
{
	char wday[16], mon[4], tz[4], rest;
	int day, year, hh, mm, ss, n = 0;
	struct tm tm;
	time_t t;

	memset(&tm, 0, sizeof(tm));
	/* IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT */
	if (sscanf(s, "%3[A-Za-z], %2d %3s %4d %2d:%2d:%2d %3s%n%c", wday, &day, mon, &year, &hh, &mm, &ss,
	           tz, &n, &rest) == 8 &&
	    s[n] == '\0' && strcmp(tz, "GMT") == 0) {
		;
		/* RFC 850: Sunday, 06-Nov-94 08:49:37 GMT */
	} else if (sscanf(s, "%15[A-Za-z], %2d-%3[A-Za-z]-%2d %2d:%2d:%2d %3s%n%c", wday, &day, mon, &year,
	                  &hh, &mm, &ss, tz, &n, &rest) == 8 &&
	           s[n] == '\0' && strcmp(tz, "GMT") == 0) {
		year += year < 70 ? 2000 : 1900;
		/* asctime: Sun Nov  6 08:49:37 1994 */
	} else if (sscanf(s, "%3[A-Za-z] %3[A-Za-z] %2d %2d:%2d:%2d %4d%n%c", wday, mon, &day, &hh, &mm, &ss,
	                  &year, &n, &rest) == 7 &&
	           s[n] == '\0') {
		;
	} else {
		return -1;
	}
	if ((tm.tm_mon = month_index(mon)) < 0 || day < 1 || day > 31 || hh > 23 || mm > 59 || ss > 60 ||
	    year < 1970 || hh < 0 || mm < 0 || ss < 0)
		return -1;
	tm.tm_mday = day;
	tm.tm_year = year - 1900;
	tm.tm_hour = hh;
	tm.tm_min = mm;
	tm.tm_sec = ss;
	if ((t = timegm(&tm)) == (time_t)-1)
		return -1;
	*out = t;
	return 0;
}

long retry_hint_ms(const struct retry_cfg *cfg, const struct retry_outcome *o)
{
	long long v = -1;
	time_t when;

	if (o->retry_after_ms != NULL)
		v = parse_uint(o->retry_after_ms);
	if (v < 0 && o->x_ms_retry_after_ms != NULL)
		v = parse_uint(o->x_ms_retry_after_ms);
	if (v < 0 && o->retry_after != NULL) {
		if ((v = parse_uint(o->retry_after)) >= 0)
			v = v > 100000000LL ? 100000000000LL : v * 1000;
		else if (retry_parse_http_date(o->retry_after, &when) == 0)
			v = when > o->wall_now ? ((long long)when - (long long)o->wall_now) * 1000 : 0;
	}
	if (v < 0)
		return -1;
	return v > cfg->retry_after_max_ms ? cfg->retry_after_max_ms : (long)v;
}

enum retry_verdict retry_decide(struct retry_policy *p, const struct retry_outcome *o, long attempt,
                                int probe, int64_t now_ms, int64_t deadline_ms, struct retry_decision *d)
{
	enum retry_reason cause;
	int retryable = retry_is_retryable(&p->cfg, o, &cause);
	int failed = o->net != RETRY_NET_NONE || retryable;
	long hint;

	memset(d, 0, sizeof(*d));
	retry_record(p, failed, probe, now_ms);
	if (o->net == RETRY_NET_NONE && o->status >= 200 && o->status <= 299)
		return d->verdict = RETRY_SUCCESS;
	if (!retryable)
		return d->verdict = RETRY_FINAL;
	d->cause = cause;
	d->verdict = RETRY_GIVE_UP;
	if (attempt >= p->cfg.max_attempts) {
		d->reason = RETRY_R_ATTEMPTS;
		return d->verdict;
	}
	if ((hint = retry_hint_ms(&p->cfg, o)) >= 0) {
		d->delay_ms = hint;
		d->hinted = 1;
	} else {
		d->delay_ms = retry_backoff_ms(p, attempt);
	}
	if (deadline_ms != 0 && now_ms + d->delay_ms >= deadline_ms) {
		d->reason = RETRY_R_DEADLINE;
		return d->verdict;
	}
	if (p->cfg.breaker_enabled && p->state == RETRY_BREAKER_OPEN &&
	    now_ms + d->delay_ms < p->opened_at + p->cfg.breaker_cooldown_ms) {
		d->reason = RETRY_R_BREAKER;
		return d->verdict;
	}
	if (!budget_allows(p, now_ms)) {
		p->stats.budget_refusals++;
		d->reason = RETRY_R_BUDGET;
		return d->verdict;
	}
	budget_current(p, now_ms)->retries++;
	p->stats.retries++;
	d->reason = cause;
	return d->verdict = RETRY_AGAIN;
}

enum retry_breaker_state retry_breaker_state(const struct retry_policy *p)
{
	return p->state;
}

const char *retry_breaker_state_name(enum retry_breaker_state s)
{
	switch (s) {
	case RETRY_BREAKER_CLOSED: return "closed";
	case RETRY_BREAKER_OPEN: return "open";
	case RETRY_BREAKER_HALF_OPEN: return "half_open";
	}
	return "closed";
}

const char *retry_reason_name(enum retry_reason r)
{
	switch (r) {
	case RETRY_R_NONE: return "none";
	case RETRY_R_STATUS: return "status";
	case RETRY_R_CONNECT: return "connect";
	case RETRY_R_TIMEOUT: return "timeout";
	case RETRY_R_RESET: return "reset";
	case RETRY_R_ATTEMPTS: return "attempts";
	case RETRY_R_DEADLINE: return "deadline";
	case RETRY_R_BUDGET: return "budget";
	case RETRY_R_BREAKER: return "breaker";
	}
	return "none";
}

void retry_get_stats(const struct retry_policy *p, struct retry_stats *out)
{
	*out = p->stats;
	out->state = p->state;
	out->consecutive_failures = p->consecutive;
}
