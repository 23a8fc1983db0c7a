/* gw_metrics_dump.c: print the gateway's metrics after a known sequence of events, for promtool.sh. */
#include <config.h>

#include <stdio.h>
#include <stdlib.h>

#include "buf.h"
#include "gateway/metrics.h"

int main(void)
{
	struct buf b;
	int op, i;

	metrics_init("0.1.0 \"test\"\\build\n", "2024-12-01", 0); /* label escaping on purpose */
	for (op = 0; op < METRICS_OPS; op++) {
		metrics_request(op, 200);
		metrics_request(op, 599);
		metrics_upstream_attempt(op, MA_RESPONSE, 202, (uint64_t)op * 1000003u);
	}
	for (i = 0; i < 5; i++)
		metrics_upstream_attempt(OP_SEND_TO_GROUP, MA_TIMEOUT, 0, 30000001);
	metrics_upstream_retry(MC_STATUS);
	metrics_upstream_retry(MC_CONNECT);
	metrics_upstream_connections(2, 40);
	metrics_bytes(MS_LOCAL, 1000, 200);
	metrics_bytes(MS_UPSTREAM, 200, 1000);
	metrics_refused(MR_GUARD);
	metrics_inflight_add(3);
	metrics_set_outbox(10, 1);
	metrics_set_outbox_oldest(1);
	metrics_set_breaker(MB_OPEN);
	metrics_reload(1);
	metrics_credential_error();
	buf_init(&b, METRICS_RENDER_MAX);
	if (metrics_render(&b) < 0) {
		fprintf(stderr, "render failed\n");
		return 1;
	}
	fwrite(b.data, 1, b.len, stdout);
	buf_free(&b);
	return 0;
}
