#!/bin/sh
# rules.sh: contrib/prometheus/wpsgate.rules.yml passes `promtool check rules`, and its unit tests
# (wpsgate.rules.test.yml: each alert silent at first, then firing for the failing instance only) pass
# `promtool test rules`. Skips (77) when promtool (Debian's prometheus package) is not installed.
set -eu
command -v promtool >/dev/null 2>&1 || { echo "promtool not found: skipped"; exit 77; }
dir="${WPSGATE_SRCDIR:-$(dirname "$0")/../..}/contrib/prometheus"
cd "$dir"
promtool check rules wpsgate.rules.yml
promtool test rules wpsgate.rules.test.yml
n=$(grep -c '^      - alert:' wpsgate.rules.yml)
t=$(grep -c 'alertname:' wpsgate.rules.test.yml)
[ "$t" -ge $((2 * n)) ] || { echo "only $t alert tests for $n alerts"; exit 1; }
echo "rules: $n alerts, $t alert tests"
