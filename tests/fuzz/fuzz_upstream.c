/* fuzz_upstream.c: libFuzzer target for what the gateway reads from an upstream response: the status
 * line, the server's retry hints (retry-after-ms, x-ms-retry-after-ms, Retry-After as seconds or an
 * HTTP date) through retry_hint_ms / retry_parse_http_date, and the retry decision they feed.
 *
 * Input: a response head as libcurl hands it to the header callback, one header per line:
 *   HTTP/1.1 429 Too Many Requests
 *   Retry-After: Sun, 06 Nov 1994 08:49:37 GMT
 *   retry-after-ms: 1500
 * upstream.c keeps its header callback (header_cb) static, so the split into name and value is done
 * here with the same rules (name up to ':', value trimmed of blanks and CR/LF, values over 1024 bytes
 * ignored, a new "HTTP/" line forgets the earlier headers). */
#include "fuzz.h"

#include <string.h>
#include <strings.h>
#include <time.h>

#include "gateway/retry.h"

#define HDR_VALUE_MAX 1024              /* as header_cb: longer values are not kept */
#define FUZZ_WALL_NOW ((time_t)1700000000) /* 2023-11-14T22:13:20Z, the wall clock for HTTP dates */

struct head {
	int   status;
	char *retry_after, *retry_after_ms, *x_ms_retry_after_ms, *content_type, *error_code;
};

static void head_clear(struct head *h)
{
	free(h->retry_after);
	free(h->retry_after_ms);
	free(h->x_ms_retry_after_ms);
	free(h->content_type);
	free(h->error_code);
	memset(h, 0, sizeof *h);
}

static void set(char **dst, const char *v, size_t n)
{
	free(*dst);
	if ((*dst = strndup(v, n)) == NULL)
		abort();
}

static void head_line(struct head *h, const char *p, size_t len)
{
	const char *colon, *v;
	size_t nl, vl;

	if (len >= 5 && memcmp(p, "HTTP/", 5) == 0) {
		const char *sp = memchr(p, ' ', len);
		head_clear(h);
		if (sp != NULL && (size_t)(sp - p) + 4 <= len && sp[1] >= '1' && sp[1] <= '5' &&
		    sp[2] >= '0' && sp[2] <= '9' && sp[3] >= '0' && sp[3] <= '9')
			h->status = (sp[1] - '0') * 100 + (sp[2] - '0') * 10 + (sp[3] - '0');
		return;
	}
	if ((colon = memchr(p, ':', len)) == NULL)
		return;
	nl = (size_t)(colon - p);
	v = colon + 1;
	vl = len - nl - 1;
	while (vl > 0 && (*v == ' ' || *v == '\t')) {
		v++;
		vl--;
	}
	while (vl > 0 && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' ' || v[vl - 1] == '\t'))
		vl--;
	if (vl > HDR_VALUE_MAX)
		return;
	if (nl == 12 && strncasecmp(p, "content-type", nl) == 0)
		set(&h->content_type, v, vl);
	else if (nl == 15 && strncasecmp(p, "x-ms-error-code", nl) == 0)
		set(&h->error_code, v, vl);
	else if (nl == 11 && strncasecmp(p, "retry-after", nl) == 0)
		set(&h->retry_after, v, vl);
	else if (nl == 14 && strncasecmp(p, "retry-after-ms", nl) == 0)
		set(&h->retry_after_ms, v, vl);
	else if (nl == 19 && strncasecmp(p, "x-ms-retry-after-ms", nl) == 0)
		set(&h->x_ms_retry_after_ms, v, vl);
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
		FUZZ_ASSERT(t >= 0);   /* years before 1970 are refused */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct head h;
	struct retry_cfg cfg;
	struct retry_outcome o;
	struct retry_decision d;
	struct retry_policy *p;
	enum retry_verdict v;
	enum retry_reason cause;
	const uint8_t *line = data, *end = data + size, *nl;
	uint64_t rng = 42;
	long hint;

	memset(&h, 0, sizeof h);
	/* libcurl never hands a NUL inside a header line to the callback as part of a C string the
	 * gateway keeps (strndup stops there); the split below works on bytes like header_cb */
	while (line < end) {
		nl = memchr(line, '\n', (size_t)(end - line));
		nl = nl ? nl + 1 : end;
		head_line(&h, (const char *)line, (size_t)(nl - line));
		line = nl;
	}

	retry_cfg_defaults(&cfg);
	memset(&o, 0, sizeof o);
	o.net = RETRY_NET_NONE;
	o.status = h.status ? h.status : 503;
	o.retry_after = h.retry_after;
	o.retry_after_ms = h.retry_after_ms;
	o.x_ms_retry_after_ms = h.x_ms_retry_after_ms;
	o.wall_now = FUZZ_WALL_NOW;

	check_date(h.retry_after);
	check_date(h.retry_after_ms);
	hint = retry_hint_ms(&cfg, &o);
	FUZZ_ASSERT(hint >= -1 && hint <= cfg.retry_after_max_ms);
	/* a hint is only ever found in a header that is present */
	if (h.retry_after == NULL && h.retry_after_ms == NULL && h.x_ms_retry_after_ms == NULL)
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
	head_clear(&h);
	return 0;
}
