// SPDX-License-Identifier: MIT
/*
 * The sockets of peer-swarm. Each peer has an endpoint: one of --sockets UDP sockets (a port
 * each, bound to the wildcard address) and, with --src-range, one source address of that
 * range. The range is made local to the namespace by one route (`ip route add local
 * 198.19.0.0/16 dev lo`, the "AnyIP" trick), so 65,536 addresses cost no interface addresses
 * and no sockets: a wildcard socket receives for every one of them, and sendmsg picks the
 * source of each datagram with an IP_PKTINFO control message. 100,000 peers need two sockets.
 *
 * Sends are queued per socket and leave in sendmmsg batches of SW_BATCH; a full socket buffer
 * (EAGAIN, ENOBUFS) is waited out, so that every datagram counted as sent has been accepted by
 * the kernel. Receives are recvmmsg batches with IP_PKTINFO, which gives the local address each
 * datagram came to (the hub must answer each peer at its own endpoint).
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tests/bench/swarm.h"

enum {
	SOCKET_BUFFER = 4 << 20,
	RX_BUF = 2048,
	/* How long one flush may wait for room in a socket buffer before it gives up. */
	FLUSH_PATIENCE_MS = 2000,
};

int sw_io_open(struct sw *s)
{
	int one = 1, size = SOCKET_BUFFER;
	uint32_t k;

	s->txq = calloc(s->nsock, sizeof(*s->txq));
	if (!s->txq)
		return -ENOMEM;
	for (k = 0; k < s->nsock; k++)
		s->fds[k] = -1;
	for (k = 0; k < s->nsock; k++) {
		struct sockaddr_in sin = { .sin_family = AF_INET };
		socklen_t sl = sizeof(sin);
		int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

		if (fd < 0)
			goto fail;
		s->fds[k] = fd;
		if (s->o.src_port)
			sin.sin_port = htons((uint16_t)(s->o.src_port + k));
		/* The FORCE variants pass the sysctl limits as root; the plain ones otherwise. */
		if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) < 0)
			setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
		if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof(size)) < 0)
			setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
		if (setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof(one)) < 0 ||
		    bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 ||
		    getsockname(fd, (struct sockaddr *)&sin, &sl) < 0)
			goto fail;
		s->ports[k] = ntohs(sin.sin_port);
	}
	for (k = 0; k < s->nsock; k++) {
		struct sw_txq *q = &s->txq[k];

		for (int j = 0; j < SW_BATCH; j++) {
			struct msghdr *h = &q->msg[j].msg_hdr;

			q->iov[j].iov_base = q->buf[j];
			h->msg_iov = &q->iov[j];
			h->msg_iovlen = 1;
			h->msg_name = &s->o.hub;
			h->msg_namelen = sizeof(s->o.hub);
		}
	}
	return 0;
fail:
	fprintf(stderr, "peer-swarm: socket %u (port %u): %s\n", k,
		s->o.src_port ? s->o.src_port + k : 0u, strerror(errno));
	return -errno;
}

void sw_io_close(struct sw *s)
{
	if (!s->txq)
		return; /* never opened: fds[] holds no descriptor */
	for (uint32_t k = 0; k < s->nsock; k++)
		if (s->fds[k] >= 0)
			close(s->fds[k]);
	free(s->txq);
}

static void account(struct sw *s, struct sw_txq *q, int j)
{
	struct sw_counts *n = &s->peers[q->peer[j]].n;
	size_t len = q->iov[j].iov_len;

	switch (q->kind[j]) {
	case SW_KIND_INITIATION:
		n->hs_sent++;
		break;
	case SW_KIND_KEEPALIVE:
		n->keepalive_tx++;
		n->transport_tx_bytes += len;
		break;
	case SW_KIND_DATA:
		n->data_tx_pkts++;
		n->data_tx_bytes += s->o.size;
		n->transport_tx_bytes += len;
		break;
	}
}

static void sleep_ms(int ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static int flush_socket(struct sw *s, uint32_t k)
{
	struct sw_txq *q = &s->txq[k];
	int done = 0, waited = 0;

	while (done < q->n) {
		int r = sendmmsg(s->fds[k], q->msg + done, (unsigned int)(q->n - done), 0);

		if (r > 0) {
			for (int j = done; j < done + r; j++)
				account(s, q, j);
			done += r;
			continue;
		}
		if (r < 0 && (errno == EAGAIN || errno == ENOBUFS || errno == EINTR)) {
			/* ENOBUFS does not wake poll: a short sleep serves both. */
			if (waited >= FLUSH_PATIENCE_MS)
				break;
			s->g.tx_eagain_waits++;
			if (errno == EAGAIN) {
				struct pollfd p = { .fd = s->fds[k], .events = POLLOUT };

				poll(&p, 1, 1);
			} else {
				sleep_ms(1);
			}
			waited++;
			continue;
		}
		/* The first datagram was refused for good: say so once, drop it, go on. */
		if (s->g.tx_errors++ == 0)
			fprintf(stderr, "peer-swarm: sendmmsg: %s\n", strerror(errno));
		done++;
	}
	s->g.tx_errors += (uint64_t)(q->n - done);
	q->n = 0;
	return 0;
}

int sw_io_flush(struct sw *s)
{
	for (uint32_t k = 0; k < s->nsock; k++)
		if (s->txq[k].n)
			flush_socket(s, k);
	return 0;
}

uint8_t *sw_io_slot(struct sw *s, uint32_t peer)
{
	uint32_t k = sw_peer_socket(s, peer);
	struct sw_txq *q = &s->txq[k];

	if (q->n == SW_BATCH)
		flush_socket(s, k);
	return q->buf[q->n];
}

void sw_io_commit(struct sw *s, uint32_t peer, size_t len, enum sw_kind kind)
{
	struct sw_txq *q = &s->txq[sw_peer_socket(s, peer)];
	struct msghdr *h = &q->msg[q->n].msg_hdr;
	uint32_t src = sw_peer_address(s, peer);

	q->iov[q->n].iov_len = len;
	if (src) {
		struct cmsghdr *c = &q->ctl[q->n].align;
		struct in_pktinfo pi = { .ipi_spec_dst.s_addr = htonl(src) };

		h->msg_control = q->ctl[q->n].bytes;
		h->msg_controllen = sizeof(q->ctl[q->n].bytes);
		c->cmsg_level = IPPROTO_IP;
		c->cmsg_type = IP_PKTINFO;
		c->cmsg_len = CMSG_LEN(sizeof(pi));
		memcpy(CMSG_DATA(c), &pi, sizeof(pi));
	} else {
		h->msg_control = NULL;
		h->msg_controllen = 0;
	}
	q->peer[q->n] = peer;
	q->kind[q->n] = (uint8_t)kind;
	q->n++;
}

static uint32_t pktinfo_dst(struct msghdr *h)
{
	for (struct cmsghdr *c = CMSG_FIRSTHDR(h); c; c = CMSG_NXTHDR(h, c))
		if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO &&
		    c->cmsg_len >= CMSG_LEN(sizeof(struct in_pktinfo))) {
			struct in_pktinfo pi;

			memcpy(&pi, CMSG_DATA(c), sizeof(pi));
			return ntohl(pi.ipi_addr.s_addr);
		}
	return 0;
}

uint32_t sw_io_receive(struct sw *s, uint64_t now, uint32_t max_batches)
{
	static uint8_t buf[SW_BATCH][RX_BUF];
	static struct mmsghdr msg[SW_BATCH];
	static struct iovec iov[SW_BATCH];
	static struct sockaddr_in from[SW_BATCH];
	static union {
		struct cmsghdr align;
		char bytes[CMSG_SPACE(sizeof(struct in_pktinfo))];
	} ctl[SW_BATCH];
	uint32_t handled = 0;

	for (uint32_t k = 0; k < s->nsock; k++) {
		for (uint32_t b = 0; b < max_batches; b++) {
			int r;

			for (int j = 0; j < SW_BATCH; j++) {
				struct msghdr *h = &msg[j].msg_hdr;

				iov[j].iov_base = buf[j];
				iov[j].iov_len = sizeof(buf[j]);
				h->msg_iov = &iov[j];
				h->msg_iovlen = 1;
				h->msg_name = &from[j];
				h->msg_namelen = sizeof(from[j]);
				h->msg_control = ctl[j].bytes;
				h->msg_controllen = sizeof(ctl[j].bytes);
				h->msg_flags = 0;
			}
			r = recvmmsg(s->fds[k], msg, SW_BATCH, MSG_DONTWAIT, NULL);
			if (r <= 0)
				break;
			for (int j = 0; j < r; j++) {
				struct msghdr *h = &msg[j].msg_hdr;

				if (h->msg_flags & MSG_TRUNC || h->msg_namelen != sizeof(from[j])) {
					s->g.rx_truncated++;
					continue;
				}
				sw_receive(s, buf[j], msg[j].msg_len, &from[j], pktinfo_dst(h), k,
					   now);
			}
			handled += (uint32_t)r;
			if (r < SW_BATCH)
				break;
		}
	}
	return handled;
}

void sw_io_wait(struct sw *s, int timeout_ms)
{
	struct pollfd p[SW_MAX_SOCKETS];

	for (uint32_t k = 0; k < s->nsock; k++) {
		p[k].fd = s->fds[k];
		p[k].events = POLLIN;
		p[k].revents = 0;
	}
	poll(p, s->nsock, timeout_ms);
}
