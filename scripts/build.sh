#!/bin/sh
# build.sh: configure and build wpsgate out of tree in ./build (extra arguments go to configure).
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
[ -x configure ] && [ configure -nt configure.ac ] || autoreconf -fi >/dev/null
mkdir -p build
cd build
../configure -q --enable-werror "$@"
make -j"$(nproc)" >/dev/null
