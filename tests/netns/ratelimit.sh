#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# A handshake flood from a sender that answers the cookie (tests/netns/hs-flood cookie): every
# initiation carries a valid mac2, so under load only b's per-source rate limit (20/s, burst
# 5, tun/wg/ratelimit.h) stands between it and b's DH work. Checked on b's counters:
#   - the flood's initiations that reached the DH (counted unknown_peer: its static key is
#     no peer of b) are at most the burst plus 20 per second of flood, with a margin for the
#     seconds the cookie phase and the counting add;
#   - the others were dropped as ratelimited, before the DH;
#   - a real peer (a, from another address) completes its first handshake with b during the
#     flood and pings through the tunnel.
#
#   namespace a                                      namespace b
#   +-----------------------------------+            +-----------------------------------+
#   | flowtun tun0 100.64.0.1           |            | flowtun tun0 100.64.0.2           |
#   | veth-a 198.18.0.1/24 (flowtun)    +-- veth ----+ veth-b 198.18.0.2/24              |
#   |        198.18.0.3/24 (hs-flood)   |            |                                   |
#   +-----------------------------------+            +-----------------------------------+
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib.sh"

ft_require_root
ft_require_cmd ip
[ -x "$FLOWTUN" ] || ft_fail "no flowtun binary at $FLOWTUN"
flood=${top_builddir:-.}/tests/netns/hs-flood
[ -x "$flood" ] || ft_fail "no $flood (make check builds it)"

# a starts 1.5 s into the flood; its first initiation gets a cookie reply, its retry
# (REKEY_TIMEOUT, 5 s later) carries mac2: 8 s of flood cover it.
RATE=1000 SECS=8

ft_pair
ip -n "$a" addr add 198.18.0.3/24 dev veth-a
ft_conf "$FT_TMP/a.conf" "$ka" "100.64.0.1/24" "$pb" "100.64.0.2/32" 198.18.0.2:51820
ft_conf "$FT_TMP/b.conf" "$kb" "100.64.0.2/24" "$pa" "100.64.0.1/32"
ft_up "$b" "$FT_TMP/b.conf"
pid_b=$FT_LAST_PID log_b=$FT_TMP/b.conf.log

counters() { ft_status "$pid_b" "$log_b" | awk 'NF == 2 {print $1, $2}' >"$FT_TMP/counters"; }
c() { awk -v n="$1" '$1 == n {v = $2} END {print v + 0}' "$FT_TMP/counters"; }

# The flood, from 198.18.0.3 (bound); a's tunnel from 198.18.0.1, completing its first
# handshake under the flood.
t0=$(ft_now_ms)
ft_bg ip netns exec "$a" "$flood" cookie 198.18.0.2 51820 "$pb" $RATE $SECS 198.18.0.3 \
	>"$FT_TMP/flood.out"
flood_pid=$FT_LAST_PID
sleep 1.5
ft_up "$a" "$FT_TMP/a.conf"
pid_a=$FT_LAST_PID
ft_ping "$a" 100.64.0.2 20 || ft_fail "a cannot ping b during the flood"
ping_ms=$(($(ft_now_ms) - t0))
counters
under_load_ok=$(c handshake_completed)
wait "$flood_pid" || ft_fail "hs-flood cookie failed: $(cat "$FT_TMP/flood.out")"
flood_ms=$(($(ft_now_ms) - t0))
read -r _ sent _ phase _ cookies _ secs <"$FT_TMP/flood.out"
counters
dh=$(c unknown_peer) limited=$(c ratelimited) mac2=$(c bad_mac2) done=$(c handshake_completed)
ft_log "hs-flood: $(cat "$FT_TMP/flood.out")"
ft_log "b: unknown_peer (DH done for the flood) $dh, ratelimited $limited, bad_mac2 $mac2," \
	"cookie_sent $(c cookie_sent), handshake_completed $done ($under_load_ok when a pinged," \
	"${ping_ms} ms into the flood of ${flood_ms} ms)"

[ "$sent" -gt 0 ] && [ "$phase" -gt 0 ] || ft_fail "the flood sent nothing: $(cat "$FT_TMP/flood.out")"
# Through the limiter: the cookie phase's own DH (before b was under load, up to its 128/s
# threshold a second, as b's load window goes) plus 5 + 20/s over the flood's seconds.
allowed=$((phase + 5 + 20 * (SECS + 2)))
[ "$dh" -le "$allowed" ] ||
	ft_fail "b did the DH for $dh flood initiations (at most $allowed with the rate limit)"
[ "$limited" -ge $((sent - allowed)) ] ||
	ft_fail "only $limited of the $sent flood initiations were rate limited"
[ "$under_load_ok" -ge 1 ] || ft_fail "a's handshake did not complete"
[ "$ping_ms" -lt "$flood_ms" ] || ft_fail "a got through only after the flood (${ping_ms} ms)"
kill -0 "$pid_b" || ft_fail "b died"
ft_stop "$pid_a" "$FT_TMP/a.conf.log" || ft_fail "a did not exit cleanly"
ft_stop "$pid_b" "$log_b" || ft_fail "b did not exit cleanly"
grep -qiE "AddressSanitizer|runtime error" "$log_b" && ft_fail "sanitizer report: $(tail -20 "$log_b")"
echo "ratelimit: 1 passed, 0 failed"
