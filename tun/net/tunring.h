/* SPDX-License-Identifier: MIT */
#ifndef FT_TUNRING_H
#define FT_TUNRING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

/*
 * The TUN device's reads and writes through io_uring (issue 15, point 3): a read syscall per
 * packet and a write syscall per packet become one io_uring_enter per batch. On this kind of
 * machine a system call costs about 1 us (tests/bench/uring-bench), as much as the packet's
 * own work.
 *
 * Two rings per TUN fd, so that neither waits for the other's completions:
 *   - the read ring keeps `reads` reads in flight, each into a buffer of its own; its fd is
 *     readable (poll) when reads completed. ft_tunring_reap() hands out what completed and
 *     re-queues each buffer's read; ft_tunring_rearm() submits them (one system call);
 *   - the write ring takes up to `writes` writes (ft_tunring_queue_write) and submits them
 *     in one system call that also waits for them all (ft_tunring_write_flush): the caller's
 *     buffers need to live only until then, and each write's result is known at the end of
 *     the caller's batch, as with write(2).
 *
 * The rings can do nothing else: each is restricted (IORING_REGISTER_RESTRICTIONS) to
 * IORING_OP_READ (and the cancel of its reads at the end) or IORING_OP_WRITEV, which the
 * seccomp filter allows as system calls anyway, so an operation queued on them reaches
 * nothing the filter would refuse. io_uring_enter is the only system call added after the
 * set-up. ft_tunring_destroy() cancels and reaps the reads in flight before it lets go of the
 * rings, so that closing the TUN's fd right after removes the device at once.
 *
 * Without liburing at build time, ft_tunring_create() answers -ENOSYS. Loop thread only.
 */
struct ft_tunring;

/* How a worker reads and writes its TUN (TunIO = ..., flowtun up --tun-io ...). */
enum ft_tun_io {
	FT_TUN_IO_AUTO,	    /* io_uring when the kernel gives it, else the syscalls */
	FT_TUN_IO_URING,    /* io_uring or refuse to start */
	FT_TUN_IO_SYSCALLS, /* read(2)/write(2) per packet (readv/writev with offloads) */
};
/* "auto", "io_uring", "syscalls" (any case) into *out: 0, or -EINVAL. */
int ft_tun_io_parse(const char *s, enum ft_tun_io *out);
const char *ft_tun_io_name(enum ft_tun_io io);

/* One completed read: buf holds len bytes, or len is 0 and err a negative errno. */
struct ft_tunring_read {
	uint8_t *buf;
	size_t len;
	int err;
};

/*
 * Rings on tun_fd (non-blocking or not: the kernel polls it itself) with `reads` reads of
 * buf_len bytes in flight and room for `writes` queued writes of up to two iovecs each.
 * The reads start at once. 0 and *out, or a negative errno: -ENOSYS (built without liburing,
 * or a kernel without io_uring), -EPERM (kernel.io_uring_disabled, a container's filter),
 * -EINVAL (a kernel without the restrictions or the operations), -ENOMEM.
 */
int ft_tunring_create(int tun_fd, unsigned int reads, size_t buf_len, unsigned int writes,
		      struct ft_tunring **out);
void ft_tunring_destroy(struct ft_tunring *r);
/* The read ring's fd: readable when completed reads wait. */
int ft_tunring_fd(const struct ft_tunring *r);

/*
 * Up to max completed reads into out; each buffer stays the caller's until the next reap or
 * rearm, when its read is queued again (not a buffer that failed with -EBADFD: the device is
 * gone). Returns how many.
 */
unsigned int ft_tunring_reap(struct ft_tunring *r, struct ft_tunring_read *out, unsigned int max);
/* Submits the reads queued again since the last call. 0 or a negative errno. */
int ft_tunring_rearm(struct ft_tunring *r);

/*
 * Queues the write of iov[0..cnt) (cnt 1 or 2; the iovec array is copied, the data it points
 * at must live until the flush). Returns the write's number in this flush (0, 1, ...), or
 * -ENOSPC when `writes` are queued already (flush first), -EINVAL for a bad cnt.
 */
int ft_tunring_queue_write(struct ft_tunring *r, const struct iovec *iov, int cnt);
/* How many writes are queued. */
unsigned int ft_tunring_queued(const struct ft_tunring *r);
/*
 * Submits the queued writes and waits for them all: results[i] is 0 or the negative errno of
 * write i (results may be NULL). Returns the number of writes, or a negative errno when the
 * submission itself failed (then every result is that errno).
 */
int ft_tunring_write_flush(struct ft_tunring *r, int *results);

/* Whether this build has io_uring at all (liburing at build time). */
bool ft_tunring_built(void);

#endif
