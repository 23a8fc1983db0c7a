/* fuzz_cliparse.c: libFuzzer target for the client's reader of the gateway's answer (cli_parse).
 * Input: the bytes of one answer. Invariants: fed whole or in two parts the verdict is the same; a
 * complete answer's body is never longer than the input and never larger than CLI_RESPONSE_MAX. */
#include <config.h>
#include "fuzz.h"

#include <string.h>

#include "cli/cli.h"

static int verdict(const uint8_t *data, size_t size, size_t split, int head, struct cli_resp *r)
{
	struct cli_parse ps;
	int rc = 0;

	cli_parse_init(&ps, head);
	if (split < size)
		rc = cli_parse(&ps, (const char *)data, split, 0, r);
	if (rc == 0)
		rc = cli_parse(&ps, (const char *)data, size, 1, r);
	FUZZ_ASSERT(rc == 1 || rc == -1);
	FUZZ_ASSERT(rc == 1 || ps.error != NULL);
	return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cli_resp a, b;
	int head = size > 0 && (data[0] & 1), ra, rb;

	resp_init(&a);
	resp_init(&b);
	ra = verdict(data, size, size, head, &a);
	rb = verdict(data, size, size / 2, head, &b);
	FUZZ_ASSERT(ra == rb);
	if (ra == 1) {
		FUZZ_ASSERT(a.status >= 200 && a.status <= 599);
		FUZZ_ASSERT(a.status == b.status);
		FUZZ_ASSERT(a.body.len <= size && a.body.len <= (size_t)CLI_RESPONSE_MAX);
		FUZZ_ASSERT(a.body.len == b.body.len &&
		            memcmp(a.body.data ? a.body.data : "", b.body.data ? b.body.data : "",
		                   a.body.len) == 0);
	}
	resp_free(&a);
	resp_free(&b);
	return 0;
}
