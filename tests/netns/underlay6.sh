#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# flowtun <-> flowtun over an IPv6-only underlay: the UDP socket, the endpoints and the
# physical statistics with IPv6 addresses; both overlay families ride on it.
#
#   namespace $FT_PREFIX-a                           namespace $FT_PREFIX-b
#   +-----------------------------+                  +-----------------------------+
#   | tun0 100.64.0.1/24 fd00::1  |                  | tun0 100.64.0.2/24 fd00::2  |
#   |   flowtun up a.conf         |                  |   flowtun up b.conf         |
#   |   Endpoint [fd18::2]:51820  |                  |   Endpoint [fd18::1]:51820  |
#   | veth-a fd18::1/64 ----------+------ veth ------+-------------- veth-b fd18::2 |
#   +-----------------------------+                  +-----------------------------+
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib.sh"

ft_require_root
ft_require_cmd ip ping iperf3 jq
[ -x "$FLOWTUN" ] || ft_fail "no flowtun binary at $FLOWTUN"

ft_netns a >/dev/null
ft_netns b >/dev/null
a=$FT_PREFIX-a b=$FT_PREFIX-b
ft_veth "$a" veth-a "$b" veth-b
# nodad: the addresses are usable at once, not after duplicate address detection.
ip -n "$a" addr add fd18::1/64 dev veth-a nodad
ip -n "$b" addr add fd18::2/64 dev veth-b nodad
ip netns exec "$a" ping -6 -c 1 -W 5 fd18::2 >/dev/null || ft_fail "no IPv6 underlay"

ka=$("$FLOWTUN" genkey) kb=$("$FLOWTUN" genkey)
pa=$("$FLOWTUN" pubkey <<<"$ka") pb=$("$FLOWTUN" pubkey <<<"$kb")
ft_conf "$FT_TMP/a.conf" "$ka" "100.64.0.1/24, fd00::1/64" "$pb" "100.64.0.2/32, fd00::2/128" \
	"[fd18::2]:51820" "FlowLog = $FT_TMP/flows-a.jsonl"
ft_conf "$FT_TMP/b.conf" "$kb" "100.64.0.2/24, fd00::2/64" "$pa" "100.64.0.1/32, fd00::1/128" \
	"[fd18::1]:51820"
ft_up "$a" "$FT_TMP/a.conf"
pid_a=$FT_LAST_PID
ft_up "$b" "$FT_TMP/b.conf"
pid_b=$FT_LAST_PID

ft_ping "$a" 100.64.0.2 || ft_fail "a cannot ping 100.64.0.2"
ft_ping "$b" fd00::1 || ft_fail "b cannot ping fd00::1"
ip netns exec "$b" ping -c 5 -i 0.2 -W 2 100.64.0.1 >/dev/null || ft_fail "lost pings b -> a"
ip netns exec "$a" ping -6 -c 5 -i 0.2 -W 2 fd00::2 >/dev/null || ft_fail "lost pings a -> b"
ft_log "ping a <-> b over an IPv6 underlay: ok"
ft_iperf "$b" "$a" fd00::2 3
ft_log "iperf3 fd00::1 -> fd00::2 over fd18::/64, 3 s: $FT_MBPS Mbit/s"

st=$(ft_status "$pid_a" "$FT_TMP/a.conf.log")
sed 's/^/  a: /' <<<"$st" >&2
grep -qF "endpoint [fd18::2]:51820" <<<"$st" || ft_fail "a's peer endpoint is not [fd18::2]:51820"
grep -q "session yes" <<<"$st" || ft_fail "a has no session"
ft_stop "$pid_a" "$FT_TMP/a.conf.log" || ft_fail "flowtun a did not exit cleanly on SIGTERM"
ft_stop "$pid_b" "$FT_TMP/b.conf.log" || ft_fail "flowtun b did not exit cleanly on SIGTERM"
! ip -n "$a" link show tun0 >/dev/null 2>&1 || ft_fail "tun0 is still there in $a"
jq -se '[.[].physicalTraffic[]? | select(.dst == "[fd18::2]:51820" and .txBytes > 0)] |
	length > 0' "$FT_TMP/flows-a.jsonl" >/dev/null ||
	ft_fail "no physical flow-log entry for [fd18::2]:51820: $(cat "$FT_TMP/flows-a.jsonl")"
echo "underlay6: 1 passed, 0 failed"
