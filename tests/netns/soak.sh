#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Soak: FT_SOAK_SECONDS (default 40, for CI; 600 for the long run) of iperf3 traffic a -> b in
# back-to-back 3-second runs while a script cycles through, one every EVENT_SECS:
#   flap     veth-a down for a second, then up again
#   reload   a.conf rewritten (b's PersistentKeepalive toggled 0 / 7) and SIGHUP to a
#   uapi     wg set through a's userspace API: a third peer added or removed (the next
#            reload removes it again: it is not in a.conf), b's keepalive changed
#   restart  flowtun b stopped (it must exit 0: sanitizer reports fail it) and started again
# Afterwards, on a (which runs throughout):
#   - the tunnel works both ways, and most iperf3 runs succeeded;
#   - VmRSS never went more than RSS_GROWTH_KB above its value after the first run;
#   - the number of open fds (/proc/PID/fd) is what it was after start-up;
#   - the flow log accounts for every packet: the sum of txPkts over all virtual, subnet and
#     exit entries = tunnel_tx_packets (the packets that went into the tunnel), and the sum of
#     rxPkts = tun_tx_packets (those written to the TUN; flowtun-up(8), STATISTICS); no
#     message was lost by the writer.
#
#   namespace $FT_PREFIX-a                           namespace $FT_PREFIX-b
#   +-----------------------------+                  +-----------------------------+
#   | tun0 100.64.0.1/24          |                  | tun0 100.64.0.2/24          |
#   |   flowtun up a.conf (log)   |                  |   flowtun up b.conf (again) |
#   |   iperf3 -c  (loop) --------+-- (tunnel) ----->+-> iperf3 -s                 |
#   | veth-a 198.18.0.1/24 (flaps)+------ veth ------+------- veth-b 198.18.0.2/24 |
#   +-----------------------------+                  +-----------------------------+
# shellcheck disable=SC2154 # a, b, ka, kb, pa, pb: set by ft_pair (tests/lib.sh)
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib.sh"

ft_require_root
ft_require_cmd ip ping iperf3 jq wg nsenter
[ -x "$FLOWTUN" ] || ft_fail "no flowtun binary at $FLOWTUN"

SOAK_SECS=${FT_SOAK_SECONDS:-40}
EVENT_SECS=4
# flowtun allocates nothing per packet, and peers, handshakes and flow tables are bounded by
# the configuration: once warm, RSS may move by allocator noise, not grow with time. 8 MiB
# (also under ASan) catches a leak of ~14 KiB per second over 10 minutes or per event.
RSS_GROWTH_KB=8192

ft_pair
pc=$("$FLOWTUN" genkey | "$FLOWTUN" pubkey)
flows=$FT_TMP/a.flows
# IPv4 only: a TUN with IPv6 addresses sends MLD and router solicitations of its own at any
# time, which would race the final counter read against SIGTERM.
a_conf() {
	ft_conf "$FT_TMP/a.conf" "$ka" "100.64.0.1/24" "$pb" "100.64.0.2/32" 198.18.0.2:51820 \
		"FlowLog = $flows
FlowLogMaxConns = 64
FlowLogInterval = 2"
	echo "PersistentKeepalive = $1" >>"$FT_TMP/a.conf"
}
a_conf 0
ft_conf "$FT_TMP/b.conf" "$kb" "100.64.0.2/24" "$pa" "100.64.0.1/32" 198.18.0.1:51820
ft_up "$a" "$FT_TMP/a.conf"
pid_a=$FT_LAST_PID log_a=$FT_TMP/a.conf.log
ft_up "$b" "$FT_TMP/b.conf"
pid_b=$FT_LAST_PID log_b=$FT_TMP/b.conf.log
ft_ping "$a" 100.64.0.2 || ft_fail "a cannot ping 100.64.0.2"

nfds() { ls "/proc/$1/fd" | wc -l; }

ft_bg ip netns exec "$b" iperf3 -s -B 100.64.0.2 >/dev/null 2>&1
ft_wait_for 5 sh -c "ip netns exec $b ss -ltn | grep -q ':5201 '" || ft_fail "no iperf3 server"
# Warm-up: one run, then the baselines.
ip netns exec "$a" timeout 20 iperf3 -c 100.64.0.2 -t 2 >/dev/null || ft_fail "first iperf3"
fds0=$(nfds "$pid_a") rss0=$(ft_rss_kb "$pid_a") rss_max=$rss0

# The traffic: back-to-back iperf3 runs until the stop file appears; one line per run.
stop=$FT_TMP/stop
ft_bg bash -c "until [ -e '$stop' ]; do
	if ip netns exec '$a' timeout 8 iperf3 -c 100.64.0.2 -t 3 -J >'$FT_TMP/run.json' 2>&1;
	then jq -r '(.end.sum_received.bits_per_second // 0) / 1e6 | floor
		| if . > 0 then . else \"fail\" end' '$FT_TMP/run.json' 2>/dev/null || echo fail
	else echo fail; sleep 0.5; fi
done >'$FT_TMP/runs'"
traffic_pid=$FT_LAST_PID

keepalive=0 uapi_added=0 n_events=0 restarts=0
start=$(date +%s)
while [ $(( $(date +%s) - start )) -lt "$SOAK_SECS" ]; do
	sleep "$EVENT_SECS"
	case $((n_events % 4)) in
	0)
		ip -n "$a" link set veth-a down
		sleep 1
		ip -n "$a" link set veth-a up
		ev=flap
		;;
	1)
		keepalive=$((7 - keepalive))
		a_conf "$keepalive"
		before=$(grep -c "reloaded" "$log_a" || true)
		kill -HUP "$pid_a"
		ft_wait_for 5 sh -c "[ \$(grep -c reloaded '$log_a') -gt $before ]" ||
			ft_fail "no reload after SIGHUP: $(tail -n 3 "$log_a")"
		ev="reload (keepalive $keepalive)"
		;;
	2)
		if [ "$uapi_added" -eq 0 ]; then
			ft_wg "$pid_a" set tun0 peer "$pc" allowed-ips 100.64.0.9/32 \
				endpoint 198.18.0.9:51820 || ft_fail "wg set: add a peer"
			uapi_added=1
		else
			ft_wg "$pid_a" set tun0 peer "$pc" remove || ft_fail "wg set: remove"
			uapi_added=0
		fi
		ft_wg "$pid_a" set tun0 peer "$pb" persistent-keepalive $((n_events % 20 + 1)) ||
			ft_fail "wg set: keepalive"
		ev="uapi (third peer $([ $uapi_added = 1 ] && echo added || echo removed))"
		;;
	3)
		ft_stop "$pid_b" "$log_b" || ft_fail "flowtun b did not exit cleanly on SIGTERM"
		ft_up "$b" "$FT_TMP/b.conf"
		pid_b=$FT_LAST_PID
		# The new b has a's endpoint: its own traffic starts the handshake at once, where
		# a alone would wait out KEEPALIVE + REKEY_TIMEOUT (15 s) with its stale session.
		ft_ping "$b" 100.64.0.1 10 || ft_fail "the restarted b cannot ping a"
		restarts=$((restarts + 1))
		ev="restart b"
		;;
	esac
	n_events=$((n_events + 1))
	kill -0 "$pid_a" || ft_fail "flowtun a died after: $ev"
	r=$(ft_rss_kb "$pid_a")
	[ "$r" -gt "$rss_max" ] && rss_max=$r
	ft_log "t=$(( $(date +%s) - start ))s $ev: a's VmRSS $r kB, $(nfds "$pid_a") fds"
done
touch "$stop"
wait "$traffic_pid" || true
# A reload removed the third peer if the API added it last; remove it for the fd check.
[ "$uapi_added" -eq 0 ] || ft_wg "$pid_a" set tun0 peer "$pc" remove 2>/dev/null || true

ft_ping "$a" 100.64.0.2 10 || ft_fail "a cannot ping b after the soak"
ft_ping "$b" 100.64.0.1 10 || ft_fail "b cannot ping a after the soak"
runs=$(wc -l <"$FT_TMP/runs") fails=$(grep -c fail "$FT_TMP/runs" || true)
ft_log "soak of $SOAK_SECS s: $n_events events ($restarts restarts of b), $runs iperf3 runs," \
	"$fails failed; Mbit/s: $(grep -v fail "$FT_TMP/runs" | tr '\n' ' ')"
[ "$runs" -ge 2 ] && [ $((runs - fails)) -gt $((runs / 2)) ] ||
	ft_fail "$fails of $runs iperf3 runs failed"

# Quiet now: the last flow-log windows see no more packets from the TUN.
sleep 1
fds1=$(nfds "$pid_a") rss1=$(ft_rss_kb "$pid_a")
[ "$rss1" -gt "$rss_max" ] && rss_max=$rss1
ft_status "$pid_a" "$log_a" | awk 'NF == 2 {print $1, $2}' >"$FT_TMP/counters"
c() { awk -v n="$1" '$1 == n {v = $2} END {print v + 0}' "$FT_TMP/counters"; }
ft_log "a: VmRSS $rss0 kB after warm-up, $rss_max kB at most, $rss1 kB at the end;" \
	"fds $fds0 -> $fds1"
[ $((rss_max - rss0)) -le $RSS_GROWTH_KB ] ||
	ft_fail "a's RSS grew by $((rss_max - rss0)) kB (> $RSS_GROWTH_KB)"
[ "$fds1" -eq "$fds0" ] ||
	ft_fail "a has $fds1 open fds, $fds0 after start-up: $(ls -l "/proc/$pid_a/fd")"

ft_stop "$pid_a" "$log_a" || ft_fail "flowtun a did not exit cleanly on SIGTERM"
ft_stop "$pid_b" "$log_b" || ft_fail "flowtun b did not exit cleanly on SIGTERM"
jq -s '[.[] | ((.virtualTraffic // []) + (.subnetTraffic // []) + (.exitTraffic // []))[]]
	| {tx: (map(.txPkts // 0) | add // 0), rx: (map(.rxPkts // 0) | add // 0)}' \
	"$flows" >"$FT_TMP/sum.json"
log_tx=$(jq .tx "$FT_TMP/sum.json") log_rx=$(jq .rx "$FT_TMP/sum.json")
lost=$(jq -s 'map(.lost // 0) | max // 0' "$flows")
want_tx=$(c tunnel_tx_packets)
want_rx=$(c tun_tx_packets)
ft_log "flow log: $(wc -l <"$flows") messages; virtual tx $log_tx packets, counters" \
	"tunnel_tx_packets $want_tx (of tun_rx_packets $(c tun_rx_packets));" \
	"virtual rx $log_rx, tun_tx_packets $want_rx (tun_write_dropped $(c tun_write_dropped))"
[ "$lost" -eq 0 ] || ft_fail "the flow writer lost $lost messages"
[ "$log_tx" -eq "$want_tx" ] || ft_fail "flow log tx $log_tx != $want_tx from the counters"
[ "$log_rx" -eq "$want_rx" ] || ft_fail "flow log rx $log_rx != $want_rx from the counters"
echo "soak: 1 passed, 0 failed"
