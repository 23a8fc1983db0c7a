#!/bin/bash
# run.sh: the library floor -- what libmicrohttpd and libcurl cost by themselves, against nginx proxy_pass.
#
# Usage: bench/floor/run.sh          (DURATION=10 s per case; QUICK=1 for 2 s)
# Env:   DURATION=10, WARMUP=2 (QUICK: 1), CONNS=64 (client connections and curl transfers), INFLIGHT=10000,
#        SLOW_MS=5000 (how long mhdfloor -s holds each request), MEM_LIMIT=32768 (MHD's per-connection pool in the
#        in-flight test; the throughput cases always use 32768, wpsgated's default), PIN=1 (process under test on the last CPU, load
#        generator and upstream on the others), CC=cc.
# Needs: nginx, curl, cc, pkg-config, libmicrohttpd/libcurl/libcrypto development files, taskset (util-linux).
# Uses only 127.0.0.1 and unix sockets in a temporary directory; stops only the processes it started.
set -u
export LC_ALL=C

FLOOR=$(cd "$(dirname "$0")" && pwd)
BENCH=$(dirname "$FLOOR")
QUICK=${QUICK:-0}
if [ "$QUICK" = 1 ]; then DUR=${DURATION:-2}; WARM=${WARMUP:-1}; else DUR=${DURATION:-10}; WARM=${WARMUP:-2}; fi
CONNS=${CONNS:-64}
INFLIGHT=${INFLIGHT:-10000}
SLOW_MS=${SLOW_MS:-5000}
MEM_LIMIT=${MEM_LIMIT:-32768}
PIN=${PIN:-1}
CC=${CC:-cc}
HUB_PATH="/api/hubs/bench/groups/g1/:send?api-version=2024-12-01"
WARN="-Wall -Wextra -Wshadow -Wformat=2 -Wstrict-prototypes -Wmissing-prototypes -Wcast-qual -Wwrite-strings"

die() { echo "floor: $*" >&2; exit 1; }
log() { echo "floor: $*" >&2; }

missing=""
for t in nginx curl "$CC" pkg-config; do command -v "$t" >/dev/null 2>&1 || missing="$missing $t"; done
[ -n "$missing" ] && die "missing:$missing"
pkg-config --exists libmicrohttpd libcurl libcrypto || die "pkg-config cannot find libmicrohttpd, libcurl or libcrypto"

. "$BENCH/lib.sh"
bench_init wpsfloor

# --- /proc figures of the floor -------------------------------------------------------------------------------------
top_maps() { # top_maps PID: the file-backed mappings with the most resident kB, "name kB" comma-separated
	awk '/^[0-9a-f]+-[0-9a-f]+ / { name = ($6 == "" ? "[anon]" : $6); sub(/.*\//, "", name) }
	     /^Rss:/ { rss[name] += $2 }
	     END { for (n in rss) if (n != "[anon]" && n !~ /^\[/) print rss[n], n }' "/proc/$1/smaps" 2>/dev/null \
		| sort -rn | head -"${2:-8}" | awk '{ printf "%s%s %s kB", (NR > 1 ? ", " : ""), $2, $1 }'
}
nlibs() { grep -c '\.so' <(awk '$6 ~ /\.so/ { print $6 }' "/proc/$1/maps" | sort -u); }

# shellcheck disable=SC2046,SC2086
{
	$CC -O2 $BENCH_CFLAGS $WARN -DFLOOR_CURL -o "$T/mhdfloor" "$FLOOR/mhdfloor.c" \
		$(pkg-config --cflags --libs libmicrohttpd libcurl libcrypto) &&
	$CC -O2 $BENCH_CFLAGS $WARN -o "$T/mhdfloor-mhdonly" "$FLOOR/mhdfloor.c" $(pkg-config --cflags --libs libmicrohttpd) &&
	$CC -O2 $BENCH_CFLAGS $WARN -o "$T/curlfloor" "$FLOOR/curlfloor.c" $(pkg-config --cflags --libs libcurl) &&
	$CC -O2 $BENCH_CFLAGS -o "$T/uload" "$BENCH/uload.c"
} || die "build failed"

# --- nginx: the fixed-answer upstream and the proxy_pass reference (nginx_common from bench/lib.sh) ----------------
alloc_port; UP=$PORT; mkdir -p "$T/up"
{
	nginx_common "$T/up" 1
	echo "    server { listen 127.0.0.1:$UP; location / { return 202; } }"
	echo "}"
} >"$T/up/nginx.conf"
start_bg upstream $PIN_LOAD nginx -p "$T/up" -c "$T/up/nginx.conf" -g "daemon off;"
UP_PID=$LAST_PID
wait_port "$UP" "$UP_PID" upstream

start_nginx_proxy() { # start_nginx_proxy NAME PORT: one worker, keepalive 64 to the upstream, pinned
	local name=$1 port=$2; mkdir -p "$T/$name"
	{
		nginx_common "$T/$name" 1
		cat <<EOF
    upstream up { server 127.0.0.1:$UP; keepalive $CONNS; keepalive_requests 1000000; keepalive_timeout 120s; }
    server {
        listen 127.0.0.1:$port;
        location / {
            proxy_read_timeout 60s;
            proxy_pass http://up;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
EOF
	} >"$T/$name/nginx.conf"
	start_bg "$name" $PIN_PUT nginx -p "$T/$name" -c "$T/$name/nginx.conf" -g "daemon off;"
	wait_port "$port" "$LAST_PID" "$name"
}
probe() { # probe URL: the status code of one benchmark POST
	curl -s -m 10 -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
		--data-binary @"$T/body.json" "$1" 2>/dev/null || echo "(curl failed)"
}

# --- measuring ----------------------------------------------------------------------------------------------------
ROWS="$T/rows.tsv"; : >"$ROWS"       # label, req/s, CPU us/req, CPU busy %, errors
NOTES="$T/notes.txt"; : >"$NOTES"
note() { echo "$*" >>"$NOTES"; log "$*"; }
uload_run() { # uload_run TARGET SECONDS [args]
	local a=(-t "$1"); case $1 in /*) a=(-u "$1");; esac
	timeout $(($2 + 30)) $PIN_LOAD "$T/uload" "${a[@]}" -c "$CONNS" -d "$2" -p "$HUB_PATH" -B "$T/body.json" \
		-H "Content-Type: application/json" "${@:3}"
}
row() { # row LABEL RPS CPU_US BUSY_PCT ERRORS
	printf '%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "$5" >>"$ROWS"
	log "$(printf '%-52s %8s req/s  cpu %6s us/req  busy %5s %%  errors %s' "$1" "$2" "$3" "$4" "$5")"
}
measure() { # measure LABEL TARGET PID: warm-up, then DUR s of uload; CPU of PID's tree from /proc
	local label=$1 target=$2 pid=$3 r c0 c1 t0 t1 reqs cpu busy errs
	[ "$WARM" != 0 ] && uload_run "$target" "$WARM" >/dev/null
	c0=$(cpu_ticks "$pid"); t0=$(date +%s.%N)
	r=$(uload_run "$target" "$DUR")
	c1=$(cpu_ticks "$pid"); t1=$(date +%s.%N)
	reqs=$(kv "$r" requests)
	if [ -z "$reqs" ] || [ "$reqs" = 0 ]; then note "$label: no result ($r)"; return 1; fi
	cpu=$(awk -v a="$c0" -v b="$c1" -v n="$reqs" -v hz="$CLK_TCK" 'BEGIN { printf "%.1f", (b - a) / hz / n * 1e6 }')
	busy=$(awk -v a="$c0" -v b="$c1" -v s="$t0" -v e="$t1" -v hz="$CLK_TCK" 'BEGIN { printf "%.0f", (b - a) / hz / (e - s) * 100 }')
	errs=$(( $(kv "$r" errors) + $(kv "$r" other) ))
	row "$label" "$(kv "$r" rps)" "$cpu" "$busy" "$errs"
}

LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
awk -v l="${LOAD_START%% *}" 'BEGIN { exit !(l > 0.5) }' && log "warning: load average $LOAD_START before the run"
log "$DUR s per case (+$WARM s warm-up), $CONNS connections, $PIN_NOTE, ulimit -n $NOFILE"

# (a) nginx proxy_pass, 1 worker
alloc_port; NP=$PORT
start_nginx_proxy ngx1 "$NP"; P=$LAST_PID
[ "$(probe "http://127.0.0.1:$NP$HUB_PATH")" = 202 ] || note "nginx proxy does not answer 202"
measure "(a) nginx proxy_pass, 1 worker -> upstream" "127.0.0.1:$NP" "$P"
stop_pid "$P"

# (b) mhdfloor answering at once, TCP and unix socket; idle RSS right after start
alloc_port; MP=$PORT
start_bg mhd-b $PIN_PUT "$T/mhdfloor" -p "$MP"; P=$LAST_PID
wait_port "$MP" "$P" mhd-b
sleep 0.5
IDLE_RSS=$(mem_kb "$P" VmRSS); IDLE_ANON=$(mem_kb "$P" RssAnon); IDLE_FILE=$(mem_kb "$P" RssFile)
IDLE_LIBS=$(nlibs "$P")
[ "$(probe "http://127.0.0.1:$MP$HUB_PATH")" = 202 ] || note "mhdfloor does not answer 202"
measure "(b) mhdfloor, answer at once (TCP)" "127.0.0.1:$MP" "$P"
stop_pid "$P"
start_bg mhd-bu $PIN_PUT "$T/mhdfloor" -u "$T/b.sock"; P=$LAST_PID
wait_unix "$T/b.sock"
measure "(b') mhdfloor, answer at once (unix socket)" "$T/b.sock" "$P"
stop_pid "$P"

# (c) mhdfloor suspending and resuming every request
alloc_port; MP=$PORT
start_bg mhd-c $PIN_PUT "$T/mhdfloor" -r -p "$MP"; P=$LAST_PID
wait_port "$MP" "$P" mhd-c
[ "$(probe "http://127.0.0.1:$MP$HUB_PATH")" = 202 ] || note "mhdfloor -r does not answer 202"
measure "(c) mhdfloor -r, suspend + resume (TCP)" "127.0.0.1:$MP" "$P"
stop_pid "$P"

# (d) curlfloor -> upstream nginx: curlfloor's own CPU (getrusage over its measured window); the multi socket API
# with epoll (as wpsgated's upstream.c), then (d') curl_multi_perform + curl_multi_poll
curl_case() { # curl_case LABEL [curlfloor args]
	local label=$1 r busy; shift
	r=$(timeout $((WARM + DUR + 30)) $PIN_PUT "$T/curlfloor" -t "127.0.0.1:$UP" -n "$CONNS" -w "$WARM" -d "$DUR" "$@" \
		2>"$T/curl.log")
	if [ -z "$(kv "$r" requests)" ] || [ "$(kv "$r" requests)" = 0 ]; then
		note "$label: no result ($r; $(tail -3 "$T/curl.log"))"
		return 1
	fi
	busy=$(awk -v c="$(kv "$r" cpu_us_per_req)" -v n="$(kv "$r" requests)" -v s="$(kv "$r" seconds)" \
		'BEGIN { printf "%.0f", c * n / 1e6 / s * 100 }')
	row "$label" "$(kv "$r" rps)" "$(kv "$r" cpu_us_per_req)" "$busy" $(( $(kv "$r" errors) + $(kv "$r" non202) ))
	note "$label: user $(kv "$r" user_us_per_req) µs + sys $(kv "$r" sys_us_per_req) µs per request"
}
curl_case "(d) curlfloor, $CONNS transfers, socket API -> upstream nginx"
curl_case "(d') curlfloor -P, $CONNS transfers, curl_multi_poll -> upstream nginx" -P

# idle RSS: MHD only; MHD+curl+crypto linked; the same with curl_global_init + OPENSSL_init_crypto (-c)
idle_probe() { # idle_probe NAME CMD...: sets IP to (rss anon file libs top-mappings...)
	local name=$1 p; shift
	start_bg "$name" "$@" -u "$T/$name.sock"; p=$LAST_PID
	wait_unix "$T/$name.sock"
	sleep 0.5
	IP=("$(mem_kb "$p" VmRSS)" "$(mem_kb "$p" RssAnon)" "$(mem_kb "$p" RssFile)" "$(nlibs "$p")" "$(top_maps "$p" 6)")
	stop_pid "$p"
}
idle_probe idle-mhd "$T/mhdfloor-mhdonly"; I1=("${IP[@]}")
idle_probe idle-c "$T/mhdfloor" -c; I3=("${IP[@]}")
note "idle RSS, mhdfloor linked with libmicrohttpd only: ${I1[0]} kB (anonymous ${I1[1]} kB, file ${I1[2]} kB, ${I1[3]} shared objects mapped)"
note "idle RSS, mhdfloor linked with libmicrohttpd + libcurl + libcrypto: $IDLE_RSS kB (anonymous $IDLE_ANON kB, file $IDLE_FILE kB, $IDLE_LIBS shared objects mapped)"
note "idle RSS, the same after curl_global_init + OPENSSL_init_crypto (-c): ${I3[0]} kB (anonymous ${I3[1]} kB, file ${I3[2]} kB, ${I3[3]} shared objects); largest resident mappings: ${I3[*]:4}"

# RSS of mhdfloor -s SLOW_MS with INFLIGHT requests held (uload -o over the unix socket, as bench/run.sh): the
# highest RSS while every request is still suspended (samples taken before SLOW_MS has passed since the first
# connect), and the peak (VmHWM) including the moment the held requests are answered.
INF_HOLD="-"; INF_PEAK="-"; INF_IDLE="-"; INF_MAX="-"
per() { # per KB: (KB - idle) / requests in flight
	awk -v a="$1" -v b="$INF_IDLE" -v n="$INF_MAX" 'BEGIN { if (n > 0 && a != "-") printf "%.2f", (a - b) / n; else print "-" }'
}
if [ "$NOFILE" -lt $(( INFLIGHT + 512 )) ]; then
	note "in-flight RSS: skipped, ulimit -n is $NOFILE (need $(( INFLIGHT + 512 )))"
else
	start_bg mhd-s $PIN_PUT "$T/mhdfloor" -s "$SLOW_MS" -m "$MEM_LIMIT" -u "$T/s.sock"; P=$LAST_PID
	wait_unix "$T/s.sock"
	sleep 0.5
	INF_IDLE=$(mem_kb "$P" VmRSS)
	secs=$(( SLOW_MS / 1000 + 8 ))
	ts=$(date +%s%N)
	start_bg uload-inflight $PIN_LOAD "$T/uload" -u "$T/s.sock" -o -c "$INFLIGHT" -d "$secs" -p "$HUB_PATH" \
		-B "$T/body.json" -H "Content-Type: application/json"
	LP=$LAST_PID; hold=0; hold_at=0
	for i in $(seq $(( secs * 10 + 50 ))); do
		kill -0 "$LP" 2>/dev/null || break
		v=$(mem_kb "$P" VmRSS); el=$(( ($(date +%s%N) - ts) / 1000000 ))
		[ "$el" -lt $(( SLOW_MS - 100 )) ] && [ "$v" -gt "$hold" ] && { hold=$v; hold_at=$el; }
		sleep 0.1
	done
	stop_pid "$LP"
	INF_HOLD=$hold
	INF_PEAK=$(mem_kb "$P" VmHWM)
	INF_MAX=$(awk '/in_flight=/ { sub(/.*in_flight=/, ""); sub(/ .*/, ""); if ($0 + 0 > m) m = $0 + 0 } END { print m + 0 }' \
		"$T/uload-inflight.log")
	last=$(tail -1 "$T/uload-inflight.log")
	kill -0 "$P" 2>/dev/null || note "mhdfloor -s DIED during the in-flight test"
	note "mhdfloor -s $SLOW_MS -m $MEM_LIMIT, up to $INF_MAX requests in flight (uload progress: $(grep -o 'in_flight=[0-9]*' "$T/uload-inflight.log" | tr '\n' ' ')): idle $INF_IDLE kB; held: $INF_HOLD kB at $hold_at ms ($(per "$INF_HOLD") kB per request); peak after the answers (VmHWM): $INF_PEAK kB ($(per "$INF_PEAK") kB per connection); answered: $(kv "$last" status2xx) with 2xx, $(kv "$last" other) other, $(kv "$last" errors) connection errors"
	stop_pid "$P"
fi
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)

# --- report ----------------------------------------------------------------------------------------------------------
get() { awk -F'\t' -v c="$1" -v f="$2" 'index($1, c) == 1 { print $f; exit }' "$ROWS"; }
A=$(get "(a)" 3); B=$(get "(b)" 3); C=$(get "(c)" 3); D1=$(get "(d)" 3); D2=$(get "(d')" 3)
D=$(awk -v x="$D1" -v y="$D2" 'BEGIN { if (x == "") print y; else if (y == "" || x + 0 <= y + 0) print x; else print y }')
DWHICH="(d)"; [ -n "$D" ] && [ "$D" != "$D1" ] && DWHICH="(d')"
mib() { awk -v k="$1" 'BEGIN { if (k == "-" || k == "") print "-"; else printf "%.1f", k / 1024 }'; }
{
	echo "## libmicrohttpd + libcurl floor, $(date '+%F %H:%M')"
	echo
	echo "$NCPU CPUs ($(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)), kernel $(uname -r);" \
		"libmicrohttpd $(pkg-config --modversion libmicrohttpd), libcurl $(pkg-config --modversion libcurl)," \
		"nginx $(nginx -v 2>&1 | sed 's/.*\///')."
	echo "$WARM s warm-up + $DUR s measured per case; $CONNS keep-alive client connections (uload) or $CONNS curl" \
		"transfers; POST with a 256-byte JSON body; $PIN_NOTE."
	echo "mhdfloor: MHD_USE_EPOLL driven by its own external epoll loop (not MHD_USE_EPOLL_INTERNAL_THREAD), one thread."
	echo "Load average before: $LOAD_START; after: $LOAD_END."
	echo
	echo "| case | req/s | CPU µs per request | CPU busy % | errors |"
	echo "|---|---:|---:|---:|---:|"
	awk -F'\t' '{ printf "| %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5 }' "$ROWS"
	echo
	echo "| memory | figure |"
	echo "|---|---:|"
	echo "| idle RSS, mhdfloor linked with libmicrohttpd only | $(mib "${I1[0]}") MiB (anon $(mib "${I1[1]}")) |"
	echo "| idle RSS, mhdfloor linked with libmicrohttpd + libcurl + libcrypto | $(mib "$IDLE_RSS") MiB (anon $(mib "$IDLE_ANON")) |"
	echo "| idle RSS, the same + curl_global_init + OPENSSL_init_crypto (-c) | $(mib "${I3[0]}") MiB (anon $(mib "${I3[1]}")) |"
	echo "| RSS, mhdfloor -s $SLOW_MS with $INF_MAX requests held (suspended) | $(mib "$INF_HOLD") MiB ($(per "$INF_HOLD") KiB per request) |"
	echo "| peak RSS (VmHWM) of the same once they are answered, connections kept alive | $(mib "$INF_PEAK") MiB ($(per "$INF_PEAK") KiB per connection) |"
	echo
	awk -v a="$A" -v b="$B" -v c="$C" -v d="$D" -v dw="$DWHICH" 'BEGIN {
		if (a == "" || d == "" || (b == "" && c == "")) { print "Floor: not computed (a case has no result)."; exit }
		budget = a / 1.2
		print "Floor (CPU µs per request on one core; the budget is what 1.2 × nginx'"'"'s throughput on one core allows;"
		print "curl'"'"'s share is the cheaper of (d) and (d'"'"')):"
		print ""
		print "| | µs per request |"
		print "|---|---:|"
		printf "| budget = (a) / 1.2 = %.1f / 1.2 | **%.1f** |\n", a, budget
		if (b != "") printf "| floor without suspend = (b) + %s = %.1f + %.1f | **%.1f** (%.0f %% of the budget) |\n", dw, b, d, b + d, (b + d) / budget * 100
		if (c != "") printf "| floor with suspend/resume = (c) + %s = %.1f + %.1f (wpsgated always suspends) | **%.1f** (%.0f %% of the budget) |\n", dw, c, d, c + d, (c + d) / budget * 100
		if (c != "") printf "| left for everything else (validation, signing, logging, metrics) | %.1f |\n", budget - (c + d)
		printf "| curl alone %s vs nginx'"'"'s whole proxy (a) | %.2f × |\n", dw, d / a
	}'
	echo
	if [ -s "$NOTES" ]; then echo "Notes:"; echo; sed 's/^/- /' "$NOTES"; fi
} >"$T/report.md"
cat "$T/report.md"
