#!/bin/sh
# vgwrap.sh: run the real wpsgated ($WPSGATE_VG_REAL) under valgrind for the integration tests
# (WPSGATE_VALGRIND=1, see tests/lib/paths.js). Exit 99 on any memory error or definite leak; one log per process
# in $WPSGATE_VG_LOGDIR (default /tmp).
exec valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
	--show-leak-kinds=definite --track-fds=no --vgdb=no \
	--log-file="${WPSGATE_VG_LOGDIR:-/tmp}/wpsgated-vg.%p.log" "$WPSGATE_VG_REAL" "$@"
