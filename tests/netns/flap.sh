#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Link flap on the underlay veth: the tunnel recovers, and the time until traffic flows again
# is printed, with flowtun's link reaction (a link coming up re-resolves the endpoint and
# starts a handshake at once) and without it (--no-link-reaction).
#
#   namespace $FT_PREFIX-a                           namespace $FT_PREFIX-b
#   +-----------------------------+                  +-----------------------------+
#   | tun0 100.64.0.1/24 fd00::1  |                  | tun0 100.64.0.2/24 fd00::2  |
#   |   flowtun up a.conf         |                  |   flowtun up b.conf         |
#   |   (watches veth-a)          |                  |                             |
#   |   ping -D 100.64.0.2        |                  |                             |
#   | veth-a 198.18.0.1/24 -------+------ veth ------+------- veth-b 198.18.0.2/24 |
#   |   down 1 s, then up         |                  |                             |
#   +-----------------------------+                  +-----------------------------+
#
# 1. A session exists; veth-a goes down for 1 s while a pings b. The session survives, so
#    traffic flows again as soon as the link does, with or without the reaction.
# 2. For each mode, a freshly started flowtun a (no session) loses its underlay, and only then
#    gets traffic for b: its first initiation cannot leave. The link comes back 1 s later.
#    With the reaction a handshake starts at link-up; without it the retry timer
#    (REKEY_TIMEOUT, 5 s after the lost initiation) decides. Both times are printed; only
#    generous sanity bounds are asserted.
# shellcheck disable=SC2154 # a, b, ka, kb, pa, pb: set by ft_pair (tests/lib.sh)
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib.sh"

ft_require_root
ft_require_cmd ip ping
[ -x "$FLOWTUN" ] || ft_fail "no flowtun binary at $FLOWTUN"

ft_pair
ft_conf "$FT_TMP/a.conf" "$ka" "100.64.0.1/24, fd00::1/64" "$pb" "100.64.0.2/32, fd00::2/128" \
	198.18.0.2:51820 "LinkPollInterval = 1"
ft_conf "$FT_TMP/b.conf" "$kb" "100.64.0.2/24, fd00::2/64" "$pa" "100.64.0.1/32, fd00::1/128" \
	198.18.0.1:51820
ft_up "$b" "$FT_TMP/b.conf" --no-link-monitor
pid_b=$FT_LAST_PID
log_a=$FT_TMP/a.conf.log

# link_seen STATE N: flowtun a logged veth-a in STATE ("link", "no link") N times so far.
link_seen() { [ "$(grep -cx "flowtun: underlay veth-a: $1" "$log_a")" -ge "$2" ]; }

# first_reply_ms FILE T_MS: milliseconds from T_MS to the first echo reply in FILE (ping -D)
# received at or after T_MS; nothing when there is none yet.
first_reply_ms() {
	awk -v t="$2" -F'[][]' '/bytes from/ { ms = $2 * 1000; if (ms >= t) {
		printf "%d\n", ms - t; exit } }' "$1"
}

# flap_and_measure MAX_S [CHECK]: 1 s later veth-a comes up; sets FT_RECOVERY_MS to the time
# until a ping answer came back. CHECK runs once flowtun logged the link-up (the ping's own
# timestamps measure the recovery meanwhile).
flap_and_measure() {
	local max=$1 check=${2:-true} t_up ms=
	sleep 1
	t_up=$(ft_now_ms)
	ip -n "$a" link set veth-a up
	ft_wait_for 5 link_seen link 2 || ft_fail "flowtun a did not notice veth-a coming up"
	$check
	local deadline=$((t_up + max * 1000))
	while [ -z "$ms" ] && [ "$(ft_now_ms)" -lt "$deadline" ]; do
		sleep 0.05
		ms=$(first_reply_ms "$FT_TMP/ping" "$t_up")
	done
	kill "$FT_PING_PID" 2>/dev/null || true
	wait "$FT_PING_PID" 2>/dev/null || true
	[ -n "$ms" ] || ft_fail "no ping answer within ${max}s of link-up"
	FT_RECOVERY_MS=$ms
}

# With the reaction, link-up itself sends an initiation: the second one, about 1 s after the
# first (lost) one, long before the retry timer's (5 s after the first). A functional check,
# not a timing one: 4 s of margin.
initiated_at_link_up() {
	local n
	n=$(ft_counter "$pid_a" "$log_a" handshake_initiated)
	[ "$n" -ge 2 ] || ft_fail "link-up sent no initiation (handshake_initiated $n):" \
		"the link reaction did not start a handshake at once"
}
start_ping() {
	: >"$FT_TMP/ping"
	ft_bg ip netns exec "$a" ping -D -i 0.05 -W 1 -w 30 100.64.0.2 >"$FT_TMP/ping" 2>&1
	FT_PING_PID=$FT_LAST_PID
}

# 1. A flap under an established session.
ft_up "$a" "$FT_TMP/a.conf"
pid_a=$FT_LAST_PID
ft_wait_for 5 link_seen link 1 || ft_fail "flowtun a does not watch veth-a: $(cat "$log_a")"
ft_ping "$a" 100.64.0.2 || ft_fail "a cannot ping 100.64.0.2"
start_ping
sleep 0.5
ip -n "$a" link set veth-a down
ft_wait_for 5 link_seen "no link" 1 || ft_fail "flowtun a did not notice veth-a going down"
flap_and_measure 5
ft_log "flap with a session: traffic again ${FT_RECOVERY_MS} ms after link-up"
ft_stop "$pid_a" "$FT_TMP/a.conf.log" || ft_fail "flowtun a did not exit cleanly on SIGTERM"

# 2. A handshake is due while the link is down: with and without the reaction.
ms_reaction=0 ms_no_reaction=0
for mode in reaction no-reaction; do
	opt='' check=initiated_at_link_up
	[ "$mode" = reaction ] || opt=--no-link-reaction check=true
	ft_up "$a" "$FT_TMP/a.conf" $opt
	pid_a=$FT_LAST_PID
	ft_wait_for 5 link_seen link 1 || ft_fail "flowtun a does not watch veth-a"
	ip -n "$a" link set veth-a down
	ft_wait_for 5 link_seen "no link" 1 || ft_fail "flowtun a did not notice veth-a going down"
	start_ping
	flap_and_measure 15 $check
	case $mode in
	reaction) ms_reaction=$FT_RECOVERY_MS ;;
	*) ms_no_reaction=$FT_RECOVERY_MS ;;
	esac
	ft_log "handshake due during the flap, $mode: traffic again $FT_RECOVERY_MS ms after link-up"
	ft_status "$pid_a" "$log_a" | sed "s/^/  a ($mode): /" >&2
	ft_stop "$pid_a" "$log_a" || ft_fail "flowtun a ($mode) did not exit cleanly on SIGTERM"
done
# Sanity bounds only (REKEY_TIMEOUT, its jitter and slack for a sanitizer build): the
# numbers are for reading, the reaction itself is checked above.
[ "$ms_reaction" -lt 12000 ] || ft_fail "with the link reaction: ${ms_reaction} ms"
[ "$ms_no_reaction" -lt 12000 ] || ft_fail "without the link reaction: ${ms_no_reaction} ms"
ft_log "recovery after a flap with a handshake due: ${ms_reaction} ms with the link reaction," \
	"${ms_no_reaction} ms without"
ft_stop "$pid_b" "$FT_TMP/b.conf.log" || ft_fail "flowtun b did not exit cleanly on SIGTERM"
echo "flap: 1 passed, 0 failed"
