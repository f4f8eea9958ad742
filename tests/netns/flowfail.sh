#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The flow-log writer under failure, in a running flowtun: a full destination (a's FlowLog on a
# tiny tmpfs that is then filled) and a read-only one (b's, a tmpfs mounted read-only) do not
# stop the tunnel; `flowtun show --json` reports the lost messages and the error; once the
# space is freed (or the tmpfs made writable) the next message carries "lost":N, every lost
# message accounted for. Then SIGHUP after the log was renamed (logrotate): new lines go to a
# new file, the renamed one stops growing.
#
#   namespace $FT_PREFIX-a                           namespace $FT_PREFIX-b
#   +-----------------------------+                  +-----------------------------+
#   | tun0 100.64.0.1/24          |                  | tun0 100.64.0.2/24          |
#   |   FlowLog FS/flows.jsonl    |                  |   FlowLog FS/flows.jsonl    |
#   |   (tmpfs, 1 MiB, filled)    |                  |   (tmpfs, read-only)        |
#   | veth-a 198.18.0.1/24 -------+------ veth ------+------- veth-b 198.18.0.2/24 |
#   +-----------------------------+                  +-----------------------------+
#
# Each tmpfs is mounted on $FT_TMP/fs in the private mount namespace that `ip netns exec` gives
# flowtun (lib.sh's ft_ns_exec), never on the host: the test reaches it with nsenter.
# shellcheck disable=SC2154 # a, b, ka, kb, pa, pb: set by ft_pair (tests/lib.sh)
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib.sh"

ft_require_root
ft_require_cmd ip ping iperf3 jq nsenter mount
[ -x "$FLOWTUN" ] || ft_fail "no flowtun binary at $FLOWTUN"
case $FLOWTUN in /*) ;; *) FLOWTUN=$PWD/$FLOWTUN ;; esac

ENOSPC=28 EROFS=30
FS=$FT_TMP/fs
mkdir -p "$FS"

ft_pair

# flowtun behind a wrapper that mounts the tmpfs (options in FT_FS_OPTS) in flowtun's own
# mount namespace and then execs it, so that ft_up's PID is still flowtun's.
cat >"$FT_TMP/mounted-flowtun" <<EOF
#!/bin/sh
mount -t tmpfs -o "\$FT_FS_OPTS" flowtun-flowfail "$FS" && exec "$FLOWTUN" "\$@"
EOF
chmod +x "$FT_TMP/mounted-flowtun"

extra="FlowLog = $FS/flows.jsonl
FlowLogInterval = 1"
ft_conf "$FT_TMP/a.conf" "$ka" "100.64.0.1/24" "$pb" "100.64.0.2/32" 198.18.0.2:51820 "$extra"
ft_conf "$FT_TMP/b.conf" "$kb" "100.64.0.2/24" "$pa" "100.64.0.1/32" 198.18.0.1:51820 "$extra"
real=$FLOWTUN
FLOWTUN=$FT_TMP/mounted-flowtun
FT_FS_OPTS=size=1m,mode=0755 ft_up "$a" "$FT_TMP/a.conf"
pid_a=$FT_LAST_PID
FT_FS_OPTS=size=1m,mode=0755,ro ft_up "$b" "$FT_TMP/b.conf"
pid_b=$FT_LAST_PID
FLOWTUN=$real

in_ns() { # in_ns PID CMD...: CMD in the mount and network namespaces of PID
	local pid=$1
	shift
	nsenter --target "$pid" --mount --net "$@"
}
show() { in_ns "$1" "$FLOWTUN" show tun0 --json; }
# shown PID FILTER: the filter on PID's `flowtun show --json` is true.
shown() { show "$1" | jq -e "$2" >/dev/null; }
lines() { in_ns "$1" sh -c "cat '$2' 2>/dev/null | wc -l"; }
# lost_in PID FILE: the sum of the "lost" fields of FILE's messages.
lost_in() { in_ns "$1" cat "$2" | jq -s 'map(.lost // 0) | add // 0'; }
# reported PID: the lost messages in PID's file equal show's count, which is not 0.
reported() {
	local n
	n=$(show "$1" | jq '.flowLog.lost')
	[ "$n" -gt 0 ] && [ "$(lost_in "$1" "$FS/flows.jsonl")" -eq "$n" ]
}

ft_ping "$a" 100.64.0.2 || ft_fail "a cannot ping 100.64.0.2"
ft_wait_for 5 sh -c "[ \$(nsenter --target $pid_a --mount cat $FS/flows.jsonl | wc -l) -ge 1 ]" ||
	ft_fail "a wrote no flow-log line to the tmpfs"

# Fill a's tmpfs. b's has been read-only from the start. A line that still fits in the slack
# of the file's last page would be written even so: 60 flows (UDP datagrams to 60 closed ports
# of b, answered by ICMP) make each message longer than a page.
in_ns "$pid_a" dd if=/dev/zero of="$FS/filler" bs=4k status=none 2>/dev/null || true
# shellcheck disable=SC2016 # expanded by the inner bash
ft_bg ip netns exec "$a" bash -c 'while :; do
	for p in $(seq 20000 20059); do echo x >/dev/udp/100.64.0.2/$p; done; sleep 0.3; done'
burst=$FT_LAST_PID
in_ns "$pid_a" sh -c "df -k '$FS' | tail -1" | awk '{print "a'\''s tmpfs: " $4 " KiB free"}' >&2
ip netns exec "$a" ping -c 5 -i 0.2 -W 2 100.64.0.2 >/dev/null || ft_fail "lost pings a -> b"
ip netns exec "$b" ping -c 5 -i 0.2 -W 2 100.64.0.1 >/dev/null || ft_fail "lost pings b -> a"
ft_iperf "$b" "$a" 100.64.0.2 2
ft_log "full and read-only flow logs: ping ok, iperf3 $FT_MBPS Mbit/s"
[ "$FT_MBPS" -gt 0 ] || ft_fail "iperf3 moved less than 1 Mbit/s"
ft_wait_for 5 shown "$pid_a" ".flowLog.lost >= 2 and .flowLog.error == $ENOSPC" ||
	ft_fail "a's show reports no ENOSPC loss: $(show "$pid_a" | jq -c .flowLog)"
ft_wait_for 5 shown "$pid_b" ".flowLog.lost >= 2 and .flowLog.error == $EROFS" ||
	ft_fail "b's show reports no EROFS loss: $(show "$pid_b" | jq -c .flowLog)"
kill -TERM "$burst"
wait "$burst" 2>/dev/null || true
ft_log "a: $(show "$pid_a" | jq -c .flowLog)"
ft_log "b: $(show "$pid_b" | jq -c .flowLog)"
grep -q "flow log '$FS/flows.jsonl': write: No space left on device" "$FT_TMP/a.conf.log" ||
	ft_fail "a's log does not report the failure: $(cat "$FT_TMP/a.conf.log")"
grep -q "flow log '$FS/flows.jsonl': open: Read-only file system" "$FT_TMP/b.conf.log" ||
	ft_fail "b's log does not report the failure: $(cat "$FT_TMP/b.conf.log")"
# No torn line was left behind by the failed writes.
in_ns "$pid_a" cat "$FS/flows.jsonl" | jq -e . >/dev/null ||
	ft_fail "a's flow log is not whole JSON lines after ENOSPC"

# Room again: the next message reports every message lost.
in_ns "$pid_a" rm -f "$FS/filler"
in_ns "$pid_b" mount -o remount,rw "$FS" || ft_fail "cannot make b's tmpfs writable"
# An idle window writes nothing: some traffic for the next messages.
ip netns exec "$a" ping -c 8 -i 0.25 -W 2 100.64.0.2 >/dev/null || ft_fail "lost pings a -> b"
ft_wait_for 5 reported "$pid_a" ||
	ft_fail "a: \"lost\" in the file: $(lost_in "$pid_a" "$FS/flows.jsonl"), show: $(show "$pid_a" | jq -c .flowLog)"
ft_wait_for 5 reported "$pid_b" ||
	ft_fail "b: \"lost\" in the file: $(lost_in "$pid_b" "$FS/flows.jsonl"), show: $(show "$pid_b" | jq -c .flowLog)"
for p in a b; do
	pid=pid_$p
	ft_log "$p recovered: $(in_ns "${!pid}" grep -h -o '"lost":[0-9]*' "$FS/flows.jsonl" | tr '\n' ' ')in the file; show: $(show "${!pid}" | jq -c .flowLog)"
done

# logrotate: rename, SIGHUP; new lines go to a new file, the old one stops growing (the line
# in flight at the SIGHUP may still reach it, so its count is taken once the new file has two).
in_ns "$pid_a" mv "$FS/flows.jsonl" "$FS/flows.jsonl.1"
kill -HUP "$pid_a"
ft_bg ip netns exec "$a" ping -q -i 0.25 -W 2 100.64.0.2 >/dev/null
pinger=$FT_LAST_PID
ft_wait_for 5 sh -c "[ \$(nsenter --target $pid_a --mount cat $FS/flows.jsonl | wc -l) -ge 2 ]" ||
	ft_fail "no new flow log after SIGHUP: $(in_ns "$pid_a" ls -l "$FS")"
old=$(lines "$pid_a" "$FS/flows.jsonl.1")
new=$(lines "$pid_a" "$FS/flows.jsonl")
ft_wait_for 5 sh -c "[ \$(nsenter --target $pid_a --mount cat $FS/flows.jsonl | wc -l) -ge $((new + 2)) ]" ||
	ft_fail "the new flow log stopped growing"
[ "$(lines "$pid_a" "$FS/flows.jsonl.1")" -eq "$old" ] ||
	ft_fail "the renamed flow log still grows after SIGHUP"
ft_log "SIGHUP: the renamed log stays at $old lines, the new one grows ($(lines "$pid_a" "$FS/flows.jsonl") lines)"

kill -TERM "$pinger"
wait "$pinger" 2>/dev/null || true
ft_stop "$pid_a" "$FT_TMP/a.conf.log" || ft_fail "flowtun a did not exit cleanly on SIGTERM"
ft_stop "$pid_b" "$FT_TMP/b.conf.log" || ft_fail "flowtun b did not exit cleanly on SIGTERM"
! grep -qiE "leak|AddressSanitizer|runtime error|still had handles" "$FT_TMP"/*.conf.log ||
	ft_fail "sanitizer or leak report: $(cat "$FT_TMP"/*.conf.log)"
echo "flowfail: 1 passed, 0 failed"
