#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Privileges after start-up (tun/priv/privs.h), with tests/netns/privs-probe doing what flowtun up
# does: open tun0, configure it, drop to nobody keeping CAP_NET_ADMIN, install the seccomp
# allow-list. Checked from outside through /proc/PID and ip(8):
#
#   +---------------- namespace $FT_PREFIX-p ------------------------------+
#   |  privs-probe (root -> nobody) ==fd== tun0  100.64.0.1/24             |
#   |    before the drop: route 100.64.8.0/24                              |
#   |    after it, on "route": route 100.64.9.0/24 added, 100.64.8.0/24 gone |
#   +----------------------------------------------------------------------+
#
# 1. seccomp on: uid/gid nobody, no groups, CapEff = CapPrm = CAP_NET_ADMIN,
#    CAP_NET_BIND_SERVICE and CAP_IPC_LOCK only, CapBnd
#    empty, NoNewPrivs 1, Seccomp 2 (also in libuv's pool threads), not dumpable (/proc/PID
#    owned by root, its environ unreadable by nobody), routes and addresses still change.
# 2. each syscall outside the allow-list kills the probe with SIGSYS, and the probe names it
#    first: chdir, socket(AF_PACKET), ioctl(TUNSETIFF), setuid(0), and what CAP_NET_ADMIN
#    would otherwise allow: a generic netlink socket (other WireGuard devices' keys), a
#    NETLINK_NETFILTER socket (the firewall), SIOCETHTOOL (ethtool's set commands).
# 3. seccomp log: the same syscall goes through; seccomp off: setuid(0) fails with EPERM.
# 4. root as the target user is refused.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib.sh"

ft_require_root
ft_require_cmd ip setpriv
probe=${top_builddir:-.}/tests/netns/privs-probe
[ -x "$probe" ] || ft_fail "no probe at $probe (make check builds it)"

ft_netns p >/dev/null
ns="$FT_PREFIX-p"
passed=0
n=0

# probe_start USER SECCOMP: the probe in $ns reading commands from a fifo (fd 3), its output
# in $out; sets probe_pid.
probe_start() {
	n=$((n + 1))
	fifo="$FT_TMP/in$n"
	out="$FT_TMP/out$n"
	mkfifo "$fifo"
	exec 3<>"$fifo"
	: >"$out"
	# sh -c with exec: one PID from sh through ip netns exec to the probe.
	ft_bg sh -c 'exec ip netns exec "$1" "$2" "$3" "$4" <"$5" >"$6" 2>&1' sh "$ns" "$probe" \
		"$1" "$2" "$fifo" "$out"
	probe_pid=$FT_LAST_PID
}

# expect LINE: wait until the probe printed LINE; fail with its output if it died first.
expect() {
	local deadline=$(($(ft_now_ms) + 10000))
	until grep -qx "$1" "$out"; do
		# Dead or late, look once more: it may have printed the line just before exiting.
		if { ! kill -0 "$probe_pid" 2>/dev/null || [ "$(ft_now_ms)" -gt "$deadline" ]; } &&
			! grep -qx "$1" "$out"; then
			sed 's/^/  probe: /' "$out" >&2
			ft_fail "the probe did not print '$1'"
		fi
		sleep 0.05
	done
}

# probe_wait: waits for the probe (not in $(...): it is this shell's child); sets rc.
probe_wait() {
	rc=0
	wait "$probe_pid" || rc=$?
	exec 3>&-
}

field() { awk -v k="$1:" '$1 == k { $1 = ""; sub(/^ /, ""); print }' "$2"; }

# want_field FILE KEY VALUE
want_field() {
	local got
	got=$(field "$2" "$1")
	[ "$got" = "$3" ] || ft_fail "$1: $2 is '$got', want '$3'"
}

tun_gone() { ! ip -n "$ns" link show tun0 >/dev/null 2>&1; }

# ---- 1. the dropped, filtered probe ---------------------------------------------------------
probe_start nobody on
expect ready
st=/proc/$probe_pid/status
# 65534 is nobody:nogroup on Debian; CAP_NET_ADMIN is bit 12.
want_field "$st" Uid "65534 65534 65534 65534"
want_field "$st" Gid "65534 65534 65534 65534"
want_field "$st" Groups ""
want_field "$st" CapInh 0000000000000000
want_field "$st" CapPrm 0000000000005400
want_field "$st" CapEff 0000000000005400
want_field "$st" CapBnd 0000000000000000
want_field "$st" CapAmb 0000000000000000
want_field "$st" NoNewPrivs 1
want_field "$st" Seccomp 2
ft_log "main thread: $(grep -E '^(Uid|CapEff|CapBnd|NoNewPrivs|Seccomp):' "$st" | tr -s '\t\n' '  ')"
# Every thread (libuv's pool started before the drop): nobody, nothing effective beyond
# CAP_NET_ADMIN, filtered, no new privileges.
threads=0
for t in /proc/"$probe_pid"/task/*/status; do
	threads=$((threads + 1))
	want_field "$t" Uid "65534 65534 65534 65534"
	case $(field CapEff "$t") in 0000000000000000 | 0000000000005400) ;;
	*) ft_fail "$t: CapEff $(field CapEff "$t")" ;;
	esac
	want_field "$t" Seccomp 2
	want_field "$t" NoNewPrivs 1
done
[ "$threads" -gt 1 ] || ft_fail "the probe has no pool threads ($threads)"
# Not dumpable: the files in /proc/PID belong to root although the process runs as nobody, and nobody
# (the same uid) cannot read its environment or memory.
[ "$(stat -c %u /proc/"$probe_pid"/status)" = 0 ] || ft_fail "/proc/$probe_pid/status is not root's: dumpable"
if setpriv --reuid=65534 --regid=65534 --clear-groups cat /proc/"$probe_pid"/environ \
	>/dev/null 2>&1; then
	ft_fail "nobody can read the environment of the dropped probe"
fi
ft_log "not dumpable: /proc/$probe_pid/* owned by root, environ unreadable by nobody"
passed=$((passed + 1))

ip -n "$ns" route show | grep -q "^100.64.8.0/24 dev tun0" || ft_fail "no route made before the drop"
echo route >&3
expect "route ok"
routes=$(ip -n "$ns" route show)
grep -q "^100.64.9.0/24 dev tun0" <<<"$routes" || ft_fail "no 100.64.9.0/24 after the drop: $routes"
! grep -q "^100.64.8.0/24" <<<"$routes" || ft_fail "100.64.8.0/24 not removed: $routes"
echo addr >&3
expect "addr ok"
ip -n "$ns" addr show dev tun0 | grep -q "inet6 fd00::1/64" || ft_fail "no fd00::1/64 after the drop"
ft_log "after the drop: route 100.64.9.0/24 added, 100.64.8.0/24 removed, fd00::1/64 added"
passed=$((passed + 1))

echo close >&3
expect closed
probe_wait
[ "$rc" = 0 ] || ft_fail "the probe exited $rc"
ft_wait_for 5 tun_gone || ft_fail "tun0 left behind"
passed=$((passed + 1))

# ---- 2. outside the allow-list: killed by SIGSYS (exit status 128 + 31) ----------------------
for cmd in chdir:chdir packet:socket tunsetiff:ioctl setuid:setuid genl:socket nfnl:socket \
	ethtool:ioctl; do
	call=${cmd#*:} cmd=${cmd%%:*}
	probe_start nobody on
	expect ready
	# "close" after it: a probe the filter failed to kill exits 0 instead of hanging.
	printf '%s\nclose\n' "$cmd" >&3
	probe_wait
	[ "$rc" = 159 ] || ft_fail "$cmd: exit status $rc, want 159 (SIGSYS): $(cat "$out")"
	! grep -q returned "$out" || ft_fail "$cmd returned to the probe: $(cat "$out")"
	grep -q "seccomp: system call $call (.*) is not in the allow-list" "$out" ||
		ft_fail "$cmd: the killed probe did not name $call: $(cat "$out")"
	ft_wait_for 5 tun_gone || ft_fail "tun0 left behind after the kill"
	passed=$((passed + 1))
done
ft_log "chdir, socket(AF_PACKET), ioctl(TUNSETIFF), setuid(0), socket(AF_NETLINK," \
	"NETLINK_GENERIC), socket(AF_NETLINK, NETLINK_NETFILTER), ioctl(SIOCETHTOOL): killed by" \
	"SIGSYS, each named on stderr"

# ---- 3. log mode lets it through; without the filter the kernel still says no -------------
probe_start nobody log
expect ready
want_field "/proc/$probe_pid/status" Seccomp 2
echo chdir >&3
expect "chdir returned 0"
echo close >&3
expect closed
probe_wait
[ "$rc" = 0 ] || ft_fail "the probe in log mode did not exit 0"
ft_wait_for 5 tun_gone || ft_fail "tun0 left behind"
passed=$((passed + 1))

probe_start 65534:65534 off
expect ready
want_field "/proc/$probe_pid/status" CapEff 0000000000005400
# No allow-list, but no-new-privs in every thread: the drop's allow-all filter (privs.h).
for t in /proc/"$probe_pid"/task/*/status; do
	want_field "$t" NoNewPrivs 1
done
echo setuid >&3
expect "setuid(0) returned -1 (Operation not permitted)"
echo route >&3
expect "route ok"
echo close >&3
expect closed
probe_wait
[ "$rc" = 0 ] || ft_fail "the probe without the filter did not exit 0"
ft_wait_for 5 tun_gone || ft_fail "tun0 left behind"
passed=$((passed + 1))

# ---- 4. root is no user to drop to ---------------------------------------------------------
probe_start root on
probe_wait
[ "$rc" = 1 ] || ft_fail "dropping to root: exit $rc, want 1"
grep -q "failed: user 'root' is root" "$out" || ft_fail "dropping to root: $(cat "$out")"
passed=$((passed + 1))

echo "privs: $passed passed, 0 failed"
