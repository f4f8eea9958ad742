#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# `make install DESTDIR=...` from the build tree (no root needed): the binary, a man page per
# command, the systemd unit, the sysusers.d entry of the `flowtun` user and the bash
# completion land where they should, every man page renders without a groff warning, the unit
# starts the installed binary and creates the user first, and `make uninstall` removes all of
# it again.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"

top_builddir=${top_builddir:-.}
[ -f "$top_builddir/Makefile" ] || ft_fail "no Makefile in $top_builddir"
ft_cleanup_add rm -rf "$FT_TMP"
dest=$FT_TMP/root

# The outer make's jobserver is not ours: run a plain make of our own.
run_make() {
	env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL "${MAKE:-make}" -s --no-print-directory \
		-C "$top_builddir" "$@"
}

# The installation directories as the Makefile expands them (prefix, configure options).
printf 'print-%%:\n\t@echo $($*)\n' >"$FT_TMP/print.mk"
var() { run_make -f Makefile -f "$FT_TMP/print.mk" "print-$1"; }
sbindir=$(var sbindir)
man8dir=$(var man8dir)
unitdir=$(var systemdunitdir)
compdir=$(var bashcompletiondir)
sysusersdir=$(var sysusersdir)
for d in "$sbindir" "$man8dir" "$unitdir" "$compdir" "$sysusersdir"; do
	case $d in /*) ;; *) ft_fail "an installation directory is not absolute: '$d'" ;; esac
done

run_make install DESTDIR="$dest" >"$FT_TMP/install.log" 2>&1 ||
	{ cat "$FT_TMP/install.log" >&2; ft_fail "make install failed"; }

bin=$dest$sbindir/flowtun
[ -x "$bin" ] || ft_fail "no executable $sbindir/flowtun"
"$bin" version >/dev/null || ft_fail "the installed flowtun does not run"

# Every command of `flowtun help` has its page, and so does `flowtun IFACE`.
commands=$("$bin" help | awk '/^Commands:/ { on = 1; next } on && NF == 0 { exit } on { print $1 }')
[ -n "$commands" ] || ft_fail "flowtun help lists no commands"
pages="flowtun.8 flowtun-iface.8"
for c in $commands; do
	case $c in version | help) continue ;; esac
	pages="$pages flowtun-$c.8"
done
for p in $pages; do
	[ -f "$dest$man8dir/$p" ] || ft_fail "no man page $man8dir/$p"
done

# Each page renders, .so stubs included (resolved from the man root, as man(1) does), with
# no groff warning.
if command -v groff >/dev/null; then
	mandir=$(dirname "$dest$man8dir")
	for f in "$dest$man8dir"/flowtun*.8; do
		out=$(cd "$mandir" && groff -man -ww -z "man8/${f##*/}" 2>&1) ||
			ft_fail "groff failed on ${f##*/}: $out"
		[ -z "$out" ] || ft_fail "groff warns on ${f##*/}: $out"
		text=$(cd "$mandir" && groff -man -Tascii "man8/${f##*/}" 2>/dev/null | sed 's/.\x08//g')
		case $text in *NAME*SYNOPSIS*DESCRIPTION*) ;;
		*) ft_fail "${f##*/} has no NAME, SYNOPSIS and DESCRIPTION" ;; esac
	done
else
	ft_log "groff not installed: the man pages were not rendered"
fi

# The unit starts the installed binary, and make substituted every @var@.
unit=$dest$unitdir/flowtun@.service
[ -f "$unit" ] || ft_fail "no unit $unitdir/flowtun@.service"
grep -qx "ExecStart=$sbindir/flowtun up /etc/flowtun/%i.conf" "$unit" ||
	ft_fail "the unit's ExecStart is not $sbindir/flowtun: $(grep ExecStart= "$unit")"
! grep -n '@[a-z_]*@' "$unit" || ft_fail "the unit has an unsubstituted @variable@"
for key in Type=simple Restart=on-failure ProtectSystem=strict \
	'CapabilityBoundingSet=CAP_NET_ADMIN CAP_NET_BIND_SERVICE CAP_IPC_LOCK CAP_SETUID CAP_SETGID CAP_SETPCAP' 'DeviceAllow=/dev/net/tun rw'; do
	grep -qx "$key" "$unit" || ft_fail "the unit has no '$key'"
done
# The user the tunnel drops to: a sysusers.d entry, which the unit applies before each start.
users=$dest$sysusersdir/flowtun.conf
[ -f "$users" ] || ft_fail "no $sysusersdir/flowtun.conf"
grep -qx 'u flowtun - "flowtun tunnel" / /usr/sbin/nologin' "$users" ||
	ft_fail "$sysusersdir/flowtun.conf does not create the user flowtun: $(cat "$users")"
grep -qx "ExecStartPre=+-/bin/systemd-sysusers $sysusersdir/flowtun.conf" "$unit" ||
	ft_fail "the unit does not create the user: $(grep ExecStartPre= "$unit")"
# --dry-run parses the entry and changes nothing.
if command -v systemd-sysusers >/dev/null; then
	systemd-sysusers --dry-run "$users" >/dev/null 2>&1 ||
		ft_fail "systemd-sysusers cannot read $sysusersdir/flowtun.conf"
fi
# systemd-analyze checks the unit's syntax; it also wants the ExecStart binary to exist at its
# path, so the check runs on a copy pointing into DESTDIR. Skipped without systemd.
if command -v systemd-analyze >/dev/null; then
	sed "s|^ExecStart=$sbindir/|ExecStart=$dest$sbindir/|" "$unit" >"$FT_TMP/flowtun@.service"
	out=$(cd "$FT_TMP" && SYSTEMD_LOG_LEVEL=warning \
		systemd-analyze verify --man=no "$FT_TMP/flowtun@x.service" 2>&1 |
		grep -v -e 'Failed to .*bus' -e 'Cannot add dependency job' -e 'multi-user.target' \
			-e 'network-online.target' -e 'nss-lookup.target' || true)
	[ -z "$out" ] || ft_fail "systemd-analyze verify: $out"
fi

# The completion is a bash file that defines the completion of flowtun.
comp=$dest$compdir/flowtun
[ -f "$comp" ] || ft_fail "no completion $compdir/flowtun"
bash -n "$comp" || ft_fail "the completion is not valid bash"
bash -c '_init_completion() { return 0; }; . "$1"; complete -p flowtun' _ "$comp" |
	grep -q -- '-F _flowtun flowtun' || ft_fail "the completion does not complete flowtun"

# make uninstall leaves nothing but directories behind (make distcheck checks it too).
run_make uninstall DESTDIR="$dest" >"$FT_TMP/uninstall.log" 2>&1 ||
	{ cat "$FT_TMP/uninstall.log" >&2; ft_fail "make uninstall failed"; }
left=$(find "$dest" -type f -o -type l)
[ -z "$left" ] || ft_fail "make uninstall left: $left"
ft_log "installed and uninstalled: $sbindir/flowtun, $(echo "$pages" | wc -w) man pages," \
	"the unit, the sysusers.d entry and the completion"
