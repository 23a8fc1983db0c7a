/* fuzz_upstream.c: libFuzzer target for what the gateway reads from an upstream response: the status
 * line, the server's retry hints (retry-after-ms, x-ms-retry-after-ms, Retry-After as seconds or an
 * HTTP date) through retry_hint_ms / retry_parse_http_date, and the retry decision they feed.
 *
 * Input: a response head as libcurl hands it to the header callback, one header per line:
 *   HTTP/1.1 429 Too Many Requests
 *   Retry-After: Sun, 06 Nov 1994 08:49:37 GMT
 *   retry-after-ms: 1500
 * Each line goes through up_job_header, the function behind upstream.c's libcurl header callback
 * (the status itself is read here from the status line, as libcurl does for CURLINFO_RESPONSE_CODE). */
#include <config.h>
#include "fuzz.h"

#include <string.h>
#include <strings.h>
#include <time.h>

#include "gateway/retry.h"
#include "gateway/upstream.h"

#define FUZZ_WALL_NOW ((time_t)1700000000) /* 2023-11-14T22:13:20Z, the wall clock for HTTP dates */

/* The status of a status line "HTTP/x yyy ...", or -1 when line is not one, 0 when it has no status. */
static int status_line(const char *p, size_t len)
{
	const char *sp;

	if (len < 5 || memcmp(p, "HTTP/", 5) != 0)
		return -1;
	sp = memchr(p, ' ', len);
	if (sp != NULL && (size_t)(sp - p) + 4 <= len && sp[1] >= '1' && sp[1] <= '5' && sp[2] >= '0' &&
	    sp[2] <= '9' && sp[3] >= '0' && sp[3] <= '9')
		return (sp[1] - '0') * 100 + (sp[2] - '0') * 10 + (sp[3] - '0');
	return 0;
}

/* What up_job_header kept is at most UP_HEADER_VALUE_MAX bytes without leading blanks (the end is
 * trimmed too, but a NUL inside the value ends the copy before that end). */
static void check_kept(const char *v)
{
	if (v == NULL)
		return;
	FUZZ_ASSERT(strlen(v) <= UP_HEADER_VALUE_MAX);
	FUZZ_ASSERT(v[0] != ' ' && v[0] != '\t');
}

static uint64_t fixed_rng(void *arg)
{
	uint64_t *s = arg;

	*s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
	return *s >> 11;
}

static void check_date(const char *s)
{
	time_t t;

	if (s != NULL && retry_parse_http_date(s, &t) == 0)
		FUZZ_ASSERT(t >= 0); /* years before 1970 are refused */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct up_job *job;
	int status = 0, st;
	struct retry_cfg cfg;
	struct retry_outcome o;
	struct retry_decision d;
	struct retry_policy *p;
	enum retry_verdict v;
	enum retry_reason cause;
	const uint8_t *line = data, *end = data + size, *nl;
	uint64_t rng = 42;
	long hint;

	if ((job = up_job_new()) == NULL)
		abort();
	/* one header callback per line, as libcurl makes them (a NUL inside a line is kept up to it:
	 * the kept values are C strings from strndup) */
	while (line < end) {
		nl = memchr(line, '\n', (size_t)(end - line));
		nl = nl ? nl + 1 : end;
		if ((st = status_line((const char *)line, (size_t)(nl - line))) >= 0)
			status = st;
		up_job_header(job, (const char *)line, (size_t)(nl - line));
		line = nl;
	}
	check_kept(job->resp_content_type);
	check_kept(job->resp_error_code);
	check_kept(job->resp_retry_after);
	check_kept(job->resp_retry_after_ms);
	check_kept(job->resp_x_ms_retry_after_ms);

	cfgtab_defaults(&retry_cfg_section, &cfg);
	memset(&o, 0, sizeof o);
	o.net = RETRY_NET_NONE;
	o.status = status ? status : 503;
	o.retry_after = job->resp_retry_after;
	o.retry_after_ms = job->resp_retry_after_ms;
	o.x_ms_retry_after_ms = job->resp_x_ms_retry_after_ms;
	o.wall_now = FUZZ_WALL_NOW;

	check_date(job->resp_retry_after);
	check_date(job->resp_retry_after_ms);
	hint = retry_hint_ms(&cfg, &o);
	FUZZ_ASSERT(hint >= -1 && hint <= cfg.retry_after_max_ms);
	/* a hint is only ever found in a header that is present */
	if (o.retry_after == NULL && o.retry_after_ms == NULL && o.x_ms_retry_after_ms == NULL)
		FUZZ_ASSERT(hint == -1);

	(void)retry_is_retryable(&cfg, &o, &cause);
	if ((p = retry_new(&cfg, fixed_rng, &rng, NULL, NULL)) == NULL)
		abort();
	retry_begin(p, 1000);
	v = retry_decide(p, &o, 1, 0, 1000, 1000 + 30000, &d);
	FUZZ_ASSERT(v == d.verdict);
	if (v == RETRY_AGAIN) {
		FUZZ_ASSERT(d.delay_ms >= 0 && d.delay_ms < 30000);
		FUZZ_ASSERT(d.hinted == (hint >= 0));
		if (d.hinted)
			FUZZ_ASSERT(d.delay_ms == hint);
	}
	if (o.status >= 200 && o.status <= 299)
		FUZZ_ASSERT(v == RETRY_SUCCESS);
	retry_free(p);
	up_job_free(job);
	return 0;
}
