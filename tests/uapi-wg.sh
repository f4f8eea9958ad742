#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The userspace API against the real wg(8): tests/uapi-fake-server serves a fake device on
# /var/run/wireguard/ftuapiPID.sock (a name no one else uses), and wg show, wg set, wg setconf
# and wg showconf drive it as they would drive wireguard-go. Then: a second instance on the
# same socket is refused, a stale socket is replaced, removing the socket stops the server.
#
# No network traffic at all: wg only talks to the UNIX socket. Root is needed for
# /var/run/wireguard.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"

[ "${FT_NETNS_TESTS:-yes}" = yes ] || ft_skip "host tests disabled (--disable-netns-tests)"
[ "$(id -u)" -eq 0 ] || ft_skip "needs root for /var/run/wireguard"
ft_require_cmd wg
SERVER=${top_builddir:-.}/tests/uapi-fake-server
[ -x "$SERVER" ] || ft_fail "no $SERVER (make check builds it)"

umask 077 # key files written below are secrets
ifc="ftuapi$$"
sock="/var/run/wireguard/$ifc.sock"
ft_cleanup_add "rm -f '$sock'"

# Waits for the server's own word, not for the socket file: a stale one is there already
# (and wg would unlink it on ECONNREFUSED, hiding what is being tested).
starts=0
start_server() {
	starts=$((starts + 1))
	ft_bg "$SERVER" "$sock" 2>>"$FT_TMP/server.log"
	server_pid=$FT_LAST_PID
	ft_wait_for 10 served "$starts" || ft_fail "server did not start: $(cat "$FT_TMP/server.log")"
}
served() { [ "$(grep -c '^uapi-fake-server: serving' "$FT_TMP/server.log")" -ge "$1" ]; }

expect() { # expect WHAT HAYSTACK NEEDLE
	case "$2" in *"$3"*) ;; *) ft_fail "$1: no '$3' in:
$2" ;; esac
}

start_server
mode=$(stat -c %a "$sock")
[ "$mode" = 600 ] || ft_fail "socket mode $mode, want 600"

# A fresh device: wg show knows it, with no key and no peers.
out=$(wg show "$ifc")
expect "wg show (empty)" "$out" "interface: $ifc"
case "$(wg show interfaces)" in *"$ifc"*) ;; *) ft_fail "wg show interfaces does not list $ifc" ;; esac

# wg set: device keys and one peer with everything.
priv=$(wg genkey)
pub=$(printf '%s\n' "$priv" | wg pubkey)
peer_priv=$(wg genkey)
peer=$(printf '%s\n' "$peer_priv" | wg pubkey)
printf '%s\n' "$priv" >"$FT_TMP/priv"
wg genpsk >"$FT_TMP/psk"
wg set "$ifc" private-key "$FT_TMP/priv" listen-port 51820 fwmark 0x10 \
	peer "$peer" preshared-key "$FT_TMP/psk" endpoint 198.18.0.2:51821 \
	persistent-keepalive 25 allowed-ips 100.64.0.0/24,fd00::/64 ||
	ft_fail "wg set failed"

out=$(wg show "$ifc")
expect "wg show" "$out" "public key: $pub"
expect "wg show" "$out" "listening port: 51820"
expect "wg show" "$out" "fwmark: 0x10"
expect "wg show" "$out" "peer: $peer"
expect "wg show" "$out" "preshared key: (hidden)"
expect "wg show" "$out" "endpoint: 198.18.0.2:51821"
expect "wg show" "$out" "allowed ips: 100.64.0.0/24, fd00::/64"
expect "wg show" "$out" "persistent keepalive: every 25 seconds"

conf=$(wg showconf "$ifc")
expect "wg showconf" "$conf" "PrivateKey = $priv"
expect "wg showconf" "$conf" "ListenPort = 51820"
expect "wg showconf" "$conf" "FwMark = 0x10"
expect "wg showconf" "$conf" "PublicKey = $peer"
expect "wg showconf" "$conf" "PresharedKey = $(cat "$FT_TMP/psk")"
expect "wg showconf" "$conf" "AllowedIPs = 100.64.0.0/24, fd00::/64"
expect "wg showconf" "$conf" "Endpoint = 198.18.0.2:51821"
expect "wg showconf" "$conf" "PersistentKeepalive = 25"

# An IPv6 endpoint, a second peer taking over one prefix, then the first peer removed.
peer2=$(wg genkey | wg pubkey)
wg set "$ifc" peer "$peer" endpoint '[fd00::2]:51822' peer "$peer2" allowed-ips fd00::/64,100.64.1.0/24 ||
	ft_fail "wg set (second peer) failed"
out=$(wg show "$ifc" dump)
expect "dump" "$out" "$peer	$(cat "$FT_TMP/psk")	[fd00::2]:51822	100.64.0.0/24	0	0	0	25"
expect "dump" "$out" "$peer2	(none)	(none)	fd00::/64,100.64.1.0/24	0	0	0	off"
wg set "$ifc" peer "$peer" remove || ft_fail "wg set remove failed"
out=$(wg show "$ifc" peers)
[ "$out" = "$peer2" ] || ft_fail "peers after remove: '$out'"

# wg setconf replaces everything; wg syncconf computes a diff through a get first.
wg showconf "$ifc" >"$FT_TMP/saved.conf"
cat >"$FT_TMP/new.conf" <<CONF
[Interface]
PrivateKey = $priv
ListenPort = 51830

[Peer]
PublicKey = $peer
AllowedIPs = 100.64.2.0/24
CONF
wg setconf "$ifc" "$FT_TMP/new.conf" || ft_fail "wg setconf failed"
[ "$(wg show "$ifc" peers)" = "$peer" ] || ft_fail "setconf did not replace the peers"
[ "$(wg show "$ifc" listen-port)" = 51830 ] || ft_fail "setconf did not set the port"
wg syncconf "$ifc" "$FT_TMP/saved.conf" || ft_fail "wg syncconf failed"
[ "$(wg show "$ifc" peers)" = "$peer2" ] || ft_fail "syncconf did not restore the peers"

# A value wg itself refuses never reaches us; a malformed request sent raw is refused with
# errno and changes nothing (python3 only speaks the socket here; skipped without it).
if command -v python3 >/dev/null 2>&1 && python3 -c 'import socket' 2>/dev/null; then
	before=$(wg showconf "$ifc")
	ans=$(python3 - "$sock" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
s.sendall(b"set=1\nlisten_port=1\nallowed_ip=100.64.0.0/24\n\n")
data = b""
while not data.endswith(b"\n\n"):
    chunk = s.recv(4096)
    if not chunk:
        break
    data += chunk
sys.stdout.write(data.decode())
PY
)
	[ "$ans" = "errno=22" ] || ft_fail "malformed request answered '$ans'"
	[ "$(wg showconf "$ifc")" = "$before" ] || ft_fail "a refused set changed the device"
fi

# A second instance on the same socket is refused; the first keeps serving.
if "$SERVER" "$sock" 2>"$FT_TMP/second.log"; then
	ft_fail "a second server started on a live socket"
fi
expect "second server" "$(cat "$FT_TMP/second.log")" "address already in use"
wg show "$ifc" >/dev/null || ft_fail "the first server stopped answering"

# Removing the socket file stops the server, cleanly (exit 0, loop empty).
rm -f "$sock"
for _ in $(seq 50); do
	kill -0 "$server_pid" 2>/dev/null || break
	sleep 0.1
done
kill -0 "$server_pid" 2>/dev/null && ft_fail "server still running after its socket was removed"
wait "$server_pid" || ft_fail "server exited $? after its socket was removed"

# A killed instance leaves a stale socket; the next one replaces it.
start_server
kill -KILL "$server_pid"
wait "$server_pid" 2>/dev/null || true
[ -S "$sock" ] || ft_fail "no stale socket left by a killed server"
start_server
wg show "$ifc" >/dev/null || ft_fail "the server that replaced a stale socket does not answer"

# SIGTERM: a clean close that removes the socket.
kill -TERM "$server_pid"
wait "$server_pid" || ft_fail "server exited $? on SIGTERM"
[ ! -e "$sock" ] || ft_fail "socket left behind after SIGTERM"
echo "uapi-wg: wg show/set/setconf/syncconf/showconf against the fake device passed"
