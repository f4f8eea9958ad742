# SPDX-License-Identifier: MIT
# Shared helpers for the shell tests. Source it; it sets `set -eu`.
#
#   ft_require_root          exit 77 (skip) unless root and the netns tests are enabled
#   ft_require_cmd CMD...    exit 77 (skip) unless each CMD is installed
#   ft_netns NAME            create a namespace named "$FT_PREFIX-NAME" (lo up), echo its name;
#                            `ns=$(ft_netns a)` is fine: cleanup finds it by its prefix
#   ft_bg CMD...             start CMD in the background and remember its PID for cleanup
#   ft_cleanup_add CMD...    run CMD at exit (last added runs first)
#   ft_fail MSG              print MSG and exit 1
#
# Namespaces and processes this test made are removed on any exit, pass or fail (trap).
# Only the PIDs this test started are ever signalled.
set -eu

FLOWTUN=${FLOWTUN:-${top_builddir:-.}/tools/flowtun}
FT_PREFIX="ft$$"
FT_PIDS=""
FT_NETNS_LIST=""
FT_CLEANUP_CMDS=""
FT_TMP=$(mktemp -d "${TMPDIR:-/tmp}/flowtun-test.XXXXXX")

ft_log() { printf '%s: %s\n' "${0##*/}" "$*" >&2; }
ft_fail() { ft_log "FAIL: $*"; exit 1; }
ft_skip() { ft_log "SKIP: $*"; exit 77; }

ft_require_root() {
	[ "${FT_NETNS_TESTS:-yes}" = yes ] || ft_skip "netns tests disabled (--disable-netns-tests)"
	[ "$(id -u)" -eq 0 ] || ft_skip "needs root for network namespaces"
	ip netns list >/dev/null 2>&1 || ft_skip "ip netns does not work here"
}

ft_require_cmd() {
	for c in "$@"; do
		command -v "$c" >/dev/null 2>&1 || ft_skip "$c is not installed"
	done
}

ft_netns() {
	local ns="$FT_PREFIX-$1"
	ip netns add "$ns"
	FT_NETNS_LIST="$ns $FT_NETNS_LIST"
	ip -n "$ns" link set lo up
	echo "$ns"
}

ft_bg() {
	"$@" &
	FT_PIDS="$! $FT_PIDS"
	FT_LAST_PID=$!
}

# ft_is_child PID: PID is a process of ours, not yet reaped (a zombie of ours counts: signalling
# it is harmless). The parent is the 4th field of /proc/PID/stat, after the name in parentheses.
ft_is_child() {
	local st ppid
	st=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	read -r _ ppid _ <<<"${st##*) }"
	[ "$ppid" = "$$" ]
}

ft_cleanup_add() {
	FT_CLEANUP_CMDS="$*
$FT_CLEANUP_CMDS"
}

# Milliseconds since the epoch.
ft_now_ms() { date +%s%3N; }

# ft_wait_for SECONDS CMD...: retry CMD every 50 ms until it succeeds or time runs out.
ft_wait_for() {
	local deadline=$(( $(ft_now_ms) + $1 * 1000 ))
	shift
	until "$@" >/dev/null 2>&1; do
		[ "$(ft_now_ms)" -lt "$deadline" ] || return 1
		sleep 0.05
	done
}

ft_cleanup() {
	local rc=$?
	set +e
	printf '%s\n' "$FT_CLEANUP_CMDS" | while IFS= read -r c; do
		[ -n "$c" ] && eval "$c" >/dev/null 2>&1
	done
	# Only our own children: a PID already waited for (ft_stop) may belong to someone else by now.
	for p in $FT_PIDS; do
		ft_is_child "$p" && kill -TERM "$p" 2>/dev/null
	done
	for p in $FT_PIDS; do
		for _ in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do
			ft_is_child "$p" || break
			sleep 0.1
		done
		ft_is_child "$p" && kill -KILL "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	# Every namespace with this test's prefix, also those made in a $(...) subshell, whose
	# FT_NETNS_LIST never reached this shell.
	for ns in $FT_NETNS_LIST $(ip netns list 2>/dev/null | awk '{print $1}' | grep "^$FT_PREFIX-"); do
		ip netns del "$ns" 2>/dev/null
	done
	rm -rf "$FT_TMP"
	exit $rc
}
trap ft_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- Helpers of the data-plane tests (tests/netns/up.sh, interop.sh, roam.sh, ...) ----------
#
#   ft_veth NS_A IF_A NS_B IF_B       a veth pair between two namespaces, both ends up
#   ft_pair                           the usual two ends: namespaces a and b (their names in
#                                     $a and $b), veth-a 198.18.0.1/24 in a <-> veth-b
#                                     198.18.0.2/24 in b, a flowtun key each (private $ka
#                                     $kb, public $pa $pb). Not in $(...): the namespaces
#                                     and these globals must reach the test's shell
#   ft_conf FILE KEY ADDRS PEER_PUB ALLOWED [ENDPOINT [EXTRA]]
#                                     a flowtun config: [Interface] on port 51820 with ADDRS,
#                                     one [Peer]; EXTRA lines go into [Interface]
#   ft_up NS CONF [OPTION...]         flowtun up CONF (device tun0) in NS, its stderr in
#                                     CONF.log; waits until it says it is up (FT_UP_TIMEOUT
#                                     seconds, 10 by default); sets FT_LAST_PID
#   ft_status PID LOG                 SIGUSR1: wait for the status dump in LOG, print it
#   ft_counter PID LOG NAME           a fresh status dump's value of counter NAME (0 if absent)
#   ft_ping NS ADDR [COUNT]           ping ADDR from NS until one answer (COUNT tries, 10)
#   ft_iperf NS_SRV NS_CLI ADDR SECS  an iperf3 TCP run ADDR (in NS_SRV) <- NS_CLI; sets FT_MBPS
#                                     to the receiver's Mbit/s; fails when nothing arrived.
#                                     Not in $(...): the server's PID must reach the cleanup
#   ft_stop PID [LOG]                 SIGTERM and wait: 0 when it exited with status 0; else
#                                     the end of LOG (its stderr: sanitizer reports) is shown
#   ft_udp_run NS_SRV NS_CLI          iperf3 UDP to 100.64.0.2: COUNT datagrams of SIZE bytes
#                                     at RATE from client port CPORT, retried from the next
#                                     port (a new flow) when any was lost, up to three times;
#                                     leaves CPORT at the run that lost nothing
#   ft_rss_kb PID                     its VmRSS in kB
#   ft_nfcapd_stop NS PORT PID        stop nfcapd (PID, listening on PORT in NS) once it has
#                                     read every queued datagram, and wait for it to exit

ft_veth() {
	ip link add "$2" netns "$1" type veth peer name "$4" netns "$3"
	ip -n "$1" link set "$2" up
	ip -n "$3" link set "$4" up
}

# The globals are the test's to use (shellcheck cannot see that from here).
# shellcheck disable=SC2034
ft_pair() {
	ft_netns a >/dev/null
	ft_netns b >/dev/null
	a=$FT_PREFIX-a b=$FT_PREFIX-b
	ft_veth "$a" veth-a "$b" veth-b
	ip -n "$a" addr add 198.18.0.1/24 dev veth-a
	ip -n "$b" addr add 198.18.0.2/24 dev veth-b
	ka=$("$FLOWTUN" genkey) kb=$("$FLOWTUN" genkey)
	pa=$("$FLOWTUN" pubkey <<<"$ka") pb=$("$FLOWTUN" pubkey <<<"$kb")
}

ft_conf() {
	local file=$1 key=$2 addrs=$3 pub=$4 allowed=$5 endpoint=${6:-} extra=${7:-}
	(
		umask 077
		printf '[Interface]\nPrivateKey = %s\nListenPort = 51820\nAddress = %s\n' \
			"$key" "$addrs"
		[ -z "$extra" ] || printf '%s\n' "$extra"
		printf '\n[Peer]\nPublicKey = %s\nAllowedIPs = %s\n' "$pub" "$allowed"
		[ -z "$endpoint" ] || printf 'Endpoint = %s\n' "$endpoint"
	) >"$file"
}

ft_up() {
	local ns=$1 conf=$2
	shift 2
	: >"$conf.log"
	ft_bg ft_ns_exec "$ns" "$FLOWTUN" up --interface tun0 "$@" "$conf" 2>>"$conf.log"
	local deadline=$(( $(ft_now_ms) + ${FT_UP_TIMEOUT:-10} * 1000 ))
	until grep -q "tun0 is up" "$conf.log"; do
		if ! kill -0 "$FT_LAST_PID" 2>/dev/null || [ "$(ft_now_ms)" -gt "$deadline" ]; then
			sed 's/^/  flowtun: /' "$conf.log" >&2
			ft_fail "flowtun up $conf did not come up in $ns"
		fi
		sleep 0.05
	done
}

ft_status() {
	local pid=$1 log=$2 before
	before=$(grep -c "^interface " "$log" || true)
	kill -USR1 "$pid"
	ft_wait_for 5 sh -c "[ \$(grep -c '^interface ' '$log') -gt $before ]" ||
		ft_fail "no status from PID $pid after SIGUSR1"
	sleep 0.1 # the rest of the dump follows its first line at once
	awk '/^interface /{buf=""} {buf=buf $0 "\n"} END{printf "%s", buf}' "$log" |
		sed -n '/^interface /,$p' | grep -E '^(interface |  )'
}

ft_counter() {
	ft_status "$1" "$2" | awk -v n="$3" '$1 == n {v=$2} END {print v+0}'
}

ft_ping() {
	for _ in $(seq "${3:-10}"); do
		ip netns exec "$1" ping -c 1 -W 1 "$2" >/dev/null 2>&1 && return 0
	done
	return 1
}

ft_iperf() {
	local srv=$1 cli=$2 addr=$3 secs=$4 out
	ft_bg ip netns exec "$srv" iperf3 -s -1 -B "$addr" >/dev/null 2>&1
	ft_wait_for 5 sh -c "ip netns exec $srv ss -ltn | grep -q ':5201 '" ||
		ft_fail "iperf3 server did not start in $srv"
	out=$(ip netns exec "$cli" timeout $((secs + 15)) iperf3 -c "$addr" -t "$secs" -J) ||
		ft_fail "iperf3 to $addr failed: $(jq -r '.error // empty' <<<"$out" 2>/dev/null)"
	jq -e '.end.sum_received.bytes > 0' <<<"$out" >/dev/null ||
		ft_fail "iperf3 to $addr: nothing received"
	FT_MBPS=$(jq -r '.end.sum_received.bits_per_second / 1e6 | floor' <<<"$out")
	wait "$FT_LAST_PID" 2>/dev/null || true
}

ft_stop() {
	local rc=0
	kill -TERM "$1" 2>/dev/null || rc=1
	wait "$1" || rc=$?
	if [ "$rc" -ne 0 ] && [ -n "${2:-}" ]; then
		ft_log "PID $1 exited with status $rc; the end of $2:"
		tail -n 30 "$2" | sed 's/^/  | /' >&2
	fi
	return $rc
}

# ft_ns_exec NS CMD...: CMD in namespace NS with a /run/wireguard of its own. Each flowtun (and
# wireguard-go) serves its userspace API at /var/run/wireguard/IFACE.sock: two of them with
# one interface name on one machine would collide there. `ip netns exec` gives its process a
# mount namespace of its own already; a tmpfs mounted there stays private to it. The process
# is exec'd, so ft_bg's PID is CMD's. Reach its socket with ft_wg.
# The mount point itself is the host's: where it is missing it is made 0755 root whatever the
# caller's umask (the demo's is 077), as flowtun, wireguard-go and systemd make it, so that
# it is left as any of them would leave it. It is not removed afterwards: tests running in
# parallel mount their own tmpfs on it, and removing it would detach those under them.
ft_ns_exec() {
	local ns=$1
	shift
	set -- ip netns exec "$ns" sh -c '{ [ -d /run/wireguard ] ||
		mkdir -m 0755 /run/wireguard 2>/dev/null || [ -d /run/wireguard ]; } &&
		mount -t tmpfs -o mode=0755,size=1m flowtun-test /run/wireguard && exec "$@"' \
		ft_ns_exec "$@"
	# In the background (ft_bg) this is a subshell: exec, so that its PID is CMD's.
	if [ "$BASHPID" != "$$" ]; then
		exec "$@"
	fi
	"$@"
}

# ft_wg PID ARGS...: wg(8) in the network and mount namespaces of process PID (started with
# ft_ns_exec), so that it finds that process's userspace API socket.
ft_wg() {
	local pid=$1
	shift
	nsenter --target "$pid" --mount --net wg "$@"
}

# Datagrams lost on the way (a loaded machine: a socket buffer overflows) would make the counts
# unknowable: hence the retries.
ft_udp_run() {
	local srv_ns=$1 cli_ns=$2 out sent lost srv try
	for try in 1 2 3; do
		ft_bg ip netns exec "$srv_ns" iperf3 -s -1 -B 100.64.0.2 >/dev/null 2>&1
		srv=$FT_LAST_PID
		ft_wait_for 5 sh -c "ip netns exec $srv_ns ss -ltn | grep -q ':5201 '" ||
			ft_fail "iperf3 server did not start in $srv_ns"
		out=$(ip netns exec "$cli_ns" timeout 30 iperf3 -c 100.64.0.2 -u -l "$SIZE" \
			-k "$COUNT" -b "$RATE" -w 4M --cport "$CPORT" -J) ||
			ft_fail "iperf3 UDP run failed: $(jq -r '.error // empty' <<<"$out")"
		wait "$srv" 2>/dev/null || true
		sent=$(jq -r '.end.sum.packets' <<<"$out")
		lost=$(jq -r '.end.sum.lost_packets // 0' <<<"$out")
		ft_log "iperf3 run $try from port $CPORT: $sent datagrams of $SIZE bytes sent," \
			"$lost lost (receiver's count)"
		[ "$sent" -eq "$COUNT" ] || ft_fail "iperf3 sent $sent datagrams, not $COUNT"
		[ "$lost" -ne 0 ] || return 0
		CPORT=$((CPORT + 1))
	done
	ft_fail "iperf3 lost datagrams in each of 3 runs (is the machine overloaded?)"
}

ft_rss_kb() { awk '$1 == "VmRSS:" {print $2}' "/proc/$1/status"; }

# nfcapd has no way to say it has filed what it received: wait until its socket's Recv-Q is 0
# (under load that took more than a fixed second), give it a moment to file them, then TERM.
ft_nfcapd_stop() {
	local ns=$1 port=$2 pid=$3
	ft_wait_for 20 sh -c "ip netns exec '$ns' ss -Hlun 'sport = :$port' | awk '\$2 != 0 {exit 1}'" ||
		ft_fail "nfcapd did not read its socket"
	sleep 0.5
	kill -TERM "$pid"
	for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	! kill -0 "$pid" 2>/dev/null || ft_fail "nfcapd did not stop"
}
