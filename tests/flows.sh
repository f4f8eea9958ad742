#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# flowtun flows: golden files for a fixed log (table, JSON, CSV, filters, top-N, groups),
# malformed lines, usage errors, gzip and standard input, and -f across a log rotation.
# FT_REGEN=1 rewrites the golden files from the current output (check the diff before use).
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"

[ -x "$FLOWTUN" ] || ft_fail "no flowtun binary at $FLOWTUN"
data="$top_srcdir/tests/data/flows"
# Relative names, so that the FILE:LINE messages in the golden files do not depend on the tree.
cd "$data"
passed=0

# golden NAME ARGS...: stdout of `flowtun flows ARGS` must equal NAME.out, and it must exit 0.
golden() {
	local name=$1 rc
	shift
	set +e
	"$FLOWTUN" flows "$@" >"$FT_TMP/$name.out" 2>"$FT_TMP/$name.err"
	rc=$?
	set -e
	[ "$rc" -eq 0 ] || ft_fail "$name: exit $rc: $(cat "$FT_TMP/$name.err")"
	[ ! -s "$FT_TMP/$name.err" ] || ft_fail "$name: stderr: $(cat "$FT_TMP/$name.err")"
	if [ "${FT_REGEN:-}" = 1 ]; then
		cp "$FT_TMP/$name.out" "$data/$name.out"
	fi
	diff -u "$data/$name.out" "$FT_TMP/$name.out" >&2 || ft_fail "$name: output differs"
	passed=$((passed + 1))
}

golden table log.jsonl
golden json --json log.jsonl
golden csv --csv log.jsonl
golden filter-host --host 100.64.0.2 --proto tcp log.jsonl
golden filter-src6 --src fd00::/8 log.jsonl
golden filter-dst-cidr --dst 198.18.0.0/15 --kind physical,exit log.jsonl
golden filter-port --port 53 log.jsonl
golden filter-kind --kind exit,subnet --csv log.jsonl
golden filter-time --since 2026-01-02T03:04:12Z --until 2026-01-02T04:04:59+01:00 log.jsonl
golden filter-proto --proto fragment --json log.jsonl
# tunDropped and the omitted sums: in the window titles and below the totals, also filtered.
golden drops drops.jsonl
golden drops-port --port 9 drops.jsonl
golden filter-none --proto 47 log.jsonl
golden csv-empty --csv --proto 47 log.jsonl
golden top --top 3 log.jsonl
golden top-packets --top 2 --by packets --json log.jsonl
golden group-peer --group-by peer log.jsonl
golden group-pair --group-by pair --csv log.jsonl
golden group-src-top --group-by src --top 2 --kind virtual log.jsonl

# The same log through standard input and through gzip reads the same.
"$FLOWTUN" flows <log.jsonl >"$FT_TMP/stdin.out"
cmp -s "$FT_TMP/stdin.out" table.out || ft_fail "standard input differs from the file"
"$FLOWTUN" flows - <log.jsonl >"$FT_TMP/stdin2.out"
cmp -s "$FT_TMP/stdin2.out" table.out || ft_fail "'-' differs from the file"
gzip -c log.jsonl >"$FT_TMP/log.jsonl.gz"
"$FLOWTUN" flows "$FT_TMP/log.jsonl.gz" >"$FT_TMP/gz.out"
cmp -s "$FT_TMP/gz.out" table.out || ft_fail "the gzip file differs from the plain one"
passed=$((passed + 1))

# Malformed lines: reported as FILE:LINE, skipped, exit 1; the good lines still show.
set +e
"$FLOWTUN" flows bad.jsonl >"$FT_TMP/bad.out" 2>"$FT_TMP/bad.err"
rc=$?
set -e
[ "$rc" -eq 1 ] || ft_fail "bad.jsonl: exit $rc, want 1"
if [ "${FT_REGEN:-}" = 1 ]; then
	cp "$FT_TMP/bad.out" bad.out
	cp "$FT_TMP/bad.err" bad.err
fi
diff -u bad.out "$FT_TMP/bad.out" >&2 || ft_fail "bad.jsonl: stdout differs"
diff -u bad.err "$FT_TMP/bad.err" >&2 || ft_fail "bad.jsonl: stderr differs"
passed=$((passed + 1))

# A file that cannot be read: exit 1, and the other files are still read.
set +e
"$FLOWTUN" flows "$FT_TMP/no-such-file" log.jsonl >"$FT_TMP/missing.out" 2>"$FT_TMP/missing.err"
rc=$?
set -e
[ "$rc" -eq 1 ] || ft_fail "a missing file: exit $rc, want 1"
grep -q "no-such-file: No such file or directory" "$FT_TMP/missing.err" || ft_fail "missing: $(cat "$FT_TMP/missing.err")"
cmp -s "$FT_TMP/missing.out" table.out || ft_fail "a missing file stopped the others"
passed=$((passed + 1))

# Usage errors exit 2 and name the bad value.
for args in "--proto bogus" "--kind nope" "--json --csv" "--since yesterday" \
	"--src 100.64.0.1/33" "--host 100.64.0.300" "--top 0" "--top -1" "--port 65536" \
	"--group-by nobody" "--by bytes" "--by weight --top 1" "--bogus" "--duration 1s" \
	"-f log.jsonl table.out" "-f -" "--top"; do
	set +e
	# shellcheck disable=SC2086
	"$FLOWTUN" flows $args log.jsonl >/dev/null 2>"$FT_TMP/usage.err" </dev/null
	rc=$?
	set -e
	[ "$rc" -eq 2 ] || ft_fail "'$args': exit $rc, want 2"
	grep -q "Usage: flowtun flows" "$FT_TMP/usage.err" || ft_fail "'$args': no usage"
done
passed=$((passed + 1))

"$FLOWTUN" flows --help | grep -q "^Examples:" || ft_fail "--help has no examples"
"$FLOWTUN" help flows | grep -q -- "--group-by" || ft_fail "help flows"
"$FLOWTUN" help | grep -q "flows" || ft_fail "help does not list flows"

# -f: windows appended later are shown; a rotated file (a new inode) is re-opened, and the
# lines written to the old one before the rotation are not lost. --count bounds the run.
log="$FT_TMP/follow.jsonl"
line() {
	printf '{"nodeId":"f","start":"2026-01-02T03:0%d:00.000Z","end":"2026-01-02T03:0%d:05.000Z","virtualTraffic":[{"proto":6,"src":"100.64.0.1:%d","dst":"100.64.0.2:80","txPkts":1,"txBytes":100}]}\n' "$1" "$1" "$1"
}
line 1 >"$log"
ft_bg "$FLOWTUN" flows -f --interval 20ms --count 5 --json "$log" >"$FT_TMP/follow.out" 2>"$FT_TMP/follow.err"
fpid=$FT_LAST_PID
shown() { [ "$(grep -c '"nodeId":"f"' "$FT_TMP/follow.out")" -ge "$1" ]; }
ft_wait_for 10 shown 1 || ft_fail "-f: the first window did not show"
line 2 >>"$log"
# A partial line is held until its newline arrives.
line 3 | head -c 50 >>"$log"
ft_wait_for 10 shown 2 || ft_fail "-f: an appended window did not show"
sleep 0.2
line 3 | tail -c +51 >>"$log"
ft_wait_for 10 shown 3 || ft_fail "-f: a line written in two parts did not show"
line 4 >>"$log"
mv "$log" "$log.1"
line 5 >"$log"
ft_wait_for 10 shown 5 || ft_fail "-f: no window after the rotation: $(cat "$FT_TMP/follow.out")"
for _ in $(seq 100); do
	kill -0 "$fpid" 2>/dev/null || break
	sleep 0.05
done
! kill -0 "$fpid" 2>/dev/null || ft_fail "-f --count 5 did not exit"
set +e
wait "$fpid"
rc=$?
set -e
[ "$rc" -eq 0 ] || ft_fail "-f exited $rc: $(cat "$FT_TMP/follow.err")"
got=$(sed 's/.*"src":"100.64.0.1:\([0-9]\)".*/\1/' "$FT_TMP/follow.out" | tr -d '\n')
[ "$got" = 12345 ] || ft_fail "-f: windows in order '$got', want 12345"
passed=$((passed + 1))

# -f --duration ends on its own, and prints the totals line.
line 6 >>"$log"
timeout 10 "$FLOWTUN" flows -f --duration 300ms "$log" >"$FT_TMP/dur.out" ||
	ft_fail "-f --duration: exit $?"
grep -q "^total: 2 entries" "$FT_TMP/dur.out" || ft_fail "-f --duration: $(cat "$FT_TMP/dur.out")"
passed=$((passed + 1))

echo "flows: $passed passed, 0 failed"
