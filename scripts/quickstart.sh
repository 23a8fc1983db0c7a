#!/bin/sh
# quickstart.sh: install what is missing, build, then run wpsgated in front of wpsgate-emulator, connect a
# WebSocket subscriber, send a message through the gateway's Unix socket, and show it arrive.
# With --chat, the other direction: the emulator calls its event handler, which is wpsgated's events
# listener; wpsgated verifies each call and forwards it to a chat app (scripts/chat-app.js, written with
# @azure/web-pubsub-express, holding no key) on a Unix socket; a client connects, the app names its user and
# puts it in a group, answers its messages and sends to the group through the gateway.
# The gateway keeps running afterwards so you can try it yourself; Ctrl-C stops everything.
# Usage: scripts/quickstart.sh [--chat] [--once]   (--once: stop after the demonstration)
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
once=0; chat=0
for a in "$@"; do
	case "$a" in
	--once) once=1 ;;
	--chat) chat=1 ;;
	*) echo "usage: scripts/quickstart.sh [--chat] [--once]" >&2; exit 2 ;;
	esac
done
"$top/scripts/deps.sh"
"$top/scripts/build.sh"
b="$top/build"

dir=$(mktemp -d /tmp/wpsgate-quickstart.XXXXXX)
pids=""
cleanup() {
	for p in $pids; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$dir"
}
trap cleanup EXIT INT TERM

# A development key: the emulator and the gateway share it; applications never see it.
umask 077
head -c 33 /dev/urandom | base64 | tr -d '\n' > "$dir/access-key"

# --chat: the emulator's event handler for hub "chat" is the gateway's events listener on 127.0.0.1:7081
handler=""
[ "$chat" -eq 1 ] && handler="chat=http://127.0.0.1:7081/eventhandler;user=*;system=connect,connected,disconnected"
"$b/wpsgate-emulator" --listen 127.0.0.1:0 --access-key-file "$dir/access-key" ${handler:+--event-handler "$handler"} \
	> "$dir/emulator.out" 2> "$dir/emulator.log" &
pids="$pids $!"
i=0
while ! grep -q '^endpoint=' "$dir/emulator.out" 2>/dev/null; do
	i=$((i + 1)); [ $i -le 100 ] || { echo "emulator did not start:"; cat "$dir/emulator.log"; exit 1; }
	sleep 0.1
done
endpoint=$(sed -n 's/^endpoint=//p' "$dir/emulator.out")

cat > "$dir/wpsgate.conf" <<CONF
listen = { unix = { path = "$dir/wpsgate.sock"; mode = "0660"; }; tcp = [ "127.0.0.1:7080" ]; };
upstream = { endpoint = "$endpoint"; access_key_file = "$dir/access-key"; };
log = { level = "info"; format = "logfmt"; };
CONF
[ "$chat" -eq 1 ] && cat >> "$dir/wpsgate.conf" <<CONF
events = { listen = [ "127.0.0.1:7081" ]; forward = "unix:$dir/app.sock"; path = "/eventhandler"; timeout_ms = 5000; };
CONF
"$b/wpsgated" -c "$dir/wpsgate.conf" 2> "$dir/wpsgated.log" &
pids="$pids $!"
i=0
while [ ! -S "$dir/wpsgate.sock" ]; do
	i=$((i + 1)); [ $i -le 100 ] || { echo "wpsgated did not start:"; cat "$dir/wpsgated.log"; exit 1; }
	sleep 0.1
done
export WPSGATE_SOCKET="$dir/wpsgate.sock"

echo "== emulator at $endpoint, wpsgated on $WPSGATE_SOCKET and http://127.0.0.1:7080"
echo "== watch it live in a browser: $endpoint/inspector/ (the emulator's inspector)"
if [ "$chat" -eq 1 ]; then
	echo "== 1. the chat app starts on $dir/app.sock, with no key and no Azure credential in its environment"
	env -i PATH="$PATH" node "$top/scripts/chat-app.js" "$dir/app.sock" "$WPSGATE_SOCKET" chat > "$dir/app.out" 2>&1 &
	pids="$pids $!"
	i=0
	while ! grep -q listening "$dir/app.out" 2>/dev/null; do
		i=$((i + 1)); [ $i -le 100 ] || { echo "the app did not start:"; cat "$dir/app.out"; exit 1; }
		sleep 0.1
	done
	echo "== 2. a client gets a URL from the gateway and connects to the emulator; the emulator calls"
	echo "      wpsgated's events listener, which verifies ce-signature and forwards to the app"
	url=$("$b/wpsgate" token --hub chat)
	node "$top/scripts/chat-client.js" "$url" | sed 's/^/   client: /'
	echo "== 3. what the app saw (verified calls, the signature removed):"
	sed -n 's/.*"seen":"\(connect\|connected\|user\|sent\)".*/&/p' "$dir/app.out" | sed 's/^/   app: /'
	echo "== the gateway's log lines for the event calls:"
	grep -E 'msg="?event' "$dir/wpsgated.log" | tail -n 4 | sed 's/^/   /'
	[ "$once" -eq 1 ] && exit 0
	echo
	echo "wpsgated and the app keep running: connect more clients with"
	echo "  node $top/scripts/chat-client.js \$($b/wpsgate token --hub chat)"
	echo "Ctrl-C stops everything."
	while :; do sleep 3600; done
fi
echo "== 1. ask the gateway for a client URL (signed locally, the app never holds the key)"
url=$("$b/wpsgate" token --hub demo --user alice)
echo "   $(echo "$url" | cut -c1-90)..."
echo "== 2. connect a WebSocket subscriber with it"
NODE_PATH="$top/tests/node_modules" node "$top/scripts/subscribe.js" "$url" > "$dir/subscriber.out" 2>&1 &
pids="$pids $!"
i=0
while ! grep -q '^connected' "$dir/subscriber.out" 2>/dev/null; do
	i=$((i + 1)); [ $i -le 100 ] || { echo "subscriber did not connect:"; cat "$dir/subscriber.out"; exit 1; }
	sleep 0.1
done
echo "== 3. an application posts plain HTTP, no credentials, to the gateway's socket:"
echo "   curl --unix-socket \$WPSGATE_SOCKET -H 'Content-Type: text/plain' -d 'hello from wpsgate' \\"
echo "        'http://localhost/api/hubs/demo/:send?api-version=2024-12-01'"
curl -sS --unix-socket "$WPSGATE_SOCKET" -o /dev/null -w '   -> HTTP %{http_code}\n' \
	-H 'Content-Type: text/plain' --data-binary 'hello from wpsgate' \
	'http://localhost/api/hubs/demo/:send?api-version=2024-12-01'
i=0
while ! grep -q '^received' "$dir/subscriber.out" 2>/dev/null; do
	i=$((i + 1)); [ $i -le 50 ] || { echo "the message did not arrive"; exit 1; }
	sleep 0.1
done
echo "== 4. the subscriber got it:"
sed -n 's/^received /   /p' "$dir/subscriber.out"
echo "== the gateway's log line:"
grep -E 'msg="?request"? ' "$dir/wpsgated.log" | tail -n 1 | sed 's/^/   /'
[ "$once" -eq 1 ] && exit 0
echo
echo "wpsgated keeps running: try  WPSGATE_SOCKET=$WPSGATE_SOCKET $b/wpsgate send --hub demo --text hi"
echo "(the subscriber above prints what it receives into $dir/subscriber.out). Ctrl-C stops everything."
while :; do sleep 3600; done
