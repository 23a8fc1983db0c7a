#!/bin/sh
# man-pages.sh: the man pages of wpsgate render without a groff warning (make check).
# Exit 77 (skipped) when groff is not installed.
set -u
command -v groff >/dev/null 2>&1 || { echo "groff not found: skipped"; exit 77; }
srcdir=${WPSGATE_SRCDIR:-.}
fail=0
for page in wpsgated.8 wpsgate.conf.5 wpsgate.1 wpsgate-emulator.1; do
	# the emulator's page comes with the emulator (src/emulator/local.am)
	[ "$page" = wpsgate-emulator.1 ] && [ ! -f "$srcdir/docs/$page" ] && continue
	out=$(groff -man -Tutf8 -ww -z "$srcdir/docs/$page" 2>&1)
	if [ -n "$out" ]; then
		echo "FAIL: docs/$page:"
		echo "$out"
		fail=1
	fi
	# every page names itself and has the sections a reader looks for
	for sec in NAME SYNOPSIS DESCRIPTION 'SEE ALSO'; do
		grep -q "^\.SH \"\{0,1\}$sec" "$srcdir/docs/$page" || { echo "FAIL: docs/$page has no $sec"; fail=1; }
	done
done
[ $fail -eq 0 ] && echo "man-pages: all pages render cleanly"
exit $fail
