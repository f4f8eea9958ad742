#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# IPFIX from a running flowtun to a real collector: flowtun a exports every dump to nfcapd in a
# third namespace and writes its flow log at the same time. After pings and an iperf3 UDP run
# of a known size, SIGTERM (the final dump) and nfcapd's stop, `nfdump -r` must read back
# exactly the records the flow log holds: the same flows with the same packets and bytes.
#
#   namespace $FT_PREFIX-c          namespace $FT_PREFIX-a                namespace $FT_PREFIX-b
#   +--------------------+          +-------------------------+          +-------------------+
#   | nfcapd             |          | tun0 100.64.0.1/24      |          | tun0 100.64.0.2   |
#   |  198.18.1.2:4739   |          |  flowtun up a.conf      |          |  flowtun up b.conf|
#   |  veth-c 198.18.1.2-+-- veth --+-veth-ac 198.18.1.1      |          |                   |
#   +--------------------+          |  veth-a 198.18.0.1 -----+-- veth --+-veth-b 198.18.0.2 |
#                                   +-------------------------+          +-------------------+
#
# One IPFIX record is one direction of one flow-log entry in one window: tx as keyed, rx with
# source and destination swapped; a physical entry's egress record has no source (0.0.0.0:0)
# and its ingress record no destination (stats/ipfix.h).
# shellcheck disable=SC2154 # a, b, ka, kb, pa, pb: set by ft_pair (tests/lib.sh)
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib.sh"

ft_require_root
ft_require_cmd ip ping iperf3 jq ss nfcapd nfdump
[ -x "$FLOWTUN" ] || ft_fail "no flowtun binary at $FLOWTUN"

SIZE=1000 COUNT=2000 CPORT=40124 RATE=8M PORT=4739

ft_pair
# The collector's namespace c, on a veth of its own from a.
ft_netns c >/dev/null
c=$FT_PREFIX-c
ft_veth "$a" veth-ac "$c" veth-c
ip -n "$a" addr add 198.18.1.1/24 dev veth-ac
ip -n "$c" addr add 198.18.1.2/24 dev veth-c

# The collector first, so that it sees the first message (with the templates).
DIR=$FT_TMP/nfcapd
mkdir -p "$DIR"
ft_bg ip netns exec "$c" nfcapd -w "$DIR" -b 198.18.1.2 -p "$PORT" -t 3600 >"$FT_TMP/nfcapd.log" 2>&1
nfcapd_pid=$FT_LAST_PID
ft_wait_for 10 sh -c "ip netns exec '$c' ss -Hlun 'sport = :$PORT' | grep -q ." ||
	ft_fail "nfcapd did not start"

ft_conf "$FT_TMP/a.conf" "$ka" "100.64.0.1/24" "$pb" "100.64.0.2/32" 198.18.0.2:51820 \
	"FlowLog = $FT_TMP/flows-a.jsonl
FlowLogInterval = 1
IPFIX = 198.18.1.2:$PORT
IPFIXTemplateInterval = 2"
ft_conf "$FT_TMP/b.conf" "$kb" "100.64.0.2/24" "$pa" "100.64.0.1/32" 198.18.0.1:51820
ft_up "$a" "$FT_TMP/a.conf"
pid_a=$FT_LAST_PID
ft_up "$b" "$FT_TMP/b.conf"
pid_b=$FT_LAST_PID

ft_ping "$a" 100.64.0.2 || ft_fail "a cannot ping 100.64.0.2"
ip netns exec "$b" ping -c 3 -i 0.2 -W 2 100.64.0.1 >/dev/null || ft_fail "lost pings b -> a"
ft_udp_run "$b" "$a"

# SIGTERM sends the last dump before flowtun exits; nfcapd reads its socket before it handles
# its own SIGTERM, but give the datagrams on the veth a moment to be queued there.
# An unclean exit fails the test, but only at the end: the records sent before it are still
# compared, so that one run tells both.
unclean=""
ft_stop "$pid_a" "$FT_TMP/a.conf.log" || unclean="flowtun a did not exit cleanly on SIGTERM"
ft_stop "$pid_b" "$FT_TMP/b.conf.log" || unclean="$unclean${unclean:+; }flowtun b did not"
! grep -qiE "leak|AddressSanitizer|runtime error|still had handles" "$FT_TMP"/*.conf.log ||
	unclean="$unclean${unclean:+; }sanitizer or leak report in the flowtun logs"
ft_nfcapd_stop "$c" "$PORT" "$nfcapd_pid"
file=$(find "$DIR" -type f -name 'nfcapd.[0-9]*' | head -n 1)
[ -n "$file" ] || ft_fail "nfcapd wrote no file: $(cat "$FT_TMP/nfcapd.log")"

# nfdump's records, one line each: "SRC SPORT DST DPORT PROTO PACKETS BYTES".
nfdump -r "$file" -q -N -6 -o 'fmt:%sa %sp %da %dp %pr %pkt %byt' | awk '{$1 = $1; print}' |
	sort >"$FT_TMP/nfdump.txt"
# The flow log's entries as IPFIX records of the same shape (tests/flowlog-ipfix.jq).
log=$FT_TMP/flows-a.jsonl
[ -s "$log" ] || ft_fail "the flow log is empty"
jq -r -f "${top_srcdir:-$(dirname "$0")/../..}/tests/flowlog-ipfix.jq" "$log" |
	sort >"$FT_TMP/flowlog.txt"

total() { awk '{ n++; p += $6; b += $7 } END { printf "%d records, %d packets, %d bytes", n, p, b }' "$1"; }
ft_log "flow log ($(wc -l <"$log") messages): $(total "$FT_TMP/flowlog.txt")"
ft_log "nfdump:                 $(total "$FT_TMP/nfdump.txt")"
[ -s "$FT_TMP/flowlog.txt" ] || ft_fail "the flow log has no records"
diff -u "$FT_TMP/flowlog.txt" "$FT_TMP/nfdump.txt" >&2 ||
	ft_fail "nfdump read back other records than the flow log holds"

# And the iperf3 flow is there with the count it must have: COUNT datagrams of SIZE bytes and
# iperf3's 4-byte connect datagram, 28 bytes of IPv4 + UDP headers each.
got=$(awk -v s="100.64.0.1 $CPORT 100.64.0.2 5201 17" '
	index($0, s " ") == 1 { p += $6; b += $7 } END { print p + 0, b + 0 }' "$FT_TMP/nfdump.txt")
want="$((COUNT + 1)) $((COUNT * (SIZE + 28) + 32))"
ft_log "iperf3 flow in nfdump: $got packets/bytes; want $want"
[ "$got" = "$want" ] || ft_fail "nfdump's iperf3 flow has $got, not $want"
[ -z "$unclean" ] || ft_fail "$unclean"
echo "flowipfix: 1 passed, 0 failed"
