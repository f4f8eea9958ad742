// SPDX-License-Identifier: MIT
/*
 * The opener (see opener.h): the helper process and the tunnel's side of its socketpair.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include <cap-ng.h>
#include <seccomp.h>

#include "tun/log.h"
#include "tun/priv/opener.h"
#include "tun/priv/privs.h"

struct request {
	uint32_t op;
	char path[FT_OPENER_PATH_MAX];
	uint64_t dev, ino; /* UNLINK: the socket meant, or 0, 0 for any (ft_opener_unlink_inode) */
};

struct reply {
	int32_t rc;	  /* 0 (an fd attached for READ and APPEND) or a negative errno */
	uint32_t refused; /* 1: the pair is not in the list (rc is -EPERM) */
};

struct entry {
	enum ft_opener_op op;
	const char *path;
	/*
	 * Pinned when the opener starts (root's view, before the drop): the directory the
	 * file is in (READ: of the path with every symlink resolved; APPEND, UNLINK: of the
	 * path's directory resolved) as an O_PATH fd, and the file's name in it. dirfd -1:
	 * the entry is refused, why says why.
	 */
	int dirfd;
	char *base;
	const char *why;
};

/* The letters of the operations in the opener's argv: "r:/etc/flowtun/tun0.conf". */
static const char op_letters[] = {
	[FT_OPENER_READ] = 'r',
	[FT_OPENER_APPEND] = 'a',
	[FT_OPENER_UNLINK] = 'u',
};

static void stop_status(int *status);

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int sock_fd = -1; /* both under lock */
static pid_t child_pid;

/* An UNLINK's target is a socket, dev/ino's unless both are 0: else -ENOTSOCK, -ESTALE. */
static int unlink_target(const struct stat *st, uint64_t dev, uint64_t ino)
{
	if (!S_ISSOCK(st->st_mode))
		return -ENOTSOCK;
	if ((dev || ino) && ((uint64_t)st->st_dev != dev || (uint64_t)st->st_ino != ino))
		return -ESTALE;
	return 0;
}

/*
 * The operation itself, by the tunnel directly (no opener, or a file its user may open). The
 * flags are fixed by op. O_NONBLOCK on READ keeps a FIFO named as the config from hanging
 * start-up (the config reader refuses what is not a regular file).
 */
static int do_op(enum ft_opener_op op, const char *path, uint64_t dev, uint64_t ino, int *fd)
{
	struct stat st;
	int rc;

	*fd = -1;
	switch (op) {
	case FT_OPENER_READ:
		*fd = open(path, O_RDONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
		return *fd < 0 ? -errno : 0;
	case FT_OPENER_APPEND:
		/* O_NONBLOCK: a FIFO with no reader would hang a pool thread for good. */
		*fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_NOCTTY | O_NONBLOCK | O_CLOEXEC,
			   0640);
		return *fd < 0 ? -errno : 0;
	case FT_OPENER_UNLINK:
		if (lstat(path, &st) < 0)
			return -errno;
		if ((rc = unlink_target(&st, dev, ino)) < 0)
			return rc;
		return unlink(path) < 0 ? -errno : 0;
	default:
		return -EINVAL;
	}
}

/* ---- the helper ---- */

/*
 * The operation in the opener, which may open anything root owns, always inside the
 * directory pinned at start (struct entry) and by the name of the file in it: whatever is
 * renamed, swapped or linked anywhere above it later, the opener works in that directory
 * only. The directory is one the tunnel's user cannot change (trusted(), checked at start:
 * only root can change that afterwards), so what is in it is root's doing: an editor's new
 * inode, logrotate's new file. O_NOFOLLOW: a symlink put there is refused (-ELOOP); what is
 * not a regular file, -EINVAL; O_NONBLOCK, so that a FIFO does not hang the opener.
 */
static int opener_op(const struct entry *e, uint64_t dev, uint64_t ino, int *fd)
{
	struct stat st;
	int rc = 0;

	*fd = -1;
	if (e->dirfd < 0)
		return -EPERM;
	/* Still root's and closed to others (a chmod or chown since start); the ACL was seen
	 * at start only: getxattr() is not in the filter. */
	if (fstat(e->dirfd, &st) < 0 || st.st_uid != 0 || (st.st_mode & S_IWOTH))
		return -EPERM;
	switch (e->op) {
	case FT_OPENER_UNLINK:
		if (fstatat(e->dirfd, e->base, &st, AT_SYMLINK_NOFOLLOW) < 0)
			return -errno;
		if ((rc = unlink_target(&st, dev, ino)) < 0)
			return rc;
		return unlinkat(e->dirfd, e->base, 0) < 0 ? -errno : 0;
	case FT_OPENER_READ:
		*fd = openat(e->dirfd, e->base,
			     O_RDONLY | O_NOCTTY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC);
		break;
	case FT_OPENER_APPEND:
		*fd = openat(e->dirfd, e->base,
			     O_WRONLY | O_APPEND | O_CREAT | O_NOCTTY | O_NONBLOCK | O_NOFOLLOW |
				     O_CLOEXEC,
			     0640);
		break;
	default:
		return -EINVAL;
	}
	if (*fd < 0)
		return -errno;
	if (fstat(*fd, &st) < 0)
		rc = -errno;
	else if (!S_ISREG(st.st_mode))
		rc = -EINVAL;
	if (rc < 0) {
		close(*fd);
		*fd = -1;
	}
	return rc;
}

/*
 * Why the tunnel's user (uid, gid; it has no other groups) could change the directory at fd
 * (rename, replace or link what is in it), or NULL if it cannot: the directory must belong to
 * root, nobody else may write it, its group may not when that is the user's, and no POSIX ACL
 * may let the user write (the group write bit is then the ACL's mask). A sticky directory
 * anyone may write (/tmp) is allowed where sticky_ok and the entry looked up in it is root's:
 * the user can then neither rename nor remove that entry. Only root can change any of this.
 */
static const char *untrusted(int fd, uid_t uid, gid_t gid, bool sticky_ok, uid_t entry_owner)
{
	char self[32];
	struct stat st;

	if (fstat(fd, &st) < 0)
		return "cannot be examined";
	if (st.st_uid != 0)
		return st.st_uid == uid ? "is owned by the tunnel's user" : "is not root's";
	if ((st.st_mode & S_IWOTH) && !(sticky_ok && (st.st_mode & S_ISVTX) && entry_owner == 0))
		return "may be written by anyone";
	if ((st.st_mode & S_IWGRP) && st.st_gid == gid)
		return "may be written by the tunnel's group";
	snprintf(self, sizeof(self), "/proc/self/fd/%d", fd);
	if ((st.st_mode & S_IWGRP) && (getxattr(self, "system.posix_acl_access", NULL, 0) >= 0 ||
				       (errno != ENODATA && errno != ENOTSUP)))
		return "has an ACL that may let the tunnel's user write it";
	return NULL;
}

/*
 * Looks path up from / as the kernel would, one component at a time (openat O_PATH |
 * O_NOFOLLOW, symlinks followed by hand, at most 40), checking every directory a name is
 * looked up in with untrusted(): a symlink or a directory the user could change anywhere on
 * the way would let it choose where the path leads. The last component is followed too when
 * follow_last (READ). On success the directory the file is in, pinned (the last directory
 * checked, strictly: no sticky exception, a free name there could be taken), and the file's
 * name in it (malloc'd); else -1 and *why. Before the filter.
 */
static int walk(const char *path, bool follow_last, uid_t uid, gid_t gid, char **base,
		const char **why)
{
	char rest[2 * FT_OPENER_PATH_MAX], target[FT_OPENER_PATH_MAX], comp[FT_OPENER_PATH_MAX];
	int cur = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC), next, hops = 0;
	struct stat st;
	size_t len;
	ssize_t n;
	char *p;

	*base = NULL;
	snprintf(rest, sizeof(rest), "%s", path);
	for (;;) {
		if (cur < 0) {
			*why = "cannot be looked up";
			return -1;
		}
		p = rest + strspn(rest, "/");
		len = strcspn(p, "/");
		if (len == 0 || len >= sizeof(comp)) {
			*why = "does not name a file";
			break;
		}
		memcpy(comp, p, len);
		comp[len] = '\0';
		memmove(rest, p + len, strlen(p + len) + 1);
		bool last = rest[strspn(rest, "/")] == '\0';

		if (strcmp(comp, ".") == 0 && !last)
			continue;
		if (last && !follow_last) {
			/* The directory the file is in: strictly checked, then pinned. */
			if (strcmp(comp, ".") == 0 || strcmp(comp, "..") == 0) {
				*why = "does not name a file";
				break;
			}
			if ((*why = untrusted(cur, uid, gid, false, 1)))
				break;
			*base = strdup(comp);
			if (!*base) {
				*why = "cannot be looked up";
				break;
			}
			return cur;
		}
		next = openat(cur, comp, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		if (next < 0 || fstat(next, &st) < 0) {
			*why = "does not exist (or a directory on the way does not)";
			if (next >= 0)
				close(next);
			break;
		}
		if ((*why = untrusted(cur, uid, gid, !last, st.st_uid))) {
			close(next);
			break;
		}
		if (S_ISLNK(st.st_mode)) {
			n = readlinkat(next, "", target, sizeof(target) - 1);
			close(next);
			if (n <= 0 || ++hops > 40 || (size_t)n + strlen(rest) + 2 > sizeof(rest)) {
				*why = "has a symlink that cannot be followed";
				break;
			}
			target[n] = '\0';
			/* The target, then what was left of the path. */
			memmove(rest + n + 1, rest, strlen(rest) + 1);
			memcpy(rest, target, (size_t)n);
			rest[n] = '/';
			if (target[0] == '/') {
				close(cur);
				cur = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
			}
			continue;
		}
		if (last) {
			/* READ: the file itself; its directory strictly checked, then pinned. */
			close(next);
			if ((*why = untrusted(cur, uid, gid, false, st.st_uid)))
				break;
			*base = strdup(comp);
			if (!*base) {
				*why = "cannot be looked up";
				break;
			}
			return cur;
		}
		if (!S_ISDIR(st.st_mode)) {
			close(next);
			*why = "has a component that is not a directory";
			break;
		}
		close(cur);
		cur = next;
	}
	close(cur);
	return -1;
}

/* Pins e's directory (struct entry) for a tunnel of uid/gid, or says on stderr why not. */
static void resolve_entry(struct entry *e, uid_t uid, gid_t gid)
{
	e->dirfd = walk(e->path, e->op == FT_OPENER_READ, uid, gid, &e->base, &e->why);
	if (e->dirfd < 0)
		dprintf(STDERR_FILENO,
			"flowtun: %s %s: the opener will not open it after the privilege drop "
			"(restart once it is in directories only root may change, or User = root)\n",
			e->path, e->why);
}

/* One reply, with fd attached when fd >= 0. 0, or -1 when the tunnel is gone. */
static int send_reply(int sock, int32_t rc, bool refused, int fd)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct reply rep = { .rc = rc, .refused = refused };
	struct iovec iov = { .iov_base = &rep, .iov_len = sizeof(rep) };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *c;
	ssize_t n;

	if (fd >= 0) {
		memset(&u, 0, sizeof(u));
		msg.msg_control = u.buf;
		msg.msg_controllen = sizeof(u.buf);
		c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}
	do {
		n = sendmsg(sock, &msg, MSG_NOSIGNAL);
	} while (n < 0 && errno == EINTR);
	return n == (ssize_t)sizeof(rep) ? 0 : -1;
}

/* What the helper may call once set up: its loop, and what exits and aborts need. */
static int child_seccomp(void)
{
	static const char *const names[] = {
		"recvmsg",
		"sendmsg",
		"openat",
		"open",
		"close",
		"newfstatat",
		"lstat",
		"fstat",
		"statx",
		"unlink",
		"unlinkat",
		"exit",
		"exit_group",
		"rt_sigreturn",
		"rt_sigprocmask",
		/* abort() on a sanitizer report */
		"getpid",
		"gettid",
		"tgkill",
		"write",
		"mmap",
		"munmap",
	};
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_KILL_PROCESS);
	int rc = 0, nr;

	if (!ctx)
		return -ENOMEM;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]) && rc == 0; i++) {
		nr = seccomp_syscall_resolve_name(names[i]);
		if (nr != __NR_SCMP_ERROR)
			rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0);
	}
	if (rc == 0)
		rc = seccomp_load(ctx);
	seccomp_release(ctx);
	return rc;
}

/*
 * Between fork and exec, in the child of a process that may have threads: async-signal-safe
 * calls only. The socket becomes fd 3, stdin and stdout /dev/null (stderr stays, for a
 * message), nothing else survives the exec (not the TUN device, whose fd would keep tun0
 * alive after the tunnel exits); the signals a terminal or systemd sends the whole group are
 * ignored (an ignored signal stays ignored across exec), none blocked.
 */
static _Noreturn void child_exec(int sock, const char *exe, char *const argv[])
{
	static const int ignored[] = { SIGINT, SIGTERM, SIGHUP, SIGUSR1, SIGUSR2, SIGPIPE };
	struct sigaction sa = { .sa_handler = SIG_IGN };
	sigset_t none;
	int null;

	for (size_t i = 0; i < sizeof(ignored) / sizeof(ignored[0]); i++)
		sigaction(ignored[i], &sa, NULL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (sock == 3) {
		/* Already in place, but created close-on-exec. */
		if (fcntl(3, F_SETFD, 0) < 0)
			_exit(126);
	} else {
		if (dup2(sock, 3) < 0)
			_exit(126);
		close(sock);
	}
	null = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null >= 0) {
		dup2(null, STDIN_FILENO);
		dup2(null, STDOUT_FILENO);
	}
	if (close_range(4, ~0u, 0) < 0)
		for (int fd = 4; fd < 65536; fd++)
			close(fd);
	execv(exe, argv);
	_exit(127);
}

/*
 * After the exec, before serving: no groups, no capabilities (permitted, effective,
 * inheritable, ambient, bounding), no-new-privs, its filter. 0 or a negative errno.
 */
static int child_setup(void)
{
	int rc;

	prctl(PR_SET_NAME, "flowtun-opener", 0, 0, 0);
	if (setgroups(0, NULL) < 0)
		return -errno;
	/* uid 0 stays: ownership of root's files is the one right the helper uses. */
	capng_clear(CAPNG_SELECT_BOTH);
	if (capng_apply(CAPNG_SELECT_BOTH) < 0)
		return -EPERM;
	/* libcap-ng leaves the bounding set as it is, and says 0, without CAP_SETPCAP. */
	for (int cap = 0; (rc = prctl(PR_CAPBSET_READ, cap, 0, 0, 0)) >= 0; cap++)
		if (rc)
			return -EPERM;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return -errno;
	return child_seccomp();
}

/* "r:/path", "a:/path" or "u:/path" into e; false if it is none of them. */
static bool parse_entry(const char *arg, struct entry *e)
{
	for (int op = FT_OPENER_READ; op <= FT_OPENER_UNLINK; op++) {
		if (arg[0] == op_letters[op] && arg[1] == ':' && arg[2] == '/' &&
		    strlen(arg + 2) < FT_OPENER_PATH_MAX) {
			e->op = (enum ft_opener_op)op;
			e->path = arg + 2;
			return true;
		}
	}
	return false;
}

void ft_opener_main(int argc, char **argv)
{
	struct entry list[FT_OPENER_MAX_PATHS];
	struct request req;
	struct iovec iov = { .iov_base = &req, .iov_len = sizeof(req) };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	char why[128];
	uid_t uid = 0;
	gid_t gid = 0;
	struct stat st;
	size_t n = 0;
	ssize_t got;
	int rc = 0;

	if (argc < 2 || strcmp(argv[1], FT_OPENER_ARG) != 0)
		return;
	/* argv: the flag, "i:UID:GID" of the tunnel's user, then one "o:/path" per entry. */
	if (argc < 3 || strncmp(argv[2], "i:", 2) != 0 ||
	    ft_privs_resolve_user(argv[2] + 2, &uid, &gid, why, sizeof(why)) < 0)
		rc = -EINVAL;
	for (int i = 3; i < argc && rc == 0; i++) {
		if (n == FT_OPENER_MAX_PATHS || !parse_entry(argv[i], &list[n]))
			rc = -EINVAL;
		n++;
	}
	if (fstat(3, &st) < 0 || !S_ISSOCK(st.st_mode))
		rc = -EBADF;
	/* Again: fds the runtime (a sanitizer) may have opened during start-up. */
	close_range(4, ~0u, 0);
	for (size_t i = 0; i < n && rc == 0; i++)
		resolve_entry(&list[i], uid, gid);
	if (rc == 0)
		rc = child_setup();
	if (send_reply(3, rc, false, -1) < 0 || rc < 0)
		_exit(1);
	for (;;) {
		const struct entry *e = NULL;
		int fd = -1;

		do {
			msg.msg_flags = 0;
			got = recvmsg(3, &msg, 0);
		} while (got < 0 && errno == EINTR);
		if (got == 0)
			_exit(0); /* the tunnel closed its end: it exited */
		/* Anything but a whole request, or fds sent to the helper: the asker is broken. */
		if (got != (ssize_t)sizeof(req) || (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) ||
		    !memchr(req.path, '\0', sizeof(req.path)))
			_exit(2);
		for (size_t i = 0; i < n && !e; i++)
			if (list[i].op == (enum ft_opener_op)req.op &&
			    strcmp(list[i].path, req.path) == 0)
				e = &list[i];
		rc = e ? opener_op(e, req.dev, req.ino, &fd) : -EPERM;
		if (send_reply(3, rc, !e, fd) < 0)
			_exit(0);
		if (fd >= 0)
			close(fd);
	}
}

/* ---- the tunnel's side ---- */

/* Receives one reply (and its fd) on sock_fd. The reply's rc, or a negative errno. */
static int recv_reply(int *fd, bool *refused)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct reply rep;
	struct iovec iov = { .iov_base = &rep, .iov_len = sizeof(rep) };
	struct msghdr msg = {
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = u.buf,
		.msg_controllen = sizeof(u.buf),
	};
	struct cmsghdr *c;
	ssize_t n;

	*fd = -1;
	do {
		n = recvmsg(sock_fd, &msg, MSG_CMSG_CLOEXEC);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == ECONNRESET ? -EPIPE : -errno;
	if (n == 0)
		return -EPIPE;
	for (c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS &&
		    c->cmsg_len == CMSG_LEN(sizeof(int)))
			memcpy(fd, CMSG_DATA(c), sizeof(int));
	if (n != (ssize_t)sizeof(rep) || (msg.msg_flags & MSG_CTRUNC)) {
		if (*fd >= 0)
			close(*fd);
		*fd = -1;
		return -EPROTO;
	}
	*refused = rep.refused != 0;
	return rep.rc;
}

/*
 * Says why the opener did not do what was asked, where the errno alone would not. Rate
 * limited: the flow writer tries to open again with each line while the file is refused.
 */
static void log_refusal(const char *path, enum ft_opener_op op, int rc, bool refused)
{
	struct timespec ts;
	const char *why;

	if (refused)
		why = "was not named when flowtun started: it can be opened again only after a "
		      "restart";
	else if (rc == -EPERM)
		why = "is refused by the opener (the start-up log said why)";
	else if (rc == -EINVAL)
		why = "is not a regular file: the opener refuses it";
	else if (rc == -ELOOP)
		why = "is a symlink now: the opener does not follow it";
	else if (rc == -EPIPE)
		why = op == FT_OPENER_UNLINK ? "cannot be removed: the opener is gone"
					     : "cannot be opened: the opener is gone";
	else
		return;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	FT_LOG_RATELIMITED((uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000,
			   FT_LOG_WARNING, "%s %s", path, why);
}

/*
 * The operation, directly or through the opener: rc of the reply with *fd set, or a negative
 * errno of the exchange.
 */
static int ask(enum ft_opener_op op, const char *path, uint64_t dev, uint64_t ino, int *fd)
{
	struct request req;
	size_t len = strlen(path);
	bool refused = false;
	ssize_t n;
	int rc;

	*fd = -1;
	if (len >= sizeof(req.path))
		return -ENAMETOOLONG;
	/*
	 * First as ourselves: a file the tunnel's user may open (a flow log chowned to it)
	 * needs no help, and one the opener's uid 0 without capabilities may not (owned by
	 * that user, mode 0644) could only be opened this way.
	 */
	rc = do_op(op, path, dev, ino, fd);
	if (rc != -EACCES && rc != -EPERM)
		return rc;
	memset(&req, 0, sizeof(req));
	req.op = (uint32_t)op;
	memcpy(req.path, path, len);
	req.dev = dev;
	req.ino = ino;
	pthread_mutex_lock(&lock);
	if (sock_fd < 0) {
		pthread_mutex_unlock(&lock);
		return rc;
	}
	do {
		n = send(sock_fd, &req, sizeof(req), MSG_NOSIGNAL);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		rc = errno == ECONNREFUSED || errno == ECONNRESET ? -EPIPE : -errno;
	else
		rc = recv_reply(fd, &refused);
	pthread_mutex_unlock(&lock);
	log_refusal(path, op, rc, refused);
	/* Paranoia: an fd with an error or an UNLINK, or READ/APPEND success without one. */
	if ((rc < 0 || op == FT_OPENER_UNLINK) && *fd >= 0) {
		close(*fd);
		*fd = -1;
	} else if (rc == 0 && op != FT_OPENER_UNLINK && *fd < 0) {
		rc = -EPROTO;
	}
	return rc;
}

int ft_opener_open(const char *path, enum ft_opener_op op)
{
	int fd, rc;

	if (op != FT_OPENER_READ && op != FT_OPENER_APPEND)
		return -EINVAL;
	rc = ask(op, path, 0, 0, &fd);
	return rc < 0 ? rc : fd;
}

int ft_opener_unlink(const char *path)
{
	int fd;

	return ask(FT_OPENER_UNLINK, path, 0, 0, &fd);
}

int ft_opener_unlink_inode(const char *path, dev_t dev, ino_t ino)
{
	int fd;

	return ask(FT_OPENER_UNLINK, path, (uint64_t)dev, (uint64_t)ino, &fd);
}

pid_t ft_opener_pid(void)
{
	pid_t pid;

	pthread_mutex_lock(&lock);
	pid = sock_fd >= 0 ? child_pid : 0;
	pthread_mutex_unlock(&lock);
	return pid;
}

int ft_opener_start(const char *exe, uid_t uid, gid_t gid, const struct ft_opener_path *paths,
		    size_t n, char *err, size_t errlen)
{
	char ids[32], *argv[FT_OPENER_MAX_PATHS + 4] = { "flowtun-opener", FT_OPENER_ARG, ids };
	sigset_t all, old;
	size_t used = 0;
	int sv[2], fd, rc = 0, status;
	bool refused;
	pid_t pid;

	err[0] = '\0';
	snprintf(ids, sizeof(ids), "i:%u:%u", (unsigned int)uid, (unsigned int)gid);
	pthread_mutex_lock(&lock);
	rc = sock_fd >= 0 ? -EALREADY : 0;
	pthread_mutex_unlock(&lock);
	if (rc < 0) {
		snprintf(err, errlen, "the opener runs already");
		return rc;
	}
	for (size_t i = 0; i < n && rc == 0; i++) {
		const char *path = paths[i].path;

		if (!path || !path[0])
			continue;
		if (paths[i].op < FT_OPENER_READ || paths[i].op > FT_OPENER_UNLINK) {
			snprintf(err, errlen, "no opener operation %d for '%s'", (int)paths[i].op,
				 path);
			rc = -EINVAL;
		} else if (path[0] != '/') {
			snprintf(err, errlen, "the opener takes absolute paths only, not '%s'",
				 path);
			rc = -EINVAL;
		} else if (strlen(path) >= FT_OPENER_PATH_MAX) {
			snprintf(err, errlen,
				 "a path of %zu bytes for the opener (at most %d): '%.64s...'",
				 strlen(path), FT_OPENER_PATH_MAX - 1, path);
			rc = -EINVAL;
		} else if (used == FT_OPENER_MAX_PATHS) {
			snprintf(err, errlen, "more than %d paths for the opener",
				 FT_OPENER_MAX_PATHS);
			rc = -EINVAL;
		} else if (asprintf(&argv[3 + used], "%c:%s", op_letters[paths[i].op], path) < 0) {
			argv[3 + used] = NULL;
			rc = -ENOMEM;
		} else {
			used++;
		}
	}
	if (rc < 0)
		goto out;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		rc = -errno;
		snprintf(err, errlen, "opener socketpair: %s", strerror(-rc));
		goto out;
	}
	/*
	 * No signal handler of ours may run in the child before it set its signals for the
	 * exec: libuv's would write to the loop's signal pipe, which the child shares.
	 */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pid = fork();
	if (pid == 0)
		child_exec(sv[1], exe, argv);
	rc = pid < 0 ? -errno : 0;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	close(sv[1]);
	if (rc < 0) {
		close(sv[0]);
		snprintf(err, errlen, "cannot fork the opener: %s", strerror(-rc));
		goto out;
	}
	/* Its first reply says whether it set itself up (EOF: the exec failed). */
	pthread_mutex_lock(&lock);
	sock_fd = sv[0];
	child_pid = pid;
	rc = recv_reply(&fd, &refused);
	pthread_mutex_unlock(&lock);
	if (fd >= 0)
		close(fd);
	if (rc == -EPIPE) {
		stop_status(&status);
		snprintf(err, errlen, "the opener %s did not start (exit status %d)", exe,
			 WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
	} else if (rc < 0) {
		ft_opener_stop();
		snprintf(err, errlen, "the opener could not set itself up: %s%s", strerror(-rc),
			 rc == -EPERM ? " (it needs CAP_SETGID and CAP_SETPCAP to drop its groups "
					"and capabilities)"
				      : "");
	}
out:
	for (size_t i = 0; i < used; i++)
		free(argv[3 + i]);
	return rc;
}

static void stop_status(int *status)
{
	pid_t pid;

	*status = 0;
	pthread_mutex_lock(&lock);
	if (sock_fd < 0) {
		pthread_mutex_unlock(&lock);
		return;
	}
	close(sock_fd);
	sock_fd = -1;
	pid = child_pid;
	child_pid = 0;
	pthread_mutex_unlock(&lock);
	while (waitpid(pid, status, 0) < 0 && errno == EINTR)
		;
}

void ft_opener_stop(void)
{
	int status;

	stop_status(&status);
}
