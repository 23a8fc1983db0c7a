#!/bin/bash
# remote.sh: the gateway where applications meet it (issue 15): a remote HTTPS service, fresh-process callers,
# the peer that does the same job (nginx signing with njs), long-lived callers, and durable async at a
# distance. One command, one run, ratios from that run: `bench/run.sh remote` (from the build directory).
#
# The service: nginx with TLS (self-signed certificate made here; `http2` on its listener) that reads each
# request's body (by proxying it to a `return 202` server beside it: an HTTP/2 `return 202` before the body
# is read resets the stream) and answers 202; behind bench/relay.c, which adds RTT/2 each way, the TCP
# handshake's round trip included (this kernel has no netem), and counts the connections it relays.
#
# Cases (all figures of one run):
#   check    the upstream's njs verifier (bench/sign.js verify: signature, aud = the exact URL, exp) accepts
#            the tokens of nginx+njs, of wpsgated and of the direct curl, and refuses one signed with
#            another key;
#   fresh    SENDS sequential sends at each RTT in RTTS, each a new process: curl straight to the service
#            with a valid token, curl --unix-socket to wpsgated, `wpsgate send`; p50/p99 per send;
#   long     LL_CONNS keep-alive clients (bench/uload.c) at each RTT in LL_RTTS: nginx+njs (1 worker and
#            auto, upstream keep-alive pool = clients, proxy_ssl_session_reuse on) against wpsgated with
#            upstream.http_version "1.1" (max_connections = clients) and "2" (max_connections 64);
#            req/s, p50/p99, CPU per request of the server processes, upstream connections opened;
#   async    Prefer: respond-async at RTT_ASYNC ms: one target and 100, max_inflight_per_target 1 and 16;
#            accept rate (uload, 64 connections) and drain rate (first post to outbox depth 0, and what
#            the service received).
# Env: RTTS="0 2 20" SENDS=200 LL_RTTS="0 2 20" LL_CONNS="64 512" DURATION=10 WARMUP=2 RTT_ASYNC=20
#      CASES="check fresh long async" PEERS="ngx1 ngxa gw11 gw2 gw2s" H2_CONNS=64 H2_SMALL=8 (upstream.max_connections
#      of wpsgated with HTTP/2: gw2 the default, gw2s a small pool)
#      ASYNC_CASES="1:1:500:64 ..." PERF_ASYNC=1 (perf record wpsgated for 2 s of each drain) ASYNC_LOG=1 (the
#      service logs arrivals: turnaround per target) PERF_LONG=1 (perf record each long-lived server for 4 s)
#      OUT=bench/results STAMP=DATE-remote WPSGATED=... WPSGATE=...
# Needs: nginx (nginx-light) with libnginx-mod-http-js, curl, openssl, cc, gnuplot for the chart
# (scripts/deps.sh --bench). Uses 127.0.0.1 and Unix sockets in a temporary directory only and stops every
# process it started.
set -u
export LC_ALL=C
BENCH=$(cd "$(dirname "$0")" && pwd)
TOP=$(cd "$BENCH/.." && pwd)
RTTS=${RTTS:-"0 2 20"}
SENDS=${SENDS:-200}
LL_RTTS=${LL_RTTS:-"0 2 20"}
LL_CONNS=${LL_CONNS:-"64 512"}
DUR=${DURATION:-10}
WARM=${WARMUP:-2}
RTT_ASYNC=${RTT_ASYNC:-20}
# max_inflight_per_target:targets:messages:outbox.max_inflight, each sized to drain in ~10 s or less
ASYNC_CASES=${ASYNC_CASES:-"1:1:500:64 16:1:4000:64 1:100:10000:64 16:100:20000:64 1:100:10000:256 16:100:20000:1024"}
CASES=" ${CASES:-check fresh long async} "
PEERS=${PEERS:-"ngx1 ngxa gw11 gw2 gw2s"}
H2_CONNS=${H2_CONNS:-64} # gw2: the default pool
H2_SMALL=${H2_SMALL:-8}  # gw2s: a small one
OUT=${OUT:-$BENCH/results}
STAMP=${STAMP:-$(date -u +%F)-remote}
NJS_SO=${NJS_SO:-/usr/lib/nginx/modules/ngx_http_js_module.so}
API=2024-12-01
HUB_PATH="/api/hubs/bench/groups/g1/:send?api-version=$API"
die() { echo "remote.sh: $*" >&2; exit 1; }
log() { echo "remote.sh: $*" >&2; }
want() { case "$CASES" in *" $1 "*) return 0;; esac; return 1; }

missing=""
for t in nginx curl openssl cc awk; do command -v "$t" >/dev/null 2>&1 || missing="$missing $t"; done
[ -f "$NJS_SO" ] || missing="$missing libnginx-mod-http-js($NJS_SO)"
[ -n "$missing" ] && die "missing:$missing (scripts/deps.sh --bench)"
GW=${WPSGATED:-}
[ -z "$GW" ] && for c in ./wpsgated /work/build-bench/wpsgated; do [ -x "$c" ] && { GW=$(cd "$(dirname "$c")" && pwd)/wpsgated; break; }; done
[ -n "$GW" ] && [ -x "$GW" ] || die "wpsgated not found: run from the build directory or set WPSGATED="
CLI=${WPSGATE:-$(dirname "$GW")/wpsgate}
[ -x "$CLI" ] || die "wpsgate (the client) not found: set WPSGATE="

. "$BENCH/lib.sh"
bench_init wpsremote
# No pinning: the relay, the service, the callers and the process under test share the two CPUs as they come.
cc -O2 -Wall $BENCH_CFLAGS -o "$T/relay" "$BENCH/relay.c" || die "cannot build bench/relay.c"
cc -O2 -Wall $BENCH_CFLAGS -o "$T/uload" "$BENCH/uload.c" || die "cannot build bench/uload.c"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=localhost \
	-addext "subjectAltName=DNS:localhost,IP:127.0.0.1" -keyout "$T/tls.key" -out "$T/tls.crt" 2>/dev/null ||
	die "openssl req failed"
KEY=bench-access-key-0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ
printf '%s' "$KEY" >"$T/key"; chmod 600 "$T/key"
printf '%s' "another-key-0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ" >"$T/badkey"; chmod 600 "$T/badkey"
export WPS_KEY="$KEY" # for bench/sign.js (nginx's `env WPS_KEY;` passes it to the workers)

ROWS=$T/rows.tsv; : >"$ROWS"    # kind rtt conns|- caller rps p50_ms p99_ms cpu_us conns errors
NOTES=$T/notes.txt; : >"$NOTES"
note() { echo "$*" >>"$NOTES"; log "$*"; }

# --- the service: nginx, TLS + http2, reading each body; a verifying listener; stub_status ------------------------
# ASYNC_LOG=1: the service logs when each request arrived (for the async cases' turnaround per target)
UP_LOG="access_log off;"
[ -n "${ASYNC_LOG:-}" ] && UP_LOG="access_log $T/up-access.log arrival;"
alloc_port; UP_TLS=$PORT; alloc_port; UP_PLAIN=$PORT; alloc_port; UP_VERIFY=$PORT; alloc_port; UP_STATUS=$PORT
njs_main() { echo "load_module $NJS_SO;"; echo "env WPS_KEY;"; }
{
	njs_main
	nginx_common "$T/up" auto
	cat <<EOF
    js_import sign from $BENCH/sign.js;
    log_format arrival '\$msec \$uri';
    upstream plain { server 127.0.0.1:$UP_PLAIN; keepalive 64; keepalive_requests 1000000; }
    server { listen 127.0.0.1:$UP_PLAIN; location / { return 202; } }
    server { listen 127.0.0.1:$UP_STATUS; location / { stub_status; } }
    server {
        listen 127.0.0.1:$UP_TLS ssl http2;
        ssl_certificate $T/tls.crt; ssl_certificate_key $T/tls.key; ssl_protocols TLSv1.2 TLSv1.3;
        ssl_session_cache shared:up:10m; $UP_LOG
        location / { proxy_pass http://plain; proxy_http_version 1.1; proxy_set_header Connection ""; }
    }
    server {
        listen 127.0.0.1:$UP_VERIFY ssl http2;
        ssl_certificate $T/tls.crt; ssl_certificate_key $T/tls.key; ssl_protocols TLSv1.2 TLSv1.3;
        location / { js_content sign.verify; }
    }
}
EOF
} >"$T/up.conf"
start_bg upstream nginx -p "$T/up" -c "$T/up.conf" -g "daemon off;"
UP_PID=$LAST_PID
wait_port "$UP_TLS" "$UP_PID" upstream
# requests the service's nginx handled (+1 per call); each message is two: the TLS listener's and the 202's
served() { curl -s -m 5 "http://127.0.0.1:$UP_STATUS/" | awk 'NR == 3 { print $3 }'; }

start_relay() { # start_relay NAME RTT_MS TARGET_PORT: sets RELAY (port) and RELAY_PID; stats in $T/NAME.stats
	alloc_port; RELAY=$PORT
	start_bg "$1" "$T/relay" -l "$RELAY" -t "$3" -r "$2" -s "$T/$1.stats"
	RELAY_PID=$LAST_PID
	wait_port "$RELAY" "$RELAY_PID" "$1"
}
relay_stat() { awk -v k="$2" '{ for (i = 1; i < NF; i += 2) if ($i == k) print $(i + 1) }' "$T/$1.stats"; }

# start_gw NAME RELAY_PORT [UPSTREAM_KEYS] [OUTBOX_KEYS]: sets GW_PID, GW_PORT, GW_METRICS; socket $T/NAME.sock
start_gw() {
	local name=$1 relay=$2 upx=${3:-} ob=""
	alloc_port; GW_PORT=$PORT; alloc_port; GW_METRICS=$PORT
	[ -n "${4:-}" ] && ob="outbox = { path = \"$T/$name.db\"; max_rows = 1000000; $4 };"
	cat >"$T/$name.conf" <<EOF
listen = { unix = { path = "$T/$name.sock"; mode = "0660"; }; tcp = [ "127.0.0.1:$GW_PORT" ]; };
upstream = { endpoint = "https://127.0.0.1:$relay"; access_key_file = "$T/key"; ca_file = "$T/tls.crt";
             api_version = "$API"; timeout_ms = 30000; attempt_timeout_ms = 30000; $upx };
limits = { max_connections = 4096; max_inflight = 20000; };
metrics = { listen = "127.0.0.1:$GW_METRICS"; };
log = { level = "warn"; };
$ob
EOF
	start_bg "$name" "$GW" -c "$T/$name.conf"
	GW_PID=$LAST_PID
	wait_port "$GW_PORT" "$GW_PID" "$name"
	wait_unix "$T/$name.sock"
}

# start_peer NAME WORKERS RELAY_PORT POOL: nginx + njs signing, proxy_pass over TLS; sets PEER_PID, PEER_PORT
start_peer() {
	local name=$1 workers=$2 relay=$3 pool=$4
	alloc_port; PEER_PORT=$PORT
	{
		njs_main
		nginx_common "$T/$name" "$workers"
		cat <<EOF
    js_import sign from $BENCH/sign.js;
    js_set \$wps_authorization sign.authorization;
    upstream svc { server 127.0.0.1:$relay; keepalive $pool; keepalive_requests 1000000; keepalive_timeout 120s; }
    server {
        listen 127.0.0.1:$PEER_PORT;
        location / {
            set \$wps_upstream https://127.0.0.1:$relay;
            proxy_pass https://svc;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host 127.0.0.1:$relay;
            proxy_set_header Authorization \$wps_authorization;
            proxy_ssl_session_reuse on; proxy_ssl_server_name on; proxy_ssl_name localhost;
            proxy_ssl_verify on; proxy_ssl_trusted_certificate $T/tls.crt;
            proxy_read_timeout 60s;
        }
    }
}
EOF
	} >"$T/$name.conf"
	start_bg "$name" nginx -p "$T/$name" -c "$T/$name.conf" -g "daemon off;"
	PEER_PID=$LAST_PID
	wait_port "$PEER_PORT" "$PEER_PID" "$name"
}

b64url() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }
token() { # token URL [KEYFILE]: an HS256 JWT for the service, aud the exact URL, valid 10 minutes
	local now h p k
	k=$(cat "${2:-$T/key}")
	now=$(date +%s)
	h=$(printf '{"alg":"HS256","typ":"JWT"}' | b64url)
	p=$(printf '{"aud":"%s","iat":%d,"exp":%d}' "$1" "$now" $((now + 600)) | b64url)
	printf '%s.%s.%s' "$h" "$p" "$(printf '%s.%s' "$h" "$p" | openssl dgst -sha256 -hmac "$k" -binary | b64url)"
}
post() { # post URL [curl args]: the status code of one POST of the benchmark body
	curl -s -m 10 -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
		--data-binary @"$T/body.json" "$@"
}
busy_ticks() { awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8; exit }' /proc/stat; } # all CPUs, not idle
pct() { # pct FILE P: the P-th percentile (nearest rank) of the numbers in FILE, one decimal
	sort -n "$1" | awk -v p="$2" '{ v[NR] = $1 } END { i = int(NR * p / 100 + 0.999); if (i < 1) i = 1; printf "%.1f", v[i] }'
}

LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
T_START=$(date +%s)
log "wpsgated $GW; nginx $(nginx -v 2>&1 | sed 's/.*\///'); $(curl --version | head -1 | cut -d' ' -f1-2); load $LOAD_START"

# --- 0. the service accepts the tokens ----------------------------------------------------------------------------
CHECK="not run"
if want check; then
	start_relay relay-check 0 "$UP_VERIFY"
	start_peer ngx-check 1 "$RELAY" 8
	c_ngx=$(post "http://127.0.0.1:$PEER_PORT$HUB_PATH")
	stop_pid "$PEER_PID"
	start_gw gw-check "$RELAY"
	c_gw=$(post "http://localhost$HUB_PATH" --unix-socket "$T/gw-check.sock")
	stop_pid "$GW_PID"
	url="https://127.0.0.1:$RELAY$HUB_PATH"
	c_direct=$(post "$url" --cacert "$T/tls.crt" -H "Authorization: Bearer $(token "$url")")
	c_bad=$(post "$url" --cacert "$T/tls.crt" -H "Authorization: Bearer $(token "$url" "$T/badkey")")
	c_aud=$(post "$url" --cacert "$T/tls.crt" -H "Authorization: Bearer $(token "https://127.0.0.1:$RELAY/api/hubs/other/:send?api-version=$API")")
	stop_pid "$RELAY_PID"
	CHECK="nginx+njs $c_ngx, wpsgated $c_gw, direct curl $c_direct; another key $c_bad, another aud $c_aud (expected 202, 202, 202; 401, 401)"
	[ "$c_ngx $c_gw $c_direct $c_bad $c_aud" = "202 202 202 401 401" ] || die "token check failed: $CHECK"
	log "token check: $CHECK"
fi

# --- 1. fresh-process callers -------------------------------------------------------------------------------------
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
if want fresh; then
	note "wpsgate (the client) loads $(ldd "$CLI" | wc -l) objects, libcurl $(ldd "$CLI" | grep -q libcurl && echo yes || echo no); curl $(ldd "$(command -v curl)" | wc -l)"
	for rtt in $RTTS; do
		start_relay "relay-f$rtt" "$rtt" "$UP_TLS"
		start_gw "gw-f$rtt" "$RELAY"
		url="https://127.0.0.1:$RELAY$HUB_PATH"
		tok=$(token "$url")
		c=$(post "$url" --cacert "$T/tls.crt" -H "Authorization: Bearer $tok")
		[ "$c" = 202 ] || die "the service through the relay answered $c"
		for i in 1 2 3; do post "http://localhost$HUB_PATH" --unix-socket "$T/gw-f$rtt.sock" >/dev/null; done
		a0=$(relay_stat "relay-f$rtt" connections)
		f1=$(timed "$T/direct-$rtt" curl -sSf -o /dev/null --cacert "$T/tls.crt" -X POST -H "Authorization: Bearer $tok" \
			-H 'Content-Type: application/json' --data-binary @"$T/body.json" "$url")
		a1=$(relay_stat "relay-f$rtt" connections)
		f2=$(timed "$T/gwcurl-$rtt" curl -sf -o /dev/null --unix-socket "$T/gw-f$rtt.sock" -X POST \
			-H 'Content-Type: application/json' --data-binary @"$T/body.json" "http://localhost$HUB_PATH")
		f3=$(timed "$T/cli-$rtt" "$CLI" --socket "$T/gw-f$rtt.sock" send --hub bench --group g1 --json "$(cat "$T/body.json")")
		a2=$(relay_stat "relay-f$rtt" connections)
		[ "$f1$f2$f3" = 000 ] || note "RTT $rtt ms: failures direct $f1, gateway curl $f2, wpsgate send $f3: $(cat "$T/direct-$rtt.err" "$T/gwcurl-$rtt.err" "$T/cli-$rtt.err" | sort | uniq -c | head -3 | tr -s ' \n' ' ')"
		for k in direct:"curl straight to the service (TLS)":$f1:$((a1 - a0)) gwcurl:"curl --unix-socket to wpsgated":$f2:- \
			cli:"wpsgate send":$f3:-; do
			IFS=: read -r f name fails conns <<<"$k"
			[ "$f" = cli ] && conns=$((a2 - a1))
			printf 'fresh\t%s\t-\t%s\t-\t%s\t%s\t-\t%s\t%s\n' "$rtt" "$name" "$(pct "$T/$f-$rtt" 50)" "$(pct "$T/$f-$rtt" 99)" \
				"$conns" "$fails" >>"$ROWS"
		done
		log "RTT $rtt ms: p50 direct $(pct "$T/direct-$rtt" 50) ms, curl to wpsgated $(pct "$T/gwcurl-$rtt" 50) ms, wpsgate send $(pct "$T/cli-$rtt" 50) ms; upstream connections: direct $((a1 - a0)), both gateway callers $((a2 - a1))"
		stop_pid "$GW_PID"; stop_pid "$RELAY_PID"
	done
fi

# --- 2. long-lived callers ----------------------------------------------------------------------------------------
# measure NAME RTT CONNS PID PORT RELAYNAME: warm-up, then one measured run with uload; appends a row
measure() {
	local name=$1 rtt=$2 conns=$3 pid=$4 port=$5 relay=$6 r c0 c1 reqs cpu errs other
	"$T/uload" -t "127.0.0.1:$port" -c "$conns" -d "$WARM" -p "$HUB_PATH" -B "$T/body.json" \
		-H "Content-Type: application/json" >/dev/null
	c0=$(cpu_ticks "$pid"); m0=$(busy_ticks); t0=$EPOCHREALTIME
	local perf_pid="" pf="$OUT/$STAMP-perf-$(echo "$name" | tr -c 'a-zA-Z0-9.\n' '-' | tr -s '-')-$rtt-$conns"
	if [ -n "${PERF_LONG:-}" ]; then # PERF_LONG=1: perf record the server (all its processes) for 4 s of the window
		perf record -q -F 999 -g -p "$(tree_pids "$pid" | paste -sd, -)" -o "$T/perf.data" -- sleep 4 >/dev/null 2>&1 &
		perf_pid=$!
	fi
	r=$(timeout $((DUR + 30)) "$T/uload" -t "127.0.0.1:$port" -c "$conns" -d "$DUR" -p "$HUB_PATH" -B "$T/body.json" \
		-H "Content-Type: application/json")
	c1=$(cpu_ticks "$pid"); m1=$(busy_ticks); t1=$EPOCHREALTIME
	if [ -n "$perf_pid" ]; then
		wait "$perf_pid"
		mkdir -p "$OUT"
		{ echo "# $name, RTT $rtt ms, $conns clients: perf record -F 999 -g, 4 s; by shared object, then by symbol (self)"
		  perf report -i "$T/perf.data" --stdio --no-children --sort dso 2>/dev/null | grep -E '^ +[0-9.]+%' | head -15
		  echo
		  perf report -i "$T/perf.data" --stdio --no-children --sort dso,sym 2>/dev/null | grep -E '^ +[0-9.]+%' | head -40
		} >"$pf.txt"
	fi
	busy=$(awk -v a="$m0" -v b="$m1" -v t0="$t0" -v t1="$t1" -v hz="$CLK_TCK" -v c="$NCPU" 'BEGIN { printf "%.0f", (b - a) / hz / (t1 - t0) / c * 100 }')
	reqs=$(kv "$r" requests)
	[ -n "$reqs" ] && [ "$reqs" != 0 ] || { note "$name, RTT $rtt, $conns clients: no result ($r)"; return 1; }
	cpu=$(awk -v a="$c0" -v b="$c1" -v n="$reqs" -v hz="$CLK_TCK" 'BEGIN { printf "%.1f", (b - a) / hz / n * 1e6 }')
	other=$(kv "$r" other); errs=$(( $(kv "$r" errors) + other ))
	[ "$other" != 0 ] && note "$name, RTT $rtt, $conns clients: $other answers not 2xx (first $(kv "$r" first_other))"
	printf 'long\t%s\t%s\t%s\t%s\t%.2f\t%.2f\t%s\t%s\t%s\t%s\n' "$rtt" "$conns" "$name" "$(kv "$r" rps)" \
		"$(awk -v v="$(kv "$r" p50_us)" 'BEGIN { print v / 1000 }')" "$(awk -v v="$(kv "$r" p99_us)" 'BEGIN { print v / 1000 }')" \
		"$cpu" "$(relay_stat "$relay" connections)/$(relay_stat "$relay" max_active)" "$errs" "$busy" >>"$ROWS"
	log "$(printf '%-24s RTT %2s ms %3s clients: %7s req/s  p50 %7s us  p99 %7s us  cpu %6s us/req  upstream conns opened %s, peak %s, machine %s%% busy' \
		"$name" "$rtt" "$conns" "$(kv "$r" rps)" "$(kv "$r" p50_us)" "$(kv "$r" p99_us)" "$cpu" "$(relay_stat "$relay" connections)" "$(relay_stat "$relay" max_active)" "$busy")"
}
if want long; then
	for rtt in $LL_RTTS; do
		for n in $LL_CONNS; do
			for peer in $PEERS; do
				start_relay "relay-$peer-$rtt-$n" "$rtt" "$UP_TLS"; rl="relay-$peer-$rtt-$n"
				case $peer in
				ngx1) start_peer "$peer-$rtt-$n" 1 "$RELAY" "$n"; P=$PEER_PID; PP=$PEER_PORT; label="nginx+njs, 1 worker";;
				ngxa) start_peer "$peer-$rtt-$n" auto "$RELAY" "$n"; P=$PEER_PID; PP=$PEER_PORT; label="nginx+njs, auto workers";;
				gw11) start_gw "$peer-$rtt-$n" "$RELAY" "http_version = \"1.1\"; max_connections = $n;"; P=$GW_PID; PP=$GW_PORT
				      label="wpsgated, upstream HTTP/1.1";;
				gw2) start_gw "$peer-$rtt-$n" "$RELAY" "http_version = \"2\"; max_connections = $H2_CONNS;"; P=$GW_PID; PP=$GW_PORT
				     label="wpsgated, upstream HTTP/2";;
				gw2s) start_gw "$peer-$rtt-$n" "$RELAY" "http_version = \"2\"; max_connections = $H2_SMALL;"; P=$GW_PID; PP=$GW_PORT
				      label="wpsgated, upstream HTTP/2, $H2_SMALL connections";;
				esac
				c=$(post "http://127.0.0.1:$PP$HUB_PATH")
				[ "$c" = 202 ] || note "$label, RTT $rtt: answered $c to the probe"
				measure "$label" "$rtt" "$n" "$P" "$PP" "$rl"
				stop_pid "$P"; stop_pid "$RELAY_PID"
			done
		done
	done
fi

# --- 3. durable async at RTT_ASYNC ms -----------------------------------------------------------------------------
AROWS=$T/async.tsv; : >"$AROWS" # window targets messages accepted accept_rate drain_rate served seconds drain_after max_inflight gw_cpu_us_per_msg machine_busy_pct
metric() { curl -s -m 5 "http://127.0.0.1:$GW_METRICS/metrics" | awk -v m="$1" '$1 == m { print $2 }'; }
if want async; then
	start_relay relay-async "$RTT_ASYNC" "$UP_TLS"
	for c in $ASYNC_CASES; do
		IFS=: read -r w k nmsg mi <<<"$c"
		start_gw "ob-$w-$k-$mi" "$RELAY" "" "max_inflight_per_target = $w; max_inflight = $mi;"
		s0=$(served); g0=$(cpu_ticks "$GW_PID"); m0=$(busy_ticks)
		t0=$EPOCHREALTIME
		r=$("$T/uload" -u "$T/ob-$w-$k-$mi.sock" -c 64 -n "$nmsg" -T "$k" -d 120 -p "/api/hubs/bench/groups/g%d/:send?api-version=$API" \
			-B "$T/body.json" -H "Content-Type: application/json" -H "Prefer: respond-async")
		t1=$EPOCHREALTIME
		d1=$(metric wpsgate_outbox_depth)
		ok=$(kv "$r" status2xx)
		[ "$ok" = "$nmsg" ] || note "async window $w, $k targets: $ok of $nmsg accepted ($r)"
		if [ -n "${PERF_ASYNC:-}" ]; then # PERF_ASYNC=1: where wpsgated's time goes while it drains (2 s)
			perf record -q -F 999 -g -p "$GW_PID" -o "$T/perf-$w-$k-$mi.data" -- sleep 2 >/dev/null 2>&1
			perf report -i "$T/perf-$w-$k-$mi.data" --stdio --no-children --sort comm,dso,sym 2>/dev/null | grep -E '^ +[0-9.]+%' \
				| head -40 >"$OUT/$STAMP-perf-async-$w-$k-$mi.txt"
		fi
		d=""
		for ((i = 0; i < 1200; i++)); do # bounded: 120 s
			d=$(metric wpsgate_outbox_depth); [ "$d" = 0 ] && break; sleep 0.1
		done
		t2=$EPOCHREALTIME
		s1=$(served); g1=$(cpu_ticks "$GW_PID"); m1=$(busy_ticks)
		[ "$d" = 0 ] || note "async window $w, $k targets: the outbox still held $d after 120 s"
		printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$w" "$k" "$nmsg" "$ok" \
			"$(awk -v n="$ok" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", n / (b - a) }')" \
			"$(awk -v n="$ok" -v d="${d:-0}" -v a="$t0" -v b="$t2" 'BEGIN { printf "%.0f", (n - d) / (b - a) }')" \
			"$(( (s1 - s0 - 1) / 2 ))" "$(awk -v a="$t0" -v b="$t2" 'BEGIN { printf "%.2f", b - a }')" \
			"$(awk -v n="$d1" -v d="${d:-0}" -v a="$t1" -v b="$t2" 'BEGIN { printf "%.0f", (b > a ? (n - d) / (b - a) : 0) }')" "$mi" \
			"$(awk -v a="$g0" -v b="$g1" -v n="$ok" -v hz="$CLK_TCK" 'BEGIN { printf "%.0f", (b - a) / hz / n * 1e6 }')" \
			"$(awk -v a="$m0" -v b="$m1" -v t0="$t0" -v t1="$t2" -v hz="$CLK_TCK" -v c="$NCPU" 'BEGIN { printf "%.0f", (b - a) / hz / (t1 - t0) / c * 100 }')" >>"$AROWS"
		log "async window $w, $k targets, max_inflight $mi: $(tail -1 "$AROWS" | awk -F'\t' '{ printf "accept %s msg/s, drain %s msg/s (after the accepts %s), the service got %s of %s in %s s; wpsgated %s us/msg, machine %s%% busy", $5, $6, $9, $7, $4, $8, $11, $12 }')"
		if [ -n "${ASYNC_LOG:-}" ] && [ "$w" = 1 ] && [ -s "$T/up-access.log" ]; then
			# per target: the time from one message's arrival at the service to the next one's, minus the
			# round trip: what the gateway takes from an answer to the next hand-out and submit
			awk -v a="$t0" -v b="$t2" -v rtt="$RTT_ASYNC" '$1 >= a && $1 <= b { if ($2 in last) print ($1 - last[$2]) * 1000 - rtt; last[$2] = $1 }' \
				"$T/up-access.log" | sort -n >"$T/turn"
			note "async window $w, $k targets, max_inflight $mi: turnaround per target beyond the $RTT_ASYNC ms round trip (from the service's arrival log, $(wc -l <"$T/turn") gaps): p10 $(pct "$T/turn" 10) ms, p50 $(pct "$T/turn" 50) ms, p90 $(pct "$T/turn" 90) ms, p99 $(pct "$T/turn" 99) ms"
		fi
		stop_pid "$GW_PID"
	done
	note "relay for async: $(cat "$T/relay-async.stats")"
	stop_pid "$RELAY_PID"
fi

# --- report -------------------------------------------------------------------------------------------------------
mkdir -p "$OUT"
MD=$OUT/$STAMP.md; SVG=$OUT/$STAMP.svg
cp "$ROWS" "$OUT/$STAMP.tsv"; [ -s "$AROWS" ] && cp "$AROWS" "$OUT/$STAMP-async.tsv"
fget() { awk -F'\t' -v r="$1" -v c="$2" -v f="$3" '$1 == "fresh" && $2 == r && $4 == c { print $f; exit }' "$ROWS"; }
lget() { awk -F'\t' -v r="$1" -v n="$2" -v c="$3" -v f="$4" '$1 == "long" && $2 == r && $3 == n && $4 == c { print $f; exit }' "$ROWS"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b == 0) print "-"; else printf "%.2f", a / b }'; }
verdict() { awk -v v="$1" -v t="$2" -v op="$3" 'BEGIN { if (v == "-" || v == "") print "n/a"; else if ((op == ">=" && v + 0 >= t) || (op == "<=" && v + 0 <= t)) print "met"; else print "**not met**" }'; }
CPU_MODEL=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
{
	echo "# bench/run.sh remote, $(date -u '+%F %H:%M UTC')"
	echo
	echo "Machine: $NCPU CPUs ($CPU_MODEL), kernel $(uname -r); **shared with other builds and tests while it ran** (load average $LOAD_START before, $(cut -d' ' -f1-3 /proc/loadavg) after; $(( $(date +%s) - T_START )) s in all)."
	echo "wpsgated \`$GW\` at $(git -C "$TOP" rev-parse --short HEAD 2>/dev/null || echo '?'); nginx $(nginx -v 2>&1 | sed 's/.*\///') + njs $(dpkg-query -W -f='${Version}' libnginx-mod-http-js 2>/dev/null); $(curl --version | head -1 | cut -d' ' -f1-2); OpenSSL $(openssl version | cut -d' ' -f2)."
	echo "The service: nginx TLS 1.3 (\`http2\` on its listener, P-256 certificate made for the run) answering 202 after reading the body, behind bench/relay.c (RTT/2 each way, the TCP handshake's round trip included)."
	echo "Every request: POST sendToGroup with a 256-byte JSON body. Token check: $CHECK (bench/sign.js verify, in the service's nginx)."
	echo
	if grep -q '^fresh' "$ROWS"; then
		echo "## Fresh-process callers ($SENDS sequential sends each; ms per send, fork to exit)"
		echo
		echo "| RTT | caller | p50 ms | p99 ms | p50 / direct curl | upstream connections opened | failed |"
		echo "|---:|---|---:|---:|---:|---:|---:|"
		awk -F'\t' '$1 == "fresh" { if ($4 ~ /^curl straight/) d[$2] = $6; printf "| %s ms | %s | %s | %s | %s | %s | %s |\n", $2, $4, $6, $7, (d[$2] > 0 ? sprintf("%.2f", $6 / d[$2]) : "-"), $9, $10 }' "$ROWS"
		echo
		echo "Upstream connections: for the direct curl one per send (each a full TCP + TLS handshake); for the gateway's callers the relay's count over both (2 × $SENDS sends)."
		echo
	fi
	if grep -q '^long' "$ROWS"; then
		echo "## Long-lived callers (bench/uload.c, keep-alive, one request per connection at a time; $WARM s warm-up + $DUR s)"
		echo
		echo "| RTT | clients | server | req/s | × nginx+njs 1 worker | p50 ms | p99 ms | CPU µs/req | × nginx+njs 1 worker | upstream connections opened / peak open | errors | machine busy % |"
		echo "|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
		awk -F'\t' '$1 == "long" { k = $2 " " $3; if ($4 == "nginx+njs, 1 worker") { r[k] = $5; c[k] = $8 }
			printf "| %s ms | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", $2, $3, $4, $5, (r[k] > 0 ? sprintf("%.2f", $5 / r[k]) : "-"),
			$6, $7, $8, (c[k] > 0 ? sprintf("%.2f", $8 / c[k]) : "-"), $9, $10, $11 }' "$ROWS"
		echo
		echo "CPU: utime+stime of the server's processes (nginx master + workers, or wpsgated) over the measured window, per request. Upstream connections: opened through the relay during the case (warm-up included), each a TLS handshake (full or resumed), and the most open at once; nginx closes an upstream connection whose client went away mid-request, as every uload run's clients do when it stops (so its count includes one pool's worth after the warm-up); nginx's pool is as large as the clients, wpsgated's is max_connections = clients for HTTP/1.1, and for HTTP/2 the default 64 or $H2_SMALL. Machine busy: all CPUs, every process (the other builds on the machine included), over the measured window: near 100 % the case is CPU-bound, whoever spends it."
		echo
	fi
	if [ -s "$AROWS" ]; then
		echo "## Durable async at $RTT_ASYNC ms (Prefer: respond-async; uload, 64 connections over the Unix socket)"
		echo
		echo "| max_inflight_per_target | outbox.max_inflight | targets | messages | accepted | accept msg/s | drain msg/s | × one target (same window) | drain after the accepts msg/s | the service received | seconds | wpsgated CPU µs/msg | machine busy % |"
		echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
		awk -F'\t' '{ if ($2 == 1) one[$1] = $6; printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", $1, $10, $2, $3, $4, $5, $6, ($2 != 1 && one[$1] > 0 ? sprintf("%.1f", $6 / one[$1]) : "-"), $9, $7, $8, $11, $12 }' "$AROWS"
		echo
		echo "Drain: from the first post until the gateway's wpsgate_outbox_depth is 0 (the accepts overlap it); after the accepts: what was still queued when the last 202 came, over the time until depth 0. outbox.max_inflight (default 64) bounds the messages in flight for all targets together. Machine busy: all CPUs, every process (the other builds included), over the case. The service's count is its stub_status (requests of its TLS listener during the case): equal to accepted when every message arrived once, nothing lost."
		echo
	fi
	# targets
	D20=$(fget 20 "curl straight to the service (TLS)" 6); S20=$(fget 20 "wpsgate send" 6); C20=$(fget 20 "curl --unix-socket to wpsgated" 6)
	N512=$(lget 20 512 "nginx+njs, 1 worker" 5); G512=$(lget 20 512 "wpsgated, upstream HTTP/2" 5)
	N512p=$(lget 20 512 "nginx+njs, 1 worker" 7); G512p=$(lget 20 512 "wpsgated, upstream HTTP/2" 7)
	N512c=$(lget 20 512 "nginx+njs, 1 worker" 9); G512c=$(lget 20 512 "wpsgated, upstream HTTP/2" 9)
	N512c=${N512c#*/}; G512c=${G512c#*/} # the peak open at once
	S512=$(lget 20 512 "wpsgated, upstream HTTP/2, $H2_SMALL connections" 5); S512p=$(lget 20 512 "wpsgated, upstream HTTP/2, $H2_SMALL connections" 7)
	S512c=$(lget 20 512 "wpsgated, upstream HTTP/2, $H2_SMALL connections" 9); S512c=${S512c#*/}
	N0=$(lget 0 64 "nginx+njs, 1 worker" 5); G0=$(lget 0 64 "wpsgated, upstream HTTP/2" 5); G011=$(lget 0 64 "wpsgated, upstream HTTP/1.1" 5)
	N0c=$(lget 0 64 "nginx+njs, 1 worker" 8); G0c=$(lget 0 64 "wpsgated, upstream HTTP/2" 8); G011c=$(lget 0 64 "wpsgated, upstream HTTP/1.1" 8)
	A1=$(awk -F'\t' '$1 == 1 && $2 == 1 && $10 == 64 { print $6 }' "$AROWS"); A100=$(awk -F'\t' '$1 == 1 && $2 == 100 && $10 == 64 { print $6 }' "$AROWS")
	A100b=$(awk -F'\t' '$1 == 1 && $2 == 100 && $10 != 64 { print $6 " with outbox.max_inflight " $10; exit }' "$AROWS")
	echo "## Targets (issue 15), from this run"
	echo
	echo "| target | figure | verdict |"
	echo "|---|---|---|"
	echo "| fresh process at 20 ms: wpsgate send p50 ≤ 0.5 × direct curl | $S20 / $D20 ms = **$(ratio "$S20" "$D20")** (curl --unix-socket: $(ratio "$C20" "$D20")) | $(verdict "$(ratio "$S20" "$D20")" 0.5 '<=') |"
	echo "| 20 ms, 512 clients: throughput ≥ 1.0 × nginx+njs 1 worker (HTTP/2) | $G512 / $N512 = **$(ratio "$G512" "$N512")** (max_connections $H2_SMALL: $(ratio "$S512" "$N512")) | $(verdict "$(ratio "$G512" "$N512")" 1.0 '>=') |"
	echo "| … with p99 no worse | $G512p vs $N512p ms = **$(ratio "$G512p" "$N512p")** ($H2_SMALL: $(ratio "$S512p" "$N512p")) | $(verdict "$(ratio "$G512p" "$N512p")" 1.0 '<=') |"
	echo "| … using ≤ 1/8 of its upstream connections (peak open) | $G512c vs $N512c = **$(ratio "$G512c" "$N512c")** ($H2_SMALL: $(ratio "$S512c" "$N512c")) | $(verdict "$(ratio "$G512c" "$N512c")" 0.125 '<=') |"
	echo "| 0 ms, 64 clients: throughput ≥ 0.8 × nginx+njs 1 worker | HTTP/2 $G0 / $N0 = **$(ratio "$G0" "$N0")**; HTTP/1.1 $(ratio "$G011" "$N0") | $(verdict "$(ratio "$G0" "$N0")" 0.8 '>=') |"
	echo "| 0 ms over TLS: CPU per request ≤ 1.5 × nginx+njs | HTTP/2 $G0c / $N0c µs = **$(ratio "$G0c" "$N0c")**; HTTP/1.1 $(ratio "$G011c" "$N0c") | $(verdict "$(ratio "$G0c" "$N0c")" 1.5 '<=') |"
	echo "| async at $RTT_ASYNC ms: 100 targets drain ≥ 40 × one (max_inflight_per_target 1) | $A100 / $A1 msg/s = **$(ratio "$A100" "$A1")** (defaults; ${A100b:-no other row}: $(ratio "${A100b%% *}" "$A1")) | $(verdict "$(ratio "$A100" "$A1")" 40 '>=') |"
	echo
	if [ -s "$NOTES" ]; then echo "## Notes"; echo; sed 's/^/- /' "$NOTES"; echo; fi
	echo "Reproduce: \`bench/run.sh remote\` from the build directory (\`CASES=\"check fresh long async\"\`, \`RTTS\`, \`SENDS\`, \`LL_RTTS\`, \`LL_CONNS\`, \`DURATION\`, \`RTT_ASYNC\`). Raw rows: [$STAMP.tsv]($STAMP.tsv), [$STAMP-async.tsv]($STAMP-async.tsv); chart: [$STAMP.svg]($STAMP.svg)."
} >"$MD"

if command -v gnuplot >/dev/null 2>&1 && grep -q . "$ROWS"; then
	# fresh: p50 per RTT and caller; long: req/s per case
	awk -F'\t' '$1 == "fresh" { c = ($4 ~ /^curl straight/ ? 3832501 : ($4 ~ /^curl --unix/ ? 16750848 : 14251782));
		printf "\"%s ms: %s\"\t%s\t%d\n", $2, $4, $6, c }' "$ROWS" >"$T/fresh.dat"
	awk -F'\t' '$1 == "long" { c = ($4 ~ /1 worker/ ? 3832501 : ($4 ~ /auto/ ? 7115263 : ($4 ~ /1\.1/ ? 16750848 : ($4 ~ /connections$/ ? 10040115 : 14251782))));
		printf "\"%s ms, %s: %s\"\t%s\t%d\n", $2, $3, $4, $5, c }' "$ROWS" >"$T/long.dat"
	gnuplot <<EOF 2>"$T/gnuplot.log" || log "gnuplot failed: $(cat "$T/gnuplot.log")"
set terminal svg size 1100,900 dynamic font "sans,11" background rgb "white"
set termoption noenhanced
set output "$SVG"
set datafile separator "\t"
set multiplot layout 2,1 title "bench/run.sh remote $STAMP: $NCPU CPUs (shared), TLS service behind a latency relay"
set style fill solid 0.85 border rgb "black"
set boxwidth 0.7
set grid ytics
set xtics rotate by -35 font ",8" nomirror
set yrange [0:*]
set xrange [-0.6:*]
set bmargin 11
set title "fresh process per send: p50 ms (lower is better); blue: curl direct over TLS, light orange: curl to wpsgated, orange: wpsgate send"
plot "$T/fresh.dat" using 0:2:3:xtic(1) with boxes linecolor rgb variable notitle
set title "long-lived keep-alive clients: requests/s (higher is better); blue: nginx+njs 1 worker, light blue: auto, light orange: wpsgated h1.1, orange: wpsgated h2"
plot "$T/long.dat" using 0:2:3:xtic(1) with boxes linecolor rgb variable notitle
unset multiplot
EOF
fi
log "wrote $MD$([ -s "$SVG" ] && echo " and $SVG")"
cat "$MD"
