#!/bin/sh
# scripts/fuzz.sh: build the libFuzzer targets of tests/fuzz with clang (ASan+UBSan, libraries with
# coverage) in a temporary build directory and run each target for N seconds on its seed corpus.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]     SECONDS per target (default 30); TARGET: ops config
#                                             connstr batch upstream cliparse mqtt inspect (default: all)
# Environment: FUZZ_BUILDDIR (reuse this build directory, kept), FUZZ_KEEP=1 (keep the temporary one),
# FUZZ_JOBS (make -j, default the number of CPUs), CLANG (default clang).
# New inputs go to a scratch corpus in the build directory, never into the repository. A crash,
# leak, timeout or broken invariant leaves its reproducer (crash-*, leak-*, timeout-*) in the build
# directory, is reported, and makes the exit status 1.
set -eu

secs=${1:-30}
[ $# -gt 0 ] && shift
targets=${*:-ops config connstr batch upstream cliparse mqtt inspect}
case $secs in ''|*[!0-9]*) echo "usage: $0 [SECONDS] [TARGET...]" >&2; exit 2 ;; esac

top=$(cd "$(dirname "$0")/.." && pwd)
clang=${CLANG:-clang}
jobs=${FUZZ_JOBS:-$(nproc 2>/dev/null || echo 2)}
command -v "$clang" >/dev/null 2>&1 || { echo "fuzz.sh: $clang not found (apt-get install clang)" >&2; exit 2; }

if [ -n "${FUZZ_BUILDDIR:-}" ]; then
	bdir=$FUZZ_BUILDDIR
	mkdir -p "$bdir"
else
	bdir=$(mktemp -d "${TMPDIR:-/tmp}/wpsgate-fuzz.XXXXXX")
	if [ -z "${FUZZ_KEEP:-}" ]; then
		# keep the directory when something crashed: the reproducers are in it
		trap 'if [ "${failed:-0}" = 0 ]; then rm -rf "$bdir"; else echo "fuzz.sh: kept $bdir" >&2; fi' EXIT
	fi
fi

[ -x "$top/configure" ] || (cd "$top" && autoreconf -fi)
cd "$bdir"
if [ ! -f Makefile ]; then
	# fuzzer-no-link: coverage feedback from the libraries too, not only from the target's own file
	CC=$clang CFLAGS="-g -O1 -fsanitize=fuzzer-no-link" \
		"$top/configure" -q --enable-fuzzing --enable-sanitizers
fi
progs=
for t in $targets; do progs="$progs tests/fuzz/fuzz_$t"; done
# shellcheck disable=SC2086
make -s -j"$jobs" $progs

failed=0
summary=
for t in $targets; do
	work="$bdir/corpus-$t"
	mkdir -p "$work"
	log="$bdir/fuzz-$t.log"
	echo "fuzz.sh: $t for ${secs}s"
	rc=0
	ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1} \
	UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
	"./tests/fuzz/fuzz_$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
		-print_final_stats=1 -artifact_prefix="$bdir/$t-" \
		"$work" "$top/tests/fuzz/corpus/$t" >"$log" 2>&1 || rc=$?
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
	cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1 | sed 's/cov: //')
	line="$t: rc=$rc executions=${execs:-?} coverage=${cov:-?} corpus=$(ls "$work" | wc -l)+$(ls "$top/tests/fuzz/corpus/$t" | wc -l)"
	if [ "$rc" != 0 ]; then
		failed=1
		line="$line FAILED"
		tail -n 60 "$log" >&2
		ls "$bdir/$t-"* 2>/dev/null | sed 's/^/  reproducer: /' >&2 || true
	fi
	echo "$line"
	summary="$summary$line
"
done
printf '%s' "$summary"
exit $failed
