#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Roaming: while a pings b through the tunnel, a's underlay address changes (198.18.0.1 ->
# .11 -> .21); then b's changes while b pings a (198.18.0.2 -> .12). The other side learns the
# new endpoint from the first authenticated packet from there, as WireGuard does, and
# traffic continues both ways. No link monitor: this is the protocol's roaming alone.
#
#   namespace $FT_PREFIX-a                           namespace $FT_PREFIX-b
#   +-----------------------------+                  +-----------------------------+
#   | tun0 100.64.0.1/24 fd00::1  |                  | tun0 100.64.0.2/24 fd00::2  |
#   |   flowtun up a.conf         |                  |   flowtun up b.conf         |
#   |   Endpoint 198.18.0.2:51820 |                  |   Endpoint 198.18.0.1:51820 |
#   | veth-a 198.18.0.1/24 -------+------ veth ------+------- veth-b 198.18.0.2/24 |
#   |     -> .11 -> .21           |                  |                  -> .12     |
#   +-----------------------------+                  +-----------------------------+
# shellcheck disable=SC2154 # a, b, ka, kb, pa, pb: set by ft_pair (tests/lib.sh)
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib.sh"

ft_require_root
ft_require_cmd ip ping
[ -x "$FLOWTUN" ] || ft_fail "no flowtun binary at $FLOWTUN"

ft_pair
ft_conf "$FT_TMP/a.conf" "$ka" "100.64.0.1/24, fd00::1/64" "$pb" "100.64.0.2/32, fd00::2/128" \
	198.18.0.2:51820
ft_conf "$FT_TMP/b.conf" "$kb" "100.64.0.2/24, fd00::2/64" "$pa" "100.64.0.1/32, fd00::1/128" \
	198.18.0.1:51820
ft_up "$a" "$FT_TMP/a.conf" --no-link-monitor
pid_a=$FT_LAST_PID
ft_up "$b" "$FT_TMP/b.conf" --no-link-monitor
pid_b=$FT_LAST_PID
ft_ping "$a" 100.64.0.2 || ft_fail "a cannot ping 100.64.0.2"
st=$(ft_status "$pid_b" "$FT_TMP/b.conf.log")
grep -qF "endpoint 198.18.0.1:51820" <<<"$st" || ft_fail "b's endpoint of a: $st"

# roam MOVER OTHER_PID NEW_ADDR: MOVER (a or b) pings the other side through the tunnel while
# the address of its veth changes to NEW_ADDR; afterwards the other side's endpoint of MOVER
# is NEW_ADDR:51820 and it reaches MOVER through it over IPv4 and IPv6.
roam() {
	local mover=$FT_PREFIX-$1 ifc=veth-$1 other_pid=$2 new=$3 lost want=$3:51820
	local other=b dst=100.64.0.2 back4=100.64.0.1 back6=fd00::1
	[ "$1" = a ] || other=a dst=100.64.0.1 back4=100.64.0.2 back6=fd00::2
	ft_bg ip netns exec "$mover" ping -i 0.1 -c 30 -W 1 "$dst" >"$FT_TMP/ping" 2>&1
	local ping_pid=$FT_LAST_PID
	sleep 1
	ip -n "$mover" addr flush dev "$ifc"
	ip -n "$mover" addr add "$new/24" dev "$ifc"
	wait "$ping_pid" || true
	lost=$(awk -F', ' '/packets transmitted/ {print $1 ", " $2}' "$FT_TMP/ping")
	# The last pings, sent well after the move, must have been answered.
	grep -qE 'icmp_seq=(29|30) ' "$FT_TMP/ping" ||
		ft_fail "the last pings after the move to $new got no answer ($lost)"
	st=$(ft_status "$other_pid" "$FT_TMP/$other.conf.log")
	grep -qF "endpoint $want " <<<"$st" || ft_fail "the peer did not follow to $want: $st"
	ip netns exec "$FT_PREFIX-$other" ping -c 3 -i 0.2 -W 2 "$back4" >/dev/null ||
		ft_fail "no answer from $back4 after the move to $new"
	ip netns exec "$FT_PREFIX-$other" ping -6 -c 3 -i 0.2 -W 2 "$back6" >/dev/null ||
		ft_fail "no answer from $back6 after the move to $new"
	ft_log "moved to $new: the peer follows; pings across the move: $lost"
}

roam a "$pid_b" 198.18.0.11
roam a "$pid_b" 198.18.0.21
roam b "$pid_a" 198.18.0.12
st=$(ft_status "$pid_a" "$FT_TMP/a.conf.log")
sed 's/^/  a: /' <<<"$st" >&2
st=$(ft_status "$pid_b" "$FT_TMP/b.conf.log")
sed 's/^/  b: /' <<<"$st" >&2

ft_stop "$pid_a" "$FT_TMP/a.conf.log" || ft_fail "flowtun a did not exit cleanly on SIGTERM"
ft_stop "$pid_b" "$FT_TMP/b.conf.log" || ft_fail "flowtun b did not exit cleanly on SIGTERM"
echo "roam: 1 passed, 0 failed"
