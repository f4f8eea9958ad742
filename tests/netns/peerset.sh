#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Userspace API requests that change the peer set while datagrams wait in the send batch. A
# keepalive switched on sends at once (through the protocol's callback, into the send batch,
# which goes out when the request ends); the same request then adds or removes peers. The
# batch must not hold a pointer to a peer that moved or went (issue 17, item 4): run under the
# clang ASan build, a write to freed memory aborts flowtun with a report; a read of a peer
# removed meanwhile crashes any build.
#
#   namespace $FT_PREFIX-a                           namespace $FT_PREFIX-b
#   +-----------------------------+                  +-----------------------------+
#   | tun0 100.64.0.1/24          |                  | tun0 100.64.0.2/24          |
#   |   flowtun up a.conf (b)     |                  |   flowtun up b.conf (a)     |
#   |   + peers c, d by wg set    |                  |                             |
#   | veth-a 198.18.0.1/24 -------+------ veth ------+------- veth-b 198.18.0.2/24 |
#   +-----------------------------+                  +-----------------------------+
# c and d exist only in a's configuration (their endpoints 198.18.0.3 and .4 do not answer).
# shellcheck disable=SC2154 # a, b, ka, kb, pa, pb: set by ft_pair (tests/lib.sh)
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib.sh"

ft_require_root
ft_require_cmd ip ping wg nsenter
[ -x "$FLOWTUN" ] || ft_fail "no flowtun binary at $FLOWTUN"

ft_pair
pc=$("$FLOWTUN" pubkey <<<"$("$FLOWTUN" genkey)")
pd=$("$FLOWTUN" pubkey <<<"$("$FLOWTUN" genkey)")
ft_conf "$FT_TMP/a.conf" "$ka" 100.64.0.1/24 "$pb" 100.64.0.2/32 198.18.0.2:51820 \
	"FlowLog = $FT_TMP/flows-a.jsonl"
ft_conf "$FT_TMP/b.conf" "$kb" 100.64.0.2/24 "$pa" 100.64.0.1/32 198.18.0.1:51820
ft_up "$a" "$FT_TMP/a.conf"
pid_a=$FT_LAST_PID
ft_up "$b" "$FT_TMP/b.conf"
pid_b=$FT_LAST_PID

# alive WHAT: a still runs and answers the API.
alive() {
	kill -0 "$pid_a" 2>/dev/null && ft_wg "$pid_a" show tun0 peers >/dev/null 2>&1 || {
		{ grep -A3 "ERROR: AddressSanitizer" "$FT_TMP/a.conf.log" || tail -n 20 "$FT_TMP/a.conf.log"; } |
			sed 's/^/  | /' >&2
		ft_fail "$1: flowtun a died"
	}
}

# 1. b's keepalive goes on (a handshake initiation to b waits in the batch), then c is added
#    after it: the peer storage grows while the batch points at b.
ft_wg "$pid_a" set tun0 peer "$pb" persistent-keepalive 1 \
	peer "$pc" allowed-ips 100.64.0.3/32 endpoint 198.18.0.3:51820 || rc=$?
alive "keepalive on for b, then c added"
[ "${rc:-0}" = 0 ] || ft_fail "wg set 1 failed"
# 2. c's keepalive goes on (an initiation to c waits in the batch), then c is removed in the
#    same request.
ft_wg "$pid_a" set tun0 peer "$pc" persistent-keepalive 1 peer "$pc" remove || rc=$?
alive "keepalive on for c, then c removed"
[ "${rc:-0}" = 0 ] || ft_fail "wg set 2 failed"
# 3. d added with a keepalive (it sends at once), then b, before it, removed: whatever moves
#    when a peer goes, d's datagram is still d's.
ft_wg "$pid_a" set tun0 peer "$pd" allowed-ips 100.64.0.4/32 endpoint 198.18.0.4:51820 \
	persistent-keepalive 1 peer "$pb" remove || rc=$?
alive "d added with a keepalive, then b removed"
[ "${rc:-0}" = 0 ] || ft_fail "wg set 3 failed"
[ "$(ft_wg "$pid_a" show tun0 peers)" = "$pd" ] || ft_fail "a's peers are not just d"
# 4. The same through SIGHUP: the file brings b back with a keepalive and drops d.
ft_conf "$FT_TMP/a.conf" "$ka" 100.64.0.1/24 "$pb" 100.64.0.2/32 198.18.0.2:51820 \
	"FlowLog = $FT_TMP/flows-a.jsonl"
echo "PersistentKeepalive = 1" >>"$FT_TMP/a.conf"
kill -HUP "$pid_a"
ft_wait_for 5 sh -c "[ \"\$(nsenter --target $pid_a --mount --net wg show tun0 peers)\" = '$pb' ]" ||
	ft_fail "SIGHUP did not bring b back in place of d"
alive "SIGHUP"
ft_ping "$a" 100.64.0.2 || ft_fail "a cannot reach b after the changes"
ft_log "four requests that change peers around a waiting datagram: a survived and works"

ft_stop "$pid_a" "$FT_TMP/a.conf.log" || ft_fail "flowtun a did not exit cleanly"
ft_stop "$pid_b" "$FT_TMP/b.conf.log" || ft_fail "flowtun b did not exit cleanly"
! grep -qiE "AddressSanitizer|runtime error|leak" "$FT_TMP"/*.log ||
	ft_fail "sanitizer report: $(cat "$FT_TMP"/*.log)"
echo "peerset: 4 passed, 0 failed"
