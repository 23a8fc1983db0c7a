#!/bin/sh
# completion.sh: the bash completion of wpsgate offers the right words, and every command and option
# it offers is one the built wpsgate accepts (make check). Exit 77 when bash is missing.
[ -n "${BASH_VERSION:-}" ] || { command -v bash >/dev/null 2>&1 || exit 77; exec bash "$0" "$@"; }
set -u
srcdir=${WPSGATE_SRCDIR:-.}
wpsgate=${WPSGATE:-./wpsgate}
. "$srcdir/contrib/bash-completion/wpsgate" || exit 1
fail=0

comp() {
	COMP_WORDS=("$@")
	COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
	COMPREPLY=()
	_wpsgate
	echo "${COMPREPLY[*]}"
}
expect() {
	local want=$1
	shift
	local got
	got=$(comp "$@")
	if [ "$got" != "$want" ]; then
		echo "FAIL: [$*]: got '$got', want '$want'"
		fail=1
	fi
}

g="--socket --url --timeout --verbose --help"
expect "send token group user connection permission status help $g --version" wpsgate ""
expect "group" wpsgate gr
expect "add remove exists list close" wpsgate group ""
expect "exists close remove-from-groups" wpsgate user ""
expect "exists close close-all remove-from-groups" wpsgate connection ""
expect "grant revoke check" wpsgate permission ""
expect "--hub --group --connection --user --filter $g" wpsgate group add --
expect "--hub --group --user --connection --json --text --binary --exclude --filter --ttl $g" \
	wpsgate --socket /tmp/x send --hub h --
expect "--hub --user --role --group --minutes --mqtt --client-type --json $g" wpsgate token --
expect "sendToGroup joinLeaveGroup" wpsgate permission grant --permission ""
expect "close close-all" wpsgate connection c
expect "" wpsgate send --hub ""

# every command and option offered is accepted by the program (`--help` exits 0 on a valid line)
for cmd in send token status "group add" "group remove" "group exists" "group list" "group close" \
	"user exists" "user close" "user remove-from-groups" "connection exists" "connection close" \
	"connection close-all" "connection remove-from-groups" "permission grant" "permission revoke" \
	"permission check"; do
	# shellcheck disable=SC2086
	for opt in $(comp wpsgate $cmd --); do
		case $opt in --socket | --url | --timeout | --verbose | --help) continue ;; esac
		"$wpsgate" $cmd --help >/dev/null 2>&1 || { echo "FAIL: wpsgate $cmd --help"; fail=1; }
		# an option the command does not take is a usage error naming it; a taken one is not
		# shellcheck disable=SC2086
		out=$("$wpsgate" --socket /nonexistent --timeout 5 $cmd $opt x 2>&1 </dev/null)
		case $out in
			*"$opt does not apply"*) echo "FAIL: completion offers $opt for '$cmd', wpsgate refuses it"; fail=1 ;;
		esac
	done
done
[ $fail -eq 0 ] && echo "completion: all cases pass"
exit $fail
