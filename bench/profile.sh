#!/bin/bash
# profile.sh: where wpsgated's CPU goes under wrk load -- perf (cycles, call graphs) or callgrind (instructions).
#
# Usage: bench/profile.sh [perf|callgrind]      (default perf)
# Env:   WPSGATED=path (default /work/build-bench/wpsgated), DURATION=10, CONNS=64, OUT=/tmp/wpsprof,
#        ENDPOINT_TLS=1 (upstream over TLS, endpoint https://localhost:PORT)
# Starts an nginx fixed-answer upstream (202) and wpsgated on 127.0.0.1, loads the gateway with wrk
# (bench/post.lua: POST sendToGroup, 256-byte JSON), and writes $OUT/report.txt (top symbols, self and children)
# or $OUT/callgrind.out + $OUT/callgrind.txt. Everything it starts is stopped on exit.
set -u
export LC_ALL=C
BENCH=$(cd "$(dirname "$0")" && pwd)
MODE=${1:-perf}
GW=${WPSGATED:-/work/build-bench/wpsgated}
DUR=${DURATION:-10}
CONNS=${CONNS:-64}
OUT=${OUT:-/tmp/wpsprof}
TLS=${ENDPOINT_TLS:-0}
die() { echo "profile.sh: $*" >&2; exit 1; }
[ -x "$GW" ] || die "no wpsgated at $GW (set WPSGATED)"
for t in nginx wrk openssl; do command -v $t >/dev/null || die "missing $t"; done
[ "$MODE" = perf ] && { command -v perf >/dev/null || die "missing perf (apt-get install linux-perf)"; }
[ "$MODE" = callgrind ] && { command -v valgrind >/dev/null || die "missing valgrind"; }
mkdir -p "$OUT"

T=$(mktemp -d /tmp/wpsprof.XXXXXX); chmod 755 "$T"
PIDS=""
cleanup() { for p in $PIDS; do kill "$p" 2>/dev/null; done; sleep 0.3; for p in $PIDS; do kill -9 "$p" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT
trap 'exit 130' INT TERM
port() { local p=$(( 10000 + RANDOM % 20000 )); while (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; do p=$((p + 1)); done; echo $p; }
wait_port() { for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done; die "nothing on port $1"; }

UP=$(port); GP=$(port); [ "$GP" = "$UP" ] && GP=$((UP + 1))
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=localhost \
	-addext "subjectAltName=DNS:localhost,IP:127.0.0.1" -keyout "$T/tls.key" -out "$T/tls.crt" 2>/dev/null
SSL=""; SCHEME=http; HOST=127.0.0.1
[ "$TLS" = 1 ] && { SSL="ssl; ssl_certificate $T/tls.crt; ssl_certificate_key $T/tls.key"; SCHEME=https; HOST=localhost; }
mkdir -p "$T/up"
cat >"$T/up/nginx.conf" <<EOF
worker_processes 1; pid $T/up/pid; error_log $T/up/error.log warn; events { worker_connections 4096; }
http { access_log off; keepalive_requests 1000000; keepalive_timeout 120s;
  client_body_temp_path $T/up/b; proxy_temp_path $T/up/p; fastcgi_temp_path $T/up/f; uwsgi_temp_path $T/up/u;
  scgi_temp_path $T/up/s;
  server { listen 127.0.0.1:$UP $SSL; location / { return 202; } } }
EOF
nginx -p "$T/up" -c "$T/up/nginx.conf" -g "daemon off;" >"$T/up.log" 2>&1 &
PIDS="$PIDS $!"
wait_port "$UP"
printf 'profile-access-key-0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ' >"$T/key"; chmod 600 "$T/key"
cat >"$T/gw.conf" <<EOF
listen = { tcp = [ "127.0.0.1:$GP" ]; };
upstream = { endpoint = "$SCHEME://$HOST:$UP"; access_key_file = "$T/key"; api_version = "2024-12-01";
             timeout_ms = 30000; max_connections = 64; ca_file = "$T/tls.crt"; };
limits = { max_connections = 1024; max_inflight = 10000; };
log = { level = "warn"; };
EOF

WRK=(wrk -t1 -c"$CONNS" -d"${DUR}s" --latency -s "$BENCH/post.lua" "http://127.0.0.1:$GP")
if [ "$MODE" = callgrind ]; then
	valgrind --tool=callgrind --callgrind-out-file="$OUT/callgrind.out" "$GW" -c "$T/gw.conf" >"$T/gw.log" 2>&1 &
	GPID=$!; PIDS="$PIDS $GPID"
	for _ in $(seq 300); do (exec 3<>"/dev/tcp/127.0.0.1/$GP") 2>/dev/null && break; sleep 0.1; done
	"${WRK[@]}" | grep -E 'Requests/sec|WRKRESULT'
	kill -INT "$GPID"; wait "$GPID" 2>/dev/null
	callgrind_annotate --inclusive=no "$OUT/callgrind.out" 2>/dev/null | head -60 >"$OUT/callgrind.txt"
	cat "$OUT/callgrind.txt"
	exit 0
fi

"$GW" -c "$T/gw.conf" >"$T/gw.log" 2>&1 &
GPID=$!; PIDS="$PIDS $GPID"
wait_port "$GP"
wrk -t1 -c"$CONNS" -d2s -s "$BENCH/post.lua" "http://127.0.0.1:$GP" >/dev/null   # warm-up
"${WRK[@]}" >"$OUT/wrk.txt" &
WPID=$!
sleep 1
perf record -F 999 --call-graph dwarf,16384 -p "$GPID" -o "$OUT/perf.data" -- sleep $(( DUR > 4 ? DUR - 3 : 1 )) 2>"$OUT/perf-record.log"
wait "$WPID"
grep -E 'Requests/sec|WRKRESULT' "$OUT/wrk.txt"
{
	echo "== self time, by symbol =="
	perf report -i "$OUT/perf.data" --stdio --no-children --sort symbol,dso -g none --percent-limit 0.7 2>/dev/null \
		| grep -v '^#' | grep -v '^$' | head -45
	echo
	echo "== self time, by library =="
	perf report -i "$OUT/perf.data" --stdio --no-children --sort dso -g none 2>/dev/null | grep -v '^#' | grep -v '^$' | head -15
	echo
	echo "== inclusive (children), by symbol =="
	perf report -i "$OUT/perf.data" --stdio --children --sort symbol -g none --percent-limit 3 2>/dev/null \
		| grep -v '^#' | grep -v '^$' | head -45
} >"$OUT/report.txt"
cat "$OUT/report.txt"
