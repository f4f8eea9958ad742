# SPDX-License-Identifier: MIT
# Sourced by tests/netns/udpcoalesce.sh, tunio.sh and workers.sh (after tests/lib.sh and
# ft_pair): a UDP flood a -> b whose every datagram is checked on arrival, the flow log's
# count of it, and a TCP transfer checked end to end. Needs N (datagrams) and SIZE (payload
# bytes) set by the caller.
# shellcheck shell=bash disable=SC2154 # a, b: set by ft_pair; N, SIZE: by the caller

# flow LOG END: txPkts txBytes rxPkts rxBytes of the connections with END (addr:port) as either
# end, summed over the log.
flow() {
	jq -c '(.virtualTraffic // [], .subnetTraffic // [], .exitTraffic // [])[]' "$1" |
		jq -s -r --arg e "$2" '[.[] | select(.src == $e or .dst == $e)] |
		"\(map(.txPkts // 0) | add // 0) \(map(.txBytes // 0) | add // 0) " +
		"\(map(.rxPkts // 0) | add // 0) \(map(.rxBytes // 0) | add // 0)"'
}

# flood PORT: N datagrams of SIZE bytes a -> 100.64.0.2:PORT in bursts of 32 (a burst reaches b
# in one receive batch: what coalescing merges). Each carries its number and a pattern of it;
# the receiver writes "received bad" to $FT_TMP/got-PORT. 0: all arrived, intact.
flood() {
	local port=$1 srv
	ft_bg ip netns exec "$b" python3 -c '
import socket, sys
n, size, out = int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, 33, 8 << 20)  # SO_RCVBUFFORCE: no loss in the socket
s.bind(("100.64.0.2", int(sys.argv[1]))); s.settimeout(3)
got, bad, seen = 0, 0, set()
try:
    while got < n:
        d = s.recv(65536)
        got += 1
        i = int.from_bytes(d[:4], "big")
        if len(d) != size or i in seen or d[4:] != bytes([i & 0xff]) * (size - 4): bad += 1
        seen.add(i)
except socket.timeout:
    pass
open(out, "w").write("%d %d\n" % (got, bad))
' "$port" "$N" "$SIZE" "$FT_TMP/got-$port"
	srv=$FT_LAST_PID
	ft_wait_for 5 sh -c "ip netns exec $b ss -lun | grep -q ':$port '" ||
		ft_fail "no UDP receiver on port $port"
	ip netns exec "$a" python3 -c '
import socket, sys, time
port, n, size = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(n):
    s.sendto(i.to_bytes(4, "big") + bytes([i & 0xff]) * (size - 4), ("100.64.0.2", port))
    if i % 32 == 31: time.sleep(0.002)
' "$port" "$N" "$SIZE" || ft_fail "the flood to port $port failed"
	wait "$srv" || ft_fail "the receiver on port $port failed"
	[ "$(cat "$FT_TMP/got-$port")" = "$N 0" ]
}

# tcp PORT: 8 MiB of random bytes a -> 100.64.0.2:PORT; the receiver's SHA-256 must match.
tcp() {
	local port=$1 srv
	head -c 8388608 /dev/urandom >"$FT_TMP/tcp-data"
	ft_bg ip netns exec "$b" python3 -c '
import hashlib, socket, sys
s = socket.socket(); s.bind(("100.64.0.2", int(sys.argv[1]))); s.listen(1); s.settimeout(20)
c, _ = s.accept(); c.settimeout(20); h = hashlib.sha256()
while True:
    d = c.recv(1 << 16)
    if not d: break
    h.update(d)
open(sys.argv[2], "w").write(h.hexdigest() + "\n")
' "$port" "$FT_TMP/tcp-got"
	srv=$FT_LAST_PID
	ft_wait_for 5 sh -c "ip netns exec $b ss -ltn | grep -q ':$port '" ||
		ft_fail "no TCP receiver on port $port"
	ip netns exec "$a" python3 -c '
import socket, sys
s = socket.create_connection(("100.64.0.2", int(sys.argv[1])), timeout=20)
s.sendall(open(sys.argv[2], "rb").read()); s.shutdown(socket.SHUT_WR); s.recv(1)
' "$port" "$FT_TMP/tcp-data" || ft_fail "the TCP transfer to port $port failed"
	wait "$srv" || ft_fail "the TCP receiver on port $port failed"
	[ "$(cat "$FT_TMP/tcp-got")" = "$(sha256sum <"$FT_TMP/tcp-data" | cut -d' ' -f1)" ] ||
		ft_fail "the TCP transfer to port $port arrived changed"
}
