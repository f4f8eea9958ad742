#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The seccomp allow-list on paths the other tests do not take (issue 17, item 1): a runs as
# nobody with Seccomp on, and must survive each of these and do its job; b is a plain peer.
#
#   namespace $FT_PREFIX-a                           namespace $FT_PREFIX-b
#   +-----------------------------+                  +-----------------------------+
#   | tun0 100.64.0.1/24          |                  | tun0 100.64.0.2/24          |
#   |   flowtun up --user nobody  |                  |   flowtun up b.conf         |
#   |     --seccomp on (3 runs)   |                  |                             |
#   | ifb0 (no ethtool link)      |                  |                             |
#   | veth-a 198.18.0.1/24 -------+------ veth ------+------- veth-b 198.18.0.2/24 |
#   +-----------------------------+                  +-----------------------------+
#
# 1. flows: 300 one-packet UDP flows in one 2 s window. The flush sorts them: glibc's qsort
#    asks sysconf(_SC_PHYS_PAGES), i.e. sysinfo(2), for arrays over 1 KiB. a must survive the
#    flush and log all 300.
# 2. link: LinkWatch on an ifb device, which has no ethtool link state (as PPP, GRE or IPIP
#    have none): the tunnel must still report its link.
# 3. full: the flow log on a full tmpfs, a line torn by ENOSPC, which the writer cuts back
#    with ftruncate(2): a must survive, and the file keep whole lines only.
# 4. resolve: SIGHUP reloads whose Endpoint is a host name in /etc/hosts, then one only DNS
#    knows (a small responder in b), then a link-local address with its scope: getaddrinfo
#    and if_nametoindex after the drop. a must survive each, use the address, and ping.
# Each run is checked to the end and the failures are listed together, so that one missing
# system call does not hide the others.
# shellcheck disable=SC2154 # a, b, ka, kb, pa, pb: set by ft_pair (tests/lib.sh)
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib.sh"

ft_require_root
ft_require_cmd ip ping jq nsenter mount python3
[ -x "$FLOWTUN" ] || ft_fail "no flowtun binary at $FLOWTUN"
case $FLOWTUN in /*) ;; *) FLOWTUN=$PWD/$FLOWTUN ;; esac

ft_pair
ip -n "$b" addr add 198.18.0.3/24 dev veth-b
ip -n "$b" addr add 198.18.0.4/24 dev veth-b
ip -n "$a" link add ifb0 type ifb
ip -n "$a" link set ifb0 up
ft_conf "$FT_TMP/b.conf" "$kb" "100.64.0.2/24" "$pa" "100.64.0.1/32" 198.18.0.1:51820
ft_up "$b" "$FT_TMP/b.conf"
pid_b=$FT_LAST_PID

failed=""
passed=0
fail() {
	ft_log "FAIL: $*"
	failed="$failed
  $*"
}
pass() {
	passed=$((passed + 1))
	ft_log "ok $passed: $*"
}

# run_a NAME EXTRA: a fresh a (nobody, seccomp on) with EXTRA in [Interface]; pid_a, log_a.
run_a() {
	ft_conf "$FT_TMP/$1.conf" "$ka" "100.64.0.1/24" "$pb" "100.64.0.2/32" 198.18.0.2:51820 "$2"
	ft_up "$a" "$FT_TMP/$1.conf" --user nobody --seccomp on
	pid_a=$FT_LAST_PID
	log_a=$FT_TMP/$1.conf.log
	ft_wait_for 10 grep -q "seccomp allow-list on" "$log_a" || ft_fail "$1: no filter: $(cat "$log_a")"
	ft_ping "$a" 100.64.0.2 || fail "$1: a cannot ping b"
}

# alive: a still runs; else its exit status and the end of its log are shown, false.
alive() {
	local rc=0
	if kill -0 "$pid_a" 2>/dev/null && [ "$(awk '{print $3}' "/proc/$pid_a/stat")" != Z ]; then
		return 0
	fi
	wait "$pid_a" || rc=$?
	ft_log "a died (exit status $rc); its log:"
	tail -n 5 "$log_a" | sed 's/^/  | /' >&2
	return 1
}

# stop_a: SIGTERM (the final flush) if it still runs.
stop_a() {
	if alive 2>/dev/null; then
		ft_stop "$pid_a" "$log_a" || fail "$1: a did not exit 0 on SIGTERM"
	fi
}

# ---- 1. 300 flows in one window --------------------------------------------------------------
flows=$FT_TMP/flows.jsonl
run_a flows "FlowLog = $flows
FlowLogInterval = 2"
ip netns exec "$a" python3 -c '
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for port in range(20001, 20301):
    s.sendto(b"x", ("100.64.0.2", port))
'
sleep 3 # the window's flush
if alive; then
	stop_a flows
	n=$(jq -r '.virtualTraffic[]? | select(.proto == 17 and (.dst | test("^100\\.64\\.0\\.2:(2[0-9]{4})$"))) |
		.dst' "$flows" | sort -u | wc -l)
	if [ "$n" -eq 300 ]; then
		pass "flows: a survived the flush of 300 flows as nobody with seccomp, and logged all 300"
	else
		fail "flows: a logged $n of the 300 UDP flows"
	fi
else
	fail "flows: a was killed at the flush of 300 flows"
fi

# ---- 2. a link without ethtool ---------------------------------------------------------------
run_a link "LinkWatch = ifb0
LinkPollInterval = 1"
sleep 3 # three polls
state=""
if alive; then
	state=$(nsenter --target "$pid_a" --mount --net "$FLOWTUN" show tun0 --json |
		jq -r '.links[]? | select(.name == "ifb0") | .state')
	stop_a link
fi
if [ "$state" = link ]; then
	pass "link: a watched ifb0 (no ethtool link state) for 3 s and reports it up"
else
	fail "link: a watching ifb0: ${state:-killed}"
fi

# ---- 3. the flow log runs out of space in the middle of a line -----------------------------
# A 4 KiB tmpfs in a's own mount namespace, its one page filled but for 100 bytes with a line
# of padding: the first flush's line is torn by ENOSPC and cut back.
FS=$FT_TMP/fs
mkdir -p "$FS"
cat >"$FT_TMP/full-flowtun" <<EOF
#!/bin/sh
mount -t tmpfs -o size=4k,mode=0755 flowtun-seccomp "$FS" &&
	python3 -c 'print("{\"pad\":\"" + "x" * 3986 + "\"}")' >"$FS/flows.jsonl" &&
	exec "$FLOWTUN" "\$@"
EOF
chmod +x "$FT_TMP/full-flowtun"
real=$FLOWTUN
FLOWTUN=$FT_TMP/full-flowtun
run_a full "FlowLog = $FS/flows.jsonl
FlowLogInterval = 1"
FLOWTUN=$real
ip netns exec "$a" ping -c 3 -i 0.3 -W 1 100.64.0.2 >/dev/null || true
sleep 2 # a flush or two, each torn
if alive; then
	size=$(nsenter --target "$pid_a" --mount stat -c %s "$FS/flows.jsonl")
	whole=yes
	nsenter --target "$pid_a" --mount jq -e . "$FS/flows.jsonl" >/dev/null 2>&1 || whole=no
	lost=$(nsenter --target "$pid_a" --mount --net "$FLOWTUN" show tun0 --json | jq -r '.flowLog.lost')
	stop_a full
	if [ "$size" -eq 3997 ] && [ "$whole" = yes ] && [ "$lost" -gt 0 ]; then
		pass "full: a survived torn flow-log lines ($lost lost), the file cut back to $size bytes"
	else
		fail "full: the flow log is $size bytes (want 3997), whole lines: $whole, lost: $lost"
	fi
else
	fail "full: a was killed when the flow log ran out of space"
fi

# ---- 4. host names and a scope after the drop -------------------------------------------
# a's own /etc/hosts and /etc/resolv.conf, bound over the real ones in its mount namespace.
printf '127.0.0.1 localhost\n198.18.0.3 b-hosts.flowtun.test\n' >"$FT_TMP/hosts"
printf 'nameserver 198.18.0.2\noptions timeout:2 attempts:2\n' >"$FT_TMP/resolv.conf"
chmod 0644 "$FT_TMP/hosts" "$FT_TMP/resolv.conf"
cat >"$FT_TMP/dns-flowtun" <<EOF
#!/bin/sh
mount --bind "$FT_TMP/hosts" /etc/hosts && mount --bind "$FT_TMP/resolv.conf" /etc/resolv.conf &&
	exec "$FLOWTUN" "\$@"
EOF
chmod +x "$FT_TMP/dns-flowtun"
# The name server: b-dns.flowtun.test is 198.18.0.4 (A), with no AAAA; other names NXDOMAIN.
ft_bg ip netns exec "$b" python3 -c '
import socket, struct, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("198.18.0.2", 53))
log = open(sys.argv[1], "a", buffering=1)
while True:
    q, peer = s.recvfrom(512)
    i, labels = 12, []
    while i < len(q) and q[i]:
        labels.append(q[i + 1:i + 1 + q[i]].decode("ascii", "replace"))
        i += 1 + q[i]
    if len(q) < i + 5:
        continue
    name, qtype = ".".join(labels).lower(), struct.unpack(">H", q[i + 1:i + 3])[0]
    log.write("%s %d\n" % (name, qtype))
    known = name == "b-dns.flowtun.test"
    ans = b""
    if known and qtype == 1:
        ans = b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, 60, 4) + socket.inet_aton("198.18.0.4")
    hdr = q[:2] + struct.pack(">HHHHH", 0x8180 | (0 if known else 3), 1, 1 if ans else 0, 0, 0)
    s.sendto(hdr + q[12:i + 5] + ans, peer)
' "$FT_TMP/dns.log"
ft_wait_for 15 sh -c "ip netns exec '$b' ss -Hlun 'sport = :53' | grep -q ." ||
	ft_fail "the name server did not start"
ll=$(ip -n "$b" -6 addr show dev veth-b scope link | awk '/inet6/ {sub(/\/.*/, "", $2); print $2}')
real=$FLOWTUN
FLOWTUN=$FT_TMP/dns-flowtun
run_a resolve ""
FLOWTUN=$real
conf=$FT_TMP/resolve.conf
endpoint() { ft_wg "$pid_a" show tun0 endpoints | awk '{print $2}'; }
resolved=""
for ep in b-hosts.flowtun.test:51820=198.18.0.3:51820 b-dns.flowtun.test:51820=198.18.0.4:51820 \
	"[$ll%veth-a]:51820=[$ll%veth-a]:51820"; do
	name=${ep%%=*} want=${ep#*=}
	sed -i "s/^Endpoint = .*/Endpoint = $name/" "$conf"
	before=$(grep -c "reloaded " "$log_a" || true)
	kill -HUP "$pid_a" 2>/dev/null || true
	ft_wait_for 10 sh -c "[ \$(grep -c 'reloaded ' '$log_a') -gt $before ]" || true
	if ! alive; then
		fail "resolve: a was killed by a reload with Endpoint = $name"
		break
	fi
	got=$(endpoint)
	if [ "$got" != "$want" ]; then
		fail "resolve: Endpoint = $name gave $got, want $want: $(tail -n 3 "$log_a")"
	elif ! ft_ping "$a" 100.64.0.2 3; then
		fail "resolve: no ping through $got"
	else
		resolved="$resolved $name"
	fi
done
if alive 2>/dev/null; then
	grep -q "^b-dns.flowtun.test 1$" "$FT_TMP/dns.log" ||
		fail "resolve: the name server was not asked: $(cat "$FT_TMP/dns.log")"
	stop_a resolve
fi
[ "$(echo "$resolved" | wc -w)" -ne 3 ] ||
	pass "resolve: reloads to$resolved (hosts, DNS, link-local scope) as nobody with seccomp"

ft_stop "$pid_b" "$FT_TMP/b.conf.log" || ft_fail "b did not exit 0 on SIGTERM"
grep -qiE "leak|AddressSanitizer|runtime error|still had handles" "$FT_TMP"/*.log &&
	ft_fail "sanitizer or leak report: $(cat "$FT_TMP"/*.log)"
[ -z "$failed" ] || ft_fail "failed:$failed"
echo "seccomp: $passed passed, 0 failed"
