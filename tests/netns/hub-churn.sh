#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# A hub's whole peer set replaced while it runs, as a real hub is: dropped to nobody (no
# CAP_IPC_LOCK any more) under a low locked-memory limit, as a service manager or ulimit -l
# leaves it, with K peers that all have a preshared key (secrets in the locked arena).
#   1. wg setconf with K other peers: exactly the new set, the old one gone;
#   2. SIGHUP back to the file: exactly the file's K peers again, nothing refused;
#   3. wg setconf with half of each set, then wg set ... remove of a quarter: exactly what
#      the requests say, in the order of addition.
# Each step's time is logged (the benchmark is tests/bench/swarm-bench); the assertions are on
# what the hub holds afterwards, compared with wg(8)'s view of the request.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib.sh"

ft_require_root
ft_require_cmd ip wg prlimit sort comm
[ -x "$FLOWTUN" ] || ft_fail "no flowtun binary at $FLOWTUN"
swarm=${top_builddir:-.}/tests/bench/peer-swarm
[ -x "$swarm" ] || ft_fail "no $swarm (make check builds it)"

K=${FT_CHURN_PEERS:-3000}
# 512 KiB: two of the arena's chunks. Root locks what it needs at start (CAP_IPC_LOCK); what
# the hub locks after the privilege drop is what this limit, carried across the drop, allows.
MEMLOCK=524288
# shellcheck disable=SC2034 # read by ft_up (tests/lib.sh)
FT_UP_TIMEOUT=60

hub=$FT_PREFIX-hub
ft_netns hub >/dev/null

key=$("$FLOWTUN" genkey)
a=$FT_TMP/a.conf b=$FT_TMP/b.conf mix=$FT_TMP/mix.conf
(
	umask 077
	printf '[Interface]\nPrivateKey = %s\nListenPort = 51820\nAddress = 100.64.0.1/10\n' "$key"
	"$swarm" --emit-config --peers "$K" --psk --seed churn-a
) >"$a" || ft_fail "peer-swarm --emit-config failed"
(
	umask 077
	printf '[Interface]\nPrivateKey = %s\nListenPort = 51820\n' "$key"
	"$swarm" --emit-config --peers "$K" --psk --seed churn-b
) >"$b" || ft_fail "peer-swarm --emit-config failed"
keys_of() { awk '$1 == "PublicKey" {print $3}' "$1"; }
[ "$(keys_of "$a" | sort -u | wc -l)" -eq "$K" ] || ft_fail "config a does not hold $K keys"
[ -z "$(comm -12 <(keys_of "$a" | sort) <(keys_of "$b" | sort))" ] ||
	ft_fail "the two seeds gave common keys"

# flowtun under the limit; exec keeps the PID that ft_up records.
wrap=$FT_TMP/flowtun-memlock
printf '#!/bin/sh\nexec prlimit --memlock=%s:%s %s "$@"\n' "$MEMLOCK" "$MEMLOCK" "$FLOWTUN" >"$wrap"
chmod 755 "$wrap"
t0=$(ft_now_ms)
FLOWTUN=$wrap ft_up "$hub" "$a"
pid=$FT_LAST_PID
ft_log "the hub with $K peers started in $(($(ft_now_ms) - t0)) ms, RSS $(ft_rss_kb "$pid") kB"
# The drop follows "tun0 is up".
ft_wait_for 30 grep -q "running as" "$a.log" || ft_fail "no privilege drop logged: $(tail -3 "$a.log")"
[ "$(awk '$1 == "Uid:" {print $2}' "/proc/$pid/status")" -ne 0 ] ||
	ft_fail "the hub did not drop root (this test is about the dropped hub)"
grep -q "Max locked memory *$MEMLOCK " "/proc/$pid/limits" ||
	ft_log "note: the hub's locked-memory limit is $(awk '/Max locked memory/ {print $4}' \
		"/proc/$pid/limits") after the drop"

# What the hub holds, in its order (wg show lists peers in the order of addition).
held() { ft_wg "$pid" show tun0 peers; }
want_exactly() { # $1: a file of keys in order, $2: what
	held >"$FT_TMP/held"
	cmp -s "$1" "$FT_TMP/held" || ft_fail "$2: the hub holds $(wc -l <"$FT_TMP/held") peers," \
		"$(comm -13 <(sort "$1") <(sort "$FT_TMP/held") | wc -l) not asked for," \
		"$(comm -23 <(sort "$1") <(sort "$FT_TMP/held") | wc -l) missing (or out of order);" \
		"log: $(tail -3 "$a.log")"
}
keys_of "$a" >"$FT_TMP/keys-a"
keys_of "$b" >"$FT_TMP/keys-b"
want_exactly "$FT_TMP/keys-a" "after start"

# 1. Every peer replaced through the userspace API.
sed '/^Address/d' "$b" >"$FT_TMP/b.wg"
t0=$(ft_now_ms)
ft_wg "$pid" setconf tun0 "$FT_TMP/b.wg" || ft_fail "wg setconf of $K new peers failed"
ft_log "wg setconf replacing $K peers: $(($(ft_now_ms) - t0)) ms"
want_exactly "$FT_TMP/keys-b" "after wg setconf"

# 2. Back to the file by SIGHUP: its PSKs are read again, after the drop.
t0=$(ft_now_ms)
kill -HUP "$pid"
ft_wait_for 60 grep -qE "reloaded|reload:" "$a.log" || ft_fail "no word of the reload in the log"
ft_log "SIGHUP reload replacing $K peers: $(($(ft_now_ms) - t0)) ms"
! grep -qE "reload:" "$a.log" || ft_fail "the reload was refused: $(grep 'reload:' "$a.log")"
want_exactly "$FT_TMP/keys-a" "after SIGHUP"

# 3. Half of each set (the first half of a stays where it was), then a quarter removed.
half=$((K / 2))
{
	printf '[Interface]\nPrivateKey = %s\nListenPort = 51820\n' "$key"
	awk -v n="$half" '/^\[Peer\]/ {p++} p <= n' <(sed -n '/^\[Peer\]/,$p' "$a")
	awk -v n="$half" '/^\[Peer\]/ {p++} p <= n' <(sed -n '/^\[Peer\]/,$p' "$b")
} >"$mix"
{ head -n "$half" "$FT_TMP/keys-a"; head -n "$half" "$FT_TMP/keys-b"; } >"$FT_TMP/keys-mix"
t0=$(ft_now_ms)
ft_wg "$pid" setconf tun0 "$mix" || ft_fail "wg setconf of the mixed set failed"
ft_log "wg setconf keeping $half, replacing $half: $(($(ft_now_ms) - t0)) ms"
want_exactly "$FT_TMP/keys-mix" "after the mixed wg setconf"
# Peer i of either set has the same AllowedIPs (100.64.0.2 + i): applied in the request's
# order, b's half took them from a's half, which kept none (wg's and the kernel's rule).
ft_wg "$pid" show tun0 allowed-ips | tr "\t" " " >"$FT_TMP/ips"
awk -v n="$half" '$1 == "PublicKey" {k = $3; c++} $1 == "AllowedIPs" && c <= n {print k, $3}' \
	<(sed -n '/^\[Peer\]/,$p' "$b") >"$FT_TMP/ips-want"
head -n "$half" "$FT_TMP/keys-a" | sed 's/$/ (none)/' >>"$FT_TMP/ips-want"
cmp -s <(sort "$FT_TMP/ips-want") <(sort "$FT_TMP/ips") ||
	ft_fail "allowed IPs after the mixed wg setconf: $(diff <(sort "$FT_TMP/ips-want") \
		<(sort "$FT_TMP/ips") | head -5)"

args=() i=0
while read -r k; do
	i=$((i + 1))
	[ $((i % 4)) -eq 0 ] && args+=(peer "$k" remove)
done <"$FT_TMP/keys-mix"
awk 'NR % 4' "$FT_TMP/keys-mix" >"$FT_TMP/keys-left"
t0=$(ft_now_ms)
ft_wg "$pid" set tun0 "${args[@]}" || ft_fail "wg set ... remove failed"
ft_log "wg set removing $((${#args[@]} / 3)) peers: $(($(ft_now_ms) - t0)) ms"
want_exactly "$FT_TMP/keys-left" "after wg set ... remove"

# Removed and re-added in one request: the kernel's order, the peer stays (with its key).
k1=$(head -n 1 "$FT_TMP/keys-left")
ft_wg "$pid" set tun0 peer "$k1" remove peer "$k1" allowed-ips 100.127.255.1/32 ||
	ft_fail "wg set remove + add of one peer failed"
{ tail -n +2 "$FT_TMP/keys-left"; echo "$k1"; } >"$FT_TMP/keys-readd"
want_exactly "$FT_TMP/keys-readd" "after a peer removed and added again in one request"
[ "$(ft_wg "$pid" show tun0 allowed-ips | awk -v k="$k1" '$1 == k {print $2}')" = \
	100.127.255.1/32 ] || ft_fail "the re-added peer does not have its new allowed IP only"

kill -0 "$pid" || ft_fail "the hub died"
ft_stop "$pid" "$a.log" || ft_fail "the hub did not exit cleanly on SIGTERM"
grep -qiE "AddressSanitizer|runtime error|still had handles" "$a.log" &&
	ft_fail "sanitizer report: $(tail -20 "$a.log")"
echo "hub-churn: 1 passed, 0 failed"
