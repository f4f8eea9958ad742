#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The device layer in a namespace of its own: tests/netns/tundev-probe opens tun0 and
# configures it through rtnetlink; this script checks the result with ip(8), pings through
# the probe when ping(8) is installed, and checks that nothing is left behind.
#
#   +---------------- namespace $FT_PREFIX-dev -----------------+
#   |  tundev-probe ==fd== tun0  100.64.0.1/24  fd00::1/64      |
#   |                      routes 100.64.9.0/24, fd00:9::/64    |
#   |  echo requests to 100.64.0.2 / fd00::2 go into tun0; the  |
#   |  probe answers them by writing the replies to its fd      |
#   +-----------------------------------------------------------+
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib.sh"

ft_require_root
ft_require_cmd ip
probe=${top_builddir:-.}/tests/netns/tundev-probe
[ -x "$probe" ] || ft_fail "no probe at $probe (make check builds it)"

# Not ns=$(ft_netns dev): a command substitution's subshell would keep the namespace off the
# cleanup list.
ft_netns dev >/dev/null
ns="$FT_PREFIX-dev"
mkfifo "$FT_TMP/in"
# Hold the fifo open read-write so that neither end blocks and the probe sees no early EOF.
exec 3<>"$FT_TMP/in"
# A background job's stdin is /dev/null unless the job itself redirects it, hence sh -c; exec
# keeps one PID from sh through ip netns exec to the probe.
ft_bg sh -c 'exec ip netns exec "$1" "$2" <"$3" >"$4" 2>&1' sh "$ns" "$probe" \
	"$FT_TMP/in" "$FT_TMP/out"
probe_pid=$FT_LAST_PID

# ft_expect LINE: wait until the probe printed LINE; fail with its output if it died first.
ft_expect() {
	local deadline=$(( $(ft_now_ms) + 20000 ))
	until grep -qx "$1" "$FT_TMP/out"; do
		# Dead or late, look once more: it may have printed the line just before exiting.
		if { ! kill -0 "$probe_pid" 2>/dev/null || [ "$(ft_now_ms)" -gt "$deadline" ]; } &&
			! grep -qx "$1" "$FT_TMP/out"; then
			cat "$FT_TMP/out" >&2
			ft_fail "the probe did not print '$1'"
		fi
		sleep 0.05
	done
}

ft_expect configured
sed 's/^/  probe: /' "$FT_TMP/out" >&2

addrs=$(ip -n "$ns" addr show dev tun0)
routes4=$(ip -n "$ns" -4 route show)
routes6=$(ip -n "$ns" -6 route show)
link=$(ip -n "$ns" -d link show dev tun0)
for want in "mtu 1420" "state UNKNOWN" "tun type tun pi off vnet_hdr off"; do
	grep -q "$want" <<<"$link" || ft_fail "tun0 link: no '$want' in: $link"
done
grep -q "inet 100.64.0.1/24 " <<<"$addrs" || ft_fail "no 100.64.0.1/24 on tun0: $addrs"
grep -q "inet6 fd00::1/64 " <<<"$addrs" || ft_fail "no fd00::1/64 on tun0: $addrs"
grep -qx "100.64.9.0/24 dev tun0 scope link *" <<<"$routes4" || ft_fail "no 100.64.9.0/24: $routes4"
grep -q "^100.64.0.0/24 dev tun0 proto kernel scope link src 100.64.0.1" <<<"$routes4" ||
	ft_fail "no prefix route of the address: $routes4"
grep -q "^fd00:9::/64 dev tun0 metric" <<<"$routes6" || ft_fail "no fd00:9::/64: $routes6"
# The covered AllowedIPs (100.64.0.128/25, fd00::/64 besides the kernel's) were not added.
! grep -q "100.64.0.128/25" <<<"$routes4" || ft_fail "a covered prefix was routed: $routes4"
[ "$(grep -c '^fd00::/64 ' <<<"$routes6")" -eq 1 ] || ft_fail "fd00::/64 twice: $routes6"
[ "$(ip -n "$ns" route get 100.64.9.1 | grep -o 'dev [^ ]*')" = "dev tun0" ] ||
	ft_fail "ip route get 100.64.9.1 does not leave through tun0"

# The real ping, when installed, is answered by the probe through the TUN fd.
if command -v ping >/dev/null 2>&1; then
	ip netns exec "$ns" ping -c 2 -i 0.2 -W 2 100.64.0.2 >/dev/null || ft_fail "ping 100.64.0.2"
	ip netns exec "$ns" ping -6 -c 2 -i 0.2 -W 2 fd00::2 >/dev/null || ft_fail "ping fd00::2"
	ft_log "ping 100.64.0.2 and fd00::2 answered through tun0"
else
	ft_log "ping is not installed: the probe's own raw-socket echo covered it"
fi

echo teardown >&3
ft_expect removed
addrs=$(ip -n "$ns" addr show dev tun0)
! grep -qE "100\.64\.|fd00:" <<<"$addrs" || ft_fail "addresses left on tun0: $addrs"
! ip -n "$ns" route show | grep -q . || ft_fail "IPv4 routes left: $(ip -n "$ns" route show)"
! ip -n "$ns" -6 route show | grep -qE "fd00" || ft_fail "IPv6 routes left: $(ip -n "$ns" -6 route show)"
ip -n "$ns" link show dev tun0 | grep -q "state DOWN" || ft_fail "tun0 is not down"

echo close >&3
ft_expect closed
wait "$probe_pid" || ft_fail "the probe exited $?: $(cat "$FT_TMP/out")"
sed -n '/configured/,$p' "$FT_TMP/out" | sed 's/^/  probe: /' >&2
# Nothing left behind: lo is the only link, no routes at all in either family.
links=$(ip -n "$ns" -o link show | awk -F': ' '{print $2}')
[ "$links" = "lo" ] || ft_fail "links left in the namespace: $links"
! ip -n "$ns" route show | grep -q . || ft_fail "IPv4 routes left after close"
! ip -n "$ns" -6 route show | grep -qvE "^(::1|fe80::/64 dev lo|multicast)" ||
	ft_fail "IPv6 routes left after close: $(ip -n "$ns" -6 route show)"
echo "tundev: 1 passed, 0 failed"
