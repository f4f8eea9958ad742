#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# What each counter means, checked exactly on every path a packet can take (flowtun-up(8),
# STATISTICS). Virtual tx counts the packets read from the TUN that left through the tunnel
# (encrypted and accepted by the UDP socket); virtual rx the packets that came through the
# tunnel and were written to the TUN; physical tx/rx and wg show's transfer count the same
# datagrams of a peer: those the socket accepted for it, and those from it that authenticated.
#
#   namespace $FT_PREFIX-a                           namespace $FT_PREFIX-b
#   +-----------------------------+                  +-----------------------------+
#   | tun0 100.64.0.1/24          |                  | tun0 100.64.0.2/24 (+ .77)  |
#   |   --no-offload              |                  |   offloads on (GRO)         |
#   |   peers: b 100.64.0.2       |                  |   peer: a 100.64.0.1        |
#   |          d 100.64.0.4 (no endpoint)            |                             |
#   |          u 100.64.0.5 (endpoint 198.19.255.1: no route to it)              |
#   |   no peer: 100.64.0.9       |                  |                             |
#   | veth-a 198.18.0.1/24 -------+------ veth ------+------- veth-b 198.18.0.2/24 |
#   +-----------------------------+                  +-----------------------------+
#
# The paths, each with its own UDP port so that the flow log shows each apart:
#   7000  a -> 100.64.0.9, no peer: 20 dropped (no_peer), never virtual tx
#   7001  a -> d, no endpoint: 20 dropped (no_endpoint), never virtual tx
#   7004  a -> u, the initiation fails in the socket: no virtual tx, nothing in wg show
#   7002  a -> b while b is down: 40 queued, 8 pushed out (queue_dropped); 32 sent once b is
#         up: virtual tx 32 at a, virtual rx 32 at b
#   7003  a -> b with b's tun0 down: 20 datagrams b accepts but cannot write (offloads on):
#         physical rx at b, no virtual rx, tun_write_dropped 20
#   7006  b -> a with a's tun0 down: the same without offloads at a
#   7005  b -> a from 100.64.0.77, not in b's AllowedIPs at a: 10 dropped by a
#         (source_not_allowed), in neither a's virtual rx nor its physical rx or wg show
#   TCP   a -> b, 1 MiB (iperf3): coalesced at b; each side's tun_tx_packets must equal its
#         virtual rx
# shellcheck disable=SC2154 # a, b, ka, kb, pa, pb: set by ft_pair (tests/lib.sh)
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib.sh"

ft_require_root
ft_require_cmd ip ping wg nsenter jq iperf3 ss
[ -x "$FLOWTUN" ] || ft_fail "no flowtun binary at $FLOWTUN"

ft_pair
pd=$("$FLOWTUN" pubkey <<<"$("$FLOWTUN" genkey)")
pu=$("$FLOWTUN" pubkey <<<"$("$FLOWTUN" genkey)")
ft_conf "$FT_TMP/a.conf" "$ka" 100.64.0.1/24 "$pb" 100.64.0.2/32 198.18.0.2:51820 \
	"FlowLog = $FT_TMP/flows-a.jsonl
FlowLogInterval = 3600"
printf '\n[Peer]\nPublicKey = %s\nAllowedIPs = 100.64.0.4/32\n' "$pd" >>"$FT_TMP/a.conf"
printf '\n[Peer]\nPublicKey = %s\nAllowedIPs = 100.64.0.5/32\nEndpoint = 198.19.255.1:51820\n' \
	"$pu" >>"$FT_TMP/a.conf"
ft_conf "$FT_TMP/b.conf" "$kb" 100.64.0.2/24 "$pa" 100.64.0.1/32 198.18.0.1:51820 \
	"FlowLog = $FT_TMP/flows-b.jsonl
FlowLogInterval = 3600"

# send NS DST DPORT COUNT: COUNT UDP datagrams of 100 bytes (IP length 128) from one socket
# (bash's /dev/udp: one write, one datagram).
send() {
	ip netns exec "$1" bash -c 'exec 3>"/dev/udp/$1/$2"
		for _ in $(seq "$3"); do printf "%100s" x >&3; done' send "$2" "$3" "$4" ||
		ft_fail "sending to $2:$3 from $1 failed"
}
# wait_counter PID LOG NAME VALUE: until the counter reaches VALUE (5 s).
wait_counter() {
	for _ in $(seq 50); do
		[ "$(ft_counter "$1" "$2" "$3")" -ge "$4" ] && return 0
		sleep 0.1
	done
	ft_fail "$3 did not reach $4: $(ft_counter "$1" "$2" "$3")"
}
# entries LOG: every virtual connection of every message of LOG, one JSON object a line.
entries() { jq -c '(.virtualTraffic // [], .subnetTraffic // [], .exitTraffic // [])[]' "$1"; }
# flow LOG END: txPkts txBytes rxPkts rxBytes of the connections with END (addr:port) as either
# end, summed over the log. Each path has a port of its own.
flow() {
	entries "$1" | jq -s -r --arg e "$2" '[.[] | select(.src == $e or .dst == $e)] |
		"\(map(.txPkts // 0) | add // 0) \(map(.txBytes // 0) | add // 0) " +
		"\(map(.rxPkts // 0) | add // 0) \(map(.rxBytes // 0) | add // 0)"'
}
# phys LOG ENDPOINT: txBytes rxBytes of the physical entries towards ENDPOINT.
phys() {
	jq -s -r --arg d "$2" '[.[].physicalTraffic[]? | select(.dst == $d)] |
		"\(map(.txBytes // 0) | add // 0) \(map(.rxBytes // 0) | add // 0)"' "$1"
}

ft_up "$a" "$FT_TMP/a.conf" --no-offload
pid_a=$FT_LAST_PID
la=$FT_TMP/a.conf.log

# ---- the drops before the tunnel, and the queue --------------------------------------------
send "$a" 100.64.0.9 7000 20
send "$a" 100.64.0.4 7001 20
send "$a" 100.64.0.5 7004 5
send "$a" 100.64.0.2 7002 40
wait_counter "$pid_a" "$la" no_endpoint 20
wait_counter "$pid_a" "$la" queue_dropped 8

ft_up "$b" "$FT_TMP/b.conf"
pid_b=$FT_LAST_PID
lb=$FT_TMP/b.conf.log
# b's ping starts the handshake; a, the responder, sends its queue once b's ping confirms it.
ft_ping "$b" 100.64.0.1 || ft_fail "b cannot ping a"

# ---- TUN writes that fail: b with offloads, a without ----------------------------------------
ip -n "$b" link set tun0 down
send "$a" 100.64.0.2 7003 20
wait_counter "$pid_b" "$lb" tun_write_dropped 20
ip -n "$b" link set tun0 up
ip -n "$a" link set tun0 down
send "$b" 100.64.0.1 7006 20
wait_counter "$pid_a" "$la" tun_write_dropped 20
ip -n "$a" link set tun0 up

# ---- a source b may not use ----------------------------------------------------------------
ip -n "$b" addr add 100.64.0.77/32 dev tun0
ip -n "$b" route replace 100.64.0.1/32 dev tun0 src 100.64.0.77
send "$b" 100.64.0.1 7005 10
ip -n "$b" route del 100.64.0.1/32 dev tun0 src 100.64.0.77
wait_counter "$pid_a" "$la" source_not_allowed 10

# ---- TCP a -> b, coalesced at b ------------------------------------------------------------
ft_bg ip netns exec "$b" iperf3 -s -1 -B 100.64.0.2 >/dev/null 2>&1
srv=$FT_LAST_PID
ft_wait_for 5 sh -c "ip netns exec $b ss -ltn | grep -q ':5201 '" || ft_fail "no iperf3 server"
ip netns exec "$a" timeout 30 iperf3 -c 100.64.0.2 -n 1M >/dev/null || ft_fail "iperf3 failed"
wait "$srv" || true

# ---- the snapshot: counters and wg show, then the final flush of each flow log ---------------
# b first: once it is gone, a receives nothing more. Nothing sends meanwhile (no keepalives).
ft_status "$pid_b" "$lb" >"$FT_TMP/b.status"
ft_wg "$pid_b" show tun0 transfer >"$FT_TMP/b.transfer"
ft_stop "$pid_b" "$lb" || ft_fail "flowtun b did not exit cleanly"
ft_status "$pid_a" "$la" >"$FT_TMP/a.status"
ft_wg "$pid_a" show tun0 transfer >"$FT_TMP/a.transfer"
ft_stop "$pid_a" "$la" || ft_fail "flowtun a did not exit cleanly"
! grep -qiE "AddressSanitizer|runtime error|leak" "$FT_TMP"/*.log ||
	ft_fail "sanitizer report: $(cat "$FT_TMP"/*.log)"
sed 's/^/  a: /' "$FT_TMP/a.status" >&2
sed 's/^/  b: /' "$FT_TMP/b.status" >&2
counter() { awk -v n="$2" '$1 == n {v = $2} END {print v + 0}' "$1"; }

fails=0
check() { # check WHAT GOT WANT
	if [ "$2" = "$3" ]; then
		ft_log "ok: $1: $2"
	else
		ft_log "FAIL: $1: $2, want $3"
		fails=$((fails + 1))
	fi
}
fa=$FT_TMP/flows-a.jsonl fb=$FT_TMP/flows-b.jsonl
check "a: virtual tx to 100.64.0.9 (no peer)" "$(flow "$fa" 100.64.0.9:7000)" \
	"0 0 0 0"
check "a: no_peer" "$(($(counter "$FT_TMP/a.status" no_peer) >= 20))" 1
check "a: virtual tx to d (no endpoint)" "$(flow "$fa" 100.64.0.4:7001)" \
	"0 0 0 0"
check "a: no_endpoint" "$(counter "$FT_TMP/a.status" no_endpoint)" 20
check "a: virtual tx to u (the socket refused)" \
	"$(flow "$fa" 100.64.0.5:7004)" "0 0 0 0"
check "a: virtual tx of the queue (40 in, 8 pushed out)" \
	"$(flow "$fa" 100.64.0.2:7002)" "32 4096 0 0"
check "a: queue_dropped" "$(counter "$FT_TMP/a.status" queue_dropped)" 8
check "b: virtual rx of the queue" "$(flow "$fb" 100.64.0.2:7002)" "0 0 32 4096"
check "a: virtual tx while b's tun0 was down" "$(flow "$fa" 100.64.0.2:7003)" \
	"20 2560 0 0"
check "b: virtual rx while its tun0 was down" "$(flow "$fb" 100.64.0.2:7003)" \
	"0 0 0 0"
check "b: tun_write_dropped" "$(counter "$FT_TMP/b.status" tun_write_dropped)" 20
check "b: virtual tx while a's tun0 was down" "$(flow "$fb" 100.64.0.1:7006)" \
	"20 2560 0 0"
check "a: virtual rx while its tun0 was down" "$(flow "$fa" 100.64.0.1:7006)" \
	"0 0 0 0"
check "a: tun_write_dropped" "$(counter "$FT_TMP/a.status" tun_write_dropped)" 20
check "b: virtual tx from 100.64.0.77" "$(flow "$fb" 100.64.0.1:7005)" \
	"10 1280 0 0"
check "a: virtual rx from 100.64.0.77" "$(flow "$fa" 100.64.0.1:7005)" \
	"0 0 0 0"
check "a: source_not_allowed" "$(counter "$FT_TMP/a.status" source_not_allowed)" 10
# What went into the tunnel and what was written to the TUN, packet for packet: the counters
# and the flow log agree.
for s in a b; do
	tx=$(entries "$FT_TMP/flows-$s.jsonl" | jq -s '[.[].txPkts // 0] | add // 0')
	rx=$(entries "$FT_TMP/flows-$s.jsonl" | jq -s '[.[].rxPkts // 0] | add // 0')
	check "$s: tunnel_tx_packets = virtual tx packets" \
		"$(counter "$FT_TMP/$s.status" tunnel_tx_packets)" "$tx"
	check "$s: tun_tx_packets = virtual rx packets" \
		"$(counter "$FT_TMP/$s.status" tun_tx_packets)" "$rx"
done
check "b: coalesced writes happened" "$(($(counter "$FT_TMP/b.status" tun_gro_writes) > 0))" 1
# wg show's transfer and the physical entries count the same datagrams.
read -r _ wrx wtx < <(awk -v k="$pb" '$1 == k' "$FT_TMP/a.transfer")
check "a: physical tx rx of b = wg show" "$(phys "$fa" 198.18.0.2:51820)" "$wtx $wrx"
read -r _ wrx wtx < <(awk -v k="$pa" '$1 == k' "$FT_TMP/b.transfer")
check "b: physical tx rx of a = wg show" "$(phys "$fb" 198.18.0.1:51820)" "$wtx $wrx"
read -r _ wrx wtx < <(awk -v k="$pu" '$1 == k' "$FT_TMP/a.transfer")
check "a: wg show of u (every send failed)" "$wtx $wrx" "0 0"
check "a: physical of u" "$(phys "$fa" 198.19.255.1:51820)" "0 0"
check "a: udp_tx_errors (the sends to u)" "$(($(counter "$FT_TMP/a.status" udp_tx_errors) > 0))" 1

[ "$fails" -eq 0 ] || ft_fail "$fails counts differ from their definition"
echo "accounting: 1 passed, 0 failed"
