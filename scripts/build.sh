#!/bin/sh
# build.sh: configure and build wpsgate out of tree in ./build (extra arguments go to configure).
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
if ! { [ -x configure ] && [ configure -nt configure.ac ]; }; then
	autoreconf -fi > autoreconf.log 2>&1 || { cat autoreconf.log; exit 1; }
fi
mkdir -p build
cd build
../configure -q --enable-werror "$@"
make -j"$(nproc)" >/dev/null
