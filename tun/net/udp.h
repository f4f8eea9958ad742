/* SPDX-License-Identifier: MIT */
#ifndef FT_UDP_H
#define FT_UDP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/uio.h>

/*
 * The UDP underlay socket: one non-blocking socket per worker, drained and filled with
 * recvmmsg/sendmmsg over a caller-owned batch of slots.
 *
 * One dual-stack socket (AF_INET6, IPV6_V6ONLY off) rather than one per family: a worker then
 * polls one fd, one recvmmsg drains both families, and a later SO_REUSEPORT group has one
 * member per worker instead of two. The price is that IPv4 peers arrive as v4-mapped
 * addresses (::ffff:a.b.c.d); ft_udp_recv_batch() turns them back into plain AF_INET
 * addresses so that the rest of flowtun sees one spelling per endpoint, and
 * ft_udp_send_batch() maps AF_INET destinations for the socket. When the kernel has no IPv6
 * (socket(AF_INET6) fails with EAFNOSUPPORT) the socket is a plain AF_INET one.
 *
 * Loop thread only; nothing here locks.
 */

/* Socket buffer size asked for; the kernel doubles it and caps it at rmem_max/wmem_max
 * unless the FORCE variants (CAP_NET_ADMIN) are allowed. */
#define FT_UDP_SOCKBUF_SIZE (7 << 20)

enum ft_udp_flags {
	FT_UDP_REUSEPORT = 1 << 0, /* SO_REUSEPORT, for one socket per worker */
	FT_UDP_IPV4_ONLY = 1 << 1, /* an AF_INET socket even when IPv6 works */
};

struct ft_udp {
	int fd;		    /* non-blocking, close-on-exec; -1 when closed */
	int family;	    /* AF_INET6 (dual-stack) or AF_INET */
	uint16_t port;	    /* the bound port, host order */
	int rcvbuf, sndbuf; /* what the kernel granted (getsockopt), bytes */
	bool has_gso;	    /* UDP_SEGMENT is known to this kernel (probed) */
	bool has_gro;	    /* UDP_GRO is known to this kernel (probed) */
	bool gso_on; /* sends group equal-sized datagrams to one peer (ft_udp_set_offloads) */
	bool gro_on; /* receives may hold several datagrams of one sender (slot gso_size) */
};

/*
 * Opens and binds the socket. local is the address to bind (NULL: the wildcard of the
 * socket's family, port port, 0 for any); when local is given, port is ignored and local's
 * port is used. An AF_INET6 local (or NULL) gives a socket with IPV6_V6ONLY off, which is
 * dual-stack when bound to in6addr_any; an AF_INET local gives an AF_INET socket. 0 or a negative errno (-EADDRINUSE, -EACCES, ...); on failure u->fd is -1.
 */
int ft_udp_open(struct ft_udp *u, const struct sockaddr *local, uint16_t port, unsigned int flags);
/*
 * Segmentation offloads on the underlay, each only when has_gso/has_gro say the kernel knows
 * it. gso: ft_udp_send_batch() sends consecutive slots for one destination, of one size but a
 * shorter last one, as one UDP_SEGMENT message (up to FT_UDP_GSO_MAX_SEGMENTS); gro: UDP_GRO
 * on the socket. 0 or a negative errno (the flags then say what is on).
 */
#define FT_UDP_GSO_MAX_SEGMENTS 64
int ft_udp_set_offloads(struct ft_udp *u, bool gso, bool gro);

/* Closes the socket; safe on a closed one. */
void ft_udp_close(struct ft_udp *u);

/*
 * One slot of a batch. Before a receive, iov says where to write and how much room there is;
 * after it, len is the number of bytes written and addr the sender. Before a send, iov.iov_base
 * holds len bytes to send to addr; after it, err is 0 or the negative errno of that datagram.
 */
struct ft_udp_slot {
	struct iovec iov;
	size_t len;
	struct sockaddr_storage addr;
	bool truncated; /* received datagram was longer than iov.iov_len: len bytes are kept */
	/*
	 * With gro_on: when non-zero, the slot holds len bytes of several datagrams from addr,
	 * each gso_size bytes but the last, which may be shorter.
	 */
	uint16_t gso_size;
	/*
	 * Send, with gso_on: a datagram longer than this goes in a message of its own, never in a
	 * UDP_SEGMENT run (0: no limit). The caller's, for a path whose MTU is known to be too
	 * small for such datagrams (the kernel would refuse the whole run).
	 */
	uint16_t seg_max;
	/*
	 * After a send: the slot was in a UDP_SEGMENT message the kernel refused for its size
	 * (EMSGSIZE, or EINVAL: a segment larger than the path allows) and went again in a
	 * message of its own, which the kernel may fragment; err says how that went.
	 */
	bool gso_refused;
	int err;
};

/*
 * n slots and the mmsghdr and iovec arrays the syscalls need, allocated once by ft_udp_batch_create().
 * The slot buffers are the caller's: either buf_size bytes each from the batch's own block
 * (buf_size > 0), or set by the caller in slots[i].iov (buf_size 0). Nothing is allocated
 * per call.
 */
struct ft_udp_batch {
	unsigned int n;
	struct ft_udp_slot *slots;
	struct mmsghdr *msgs;
	struct iovec *iovs;  /* what the syscalls see: the buffer on receive, len bytes on send */
	uint8_t *ctrl;	     /* a control message buffer per slot (UDP_SEGMENT, UDP_GRO) */
	unsigned int *first; /* send with GSO: the first slot of each message, and the end */
	void *block;	     /* the buffers when buf_size > 0, else NULL */
	uint64_t truncated;  /* running count of truncated datagrams received */
	/* UDP_SEGMENT messages refused for size and sent again datagram by datagram, in the
	 * last ft_udp_send_batch() call. */
	unsigned int gso_refused;
};

/* A batch of n slots (1..1024), each with buf_size bytes of buffer (0: none). NULL when out
 * of memory or n is out of range. Freed with ft_udp_batch_destroy(), which frees the batch's
 * own buffers but never the caller's. */
struct ft_udp_batch *ft_udp_batch_create(unsigned int n, size_t buf_size);
void ft_udp_batch_destroy(struct ft_udp_batch *b);

/*
 * Receives up to b->n datagrams with one recvmmsg. Returns how many slots were filled
 * (0 when nothing was waiting), or a negative errno. Each filled slot has len, addr (v4-mapped
 * senders as AF_INET) and truncated; a truncated datagram is flagged and counted in
 * b->truncated, never handed on as if whole: the caller must drop it.
 */
int ft_udp_recv_batch(const struct ft_udp *u, struct ft_udp_batch *b);

/*
 * Sends slots[0..count) with sendmmsg, count <= b->n. Returns the number of slots done, from
 * 0 to count: each done slot was sent (err 0) or failed on its own (err -EMSGSIZE,
 * -ENETUNREACH, -EAFNOSUPPORT, ...) and was skipped, so one bad datagram cannot block the
 * rest. It stops early only when the socket is full (EAGAIN, ENOBUFS): the caller sends the
 * remaining slots when the fd is writable. A negative errno only for errors of the socket
 * itself (-EBADF). On a dual-stack socket an AF_INET addr is rewritten in place to its
 * v4-mapped form. With gso_on, a run sent as one message shares its fate (err); an EIO on
 * such a message (a device that cannot segment) turns gso_on off and the run is sent again
 * datagram by datagram. An EMSGSIZE or EINVAL on such a message (its segments are larger
 * than the path MTU) leaves gso_on alone: that run alone is sent again datagram by datagram,
 * each of its slots flagged gso_refused and counted once in b->gso_refused; the caller lowers
 * seg_max for that destination.
 */
int ft_udp_send_batch(struct ft_udp *u, struct ft_udp_batch *b, unsigned int count);

/* True when a is an AF_INET6 address of the form ::ffff:a.b.c.d. */
bool ft_udp_addr_is_v4mapped(const struct sockaddr_storage *a);
/* An AF_INET6 v4-mapped address becomes the AF_INET address, in place (port kept); true when
 * it changed anything. */
bool ft_udp_addr_unmap(struct sockaddr_storage *a);
/* An AF_INET address becomes its AF_INET6 v4-mapped form, in place; true when it changed. */
bool ft_udp_addr_map(struct sockaddr_storage *a);

#endif
