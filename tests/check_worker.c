// SPDX-License-Identifier: MIT
/*
 * The worker as a unit: two workers on one libuv loop, each with a SOCK_SEQPACKET socketpair
 * standing in for its TUN device (ft_worker_options.tun_standin) and a real UDP socket,
 * peers of each other over 127.0.0.1. No root and no network namespace: what this suite
 * cannot see (offloads, addresses, routes, the MTU of a real device) the netns tests do.
 *
 *   test writes IPv4 ──> [tun B] worker B ══ UDP 127.0.0.1 ══ worker A [tun A] ──> test reads
 *   test reads      <──                                                      <── test writes
 *
 * B knows A's port (its Endpoint); A learns B's from the handshake, as a hub learns a
 * roaming client's.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <check.h>
#include <sodium.h>
#include <uv.h>

#include "tests/check_main.h"
#include "tun/ctl/conf.h"
#include "tun/ctl/uapi_client.h"
#include "tun/ctl/uapi_internal.h"
#include "tun/wg/aead.h"
#include "tun/wg/peer.h"
#include "tun/wg/proto.h"
#include "tun/worker/internal.h"
#include "tun/worker/worker.h"

#define ADDR_A "100.64.0.1"
#define ADDR_B "100.64.0.2"

struct side {
	struct ft_worker *w;
	int test_fd; /* our end of the stand-in: what we write, the worker reads as from a TUN */
	char priv_b64[64], pub_b64[64];
};

static uv_loop_t loop;
static struct side A, B;
static int closed;

static void make_keys(struct side *s)
{
	uint8_t priv[32], pub[32];

	randombytes_buf(priv, sizeof(priv));
	priv[0] &= 248;
	priv[31] = (priv[31] & 127) | 64;
	ck_assert_int_eq(crypto_scalarmult_base(pub, priv), 0);
	sodium_bin2base64(s->priv_b64, sizeof(s->priv_b64), priv, sizeof(priv),
			  sodium_base64_VARIANT_ORIGINAL);
	sodium_bin2base64(s->pub_b64, sizeof(s->pub_b64), pub, sizeof(pub),
			  sodium_base64_VARIANT_ORIGINAL);
	sodium_memzero(priv, sizeof(priv));
}

static void start(struct side *s, const char *text)
{
	struct ft_worker_options opts = {
		.ifname = s == &A ? "ftA" : "ftB",
		.no_link_monitor = true,
		.no_routes = true,
		.no_uapi = true,
		.tun_standin = true,
	};
	struct ft_config cfg;
	char err[256];
	int sv[2];

	ck_assert_int_eq(ft_config_parse_string(text, opts.ifname, &cfg, err, sizeof(err)), 0);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv),
			 0);
	opts.tun_fd = sv[1];
	s->test_fd = sv[0];
	if (ft_worker_create(&s->w, &loop, &cfg, &opts, err, sizeof(err)) < 0)
		ck_abort_msg("ft_worker_create: %s", err);
	ft_config_free(&cfg);
}

/* Extra [Interface] lines of A's config (the round-trip's flow log). */
static const char *a_extra = "";
/* Both sides' TunIO line: the stand-in read and written through io_uring, or not. */
static const char *tun_io_line = "";
static char flow_path[64];

static void setup(void)
{
	char text[1024];

	ck_assert_int_eq(uv_loop_init(&loop), 0);
	closed = 0;
	make_keys(&A);
	make_keys(&B);
	snprintf(text, sizeof(text),
		 "[Interface]\nPrivateKey = %s\nMTU = 1420\n%s%s"
		 "[Peer]\nPublicKey = %s\nAllowedIPs = " ADDR_B "/32\n",
		 A.priv_b64, a_extra, tun_io_line, B.pub_b64);
	start(&A, text);
	snprintf(text, sizeof(text),
		 "[Interface]\nPrivateKey = %s\nMTU = 1420\n%s"
		 "[Peer]\nPublicKey = %s\nAllowedIPs = " ADDR_A "/32\nEndpoint = 127.0.0.1:%u\n",
		 B.priv_b64, tun_io_line, A.pub_b64, ft_worker_listen_port(A.w));
	start(&B, text);
	/* A stand-in takes io_uring only when asked by name; asked, it must have it. */
	ck_assert(ft_worker_tun_uring(A.w) == (tun_io_line[0] != '\0'));
	ck_assert(ft_worker_tun_uring(B.w) == (tun_io_line[0] != '\0'));
}

/* The same two workers with TunIO = io_uring: reads and writes of the stand-in in rings. */
static void setup_uring(void)
{
	tun_io_line = "TunIO = io_uring\n";
	setup();
	tun_io_line = "";
}

static void on_closed(void *arg)
{
	(void)arg;
	closed++;
}

static void teardown(void)
{
	ft_worker_close(A.w, on_closed, NULL);
	ft_worker_close(B.w, on_closed, NULL);
	/* Up to 5 s: a flow log's writer thread finishes its last window first. */
	for (int i = 0; i < 1000 && closed < 2; i++) {
		uv_run(&loop, UV_RUN_NOWAIT);
		if (closed < 2)
			poll(NULL, 0, 5);
	}
	ck_assert_int_eq(closed, 2);
	uv_run(&loop, UV_RUN_DEFAULT);
	ck_assert_int_eq(uv_loop_close(&loop), 0);
	close(A.test_fd);
	close(B.test_fd);
}

static void setup_flowlog(void)
{
	static char extra[128];
	int fd;

	snprintf(flow_path, sizeof(flow_path), "/tmp/check_worker.XXXXXX");
	fd = mkstemp(flow_path);
	ck_assert_int_ge(fd, 0);
	close(fd);
	snprintf(extra, sizeof(extra), "FlowLog = %s\nFlowLogInterval = 3600\n", flow_path);
	a_extra = extra;
	setup();
}

static void teardown_flowlog(void)
{
	teardown();
	a_extra = "";
	unlink(flow_path);
}

static uint16_t ip_csum(const uint8_t *p, size_t len)
{
	uint32_t sum = 0;

	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* An IPv4/UDP packet src -> dst with payload bytes of value seq; returns its length. */
static size_t make_packet(uint8_t *p, const char *src, const char *dst, uint16_t dport,
			  size_t payload, uint8_t seq)
{
	size_t len = 20 + 8 + payload;
	uint16_t c;

	memset(p, 0, len);
	p[0] = 0x45;
	p[2] = (uint8_t)(len >> 8);
	p[3] = (uint8_t)len;
	p[8] = 64;
	p[9] = IPPROTO_UDP;
	inet_pton(AF_INET, src, p + 12);
	inet_pton(AF_INET, dst, p + 16);
	c = ip_csum(p, 20);
	p[10] = (uint8_t)(c >> 8);
	p[11] = (uint8_t)c;
	p[20] = 0x30;
	p[21] = 0x39; /* source port 12345 */
	p[22] = (uint8_t)(dport >> 8);
	p[23] = (uint8_t)dport;
	p[24] = (uint8_t)((8 + payload) >> 8);
	p[25] = (uint8_t)(8 + payload); /* UDP checksum 0: none, legal over IPv4 */
	memset(p + 28, seq, payload);
	return len;
}

static void put(struct side *s, const uint8_t *p, size_t len)
{
	ck_assert_int_eq(write(s->test_fd, p, len), (ssize_t)len);
}

/*
 * Runs the loop until a packet comes out of s's stand-in, for at most about 5 s (the first
 * one waits for a handshake). Returns its length, or 0 if none came.
 */
static size_t get(struct side *s, uint8_t *buf, size_t len)
{
	for (int i = 0; i < 1000; i++) {
		struct pollfd pfd = { .fd = s->test_fd, .events = POLLIN };
		ssize_t n;

		uv_run(&loop, UV_RUN_NOWAIT);
		n = read(s->test_fd, buf, len);
		if (n > 0)
			return (size_t)n;
		ck_assert_msg(n < 0 && errno == EAGAIN, "read: %s", strerror(errno));
		poll(&pfd, 1, 5);
	}
	return 0;
}

/* Runs the loop for a while with nothing expected, so that a wrong packet would show. */
static void settle(void)
{
	for (int i = 0; i < 20; i++) {
		uv_run(&loop, UV_RUN_NOWAIT);
		poll(NULL, 0, 5);
	}
}

START_TEST(both_ways)
{
	uint8_t pkt[1500], out[2048];
	size_t len, n;
	const int rounds = 20;
	const struct ft_worker_counters *ca = ft_worker_counters(A.w);
	const struct ft_worker_counters *cb = ft_worker_counters(B.w);

	for (int i = 0; i < rounds; i++) {
		/* B -> A: the first one starts the handshake and waits in B's queue. */
		len = make_packet(pkt, ADDR_B, ADDR_A, 7000, 100 + (size_t)i, (uint8_t)i);
		put(&B, pkt, len);
		n = get(&A, out, sizeof(out));
		ck_assert_msg(n == len, "round %d: B->A came out with %zu bytes, sent %zu", i, n,
			      len);
		ck_assert_mem_eq(out, pkt, len);
		/* A -> B: the answer, to the endpoint A learnt from B's handshake. */
		len = make_packet(pkt, ADDR_A, ADDR_B, 7001, 1000 + (size_t)i, (uint8_t)(i + 100));
		put(&A, pkt, len);
		n = get(&B, out, sizeof(out));
		ck_assert_msg(n == len, "round %d: A->B came out with %zu bytes, sent %zu", i, n,
			      len);
		ck_assert_mem_eq(out, pkt, len);
	}
	settle();
	ck_assert_uint_eq(ca->tun_rx_packets, rounds);
	ck_assert_uint_eq(ca->tun_tx_packets, rounds);
	ck_assert_uint_eq(cb->tun_rx_packets, rounds);
	ck_assert_uint_eq(cb->tun_tx_packets, rounds);
	ck_assert_uint_eq(ca->tunnel_tx_packets, rounds);
	ck_assert_uint_eq(cb->tunnel_tx_packets, rounds);
	/* Each side's datagrams: the transport packets plus one handshake message at least. */
	ck_assert_uint_ge(cb->udp_tx_datagrams, rounds + 1);
	ck_assert_uint_ge(ca->udp_tx_datagrams, rounds + 1);
	ck_assert_uint_eq(ca->udp_rx_datagrams, cb->udp_tx_datagrams);
	ck_assert_uint_eq(cb->udp_rx_datagrams, ca->udp_tx_datagrams);
	ck_assert_uint_eq(ca->tun_write_dropped + cb->tun_write_dropped, 0);
}
END_TEST

/*
 * What the TUN side must never let through: a packet from an address the peer may not use,
 * one for an address no peer has, and bytes that are no IP packet. None comes out on the
 * other side, and the tunnel still carries the next good packet.
 */
START_TEST(refuses)
{
	uint8_t pkt[1500], out[2048];
	size_t len;
	const uint8_t junk[] = { 0x45, 0x00, 0x00 };
	const struct ft_worker_counters *ca = ft_worker_counters(A.w);

	/* A session first, so that what follows is refused for itself, not for want of one. */
	len = make_packet(pkt, ADDR_B, ADDR_A, 7000, 64, 1);
	put(&B, pkt, len);
	ck_assert_uint_eq(get(&A, out, sizeof(out)), len);

	/* B's TUN sends from A's own address: A's AllowedIPs for B refuse it on arrival. */
	len = make_packet(pkt, "100.64.0.9", ADDR_A, 7000, 64, 2);
	put(&B, pkt, len);
	/* For an address no peer of B has: B never sends it. */
	len = make_packet(pkt, ADDR_B, "100.64.0.77", 7000, 64, 3);
	put(&B, pkt, len);
	/* Three bytes: no IP packet. */
	put(&B, junk, sizeof(junk));
	settle();
	ck_assert_int_lt(read(A.test_fd, out, sizeof(out)), 0);
	ck_assert_int_eq(errno, EAGAIN);
	ck_assert_uint_eq(ca->tun_tx_packets, 1);

	len = make_packet(pkt, ADDR_B, ADDR_A, 7000, 64, 4);
	put(&B, pkt, len);
	ck_assert_uint_eq(get(&A, out, sizeof(out)), len);
	ck_assert_mem_eq(out, pkt, len);
	ck_assert_uint_eq(ca->tun_tx_packets, 2);
}
END_TEST

/*
 * The userspace API's get=flowtun, writer to reader: A's answer, as the worker writes it for
 * flowtun show, parsed back by tun/ctl/uapi_client.c, says what the worker holds, field by
 * field: the device, every counter once with its value, the peer with its endpoint, allowed
 * IPs, bytes and handshake, the flow log and the open window's top connections.
 */
START_TEST(uapi_roundtrip)
{
	uint8_t pkt[1500], out[2048];
	struct ft_uapi_writer wr = { .extras = true };
	struct ft_uapi_info in;
	struct ft_uapi_info_error e;
	struct ft_peer_info pi;
	const struct ft_proto_counters *pc;
	char aead[96], ep[64];
	size_t len, n_counters = 0;
	uint64_t v;

	for (int i = 0; i < 3; i++) {
		len = make_packet(pkt, ADDR_B, ADDR_A, 7000, 200, (uint8_t)i);
		put(&B, pkt, len);
		ck_assert_uint_eq(get(&A, out, sizeof(out)), len);
		len = make_packet(pkt, ADDR_A, ADDR_B, 7001, 300, (uint8_t)i);
		put(&A, pkt, len);
		ck_assert_uint_eq(get(&B, out, sizeof(out)), len);
	}
	settle();
	ck_assert_int_eq(ft_worker_uapi_ops.get(A.w, &wr), 0);
	ck_assert_int_eq(ft_uapi_writer_append(&wr, "errno=0\n\n", 9), 0);
	ck_assert_int_eq(ft_uapi_writer_append(&wr, "", 1), 0); /* the NUL the parser needs */
	ck_assert_int_eq(ft_uapi_info_parse(&in, wr.buf, &e), 0);

	/* The device. */
	ck_assert(in.has_public_key);
	ck_assert_str_eq(in.public_key, A.pub_b64);
	ck_assert_uint_eq(in.listen_port, ft_worker_listen_port(A.w));
	ck_assert_uint_eq(in.fwmark, 0);
	ck_assert_str_eq(in.iface, "ftA");
	ft_aead_describe(aead, sizeof(aead));
	ck_assert_str_eq(in.crypto, aead);
	ck_assert_uint_eq(in.mtu, 1420);
	ck_assert_str_eq(in.mtu_source, ft_worker_mtu_source_str(A.w->mtu_source));
	ck_assert_str_eq(in.version, PACKAGE_VERSION);
	/* Every counter of the protocol and of the worker, once each, with its value. */
	pc = ft_proto_counters(A.w->proto);
	for (int r = 0; r < FT_PROTO_REASON_COUNT; r++, n_counters++) {
		const char *name = ft_proto_counter_name((enum ft_proto_reason)r);

		ck_assert_msg(ft_uapi_info_counter(&in, name, &v), "no counter %s", name);
		ck_assert_uint_eq(v, ft_proto_counter_value(pc, (enum ft_proto_reason)r));
	}
#define CHECK_COUNTER(name)                                                       \
	ck_assert_msg(ft_uapi_info_counter(&in, #name, &v), "no counter " #name); \
	ck_assert_uint_eq(v, A.w->counters.name);                                 \
	n_counters++;
	FT_WORKER_COUNTERS(CHECK_COUNTER)
#undef CHECK_COUNTER
	/* tun_kernel_dropped: only where the kernel tells (not a socketpair). */
	n_counters += ft_uapi_info_counter(&in, "tun_kernel_dropped", &v);
	ck_assert_uint_eq(in.n_counters, n_counters);
	ck_assert_uint_eq(A.w->counters.tun_tx_packets, 3);

	/* The peer. */
	ck_assert_uint_eq(in.n_peers, 1);
	ck_assert_str_eq(in.peers[0].public_key, B.pub_b64);
	ck_assert(!in.peers[0].has_psk);
	snprintf(ep, sizeof(ep), "127.0.0.1:%u", ft_worker_listen_port(B.w));
	ck_assert_str_eq(in.peers[0].endpoint, ep);
	ck_assert_uint_eq(in.peers[0].n_allowed, 1);
	ck_assert_str_eq(in.peers[0].allowed[0], ADDR_B "/32");
	ft_peer_get_info(A.w->peers[0]->peer, &pi, ft_worker_now_ns());
	ck_assert_uint_gt(pi.rx_bytes, 3 * (20 + 8 + 200));
	ck_assert_uint_eq(in.peers[0].rx_bytes, pi.rx_bytes);
	ck_assert_uint_eq(in.peers[0].tx_bytes, pi.tx_bytes);
	ck_assert_uint_gt(in.peers[0].handshake_sec, 0);
	ck_assert_uint_lt(in.peers[0].handshake_nsec, 1000000000u);
	ck_assert_uint_eq(in.peers[0].keepalive, 0);
	ck_assert_str_eq(in.peers[0].state, "up");

	/* The flow log and the open window: its top connections are the two UDP flows. */
	ck_assert_str_eq(in.flowlog, flow_path);
	ck_assert(in.has_window && in.has_window_conns);
	ck_assert_uint_eq(in.window_virtual, 2);
	ck_assert_uint_eq(in.n_top, 2);
	for (size_t i = 0; i < in.n_top; i++) {
		ck_assert_uint_eq(in.top[i].proto, 17);
		ck_assert_uint_eq(in.top[i].tx_packets + in.top[i].rx_packets, 3);
	}
	ck_assert(in.n_ipfix == 0 && !in.metrics);

	ft_uapi_info_free(&in);
	ft_uapi_writer_release(&wr);
}
END_TEST

static Suite *worker_suite(void)
{
	Suite *s = suite_create("worker");
	TCase *tc;

	tc = tcase_create("both_ways");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, both_ways);
	suite_add_tcase(s, tc);

	tc = tcase_create("refuses");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, refuses);
	suite_add_tcase(s, tc);

	tc = tcase_create("both_ways_uring");
	tcase_add_checked_fixture(tc, setup_uring, teardown);
	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, both_ways);
	suite_add_tcase(s, tc);

	tc = tcase_create("refuses_uring");
	tcase_add_checked_fixture(tc, setup_uring, teardown);
	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, refuses);
	suite_add_tcase(s, tc);

	tc = tcase_create("uapi_roundtrip");
	tcase_add_checked_fixture(tc, setup_flowlog, teardown_flowlog);
	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, uapi_roundtrip);
	suite_add_tcase(s, tc);
	return s;
}

FT_CHECK_MAIN(worker_suite, FT_CHECK_SODIUM)
