#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# PersistentKeepalive starts by itself, with no traffic, as with the kernel and wireguard-go:
# a peer configured with it and a known endpoint gets a keepalive at once (which starts a
# handshake), and the keepalives go on at the interval. Three ways to configure it: the file at
# start, `wg set` adding the peer at runtime, and SIGHUP adding it from the file. b has no
# Endpoint for a: it learns a's from a's first handshake, as a host behind NAT would need.
#
#   namespace $FT_PREFIX-a                           namespace $FT_PREFIX-b
#   +-----------------------------+                  +-----------------------------+
#   | tun0 100.64.0.1/24          |                  | tun0 100.64.0.2/24          |
#   |   peer b: Endpoint,         |                  |   peer a: no Endpoint       |
#   |   PersistentKeepalive = 2   |                  |                             |
#   | veth-a 198.18.0.1/24 -------+------ veth ------+------- veth-b 198.18.0.2/24 |
#   +-----------------------------+                  +-----------------------------+
# shellcheck disable=SC2154 # a, b, ka, kb, pa, pb: set by ft_pair (tests/lib.sh)
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib.sh"

ft_require_root
ft_require_cmd ip wg nsenter
[ -x "$FLOWTUN" ] || ft_fail "no flowtun binary at $FLOWTUN"

ft_pair
ft_conf "$FT_TMP/a.conf" "$ka" 100.64.0.1/24 "$pb" 100.64.0.2/32 198.18.0.2:51820
echo "PersistentKeepalive = 2" >>"$FT_TMP/a.conf"
ft_conf "$FT_TMP/b.conf" "$kb" 100.64.0.2/24 "$pa" 100.64.0.1/32
ft_up "$b" "$FT_TMP/b.conf"
pid_b=$FT_LAST_PID

# rx_from PID KEY: the bytes PID received from the peer KEY.
rx_from() { ft_wg "$1" show tun0 transfer | awk -v k="$2" '$1 == k {print $2}'; }
# handshaken WHAT: wireguard-go handshakes within a second; 3 s is a generous bound (a retry
# would come only after REKEY_TIMEOUT, 5 s, so a lost first keepalive still fails the test).
handshaken() {
	ft_wait_for 3 sh -c "[ \"\$(nsenter --target $pid_a --mount --net wg show tun0 \
		latest-handshakes | awk '\$1 == \"$pb\" {print \$2}')\" != 0 ]" ||
		ft_fail "$1: no handshake 3 s after the keepalive was configured, with no traffic"
	[ "$(ft_wg "$pid_b" show tun0 endpoints | awk -v k="$pa" '$1 == k {print $2}')" = \
		198.18.0.1:51820 ] || ft_fail "$1: b did not learn a's endpoint"
}

# ---- the config file at start -------------------------------------------------------------
ft_up "$a" "$FT_TMP/a.conf"
pid_a=$FT_LAST_PID
handshaken "PersistentKeepalive in the file"
# And it goes on: b hears from a at the interval with no traffic at all.
rx1=$(rx_from "$pid_b" "$pa")
sleep 2.5
rx2=$(rx_from "$pid_b" "$pa")
[ "$rx2" -gt "$rx1" ] || ft_fail "no keepalive from a within 2.5 s (b received $rx1, then $rx2 B)"
ft_log "file: handshake at once, keepalives every 2 s ($rx1 -> $rx2 bytes at b)"

# ---- wg set: the peer added at runtime with a keepalive -----------------------------------
# Removed and added again, the peer starts with no handshake: any is one made after the set.
ft_wg "$pid_a" set tun0 peer "$pb" remove
ft_wg "$pid_a" set tun0 peer "$pb" allowed-ips 100.64.0.2/32 endpoint 198.18.0.2:51820 \
	persistent-keepalive 2 || ft_fail "wg set failed"
handshaken "wg set ... persistent-keepalive 2"
ft_log "wg set: handshake at once"

# ---- SIGHUP: the peer added from the file --------------------------------------------------
printf '[Interface]\nPrivateKey = %s\nListenPort = 51820\nAddress = 100.64.0.1/24\n' "$ka" \
	>"$FT_TMP/a.conf"
kill -HUP "$pid_a"
ft_wait_for 5 sh -c "[ -z \"\$(nsenter --target $pid_a --mount --net wg show tun0 peers)\" ]" ||
	ft_fail "SIGHUP did not remove the peer"
ft_conf "$FT_TMP/a.conf" "$ka" 100.64.0.1/24 "$pb" 100.64.0.2/32 198.18.0.2:51820
echo "PersistentKeepalive = 2" >>"$FT_TMP/a.conf"
kill -HUP "$pid_a"
ft_wait_for 5 sh -c "nsenter --target $pid_a --mount --net wg show tun0 peers | grep -q ." ||
	ft_fail "SIGHUP did not add the peer"
handshaken "SIGHUP adding a peer with PersistentKeepalive"
ft_log "SIGHUP: handshake at once"

ft_stop "$pid_a" "$FT_TMP/a.conf.log" || ft_fail "flowtun a did not exit cleanly"
ft_stop "$pid_b" "$FT_TMP/b.conf.log" || ft_fail "flowtun b did not exit cleanly"
! grep -qiE "AddressSanitizer|runtime error|leak" "$FT_TMP"/*.log ||
	ft_fail "sanitizer report: $(cat "$FT_TMP"/*.log)"
echo "keepalive: 3 passed, 0 failed"
