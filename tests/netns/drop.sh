#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The default privilege drop of `flowtun up` end to end: both sides run with no --user, so as
# root they drop, once up, to the user flowtun (nobody without one) keeping CAP_NET_ADMIN, and
# files they open again go through the opener (tun/priv/opener.h). a's config, its PrivateKeyFile
# (relative, 0600) and its flow log sit in a root-owned 0700 directory that the dropped
# tunnel cannot enter: only the opener can.
#
#   namespace $FT_PREFIX-a                           namespace $FT_PREFIX-b
#   +-----------------------------+                  +-----------------------------+
#   | tun0 100.64.0.1/24          |                  | tun0 100.64.0.2/24          |
#   |   flowtun up conf-a/a.conf  |                  |   flowtun up b.conf         |
#   |   `- flowtun-opener (uid 0) |                  |   (8: under setpriv's       |
#   |   conf-a/ 0700: a.key 0600, |                  |    bounding set, as the     |
#   |     flows.jsonl (FlowLog)   |                  |    systemd unit has it)     |
#   | veth-a 198.18.0.1/24 -------+------ veth ------+------- veth-b 198.18.0.2/24 |
#   +-----------------------------+                  +-----------------------------+
#
# 1. a runs as the default user with CAP_NET_ADMIN, CAP_NET_BIND_SERVICE and CAP_IPC_LOCK only, an empty bounding set and
#    no-new-privs; its one child is the opener: uid 0, no capability, seccomp, fds 0-3 and
#    the directories it pinned only. Falling back to nobody (no `flowtun` user) is warned
#    about once, saying why and what to do; with the `flowtun` user there is no warning.
# 2. ping through the tunnel.
# 3. SIGHUP reloads a changed config: a peer's keepalive, and AllowedIPs whose route is added
#    and removed again (CAP_NET_ADMIN).
# 4. logrotate: the flow log moved aside, SIGHUP, and a new root-owned file gets the lines.
# 5. a reload naming another PrivateKeyFile is refused; the tunnel keeps working.
# 6. SIGTERM: exit 0, the API socket removed (through the opener), no process, no tun0.
# 7. --user root keeps uid 0 and every capability, with no opener.
# 8. under the systemd unit's bounding set b comes up, drops and reloads; with CAP_NET_ADMIN
#    alone it refuses to run half-dropped and says so.
# shellcheck disable=SC2154 # a, b, ka, kb, pa, pb: set by ft_pair (tests/lib.sh)
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib.sh"

ft_require_root
ft_require_cmd ip ping wg nsenter setpriv getent
[ -x "$FLOWTUN" ] || ft_fail "no flowtun binary at $FLOWTUN"

passed=0
pass() {
	passed=$((passed + 1))
	ft_log "ok $passed: $*"
}

# The user a root tunnel drops to by default (tun/priv/privs.h): flowtun if it exists, else nobody.
if entry=$(getent passwd flowtun); then
	user=flowtun
	uid=$(cut -d: -f3 <<<"$entry")
else
	user=nobody
	uid=65534
fi

ft_pair

dir=$FT_TMP/conf-a
conf_a=$dir/a.conf
log_a=$conf_a.log
flows=$dir/flows.jsonl
mkdir -m 0700 "$dir"
(
	umask 077
	printf '%s\n' "$ka" >"$dir/a.key"
)

# write_conf_a KEYFILE ALLOWEDIPS [PEER_LINE]: a.conf replaced in one rename, so that a reload
# never reads half a file.
write_conf_a() {
	(
		umask 077
		{
			printf '[Interface]\nPrivateKeyFile = %s\nListenPort = 51820\n' "$1"
			printf 'Address = 100.64.0.1/24\nFlowLog = %s\nFlowLogInterval = 1\n\n' "$flows"
			printf '[Peer]\nPublicKey = %s\nAllowedIPs = %s\n' "$pb" "$2"
			printf 'Endpoint = 198.18.0.2:51820\n%s\n' "${3:-}"
		} >"$conf_a.new"
	)
	mv -f "$conf_a.new" "$conf_a"
}
write_conf_a a.key 100.64.0.2/32
ft_conf "$FT_TMP/b.conf" "$kb" "100.64.0.2/24" "$pa" "100.64.0.1/32" 198.18.0.1:51820

# The premise: the dropped user cannot read a's files by itself.
if setpriv --reuid="$uid" --regid="$uid" --clear-groups cat "$dir/a.key" >/dev/null 2>&1; then
	ft_fail "$user can read $dir/a.key without the opener: the test proves nothing"
fi

field() { awk -v k="$1:" '$1 == k { $1 = ""; sub(/^ /, ""); print }' "$2"; }

# want_field FILE KEY VALUE
want_field() {
	local got
	got=$(field "$2" "$1")
	[ "$got" = "$3" ] || ft_fail "$1: $2 is '$got', want '$3'"
}

# children PID: the PIDs of PID's child processes (those of every thread).
children() { cat /proc/"$1"/task/*/children 2>/dev/null | tr ' ' '\n' | grep . || true; }

# reload PID LOG: SIGHUP, then wait for the reload's outcome ("reloaded ..." or "reload: ...")
# in LOG and print that line.
reload() {
	local before
	before=$(grep -cE 'reloaded |reload: ' "$2" || true)
	kill -HUP "$1"
	ft_wait_for 10 sh -c "[ \$(grep -cE 'reloaded |reload: ' '$2') -gt $before ]" ||
		ft_fail "no reload outcome in $2 after SIGHUP"
	grep -E 'reloaded |reload: ' "$2" | tail -n 1
}

# check_dropped PID LOG: PID runs as the default user with CAP_NET_ADMIN, CAP_NET_BIND_SERVICE and CAP_IPC_LOCK only and one child,
# the opener, locked down; sets opid.
check_dropped() {
	local st=/proc/$1/status ost kids fds
	ft_wait_for 10 grep -q "opener pid" "$2" || ft_fail "no 'running as' line in $2: $(cat "$2")"
	want_field "$st" Uid "$uid $uid $uid $uid"
	want_field "$st" CapEff 0000000000005400
	want_field "$st" CapPrm 0000000000005400
	want_field "$st" CapBnd 0000000000000000
	want_field "$st" NoNewPrivs 1
	kids=$(children "$1")
	[ "$(grep -c . <<<"$kids" || true)" -eq 1 ] ||
		ft_fail "PID $1 should have one child, the opener; it has: ${kids:-none}"
	opid=$kids
	ost=/proc/$opid/status
	[ "$(cat /proc/"$opid"/comm)" = flowtun-opener ] ||
		ft_fail "the child $opid is '$(cat /proc/"$opid"/comm)', not flowtun-opener"
	# A fresh image (fork and exec), not a copy of the tunnel's memory and its keys; its
	# command line is the list of what it may open.
	tr '\0' ' ' <"/proc/$opid/cmdline" | grep -q "^flowtun-opener --flowtun-opener i:[0-9]*:[0-9]* r:/" ||
		ft_fail "the opener $opid was not exec'd: $(tr '\0' ' ' <"/proc/$opid/cmdline")"
	[ "$(stat -L -c %i /proc/"$opid"/exe)" = "$(stat -L -c %i /proc/"$1"/exe)" ] ||
		ft_fail "the opener $opid does not run flowtun's program"
	want_field "$ost" Uid "0 0 0 0"
	want_field "$ost" CapEff 0000000000000000
	want_field "$ost" CapPrm 0000000000000000
	want_field "$ost" CapBnd 0000000000000000
	want_field "$ost" CapAmb 0000000000000000
	want_field "$ost" NoNewPrivs 1
	want_field "$ost" Seccomp 2
	# fds 0-3 (stdio, the socketpair) and the directories it pinned, nothing else: no TUN,
	# no UDP socket, no file.
	for fd in /proc/"$opid"/fd/*; do
		n=${fd##*/}
		[ "$n" -le 3 ] || [ -d "$fd" ] ||
			ft_fail "the opener $opid holds fd $n: $(readlink "$fd") (want 0-3 and directories)"
	done
	fds=$(find /proc/"$opid"/fd -mindepth 1 -printf '%f\n' | sort -n | tr '\n' ' ')
	grep -q "running as $user (uid $uid), keeping CAP_NET_ADMIN, CAP_NET_BIND_SERVICE and CAP_IPC_LOCK; opener pid $opid" "$2" ||
		ft_fail "the log does not name the opener $opid: $(grep 'running as' "$2")"
}

ft_up "$a" "$conf_a"
pid_a=$FT_LAST_PID
ft_up "$b" "$FT_TMP/b.conf"
pid_b=$FT_LAST_PID

# ---- 1. the drop and the opener ------------------------------------------------------------
check_dropped "$pid_a" "$log_a"
opid_a=$opid
check_dropped "$pid_b" "$FT_TMP/b.conf.log"
warned=$(grep -c "no system user 'flowtun', so this tunnel runs as the shared user nobody: any other process running as nobody can stop" "$log_a" || true)
if [ "$user" = nobody ]; then
	[ "$warned" = 1 ] || ft_fail "the fallback to nobody was warned about $warned times: $(cat "$log_a")"
	grep -q "Create the user (systemd-sysusers flowtun.conf, or useradd --system" "$log_a" ||
		ft_fail "the warning does not say how to create the user: $(cat "$log_a")"
else
	[ "$warned" = 0 ] || ft_fail "a warned about nobody while running as $user"
fi
pass "a and b run as $user (uid $uid), CapEff=CapPrm=CAP_NET_ADMIN+CAP_NET_BIND_SERVICE+CAP_IPC_LOCK, CapBnd 0, NoNewPrivs;" \
	"opener $opid_a: uid 0, no caps, Seccomp 2, fds 0-3 + pinned dirs, named in the log;" \
	"the fallback to nobody warned $warned time(s)"

# ---- 2. the tunnel --------------------------------------------------------------------------
ft_ping "$a" 100.64.0.2 || ft_fail "a cannot ping 100.64.0.2"
ft_ping "$b" 100.64.0.1 || ft_fail "b cannot ping 100.64.0.1"
pass "ping a <-> b through the tunnel"

# ---- 3. SIGHUP reloads: keepalive, and a route added then removed ------------------------
keepalive() { ft_wg "$1" show tun0 persistent-keepalive | awk '{print $2}'; }
[ "$(keepalive "$pid_a")" = off ] || ft_fail "keepalive is $(keepalive "$pid_a") before the reload"
write_conf_a a.key "100.64.0.2/32, 100.64.1.0/24" "PersistentKeepalive = 25"
out=$(reload "$pid_a" "$log_a")
grep -q "reloaded $conf_a" <<<"$out" || ft_fail "reload: $out"
[ "$(keepalive "$pid_a")" = 25 ] || ft_fail "keepalive is $(keepalive "$pid_a") after the reload, want 25"
ip -n "$a" route show | grep -q "^100.64.1.0/24 dev tun0" ||
	ft_fail "no route 100.64.1.0/24 after the reload: $(ip -n "$a" route show)"
write_conf_a a.key 100.64.0.2/32 "PersistentKeepalive = 25"
out=$(reload "$pid_a" "$log_a")
grep -q "reloaded $conf_a" <<<"$out" || ft_fail "reload: $out"
! ip -n "$a" route show | grep -q "^100.64.1.0/24" ||
	ft_fail "the route 100.64.1.0/24 is still there after the second reload"
pass "SIGHUP reloaded a.conf twice: keepalive off -> 25, route 100.64.1.0/24 added and removed"

# ---- 4. logrotate ---------------------------------------------------------------------------
ip netns exec "$a" ping -c 3 -i 0.2 -W 1 100.64.0.2 >/dev/null || ft_fail "lost pings before rotating"
ft_wait_for 5 test -s "$flows" || ft_fail "the flow log $flows stays empty"
pre=$(cat "$flows")
mv "$flows" "$flows.1"
out=$(reload "$pid_a" "$log_a")
grep -q "reloaded $conf_a" <<<"$out" || ft_fail "reload: $out"
ip netns exec "$a" ping -c 3 -i 0.2 -W 1 100.64.0.2 >/dev/null || ft_fail "lost pings after rotating"
ft_wait_for 5 test -s "$flows" || ft_fail "no new flow log at $flows after SIGHUP"
# The writer has one line in flight at a time and reopens before the next one: with a line in
# the new file, the old one is finished (the reload's own flush may have gone there).
old=$(cat "$flows.1")
[ "$(head -n "$(grep -c . <<<"$pre")" <<<"$old")" = "$pre" ] ||
	ft_fail "the rotated flow log lost the lines it had before the move"
mode=$(printf '%o' $((0640 & ~$(umask))))
[ "$(stat -c '%u %a' "$flows")" = "0 $mode" ] ||
	ft_fail "the new flow log is owner/mode $(stat -c '%u %a' "$flows"), want 0 $mode"
# One more flush interval with traffic: the lines go to the new file, the old one stays.
n_new=$(wc -l <"$flows")
ip netns exec "$a" ping -c 3 -i 0.5 -W 1 100.64.0.2 >/dev/null || ft_fail "lost pings"
ft_wait_for 5 sh -c "[ \$(wc -l <'$flows') -gt $n_new ]" || ft_fail "the new flow log stopped growing"
[ "$(cat "$flows.1")" = "$old" ] || ft_fail "the rotated flow log still grows after the reopen"
pass "logrotate: new flow log (uid 0, mode $mode) has $(wc -l <"$flows") lines," \
	"the old one kept its $(wc -l <"$flows.1")"

# ---- 5. a PrivateKeyFile not named at start is refused ---------------------------------------
cp -p "$dir/a.key" "$dir/a2.key"
write_conf_a a2.key 100.64.0.2/32 "PersistentKeepalive = 25"
out=$(reload "$pid_a" "$log_a")
grep -q "reload: " <<<"$out" || ft_fail "a reload naming a2.key was not refused: $out"
grep -q "$dir/a2.key was not named when flowtun started" "$log_a" ||
	ft_fail "no 'was not named when flowtun started' for a2.key in the log"
ft_ping "$a" 100.64.0.2 || ft_fail "the tunnel stopped working after the refused reload"
kill -0 "$pid_a" || ft_fail "a died after the refused reload"
write_conf_a a.key 100.64.0.2/32 "PersistentKeepalive = 25"
pass "a reload naming $dir/a2.key refused (not named at start), ping still works"

# ---- 6. SIGTERM -----------------------------------------------------------------------------
# A process of our own in a's mount namespace keeps its private /run/wireguard alive after a
# exits, to see whether the socket was removed (by the opener: /run/wireguard is root's 0755).
ft_bg nsenter --target "$pid_a" --mount sleep 60
holder=$FT_LAST_PID
ft_wait_for 5 nsenter --target "$holder" --mount test -S /run/wireguard/tun0.sock ||
	ft_fail "no API socket /run/wireguard/tun0.sock in a's mount namespace"
ft_stop "$pid_a" "$log_a" || ft_fail "flowtun a did not exit 0 on SIGTERM"
! nsenter --target "$holder" --mount test -e /run/wireguard/tun0.sock ||
	ft_fail "the API socket is still there after a exited"
[ "$(cat /proc/"$opid_a"/comm 2>/dev/null)" != flowtun-opener ] ||
	ft_fail "the opener $opid_a still runs after a exited"
! ip -n "$a" link show tun0 >/dev/null 2>&1 || ft_fail "tun0 is still there in $a"
! ip netns pids "$a" | grep -q . || ft_fail "processes left in $a: $(ip netns pids "$a")"
kill "$holder"
wait "$holder" 2>/dev/null || true
pass "SIGTERM: a exited 0, the API socket removed, the opener gone, no tun0"

# ---- 7. --user root -------------------------------------------------------------------------
# ft_up empties the log of a restarted tunnel: keep the first run's for the sanitizer check.
cat "$log_a" >>"$FT_TMP/earlier.log"
ft_up "$a" "$conf_a" --user root
pid_a=$FT_LAST_PID
ft_wait_for 5 grep -q "User = root: keeping every privilege" "$log_a" ||
	ft_fail "no 'User = root: keeping every privilege' in $log_a"
st=/proc/$pid_a/status
want_field "$st" Uid "0 0 0 0"
full=$(field CapBnd /proc/self/status)
want_field "$st" CapEff "$full"
want_field "$st" CapPrm "$full"
[ -z "$(children "$pid_a")" ] || ft_fail "a with --user root has children: $(children "$pid_a")"
! grep -q "running as" "$log_a" || ft_fail "a dropped with --user root: $(grep 'running as' "$log_a")"
ft_ping "$a" 100.64.0.2 || ft_fail "a (root) cannot ping 100.64.0.2"
pass "--user root: uid 0, CapEff=CapPrm=$full, no opener, the NOTICE logged"

# ---- 8. the systemd unit's bounding set -----------------------------------------------------
# bounded CAPS: a flowtun that execs under that bounding set (setpriv's syntax), as systemd's
# CapabilityBoundingSet= starts it; exec all the way, so that ft_bg's PID is flowtun's.
bounded() {
	local w=$FT_TMP/flowtun-$2
	printf '#!/bin/sh\nexec setpriv --bounding-set=%s %s "$@"\n' "$1" "$(realpath "$FLOWTUN")" >"$w"
	chmod 0700 "$w"
	echo "$w"
}
ft_stop "$pid_b" "$FT_TMP/b.conf.log" || ft_fail "flowtun b did not exit 0 on SIGTERM"
cat "$FT_TMP/b.conf.log" >>"$FT_TMP/earlier.log"
# The unit's own CapabilityBoundingSet= line, in setpriv's syntax (-all,+net_admin,...).
unit_caps=$(sed -n 's/^CapabilityBoundingSet=//p' "${top_srcdir:-$(dirname "$0")/../..}/tools/flowtun@.service.in" |
	tr 'A-Z ' 'a-z\n' | sed -n 's/^cap_/+/p' | paste -sd, -)
case $unit_caps in *+net_admin*+ipc_lock*) ;; *) ft_fail "the unit's bounding set is '$unit_caps'" ;; esac
unit=$(bounded "-all,$unit_caps" unit)
FLOWTUN=$unit ft_up "$b" "$FT_TMP/b.conf"
pid_b=$FT_LAST_PID
check_dropped "$pid_b" "$FT_TMP/b.conf.log"
echo "PersistentKeepalive = 15" >>"$FT_TMP/b.conf"
out=$(reload "$pid_b" "$FT_TMP/b.conf.log")
grep -q "reloaded " <<<"$out" || ft_fail "b under the unit's bounding set: $out"
[ "$(keepalive "$pid_b")" = 15 ] || ft_fail "b's keepalive is $(keepalive "$pid_b"), want 15"
ft_ping "$b" 100.64.0.1 || ft_fail "b (unit bounding set) cannot ping 100.64.0.1"
# A ListenPort below 1024 through the API after the drop (wg-quick's order): CAP_NET_BIND_SERVICE.
ft_wg "$pid_b" set tun0 listen-port 500 || ft_fail "b cannot move to port 500 after the drop"
[ "$(ft_wg "$pid_b" show tun0 listen-port)" = 500 ] ||
	ft_fail "b's port is $(ft_wg "$pid_b" show tun0 listen-port), want 500"
ft_stop "$pid_b" "$FT_TMP/b.conf.log" || ft_fail "b (unit bounding set) did not exit 0"
cat "$FT_TMP/b.conf.log" >>"$FT_TMP/earlier.log"

# CAP_NET_ADMIN alone (a unit from before the drop): by default the tunnel stays the limited
# root it was started as, and says so; with a user asked for by name it refuses to start rather
# than serve half-dropped.
lone=$(bounded -all,+net_admin netadmin)
log_b=$FT_TMP/b.conf.log
: >"$log_b"
FLOWTUN=$lone ft_up "$b" "$FT_TMP/b.conf"
pid_b=$FT_LAST_PID
grep -q "cannot drop to .*staying root" "$log_b" ||
	ft_fail "b with CAP_NET_ADMIN alone did not say it stays root: $(cat "$log_b")"
want_field "/proc/$pid_b/status" Uid "0 0 0 0"
want_field "/proc/$pid_b/status" CapEff 0000000000001000
[ -z "$(children "$pid_b")" ] || ft_fail "b staying root has children: $(children "$pid_b")"
ft_ping "$b" 100.64.0.1 || ft_fail "b (CAP_NET_ADMIN alone) cannot ping 100.64.0.1"
ft_stop "$pid_b" "$log_b" || ft_fail "b (CAP_NET_ADMIN alone) did not exit 0"
cat "$log_b" >>"$FT_TMP/earlier.log"
: >"$log_b"
ft_bg ft_ns_exec "$b" "$lone" up --interface tun0 --user nobody "$FT_TMP/b.conf" 2>>"$log_b"
pid_b=$FT_LAST_PID
rc=0
# Our own child stays a zombie until waited for: kill -0 would still find it.
ft_wait_for 10 sh -c "[ ! -e /proc/$pid_b ] || [ \$(awk '{print \$3}' /proc/$pid_b/stat) = Z ]" ||
	ft_fail "b --user nobody with CAP_NET_ADMIN alone still runs: $(cat "$log_b")"
wait "$pid_b" || rc=$?
[ "$rc" -ne 0 ] || ft_fail "b --user nobody with CAP_NET_ADMIN alone exited 0: $(cat "$log_b")"
grep -q "User = root" "$log_b" || ft_fail "b's message does not name 'User = root': $(cat "$log_b")"
! grep -q "running as" "$log_b" || ft_fail "b claims to run dropped: $(cat "$log_b")"
! ip -n "$b" link show tun0 >/dev/null 2>&1 || ft_fail "tun0 left in $b after the failed start"
! ip netns pids "$b" | grep -q . || ft_fail "processes left in $b: $(ip netns pids "$b")"
pass "unit bounding set: b up, dropped, reloaded (keepalive 15), pinged, moved to port 500;" \
	"CAP_NET_ADMIN alone:" \
	"stays root by default (pinged), --user nobody exits $rc," \
	"'$(grep -o 'cannot [^(]*' "$log_b" | head -n 1 | sed 's/ *$//')'"

ft_stop "$pid_a" "$log_a" || ft_fail "flowtun a (root) did not exit 0 on SIGTERM"
grep -qiE "leak|AddressSanitizer|runtime error|still had handles" "$FT_TMP"/*.log "$dir"/*.log &&
	ft_fail "sanitizer or leak report: $(cat "$FT_TMP"/*.log "$dir"/*.log)"
echo "drop: $passed passed, 0 failed"
