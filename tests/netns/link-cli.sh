#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# flowtun link-watch / link-status from the command line, without root: usage errors, the
# output format on lo and on a missing interface, --count, --duration and SIGTERM. The root
# tests with real cables are in link.sh.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib.sh"

[ -x "$FLOWTUN" ] || ft_fail "no flowtun binary at $FLOWTUN"

# expect_rc RC CMD...: CMD exits RC; its stderr is kept in $FT_TMP/err.
expect_rc() {
	local want=$1 rc
	shift
	set +e
	"$@" >"$FT_TMP/out" 2>"$FT_TMP/err"
	rc=$?
	set -e
	[ "$rc" -eq "$want" ] || ft_fail "'$*' exited $rc, want $want: $(cat "$FT_TMP/err")"
}

# Usage errors: exit 2, the usage, and the bad value named.
expect_rc 2 "$FLOWTUN" link-watch
grep -q "no interface given" "$FT_TMP/err" || ft_fail "link-watch without interface: $(cat "$FT_TMP/err")"
grep -q "Usage: flowtun link-watch" "$FT_TMP/err" || ft_fail "no usage on a usage error"
expect_rc 2 "$FLOWTUN" link-status
for bad in 2x -1 1.5ms "" 2sec 0; do
	expect_rc 2 "$FLOWTUN" link-watch --poll "$bad" lo
	grep -qF -- "'$bad'" "$FT_TMP/err" || [ "$bad" = 0 ] ||
		ft_fail "--poll '$bad': the error does not name it: $(cat "$FT_TMP/err")"
done
expect_rc 2 "$FLOWTUN" link-watch --poll
expect_rc 2 "$FLOWTUN" link-watch --up-delay=soon lo
grep -q "'soon' for --up-delay" "$FT_TMP/err" || ft_fail "bad --up-delay: $(cat "$FT_TMP/err")"
expect_rc 2 "$FLOWTUN" link-watch --delta many lo
expect_rc 2 "$FLOWTUN" link-watch --count 0 lo
expect_rc 2 "$FLOWTUN" link-watch --bogus lo
expect_rc 2 "$FLOWTUN" link-watch lo,,lo
expect_rc 2 "$FLOWTUN" link-watch lo,lo
grep -q "'lo' given twice" "$FT_TMP/err" || ft_fail "duplicate: $(cat "$FT_TMP/err")"
expect_rc 2 "$FLOWTUN" link-watch "bad/name"
grep -q "invalid interface name 'bad/name'" "$FT_TMP/err" || ft_fail "bad name: $(cat "$FT_TMP/err")"
"$FLOWTUN" link-watch --help | grep -q -- "--count N" || ft_fail "link-watch --help"
"$FLOWTUN" help | grep -q link-status || ft_fail "help does not list link-status"

# link-status: lo has link (up in any namespace we run in), a missing one is an error.
expect_rc 0 "$FLOWTUN" link-status lo
[ "$(cat "$FT_TMP/out")" = "lo: link" ] || ft_fail "link-status lo: $(cat "$FT_TMP/out")"
expect_rc 2 "$FLOWTUN" link-status lo ftnosuch0
[ "$(cat "$FT_TMP/out")" = "$(printf 'lo: link\nftnosuch0: error')" ] ||
	ft_fail "link-status lo ftnosuch0: $(cat "$FT_TMP/out")"
grep -q "ftnosuch0: No such device" "$FT_TMP/err" || ft_fail "no reason: $(cat "$FT_TMP/err")"

# link-watch: one sample in the order given, then --count ends it with 0.
expect_rc 0 "$FLOWTUN" link-watch --count 1 ftnosuch0,lo
[ "$(cat "$FT_TMP/out")" = "$(printf 'ftnosuch0: error\nlo: link')" ] ||
	ft_fail "link-watch --count 1: $(cat "$FT_TMP/out")"
expect_rc 0 "$FLOWTUN" link-watch --count 1 --json lo
jq -e '.interfaces[0] | .name == "lo" and .state == "link" and .changed and .ifindex == 1' \
	"$FT_TMP/out" >/dev/null || ft_fail "--json: $(cat "$FT_TMP/out")"
jq -e '(.time | test("^[0-9-]{10}T[0-9:]{8}\\.[0-9]{3}Z$")) and .time_ms > 0 and .seq == 0' \
	"$FT_TMP/out" >/dev/null || ft_fail "--json time: $(cat "$FT_TMP/out")"
expect_rc 0 "$FLOWTUN" link-watch --verbose --count 1 lo
grep -qE '^# [0-9-]{10}T[0-9:.]{12}Z \([0-9]+\) sample 0, changed: lo$' "$FT_TMP/out" ||
	ft_fail "--verbose header: $(cat "$FT_TMP/out")"

# --duration ends it; SIGTERM and SIGINT end it with 0; nothing changes, so one sample.
start=$(ft_now_ms)
expect_rc 0 "$FLOWTUN" link-watch --poll 100ms --duration 500ms lo
[ "$(cat "$FT_TMP/out")" = "lo: link" ] || ft_fail "--duration: $(cat "$FT_TMP/out")"
[ $(( $(ft_now_ms) - start )) -lt 5000 ] || ft_fail "--duration 500ms did not end it"
for sig in TERM INT; do
	ft_bg "$FLOWTUN" link-watch --poll 100ms lo >"$FT_TMP/sig.out"
	pid=$FT_LAST_PID
	ft_wait_for 5 grep -q "lo: link" "$FT_TMP/sig.out" || ft_fail "SIG$sig: no sample"
	kill -"$sig" "$pid"
	wait "$pid" || ft_fail "link-watch exited $? on SIG$sig, want 0"
done

echo "link-cli: 1 passed, 0 failed"
