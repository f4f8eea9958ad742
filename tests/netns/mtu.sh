#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The TUN MTU follows the underlay (issue 20): for each underlay MTU, over an IPv4 and an IPv6
# underlay, with offloads on (the default) and off (--no-offload), flowtun comes up with the
# TUN MTU the underlay allows (its MTU less 60 for IPv4 or 80 for IPv6, never below 1280) and
# a TCP stream through the tunnel moves data (1 MB at least in its second: a stalled one
# still passes its first few kB). Each case restarts both flowtuns; the veth MTU
# is set on both ends before they start.
#
#   namespace $FT_PREFIX-a                           namespace $FT_PREFIX-b
#   +-----------------------------+                  +-----------------------------+
#   | tun0 100.64.0.1/24          |                  | tun0 100.64.0.2/24          |
#   |   flowtun up a4.conf|a6.conf|                  |   flowtun up b4.conf|b6.conf|
#   | veth-a 198.18.0.1/24        |    veth, MTU     |        veth-b 198.18.0.2/24 |
#   |        fd18::1/64 ----------+-- 1500 ... 1280 -+---------------- fd18::2/64 |
#   +-----------------------------+                  +-----------------------------+
#
# FT_MTU_CASES limits the run, e.g. FT_MTU_CASES="4:on:1460 6:off:1280".
# shellcheck disable=SC2154 # a, b, ka, kb, pa, pb: set by ft_pair (tests/lib.sh)
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib.sh"

ft_require_root
ft_require_cmd ip ping iperf3 jq timeout
[ -x "$FLOWTUN" ] || ft_fail "no flowtun binary at $FLOWTUN"

ft_pair
ip -n "$a" addr add fd18::1/64 dev veth-a nodad
ip -n "$b" addr add fd18::2/64 dev veth-b nodad
ip netns exec "$a" ping -6 -c 1 -W 5 fd18::2 >/dev/null || ft_fail "no IPv6 underlay"

for fam in 4 6; do
	if [ "$fam" = 4 ]; then ep_a=198.18.0.1:51820 ep_b=198.18.0.2:51820; else
		ep_a="[fd18::1]:51820" ep_b="[fd18::2]:51820"
	fi
	ft_conf "$FT_TMP/a$fam.conf" "$ka" "100.64.0.1/24" "$pb" "100.64.0.2/32" "$ep_b"
	ft_conf "$FT_TMP/b$fam.conf" "$kb" "100.64.0.2/24" "$pa" "100.64.0.1/32" "$ep_a"
done

cases=${FT_MTU_CASES:-}
if [ -z "$cases" ]; then
	for fam in 4 6; do
		for off in on off; do
			for m in 1500 1492 1460 1420 1280; do cases="$cases $fam:$off:$m"; done
		done
	done
fi

# up_both FAMILY FLAGS: ft_up for a and b, started together (sets pid_a, pid_b).
up_both() {
	local deadline=$(( $(ft_now_ms) + 10000 )) side log
	for side in a b; do
		log=$FT_TMP/$side$1.conf.log
		: >"$log"
		# shellcheck disable=SC2086
		ft_bg ft_ns_exec "${!side}" "$FLOWTUN" up --interface tun0 $2 "$FT_TMP/$side$1.conf" \
			2>>"$log"
		eval "pid_$side=\$FT_LAST_PID"
	done
	for side in a b; do
		log=$FT_TMP/$side$1.conf.log
		until grep -q "tun0 is up" "$log"; do
			[ "$(ft_now_ms)" -lt "$deadline" ] || ft_fail "flowtun $side did not come up: $(cat "$log")"
			sleep 0.05
		done
	done
}

tun_mtu() { ip -n "$1" -o link show tun0 | sed -n 's/.* mtu \([0-9]*\) .*/\1/p'; }

# One iperf3 TCP run of 1 s, 100.64.0.1 -> 100.64.0.2: sets BYTES (received) and GBPS. A
# stalled stream must not hang the test: the client gets 10 s in all.
tcp_run() {
	local out srv
	ft_bg ip netns exec "$b" iperf3 -s -1 -B 100.64.0.2 >/dev/null 2>&1
	srv=$FT_LAST_PID
	ft_wait_for 5 sh -c "ip netns exec $b ss -ltn | grep -q ':5201 '" ||
		ft_fail "iperf3 server did not start in $b"
	out=$(ip netns exec "$a" timeout 10 iperf3 -c 100.64.0.2 -t 1 -J 2>/dev/null) || true
	BYTES=$(jq -r '.end.sum_received.bytes // 0' <<<"$out" 2>/dev/null) || BYTES=0
	GBPS=$(jq -r '(.end.sum_received.bits_per_second // 0) / 1e9 * 1000 | floor / 1000' \
		<<<"$out" 2>/dev/null) || GBPS=0
	[ -n "$BYTES" ] || BYTES=0
	kill "$srv" 2>/dev/null || true
	wait "$srv" 2>/dev/null || true
}

failed=0 passed=0 table=""
for c in $cases; do
	IFS=: read -r fam off m <<<"$c"
	flags=""
	[ "$off" = on ] || flags=--no-offload
	over=$((fam == 4 ? 60 : 80))
	want=$((m - over < 1280 ? 1280 : m - over))
	ip -n "$a" link set veth-a mtu "$m"
	ip -n "$b" link set veth-b mtu "$m"
	up_both "$fam" "$flags"
	got_a=$(tun_mtu "$a") got_b=$(tun_mtu "$b")
	why=""
	[ "$got_a" = "$want" ] && [ "$got_b" = "$want" ] ||
		why="TUN MTU $got_a/$got_b, not $want;"
	if ft_ping "$a" 100.64.0.2; then
		tcp_run
		# A stalled stream still gets its first segments through (a few kB, smaller than
		# the MTU): "moves data" means at least 1 MB in the second, 8 Mbit/s.
		[ "$BYTES" -ge 1000000 ] || why="$why TCP moved only $BYTES bytes;"
	else
		BYTES=0 GBPS=0 why="$why no ping;"
	fi
	line=$(printf 'IPv%s underlay MTU %s, offloads %-3s: TUN MTU %s, TCP %s Gbit/s (%s bytes)' \
		"$fam" "$m" "$off" "$got_a" "$GBPS" "$BYTES")
	if [ -n "$why" ]; then
		failed=$((failed + 1))
		line="$line  FAIL:$why"
		# What the daemons said about it, to see why without a rerun.
		grep -hiE "mtu|send|segment" "$FT_TMP/a$fam.conf.log" "$FT_TMP/b$fam.conf.log" |
			tail -n 6 | sed 's/^/    | /' >&2 || true
	else
		passed=$((passed + 1))
	fi
	ft_log "$line"
	table="$table$line
"
	# Both at once: each shutdown takes a moment, 20 cases of it add up.
	kill -TERM "$pid_a" "$pid_b"
	for side in a b; do
		pid=pid_$side
		wait "${!pid}" || ft_fail "flowtun $side did not exit cleanly: $(tail -n 20 \
			"$FT_TMP/$side$fam.conf.log")"
	done
done
printf '%s' "$table" >&2
grep -qiE "AddressSanitizer|runtime error|leak" "$FT_TMP"/*.log &&
	ft_fail "sanitizer report: $(grep -hiE -A5 "AddressSanitizer|runtime error|leak" "$FT_TMP"/*.log)"
echo "mtu: $passed passed, $failed failed"
[ "$failed" -eq 0 ] || ft_fail "$failed of $((passed + failed)) cases failed"
