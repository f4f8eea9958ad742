// SPDX-License-Identifier: MIT
/*
 * uring-bench: the TUN device's per-packet syscalls (what tun/worker/worker.c does today: a
 * read() per packet until EAGAIN, a write per packet) against io_uring (liburing), on the
 * same traffic, in a network namespace of its own (unshare; root). Issue 15, point 3: keep
 * io_uring only if it wins. Prints, per method and size, packets/s, the CPU µs per packet of
 * the bench's thread (getrusage) and of the whole machine (/proc/stat: softirq and io_uring's
 * kernel workers included, which a batch may move off the calling thread), and asserts nothing.
 * Run it on an otherwise idle machine: the machine column counts everything.
 *
 *   write: the bench writes N IPv4/UDP packets 100.64.0.2 -> 100.64.0.1:9 into the TUN,
 *          which the kernel takes in and drops (no listener; ICMP errors rate-limited):
 *          write() each, or batches of BATCH IORING_OP_WRITE per io_uring_enter;
 *   read:  a sender thread floods 100.64.0.2:9 (routed into the TUN) with sendmmsg; the bench
 *          reads what the TUN gives: poll + read() until EAGAIN, or BATCH IORING_OP_READ kept
 *          in flight (io_uring polls the fd itself), one io_uring_enter per completed batch.
 *          CPU per packet counts the reader's thread only (the sender's is the same for both).
 *
 *   sudo BUILD/tests/bench/uring-bench [packets [batch]]   (default 1000000, 32)
 *
 * Addresses: only 100.64.0.0/10 on a TUN in a namespace nobody else sees.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <liburing.h>

#include "tun/net/csum.h"

enum { MAX_BATCH = 256, BUF = 2048 };

static int tun_fd = -1;
static atomic_bool sender_stop;

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t cpu_ns(int who)
{
	struct rusage ru;

	getrusage(who, &ru);
	return ((uint64_t)ru.ru_utime.tv_sec + (uint64_t)ru.ru_stime.tv_sec) * 1000000000ull +
	       ((uint64_t)ru.ru_utime.tv_usec + (uint64_t)ru.ru_stime.tv_usec) * 1000ull;
}

static int setup_tun(void)
{
	struct ifreq ifr;
	struct sockaddr_in *sin = (struct sockaddr_in *)&ifr.ifr_addr;
	int s;

	if (unshare(CLONE_NEWNET) < 0) {
		perror("uring-bench: unshare(CLONE_NEWNET) (run as root)");
		return -1;
	}
	tun_fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	if (tun_fd < 0) {
		perror("uring-bench: /dev/net/tun");
		return -1;
	}
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "ub0");
	if (ioctl(tun_fd, TUNSETIFF, &ifr) < 0) {
		perror("uring-bench: TUNSETIFF");
		return -1;
	}
	s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	memset(sin, 0, sizeof(*sin));
	sin->sin_family = AF_INET;
	inet_pton(AF_INET, "100.64.0.1", &sin->sin_addr);
	if (ioctl(s, SIOCSIFADDR, &ifr) < 0) {
		perror("uring-bench: SIOCSIFADDR");
		return -1;
	}
	inet_pton(AF_INET, "255.255.255.0", &sin->sin_addr);
	if (ioctl(s, SIOCSIFNETMASK, &ifr) < 0 || ioctl(s, SIOCGIFFLAGS, &ifr) < 0) {
		perror("uring-bench: SIOCSIFNETMASK");
		return -1;
	}
	ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
	if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0) {
		perror("uring-bench: SIOCSIFFLAGS");
		return -1;
	}
	close(s);
	return 0;
}

/* An IPv4/UDP packet of len bytes 100.64.0.2:40000 -> 100.64.0.1:9 (UDP checksum 0). */
static void make_packet(uint8_t *p, size_t len)
{
	uint16_t c;

	memset(p, 0, len);
	p[0] = 0x45;
	p[2] = (uint8_t)(len >> 8);
	p[3] = (uint8_t)len;
	p[8] = 64;
	p[9] = 17;
	p[12] = 100, p[13] = 64, p[14] = 0, p[15] = 2;
	p[16] = 100, p[17] = 64, p[18] = 0, p[19] = 1;
	c = ft_csum(p, 20);
	p[10] = (uint8_t)(c >> 8);
	p[11] = (uint8_t)c;
	p[20] = 0x9c, p[21] = 0x40; /* 40000 */
	p[23] = 9;
	p[24] = (uint8_t)((len - 20) >> 8);
	p[25] = (uint8_t)(len - 20);
}

struct result {
	double pps, cpu_us, machine_us, calls_per_pkt;
};

/* Busy time of all CPUs so far (/proc/stat: all but idle and iowait), in ns. */
static uint64_t machine_ns(void)
{
	unsigned long long v[10] = { 0 };
	uint64_t busy = 0;
	FILE *f = fopen("/proc/stat", "r");

	if (!f)
		return 0;
	if (fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
		   &v[4], &v[5], &v[6], &v[7]) != 8) {
		fclose(f);
		return 0;
	}
	fclose(f);
	for (int i = 0; i < 8; i++)
		if (i != 3 && i != 4)
			busy += v[i];
	return busy * (1000000000ull / (uint64_t)sysconf(_SC_CLK_TCK));
}

static void print(const char *what, const char *method, size_t len, const struct result *r)
{
	printf("  %-5s %-24s %5zu B  %10.0f pkt/s  thread %5.2f us/pkt  machine %5.2f us/pkt  "
	       "%5.3f syscalls/pkt\n",
	       what, method, len, r->pps, r->cpu_us, r->machine_us, r->calls_per_pkt);
}

static int write_syscalls(size_t n, size_t len, struct result *r)
{
	static uint8_t pkt[BUF];
	uint64_t t0, c0, m0;

	make_packet(pkt, len);
	t0 = mono_ns();
	c0 = cpu_ns(RUSAGE_SELF);
	m0 = machine_ns();
	for (size_t i = 0; i < n; i++)
		if (write(tun_fd, pkt, len) != (ssize_t)len) {
			perror("uring-bench: write");
			return -1;
		}
	r->cpu_us = (double)(cpu_ns(RUSAGE_SELF) - c0) / 1e3 / (double)n;
	r->machine_us = (double)(machine_ns() - m0) / 1e3 / (double)n;
	r->pps = (double)n * 1e9 / (double)(mono_ns() - t0);
	r->calls_per_pkt = 1;
	return 0;
}

static int write_uring(struct io_uring *ring, size_t n, size_t len, unsigned int batch,
		       struct result *r)
{
	static uint8_t pkt[BUF];
	uint64_t t0, c0, m0, enters = 0;
	size_t done = 0;

	make_packet(pkt, len);
	t0 = mono_ns();
	c0 = cpu_ns(RUSAGE_SELF);
	m0 = machine_ns();
	while (done < n) {
		unsigned int k = n - done < batch ? (unsigned int)(n - done) : batch, seen = 0;
		struct io_uring_cqe *cqe;
		unsigned int head;

		for (unsigned int i = 0; i < k; i++)
			io_uring_prep_write(io_uring_get_sqe(ring), tun_fd, pkt, (unsigned int)len,
					    (uint64_t)-1);
		if (io_uring_submit_and_wait(ring, k) < 0) {
			fprintf(stderr, "uring-bench: io_uring_submit_and_wait failed\n");
			return -1;
		}
		enters++;
		io_uring_for_each_cqe(ring, head, cqe)
		{
			if (cqe->res != (int)len) {
				fprintf(stderr, "uring-bench: write: %s\n", strerror(-cqe->res));
				return -1;
			}
			seen++;
		}
		io_uring_cq_advance(ring, seen);
		done += seen;
	}
	r->cpu_us = (double)(cpu_ns(RUSAGE_SELF) - c0) / 1e3 / (double)n;
	r->machine_us = (double)(machine_ns() - m0) / 1e3 / (double)n;
	r->pps = (double)n * 1e9 / (double)(mono_ns() - t0);
	r->calls_per_pkt = (double)enters / (double)n;
	return 0;
}

/* Floods 100.64.0.2:9 (into the TUN) with sendmmsg until told to stop. */
static void *sender(void *arg)
{
	size_t len = *(const size_t *)arg - 28;
	static uint8_t payload[BUF];
	struct sockaddr_in dst = { .sin_family = AF_INET, .sin_port = htons(9) };
	struct mmsghdr msgs[64];
	struct iovec iov = { payload, len };
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	inet_pton(AF_INET, "100.64.0.2", &dst.sin_addr);
	memset(msgs, 0, sizeof(msgs));
	for (int i = 0; i < 64; i++) {
		msgs[i].msg_hdr.msg_name = &dst;
		msgs[i].msg_hdr.msg_namelen = sizeof(dst);
		msgs[i].msg_hdr.msg_iov = &iov;
		msgs[i].msg_hdr.msg_iovlen = 1;
	}
	while (!atomic_load(&sender_stop))
		if (sendmmsg(s, msgs, 64, 0) < 0 && errno != ENOBUFS && errno != EAGAIN)
			break;
	close(s);
	return NULL;
}

static int read_syscalls(size_t n, struct result *r)
{
	static uint8_t buf[BUF];
	uint64_t t0, c0, m0, calls = 0;
	size_t got = 0;

	fcntl(tun_fd, F_SETFL, fcntl(tun_fd, F_GETFL) | O_NONBLOCK);
	t0 = mono_ns();
	c0 = cpu_ns(RUSAGE_THREAD);
	m0 = machine_ns();
	while (got < n) {
		struct pollfd pfd = { .fd = tun_fd, .events = POLLIN };

		poll(&pfd, 1, 1000);
		calls++;
		for (;;) {
			ssize_t k = read(tun_fd, buf, sizeof(buf));

			calls++;
			if (k < 0)
				break;
			got++;
		}
	}
	r->cpu_us = (double)(cpu_ns(RUSAGE_THREAD) - c0) / 1e3 / (double)got;
	r->machine_us = (double)(machine_ns() - m0) / 1e3 / (double)got;
	r->pps = (double)got * 1e9 / (double)(mono_ns() - t0);
	r->calls_per_pkt = (double)calls / (double)got;
	fcntl(tun_fd, F_SETFL, fcntl(tun_fd, F_GETFL) & ~O_NONBLOCK);
	return 0;
}

static int read_uring(struct io_uring *ring, size_t n, unsigned int batch, struct result *r)
{
	static uint8_t bufs[MAX_BATCH][BUF];
	uint64_t t0, c0, m0, enters = 0;
	size_t got = 0;

	/* Every buffer has a read in flight; each completion is resubmitted at once. */
	for (unsigned int i = 0; i < batch; i++) {
		struct io_uring_sqe *sqe = io_uring_get_sqe(ring);

		io_uring_prep_read(sqe, tun_fd, bufs[i], BUF, (uint64_t)-1);
		io_uring_sqe_set_data64(sqe, i);
	}
	t0 = mono_ns();
	c0 = cpu_ns(RUSAGE_THREAD);
	m0 = machine_ns();
	while (got < n) {
		struct io_uring_cqe *cqe;
		unsigned int head, seen = 0;

		if (io_uring_submit_and_wait(ring, 1) < 0) {
			fprintf(stderr, "uring-bench: io_uring_submit_and_wait failed\n");
			return -1;
		}
		enters++;
		io_uring_for_each_cqe(ring, head, cqe)
		{
			uint64_t i = io_uring_cqe_get_data64(cqe);
			struct io_uring_sqe *sqe;

			if (cqe->res > 0)
				got++;
			sqe = io_uring_get_sqe(ring);
			io_uring_prep_read(sqe, tun_fd, bufs[i], BUF, (uint64_t)-1);
			io_uring_sqe_set_data64(sqe, i);
			seen++;
		}
		io_uring_cq_advance(ring, seen);
	}
	r->cpu_us = (double)(cpu_ns(RUSAGE_THREAD) - c0) / 1e3 / (double)got;
	r->machine_us = (double)(machine_ns() - m0) / 1e3 / (double)got;
	r->pps = (double)got * 1e9 / (double)(mono_ns() - t0);
	r->calls_per_pkt = (double)enters / (double)got;
	return 0;
}

static int run_read(int uring, struct io_uring *ring, size_t n, size_t len, unsigned int batch,
		    struct result *r)
{
	pthread_t th;
	int rc;

	atomic_store(&sender_stop, false);
	if (pthread_create(&th, NULL, sender, &len) != 0)
		return -1;
	rc = uring ? read_uring(ring, n, batch, r) : read_syscalls(n, r);
	atomic_store(&sender_stop, true);
	pthread_join(th, NULL);
	return rc;
}

/* A ring of its own per run: reads left in flight by one run never complete in the next. */
static int with_ring(int (*fn)(struct io_uring *, size_t, size_t, unsigned int, struct result *),
		     size_t n, size_t len, unsigned int batch, struct result *r)
{
	struct io_uring ring;
	int rc = io_uring_queue_init(2 * MAX_BATCH, &ring, 0);

	if (rc < 0) {
		fprintf(stderr, "uring-bench: io_uring_queue_init: %s (io_uring disabled?)\n",
			strerror(-rc));
		return -1;
	}
	rc = fn(&ring, n, len, batch, r);
	io_uring_queue_exit(&ring);
	return rc;
}

static int read_uring_run(struct io_uring *ring, size_t n, size_t len, unsigned int batch,
			  struct result *r)
{
	return run_read(1, ring, n, len, batch, r);
}

int main(int argc, char **argv)
{
	static const size_t sizes[] = { 64, 1392 };
	size_t n = argc > 1 ? strtoul(argv[1], NULL, 10) : 1000000;
	unsigned int batch = argc > 2 ? (unsigned int)strtoul(argv[2], NULL, 10) : 32;
	struct result r;

	if (n == 0 || batch == 0 || batch > MAX_BATCH) {
		fprintf(stderr, "usage: uring-bench [packets [batch (1..%d)]]\n", MAX_BATCH);
		return 2;
	}
	if (setup_tun() < 0)
		return 1;
	printf("TUN I/O, %zu packets per row, io_uring batch %u\n", n, batch);
	for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		if (write_syscalls(n, sizes[s], &r) == 0)
			print("write", "write() per packet", sizes[s], &r);
		if (with_ring(write_uring, n, sizes[s], batch, &r) == 0)
			print("write", "io_uring batch", sizes[s], &r);
		if (run_read(0, NULL, n, sizes[s], batch, &r) == 0)
			print("read", "poll + read() to EAGAIN", sizes[s], &r);
		if (with_ring(read_uring_run, n, sizes[s], batch, &r) == 0)
			print("read", "io_uring reads in flight", sizes[s], &r);
	}
	close(tun_fd);
	return 0;
}
