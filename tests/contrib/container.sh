#!/bin/sh
# container.sh: the Dockerfile builds and its image runs as docs/operations.md "Containers" says.
#   1. a debian:bookworm-slim made from Debian's packages (mmdebstrap --variant=minbase, podman import);
#   2. podman build of the Dockerfile on it (BASE build arg), the source tree as the context;
#   3. the image started with the key as a read-only secret file, a volume directory for the socket and
#      host networking to a wpsgate-emulator on loopback as its upstream; then: a message sent with
#      curl --unix-socket through the shared socket is accepted by the emulator; a member of the socket's
#      group (gid 10001) may use it, another user cannot connect; /metrics on the port counts the
#      message; so can an "app" container (another uid in group 10001, the socket directory read-only,
#      no network), as in the Kubernetes example's pod; /metrics on the port counts the three; the
#      HEALTHCHECK and `wpsgate status` inside pass; the process runs as uid/gid 10001 without
#      capabilities; the key is in no log line; `podman stop` (SIGTERM) ends it with exit 0 in less
#      than 5 s; a key file that others may read is refused with a message that says so;
#   4. the Kubernetes example's two ConfigMaps pass `wpsgated -t` in the image, with the key in
#      CREDENTIALS_DIRECTORY or with the workload identity webhook's AZURE_* variables and token file.
# The base rootfs and podman's image store are kept in $WPSGATE_CONTAINER_CACHE (default
# BUILDDIR/container): a cold run takes about 2 minutes (rootfs about 50 s, the build about 60 s), a
# warm one about 30 s (the build again from the COPY of the sources). rm -rf it to start afresh.
# Skips (77) when not root (the store and the runtime need it) or podman, runc or mmdebstrap is missing
# (scripts/deps.sh installs them). runc, because crun 1.8 refuses the hybrid cgroup layout of hosts
# like CI's; the rlimits are set at or below the host's hard limits (no CAP_SYS_RESOURCE there).
set -eu
src=$(cd "${WPSGATE_SRCDIR:-$(dirname "$0")/../..}" && pwd)
bld=$(cd "${WPSGATE_BUILDDIR:-$src/build}" && pwd)
emulator=${WPSGATE_EMULATOR:-$bld/wpsgate-emulator}

[ "$(id -u)" -eq 0 ] || { echo "not root: podman's image store and runtime need root here: skipped"; exit 77; }
for p in podman runc mmdebstrap curl setpriv node; do
	command -v "$p" >/dev/null 2>&1 || { echo "$p not found (scripts/deps.sh installs it): skipped"; exit 77; }
done

cache=${WPSGATE_CONTAINER_CACHE:-$bld/container}
mkdir -p "$cache"
cache=$(cd "$cache" && pwd)
base=localhost/debian:bookworm-slim
image=localhost/wpsgate:test
name=wpsgate-test-$$
t0=$(date +%s)

# Limits the runtime may set without CAP_SYS_RESOURCE: the host's hard limits, capped.
lim() {
	h=$(sed -n "s/^$1  *[0-9a-z]*  *\([0-9a-z]*\) .*/\1/p" /proc/self/limits)
	if [ "$h" = unlimited ] || [ "$h" -gt "$2" ]; then echo "$2"; else echo "$h"; fi
}
nofile=$(lim 'Max open files' 65536)
nproc=$(lim 'Max processes' 4096)
ulimits="--ulimit nofile=$nofile:$nofile --ulimit nproc=$nproc:$nproc"
pm() {
	podman --root "$cache/storage" --runroot "$cache/run" --tmpdir "$cache/tmp" --events-backend file \
		--cgroup-manager cgroupfs --runtime "$(command -v runc)" "$@"
}
step() { echo "== $(($(date +%s) - t0)) s: $*"; }

umask 077
tmp=$(mktemp -d)
chmod 0711 "$tmp" # the test's other users reach run/ only (its files stay private)
emu_pid=""
cleanup() {
	pm rm -f -t 0 -v "$name" >/dev/null 2>&1 || true
	[ -z "$emu_pid" ] || kill "$emu_pid" 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' HUP INT TERM
fail() { echo "FAIL: $*"; exit 1; }

# 1. the base image, from Debian's packages (what debian:bookworm-slim is made of: minbase, no docs)
if ! pm image exists "$base"; then
	if [ ! -s "$cache/rootfs.tar" ]; then
		step "mmdebstrap bookworm (minbase)"
		mmdebstrap --quiet --variant=minbase --mode=root \
			--dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/doc/*' \
			--dpkgopt='path-include=/usr/share/doc/*/copyright' --dpkgopt='path-exclude=/usr/share/locale/*' \
			bookworm "$cache/rootfs.new.tar" \
			"deb http://deb.debian.org/debian bookworm main" \
			"deb http://deb.debian.org/debian bookworm-updates main" \
			"deb http://deb.debian.org/debian-security bookworm-security main"
		mv "$cache/rootfs.new.tar" "$cache/rootfs.tar"
	fi
	step "podman import $base"
	pm import -q "$cache/rootfs.tar" "$base" >/dev/null
fi

# Can this machine run a container at all? (a kernel without user or mount namespaces, a storage
# driver podman cannot use here): then say exactly what failed and skip, as the issue allows.
if ! pm run --rm --network none $ulimits "$base" /bin/true >"$tmp/probe.err" 2>&1; then
	echo "podman cannot run a container on this machine: skipped"; sed 's/^/  /' "$tmp/probe.err"; exit 77
fi

# 2. the image (the build stage's apt layer is cached; the sources are copied and built each time)
step "podman build"
pm build -q --format docker --network host $ulimits --build-arg BASE="$base" -t "$image" \
	-f "$src/Dockerfile" "$src" >"$tmp/build.log" 2>&1 || { tail -n 40 "$tmp/build.log"; fail "podman build"; }
pm image inspect "$image" --format '{{.Config.User}} {{.Config.StopSignal}} {{.Config.ExposedPorts}}' >"$tmp/cfg"
grep -q '^10001:10001 SIGTERM map\[9464/tcp:{}\]$' "$tmp/cfg" || fail "image config: $(cat "$tmp/cfg")"

# 3. the upstream: an emulator on loopback with a fresh key; the gateway's copy is the secret file
step "run"
head -c 32 /dev/urandom | base64 >"$tmp/emu-key"
chmod 0600 "$tmp/emu-key"
key=$(cat "$tmp/emu-key")
install -m 0400 -o 10001 -g 10001 "$tmp/emu-key" "$tmp/access-key"
# its stdout has the connection string (the key): kept in a file, never shown
"$emulator" --listen 127.0.0.1:0 --access-key-file "$tmp/emu-key" -v >"$tmp/emu.out" 2>"$tmp/emu.log" &
emu_pid=$!
i=0
until grep -q '^endpoint=' "$tmp/emu.out" 2>/dev/null; do
	i=$((i + 1)); [ "$i" -le 100 ] || fail "the emulator did not start"; sleep 0.1
done
endpoint=$(sed -n 's/^endpoint=//p' "$tmp/emu.out")
port=$(node -e 'const s = require("net").createServer().listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); })')
sed -e "s|https://NAME.webpubsub.azure.com|$endpoint|" -e "s|0.0.0.0:9464|127.0.0.1:$port|" \
	"$src/contrib/container/wpsgate.conf" >"$tmp/wpsgate.conf"
chmod 0644 "$tmp/wpsgate.conf"
grep -q "endpoint = \"$endpoint\"" "$tmp/wpsgate.conf" || fail "the endpoint was not set in the configuration"
mkdir -m 0770 "$tmp/run" && chown 10001:10001 "$tmp/run"

pm run -d --name "$name" --network host $ulimits --read-only --cap-drop ALL \
	--security-opt no-new-privileges --health-interval disable \
	-v "$tmp/wpsgate.conf:/etc/wpsgate/wpsgate.conf:ro" \
	-v "$tmp/access-key:/run/secrets/access-key:ro" \
	-v "$tmp/run:/run/wpsgate" "$image" >/dev/null 2>"$tmp/run.err" || { cat "$tmp/run.err"; fail "podman run"; }
sock=$tmp/run/wpsgate.sock
i=0
until curl -fsS -o /dev/null --unix-socket "$sock" http://localhost/healthz 2>/dev/null; do
	i=$((i + 1))
	[ "$i" -le 100 ] || { pm logs "$name" 2>&1 | tail -n 20; fail "no /healthz on the socket within 10 s"; }
	sleep 0.1
done

# a message through the shared socket, accepted by the emulator
code=$(curl -sS -o "$tmp/send.out" -w '%{http_code}' --unix-socket "$sock" -X POST \
	-H 'Content-Type: text/plain' --data 'hello from the container test' \
	http://localhost/api/hubs/chat/:send)
[ "$code" = 202 ] || fail "send through the socket: $code $(cat "$tmp/send.out")"
grep -q 'msg="request" method=POST path=/api/hubs/chat/:send op=send_to_all status=202' "$tmp/emu.log" ||
	fail "the emulator did not accept the message"
# as an application container would: a member of group 10001 may, another user cannot connect
setpriv --reuid 65534 --regid 10001 --clear-groups curl -fsS -o /dev/null --unix-socket "$sock" \
	-X POST -H 'Content-Type: text/plain' --data hi http://localhost/api/hubs/chat/:send ||
	fail "a member of group 10001 could not send"
if setpriv --reuid 65534 --regid 65534 --clear-groups curl -fsS -o /dev/null --unix-socket "$sock" \
	http://localhost/healthz 2>/dev/null; then
	fail "a user outside group 10001 reached the socket"
fi

# as the app container of a pod: another container, its own user, in the socket's group, with the
# socket's directory read-only and no network at all
pm run --rm --network none $ulimits --read-only --cap-drop ALL --security-opt no-new-privileges \
	--user 10002:10002 --group-add 10001 -v "$tmp/run:/run/wpsgate:ro" --entrypoint /usr/bin/wpsgate \
	"$image" send --hub chat 'hello from the app container' >"$tmp/app.out" 2>&1 ||
	{ cat "$tmp/app.out"; fail "the app container could not send through the shared socket"; }

# /metrics on the port: the three messages counted
curl -fsS "http://127.0.0.1:$port/metrics" >"$tmp/metrics" || fail "no /metrics on port $port"
grep -q '^wpsgate_build_info{' "$tmp/metrics" || fail "/metrics: no wpsgate_build_info"
n=$(grep '^wpsgate_requests_total{' "$tmp/metrics" | grep 'code="202"' | awk '{s += $NF} END {print s + 0}')
[ "$n" -eq 3 ] || fail "/metrics counts $n requests answered 202, not 3"
curl -fsS -o /dev/null "http://127.0.0.1:$port/readyz" || fail "/readyz is not 200"

# the HEALTHCHECK and the client inside the image
pm healthcheck run "$name" >/dev/null 2>&1 || fail "podman healthcheck run"
pm exec "$name" wpsgate status >"$tmp/status" 2>&1 || { cat "$tmp/status"; fail "wpsgate status in the container"; }

# SIGHUP re-reads the configuration and the mounted key (how a key rotates in a container)
pm kill --signal HUP "$name" >/dev/null
i=0
until pm logs "$name" 2>&1 | grep -q 'msg="reloaded"'; do
	i=$((i + 1)); [ "$i" -le 50 ] || fail "no reload after SIGHUP"; sleep 0.1
done
curl -fsS -o /dev/null --unix-socket "$sock" http://localhost/readyz || fail "not ready after the reload"

# not root, no capabilities, no new privileges
pid=$(pm inspect "$name" --format '{{.State.Pid}}')
grep -q "^Uid:[[:space:]]*10001[[:space:]]*10001[[:space:]]*10001[[:space:]]*10001$" "/proc/$pid/status" ||
	fail "wpsgated's uids: $(grep '^Uid:' "/proc/$pid/status")"
grep -q "^Gid:[[:space:]]*10001[[:space:]]*10001[[:space:]]*10001[[:space:]]*10001$" "/proc/$pid/status" ||
	fail "wpsgated's gids: $(grep '^Gid:' "/proc/$pid/status")"
grep -q '^CapEff:[[:space:]]*0000000000000000$' "/proc/$pid/status" || fail "wpsgated has capabilities"
grep -q '^NoNewPrivs:[[:space:]]*1$' "/proc/$pid/status" || fail "wpsgated may gain privileges"

# SIGTERM: a clean exit, fast
s=$(date +%s%N)
pm stop -t 10 "$name" >/dev/null 2>"$tmp/stop.err" || { cat "$tmp/stop.err"; fail "podman stop"; }
ms=$((($(date +%s%N) - s) / 1000000))
rc=$(pm inspect "$name" --format '{{.State.ExitCode}}')
pm logs "$name" >"$tmp/gw.log" 2>&1
[ "$rc" = 0 ] || { tail -n 5 "$tmp/gw.log"; fail "exit code $rc after podman stop"; }
[ "$ms" -lt 5000 ] || fail "podman stop took $ms ms"
grep -q 'msg="request" method=POST op=SendToAll hub=chat status=202 upstream_status=202' "$tmp/gw.log" ||
	fail "the gateway's log has no request line for the message"
# the peers are outside the container's PID namespace: known by uid, without pid or executable
grep -q 'msg="audit" .* peer=unix uid=65534 pid=- exe=- op=send_to_all hub=chat' "$tmp/gw.log" ||
	fail "no audit line for the group member's message"
grep -q 'msg="audit" .* peer=unix uid=10002 pid=- exe=- op=send_to_all hub=chat' "$tmp/gw.log" ||
	fail "no audit line for the app container's message"
grep -q 'received SIGTERM, shutting down' "$tmp/gw.log" && grep -q 'msg="\{0,1\}stopped' "$tmp/gw.log" ||
	fail "the gateway's log does not show the SIGTERM and the stop"
if grep -qF "$key" "$tmp/gw.log" "$tmp/status" "$tmp/run.err" "$tmp/build.log"; then
	fail "the key appears in the output"
fi
pm rm -v "$name" >/dev/null 2>&1

# a key file that others may read: refused, and the message says why (without the key)
chmod 0444 "$tmp/access-key"
if pm run --rm --network none $ulimits -v "$tmp/wpsgate.conf:/etc/wpsgate/wpsgate.conf:ro" \
	-v "$tmp/access-key:/run/secrets/access-key:ro" "$image" -t -c /etc/wpsgate/wpsgate.conf \
	>"$tmp/bad.out" 2>&1; then
	fail "a key file of mode 0444 was accepted"
fi
grep -q 'mode 0444 lets group or others read' "$tmp/bad.out" || fail "refusal: $(cat "$tmp/bad.out")"
! grep -qF "$key" "$tmp/bad.out" || fail "the key appears in the refusal"

# the Kubernetes example's two configurations pass `wpsgated -t` in the image, with what the pod gives
# them: the copied key in CREDENTIALS_DIRECTORY, or the workload identity webhook's variables and token
conf_of() { # FILE: the wpsgate.conf of the ConfigMap in FILE
	node -e 'const Y = require(require("path").join(process.argv[1], "yaml"));
		const d = Y.parse(require("fs").readFileSync(process.argv[2], "utf8"), { version: "1.1" });
		process.stdout.write(d.data["wpsgate.conf"]);' \
		"${WPSGATE_NODE_MODULES:-$src/tests/node_modules}" "$1"
}
k8s=$src/contrib/kubernetes
conf_of "$k8s/configmap.yaml" >"$tmp/k8s-key.conf"
conf_of "$k8s/workload-identity/configmap.yaml" >"$tmp/k8s-wi.conf"
chmod 0644 "$tmp/k8s-key.conf" "$tmp/k8s-wi.conf"
chmod 0400 "$tmp/access-key"
pm run --rm --network none $ulimits --read-only -e CREDENTIALS_DIRECTORY=/run/credentials \
	-v "$tmp/k8s-key.conf:/etc/wpsgate/wpsgate.conf:ro" -v "$tmp/access-key:/run/credentials/access-key:ro" \
	"$image" -t -c /etc/wpsgate/wpsgate.conf >"$tmp/k8s-key.out" 2>&1 ||
	fail "contrib/kubernetes/configmap.yaml: $(cat "$tmp/k8s-key.out")"
printf 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6ZGVmYXVsdDp3cHNnYXRlIn0.c2ln\n' >"$tmp/token"
chmod 0644 "$tmp/token"
pm run --rm --network none $ulimits --read-only \
	-e AZURE_CLIENT_ID=00000000-0000-0000-0000-000000000000 -e AZURE_TENANT_ID=11111111-1111-1111-1111-111111111111 \
	-e AZURE_AUTHORITY_HOST=https://login.microsoftonline.com/ \
	-e AZURE_FEDERATED_TOKEN_FILE=/var/run/secrets/azure/tokens/azure-identity-token \
	-v "$tmp/token:/var/run/secrets/azure/tokens/azure-identity-token:ro" \
	-v "$tmp/k8s-wi.conf:/etc/wpsgate/wpsgate.conf:ro" "$image" -t -c /etc/wpsgate/wpsgate.conf \
	>"$tmp/k8s-wi.out" 2>&1 || fail "contrib/kubernetes/workload-identity/configmap.yaml: $(cat "$tmp/k8s-wi.out")"
grep -q 'configuration OK' "$tmp/k8s-key.out" && grep -q 'configuration OK' "$tmp/k8s-wi.out" ||
	fail "wpsgated -t did not say configuration OK"
# and without the webhook's variables the workload identity configuration is refused, naming them
if pm run --rm --network none $ulimits -v "$tmp/k8s-wi.conf:/etc/wpsgate/wpsgate.conf:ro" "$image" \
	-t -c /etc/wpsgate/wpsgate.conf >"$tmp/k8s-wi-bad.out" 2>&1; then
	fail "workload identity without AZURE_* was accepted"
fi
grep -q 'AZURE_' "$tmp/k8s-wi-bad.out" || fail "refusal without AZURE_*: $(cat "$tmp/k8s-wi-bad.out")"

step "done: stop took $ms ms; image $(pm image inspect "$image" --format '{{.Size}}') bytes"
