#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Endpoints at run time: names resolved off the loop, reloads that apply what they can, and
# an endpoint the peer roamed to kept over the configured one.
#
#   namespace $FT_PREFIX-a                           namespace $FT_PREFIX-b
#   +-----------------------------+                  +-----------------------------+
#   | tun0 100.64.0.1/24          |                  | tun0 100.64.0.2/24          |
#   |   flowtun up a.conf (nobody,|                  |   flowtun up b.conf         |
#   |    seccomp)                 |                  |                             |
#   |   /etc/resolv.conf: 127.0.0.1 (its own mount namespace)                      |
#   |   fake-dns.py on 127.0.0.1:53, answers 2.5 s late                            |
#   | veth-a 198.18.0.1/24 -------+------ veth ------+------- veth-b 198.18.0.2/24 |
#   | dum0 198.18.1.1/24 ---------+------ veth ------+------- dum1 (no address)    |
#   |   peer c's path (no c)      |                  |                             |
#   +-----------------------------+                  +-----------------------------+
#
# 1. Roaming wins over the configuration until it changes: b moves to 198.18.0.12 and pings
#    a, so a learns b's new endpoint; then veth-a goes down and up (link-up re-resolves the
#    configured endpoint 198.18.0.2) and a SIGHUP with the same file: a keeps 198.18.0.12
#    and reaches b at once.
# 2. A slow resolver does not stop the data plane: while a pings b every 20 ms, a SIGHUP adds
#    peer c with Endpoint peer-c.flowtun.test (answered 2.5 s late), then dum0, c's path,
#    goes down and up (link-up resolves it again). The longest gap between two answers to the
#    pings stays under a second, and c's endpoint is set when the answer comes.
# 3. A reload applies everything it can: peer d's name does not resolve, peer e after it is
#    added anyway; d is there whole (its AllowedIPs) without an endpoint, and the failure is
#    logged with the name.
# FT_ENDPOINT_PARTS="2 3" runs some of the parts only.
# shellcheck disable=SC2154 # a, b, ka, kb, pa, pb: set by ft_pair (tests/lib.sh)
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib.sh"

ft_require_root
ft_require_cmd ip ping python3 awk wg nsenter
[ -x "$FLOWTUN" ] || ft_fail "no flowtun binary at $FLOWTUN"
DNS=${top_srcdir:-$(dirname "$0")/../..}/tests/netns/fake-dns.py
DELAY=2.5

ft_pair
ft_veth "$a" dum0 "$b" dum1
ip -n "$a" addr add 198.18.1.1/24 dev dum0
kc=$("$FLOWTUN" genkey) kd=$("$FLOWTUN" genkey) ke=$("$FLOWTUN" genkey)
pc=$("$FLOWTUN" pubkey <<<"$kc") pd=$("$FLOWTUN" pubkey <<<"$kd") pe=$("$FLOWTUN" pubkey <<<"$ke")

ft_bg ip netns exec "$a" python3 "$DNS" 127.0.0.1 53 "$DELAY" peer-c.flowtun.test=198.18.1.3 \
	>"$FT_TMP/dns.log" 2>&1
ft_wait_for 20 grep -qx ready "$FT_TMP/dns.log" || ft_fail "fake-dns.py: $(cat "$FT_TMP/dns.log")"
printf 'nameserver 127.0.0.1\noptions attempts:1 timeout:10\n' >"$FT_TMP/resolv.conf"

# a.conf with b and the extra [Peer] sections given.
conf_a() {
	ft_conf "$FT_TMP/a.conf" "$ka" 100.64.0.1/24 "$pb" 100.64.0.2/32 198.18.0.2:51820 \
		"LinkWatch = veth-a, dum0
LinkPollInterval = 1"
	printf '%s\n' "$@" >>"$FT_TMP/a.conf"
}
conf_a
ft_conf "$FT_TMP/b.conf" "$kb" 100.64.0.2/24 "$pa" 100.64.0.1/32 198.18.0.1:51820
ft_up "$b" "$FT_TMP/b.conf" --no-link-monitor
pid_b=$FT_LAST_PID

# flowtun a as ft_up starts it, with the fake resolver in its own mount namespace, dropped to
# nobody under the seccomp allow-list: the resolver runs in libuv's pool threads, the kicks
# ask rtnetlink, and a system call missing from the list would kill it.
log_a=$FT_TMP/a.conf.log
# shellcheck disable=SC2016 # expanded by the inner shell
ft_bg ip netns exec "$a" sh -c 'mount --bind "$0" /etc/resolv.conf && mkdir -p /run/wireguard &&
	mount -t tmpfs -o mode=0755,size=1m flowtun-test /run/wireguard && exec "$@"' \
	"$FT_TMP/resolv.conf" "$FLOWTUN" up --interface tun0 --user nobody --seccomp on \
	"$FT_TMP/a.conf" 2>>"$log_a"
pid_a=$FT_LAST_PID
ft_wait_for 10 grep -q "tun0 is up" "$log_a" || ft_fail "flowtun a did not start: $(cat "$log_a")"
ft_wait_for 5 grep -qx "flowtun: underlay dum0: link" "$log_a" ||
	ft_fail "flowtun a does not watch dum0: $(cat "$log_a")"

endpoint_of() { ft_wg "$pid_a" show tun0 endpoints | awk -v k="$1" '$1 == k {print $2}'; }
allowed_of() { ft_wg "$pid_a" show tun0 allowed-ips | awk -v k="$1" '$1 == k {print $2}'; }
# reload: SIGHUP a, wait for its outcome ("reloaded ..." or "reload: ...").
reload() {
	local before
	before=$(grep -c 'reloaded\|reload:' "$log_a" || true)
	kill -HUP "$pid_a"
	ft_wait_for 5 sh -c "[ \$(grep -c 'reloaded\|reload:' '$log_a') -gt $before ]" ||
		ft_fail "no reload outcome after SIGHUP: $(tail -5 "$log_a")"
}
link_count() { grep -cx "flowtun: underlay $1: link" "$log_a" || true; }
part() { [[ " ${FT_ENDPOINT_PARTS:-1 2 3} " == *" $1 "* ]]; }

# ---- 1. the roamed endpoint stays --------------------------------------------------------
ft_ping "$a" 100.64.0.2 || ft_fail "a cannot ping b"
if part 1; then
ip -n "$b" addr flush dev veth-b
ip -n "$b" addr add 198.18.0.12/24 dev veth-b
ft_ping "$b" 100.64.0.1 || ft_fail "b cannot ping a from its new address"
[ "$(endpoint_of "$pb")" = 198.18.0.12:51820 ] ||
	ft_fail "a did not learn b's new endpoint: $(endpoint_of "$pb")"
n=$(link_count veth-a)
ip -n "$a" link set veth-a down
ip -n "$a" link set veth-a up
ft_wait_for 5 sh -c "[ \$(grep -cx 'flowtun: underlay veth-a: link' '$log_a') -gt $n ]" ||
	ft_fail "flowtun a did not see veth-a come back"
ip netns exec "$a" ping -c 1 -W 2 100.64.0.2 >/dev/null ||
	ft_fail "no answer from b after a's link-up (endpoint now $(endpoint_of "$pb"))"
[ "$(endpoint_of "$pb")" = 198.18.0.12:51820 ] ||
	ft_fail "link-up replaced b's roamed endpoint with $(endpoint_of "$pb")"
reload
[ "$(endpoint_of "$pb")" = 198.18.0.12:51820 ] ||
	ft_fail "a reload of the same file replaced b's roamed endpoint: $(endpoint_of "$pb")"
ft_log "b's roamed endpoint 198.18.0.12 kept across a's link-up and a reload"
fi

# ---- 2. a slow resolver, the data plane goes on -------------------------------------------
if part 2; then
ft_bg ip netns exec "$a" ping -D -n -i 0.02 -W 1 -w 12 100.64.0.2 >"$FT_TMP/ping" 2>&1
ping_pid=$FT_LAST_PID
sleep 0.5
conf_a "" "[Peer]" "PublicKey = $pc" "AllowedIPs = 100.64.0.3/32" \
	"Endpoint = peer-c.flowtun.test:51820"
t0=$(ft_now_ms)
reload
ft_wait_for 8 sh -c "[ \"\$(nsenter --target $pid_a --mount --net wg show tun0 endpoints |
	awk '\$1 == \"$pc\" {print \$2}')\" = 198.18.1.3:51820 ]" ||
	ft_fail "c's name never set its endpoint: '$(endpoint_of "$pc")'; $(tail -3 "$log_a")"
ft_log "reload: c's endpoint set $(($(ft_now_ms) - t0)) ms after SIGHUP (resolver delay ${DELAY} s)"
queries=$(grep -c "query peer-c" "$FT_TMP/dns.log")
n=$(link_count dum0)
ip -n "$a" link set dum0 down
ip -n "$a" link set dum0 up
ft_wait_for 5 sh -c "[ \$(grep -cx 'flowtun: underlay dum0: link' '$log_a') -gt $n ]" ||
	ft_fail "flowtun a did not see dum0 come back"
ft_wait_for 5 sh -c "[ \$(grep -c 'query peer-c' '$FT_TMP/dns.log') -gt $queries ]" ||
	ft_fail "dum0's link-up did not resolve c's name again"
sleep "$DELAY"
sleep 0.5
t1=$(ft_now_ms)
kill "$ping_pid" 2>/dev/null || true
wait "$ping_pid" 2>/dev/null || true
# The longest gap between two answers from t0 - 0.5 s to t1, in ms, and how many came.
read -r gap answers < <(awk -v from="$((t0 - 500))" -v to="$t1" -F'[][]' '/bytes from/ {
	ms = $2 * 1000; if (ms < from || ms > to) next
	if (last && ms - last > gap) gap = ms - last; last = ms; n++ }
	END { printf "%d %d\n", gap, n }' "$FT_TMP/ping")
ft_log "pings during two slow resolutions: $answers answers, longest gap ${gap} ms"
[ "$answers" -gt 50 ] || ft_fail "only $answers ping answers during the resolutions"
[ "$gap" -lt 1000 ] || ft_fail "the data plane stopped for ${gap} ms while a name resolved"
fi

# ---- 3. a reload applies what it can -----------------------------------------------------
if part 3; then
conf_a "" "[Peer]" "PublicKey = $pc" "AllowedIPs = 100.64.0.3/32" \
	"Endpoint = peer-c.flowtun.test:51820" \
	"" "[Peer]" "PublicKey = $pd" "AllowedIPs = 100.64.0.4/32" \
	"Endpoint = bad-d.flowtun.test:51820" \
	"" "[Peer]" "PublicKey = $pe" "AllowedIPs = 100.64.0.5/32" "Endpoint = 198.18.0.5:51820"
reload
ft_wait_for 5 grep -q "cannot resolve the endpoint 'bad-d.flowtun.test'" "$log_a" ||
	ft_fail "d's failure is not reported: $(tail -5 "$log_a")"
if [ "$(allowed_of "$pe")" != 100.64.0.5/32 ] || [ "$(endpoint_of "$pe")" != 198.18.0.5:51820 ]; then
	ft_fail "the peer after d was not applied: $(ft_wg "$pid_a" show tun0 dump)"
fi
[ "$(allowed_of "$pd")" = 100.64.0.4/32 ] ||
	ft_fail "d is half-added (AllowedIPs '$(allowed_of "$pd")')"
[ "$(endpoint_of "$pd")" = "(none)" ] || ft_fail "d has an endpoint: $(endpoint_of "$pd")"
[ "$(endpoint_of "$pc")" != "(none)" ] || ! part 2 || ft_fail "c lost its endpoint"
ip netns exec "$a" ping -c 1 -W 2 100.64.0.2 >/dev/null || ft_fail "b unreachable after the reload"
ft_log "reload with an unresolvable name: the peers after it applied, d whole without endpoint"
fi

ft_stop "$pid_a" "$log_a" || ft_fail "flowtun a did not exit cleanly on SIGTERM"
ft_stop "$pid_b" "$FT_TMP/b.conf.log" || ft_fail "flowtun b did not exit cleanly on SIGTERM"
echo "endpoint: 1 passed, 0 failed"
