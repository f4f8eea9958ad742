#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# wg-quick(8) drives flowtun as its userspace implementation: `wg-quick up` starts
# `flowtun tun0` (WG_QUICK_USERSPACE_IMPLEMENTATION=flowtun; this machine has no kernel
# WireGuard), configures it through the userspace API socket and ip(8), traffic crosses to a
# `flowtun up` peer, and `wg-quick down` deletes the device, upon which the daemon exits.
#
#   namespace ft<pid>-a                              namespace ft<pid>-b
#   +------------------------------+                 +-----------------------------+
#   | tun0 100.64.0.1/24 fd00::1   |                 | tun0 100.64.0.2/24 fd00::2  |
#   |  wg-quick up -> flowtun tun0 |                 |   flowtun up b.conf         |
#   | va 198.18.0.1/24 ------------+----- veth ------+------------ vb 198.18.0.2/24 |
#   +------------------------------+                 +-----------------------------+
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib.sh"
ft_require_root
ft_require_cmd ip ping wg wg-quick nsenter iperf3

a=$(ft_netns a)
b=$(ft_netns b)
ft_veth "$a" va "$b" vb
ip -n "$a" addr add 198.18.0.1/24 dev va
ip -n "$b" addr add 198.18.0.2/24 dev vb

ka=$("$FLOWTUN" genkey)
kb=$("$FLOWTUN" genkey)
mkdir -m 700 "$FT_TMP/q"
(
	umask 077
	printf '[Interface]\nPrivateKey = %s\nListenPort = 51820\nAddress = %s\n\n' \
		"$ka" "100.64.0.1/24, fd00::1/64"
	printf '[Peer]\nPublicKey = %s\nAllowedIPs = %s\nEndpoint = 198.18.0.2:51820\n' \
		"$("$FLOWTUN" pubkey <<<"$kb")" "100.64.0.2/32, fd00::2/128"
) >"$FT_TMP/q/tun0.conf"
ft_conf "$FT_TMP/b.conf" "$kb" "100.64.0.2/24, fd00::2/64" "$("$FLOWTUN" pubkey <<<"$ka")" \
	"100.64.0.1/32, fd00::1/128" 198.18.0.1:51820
ft_up "$b" "$FT_TMP/b.conf"

# wg-quick finds flowtun on PATH, as it would find wireguard-go.
bindir=$(cd "$(dirname "$FLOWTUN")" && pwd)
ft_ns_exec "$a" env PATH="$bindir:$PATH" WG_QUICK_USERSPACE_IMPLEMENTATION=flowtun \
	wg-quick up "$FT_TMP/q/tun0.conf" >"$FT_TMP/up.log" 2>&1 ||
	{ cat "$FT_TMP/up.log"; ft_fail "wg-quick up failed"; }
grep -q '^\[#\] flowtun tun0$' "$FT_TMP/up.log" || { cat "$FT_TMP/up.log"; ft_fail "wg-quick did not start flowtun"; }
# The daemon outlives wg-quick; its PID is the namespace's only process (wg-quick is gone).
daemon=$(ip netns pids "$a" | head -1)
[ -n "$daemon" ] || ft_fail "no flowtun daemon left in $a after wg-quick up"
FT_PIDS="$daemon $FT_PIDS" # cleanup ends it if the test fails before wg-quick down
grep -q '^flowtun' "/proc/$daemon/comm" || ft_fail "the process in $a is $(cat "/proc/$daemon/comm")"

ft_ping "$a" 100.64.0.2 || ft_fail "no IPv4 ping through the wg-quick tunnel"
ip netns exec "$a" ping -c 1 -W 2 fd00::2 >/dev/null || ft_fail "no IPv6 ping through it"
show=$(nsenter --target "$daemon" --mount --net wg show tun0)
echo "$show" | grep -q "latest handshake" || { echo "$show"; ft_fail "wg show: no handshake"; }
ft_iperf "$b" "$a" 100.64.0.2 2
ft_log "wg-quick tunnel: iperf3 ${FT_MBPS} Mbit/s"

nsenter --target "$daemon" --mount --net env PATH="$bindir:$PATH" \
	wg-quick down "$FT_TMP/q/tun0.conf" >"$FT_TMP/down.log" 2>&1 ||
	{ cat "$FT_TMP/down.log"; ft_fail "wg-quick down failed"; }
# The device is gone, so the daemon exits by itself, cleanly.
ft_wait_for 5 sh -c "! kill -0 $daemon 2>/dev/null" || ft_fail "flowtun did not exit after wg-quick down"
ip -n "$a" link show tun0 >/dev/null 2>&1 && ft_fail "tun0 still exists"
echo "wgquick: 1 passed, 0 failed"
