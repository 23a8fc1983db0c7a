#!/bin/sh
# deps.sh: install, from Debian's packages and the npm registry only, what wpsgate needs to build and test.
# Idempotent; run as root (or through sudo). Usage: scripts/deps.sh [--bench]
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)

# chromium: tests/integration/inspector-browser.test.js loads the emulator's inspector page in it
# (headless, driven by puppeteer-core from npm; no browser is downloaded).
# podman, runc and mmdebstrap: tests/contrib/container.sh builds and runs the container image on a
# debian:bookworm-slim made from Debian's packages (runc: crun refuses hosts with hybrid cgroups).
pkgs="build-essential autoconf automake pkg-config git ca-certificates curl
      libmicrohttpd-dev libcurl4-openssl-dev libssl-dev libjansson-dev libconfig-dev check
      libsqlite3-dev libwslay-dev systemd valgrind clang prometheus
      podman runc mmdebstrap chromium"
[ "${1:-}" = "--bench" ] && pkgs="$pkgs nginx-light libnginx-mod-http-js wrk gnuplot-nox"
command -v node >/dev/null 2>&1 || pkgs="$pkgs nodejs npm"
command -v npm >/dev/null 2>&1 || pkgs="$pkgs npm"

missing=""
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
	SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
	$SUDO apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing
fi

# The official Azure Web PubSub SDKs, used as real clients by the tests (pinned by tests/package-lock.json).
cd "$top/tests"
npm ci --no-audit --no-fund --loglevel=error
