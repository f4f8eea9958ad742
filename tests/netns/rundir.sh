#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The userspace API socket in the host's own /run/wireguard (issue 13, point 1): no private
# tmpfs, as a user runs flowtun, whatever that directory looks like. Every tunnel here drops to
# nobody with the seccomp allow-list on, and runs in the host's mount namespace (nsenter --net
# only), so that its socket is /run/wireguard/NAME.sock of the machine; interface names carry
# this test's PID, so nothing else running can collide with them.
#
#   host mount namespace: /run/wireguard (made 0700 root for the test, restored at exit)
#     ftrPIDa.sock  flowtun A   (a fresh start)
#     ftrPIDb.sock  flowtun B   (started over the stale socket of a B killed with SIGKILL)
#     ftrPIDg.sock  wireguard-go (a live instance on another interface)
#   namespace $FT_PREFIX-h: the devices ftrPIDa, ftrPIDb, ftrPIDg
#
# 1. With /run/wireguard 0700 root (what a strict umask creates), A and B still serve
#    `wg show` 10 s after start; neither says its socket was removed; each says once, with the
#    cause, that it cannot check the socket by its name; wireguard-go is undisturbed.
# 2. Removing A's socket still stops A (its watch sees the link count drop, not the path).
# 3. SIGTERM: B exits 0 and its socket is gone (removed through the opener).
# Whatever /run/wireguard was (its mode and owner) is restored on any exit; one that was missing
# is removed again unless a test running in parallel has a mount on a /run/wireguard.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib.sh"

ft_require_root
ft_require_cmd ip wg wireguard-go nsenter stat
[ -x "$FLOWTUN" ] || ft_fail "no flowtun binary at $FLOWTUN"

RUN=/run/wireguard
ifa=ftr$$a ifb=ftr$$b ifg=ftr$$g
[ ${#ifa} -lt 16 ] || ft_fail "interface name $ifa too long"
ns=$(ft_netns h)
net=/run/netns/$ns
passed=0
pass() {
	passed=$((passed + 1))
	ft_log "ok $passed: $*"
}

# ---- /run/wireguard as it was, and back on exit --------------------------------------------
if [ -d "$RUN" ]; then
	was=$(stat -c '%a %u %g' "$RUN")
else
	[ ! -e "$RUN" ] || ft_fail "$RUN exists and is no directory"
	was=missing
fi
ours=""
# restore_run: our processes stopped first (their sockets are ours to remove), then the
# directory's mode and owner, or no directory if there was none. Runs in ft_cleanup's subshell.
restore_run() {
	local p
	for p in $ours; do
		ft_is_child "$p" && kill -TERM "$p" 2>/dev/null
	done
	for p in $ours; do
		for _ in $(seq 50); do
			ft_is_child "$p" || [ "$(awk '{print $3}' "/proc/$p/stat" 2>/dev/null)" = Z ] ||
				break
			sleep 0.1
		done
		ft_is_child "$p" && kill -KILL "$p" 2>/dev/null
	done
	rm -f "$RUN/$ifa.sock" "$RUN/$ifb.sock" "$RUN/$ifg.sock"
	if [ "$was" = missing ]; then
		# Removed only if no mount namespace has something mounted on a /run/wireguard
		# (lib.sh's ft_ns_exec does, in parallel tests): removing the directory would detach
		# that mount under a running test. Else it stays as flowtun itself makes it, 0755.
		chmod 0755 "$RUN"
		grep -qs " $RUN " /proc/[0-9]*/mountinfo || rmdir "$RUN" 2>/dev/null || true
	else
		read -r mode uid gid <<<"$was"
		chown "$uid:$gid" "$RUN"
		chmod "$mode" "$RUN"
	fi
}
ft_cleanup_add restore_run
mkdir -p "$RUN"
chown 0:0 "$RUN"
chmod 0700 "$RUN"
ft_log "$RUN was: $was; now $(stat -c '%a %U' "$RUN")"

# conf NAME PORT NET: a tunnel with one peer (no endpoint: nothing is sent).
conf() {
	(
		umask 077
		printf '[Interface]\nPrivateKey = %s\nListenPort = %s\nAddress = 100.64.%s.1/24\n\n' \
			"$("$FLOWTUN" genkey)" "$2" "$3"
		printf '[Peer]\nPublicKey = %s\nAllowedIPs = 100.64.%s.2/32\n' \
			"$("$FLOWTUN" pubkey <<<"$("$FLOWTUN" genkey)")" "$3"
	) >"$FT_TMP/$1.conf"
}
conf "$ifa" 51821 1
conf "$ifb" 51822 2

# start NAME [OPTION...]: flowtun up in the netns but the host's mount namespace; waits until
# it is up; sets pid. nsenter execs, so the PID is flowtun's.
start() {
	local name=$1 log=$FT_TMP/$1.log
	shift
	: >"$log"
	ft_bg nsenter --net="$net" "$FLOWTUN" up --interface "$name" "$@" "$FT_TMP/$name.conf" \
		2>>"$log"
	pid=$FT_LAST_PID
	ours="$ours $pid"
	ft_wait_for 10 grep -q "$name is up" "$log" || {
		sed 's/^/  flowtun: /' "$log" >&2
		ft_fail "flowtun $name did not come up"
	}
}

# A live wireguard-go on another interface in the same directory (it runs as root).
ft_bg nsenter --net="$net" env WG_PROCESS_FOREGROUND=1 LOG_LEVEL=error wireguard-go "$ifg" \
	>>"$FT_TMP/wg-go.log" 2>&1
pid_g=$FT_LAST_PID
ours="$ours $pid_g"
ft_wait_for 10 test -S "$RUN/$ifg.sock" || ft_fail "wireguard-go made no $RUN/$ifg.sock"

# A dead instance of B: killed, so its socket stays behind with nobody listening.
start "$ifb" --user root
kill -KILL "$pid"
wait "$pid" 2>/dev/null || true
[ -S "$RUN/$ifb.sock" ] || ft_fail "the killed B left no stale socket"
ft_wait_for 5 sh -c "! ip -n '$ns' link show '$ifb'" || ft_fail "$ifb outlived its process"

# ---- 1. 0700, a stale socket, a neighbour: still serving 10 s later ------------------------
start "$ifa" --user nobody --seccomp on
pid_a=$pid
start "$ifb" --user nobody --seccomp on
pid_b=$pid
for name in "$ifa" "$ifb"; do
	ft_wait_for 10 grep -q "running as nobody" "$FT_TMP/$name.log" ||
		ft_fail "$name did not drop to nobody: $(cat "$FT_TMP/$name.log")"
done
sleep 10
for name in "$ifa" "$ifb"; do
	log=$FT_TMP/$name.log
	ok=yes
	wg show "$name" >"$FT_TMP/$name.show" 2>&1 || ok=no
	if grep -q "removed" "$log" || [ $ok = no ]; then
		sed 's/^/  flowtun: /' "$log" >&2
		ft_fail "$name does not serve wg show 10 s after start with $RUN 0700: $(cat "$FT_TMP/$name.show")"
	fi
	grep -q "^interface: $name" "$FT_TMP/$name.show" || ft_fail "wg show $name: $(cat "$FT_TMP/$name.show")"
	n=$(grep -c "cannot check .*$name.sock" "$log" || true)
	[ "$n" = 1 ] || ft_fail "$name logged the failed check $n times, want once: $(cat "$log")"
	grep -q "cannot check .*$name.sock.*Permission denied" "$log" ||
		ft_fail "$name's failed check does not give its cause: $(grep 'cannot check' "$log")"
done
kill -0 "$pid_a" && kill -0 "$pid_b" || ft_fail "a tunnel exited"
wg show "$ifg" >/dev/null || ft_fail "wireguard-go on $ifg stopped serving"
pass "$RUN 0700 root: A (fresh) and B (over a stale socket) serve wg show after 10 s as nobody" \
	"with seccomp, the failed check logged once with its cause; wireguard-go on $ifg undisturbed"

# ---- 2. a real removal is still seen --------------------------------------------------------
rm "$RUN/$ifa.sock"
ft_wait_for 5 sh -c "[ ! -e /proc/$pid_a ] || [ \$(awk '{print \$3}' /proc/$pid_a/stat) = Z ]" ||
	ft_fail "A still runs 5 s after its socket was removed"
rc=0
wait "$pid_a" || rc=$?
grep -q "$RUN/$ifa.sock was removed" "$FT_TMP/$ifa.log" ||
	ft_fail "A did not say its socket was removed: $(cat "$FT_TMP/$ifa.log")"
pass "removing $ifa.sock stopped A (exit $rc) with 'was removed'"

# ---- 3. SIGTERM removes the socket through the opener ---------------------------------------
ft_stop "$pid_b" "$FT_TMP/$ifb.log" || ft_fail "B did not exit 0 on SIGTERM"
[ ! -e "$RUN/$ifb.sock" ] || ft_fail "B left $RUN/$ifb.sock behind"
! ip -n "$ns" link show "$ifb" >/dev/null 2>&1 || ft_fail "$ifb left behind"
pass "SIGTERM: B exited 0 and removed $RUN/$ifb.sock although it cannot search $RUN"

grep -qiE "leak|AddressSanitizer|runtime error|still had handles" "$FT_TMP"/*.log &&
	ft_fail "sanitizer or leak report: $(cat "$FT_TMP"/*.log)"
echo "rundir: $passed passed, 0 failed"
