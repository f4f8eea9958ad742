#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# flowtun show against two running flowtun instances, one started by `flowtun up` and one by
# `flowtun -f tun0` (the wireguard-go command line) and configured with wg(8): after pings and
# an iperf3 run, the text of each is compared with a golden file (tests/data/show/) with keys,
# times, byte and packet counts, ports and the temporary directory masked; --json is checked
# field by field with jq; then the exit codes and messages of the failure paths.
#
#   namespace $FT_PREFIX-a                           namespace $FT_PREFIX-b
#   +-----------------------------+                  +-----------------------------+
#   | tun0 100.64.0.1/24 fd00::1  |                  | tun0 100.64.0.2/24 fd00::2  |
#   |   flowtun up a.conf         |                  |   flowtun -f tun0           |
#   |   (FlowLog, LinkWatch)      |                  |   + wg setconf, PSK, 25 s   |
#   | veth-a 198.18.0.1/24 -------+------ veth ------+------- veth-b 198.18.0.2/24 |
#   +-----------------------------+                  +-----------------------------+
# shellcheck disable=SC2154 # a, b, ka, kb, pa, pb: set by ft_pair (tests/lib.sh)
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib.sh"

ft_require_root
ft_require_cmd ip ping iperf3 jq wg nsenter socat
[ -x "$FLOWTUN" ] || ft_fail "no flowtun binary at $FLOWTUN"
golden=${top_srcdir:-$(dirname "$0")/../..}/tests/data/show

ft_pair
psk=$("$FLOWTUN" genpsk)
# A long flow-log interval, so that the statistics window is still open when show asks.
ft_conf "$FT_TMP/a.conf" "$ka" "100.64.0.1/24, fd00::1/64" "$pb" "100.64.0.2/32, fd00::2/128" \
	198.18.0.2:51820 "FlowLog = $FT_TMP/flows-a.jsonl
FlowLogInterval = 60
LinkWatch = veth-a
Crypto = libsodium"
printf 'PresharedKey = %s\n' "$psk" >>"$FT_TMP/a.conf"
ft_up "$a" "$FT_TMP/a.conf"
pid_a=$FT_LAST_PID

# b: the bare device, then wg(8) sets keys and the peer, ip(8) the address, as wg-quick would.
printf '[Interface]\nLinkWatch = veth-b\nFlowLog = %s\nFlowLogInterval = 60\n' \
	"$FT_TMP/flows-b.jsonl" >"$FT_TMP/b-settings.conf"
: >"$FT_TMP/b.log"
FLOWTUN_SETTINGS=$FT_TMP/b-settings.conf ft_bg ft_ns_exec "$b" "$FLOWTUN" -f tun0 \
	2>>"$FT_TMP/b.log"
pid_b=$FT_LAST_PID
ft_wait_for 10 nsenter --target "$pid_b" --mount --net test -S /run/wireguard/tun0.sock ||
	ft_fail "flowtun -f tun0 did not serve its socket: $(cat "$FT_TMP/b.log")"
(
	umask 077
	printf '[Interface]\nPrivateKey = %s\nListenPort = 51820\n\n' "$kb"
	printf '[Peer]\nPublicKey = %s\nPresharedKey = %s\n' "$pa" "$psk"
	printf 'AllowedIPs = 100.64.0.1/32, fd00::1/128\nEndpoint = 198.18.0.1:51820\n'
	printf 'PersistentKeepalive = 25\n'
) >"$FT_TMP/b.wg"
ft_wg "$pid_b" setconf tun0 "$FT_TMP/b.wg" || ft_fail "wg setconf on flowtun -f tun0 failed"
ip -n "$b" addr add 100.64.0.2/24 dev tun0
ip -n "$b" addr add fd00::2/64 dev tun0
ip -n "$b" link set tun0 up

ft_ping "$a" 100.64.0.2 || ft_fail "a cannot ping 100.64.0.2"
ip netns exec "$a" ping -c 3 -i 0.2 -W 2 100.64.0.2 >/dev/null || ft_fail "lost pings a -> b"
ft_iperf "$b" "$a" 100.64.0.2 2
ft_log "iperf3 100.64.0.1 -> 100.64.0.2, 2 s: $FT_MBPS Mbit/s"

show() { # show PID ARGS...: flowtun show in the namespaces of PID
	local pid=$1
	shift
	nsenter --target "$pid" --mount --net "$FLOWTUN" show "$@"
}

# Masks what changes from run to run. The counters are checked below, not here: which ones are
# non-zero depends on timing (an IPv6 router solicitation to no peer, a retried handshake). Of
# the top connections only the first, the iperf3 data stream, is kept: the order of the small
# ones (iperf3's control connection, the pings, ICMPv6) is not fixed. The iperf3 client's
# port (on 100.64.0.1) is ephemeral.
mask() {
	sed -E -e 's#[A-Za-z0-9+/]{43}=#KEY#g' \
		-e "s#$FT_TMP#TMP#g" \
		-e 's/: Now$/: TIME ago/' \
		-e '/persistent keepalive/!s/[0-9]+ (year|day|hour|minute|second)s?(, [0-9]+ (year|day|hour|minute|second)s?)*/TIME/g' \
		-e 's/[0-9]+(\.[0-9]+)? (B|KiB|MiB|GiB|TiB)/BYTES/g' \
		-e 's/[0-9]+ packets?/N packets/g' \
		-e 's/100\.64\.0\.1:[0-9]+/100.64.0.1:PORT/g' \
		-e 's/^  crypto: .* \(auto\)$/  crypto: MEASURED (auto)/' \
		-e 's/^  udp coalescing: (on|off)$/  udp coalescing: PROBED/' \
		-e 's/^  tun i\/o: (io_uring|syscalls)$/  tun i\/o: PROBED/' \
		-e 's/^  workers: [0-9]+( \(packets taken in by each: [0-9 ]+\))?$/  workers: N/' |
		awk '/^  counters:/ { skip = 1; next }
		     /^  top connections/ { print; skip = 0; top = 1; next }
		     skip && /^    / { next }
		     top && /^    / { if (top++ == 1) print; next }
		     { skip = 0; top = 0; print }'
}

for side in a b; do
	pid=pid_$side
	out=$(show "${!pid}" tun0) || ft_fail "flowtun show tun0 in $side failed"
	printf '%s\n' "$out" | sed "s/^/  $side: /" >&2
	diff -u "$golden/$side.txt" <(mask <<<"$out") >&2 ||
		ft_fail "flowtun show in $side differs from $golden/$side.txt (masked)"
	# Without IFACE: every socket that answers, here the only one.
	all=$(show "${!pid}") || ft_fail "flowtun show (no IFACE) in $side failed"
	[ "$(mask <<<"$all")" = "$(mask <<<"$out")" ] ||
		ft_fail "flowtun show without IFACE differs from flowtun show tun0 in $side"
	# Counters: by default only the non-zero ones; --all shows them all.
	grep -Eq '^    handshake_completed: [1-9]' <<<"$out" ||
		ft_fail "no handshake_completed counter in $side: $out"
	! grep -Eq '^    [a-z0-9_]+: 0$' <<<"$out" || ft_fail "a zero counter shown in $side: $out"
	full=$(show "${!pid}" tun0 --all) || ft_fail "flowtun show --all in $side failed"
	n_zero=$(grep -Ec '^    [a-z0-9_]+: 0$' <<<"$full" || true)
	[ "$n_zero" -gt 0 ] || ft_fail "flowtun show --all in $side shows no zero counter"
	grep -q '^    bad_mac1: 0$' <<<"$full" || ft_fail "--all in $side lacks bad_mac1: $full"
done
ft_log "text output of a (flowtun up) and b (flowtun -f) matches the golden files"

# --json: one object for one interface, an array without IFACE.
ja=$(show "$pid_a" tun0 --json) || ft_fail "flowtun show --json in a failed"
jb=$(show "$pid_b" --json) || ft_fail "flowtun show --json (no IFACE) in b failed"
check() { # check NAME JSON JQ-FILTER: the filter must print true
	jq -e "$3" <<<"$2" >/dev/null || ft_fail "--json of $1: $3 is not true in: $2"
}
check a "$ja" '.interface == "tun0" and .listenPort == 51820 and .flowtunExtras'
check a "$ja" '.crypto == "libsodium"'
check a "$ja" ".publicKey == \"$pa\" and .peers[0].publicKey == \"$pb\""
check a "$ja" '.peers | length == 1'
check a "$ja" '.peers[0].state == "up" and .peers[0].path == "veth-a"'
check a "$ja" '.mtu == 1440 and .mtuSource == "underlay" and .peers[0].pathMtu == 1500'
check a "$ja" '.peers[0].presharedKey and .peers[0].endpoint == "198.18.0.2:51820"'
check a "$ja" '.peers[0].allowedIps == ["100.64.0.2/32", "fd00::2/128"]'
check a "$ja" '.peers[0].latestHandshake > 0 and .peers[0].txBytes > 1000000'
check a "$ja" '.peers[0].stateSince > 0'
check a "$ja" '.counters.handshake_completed >= 1 and .counters.bad_mac1 == 0'
check a "$ja" '.links == [.links[0]] and .links[0].name == "veth-a" and .links[0].state == "link"'
check a "$ja" ".flowLog.destination == \"$FT_TMP/flows-a.jsonl\" and .flowLog.lost == 0"
check a "$ja" '.windowStartMs > 0'
check a "$ja" '.counters.tun_kernel_dropped >= 0 and .windowTunDropped >= 0'
check a "$ja" '.flowLog.omitted == 0 and .statsOverflowPackets == 0'
check a "$ja" '.windowConnections.virtual >= 1 and .windowConnections.physical >= 1'
check a "$ja" '.version | test("^[0-9]+\\.[0-9]+")'
check a "$ja" '.links[0].changes >= 1 and (.metrics == null)'
check a "$ja" '.counters.udp_tx_bytes > 1000000 and .counters.tun_rx_bytes > 1000000'
check a "$ja" '.top[0].proto == 6 and .top[0].protoName == "tcp" and
	.top[0].dst == "100.64.0.2:5201" and (.top[0].src | startswith("100.64.0.1:")) and
	.top[0].txBytes > 1000000 and .top[0].rxPkts > 0'
check a "$ja" '[.top[] | select(.proto == 1 and .dst == "100.64.0.2:0" and .txPkts >= 3)] |
	length == 1'
check b "$jb" 'type == "array" and length == 1'
check b "$jb" '.[0].crypto | test("^(libsodium|openssl|openssl from [0-9]+ B, libsodium below) \\(auto\\)$")'
check b "$jb" ".[0].publicKey == \"$pb\" and .[0].peers[0].publicKey == \"$pa\""
check b "$jb" '.[0].peers[0].state == "up" and .[0].peers[0].persistentKeepalive == 25'
check b "$jb" '.[0].peers[0].rxBytes > 1000000 and .[0].counters.handshake_completed >= 1'
check b "$jb" '.[0].links[0].name == "veth-b" and .[0].flowLog.lines == 0'
# flowtun -f (wg-quick's way) leaves the MTU to wg-quick: 1420 until someone sets another.
check b "$jb" '.[0].mtu == 1420 and .[0].mtuSource == "external" and .[0].peers[0].pathMtu == 1500'
check b "$jb" '.[0].top[0].src == "100.64.0.2:5201" and .[0].top[0].rxBytes > 1000000'
ft_log "--json of a and b: ok"

# The exact relative times, with the clock injected: the handshake 63 s before "now".
hs=$(jq -r '.peers[0].latestHandshake' <<<"$ja")
out=$(FLOWTUN_SHOW_NOW=$((hs + 63)) show "$pid_a" tun0)
grep -q '^  latest handshake: 1 minute, 3 seconds ago$' <<<"$out" ||
	ft_fail "FLOWTUN_SHOW_NOW=handshake+63 does not give '1 minute, 3 seconds ago': $out"
out=$(FLOWTUN_SHOW_NOW=$((hs + 90061)) show "$pid_a" tun0)
grep -q '^  latest handshake: 1 day, 1 hour, 1 minute, 1 second ago$' <<<"$out" ||
	ft_fail "FLOWTUN_SHOW_NOW=handshake+90061: $out"

# Failure paths: exit 1 naming the socket, exit 2 for usage errors.
rc=0
err=$(show "$pid_a" nosuch 2>&1 >/dev/null) || rc=$?
[ "$rc" -eq 1 ] || ft_fail "show of a missing interface exited $rc, not 1"
grep -q '/var/run/wireguard/nosuch.sock: No such file or directory' <<<"$err" ||
	ft_fail "show of a missing interface does not name the socket and why: $err"
for args in "--bogus" "tun0 tun1" "../x" "an-interface-name-too-long"; do
	rc=0
	# shellcheck disable=SC2086 # split on purpose
	show "$pid_a" $args >/dev/null 2>&1 || rc=$?
	[ "$rc" -eq 2 ] || ft_fail "flowtun show $args exited $rc, not 2"
done
rc=0
FLOWTUN_SHOW_NOW=yesterday show "$pid_a" tun0 >/dev/null 2>&1 || rc=$?
[ "$rc" -eq 2 ] || ft_fail "a bad FLOWTUN_SHOW_NOW exited $rc, not 2"
# A socket that accepts and closes without an answer: exit 1, not a hang.
nsenter --target "$pid_a" --mount --net \
	timeout 20 socat UNIX-LISTEN:/run/wireguard/mute.sock,fork SYSTEM:'exit 0' 2>/dev/null &
socat_pid=$!
ft_cleanup_add "kill $socat_pid"
ft_wait_for 5 nsenter --target "$pid_a" --mount --net test -S /run/wireguard/mute.sock ||
	ft_fail "socat did not listen"
rc=0
err=$(show "$pid_a" mute 2>&1 >/dev/null) || rc=$?
[ "$rc" -eq 1 ] && grep -q 'mute.sock' <<<"$err" ||
	ft_fail "a server that closes at once: exit $rc, message: $err"
# Without IFACE, the mute socket is an error but tun0 is still shown.
rc=0
out=$(show "$pid_a" 2>/dev/null) || rc=$?
[ "$rc" -eq 1 ] && grep -q '^interface: tun0$' <<<"$out" ||
	ft_fail "show with a mute socket beside tun0: exit $rc, output: $out"
kill "$socat_pid" 2>/dev/null
wait "$socat_pid" 2>/dev/null || true
ft_log "exit codes: ok"

# Canned answers from fake servers (socat) in a's namespaces: an exact golden text with the
# clock injected; the fallback to get=1 for a server that refuses get=flowtun (wireguard-go);
# malformed and oversized answers, which must fail with exit 1, naming the socket.
cat >"$FT_TMP/responder.sh" <<'EOS'
#!/bin/sh
read -r op
read -r _
case "$1:$op" in
fake:get=flowtun) cat "$2" ;;
wggo:get=flowtun) printf 'errno=71\n\n' ;;
wggo:get=1) grep -v '^flowtun_' "$2" ;;
noeq:*) printf 'listen_port=1\nno equals sign\nerrno=0\n\n' ;;
badhex:*) printf 'public_key=zz\nerrno=0\n\n' ;;
badnum:*) printf 'listen_port=1x\nerrno=0\n\n' ;;
badtop:*) printf 'flowtun_top=6 a b 1 2 3\nerrno=0\n\n' ;;
noerrno:*) printf 'listen_port=1\n\n' ;;
errno:*) printf 'errno=13\n\n' ;;
big:*) yes x=y | head -c 9000000 ;;
esac
EOS
chmod +x "$FT_TMP/responder.sh"
for mode in fake wggo noeq badhex badnum badtop noerrno errno big; do
	ft_bg nsenter --target "$pid_a" --mount --net timeout 30 socat \
		UNIX-LISTEN:/run/wireguard/$mode.sock,fork \
		EXEC:"$FT_TMP/responder.sh $mode $golden/fake.answer" 2>/dev/null
	ft_wait_for 5 nsenter --target "$pid_a" --mount --net test -S /run/wireguard/$mode.sock ||
		ft_fail "socat did not listen on $mode.sock"
done
out=$(FLOWTUN_SHOW_NOW=1795403700 show "$pid_a" fake) || ft_fail "show of the fake server failed"
diff -u "$golden/fake.txt" <(printf '%s\n' "$out") >&2 ||
	ft_fail "show of the canned answer differs from $golden/fake.txt"
out=$(FLOWTUN_SHOW_NOW=1795403700 show "$pid_a" fake --all)
[ "$(grep -c "^    [a-z0-9_]*: [0-9]*$" <<<"$out")" -eq 5 ] || ft_fail "--all does not show 5 counters: $out"
j=$(show "$pid_a" fake --json)
check fake "$j" '.counters == {"truncated": 0, "bad_mac1": 3, "replayed": 0, "no_peer": 12,
	"handshake_completed": 2} and .fwmark == 66 and .device == "tun7"'
check fake "$j" '.ipfix == {"collectors": ["198.18.0.9:4739", "[fd00::9]:4739"],
	"messages": 77, "errors": 1} and .flowLog.lost == 4 and .flowLog.error == 28'
check fake "$j" '.mtu == 1380 and .mtuSource == "external" and .peers[0].pathMtu == 1460 and
	.peers[1].pathMtu == null'
check fake "$j" '.top[3].proto == 47 and .top[3].protoName == null and .top[1].rxBytes == 1023'
check fake "$j" '.peers[1].allowedIps == [] and .peers[1].state == "link-down" and
	.peers[1].presharedKey and .peers[1].endpoint == "[fd00::3]:51820" and
	.peers[0].rxBytes == 5368709120'
out=$(FLOWTUN_SHOW_NOW=1795403700 show "$pid_a" wggo) || ft_fail "show of a get=1 server failed"
diff -u <(sed -n '/^peer: /,$p' "$golden/fake.txt" | grep -v '^  path: ') \
	<(sed -n '/^peer: /,$p' <<<"$out") >&2 || ft_fail "get=1 fallback: the peers differ"
! grep -qE '^  (underlay|counters|top|flow log|ipfix)' <<<"$out" ||
	ft_fail "get=1 fallback shows flowtun's extras: $out"
check wggo "$(show "$pid_a" wggo --json)" '.flowtunExtras == false and (.peers | length) == 2'
for mode in noeq badhex badnum badtop noerrno errno big; do
	rc=0
	err=$(show "$pid_a" $mode 2>&1 >/dev/null) || rc=$?
	[ "$rc" -eq 1 ] && grep -q "^flowtun show: .*/$mode.sock" <<<"$err" ||
		ft_fail "a $mode answer: exit $rc, message: $err"
	ft_log "a $mode answer: $err"
done

ft_stop "$pid_a" "$FT_TMP/a.conf.log" || ft_fail "flowtun a did not exit cleanly on SIGTERM"
ft_stop "$pid_b" "$FT_TMP/b.log" || ft_fail "flowtun b did not exit cleanly on SIGTERM"
grep -qiE "leak|AddressSanitizer|runtime error|still had handles" "$FT_TMP"/*.log &&
	ft_fail "sanitizer or leak report: $(cat "$FT_TMP"/*.log)"
echo "show: 1 passed, 0 failed"
