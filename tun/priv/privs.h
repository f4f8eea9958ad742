/* SPDX-License-Identifier: MIT */
#ifndef FT_PRIVS_H
#define FT_PRIVS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/*
 * Privileges and secrets of a running tunnel. flowtun starts as root to create the TUN
 * device, the UDP socket and the routes. It calls, in this order:
 *
 *   ft_privs_no_dump()     first thing in main, before any key is read: no core dumps, no
 *                          ptrace by the same user, /proc/PID/{mem,environ,...} root-only
 *   ft_privs_drop()        once ft_worker_create() returned and the flow log is open (after
 *                          detaching, before uv_run()): setuid to an unprivileged user
 *                          keeping only CAP_NET_ADMIN and CAP_NET_BIND_SERVICE, an empty bounding set, no
 *                          supplementary groups, PR_SET_NO_NEW_PRIVS
 *   ft_privs_seccomp()     right after: the allow-list of the syscalls the running loop
 *                          makes (sanitizer builds add what LeakSanitizer's exit scan needs)
 *
 * Keys live in sodium_malloc() memory. libsodium 1.0.18 already mlock()s it and marks it
 * MADV_DONTDUMP on Linux (sodium_mlock() does both; tests/check_privs.c checks the "lo" and
 * "dd" flags in /proc/self/smaps), and sodium_free() wipes it. ft_privs_dontdump() is for any
 * other buffer that may hold a secret.
 *
 * Route and address changes after the drop (SIGHUP adds and removes AllowedIPs routes,
 * shutdown removes routes and addresses; link-up needs none, it only re-handshakes) are made
 * by the process itself under the kept CAP_NET_ADMIN, not by a privileged helper: they are
 * rtnetlink messages on a socket the process already has, and a helper would need the same
 * capability plus an IPC protocol of its own to audit. Files are the other way round: the
 * config and key file re-read on SIGHUP, the flow log reopened and the API socket removed at
 * exit are root's, and go through the opener (tun/priv/opener.h), a helper forked before the drop
 * that can open only those paths, rather than CAP_DAC_READ_SEARCH/CAP_DAC_OVERRIDE, which
 * would open every file.
 *
 * Start-up only, on the loop thread. Threads that already exist (libuv's pool) change uid
 * with it (glibc applies set*id to every thread) and lose every capability, as the kernel
 * does on any uid change without keep-caps; no-new-privs and the seccomp filter reach them
 * through SECCOMP_FILTER_FLAG_TSYNC (with more than one thread the drop loads an allow-all
 * filter for that alone, so Seccomp shows 2 even with the allow-list off). Only their
 * bounding set stays full: harmless with no capabilities and no-new-privs.
 */

/* The user of a tunnel that names none: the dedicated system user, or nobody without one. */
#define FT_PRIVS_DEDICATED_USER "flowtun"
#define FT_PRIVS_FALLBACK_USER "nobody"

/* FT_PRIVS_DEDICATED_USER if the password database has it, else FT_PRIVS_FALLBACK_USER. */
const char *ft_privs_default_user(void);

struct ft_privs_options {
	/*
	 * The user to run as: a name from the password database (its primary group is used),
	 * "UID:GID", or a bare "UID" that must exist in the password database. NULL or "":
	 * ft_privs_default_user(). Root (uid 0 or gid 0) is refused: it would keep everything.
	 */
	const char *user;
};

/*
 * Resolves spec as ft_privs_options.user describes into *uid and *gid. 0; -EINVAL for a
 * malformed spec or root; -ENOENT for an unknown name or a bare UID with no entry. err gets
 * a message quoting the bad value. Needs no privileges; call it before the drop to validate
 * a config early.
 */
int ft_privs_resolve_user(const char *spec, uid_t *uid, gid_t *gid, char *err, size_t errlen);

/*
 * Changes to the user of opts and keeps only CAP_NET_ADMIN and CAP_NET_BIND_SERVICE (see privs.c for why). 0, or a
 * negative errno with a message in err: -EPERM when not running as root (or without
 * CAP_SETUID/CAP_SETGID), -EINVAL/-ENOENT from ft_privs_resolve_user(). On failure the
 * process may be half-dropped: the caller must exit.
 */
int ft_privs_drop(const struct ft_privs_options *opts, char *err, size_t errlen);

/* PR_SET_DUMPABLE 0: no core dumps, no ptrace or /proc/PID/mem by the same user. 0 or -errno. */
int ft_privs_no_dump(void);

/*
 * madvise(MADV_DONTDUMP) on the pages spanning [ptr, ptr + len): they are left out of any
 * core dump even if dumping is enabled again. 0, or a negative errno (-EINVAL for len 0).
 */
int ft_privs_dontdump(void *ptr, size_t len);

/*
 * What the seccomp filter does with a syscall outside the allow-list:
 *   FT_PRIVS_SECCOMP_KILL  kill the whole process: the default. An exploit cannot probe
 *                          around a refusal, and no library runs an untested error path with
 *                          half its state changed. The call is not made; a SIGSYS handler
 *                          writes "flowtun[PID]: seccomp: system call NAME (NR, arguments
 *                          ...) is not in the allow-list: stopping..." to stderr (to syslog
 *                          too when the log goes there, and to the report file) and the
 *                          process dies of SIGSYS. No code can replace that handler
 *                          (rt_sigaction of SIGSYS is not allowed); the kernel records the
 *                          call too (audit, or journalctl -k / dmesg without auditd).
 *   FT_PRIVS_SECCOMP_LOG   allow it, and let the kernel log it (the same record): for
 *                          finding a syscall missing from the list (Seccomp = log) without
 *                          an outage. Without auditd the kernel rate-limits those lines (10
 *                          per 5 s for the whole machine): some may be missing.
 */
enum ft_privs_seccomp_action {
	FT_PRIVS_SECCOMP_KILL,
	FT_PRIVS_SECCOMP_LOG,
};

/*
 * Installs the allow-list filter on every thread of the process (and, for KILL, the SIGSYS
 * handler). Sets PR_SET_NO_NEW_PRIVS if ft_privs_drop() did not. 0, or a negative errno with
 * a message in err. Irreversible.
 */
int ft_privs_seccomp(enum ft_privs_seccomp_action action, char *err, size_t errlen);

/*
 * Where the SIGSYS handler also appends its line: a file opened (created 0644) now, so before
 * the drop, and kept open. For the test suite (FLOWTUN_SECCOMP_REPORT), whose check fails on
 * any line in it. 0 or a negative errno.
 */
int ft_privs_seccomp_report_to(const char *path);

/* Parses "on" (FT_PRIVS_SECCOMP_KILL), "log", "off": 1 when on/log with *action set, 0 off,
 * -EINVAL otherwise. For the config key Seccomp and the --seccomp option. */
int ft_privs_seccomp_parse(const char *value, enum ft_privs_seccomp_action *action);

#endif
