#!/bin/sh
# check.sh: install what is missing, then
#   1. build with warnings as errors, ASan and UBSan, and run every test (make check);
#   2. build without sanitizers and run the integration tests with wpsgated under valgrind (no leaks, no errors);
#   3. run each libFuzzer target briefly on its corpus (clang), when scripts/fuzz.sh is present.
# This is what CI runs (.ci/run). Run as root on Debian 12, from anywhere: scripts/check.sh
# WPSGATE_SKIP_VALGRIND=1 / WPSGATE_SKIP_FUZZ=1 skip steps 2 / 3; WPSGATE_FUZZ_SECONDS sets the fuzz time.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/scripts/deps.sh"
status=0

show_failures() {
	for f in $(find "$1" -name '*.trs' -exec grep -l ':test-result: \(FAIL\|ERROR\)' {} +); do
		echo "===== ${f%.trs}.log"; tail -n 80 "${f%.trs}.log"
	done
}

echo "== 1. make check (ASan + UBSan)"
"$top/scripts/build.sh" --enable-sanitizers
cd "$top/build"
find . -name '*.trs' -delete
make -j2 check || { status=1; show_failures "$top/build"; }

if [ -z "${WPSGATE_SKIP_VALGRIND:-}" ]; then
	echo "== 2. integration tests with wpsgated under valgrind"
	mkdir -p "$top/build-vg"
	cd "$top/build-vg"
	../configure -q --enable-werror CFLAGS='-O1 -g'
	make -j2 >/dev/null
	tests=$(make -s -f Makefile -f - print-integration <<'MK'
print-integration:
	@echo $(INTEGRATION_TESTS)
MK
)
	find . -name '*.trs' -delete
	rm -rf vglogs && mkdir -p vglogs
	WPSGATE_VALGRIND=1 WPSGATE_VG_LOGDIR="$top/build-vg/vglogs" make -j2 check TESTS="$tests" ||
		{ status=1; show_failures "$top/build-vg"; }
	for l in vglogs/*.log; do
		[ -s "$l" ] && { echo "===== valgrind: $l"; cat "$l"; status=1; }
	done
fi

if [ -z "${WPSGATE_SKIP_FUZZ:-}" ] && [ -x "$top/scripts/fuzz.sh" ]; then
	echo "== 3. fuzzers, ${WPSGATE_FUZZ_SECONDS:-20} s each"
	"$top/scripts/fuzz.sh" "${WPSGATE_FUZZ_SECONDS:-20}" || status=1
fi

# The closing line that CI reads: test programs and scripts, over both runs.
cd "$top"
total=$(find build build-vg -name '*.trs' 2>/dev/null | wc -l)
failed=$(find build build-vg -name '*.trs' -exec grep -l ':test-result: \(FAIL\|ERROR\|XPASS\)' {} + 2>/dev/null | wc -l)
skipped=$(find build build-vg -name '*.trs' -exec grep -l ':test-result: SKIP' {} + 2>/dev/null | wc -l)
echo "$((total - failed - skipped)) passed, $failed failed, $skipped skipped"
exit "$status"
