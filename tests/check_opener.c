// SPDX-License-Identifier: MIT
/*
 * The opener: the direct operations without a helper, the argument checks of
 * ft_opener_start(), and with the helper running (as root) the allow-list, its credentials
 * and fds and its stop; its death, the swaps and redirects it refuses and concurrent askers
 * are check_opener_helper.c. Each call first tries the operation as the caller, so the tests
 * ask as the dropped tunnel would (as_tunnel()): otherwise a root test would never reach the
 * helper. Without root the helper cannot empty its bounding set, so there each running test
 * checks that ft_opener_start() fails cleanly and that the calls then act directly.
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

#include "tests/opener-harness.h"
#include "tun/priv/opener.h"

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
	suite_add_tcase(s, running);
	return s;
}

int main(int argc, char **argv)
{
	return opener_check_main(argc, argv, opener_suite);
}
