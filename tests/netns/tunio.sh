#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# TunIO (issue 15, point 3): the TUN read and written through io_uring, and by read/write, each
# with offloads (vnet header, super-packets) and without, on both ends of a tunnel:
#   - flowtun show --json names the mode (tunIO), and /proc says the same: with io_uring the
#     process holds its two rings (anon_inode:[io_uring]) per worker, without it none;
#   - ping, a TCP transfer checked end to end (SHA-256 of 8 MiB) and a UDP flood whose every
#     datagram is checked on arrival, with the flow logs counting the flood exactly;
#   - deleting tun0 under a running flowtun (reads in flight in the ring) makes it exit
#     cleanly, as it does with read(2), and SIGTERM removes the device at once (the rings let go
#     of the TUN before its fd is closed);
#   - where io_uring_setup fails (tests/netns/no-io-uring: ENOSYS as on a kernel without it,
#     EPERM as under a container's filter), TunIO = auto falls back to read/write, says so,
#     and passes all of the above; TunIO = io_uring refuses to start and says why.
# Every flowtun runs with the default privilege drop, seccomp on (io_uring_enter allowed).
#
#   namespace $FT_PREFIX-a                           namespace $FT_PREFIX-b
#   | tun0 100.64.0.1/24, sender  | veth 198.18.0.0/24 | tun0 100.64.0.2/24, receiver |
# shellcheck disable=SC2154 # a, b, ka, kb, pa, pb: set by ft_pair (tests/lib.sh)
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib.sh"

ft_require_root
ft_require_cmd ip ping nsenter jq python3 ss sha256sum
[ -x "$FLOWTUN" ] || ft_fail "no flowtun binary at $FLOWTUN"
no_uring=${top_builddir:-.}/tests/netns/no-io-uring
[ -x "$no_uring" ] || ft_fail "no $no_uring (make check builds it)"

ft_pair
N=2000 SIZE=1000 # IP length 1028
. "${top_srcdir:-$(dirname "$0")/../..}/tests/netns/udpflood.inc.sh"

rings() { find "/proc/$1/fd" -lname 'anon_inode:\[io_uring\]' 2>/dev/null | wc -l; }

# phase NAME WANT EXTRA [flowtun up OPTIONS...]: both flowtuns with EXTRA in their config and
# OPTIONS; WANT: io_uring or syscalls, the mode both must be in.
phase() {
	local name=$1 want=$2 extra=$3 port=7200 try side pid j
	shift 3
	ft_conf "$FT_TMP/a-$name.conf" "$ka" 100.64.0.1/24 "$pb" 100.64.0.2/32 198.18.0.2:51820 \
		"FlowLog = $FT_TMP/flows-a-$name.jsonl
FlowLogInterval = 3600
$extra"
	ft_conf "$FT_TMP/b-$name.conf" "$kb" 100.64.0.2/24 "$pa" 100.64.0.1/32 198.18.0.1:51820 \
		"FlowLog = $FT_TMP/flows-b-$name.jsonl
FlowLogInterval = 3600
$extra"
	ft_up "$a" "$FT_TMP/a-$name.conf" "$@"
	local pid_a=$FT_LAST_PID la=$FT_TMP/a-$name.conf.log
	ft_up "$b" "$FT_TMP/b-$name.conf" "$@"
	local pid_b=$FT_LAST_PID lb=$FT_TMP/b-$name.conf.log

	for side in a b; do
		pid=pid_$side
		j=$(nsenter --target "${!pid}" --mount --net "$FLOWTUN" show tun0 --json) ||
			ft_fail "$name: flowtun show --json in $side failed"
		[ "$(jq -r '.tunIO' <<<"$j")" = "$want" ] ||
			ft_fail "$name: $side's show --json says tunIO $(jq -r '.tunIO' <<<"$j"), want $want"
		# Two per worker (FLOWTUN_WORKERS: the suite's runs with several).
		[ "$(rings "${!pid}")" -eq "$([ "$want" = io_uring ] && echo $((2 * ${FLOWTUN_WORKERS:-1})) || echo 0)" ] ||
			ft_fail "$name: $side holds $(rings "${!pid}") io_uring rings in tunIO $want"
	done
	ft_ping "$a" 100.64.0.2 || ft_fail "$name: a cannot ping b"
	tcp 7300
	ft_log "$name: 8 MiB over TCP arrived intact"
	for try in 1 2 3; do
		flood "$port" && break
		ft_log "$name: try $try, port $port: received/bad $(cat "$FT_TMP/got-$port")"
		[ "$try" -lt 3 ] || ft_fail "$name: datagrams lost in each of 3 floods (overloaded?)"
		port=$((port + 1))
	done
	ft_log "$name: $N datagrams to port $port arrived intact"

	# b: its TUN deleted under it; a: SIGTERM, and the device is gone when it has exited.
	ip -n "$b" link del tun0 || ft_fail "$name: cannot delete b's tun0"
	ft_wait_for 5 sh -c "! kill -0 $pid_b 2>/dev/null" ||
		ft_fail "$name: b still runs 5 s after its tun0 was deleted"
	wait "$pid_b" || ft_fail "$name: b exited $? after its tun0 was deleted: $(cat "$lb")"
	ft_stop "$pid_a" "$la" || ft_fail "$name: flowtun a did not exit cleanly"
	! ip -n "$a" link show tun0 >/dev/null 2>&1 || ft_fail "$name: a's tun0 outlived a"
	! grep -qiE "AddressSanitizer|runtime error|leak" "$la" "$lb" ||
		ft_fail "$name: sanitizer report: $(cat "$la" "$lb")"
	local got want_tx="$N $((N * (SIZE + 28))) 0 0" want_rx="0 0 $N $((N * (SIZE + 28)))"
	got=$(flow "$FT_TMP/flows-a-$name.jsonl" "100.64.0.2:$port")
	[ "$got" = "$want_tx" ] || ft_fail "$name: a's flow log: $got, want $want_tx"
	got=$(flow "$FT_TMP/flows-b-$name.jsonl" "100.64.0.2:$port")
	[ "$got" = "$want_rx" ] || ft_fail "$name: b's flow log: $got, want $want_rx"
	ft_log "$name: tun0 deleted under b, a stopped, flow logs exact ($want_tx / $want_rx)"
}

phase auto io_uring ""
phase uring-nooffload io_uring "TunIO = io_uring" --no-offload
phase syscalls-key syscalls "TunIO = syscalls"
phase syscalls-option syscalls "" --tun-io syscalls

# Without io_uring: both flowtuns through a wrapper whose io_uring_setup fails.
real=$FLOWTUN
printf '#!/bin/sh\nexec %s %s "$@"\n' "$(realpath "$no_uring")" "$real" >"$FT_TMP/flowtun-nouring"
chmod +x "$FT_TMP/flowtun-nouring"
FLOWTUN=$FT_TMP/flowtun-nouring
phase auto-without syscalls ""
grep -q "io_uring not available (Function not implemented): TUN I/O by read and write" \
	"$FT_TMP/b-auto-without.conf.log" ||
	ft_fail "auto-without: b did not say why it fell back: $(cat "$FT_TMP/b-auto-without.conf.log")"
FLOWTUN=$real

# TunIO = io_uring by name where it is refused (EPERM): no start, and the reason.
ft_conf "$FT_TMP/refused.conf" "$kb" 100.64.0.2/24 "$pa" 100.64.0.1/32 "" "TunIO = io_uring"
if timeout 10 ip netns exec "$b" "$no_uring" --eperm "$FLOWTUN" up --interface tun0 \
	"$FT_TMP/refused.conf" 2>"$FT_TMP/refused.log"; then
	ft_fail "TunIO = io_uring started without io_uring"
fi
want="TunIO io_uring: not permitted (kernel.io_uring_disabled, or a seccomp filter around flowtun)"
grep -qF "$want" "$FT_TMP/refused.log" ||
	ft_fail "TunIO = io_uring without it: want '$want', got: $(cat "$FT_TMP/refused.log")"
! ip -n "$b" link show tun0 >/dev/null 2>&1 || ft_fail "the refused flowtun left tun0 behind"
ft_log "without io_uring: auto fell back to read/write and said so; io_uring by name refused"
ft_log "PASS"
