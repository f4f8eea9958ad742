// SPDX-License-Identifier: MIT
/* The TUN's reads and writes through io_uring: see tunring.h. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "tun/net/tunring.h"

static const char *const tun_io_names[] = { "auto", "io_uring", "syscalls" };

int ft_tun_io_parse(const char *s, enum ft_tun_io *out)
{
	for (size_t i = 0; i < sizeof(tun_io_names) / sizeof(tun_io_names[0]); i++) {
		if (strcasecmp(s, tun_io_names[i]) == 0) {
			*out = (enum ft_tun_io)i;
			return 0;
		}
	}
	return -EINVAL;
}

const char *ft_tun_io_name(enum ft_tun_io io)
{
	return (size_t)io < sizeof(tun_io_names) / sizeof(tun_io_names[0]) ? tun_io_names[io] : "?";
}

#ifdef HAVE_LIBURING

#include <liburing.h>

struct ft_tunring {
	struct io_uring rring, wring;
	bool rring_up, wring_up;
	int fd;
	unsigned int in_flight; /* reads submitted and not reaped */
	uint8_t *bufs;
	size_t buf_len;
	unsigned int reads;
	/* Buffers handed out by ft_tunring_reap(), their reads queued again at the next rearm. */
	unsigned int *pending;
	unsigned int n_pending;
	/* The queued writes' iovecs (two each), which the kernel reads at the submission. */
	struct iovec *wiov;
	unsigned int writes, n_writes;
};

bool ft_tunring_built(void)
{
	return true;
}

/*
 * A ring that can do nothing but op (and, with cancel, cancel them): set up disabled, the
 * restrictions registered, then enabled. By io_uring_register() itself: Debian's liburing 2.3
 * declares io_uring_register_restrictions() and io_uring_enable_rings() but does not export
 * them. No registered file: a ring holding the TUN's file would keep the device after the
 * fd's close until the ring's deferred teardown ran.
 */
static int ring_init(struct io_uring *ring, unsigned int entries, uint8_t op, bool cancel)
{
	struct io_uring_restriction res[2];
	unsigned int n = 0;
	/*
	 * COOP_TASKRUN (Linux 5.19): a completion does not interrupt the thread to run its task
	 * work; that runs at the thread's next system call, one per batch. Without it every packet
	 * that completes a read while the loop is busy costs an interruption about as dear as the
	 * read(2) it replaces (tunnel-bench: the sender's CPU per packet 0.95 of read(2)'s without
	 * it, 0.77-0.86 with it). A sleeping loop is still woken: the ring's fd becomes readable.
	 */
	int rc = io_uring_queue_init(entries, ring,
				     IORING_SETUP_R_DISABLED | IORING_SETUP_COOP_TASKRUN);

	if (rc == -EINVAL)
		rc = io_uring_queue_init(entries, ring, IORING_SETUP_R_DISABLED);

	if (rc < 0)
		return rc;
	memset(res, 0, sizeof(res));
	res[n].opcode = IORING_RESTRICTION_SQE_OP;
	res[n++].sqe_op = op;
	if (cancel) {
		res[n].opcode = IORING_RESTRICTION_SQE_OP;
		res[n++].sqe_op = IORING_OP_ASYNC_CANCEL;
	}
	if ((rc = io_uring_register((unsigned int)ring->ring_fd, IORING_REGISTER_RESTRICTIONS, res,
				    n)) < 0 ||
	    (rc = io_uring_register((unsigned int)ring->ring_fd, IORING_REGISTER_ENABLE_RINGS, NULL,
				    0)) < 0) {
		io_uring_queue_exit(ring);
		return rc;
	}
	return 0;
}

static void queue_read(struct ft_tunring *r, unsigned int i)
{
	/* The SQ holds `reads` entries and at most that many reads are ever queued. */
	struct io_uring_sqe *sqe = io_uring_get_sqe(&r->rring);

	io_uring_prep_read(sqe, r->fd, r->bufs + (size_t)i * r->buf_len, (unsigned int)r->buf_len,
			   (uint64_t)-1);
	io_uring_sqe_set_data64(sqe, i);
}

int ft_tunring_create(int tun_fd, unsigned int reads, size_t buf_len, unsigned int writes,
		      struct ft_tunring **out)
{
	struct ft_tunring *r;
	int rc;

	if (reads == 0 || writes == 0 || buf_len == 0 || buf_len > (1u << 20))
		return -EINVAL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->fd = tun_fd;
	r->reads = reads;
	r->writes = writes;
	r->buf_len = (buf_len + 63) & ~(size_t)63;
	/*
	 * Zeroed (calloc: fresh pages, nothing written now): the kernel fills them behind the
	 * back of memory checkers (valgrind), which would take what it wrote for uninitialised.
	 */
	r->bufs = calloc(reads, r->buf_len);
	r->pending = calloc(reads, sizeof(*r->pending));
	r->wiov = calloc(2 * (size_t)writes, sizeof(*r->wiov));
	if (!r->bufs || !r->pending || !r->wiov) {
		rc = -ENOMEM;
		goto fail;
	}
	/* Room for a cancel beside every read. */
	if ((rc = ring_init(&r->rring, reads + 1, IORING_OP_READ, true)) < 0)
		goto fail;
	r->rring_up = true;
	if ((rc = ring_init(&r->wring, writes, IORING_OP_WRITEV, false)) < 0)
		goto fail;
	r->wring_up = true;
	for (unsigned int i = 0; i < reads; i++)
		queue_read(r, i);
	rc = io_uring_submit(&r->rring);
	if (rc < 0)
		goto fail;
	r->in_flight = (unsigned int)rc;
	if ((unsigned int)rc != reads) {
		rc = -EIO;
		goto fail;
	}
	*out = r;
	return 0;
fail:
	ft_tunring_destroy(r);
	return rc;
}

void ft_tunring_destroy(struct ft_tunring *r)
{
	if (!r)
		return;
	/*
	 * The reads in flight cancelled and reaped first: each holds the TUN's file, which the
	 * ring's own (deferred) teardown would let go of only some time after the fd's close,
	 * leaving the device behind for that long. A second at most.
	 */
	if (r->rring_up && r->in_flight > 0) {
		struct io_uring_sqe *sqe = io_uring_get_sqe(&r->rring);

		if (sqe) {
			io_uring_prep_cancel64(sqe, 0, IORING_ASYNC_CANCEL_ANY);
			io_uring_sqe_set_data64(sqe, UINT64_MAX);
			if (io_uring_submit(&r->rring) == 1) {
				struct __kernel_timespec ts = { .tv_sec = 1 };
				unsigned int want = r->in_flight + 1;
				struct io_uring_cqe *cqe;

				while (want > 0 &&
				       io_uring_wait_cqe_timeout(&r->rring, &cqe, &ts) == 0) {
					io_uring_cqe_seen(&r->rring, cqe);
					want--;
				}
			}
		}
	}
	if (r->rring_up)
		io_uring_queue_exit(&r->rring);
	if (r->wring_up)
		io_uring_queue_exit(&r->wring);
	free(r->bufs);
	free(r->pending);
	free(r->wiov);
	free(r);
}

int ft_tunring_fd(const struct ft_tunring *r)
{
	return r->rring.ring_fd;
}

unsigned int ft_tunring_reap(struct ft_tunring *r, struct ft_tunring_read *out, unsigned int max)
{
	struct io_uring_cqe *cqe;
	unsigned int head, seen = 0, given = 0;

	io_uring_for_each_cqe(&r->rring, head, cqe)
	{
		uint64_t i = io_uring_cqe_get_data64(cqe);

		if (given == max)
			break;
		seen++;
		r->in_flight--;
		if (i >= r->reads)
			continue; /* not ours: the ring has no other operation */
		out[given].buf = r->bufs + (size_t)i * r->buf_len;
		out[given].len = cqe->res > 0 ? (size_t)cqe->res : 0;
		out[given].err = cqe->res < 0 ? cqe->res : 0;
		given++;
		/* A device that is gone answers every read so: no read again. */
		if (cqe->res != -EBADFD)
			r->pending[r->n_pending++] = (unsigned int)i;
	}
	io_uring_cq_advance(&r->rring, seen);
	return given;
}

int ft_tunring_rearm(struct ft_tunring *r)
{
	int rc;

	for (unsigned int k = 0; k < r->n_pending; k++)
		queue_read(r, r->pending[k]);
	r->n_pending = 0;
	/* Also what a failed submission left in the queue. */
	if (io_uring_sq_ready(&r->rring) == 0)
		return 0;
	do {
		rc = io_uring_submit(&r->rring);
	} while (rc == -EINTR);
	if (rc > 0)
		r->in_flight += (unsigned int)rc;
	return rc < 0 ? rc : 0;
}

int ft_tunring_queue_write(struct ft_tunring *r, const struct iovec *iov, int cnt)
{
	struct io_uring_sqe *sqe;
	struct iovec *v;

	if (cnt < 1 || cnt > 2)
		return -EINVAL;
	if (r->n_writes == r->writes || !(sqe = io_uring_get_sqe(&r->wring)))
		return -ENOSPC;
	v = r->wiov + 2 * (size_t)r->n_writes;
	memcpy(v, iov, (size_t)cnt * sizeof(*iov));
	io_uring_prep_writev(sqe, r->fd, v, (unsigned int)cnt, (uint64_t)-1);
	io_uring_sqe_set_data64(sqe, r->n_writes);
	return (int)r->n_writes++;
}

unsigned int ft_tunring_queued(const struct ft_tunring *r)
{
	return r->n_writes;
}

int ft_tunring_write_flush(struct ft_tunring *r, int *results)
{
	unsigned int n = r->n_writes, seen = 0;
	int rc;

	if (n == 0)
		return 0;
	r->n_writes = 0;
	rc = io_uring_submit_and_wait(&r->wring, n);
	if (rc < 0 && rc != -EINTR) {
		/* Nothing went in (the kernel consumed no entry): none of them was written. */
		for (unsigned int i = 0; results && i < n; i++)
			results[i] = rc;
		return rc;
	}
	while (seen < n) {
		struct io_uring_cqe *cqe;
		uint64_t i;

		rc = io_uring_wait_cqe(&r->wring, &cqe);
		if (rc == -EINTR)
			continue;
		if (rc < 0) {
			for (unsigned int k = 0; results && k < n; k++)
				results[k] = rc;
			return rc;
		}
		i = io_uring_cqe_get_data64(cqe);
		if (results && i < n)
			results[i] = cqe->res < 0 ? cqe->res : 0;
		io_uring_cqe_seen(&r->wring, cqe);
		seen++;
	}
	return (int)n;
}

#else /* no liburing */

bool ft_tunring_built(void)
{
	return false;
}

int ft_tunring_create(int tun_fd, unsigned int reads, size_t buf_len, unsigned int writes,
		      struct ft_tunring **out)
{
	(void)tun_fd, (void)reads, (void)buf_len, (void)writes, (void)out;
	return -ENOSYS;
}

void ft_tunring_destroy(struct ft_tunring *r)
{
	(void)r;
}

int ft_tunring_fd(const struct ft_tunring *r)
{
	(void)r;
	return -1;
}

unsigned int ft_tunring_reap(struct ft_tunring *r, struct ft_tunring_read *out, unsigned int max)
{
	(void)r, (void)out, (void)max;
	return 0;
}

int ft_tunring_rearm(struct ft_tunring *r)
{
	(void)r;
	return -ENOSYS;
}

int ft_tunring_queue_write(struct ft_tunring *r, const struct iovec *iov, int cnt)
{
	(void)r, (void)iov, (void)cnt;
	return -ENOSYS;
}

unsigned int ft_tunring_queued(const struct ft_tunring *r)
{
	(void)r;
	return 0;
}

int ft_tunring_write_flush(struct ft_tunring *r, int *results)
{
	(void)r, (void)results;
	return -ENOSYS;
}

#endif
