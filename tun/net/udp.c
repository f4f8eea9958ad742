// SPDX-License-Identifier: MIT
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <sys/uio.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/sockaddr.h"
#include "tun/net/udp.h"

/* Room for one UDP_SEGMENT or UDP_GRO control message. */
#define FT_UDP_CTRL_LEN CMSG_SPACE(sizeof(int))

#define FT_UDP_BATCH_MAX 1024

static const uint8_t v4mapped_prefix[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

/*
 * Tunnels drop at the socket when a burst outruns the loop, so ask for large buffers. The
 * FORCE variants pass rmem_max/wmem_max and need CAP_NET_ADMIN; without it the plain option
 * still gets as much as the sysctl allows. What the kernel granted is read back.
 */
static void set_buffer(int fd, int force_opt, int opt, int *granted)
{
	int size = FT_UDP_SOCKBUF_SIZE;
	socklen_t len = sizeof(*granted);

	if (setsockopt(fd, SOL_SOCKET, force_opt, &size, sizeof(size)) < 0)
		(void)setsockopt(fd, SOL_SOCKET, opt, &size, sizeof(size));
	if (getsockopt(fd, SOL_SOCKET, opt, granted, &len) < 0)
		*granted = 0;
}

/* A getsockopt that the kernel knows answers; one that it does not fails with ENOPROTOOPT. */
static bool has_udp_option(int fd, int opt)
{
	int val = 0;
	socklen_t len = sizeof(val);

	return getsockopt(fd, SOL_UDP, opt, &val, &len) == 0;
}

static int make_socket(int family, unsigned int flags)
{
	int fd, one = 1, zero = 0;

	fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_UDP);
	if (fd < 0)
		return -errno;
	if (family == AF_INET6 &&
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero)) < 0)
		goto err;
	if ((flags & FT_UDP_REUSEPORT) &&
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0)
		goto err;
	return fd;
err:
	one = -errno;
	close(fd);
	return one;
}

int ft_udp_open(struct ft_udp *u, const struct sockaddr *local, uint16_t port, unsigned int flags)
{
	struct sockaddr_storage addr;
	socklen_t len;
	int fd, rc;

	memset(u, 0, sizeof(*u));
	u->fd = -1;
	memset(&addr, 0, sizeof(addr));
	if (local) {
		if (local->sa_family == AF_INET)
			len = sizeof(struct sockaddr_in);
		else if (local->sa_family == AF_INET6)
			len = sizeof(struct sockaddr_in6);
		else
			return -EAFNOSUPPORT;
		memcpy(&addr, local, len);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&addr;

		sin6->sin6_family = AF_INET6;
		sin6->sin6_addr = in6addr_any;
		sin6->sin6_port = htons(port);
	}
	if (flags & FT_UDP_IPV4_ONLY) {
		if (addr.ss_family == AF_INET6 && !local)
			addr.ss_family = AF_INET; /* the wildcard is rebuilt below */
		else if (addr.ss_family == AF_INET6)
			return -EAFNOSUPPORT;
	}

	fd = make_socket(addr.ss_family, flags);
	if (fd == -EAFNOSUPPORT && addr.ss_family == AF_INET6 && !local) {
		/* No IPv6 in this kernel: the wildcard of the other family serves all peers. */
		addr.ss_family = AF_INET;
		fd = make_socket(AF_INET, flags);
	}
	if (fd < 0)
		return fd;
	if (addr.ss_family == AF_INET && !local) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&addr;

		memset(sin, 0, sizeof(*sin));
		sin->sin_family = AF_INET;
		sin->sin_addr.s_addr = htonl(INADDR_ANY);
		sin->sin_port = htons(port);
	}
	len = ft_sockaddr_len((const struct sockaddr *)&addr);
	if (bind(fd, (struct sockaddr *)&addr, len) < 0)
		goto err;
	len = sizeof(addr);
	if (getsockname(fd, (struct sockaddr *)&addr, &len) < 0)
		goto err;

	u->fd = fd;
	u->family = addr.ss_family;
	u->port = ntohs(addr.ss_family == AF_INET ? ((struct sockaddr_in *)&addr)->sin_port
						  : ((struct sockaddr_in6 *)&addr)->sin6_port);
	set_buffer(fd, SO_RCVBUFFORCE, SO_RCVBUF, &u->rcvbuf);
	set_buffer(fd, SO_SNDBUFFORCE, SO_SNDBUF, &u->sndbuf);
	u->has_gso = has_udp_option(fd, UDP_SEGMENT);
	u->has_gro = has_udp_option(fd, UDP_GRO);
	return 0;
err:
	rc = -errno;
	close(fd);
	return rc;
}

void ft_udp_close(struct ft_udp *u)
{
	if (u->fd >= 0)
		close(u->fd);
	u->fd = -1;
}

struct ft_udp_batch *ft_udp_batch_create(unsigned int n, size_t buf_size)
{
	struct ft_udp_batch *b;

	if (n == 0 || n > FT_UDP_BATCH_MAX || buf_size > SIZE_MAX / n)
		return NULL;
	b = calloc(1, sizeof(*b));
	if (!b)
		return NULL;
	b->n = n;
	b->slots = calloc(n, sizeof(*b->slots));
	b->msgs = calloc(n, sizeof(*b->msgs));
	b->iovs = calloc(n, sizeof(*b->iovs));
	b->ctrl = calloc(n, FT_UDP_CTRL_LEN);
	b->first = calloc(n + 1, sizeof(*b->first));
	if (!b->slots || !b->msgs || !b->iovs || !b->ctrl || !b->first)
		goto err;
	if (buf_size > 0) {
		b->block = malloc(buf_size * n);
		if (!b->block)
			goto err;
		for (unsigned int i = 0; i < n; i++) {
			b->slots[i].iov.iov_base = (uint8_t *)b->block + (size_t)i * buf_size;
			b->slots[i].iov.iov_len = buf_size;
		}
	}
	return b;
err:
	ft_udp_batch_destroy(b);
	return NULL;
}

void ft_udp_batch_destroy(struct ft_udp_batch *b)
{
	if (!b)
		return;
	free(b->block);
	free(b->ctrl);
	free(b->first);
	free(b->iovs);
	free(b->msgs);
	free(b->slots);
	free(b);
}

/* The UDP_GRO segment size of a received message, or 0 when it holds one datagram. */
static uint16_t gro_size(struct msghdr *mh)
{
	for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
		int v;

		if (c->cmsg_level != SOL_UDP || c->cmsg_type != UDP_GRO ||
		    c->cmsg_len < CMSG_LEN(sizeof(v)))
			continue;
		memcpy(&v, CMSG_DATA(c), sizeof(v));
		return v > 0 && v <= 65535 ? (uint16_t)v : 0;
	}
	return 0;
}

int ft_udp_set_offloads(struct ft_udp *u, bool gso, bool gro)
{
	int on = gro && u->has_gro ? 1 : 0;

	u->gso_on = gso && u->has_gso;
	if (setsockopt(u->fd, SOL_UDP, UDP_GRO, &on, sizeof(on)) < 0) {
		u->gro_on = false;
		return on ? -errno : 0;
	}
	u->gro_on = on;
	return 0;
}

int ft_udp_recv_batch(const struct ft_udp *u, struct ft_udp_batch *b)
{
	int got;

	for (unsigned int i = 0; i < b->n; i++) {
		struct msghdr *mh = &b->msgs[i].msg_hdr;

		memset(mh, 0, sizeof(*mh));
		mh->msg_name = &b->slots[i].addr;
		mh->msg_namelen = sizeof(b->slots[i].addr);
		b->iovs[i] = b->slots[i].iov;
		mh->msg_iov = &b->iovs[i];
		mh->msg_iovlen = 1;
		if (u->gro_on) {
			mh->msg_control = b->ctrl + (size_t)i * FT_UDP_CTRL_LEN;
			mh->msg_controllen = FT_UDP_CTRL_LEN;
		}
		b->msgs[i].msg_len = 0;
	}
	do {
		got = recvmmsg(u->fd, b->msgs, b->n, MSG_DONTWAIT, NULL);
	} while (got < 0 && errno == EINTR);
	if (got < 0)
		return (errno == EAGAIN || errno == EWOULDBLOCK) ? 0 : -errno;

	for (int i = 0; i < got; i++) {
		struct ft_udp_slot *s = &b->slots[i];

		s->len = b->msgs[i].msg_len;
		s->err = 0;
		s->gso_size = u->gro_on ? gro_size(&b->msgs[i].msg_hdr) : 0;
		/* The kernel copies what fits and says so only in msg_flags: a short read must
		 * not pass for a whole datagram. */
		s->truncated = (b->msgs[i].msg_hdr.msg_flags & MSG_TRUNC) != 0;
		if (s->truncated)
			b->truncated++;
		ft_udp_addr_unmap(&s->addr);
	}
	return got;
}

static bool same_addr(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	socklen_t n = ft_sockaddr_len((const struct sockaddr *)a);

	return n && n == ft_sockaddr_len((const struct sockaddr *)b) && memcmp(a, b, n) == 0;
}

/*
 * One message per slot, or with gso_on one per run of slots for one destination whose
 * sizes are equal but for a shorter last one (the kernel cuts a UDP_SEGMENT message into
 * datagrams of the segment size), slots [from, count). b->first[m] is message m's first slot.
 * Returns the number of messages.
 */
static unsigned int fill_send_msgs(const struct ft_udp *u, struct ft_udp_batch *b,
				   unsigned int from, unsigned int count)
{
	unsigned int m = 0;

	for (unsigned int i = from; i < count; i++)
		if (u->family == AF_INET6)
			ft_udp_addr_map(&b->slots[i].addr);
	for (unsigned int i = from; i < count;) {
		struct ft_udp_slot *s = &b->slots[i];
		struct msghdr *mh = &b->msgs[m].msg_hdr;
		unsigned int j = i + 1;
		size_t total = s->len;

		/* A run the kernel refused for size, or longer datagrams than the path takes with
		 * UDP_SEGMENT, go one per message: the kernel fragments those, it refuses a run. */
		bool alone = s->gso_refused || (s->seg_max && s->len > s->seg_max);

		while (u->gso_on && !alone && s->len > 0 && j < count &&
		       j - i < FT_UDP_GSO_MAX_SEGMENTS) {
			const struct ft_udp_slot *t = &b->slots[j];

			if (t->len == 0 || t->len > s->len || total + t->len > 65000 ||
			    t->gso_refused || !same_addr(&t->addr, &s->addr))
				break;
			total += t->len;
			j++;
			if (t->len < s->len)
				break; /* a shorter datagram ends the run */
		}
		for (unsigned int k = i; k < j; k++) {
			/* The slot's iov is the whole buffer; the datagram is its first len bytes. */
			b->iovs[k].iov_base = b->slots[k].iov.iov_base;
			b->iovs[k].iov_len = b->slots[k].len;
			b->slots[k].err = 0;
		}
		memset(mh, 0, sizeof(*mh));
		mh->msg_name = &s->addr;
		mh->msg_namelen = ft_sockaddr_len((const struct sockaddr *)&s->addr);
		mh->msg_iov = &b->iovs[i];
		mh->msg_iovlen = j - i;
		if (j - i > 1) {
			struct cmsghdr *c;
			uint16_t size = (uint16_t)s->len;

			mh->msg_control = b->ctrl + (size_t)m * FT_UDP_CTRL_LEN;
			mh->msg_controllen = CMSG_SPACE(sizeof(size));
			memset(mh->msg_control, 0, FT_UDP_CTRL_LEN);
			c = CMSG_FIRSTHDR(mh);
			c->cmsg_level = SOL_UDP;
			c->cmsg_type = UDP_SEGMENT;
			c->cmsg_len = CMSG_LEN(sizeof(size));
			memcpy(CMSG_DATA(c), &size, sizeof(size));
		}
		b->msgs[m].msg_len = 0;
		b->first[m++] = i;
		i = j;
	}
	b->first[m] = count;
	return m;
}

int ft_udp_send_batch(struct ft_udp *u, struct ft_udp_batch *b, unsigned int count)
{
	unsigned int done = 0, nmsg;

	if (count > b->n)
		count = b->n;
	b->gso_refused = 0;
	for (unsigned int i = 0; i < count; i++)
		b->slots[i].gso_refused = false;
	nmsg = fill_send_msgs(u, b, 0, count);
	while (done < nmsg) {
		int sent, err;

		do {
			sent = sendmmsg(u->fd, &b->msgs[done], nmsg - done, MSG_DONTWAIT);
		} while (sent < 0 && errno == EINTR);
		if (sent > 0) {
			done += (unsigned int)sent;
			continue;
		}
		err = errno;
		if (sent == 0 || err == EAGAIN || err == EWOULDBLOCK || err == ENOBUFS)
			break;
		if (err == EBADF || err == ENOTSOCK || err == EFAULT)
			return done ? (int)b->first[done] : -err;
		if (err == EIO && b->msgs[done].msg_hdr.msg_iovlen > 1) {
			/*
			 * The device cannot segment (a UDP_SEGMENT send fails with EIO, e.g. without
			 * checksum offload): no more GSO on this socket; the unsent slots go again,
			 * one datagram each.
			 */
			unsigned int from = b->first[done];

			u->gso_on = false;
			nmsg = fill_send_msgs(u, b, from, count);
			done = 0;
			continue;
		}
		if ((err == EMSGSIZE || err == EINVAL) && b->msgs[done].msg_hdr.msg_iovlen > 1) {
			/*
			 * A UDP_SEGMENT message whose segments do not fit the path MTU is refused
			 * whole (EMSGSIZE; EINVAL when the segment size is over the route's MTU,
			 * udp_send_skb()), where a single datagram of that size would have been
			 * fragmented: send that run again one datagram per message. GSO stays on
			 * for the other runs; the flag tells the caller to lower seg_max.
			 */
			unsigned int from = b->first[done];

			for (unsigned int k = from; k < b->first[done + 1]; k++)
				b->slots[k].gso_refused = true;
			b->gso_refused++;
			nmsg = fill_send_msgs(u, b, from, count);
			done = 0;
			continue;
		}
		/*
		 * sendmmsg reports an error only when it is the first message's: record it on that
		 * message's slots and go on with the next, so one bad destination cannot wedge a
		 * batch.
		 */
		for (unsigned int k = b->first[done]; k < b->first[done + 1]; k++)
			b->slots[k].err = -err;
		done++;
	}
	return nmsg ? (int)b->first[done] : 0;
}

bool ft_udp_addr_is_v4mapped(const struct sockaddr_storage *a)
{
	const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)a;

	return a->ss_family == AF_INET6 &&
	       memcmp(sin6->sin6_addr.s6_addr, v4mapped_prefix, sizeof(v4mapped_prefix)) == 0;
}

bool ft_udp_addr_unmap(struct sockaddr_storage *a)
{
	struct sockaddr_in6 sin6;
	struct sockaddr_in sin;

	if (!ft_udp_addr_is_v4mapped(a))
		return false;
	memcpy(&sin6, a, sizeof(sin6));
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = sin6.sin6_port;
	memcpy(&sin.sin_addr, &sin6.sin6_addr.s6_addr[12], 4);
	memset(a, 0, sizeof(sin6));
	memcpy(a, &sin, sizeof(sin));
	return true;
}

bool ft_udp_addr_map(struct sockaddr_storage *a)
{
	struct sockaddr_in6 sin6;
	struct sockaddr_in sin;

	if (a->ss_family != AF_INET)
		return false;
	memcpy(&sin, a, sizeof(sin));
	memset(&sin6, 0, sizeof(sin6));
	sin6.sin6_family = AF_INET6;
	sin6.sin6_port = sin.sin_port;
	memcpy(sin6.sin6_addr.s6_addr, v4mapped_prefix, sizeof(v4mapped_prefix));
	memcpy(&sin6.sin6_addr.s6_addr[12], &sin.sin_addr, 4);
	memcpy(a, &sin6, sizeof(sin6));
	return true;
}
