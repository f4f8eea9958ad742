#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# A hub never initiates to a peer that did not ask for it. Swarm peers (no Endpoint in the
# hub's config: learnt from their initiations) handshake with the hub and then send nothing
# (--no-confirm: not even the keepalive that confirms the keys), so the hub holds each session
# as a responder, unconfirmed (WireGuard: the responder may not send until the initiator's
# first data). Then routes and addresses change on the hub's
# underlay, as they do on any host (DHCP, router advertisements, a VPN next to us). Such an
# event rechecks the paths of peers that wait for a handshake (path.c); it must not kick the
# others: a kick would send unsolicited initiations to every client that was mid-handshake,
# and the clients' own handshakes would be replaced. Found as a flake of swarm.sh in CI (the
# hub sent 14 initiations of 148 bytes to one swarm peer, one kick's worth and two retries).
#
#   namespace $FT_PREFIX-hub                      namespace $FT_PREFIX-swarm
#   +------------------------------+              +------------------------------+
#   | tun0 100.64.0.1/10           |              | peer-swarm: K peers, no data |
#   | veth-h 198.18.0.1/24 --------+---- veth ----+-- veth-s 198.18.0.2/24       |
#   +------------------------------+              +------------------------------+
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib.sh"

ft_require_root
ft_require_cmd ip jq
[ -x "$FLOWTUN" ] || ft_fail "no flowtun binary at $FLOWTUN"
swarm=${top_builddir:-.}/tests/bench/peer-swarm
[ -x "$swarm" ] || ft_fail "no $swarm (make check builds it)"
K=20

hub=$FT_PREFIX-hub sw=$FT_PREFIX-swarm
ft_netns hub >/dev/null
ft_netns swarm >/dev/null
ft_veth "$hub" veth-h "$sw" veth-s
ip -n "$hub" addr add 198.18.0.1/24 dev veth-h
ip -n "$sw" addr add 198.18.0.2/24 dev veth-s

key=$("$FLOWTUN" genkey)
pub=$("$FLOWTUN" pubkey <<<"$key")
conf=$FT_TMP/hub.conf
(
	umask 077
	printf '[Interface]\nPrivateKey = %s\nListenPort = 51820\nAddress = 100.64.0.1/10\nLinkWatch = veth-h\n' "$key"
	"$swarm" --emit-config --peers "$K"
) >"$conf" || ft_fail "peer-swarm --emit-config failed"
ft_up "$hub" "$conf"
pid=$FT_LAST_PID

out=$FT_TMP/swarm.json
ip netns exec "$sw" "$swarm" --hub 198.18.0.1:51820 --hub-key "$pub" --peers "$K" \
	--src-port 40000 --handshake-deadline 10 --rate 0 --linger 0 --no-confirm --json >"$out" ||
	[ $? -eq 1 ] || ft_fail "peer-swarm failed: $(cat "$out")"
[ "$(jq -r .handshake.handshaked "$out")" -eq "$K" ] ||
	ft_fail "$(jq -r .handshake.handshaked "$out") of $K peers handshaked"
before=$(ft_counter "$pid" "$conf.log" handshake_initiated)
kicks=$(ft_counter "$pid" "$conf.log" path_kicks)
[ "$before" -eq 0 ] || ft_fail "the hub initiated $before handshakes ($kicks kicks) before our events"

# Route and address events on the underlay (not on tun0, which the worker ignores).
ip -n "$hub" route add 198.18.7.0/24 dev veth-h
ip -n "$hub" addr add 198.18.0.9/24 dev veth-h
ip -n "$hub" route add 198.18.8.0/24 via 198.18.0.2
ip -n "$hub" route del 198.18.7.0/24 dev veth-h
# A kick sends at once and then every 40 ms for up to 2 s.
sleep 1
after=$(ft_counter "$pid" "$conf.log" handshake_initiated)
kicks=$(ft_counter "$pid" "$conf.log" path_kicks)
ft_log "after the events: $after initiations by the hub, $kicks path kicks"
[ "$after" -eq 0 ] ||
	ft_fail "the hub sent $after unsolicited initiations to peers mid-handshake ($kicks kicks)"

# The far end of the underlay goes away and comes back (the hub's link loses its carrier):
# the link reaction kicks the peers that wait for a handshake, and none of these.
ip -n "$sw" link set veth-s down
sleep 0.5
ip -n "$sw" link set veth-s up
sleep 1.5
after=$(ft_counter "$pid" "$conf.log" handshake_initiated)
kicks=$(ft_counter "$pid" "$conf.log" path_kicks)
ups=$(ft_counter "$pid" "$conf.log" link_up_events)
ft_log "after a carrier loss and return: $after initiations, $kicks path kicks, $ups link-up events"
[ "$after" -eq 0 ] ||
	ft_fail "the hub sent $after unsolicited initiations at link-up ($kicks kicks)"
ft_stop "$pid" "$conf.log" || ft_fail "the hub did not exit cleanly on SIGTERM"
echo "unsolicited: 1 passed, 0 failed"
