#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Workers = N (issue 15, point 4): the packet path on N threads, each with a queue of the TUN
# (IFF_MULTI_QUEUE) and a socket of the listen port (SO_REUSEPORT, steered by receiver index),
# sharing one protocol. For N = 2 and N = 4 (a by the config's Workers, b by --workers), with
# the default privilege drop and seccomp on (the threads start after both):
#   - show --json says workers N; the device has N queues; the process has N-1 threads named
#     flowtun-w1.. (the worker is the main thread);
#   - ping over IPv4 and IPv6, 32 TCP streams each way at once (the kernel spreads them over
#     the queues), 8 MiB over TCP checked by SHA-256 end to end, and 8 UDP floods from 8
#     source ports whose every datagram is checked on arrival;
#   - every worker of a took packets in (workerPackets: each > 0, their sum the counters'),
#     so that the counts below come from several threads;
#   - the flow logs count each flood exactly on both sides (virtual tx on a, rx on b), and
#     flowtun show's transfer equals wg show's on both sides;
#   - the peer removed through the API while 8 TCP streams run (the lanes are quiesced before
#     it is freed), then added back: traffic flows again;
#   - wg set listen-port: every worker's socket moves to the new port, traffic flows;
#   - --workers 0, 65, two and FLOWTUN_WORKERS=x are refused, the bad value named;
#   - SIGTERM: clean exits, the device gone, no sanitizer report.
# shellcheck disable=SC2154 # a, b, ka, kb, pa, pb: set by ft_pair (tests/lib.sh)
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib.sh"

ft_require_root
ft_require_cmd ip ping nsenter jq python3 ss sha256sum iperf3 wg
[ -x "$FLOWTUN" ] || ft_fail "no flowtun binary at $FLOWTUN"

ft_pair
N=1000 SIZE=1000 # IP length 1028
. "${top_srcdir:-$(dirname "$0")/../..}/tests/netns/udpflood.inc.sh"

lanes() { grep -l '^flowtun-w' /proc/"$1"/task/*/comm 2>/dev/null | wc -l; }

# streams SERVER_NS CLIENT_NS ADDR SECONDS: 32 parallel TCP streams; their Mbit/s.
streams() {
	local srv
	ft_bg ip netns exec "$1" iperf3 -s -1 -B "$3" >/dev/null 2>&1
	srv=$FT_LAST_PID
	ft_wait_for 5 sh -c "ip netns exec $1 ss -ltn | grep -q ':5201 '" ||
		ft_fail "iperf3 server did not start in $1"
	ip netns exec "$2" timeout 30 iperf3 -c "$3" -P 32 -t "$4" -J >"$FT_TMP/streams.json" ||
		ft_fail "iperf3 -P 32 to $3 failed"
	wait "$srv" 2>/dev/null || true
	jq -r '.end.sum_received.bits_per_second / 1e6 | floor' "$FT_TMP/streams.json"
}

phase() {
	local n=$1 port=$((7200 + 100 * $1)) side pid j got want_tx want_rx p
	ft_conf "$FT_TMP/a-$n.conf" "$ka" "100.64.0.1/24, fd00::1/64" "$pb" \
		"100.64.0.2/32, fd00::2/128" 198.18.0.2:51820 "FlowLog = $FT_TMP/flows-a-$n.jsonl
FlowLogInterval = 3600
Workers = $n"
	ft_conf "$FT_TMP/b-$n.conf" "$kb" "100.64.0.2/24, fd00::2/64" "$pa" \
		"100.64.0.1/32, fd00::1/128" 198.18.0.1:51820 "FlowLog = $FT_TMP/flows-b-$n.jsonl
FlowLogInterval = 3600"
	ft_up "$a" "$FT_TMP/a-$n.conf"
	local pid_a=$FT_LAST_PID la=$FT_TMP/a-$n.conf.log
	ft_up "$b" "$FT_TMP/b-$n.conf" --workers "$n"
	local pid_b=$FT_LAST_PID lb=$FT_TMP/b-$n.conf.log

	for side in a b; do
		pid=pid_$side
		j=$(nsenter --target "${!pid}" --mount --net "$FLOWTUN" show tun0 --json) ||
			ft_fail "N=$n: flowtun show --json in $side failed"
		[ "$(jq -r '.workers' <<<"$j")" = "$n" ] ||
			ft_fail "N=$n: $side's show says workers $(jq -r '.workers' <<<"$j")"
		[ "$(lanes "${!pid}")" -eq $((n - 1)) ] ||
			ft_fail "N=$n: $side has $(lanes "${!pid}") lane threads, want $((n - 1))"
		ns=${side/a/$a}
		ns=${ns/b/$b}
		[ "$(ip netns exec "$ns" ls /sys/class/net/tun0/queues | grep -c '^rx-')" -eq "$n" ] ||
			ft_fail "N=$n: $side's tun0 has not $n queues"
	done
	ft_log "N=$n: workers $n on both sides, $((n - 1)) lane threads each, $n TUN queues"

	ft_ping "$a" 100.64.0.2 || ft_fail "N=$n: a cannot ping 100.64.0.2"
	ft_ping "$b" fd00::1 || ft_fail "N=$n: b cannot ping fd00::1"
	ft_log "N=$n: a -> b, 32 TCP streams: $(streams "$b" "$a" 100.64.0.2 2) Mbit/s"
	ft_log "N=$n: b -> a, 32 TCP streams: $(streams "$a" "$b" 100.64.0.1 2) Mbit/s"
	tcp 7300
	ft_log "N=$n: 8 MiB over TCP arrived intact"
	for p in $(seq "$port" $((port + 7))); do
		flood "$p" || ft_fail "N=$n: flood to port $p: received/bad $(cat "$FT_TMP/got-$p")"
	done
	ft_log "N=$n: 8 floods of $N datagrams arrived intact"

	j=$(nsenter --target "$pid_a" --mount --net "$FLOWTUN" show tun0 --json)
	jq -e --argjson n "$n" '.workerPackets | length == $n and all(. > 0)' <<<"$j" >/dev/null ||
		ft_fail "N=$n: not every worker of a took packets: $(jq -c '.workerPackets' <<<"$j")"
	ft_log "N=$n: packets taken in by each worker of a: $(jq -c '.workerPackets' <<<"$j")"
	# One snapshot: the workers' shares add up to the counters (packets read, datagrams).
	jq -e '(.workerPackets | add) == .counters.tun_rx_packets + .counters.udp_rx_datagrams' \
		<<<"$j" >/dev/null ||
		ft_fail "N=$n: workerPackets $(jq -c '.workerPackets' <<<"$j") do not add up to" \
			"$(jq '.counters.tun_rx_packets + .counters.udp_rx_datagrams' <<<"$j")"
	for side in a b; do
		pid=pid_$side
		local ours theirs
		ours=$(nsenter --target "${!pid}" --mount --net "$FLOWTUN" show tun0 --json |
			jq -r '.peers[0] | "\(.rxBytes) \(.txBytes)"')
		theirs=$(ft_wg "${!pid}" show tun0 transfer | awk '{print $2, $3}')
		[ "$ours" = "$theirs" ] || ft_fail "N=$n: $side: show's transfer $ours, wg's $theirs"
	done

	# The peer removed while 8 streams run, then added back.
	ft_bg ip netns exec "$b" iperf3 -s -1 -B 100.64.0.2 >/dev/null 2>&1
	local srv=$FT_LAST_PID
	ft_wait_for 5 sh -c "ip netns exec $b ss -ltn | grep -q ':5201 '" || ft_fail "no iperf3 server"
	ft_bg ip netns exec "$a" timeout 20 iperf3 -c 100.64.0.2 -P 8 -t 3 >/dev/null 2>&1
	local cli=$FT_LAST_PID
	sleep 1
	ft_wg "$pid_a" set tun0 peer "$pb" remove || ft_fail "N=$n: wg set peer remove failed"
	sleep 0.5
	ft_wg "$pid_a" set tun0 peer "$pb" endpoint 198.18.0.2:51820 \
		allowed-ips 100.64.0.2/32,fd00::2/128 || ft_fail "N=$n: wg set peer (again) failed"
	wait "$cli" 2>/dev/null || true
	kill "$srv" 2>/dev/null || true
	wait "$srv" 2>/dev/null || true
	kill -0 "$pid_a" || ft_fail "N=$n: a died with its peer removed under traffic: $(cat "$la")"
	ft_ping "$a" 100.64.0.2 || ft_fail "N=$n: no ping after the peer came back"
	ft_log "N=$n: the peer removed under 8 TCP streams and added back: pings again"

	# A new listen port: every worker's socket moves (b learns it as a roam).
	ft_wg "$pid_a" set tun0 listen-port 51900 || ft_fail "N=$n: wg set listen-port failed"
	ft_wait_for 5 sh -c "[ \$(ip netns exec $a ss -lunH 'sport = :51900' | wc -l) -eq $n ]" ||
		ft_fail "N=$n: a has $(ip netns exec "$a" ss -lunH 'sport = :51900' | wc -l) sockets on the new port, want $n"
	[ "$(ip netns exec "$a" ss -lunH 'sport = :51820' | wc -l)" -eq 0 ] ||
		ft_fail "N=$n: sockets left on the old port"
	ft_ping "$a" 100.64.0.2 || ft_fail "N=$n: no ping after the port moved"
	streams "$a" "$b" 100.64.0.1 1 >/dev/null
	ft_log "N=$n: listen port 51820 -> 51900: $n sockets moved, ping and 32 streams b -> a"

	ft_stop "$pid_a" "$la" || ft_fail "N=$n: flowtun a did not exit cleanly"
	ft_stop "$pid_b" "$lb" || ft_fail "N=$n: flowtun b did not exit cleanly"
	for side in a b; do
		ns=${side/a/$a}
		ns=${ns/b/$b}
		! ip -n "$ns" link show tun0 >/dev/null 2>&1 || ft_fail "N=$n: $side's tun0 outlived it"
	done
	! grep -qiE "AddressSanitizer|ThreadSanitizer|runtime error|leak" "$la" "$lb" ||
		ft_fail "N=$n: sanitizer report: $(cat "$la" "$lb")"
	for p in $(seq "$port" $((port + 7))); do
		want_tx="$N $((N * (SIZE + 28))) 0 0"
		want_rx="0 0 $N $((N * (SIZE + 28)))"
		got=$(flow "$FT_TMP/flows-a-$n.jsonl" "100.64.0.2:$p")
		[ "$got" = "$want_tx" ] || ft_fail "N=$n: a's flow log for port $p: $got, want $want_tx"
		got=$(flow "$FT_TMP/flows-b-$n.jsonl" "100.64.0.2:$p")
		[ "$got" = "$want_rx" ] || ft_fail "N=$n: b's flow log for port $p: $got, want $want_rx"
	done
	ft_log "N=$n: flow logs exact for each flood on both sides ($want_tx / $want_rx)"
}

# Bad counts are refused with the value named.
ft_conf "$FT_TMP/bad.conf" "$ka" 100.64.0.1/24 "$pb" 100.64.0.2/32 198.18.0.2:51820
for bad in 0 65 two; do
	out=$("$FLOWTUN" up --workers "$bad" "$FT_TMP/bad.conf" 2>&1) &&
		ft_fail "--workers $bad was taken"
	grep -qF "bad --workers '$bad' (1 to 64)" <<<"$out" || ft_fail "--workers $bad: $out"
done
out=$(FLOWTUN_WORKERS=x ip netns exec "$a" "$FLOWTUN" up --interface tun0 "$FT_TMP/bad.conf" 2>&1) &&
	ft_fail "FLOWTUN_WORKERS=x was taken"
grep -qF "bad FLOWTUN_WORKERS 'x' (1 to 64)" <<<"$out" || ft_fail "FLOWTUN_WORKERS=x: $out"
! ip -n "$a" link show tun0 >/dev/null 2>&1 || ft_fail "a refused start left tun0"
ft_log "--workers 0, 65, two and FLOWTUN_WORKERS=x refused, each named"

phase 2
phase 4
ft_log "PASS"
