// SPDX-License-Identifier: MIT
/*
 * The opener's helper under attack and under load (the rest of the opener is check_opener.c,
 * what both share tests/opener-harness.c): killed, alone or with a call pending; the direct
 * attempt first; swapped and redirected paths it refuses or pins; every directory of a walk
 * checked; concurrent askers on the one socket. As root; without it each test checks the
 * clean fallback. Every test runs in its own process (fork mode is forced in main()).
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

static Suite *opener_helper_suite(void)
{
	Suite *s = suite_create("opener_helper");
	TCase *running = tcase_create("running");

	tcase_add_unchecked_fixture(running, base_setup, base_teardown);
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
	return opener_check_main(argc, argv, opener_helper_suite);
}
