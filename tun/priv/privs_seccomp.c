// SPDX-License-Identifier: MIT
/*
 * The seccomp allow-list of a tunnel after its privilege drop (privs.h), and what a tunnel
 * killed by it says: the SIGSYS handler names the system call on stderr (and syslog, and the
 * report file of the test suite) before the process dies of SIGSYS.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <linux/sockios.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <syslog.h>
#include <ucontext.h>
#include <unistd.h>

#include <seccomp.h>

#include "tun/log.h"
#include "tun/priv/privs.h"

/*
 * The system calls of the running tunnel, after the drop. Derived from the code and the
 * libraries it calls, path by path (each group says which), and checked twice: strace of
 * every tunnel of the netns suite from the drop on (tests/netns/seccomp.sh adds the paths the
 * suite did not take: a flush of hundreds of flows, a link without ethtool, a torn flow-log
 * line, host names resolved through /etc/hosts and DNS, a link-local endpoint), and the
 * whole netns suite run with every tunnel under this list (tests/run-all sets
 * FLOWTUN_SECCOMP=on and FLOWTUN_SECCOMP_REPORT for one of its two runs, and fails on any
 * line in the report).
 */
static const char *const allowed_syscalls[] = {
	/*
	 * the packet path: TUN read/write (readv/writev with the vnet header), batched UDP;
	 * rtnetlink requests (libmnl: sendto, recvfrom, recvmsg); the opener's socketpair
	 */
	"read",
	"write",
	"readv",
	"writev",
	"recvmmsg",
	"sendmmsg",
	"recvfrom",
	"sendto",
	"recvmsg",
	"sendmsg",
	/*
	 * TunIO = io_uring (tun/net/tunring.c): the rings exist before the drop; each is
	 * restricted to reads or writes of the TUN alone, so an operation on them reaches nothing
	 * this list refuses. io_uring_setup and io_uring_register stay refused.
	 */
	"io_uring_enter",
	/*
	 * libuv's loop: epoll, the wake-up eventfd and the signal pipe (made when the first
	 * handle of their kind starts), the flags of an fd it adopts
	 */
	"epoll_wait",
	"epoll_pwait",
	"epoll_ctl",
	"eventfd2",
	"pipe2",
	"fcntl",
	/* clocks, where the vDSO falls back to the kernel (kvm-clock with an unstable TSC) */
	"clock_gettime",
	"gettimeofday",
	/* glibc's nanosleep: ft_netconf_addr_add() waits for an IPv6 address's route */
	"clock_nanosleep",
	/* malloc's arena lock under contention, libuv's pool */
	"sched_yield",
	/*
	 * signals: libuv's handlers (rt_sigaction below, any signal but SIGSYS), glibc's
	 * thread set-up, abort(), the SIGSYS handler's re-raise
	 */
	"rt_sigprocmask",
	"rt_sigreturn",
	"restart_syscall",
	"getpid",
	"gettid",
	"tgkill",
	/*
	 * memory: malloc (arenas of the pool threads, mremap of a big realloc), thread stacks,
	 * sodium_malloc's guard pages, mlock and MADV_DONTDUMP, sodium_free's munlock; the
	 * secret arena's chunks of a peer added at run time, locked on fault (tun/wg/secmem.c)
	 */
	"brk",
	"mmap",
	"munmap",
	"mremap",
	"mprotect",
	"madvise",
	"mlock",
	"mlock2",
	"munlock",
	/* randomness: handshakes, cookies, timer jitter */
	"getrandom",
	/*
	 * glibc's qsort() asks sysconf(_SC_PHYS_PAGES), i.e. sysinfo(), how much memory there is
	 * before sorting an array over 1 KiB: the flow-log flush sorts its entries
	 */
	"sysinfo",
	/*
	 * files: SIGHUP re-reads the config and key file (opened by the opener, fstat'ed and
	 * read here); the flow log, (re)opened, written and closed on libuv's pool, a line
	 * torn by ENOSPC cut back with ftruncate; /etc/localtime of the time stamps (lseek);
	 * getaddrinfo reads /etc/hosts, /etc/resolv.conf (and stats it for changes),
	 * /etc/gai.conf, /etc/nsswitch.conf; the API socket's watch (fstat of its inode, lstat
	 * of its path) and its removal at exit (unlink, first as ourselves)
	 */
	"openat",
	"close",
	"fstat",
	"newfstatat",
	"lseek",
	"ftruncate",
	"unlink",
	/*
	 * sockets: a new UDP socket for a listen port set through the API (bind, options,
	 * getsockname), the API's and the metrics endpoint's clients (accept4; shutdown after
	 * a metrics answer), IPFIX and syslog (connect), DNS over UDP and TCP (connect, poll;
	 * uname: res_init's default domain). socket() and ioctl() are allowed below, with their
	 * arguments.
	 */
	"bind",
	"connect",
	"getsockname",
	"setsockopt",
	"getsockopt",
	"accept4",
	"shutdown",
	"poll",
	"ppoll",
	"uname",
	/*
	 * libuv's thread pool (started by the first flow-log write, often after the drop):
	 * glibc's pthread_create (clone3, clone where clone3 is missing; the stack's guard and
	 * its rlimit), thread exit
	 */
	"clone",
	"clone3",
	"futex",
	"set_robust_list",
	"rseq",
	"prlimit64",
	"exit",
	"exit_group",
	/* ft_opener_stop() reaps the opener at exit */
	"wait4",
};

/*
 * Sanitizer builds only. LeakSanitizer's exit-time scan stops the threads from a traced
 * clone: PR_SET_PTRACER and PR_SET_DUMPABLE, ptrace, waitpid, and the legacy open and getdents
 * of its own raw syscalls (/proc/self/maps, /proc/self/task). Allowing them only here keeps
 * them out of the release filter while the sanitizer build still reports leaks.
 */
#if defined(__SANITIZE_ADDRESS__)
#define FT_PRIVS_LSAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FT_PRIVS_LSAN 1
#endif
#endif
#ifdef FT_PRIVS_LSAN
static const char *const lsan_syscalls[] = {
	"prctl",
	"ptrace",
	"getppid",
	"open",
	"getdents",
	"getdents64",
	/*
	 * ASan's pthread_create: an alternate signal stack for each new thread (the pool's),
	 * whose stack it finds with pthread_getattr_np (sched_getaffinity)
	 */
	"sigaltstack",
	"sched_getaffinity",
};
#endif

/*
 * ioctl requests, the exact ones: libuv (FIONBIO, FIOCLEX, FIONCLEX on the fds it adopts),
 * glibc's DNS resolver (FIONREAD, for the size of an answer), if_nametoindex() of a
 * link-local Endpoint's scope (SIOCGIFINDEX). No TUN request (the device is never
 * reconfigured through its fd after start-up), and no ethtool, MII or wireless one: the link
 * monitor reads the carrier from rtnetlink (link/link.h, carrier_rtnl), since SIOCETHTOOL also
 * carries ethtool's set commands, which the kept CAP_NET_ADMIN would let through.
 */
static const unsigned long allowed_ioctls[] = {
	FIONBIO, FIOCLEX, FIONCLEX, FIONREAD, SIOCGIFINDEX,
};

/*
 * socket() families: UDP (underlay, IPFIX, DNS) and TCP (DNS), the UNIX API socket and
 * syslog; netlink for NETLINK_ROUTE only. Generic netlink would reach other WireGuard
 * devices' keys (the kept CAP_NET_ADMIN answers its "get" too), NETLINK_NETFILTER the
 * firewall: neither is on the list.
 */
static const int allowed_families[] = { AF_UNIX, AF_INET, AF_INET6 };

static int allow(scmp_filter_ctx ctx, const char *what, int nr, unsigned int n,
		 struct scmp_arg_cmp a, struct scmp_arg_cmp b, char *err, size_t errlen)
{
	int rc = n == 0	  ? seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0)
		 : n == 1 ? seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 1, a)
			  : seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 2, a, b);

	if (rc < 0)
		snprintf(err, errlen, "seccomp: cannot allow %s: %s", what, strerror(-rc));
	return rc;
}

static int add_rules(scmp_filter_ctx ctx, char *err, size_t errlen)
{
	const struct scmp_arg_cmp none = { 0 };
	char what[64];
	int nr, rc = 0;

	for (size_t i = 0; i < sizeof(allowed_syscalls) / sizeof(allowed_syscalls[0]); i++) {
		nr = seccomp_syscall_resolve_name(allowed_syscalls[i]);
		/* Not every syscall exists on every architecture (clone3, getrlimit, ...). */
		if (nr != __NR_SCMP_ERROR &&
		    (rc = allow(ctx, allowed_syscalls[i], nr, 0, none, none, err, errlen)) < 0)
			return rc;
	}
#ifdef FT_PRIVS_LSAN
	for (size_t i = 0; i < sizeof(lsan_syscalls) / sizeof(lsan_syscalls[0]); i++) {
		nr = seccomp_syscall_resolve_name(lsan_syscalls[i]);
		if (nr != __NR_SCMP_ERROR &&
		    (rc = allow(ctx, lsan_syscalls[i], nr, 0, none, none, err, errlen)) < 0)
			return rc;
	}
#endif
	for (size_t i = 0; i < sizeof(allowed_ioctls) / sizeof(allowed_ioctls[0]) && !rc; i++) {
		/* The request is an unsigned int in the kernel: compare the low 32 bits only. */
		snprintf(what, sizeof(what), "ioctl %#lx", allowed_ioctls[i]);
		rc = allow(ctx, what, SCMP_SYS(ioctl), 1,
			   SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffu, allowed_ioctls[i]), none, err,
			   errlen);
	}
	for (size_t i = 0; i < sizeof(allowed_families) / sizeof(allowed_families[0]) && !rc; i++) {
		snprintf(what, sizeof(what), "socket family %d", allowed_families[i]);
		rc = allow(ctx, what, SCMP_SYS(socket), 1,
			   SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)allowed_families[i]), none, err,
			   errlen);
	}
	if (!rc)
		rc = allow(ctx, "socket(AF_NETLINK, NETLINK_ROUTE)", SCMP_SYS(socket), 2,
			   SCMP_A0(SCMP_CMP_EQ, AF_NETLINK), SCMP_A2(SCMP_CMP_EQ, NETLINK_ROUTE),
			   err, errlen);
	/*
	 * Any handler but SIGSYS's: a refusal cannot be caught and survived by new code. Each
	 * signal by its exact 64-bit value, not "!= SIGSYS": the kernel reads only the low 32
	 * bits, so garbage above them must not match anything.
	 */
	for (int sig = 1; sig < 65 && !rc; sig++)
		if (sig != SIGSYS)
			rc = allow(ctx, "rt_sigaction", SCMP_SYS(rt_sigaction), 1,
				   SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)sig), none, err, errlen);
	return rc;
}

/* ---- what a killed tunnel says ---- */

/*
 * The SIGSYS handler may call async-signal-safe functions only: the names are looked up when
 * the filter is installed, the line is put together by hand, and written with write(2).
 */
enum { MAX_NR = 1024 };
static const char *syscall_names[MAX_NR];
static int report_fd = -1; /* ft_privs_seccomp_report_to() */
static int syslog_fd = -1; /* a datagram socket connected to /dev/log, when logging there */

struct line {
	char buf[320];
	size_t len;
};

static void put(struct line *l, const char *s)
{
	while (*s && l->len < sizeof(l->buf))
		l->buf[l->len++] = *s++;
}

static void put_num(struct line *l, uint64_t v, unsigned int base)
{
	char tmp[24];
	size_t n = 0;

	if (base == 16)
		put(l, "0x");
	do {
		tmp[n++] = "0123456789abcdef"[v % base];
		v /= base;
	} while (v && n < sizeof(tmp));
	while (n && l->len < sizeof(l->buf))
		l->buf[l->len++] = tmp[--n];
}

static void write_all(int fd, const char *buf, size_t len)
{
	while (fd >= 0 && len > 0) {
		ssize_t n = write(fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		buf += n;
		len -= (size_t)n;
	}
}

/*
 * "flowtun[PID]: seccomp: system call NAME (NR, arguments A0 A1 A2) is not in the allow-list:
 * stopping", then death by SIGSYS: installed with SA_RESETHAND and SA_NODEFER, so that the
 * re-raised signal takes the default action at once (the exit status and the kernel's audit
 * record say SIGSYS, as the kill action would).
 */
static void on_sigsys(int sig, siginfo_t *si, void *ctx)
{
	int nr = si->si_syscall, saved = errno;
	struct line l = { .len = 0 };
	const char *name = nr >= 0 && nr < MAX_NR && syscall_names[nr] ? syscall_names[nr] : "?";
	uint64_t args[3] = { 0 };
	size_t start;

	(void)sig;
#if defined(__x86_64__)
	const ucontext_t *uc = ctx;

	args[0] = (uint64_t)uc->uc_mcontext.gregs[REG_RDI];
	args[1] = (uint64_t)uc->uc_mcontext.gregs[REG_RSI];
	args[2] = (uint64_t)uc->uc_mcontext.gregs[REG_RDX];
#elif defined(__aarch64__)
	const ucontext_t *uc = ctx;

	for (int i = 0; i < 3; i++)
		args[i] = uc->uc_mcontext.regs[i];
#else
	(void)ctx;
#endif
	put(&l, "<");
	put_num(&l, LOG_DAEMON | LOG_CRIT, 10);
	put(&l, ">");
	start = l.len;
	put(&l, "flowtun[");
	put_num(&l, (uint64_t)getpid(), 10);
	put(&l, "]: seccomp: system call ");
	put(&l, name);
	put(&l, " (");
	put_num(&l, (uint64_t)(unsigned int)nr, 10);
	put(&l, ", arguments");
	for (int i = 0; i < 3; i++) {
		put(&l, " ");
		put_num(&l, args[i], 16);
	}
	put(&l, ") is not in the allow-list: stopping. This is a bug; please report this line");
	if (syslog_fd >= 0)
		(void)!send(syslog_fd, l.buf, l.len, MSG_DONTWAIT | MSG_NOSIGNAL);
	put(&l, "\n");
	write_all(STDERR_FILENO, l.buf + start, l.len - start);
	write_all(report_fd, l.buf + start, l.len - start);
	errno = saved;
	syscall(SYS_tgkill, getpid(), syscall(SYS_gettid), SIGSYS);
}

int ft_privs_seccomp_report_to(const char *path)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_NOCTTY | O_CLOEXEC, 0644);

	if (fd < 0)
		return -errno;
	if (report_fd >= 0)
		close(report_fd);
	report_fd = fd;
	return 0;
}

/* Before the filter: the names, the syslog socket if that is where the log goes, the handler. */
static int prepare_report(void)
{
	struct sigaction sa = { .sa_sigaction = on_sigsys,
				.sa_flags = SA_SIGINFO | SA_RESETHAND | SA_NODEFER };
	struct sockaddr_un sun = { .sun_family = AF_UNIX, .sun_path = "/dev/log" };
	sigset_t sys;

	for (int nr = 0; nr < MAX_NR; nr++)
		if (!syscall_names[nr])
			syscall_names[nr] = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, nr);
	if (ft_log_is_syslog() && syslog_fd < 0) {
		syslog_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		if (syslog_fd >= 0 &&
		    connect(syslog_fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
			close(syslog_fd);
			syslog_fd = -1;
		}
	}
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSYS, &sa, NULL) < 0)
		return -errno;
	/* A thread that blocks SIGSYS dies of it without the line (the audit record stays). */
	sigemptyset(&sys);
	sigaddset(&sys, SIGSYS);
	return -pthread_sigmask(SIG_UNBLOCK, &sys, NULL);
}

int ft_privs_seccomp(enum ft_privs_seccomp_action action, char *err, size_t errlen)
{
	scmp_filter_ctx ctx;
	int rc;

	err[0] = '\0';
	if (action != FT_PRIVS_SECCOMP_LOG && (rc = prepare_report()) < 0) {
		snprintf(err, errlen, "seccomp: cannot install the SIGSYS handler: %s",
			 strerror(-rc));
		return rc;
	}
	/*
	 * KILL: SIGSYS to the handler above, which says which call and dies of it. LOG: let it
	 * through, the kernel logs it (audit, or the kernel log without auditd: rate-limited).
	 */
	ctx = seccomp_init(action == FT_PRIVS_SECCOMP_LOG ? SCMP_ACT_LOG : SCMP_ACT_TRAP);
	if (!ctx) {
		snprintf(err, errlen, "seccomp: cannot create a filter");
		return -ENOMEM;
	}
	/*
	 * TSYNC: libuv's pool threads may exist already and must not stay unfiltered. NNP is
	 * libseccomp's default (PR_SET_NO_NEW_PRIVS, required without CAP_SYS_ADMIN). LOG: the
	 * kernel also records each trap (audit, journalctl -k), as it does a kill.
	 */
	rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1);
	if (rc == 0)
		rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 1);
	if (rc == 0)
		rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_LOG, 1);
	if (rc < 0) {
		snprintf(err, errlen, "seccomp: cannot set the filter attributes: %s",
			 strerror(-rc));
		goto out;
	}
	rc = add_rules(ctx, err, errlen);
	if (rc < 0)
		goto out;
	rc = seccomp_load(ctx);
	if (rc < 0)
		snprintf(err, errlen, "seccomp: cannot load the filter: %s", strerror(-rc));
out:
	seccomp_release(ctx);
	return rc;
}

int ft_privs_seccomp_parse(const char *value, enum ft_privs_seccomp_action *action)
{
	if (strcmp(value, "on") == 0 || strcmp(value, "kill") == 0) {
		*action = FT_PRIVS_SECCOMP_KILL;
		return 1;
	}
	if (strcmp(value, "log") == 0) {
		*action = FT_PRIVS_SECCOMP_LOG;
		return 1;
	}
	if (strcmp(value, "off") == 0)
		return 0;
	return -EINVAL;
}
