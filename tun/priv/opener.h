/* SPDX-License-Identifier: MIT */
#ifndef FT_OPENER_H
#define FT_OPENER_H

#include <stddef.h>
#include <sys/types.h>

/*
 * The opener: the privileged helper of a tunnel that dropped its privileges (tun/priv/privs.h).
 *
 * After the drop the tunnel still opens three kinds of file that root owns: the config (and
 * its PrivateKeyFile) re-read on SIGHUP, the flow log reopened on SIGHUP (logrotate) and
 * created again after a failure, and the API socket removed at exit. Keeping CAP_DAC_OVERRIDE
 * or CAP_DAC_READ_SEARCH for them would let a compromised tunnel read or write every file on
 * the machine (/etc/shadow, other tunnels' keys). Instead ft_opener_start() forks and execs,
 * before the drop, a helper that:
 *
 *   - is a fresh image of the program (exec, not just fork): no copy of the tunnel's memory,
 *     so no copy of its keys in pages that are not locked, and addresses of its own;
 *   - stays uid 0 but holds no capability at all (the bounding set empty, no-new-privs, no
 *     supplementary groups): it can open what root owns by ownership alone, nothing else;
 *   - knows a fixed list of (operation, path) pairs given at start, and does nothing else:
 *     read-only opens of the config and key file, append-or-create of the flow log, unlink
 *     of the API socket (and only if it is a socket). The flags and the mode are its own,
 *     never the asker's, so no request can truncate, chmod or follow a different path;
 *   - answers one fixed-size request at a time on a SOCK_SEQPACKET socketpair, passing the
 *     opened fd back with SCM_RIGHTS; a malformed request ends it;
 *   - runs under its own seccomp allow-list of about a dozen syscalls (no exec, no socket);
 *   - exits when the tunnel's end of the socketpair closes (the tunnel exited or died), and
 *     ignores the signals a terminal or systemd sends the whole group (SIGINT, SIGTERM,
 *     SIGHUP), so that it can still remove the socket during the tunnel's shutdown.
 *
 * Each call first tries the operation as the tunnel itself, and asks the opener only when
 * that fails with EACCES or EPERM: a file the tunnel's user owns (a flow log chowned to it)
 * is one the opener may not open, having no CAP_DAC_OVERRIDE.
 *
 * What the opener opens must be a regular file (else -EINVAL) and not a symlink (-ELOOP) in
 * the directory pinned at start (opener.c, opener_op(), says why that is enough); a path it
 * refused at start gives -EPERM. A path not in the list (a reload that
 * names a new PrivateKeyFile, say) is refused with -EPERM and a log line saying that a restart
 * is needed. Route and address changes do not go
 * through the opener: the tunnel keeps CAP_NET_ADMIN for those (privs.c says why).
 *
 * Without ft_opener_start() (flowtun staying root, the tests) the calls below do only the
 * direct attempt, with the same flags.
 *
 * Thread-safe: the flow log opens on libuv's pool while a SIGHUP re-reads the config on the
 * loop; requests are serialised by a mutex. The opener is one per process, not a handle passed
 * around: the config reader that uses it has no tunnel to take one from, and the privileges
 * it stands in for are the process's too.
 *
 * ft_opener_pid() and ft_opener_stop() (it closes the socketpair, the opener exits on it, and
 * reaps it; no-op when none runs) are for the loop thread, like start.
 */

enum ft_opener_op {
	FT_OPENER_READ = 1, /* O_RDONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC */
	FT_OPENER_APPEND,   /* O_WRONLY | O_APPEND | O_CREAT | O_NOCTTY | O_NONBLOCK | O_CLOEXEC,
			       mode 0640; in the opener also O_NOFOLLOW (a symlink: -ELOOP) */
	FT_OPENER_UNLINK,   /* unlink(), only if lstat() says it is a socket (and the one meant) */
};

struct ft_opener_path {
	enum ft_opener_op op;
	const char *path; /* absolute; compared byte for byte */
};

/* The longest path the opener takes (PATH_MAX - 1 bytes and its NUL), and how many. */
#define FT_OPENER_PATH_MAX 4096
#define FT_OPENER_MAX_PATHS 16

/*
 * The program's argv[1] in the opener's process. A program that starts an opener (flowtun,
 * the tests) calls ft_opener_main(argc, argv) first thing in main(): it returns at once
 * unless argv[1] is FT_OPENER_ARG, and never returns if it is.
 */
#define FT_OPENER_ARG "--flowtun-opener"
void ft_opener_main(int argc, char **argv);

/*
 * Forks and execs exe (normally "/proc/self/exe") as the opener of paths (entries with a NULL
 * or empty path are skipped) for a tunnel that will run as uid/gid. As it starts, the opener
 * pins the directory of each path (of the file with its symlinks resolved, for READ) and
 * later works only in it, by the file's name: nothing renamed or swapped above it matters.
 * It refuses for good, saying so on stderr, a path whose directory does not exist then or
 * that uid/gid could change (owns, may write as its group or by an ACL, or anyone may write),
 * since in such a directory the user could put any file of root's under the name. Call as
 * root, on the loop thread, before ft_privs_drop() and after every path is known. 0, or a
 * negative errno with a message in err: -EALREADY if one runs; -EINVAL for a relative or too
 * long path, a bad op, or more than FT_OPENER_MAX_PATHS; -EPERM without CAP_SETGID or
 * CAP_SETPCAP; -EPIPE if exe did not start (not found, or not a program that calls
 * ft_opener_main()).
 */
int ft_opener_start(const char *exe, uid_t uid, gid_t gid, const struct ft_opener_path *paths,
		    size_t n, char *err, size_t errlen);

/*
 * Opens path for op (FT_OPENER_READ or FT_OPENER_APPEND): an fd (close-on-exec) or a negative
 * errno: the open's own error, -EPERM if the opener does not know the pair, -EPIPE if the
 * opener is gone.
 */
int ft_opener_open(const char *path, enum ft_opener_op op);

/* Removes the socket at path. 0 or a negative errno (-ENOTSOCK if it is no socket). */
int ft_opener_unlink(const char *path);

/*
 * The same, only if path is still the socket file dev/ino (from a stat of it taken when it
 * was bound): another instance's socket put there since is left alone (-ESTALE). For a
 * tunnel that can no longer look the path up itself (a directory it may not search after the
 * drop), the identity is checked by the opener, in the directory it pinned.
 */
int ft_opener_unlink_inode(const char *path, dev_t dev, ino_t ino);

/* The opener's PID from start to stop (even if it died in between), or 0. */
pid_t ft_opener_pid(void);
void ft_opener_stop(void);

#endif
