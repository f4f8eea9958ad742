// SPDX-License-Identifier: MIT
/*
 * Flood generators for tests/netns/dos.sh and soak.sh, run inside a namespace the script
 * created; each sends only to the address it is given, which the scripts take from
 * 198.18.0.0/15 (underlay) or 100.64.0.0/10 (overlay):
 *
 *   hs-flood init ADDR PORT PUBKEY RATE SECONDS SOCKETS
 *       real handshake initiations to the responder with static public key PUBKEY (base64)
 *       from a static key it does not know, each with a valid mac1 (the responder must
 *       authenticate mac1 before anything else, so only such messages reach its load check),
 *       from SOCKETS UDP sockets, each on a source port of its own, round robin, at RATE
 *       per second for SECONDS. Counts the cookie replies that come back. Prints
 *       "sent N cookies M sockets S seconds T".
 *   hs-flood cookie ADDR PORT PUBKEY RATE SECONDS [SRC]
 *       like init, from one socket (one source address and port; bound to SRC if given),
 *       but as a sender that
 *       answers the cookie: it puts the responder under load with a burst, takes the cookie
 *       of a reply, then sends every initiation with a valid mac2 at RATE per second for
 *       SECONDS. Only the responder's per-source rate limit stands between such a flood and
 *       its DH work. Prints "sent N cookie_phase M cookies C seconds T" (M: the messages
 *       it took to get the cookie, C: the cookie replies during the flood).
 *   hs-flood garbage ADDR PORT SECONDS
 *       datagrams no peer accepts, as fast as one socket and sendmmsg go, for SECONDS:
 *       alternately random bytes of a random type and length and initiations (148 bytes,
 *       type 1) whose mac1 is random. Prints "sent N seconds T rate R".
 *   hs-flood udp ADDR PORT COUNT SIZE FIRST_PORT [BURST]
 *       exactly COUNT datagrams of SIZE payload bytes, datagram i from source port
 *       FIRST_PORT + i (so COUNT distinct 5-tuples; a port in use, such as the tunnel's own,
 *       is skipped for the next one), a send that the local queue refused (ENOBUFS, seen
 *       through IP_RECVERR) retried, BURST (32) datagrams between pauses of 1 ms. Prints
 *       "sent COUNT".
 *   hs-flood ports ADDR FIRST_PORT COUNT SIZE RATE
 *       exactly COUNT datagrams of SIZE payload bytes from one socket, datagram i to port
 *       FIRST_PORT + i (COUNT distinct 5-tuples), by sendmmsg in batches of 64, RATE
 *       datagrams per second (0: as fast as the socket goes). Prints "sent COUNT seconds T".
 *
 * IPv4 only. Exit status 0, 1 on a failure (with a message), 2 on a usage error.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "tun/wg/cookie.h"
#include "tun/wg/key.h"
#include "tun/wg/noise.h"
#include "tun/wg/wire.h"

enum {
	/* Distinct initiations made up front: making one costs two X25519 operations, which
	 * would cap the rate; the responder cannot tell a resent one from a fresh one before
	 * it does the DH work that the cookie is there to spare it. */
	POOL = 256,
	MAX_SOCKETS = 1024,
	GARBAGE_BATCH = 64,
	GARBAGE_MAX = 1500,
	MAX_UDP_PAYLOAD = 1400,
};

static uint8_t pool[POOL][FT_WIRE_INITIATION_LEN];

static int usage(void)
{
	fprintf(stderr, "usage: hs-flood init ADDR PORT PUBKEY RATE SECONDS SOCKETS\n"
			"       hs-flood cookie ADDR PORT PUBKEY RATE SECONDS [SRC]\n"
			"       hs-flood garbage ADDR PORT SECONDS\n"
			"       hs-flood udp ADDR PORT COUNT SIZE FIRST_PORT [BURST]\n"
			"       hs-flood ports ADDR FIRST_PORT COUNT SIZE RATE\n");
	return 2;
}

static int parse_ulong(const char *s, unsigned long max, unsigned long *out)
{
	char *end;

	errno = 0;
	*out = strtoul(s, &end, 10);
	if (errno || end == s || *end || *out > max)
		return -EINVAL;
	return 0;
}

static int parse_dest(const char *addr, const char *port, struct sockaddr_in *sin)
{
	unsigned long p;

	memset(sin, 0, sizeof(*sin));
	sin->sin_family = AF_INET;
	if (inet_pton(AF_INET, addr, &sin->sin_addr) != 1 || parse_ulong(port, 65535, &p) < 0 ||
	    p == 0)
		return -EINVAL;
	sin->sin_port = htons((uint16_t)p);
	return 0;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void sleep_ns(uint64_t ns)
{
	struct timespec ts = { .tv_sec = (time_t)(ns / 1000000000ULL),
			       .tv_nsec = (long)(ns % 1000000000ULL) };

	nanosleep(&ts, NULL);
}

/* POOL initiations from a fresh static key to the responder `pub`, macs added. */
static int make_pool(const uint8_t pub[FT_KEY_LEN])
{
	struct ft_noise_identity id;
	struct ft_cookie_maker maker;
	struct ft_handshake *hs;
	uint8_t priv[FT_KEY_LEN];
	int rc;

	ft_key_generate_private(priv);
	rc = ft_noise_identity_init(&id, priv);
	sodium_memzero(priv, sizeof(priv));
	if (rc < 0)
		return rc;
	hs = ft_noise_handshake_create(&id, pub, NULL, NULL);
	if (!hs) {
		ft_noise_identity_clear(&id);
		return -ENOMEM;
	}
	ft_cookie_maker_init(&maker, pub);
	for (uint32_t i = 0; i < POOL && rc == 0; i++) {
		rc = ft_noise_create_initiation(hs, pool[i], randombytes_random());
		if (rc == 0)
			ft_cookie_maker_add_macs(&maker, pool[i], FT_WIRE_INITIATION_LEN, now_ns());
	}
	ft_cookie_maker_clear(&maker);
	ft_noise_handshake_destroy(hs);
	ft_noise_identity_clear(&id);
	return rc == 0 ? 0 : -EINVAL;
}

/* Reads what came back on the sockets: the number of cookie replies among it. */
static unsigned long drain_cookies(const int *fds, size_t n)
{
	uint8_t buf[256];
	unsigned long cookies = 0;

	for (size_t i = 0; i < n; i++) {
		ssize_t r;

		while ((r = recv(fds[i], buf, sizeof(buf), MSG_DONTWAIT)) >= 0)
			if (r == FT_WIRE_COOKIE_REPLY_LEN && buf[0] == FT_WIRE_COOKIE_REPLY)
				cookies++;
	}
	return cookies;
}

static int cmd_init(const struct sockaddr_in *dst, const uint8_t pub[FT_KEY_LEN],
		    unsigned long rate, unsigned long seconds, unsigned long nsocks)
{
	static int fds[MAX_SOCKETS];
	unsigned long sent = 0, cookies = 0, total = rate * seconds;
	uint64_t start, interval = 1000000000ULL / rate;
	size_t open_fds = 0;
	int rc = 1;

	if (make_pool(pub) < 0) {
		fprintf(stderr, "hs-flood: cannot make initiations\n");
		return 1;
	}
	/* Each socket gets an ephemeral source port of its own at its first send. */
	for (; open_fds < nsocks; open_fds++) {
		fds[open_fds] = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		if (fds[open_fds] < 0) {
			perror("hs-flood: socket");
			goto out;
		}
	}
	start = now_ns();
	while (sent < total) {
		/* Send what is due by now: a fixed rate, whatever the scheduler did. */
		uint64_t due = (now_ns() - start) / interval + 1;

		while (sent < due && sent < total) {
			int fd = fds[sent % nsocks];

			if (sendto(fd, pool[sent % POOL], FT_WIRE_INITIATION_LEN, 0,
				   (const struct sockaddr *)dst, sizeof(*dst)) < 0 &&
			    errno != ENOBUFS && errno != EAGAIN && errno != ECONNREFUSED) {
				perror("hs-flood: sendto");
				goto out;
			}
			sent++;
		}
		if (sent % 64 == 0 || sent == total)
			cookies += drain_cookies(fds, nsocks);
		sleep_ns(interval < 1000000 ? interval : 1000000);
	}
	/* The last replies are on their way. */
	sleep_ns(200000000);
	cookies += drain_cookies(fds, nsocks);
	printf("sent %lu cookies %lu sockets %lu seconds %.2f\n", sent, cookies, nsocks,
	       (double)(now_ns() - start) / 1e9);
	rc = 0;
out:
	while (open_fds > 0)
		close(fds[--open_fds]);
	return rc;
}

/*
 * The cookie of a reply to our latest message: bursts of initiations (the first ones put the
 * responder under load), then the replies read for a while; the reply to the last message
 * of a burst is the one the maker can open (it remembers that message's mac1).
 */
static int get_cookie(int fd, const struct sockaddr_in *dst, struct ft_cookie_maker *maker,
		      unsigned long *sent)
{
	uint8_t buf[256];

	for (int round = 0; round < 50 && !maker->have_cookie; round++) {
		uint64_t until;

		for (int i = 0; i < 300; i++) {
			uint8_t *m = pool[(*sent)++ % POOL];

			ft_cookie_maker_add_macs(maker, m, FT_WIRE_INITIATION_LEN, now_ns());
			if (sendto(fd, m, FT_WIRE_INITIATION_LEN, 0, (const struct sockaddr *)dst,
				   sizeof(*dst)) < 0 &&
			    errno != ENOBUFS && errno != EAGAIN && errno != ECONNREFUSED) {
				perror("hs-flood: sendto");
				return -1;
			}
		}
		until = now_ns() + 200000000ULL;
		while (now_ns() < until && !maker->have_cookie) {
			struct pollfd pfd = { .fd = fd, .events = POLLIN };
			ssize_t r;

			if (poll(&pfd, 1, 20) <= 0)
				continue;
			r = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
			if (r == FT_WIRE_COOKIE_REPLY_LEN && buf[0] == FT_WIRE_COOKIE_REPLY)
				ft_cookie_maker_consume_reply(maker, buf, (size_t)r, now_ns());
		}
	}
	return maker->have_cookie ? 0 : -1;
}

static int cmd_cookie(const struct sockaddr_in *dst, const struct sockaddr_in *src,
		      const uint8_t pub[FT_KEY_LEN], unsigned long rate, unsigned long seconds)
{
	struct ft_cookie_maker maker;
	unsigned long sent = 0, phase, cookies = 0, total = rate * seconds;
	uint64_t start, interval = 1000000000ULL / rate;
	int fd, rc = 1;

	if (make_pool(pub) < 0) {
		fprintf(stderr, "hs-flood: cannot make initiations\n");
		return 1;
	}
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		perror("hs-flood: socket");
		return 1;
	}
	if (src && bind(fd, (const struct sockaddr *)src, sizeof(*src)) < 0) {
		perror("hs-flood: bind");
		close(fd);
		return 1;
	}
	ft_cookie_maker_init(&maker, pub);
	if (get_cookie(fd, dst, &maker, &sent) < 0) {
		fprintf(stderr, "hs-flood: no cookie reply could be opened after %lu initiations\n",
			sent);
		goto out;
	}
	phase = sent;
	sent = 0;
	start = now_ns();
	while (sent < total) {
		uint64_t due = (now_ns() - start) / interval + 1;

		while (sent < due && sent < total) {
			uint8_t *m = pool[sent % POOL];

			ft_cookie_maker_add_macs(&maker, m, FT_WIRE_INITIATION_LEN, now_ns());
			if (sendto(fd, m, FT_WIRE_INITIATION_LEN, 0, (const struct sockaddr *)dst,
				   sizeof(*dst)) < 0 &&
			    errno != ENOBUFS && errno != EAGAIN && errno != ECONNREFUSED) {
				perror("hs-flood: sendto");
				goto out;
			}
			sent++;
		}
		if (sent % 64 == 0 || sent == total)
			cookies += drain_cookies(&fd, 1);
		sleep_ns(interval < 1000000 ? interval : 1000000);
	}
	sleep_ns(200000000);
	cookies += drain_cookies(&fd, 1);
	printf("sent %lu cookie_phase %lu cookies %lu seconds %.2f\n", sent, phase, cookies,
	       (double)(now_ns() - start) / 1e9);
	rc = 0;
out:
	ft_cookie_maker_clear(&maker);
	close(fd);
	return rc;
}

static int cmd_garbage(const struct sockaddr_in *dst, unsigned long seconds)
{
	static uint8_t bufs[GARBAGE_BATCH][GARBAGE_MAX];
	struct mmsghdr msgs[GARBAGE_BATCH];
	struct iovec iov[GARBAGE_BATCH];
	unsigned long sent = 0;
	uint64_t start, end;
	int fd;

	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		perror("hs-flood: socket");
		return 1;
	}
	memset(msgs, 0, sizeof(msgs));
	/* Odd slots: initiations with a random mac1; even: random bytes of any type. */
	for (int i = 0; i < GARBAGE_BATCH; i++) {
		randombytes_buf(bufs[i], sizeof(bufs[i]));
		iov[i].iov_base = bufs[i];
		if (i % 2) {
			memcpy(bufs[i], (const uint8_t[4]){ FT_WIRE_INITIATION, 0, 0, 0 }, 4);
			iov[i].iov_len = FT_WIRE_INITIATION_LEN;
		} else {
			iov[i].iov_len = randombytes_uniform(GARBAGE_MAX + 1);
		}
		msgs[i].msg_hdr.msg_iov = &iov[i];
		msgs[i].msg_hdr.msg_iovlen = 1;
		msgs[i].msg_hdr.msg_name = (void *)(uintptr_t)dst;
		msgs[i].msg_hdr.msg_namelen = sizeof(*dst);
	}
	start = now_ns();
	end = start + seconds * 1000000000ULL;
	while (now_ns() < end) {
		int r = sendmmsg(fd, msgs, GARBAGE_BATCH, 0);

		if (r < 0) {
			if (errno == ENOBUFS || errno == EAGAIN || errno == EINTR ||
			    errno == ECONNREFUSED)
				continue;
			perror("hs-flood: sendmmsg");
			close(fd);
			return 1;
		}
		sent += (unsigned long)r;
		/* Vary the random ones a little so that no two batches are the same. */
		bufs[0][sent % GARBAGE_MAX]++;
	}
	close(fd);
	printf("sent %lu seconds %.2f rate %.0f\n", sent, (double)(now_ns() - start) / 1e9,
	       (double)sent * 1e9 / (double)(now_ns() - start));
	return 0;
}

static int send_one(const struct sockaddr_in *dst, uint16_t sport, const uint8_t *buf, size_t len)
{
	struct sockaddr_in src = { .sin_family = AF_INET, .sin_port = htons(sport) };
	int one = 1, fd, rc = 0;

	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* Without IP_RECVERR a datagram dropped by the local queue looks sent. */
	if (setsockopt(fd, SOL_IP, IP_RECVERR, &one, sizeof(one)) < 0 ||
	    bind(fd, (const struct sockaddr *)&src, sizeof(src)) < 0) {
		rc = -errno;
		goto out;
	}
	for (int tries = 0;; tries++) {
		if (sendto(fd, buf, len, 0, (const struct sockaddr *)dst, sizeof(*dst)) >= 0)
			break;
		if ((errno != ENOBUFS && errno != EAGAIN) || tries == 1000) {
			rc = -errno;
			goto out;
		}
		sleep_ns(1000000);
	}
out:
	close(fd);
	return rc;
}

static int cmd_udp(const struct sockaddr_in *dst, unsigned long count, unsigned long size,
		   unsigned long first, unsigned long burst)
{
	static uint8_t buf[MAX_UDP_PAYLOAD];
	unsigned long sent = 0, port = first;

	memset(buf, 0x5a, sizeof(buf));
	for (; sent < count && port <= 65535; port++) {
		int rc = send_one(dst, (uint16_t)port, buf, size);

		/* A port someone has bound (the tunnel's own listen port) is skipped. */
		if (rc == -EADDRINUSE)
			continue;
		if (rc < 0) {
			fprintf(stderr, "hs-flood: port %lu: %s\n", port, strerror(-rc));
			break;
		}
		/*
		 * A pause every 32 (by default): the TUN's queue holds 500 packets, and a
		 * packet the TUN driver drops for a full queue is not reported to the sender,
		 * even with IP_RECVERR. At most ~32,000 datagrams/s leaves a sanitizer build
		 * room.
		 */
		if (++sent % burst == 0)
			sleep_ns(1000000);
	}
	printf("sent %lu\n", sent);
	return sent == count ? 0 : 1;
}

static int cmd_ports(const struct sockaddr_in *dst, unsigned long first, unsigned long count,
		     unsigned long size, unsigned long rate)
{
	static uint8_t buf[MAX_UDP_PAYLOAD];
	static struct sockaddr_in to[GARBAGE_BATCH];
	struct mmsghdr msgs[GARBAGE_BATCH];
	struct iovec iov = { .iov_base = buf, .iov_len = size };
	unsigned long sent = 0;
	uint64_t start = now_ns();
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (fd < 0) {
		perror("hs-flood: socket");
		return 1;
	}
	memset(buf, 0x5a, sizeof(buf));
	memset(msgs, 0, sizeof(msgs));
	while (sent < count) {
		unsigned long n = count - sent < GARBAGE_BATCH ? count - sent : GARBAGE_BATCH;
		int r;

		for (unsigned long i = 0; i < n; i++) {
			to[i] = *dst;
			to[i].sin_port = htons((uint16_t)(first + sent + i));
			msgs[i].msg_hdr.msg_iov = &iov;
			msgs[i].msg_hdr.msg_iovlen = 1;
			msgs[i].msg_hdr.msg_name = &to[i];
			msgs[i].msg_hdr.msg_namelen = sizeof(to[i]);
		}
		r = sendmmsg(fd, msgs, (unsigned int)n, 0);
		if (r < 0) {
			if (errno == ENOBUFS || errno == EAGAIN || errno == EINTR)
				continue;
			perror("hs-flood: sendmmsg");
			close(fd);
			return 1;
		}
		sent += (unsigned long)r;
		/* Paced by batches: wait until the time the datagrams sent so far are due. */
		if (rate) {
			uint64_t due = start + (uint64_t)((double)sent * 1e9 / (double)rate);
			uint64_t now = now_ns();

			if (due > now)
				sleep_ns(due - now);
		}
	}
	close(fd);
	printf("sent %lu seconds %.3f\n", sent, (double)(now_ns() - start) / 1e9);
	return 0;
}

int main(int argc, char *argv[])
{
	struct sockaddr_in dst;
	unsigned long a, b, c;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (sodium_init() < 0) {
		fprintf(stderr, "hs-flood: sodium_init failed\n");
		return 1;
	}
	if (argc < 4 || parse_dest(argv[2], argv[3], &dst) < 0)
		return usage();
	if (argc == 8 && strcmp(argv[1], "init") == 0) {
		uint8_t pub[FT_KEY_LEN];

		if (ft_key_from_base64(pub, argv[4]) < 0 || parse_ulong(argv[5], 1000000, &a) < 0 ||
		    a == 0 || parse_ulong(argv[6], 3600, &b) < 0 ||
		    parse_ulong(argv[7], MAX_SOCKETS, &c) < 0 || c == 0)
			return usage();
		return cmd_init(&dst, pub, a, b, c);
	}
	if ((argc == 7 || argc == 8) && strcmp(argv[1], "cookie") == 0) {
		struct sockaddr_in src;
		uint8_t pub[FT_KEY_LEN];

		if (ft_key_from_base64(pub, argv[4]) < 0 || parse_ulong(argv[5], 1000000, &a) < 0 ||
		    a == 0 || parse_ulong(argv[6], 3600, &b) < 0 ||
		    (argc == 8 && parse_dest(argv[7], "1", &src) < 0))
			return usage();
		src.sin_port = 0;
		return cmd_cookie(&dst, argc == 8 ? &src : NULL, pub, a, b);
	}
	if (argc == 5 && strcmp(argv[1], "garbage") == 0) {
		if (parse_ulong(argv[4], 3600, &a) < 0)
			return usage();
		return cmd_garbage(&dst, a);
	}
	if (argc == 7 && strcmp(argv[1], "ports") == 0) {
		unsigned long first, count, size, rate;

		if (parse_ulong(argv[3], 65535, &first) < 0 || first == 0 ||
		    parse_ulong(argv[4], 65535, &count) < 0 || first + count > 65536 ||
		    parse_ulong(argv[5], MAX_UDP_PAYLOAD, &size) < 0 ||
		    parse_ulong(argv[6], 100000000, &rate) < 0)
			return usage();
		return cmd_ports(&dst, first, count, size, rate);
	}
	if ((argc == 7 || argc == 8) && strcmp(argv[1], "udp") == 0) {
		unsigned long burst = 32;

		if (parse_ulong(argv[4], 65535, &a) < 0 ||
		    parse_ulong(argv[5], MAX_UDP_PAYLOAD, &b) < 0 ||
		    parse_ulong(argv[6], 65535, &c) < 0 || c == 0 || a + c > 65536 ||
		    (argc == 8 && (parse_ulong(argv[7], 65535, &burst) < 0 || burst == 0)))
			return usage();
		return cmd_udp(&dst, a, b, c, burst);
	}
	return usage();
}
