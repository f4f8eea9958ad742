// SPDX-License-Identifier: MIT
/*
 * The opener: the direct operations without a helper, the argument checks of
 * ft_opener_start(), and with the helper running (as root) the allow-list, its credentials
 * and fds, its death, its stop and concurrent askers. Each call first tries the operation as
 * the caller, so the tests ask as the dropped tunnel would (as_tunnel()): otherwise a root
 * test would never reach the helper. Without root the helper cannot empty its bounding set,
 * so there each running test checks that ft_opener_start() fails cleanly and that the calls
 * then act directly.
 *
 * Every test runs in its own process (fork mode is forced in main()): the opener is global
 * state of the process, and its helper is a child of the test that started it.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <check.h>

#include "tun/priv/opener.h"

#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))

#define FILE_CONTENT "line one\nline two\n"

/* The dropped tunnel's ids in the root run (Debian's nobody:nogroup). */
#define TUNNEL_ID 65534u

/* The suite runs as root: the helper starts, and as_tunnel() has something to drop. */
/* This program, which is also the opener's (main() calls ft_opener_main()). */
static char self_exe[PATH_MAX];

static bool suite_root;
#define MORE "more\n"

/*
 * The tcase's temp dir, made and removed by the parent (an unchecked fixture): a failing test
 * exits without a teardown of its own, and this way its files still go.
 */
static char base[64];

static void base_setup(void)
{
	snprintf(base, sizeof(base), "/tmp/check_opener.XXXXXX");
	/* Traversable by the tunnel's ids (each test's own dir stays 0700 unless it opens it). */
	if (!mkdtemp(base) || chmod(base, 0711) < 0) {
		perror(base);
		abort();
	}
}

static int rm_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)type;
	(void)ftw;
	return remove(path) < 0 ? -1 : 0;
}

static void base_teardown(void)
{
	if (nftw(base, rm_one, 16, FTW_DEPTH | FTW_PHYS) < 0)
		perror(base);
}

/* A fresh directory of this test under base. */
static void test_dir(char *dir, size_t size)
{
	ck_assert_int_lt(snprintf(dir, size, "%s/t.XXXXXX", base), (int)size);
	ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void join(char *out, size_t size, const char *dir, const char *name)
{
	ck_assert_int_lt(snprintf(out, size, "%s/%s", dir, name), (int)size);
}

static void write_file(const char *path, const char *content)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	size_t len = strlen(content);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, content, len), (ssize_t)len);
	ck_assert_int_eq(close(fd), 0);
}

/* A socket file left at path by a bound and closed AF_UNIX socket, as the API socket is. */
static void make_socket(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	ck_assert_int_ge(fd, 0);
	ck_assert_uint_lt(strlen(path), sizeof(sun.sun_path));
	memcpy(sun.sun_path, path, strlen(path) + 1);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	ck_assert_int_eq(close(fd), 0);
}

/* What is left to read of fd (up to size - 1 bytes), NUL-terminated. */
static void slurp_fd(int fd, char *buf, size_t size)
{
	size_t got = 0;
	ssize_t n;

	while (got < size - 1 && (n = read(fd, buf + got, size - 1 - got)) > 0)
		got += (size_t)n;
	buf[got] = '\0';
}

static void assert_content(const char *path, const char *want)
{
	char buf[256];
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	ck_assert_msg(fd >= 0, "%s: %s", path, strerror(errno));
	slurp_fd(fd, buf, sizeof(buf));
	close(fd);
	ck_assert_str_eq(buf, want);
}

static bool exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

static bool is_socket(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0 && S_ISSOCK(st.st_mode);
}

static void assert_cloexec(int fd)
{
	int flags = fcntl(fd, F_GETFD);

	ck_assert_int_ge(flags, 0);
	ck_assert_msg(flags & FD_CLOEXEC, "fd %d is not close-on-exec", fd);
}

/* No child left: a failed start reaped its helper, a stop reaped it. */
static void assert_no_children(void)
{
	ck_assert_int_eq(waitpid(-1, NULL, WNOHANG), -1);
	ck_assert_int_eq(errno, ECHILD);
}

/*
 * Starts the opener. As root it must start; otherwise it must fail cleanly (a negative errno,
 * a message, no PID, no child left) and the calls then act directly: false then.
 */
static bool start_or_fallback(const struct ft_opener_path *paths, size_t n)
{
	char err[256] = "x";
	int rc = ft_opener_start(self_exe, TUNNEL_ID, TUNNEL_ID, paths, n, err, sizeof(err));

	if (geteuid() == 0) {
		ck_assert_msg(rc == 0, "ft_opener_start: %d (%s)", rc, err);
		ck_assert_int_gt(ft_opener_pid(), 0);
		return true;
	}
	ck_assert_msg(rc < 0 && rc != -EINVAL, "ft_opener_start as uid %u: %d (%s)",
		      (unsigned)geteuid(), rc, err);
	ck_assert_msg(err[0] != '\0', "no message with %d", rc);
	ck_assert_int_eq(ft_opener_pid(), 0);
	assert_no_children();
	return false;
}

/*
 * A fresh dir of the test with a file f (FILE_CONTENT), and the opener started with READ of f
 * as its one listed pair (the list goes onto the helper's command line, so it may be local).
 * The helper's PID, or 0 without root, where start_or_fallback() has checked the fallback.
 */
static pid_t start_reading(char *f, size_t size)
{
	char dir[128];
	struct ft_opener_path list[1];

	test_dir(dir, sizeof(dir));
	join(f, size, dir, "f");
	write_file(f, FILE_CONTENT);
	list[0] = (struct ft_opener_path){ FT_OPENER_READ, f };
	if (!start_or_fallback(list, N(list)))
		return 0;
	return ft_opener_pid();
}

/*
 * This thread's file accesses as the dropped tunnel's: fsuid and fsgid TUNNEL_ID (which also
 * clears the filesystem capabilities, CAP_DAC_OVERRIDE and co.) and no supplementary groups
 * (root's group 0 would read the 0640 files the helper creates). Per thread: the test's other
 * threads stay root, and kill() of the helper still works (it looks at the real uid). Without
 * root it changes nothing: there is no helper, and every call is direct anyway.
 */
static bool set_tunnel(bool on)
{
	uid_t uid = on ? TUNNEL_ID : 0;

	if (!suite_root)
		return true;
	if (on && setgroups(0, NULL) < 0)
		return false;
	setfsgid(uid);
	setfsuid(uid);
	return (uid_t)setfsuid((uid_t)-1) == uid && (gid_t)setfsgid((gid_t)-1) == uid;
}

static void as_tunnel(void)
{
	ck_assert_msg(set_tunnel(true), "cannot take the tunnel's ids");
}

static void as_root(void)
{
	ck_assert_msg(set_tunnel(false), "cannot take root's ids back");
}

/* ---- the operations: directly, and through the opener with the pair listed ---- */

enum prep { P_NONE, P_FILE, P_SOCKET, P_DIR };
enum call { C_READ = FT_OPENER_READ, C_APPEND, C_UNLINK, C_OPEN_UNLINK, C_OPEN_OP0, C_OPEN_OP9 };
enum after { A_SAME, A_GONE, A_APPENDED, A_CREATED };

static const struct op_case {
	const char *why;
	const char *name; /* in the test's dir */
	enum prep prep;
	enum call call;
	mode_t umask;
	int rc; /* 0: success (an fd for the opens) */
	enum after after;
	mode_t mode;   /* of a created file */
	int listed_rc; /* through the opener, when it differs from rc (0: the same) */
} op_cases[] = {
	{ "READ of a file", "f", P_FILE, C_READ, 022, 0, A_SAME, 0 },
	/* Through the opener: a path that did not resolve at its start stays refused. */
	{ "READ of a missing file", "missing", P_NONE, C_READ, 022, -ENOENT, A_SAME, 0, -EPERM },
	{ "READ in a missing dir", "nodir/f", P_NONE, C_READ, 022, -ENOENT, A_SAME, 0, -EPERM },
	{ "READ of a socket", "s", P_SOCKET, C_READ, 022, -ENXIO, A_SAME, 0 },
	{ "APPEND to a file", "log", P_FILE, C_APPEND, 022, 0, A_APPENDED, 0 },
	{ "APPEND creates, umask 022", "newlog", P_NONE, C_APPEND, 022, 0, A_CREATED, 0640 },
	{ "APPEND creates, umask 027", "newlog", P_NONE, C_APPEND, 027, 0, A_CREATED, 0640 },
	{ "APPEND creates, umask 077", "newlog", P_NONE, C_APPEND, 077, 0, A_CREATED, 0600 },
	{ "APPEND in a missing dir", "nodir/log", P_NONE, C_APPEND, 022, -ENOENT, A_SAME, 0,
	  -EPERM },
	{ "APPEND to a directory", "d", P_DIR, C_APPEND, 022, -EISDIR, A_SAME, 0 },
	{ "UNLINK of a socket", "s", P_SOCKET, C_UNLINK, 022, 0, A_GONE, 0 },
	{ "UNLINK of a regular file", "f", P_FILE, C_UNLINK, 022, -ENOTSOCK, A_SAME, 0 },
	{ "UNLINK of a directory", "d", P_DIR, C_UNLINK, 022, -ENOTSOCK, A_SAME, 0 },
	{ "UNLINK of a missing path", "missing", P_NONE, C_UNLINK, 022, -ENOENT, A_SAME, 0 },
	{ "open with UNLINK", "s", P_SOCKET, C_OPEN_UNLINK, 022, -EINVAL, A_SAME, 0 },
	{ "open with op 0", "f", P_FILE, C_OPEN_OP0, 022, -EINVAL, A_SAME, 0 },
	{ "open with op 9", "f", P_FILE, C_OPEN_OP9, 022, -EINVAL, A_SAME, 0 },
};

static void prepare(enum prep prep, const char *path)
{
	switch (prep) {
	case P_FILE:
		write_file(path, FILE_CONTENT);
		break;
	case P_SOCKET:
		make_socket(path);
		break;
	case P_DIR:
		ck_assert_int_eq(mkdir(path, 0755), 0);
		break;
	case P_NONE:
		break;
	}
}

/* The op that the opener's list names for a case: the one the call asks. */
static enum ft_opener_op listed_op(enum call call)
{
	switch (call) {
	case C_READ:
	case C_OPEN_OP0:
	case C_OPEN_OP9:
		return FT_OPENER_READ;
	case C_APPEND:
		return FT_OPENER_APPEND;
	case C_UNLINK:
	case C_OPEN_UNLINK:
		return FT_OPENER_UNLINK;
	}
	return FT_OPENER_READ;
}

/* Runs the case, as the tunnel when tunnel is set, and checks the result as root. */
static void run_op_case(const struct op_case *c, const char *path, bool tunnel)
{
	int want = tunnel && c->listed_rc ? c->listed_rc : c->rc;
	char buf[256];
	struct stat st;
	int rc, fl;

	umask(c->umask);
	if (tunnel)
		as_tunnel();
	switch (c->call) {
	case C_READ:
	case C_APPEND:
		rc = ft_opener_open(path, (enum ft_opener_op)c->call);
		break;
	case C_UNLINK:
		rc = ft_opener_unlink(path);
		break;
	case C_OPEN_UNLINK:
		rc = ft_opener_open(path, FT_OPENER_UNLINK);
		break;
	case C_OPEN_OP0:
		rc = ft_opener_open(path, (enum ft_opener_op)0);
		break;
	case C_OPEN_OP9:
	default:
		rc = ft_opener_open(path, (enum ft_opener_op)9);
		break;
	}
	if (tunnel)
		as_root();
	if (want < 0 || c->call == C_UNLINK) {
		ck_assert_msg(rc == want, "%s: %d, want %d", c->why, rc, want);
	} else {
		ck_assert_msg(rc >= 0, "%s: %d, want an fd", c->why, rc);
		assert_cloexec(rc);
		fl = fcntl(rc, F_GETFL);
		if (c->call == C_READ) {
			ck_assert_int_eq(fl & O_ACCMODE, O_RDONLY);
			slurp_fd(rc, buf, sizeof(buf));
			ck_assert_str_eq(buf, FILE_CONTENT);
		} else {
			ck_assert_int_eq(fl & O_ACCMODE, O_WRONLY);
			ck_assert_int_ne(fl & O_APPEND, 0);
			ck_assert_int_eq(write(rc, MORE, strlen(MORE)), (ssize_t)strlen(MORE));
		}
		ck_assert_int_eq(close(rc), 0);
	}

	switch (c->after) {
	case A_SAME:
		if (c->prep == P_NONE)
			ck_assert_msg(!exists(path), "%s: created %s", c->why, path);
		else if (c->prep == P_FILE)
			assert_content(path, FILE_CONTENT);
		else if (c->prep == P_SOCKET)
			ck_assert_msg(is_socket(path), "%s: socket gone", c->why);
		else
			ck_assert(lstat(path, &st) == 0 && S_ISDIR(st.st_mode));
		break;
	case A_GONE:
		ck_assert_msg(!exists(path), "%s: still there", c->why);
		break;
	case A_APPENDED:
		assert_content(path, FILE_CONTENT MORE);
		break;
	case A_CREATED:
		assert_content(path, MORE);
		ck_assert_int_eq(lstat(path, &st), 0);
		ck_assert_msg((st.st_mode & 07777) == c->mode, "%s: mode %o, want %o", c->why,
			      (unsigned)(st.st_mode & 07777), (unsigned)c->mode);
		ck_assert_uint_eq(st.st_uid, geteuid());
		break;
	}
}

START_TEST(test_direct)
{
	const struct op_case *c = &op_cases[_i];
	char dir[128], path[192];

	test_dir(dir, sizeof(dir));
	join(path, sizeof(path), dir, c->name);
	prepare(c->prep, path);
	ck_assert_int_eq(ft_opener_pid(), 0);
	run_op_case(c, path, false);
	ck_assert_int_eq(ft_opener_pid(), 0);
}
END_TEST

/*
 * The same cases with the opener running, the pair in its list, and the tunnel's ids, which
 * cannot even search the test's dir: the helper does each, with the same results.
 */
START_TEST(test_listed)
{
	const struct op_case *c = &op_cases[_i];
	char dir[128], path[192];
	struct ft_opener_path list[1];

	test_dir(dir, sizeof(dir));
	join(path, sizeof(path), dir, c->name);
	prepare(c->prep, path);
	/* The helper inherits the umask at its fork: set it first. */
	umask(c->umask);
	list[0].op = listed_op(c->call);
	list[0].path = path;
	start_or_fallback(list, 1);
	run_op_case(c, path, true);
	ft_opener_stop();
	assert_no_children();
}
END_TEST

/*
 * ft_opener_unlink_inode(): the socket is removed only while it is the one meant (its
 * dev/ino from when it was bound); another socket bound at the name since is left alone with
 * -ESTALE. Directly, and through the opener for a tunnel that cannot search the directory.
 */
START_TEST(test_unlink_inode)
{
	char dir[128], s[192], old[192];
	struct ft_opener_path list[1];
	struct stat first, second;
	bool helper;

	test_dir(dir, sizeof(dir));
	join(s, sizeof(s), dir, "s");
	join(old, sizeof(old), dir, "old");
	make_socket(s);
	ck_assert_int_eq(lstat(s, &first), 0);
	list[0] = (struct ft_opener_path){ FT_OPENER_UNLINK, s };
	for (int round = 0; round < 2; round++) {
		helper = round == 1 && start_or_fallback(list, N(list));
		if (round == 1 && !helper)
			break;
		/* Another instance's socket has the name now (ours kept aside: its inode stays). */
		ck_assert_int_eq(rename(s, old), 0);
		make_socket(s);
		ck_assert_int_eq(lstat(s, &second), 0);
		ck_assert(second.st_ino != first.st_ino);
		if (helper)
			as_tunnel();
		ck_assert_int_eq(ft_opener_unlink_inode(s, first.st_dev, first.st_ino), -ESTALE);
		if (helper)
			as_root();
		ck_assert(is_socket(s));
		if (helper)
			as_tunnel();
		ck_assert_int_eq(ft_opener_unlink_inode(s, second.st_dev, second.st_ino), 0);
		if (helper)
			as_root();
		ck_assert(!exists(s));
		ck_assert_int_eq(rename(old, s), 0);
	}
	ft_opener_stop();
	assert_no_children();
}
END_TEST

/* ---- ft_opener_start()'s arguments ---- */

static char long_path[FT_OPENER_PATH_MAX + 2];

static const char *make_long_path(size_t len)
{
	ck_assert_uint_lt(len, sizeof(long_path));
	memset(long_path, 'a', len);
	long_path[0] = '/';
	long_path[len] = '\0';
	return long_path;
}

static const struct {
	const char *why;
	const char *path; /* NULL: a path of long_len bytes */
	size_t long_len;
	int op;
	size_t count;	    /* copies of the entry, or 1 */
	const char *quoted; /* in err, or NULL */
} bad_starts[] = {
	{ "relative path", "etc/flowtun.conf", 0, FT_OPENER_READ, 1, "etc/flowtun.conf" },
	{ "dot-relative path", "./flowtun.conf", 0, FT_OPENER_READ, 1, "./flowtun.conf" },
	{ "path of FT_OPENER_PATH_MAX bytes", NULL, FT_OPENER_PATH_MAX, FT_OPENER_READ, 1,
	  "/aaaaaaaa" },
	{ "path of FT_OPENER_PATH_MAX + 1 bytes", NULL, FT_OPENER_PATH_MAX + 1, FT_OPENER_APPEND, 1,
	  "/aaaaaaaa" },
	{ "op 0", "/etc/flowtun.conf", 0, 0, 1, "/etc/flowtun.conf" },
	{ "op past UNLINK", "/etc/flowtun.conf", 0, FT_OPENER_UNLINK + 1, 1, "/etc/flowtun.conf" },
	{ "17 paths", "/etc/flowtun.conf", 0, FT_OPENER_READ, FT_OPENER_MAX_PATHS + 1, "16" },
};

START_TEST(test_start_bad)
{
	struct ft_opener_path paths[FT_OPENER_MAX_PATHS + 4];
	const char *p = bad_starts[_i].path ? bad_starts[_i].path
					    : make_long_path(bad_starts[_i].long_len);
	char err[256] = "";
	size_t n = bad_starts[_i].count;
	int rc;

	for (size_t i = 0; i < n; i++) {
		paths[i].op = (enum ft_opener_op)bad_starts[_i].op;
		paths[i].path = p;
	}
	rc = ft_opener_start(self_exe, TUNNEL_ID, TUNNEL_ID, paths, n, err, sizeof(err));
	ck_assert_msg(rc == -EINVAL, "%s: %d (%s)", bad_starts[_i].why, rc, err);
	ck_assert_msg(strstr(err, bad_starts[_i].quoted) != NULL, "%s: '%s' not in: %s",
		      bad_starts[_i].why, bad_starts[_i].quoted, err);
	ck_assert_int_eq(ft_opener_pid(), 0);
	assert_no_children();
}
END_TEST

/* What start takes: the limits themselves, NULL and empty entries skipped (not counted). */
static const struct {
	const char *why;
	size_t long_len; /* 0: "/x" entries */
	size_t valid, nulls, empties;
} good_starts[] = {
	{ "no paths at all", 0, 0, 0, 0 },
	{ "a path of FT_OPENER_PATH_MAX - 1 bytes", FT_OPENER_PATH_MAX - 1, 1, 0, 0 },
	{ "16 paths", 0, FT_OPENER_MAX_PATHS, 0, 0 },
	{ "16 paths and NULL and empty ones", 0, FT_OPENER_MAX_PATHS, 3, 3 },
	{ "only NULL and empty paths", 0, 0, 10, 10 },
};

START_TEST(test_start_good)
{
	struct ft_opener_path paths[64];
	const char *p = good_starts[_i].long_len ? make_long_path(good_starts[_i].long_len) : "/x";
	size_t n = 0;

	/* Interleaved, so that a skipped entry in the middle counts against nothing. */
	for (size_t i = 0;
	     i < good_starts[_i].valid || i < good_starts[_i].nulls || i < good_starts[_i].empties;
	     i++) {
		if (i < good_starts[_i].nulls)
			paths[n++] = (struct ft_opener_path){ FT_OPENER_READ, NULL };
		if (i < good_starts[_i].valid)
			paths[n++] = (struct ft_opener_path){ FT_OPENER_READ, p };
		if (i < good_starts[_i].empties)
			paths[n++] = (struct ft_opener_path){ FT_OPENER_APPEND, "" };
	}
	ck_assert_uint_le(n, N(paths));
	if (start_or_fallback(paths, n)) {
		/* A long listed path goes through the request (PATH_MAX - 1 bytes fit). */
		if (good_starts[_i].long_len)
			ck_assert_int_eq(ft_opener_open(p, FT_OPENER_READ), -ENAMETOOLONG);
		ft_opener_stop();
	}
	assert_no_children();
}
END_TEST

START_TEST(test_start_twice)
{
	struct ft_opener_path paths[] = { { FT_OPENER_READ, "/x" } };
	char err[256] = "";
	pid_t pid;

	if (!start_or_fallback(paths, 1))
		return;
	pid = ft_opener_pid();
	ck_assert_int_eq(ft_opener_start(self_exe, TUNNEL_ID, TUNNEL_ID, paths, 1, err,
					 sizeof(err)),
			 -EALREADY);
	ck_assert_msg(err[0] != '\0', "no message");
	ck_assert_int_eq(ft_opener_pid(), pid);
	ft_opener_stop();
	ft_opener_stop(); /* a no-op */
	ck_assert_int_eq(ft_opener_pid(), 0);
	assert_no_children();
}
END_TEST

/* ---- refusals: everything but a listed pair ---- */

/*
 * Listed: READ of f, APPEND of log (not there yet), UNLINK of s. Each asked (op, path) is
 * refused without touching anything.
 */
static const struct {
	const char *why;
	int op;
	enum { IN_DIR, UP_AND_BACK, AS_IS } where; /* dir + rest, dir/../t.X + rest, rest */
	const char *rest;
} refusals[] = {
	{ "APPEND of the file listed for READ", FT_OPENER_APPEND, IN_DIR, "/f" },
	{ "UNLINK of the file listed for READ", FT_OPENER_UNLINK, IN_DIR, "/f" },
	{ "READ of the log listed for APPEND", FT_OPENER_READ, IN_DIR, "/log" },
	{ "UNLINK of the log listed for APPEND", FT_OPENER_UNLINK, IN_DIR, "/log" },
	{ "READ of the socket listed for UNLINK", FT_OPENER_READ, IN_DIR, "/s" },
	{ "APPEND of the socket listed for UNLINK", FT_OPENER_APPEND, IN_DIR, "/s" },
	{ "READ of an unlisted file", FT_OPENER_READ, IN_DIR, "/other" },
	{ "APPEND of an unlisted file", FT_OPENER_APPEND, IN_DIR, "/other" },
	{ "UNLINK of an unlisted socket", FT_OPENER_UNLINK, IN_DIR, "/s2" },
	{ "READ with a trailing slash", FT_OPENER_READ, IN_DIR, "/f/" },
	{ "READ through /./", FT_OPENER_READ, IN_DIR, "/./f" },
	{ "READ through //", FT_OPENER_READ, IN_DIR, "//f" },
	{ "READ through ../", FT_OPENER_READ, UP_AND_BACK, "/f" },
	{ "APPEND with a trailing slash", FT_OPENER_APPEND, IN_DIR, "/log/" },
	{ "APPEND through /./", FT_OPENER_APPEND, IN_DIR, "/./log" },
	{ "UNLINK through /./", FT_OPENER_UNLINK, IN_DIR, "/./s" },
	{ "READ of a prefix of a listed path", FT_OPENER_READ, IN_DIR, "/" },
	{ "READ of the listed path's dir", FT_OPENER_READ, IN_DIR, "" },
	{ "APPEND of a prefix of the listed log", FT_OPENER_APPEND, IN_DIR, "/lo" },
	{ "READ of a listed path plus a suffix", FT_OPENER_READ, IN_DIR, "/f2" },
	{ "READ through a symlink to a listed file", FT_OPENER_READ, IN_DIR, "/link" },
	{ "READ of a relative path (from the dir)", FT_OPENER_READ, AS_IS, "f" },
};

START_TEST(test_refused)
{
	char dir[128], f[192], log[192], s[192], s2[192], other[192], link[192], ask[512];
	struct ft_opener_path list[3];
	const char *d;
	int rc, fd;

	test_dir(dir, sizeof(dir));
	join(f, sizeof(f), dir, "f");
	join(log, sizeof(log), dir, "log");
	join(s, sizeof(s), dir, "s");
	join(s2, sizeof(s2), dir, "s2");
	join(other, sizeof(other), dir, "other");
	join(link, sizeof(link), dir, "link");
	write_file(f, FILE_CONTENT);
	write_file(other, FILE_CONTENT);
	make_socket(s);
	make_socket(s2);
	ck_assert_int_eq(symlink(f, link), 0);
	list[0] = (struct ft_opener_path){ FT_OPENER_READ, f };
	list[1] = (struct ft_opener_path){ FT_OPENER_APPEND, log };
	list[2] = (struct ft_opener_path){ FT_OPENER_UNLINK, s };
	if (!start_or_fallback(list, N(list)))
		return;

	d = strrchr(dir, '/') + 1;
	if (refusals[_i].where == IN_DIR)
		snprintf(ask, sizeof(ask), "%s%s", dir, refusals[_i].rest);
	else if (refusals[_i].where == UP_AND_BACK)
		snprintf(ask, sizeof(ask), "%s/../%s%s", dir, d, refusals[_i].rest);
	else
		snprintf(ask, sizeof(ask), "%s", refusals[_i].rest);
	/* A relative path names dir's f for the test, whose direct attempt fails in dir. */
	if (refusals[_i].where == AS_IS)
		ck_assert_int_eq(chdir(dir), 0);
	as_tunnel();
	if (refusals[_i].op == FT_OPENER_UNLINK)
		rc = ft_opener_unlink(ask);
	else
		rc = ft_opener_open(ask, (enum ft_opener_op)refusals[_i].op);
	as_root();
	ck_assert_msg(rc == -EPERM, "%s ('%s'): %d, want -EPERM", refusals[_i].why, ask, rc);

	/* Nothing touched, and the helper still serves the listed pairs. */
	assert_content(f, FILE_CONTENT);
	assert_content(other, FILE_CONTENT);
	ck_assert(!exists(log));
	ck_assert(is_socket(s));
	ck_assert(is_socket(s2));
	as_tunnel();
	fd = ft_opener_open(f, FT_OPENER_READ);
	rc = ft_opener_unlink(s);
	as_root();
	ck_assert_int_ge(fd, 0);
	close(fd);
	ck_assert_int_eq(rc, 0);
	ck_assert(!exists(s));
	ft_opener_stop();
}
END_TEST

/* ---- the helper itself ---- */

/* The value of a "Key:\tvalue" line of /proc/PID/status, or false if absent. */
static bool status_field(pid_t pid, const char *key, char *out, size_t size)
{
	char path[64], line[256];
	size_t klen = strlen(key);
	bool found = false;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "re");
	ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
	while (!found && fgets(line, sizeof(line), f)) {
		if (strncmp(line, key, klen) == 0 && line[klen] == ':') {
			snprintf(out, size, "%s", line + klen + 1 + strspn(line + klen + 1, " \t"));
			out[strcspn(out, "\n")] = '\0';
			found = true;
		}
	}
	fclose(f);
	return found;
}

static const struct {
	const char *key, *want;
} helper_status[] = {
	{ "Name", "flowtun-opener" },
	{ "Uid", "0\t0\t0\t0" },
	{ "Groups", "" },
	{ "CapInh", "0000000000000000" },
	{ "CapPrm", "0000000000000000" },
	{ "CapEff", "0000000000000000" },
	{ "CapBnd", "0000000000000000" },
	{ "CapAmb", "0000000000000000" },
	{ "NoNewPrivs", "1" },
	{ "Seccomp", "2" },
};

START_TEST(test_helper_status)
{
	struct ft_opener_path list[] = { { FT_OPENER_READ, "/x" } };
	char val[128];
	pid_t pid;

	if (!start_or_fallback(list, N(list)))
		return;
	pid = ft_opener_pid();
	for (int i = 0; i < N(helper_status); i++) {
		ck_assert_msg(status_field(pid, helper_status[i].key, val, sizeof(val)),
			      "no %s in /proc/%d/status", helper_status[i].key, (int)pid);
		ck_assert_msg(strcmp(val, helper_status[i].want) == 0, "%s: '%s', want '%s'",
			      helper_status[i].key, val, helper_status[i].want);
	}
	ft_opener_stop();
	ck_assert_int_eq(ft_opener_pid(), 0);
	ck_assert_int_eq(kill(pid, 0), -1);
	ck_assert_int_eq(errno, ESRCH);
	assert_no_children();
}
END_TEST

/*
 * The helper's fds: 0, 1, 2 and its socket 3, nothing of the tunnel's. Under valgrind its own
 * fds sit at or above the soft RLIMIT_NOFILE that it shows the program: those are not ours.
 */
START_TEST(test_helper_fds)
{
	struct ft_opener_path list[] = { { FT_OPENER_READ, "/x" } };
	char path[64], seen[256] = "";
	int p[2], extra, nfds = 0;
	struct rlimit rl;
	struct dirent *e;
	bool want[4] = { false };
	DIR *dir;

	/* Some fds of the tunnel, with and without close-on-exec. */
	ck_assert_int_eq(pipe(p), 0);
	extra = open("/dev/null", O_RDONLY);
	ck_assert_int_ge(dup2(extra, 40), 0);
	if (!start_or_fallback(list, N(list)))
		return;
	ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
	snprintf(path, sizeof(path), "/proc/%d/fd", (int)ft_opener_pid());
	dir = opendir(path);
	ck_assert_msg(dir != NULL, "%s: %s", path, strerror(errno));
	while ((e = readdir(dir))) {
		long fd;

		if (e->d_name[0] == '.')
			continue;
		fd = strtol(e->d_name, NULL, 10);
		if ((rlim_t)fd >= rl.rlim_cur)
			continue;
		snprintf(seen + strlen(seen), sizeof(seen) - strlen(seen), " %ld", fd);
		if (fd >= 0 && fd <= 3)
			want[fd] = true;
		nfds++;
	}
	closedir(dir);
	ck_assert_msg(nfds == 4 && want[0] && want[1] && want[2] && want[3],
		      "the helper's fds:%s, want 0 1 2 3", seen);

	/* The pipe's write end is the test's alone: closing it gives the reader EOF. */
	{
		char c;

		ck_assert_int_eq(close(p[1]), 0);
		ck_assert_int_eq(read(p[0], &c, 1), 0);
	}
	ft_opener_stop();
	close(p[0]);
	close(extra);
	close(40);
}
END_TEST

/* The group signals of a terminal or systemd leave it serving. */
START_TEST(test_helper_ignores_signals)
{
	static const int sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGPIPE };
	char f[192];
	pid_t pid;
	int fd;

	pid = start_reading(f, sizeof(f));
	if (!pid)
		return;
	for (int i = 0; i < N(sigs); i++)
		ck_assert_int_eq(kill(pid, sigs[i]), 0);
	/* A round trip after the signals: any of them that killed it would show here. */
	as_tunnel();
	fd = ft_opener_open(f, FT_OPENER_READ);
	as_root();
	ck_assert_msg(fd >= 0, "after signals: %d", fd);
	close(fd);
	ck_assert_int_eq(waitpid(pid, NULL, WNOHANG), 0);
	ft_opener_stop();
}
END_TEST

/*
 * After stop: no PID, the helper reaped, and only the direct attempt left (the tunnel's own
 * rights, no list any more). A second start works.
 */
START_TEST(test_stop_falls_back)
{
	char dir[128], f[192], other[192], s[192];
	struct ft_opener_path list[1];
	pid_t pid;
	int fd, rc;

	test_dir(dir, sizeof(dir));
	join(f, sizeof(f), dir, "f");
	join(other, sizeof(other), dir, "other");
	join(s, sizeof(s), dir, "s");
	write_file(f, FILE_CONTENT);
	write_file(other, FILE_CONTENT);
	make_socket(s);
	list[0] = (struct ft_opener_path){ FT_OPENER_READ, f };
	if (start_or_fallback(list, N(list))) {
		pid = ft_opener_pid();
		as_tunnel();
		rc = ft_opener_open(other, FT_OPENER_READ);
		fd = ft_opener_open(f, FT_OPENER_READ);
		as_root();
		ck_assert_int_eq(rc, -EPERM);
		ck_assert_int_ge(fd, 0);
		close(fd);
		ft_opener_stop();
		ck_assert_int_eq(ft_opener_pid(), 0);
		ck_assert_int_eq(kill(pid, 0), -1);
		ck_assert_int_eq(errno, ESRCH);
		as_tunnel();
		fd = ft_opener_open(f, FT_OPENER_READ);
		rc = ft_opener_unlink(s);
		as_root();
		ck_assert_int_eq(fd, -EACCES);
		ck_assert_int_eq(rc, -EACCES);
	}
	assert_no_children();
	/* The test's own ids may: directly. */
	fd = ft_opener_open(other, FT_OPENER_READ);
	ck_assert_int_ge(fd, 0);
	close(fd);
	ck_assert_int_eq(ft_opener_unlink(s), 0);
	ck_assert(!exists(s));
	if (start_or_fallback(list, N(list))) {
		as_tunnel();
		rc = ft_opener_open(other, FT_OPENER_READ);
		fd = ft_opener_open(f, FT_OPENER_READ);
		as_root();
		ck_assert_int_eq(rc, -EPERM);
		ck_assert_int_ge(fd, 0);
		close(fd);
		ft_opener_stop();
	}
}
END_TEST

/*
 * A helper killed under the tunnel: every call after it that needs it is -EPIPE, with no hang
 * and no SIGPIPE, until stop reaps it. SIGPIPE is left at its default so that one would kill
 * the test (Linux raises none for SOCK_SEQPACKET today; the code's MSG_NOSIGNAL makes sure).
 */
static const struct {
	const char *why;
	int op;
} after_death[] = {
	{ "READ", FT_OPENER_READ },
	{ "APPEND", FT_OPENER_APPEND },
	{ "UNLINK", FT_OPENER_UNLINK },
};

START_TEST(test_helper_killed)
{
	char dir[128], f[192], s[192];
	struct ft_opener_path list[3];
	const char *path;
	pid_t pid;
	int rc, status;

	test_dir(dir, sizeof(dir));
	join(f, sizeof(f), dir, "f");
	join(s, sizeof(s), dir, "s");
	write_file(f, FILE_CONTENT);
	make_socket(s);
	list[0] = (struct ft_opener_path){ FT_OPENER_READ, f };
	list[1] = (struct ft_opener_path){ FT_OPENER_APPEND, f };
	list[2] = (struct ft_opener_path){ FT_OPENER_UNLINK, s };
	signal(SIGPIPE, SIG_DFL);
	if (!start_or_fallback(list, N(list)))
		return;
	pid = ft_opener_pid();
	ck_assert_int_eq(kill(pid, SIGKILL), 0);
	/* Wait for the death itself without reaping: stop must still reap it. */
	{
		siginfo_t si;

		ck_assert_int_eq(waitid(P_PID, (id_t)pid, &si, WEXITED | WNOWAIT), 0);
		ck_assert_int_eq(si.si_code, CLD_KILLED);
	}
	path = after_death[_i].op == FT_OPENER_UNLINK ? s : f;
	for (int round = 0; round < 2; round++) {
		as_tunnel();
		if (after_death[_i].op == FT_OPENER_UNLINK)
			rc = ft_opener_unlink(path);
		else
			rc = ft_opener_open(path, (enum ft_opener_op)after_death[_i].op);
		as_root();
		ck_assert_msg(rc == -EPIPE, "%s after the helper died (round %d): %d",
			      after_death[_i].why, round, rc);
	}
	assert_content(f, FILE_CONTENT);
	ck_assert(is_socket(s));
	ft_opener_stop();
	ck_assert_int_eq(ft_opener_pid(), 0);
	ck_assert_int_eq(kill(pid, 0), -1);
	ck_assert_int_eq(errno, ESRCH);
	ck_assert_int_eq(waitpid(-1, &status, WNOHANG), -1);
	ck_assert_int_eq(ft_opener_unlink(s), 0);
}
END_TEST

/*
 * A helper killed with a request in flight: the asker blocked on the reply gets -EPIPE, not a
 * hang. The helper is stopped first so that the request stays unread in its queue (the kernel
 * then reports the close as ECONNRESET, not EOF); the asker runs in a thread, and the test
 * waits (polling, no timing) until that thread sits in recvmsg().
 */
struct pending {
	pid_t tid;
	const char *path;
	int rc;
	bool done;
};

static void *pending_main(void *arg)
{
	struct pending *p = arg;

	p->rc = set_tunnel(true) ? 0 : -EPERM;
	__atomic_store_n(&p->tid, (pid_t)syscall(SYS_gettid), __ATOMIC_SEQ_CST);
	if (p->rc == 0)
		p->rc = ft_opener_open(p->path, FT_OPENER_READ);
	__atomic_store_n(&p->done, true, __ATOMIC_SEQ_CST);
	return NULL;
}

/* The syscall that thread tid is blocked in, or -1. */
static long blocked_in(pid_t tid)
{
	char path[64];
	long nr = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/task/%d/syscall", (int)tid);
	f = fopen(path, "re");
	if (!f)
		return -1;
	if (fscanf(f, "%ld", &nr) != 1)
		nr = -1;
	fclose(f);
	return nr;
}

/* The state letter of /proc/PID/stat (R, S, T...), or '?'. */
static char proc_state(pid_t pid)
{
	char path[64], line[512], *paren;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return '?';
	if (!fgets(line, sizeof(line), f))
		line[0] = '\0';
	fclose(f);
	/* "pid (comm) S ...": comm may hold spaces and parentheses, the last ')' ends it. */
	paren = strrchr(line, ')');
	return paren && paren[1] == ' ' ? paren[2] : '?';
}

START_TEST(test_helper_killed_pending)
{
	char f[192];
	struct pending p = { 0 };
	pthread_t t;
	pid_t pid, tid;
	int fd;

	pid = start_reading(f, sizeof(f));
	if (!pid)
		return;
	ck_assert_int_eq(kill(pid, SIGSTOP), 0);
	/* Stopped for real, before the request goes: else it could still take it off the queue. */
	while (proc_state(pid) != 'T')
		usleep(1000);
	p.path = f;
	ck_assert_int_eq(pthread_create(&t, NULL, pending_main, &p), 0);
	/* Until it waits for the reply, or (a failure below) it came back without one. */
	while (!__atomic_load_n(&p.done, __ATOMIC_SEQ_CST) &&
	       (!(tid = __atomic_load_n(&p.tid, __ATOMIC_SEQ_CST)) ||
		blocked_in(tid) != SYS_recvmsg))
		usleep(1000);
	ck_assert_int_eq(kill(pid, SIGKILL), 0);
	ck_assert_int_eq(pthread_join(t, NULL), 0);
	ck_assert_msg(p.rc == -EPIPE, "the request in flight: %d, want -EPIPE", p.rc);
	as_tunnel();
	fd = ft_opener_open(f, FT_OPENER_READ);
	as_root();
	ck_assert_int_eq(fd, -EPIPE);
	ft_opener_stop();
	ck_assert_int_eq(kill(pid, 0), -1);
	ck_assert_int_eq(errno, ESRCH);
}
END_TEST

/*
 * What the tunnel may open itself never goes to the helper: an unlisted file it can read, a
 * listed log it owns (mode 0600: the helper's uid 0 without CAP_DAC_OVERRIDE could not open
 * it), even with the helper dead. Root only: it needs files of two owners.
 */
START_TEST(test_direct_first)
{
	char dir[128], pub[192], mine[192], log[192], f[192], secret[192], buf[256];
	struct ft_opener_path list[2];
	int fd_pub, fd_log, fd_f, rc_secret, fd_pub2, rc_f2;
	pid_t pid;
	siginfo_t si;

	if (!suite_root)
		return;
	test_dir(dir, sizeof(dir));
	ck_assert_int_eq(chmod(dir, 0711), 0);
	join(pub, sizeof(pub), dir, "pub");
	join(mine, sizeof(mine), dir, "mine");
	join(log, sizeof(log), mine, "log");
	join(f, sizeof(f), dir, "f");
	join(secret, sizeof(secret), dir, "secret");
	write_file(pub, FILE_CONTENT);
	write_file(f, FILE_CONTENT);
	write_file(secret, FILE_CONTENT);
	ck_assert_int_eq(chmod(f, 0600), 0);
	ck_assert_int_eq(chmod(secret, 0600), 0);
	ck_assert_int_eq(mkdir(mine, 0700), 0);
	write_file(log, FILE_CONTENT);
	ck_assert_int_eq(chmod(log, 0600), 0);
	ck_assert_int_eq(chown(log, TUNNEL_ID, TUNNEL_ID), 0);
	ck_assert_int_eq(chown(mine, TUNNEL_ID, TUNNEL_ID), 0);
	list[0] = (struct ft_opener_path){ FT_OPENER_APPEND, log };
	list[1] = (struct ft_opener_path){ FT_OPENER_READ, f };
	ck_assert(start_or_fallback(list, N(list)));
	pid = ft_opener_pid();

	as_tunnel();
	fd_pub = ft_opener_open(pub, FT_OPENER_READ);
	fd_log = ft_opener_open(log, FT_OPENER_APPEND);
	fd_f = ft_opener_open(f, FT_OPENER_READ);
	rc_secret = ft_opener_open(secret, FT_OPENER_READ);
	as_root();
	ck_assert_msg(fd_pub >= 0, "unlisted but readable by the tunnel: %d", fd_pub);
	ck_assert_msg(fd_log >= 0, "listed, the tunnel's own 0600 log: %d", fd_log);
	ck_assert_msg(fd_f >= 0, "listed, root's 0600 file: %d", fd_f);
	ck_assert_int_eq(rc_secret, -EPERM);
	ck_assert_int_eq(write(fd_log, MORE, strlen(MORE)), (ssize_t)strlen(MORE));
	slurp_fd(fd_pub, buf, sizeof(buf));
	ck_assert_str_eq(buf, FILE_CONTENT);
	close(fd_pub);
	close(fd_log);
	close(fd_f);
	assert_content(log, FILE_CONTENT MORE);

	ck_assert_int_eq(kill(pid, SIGKILL), 0);
	ck_assert_int_eq(waitid(P_PID, (id_t)pid, &si, WEXITED | WNOWAIT), 0);
	as_tunnel();
	fd_pub2 = ft_opener_open(pub, FT_OPENER_READ);
	rc_f2 = ft_opener_open(f, FT_OPENER_READ);
	as_root();
	ck_assert_msg(fd_pub2 >= 0, "a direct open needs no helper: %d", fd_pub2);
	close(fd_pub2);
	ck_assert_int_eq(rc_f2, -EPIPE);
	ft_opener_stop();
}
END_TEST

/*
 * What the tunnel's user could arrange around a listed path: a hard link to another file, a
 * symlink swapped in for the flow log, a FIFO, and a path in a directory it owns (which the
 * opener leaves out at start). Root only: without root there is no helper.
 */
START_TEST(test_swaps_refused)
{
	char dir[128], hard[192], other[192], sym[192], fifo[192], mine[192], key[192];
	char grp[192], gkey[192];
	struct ft_opener_path list[5];
	int rc_hard, rc_sym, rc_fifo, rc_key, rc_gkey;

	if (!suite_root)
		return;
	test_dir(dir, sizeof(dir));
	join(hard, sizeof(hard), dir, "log");
	join(other, sizeof(other), dir, "passwd");
	join(sym, sizeof(sym), dir, "log2");
	join(fifo, sizeof(fifo), dir, "fifo");
	join(mine, sizeof(mine), dir, "mine");
	join(key, sizeof(key), mine, "key");
	write_file(other, FILE_CONTENT);
	ck_assert_int_eq(chmod(other, 0600), 0);
	ck_assert_int_eq(link(other, hard), 0);
	ck_assert_int_eq(symlink(other, sym), 0);
	ck_assert_int_eq(mkfifo(fifo, 0600), 0);
	ck_assert_int_eq(mkdir(mine, 0700), 0);
	write_file(key, FILE_CONTENT);
	ck_assert_int_eq(chmod(key, 0600), 0);
	ck_assert_int_eq(chown(mine, TUNNEL_ID, TUNNEL_ID), 0);
	join(grp, sizeof(grp), dir, "grp");
	join(gkey, sizeof(gkey), grp, "key");
	ck_assert_int_eq(mkdir(grp, 0770), 0);
	write_file(gkey, FILE_CONTENT);
	ck_assert_int_eq(chmod(gkey, 0600), 0);
	ck_assert_int_eq(chown(grp, 0, TUNNEL_ID), 0);
	ck_assert_int_eq(chmod(grp, 0770), 0);
	list[0] = (struct ft_opener_path){ FT_OPENER_APPEND, hard };
	list[1] = (struct ft_opener_path){ FT_OPENER_APPEND, sym };
	list[2] = (struct ft_opener_path){ FT_OPENER_READ, fifo };
	list[3] = (struct ft_opener_path){ FT_OPENER_READ, key };
	list[4] = (struct ft_opener_path){ FT_OPENER_READ, gkey };
	ck_assert(start_or_fallback(list, N(list)));

	as_tunnel();
	rc_hard = ft_opener_open(hard, FT_OPENER_APPEND);
	rc_sym = ft_opener_open(sym, FT_OPENER_APPEND);
	rc_fifo = ft_opener_open(fifo, FT_OPENER_READ);
	rc_key = ft_opener_open(key, FT_OPENER_READ);
	rc_gkey = ft_opener_open(gkey, FT_OPENER_READ);
	as_root();
	/* In a directory only root may change, a second link is root's own doing. */
	ck_assert_msg(rc_hard >= 0, "a file with two links: %d", rc_hard);
	close(rc_hard);
	ck_assert_msg(rc_sym == -ELOOP, "a symlink as the flow log: %d", rc_sym);
	ck_assert_msg(rc_fifo == -EINVAL, "a FIFO as the config: %d", rc_fifo);
	/* Refused at start: in it the user could rename any root file of that filesystem
	 * to the key's name. */
	ck_assert_msg(rc_key == -EPERM, "a path in the tunnel user's directory: %d", rc_key);
	ck_assert_msg(rc_gkey == -EPERM, "a path in its group's directory: %d", rc_gkey);
	assert_content(other, FILE_CONTENT);
	ft_opener_stop();
}
END_TEST

/*
 * A directory on the way swapped for a symlink to another after start (what a user who owns,
 * or may write, a directory above the file's could do): the opener still works in the
 * directory it pinned, and creates nothing in the other place; a directory that did not
 * exist at start stays refused. Root only.
 */
START_TEST(test_redirects_pinned)
{
	char dir[128], cfg[192], conf[192], evil[192], secret[192], logs[192], log[192];
	char later[192], later_log[192], old[220], evil_log[200], buf[256];
	struct ft_opener_path list[3];
	int rc_conf, rc_log, rc_later;

	if (!suite_root)
		return;
	test_dir(dir, sizeof(dir));
	join(cfg, sizeof(cfg), dir, "cfg");
	join(conf, sizeof(conf), cfg, "c.conf");
	join(evil, sizeof(evil), dir, "evil");
	join(secret, sizeof(secret), evil, "c.conf");
	join(logs, sizeof(logs), dir, "logs");
	join(log, sizeof(log), logs, "f.log");
	join(later, sizeof(later), dir, "later");
	join(later_log, sizeof(later_log), later, "f.log");
	join(evil_log, sizeof(evil_log), evil, "f.log");
	ck_assert_int_eq(mkdir(cfg, 0755), 0);
	ck_assert_int_eq(mkdir(evil, 0755), 0);
	ck_assert_int_eq(mkdir(logs, 0755), 0);
	write_file(conf, FILE_CONTENT);
	write_file(secret, "secret\n");
	ck_assert_int_eq(chmod(conf, 0600), 0);
	ck_assert_int_eq(chmod(secret, 0600), 0);
	list[0] = (struct ft_opener_path){ FT_OPENER_READ, conf };
	list[1] = (struct ft_opener_path){ FT_OPENER_APPEND, log };
	list[2] = (struct ft_opener_path){ FT_OPENER_APPEND, later_log };
	ck_assert(start_or_fallback(list, N(list)));

	snprintf(old, sizeof(old), "%s.old", cfg);
	ck_assert_int_eq(rename(cfg, old), 0);
	ck_assert_int_eq(symlink(evil, cfg), 0);
	snprintf(old, sizeof(old), "%s.old", logs);
	ck_assert_int_eq(rename(logs, old), 0);
	ck_assert_int_eq(symlink(evil, logs), 0);
	ck_assert_int_eq(mkdir(later, 0755), 0);
	as_tunnel();
	rc_conf = ft_opener_open(conf, FT_OPENER_READ);
	rc_log = ft_opener_open(log, FT_OPENER_APPEND);
	rc_later = ft_opener_open(later_log, FT_OPENER_APPEND);
	as_root();
	/* The pinned directories, now cfg.old and logs.old: the files named at start. */
	ck_assert_msg(rc_conf >= 0, "the config's directory swapped: %d", rc_conf);
	slurp_fd(rc_conf, buf, sizeof(buf));
	ck_assert_str_eq(buf, FILE_CONTENT);
	close(rc_conf);
	ck_assert_msg(rc_log >= 0, "the flow log's directory swapped: %d", rc_log);
	close(rc_log);
	snprintf(old, sizeof(old), "%s.old/f.log", logs);
	ck_assert(exists(old));
	ck_assert_msg(rc_later == -EPERM, "a directory made after start: %d", rc_later);
	ck_assert(!exists(evil_log));
	ck_assert(!exists(later_log));
	ft_opener_stop();
}
END_TEST

/*
 * Where the user controls a directory above the file's: a symlink it left in its directory
 * pointing at a root-only file (READ), and a root-owned subdirectory of its directory swapped
 * for a symlink to another root directory (APPEND). Every directory looked up in is checked,
 * so both are refused at start and nothing is created in the other place; a relative symlink
 * with '..' through root's directories still works. Root only.
 */
START_TEST(test_walk_checks_every_directory)
{
	char dir[128], u[192], conf[192], secretdir[192], secret[192], n[192], sub[192];
	char old[220], crond[192], flows[220], crond_flows[220], etc[192], fdir[192], fconf[220];
	char link[220], buf[256];
	struct ft_opener_path list[3];
	int rc_conf, rc_flows, rc_link;

	if (!suite_root)
		return;
	test_dir(dir, sizeof(dir));
	join(u, sizeof(u), dir, "u");
	join(conf, sizeof(conf), u, "tun0.conf");
	join(secretdir, sizeof(secretdir), dir, "secretdir");
	join(secret, sizeof(secret), secretdir, "secret");
	join(n, sizeof(n), dir, "n");
	join(sub, sizeof(sub), n, "sub");
	join(crond, sizeof(crond), dir, "crond");
	snprintf(flows, sizeof(flows), "%s/flows", sub);
	snprintf(crond_flows, sizeof(crond_flows), "%s/flows", crond);
	join(etc, sizeof(etc), dir, "etc");
	join(fdir, sizeof(fdir), dir, "flowtun");
	snprintf(fconf, sizeof(fconf), "%s/wg0.conf", fdir);
	snprintf(link, sizeof(link), "%s/wg0.conf", etc);
	ck_assert_int_eq(mkdir(u, 0755), 0);
	ck_assert_int_eq(mkdir(secretdir, 0755), 0);
	ck_assert_int_eq(mkdir(n, 0755), 0);
	ck_assert_int_eq(mkdir(sub, 0755), 0);
	ck_assert_int_eq(mkdir(crond, 0755), 0);
	ck_assert_int_eq(mkdir(etc, 0700), 0);
	ck_assert_int_eq(mkdir(fdir, 0700), 0);
	write_file(secret, "secret\n");
	ck_assert_int_eq(chmod(secret, 0600), 0);
	write_file(fconf, FILE_CONTENT);
	ck_assert_int_eq(chmod(fconf, 0600), 0);
	ck_assert_int_eq(symlink("../flowtun/wg0.conf", link), 0);
	/* What the user did in its directories before the opener started. */
	ck_assert_int_eq(symlink(secret, conf), 0);
	ck_assert_int_eq(chown(u, TUNNEL_ID, TUNNEL_ID), 0);
	snprintf(old, sizeof(old), "%s.old", sub);
	ck_assert_int_eq(rename(sub, old), 0);
	ck_assert_int_eq(symlink(crond, sub), 0);
	ck_assert_int_eq(chown(n, TUNNEL_ID, TUNNEL_ID), 0);
	list[0] = (struct ft_opener_path){ FT_OPENER_READ, conf };
	list[1] = (struct ft_opener_path){ FT_OPENER_APPEND, flows };
	list[2] = (struct ft_opener_path){ FT_OPENER_READ, link };
	ck_assert(start_or_fallback(list, N(list)));

	as_tunnel();
	rc_conf = ft_opener_open(conf, FT_OPENER_READ);
	rc_flows = ft_opener_open(flows, FT_OPENER_APPEND);
	rc_link = ft_opener_open(link, FT_OPENER_READ);
	as_root();
	ck_assert_msg(rc_conf == -EPERM, "a symlink in the user's directory: %d", rc_conf);
	ck_assert_msg(rc_flows == -EPERM, "a directory swapped in the user's: %d", rc_flows);
	ck_assert(!exists(crond_flows));
	ck_assert_msg(rc_link >= 0, "a relative symlink through root's directories: %d", rc_link);
	slurp_fd(rc_link, buf, sizeof(buf));
	ck_assert_str_eq(buf, FILE_CONTENT);
	close(rc_link);
	ft_opener_stop();
}
END_TEST

/* ---- concurrent askers ---- */

/*
 * Each thread opens a file of its own, with its own content: a reply that reached the wrong
 * thread (two exchanges interleaved on the one socket) shows as the wrong bytes.
 */
#define THREADS 4
#define OPENS 200

struct worker {
	pthread_t tid;
	char path[192], content[64];
	int ok, bad_rc, bad_data;
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	char buf[256];

	if (!set_tunnel(true)) {
		w->bad_rc = -1;
		return NULL;
	}
	for (int i = 0; i < OPENS; i++) {
		int fd = ft_opener_open(w->path, FT_OPENER_READ);

		if (fd < 0) {
			w->bad_rc++;
			continue;
		}
		slurp_fd(fd, buf, sizeof(buf));
		close(fd);
		if (strcmp(buf, w->content) == 0)
			w->ok++;
		else
			w->bad_data++;
	}
	return NULL;
}

START_TEST(test_threads)
{
	char dir[128], name[16];
	struct ft_opener_path list[THREADS];
	struct worker w[THREADS];
	bool running;

	test_dir(dir, sizeof(dir));
	memset(w, 0, sizeof(w));
	for (int i = 0; i < THREADS; i++) {
		snprintf(name, sizeof(name), "f%d", i);
		join(w[i].path, sizeof(w[i].path), dir, name);
		snprintf(w[i].content, sizeof(w[i].content), "thread %d's file\n", i);
		write_file(w[i].path, w[i].content);
		list[i] = (struct ft_opener_path){ FT_OPENER_READ, w[i].path };
	}
	running = start_or_fallback(list, N(list));
	for (int i = 0; i < THREADS; i++)
		ck_assert_int_eq(pthread_create(&w[i].tid, NULL, worker_main, &w[i]), 0);
	for (int i = 0; i < THREADS; i++) {
		ck_assert_int_eq(pthread_join(w[i].tid, NULL), 0);
		ck_assert_msg(w[i].ok == OPENS, "thread %d: %d ok, %d errors, %d wrong contents", i,
			      w[i].ok, w[i].bad_rc, w[i].bad_data);
	}
	if (running) {
		ck_assert_int_gt(ft_opener_pid(), 0);
		ft_opener_stop();
	}
	assert_no_children();
}
END_TEST

static Suite *opener_suite(void)
{
	Suite *s = suite_create("opener");
	TCase *direct = tcase_create("direct");
	TCase *start = tcase_create("start");
	TCase *running = tcase_create("running");

	tcase_add_unchecked_fixture(direct, base_setup, base_teardown);
	tcase_add_loop_test(direct, test_direct, 0, N(op_cases));
	tcase_add_test(direct, test_unlink_inode);
	suite_add_tcase(s, direct);

	tcase_add_unchecked_fixture(start, base_setup, base_teardown);
	tcase_add_loop_test(start, test_start_bad, 0, N(bad_starts));
	tcase_add_loop_test(start, test_start_good, 0, N(good_starts));
	tcase_add_test(start, test_start_twice);
	suite_add_tcase(s, start);

	tcase_add_unchecked_fixture(running, base_setup, base_teardown);
	tcase_add_loop_test(running, test_listed, 0, N(op_cases));
	tcase_add_loop_test(running, test_refused, 0, N(refusals));
	tcase_add_test(running, test_helper_status);
	tcase_add_test(running, test_helper_fds);
	tcase_add_test(running, test_helper_ignores_signals);
	tcase_add_test(running, test_stop_falls_back);
	tcase_add_loop_test(running, test_helper_killed, 0, N(after_death));
	tcase_add_test(running, test_helper_killed_pending);
	tcase_add_test(running, test_direct_first);
	tcase_add_test(running, test_swaps_refused);
	tcase_add_test(running, test_redirects_pinned);
	tcase_add_test(running, test_walk_checks_every_directory);
	tcase_add_test(running, test_threads);
	suite_add_tcase(s, running);
	return s;
}

int main(int argc, char **argv)
{
	SRunner *sr;
	ssize_t n;
	int failed;

	/* The opener the tests start is this program again (tun/priv/opener.h). */
	ft_opener_main(argc, argv);
	/*
	 * By its path rather than /proc/self/exe, which under valgrind is valgrind's own tool:
	 * valgrind answers readlink() with the program's path.
	 */
	n = readlink("/proc/self/exe", self_exe, sizeof(self_exe) - 1);
	if (n <= 0)
		return EXIT_FAILURE;
	self_exe[n] = '\0';
	sr = srunner_create(opener_suite());

	suite_root = geteuid() == 0;
	/* One process per test even with CK_FORK=no: the opener is process-global state. */
	srunner_set_fork_status(sr, CK_FORK);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
