#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# TCP with a small MSS through the tunnel, offloads on: the kernel's TSO super-packets then hold
# far more segments than one read's worth of send slots (64 KiB / 200 B: over 300), and each
# must still be split and sent (issue 17, item 9), none refused as tun_bad_vnet. The sender
# sets TCP_MAXSEG on its own socket; the transfer has a fixed size, which must arrive whole.
#
#   namespace $FT_PREFIX-a                           namespace $FT_PREFIX-b
#   +-----------------------------+                  +-----------------------------+
#   | tun0 100.64.0.1/24 (TSO)    |                  | tun0 100.64.0.2/24          |
#   |   TCP_MAXSEG 200, 4 MiB ----+--- through ------+--> receiver, counts bytes   |
#   | veth-a 198.18.0.1/24 -------+------ veth ------+------- veth-b 198.18.0.2/24 |
#   +-----------------------------+                  +-----------------------------+
# shellcheck disable=SC2154 # a, b, ka, kb, pa, pb: set by ft_pair (tests/lib.sh)
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib.sh"

ft_require_root
ft_require_cmd ip ping python3 ss
[ -x "$FLOWTUN" ] || ft_fail "no flowtun binary at $FLOWTUN"

BYTES=$((4 * 1024 * 1024))
ft_pair
ft_conf "$FT_TMP/a.conf" "$ka" 100.64.0.1/24 "$pb" 100.64.0.2/32 198.18.0.2:51820
ft_conf "$FT_TMP/b.conf" "$kb" 100.64.0.2/24 "$pa" 100.64.0.1/32 198.18.0.1:51820
ft_up "$a" "$FT_TMP/a.conf" -v
pid_a=$FT_LAST_PID
ft_up "$b" "$FT_TMP/b.conf"
pid_b=$FT_LAST_PID
grep -q "offloads csum tso4 tso6" "$FT_TMP/a.conf.log" || ft_skip "no TSO on this kernel's TUN"
ft_ping "$a" 100.64.0.2 || ft_fail "a cannot ping b"

# A fixed number of bytes from a socket with TCP_MAXSEG 200; the receiver counts until EOF.
ft_bg ip netns exec "$b" python3 -c '
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("100.64.0.2", 5201)); s.listen(1); s.settimeout(40)
c, _ = s.accept(); c.settimeout(40); n = 0
while True:
    d = c.recv(1 << 20)
    if not d: break
    n += len(d)
open(sys.argv[1], "w").write("%d\n" % n)
' "$FT_TMP/got"
srv=$FT_LAST_PID
ft_wait_for 5 sh -c "ip netns exec $b ss -ltn | grep -q ':5201 '" || ft_fail "no receiver"
mss=$(ip netns exec "$a" timeout 40 python3 -c '
import socket, sys
s = socket.socket(); s.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, 200)
s.connect(("100.64.0.2", 5201)); s.sendall(b"x" * int(sys.argv[1]))
print(s.getsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG)); s.close()
' "$BYTES") || ft_fail "the sender failed"
wait "$srv" || ft_fail "the receiver failed"
got=$(cat "$FT_TMP/got")
bad=$(ft_counter "$pid_a" "$FT_TMP/a.conf.log" tun_bad_vnet)
reads=$(ft_counter "$pid_a" "$FT_TMP/a.conf.log" tun_gso_reads)
ft_log "MSS $mss: $got of $BYTES bytes arrived; a read $reads super-packets, refused $bad"
[ "$got" -ge "$BYTES" ] || ft_fail "the transfer did not arrive whole"
[ "$reads" -gt 0 ] || ft_fail "no super-packet was read: the test did not test TSO"
[ "$bad" -eq 0 ] || ft_fail "$bad super-packets refused as tun_bad_vnet"

ft_stop "$pid_a" "$FT_TMP/a.conf.log" || ft_fail "flowtun a did not exit cleanly"
ft_stop "$pid_b" "$FT_TMP/b.conf.log" || ft_fail "flowtun b did not exit cleanly"
! grep -qiE "AddressSanitizer|runtime error|leak" "$FT_TMP"/*.log ||
	ft_fail "sanitizer report: $(cat "$FT_TMP"/*.log)"
echo "smallmss: 1 passed, 0 failed"
