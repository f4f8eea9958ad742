#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The flow log counts exactly: an iperf3 UDP run of a known number of datagrams of a known size
# through the tunnel, then SIGTERM (the final flush); both sides' flow logs, summed over every
# window, must hold exactly those packets and bytes for that flow, and the physical entries at
# least as many datagrams.
#
#   namespace $FT_PREFIX-a                           namespace $FT_PREFIX-b
#   +-----------------------------+                  +-----------------------------+
#   | tun0 100.64.0.1/24          |                  | tun0 100.64.0.2/24          |
#   |   iperf3 -u -c (port CPORT) |                  |   iperf3 -s (port 5201)     |
#   |   FlowLog flows-a.jsonl     |                  |   FlowLog flows-b.jsonl     |
#   | veth-a 198.18.0.1/24 -------+------ veth ------+------- veth-b 198.18.0.2/24 |
#   +-----------------------------+                  +-----------------------------+
#
# What goes over the iperf3 UDP flow (iperf3 3.x): the client's 4-byte "connect" datagram, the
# server's 4-byte reply, then COUNT datagrams of SIZE bytes from the client. An IPv4 + UDP
# header adds 28 bytes to each. The windows are 1 s long, so the flow spans several of them.
# shellcheck disable=SC2154 # a, b, ka, kb, pa, pb: set by ft_pair (tests/lib.sh)
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib.sh"

ft_require_root
ft_require_cmd ip ping iperf3 jq ss
[ -x "$FLOWTUN" ] || ft_fail "no flowtun binary at $FLOWTUN"

SIZE=1200 COUNT=2000 CPORT=40123 RATE=8M
HDR=28 CONNECT=4 # iperf3's UDP connect message and its reply, 4 bytes each

ft_pair
ft_conf "$FT_TMP/a.conf" "$ka" "100.64.0.1/24" "$pb" "100.64.0.2/32" 198.18.0.2:51820 \
	"FlowLog = $FT_TMP/flows-a.jsonl
FlowLogInterval = 1"
ft_conf "$FT_TMP/b.conf" "$kb" "100.64.0.2/24" "$pa" "100.64.0.1/32" 198.18.0.1:51820 \
	"FlowLog = $FT_TMP/flows-b.jsonl
FlowLogInterval = 1"
ft_up "$a" "$FT_TMP/a.conf"
pid_a=$FT_LAST_PID
ft_up "$b" "$FT_TMP/b.conf"
pid_b=$FT_LAST_PID
ft_ping "$a" 100.64.0.2 || ft_fail "a cannot ping 100.64.0.2"

# The UDP run; the rate is far below what the veth carries.
ft_udp_run "$b" "$a"

ft_stop "$pid_a" "$FT_TMP/a.conf.log" || ft_fail "flowtun a did not exit cleanly on SIGTERM"
ft_stop "$pid_b" "$FT_TMP/b.conf.log" || ft_fail "flowtun b did not exit cleanly on SIGTERM"
grep -qiE "leak|AddressSanitizer|runtime error|still had handles" "$FT_TMP"/*.log &&
	ft_fail "sanitizer or leak report: $(cat "$FT_TMP"/*.log)"

want_tx_pkts=$((COUNT + 1))
want_tx_bytes=$((COUNT * (SIZE + HDR) + CONNECT + HDR))
want_rx_pkts=1
want_rx_bytes=$((CONNECT + HDR))

# sum LOG SRC DST: the flow's four counters summed over every message of LOG, as
# "txPkts txBytes rxPkts rxBytes windows".
sum() {
	jq -s -r --arg s "$2" --arg d "$3" '[.[].virtualTraffic[]? |
		select(.proto == 17 and .src == $s and .dst == $d)] |
		"\(map(.txPkts // 0) | add // 0) \(map(.txBytes // 0) | add // 0) " +
		"\(map(.rxPkts // 0) | add // 0) \(map(.rxBytes // 0) | add // 0) \(length)"' "$1"
}
# phys LOG FIELD: FIELD summed over the physical entries with the peer's underlay endpoint.
phys() {
	jq -s -r --arg f "$2" '[.[].physicalTraffic[]? | select(.dst == "'"$3"'") |
		.[$f] // 0] | add // 0' "$1"
}

for f in flows-a.jsonl flows-b.jsonl; do
	[ -s "$FT_TMP/$f" ] || ft_fail "the flow log $f is empty"
	jq -e . "$FT_TMP/$f" >/dev/null || ft_fail "$f is not JSON lines: $(head -c 300 "$FT_TMP/$f")"
done

# Sender a: its key is the packets' own (src, dst).
read -r tp tb rp rb nw < <(sum "$FT_TMP/flows-a.jsonl" "100.64.0.1:$CPORT" "100.64.0.2:5201")
ft_log "a (sender), $nw windows: txPkts $tp txBytes $tb rxPkts $rp rxBytes $rb;" \
	"want $want_tx_pkts $want_tx_bytes $want_rx_pkts $want_rx_bytes"
[ "$nw" -ge 2 ] || ft_fail "a: the flow is in $nw windows, expected it to span several"
[ "$tp $tb $rp $rb" = "$want_tx_pkts $want_tx_bytes $want_rx_pkts $want_rx_bytes" ] ||
	ft_fail "a: the flow log counts something else"

# Receiver b: rx swaps the packet's addresses, so the key starts with b's own end.
read -r tp tb rp rb nw < <(sum "$FT_TMP/flows-b.jsonl" "100.64.0.2:5201" "100.64.0.1:$CPORT")
ft_log "b (receiver), $nw windows: txPkts $tp txBytes $tb rxPkts $rp rxBytes $rb;" \
	"want $want_rx_pkts $want_rx_bytes $want_tx_pkts $want_tx_bytes"
[ "$tp $tb $rp $rb" = "$want_rx_pkts $want_rx_bytes $want_tx_pkts $want_tx_bytes" ] ||
	ft_fail "b: the flow log counts something else"

# The physical entries count every datagram on the underlay: the data, the pings, the
# handshake and keepalives, so at least the flow's own.
ptx=$(phys "$FT_TMP/flows-a.jsonl" txPkts 198.18.0.2:51820)
prx=$(phys "$FT_TMP/flows-b.jsonl" rxPkts 198.18.0.1:51820)
ft_log "physical: a sent $ptx datagrams to 198.18.0.2:51820, b received $prx from 198.18.0.1:51820"
[ "$ptx" -ge "$want_tx_pkts" ] || ft_fail "a's physical entries count $ptx < $want_tx_pkts"
[ "$prx" -ge "$want_tx_pkts" ] || ft_fail "b's physical entries count $prx < $want_tx_pkts"
echo "flowcount: 1 passed, 0 failed"
