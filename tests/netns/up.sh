#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# flowtun <-> flowtun over a veth underlay: ping both ways over IPv4 and IPv6, an iperf3 TCP
# run, the flow log's record of that run, and SIGTERM leaving nothing behind.
#
#   namespace $FT_PREFIX-a                           namespace $FT_PREFIX-b
#   +-----------------------------+                  +-----------------------------+
#   | tun0 100.64.0.1/24 fd00::1  |                  | tun0 100.64.0.2/24 fd00::2  |
#   |   flowtun up a.conf         |                  |   flowtun up b.conf         |
#   |   (FlowLog flows-a.jsonl)   |                  |                             |
#   | veth-a 198.18.0.1/24 -------+------ veth ------+------- veth-b 198.18.0.2/24 |
#   +-----------------------------+                  +-----------------------------+
# shellcheck disable=SC2154 # a, b, ka, kb, pa, pb: set by ft_pair (tests/lib.sh)
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib.sh"

ft_require_root
ft_require_cmd ip ping iperf3 jq
[ -x "$FLOWTUN" ] || ft_fail "no flowtun binary at $FLOWTUN"

ft_pair
ft_conf "$FT_TMP/a.conf" "$ka" "100.64.0.1/24, fd00::1/64" "$pb" "100.64.0.2/32, fd00::2/128" \
	198.18.0.2:51820 "FlowLog = $FT_TMP/flows-a.jsonl"
ft_conf "$FT_TMP/b.conf" "$kb" "100.64.0.2/24, fd00::2/64" "$pa" "100.64.0.1/32, fd00::1/128" \
	198.18.0.1:51820
# FT_UP_FLAGS_A/_B: extra flowtun up options per side (up-nooffload.sh, up-mixed.sh).
# FT_UP_USER: the user a drops to (up-privs.sh); its flow log must then be writable by it.
if [ -n "${FT_UP_USER:-}" ]; then
	chmod 0755 "$FT_TMP"
	touch "$FT_TMP/flows-a.jsonl"
	chown "$FT_UP_USER" "$FT_TMP/flows-a.jsonl"
fi
# shellcheck disable=SC2086
ft_up "$a" "$FT_TMP/a.conf" ${FT_UP_FLAGS_A:-}
pid_a=$FT_LAST_PID
# shellcheck disable=SC2086
ft_up "$b" "$FT_TMP/b.conf" ${FT_UP_FLAGS_B:-}
pid_b=$FT_LAST_PID

# Both directions and both families; a initiates the handshake (its first ping).
ft_ping "$a" 100.64.0.2 || ft_fail "a cannot ping 100.64.0.2"
ft_ping "$b" 100.64.0.1 || ft_fail "b cannot ping 100.64.0.1"
ft_ping "$a" fd00::2 || ft_fail "a cannot ping fd00::2"
ft_ping "$b" fd00::1 || ft_fail "b cannot ping fd00::1"
ip netns exec "$a" ping -c 5 -i 0.2 -W 2 100.64.0.2 >/dev/null || ft_fail "lost pings a -> b"
ip netns exec "$b" ping -6 -c 5 -i 0.2 -W 2 fd00::1 >/dev/null || ft_fail "lost pings b -> a"
ft_log "ping a <-> b over IPv4 and IPv6: ok"

ft_iperf "$b" "$a" 100.64.0.2 5
ft_log "iperf3 100.64.0.1 -> 100.64.0.2, 5 s: $FT_MBPS Mbit/s"
[ "$FT_MBPS" -gt 0 ] || ft_fail "iperf3 moved less than 1 Mbit/s"
ft_status "$pid_a" "$FT_TMP/a.conf.log" | sed 's/^/  a: /' >&2
grep -q "session yes" <(ft_status "$pid_a" "$FT_TMP/a.conf.log") || ft_fail "a has no session"

# SIGTERM: exit status 0, and no device, address, route or process left.
ft_stop "$pid_a" "$FT_TMP/a.conf.log" || ft_fail "flowtun a did not exit cleanly on SIGTERM"
ft_stop "$pid_b" "$FT_TMP/b.conf.log" || ft_fail "flowtun b did not exit cleanly on SIGTERM"
for ns in "$a" "$b"; do
	! ip -n "$ns" link show tun0 >/dev/null 2>&1 || ft_fail "tun0 is still there in $ns"
	r=$(ip -n "$ns" -4 route show; ip -n "$ns" -6 route show)
	! grep -qE '100\.64\.|fd00:|tun0' <<<"$r" || ft_fail "routes left in $ns: $r"
	! ip netns pids "$ns" | grep -q . || ft_fail "processes left in $ns: $(ip netns pids "$ns")"
done
! kill -0 "$pid_a" 2>/dev/null || ft_fail "flowtun a still runs"
grep -qiE "leak|AddressSanitizer|runtime error|still had handles" "$FT_TMP"/*.log &&
	ft_fail "sanitizer or leak report: $(cat "$FT_TMP"/*.log)"

# The flow log: after SIGTERM's final flush it has the iperf3 TCP flow (port 5201) in
# virtualTraffic with traffic both ways.
log=$FT_TMP/flows-a.jsonl
[ -s "$log" ] || ft_fail "the flow log $log is empty"
jq -e . "$log" >/dev/null || ft_fail "the flow log is not JSON lines: $(head -c 500 "$log")"
flow=$(jq -c '.virtualTraffic[]? | select(.proto == 6 and (.src | startswith("100.64.0.1:")) and
	.dst == "100.64.0.2:5201")' "$log")
[ -n "$flow" ] || ft_fail "no virtual entry for the iperf3 flow in: $(cat "$log")"
jq -se 'map(.txBytes // 0) | add > 1000000' <<<"$flow" >/dev/null ||
	ft_fail "the iperf3 flow counts less than 1 MB sent: $flow"
jq -se 'map(.rxPkts // 0) | add > 0' <<<"$flow" >/dev/null || ft_fail "no packets back: $flow"
jq -se '[.[].physicalTraffic[]? | select(.dst == "198.18.0.2:51820")] | length > 0' "$log" \
	>/dev/null || ft_fail "no physical entry for the underlay endpoint"
ft_log "flow log: $(wc -l <"$log") messages; iperf3 flow: $(head -1 <<<"$flow")"
echo "up: 1 passed, 0 failed"
