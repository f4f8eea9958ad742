#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Hostile input: while iperf3 runs through the tunnel, a third socket in namespace a sends b's
# listen port random datagrams of every message type and replays of transport messages
# captured on the wire (tests/netns/udp-noise). The tunnel keeps working, every datagram that
# reached flowtun is counted under a named drop counter, and the replays move no endpoint.
#
#   namespace $FT_PREFIX-a                           namespace $FT_PREFIX-b
#   +-----------------------------+                  +-----------------------------+
#   | tun0 100.64.0.1/24 fd00::1  |                  | tun0 100.64.0.2/24 fd00::2  |
#   |   flowtun up a.conf         |                  |   flowtun up b.conf         |
#   |   iperf3 -c 100.64.0.2      |                  |   iperf3 -s                 |
#   |   udp-noise  --random------>+----------------->+-> 198.18.0.2:51820          |
#   |     (captures on veth-a,    |                  |                             |
#   |      replays from its port) |                  |                             |
#   | veth-a 198.18.0.1/24 -------+------ veth ------+------- veth-b 198.18.0.2/24 |
#   +-----------------------------+                  +-----------------------------+
# shellcheck disable=SC2154 # a, b, ka, kb, pa, pb: set by ft_pair (tests/lib.sh)
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib.sh"

ft_require_root
ft_require_cmd ip ping iperf3 jq
[ -x "$FLOWTUN" ] || ft_fail "no flowtun binary at $FLOWTUN"
noise=${top_builddir:-.}/tests/netns/udp-noise
[ -x "$noise" ] || ft_fail "no $noise (make check builds it)"
n_random=3000 n_capture=200 n_repeat=2

ft_pair
ft_conf "$FT_TMP/a.conf" "$ka" "100.64.0.1/24, fd00::1/64" "$pb" "100.64.0.2/32, fd00::2/128" \
	198.18.0.2:51820
ft_conf "$FT_TMP/b.conf" "$kb" "100.64.0.2/24, fd00::2/64" "$pa" "100.64.0.1/32, fd00::1/128" \
	198.18.0.1:51820
ft_up "$a" "$FT_TMP/a.conf"
pid_a=$FT_LAST_PID
ft_up "$b" "$FT_TMP/b.conf"
pid_b=$FT_LAST_PID
log_b=$FT_TMP/b.conf.log
ft_ping "$a" 100.64.0.2 || ft_fail "a cannot ping 100.64.0.2"

# Every rejection b can count for a datagram from the underlay.
drops="truncated bad_mac1 bad_mac2 decrypt_failed unknown_peer stale_timestamp handshake_flood
	wrong_state unknown_index bad_key replayed key_expired source_not_allowed bad_packet ratelimited
	udp_rx_truncated"
# Sum of b's drop counters; the per-counter values in $FT_TMP/drops.
b_drops() {
	ft_status "$pid_b" "$log_b" >"$FT_TMP/status"
	awk -v list="$drops" 'BEGIN {n = split(list, l); for (i = 1; i <= n; i++) want[l[i]] = 1}
		($1 in want) {sum += $2; printf "%s %s ", $1, $2 >"'"$FT_TMP/drops"'"}
		END {print sum + 0}' "$FT_TMP/status"
}
# Datagrams b's kernel dropped before flowtun could read them (a full socket buffer).
b_kernel_drops() {
	ip netns exec "$b" awk '/^Udp:/ && $2 ~ /^[0-9]+$/ {print $4}' /proc/net/snmp
}
drops0=$(b_drops) kdrops0=$(b_kernel_drops)
[ "$drops0" -eq 0 ] || ft_fail "b counted $drops0 drops before any noise: $(cat "$FT_TMP/drops")"

ft_bg ip netns exec "$b" iperf3 -s -1 -B 100.64.0.2 >/dev/null 2>&1
srv_pid=$FT_LAST_PID
ft_wait_for 5 sh -c "ip netns exec $b ss -ltn | grep -q ':5201 '" || ft_fail "no iperf3 server"
ft_bg ip netns exec "$a" iperf3 -c 100.64.0.2 -t 5 -J >"$FT_TMP/iperf.json" 2>&1
cli_pid=$FT_LAST_PID
sleep 1
replay=$(ip netns exec "$a" "$noise" replay veth-a 198.18.0.2 51820 $n_capture $n_repeat) ||
	ft_fail "udp-noise replay: $replay"
random=$(ip netns exec "$a" "$noise" random 198.18.0.2 51820 $n_random $$) ||
	ft_fail "udp-noise random: $random"
ft_log "udp-noise: $replay; random: $(tr '\n' ' ' <<<"$random")"
wait "$cli_pid" || ft_fail "iperf3 failed under noise: $(head -c 800 "$FT_TMP/iperf.json")"
wait "$srv_pid" || true
mbps=$(jq -r '.end.sum_received.bits_per_second / 1e6 | floor' "$FT_TMP/iperf.json")
[ "$mbps" -gt 0 ] || ft_fail "iperf3 under noise moved less than 1 Mbit/s"
ft_log "iperf3 a -> b under noise, 5 s: $mbps Mbit/s"

# The tunnel still works, and b still sends to a's real port, not the replayer's.
kill -0 "$pid_b" || ft_fail "flowtun b died"
ft_ping "$a" 100.64.0.2 3 || ft_fail "a cannot ping b after the noise"
ft_ping "$b" fd00::1 3 || ft_fail "b cannot ping a after the noise"
drops1=$(b_drops) kdrops1=$(b_kernel_drops)
sed 's/^/  b: /' "$FT_TMP/status" >&2
grep -qF "endpoint 198.18.0.1:51820 " "$FT_TMP/status" ||
	ft_fail "a replayed or random datagram moved b's endpoint of a: $(cat "$FT_TMP/status")"

# Every hostile datagram that reached flowtun is a counted drop: at least those sent minus
# those b's kernel dropped for a full buffer (which may have been iperf3's own).
sent=$((n_random + n_capture * n_repeat))
counted=$((drops1 - drops0)) lost=$((kdrops1 - kdrops0))
replayed=$(awk '{for (i = 1; i < NF; i++) if ($i == "replayed") print $(i + 1)}' "$FT_TMP/drops")
ft_log "sent $sent hostile datagrams; b counted $counted drops ($(cat "$FT_TMP/drops"));" \
	"its kernel dropped $lost for a full buffer"
[ "$counted" -ge $((sent - lost)) ] || ft_fail "only $counted of $sent hostile datagrams counted"
[ "$counted" -le "$sent" ] || ft_fail "$counted drops for $sent datagrams: good packets dropped?"
[ "${replayed:-0}" -ge $((n_capture * n_repeat - lost)) ] ||
	ft_fail "replays: ${replayed:-0} counted as replayed, $((n_capture * n_repeat)) sent"

ft_stop "$pid_a" "$FT_TMP/a.conf.log" || ft_fail "flowtun a did not exit cleanly on SIGTERM"
ft_stop "$pid_b" "$FT_TMP/b.conf.log" || ft_fail "flowtun b did not exit cleanly on SIGTERM"
echo "hostile: 1 passed, 0 failed"
