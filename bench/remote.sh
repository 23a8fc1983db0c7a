#!/bin/bash
# remote.sh: the gateway where applications meet it: a remote HTTPS service, fresh-process callers, and
# durable async at a distance (issue 15). One command, one run:
#
#   bench/remote.sh            (WPSGATED=/path/to/an/-O2/wpsgated; WPSGATE= its client)
#   RTTS="0 2 20" SENDS=200 bench/remote.sh
#
# The service: nginx with TLS (self-signed, `http2` on its listener) answering 202, behind bench/delay.c,
# a user-space relay that adds RTT/2 each way (this kernel has no netem). The relay's kernel completes the
# TCP handshake at once, so the relay holds a caller's first bytes one round trip longer: a new
# connection costs what it costs on a network (TCP one round trip, TLS 1.3 one more, then the request).
#
# Fresh-process callers: SENDS sequential sends at each RTT, each a new process, timed with bash's
# EPOCHREALTIME around the process (fork, exec, connect, TLS, request, exit):
#   curl-direct   curl straight to the TLS service through the relay, with a valid HS256 token
#                 (aud the exact URL) made beforehand: the least a keyless app could do;
#   curl-gateway  curl --unix-socket to wpsgated, whose upstream is the same relay;
#   wpsgate-send  the project's client, `wpsgate send`.
# Durable async at RTT_ASYNC ms: ASYNC_N messages with Prefer: respond-async to one target (a group) and
# to 100 targets, with outbox.max_inflight_per_target 1 (the order kept) and WINDOW; accept rate (all
# posted by one curl --parallel, 64 at a time) and drain rate (first post to outbox depth 0).
# Results: a markdown table on stdout and in bench/results/remote-DATE.md (RESULTS_DIR).
set -u
BENCH=$(cd "$(dirname "$0")" && pwd)
TOP=$(cd "$BENCH/.." && pwd)
RTTS=${RTTS:-"0 2 20"}
SENDS=${SENDS:-200}
RTT_ASYNC=${RTT_ASYNC:-20}
ASYNC_N=${ASYNC_N:-1000}
WINDOW=${WINDOW:-16}
RESULTS_DIR=${RESULTS_DIR:-$TOP/bench/results}
die() { echo "remote.sh: $*" >&2; exit 1; }
log() { echo "remote.sh: $*" >&2; }

missing=""
for t in nginx curl openssl cc awk; do command -v "$t" >/dev/null 2>&1 || missing="$missing $t"; done
[ -n "$missing" ] && die "missing:$missing (scripts/deps.sh --bench)"
GW=${WPSGATED:-}
[ -z "$GW" ] && for c in ./wpsgated /work/build-bench/wpsgated; do [ -x "$c" ] && { GW=$(cd "$(dirname "$c")" && pwd)/wpsgated; break; }; done
[ -n "$GW" ] && [ -x "$GW" ] || die "wpsgated not found: set WPSGATED=/path/to/wpsgated (an -O2 build)"
CLI=${WPSGATE:-$(dirname "$GW")/wpsgate}
[ -x "$CLI" ] || die "wpsgate (the client) not found: set WPSGATE="

. "$BENCH/lib.sh"
bench_init wpsremote
PIN_PUT=""; PIN_LOAD="" # sequential callers: pinning would only serialise the relay and nginx behind them
cc -O2 $BENCH_CFLAGS -o "$T/delay" "$BENCH/delay.c" || die "cannot build bench/delay.c"

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=localhost \
	-addext "subjectAltName=DNS:localhost,IP:127.0.0.1" -keyout "$T/tls.key" -out "$T/tls.crt" 2>/dev/null ||
	die "openssl req failed"
alloc_port; UP_TLS=$PORT; alloc_port; UP_PLAIN=$PORT
# The TLS listener reads each request's body (by proxying it to the 202 server beside it) before it
# answers: an HTTP/2 `return 202` before the body is read resets the stream, which curl 7.88 reports as
# "Stream error in the HTTP/2 framing layer".
{
	nginx_common "$T/up" 1
	cat <<EOF
    upstream plain { server 127.0.0.1:$UP_PLAIN; keepalive 64; }
    server { listen 127.0.0.1:$UP_PLAIN; location / { return 202; } }
    server {
        listen 127.0.0.1:$UP_TLS ssl http2;
        ssl_certificate $T/tls.crt; ssl_certificate_key $T/tls.key;
        ssl_protocols TLSv1.2 TLSv1.3;
        location / { proxy_pass http://plain; proxy_http_version 1.1; proxy_set_header Connection ""; }
    }
}
EOF
} >"$T/up.conf"
start_bg upstream nginx -p "$T/up" -c "$T/up.conf" -g "daemon off;"
wait_port "$UP_TLS" "$LAST_PID" upstream

KEY=bench-access-key-0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ
printf '%s' "$KEY" >"$T/key"; chmod 600 "$T/key"
HUB_PATH=/api/hubs/chat/:send
API=2024-12-01

b64url() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }
token() { # token URL: an HS256 JWT for the service, aud the exact URL, valid 10 minutes
	local now h p
	now=$(date +%s)
	h=$(printf '{"alg":"HS256","typ":"JWT"}' | b64url)
	p=$(printf '{"aud":"%s","iat":%d,"exp":%d}' "$1" "$now" $((now + 600)) | b64url)
	printf '%s.%s.%s' "$h" "$p" "$(printf '%s.%s' "$h" "$p" | openssl dgst -sha256 -hmac "$KEY" -binary | b64url)"
}

start_relay() { # start_relay RTT_MS: sets RELAY (port) and RELAY_PID
	alloc_port; RELAY=$PORT
	start_bg "relay-$1" "$T/delay" -l "$RELAY" -t "$UP_TLS" -d "$(awk -v r="$1" 'BEGIN { print r / 2 }')"
	RELAY_PID=$LAST_PID
	wait_port "$RELAY" "$RELAY_PID" "relay-$1"
}
start_gateway() { # start_gateway NAME [OUTBOX_KEYS]: sets GW_PID; socket $T/NAME.sock; upstream the relay
	local name=$1 ob=""
	[ $# -ge 2 ] && ob="outbox = { path = \"$T/$name.db\"; max_rows = 1000000; $2 };"
	cat >"$T/$name.conf" <<EOF
listen = { unix = { path = "$T/$name.sock"; mode = "0660"; }; tcp = [ ]; };
upstream = { endpoint = "https://127.0.0.1:$RELAY"; access_key_file = "$T/key"; ca_file = "$T/tls.crt";
             api_version = "$API"; };
metrics = { listen = "127.0.0.1:$GW_METRICS"; };
log = { level = "warn"; };
$ob
EOF
	start_bg "$name" "$GW" -c "$T/$name.conf"
	GW_PID=$LAST_PID
	wait_unix "$T/$name.sock"
	wait_port "$GW_METRICS" "$GW_PID" "$name"
}
pct() { # pct FILE P: the P-th percentile (nearest rank) of the numbers in FILE, in ms with one decimal
	sort -n "$1" | awk -v p="$2" '{ v[NR] = $1 } END { i = int(NR * p / 100 + 0.999); if (i < 1) i = 1; printf "%.1f", v[i] }'
}
timed() { # timed OUT CMD...: runs CMD SENDS times, one after the other; each wall time (ms) to OUT
	local out=$1 i t0 t1 fails=0; shift
	: >"$out"; : >"$out.err"
	for ((i = 0; i < SENDS; i++)); do
		t0=$EPOCHREALTIME
		"$@" >/dev/null 2>>"$out.err" || fails=$((fails + 1))
		t1=$EPOCHREALTIME
		echo "$t0 $t1" | awk '{ printf "%.3f\n", ($2 - $1) * 1000 }' >>"$out"
	done
	echo "$fails"
}

ROWS=$T/rows.md; : >"$ROWS"
log "wpsgated: $GW; $SENDS sends per caller at RTT ${RTTS// /, } ms; nginx $(nginx -v 2>&1 | sed 's/.*\///'), $(curl --version | head -1 | cut -d' ' -f1-2)"

# 1. fresh-process callers
for rtt in $RTTS; do
	start_relay "$rtt"
	alloc_port; GW_METRICS=$PORT
	start_gateway "gw-$rtt"
	url="https://127.0.0.1:$RELAY$HUB_PATH?api-version=$API"
	tok=$(token "$url")
	c=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$T/tls.crt" -X POST -H "Authorization: Bearer $tok" \
		-H 'Content-Type: text/plain' --data hello "$url")
	[ "$c" = 202 ] || die "the service through the relay answered $c"
	for i in 1 2 3 4 5; do # the gateway's pool warms up
		curl -s -o /dev/null --unix-socket "$T/gw-$rtt.sock" -X POST -H 'Content-Type: text/plain' --data hello "http://localhost$HUB_PATH"
	done
	c=$(curl -s -o /dev/null -w '%{http_code}' --unix-socket "$T/gw-$rtt.sock" -X POST -H 'Content-Type: text/plain' \
		--data hello "http://localhost$HUB_PATH")
	[ "$c" = 202 ] || die "the gateway answered $c"
	a0=$(grep -c '^accepted' "$T/relay-$rtt.log")
	f1=$(timed "$T/direct-$rtt" curl -sSf -o /dev/null --cacert "$T/tls.crt" -X POST -H "Authorization: Bearer $tok" \
		-H 'Content-Type: text/plain' --data hello "$url")
	a1=$(grep -c '^accepted' "$T/relay-$rtt.log")
	[ "$f1" = 0 ] || log "RTT $rtt ms: direct curl failed $f1 times: $(sort "$T/direct-$rtt.err" | uniq -c | head -3 | tr -s ' \n' ' ')"
	f2=$(timed "$T/gwcurl-$rtt" curl -sf -o /dev/null --unix-socket "$T/gw-$rtt.sock" -X POST \
		-H 'Content-Type: text/plain' --data hello "http://localhost$HUB_PATH")
	f3=$(timed "$T/cli-$rtt" env WPSGATE_SOCKET="$T/gw-$rtt.sock" "$CLI" send --hub chat hello)
	a2=$(grep -c '^accepted' "$T/relay-$rtt.log")
	d50=$(pct "$T/direct-$rtt" 50)
	for k in direct:"curl straight to the service":$f1 gwcurl:"curl --unix-socket to wpsgated":$f2 \
		cli:"wpsgate send":$f3; do
		IFS=: read -r f name fails <<<"$k"
		p50=$(pct "$T/$f-$rtt" 50); p99=$(pct "$T/$f-$rtt" 99)
		ratio=$(awk -v a="$p50" -v b="$d50" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')
		printf '| %s ms | %s | %s | %s | %s × | %s |\n' "$rtt" "$name" "$p50" "$p99" "$ratio" "$fails" >>"$ROWS"
	done
	log "RTT $rtt ms: direct p50 $d50 ms, gateway curl p50 $(pct "$T/gwcurl-$rtt" 50) ms, wpsgate send p50 $(pct "$T/cli-$rtt" 50) ms; upstream connections: direct $((a1 - a0)), through the gateway $((a2 - a1))"
	printf '| %s ms | (upstream connections opened: direct %s for %s sends, gateway %s for %s) | | | | |\n' \
		"$rtt" "$((a1 - a0))" "$SENDS" "$((a2 - a1))" "$((SENDS * 2))" >>"$ROWS"
	stop_pid "$GW_PID"; stop_pid "$RELAY_PID"
done

# 2. durable async at RTT_ASYNC ms
AROWS=$T/async.md; : >"$AROWS"
depth() { curl -s -m 5 "http://127.0.0.1:$GW_METRICS/metrics" | awk '/^wpsgate_outbox_depth / { print $2 }'; }
start_relay "$RTT_ASYNC"
for w in 1 "$WINDOW"; do
	for targets in 1 100; do
		alloc_port; GW_METRICS=$PORT
		start_gateway "ob-$w-$targets" "max_inflight_per_target = $w;"
		: >"$T/urls"
		for ((i = 0; i < ASYNC_N; i++)); do
			printf 'url = "http://localhost/api/hubs/chat/groups/g%d/:send"\noutput = "/dev/null"\n' $((i % targets)) >>"$T/urls"
		done
		t0=$EPOCHREALTIME
		curl -s --no-progress-meter --parallel --parallel-max 64 --unix-socket "$T/ob-$w-$targets.sock" -X POST \
			-H 'Content-Type: text/plain' -H 'Prefer: respond-async' --data hello \
			-w '%{http_code}\n' -K "$T/urls" >"$T/codes"
		t1=$EPOCHREALTIME
		ok=$(grep -c '^202$' "$T/codes")
		[ "$ok" = "$ASYNC_N" ] || log "window $w, $targets targets: answers $(sort "$T/codes" | uniq -c | tr -s ' \n' ' ')"
		# bounded: at one message per round trip 1,000 messages take about 20 s at 20 ms
		for ((i = 0; i < 1200; i++)); do
			d=$(depth); [ "$d" = 0 ] && break; sleep 0.1
		done
		t2=$EPOCHREALTIME
		[ "$d" = 0 ] || log "window $w, $targets targets: the outbox still holds $d after 120 s"
		awk -v n="$ok" -v a="$t0" -v b="$t1" -v c="$t2" -v w="$w" -v k="$targets" -v all="$ASYNC_N" -v d="$d" 'BEGIN {
			printf "| %d | %d | %d of %d | %.0f msg/s | %.0f msg/s%s |\n", w, k, n, all, n / (b - a), (n - d) / (c - a),
			       (d == 0 ? "" : " (" d " left)") }' >>"$AROWS"
		stop_pid "$GW_PID"
	done
done
stop_pid "$RELAY_PID"

mkdir -p "$RESULTS_DIR"
out="$RESULTS_DIR/remote-$(date -u +%Y-%m-%d).md"
{
	echo "# bench/remote.sh, $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo
	echo "$(nproc) vCPU, $(uname -r); wpsgated $("$GW" -V 2>/dev/null | head -1); nginx $(nginx -v 2>&1 | sed 's/.*\///'); $(curl --version | head -1 | cut -d' ' -f1-2); service: nginx TLS behind bench/delay.c"
	echo
	echo "## Fresh-process callers ($SENDS sequential sends each; ms per send, process start to exit)"
	echo
	echo "| RTT | caller | p50 | p99 | p50 / direct | failed |"
	echo "|---|---|---|---|---|---|"
	cat "$ROWS"
	echo
	echo "## Durable async at $RTT_ASYNC ms ($ASYNC_N messages, one curl --parallel, 64 at a time)"
	echo
	echo "| max_inflight_per_target | targets | accepted | accept rate | drain rate (first post to depth 0) |"
	echo "|---|---|---|---|---|"
	cat "$AROWS"
} | tee "$out"
log "written to $out"
