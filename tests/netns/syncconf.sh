#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Re-applying an unchanged configuration keeps every session, as with the kernel and
# wireguard-go: `wg showconf | wg syncconf`, `wg setconf` with the same file, and `wg set
# private-key` with the key the device has all send private_key=, and none of them may drop
# the sessions (a management tool that syncs its config would otherwise cut all traffic each
# time). Measured by the real wg(8): the latest handshake does not move, and flowtun's own
# handshake_completed counter does not grow.
#
#   namespace $FT_PREFIX-a                           namespace $FT_PREFIX-b
#   +-----------------------------+                  +-----------------------------+
#   | tun0 100.64.0.1/24          |                  | tun0 100.64.0.2/24          |
#   |   flowtun up a.conf         |                  |   flowtun up b.conf         |
#   | veth-a 198.18.0.1/24 -------+------ veth ------+------- veth-b 198.18.0.2/24 |
#   +-----------------------------+                  +-----------------------------+
# shellcheck disable=SC2154 # a, b, ka, kb, pa, pb: set by ft_pair (tests/lib.sh)
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib.sh"

ft_require_root
ft_require_cmd ip ping wg nsenter
[ -x "$FLOWTUN" ] || ft_fail "no flowtun binary at $FLOWTUN"

ft_pair
ft_conf "$FT_TMP/a.conf" "$ka" 100.64.0.1/24 "$pb" 100.64.0.2/32 198.18.0.2:51820
ft_conf "$FT_TMP/b.conf" "$kb" 100.64.0.2/24 "$pa" 100.64.0.1/32 198.18.0.1:51820
ft_up "$a" "$FT_TMP/a.conf"
pid_a=$FT_LAST_PID
ft_up "$b" "$FT_TMP/b.conf"
pid_b=$FT_LAST_PID

ft_ping "$a" 100.64.0.2 || ft_fail "a cannot ping b"
hs0=$(ft_wg "$pid_a" show tun0 latest-handshakes | awk '{print $2}')
done0=$(ft_counter "$pid_a" "$FT_TMP/a.conf.log" handshake_completed)
[ "$hs0" -gt 0 ] && [ "$done0" -ge 1 ] || ft_fail "no handshake to start from ($hs0, $done0)"
# latest handshake has a resolution of a second: a new one must be able to show as a change.
sleep 1.1

(umask 077 && printf '%s\n' "$ka" >"$FT_TMP/a.key")
ft_wg "$pid_a" showconf tun0 >"$FT_TMP/a.showconf" || ft_fail "wg showconf failed"
grep -q "^PrivateKey = $ka$" "$FT_TMP/a.showconf" || ft_fail "showconf has no PrivateKey"
for how in syncconf setconf set; do
	case $how in
	syncconf) ft_wg "$pid_a" syncconf tun0 "$FT_TMP/a.showconf" ;;
	setconf) ft_wg "$pid_a" setconf tun0 "$FT_TMP/a.showconf" ;;
	set) ft_wg "$pid_a" set tun0 private-key "$FT_TMP/a.key" ;;
	esac || ft_fail "wg $how failed"
	# Traffic after the sync: a dropped session would need a new handshake here.
	ip netns exec "$a" ping -c 2 -i 0.2 -W 2 100.64.0.2 >/dev/null ||
		ft_fail "wg $how: a cannot ping b any more"
	hs=$(ft_wg "$pid_a" show tun0 latest-handshakes | awk '{print $2}')
	done1=$(ft_counter "$pid_a" "$FT_TMP/a.conf.log" handshake_completed)
	ft_log "wg $how: latest handshake $hs0 -> $hs, handshakes completed $done0 -> $done1"
	[ "$hs" = "$hs0" ] || ft_fail "wg $how with the same private key moved the latest handshake"
	[ "$done1" = "$done0" ] || ft_fail "wg $how with the same private key made a new handshake"
done
# The sync changed nothing else either.
ft_wg "$pid_a" showconf tun0 >"$FT_TMP/a.showconf2"
diff -u "$FT_TMP/a.showconf" "$FT_TMP/a.showconf2" >&2 || ft_fail "showconf differs after sync"

# A different key still takes effect: the sessions made with the old identity go.
(umask 077 && "$FLOWTUN" genkey >"$FT_TMP/new.key")
ft_wg "$pid_a" set tun0 private-key "$FT_TMP/new.key" || ft_fail "wg set private-key failed"
[ "$(ft_wg "$pid_a" show tun0 private-key)" = "$(cat "$FT_TMP/new.key")" ] ||
	ft_fail "the new private key was not taken"
! ip netns exec "$a" ping -c 1 -W 1 100.64.0.2 >/dev/null 2>&1 ||
	ft_fail "a reaches b with a key b does not know: the old session survived a new key"
ft_log "a new private key: the old session is gone, as it must be"

ft_stop "$pid_a" "$FT_TMP/a.conf.log" || ft_fail "flowtun a did not exit cleanly"
ft_stop "$pid_b" "$FT_TMP/b.conf.log" || ft_fail "flowtun b did not exit cleanly"
! grep -qiE "AddressSanitizer|runtime error|leak" "$FT_TMP"/*.log ||
	ft_fail "sanitizer report: $(cat "$FT_TMP"/*.log)"
echo "syncconf: 4 passed, 0 failed"
