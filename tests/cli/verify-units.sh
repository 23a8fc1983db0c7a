#!/bin/sh
# verify-units.sh: `systemd-analyze verify` on every generated unit (make check). The ExecStart
# paths point at the built wpsgated, and man: references at the project's own man pages.
# Exit 77 (skipped) when systemd-analyze is not installed.
set -u

command -v systemd-analyze >/dev/null 2>&1 || { echo "systemd-analyze not found: skipped"; exit 77; }
builddir=${WPSGATE_BUILDDIR:-.}
srcdir=${WPSGATE_SRCDIR:-.}
wpsgated=${WPSGATED:-$builddir/wpsgated}
[ -x "$wpsgated" ] || { echo "FAIL: $wpsgated is not built"; exit 1; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/wpsgate-verify.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM

# man pages where man(1) finds them: wpsgated.8 -> $tmp/man/man8/wpsgated.8
for page in wpsgated.8 wpsgate.conf.5 wpsgate.1; do
	sec=${page##*.}
	mkdir -p "$tmp/man/man$sec"
	cp "$srcdir/docs/$page" "$tmp/man/man$sec/$page" || { echo "FAIL: docs/$page missing"; exit 1; }
done

fail=0
for unit in wpsgated.service wpsgated.socket wpsgated@.service; do
	src=$builddir/systemd/$unit
	[ -f "$src" ] || { echo "FAIL: $src not generated"; fail=1; continue; }
	# a template is verified as one of its instances
	dst=$tmp/$unit
	[ "$unit" = "wpsgated@.service" ] && dst=$tmp/wpsgated@example.service
	sed -e "s|^\(Exec[A-Za-z]*=\)[^ ]*/wpsgated |\1$wpsgated |" "$src" > "$dst"
	grep -q "^ExecStart=$wpsgated " "$dst" || [ "$unit" = wpsgated.socket ] ||
		{ echo "FAIL: $unit has no ExecStart= running wpsgated"; fail=1; }
	out=$(cd "$tmp" && MANPATH="$tmp/man" SYSTEMD_LOG_LEVEL=notice systemd-analyze verify "./${dst##*/}" 2>&1)
	rc=$?
	if [ $rc -ne 0 ] || [ -n "$out" ]; then
		echo "FAIL: systemd-analyze verify $unit (exit $rc):"
		echo "$out"
		fail=1
	else
		echo "ok: $unit"
	fi
done

# the hardening issue 7 asks for must stay in the service units
for unit in wpsgated.service wpsgated@example.service; do
	for line in 'Type=notify' 'ProtectSystem=strict' 'ProtectHome=yes' 'PrivateTmp=yes' 'NoNewPrivileges=yes' \
	            'RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6' 'SystemCallFilter=@system-service' \
	            'CapabilityBoundingSet=' 'ExecReload=/bin/kill -HUP $MAINPID' 'WatchdogSec=30s'; do
		grep -qxF "$line" "$tmp/$unit" || { echo "FAIL: $unit lacks '$line'"; fail=1; }
	done
	grep -q '^ExecStartPre=.* -t -c ' "$tmp/$unit" || { echo "FAIL: $unit lacks ExecStartPre= -t"; fail=1; }
	grep -q '^LoadCredential=access-key:' "$tmp/$unit" || { echo "FAIL: $unit lacks LoadCredential="; fail=1; }
done
[ $fail -eq 0 ] && echo "verify-units: all units pass"
exit $fail
