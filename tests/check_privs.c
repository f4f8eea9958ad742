// SPDX-License-Identifier: MIT
/*
 * Privileges and secrets: user specs, the seccomp option, MADV_DONTDUMP on our buffers and
 * on libsodium's, no-dump; the drop and the filter in forked children (the drop only as root).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <linux/sockios.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/sysinfo.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cap-ng.h>
#include <check.h>
#include <sodium.h>

#include "tun/priv/privs.h"

/* Debian's nobody:nogroup; the tests that need it skip their check when it is absent. */
#define NOBODY_ID 65534u

static bool have_nobody(void)
{
	uid_t u;
	gid_t g;
	char err[128];

	return ft_privs_resolve_user("nobody", &u, &g, err, sizeof(err)) == 0 && u == NOBODY_ID &&
	       g == NOBODY_ID;
}

static const struct {
	const char *spec;
	int rc;
	uid_t uid;
	gid_t gid;
	bool needs_nobody; /* the expected ids come from the password database */
	const char *why;
} user_cases[] = {
	{ NULL, 0, NOBODY_ID, NOBODY_ID, true, "NULL is the default user" },
	{ "", 0, NOBODY_ID, NOBODY_ID, true, "empty is the default user" },
	{ "nobody", 0, NOBODY_ID, NOBODY_ID, true, "a name" },
	{ "65534", 0, NOBODY_ID, NOBODY_ID, true, "a bare UID takes its entry's group" },
	{ "1000:1001", 0, 1000, 1001, false, "UID:GID needs no entry" },
	{ "4294967294:7", 0, 4294967294u, 7, false, "the largest valid UID" },
	{ "root", -EINVAL, 0, 0, false, "root by name" },
	{ "0", -EINVAL, 0, 0, false, "root by UID" },
	{ "0:0", -EINVAL, 0, 0, false, "root by UID:GID" },
	{ "1000:0", -EINVAL, 0, 0, false, "root's group" },
	{ "0:1000", -EINVAL, 0, 0, false, "root's UID with a group" },
	{ "no-such-user-flowtun", -ENOENT, 0, 0, false, "unknown name" },
	{ "nobody ", -ENOENT, 0, 0, false, "a trailing space is part of the name" },
	{ "3999999999", -ENOENT, 0, 0, false, "a bare UID without an entry" },
	{ ":1000", -EINVAL, 0, 0, false, "no UID" },
	{ "1000:", -EINVAL, 0, 0, false, "no GID" },
	{ ":", -EINVAL, 0, 0, false, "only a colon" },
	{ "1:2:3", -EINVAL, 0, 0, false, "two colons" },
	{ "-1:1000", -EINVAL, 0, 0, false, "negative UID" },
	{ "4294967295:1", -EINVAL, 0, 0, false, "(uid_t)-1 is no UID" },
	{ "1:4294967295", -EINVAL, 0, 0, false, "(gid_t)-1 is no GID" },
	{ "99999999999:1", -EINVAL, 0, 0, false, "UID overflows 32 bits" },
	{ "4294967296", -EINVAL, 0, 0, false, "bare UID overflows 32 bits" },
	{ "x1:1", -EINVAL, 0, 0, false, "letters in the UID" },
	{ "1:1x", -EINVAL, 0, 0, false, "letters in the GID" },
	{ " 1:1", -EINVAL, 0, 0, false, "a space in UID:GID" },
};

START_TEST(test_resolve_user)
{
	uid_t uid = 12345;
	gid_t gid = 12345;
	char err[256] = "";
	int rc;

	if (user_cases[_i].needs_nobody && !have_nobody())
		return;
	rc = ft_privs_resolve_user(user_cases[_i].spec, &uid, &gid, err, sizeof(err));
	ck_assert_msg(rc == user_cases[_i].rc, "%s ('%s'): %d, want %d (%s)", user_cases[_i].why,
		      user_cases[_i].spec ? user_cases[_i].spec : "(null)", rc, user_cases[_i].rc,
		      err);
	if (rc == 0) {
		ck_assert_uint_eq(uid, user_cases[_i].uid);
		ck_assert_uint_eq(gid, user_cases[_i].gid);
	} else {
		/* A failure leaves the outputs alone and quotes the bad value. */
		ck_assert_uint_eq(uid, 12345);
		ck_assert_uint_eq(gid, 12345);
		ck_assert_msg(strstr(err, user_cases[_i].spec) != NULL, "'%s' not quoted in: %s",
			      user_cases[_i].spec, err);
	}
}
END_TEST

START_TEST(test_resolve_user_too_long)
{
	char spec[600], err[128];
	uid_t uid;
	gid_t gid;

	memset(spec, 'a', sizeof(spec) - 1);
	spec[sizeof(spec) - 1] = '\0';
	ck_assert_int_eq(ft_privs_resolve_user(spec, &uid, &gid, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "too long"));
}
END_TEST

static const struct {
	const char *value;
	int rc;
	enum ft_privs_seccomp_action action;
} seccomp_cases[] = {
	{ "on", 1, FT_PRIVS_SECCOMP_KILL },
	{ "kill", 1, FT_PRIVS_SECCOMP_KILL },
	{ "log", 1, FT_PRIVS_SECCOMP_LOG },
	{ "off", 0, FT_PRIVS_SECCOMP_KILL },
	{ "", -EINVAL, 0 },
	{ "On", -EINVAL, 0 },
	{ "yes", -EINVAL, 0 },
	{ "on ", -EINVAL, 0 },
	{ "offf", -EINVAL, 0 },
};

START_TEST(test_seccomp_parse)
{
	enum ft_privs_seccomp_action action = FT_PRIVS_SECCOMP_KILL;

	ck_assert_int_eq(ft_privs_seccomp_parse(seccomp_cases[_i].value, &action),
			 seccomp_cases[_i].rc);
	if (seccomp_cases[_i].rc == 1)
		ck_assert_int_eq(action, seccomp_cases[_i].action);
}
END_TEST

/* The VmFlags line of the /proc/self/smaps mapping that contains addr, or "" if none. */
static void vm_flags(const void *addr, char *out, size_t size)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	char line[512];
	bool inside = false;

	out[0] = '\0';
	ck_assert_ptr_nonnull(f);
	while (fgets(line, sizeof(line), f)) {
		unsigned long lo, hi;

		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 &&
		    strchr(line, '-') < strchr(line, ' '))
			inside = (uintptr_t)addr >= lo && (uintptr_t)addr < hi;
		else if (inside && strncmp(line, "VmFlags:", 8) == 0) {
			snprintf(out, size, "%s", line + 8);
			break;
		}
	}
	fclose(f);
}

/* flag is one of the two-letter words of a VmFlags line. */
static bool has_flag(const char *flags, const char *flag)
{
	char padded[520], want[8];

	snprintf(padded, sizeof(padded), " %s ", flags);
	padded[strcspn(padded, "\n")] = ' ';
	snprintf(want, sizeof(want), " %s ", flag);
	return strstr(padded, want) != NULL;
}

/* libsodium 1.0.18's sodium_malloc() marks its pages MADV_DONTDUMP and mlock()s them. */
START_TEST(test_sodium_malloc_dontdump)
{
	char flags[512];
	uint8_t *key;

	ck_assert_int_ge(sodium_init(), 0);
	key = sodium_malloc(32);
	ck_assert_ptr_nonnull(key);
	vm_flags(key, flags, sizeof(flags));
	ck_assert_msg(has_flag(flags, "dd"), "sodium_malloc memory is dumpable: %s", flags);
	/* mlock can fail under a tiny RLIMIT_MEMLOCK; libsodium then goes on unlocked. */
	if (!has_flag(flags, "lo"))
		fprintf(stderr, "check_privs: sodium_malloc memory not locked: %s", flags);
	sodium_free(key);
}
END_TEST

START_TEST(test_dontdump)
{
	long page = sysconf(_SC_PAGESIZE);
	uint8_t *map = mmap(NULL, (size_t)page * 3, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char flags[512];

	ck_assert_ptr_ne(map, MAP_FAILED);
	vm_flags(map + page, flags, sizeof(flags));
	ck_assert_msg(!has_flag(flags, "dd"), "fresh memory already dd: %s", flags);
	/* 20 bytes inside the middle page: that page alone is marked. */
	ck_assert_int_eq(ft_privs_dontdump(map + page + 10, 20), 0);
	vm_flags(map + page, flags, sizeof(flags));
	ck_assert_msg(has_flag(flags, "dd"), "not marked: %s", flags);
	vm_flags(map, flags, sizeof(flags));
	ck_assert_msg(!has_flag(flags, "dd"), "page before marked: %s", flags);
	vm_flags(map + 2 * page, flags, sizeof(flags));
	ck_assert_msg(!has_flag(flags, "dd"), "page after marked: %s", flags);
	/* A buffer straddling two pages marks both. */
	ck_assert_int_eq(ft_privs_dontdump(map + 2 * page - 1, 2), 0);
	vm_flags(map + 2 * page, flags, sizeof(flags));
	ck_assert_msg(has_flag(flags, "dd"), "second page of a straddling buffer: %s", flags);

	ck_assert_int_eq(ft_privs_dontdump(NULL, 10), -EINVAL);
	ck_assert_int_eq(ft_privs_dontdump(map, 0), -EINVAL);
	ck_assert_int_eq(ft_privs_dontdump(map, SIZE_MAX), -EINVAL);
	ck_assert_int_eq(munmap(map, (size_t)page * 3), 0);
	/* Unmapped memory: the kernel's -ENOMEM. */
	ck_assert_int_eq(ft_privs_dontdump(map + page, 1), -ENOMEM);
}
END_TEST

START_TEST(test_no_dump)
{
	/* Check runs each test in a child of its own, so this one's change stays here. */
	ck_assert_int_eq(prctl(PR_SET_DUMPABLE, 1, 0, 0, 0), 0);
	ck_assert_int_eq(prctl(PR_GET_DUMPABLE, 0, 0, 0, 0), 1);
	ck_assert_int_eq(ft_privs_no_dump(), 0);
	ck_assert_int_eq(prctl(PR_GET_DUMPABLE, 0, 0, 0, 0), 0);
}
END_TEST

/* Runs fn in a child and returns its wait status. */
static int in_child(void (*fn)(const void *), const void *arg)
{
	int status = 0;
	pid_t pid = fork();

	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		fn(arg);
		_exit(0);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	return status;
}

/*
 * The filter in a child: the allowed syscalls of a loop go through, then one forbidden
 * call (forbid, below; 0: none, exit 0). _exit: no atexit handlers (LSan's would need
 * ptrace, which the filter rightly refuses). The SIGSYS handler's line goes to the report
 * file as well, named by report.
 */
enum forbid {
	F_NONE,
	F_CHDIR,	  /* a syscall not on the list */
	F_PACKET,	  /* socket() of a family not on the list */
	F_TIOCSTI,	  /* an ioctl request not on the list */
	F_GENL,		  /* netlink, but generic netlink (other WireGuard devices' keys) */
	F_NFNL,		  /* netlink, but netfilter (the firewall) */
	F_ETHTOOL,	  /* SIOCETHTOOL: ethtool's set commands ride on it */
	F_MII,		  /* SIOCGMIIPHY: the link monitor reads rtnetlink instead */
	F_SIGSYS_HANDLER, /* replacing the SIGSYS handler */
	F_SIGSYS_HIGH	  /* the same with bits above the low 32, which the kernel drops */
};

struct filter_case {
	enum ft_privs_seccomp_action action;
	enum forbid forbid;
	const char *report;
};

static void filtered_child(const void *arg)
{
	const struct filter_case *c = arg;
	struct sigaction sa = { .sa_handler = SIG_DFL };
	struct sysinfo si;
	char err[256];
	int fd;

	if (c->report && ft_privs_seccomp_report_to(c->report) < 0)
		_exit(9);
	if (ft_privs_seccomp(c->action, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		_exit(10);
	}
	/* Allowed: a UDP socket, a netlink socket, close, getpid, memory. */
	fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (fd < 0 || close(fd) < 0)
		_exit(11);
	fd = socket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE);
	if (fd < 0 || close(fd) < 0)
		_exit(12);
	free(malloc(1 << 20));
	(void)getpid();
	/* glibc's qsort of a flow-log flush, and the writer cutting a torn line back. */
	if (sysinfo(&si) < 0 || ftruncate(-1, 0) == 0 || errno != EBADF)
		_exit(13);
	switch (c->forbid) {
	case F_CHDIR:
		(void)chdir("/");
		break;
	case F_PACKET:
		(void)socket(AF_PACKET, SOCK_RAW, 0);
		break;
	case F_TIOCSTI:
		(void)ioctl(0, TIOCSTI, "x");
		break;
	case F_GENL:
		(void)socket(AF_NETLINK, SOCK_RAW, NETLINK_GENERIC);
		break;
	case F_NFNL:
		(void)socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);
		break;
	case F_ETHTOOL:
		(void)ioctl(0, SIOCETHTOOL, NULL);
		break;
	case F_MII:
		(void)ioctl(0, SIOCGMIIPHY, NULL);
		break;
	case F_SIGSYS_HANDLER:
		(void)sigaction(SIGSYS, &sa, NULL);
		break;
	case F_SIGSYS_HIGH:
		(void)syscall(SYS_rt_sigaction, (long)SIGSYS | (1L << 32), NULL, NULL, 8);
		break;
	default:
		break;
	}
	_exit(0);
}

static const struct {
	struct filter_case c;
	bool killed;
	const char *why;
} filter_cases[] = {
	{ { FT_PRIVS_SECCOMP_KILL, F_NONE, NULL }, false, "allowed syscalls only" },
	{ { FT_PRIVS_SECCOMP_KILL, F_CHDIR, NULL }, true, "chdir is not on the list" },
	{ { FT_PRIVS_SECCOMP_KILL, F_PACKET, NULL }, true, "AF_PACKET is not an allowed family" },
	{ { FT_PRIVS_SECCOMP_KILL, F_TIOCSTI, NULL }, true, "TIOCSTI is not an allowed ioctl" },
	{ { FT_PRIVS_SECCOMP_KILL, F_GENL, NULL }, true, "generic netlink is not allowed" },
	{ { FT_PRIVS_SECCOMP_KILL, F_NFNL, NULL }, true, "netfilter netlink is not allowed" },
	{ { FT_PRIVS_SECCOMP_KILL, F_ETHTOOL, NULL }, true, "SIOCETHTOOL is not allowed" },
	{ { FT_PRIVS_SECCOMP_KILL, F_MII, NULL }, true, "SIOCGMIIPHY is not allowed" },
	{ { FT_PRIVS_SECCOMP_KILL, F_SIGSYS_HANDLER, NULL }, true, "the SIGSYS handler stays" },
	{ { FT_PRIVS_SECCOMP_KILL, F_SIGSYS_HIGH, NULL }, true, "SIGSYS with high bits set" },
	{ { FT_PRIVS_SECCOMP_LOG, F_CHDIR, NULL }, false, "log mode lets chdir through" },
	{ { FT_PRIVS_SECCOMP_LOG, F_PACKET, NULL }, false, "log mode lets AF_PACKET through" },
};

START_TEST(test_seccomp_filter)
{
	int status = in_child(filtered_child, &filter_cases[_i].c);

	if (filter_cases[_i].killed) {
		ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS,
			      "%s: not killed by SIGSYS (status %#x)", filter_cases[_i].why,
			      status);
	} else {
		ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
			      "%s: status %#x, want exit 0", filter_cases[_i].why, status);
	}
}
END_TEST

/*
 * The line of a killed process names the call, its number and arguments, in the report file
 * (as on stderr), and the process still dies of SIGSYS.
 */
START_TEST(test_seccomp_report)
{
	char path[] = "/tmp/check_privs.XXXXXX", buf[512] = "";
	struct filter_case c = { FT_PRIVS_SECCOMP_KILL, F_GENL, path };
	int fd = mkstemp(path), status;
	ssize_t n;

	ck_assert_int_ge(fd, 0);
	status = in_child(filtered_child, &c);
	ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS, "status %#x", status);
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	unlink(path);
	ck_assert_int_gt(n, 0);
	buf[n] = '\0';
	ck_assert_msg(strstr(buf, "]: seccomp: system call socket (") != NULL, "report: %s", buf);
#if defined(__x86_64__) || defined(__aarch64__)
	/* AF_NETLINK, SOCK_RAW, NETLINK_GENERIC, read from the registers */
	ck_assert_msg(strstr(buf, ", arguments 0x10 0x3 0x10) is not in the allow-list") != NULL,
		      "report: %s", buf);
#endif
	ck_assert_msg(strchr(buf, '\n') == buf + n - 1, "one line: %s", buf);
}
END_TEST

static void drop_child(const void *arg)
{
	const char *user = arg;
	struct ft_privs_options opts = { .user = user };
	char err[256];
	uid_t r, e, s;

	if (ft_privs_drop(&opts, err, sizeof(err)) < 0) {
		fprintf(stderr, "drop: %s\n", err);
		_exit(20);
	}
	if (getresuid(&r, &e, &s) < 0 || r != NOBODY_ID || e != NOBODY_ID || s != NOBODY_ID)
		_exit(21);
	if (getgid() != NOBODY_ID || getgroups(0, NULL) != 0)
		_exit(22);
	capng_get_caps_process();
	if (!capng_have_capability(CAPNG_EFFECTIVE, CAP_NET_ADMIN) ||
	    !capng_have_capability(CAPNG_PERMITTED, CAP_NET_ADMIN) ||
	    !capng_have_capability(CAPNG_EFFECTIVE, CAP_NET_BIND_SERVICE) ||
	    !capng_have_capability(CAPNG_PERMITTED, CAP_NET_BIND_SERVICE))
		_exit(23);
	if (capng_have_capability(CAPNG_EFFECTIVE, CAP_SYS_ADMIN) ||
	    capng_have_capability(CAPNG_EFFECTIVE, CAP_SETUID) ||
	    capng_have_capability(CAPNG_BOUNDING_SET, CAP_NET_ADMIN) ||
	    capng_have_capability(CAPNG_BOUNDING_SET, CAP_SYS_ADMIN))
		_exit(24);
	if (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1 || prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) != 0)
		_exit(25);
	/* No way back. */
	if (setuid(0) == 0 || seteuid(0) == 0)
		_exit(26);
	_exit(0);
}

START_TEST(test_drop)
{
	struct ft_privs_options opts = { .user = "nobody" };
	char err[256];
	int status;

	if (geteuid() != 0) {
		ck_assert_int_eq(ft_privs_drop(&opts, err, sizeof(err)), -EPERM);
		ck_assert_ptr_nonnull(strstr(err, "not running as root"));
		return;
	}
	if (!have_nobody())
		return;
	status = in_child(drop_child, "nobody");
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "drop child: status %#x",
		      status);
	status = in_child(drop_child, "65534:65534");
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "drop child: status %#x",
		      status);
}
END_TEST

/* A bad user fails before anything changes. */
START_TEST(test_drop_bad_user)
{
	static const char *const bad[] = { "root", "0:0", "no-such-user-flowtun", "1:" };
	struct ft_privs_options opts = { .user = bad[_i] };
	uid_t before = geteuid();
	char err[256];

	ck_assert_int_lt(ft_privs_drop(&opts, err, sizeof(err)), 0);
	ck_assert_ptr_nonnull(strstr(err, bad[_i]));
	ck_assert_uint_eq(geteuid(), before);
}
END_TEST

#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))

static Suite *privs_suite(void)
{
	Suite *s = suite_create("privs");
	TCase *tc = tcase_create("privs");

	tcase_add_loop_test(tc, test_resolve_user, 0, N(user_cases));
	tcase_add_test(tc, test_resolve_user_too_long);
	tcase_add_loop_test(tc, test_seccomp_parse, 0, N(seccomp_cases));
	tcase_add_test(tc, test_sodium_malloc_dontdump);
	tcase_add_test(tc, test_dontdump);
	tcase_add_test(tc, test_no_dump);
	tcase_add_loop_test(tc, test_seccomp_filter, 0, N(filter_cases));
	tcase_add_test(tc, test_seccomp_report);
	tcase_add_test(tc, test_drop);
	tcase_add_loop_test(tc, test_drop_bad_user, 0, 4);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(privs_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
