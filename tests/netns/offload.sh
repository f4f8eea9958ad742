#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# TSO and GRO against a real kernel: TCP between two namespaces crosses tests/netns/offload-relay,
# which reads the kernel's TSO super-packets from one vnet-header TUN, splits them with
# ft_offload_segment, coalesces the segments with ft_offload_coalesce and writes the result
# to the other TUN. The kernel's TCP checks every checksum we compute (split segments are
# coalesced only after their checksums verify; lone packets keep ours), so a wrong byte shows
# as a checksum error, a stall, or a file that arrives different.
#
#   +------ $FT_PREFIX-a ------+                    +------ $FT_PREFIX-b ------+
#   |  ftoff0 100.64.0.1/24    |                    |  ftoff0 100.64.0.2/24    |
#   |         fd00::1/64       |                    |         fd00::2/64       |
#   |  iperf3 -c, sender   ====fd====  relay  ====fd====  iperf3 -s, receiver  |
#   +--------------------------+  segment+coalesce  +--------------------------+
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib.sh"

ft_require_root
ft_require_cmd ip iperf3 jq python3
relay=${top_builddir:-.}/tests/netns/offload-relay
[ -x "$relay" ] || ft_fail "no relay at $relay (make check builds it)"

ft_netns a >/dev/null
ft_netns b >/dev/null
a="$FT_PREFIX-a"
b="$FT_PREFIX-b"
mkfifo "$FT_TMP/in"
exec 3<>"$FT_TMP/in"
ft_bg sh -c 'exec "$1" "$2" ftoff0 "$3" ftoff0 <"$4" >"$5" 2>&1' sh "$relay" "$a" "$b" \
	"$FT_TMP/in" "$FT_TMP/out"
relay_pid=$FT_LAST_PID

ft_wait_for 10 grep -qx ready "$FT_TMP/out" || { cat "$FT_TMP/out" >&2; ft_fail "relay not ready"; }
sed 's/^/  relay: /' "$FT_TMP/out" >&2
for ns in "$a" "$b"; do
	grep -q "vnet_hdr on" <<<"$(ip -n "$ns" -d link show dev ftoff0)" ||
		ft_fail "ftoff0 in $ns has no vnet header"
done
ip -n "$a" addr add 100.64.0.1/24 dev ftoff0
ip -n "$a" addr add fd00::1/64 dev ftoff0 nodad
ip -n "$b" addr add 100.64.0.2/24 dev ftoff0
ip -n "$b" addr add fd00::2/64 dev ftoff0 nodad
ip -n "$a" link set ftoff0 up
ip -n "$b" link set ftoff0 up

# A file through TCP, compared byte for byte: python3 on both ends, each sha256 printed.
ft_transfer() {
	local addr=$1 port=$2
	ft_bg ip netns exec "$b" python3 -c '
import hashlib, socket, sys
fam = socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET
s = socket.socket(fam); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2]))); s.listen(1); s.settimeout(30)
c, _ = s.accept(); c.settimeout(30); h = hashlib.sha256(); n = 0
while True:
    d = c.recv(1 << 20)
    if not d: break
    h.update(d); n += len(d)
open(sys.argv[3], "w").write("%d %s\n" % (n, h.hexdigest()))
' "$addr" "$port" "$FT_TMP/got-$port"
	local srv=$FT_LAST_PID
	ft_wait_for 5 sh -c "ip netns exec $b ss -ltn | grep -q ':$port '" ||
		ft_fail "receiver did not start on $addr"
	ip netns exec "$a" timeout 60 python3 -c '
import socket, sys
fam = socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=30)
s.sendall(open(sys.argv[3], "rb").read()); s.close()
' "$addr" "$port" "$FT_TMP/file" || ft_fail "sending the file to $addr failed"
	wait "$srv" || ft_fail "the receiver on $addr failed"
	[ "$(cat "$FT_TMP/got-$port")" = "$want" ] ||
		ft_fail "file to $addr: got $(cat "$FT_TMP/got-$port"), want $want"
	ft_log "32 MiB file to $addr arrived intact"
}
head -c 33554432 /dev/urandom >"$FT_TMP/file"
want="33554432 $(sha256sum "$FT_TMP/file" | cut -d' ' -f1)"
ft_transfer 100.64.0.2 9001
ft_transfer fd00::2 9002

# UDP GSO (UDP_SEGMENT, 1200-byte segments) from a: with USO on the TUN the kernel hands the
# relay UDP_L4 super-packets; b must receive every segment, intact, with a valid checksum.
ft_udp_gso() {
	local addr=$1 port=$2
	ft_bg ip netns exec "$b" python3 -c '
import socket, sys
fam = socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET
s = socket.socket(fam, socket.SOCK_DGRAM); s.bind((sys.argv[1], int(sys.argv[2])))
s.settimeout(10); bad = n = 0
while n < 100:
    d = s.recv(65536)
    i = n; n += 1
    if d != bytes([(i * 7 + k) & 0xff for k in range(1200)]): bad += 1
open(sys.argv[3], "w").write("%d %d\n" % (n, bad))
' "$addr" "$port" "$FT_TMP/udp-$port"
	local srv=$FT_LAST_PID
	ft_wait_for 5 sh -c "ip netns exec $b ss -lun | grep -q ':$port '" ||
		ft_fail "UDP receiver did not start on $addr"
	ip netns exec "$a" python3 -c '
import socket, sys, time
fam = socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET
s = socket.socket(fam, socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_UDP, 103, 1200)  # UDP_SEGMENT
for j in range(10):
    s.sendto(b"".join(bytes([((j * 10 + i) * 7 + k) & 0xff for k in range(1200)]) for i in range(10)),
             (sys.argv[1], int(sys.argv[2])))
    time.sleep(0.02)
' "$addr" "$port" || ft_fail "UDP GSO send to $addr failed"
	wait "$srv" || ft_fail "UDP receiver on $addr got less than 100 datagrams"
	[ "$(cat "$FT_TMP/udp-$port")" = "100 0" ] ||
		ft_fail "UDP GSO to $addr: received/bad $(cat "$FT_TMP/udp-$port")"
	ft_log "100 UDP segments to $addr arrived intact"
}
ft_udp_gso 100.64.0.2 9003
ft_udp_gso fd00::2 9004

ft_iperf "$b" "$a" 100.64.0.2 3
ft_log "TCPv4 through the relay: $FT_MBPS Mbit/s"
ft_iperf "$b" "$a" fd00::2 3
ft_log "TCPv6 through the relay: $FT_MBPS Mbit/s"

echo quit >&3
ft_wait_for 10 grep -q "^dropped " "$FT_TMP/out" || ft_fail "relay printed no counters"
# It exits by itself on quit: wait for it (signalling it could race with that exit).
rc=0
wait "$relay_pid" || rc=$?
[ "$rc" -eq 0 ] || { tail -n 20 "$FT_TMP/out" >&2; ft_fail "relay exited with status $rc"; }
sed -n '/^reads /,$p' "$FT_TMP/out" | sed 's/^/  relay: /' >&2
counter() { awk -v n="$1" '$1 == n {print $2}' "$FT_TMP/out"; }
[ "$(counter errors)" -eq 0 ] || ft_fail "the offload code refused $(counter errors) kernel packets"
[ "$(counter gso_reads)" -gt 0 ] || ft_fail "no TSO super-packet was read: offloads not in use"
[ "$(counter gso_writes)" -gt 0 ] || ft_fail "nothing was coalesced"
offloads=$(awk '$2 == "offloads" {print $3; exit}' "$FT_TMP/out")
if (( offloads & 0x60 )); then
	[ "$(counter uso_reads)" -gt 0 ] || ft_fail "USO accepted but no UDP super-packet was read"
fi
for ns in "$a" "$b"; do
	for ctr in TcpInCsumErrors UdpInCsumErrors Udp6InCsumErrors; do
		bad=$(ip netns exec "$ns" nstat -az "$ctr" 2>/dev/null | awk -v c="$ctr" '$1 == c {print $2}')
		[ "${bad:-0}" -eq 0 ] || ft_fail "$bad $ctr in $ns"
	done
done
ft_log "PASS"
