#!/bin/bash
# run.sh: the wpsgate benchmark -- wpsgated against nginx proxy_pass on the same fixed-answer upstream, in one run.
#
# Usage: bench/run.sh            (10 s per case; QUICK=1 for 2 s per case)
#        bench/run.sh remote     (the remote TLS service, fresh processes, nginx+njs, async: bench/remote.sh)
# Env:   WPSGATED=path (default: ./wpsgated, then /work/build-bench/wpsgated), DURATION=10, WARMUP=2, CONNS=64,
#        SDK_CONC=16, INFLIGHT=10000, SLOW_MS=5000, PIN=1 (pin the proxy to the last CPU and the load generator and
#        upstream to the others), OUT=bench/results, GW_EXTRA_CONF='...' (appended to the gateway's config),
#        GW_LIMITS='max_header_bytes = 4096;' (added inside the gateway's limits group),
#        CASES="upstream nginx gw lat1 sdk tls inflight async" (a subset runs only those; lat1 = one connection).
# Needs: nginx, wrk, gnuplot (chart), node, cc, curl, openssl  (apt-get install nginx-light wrk gnuplot-nox).
# Uses only 127.0.0.1 and unix sockets in a temporary directory, and stops every process it started.
set -u
export LC_ALL=C
# bench/run.sh remote: the remote-service benchmark of issue 15 (bench/remote.sh; its options are there)
[ "${1:-}" = remote ] && { shift; exec "$(cd "$(dirname "$0")" && pwd)/remote.sh" "$@"; }

BENCH=$(cd "$(dirname "$0")" && pwd)
TOP=$(dirname "$BENCH")
QUICK=${QUICK:-0}
if [ "$QUICK" = 1 ]; then DUR=${DURATION:-2}; WARM=${WARMUP:-1}; else DUR=${DURATION:-10}; WARM=${WARMUP:-2}; fi
CONNS=${CONNS:-64}
SDK_CONC=${SDK_CONC:-16}
INFLIGHT=${INFLIGHT:-10000}
SLOW_MS=${SLOW_MS:-5000}
PIN=${PIN:-1}
OUT=${OUT:-$BENCH/results}
CASES=" ${CASES:-upstream nginx gw lat1 sdk tls inflight async} "
POOL=64                               # upstream pool size, the same for nginx (keepalive) and wpsgated
HUB_PATH="/api/hubs/bench/groups/g1/:send?api-version=2024-12-01"

die() { echo "run.sh: $*" >&2; exit 1; }
log() { echo "run.sh: $*" >&2; }
want() { case "$CASES" in *" $1 "*) return 0;; esac; return 1; }

# --- tools --------------------------------------------------------------------------------------------------------
missing=""
for t in nginx wrk node curl openssl cc; do command -v "$t" >/dev/null 2>&1 || missing="$missing $t"; done
[ -n "$missing" ] && die "missing:$missing (apt-get install nginx-light wrk gnuplot-nox nodejs curl openssl gcc," \
	"or scripts/deps.sh --bench)"
HAVE_GNUPLOT=1
command -v gnuplot >/dev/null 2>&1 || { HAVE_GNUPLOT=0; log "gnuplot missing: no chart (apt-get install gnuplot-nox)"; }
GW=${WPSGATED:-}
if [ -z "$GW" ]; then
	for c in ./wpsgated /work/build-bench/wpsgated; do [ -x "$c" ] && { GW=$(cd "$(dirname "$c")" && pwd)/wpsgated; break; }; done
fi
HAVE_GW=1
if [ -z "$GW" ] || [ ! -x "$GW" ]; then
	HAVE_GW=0; GW="(not built)"
	log "wpsgated not found (set WPSGATED=/path/to/wpsgated): only the nginx cases run"
fi
NODE_MODULES="$TOP/tests/node_modules/@azure/web-pubsub"
[ -d "$NODE_MODULES" ] || log "no $NODE_MODULES: the SDK case is skipped (run scripts/deps.sh)"

. "$BENCH/lib.sh"
bench_init wpsbench

# --- /proc figures of this benchmark ------------------------------------------------------------------------------
stub() { # stub FIELD(accepts|requests): the upstream nginx's counters (each call adds 1 to both)
	curl -s -m 5 "http://127.0.0.1:$UP_STATUS/status" | awk -v f="$1" 'NR == 3 { print (f == "accepts" ? $1 : $3) }'
}
mem_detail() { # mem_detail PID: "RSS kB (anon A kB)" of one process
	awk '/^VmRSS:/ { r = $2 } /^RssAnon:/ { a = $2 } END { printf "%d kB (anonymous %d kB, the rest file-backed library pages)", r, a }' "/proc/$1/status"
}


# --- build the C load generator -------------------------------------------------------------------------------------
cc -O2 $BENCH_CFLAGS -o "$T/uload" "$BENCH/uload.c" || die "cannot build bench/uload.c"

# --- certificates for the TLS variant ------------------------------------------------------------------------------
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=localhost \
	-addext "subjectAltName=DNS:localhost,IP:127.0.0.1" -keyout "$T/tls.key" -out "$T/tls.crt" 2>/dev/null \
	|| die "openssl req failed"

# --- the fixed-answer upstream: nginx returning 202, plain and TLS, with stub_status on its own port ----------------
alloc_port; UP=$PORT; alloc_port; UP_TLS=$PORT; alloc_port; UP_STATUS=$PORT
V6_LISTEN=""
ip -6 addr show lo 2>/dev/null | grep -q '::1' && V6_LISTEN="listen [::1]:$UP_TLS ssl;"

mkdir -p "$T/up"
{
	nginx_common "$T/up" 1
	cat <<EOF
    server { listen 127.0.0.1:$UP; location / { return 202; } }
    server {
        listen 127.0.0.1:$UP_TLS ssl; $V6_LISTEN
        ssl_certificate $T/tls.crt; ssl_certificate_key $T/tls.key;
        ssl_protocols TLSv1.2 TLSv1.3;
        location / { return 202; }
    }
    server { listen 127.0.0.1:$UP_STATUS; location /status { stub_status; } }
}
EOF
} >"$T/up/nginx.conf"
start_bg upstream $PIN_LOAD nginx -p "$T/up" -c "$T/up/nginx.conf" -g "daemon off;"
UP_PID=$LAST_PID
wait_port "$UP" "$UP_PID" upstream
wait_port "$UP_STATUS" "$UP_PID" upstream

# --- results -------------------------------------------------------------------------------------------------------
# rows.tsv: case tool rps p50 p90 p99 p999 cpu_ms_per_1k peak_rss_kb conns_per_10k errors
ROWS="$T/rows.tsv"; : >"$ROWS"
NOTES="$T/notes.txt"; : >"$NOTES"
note() { echo "$*" >>"$NOTES"; log "$*"; }

# run_load TOOL TARGET SECONDS [extra args]: prints one key=value line (wrk, uload or sdk)
run_load() {
	local tool=$1 target=$2 secs=$3; shift 3
	case $tool in
	wrk)
		timeout $((secs + 30)) $PIN_LOAD wrk -t1 -c"$CONNS" -d"${secs}s" --timeout 10s -s "$BENCH/post.lua" "http://$target" 2>&1 \
			| awk '/^WRKRESULT/ { sub(/^WRKRESULT /, ""); print }' ;;
	uload)
		local a=(-t "$target"); case $target in /*) a=(-u "$target");; esac
		timeout $((secs + 30)) $PIN_LOAD "$T/uload" "${a[@]}" -c "$CONNS" -d "$secs" -p "$HUB_PATH" -B "$T/body.json" \
			-H "Content-Type: application/json" "$@" ;;
	sdk)
		WPSGATE_SRCDIR=$TOP timeout $((secs + 60)) $PIN_LOAD node "$BENCH/sdk.js" "http://$target" "$SDK_CONC" "$secs" 2>&1 \
			| awk '/^SDKRESULT/ { sub(/^SDKRESULT /, ""); print }' ;;
	esac
}

# measure CASE TOOL TARGET PID [UPSTREAM_COUNTED]: warm up, then one measured run; appends a row
measure() {
	local name=$1 tool=$2 target=$3 pid=$4 counted=${5:-1} r c0 c1 a0 a1 q0 q1 reqs cpu rss conns
	[ "$WARM" != 0 ] && run_load "$tool" "$target" "$WARM" >/dev/null
	c0=$(cpu_ticks "$pid"); a0=$(stub accepts); q0=$(stub requests)
	r=$(run_load "$tool" "$target" "$DUR")
	c1=$(cpu_ticks "$pid"); a1=$(stub accepts); q1=$(stub requests)
	reqs=$(kv "$r" requests)
	if [ -z "$reqs" ] || [ "$reqs" = 0 ]; then
		note "$name ($tool): no result ($r)"
		return 1
	fi
	cpu=$(awk -v a="$c0" -v b="$c1" -v n="$reqs" -v hz="$CLK_TCK" 'BEGIN { printf "%.1f", (b - a) / hz / n * 1e6 }')
	rss=$(mem_kb "$pid" VmHWM)
	conns="-"
	if [ "$counted" = 1 ]; then  # minus the stub query itself; per 10,000 upstream requests
		conns=$(awk -v a=$((a1 - a0 - 1)) -v q=$((q1 - q0 - 1)) 'BEGIN { printf "%.1f", (q > 0 ? a * 10000 / q : 0) }')
	fi
	local errs=$(( $(kv "$r" errors) + 0 )); local other=$(kv "$r" other)$(kv "$r" non2xx)
	[ -n "$other" ] && [ "$other" != 0 ] && { note "$name ($tool): $other answers not 2xx (first: $(kv "$r" first_other))"; errs=$((errs + other)); }
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$tool" "$(kv "$r" rps)" "$(kv "$r" p50_us)" \
		"$(kv "$r" p90_us)" "$(kv "$r" p99_us)" "$(kv "$r" p999_us)" "$cpu" "$rss" "$conns" "$errs" >>"$ROWS"
	log "$(printf '%-28s %-5s %8s req/s  p50 %6s us  p99 %6s us  p99.9 %6s us  cpu %6s us/req  rss %6s kB  conns/10k %s' \
		"$name" "$tool" "$(kv "$r" rps)" "$(kv "$r" p50_us)" "$(kv "$r" p99_us)" "$(kv "$r" p999_us)" "$cpu" "$rss" "$conns")"
}

# --- nginx proxy_pass in front of the upstream ----------------------------------------------------------------------
start_nginx_proxy() { # start_nginx_proxy NAME WORKERS PORT UPSTREAM_URL_SCHEME UPSTREAM_PORT [LISTEN_FLAGS]
	local name=$1 workers=$2 port=$3 scheme=$4 upport=$5 lflags=${6:-} tls=""
	[ "$scheme" = https ] && tls="proxy_ssl_session_reuse on; proxy_ssl_server_name on; proxy_ssl_name localhost;
            proxy_ssl_verify on; proxy_ssl_trusted_certificate $T/tls.crt;"
	mkdir -p "$T/$name"
	{
		nginx_common "$T/$name" "$workers"
		cat <<EOF
    upstream up { server 127.0.0.1:$upport; keepalive $POOL; keepalive_requests 1000000; keepalive_timeout 120s; }
    server {
        listen 127.0.0.1:$port $lflags;
        location / {
            proxy_read_timeout 60s;
            proxy_pass $scheme://up;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            $tls
        }
    }
}
EOF
	} >"$T/$name/nginx.conf"
	local pin=$PIN_PUT; [ "$workers" != 1 ] && pin=""
	start_bg "$name" $pin nginx -p "$T/$name" -c "$T/$name/nginx.conf" -g "daemon off;"
	wait_port "$port" "$LAST_PID" "$name"
}

# --- wpsgated --------------------------------------------------------------------------------------------------------
printf 'bench-access-key-0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ' >"$T/key"; chmod 600 "$T/key"
start_gw() { # start_gw NAME PORT ENDPOINT [MAX_CONNECTIONS MAX_INFLIGHT TIMEOUT_MS]: sets LAST_PID; socket $T/NAME.sock
	local name=$1 port=$2 endpoint=$3 maxc=${4:-1024} maxi=${5:-10000} tmo=${6:-30000} att=""
	# upstream.attempt_timeout_ms (when this build knows it) as long as the whole timeout: a request queued
	# for a pool slot must not be answered 504 while the benchmark holds it in flight
	printf 'listen = { tcp = [ "127.0.0.1:%s" ]; };\nupstream = { endpoint = "http://127.0.0.1:%s"; access_key_file = "%s"; attempt_timeout_ms = %s; };\n' \
		"$port" "$UP" "$T/key" "$tmo" >"$T/try.conf"
	"$GW" -t -c "$T/try.conf" >/dev/null 2>&1 && att="attempt_timeout_ms = $tmo;"
	cat >"$T/$name.conf" <<EOF
listen = { unix = { path = "$T/$name.sock"; mode = "0660"; }; tcp = [ "127.0.0.1:$port" ]; };
upstream = { endpoint = "$endpoint"; access_key_file = "$T/key"; api_version = "2024-12-01"; $att
             timeout_ms = $tmo; max_connections = $POOL; ca_file = "$T/tls.crt"; };
limits = { max_connections = $maxc; max_inflight = $maxi; ${GW_LIMITS:-} };
log = { level = "warn"; };
${GW_EXTRA_CONF:-}
EOF
	# The durable outbox (Prefer: respond-async) when this build knows the section.
	if [ "$name" = gw ] && want async; then
		cp "$T/$name.conf" "$T/$name.conf.try"
		# max_rows above what DURATION seconds can accept (the default 100,000 fills in ~5 s at 20,000 msg/s
		# while one group drains at ~2,000 msg/s, and 503 QueueFull would then cap the accept figure)
		echo "outbox = { path = \"$T/outbox.db\"; max_rows = 2000000; max_bytes = 1073741824; };" >>"$T/$name.conf.try"
		"$GW" -t -c "$T/$name.conf.try" >/dev/null 2>&1 && mv "$T/$name.conf.try" "$T/$name.conf"
	fi
	start_bg "$name" $PIN_PUT "$GW" -c "$T/$name.conf"
	wait_port "$port" "$LAST_PID" "$name"
	wait_unix "$T/$name.sock"
}
probe() { # probe URL [curl args]: prints the status code
	curl -s -m 10 -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' --data-binary @"$T/body.json" "$@"
}

LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
awk -v l="${LOAD_START%% *}" 'BEGIN { exit !(l > 0.5) }' && log "warning: load average $LOAD_START before the run: other work on this machine skews the figures"
log "wpsgated: $GW; $DUR s per case (+$WARM s warm-up), $CONNS connections, $PIN_NOTE, ulimit -n $NOFILE"
GW_IDLE_RSS="-"; GW_IDLE_ANON="-"; GW_INFLIGHT="-"; NGX_INFLIGHT="-"; ASYNC_ACCEPT="-"; ASYNC_DRAIN="-"; ASYNC_NOTE=""

# 1. the upstream alone
if want upstream; then
	measure "upstream alone (nginx 202)" wrk "127.0.0.1:$UP" "$UP_PID" 0
	measure "upstream alone (nginx 202)" uload "127.0.0.1:$UP" "$UP_PID" 0
	want lat1 && CONNS=1 measure "upstream alone (nginx 202), 1 connection" uload "127.0.0.1:$UP" "$UP_PID" 0
fi

# 2. nginx proxy_pass, worker_processes 1 and auto
if want nginx; then
	alloc_port; NP=$PORT
	start_nginx_proxy ngx1 1 "$NP" http "$UP"; P=$LAST_PID
	[ "$(probe "http://127.0.0.1:$NP$HUB_PATH")" = 202 ] || note "nginx proxy does not answer 202"
	measure "nginx proxy_pass, 1 worker" wrk "127.0.0.1:$NP" "$P"
	measure "nginx proxy_pass, 1 worker" uload "127.0.0.1:$NP" "$P"
	want lat1 && CONNS=1 measure "nginx proxy_pass, 1 worker, 1 connection" uload "127.0.0.1:$NP" "$P"
	stop_pid "$P"
	alloc_port; NP=$PORT
	start_nginx_proxy ngxa auto "$NP" http "$UP"; P=$LAST_PID
	measure "nginx proxy_pass, auto workers" wrk "127.0.0.1:$NP" "$P"
	stop_pid "$P"
fi

# 3./4. wpsgated over TCP and over its Unix socket; 5. the SDK straight and through the gateway
if [ "$HAVE_GW" = 1 ] && { want gw || want sdk || want async; }; then
	alloc_port; GP=$PORT
	start_gw gw "$GP" "http://127.0.0.1:$UP"; GWPID=$LAST_PID
	sleep 0.5
	GW_IDLE_RSS=$(mem_kb "$GWPID" VmRSS)
	GW_IDLE_ANON=$(mem_kb "$GWPID" RssAnon)
	note "wpsgated idle: RSS $(mem_detail "$GWPID")"
	st=$(probe "http://127.0.0.1:$GP$HUB_PATH")
	[ "$st" = 202 ] || note "wpsgated answered $st to the benchmark request (expected 202)"
	if want gw; then
		measure "wpsgated, TCP" wrk "127.0.0.1:$GP" "$GWPID"
		measure "wpsgated, TCP" uload "127.0.0.1:$GP" "$GWPID"
		measure "wpsgated, unix socket" uload "$T/gw.sock" "$GWPID"
		if want lat1; then
			CONNS=1 measure "wpsgated, TCP, 1 connection" uload "127.0.0.1:$GP" "$GWPID"
			CONNS=1 measure "wpsgated, unix socket, 1 connection" uload "$T/gw.sock" "$GWPID"
		fi
		note "wpsgated after the load, idle again: RSS $(mem_detail "$GWPID")"
	fi
	if want sdk && [ -d "$NODE_MODULES" ]; then
		measure "SDK -> upstream directly" sdk "127.0.0.1:$UP" "$UP_PID" 0
		measure "SDK -> wpsgated -> upstream" sdk "127.0.0.1:$GP" "$GWPID"
	fi
	# durable async: only when the gateway answers 202 with Preference-Applied
	if want async; then
		hdr=$(curl -s -m 10 -D - -o /dev/null -X POST -H 'Content-Type: application/json' -H 'Prefer: respond-async' \
			--data-binary @"$T/body.json" "http://127.0.0.1:$GP$HUB_PATH" | tr -d '\r')
		if echo "$hdr" | head -1 | grep -q ' 202' && echo "$hdr" | grep -qi '^Preference-Applied:'; then
			sleep 1
			q0=$(stub requests); ta=$(date +%s.%N)
			r=$(run_load uload "127.0.0.1:$GP" "$DUR" -H "Prefer: respond-async")
			accepted=$(kv "$r" status2xx)
			ASYNC_ACCEPT=$(awk -v n="$accepted" -v t="$(kv "$r" seconds)" 'BEGIN { printf "%.0f", (t > 0 ? n / t : 0) }')
			# drain: wait (bounded) until the upstream has seen every accepted message
			last=$q0; tl=$ta; stall=0
			for i in $(seq 3000); do
				q=$(( $(stub requests) - q0 - i ))
				[ "$q" != "$last" ] && { last=$q; tl=$(date +%s.%N); stall=0; } || stall=$((stall + 1))
				[ "$q" -ge "$accepted" ] && break
				[ "$stall" -ge 50 ] && break
				sleep 0.1
			done
			ASYNC_DRAIN=$(awk -v n="$last" -v a="$ta" -v b="$tl" 'BEGIN { printf "%.0f", (b > a ? n / (b - a) : 0) }')
			ASYNC_NOTE="accepted $accepted in $DUR s, $(kv "$r" other) refused (first status: $(kv "$r" first_other)), delivered $last upstream"
			log "durable async: accept $ASYNC_ACCEPT msg/s, drain $ASYNC_DRAIN msg/s; $ASYNC_NOTE"
		else
			ASYNC_NOTE="not available (no 202 with Preference-Applied to Prefer: respond-async)"
			log "durable async: $ASYNC_NOTE"
		fi
	fi
	METRICS=$(curl -s -m 10 -w '\n%{http_code}' "http://127.0.0.1:$GP/metrics")
	if [ "$(echo "$METRICS" | tail -1)" = 200 ]; then
		echo "$METRICS" | sed '$d' >"$T/metrics.txt"
		note "/metrics after the runs: $(grep -c '^[a-z]' "$T/metrics.txt") samples"
	fi
	stop_pid "$GWPID"
fi

# 6. TLS upstream: nginx proxy vs wpsgated; upstream connections (= TLS handshakes) per 10,000 requests
if want tls; then
	alloc_port; NP=$PORT
	start_nginx_proxy ngxt 1 "$NP" https "$UP_TLS"; P=$LAST_PID
	[ "$(probe "http://127.0.0.1:$NP$HUB_PATH")" = 202 ] || note "nginx TLS proxy does not answer 202"
	measure "TLS: nginx proxy_pass, 1 worker" wrk "127.0.0.1:$NP" "$P"
	stop_pid "$P"
fi
if want tls && [ "$HAVE_GW" = 1 ]; then
	alloc_port; GP=$PORT
	start_gw gwt "$GP" "https://localhost:$UP_TLS"; P=$LAST_PID
	st=$(probe "http://127.0.0.1:$GP$HUB_PATH")
	[ "$st" = 202 ] || note "wpsgated (TLS upstream) answered $st (expected 202)"
	measure "TLS: wpsgated, TCP" wrk "127.0.0.1:$GP" "$P"
	stop_pid "$P"
fi

# 7. memory with INFLIGHT requests in flight against a slow upstream (answers after SLOW_MS)
inflight_rss() { # inflight_rss PID PORT_OR_SOCKET: prints "peakRSS_kB max_in_flight n2xx nother first_other errors"
	local pid=$1 target=$2 secs=$(( SLOW_MS / 1000 + 8 )) peak=0 v maxin=0 a=(-t "$2")
	case $target in /*) a=(-u "$target");; esac
	start_bg uload-inflight $PIN_LOAD "$T/uload" "${a[@]}" -o -c "$INFLIGHT" -d "$secs" -p "$HUB_PATH" \
		-B "$T/body.json" -H "Content-Type: application/json"
	local lp=$LAST_PID i
	for i in $(seq $(( secs * 10 + 50 ))); do
		kill -0 "$lp" 2>/dev/null || break
		v=$(mem_kb "$pid" VmRSS); [ "$v" -gt "$peak" ] && peak=$v
		sleep 0.1
	done
	stop_pid "$lp"
	maxin=$(awk '/in_flight=/ { sub(/.*in_flight=/, ""); sub(/ .*/, ""); if ($0 + 0 > m) m = $0 + 0 } END { print m + 0 }' \
		"$T/uload-inflight.log")
	local last; last=$(tail -1 "$T/uload-inflight.log")
	echo "$peak $maxin $(kv "$last" status2xx) $(kv "$last" other) $(kv "$last" first_other) $(kv "$last" errors)"
}
if want inflight; then
	if [ "$NOFILE" -lt $(( INFLIGHT + 512 )) ]; then
		note "in-flight memory: skipped, ulimit -n is $NOFILE (need $(( INFLIGHT + 512 )))"
	else
		alloc_port; SP=$PORT
		start_bg slowup $PIN_LOAD node "$BENCH/slowup.js" "$SP" "$SLOW_MS"; SPID=$LAST_PID
		wait_port "$SP" "$SPID" slowup
		if [ "$HAVE_GW" = 1 ]; then
			alloc_port; GP=$PORT
			start_gw gws "$GP" "http://127.0.0.1:$SP" $(( INFLIGHT + 1000 )) "$INFLIGHT" 60000; P=$LAST_PID
			set -- $(inflight_rss "$P" "$T/gws.sock")
			GW_INFLIGHT=$1
			note "wpsgated with up to $2 requests in flight (slow upstream holding each $SLOW_MS ms, pool $POOL): peak RSS $1 kB; answered before the client stopped: $3 with 2xx, $4 other (first: $5), $6 connection errors"
			kill -0 "$P" 2>/dev/null || note "wpsgated DIED during the in-flight test"
			sleep 1
			note "wpsgated after the in-flight test: RSS $(mem_detail "$P")"
			stop_pid "$P"
		fi
		# nginx holds two descriptors per request in flight (client + upstream): with ulimit -n below
		# 2 * INFLIGHT one worker cannot, so two workers share the load (listen reuseport spreads it evenly).
		alloc_port; NP=$PORT
		if [ "$NOFILE" -ge $(( 2 * INFLIGHT + 512 )) ]; then
			start_nginx_proxy ngxs 1 "$NP" http "$SP"; NW="1 worker"
		else
			start_nginx_proxy ngxs 2 "$NP" http "$SP" reuseport; NW="2 workers, reuseport"
		fi
		P=$LAST_PID
		set -- $(inflight_rss "$P" "127.0.0.1:$NP")
		NGX_INFLIGHT=$1
		note "nginx proxy_pass ($NW) with up to $2 requests in flight: peak RSS $1 kB (master + workers); answered: $3 with 2xx, $4 other (first: $5), $6 connection errors"
		stop_pid "$P"
		stop_pid "$SPID"
	fi
fi

# --- report ----------------------------------------------------------------------------------------------------------
mkdir -p "$OUT"
STAMP=$(date +%F); [ "$QUICK" = 1 ] && STAMP="$STAMP-quick"
MD="$OUT/$STAMP.md"; SVG="$OUT/$STAMP.svg"
get() { awk -F'\t' -v c="$1" -v t="$2" -v f="$3" '$1 == c && $2 == t { print $f; exit }' "$ROWS"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b == 0) print "-"; else printf "%.2f", a / b }'; }
N1_CPU=$(get "nginx proxy_pass, 1 worker" wrk 8); G_CPU=$(get "wpsgated, TCP" wrk 8)
N1_RPS=$(get "nginx proxy_pass, 1 worker" wrk 3); NA_RPS=$(get "nginx proxy_pass, auto workers" wrk 3)
G_RPS=$(get "wpsgated, TCP" wrk 3); N1_P99=$(get "nginx proxy_pass, 1 worker" wrk 6); G_P99=$(get "wpsgated, TCP" wrk 6)
N1U_RPS=$(get "nginx proxy_pass, 1 worker" uload 3); GU_RPS=$(get "wpsgated, TCP" uload 3)
GX_RPS=$(get "wpsgated, unix socket" uload 3)
N1U_P99=$(get "nginx proxy_pass, 1 worker" uload 6); GX_P99=$(get "wpsgated, unix socket" uload 6)
TN_RPS=$(get "TLS: nginx proxy_pass, 1 worker" wrk 3); TG_RPS=$(get "TLS: wpsgated, TCP" wrk 3)
TN_C=$(get "TLS: nginx proxy_pass, 1 worker" wrk 10); TG_C=$(get "TLS: wpsgated, TCP" wrk 10)
verdict() { awk -v v="$1" -v t="$2" -v op="$3" 'BEGIN { if (v == "-" || v == "") print "n/a"; else if ((op == ">=" && v + 0 >= t) || (op == "<=" && v + 0 <= t)) print "met"; else print "**not met**" }'; }
R_THR=$(ratio "$G_RPS" "$N1_RPS"); R_THRA=$(ratio "$G_RPS" "$NA_RPS"); R_P99=$(ratio "$G_P99" "$N1_P99")
R_UX=$(ratio "$GX_RPS" "$N1U_RPS"); R_UXP=$(ratio "$GX_P99" "$N1U_P99")
mib() { awk -v k="$1" 'BEGIN { if (k == "-" || k == "") print "-"; else printf "%.1f", k / 1024 }'; }
CPU_MODEL=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
{
	echo "# wpsgate benchmark, $(date '+%F %H:%M')"
	echo
	echo "Machine: $NCPU CPUs ($CPU_MODEL), kernel $(uname -r), $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)."
	echo "nginx $(nginx -v 2>&1 | sed 's/.*\///'), wrk $(wrk -v 2>&1 | awk 'NR == 1 { print $2 }'), node $(node -v), wpsgated at \`$GW\`."
	echo "Each case: $WARM s warm-up, then $DUR s measured; $CONNS keep-alive connections (SDK: $SDK_CONC concurrent calls);"
	echo "POST sendToGroup with a 256-byte JSON body; upstream pool $POOL connections; $PIN_NOTE."
	echo "Load average before the run: $LOAD_START; after: $(cut -d' ' -f1-3 /proc/loadavg) (anything above ~0.2 before means other work shared the CPUs)."
	echo
	echo "| case | client | req/s | p50 ms | p90 ms | p99 ms | p99.9 ms | CPU ms per 1000 req | peak RSS MiB | upstream conns per 10k req | errors |"
	echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
	awk -F'\t' '{ printf "| %s | %s | %s | %.3f | %.3f | %.3f | %.3f | %s | %.1f | %s | %s |\n", $1, $2, $3, $4 / 1000, $5 / 1000, $6 / 1000, $7 / 1000, $8, $9 / 1024, $10, $11 }' "$ROWS"
	echo
	echo "CPU and RSS are those of the process under test (nginx: master + workers), read from /proc before and after the"
	echo "measured window; for the \"upstream alone\" and \"SDK -> upstream\" rows that is the upstream nginx."
	echo "Upstream connections per 10,000 requests come from the upstream's stub_status (accepted connections / requests"
	echo "during the measured window, after warm-up); over TLS every new connection is one TLS handshake."
	echo
	echo "## Targets (issue 8), from this run"
	echo
	echo "| target | figure | verdict |"
	echo "|---|---|---|"
	echo "| throughput ≥ 1.2 × nginx proxy_pass (wrk, TCP, 1 worker) | $G_RPS / $N1_RPS = **$R_THR** | $(verdict "$R_THR" 1.2 '>=') |"
	echo "| the same against nginx with worker_processes auto | $G_RPS / $NA_RPS = **$R_THRA** | $(verdict "$R_THRA" 1.2 '>=') |"
	echo "| CPU per request, wpsgated / nginx 1 worker (wrk; the figure least disturbed by other load: ≤ 0.83 is what 1.2 × on one core needs) | $G_CPU / $N1_CPU µs = **$(ratio "$G_CPU" "$N1_CPU")** | $(verdict "$(ratio "$G_CPU" "$N1_CPU")" 0.83 '<=') |"
	echo "| p99 latency no worse than nginx (wrk, TCP) | $G_P99 µs vs $N1_P99 µs = **$R_P99** | $(verdict "$R_P99" 1.0 '<=') |"
	echo "| unix socket (uload) vs nginx TCP (uload): throughput | $GX_RPS / $N1U_RPS = **$R_UX** | $(verdict "$R_UX" 1.2 '>=') |"
	echo "| unix socket (uload) vs nginx TCP (uload): p99 | $GX_P99 µs vs $N1U_P99 µs = **$R_UXP** | $(verdict "$R_UXP" 1.0 '<=') |"
	echo "| idle RSS ≤ 8 MiB | $(mib "$GW_IDLE_RSS") MiB (anonymous $(mib "$GW_IDLE_ANON") MiB) | $(verdict "$(mib "$GW_IDLE_RSS")" 8 '<=') |"
	echo "| RSS with $INFLIGHT requests in flight ≤ 64 MiB | $(mib "$GW_INFLIGHT") MiB (nginx: $(mib "$NGX_INFLIGHT") MiB) | $(verdict "$(mib "$GW_INFLIGHT")" 64 '<=') |"
	echo "| durable async accept ≥ 20,000 msg/s | $ASYNC_ACCEPT msg/s (drain $ASYNC_DRAIN msg/s) ${ASYNC_NOTE:+— $ASYNC_NOTE} | $(verdict "$ASYNC_ACCEPT" 20000 '>=') |"
	echo "| TLS: upstream connections (handshakes) per 10k requests ≤ pool ($POOL) | wpsgated $TG_C, nginx $TN_C | $(verdict "$TG_C" "$POOL" '<=') |"
	echo "| TLS: throughput vs nginx | $TG_RPS / $TN_RPS = **$(ratio "$TG_RPS" "$TN_RPS")** | $(verdict "$(ratio "$TG_RPS" "$TN_RPS")" 1.2 '>=') |"
	echo
	if [ -s "$NOTES" ]; then echo "## Notes"; echo; sed 's/^/- /' "$NOTES"; echo; fi
	echo "Reproduce: \`bench/run.sh\` (QUICK=1 for 2 s per case). Chart: [$STAMP.svg]($STAMP.svg)."
} >"$MD"

if [ "$HAVE_GNUPLOT" = 1 ] && [ -s "$ROWS" ]; then
	# label, req/s, p99 ms, colour: upstream grey, nginx blue, wpsgated orange, SDK green
	awk -F'\t' '{ c = 8421504; if ($1 ~ /nginx/) c = 3832501; if ($1 ~ /wpsgated/) c = 14251782;
		if ($1 ~ /^upstream/) c = 8421504; if ($1 ~ /^SDK/) c = 5025616; printf "\"%s (%s)\"\t%s\t%.3f\t%d\n", $1, $2, $3, $6 / 1000, c }' "$ROWS" >"$T/chart.dat"
	gnuplot <<EOF 2>"$T/gnuplot.log" || log "gnuplot failed: $(cat "$T/gnuplot.log")"
set terminal svg size 1000,800 dynamic font "sans,11" background rgb "white"
set termoption noenhanced
set output "$SVG"
set datafile separator "\t"
set multiplot layout 2,1 title "wpsgate benchmark $STAMP: $NCPU CPUs, $CONNS connections, 256-byte POST\norange: wpsgated, blue: nginx proxy_pass, grey: upstream alone, green: SDK"
set style fill solid 0.85 border rgb "black"
set boxwidth 0.7
set grid ytics
set xtics rotate by -35 font ",9" nomirror
set yrange [0:*]
set xrange [-0.6:*]
set bmargin 10
set title "requests per second (higher is better)"
plot "$T/chart.dat" using 0:2:4:xtic(1) with boxes linecolor rgb variable notitle
set title "p99 latency, ms (lower is better)"
plot "$T/chart.dat" using 0:3:4:xtic(1) with boxes linecolor rgb variable notitle
unset multiplot
EOF
fi
cp "$ROWS" "$OUT/$STAMP.tsv"
[ -s "$T/metrics.txt" ] && cp "$T/metrics.txt" "$OUT/$STAMP-metrics.txt"
log "wrote $MD$([ -s "$SVG" ] && echo " and $SVG")"
cat "$MD"
