#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Denial of service, three floods against two flowtun instances with an established session:
#
#  1. Handshake flood: tests/netns/hs-flood sends b real initiations (valid mac1, a static key
#     b does not know) from 256 source ports at FLOOD_RATE/s while iperf3 runs a -> b. b must
#     go under load and answer with cookie replies (cookie_sent > 0) instead of doing DH work,
#     iperf3 must go on (Mbit/s with and without the flood are printed), b's RSS must stay
#     within RSS_GROWTH_KB of what it was before; b's CPU seconds during the flood are printed.
#  2. Unique 5-tuples: a, with FlowLogMaxConns = 100, sends N_FLOWS UDP datagrams to
#     100.64.0.2:9, each from a source port of its own. Its flow log (written at SIGTERM
#     at the latest) must count exactly N_FLOWS packets for them, no message may hold more
#     than 100 entries (dumps came early instead of the table growing), a's RSS bounded.
#  3. Garbage at line rate: hs-flood sends b's listen port random datagrams and initiations
#     with a random mac1 as fast as one socket goes. Each one flowtun read is a named drop,
#     and none reached a public-key operation (decrypt_failed, unknown_peer unchanged); the
#     tunnel still works. Datagrams/s sent and dropped and CPU per datagram are printed.
#
#   namespace $FT_PREFIX-a                           namespace $FT_PREFIX-b
#   +-----------------------------+                  +-----------------------------+
#   | tun0 100.64.0.1/24          |                  | tun0 100.64.0.2/24          |
#   |   flowtun up a.conf         |                  |   flowtun up b.conf         |
#   |   (FlowLog, MaxConns 100)   |                  |                             |
#   |   iperf3 -c, hs-flood udp --+-- (tunnel) ----->+-> iperf3 -s, :9 (no one)    |
#   |   hs-flood init / garbage --+----------------->+-> 198.18.0.2:51820          |
#   | veth-a 198.18.0.1/24 -------+------ veth ------+------- veth-b 198.18.0.2/24 |
#   +-----------------------------+                  +-----------------------------+
# shellcheck disable=SC2154 # a, b, ka, kb, pa, pb: set by ft_pair (tests/lib.sh)
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib.sh"

ft_require_root
ft_require_cmd ip ping iperf3 jq
[ -x "$FLOWTUN" ] || ft_fail "no flowtun binary at $FLOWTUN"
flood=${top_builddir:-.}/tests/netns/hs-flood
[ -x "$flood" ] || ft_fail "no $flood (make check builds it)"

# Over 128 initiations/s puts b under load; 40 times that, for as long as iperf3 runs.
FLOOD_RATE=5000 FLOOD_SECS=6 IPERF_SECS=4 N_FLOWS=20000 GARBAGE_SECS=3
# No per-message allocation is allowed on either path (proto.h: "Nothing allocates per
# packet"; connstats allocates its two tables of max_conns entries at creation). What RSS
# may still gain is allocator and page-cache warm-up and the flow writer's output buffer,
# a few hundred KiB; 8 MiB is ample for that (also under ASan) while a leak of even
# 400 bytes per initiation (30,000 of them) or per flow (20,000) would exceed it.
RSS_GROWTH_KB=8192

ft_pair
flows=$FT_TMP/a.flows
ft_conf "$FT_TMP/a.conf" "$ka" "100.64.0.1/24" "$pb" "100.64.0.2/32" 198.18.0.2:51820 \
	"FlowLog = $flows
FlowLogMaxConns = 100
FlowLogInterval = 3600"
ft_conf "$FT_TMP/b.conf" "$kb" "100.64.0.2/24" "$pa" "100.64.0.1/32" 198.18.0.1:51820
ft_up "$a" "$FT_TMP/a.conf"
pid_a=$FT_LAST_PID log_a=$FT_TMP/a.conf.log
ft_up "$b" "$FT_TMP/b.conf"
pid_b=$FT_LAST_PID log_b=$FT_TMP/b.conf.log
ft_ping "$a" 100.64.0.2 || ft_fail "a cannot ping 100.64.0.2"

# utime + stime in clock ticks (fields 14 and 15 of /proc/PID/stat, after the "(comm)").
cpu_ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }
hz=$(getconf CLK_TCK)
# counters PID LOG: a status dump as "name value" lines in $FT_TMP/counters.
counters() { ft_status "$1" "$2" | awk 'NF == 2 {print $1, $2}' >"$FT_TMP/counters"; }
c() { awk -v n="$1" '$1 == n {v = $2} END {print v + 0}' "$FT_TMP/counters"; }
kernel_udp_drops() {
	ip netns exec "$1" awk '/^Udp:/ && $2 ~ /^[0-9]+$/ {print $4}' /proc/net/snmp
}
passed=0

# ---- 1. handshake flood ---------------------------------------------------------------------
ft_iperf "$b" "$a" 100.64.0.2 "$IPERF_SECS"
mbps_quiet=$FT_MBPS
counters "$pid_b" "$log_b"
cookies0=$(c cookie_sent)
rss0=$(ft_rss_kb "$pid_b") cpu0=$(cpu_ticks "$pid_b")

ft_bg ip netns exec "$a" "$flood" init 198.18.0.2 51820 "$pb" $FLOOD_RATE $FLOOD_SECS 256 \
	>"$FT_TMP/flood.out"
flood_pid=$FT_LAST_PID
sleep 1
ft_iperf "$b" "$a" 100.64.0.2 "$IPERF_SECS"
mbps_flood=$FT_MBPS
rss_peak=$(ft_rss_kb "$pid_b")
wait "$flood_pid" || ft_fail "hs-flood init failed: $(cat "$FT_TMP/flood.out")"
cpu1=$(cpu_ticks "$pid_b") rss1=$(ft_rss_kb "$pid_b")
[ "$rss_peak" -gt "$rss1" ] && rss1=$rss_peak
counters "$pid_b" "$log_b"
cookies=$(( $(c cookie_sent) - cookies0 ))
ft_log "hs-flood: $(cat "$FT_TMP/flood.out")"
ft_log "b during the flood: cookie_sent +$cookies, bad_mac2 $(c bad_mac2)," \
	"unknown_peer $(c unknown_peer), bad_mac1 $(c bad_mac1), decrypt_failed $(c decrypt_failed)"
ft_log "iperf3 a -> b: $mbps_quiet Mbit/s without the flood, $mbps_flood Mbit/s during it" \
	"($FLOOD_RATE initiations/s)"
ft_log "b: CPU $(awk -v t=$((cpu1 - cpu0)) -v hz="$hz" 'BEGIN {printf "%.2f", t / hz}') s" \
	"over the ${FLOOD_SECS} s flood; VmRSS $rss0 kB before, $rss1 kB at most after"
[ "$cookies" -gt 0 ] || ft_fail "no cookie replies sent during the handshake flood"
# Every initiation past the first 128 of a second must be answered with a cookie, not DH:
# at most ~(128 + 1) per second (the first second, and one per window) reach unknown_peer.
[ "$(c unknown_peer)" -le $(( (FLOOD_SECS + 2) * 130 )) ] ||
	ft_fail "b did DH work for $(c unknown_peer) flood initiations: the cookie did not engage"
[ "$mbps_flood" -gt 0 ] || ft_fail "iperf3 moved nothing during the flood"
[ $((rss1 - rss0)) -le $RSS_GROWTH_KB ] ||
	ft_fail "b's RSS grew by $((rss1 - rss0)) kB (> $RSS_GROWTH_KB) during the flood"
ft_ping "$a" 100.64.0.2 3 || ft_fail "a cannot ping b after the handshake flood"
passed=$((passed + 1))

# ---- 2. unique 5-tuples against FlowLogMaxConns ------------------------------------------
rss0=$(ft_rss_kb "$pid_a")
# Virtual tx counts what the UDP socket took (flowtun-up(8), STATISTICS): a datagram it
# refuses (a full send buffer on a loaded machine) is a packet flowtun was given but did not
# send.
counters "$pid_a" "$log_a"
refused0=$(( $(c udp_tx_dropped) + $(c udp_tx_errors) ))
tun_drops0=$(ip netns exec "$a" cat /sys/class/net/tun0/statistics/tx_dropped)
out=$(ip netns exec "$a" "$flood" udp 100.64.0.2 9 $N_FLOWS 100 20000) ||
	ft_fail "hs-flood udp: $out"
tun_drops1=$(ip netns exec "$a" cat /sys/class/net/tun0/statistics/tx_dropped)
# A loaded machine (a sanitizer build beside other work) may drop a few at tun0's queue
# before flowtun reads them: flowtun must count exactly every packet it was given.
kdrops=$((tun_drops1 - tun_drops0))
[ "$kdrops" -le $((N_FLOWS / 10)) ] ||
	ft_fail "the kernel dropped $kdrops of $N_FLOWS packets at tun0 before flowtun"
given=$((N_FLOWS - kdrops))
sleep 0.5
rss1=$(ft_rss_kb "$pid_a")
counters "$pid_a" "$log_a"
refused=$(( $(c udp_tx_dropped) + $(c udp_tx_errors) - refused0 ))
ft_stop "$pid_a" "$log_a" || ft_fail "flowtun a did not exit cleanly on SIGTERM"
[ -s "$flows" ] || ft_fail "a wrote no flow log"
# The datagrams to port 9, over every message and bucket; the largest message.
jq -s '[.[] | (.virtualTraffic // [])[] | select(.proto == 17 and (.dst | endswith(":9")))]
	| {pkts: (map(.txPkts // 0) | add // 0), bytes: (map(.txBytes // 0) | add // 0),
	   conns: length}' "$flows" >"$FT_TMP/sum.json"
pkts=$(jq .pkts "$FT_TMP/sum.json") conns=$(jq .conns "$FT_TMP/sum.json")
bytes=$(jq .bytes "$FT_TMP/sum.json")
maxent=$(jq -s 'map([.virtualTraffic, .subnetTraffic, .exitTraffic, .physicalTraffic]
	| map(length) | add) | max' "$flows")
lines=$(wc -l <"$flows")
lost=$(jq -s 'map(.lost // 0) | max' "$flows")
ft_log "flow log: $lines messages, at most $maxent entries each; port 9: $pkts packets," \
	"$bytes bytes in $conns entries (sent $N_FLOWS x 128 bytes, $kdrops dropped by the" \
	"kernel before flowtun, $refused refused by a's socket); a's VmRSS $rss0 -> $rss1 kB"
[ "$lost" -eq 0 ] || ft_fail "the flow writer lost $lost messages"
# Every packet flowtun was given is counted, unless its socket refused it.
[ "$pkts" -le $given ] && [ "$pkts" -ge $((given - refused)) ] ||
	ft_fail "flow log counts $pkts packets to port 9, flowtun was given $given" \
		"($refused refused by the socket)"
[ "$bytes" -eq $((pkts * 128)) ] || ft_fail "flow log counts $bytes bytes to port 9"
[ "$conns" -eq "$pkts" ] || ft_fail "flow log has $conns entries for $pkts unique 5-tuples"
[ "$maxent" -le 100 ] || ft_fail "a flow-log message holds $maxent entries (> 100)"
[ "$lines" -ge $((N_FLOWS / 100)) ] || ft_fail "only $lines messages for $N_FLOWS flows"
[ $((rss1 - rss0)) -le $RSS_GROWTH_KB ] ||
	ft_fail "a's RSS grew by $((rss1 - rss0)) kB (> $RSS_GROWTH_KB) for $N_FLOWS flows"
passed=$((passed + 1))

# ---- 3. garbage at line rate ----------------------------------------------------------------
# b's session with a is gone with a; bring a back (without the flow log) for the last check.
ft_conf "$FT_TMP/a2.conf" "$ka" "100.64.0.1/24" "$pb" "100.64.0.2/32" 198.18.0.2:51820
ft_up "$a" "$FT_TMP/a2.conf"
pid_a=$FT_LAST_PID log_a=$FT_TMP/a2.conf.log
ft_ping "$a" 100.64.0.2 || ft_fail "a cannot ping b again"
drops="truncated bad_mac1 bad_mac2 decrypt_failed unknown_peer stale_timestamp handshake_flood
	wrong_state unknown_index bad_key replayed key_expired source_not_allowed bad_packet ratelimited
	udp_rx_truncated"
drop_sum() { awk -v list="$drops" 'BEGIN {n = split(list, l); for (i = 1; i <= n; i++)
	want[l[i]] = 1} ($1 in want) {s += $2} END {print s + 0}' "$FT_TMP/counters"; }
counters "$pid_b" "$log_b"
d0=$(drop_sum) dh0=$(( $(c decrypt_failed) + $(c unknown_peer) )) k0=$(kernel_udp_drops "$b")
rx0=$(c udp_rx_datagrams) cpu0=$(cpu_ticks "$pid_b")
out=$(ip netns exec "$a" "$flood" garbage 198.18.0.2 51820 $GARBAGE_SECS) ||
	ft_fail "hs-flood garbage: $out"
sleep 0.3
cpu1=$(cpu_ticks "$pid_b") k1=$(kernel_udp_drops "$b")
counters "$pid_b" "$log_b"
sent=$(awk '{print $2}' <<<"$out")
dropped=$(( $(drop_sum) - d0 )) dh=$(( $(c decrypt_failed) + $(c unknown_peer) - dh0 ))
read_n=$(( $(c udp_rx_datagrams) - rx0 ))
ft_log "garbage: $out; b read $read_n, counted $dropped drops" \
	"($(awk -v d="$dropped" -v s="$(awk '{print $4}' <<<"$out")" \
		'BEGIN {printf "%.0f", d / s}')/s over the sender's time)," \
	"its kernel dropped $((k1 - k0)) for a full buffer; b's CPU" \
	"$(awk -v t=$((cpu1 - cpu0)) -v hz="$hz" -v d="$dropped" \
		'BEGIN {printf "%.2f s, %.0f ns per datagram read", t / hz, t / hz * 1e9 / (d ? d : 1)}')"
[ "$dropped" -gt 0 ] || ft_fail "b counted no garbage"
# Every datagram b read is a named drop, bar the few of a's pings.
[ "$dropped" -ge $((read_n - 20)) ] && [ "$dropped" -le "$read_n" ] ||
	ft_fail "b read $read_n datagrams, counted $dropped drops"
[ "$dh" -eq 0 ] || ft_fail "garbage reached public-key work: decrypt_failed/unknown_peer +$dh"
kill -0 "$pid_b" || ft_fail "flowtun b died"
ft_ping "$a" 100.64.0.2 3 || ft_fail "a cannot ping b after the garbage"
passed=$((passed + 1))

ft_stop "$pid_a" "$log_a" || ft_fail "flowtun a did not exit cleanly on SIGTERM"
ft_stop "$pid_b" "$log_b" || ft_fail "flowtun b did not exit cleanly on SIGTERM"
echo "dos: $passed passed, 0 failed"
