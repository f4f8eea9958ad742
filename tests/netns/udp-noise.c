// SPDX-License-Identifier: MIT
/*
 * Hostile input for tests/netns/hostile.sh, run inside a namespace the script created (it
 * sends only to the address it is given, which the script takes from 198.18.0.0/15):
 *
 *   udp-noise random ADDR PORT COUNT SEED
 *       sends COUNT datagrams that no WireGuard peer accepts, in rounds of six kinds: random
 *       bytes of a random length (0-1500), an initiation (148 bytes), a response (92), a
 *       cookie reply (64) and a transport message (32-1500) with random contents, and a
 *       transport message shorter than its header (1-31). Prints "sent COUNT" and the
 *       count of each kind. The same SEED sends the same datagrams.
 *   udp-noise replay IFNAME ADDR PORT COUNT REPEAT
 *       captures, on IFNAME, the first COUNT WireGuard transport messages (type 4) sent to
 *       ADDR:PORT, then sends each of them REPEAT times to ADDR:PORT from a socket of its
 *       own. Prints "captured COUNT replayed N". Gives up after 10 s without COUNT.
 *
 * IPv4 only. Exit status 0, 1 on a failure (with a message), 2 on a usage error.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum {
	MAX_DATAGRAM = 1500,
	VNET_HDR_LEN = 10, /* struct virtio_net_hdr, with PACKET_VNET_HDR */
	GSO_UDP_L4 = 5,	   /* VIRTIO_NET_HDR_GSO_UDP_L4 */
	ETH_HDR_LEN = 14,
	MAX_CAPTURE = 1024,
	MSG_INITIATION = 1,
	MSG_RESPONSE = 2,
	MSG_COOKIE = 3,
	MSG_TRANSPORT = 4,
	TRANSPORT_HEADER_LEN = 16 + 16, /* header and the tag of an empty payload */
	KINDS = 6,
};

static const char *const kind_names[KINDS] = {
	"random", "initiation", "response", "cookie", "transport", "short-transport",
};

/* Captured payloads: static so that the helper allocates nothing. */
static uint8_t captured[MAX_CAPTURE][MAX_DATAGRAM];
static size_t captured_len[MAX_CAPTURE];

static uint64_t rng_state;

/* xorshift64*: reproducible from the seed, which is all a test needs. */
static uint32_t rng(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return (uint32_t)((rng_state * 0x2545F4914F6CDD1DULL) >> 32);
}

static int usage(void)
{
	fprintf(stderr, "usage: udp-noise random ADDR PORT COUNT SEED\n"
			"       udp-noise replay IFNAME ADDR PORT COUNT REPEAT\n");
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

/*
 * A pause between datagrams: a burst would overflow the receiver's socket buffer, and a
 * datagram the kernel drops is one flowtun cannot count.
 */
static void pace(void)
{
	const struct timespec ts = { .tv_nsec = 50 * 1000 };

	nanosleep(&ts, NULL);
}

static int send_to(int fd, const void *buf, size_t len, const struct sockaddr_in *dst)
{
	for (int tries = 0; tries < 100; tries++) {
		if (sendto(fd, buf, len, 0, (const struct sockaddr *)dst, sizeof(*dst)) >= 0)
			return 0;
		if (errno != ENOBUFS && errno != EAGAIN && errno != EINTR)
			return -errno;
		pace();
	}
	return -ENOBUFS;
}

static int cmd_random(const struct sockaddr_in *dst, unsigned long count, uint64_t seed)
{
	uint8_t buf[MAX_DATAGRAM];
	unsigned long sent[KINDS] = { 0 };
	int fd, rc = 0;

	rng_state = seed ? seed : 1;
	fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (fd < 0) {
		perror("udp-noise: socket");
		return 1;
	}
	for (unsigned long i = 0; i < count; i++) {
		int kind = (int)(i % KINDS);
		size_t len;

		for (size_t j = 0; j < sizeof(buf); j++)
			buf[j] = (uint8_t)rng();
		switch (kind) {
		case 0:
			len = rng() % (MAX_DATAGRAM + 1);
			break;
		case 1:
			len = 148;
			break;
		case 2:
			len = 92;
			break;
		case 3:
			len = 64;
			break;
		case 4:
			len = TRANSPORT_HEADER_LEN +
			      rng() % (MAX_DATAGRAM - TRANSPORT_HEADER_LEN + 1);
			break;
		default:
			len = 1 + rng() % (TRANSPORT_HEADER_LEN - 1);
			break;
		}
		/* The message type and its three reserved zero bytes, as far as len reaches. */
		if (kind > 0) {
			uint8_t head[4] = { (uint8_t)(kind == 5 ? MSG_TRANSPORT : kind), 0, 0, 0 };

			memcpy(buf, head, len < sizeof(head) ? len : sizeof(head));
		}
		rc = send_to(fd, buf, len, dst);
		if (rc < 0) {
			fprintf(stderr, "udp-noise: sendto: %s\n", strerror(-rc));
			break;
		}
		sent[kind]++;
		pace();
	}
	close(fd);
	printf("sent %lu\n", sent[0] + sent[1] + sent[2] + sent[3] + sent[4] + sent[5]);
	for (int k = 0; k < KINDS; k++)
		printf("  %s %lu\n", kind_names[k], sent[k]);
	return rc < 0 ? 1 : 0;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/*
 * One IPv4 packet from the packet socket: the UDP payload when it is a transport message to
 * dst, else 0. Lengths are checked against what was captured before anything is read.
 */
static size_t transport_payload(const uint8_t *pkt, size_t caplen, const struct sockaddr_in *dst,
				size_t max, const uint8_t **payload)
{
	size_t ihl, ip_len, udp_len;

	if (caplen < 20 || (pkt[0] >> 4) != 4)
		return 0;
	ihl = (size_t)(pkt[0] & 0x0f) * 4;
	ip_len = (size_t)pkt[2] << 8 | pkt[3];
	if (ihl < 20 || ip_len < ihl + 8 || ip_len > caplen || pkt[9] != IPPROTO_UDP)
		return 0;
	if (((pkt[6] & 0x3f) | pkt[7]) != 0) /* a fragment */
		return 0;
	if (memcmp(pkt + 16, &dst->sin_addr, 4) != 0 || memcmp(pkt + ihl + 2, &dst->sin_port, 2))
		return 0;
	udp_len = (size_t)pkt[ihl + 4] << 8 | pkt[ihl + 5];
	if (udp_len < 8 || udp_len > ip_len - ihl)
		return 0;
	udp_len -= 8;
	if (udp_len < TRANSPORT_HEADER_LEN || udp_len > max || pkt[ihl + 8] != MSG_TRANSPORT)
		return 0;
	*payload = pkt + ihl + 8;
	return udp_len;
}

static int cmd_replay(const char *ifname, const struct sockaddr_in *dst, unsigned long count,
		      unsigned long repeat)
{
	struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL) };
	uint8_t pkt[VNET_HDR_LEN + 65536];
	unsigned long n = 0, replayed = 0;
	int one = 1;
	uint64_t deadline = now_ms() + 10000;
	int pfd = -1, ufd = -1, rc = 1;

	sll.sll_ifindex = (int)if_nametoindex(ifname);
	if (sll.sll_ifindex == 0) {
		fprintf(stderr, "udp-noise: no interface '%s'\n", ifname);
		return 1;
	}
	/*
	 * Raw, for the vnet header (PACKET_VNET_HDR takes SOCK_RAW only). ETH_P_ALL, as the
	 * kernel shows outgoing packets only to taps of every protocol; the parser skips
	 * non-IPv4.
	 */
	pfd = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));
	/*
	 * A sender with UDP_SEGMENT puts many datagrams in one frame on a veth: the vnet header
	 * in front of each capture gives the segment size to cut them apart at.
	 */
	if (pfd < 0 || setsockopt(pfd, SOL_PACKET, PACKET_VNET_HDR, &one, sizeof(one)) < 0 ||
	    bind(pfd, (struct sockaddr *)&sll, sizeof(sll)) < 0) {
		perror("udp-noise: packet socket");
		goto out;
	}
	while (n < count) {
		struct pollfd p = { .fd = pfd, .events = POLLIN };
		const uint8_t *payload;
		uint64_t now = now_ms();
		ssize_t got;
		size_t len, seg;

		if (now >= deadline) {
			fprintf(stderr, "udp-noise: captured %lu of %lu transport messages\n", n,
				count);
			goto out;
		}
		if (poll(&p, 1, (int)(deadline - now)) <= 0)
			continue;
		got = recv(pfd, pkt, sizeof(pkt), MSG_DONTWAIT);
		/* The vnet header, then the Ethernet frame of the veth: IPv4 only. */
		if (got <= VNET_HDR_LEN + ETH_HDR_LEN ||
		    (pkt[VNET_HDR_LEN + 12] << 8 | pkt[VNET_HDR_LEN + 13]) != 0x0800)
			continue;
		/* virtio_net_hdr: gso_type at 1, gso_size (little-endian) at 4. */
		seg = pkt[1] == GSO_UDP_L4 ? (size_t)(pkt[4] | pkt[5] << 8) : 0;
		len = transport_payload(pkt + VNET_HDR_LEN + ETH_HDR_LEN,
					(size_t)got - VNET_HDR_LEN - ETH_HDR_LEN, dst,
					seg ? sizeof(pkt) : MAX_DATAGRAM, &payload);
		if (len == 0)
			continue;
		if (!seg || seg > MAX_DATAGRAM)
			seg = len;
		for (size_t off = 0; off < len && n < count; off += seg) {
			size_t l = len - off < seg ? len - off : seg;

			if (l < TRANSPORT_HEADER_LEN || l > MAX_DATAGRAM ||
			    payload[off] != MSG_TRANSPORT)
				break;
			memcpy(captured[n], payload + off, l);
			captured_len[n++] = l;
		}
	}
	close(pfd);
	pfd = -1;

	ufd = socket(AF_INET, SOCK_DGRAM, 0);
	if (ufd < 0) {
		perror("udp-noise: socket");
		goto out;
	}
	for (unsigned long r = 0; r < repeat; r++) {
		for (unsigned long i = 0; i < n; i++) {
			int err = send_to(ufd, captured[i], captured_len[i], dst);

			if (err < 0) {
				fprintf(stderr, "udp-noise: sendto: %s\n", strerror(-err));
				goto out;
			}
			replayed++;
			pace();
		}
	}
	rc = 0;
out:
	printf("captured %lu replayed %lu\n", n, replayed);
	if (pfd >= 0)
		close(pfd);
	if (ufd >= 0)
		close(ufd);
	return rc;
}

int main(int argc, char *argv[])
{
	struct sockaddr_in dst;
	unsigned long count, extra;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 6 && strcmp(argv[1], "random") == 0) {
		if (parse_dest(argv[2], argv[3], &dst) < 0 ||
		    parse_ulong(argv[4], 10000000, &count) < 0 ||
		    parse_ulong(argv[5], ULONG_MAX, &extra) < 0)
			return usage();
		return cmd_random(&dst, count, extra);
	}
	if (argc == 7 && strcmp(argv[1], "replay") == 0) {
		if (parse_dest(argv[3], argv[4], &dst) < 0 ||
		    parse_ulong(argv[5], MAX_CAPTURE, &count) < 0 ||
		    parse_ulong(argv[6], 100, &extra) < 0)
			return usage();
		return cmd_replay(argv[2], &dst, count, extra);
	}
	return usage();
}
