#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# flowtun link-status and link-watch on real interfaces, in namespaces made here:
#
#   netns A                                 netns B
#   +----------------------------+          +------------------------+
#   | fta0 198.18.0.1/24  <-- veth pair -->  ftb0 198.18.0.2/24      |
#   | fttap0 (tap, carrier off,  |          |                        |
#   |   frames written by a      |          |  "pulling the cable":  |
#   |   helper: delta mode)      |          |  ip link set ftb0 down |
#   +----------------------------+          +------------------------+
#
# The monitor runs in A and watches fta0; setting ftb0 down in B takes fta0's carrier away.
# Prints the detection latency of the rtnetlink path and of the poll-only path, measured
# from just before `ip link set` to the sample's timestamp (so it includes ip's own run time,
# printed too).
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib.sh"

ft_require_root
ft_require_cmd ip jq
[ -x "$FLOWTUN" ] || ft_fail "no flowtun binary at $FLOWTUN"

A=$(ft_netns a)
B=$(ft_netns b)
# Distinct ifindexes on purpose: the kernel's linkwatch sends a carrier loss at once only for
# a device whose ifindex differs from its iflink (the peer's index); two fresh namespaces
# would give both ends index 2, and the event would be rate-limited by up to a second.
ip link add fta0 index 20 netns "$A" type veth peer name ftb0 index 30 netns "$B"
ip -n "$A" addr add 198.18.0.1/24 dev fta0
ip -n "$B" addr add 198.18.0.2/24 dev ftb0
ip -n "$A" link set fta0 up
ip -n "$B" link set ftb0 up

in_a() { ip netns exec "$A" "$@"; }

# link-status: exit 0 with link, 1 without, 2 on error.
status_is() { # status_is IFACE WANT_RC WANT_LINE
	local out rc
	set +e
	out=$(in_a "$FLOWTUN" link-status "$1" 2>/dev/null)
	rc=$?
	set -e
	[ "$rc" -eq "$2" ] && [ "$out" = "$3" ]
}
ft_wait_for 5 status_is fta0 0 "fta0: link" || ft_fail "link-status fta0: no link with the peer up"
status_is nope0 2 "nope0: error" || ft_fail "link-status of a missing interface is not an error"
in_a "$FLOWTUN" link-status nope0 2>&1 >/dev/null | grep -q "nope0: No such device" ||
	ft_fail "link-status does not say why nope0 is an error"
ip -n "$B" link set ftb0 down
ft_wait_for 5 status_is fta0 1 "fta0: no link" || ft_fail "link-status fta0: link with the peer down"
ip -n "$B" link set ftb0 up
ft_wait_for 5 status_is fta0 0 "fta0: link" || ft_fail "link-status fta0: no link after the peer came back"
ip -n "$A" link set fta0 down
status_is fta0 1 "fta0: no link" || ft_fail "an administratively down fta0 is not 'no link'"
ip -n "$A" link set fta0 up
ft_wait_for 5 status_is fta0 0 "fta0: link" || ft_fail "fta0 did not come back up"
ft_log "link-status: link, no link (peer down), no link (admin down), error (missing)"

# sample OUT SEQ: the JSON line of sample SEQ, once it is there.
has_sample() { grep -q "\"seq\":$2," "$1"; }
sample() { grep "\"seq\":$2," "$1"; }

# pull_cable OUT SEQ DIR WANT: sets ftb0 DIR, waits for sample SEQ, checks fta0's state in it
# and prints "latency_ms ip_ms".
pull_cable() {
	local out=$1 seq=$2 dir=$3 want=$4 t0 t1 line got when
	t0=$(ft_now_ms)
	ip -n "$B" link set ftb0 "$dir"
	t1=$(ft_now_ms)
	ft_wait_for 10 has_sample "$out" "$seq" || ft_fail "no sample $seq after ftb0 $dir"
	line=$(sample "$out" "$seq")
	got=$(jq -r '.interfaces[] | select(.name == "fta0") | .state' <<<"$line")
	[ "$got" = "$want" ] || ft_fail "after ftb0 $dir: fta0 is '$got', want '$want' ($line)"
	jq -e '.interfaces[] | select(.name == "fta0") | .changed' <<<"$line" >/dev/null ||
		ft_fail "fta0 not marked changed: $line"
	when=$(jq -r .time_ms <<<"$line")
	echo "$((when - t0)) $((t1 - t0))"
}

# watch_run NAME PERIOD_MS ARGS...: a link-watch in A, the cable pulled and put back.
watch_run() {
	local name=$1 period=$2 out="$FT_TMP/$1.jsonl" pid down up
	shift 2
	ft_bg ip netns exec "$A" "$FLOWTUN" link-watch --json "$@" fta0,nope0 >"$out"
	pid=$FT_LAST_PID
	ft_wait_for 5 has_sample "$out" 0 || ft_fail "$name: no first sample"
	[ "$(sample "$out" 0 | jq -r '[.interfaces[] | .name + "=" + .state] | join(",")')" = \
		"fta0=link,nope0=error" ] || ft_fail "$name: first sample $(sample "$out" 0)"
	# Poll-only: start the change at a random point of the period, not always just after a poll.
	sleep "0.$((RANDOM % 10))"
	down=$(pull_cable "$out" 1 down "no link")
	sleep "0.$((RANDOM % 10))"
	up=$(pull_cable "$out" 2 up link)
	kill -TERM "$pid"
	wait "$pid" || ft_fail "$name: link-watch did not exit 0 on SIGTERM"
	[ "$(wc -l <"$out")" -eq 3 ] || ft_fail "$name: extra samples: $(cat "$out")"
	printf '%s: down %s ms, up %s ms (ip link set itself: %s ms, %s ms) [period %s ms]\n' \
		"$name" "${down% *}" "${up% *}" "${down#* }" "${up#* }" "$period" >&2
	WATCH_MAX=$(( ${down% *} > ${up% *} ? ${down% *} : ${up% *} ))
}

# rtnetlink: a 10 s period, so only the event can explain a report within a second.
watch_run rtnetlink 10000 --poll 10s
[ "$WATCH_MAX" -lt 1000 ] || ft_fail "rtnetlink path took $WATCH_MAX ms: the event was missed"
[ "$WATCH_MAX" -lt 10 ] || ft_log "note: rtnetlink latency $WATCH_MAX ms is over the 10 ms goal"
RTNL_MAX=$WATCH_MAX

# Poll only: within one period (plus the slack of starting ip and the check itself).
watch_run poll-only 500 --poll 500ms --poll-only
[ "$WATCH_MAX" -le 750 ] || ft_fail "poll-only path took $WATCH_MAX ms with a 500 ms period"
POLL_MAX=$WATCH_MAX

# Delays: a flap shorter than the down delay is not reported at all.
out="$FT_TMP/delay.txt"
ft_bg ip netns exec "$A" "$FLOWTUN" link-watch --down-delay 3s fta0 >"$out"
pid=$FT_LAST_PID
ft_wait_for 5 grep -q "fta0: link" "$out" || ft_fail "delay: no first sample"
ip -n "$B" link set ftb0 down
sleep 0.3
ip -n "$B" link set ftb0 up
sleep 3.5
kill -TERM "$pid"
wait "$pid" || ft_fail "delay: link-watch did not exit 0"
[ "$(cat "$out")" = "fta0: link" ] || ft_fail "delay: a 0.3 s flap was reported: $(cat "$out")"
ft_log "down delay 3 s: a 0.3 s flap was not reported"

# Incoming-delta mode: a tap whose carrier is off but which receives frames (a passive tap's
# situation). A helper holds it open and writes 5 kB every 50 ms while $FT_TMP/send exists.
if command -v python3 >/dev/null 2>&1; then
	cat >"$FT_TMP/tap.py" <<'EOF'
import fcntl, os, struct, sys, time
TUNSETIFF, TUNSETCARRIER = 0x400454CA, 0x400454E2
fd = os.open("/dev/net/tun", os.O_RDWR)
fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", b"fttap0", 0x0002 | 0x1000))  # IFF_TAP|IFF_NO_PI
fcntl.ioctl(fd, TUNSETCARRIER, struct.pack("i", 0))
open(sys.argv[1] + "/tap-ready", "w").close()
# Broadcast frames of the local experimental EtherType: nothing in the namespace answers.
frame = b"\xff" * 6 + b"\x02\x00\x00\x00\x00\x01" + b"\x88\xb5" + bytes(986)
while True:
    if os.path.exists(sys.argv[1] + "/send"):
        for _ in range(5):
            os.write(fd, frame)
    time.sleep(0.05)
EOF
	ft_bg ip netns exec "$A" python3 "$FT_TMP/tap.py" "$FT_TMP"
	ft_wait_for 5 test -e "$FT_TMP/tap-ready" || ft_fail "delta: the tap helper did not start"
	ip -n "$A" link set fttap0 up
	status_is fttap0 1 "fttap0: no link" || ft_fail "delta: the tap should have no carrier"
	out="$FT_TMP/delta.jsonl"
	ft_bg ip netns exec "$A" "$FLOWTUN" link-watch --json --poll 300ms --delta 10000 fttap0 >"$out"
	pid=$FT_LAST_PID
	ft_wait_for 5 has_sample "$out" 0 || ft_fail "delta: no first sample"
	[ "$(sample "$out" 0 | jq -r '.interfaces[0].state')" = "no link" ] ||
		ft_fail "delta: first sample without traffic: $(sample "$out" 0)"
	touch "$FT_TMP/send"
	ft_wait_for 5 has_sample "$out" 1 || ft_fail "delta: traffic did not make it link"
	line=$(sample "$out" 1)
	[ "$(jq -r '.interfaces[0].state' <<<"$line")" = link ] || ft_fail "delta: $line"
	rx=$(jq -r '.interfaces[0].rx_delta' <<<"$line")
	[ "$rx" -gt 10000 ] || ft_fail "delta: link with rx_delta $rx <= 10000"
	rm "$FT_TMP/send"
	ft_wait_for 5 has_sample "$out" 2 || ft_fail "delta: silence did not make it 'no link'"
	[ "$(sample "$out" 2 | jq -r '.interfaces[0].state')" = "no link" ] ||
		ft_fail "delta: $(sample "$out" 2)"
	kill -TERM "$pid"
	wait "$pid" || ft_fail "delta: link-watch did not exit 0"
	ft_log "delta: no link -> link ($rx bytes in a 300 ms period) -> no link on a carrier-less tap"
else
	ft_log "python3 is not installed: incoming-delta on a real tap not tested"
fi

# A missing interface in a plain watch: an error line, not a crash.
out=$(in_a "$FLOWTUN" link-watch --count 1 --verbose nope0)
grep -qx "nope0: error (No such device)" <<<"$out" || ft_fail "watch of nope0 printed '$out'"

ft_log "latency: rtnetlink <= $RTNL_MAX ms, poll-only (500 ms period) <= $POLL_MAX ms"
echo "link: 1 passed, 0 failed"
