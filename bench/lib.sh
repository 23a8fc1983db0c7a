#!/bin/bash
# lib.sh: what bench/run.sh and bench/floor/run.sh share (sourced, not run): the temporary directory and the
# processes started in it (stopped on exit, and only those), loopback ports, CPU pinning, /proc figures, the
# request body and the common part of the nginx configs. The sourcing script defines die() and log() first.

# bench_init PREFIX: raise the descriptor limit; NOFILE, NCPU, CLK_TCK; pinning (PUT_CPU, PIN_PUT for the
# process under test on the last CPU, PIN_LOAD for the load generator and the upstream on the others, PIN_NOTE;
# PIN=0 or one CPU: none); the temporary directory T (/tmp/PREFIX.XXXXXX, removed on exit unless KEEP_TMP=1)
# with $T/body.json (256 bytes of JSON); PIDS, cleaned up on exit.
bench_init() {
	ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null
	NOFILE=$(ulimit -n)
	NCPU=$(nproc)
	if [ "${PIN:-1}" = 1 ] && [ "$NCPU" -ge 2 ] && command -v taskset >/dev/null 2>&1; then
		PUT_CPU=$((NCPU - 1)); LOAD_CPUS="0-$((NCPU - 2))"
		PIN_PUT="taskset -c $PUT_CPU"; PIN_LOAD="taskset -c $LOAD_CPUS"
		PIN_NOTE="process under test pinned to CPU $PUT_CPU; load generator and upstream on CPU $LOAD_CPUS"
	else
		PUT_CPU=""; PIN_PUT=""; PIN_LOAD=""; PIN_NOTE="no CPU pinning"
	fi
	CLK_TCK=$(getconf CLK_TCK)
	T=$(mktemp -d "/tmp/$1.XXXXXX") || die "mktemp failed"
	chmod 755 "$T"
	PIDS=""
	trap bench_cleanup EXIT
	trap 'exit 130' INT TERM
	# Ports below the ephemeral range, so that no client connection's local port can collide with a listener.
	EPH_LOW=$(awk '{ print $1 }' /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
	NEXT_PORT=$(( 10000 + (RANDOM % ((EPH_LOW - 10200) / 10)) * 10 ))
	printf '{"seq":1,"msg":"%s"}' "$(head -c 238 /dev/zero | tr '\0' x)" >"$T/body.json"
	bench_cflags
	[ "$(wc -c <"$T/body.json")" -eq 256 ] || die "body is not 256 bytes"
}
# The bench programs include autoconf's <config.h> first, as every .c of the tree does; they need none of
# its macros, and are built here without configure: BENCH_CFLAGS points at an empty stand-in in $T.
bench_cflags() {
	mkdir -p "$T/inc"
	echo '/* config.h stand-in for the bench programs (built without configure) */' >"$T/inc/config.h"
	BENCH_CFLAGS="-I$T/inc"
}
bench_cleanup() {
	local p
	for p in $PIDS; do kill "$p" 2>/dev/null; done
	sleep 0.3
	for p in $PIDS; do kill -9 "$p" 2>/dev/null; done
	wait 2>/dev/null
	[ "${KEEP_TMP:-0}" = 1 ] && log "kept $T" || rm -rf "$T"
}

# --- processes and ports ---------------------------------------------------------------------------------------------
start_bg() { # start_bg NAME CMD... : runs CMD in the background with its output in $T/NAME.log; sets LAST_PID
	local name=$1; shift
	"$@" >"$T/$name.log" 2>&1 &
	LAST_PID=$!
	PIDS="$PIDS $LAST_PID"
}
stop_pid() { # stop_pid PID: TERM, wait up to 3 s, then KILL
	local p=$1 i
	kill "$p" 2>/dev/null
	for i in $(seq 30); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
	kill -9 "$p" 2>/dev/null
	wait "$p" 2>/dev/null
	PIDS=$(echo "$PIDS" | tr ' ' '\n' | grep -vx "$p" | tr '\n' ' ')
}
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
alloc_port() { # sets PORT to a free loopback port
	while ! port_free "$NEXT_PORT"; do NEXT_PORT=$((NEXT_PORT + 1)); done
	[ "$NEXT_PORT" -lt "$EPH_LOW" ] || die "no free port below $EPH_LOW"
	PORT=$NEXT_PORT; NEXT_PORT=$((NEXT_PORT + 1))
}
wait_port() { # wait_port PORT PID NAME: up to 10 s
	local i
	for i in $(seq 100); do
		(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
		kill -0 "$2" 2>/dev/null || { sed 's/^/    /' "$T/$3.log" >&2; die "$3 exited during start-up"; }
		sleep 0.1
	done
	die "$3 did not listen on port $1 within 10 s"
}
wait_unix() { local i; for i in $(seq 100); do [ -S "$1" ] && return 0; sleep 0.1; done; die "no socket $1"; }


# --- /proc figures ----------------------------------------------------------------------------------------------------
tree_pids() { echo "$1"; pgrep -P "$1" 2>/dev/null; }  # a process and its children (nginx master + workers)
cpu_ticks() { # utime+stime of a process tree, in clock ticks
	local s=0 p f
	for p in $(tree_pids "$1"); do
		f=$(sed 's/^.*) //' "/proc/$p/stat" 2>/dev/null) || continue
		set -- $f
		s=$((s + ${12} + ${13}))
	done
	echo "$s"
}
mem_kb() { # mem_kb PID FIELD(VmHWM|VmRSS): summed over the process tree
	local s=0 p v
	for p in $(tree_pids "$1"); do
		v=$(awk -v f="$2:" '$1 == f { print $2 }' "/proc/$p/status" 2>/dev/null)
		s=$((s + ${v:-0}))
	done
	echo "$s"
}
kv() { echo "$1" | tr ' ' '\n' | awk -F= -v k="$2" '$1 == k { print $2 }'; } # kv "a=1 b=2" b

# --- nginx -------------------------------------------------------------------------------------------------------------
nginx_common() { # nginx_common DIR WORKERS: the main part of an nginx config
	mkdir -p "$1"
	cat <<EOF
worker_processes $2;
worker_rlimit_nofile $NOFILE;
pid $1/nginx.pid;
error_log $1/error.log warn;
events { worker_connections $(( NOFILE > 30256 ? 30000 : NOFILE - 256 )); multi_accept on; }
http {
    access_log off;
    client_body_temp_path $1/body; proxy_temp_path $1/proxy; fastcgi_temp_path $1/fastcgi;
    uwsgi_temp_path $1/uwsgi; scgi_temp_path $1/scgi;
    keepalive_requests 1000000;
    keepalive_timeout 120s;
EOF
}
