// SPDX-License-Identifier: MIT
/*
 * The device layer against a real kernel, run by tests/netns/tundev.sh inside a namespace it
 * created (never on the host: it makes tun0 and routes). Steps, each checked:
 *   1. prefix parsing and covering (pure functions, table-driven);
 *   2. TUN open: tun0 by name, a kernel-chosen name, errors (busy, too long, not a TUN),
 *      multi-queue, a vnet-header device for the TUNSETOFFLOAD probe, link delete;
 *   3. rtnetlink: MTU 1420, up, 100.64.0.1/24 and fd00::1/64, routes 100.64.9.0/24 and
 *      fd00:9::/64 (covered AllowedIPs skipped), duplicates refused, RTM_GETROUTE lookups;
 *   4. an ICMP echo to 100.64.0.2 and to fd00::2 from a raw socket arrives on the TUN fd and
 *      the answer written to the fd comes back to the socket;
 * then prints "configured" and answers echo requests on the fd until stdin says "teardown"
 * (the script inspects `ip` meanwhile), removes what it added, prints "removed", and at
 * "close" closes the device and prints "closed". Any failure prints FAIL and exits 1.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/icmp6.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/ip_icmp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tun/net/netconf.h"
#include "tun/net/tundev.h"

#define PEER4 "100.64.0.2"
#define PEER6 "fd00::2"
#define ECHO_ID 0x4654 /* "FT" */
#define ECHO_DATA "flowtun tundev probe"

static int tun_fd = -1;
static unsigned int echoes_answered;

static void __attribute__((format(printf, 1, 2), noreturn)) fail(const char *fmt, ...)
{
	va_list ap;

	fputs("tundev-probe: FAIL: ", stdout);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	fputc('\n', stdout);
	exit(1);
}

static void say(const char *line)
{
	printf("%s\n", line);
	fflush(stdout);
}

static void expect_rc(int got, int want, const char *what)
{
	if (got != want)
		fail("%s: got %d (%s), want %d (%s)", what, got, strerror(got < 0 ? -got : 0), want,
		     strerror(want < 0 ? -want : 0));
}

static struct ft_netconf_prefix prefix(const char *s)
{
	struct ft_netconf_prefix p;

	if (ft_netconf_prefix_parse(&p, s) != 0)
		fail("prefix '%s' did not parse", s);
	return p;
}

/* --- 1. prefixes --- */

static const struct {
	const char *in;
	int rc, family, len;
} parse_cases[] = {
	{ "100.64.0.1/24", 0, AF_INET, 24 },
	{ "100.64.0.1", 0, AF_INET, 32 },
	{ "0.0.0.0/0", 0, AF_INET, 0 },
	{ "fd00::1/64", 0, AF_INET6, 64 },
	{ "::/0", 0, AF_INET6, 0 },
	{ "fd00::1", 0, AF_INET6, 128 },
	{ "::ffff:1.2.3.4/128", 0, AF_INET6, 128 },
	{ "100.64.0.1/33", -EINVAL, 0, 0 },
	{ "fd00::/129", -EINVAL, 0, 0 },
	{ "100.64.0.1/", -EINVAL, 0, 0 },
	{ "100.64.0.1/+8", -EINVAL, 0, 0 },
	{ "100.64.0.1/ 8", -EINVAL, 0, 0 },
	{ "100.64.0.1/8x", -EINVAL, 0, 0 },
	{ "100.64.0.1/0008", -EINVAL, 0, 0 },
	{ "/8", -EINVAL, 0, 0 },
	{ "", -EINVAL, 0, 0 },
	{ "100.64.0/24", -EINVAL, 0, 0 },
	{ "tun0", -EINVAL, 0, 0 },
	{ "fd00::1::2/64", -EINVAL, 0, 0 },
	{ "1111:2222:3333:4444:5555:6666:7777:8888:9999/64", -EINVAL, 0, 0 },
};

static const struct {
	const char *outer, *inner;
	bool covers;
} cover_cases[] = {
	{ "100.64.0.1/24", "100.64.0.128/25", true },  { "100.64.0.1/24", "100.64.0.7", true },
	{ "100.64.0.1/24", "100.64.0.0/24", true },    { "100.64.0.1/24", "100.64.0.0/23", false },
	{ "100.64.0.1/24", "100.64.9.0/24", false },   { "0.0.0.0/0", "198.18.0.1", true },
	{ "100.64.0.1/24", "fd00::/64", false },       { "fd00::1/64", "fd00::/64", true },
	{ "fd00::1/64", "fd00::8000:0:0:0/65", true }, { "fd00::1/64", "fd00:9::/64", false },
	{ "fd00::1/63", "fd00:0:0:1::/64", true },     { "fd00::1/64", "fd00:0:0:1::/64", false },
};

static void check_prefixes(void)
{
	struct ft_netconf_prefix p, q;

	for (size_t i = 0; i < sizeof(parse_cases) / sizeof(parse_cases[0]); i++) {
		int rc = ft_netconf_prefix_parse(&p, parse_cases[i].in);

		if (rc != parse_cases[i].rc ||
		    (rc == 0 && (p.family != parse_cases[i].family || p.len != parse_cases[i].len)))
			fail("parse '%s': rc %d family %d len %u", parse_cases[i].in, rc, p.family,
			     p.len);
	}
	for (size_t i = 0; i < sizeof(cover_cases) / sizeof(cover_cases[0]); i++) {
		p = prefix(cover_cases[i].outer);
		q = prefix(cover_cases[i].inner);
		if (ft_netconf_prefix_covers(&p, &q) != cover_cases[i].covers)
			fail("'%s' covers '%s' should be %d", cover_cases[i].outer,
			     cover_cases[i].inner, cover_cases[i].covers);
	}
	p = prefix("100.64.255.255/10");
	ft_netconf_prefix_mask(&p);
	q = prefix("100.64.0.0/10");
	if (memcmp(&p.addr, &q.addr, 4) != 0)
		fail("mask of 100.64.255.255/10");
	p = prefix("fd00:ffff::1/17");
	ft_netconf_prefix_mask(&p);
	q = prefix("fd00:8000::/17");
	if (memcmp(&p.addr, &q.addr, 16) != 0)
		fail("mask of fd00:ffff::1/17");
	say("prefixes ok");
}

/* --- 2. TUN open --- */

static void check_open(struct ft_netconf *r)
{
	char name[IFNAMSIZ], other[IFNAMSIZ];
	unsigned int offloads = 0;
	int fd, fd2, idx;

	expect_rc(ft_tundev_open("sixteen-chars-xx", 0, name), -EINVAL, "open a 16-byte name");
	expect_rc(ft_tundev_open("lo", 0, name), -EINVAL, "open lo as a TUN");

	tun_fd = ft_tundev_open("tun0", 0, name);
	if (tun_fd < 0)
		fail("open tun0: %s", strerror(-tun_fd));
	if (strcmp(name, "tun0") != 0)
		fail("open tun0 named it '%s'", name);
	if (!(fcntl(tun_fd, F_GETFL) & O_NONBLOCK) || !(fcntl(tun_fd, F_GETFD) & FD_CLOEXEC))
		fail("tun0 fd is not non-blocking and close-on-exec");
	expect_rc(ft_tundev_open("tun0", 0, other), -EBUSY, "open tun0 twice");

	/* A kernel-chosen name; the device goes with its fd. */
	fd = ft_tundev_open(NULL, 0, other);
	if (fd < 0 || strncmp(other, "tun", 3) != 0 || strcmp(other, "tun0") == 0)
		fail("kernel-named TUN: fd %d name '%s'", fd, other);
	if (ft_netconf_ifindex(r, other) <= 0)
		fail("no ifindex for %s", other);
	close(fd);
	expect_rc(ft_netconf_ifindex(r, other), -ENODEV, "ifindex after close");

	/* Multi-queue: two fds on one device; a plain open of it is refused (flags differ). */
	fd = ft_tundev_open("ftmq0", FT_TUNDEV_MULTI_QUEUE, other);
	fd2 = ft_tundev_open("ftmq0", FT_TUNDEV_MULTI_QUEUE, other);
	if (fd < 0 || fd2 < 0)
		fail("multi-queue ftmq0: %d %d", fd, fd2);
	expect_rc(ft_tundev_open("ftmq0", 0, other), -EINVAL, "single-queue open of ftmq0");
	close(fd);
	close(fd2);

	/* Offloads on a vnet-header device; then rtnetlink deletes it while its fd is open. */
	fd = ft_tundev_open("ftoff0", FT_TUNDEV_VNET_HDR, other);
	if (fd < 0)
		fail("open ftoff0 with a vnet header: %s", strerror(-fd));
	expect_rc(ft_tundev_probe_offloads(fd, &offloads), 0, "offload probe");
	printf("offloads:%s%s%s%s%s\n", offloads & FT_TUN_F_CSUM ? " csum" : "",
	       offloads & FT_TUN_F_TSO4 ? " tso4" : "", offloads & FT_TUN_F_TSO6 ? " tso6" : "",
	       offloads & FT_TUN_F_USO4 ? " uso4" : "", offloads & FT_TUN_F_USO6 ? " uso6" : "");
	/* Every kernel since 2.6.27 takes checksum and TCP segmentation offloads. */
	if ((offloads & (FT_TUN_F_CSUM | FT_TUN_F_TSO4 | FT_TUN_F_TSO6)) !=
	    (FT_TUN_F_CSUM | FT_TUN_F_TSO4 | FT_TUN_F_TSO6))
		fail("offload probe found only %#x", offloads);
	expect_rc(ft_tundev_set_offloads(fd, 0x80000000u), -EINVAL, "unknown offload bit");
	idx = ft_netconf_ifindex(r, "ftoff0");
	if (idx <= 0)
		fail("ifindex of ftoff0: %d", idx);
	expect_rc(ft_netconf_link_delete(r, idx), 0, "delete ftoff0");
	expect_rc(ft_netconf_ifindex(r, "ftoff0"), -ENODEV, "ifindex of deleted ftoff0");
	expect_rc(ft_netconf_link_delete(r, idx), -ENODEV, "delete ftoff0 twice");
	close(fd);
	say("open ok");
}

/* --- 4. echo --- */

static uint16_t csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static uint32_t csum_add(uint32_t sum, const uint8_t *p, size_t len)
{
	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	return sum;
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/*
 * If pkt (len bytes read from the TUN) is an echo request to PEER4 or PEER6, turns it into the
 * peer's reply in place and writes it back to the TUN. True when it answered.
 */
static bool answer_echo(uint8_t *pkt, size_t len)
{
	uint8_t tmp[16];
	struct in_addr peer4;
	struct in6_addr peer6;

	inet_pton(AF_INET, PEER4, &peer4);
	inet_pton(AF_INET6, PEER6, &peer6);
	if (len >= 20 && pkt[0] >> 4 == 4) {
		size_t ihl = (size_t)(pkt[0] & 15) * 4, total = get16(pkt + 2);

		if (ihl < 20 || total > len || total < ihl + 8 || pkt[9] != IPPROTO_ICMP ||
		    memcmp(pkt + 16, &peer4, 4) != 0 || pkt[ihl] != ICMP_ECHO)
			return false;
		memcpy(tmp, pkt + 12, 4);
		memcpy(pkt + 12, pkt + 16, 4);
		memcpy(pkt + 16, tmp, 4);
		pkt[8] = 64;
		put16(pkt + 10, 0);
		put16(pkt + 10, csum_fold(csum_add(0, pkt, ihl)));
		pkt[ihl] = ICMP_ECHOREPLY;
		put16(pkt + ihl + 2, 0);
		put16(pkt + ihl + 2, csum_fold(csum_add(0, pkt + ihl, total - ihl)));
		len = total;
	} else if (len >= 40 && pkt[0] >> 4 == 6) {
		size_t plen = get16(pkt + 4);
		uint32_t sum;
		uint8_t pseudo[8] = { 0 };

		if (40 + plen > len || plen < 8 || pkt[6] != IPPROTO_ICMPV6 ||
		    memcmp(pkt + 24, &peer6, 16) != 0 || pkt[40] != ICMP6_ECHO_REQUEST)
			return false;
		memcpy(tmp, pkt + 8, 16);
		memcpy(pkt + 8, pkt + 24, 16);
		memcpy(pkt + 24, tmp, 16);
		pkt[7] = 64;
		pkt[40] = ICMP6_ECHO_REPLY;
		put16(pkt + 42, 0);
		/* ICMPv6 sums a pseudo-header: addresses, upper-layer length, next header. */
		put16(pseudo + 2, (uint16_t)plen);
		pseudo[7] = IPPROTO_ICMPV6;
		sum = csum_add(0, pkt + 8, 32);
		sum = csum_add(sum, pseudo, 8);
		sum = csum_add(sum, pkt + 40, plen);
		put16(pkt + 42, csum_fold(sum));
		len = 40 + plen;
	} else {
		return false;
	}
	if (ft_tundev_write(tun_fd, pkt, len) != 0)
		fail("write of an echo reply to the TUN failed");
	echoes_answered++;
	return true;
}

/* Reads what the TUN has and answers echo requests; how many it answered. */
static unsigned int serve_tun(void)
{
	uint8_t bufs[8][2048];
	struct iovec iov[8];
	size_t lens[8];
	unsigned int answered = 0;
	int n;

	for (int i = 0; i < 8; i++)
		iov[i] = (struct iovec){ .iov_base = bufs[i], .iov_len = sizeof(bufs[i]) };
	n = ft_tundev_read_batch(tun_fd, iov, lens, 8);
	if (n < 0)
		fail("TUN read: %s", strerror(-n));
	for (int i = 0; i < n; i++)
		answered += answer_echo(bufs[i], lens[i]);
	return answered;
}

static void wait_fd(int fd, int ms, const char *what)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };

	if (poll(&pfd, 1, ms) != 1)
		fail("timed out waiting for %s", what);
}

/*
 * Sends one echo request to the peer from a raw socket, waits until the TUN has it and
 * answers it, then waits for the reply on the socket.
 */
static void echo_roundtrip(int family)
{
	struct sockaddr_storage dst = { 0 };
	uint8_t msg[8 + sizeof(ECHO_DATA)], buf[2048];
	int s, proto = family == AF_INET ? IPPROTO_ICMP : IPPROTO_ICMPV6;
	unsigned int answered = 0;
	socklen_t dlen;

	s = socket(family, SOCK_RAW | SOCK_CLOEXEC, proto);
	if (s < 0)
		fail("raw socket: %s", strerror(errno));
	if (family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&dst;

		sin->sin_family = AF_INET;
		inet_pton(AF_INET, PEER4, &sin->sin_addr);
		dlen = sizeof(*sin);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&dst;

		sin6->sin6_family = AF_INET6;
		inet_pton(AF_INET6, PEER6, &sin6->sin6_addr);
		dlen = sizeof(*sin6);
	}
	memset(msg, 0, sizeof(msg));
	msg[0] = family == AF_INET ? ICMP_ECHO : ICMP6_ECHO_REQUEST;
	put16(msg + 4, ECHO_ID);
	put16(msg + 6, 1);
	memcpy(msg + 8, ECHO_DATA, sizeof(ECHO_DATA));
	/* The kernel sums ICMPv6 on raw sockets itself; ICMP is ours to sum. */
	if (family == AF_INET)
		put16(msg + 2, csum_fold(csum_add(0, msg, sizeof(msg))));
	if (sendto(s, msg, sizeof(msg), 0, (struct sockaddr *)&dst, dlen) != (ssize_t)sizeof(msg))
		fail("send echo request: %s", strerror(errno));

	while (!answered) {
		wait_fd(tun_fd, 5000, "the echo request on the TUN fd");
		answered = serve_tun();
	}
	for (;;) {
		ssize_t n;
		size_t off = 0;

		wait_fd(s, 5000, "the echo reply on the raw socket");
		n = recv(s, buf, sizeof(buf), 0);
		if (n < 0)
			fail("recv echo reply: %s", strerror(errno));
		if (family == AF_INET && n >= 20)
			off = (size_t)(buf[0] & 15) * 4; /* IPv4 raw sockets include the header */
		if ((size_t)n < off + sizeof(msg))
			continue;
		if (buf[off] != (family == AF_INET ? ICMP_ECHOREPLY : ICMP6_ECHO_REPLY) ||
		    get16(buf + off + 4) != ECHO_ID)
			continue;
		if (memcmp(buf + off + 8, ECHO_DATA, sizeof(ECHO_DATA)) != 0)
			fail("echo reply payload differs");
		break;
	}
	close(s);
	say(family == AF_INET ? "echo4 ok" : "echo6 ok");
}

/* --- 3. rtnetlink --- */

static void sockaddr_of(struct sockaddr_storage *ss, const char *host)
{
	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, host, &((struct sockaddr_in *)ss)->sin_addr) == 1) {
		ss->ss_family = AF_INET;
	} else if (inet_pton(AF_INET6, host, &((struct sockaddr_in6 *)ss)->sin6_addr) == 1) {
		ss->ss_family = AF_INET6;
	} else {
		fail("bad address %s", host);
	}
}

static const struct {
	const char *dst;
	int rc;
	bool via_tun; /* else via lo */
} route_get_cases[] = {
	{ "100.64.9.5", 0, true },
	{ "100.64.0.2", 0, true },
	{ "fd00:9::5", 0, true },
	{ "fd00::2", 0, true },
	{ "::ffff:100.64.9.5", 0, true }, /* v4-mapped: looked up as IPv4 */
	{ "127.0.0.1", 0, false },
	{ "198.18.0.1", -ENETUNREACH, false }, /* no default route in the namespace */
	{ "2001:db8::1", -ENETUNREACH, false },
};

int main(void)
{
	struct ft_netconf_prefix own[2], routes[4];
	struct ft_netconf_prefix any4 = prefix("100.64.9.77/24");
	struct sockaddr_storage ss;
	char name[IFNAMSIZ], line[64];
	bool added[4];
	int idx, lo, got;
	struct ft_netconf *r;

	setvbuf(stdout, NULL, _IOLBF, 0);
	check_prefixes();
	expect_rc(ft_netconf_create(&r), 0, "rtnl create");
	check_open(r);

	idx = ft_netconf_ifindex(r, "tun0");
	if (idx <= 0)
		fail("ifindex of tun0: %d", idx);
	expect_rc(ft_netconf_ifname(r, idx, name), 0, "ifname of tun0");
	if (strcmp(name, "tun0") != 0)
		fail("ifname of %d is '%s'", idx, name);
	expect_rc(ft_netconf_ifindex(r, "ftnone0"), -ENODEV, "ifindex of a missing link");
	expect_rc(ft_netconf_ifindex(r, ""), -EINVAL, "ifindex of an empty name");
	expect_rc(ft_netconf_ifname(r, 999999, name), -ENODEV, "ifname of a missing index");
	lo = ft_netconf_ifindex(r, "lo");

	expect_rc(ft_netconf_link_set_mtu(r, idx, 1420), 0, "MTU 1420");
	expect_rc(ft_netconf_link_set_mtu(r, idx, 1), -EINVAL, "MTU 1");
	if (ft_netconf_last_error(r)[0] == '\0')
		fail("no extended ack text for MTU 1");
	printf("kernel says for MTU 1: %s\n", ft_netconf_last_error(r));
	expect_rc(ft_netconf_link_set_mtu(r, 999999, 1420), -ENODEV, "MTU of a missing link");
	/* A route through a link that is down is refused. */
	got = ft_netconf_route_add(r, idx, &any4);
	if (got != -ENETDOWN)
		fail("route via a down link: %d (%s)", got, strerror(-got));
	expect_rc(ft_netconf_link_set_up(r, idx, true), 0, "link up");

	own[0] = prefix("100.64.0.1/24");
	own[1] = prefix("fd00::1/64");
	for (int i = 0; i < 2; i++) {
		expect_rc(ft_netconf_addr_add(r, idx, &own[i]), 0, "address add");
		expect_rc(ft_netconf_addr_add(r, idx, &own[i]), -EEXIST, "address add twice");
	}

	/* AllowedIPs: two new prefixes, two that the addresses' own prefix routes cover. */
	routes[0] = prefix("100.64.9.0/24");
	routes[1] = prefix("fd00:9::/64");
	routes[2] = prefix("100.64.0.128/25");
	routes[3] = prefix("fd00::/64");
	expect_rc(ft_netconf_routes_add(r, idx, own, 2, routes, 4, added), 0, "routes add");
	if (!added[0] || !added[1] || added[2] || added[3])
		fail("routes added %d %d %d %d, want 1 1 0 0", added[0], added[1], added[2],
		     added[3]);
	expect_rc(ft_netconf_route_add(r, idx, &routes[0]), -EEXIST, "route add twice");
	expect_rc(ft_netconf_route_add(r, idx, &any4), -EEXIST, "route add with host bits");
	/* Already there: no error, and not ours to remove. */
	expect_rc(ft_netconf_routes_add(r, idx, own, 0, routes, 1, added), 0, "routes add again");
	if (added[0])
		fail("an existing route was reported as added");

	for (size_t i = 0; i < sizeof(route_get_cases) / sizeof(route_get_cases[0]); i++) {
		int oif = -1;

		sockaddr_of(&ss, route_get_cases[i].dst);
		got = ft_netconf_route_get(r, (struct sockaddr *)&ss, &oif);
		if (got != route_get_cases[i].rc ||
		    (got == 0 && oif != (route_get_cases[i].via_tun ? idx : lo)))
			fail("route get %s: rc %d oif %d", route_get_cases[i].dst, got, oif);
	}
	ss.ss_family = AF_UNIX;
	expect_rc(ft_netconf_route_get(r, (struct sockaddr *)&ss, &got), -EAFNOSUPPORT,
		  "route get AF_UNIX");
	say("rtnl ok");

	echo_roundtrip(AF_INET);
	echo_roundtrip(AF_INET6);
	say("configured");

	/* Answer echo requests (the script may ping) until told to tear down. */
	for (;;) {
		struct pollfd pfd[2] = { { .fd = tun_fd, .events = POLLIN },
					 { .fd = STDIN_FILENO, .events = POLLIN } };

		if (poll(pfd, 2, 60000) <= 0)
			fail("nothing from the script for 60 s");
		if (pfd[0].revents)
			serve_tun();
		if (pfd[1].revents) {
			if (!fgets(line, sizeof(line), stdin))
				fail("stdin closed before teardown");
			if (strcmp(line, "teardown\n") == 0)
				break;
		}
	}
	printf("answered %u echo requests\n", echoes_answered);

	for (int i = 0; i < 2; i++) {
		expect_rc(ft_netconf_route_del(r, idx, &routes[i]), 0, "route del");
		expect_rc(ft_netconf_route_del(r, idx, &routes[i]), -ESRCH, "route del twice");
		expect_rc(ft_netconf_addr_del(r, idx, &own[i]), 0, "address del");
		expect_rc(ft_netconf_addr_del(r, idx, &own[i]), -EADDRNOTAVAIL,
			  "address del twice");
	}
	expect_rc(ft_netconf_link_set_up(r, idx, false), 0, "link down");
	say("removed");

	if (!fgets(line, sizeof(line), stdin) || strcmp(line, "close\n") != 0)
		fail("expected 'close' on stdin");
	close(tun_fd);
	expect_rc(ft_netconf_ifindex(r, "tun0"), -ENODEV, "ifindex of tun0 after close");
	ft_netconf_destroy(r);
	say("closed");
	return 0;
}
