#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# UDP coalescing towards the TUN (issue 15, point 2), on and then off: a flood of UDP datagrams
# a -> b through the tunnel. With it on, b writes USO super-packets (tun_uso_writes and
# tun_uso_segments > 0); off, by `UDPCoalesce = off` and by --no-udp-coalesce, none. Each way
# every datagram arrives intact, and the flow logs count exactly what was sent: a's virtual tx
# and b's virtual rx of the flow. `flowtun show --json` names the state (udpCoalesce).
#
#   namespace $FT_PREFIX-a                           namespace $FT_PREFIX-b
#   | tun0 100.64.0.1/24, sender  | veth 198.18.0.0/24 | tun0 100.64.0.2/24, receiver |
# shellcheck disable=SC2154 # a, b, ka, kb, pa, pb: set by ft_pair (tests/lib.sh)
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib.sh"

ft_require_root
ft_require_cmd ip ping nsenter jq python3 ss
[ -x "$FLOWTUN" ] || ft_fail "no flowtun binary at $FLOWTUN"

ft_pair
N=4000 SIZE=1000 # IP length 1028

. "${top_srcdir:-$(dirname "$0")/../..}/tests/netns/udpflood.inc.sh"

# phase NAME WANT EXTRA [flowtun up OPTIONS...]: a flood through a fresh pair of flowtuns, b's
# config with EXTRA; WANT (on or off): b's UDP coalescing.
phase() {
	local name=$1 want=$2 extra=$3 port=7100 try
	shift 3
	ft_conf "$FT_TMP/a-$name.conf" "$ka" 100.64.0.1/24 "$pb" 100.64.0.2/32 198.18.0.2:51820 \
		"FlowLog = $FT_TMP/flows-a-$name.jsonl
FlowLogInterval = 3600"
	ft_conf "$FT_TMP/b-$name.conf" "$kb" 100.64.0.2/24 "$pa" 100.64.0.1/32 198.18.0.1:51820 \
		"FlowLog = $FT_TMP/flows-b-$name.jsonl
FlowLogInterval = 3600
$extra"
	ft_up "$a" "$FT_TMP/a-$name.conf"
	local pid_a=$FT_LAST_PID la=$FT_TMP/a-$name.conf.log
	ft_up "$b" "$FT_TMP/b-$name.conf" "$@"
	local pid_b=$FT_LAST_PID lb=$FT_TMP/b-$name.conf.log
	ft_ping "$a" 100.64.0.2 || ft_fail "$name: a cannot ping b"

	local j
	j=$(nsenter --target "$pid_b" --mount --net "$FLOWTUN" show tun0 --json) ||
		ft_fail "$name: flowtun show --json failed"
	[ "$(jq -r '.udpCoalesce' <<<"$j")" = "$([ "$want" = on ] && echo true || echo false)" ] ||
		ft_fail "$name: show --json says udpCoalesce $(jq -r '.udpCoalesce' <<<"$j"), want $want"
	# A datagram lost on the way (a loaded machine) makes the counts unknowable: another port.
	for try in 1 2 3; do
		flood "$port" && break
		ft_log "$name: try $try, port $port: received/bad $(cat "$FT_TMP/got-$port")"
		[ "$try" -lt 3 ] || ft_fail "$name: datagrams lost in each of 3 floods (overloaded?)"
		port=$((port + 1))
	done
	ft_log "$name: $N datagrams to port $port arrived intact"

	j=$(nsenter --target "$pid_b" --mount --net "$FLOWTUN" show tun0 --json)
	local writes segs
	writes=$(jq -r '.counters.tun_uso_writes' <<<"$j")
	segs=$(jq -r '.counters.tun_uso_segments' <<<"$j")
	ft_log "$name: b wrote $writes UDP super-packets carrying $segs datagrams"
	if [ "$want" = on ]; then
		[ "$writes" -gt 0 ] && [ "$segs" -gt "$writes" ] && [ "$segs" -le "$N" ] ||
			ft_fail "$name: no UDP super-packet written ($writes, $segs)"
	else
		[ "$writes" -eq 0 ] && [ "$segs" -eq 0 ] ||
			ft_fail "$name: UDP super-packets written with coalescing off ($writes, $segs)"
	fi
	ft_stop "$pid_b" "$lb" || ft_fail "$name: flowtun b did not exit cleanly"
	ft_stop "$pid_a" "$la" || ft_fail "$name: flowtun a did not exit cleanly"
	! grep -qiE "AddressSanitizer|runtime error|leak" "$la" "$lb" ||
		ft_fail "$name: sanitizer report: $(cat "$la" "$lb")"
	local got want_tx="$N $((N * (SIZE + 28))) 0 0" want_rx="0 0 $N $((N * (SIZE + 28)))"
	got=$(flow "$FT_TMP/flows-a-$name.jsonl" "100.64.0.2:$port")
	[ "$got" = "$want_tx" ] || ft_fail "$name: a's flow log: $got, want $want_tx"
	got=$(flow "$FT_TMP/flows-b-$name.jsonl" "100.64.0.2:$port")
	[ "$got" = "$want_rx" ] || ft_fail "$name: b's flow log: $got, want $want_rx"
	ft_log "$name: flow logs exact: a sent $want_tx, b received $want_rx"
}

phase on on ""
phase off-key off "UDPCoalesce = off"
phase off-option off "" --no-udp-coalesce
ft_log "PASS"
