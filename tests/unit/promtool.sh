#!/bin/sh
# promtool.sh: `promtool check metrics` (Debian's prometheus package) must accept the gateway's exposition.
# Skips (77) when promtool is not installed.
set -eu
command -v promtool >/dev/null 2>&1 || { echo "promtool not found: skipped"; exit 77; }
dump="${WPSGATE_BUILDDIR:-.}/tests/unit/gw_metrics_dump"
out=$(mktemp)
trap 'rm -f "$out"' EXIT
"$dump" > "$out"
# Must not be trivially empty: every family we promise is there.
for fam in wpsgate_build_info wpsgate_requests_total wpsgate_upstream_request_duration_seconds \
	wpsgate_upstream_attempts_total wpsgate_upstream_retries_total wpsgate_requests_in_flight \
	wpsgate_outbox_depth wpsgate_outbox_oldest_age_seconds wpsgate_outbox_dead_letters \
	wpsgate_circuit_breaker_state wpsgate_upstream_connections_opened_total \
	wpsgate_upstream_connections_reused_total wpsgate_received_bytes_total wpsgate_sent_bytes_total \
	wpsgate_config_reloads_total wpsgate_credential_errors_total process_resident_memory_bytes \
	process_cpu_seconds_total process_open_fds process_start_time_seconds; do
	grep -q "^# TYPE $fam " "$out" || { echo "family $fam missing"; exit 1; }
done
# promtool exits non-zero on errors; lint warnings are printed too and fail the test as well.
lint=$(promtool check metrics < "$out" 2>&1) || { echo "$lint"; exit 1; }
if [ -n "$lint" ]; then echo "$lint"; exit 1; fi
echo "promtool: $(grep -c '^# TYPE' "$out") families, $(grep -vc '^#' "$out") samples accepted"
