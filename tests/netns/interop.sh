#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Interop: flowtun against wireguard-go, the reference userspace implementation, configured
# with wg(8). Each side initiates a handshake once (flowtun first; then wireguard-go is
# restarted and pings first), then pings over IPv4 and IPv6 and an iperf3 run both ways.
# Once per transport AEAD of flowtun (--crypto): openssl (when this flowtun has it), then
# libsodium, which skips the second handshake (the responder's path does not depend on the
# AEAD) to keep the test short; FT_CRYPTO="libsodium" (a list) picks others.
#
#   namespace $FT_PREFIX-a                           namespace $FT_PREFIX-b
#   +-----------------------------+                  +-----------------------------+
#   | tun0 100.64.0.1/24 fd00::1  |                  | wgft<pid> 100.64.0.2/24     |
#   |   flowtun up a.conf         |                  |           fd00::2/64        |
#   |                             |                  |   wireguard-go + wg setconf |
#   | veth-a 198.18.0.1/24 -------+------ veth ------+------- veth-b 198.18.0.2/24 |
#   +-----------------------------+                  +-----------------------------+
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib.sh"

ft_require_root
ft_require_cmd ip ping iperf3 jq wg wireguard-go
[ -x "$FLOWTUN" ] || ft_fail "no flowtun binary at $FLOWTUN"

ft_netns a >/dev/null
ft_netns b >/dev/null
a=$FT_PREFIX-a b=$FT_PREFIX-b
ft_veth "$a" veth-a "$b" veth-b
ip -n "$a" addr add 198.18.0.1/24 dev veth-a
ip -n "$b" addr add 198.18.0.2/24 dev veth-b

# Unique per run: wireguard-go's UAPI socket lives in the host's /var/run/wireguard, shared by
# every namespace and by the tests make check runs in parallel.
wgif=$(printf 'wgft%s' "$$" | cut -c1-15)
sock=/var/run/wireguard/$wgif.sock

ka=$("$FLOWTUN" genkey) kb=$(wg genkey) psk=$(wg genpsk)
pa=$("$FLOWTUN" pubkey <<<"$ka") pb=$(wg pubkey <<<"$kb")
ft_conf "$FT_TMP/a.conf" "$ka" "100.64.0.1/24, fd00::1/64" "$pb" "100.64.0.2/32, fd00::2/128" \
	198.18.0.2:51820
printf 'PresharedKey = %s\n' "$psk" >>"$FT_TMP/a.conf"
(
	umask 077
	cat >"$FT_TMP/wg.conf" <<CONF
[Interface]
PrivateKey = $kb
ListenPort = 51820

[Peer]
PublicKey = $pa
PresharedKey = $psk
AllowedIPs = 100.64.0.1/32, fd00::1/128
Endpoint = 198.18.0.1:51820
CONF
)

wg_pid=
wg_start() {
	[ ! -e "$sock" ] || ft_fail "$sock exists already"
	ft_bg ip netns exec "$b" env WG_PROCESS_FOREGROUND=1 LOG_LEVEL=error wireguard-go \
		"$wgif" >>"$FT_TMP/wg-go.log" 2>&1
	wg_pid=$FT_LAST_PID
	ft_wait_for 10 test -S "$sock" || ft_fail "wireguard-go made no $sock"
	ip netns exec "$b" wg setconf "$wgif" "$FT_TMP/wg.conf" || ft_fail "wg setconf"
	ip -n "$b" addr add 100.64.0.2/24 dev "$wgif"
	ip -n "$b" addr add fd00::2/64 dev "$wgif" nodad
	ip -n "$b" link set "$wgif" mtu 1420 up
}
wg_stop() {
	ft_stop "$wg_pid" || true
	ft_wait_for 5 test ! -e "$sock" || rm -f "$sock"
}
ft_cleanup_add "rm -f $sock"
# 0 when no handshake yet, else the time of the latest one.
wg_handshake() { ip netns exec "$b" wg show "$wgif" latest-handshakes | awk '{print $2}'; }

# The implementations this flowtun has: OpenSSL's only when it links libcrypto.
if [ -z "${FT_CRYPTO:-}" ]; then
	FT_CRYPTO=libsodium
	! ldd "$FLOWTUN" 2>/dev/null | grep -q 'libcrypto\.so' || FT_CRYPTO="openssl libsodium"
fi
# Two seconds of iperf3 each way per implementation when there are two: the test stays short.
secs=3
[ "$(wc -w <<<"$FT_CRYPTO")" -eq 1 ] || secs=2

run_with() { # CRYPTO FULL: the exchange with flowtun on that transport AEAD; FULL=no: no part 2
	local crypto=$1 full=$2
	ft_up "$a" "$FT_TMP/a.conf" --crypto "$crypto"
	pid_a=$FT_LAST_PID
	log_a=$FT_TMP/a.conf.log
	grep -q "transport AEAD: $crypto\$" "$log_a" ||
		ft_fail "flowtun does not say it uses $crypto: $(grep 'transport AEAD' "$log_a")"
	wg_start

	# 1. flowtun initiates: its first packet to the peer starts the handshake.
	[ "$(wg_handshake)" = 0 ] || ft_fail "a handshake before any traffic"
	ft_ping "$a" 100.64.0.2 || ft_fail "flowtun -> wireguard-go: no ping answer over IPv4"
	[ "$(wg_handshake)" != 0 ] || ft_fail "wg show lists no handshake after the ping"
	init1=$(ft_counter "$pid_a" "$log_a" handshake_initiated)
	done1=$(ft_counter "$pid_a" "$log_a" handshake_completed)
	[ "$init1" -ge 1 ] && [ "$done1" -ge 1 ] ||
		ft_fail "flowtun initiated $init1, completed $done1 handshakes"
	ft_ping "$a" fd00::2 || ft_fail "flowtun -> wireguard-go: no ping answer over IPv6"
	ft_ping "$b" 100.64.0.1 || ft_fail "wireguard-go -> flowtun: no ping answer over IPv4"
	ft_log "$crypto: flowtun initiated: handshake done, ping v4/v6 both ways ok"

	[ "$full" = no ] || part2
	pings_and_iperf
}

# 2. wireguard-go initiates: a fresh instance has no session; flowtun (which still has the old
# one) must answer its initiation and take the new session.
part2() {
	wg_stop
	wg_start
	ft_ping "$b" 100.64.0.1 || ft_fail "wireguard-go -> flowtun: no ping answer after the restart"
	[ "$(wg_handshake)" != 0 ] || ft_fail "wg show lists no handshake after the restart"
	init2=$(ft_counter "$pid_a" "$log_a" handshake_initiated)
	done2=$(ft_counter "$pid_a" "$log_a" handshake_completed)
	[ "$done2" -gt "$done1" ] || ft_fail "flowtun completed no handshake as the responder"
	[ "$init2" -eq "$init1" ] || ft_fail "flowtun initiated ($init1 -> $init2) where wireguard-go should"
	ft_ping "$b" fd00::1 || ft_fail "wireguard-go -> flowtun: no ping answer over IPv6"
	ft_ping "$a" fd00::2 || ft_fail "flowtun -> wireguard-go: no ping answer over IPv6 (responder)"
	ft_log "$crypto: wireguard-go initiated: handshake done, ping v4/v6 both ways ok"
}

# 3. Data both ways, then no drop counted and a clean exit.
pings_and_iperf() {
	ip netns exec "$a" ping -c 5 -i 0.2 -W 2 100.64.0.2 >/dev/null || ft_fail "lost pings a -> b"
	ip netns exec "$b" ping -6 -c 5 -i 0.2 -W 2 fd00::1 >/dev/null || ft_fail "lost pings b -> a"

	ft_iperf "$b" "$a" 100.64.0.2 "$secs"
	ft_log "$crypto: iperf3 flowtun -> wireguard-go, $secs s: $FT_MBPS Mbit/s"
	ft_iperf "$a" "$b" 100.64.0.1 "$secs"
	ft_log "$crypto: iperf3 wireguard-go -> flowtun, $secs s: $FT_MBPS Mbit/s"
	# One status dump for all the counters (each dump waits for SIGUSR1's answer).
	ft_status "$pid_a" "$log_a" >"$FT_TMP/status"
	sed 's/^/  flowtun: /' "$FT_TMP/status" >&2
	ip netns exec "$b" wg show "$wgif" | sed 's/^/  wg: /' >&2

	for n in decrypt_failed bad_mac1 source_not_allowed bad_packet truncated; do
		v=$(awk -v n="$n" '$1 == n { v = $2 } END { print v + 0 }' "$FT_TMP/status")
		[ "$v" -eq 0 ] || ft_fail "flowtun counted $v $n with a correct peer"
	done
	ft_stop "$pid_a" "$FT_TMP/a.conf.log" || ft_fail "flowtun did not exit cleanly on SIGTERM"
	wg_stop
}

full=yes
for crypto in $FT_CRYPTO; do
	run_with "$crypto" $full
	full=no
done
echo "interop: 1 passed, 0 failed"
