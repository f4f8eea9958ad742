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
	for p in $FT_PIDS; do
		kill -TERM "$p" 2>/dev/null
	done
	for p in $FT_PIDS; do
		for _ in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do
			kill -0 "$p" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$p" 2>/dev/null
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
