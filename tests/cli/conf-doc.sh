#!/bin/sh
# conf-doc.sh: wpsgate.conf(5) is true to wpsgated: every documented key, set to its documented
# example, passes `wpsgated -t`; an unknown key in every documented group is refused with its line;
# etc/wpsgate.conf and etc/wpsgate-dev.conf pass -t. (That the page documents exactly the keys of the
# configuration table, with their defaults and ranges, is tests/cli/conf-schema.test.js.)
#
# The man page marks each key as (see the comment at the top of docs/wpsgate.conf.5)
#   .TP
#   .B section.key
#   .\" conf-doc: section.key = VALUE; [other.key = VALUE; ...]
set -u
srcdir=${WPSGATE_SRCDIR:-.}
builddir=${WPSGATE_BUILDDIR:-.}
gated=${WPSGATED:-$builddir/wpsgated}
page=$srcdir/docs/wpsgate.conf.5

[ -x "$gated" ] || [ -n "${WPSGATE_VG_REAL:-}" ] || { echo "FAIL: $gated is not built"; exit 1; }
[ -r "$page" ] || { echo "FAIL: $page not found"; exit 1; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/conf-doc.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' HUP INT TERM
umask 077
fail=0
nok=0
say_fail() { echo "FAIL: $*"; fail=1; }

# Credential files the examples name (mode 0600 from the umask). Dummy values, never printed.
printf 'conf-doc-test-key-0123456789abcdefghijklmnopqrstuvwxyz\n' > "$tmp/access-key"
printf 'conf-doc-test-secondary-key-0123456789abcdefghijklmnop\n' > "$tmp/secondary-key"
printf 'Endpoint=https://example.webpubsub.azure.com;AccessKey=conf-doc-test-key-0123456789;Version=1.0;\n' \
	> "$tmp/connection-string"
printf 'conf-doc-test-client-secret\n' > "$tmp/client-secret"
printf 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJjb25mLWRvYyJ9.\n' > "$tmp/federated-token"
printf '# not read by -t\n' > "$tmp/ca.pem"

# Run wpsgated -t on a file: credentials from $tmp, no Azure identity variables from the caller.
check_t() {
	(cd "$tmp" && env -u AZURE_TENANT_ID -u AZURE_CLIENT_ID -u AZURE_FEDERATED_TOKEN_FILE \
		-u AZURE_AUTHORITY_HOST -u IDENTITY_ENDPOINT -u IDENTITY_HEADER \
		CREDENTIALS_DIRECTORY="$tmp" "$gated" -t -c "$1") > "$tmp/out" 2>&1
}

# ---- 1. the documented keys and their examples ----
# Output: KEY<TAB>ASSIGNMENTS, or a line starting with "ERROR " for a broken entry.
awk '
function trim(s) { sub(/^[ \t]+/, "", s); sub(/[ \t]+$/, "", s); return s }
/^\.TP[ \t]*$/ { tp = NR; next }
tp == NR - 1 && /^\.B [a-z][a-z0-9_.\[\]]*[ \t]*$/ {
	key = trim(substr($0, 4)); keyline = NR; next
}
keyline == NR - 1 && key != "" {
	if ($0 !~ /^\.\\" conf-doc: /) { print "ERROR " key ": no conf-doc line after .B (line " NR ")"; key = ""; next }
	print key "\t" trim(substr($0, index($0, "conf-doc:") + 9))
	key = ""; next
}
keyline == NR - 1 { next }
' "$page" > "$tmp/keys" || { echo "FAIL: cannot read $page"; exit 1; }
if grep '^ERROR ' "$tmp/keys" >/dev/null; then
	sed -n 's/^ERROR /FAIL: /p' "$tmp/keys"
	fail=1
fi
grep -v '^ERROR ' "$tmp/keys" > "$tmp/keys.ok"
nkeys=$(wc -l < "$tmp/keys.ok")
[ "$nkeys" -ge 60 ] || say_fail "only $nkeys keys found in $page: the markup changed?"

# Split "a.b = V; c.d = W;" at top-level semicolons (not inside quotes or brackets) into
# "PATH<TAB>VALUE" lines, replacing @DIR@ with the test directory.
split_assignments() {
	printf '%s\n' "$1" | awk -v dir="$tmp" '
	function trim(s) { sub(/^[ \t]+/, "", s); sub(/[ \t]+$/, "", s); return s }
	function emit(a,   eq, p, v, j) {
		a = trim(a)
		if (a == "") return
		eq = index(a, "=")
		if (eq == 0) { print "ERROR\tno = in: " a; return }
		p = trim(substr(a, 1, eq - 1)); v = trim(substr(a, eq + 1))
		while ((j = index(v, "@DIR@")) > 0) v = substr(v, 1, j - 1) dir substr(v, j + 5)
		print p "\t" v
	}
	{
		s = $0; cur = ""; depth = 0; q = 0
		for (i = 1; i <= length(s); i++) {
			c = substr(s, i, 1)
			if (q) { if (c == "\\") { cur = cur c; i++; c = substr(s, i, 1) } else if (c == "\"") q = 0 }
			else if (c == "\"") q = 1
			else if (c == "(" || c == "[" || c == "{") depth++
			else if (c == ")" || c == "]" || c == "}") depth--
			else if (c == ";" && depth == 0) { emit(cur); cur = ""; continue }
			cur = cur c
		}
		emit(cur)
	}'
}

# The base every test file starts from; a setting of the test replaces the one with its path. The
# credential kinds exclude one another: an Entra ID section or a connection string drops the key.
BASE='listen.tcp = [ "127.0.0.1:7080" ]; upstream.endpoint = "https://example.webpubsub.azure.com"; upstream.access_key_file = "access-key";'

# Write a libconfig file from dotted assignments ("a.b.c = V"; "a.b[].c" is key c of the one group
# in the list a.b). $1: the test's assignments, $2: the output file.
make_conf() {
	split_assignments "$1" > "$tmp/a.test"
	split_assignments "$BASE" > "$tmp/a.base"
	if grep -E '^upstreams	' "$tmp/a.test" >/dev/null; then # instead of upstream
		grep -v '^upstream\.' "$tmp/a.base" > "$tmp/a.b2"; mv "$tmp/a.b2" "$tmp/a.base"
	fi
	if grep -E '^(upstream\.entra\.|upstream\.connection_string_file	)' "$tmp/a.test" >/dev/null; then
		grep -v '^upstream\.access_key_file	' "$tmp/a.base" > "$tmp/a.b2"; mv "$tmp/a.b2" "$tmp/a.base"
	fi
	awk -F '\t' 'NR == FNR { seen[$1] = 1; print; next } !($1 in seen) { print }' \
		"$tmp/a.test" "$tmp/a.base" | LC_ALL=C sort -t "$(printf '\t')" -k1,1 | awk -F '\t' '
	function closeto(k) {
		while (n > k) {
			if (open[n] ~ /\[\]$/) print indent(n - 1) "} );"; else print indent(n - 1) "};"
			n--
		}
	}
	function indent(k,   s) { s = ""; while (k-- > 0) s = s "  "; return s }
	$1 == "ERROR" { print "# ERROR " $2; next }
	{
		m = split($1, seg, ".")
		k = 0
		while (k < n && k < m - 1 && open[k + 1] == seg[k + 1]) k++
		closeto(k)
		while (n < m - 1) {
			n++; open[n] = seg[n]; name = seg[n]
			if (name ~ /\[\]$/) { sub(/\[\]$/, "", name); print indent(n - 1) name " = ( {" }
			else print indent(n - 1) name " = {"
		}
		print indent(n) seg[m] " = " $2 ";"
	}
	END { closeto(0) }' > "$2"
	if grep '^# ERROR' "$2" >/dev/null; then
		say_fail "conf-doc for $3: $(sed -n 's/^# ERROR //p' "$2" | head -1)"
		return 1
	fi
	return 0
}

i=0
while IFS="$(printf '\t')" read -r key assigns; do
	i=$((i + 1))
	case "$assigns" in
	"$key = "*|*"; $key = "*) ;;
	*) say_fail "$key: its conf-doc line does not set $key"; continue ;;
	esac
	conf="$tmp/key$i.conf"
	make_conf "$assigns" "$conf" "$key" || continue
	if check_t "$conf" && grep -qx 'configuration OK' "$tmp/out"; then
		nok=$((nok + 1))
	else
		say_fail "$key: the documented example is refused by wpsgated -t:"
		sed 's/^/    /' "$tmp/out"
		sed 's/^/    | /' "$conf"
	fi
done < "$tmp/keys.ok"
echo "conf-doc: $nok of $nkeys documented keys accepted with their documented values"

# ---- 2. an unknown key in every documented group is refused, naming its line ----
# The groups: every prefix of a documented key; the context: the first example of that group.
awk -F '\t' '{
	n = split($1, seg, "."); p = ""
	for (j = 1; j < n; j++) { p = (p == "" ? "" : p ".") seg[j]; if (!(p in g)) { g[p] = 1; print p "\t" $2 } }
	if (!("(top)" in g)) { g["(top)"] = 1; print "(top)\t" $2 }
}' "$tmp/keys.ok" > "$tmp/groups"
ngroups=0
while IFS="$(printf '\t')" read -r grp assigns; do
	if [ "$grp" = "(top)" ]; then bogus=conf_doc_no_such_key; else bogus=$grp.conf_doc_no_such_key; fi
	conf="$tmp/unknown.conf"
	make_conf "$assigns; $bogus = 1" "$conf" "$bogus" || continue
	line=$(grep -n 'conf_doc_no_such_key' "$conf" | cut -d: -f1)
	if check_t "$conf"; then
		say_fail "$bogus: an unknown key is accepted by wpsgated -t"
	elif ! grep -q 'unknown key' "$tmp/out"; then
		say_fail "$bogus: refused, but not as an unknown key:"; sed 's/^/    /' "$tmp/out"
	elif ! grep -Eq "(:$line:|line $line\))" "$tmp/out"; then
		say_fail "$bogus: the error does not name line $line:"; sed 's/^/    /' "$tmp/out"
	else
		ngroups=$((ngroups + 1))
	fi
done < "$tmp/groups"
echo "conf-doc: an unknown key is refused (with its line) in $ngroups groups"

# ---- 3. every key wpsgated knows is documented: tests/cli/conf-schema.test.js, from --config-schema ----

# ---- 4. the shipped example configurations pass -t ----
grp=$(id -gn)
sed -e "s|\"/run/wpsgate/wpsgate.sock\"|\"$tmp/wpsgate.sock\"|" -e "s|group = \"wpsgate\";|group = \"$grp\";|" \
	"$srcdir/etc/wpsgate.conf" > "$tmp/wpsgate.conf"
if check_t "$tmp/wpsgate.conf" && grep -qx 'configuration OK' "$tmp/out"; then
	echo "conf-doc: etc/wpsgate.conf passes -t (key from \$CREDENTIALS_DIRECTORY)"
else
	say_fail "etc/wpsgate.conf is refused by wpsgated -t:"; sed 's/^/    /' "$tmp/out"
fi
cp "$tmp/access-key" "$tmp/dev-access-key"
cp "$srcdir/etc/wpsgate-dev.conf" "$tmp/wpsgate-dev.conf"
if check_t "$tmp/wpsgate-dev.conf" && grep -qx 'configuration OK' "$tmp/out"; then
	echo "conf-doc: etc/wpsgate-dev.conf passes -t (./dev-access-key)"
else
	say_fail "etc/wpsgate-dev.conf is refused by wpsgated -t:"; sed 's/^/    /' "$tmp/out"
fi
# and without its key file it is refused (the check above really read the key)
rm -f "$tmp/dev-access-key"
if check_t "$tmp/wpsgate-dev.conf"; then
	say_fail "etc/wpsgate-dev.conf passes -t without ./dev-access-key"
fi

[ $fail -eq 0 ] && echo "conf-doc: the configuration reference matches wpsgated"
exit $fail
