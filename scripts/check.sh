#!/bin/sh
# check.sh: install what is missing, build with warnings as errors, ASan and UBSan, and run every test.
# This is what CI runs (.ci/run). Run as root on Debian 12, from anywhere: scripts/check.sh
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/scripts/deps.sh"
"$top/scripts/build.sh" --enable-sanitizers
cd "$top/build"
status=0
make -j2 check || status=$?
# On failure, show the logs of the tests that failed.
if [ "$status" -ne 0 ]; then
	for f in $(find . -name '*.trs' -exec grep -l ':test-result: \(FAIL\|ERROR\)' {} +); do
		echo "===== ${f%.trs}.log"; tail -n 80 "${f%.trs}.log"
	done
fi
# The closing line that CI reads.
total=$(find . -name '*.trs' | wc -l)
failed=$(find . -name '*.trs' -exec grep -l ':test-result: \(FAIL\|ERROR\|XPASS\)' {} + | wc -l)
skipped=$(find . -name '*.trs' -exec grep -l ':test-result: SKIP' {} + | wc -l)
echo "$((total - failed - skipped)) passed, $failed failed, $skipped skipped"
exit "$status"
