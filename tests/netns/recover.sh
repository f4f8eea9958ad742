#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Recovery after the underlay comes back, for each way a path can come back: a handshake is
# due while the path is gone (a fresh flowtun a, no session, pings b every 10 ms), then the
# path returns; the time from its return to the first ping answer through the tunnel is
# printed and must be at most FT_RECOVER_MAX_MS (200 ms; the target is 50 ms). It is counted
# from the return of the ip(8) command that gives the path back.
#
#   namespace $FT_PREFIX-a                           namespace $FT_PREFIX-b
#   +-----------------------------+                  +-----------------------------+
#   | tun0 100.64.0.1/24          |                  | tun0 100.64.0.2/24          |
#   |   flowtun up a4.conf|a6.conf|                  |   flowtun up b.conf         |
#   |   ping -i 0.01 100.64.0.2   |                  |   (no Endpoint: learns a's) |
#   | veth-a 198.18.0.1/24 -------+------ veth ------+------- veth-b 198.18.0.2/24 |
#   |        fd18::1/64           |                  |        fd18::2/64           |
#   +-----------------------------+                  +-----------------------------+
#
# The ways, each over an IPv4 (…4) and an IPv6 (…6) underlay:
#   admin    veth-a set down, then up (our side)
#   carrier  veth-b set down, then up: veth-a stays up and only loses its carrier (a pulled
#            cable, a dead switch port)
#   neigh    the same, for long enough that a's neighbour entry of b has FAILED (its probes
#            are 200 ms apart for this way, instead of 1 s, to keep the test short)
#   route    the route to b's prefix removed, then added again
#   addr     a's address removed (and its route with it), then added again (a DHCP renew)
#
# FT_RECOVER_COMPARE=1 (not in make check) runs the same ways with wireguard-go in a's place,
# Debian's (/usr/bin/wireguard-go) and FT_WGGO_UPSTREAM's if that file exists, and prints one
# table; nothing is asserted for them. FT_RECOVER_WAYS="carrier4 route6" runs a subset;
# FT_RECOVER_VERBOSE=1 prints flowtun's counters after each way (always after a failed one).
#
# The veth ends get distinct ifindexes: the kernel's linkwatch handles the carrier changes of a
# device whose ifindex equals its iflink (two fresh namespaces give both ends index 2) up to a
# second late, which would measure the kernel, not the tunnel.
# shellcheck disable=SC2154 # set by tests/lib.sh
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib.sh"

ft_require_root
ft_require_cmd ip ping awk
[ -x "$FLOWTUN" ] || ft_fail "no flowtun binary at $FLOWTUN"

MAX_MS=${FT_RECOVER_MAX_MS:-200}
WAYS=${FT_RECOVER_WAYS:-"admin4 carrier4 neigh4 route4 addr4 admin6 carrier6 neigh6 route6 addr6"}
COMPARE=${FT_RECOVER_COMPARE:-0}
WGGO_UPSTREAM=${FT_WGGO_UPSTREAM:-/work/shared/reference/wireguard-go-upstream/wireguard-go}

ft_netns a >/dev/null
ft_netns b >/dev/null
a=$FT_PREFIX-a b=$FT_PREFIX-b
ip link add veth-a index 20 netns "$a" type veth peer name veth-b index 30 netns "$b"
# IPv6 addresses survive an administrative down only with keep_addr_on_down, as on a host
# whose network manager re-adds them; without it the admin way would be the addr way.
for ns in "$a" "$b"; do
	ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.keep_addr_on_down=1
done
ip -n "$a" link set veth-a up
ip -n "$b" link set veth-b up
ip -n "$a" addr add 198.18.0.1/24 dev veth-a
ip -n "$b" addr add 198.18.0.2/24 dev veth-b
ip -n "$a" addr add fd18::1/64 dev veth-a nodad
ip -n "$b" addr add fd18::2/64 dev veth-b nodad

ka=$("$FLOWTUN" genkey) kb=$("$FLOWTUN" genkey)
pa=$("$FLOWTUN" pubkey <<<"$ka") pb=$("$FLOWTUN" pubkey <<<"$kb")
ft_conf "$FT_TMP/a4.conf" "$ka" 100.64.0.1/24 "$pb" 100.64.0.2/32 198.18.0.2:51820
ft_conf "$FT_TMP/a6.conf" "$ka" 100.64.0.1/24 "$pb" 100.64.0.2/32 "[fd18::2]:51820"
ft_conf "$FT_TMP/b.conf" "$kb" 100.64.0.2/24 "$pa" 100.64.0.1/32
ft_up "$b" "$FT_TMP/b.conf" --no-link-monitor
pid_b=$FT_LAST_PID

# ---- the implementations in a's place ---------------------------------------------------
# impl_start IMPL FAMILY: starts it (IMPL_PID); impl_stop ends it.
impl_start() {
	local impl=$1 fam=$2
	case $impl in
	flowtun)
		# As deployed: dropped to nobody (CAP_NET_ADMIN kept) under the seccomp list.
		ft_up "$a" "$FT_TMP/a$fam.conf" --user nobody --seccomp on
		IMPL_PID=$FT_LAST_PID IMPL_LOG=$FT_TMP/a$fam.conf.log
		ft_wait_for 5 grep -qx "flowtun: underlay veth-a: link" "$IMPL_LOG" ||
			ft_fail "flowtun a does not watch veth-a: $(cat "$IMPL_LOG")"
		;;
	wggo-*)
		local bin=/usr/bin/wireguard-go ep=198.18.0.2:51820
		[ "$impl" = wggo-debian ] || bin=$WGGO_UPSTREAM
		[ "$fam" = 4 ] || ep="[fd18::2]:51820"
		IMPL_LOG=$FT_TMP/$impl.log
		ft_bg ft_ns_exec "$a" env WG_PROCESS_FOREGROUND=1 LOG_LEVEL=error "$bin" tun0 \
			>>"$IMPL_LOG" 2>&1
		IMPL_PID=$FT_LAST_PID
		ft_wait_for 10 nsenter --target "$IMPL_PID" --mount test -S /run/wireguard/tun0.sock ||
			ft_fail "$impl made no UAPI socket"
		printf '%s' "$ka" >"$FT_TMP/ka"
		ft_wg "$IMPL_PID" set tun0 private-key "$FT_TMP/ka" listen-port 51820 peer "$pb" \
			allowed-ips 100.64.0.2/32 endpoint "$ep" || ft_fail "wg set for $impl"
		ip -n "$a" addr add 100.64.0.1/24 dev tun0
		ip -n "$a" link set tun0 mtu 1420 up
		;;
	esac
}
impl_stop() {
	ft_stop "$IMPL_PID" "$IMPL_LOG" || ft_fail "$1 did not exit cleanly on SIGTERM"
	ft_wait_for 5 sh -c "! ip -n '$a' link show tun0" || ft_fail "tun0 stayed after $1"
}

# ---- the ways ---------------------------------------------------------------------------
# way_down WAY / way_up WAY: take the path away / give it back.
way_down() {
	case $1 in
	admin*) ip -n "$a" link set veth-a down ;;
	carrier* | neigh*) ip -n "$b" link set veth-b down ;;
	route4) ip -n "$a" route del 198.18.0.0/24 dev veth-a ;;
	route6) ip -n "$a" -6 route del fd18::/64 dev veth-a ;;
	addr4) ip -n "$a" addr del 198.18.0.1/24 dev veth-a ;;
	addr6) ip -n "$a" addr del fd18::1/64 dev veth-a ;;
	esac
}
way_up() {
	case $1 in
	admin*) ip -n "$a" link set veth-a up ;;
	carrier* | neigh*) ip -n "$b" link set veth-b up ;;
	route4) ip -n "$a" route add 198.18.0.0/24 dev veth-a proto kernel scope link src 198.18.0.1 ;;
	route6) ip -n "$a" -6 route add fd18::/64 dev veth-a proto kernel ;;
	addr4) ip -n "$a" addr add 198.18.0.1/24 dev veth-a ;;
	addr6) ip -n "$a" addr add fd18::1/64 dev veth-a nodad ;;
	esac
}
# The outage: the carrier ways need b's neighbour entry INCOMPLETE at the return (the
# initiation sent during the outage made it; its 3 probes are 1 s apart), the neigh ways need
# it FAILED (3 probes 200 ms apart).
way_outage() { case $1 in neigh*) echo 1.2 ;; *) echo 0.6 ;; esac; }
way_neigh() { case $1 in carrier*) echo INCOMPLETE ;; neigh*) echo FAILED ;; esac; }
set_retrans() {
	ip netns exec "$a" sysctl -qw "net.ipv4.neigh.veth-a.retrans_time_ms=$1" \
		"net.ipv6.neigh.veth-a.retrans_time_ms=$1"
}
neigh_state() { # neigh_state FAMILY: the state of a's entry of b on veth-a
	local dst=198.18.0.2
	[ "$1" = 4 ] || dst=fd18::2
	ip -n "$a" neigh show dev veth-a to "$dst" | awk '{print $NF}'
}

# first_reply_ms FILE T_US: ms from T_US (µs since the epoch) to the first echo answer in FILE
# (ping -D) received after it; nothing when there is none yet.
first_reply_ms() {
	awk -v t="$2" -F'[][]' '/bytes from/ { us = $2 * 1000000; if (us >= t) {
		printf "%d\n", (us - t) / 1000; exit } }' "$1"
}

# measure IMPL WAY: sets MS to the time to the first packet, or "-" when none within 8 s.
measure() {
	local impl=$1 way=$2 fam=${2: -1} t_up t_cmd deadline ping_pid want st
	MS=-
	case $way in neigh*) set_retrans 200 ;; *) set_retrans 1000 ;; esac
	impl_start "$impl" "$fam"
	way_down "$way"
	sleep 0.2 # the path is gone before the traffic starts
	: >"$FT_TMP/ping"
	ft_bg ip netns exec "$a" ping -D -n -i 0.01 -W 1 -w 20 100.64.0.2 >"$FT_TMP/ping" 2>&1
	ping_pid=$FT_LAST_PID
	sleep "$(way_outage "$way")"
	want=$(way_neigh "$way")
	st=$(neigh_state "$fam")
	[ -z "$want" ] || [ "$st" = "$want" ] ||
		ft_fail "$way, $impl: a's neighbour entry of b is '$st', not $want, at the return"
	t_cmd=${EPOCHREALTIME/./}
	way_up "$way"
	# From the moment the command returned: the kernel made the change in its last request.
	# The command's own run time (long on a loaded machine) is printed, not counted.
	t_up=${EPOCHREALTIME/./}
	CMD_MS=$(((t_up - t_cmd) / 1000))
	deadline=$(($(ft_now_ms) + 8000))
	while [ "$(ft_now_ms)" -lt "$deadline" ]; do
		sleep 0.05
		MS=$(first_reply_ms "$FT_TMP/ping" "$t_up")
		[ -z "$MS" ] || break
		MS=-
	done
	kill "$ping_pid" 2>/dev/null || true
	wait "$ping_pid" 2>/dev/null || true
	# The counters that tell what happened, when it went wrong or when asked to.
	if [ "$impl" = flowtun ] && { [ "${FT_RECOVER_VERBOSE:-0}" = 1 ] || [ "$MS" = - ] ||
		[ "$MS" -gt "$MAX_MS" ]; }; then
		ft_status "$IMPL_PID" "$IMPL_LOG" | grep -E 'handshake|unknown_index|udp_tx_errors|path_|neigh' |
			tr -s ' ' | tr '\n' ',' | sed "s/^/  $way flowtun:/; s/,\$/\n/" >&2
	fi
	impl_stop "$impl"
}

impls=flowtun
if [ "$COMPARE" = 1 ]; then
	ft_require_cmd wg wireguard-go nsenter
	impls="$impls wggo-debian"
	[ ! -x "$WGGO_UPSTREAM" ] || impls="$impls wggo-upstream"
fi

declare -A result
failed=""
for way in $WAYS; do
	for impl in $impls; do
		measure "$impl" "$way"
		result[$way,$impl]=$MS
		ft_log "$way: $impl: first packet ${MS} ms after the path came back" \
			"(the command that gave it back ran ${CMD_MS} ms)"
		if [ "$impl" = flowtun ] && { [ "$MS" = - ] || [ "$MS" -gt "$MAX_MS" ]; }; then
			failed="$failed $way(${MS}ms)"
		fi
	done
done

# The table: one row per way, one column per implementation.
{
	printf '%-10s' way
	for impl in $impls; do printf ' %14s' "$impl"; done
	printf '\n'
	for way in $WAYS; do
		printf '%-10s' "$way"
		for impl in $impls; do printf ' %11s ms' "${result[$way,$impl]}"; done
		printf '\n'
	done
} >&2
ft_stop "$pid_b" "$FT_TMP/b.conf.log" || ft_fail "flowtun b did not exit cleanly on SIGTERM"
[ -z "$failed" ] || ft_fail "over ${MAX_MS} ms (or nothing) after the path came back:$failed"
echo "recover: 1 passed, 0 failed"
