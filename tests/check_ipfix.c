// SPDX-License-Identifier: MIT
/*
 * IPFIX: exact bytes of a small message, every field of every record decoded back, splitting at
 * max_msg with sequence numbers, limits, collector parsing, and the exporter over loopback.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <check.h>
#include <uv.h>

#include "ipfix-decode.h"
#include "stats/ipfix.h"

static struct ft_conn_entry entry(uint16_t proto, const char *src, uint16_t sport, const char *dst,
				  uint16_t dport, uint64_t txp, uint64_t txb, uint64_t rxp,
				  uint64_t rxb)
{
	struct ft_conn_entry e;

	memset(&e, 0, sizeof(e));
	e.key.proto = proto;
	if (src)
		ck_assert_int_eq(ft_addr_parse(&e.key.src, src), 0);
	if (dst)
		ck_assert_int_eq(ft_addr_parse(&e.key.dst, dst), 0);
	e.key.src_port = sport;
	e.key.dst_port = dport;
	e.tx_packets = txp;
	e.tx_bytes = txb;
	e.rx_packets = rxp;
	e.rx_bytes = rxb;
	return e;
}

/* 2026-01-02T03:04:05.123Z and five seconds later. */
static const uint64_t T0 = 1767323045123ULL, T1 = 1767323050123ULL;

/* Collects the messages of one encoding. */
struct sink {
	uint8_t msgs[160][9000];
	size_t lens[160];
	size_t n;
	int fail_at; /* emit fails on this message (1-based), 0 never */
};

static int collect(void *arg, const uint8_t *msg, size_t len)
{
	struct sink *s = arg;

	if (s->fail_at && (int)s->n + 1 == s->fail_at)
		return -EIO;
	ck_assert_uint_lt(s->n, 160);
	ck_assert_uint_le(len, sizeof(s->msgs[0]));
	memcpy(s->msgs[s->n], msg, len);
	s->lens[s->n++] = len;
	return 0;
}

static struct sink *sink_new(void)
{
	struct sink *s = calloc(1, sizeof(*s));

	ck_assert_ptr_nonnull(s);
	return s;
}

static void decode_all(struct ipfix_dec *d, const struct sink *s)
{
	for (size_t i = 0; i < s->n; i++)
		ck_assert_int_eq(ipfix_decode(d, s->msgs[i], s->lens[i]), 0);
}

START_TEST(test_golden_bytes)
{
	struct ft_conn_entry v[] = { entry(6, "100.64.0.1", 80, "100.64.0.2", 51234, 3, 180, 0,
					   0) };
	struct ft_ipfix_encoder e;
	struct sink *s = sink_new();
	/*
	 * version 10, length 66, export time 0x69573aa5, sequence 0, domain 7;
	 * data set 256, length 50: 100.64.0.1 -> 100.64.0.2, ports 80 -> 51234, proto 6,
	 * egress (1), 3 packets, 180 bytes, start T0, end T1.
	 */
	static const uint8_t want[] = {
		0x00, 0x0a, 0x00, 0x42, 0x69, 0x57, 0x3a, 0xa5, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
		0x00, 0x07, 0x01, 0x00, 0x00, 0x32, 100,  64,	0,    1,    100,  64,	0,    2,
		0x00, 0x50, 0xc8, 0x22, 0x06, 0x01, 0,	  0,	0,    0,    0,	  0,	0,    3,
		0,    0,    0,	  0,	0,    0,    0,	  180,	0x00, 0x00, 0x01, 0x9b, 0x7c, 0xa9,
		0x8d, 0x03, 0x00, 0x00, 0x01, 0x9b, 0x7c, 0xa9, 0xa0, 0x8b,
	};

	ck_assert_int_eq(ft_ipfix_encoder_init(&e, 7, 1400), 0);
	ck_assert_int_eq(ft_ipfix_encode(&e, 0x69573aa5, false, T0, T1, v, 1, NULL, 0, collect, s),
			 1);
	ck_assert_uint_eq(s->n, 1);
	ck_assert_uint_eq(s->lens[0], sizeof(want));
	ck_assert_mem_eq(s->msgs[0], want, sizeof(want));
	ck_assert_uint_eq(e.seq, 1);
	free(s);
}
END_TEST

/* One expected record: what the decoder must read back. */
struct want_rec {
	uint16_t tid;
	const char *src, *dst; /* NULL: the template has no such field */
	uint16_t sport, dport;
	uint8_t proto, dir;
	uint64_t packets, bytes;
};

static void check_rec(const struct ipfix_rec *r, const struct want_rec *w)
{
	struct ft_addr a;

	ck_assert_uint_eq(r->tid, w->tid);
	if (w->src) {
		ck_assert_int_eq(ft_addr_parse(&a, w->src), 0);
		ck_assert(ft_addr_equal(&r->src, &a));
	} else {
		ck_assert_uint_eq(r->src.family, 0);
	}
	if (w->dst) {
		ck_assert_int_eq(ft_addr_parse(&a, w->dst), 0);
		ck_assert(ft_addr_equal(&r->dst, &a));
	} else {
		ck_assert_uint_eq(r->dst.family, 0);
	}
	ck_assert_uint_eq(r->sport, w->sport);
	ck_assert_uint_eq(r->dport, w->dport);
	ck_assert_uint_eq(r->proto, w->proto);
	ck_assert_uint_eq(r->dir, w->dir);
	ck_assert_uint_eq(r->packets, w->packets);
	ck_assert_uint_eq(r->bytes, w->bytes);
	ck_assert_uint_eq(r->start_ms, T0);
	ck_assert_uint_eq(r->end_ms, T1);
}

START_TEST(test_fields)
{
	struct ft_conn_entry v[] = {
		entry(6, "100.64.0.1", 80, "100.64.0.2", 51234, 88, 2780, 34, 8870),
		entry(17, "fd00::1", 5353, "fd00::2", 53, 1, 60, 0, 0),
		entry(FT_IPPROTO_FRAGMENT, "100.64.0.1", 0, "100.64.0.2", 0, 1, 1400, 0, 0),
		entry(1, "100.64.0.1", 0, "100.64.0.9", 0, 0, 0, 2, 168), /* rx only */
		entry(FT_IPPROTO_INVALID, NULL, 0, NULL, 0, 2, 3, 0, 0),  /* skipped */
		entry(6, "100.64.0.1", 1, "fd00::2", 2, 5, 5, 5, 5),	  /* mixed: skipped */
		entry(17, "100.64.0.1", 9, "100.64.0.3", 9, 0, 0, 0, 0),  /* empty: no record */
	};
	struct ft_conn_entry p[] = {
		entry(0, "100.64.0.2", 0, "198.18.0.2", 51820, 63, 13600, 60, 9000),
		entry(0, "fd00::2", 0, "fd00:1::2", 51821, 0, 0, 7, 700),
	};
	/* In template order, within a template in entry order, tx before rx. */
	static const struct want_rec want[] = {
		{ 256, "100.64.0.1", "100.64.0.2", 80, 51234, 6, 1, 88, 2780 },
		{ 256, "100.64.0.2", "100.64.0.1", 51234, 80, 6, 0, 34, 8870 },
		{ 256, "100.64.0.1", "100.64.0.2", 0, 0, 255, 1, 1, 1400 },
		{ 256, "100.64.0.9", "100.64.0.1", 0, 0, 1, 0, 2, 168 },
		{ 257, "fd00::1", "fd00::2", 5353, 53, 17, 1, 1, 60 },
		{ 258, NULL, "198.18.0.2", 0, 51820, 17, 1, 63, 13600 },
		{ 259, "198.18.0.2", NULL, 51820, 0, 17, 0, 60, 9000 },
		{ 261, "fd00:1::2", NULL, 51821, 0, 17, 0, 7, 700 },
	};
	struct ft_ipfix_encoder e;
	struct ipfix_dec d = { 0 };
	struct sink *s = sink_new();

	const size_t nwant = sizeof(want) / sizeof(want[0]);

	ck_assert_int_eq(ft_ipfix_encoder_init(&e, 0xdeadbeef, 1452), 0);
	/* The kernel's drops at the TUN: an options record after the data records. */
	e.has_ignored = true;
	e.ignored_total = 12345;
	ck_assert_int_eq(ft_ipfix_encode(&e, 1767323050, true, T0, T1, v, 7, p, 2, collect, s), 1);
	decode_all(&d, s);
	ck_assert_uint_eq(d.template_sets, 1);
	ck_assert_uint_eq(d.nt, FT_IPFIX_T_COUNT + 1); /* and the options template */
	ck_assert_uint_eq(ipfix_find(&d, FT_IPFIX_T_IGNORED)->scope, 1);
	ck_assert_uint_eq(d.domain, 0xdeadbeef);
	ck_assert_uint_eq(d.export_time, 1767323050);
	ck_assert_uint_eq(d.nrec, nwant + 1);
	for (size_t i = 0; i < nwant; i++)
		check_rec(&d.recs[i], &want[i]);
	ck_assert_uint_eq(d.recs[nwant].tid, FT_IPFIX_T_IGNORED);
	ck_assert_uint_eq(d.recs[nwant].domain, 0xdeadbeef);
	ck_assert_uint_eq(d.recs[nwant].ignored, 12345);
	ck_assert_uint_eq(e.seq, d.nrec); /* an options record is a data record too */
	ck_assert_uint_eq(e.skipped, 2);
	ipfix_dec_free(&d);
	free(s);
}
END_TEST

/* Splitting: sizes of max_msg, and dumps of many records in both families. */
static const size_t split_mtu[] = { FT_IPFIX_MIN_MSG, 513, 1452, 9000 - 48 };

START_TEST(test_split)
{
	enum { N = 400 };
	struct ft_conn_entry *v = calloc(N, sizeof(*v));
	struct ft_ipfix_encoder e;
	struct ipfix_dec d = { 0 };
	struct sink *s = sink_new();
	uint64_t packets = 0, records = 0;
	uint32_t seq = 0;
	int n;

	ck_assert_ptr_nonnull(v);
	for (int i = 0; i < N; i++) {
		char a[64];

		snprintf(a, sizeof(a), i % 3 ? "100.64.%d.%d" : "fd00::%x:%x", i / 200, i % 200);
		v[i] = entry(17, a, (uint16_t)i, i % 3 ? "100.64.9.9" : "fd00::99", 53,
			     (uint64_t)i + 1, 100, (uint64_t)(i % 2), 50);
		packets += (uint64_t)i + 1 + (uint64_t)(i % 2);
		records += 2;
	}
	ck_assert_int_eq(ft_ipfix_encoder_init(&e, 1, split_mtu[_i]), 0);
	e.seq = 0xfffffff0u; /* the sequence number wraps modulo 2^32 */
	seq = e.seq;
	n = ft_ipfix_encode(&e, 1, true, T0, T1, v, N, NULL, 0, collect, s);
	ck_assert_int_gt(n, 0);
	ck_assert_uint_eq((size_t)n, s->n);
	for (size_t i = 0; i < s->n; i++) {
		size_t before = d.nrec;

		ck_assert_uint_le(s->lens[i], split_mtu[_i]);
		ck_assert_int_eq(ipfix_decode(&d, s->msgs[i], s->lens[i]), 0);
		ck_assert_uint_eq(d.seq, seq);
		ck_assert_uint_eq(d.template_sets, 1); /* only the first message */
		seq += (uint32_t)(d.nrec - before);
		/* A message is not cut early: the next record would not have fitted. */
		if (i + 1 < s->n)
			ck_assert_uint_gt(s->lens[i] + 70 + 4, split_mtu[_i]);
	}
	ck_assert_uint_eq(d.nrec, records);
	ck_assert_uint_eq(e.seq, seq);
	for (size_t i = 0; i < d.nrec; i++)
		packets -= d.recs[i].packets;
	ck_assert_uint_eq(packets, 0);
	ipfix_dec_free(&d);
	free(s);
	free(v);
}
END_TEST

START_TEST(test_limits)
{
	struct ft_ipfix_encoder e;
	struct ft_conn_entry v[] = { entry(6, "100.64.0.1", 1, "100.64.0.2", 2, 1, 1, 1, 1) };
	struct sink *s = sink_new();
	struct ipfix_dec d = { 0 };

	ck_assert_int_eq(ft_ipfix_encoder_init(&e, 1, FT_IPFIX_MIN_MSG - 1), -EINVAL);
	ck_assert_int_eq(ft_ipfix_encoder_init(&e, 1, FT_IPFIX_MAX_MSG + 1), -EINVAL);
	ck_assert_int_eq(ft_ipfix_encoder_init(&e, 1, FT_IPFIX_MAX_MSG), 0);
	/* Nothing to send and no templates: no message. */
	ck_assert_int_eq(ft_ipfix_encode(&e, 1, false, T0, T1, NULL, 0, NULL, 0, collect, s), 0);
	/* Templates only: one message with the template set and no data. */
	ck_assert_int_eq(ft_ipfix_encode(&e, 1, true, T0, T1, NULL, 0, NULL, 0, collect, s), 1);
	decode_all(&d, s);
	ck_assert_uint_eq(d.template_sets, 1);
	ck_assert_uint_eq(d.nrec, 0);
	ck_assert_uint_eq(e.seq, 0);
	/* An emit failure stops the encoding and is returned. */
	s->n = 0;
	s->fail_at = 1;
	ck_assert_int_eq(ft_ipfix_encode(&e, 1, false, T0, T1, v, 1, NULL, 0, collect, s), -EIO);
	ipfix_dec_free(&d);
	free(s);
}
END_TEST

static const struct {
	const char *in;
	int rc;
	int family;
	const char *addr;
	uint16_t port;
} collectors[] = {
	{ "198.18.0.2:4739", 0, AF_INET, "198.18.0.2", 4739 },
	{ "198.18.0.2", 0, AF_INET, "198.18.0.2", 4739 },
	{ "[fd00::1]:2055", 0, AF_INET6, "fd00::1", 2055 },
	{ "[fd00::1]", 0, AF_INET6, "fd00::1", 4739 },
	{ "fd00::1", 0, AF_INET6, "fd00::1", 4739 },
	{ "198.18.0.2:", -EINVAL, 0, NULL, 0 },
	{ "198.18.0.2:0", -EINVAL, 0, NULL, 0 },
	{ "198.18.0.2:65536", -EINVAL, 0, NULL, 0 },
	{ "198.18.0.2:47x9", -EINVAL, 0, NULL, 0 },
	{ "[fd00::1", -EINVAL, 0, NULL, 0 },
	{ "[fd00::1]x", -EINVAL, 0, NULL, 0 },
	{ "[198.18.0.2]:1", -ENOENT, 0, NULL, 0 },
	{ ":4739", -EINVAL, 0, NULL, 0 },
	{ "", -EINVAL, 0, NULL, 0 },
};

START_TEST(test_parse_collector)
{
	struct sockaddr_storage ss;
	char buf[64];

	ck_assert_int_eq(ft_ipfix_parse_collector(collectors[_i].in, &ss), collectors[_i].rc);
	if (collectors[_i].rc)
		return;
	ck_assert_int_eq(ss.ss_family, collectors[_i].family);
	if (ss.ss_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)&ss;

		inet_ntop(AF_INET, &sin->sin_addr, buf, sizeof(buf));
		ck_assert_uint_eq(ntohs(sin->sin_port), collectors[_i].port);
	} else {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&ss;

		inet_ntop(AF_INET6, &sin6->sin6_addr, buf, sizeof(buf));
		ck_assert_uint_eq(ntohs(sin6->sin6_port), collectors[_i].port);
	}
	ck_assert_str_eq(buf, collectors[_i].addr);
}
END_TEST

/* The exporter over loopback: templates on start and on the refresh timer, then a dump. */
struct loopback {
	int fd;
	uv_poll_t poll;
	struct ipfix_dec d;
	struct ft_ipfix_exporter *x;
	bool exported, closed;
	int polls_open;
};

static void on_exporter_closed(void *arg)
{
	struct loopback *lb = arg;

	lb->closed = true;
}

static void on_readable(uv_poll_t *h, int status, int events)
{
	struct loopback *lb = h->data;
	uint8_t buf[FT_IPFIX_MAX_MSG];
	ssize_t n;

	(void)events;
	ck_assert_int_eq(status, 0);
	while ((n = recv(lb->fd, buf, sizeof(buf), MSG_DONTWAIT)) > 0)
		ck_assert_int_eq(ipfix_decode(&lb->d, buf, (size_t)n), 0);
	/* Wait for a refreshed template set before the dump: the timer works. */
	if (lb->d.template_sets >= 2 && !lb->exported) {
		struct ft_conn_entry v[] = {
			entry(6, "100.64.0.1", 80, "100.64.0.2", 51234, 88, 2780, 34, 8870),
		};

		lb->exported = true;
		ft_ipfix_exporter_export(lb->x, T0, T1, v, 1, NULL, 0);
	}
	if (lb->d.nrec == 2 && !lb->closed) {
		uv_poll_stop(&lb->poll);
		uv_close((uv_handle_t *)&lb->poll, NULL);
		ft_ipfix_exporter_close(lb->x, on_exporter_closed);
	}
}

START_TEST(test_exporter_loopback)
{
	uv_loop_t loop;
	struct loopback lb = { 0 };
	struct sockaddr_in sin = { .sin_family = AF_INET };
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(sin);
	struct ft_ipfix_config cfg = { .collectors = &ss,
				       .n_collectors = 1,
				       .domain_id = 42,
				       .template_refresh_ms = 10,
				       .arg = &lb };
	struct ft_ipfix_counters c;

	ck_assert_int_eq(uv_loop_init(&loop), 0);
	lb.fd = socket(AF_INET, SOCK_DGRAM, 0);
	ck_assert_int_ge(lb.fd, 0);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(lb.fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ck_assert_int_eq(getsockname(lb.fd, (struct sockaddr *)&sin, &sl), 0);
	memset(&ss, 0, sizeof(ss));
	memcpy(&ss, &sin, sizeof(sin));

	/* Limits first: no collector, a too small MTU. */
	cfg.n_collectors = 0;
	ck_assert_ptr_null(ft_ipfix_exporter_create(&loop, &cfg));
	cfg.n_collectors = 1;
	cfg.mtu = FT_IPFIX_MIN_MSG;
	ck_assert_ptr_null(ft_ipfix_exporter_create(&loop, &cfg));
	cfg.mtu = 0;

	lb.x = ft_ipfix_exporter_create(&loop, &cfg);
	ck_assert_ptr_nonnull(lb.x);
	ck_assert_int_eq(uv_poll_init(&loop, &lb.poll, lb.fd), 0);
	lb.poll.data = &lb;
	ck_assert_int_eq(uv_poll_start(&lb.poll, UV_READABLE, on_readable), 0);
	ck_assert_int_eq(ft_ipfix_exporter_start(lb.x), 0);
	ck_assert_int_eq(ft_ipfix_exporter_start(lb.x), 0); /* idempotent */
	ft_ipfix_exporter_get_counters(lb.x, &c);
	ck_assert_uint_eq(c.template_sends, 1);
	ck_assert_uint_eq(c.messages, 1);
	ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
	ck_assert(lb.closed);
	ck_assert_uint_eq(lb.d.domain, 42);
	ck_assert_uint_eq(lb.d.nrec, 2);
	ck_assert_uint_eq(lb.d.recs[0].packets, 88);
	ck_assert_uint_eq(lb.d.recs[1].bytes, 8870);
	ck_assert_int_eq(uv_loop_close(&loop), 0);
	close(lb.fd);
	ipfix_dec_free(&lb.d);
}
END_TEST

/* A collector that refuses (ICMP port unreachable on loopback): counted, not fatal. */
START_TEST(test_exporter_errors)
{
	uv_loop_t loop;
	struct sockaddr_in sin = { .sin_family = AF_INET };
	struct sockaddr_storage ss;
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	socklen_t sl = sizeof(sin);
	struct ft_ipfix_config cfg = { .collectors = &ss, .n_collectors = 1 };
	struct ft_conn_entry v[] = { entry(6, "100.64.0.1", 1, "100.64.0.2", 2, 1, 1, 1, 1) };
	struct ft_ipfix_exporter *x;
	struct ft_ipfix_counters c;

	/* A port that was bound and is free again: nobody listens there. */
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin, &sl), 0);
	close(fd);
	memset(&ss, 0, sizeof(ss));
	memcpy(&ss, &sin, sizeof(sin));
	ck_assert_int_eq(uv_loop_init(&loop), 0);
	x = ft_ipfix_exporter_create(&loop, &cfg);
	ck_assert_ptr_nonnull(x);
	ft_ipfix_exporter_export(x, T0, T1, v, 1, NULL, 0); /* before start: ignored */
	ft_ipfix_exporter_get_counters(x, &c);
	ck_assert_uint_eq(c.records, 0);
	ck_assert_int_eq(ft_ipfix_exporter_start(x), 0);
	/* The refusal of the template message comes back as the error of a later send. */
	for (int i = 0; i < 3; i++)
		ft_ipfix_exporter_export(x, T0, T1, v, 1, NULL, 0);
	ft_ipfix_exporter_get_counters(x, &c);
	ck_assert_uint_ge(c.send_errors, 1);
	ck_assert_int_eq(c.last_error, -ECONNREFUSED);
	ck_assert_uint_eq(c.records, 6);
	ft_ipfix_exporter_close(x, NULL);
	ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
	ck_assert_int_eq(uv_loop_close(&loop), 0);
}
END_TEST

static void on_window_done(void *arg, const struct ft_conn_window *win)
{
	int *done = arg;

	(void)win;
	(*done)++;
}

/*
 * Submitted windows are encoded and sent off the loop, in order, with exact sequence numbers;
 * close sends every window still pending before it closes the sockets.
 */
START_TEST(test_exporter_submit)
{
	enum { W = 10, N = 100 };
	uv_loop_t loop;
	struct sockaddr_in sin = { .sin_family = AF_INET };
	struct sockaddr_storage ss;
	int fd = socket(AF_INET, SOCK_DGRAM, 0), done = 0;
	socklen_t sl = sizeof(sin);
	struct ft_ipfix_config cfg = { .collectors = &ss, .n_collectors = 1, .domain_id = 7 };
	const uint64_t ignored = 77;
	static struct ft_conn_entry v[W][N];
	struct ft_conn_window wins[W];
	struct ipfix_dec d = { 0 };
	struct ft_ipfix_exporter *x;
	uint8_t buf[FT_IPFIX_MAX_MSG];
	uint32_t seq = 0;
	ssize_t n;

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin, &sl), 0);
	memset(&ss, 0, sizeof(ss));
	memcpy(&ss, &sin, sizeof(sin));
	ck_assert_int_eq(uv_loop_init(&loop), 0);
	x = ft_ipfix_exporter_create(&loop, &cfg);
	ck_assert_ptr_nonnull(x);
	memset(wins, 0, sizeof(wins));
	ck_assert_int_eq(ft_ipfix_exporter_submit(x, &wins[0], NULL, on_window_done, &done),
			 -ENOTCONN);
	ck_assert_int_eq(ft_ipfix_exporter_start(x), 0);
	for (int k = 0; k < W; k++) {
		for (int i = 0; i < N; i++)
			v[k][i] = entry(17, "100.64.0.1", (uint16_t)(k * N + i), "100.64.0.2", 9, 1,
					29, 0, 0);
		wins[k].start_ms = T0;
		wins[k].end_ms = T1;
		wins[k].v = v[k];
		wins[k].nv = N;
		ck_assert_int_eq(ft_ipfix_exporter_submit(x, &wins[k], k == W - 1 ? &ignored : NULL,
							  on_window_done, &done),
				 0);
	}
	ft_ipfix_exporter_close(x, NULL);
	ck_assert_int_eq(ft_ipfix_exporter_submit(x, &wins[0], NULL, on_window_done, &done),
			 -ESHUTDOWN);
	ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
	ck_assert_int_eq(uv_loop_close(&loop), 0);
	ck_assert_int_eq(done, W);
	/* Every message decodes and starts at the data records sent before it. */
	while ((n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT)) > 0) {
		size_t before = d.nrec;

		ck_assert_int_eq(ipfix_decode(&d, buf, (size_t)n), 0);
		ck_assert_uint_eq(d.seq, seq);
		seq += (uint32_t)(d.nrec - before);
	}
	ck_assert_uint_eq(d.nrec, W * N + 1);
	for (size_t i = 0; i < W * N; i++)
		ck_assert_uint_eq(d.recs[i].sport, i); /* in the order submitted */
	ck_assert_uint_eq(d.recs[W * N].tid, FT_IPFIX_T_IGNORED);
	ck_assert_uint_eq(d.recs[W * N].ignored, 77);
	ck_assert_uint_eq(d.domain, 7);
	close(fd);
	ipfix_dec_free(&d);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("ipfix");
	TCase *tc = tcase_create("encoder");
	TCase *tx = tcase_create("exporter");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_golden_bytes);
	tcase_add_test(tc, test_fields);
	tcase_add_loop_test(tc, test_split, 0, sizeof(split_mtu) / sizeof(split_mtu[0]));
	tcase_add_test(tc, test_limits);
	tcase_add_loop_test(tc, test_parse_collector, 0,
			    sizeof(collectors) / sizeof(collectors[0]));
	suite_add_tcase(s, tc);
	tcase_add_test(tx, test_exporter_loopback);
	tcase_add_test(tx, test_exporter_errors);
	tcase_add_test(tx, test_exporter_submit);
	suite_add_tcase(s, tx);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
