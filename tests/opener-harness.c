// SPDX-License-Identifier: MIT
/*
 * What check_opener.c and check_opener_helper.c share (tests/opener-harness.h): the tcase's
 * temp dir, files and sockets made in it, the switch to the dropped tunnel's ids and back,
 * and the main() both run (the program is also the opener's helper).
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

/* The dropped tunnel's ids in the root run (Debian's nobody:nogroup). */

/* The suite runs as root: the helper starts, and as_tunnel() has something to drop. */
/* This program, which is also the opener's (main() calls ft_opener_main()). */
char self_exe[PATH_MAX];

bool suite_root;

/*
 * The tcase's temp dir, made and removed by the parent (an unchecked fixture): a failing test
 * exits without a teardown of its own, and this way its files still go.
 */
char base[64];

void base_setup(void)
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

void base_teardown(void)
{
	if (nftw(base, rm_one, 16, FTW_DEPTH | FTW_PHYS) < 0)
		perror(base);
}

/* A fresh directory of this test under base. */
void test_dir(char *dir, size_t size)
{
	ck_assert_int_lt(snprintf(dir, size, "%s/t.XXXXXX", base), (int)size);
	ck_assert_ptr_nonnull(mkdtemp(dir));
}

void join(char *out, size_t size, const char *dir, const char *name)
{
	ck_assert_int_lt(snprintf(out, size, "%s/%s", dir, name), (int)size);
}

void write_file(const char *path, const char *content)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	size_t len = strlen(content);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, content, len), (ssize_t)len);
	ck_assert_int_eq(close(fd), 0);
}

/* A socket file left at path by a bound and closed AF_UNIX socket, as the API socket is. */
void make_socket(const char *path)
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
void slurp_fd(int fd, char *buf, size_t size)
{
	size_t got = 0;
	ssize_t n;

	while (got < size - 1 && (n = read(fd, buf + got, size - 1 - got)) > 0)
		got += (size_t)n;
	buf[got] = '\0';
}

void assert_content(const char *path, const char *want)
{
	char buf[256];
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	ck_assert_msg(fd >= 0, "%s: %s", path, strerror(errno));
	slurp_fd(fd, buf, sizeof(buf));
	close(fd);
	ck_assert_str_eq(buf, want);
}

bool exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

bool is_socket(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0 && S_ISSOCK(st.st_mode);
}

void assert_cloexec(int fd)
{
	int flags = fcntl(fd, F_GETFD);

	ck_assert_int_ge(flags, 0);
	ck_assert_msg(flags & FD_CLOEXEC, "fd %d is not close-on-exec", fd);
}

/* No child left: a failed start reaped its helper, a stop reaped it. */
void assert_no_children(void)
{
	ck_assert_int_eq(waitpid(-1, NULL, WNOHANG), -1);
	ck_assert_int_eq(errno, ECHILD);
}

/*
 * Starts the opener. As root it must start; otherwise it must fail cleanly (a negative errno,
 * a message, no PID, no child left) and the calls then act directly: false then.
 */
bool start_or_fallback(const struct ft_opener_path *paths, size_t n)
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
pid_t start_reading(char *f, size_t size)
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
bool set_tunnel(bool on)
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

void as_tunnel(void)
{
	ck_assert_msg(set_tunnel(true), "cannot take the tunnel's ids");
}

void as_root(void)
{
	ck_assert_msg(set_tunnel(false), "cannot take root's ids back");
}

int opener_check_main(int argc, char **argv, Suite *(*suite)(void))
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
	sr = srunner_create(suite());

	suite_root = geteuid() == 0;
	/* One process per test even with CK_FORK=no: the opener is process-global state. */
	srunner_set_fork_status(sr, CK_FORK);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
