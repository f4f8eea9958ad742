#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# IPFIX export against a real collector, nfcapd (Debian's nfdump), in namespaces made here:
#
#   netns E (exporter)                      netns C (collector)
#   +---------------------------+           +-----------------------------+
#   | ipfix-probe               |           | nfcapd -b 198.18.1.2        |
#   | fte0 198.18.1.1/24  <----- veth pair ----->  ftc0 198.18.1.2/24      |
#   +---------------------------+           +-----------------------------+
#
# The probe sends a fixed dump (templates first) to nfcapd, a second run with a small MTU
# splits it over many messages; nfcapd is stopped (SIGTERM writes its file) and `nfdump -r`
# must show exactly the records, packets and bytes the probe says it sent.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib.sh"

ft_require_root
ft_require_cmd ip ss nfcapd nfdump
PROBE=${top_builddir:-.}/tests/netns/ipfix-probe
[ -x "$PROBE" ] || ft_fail "no probe at $PROBE (make check builds it)"

E=$(ft_netns e)
C=$(ft_netns c)
ip link add fte0 netns "$E" type veth peer name ftc0 netns "$C"
ip -n "$E" addr add 198.18.1.1/24 dev fte0
ip -n "$C" addr add 198.18.1.2/24 dev ftc0
ip -n "$E" link set fte0 up
ip -n "$C" link set ftc0 up

PORT=4739
DIR="$FT_TMP/flows"
mkdir -p "$DIR"

# run_case NAME PROBE-ARGS...: one nfcapd, one probe run, compare the totals.
run_case() {
	local name=$1 want got file pid
	shift
	rm -rf "${DIR:?}"/*
	ft_bg ip netns exec "$C" nfcapd -w "$DIR" -b 198.18.1.2 -p "$PORT" -t 3600 \
		>"$FT_TMP/nfcapd.log" 2>&1
	pid=$FT_LAST_PID
	# nfcapd has no readiness signal: wait until its UDP socket is bound.
	ft_wait_for 10 sh -c "ip netns exec '$C' ss -Hlun 'sport = :$PORT' | grep -q ." ||
		ft_fail "$name: nfcapd did not start"
	want=$(ip netns exec "$E" "$PROBE" "$@" "198.18.1.2:$PORT") || ft_fail "$name: probe failed"
	# The datagrams are on a local veth: queued at nfcapd's socket before the probe returns.
	ft_nfcapd_stop "$C" "$PORT" "$pid"
	file=$(find "$DIR" -type f -name 'nfcapd.[0-9]*' | head -n 1)
	[ -n "$file" ] || ft_fail "$name: nfcapd wrote no file"
	nfdump -r "$file" -q -N -o 'fmt:%sa %sp %da %dp %pr %pkt %byt' | tr -s ' ' >"$FT_TMP/flows.txt"
	got=$(awk '{ n++; p += $(NF-1); b += $NF } END {
		printf "records %d packets %d bytes %d\n", n, p, b }' "$FT_TMP/flows.txt")
	ft_log "$name: sent: $want; nfdump: $got"
	[ "$got" = "$want" ] || { cat "$FT_TMP/nfcapd.log" "$FT_TMP/flows.txt" >&2;
		ft_fail "$name: nfdump read back something else"; }
}

# has_flow "SRC SPORT DST DPORT PROTO PACKETS BYTES": one record as `nfdump -N` prints it.
has_flow() {
	grep -qx " *$1 *" "$FT_TMP/flows.txt" || { cat "$FT_TMP/flows.txt" >&2;
		ft_fail "nfdump has no record '$1'"; }
}

run_case "one message"
# Egress as keyed, ingress swapped; IPv6; the physical endpoint as destination or source.
has_flow "100.64.0.1 22 100.64.0.5 60000 6 12345 6543210"
has_flow "100.64.0.5 60000 100.64.0.1 22 6 9876 1234567"
has_flow "fd00::1 443 fd00::2 40001 6 1001 1431001"
has_flow "fd00::3 123 fd00::1 123 17 1 76"
has_flow "0.0.0.0 0 198.18.0.2 51820 17 13465 8012345"
has_flow "198.18.0.2 51820 0.0.0.0 0 17 10628 1299999"
run_case "mtu 560, 3 dumps" -m 560 -n 3
