// SPDX-License-Identifier: MIT
/*
 * Connection statistics: keys (tx, rx inverted, physical), windows flushed by the timer, by
 * max_conns and by hand, shutdown, extract, closing, and a long random feed whose dumps must add
 * up to exactly what was fed. Tailscale's connstats tests (TestConcurrent, TestExtract,
 * TestMaxConns-like checks) have their counterparts here, except concurrency: our statistics are
 * owned by one loop thread by design.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <check.h>
#include <uv.h>

#include "stats/connstats.h"

/* A UDP, TCP or ICMP packet with the given addresses and ports; returns its length. */
static size_t mkpkt(uint8_t *buf, uint8_t proto, const char *src, const char *dst, uint16_t sport,
		    uint16_t dport, size_t payload)
{
	struct ft_addr s, d;
	size_t ip, l4 = proto == 6 ? 20 : 8, len;

	/* Plain checks on hot paths: each ck_assert records a mark point, a write(2). */
	if (ft_addr_parse(&s, src) || ft_addr_parse(&d, dst) || s.family != d.family)
		ck_abort_msg("bad test addresses %s %s", src, dst);
	ip = s.family == AF_INET ? 20 : 40;
	len = ip + l4 + payload;
	memset(buf, 0, len);
	if (s.family == AF_INET) {
		buf[0] = 0x45;
		buf[2] = (uint8_t)(len >> 8);
		buf[3] = (uint8_t)len;
		buf[8] = 64;
		buf[9] = proto;
		memcpy(buf + 12, s.bytes, 4);
		memcpy(buf + 16, d.bytes, 4);
	} else {
		buf[0] = 0x60;
		buf[4] = (uint8_t)((len - 40) >> 8);
		buf[5] = (uint8_t)(len - 40);
		buf[6] = proto;
		buf[7] = 64;
		memcpy(buf + 8, s.bytes, 16);
		memcpy(buf + 24, d.bytes, 16);
	}
	if (proto == 1 || proto == 58) {
		buf[ip] = proto == 1 ? 8 : 128; /* echo request */
	} else {
		buf[ip] = (uint8_t)(sport >> 8);
		buf[ip + 1] = (uint8_t)sport;
		buf[ip + 2] = (uint8_t)(dport >> 8);
		buf[ip + 3] = (uint8_t)dport;
		if (proto == 6)
			buf[ip + 12] = 5 << 4;
	}
	return len;
}

static struct ft_conn_key mkkey(uint16_t proto, const char *src, uint16_t sport, const char *dst,
				uint16_t dport)
{
	struct ft_conn_key k;

	memset(&k, 0, sizeof(k));
	k.proto = proto;
	if ((*src && ft_addr_parse(&k.src, src)) || (*dst && ft_addr_parse(&k.dst, dst)))
		ck_abort_msg("bad test addresses %s %s", src, dst);
	k.src_port = sport;
	k.dst_port = dport;
	return k;
}

/* What was fed or what the dumps delivered: counts per key, merged. */
#define MAX_MODEL 8192
struct table_model {
	struct ft_conn_entry e[MAX_MODEL];
	uint32_t index[2 * MAX_MODEL]; /* entry + 1, open addressing */
	size_t n;
};

struct model {
	struct table_model v, p;
};

struct collector {
	struct model got;
	int dumps;
	size_t max_conns; /* no dump may hold more */
	size_t largest;	  /* entries in the largest dump */
	uv_loop_t *stop;  /* stop this loop after a dump */
	int closed;
};

static size_t key_slot(const struct ft_conn_key *k)
{
	const uint8_t *b = (const uint8_t *)k;
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < sizeof(*k); i++)
		h = (h ^ b[i]) * 16777619u;
	return h % (2 * MAX_MODEL);
}

static void model_add(struct table_model *t, const struct ft_conn_entry *e)
{
	size_t i = key_slot(&e->key);

	for (; t->index[i]; i = (i + 1) % (2 * MAX_MODEL)) {
		struct ft_conn_entry *x = &t->e[t->index[i] - 1];

		if (memcmp(&x->key, &e->key, sizeof(e->key)) == 0) {
			x->tx_packets += e->tx_packets;
			x->tx_bytes += e->tx_bytes;
			x->rx_packets += e->rx_packets;
			x->rx_bytes += e->rx_bytes;
			return;
		}
	}
	if (t->n == MAX_MODEL)
		ck_abort_msg("model full");
	t->e[t->n++] = *e;
	t->index[i] = (uint32_t)t->n;
}

static void model_count(struct table_model *t, struct ft_conn_key k, bool rx, uint64_t packets,
			uint64_t bytes)
{
	struct ft_conn_entry e;

	memset(&e, 0, sizeof(e));
	e.key = k;
	if (rx) {
		e.rx_packets = packets;
		e.rx_bytes = bytes;
	} else {
		e.tx_packets = packets;
		e.tx_bytes = bytes;
	}
	model_add(t, &e);
}

static const struct ft_conn_entry *model_find(const struct table_model *t,
					      const struct ft_conn_key *k)
{
	for (size_t i = key_slot(k); t->index[i]; i = (i + 1) % (2 * MAX_MODEL))
		if (memcmp(&t->e[t->index[i] - 1].key, k, sizeof(*k)) == 0)
			return &t->e[t->index[i] - 1];
	return NULL;
}

/* Same keys (a's are all in b and the sizes match) with the same counts. */
static void model_expect_equal(const struct table_model *a, const struct table_model *b)
{
	ck_assert_uint_eq(a->n, b->n);
	for (size_t i = 0; i < a->n; i++) {
		const struct ft_conn_entry *x = &a->e[i], *y = model_find(b, &x->key);

		if (!y)
			ck_abort_msg("key %zu missing", i);
		if (x->tx_packets != y->tx_packets || x->tx_bytes != y->tx_bytes ||
		    x->rx_packets != y->rx_packets || x->rx_bytes != y->rx_bytes)
			ck_abort_msg(
				"key %zu: counts %llu/%llu/%llu/%llu, want %llu/%llu/%llu/%llu", i,
				(unsigned long long)y->tx_packets, (unsigned long long)y->tx_bytes,
				(unsigned long long)y->rx_packets, (unsigned long long)y->rx_bytes,
				(unsigned long long)x->tx_packets, (unsigned long long)x->tx_bytes,
				(unsigned long long)x->rx_packets, (unsigned long long)x->rx_bytes);
	}
}

static void keys_unique(const struct ft_conn_entry *e, size_t n)
{
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < i; j++)
			if (memcmp(&e[i].key, &e[j].key, sizeof(e[i].key)) == 0)
				ck_abort_msg("key %zu repeated at %zu in one dump", j, i);
}

static void on_dump(void *arg, const struct ft_conn_window *win)
{
	struct collector *c = arg;
	const struct ft_conn_entry *v = win->v, *p = win->p;
	size_t nv = win->nv, np = win->np;
	uint64_t start_ms = win->start_ms, end_ms = win->end_ms;

	ck_assert_uint_gt(nv + np, 0); /* never an empty dump */
	ck_assert_uint_le(start_ms, end_ms);
	if (c->max_conns)
		ck_assert_uint_le(nv + np, c->max_conns);
	if (nv + np > c->largest)
		c->largest = nv + np;
	keys_unique(v, nv);
	keys_unique(p, np);
	for (size_t i = 0; i < nv; i++)
		model_add(&c->got.v, &v[i]);
	for (size_t i = 0; i < np; i++)
		model_add(&c->got.p, &p[i]);
	c->dumps++;
	if (c->stop)
		uv_stop(c->stop);
}

static void on_closed(void *arg)
{
	((struct collector *)arg)->closed++;
}

/* Closes s and checks that nothing of it is left on the loop. */
static void close_and_check(struct ft_connstats *s, uv_loop_t *loop, struct collector *c)
{
	int closed = c->closed;

	ft_connstats_close(s, on_closed);
	ck_assert_int_eq(uv_run(loop, UV_RUN_DEFAULT), 0);
	ck_assert_int_eq(c->closed, closed + 1);
	ck_assert_int_eq(uv_loop_close(loop), 0);
}

static struct collector *collector_new(void)
{
	struct collector *c = calloc(1, sizeof(*c));

	ck_assert_ptr_nonnull(c);
	return c;
}

/* Each flow in v4 and v6, with the packet the other side sends back. */
static const struct {
	uint8_t proto;
	const char *a, *b;
	uint16_t aport, bport;
	uint16_t key_aport, key_bport; /* ICMP: ports 0 */
} flows[] = {
	{ 6, "100.64.0.1", "100.64.0.2", 51234, 80, 51234, 80 },
	{ 17, "100.64.0.1", "100.64.0.2", 5353, 53, 5353, 53 },
	{ 1, "100.64.0.1", "100.64.0.2", 0, 0, 0, 0 },
	{ 6, "fd00::1", "fd00::2", 40000, 443, 40000, 443 },
	{ 17, "fd00::1", "fd00::2", 546, 547, 546, 547 },
	{ 58, "fd00::1", "fd00::2", 0, 0, 0, 0 },
};

/* tx a->b and rx b->a land on one key {a, b}: rx inverts src and dst. */
START_TEST(test_rx_inversion)
{
	struct collector *c = collector_new();
	uv_loop_t loop;
	struct ft_connstats *s;
	struct ft_conn_entry *v, *p;
	size_t nv, np, len_ab, len_ba;
	uint8_t ab[256], ba[256];

	ck_assert_int_eq(uv_loop_init(&loop), 0);
	s = ft_connstats_create(&loop, 0, 16, on_dump, c);
	ck_assert_ptr_nonnull(s);
	len_ab = mkpkt(ab, flows[_i].proto, flows[_i].a, flows[_i].b, flows[_i].aport,
		       flows[_i].bport, 10);
	len_ba = mkpkt(ba, flows[_i].proto, flows[_i].b, flows[_i].a, flows[_i].bport,
		       flows[_i].aport, 100);
	ft_connstats_update_tx_virtual(s, ab, len_ab);
	ft_connstats_update_tx_virtual(s, ab, len_ab);
	ft_connstats_update_rx_virtual(s, ba, len_ba);

	ck_assert_int_eq(ft_connstats_extract(s, &v, &nv, &p, &np), 0);
	ck_assert_uint_eq(nv, 1);
	ck_assert_uint_eq(np, 0);
	ck_assert_ptr_null(p);
	struct ft_conn_key want = mkkey(flows[_i].proto, flows[_i].a, flows[_i].key_aport,
					flows[_i].b, flows[_i].key_bport);
	ck_assert_mem_eq(&v[0].key, &want, sizeof(want));
	ck_assert_uint_eq(v[0].tx_packets, 2);
	ck_assert_uint_eq(v[0].tx_bytes, 2 * len_ab);
	ck_assert_uint_eq(v[0].rx_packets, 1);
	ck_assert_uint_eq(v[0].rx_bytes, len_ba);
	free(v);

	/* rx alone, the other way round: the key is still from our side's point of view. */
	ft_connstats_update_rx_virtual(s, ab, len_ab);
	ck_assert_int_eq(ft_connstats_extract(s, &v, &nv, &p, &np), 0);
	ck_assert_uint_eq(nv, 1);
	want = mkkey(flows[_i].proto, flows[_i].b, flows[_i].key_bport, flows[_i].a,
		     flows[_i].key_aport);
	ck_assert_mem_eq(&v[0].key, &want, sizeof(want));
	ck_assert_uint_eq(v[0].tx_packets, 0);
	ck_assert_uint_eq(v[0].rx_packets, 1);
	free(v);
	ck_assert_int_eq(c->dumps, 0);
	close_and_check(s, &loop, c);
	ck_assert_int_eq(c->dumps, 0); /* extract left nothing to flush */
	free(c);
}
END_TEST

/* TestExtract: empty tables come back empty, and extract resets. */
START_TEST(test_extract_empty)
{
	struct collector *c = collector_new();
	uv_loop_t loop;
	struct ft_connstats *s;
	struct ft_conn_entry *v = (void *)1, *p = (void *)1;
	size_t nv = 9, np = 9;

	ck_assert_int_eq(uv_loop_init(&loop), 0);
	s = ft_connstats_create(&loop, 1000, 4, on_dump, c);
	ck_assert_int_eq(ft_connstats_extract(s, &v, &nv, &p, &np), 0);
	ck_assert_ptr_null(v);
	ck_assert_ptr_null(p);
	ck_assert_uint_eq(nv + np, 0);
	/* No insert, so no window and no timer: the loop has nothing to wait for. */
	ck_assert_int_eq(uv_run(&loop, UV_RUN_NOWAIT), 0);
	ft_connstats_flush(s);
	ck_assert_int_eq(c->dumps, 0);
	close_and_check(s, &loop, c);
	ck_assert_int_eq(c->dumps, 0);
	free(c);
}
END_TEST

/* Physical keys: {0, peer:0, endpoint:port}; bytes of unused address space do not matter. */
START_TEST(test_physical)
{
	struct collector *c = collector_new();
	uv_loop_t loop;
	struct ft_connstats *s;
	struct ft_conn_entry *v, *p;
	size_t nv, np;
	struct ft_addr peer, ep, peer_dirty, ep6;

	ck_assert_int_eq(uv_loop_init(&loop), 0);
	s = ft_connstats_create(&loop, 0, 8, on_dump, c);
	ck_assert_int_eq(ft_addr_parse(&peer, "100.64.0.2"), 0);
	ck_assert_int_eq(ft_addr_parse(&ep, "198.18.0.2"), 0);
	ck_assert_int_eq(ft_addr_parse(&ep6, "fd00::5"), 0);
	peer_dirty = peer;
	memset(peer_dirty.bytes + 4, 0xee, 12);

	ft_connstats_update_tx_physical(s, &peer, &ep, 51820, 63, 13600);
	ft_connstats_update_rx_physical(s, &peer_dirty, &ep, 51820, 34, 8870);
	ft_connstats_update_tx_physical(s, &peer, &ep, 51821, 1, 148);
	ft_connstats_update_tx_physical(s, &peer, &ep6, 51820, 2, 296);
	ck_assert_int_eq(ft_connstats_extract(s, &v, &nv, &p, &np), 0);
	ck_assert_uint_eq(nv, 0);
	ck_assert_uint_eq(np, 3);
	struct ft_conn_key k = mkkey(0, "100.64.0.2", 0, "198.18.0.2", 51820);
	ck_assert_mem_eq(&p[0].key, &k, sizeof(k));
	ck_assert_uint_eq(p[0].tx_packets, 63);
	ck_assert_uint_eq(p[0].tx_bytes, 13600);
	ck_assert_uint_eq(p[0].rx_packets, 34);
	ck_assert_uint_eq(p[0].rx_bytes, 8870);
	k = mkkey(0, "100.64.0.2", 0, "198.18.0.2", 51821);
	ck_assert_mem_eq(&p[1].key, &k, sizeof(k));
	k = mkkey(0, "100.64.0.2", 0, "fd00::5", 51820);
	ck_assert_mem_eq(&p[2].key, &k, sizeof(k));
	ck_assert_uint_eq(p[2].tx_bytes, 296);
	free(p);
	close_and_check(s, &loop, c);
	free(c);
}
END_TEST

/* The period elapses: a dump from the timer on the loop, then a new window on the next insert. */
START_TEST(test_flush_on_interval)
{
	struct collector *c = collector_new();
	uv_loop_t loop;
	struct ft_connstats *s;
	struct ft_connstats_counters cnt;
	uint8_t pkt[128];
	size_t len = mkpkt(pkt, 17, "100.64.0.1", "100.64.0.2", 1, 2, 0);
	struct ft_addr peer, ep;

	ck_assert_int_eq(ft_addr_parse(&peer, "100.64.0.2"), 0);
	ck_assert_int_eq(ft_addr_parse(&ep, "198.18.0.2"), 0);
	ck_assert_int_eq(uv_loop_init(&loop), 0);
	s = ft_connstats_create(&loop, 10, 100, on_dump, c);
	for (int round = 1; round <= 3; round++) {
		ft_connstats_update_tx_virtual(s, pkt, len);
		ft_connstats_update_tx_physical(s, &peer, &ep, 51820, 1, 60);
		ck_assert_int_eq(c->dumps, round - 1);
		/* The one-shot timer is the only handle: the loop returns once it has fired. */
		ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
		ck_assert_int_eq(c->dumps, round);
	}
	ft_connstats_get_counters(s, &cnt);
	ck_assert_uint_eq(cnt.dumps_period, 3);
	ck_assert_uint_eq(cnt.dumps_full + cnt.dumps_other, 0);
	ck_assert_uint_eq(c->got.v.n, 1);
	ck_assert_uint_eq(c->got.v.e[0].tx_packets, 3);
	ck_assert_uint_eq(c->got.p.e[0].tx_bytes, 180);
	close_and_check(s, &loop, c);
	ck_assert_int_eq(c->dumps, 3);
	free(c);
}
END_TEST

/* max_conns: a new connection past the limit dumps first; existing ones never do. */
START_TEST(test_flush_on_max_conns)
{
	struct collector *c = collector_new();
	uv_loop_t loop;
	struct ft_connstats *s;
	struct ft_connstats_counters cnt;
	uint8_t pkt[128];
	size_t len;
	struct ft_addr peer, ep;

	ck_assert_int_eq(ft_addr_parse(&peer, "100.64.0.2"), 0);
	ck_assert_int_eq(ft_addr_parse(&ep, "198.18.0.2"), 0);
	c->max_conns = 4;
	ck_assert_int_eq(uv_loop_init(&loop), 0);
	s = ft_connstats_create(&loop, 0, 4, on_dump, c);
	/* Three virtual and one physical: full. */
	for (uint16_t port = 1; port <= 3; port++) {
		len = mkpkt(pkt, 17, "100.64.0.1", "100.64.0.2", port, 53, 0);
		ft_connstats_update_tx_virtual(s, pkt, len);
	}
	ft_connstats_update_tx_physical(s, &peer, &ep, 51820, 3, 300);
	/* Existing connections while full: counted, no dump. */
	for (int i = 0; i < 100; i++) {
		len = mkpkt(pkt, 17, "100.64.0.2", "100.64.0.1", 53, 2, 0);
		ft_connstats_update_rx_virtual(s, pkt, len);
		ft_connstats_update_rx_physical(s, &peer, &ep, 51820, 1, 100);
	}
	ck_assert_int_eq(c->dumps, 0);
	/* The fifth connection dumps the four and starts a new window. */
	len = mkpkt(pkt, 17, "100.64.0.1", "100.64.0.2", 4, 53, 0);
	ft_connstats_update_tx_virtual(s, pkt, len);
	ck_assert_int_eq(c->dumps, 1);
	ck_assert_uint_eq(c->largest, 4);
	ck_assert_uint_eq(c->got.v.n, 3);
	ck_assert_uint_eq(c->got.p.n, 1);
	ck_assert_uint_eq(c->got.v.e[1].rx_packets, 100);
	ck_assert_uint_eq(c->got.p.e[0].rx_packets, 100);
	ck_assert_uint_eq(c->got.p.e[0].tx_packets, 3);
	ft_connstats_get_counters(s, &cnt);
	ck_assert_uint_eq(cnt.dumps_full, 1);
	close_and_check(s, &loop, c);
	ck_assert_int_eq(c->dumps, 2); /* the close flushed the fifth */
	ck_assert_uint_eq(c->got.v.n, 4);
	free(c);
}
END_TEST

/* A small deterministic generator, so that a failure can be replayed. */
static uint64_t rng_next(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

static const struct {
	size_t max_conns;
	int flows;
	bool batch;
} feeds[] = {
	{ 1, 20, false },  { 7, 50, false },	{ 64, 300, false },
	{ 64, 300, true }, { 1000, 900, true }, { 1000, 1500, false },
};

/*
 * A long random feed of virtual tx/rx (v4 and v6, some garbage) and physical updates over more
 * flows than max_conns: no dump holds more than max_conns, keys are unique within a dump, and
 * the dumps add up to exactly what was fed.
 */
START_TEST(test_random_feed)
{
	struct collector *c = collector_new();
	struct model *want = calloc(1, sizeof(*want));
	uv_loop_t loop;
	struct ft_connstats *s;
	uint64_t x = 0x9e3779b97f4a7c15ULL + (uint64_t)_i;
	static uint8_t bufs[16][128];
	const uint8_t *pkts[16];
	size_t lens[16], nb = 0;
	bool batch_rx = false;

	c->max_conns = feeds[_i].max_conns;
	ck_assert_int_eq(uv_loop_init(&loop), 0);
	s = ft_connstats_create(&loop, 0, feeds[_i].max_conns, on_dump, c);
	for (int n = 0; n < 100000; n++) {
		uint64_t r = rng_next(&x);
		int flow = (int)(r % (uint64_t)feeds[_i].flows);
		bool rx = r >> 32 & 1, v6 = r >> 33 & 1;
		size_t payload = (size_t)(r >> 40) % 64;

		if ((r >> 36 & 15) == 0) {
			struct ft_addr peer, ep;
			uint64_t packets = 1 + (r >> 48) % 32;
			char pa[32];

			snprintf(pa, sizeof(pa), "100.64.%d.%d", flow / 250, flow % 250 + 1);
			if (ft_addr_parse(&peer, pa) ||
			    ft_addr_parse(&ep, v6 ? "fd00::5" : "198.18.0.2"))
				ck_abort_msg("bad test address %s", pa);
			if (rx)
				ft_connstats_update_rx_physical(s, &peer, &ep, 51820, packets,
								packets * 148);
			else
				ft_connstats_update_tx_physical(s, &peer, &ep, 51820, packets,
								packets * 148);
			model_count(&want->p, mkkey(0, pa, 0, v6 ? "fd00::5" : "198.18.0.2", 51820),
				    rx, packets, packets * 148);
			continue;
		}

		uint8_t *pkt = bufs[nb];
		size_t len;
		struct ft_conn_key k;
		char a[48], b[48];
		uint16_t sport = (uint16_t)(1024 + flow), dport = (uint16_t)(443 + (flow & 3));

		/* A batch goes one way: its first packet picks the direction. */
		if (feeds[_i].batch && nb > 0)
			rx = batch_rx;
		batch_rx = rx;
		if ((r >> 36 & 15) == 1) {
			/* Garbage: a truncated IPv4 header. */
			len = 1 + payload % 19;
			memset(pkt, 0x45, len);
			k = mkkey(FT_IPPROTO_INVALID, "", 0, "", 0);
		} else {
			if (v6) {
				snprintf(a, sizeof(a), "fd00::%x", flow % 200 + 1);
				snprintf(b, sizeof(b), "fd00::1:%x", flow);
			} else {
				snprintf(a, sizeof(a), "100.64.1.%d", flow % 200 + 1);
				snprintf(b, sizeof(b), "100.65.%d.%d", flow / 200, flow % 200 + 1);
			}
			len = mkpkt(pkt, 17, a, b, sport, dport, payload);
			k = rx ? mkkey(17, b, dport, a, sport) : mkkey(17, a, sport, b, dport);
		}
		model_count(&want->v, k, rx, 1, len);
		if (!feeds[_i].batch) {
			if (rx)
				ft_connstats_update_rx_virtual(s, pkt, len);
			else
				ft_connstats_update_tx_virtual(s, pkt, len);
			continue;
		}
		pkts[nb] = pkt;
		lens[nb++] = len;
		if (nb == 16 || (r & 7) == 0) {
			if (batch_rx)
				ft_connstats_update_rx_virtual_batch(s, pkts, lens, nb);
			else
				ft_connstats_update_tx_virtual_batch(s, pkts, lens, nb);
			nb = 0;
		}
	}
	if (nb) {
		if (batch_rx)
			ft_connstats_update_rx_virtual_batch(s, pkts, lens, nb);
		else
			ft_connstats_update_tx_virtual_batch(s, pkts, lens, nb);
	}
	ft_connstats_shutdown(s);
	ck_assert_uint_le(c->largest, feeds[_i].max_conns);
	if ((size_t)feeds[_i].flows > feeds[_i].max_conns)
		ck_assert_uint_eq(c->largest, feeds[_i].max_conns);
	model_expect_equal(&want->v, &c->got.v);
	model_expect_equal(&want->p, &c->got.p);
	close_and_check(s, &loop, c);
	free(want);
	free(c);
}
END_TEST

/* Shutdown: a final flush, later updates dropped and counted, idempotent. */
START_TEST(test_shutdown)
{
	struct collector *c = collector_new();
	uv_loop_t loop;
	struct ft_connstats *s;
	struct ft_connstats_counters cnt;
	struct ft_conn_entry *v, *p;
	size_t nv, np;
	uint8_t pkt[128];
	const uint8_t *pkts[2] = { pkt, pkt };
	size_t len = mkpkt(pkt, 6, "fd00::1", "fd00::2", 1, 2, 0), lens[2] = { len, len };
	struct ft_addr peer, ep;

	ck_assert_int_eq(ft_addr_parse(&peer, "fd00::2"), 0);
	ck_assert_int_eq(ft_addr_parse(&ep, "198.18.0.2"), 0);
	ck_assert_int_eq(uv_loop_init(&loop), 0);
	s = ft_connstats_create(&loop, 60000, 10, on_dump, c);
	ft_connstats_update_tx_virtual(s, pkt, len);
	ft_connstats_update_tx_physical(s, &peer, &ep, 51820, 5, 500);
	ck_assert(!ft_connstats_is_shutdown(s));
	ft_connstats_shutdown(s);
	ck_assert(ft_connstats_is_shutdown(s));
	ck_assert_int_eq(c->dumps, 1);
	ck_assert_uint_eq(c->got.v.e[0].tx_packets, 1);
	ck_assert_uint_eq(c->got.p.e[0].tx_packets, 5);

	ft_connstats_update_tx_virtual(s, pkt, len);
	ft_connstats_update_rx_virtual(s, pkt, len);
	ft_connstats_update_tx_virtual_batch(s, pkts, lens, 2);
	ft_connstats_update_rx_physical(s, &peer, &ep, 51820, 7, 700);
	ft_connstats_shutdown(s);
	ft_connstats_flush(s);
	ck_assert_int_eq(c->dumps, 1);
	ck_assert_int_eq(ft_connstats_extract(s, &v, &nv, &p, &np), 0);
	ck_assert_uint_eq(nv + np, 0);
	ft_connstats_get_counters(s, &cnt);
	ck_assert_uint_eq(cnt.dropped_packets, 4 + 7);
	ck_assert_uint_eq(cnt.dropped_bytes, 4 * len + 700);
	ck_assert_uint_eq(cnt.dumps_other, 1);
	/* The timer was stopped: the loop has nothing left but closing. */
	ck_assert_int_eq(uv_run(&loop, UV_RUN_NOWAIT), 0);
	close_and_check(s, &loop, c);
	ck_assert_int_eq(c->dumps, 1);
	free(c);
}
END_TEST

/* Closing with a pending window flushes it: nothing counted is lost. */
START_TEST(test_close_flushes)
{
	struct collector *c = collector_new();
	uv_loop_t loop;
	struct ft_connstats *s;
	uint8_t pkt[128];
	size_t len = mkpkt(pkt, 17, "100.64.0.1", "100.64.0.2", 1, 2, 0);

	ck_assert_int_eq(uv_loop_init(&loop), 0);
	s = ft_connstats_create(&loop, 60000, 10, on_dump, c);
	ft_connstats_update_tx_virtual(s, pkt, len);
	close_and_check(s, &loop, c);
	ck_assert_int_eq(c->dumps, 1);
	ck_assert_uint_eq(c->got.v.e[0].tx_packets, 1);
	free(c);
}
END_TEST

/* Garbage and fragments: one invalid key with named reasons, fragments keyed by address. */
START_TEST(test_garbage_and_fragments)
{
	/* IPv4 len 36 MF offset 185 proto 17 100.64.0.1 > 100.64.0.2; 16 bytes of payload */
	static const uint8_t v4_later[] = {
		0x45, 0x00, 0x00, 0x24, 0x12, 0x34, 0x20, 0xb9, 0x40, 0x11, 0x80, 0x2f,
		0x64, 0x40, 0x00, 0x01, 0x64, 0x40, 0x00, 0x02, 0x7a, 0x7a, 0x7a, 0x7a,
		0x7a, 0x7a, 0x7a, 0x7a, 0x7a, 0x7a, 0x7a, 0x7a, 0x7a, 0x7a, 0x7a, 0x7a,
	};
	/* IPv6 plen 24 nh 44 fd00::1 > fd00::2; fragment nh 17 offset 181; 16 bytes payload */
	static const uint8_t v6_later[] = {
		0x60, 0x00, 0x00, 0x00, 0x00, 0x18, 0x2c, 0x40, 0xfd, 0x00, 0x00, 0x00, 0x00,
		0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0xfd, 0x00,
		0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
		0x02, 0x11, 0x00, 0x05, 0xa8, 0xde, 0xad, 0xbe, 0xef, 0x72, 0x72, 0x72, 0x72,
		0x72, 0x72, 0x72, 0x72, 0x72, 0x72, 0x72, 0x72, 0x72, 0x72, 0x72, 0x72,
	};
	/* Garbage: empty, "hello" (version 6, too short), one 0x45 byte, 40 zero bytes (version 0) */
	static const uint8_t hello[] = { 'h', 'e', 'l', 'l', 'o' };
	static const uint8_t v4_byte[] = { 0x45 };
	static const uint8_t zeros[40] = { 0 };
	struct collector *c = collector_new();
	uv_loop_t loop;
	struct ft_connstats *s;
	struct ft_connstats_counters cnt;
	struct ft_conn_entry *v, *p;
	size_t nv, np;

	ck_assert_int_eq(uv_loop_init(&loop), 0);
	s = ft_connstats_create(&loop, 0, 10, on_dump, c);
	ft_connstats_update_tx_virtual(s, v4_later, sizeof(v4_later));
	ft_connstats_update_rx_virtual(s, v4_later, sizeof(v4_later));
	ft_connstats_update_tx_virtual(s, v6_later, sizeof(v6_later));
	ft_connstats_update_tx_virtual(s, hello, 0);
	ft_connstats_update_tx_virtual(s, hello, sizeof(hello));
	ft_connstats_update_rx_virtual(s, v4_byte, sizeof(v4_byte));
	ft_connstats_update_tx_virtual(s, zeros, sizeof(zeros));
	ck_assert_int_eq(ft_connstats_extract(s, &v, &nv, &p, &np), 0);
	ck_assert_uint_eq(nv, 4);
	struct ft_conn_key k = mkkey(FT_IPPROTO_FRAGMENT, "100.64.0.1", 0, "100.64.0.2", 0);
	ck_assert_mem_eq(&v[0].key, &k, sizeof(k));
	ck_assert_uint_eq(v[0].tx_packets, 1);
	k = mkkey(FT_IPPROTO_FRAGMENT, "100.64.0.2", 0, "100.64.0.1", 0);
	ck_assert_mem_eq(&v[1].key, &k, sizeof(k));
	ck_assert_uint_eq(v[1].rx_packets, 1);
	k = mkkey(FT_IPPROTO_FRAGMENT, "fd00::1", 0, "fd00::2", 0);
	ck_assert_mem_eq(&v[2].key, &k, sizeof(k));
	k = mkkey(FT_IPPROTO_INVALID, "", 0, "", 0);
	ck_assert_mem_eq(&v[3].key, &k, sizeof(k));
	ck_assert_uint_eq(v[3].tx_packets, 3);
	ck_assert_uint_eq(v[3].tx_bytes, sizeof(hello) + sizeof(zeros));
	ck_assert_uint_eq(v[3].rx_packets, 1);
	ck_assert_uint_eq(v[3].rx_bytes, 1);
	free(v);
	ft_connstats_get_counters(s, &cnt);
	ck_assert_uint_eq(cnt.invalid[FT_PACKET_EMPTY], 1);
	ck_assert_uint_eq(cnt.invalid[FT_PACKET_V6_SHORT], 1);
	ck_assert_uint_eq(cnt.invalid[FT_PACKET_V4_SHORT], 1);
	ck_assert_uint_eq(cnt.invalid[FT_PACKET_BAD_VERSION], 1);
	close_and_check(s, &loop, c);
	free(c);
}
END_TEST

/* The batch calls count exactly what the single calls count. */
START_TEST(test_batch_equals_single)
{
	struct collector *c = collector_new();
	uv_loop_t loop;
	struct ft_connstats *one, *many;
	struct ft_conn_entry *v1, *p1, *v2, *p2;
	size_t nv1, np1, nv2, np2;
	static uint8_t bufs[100][256];
	const uint8_t *pkts[100];
	size_t lens[100];

	ck_assert_int_eq(uv_loop_init(&loop), 0);
	one = ft_connstats_create(&loop, 0, 1000, on_dump, c);
	many = ft_connstats_create(&loop, 0, 1000, on_dump, c);
	for (int i = 0; i < 100; i++) {
		char a[32];

		snprintf(a, sizeof(a), "100.64.0.%d", i % 7 + 1);
		lens[i] = mkpkt(bufs[i], i % 3 ? 17 : 6, a, "100.64.1.1", (uint16_t)(i % 5), 80,
				(size_t)i);
		pkts[i] = bufs[i];
		ft_connstats_update_tx_virtual(one, pkts[i], lens[i]);
		ft_connstats_update_rx_virtual(one, pkts[i], lens[i]);
	}
	ft_connstats_update_tx_virtual_batch(many, pkts, lens, 100);
	ft_connstats_update_rx_virtual_batch(many, pkts, lens, 100);
	ck_assert_int_eq(ft_connstats_extract(one, &v1, &nv1, &p1, &np1), 0);
	ck_assert_int_eq(ft_connstats_extract(many, &v2, &nv2, &p2, &np2), 0);
	/* (source i % 7, port i % 5, TCP when i % 3 == 0) takes 69 values; tx and rx keys differ. */
	ck_assert_uint_eq(nv1, 2 * 69);
	ck_assert_uint_eq(nv2, nv1);
	ck_assert_uint_eq(np1 + np2, 0);
	for (size_t i = 0; i < nv1; i++) {
		model_add(&c->got.v, &v1[i]);
		model_add(&c->got.p, &v2[i]);
	}
	model_expect_equal(&c->got.v, &c->got.p);
	free(v1);
	free(v2);
	ft_connstats_close(one, NULL);
	close_and_check(many, &loop, c);
	free(c);
}
END_TEST

START_TEST(test_create_invalid)
{
	uv_loop_t loop;
	struct collector *c = collector_new();

	ck_assert_int_eq(uv_loop_init(&loop), 0);
	errno = 0;
	ck_assert_ptr_null(ft_connstats_create(&loop, 0, 0, on_dump, c));
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_ptr_null(ft_connstats_create(&loop, 0, (size_t)1 << 27, on_dump, c));
	ck_assert_ptr_null(ft_connstats_create(&loop, 0, 1, NULL, c));
	ck_assert_int_eq(uv_loop_close(&loop), 0);
	free(c);
}
END_TEST

/*
 * Shards (Workers = N): instances without a loop that threads of their own count into, merged
 * into the instance that dumps by its collect callback before each of its dumps, a full shard
 * handing its window over (held) until then, as tun/worker/lanes.c does. Whatever was fed to
 * any of them comes out of the dumps of the one, exactly, and a flush dumps what the shards
 * counted before it.
 */
struct shard {
	struct ft_connstats *s, *into;
	const struct ft_conn_window *held[4];
	unsigned int n_held;
	bool merging;
	int full_dumps;
};

static void on_shard_dump(void *arg, const struct ft_conn_window *win)
{
	struct shard *sh = arg;

	if (sh->merging) {
		ft_connstats_merge(sh->into, win);
		return;
	}
	ck_assert_uint_lt(sh->n_held, 4);
	ft_connstats_hold(sh->s, win);
	sh->held[sh->n_held++] = win;
	sh->full_dumps++;
}

struct shards {
	struct shard sh[3];
	int collects;
};

static void collect_shards(void *arg, struct ft_connstats *s)
{
	struct shards *all = arg;

	all->collects++;
	for (int k = 0; k < 3; k++) {
		struct shard *sh = &all->sh[k];

		ck_assert_ptr_eq(sh->into, s);
		sh->merging = true;
		for (unsigned int i = 0; i < sh->n_held; i++) {
			ft_connstats_merge(s, sh->held[i]);
			ft_connstats_release(sh->s, sh->held[i]);
		}
		sh->n_held = 0;
		ft_connstats_flush(sh->s);
		sh->merging = false;
	}
}

START_TEST(test_shards)
{
	struct collector *c = collector_new();
	struct model *want = calloc(1, sizeof(*want));
	struct shards all;
	uv_loop_t loop;
	struct ft_connstats *s;
	uint64_t x = 0x51ed270b27f4a7c1ULL + (uint64_t)_i;
	size_t max_conns = _i == 0 ? 4096 : 50, shard_conns = _i == 0 ? 1024 : 20;
	int nflows = _i == 0 ? 700 : 300;
	struct ft_connstats_counters cc;
	uint8_t pkt[128];

	memset(&all, 0, sizeof(all));
	c->max_conns = max_conns;
	ck_assert_int_eq(uv_loop_init(&loop), 0);
	s = ft_connstats_create(&loop, 0, max_conns, on_dump, c);
	ck_assert_ptr_nonnull(s);
	ft_connstats_set_collect(s, collect_shards, &all);
	for (int k = 0; k < 3; k++) {
		all.sh[k].into = s;
		all.sh[k].s = ft_connstats_create(NULL, 0, shard_conns, on_shard_dump, &all.sh[k]);
		ck_assert_ptr_nonnull(all.sh[k].s);
		ck_assert_int_eq(ft_connstats_set_max_windows(all.sh[k].s, 4), 0);
	}
	for (int n = 0; n < 60000; n++) {
		uint64_t r = rng_next(&x);
		int flow = (int)(r % (uint64_t)nflows), who = (int)(r >> 20 & 3);
		struct ft_connstats *to = who == 3 ? s : all.sh[who].s;
		bool rx = r >> 32 & 1;
		size_t len;
		char a[32], b[32];

		if ((r >> 36 & 255) == 0) {
			/* A flush between updates: what every shard counted so far is in it. */
			int dumps = c->dumps;

			ft_connstats_flush(s);
			for (int k = 0; k < 3; k++) {
				const struct ft_conn_entry *v, *p;
				size_t nv, np;
				uint64_t start;

				ft_connstats_peek(all.sh[k].s, &v, &nv, &p, &np, &start);
				ck_assert_uint_eq(nv + np, 0);
				ck_assert_uint_eq(all.sh[k].n_held, 0);
			}
			ck_assert_int_ge(c->dumps, dumps);
			continue;
		}
		if ((r >> 36 & 15) == 1) {
			struct ft_addr peer, ep;
			char pa[32];

			snprintf(pa, sizeof(pa), "100.64.9.%d", flow % 200 + 1);
			if (ft_addr_parse(&peer, pa) || ft_addr_parse(&ep, "198.18.0.2"))
				ck_abort_msg("bad test address %s", pa);
			if (rx)
				ft_connstats_update_rx_physical(to, &peer, &ep, 51820, 3, 444);
			else
				ft_connstats_update_tx_physical(to, &peer, &ep, 51820, 3, 444);
			model_count(&want->p, mkkey(0, pa, 0, "198.18.0.2", 51820), rx, 3, 444);
			continue;
		}
		snprintf(a, sizeof(a), "100.64.1.%d", flow % 200 + 1);
		snprintf(b, sizeof(b), "100.65.%d.%d", flow / 200, flow % 200 + 1);
		len = mkpkt(pkt, 17, a, b, 5000, (uint16_t)(1024 + flow), (size_t)(r >> 40) % 64);
		if (rx)
			ft_connstats_update_rx_virtual(to, pkt, len);
		else
			ft_connstats_update_tx_virtual(to, pkt, len);
		model_count(&want->v,
			    rx ? mkkey(17, b, (uint16_t)(1024 + flow), a, 5000)
			       : mkkey(17, a, 5000, b, (uint16_t)(1024 + flow)),
			    rx, 1, len);
		/* A shard that handed a window over wakes the loop, which collects. */
		if (who < 3 && all.sh[who].n_held)
			ft_connstats_collect(s);
	}
	ft_connstats_shutdown(s);
	for (int k = 0; k < 3; k++) {
		ft_connstats_get_counters(all.sh[k].s, &cc);
		ck_assert_uint_eq(cc.overflow_packets, 0); /* no shard ran out of windows */
		/* Small shards fill: the case where they hand windows over is covered. */
		if (_i == 1)
			ck_assert_uint_gt(all.sh[k].full_dumps, 0);
		ck_assert_uint_eq(all.sh[k].n_held, 0);
		ft_connstats_close(all.sh[k].s, NULL);
	}
	ft_connstats_get_counters(s, &cc);
	/* The collects kept up: nothing went to overflow counts, every count has its key. */
	ck_assert_uint_eq(cc.overflow_packets, 0);
	ck_assert_int_gt(all.collects, 0);
	model_expect_equal(&want->v, &c->got.v);
	model_expect_equal(&want->p, &c->got.p);
	close_and_check(s, &loop, c);
	free(want);
	free(c);
}
END_TEST

/* A shard has no timer: a period without a loop is refused; closing one needs no loop. */
START_TEST(test_shard_create)
{
	struct collector *c = collector_new();
	struct ft_connstats *sh;
	uint8_t pkt[128];
	size_t len = mkpkt(pkt, 6, "100.64.0.1", "100.64.0.2", 1000, 80, 10);

	errno = 0;
	ck_assert_ptr_null(ft_connstats_create(NULL, 1000, 16, on_dump, c));
	ck_assert_int_eq(errno, EINVAL);
	sh = ft_connstats_create(NULL, 0, 16, on_dump, c);
	ck_assert_ptr_nonnull(sh);
	ck_assert_uint_eq(ft_connstats_max_conns(sh), 16);
	ft_connstats_update_tx_virtual(sh, pkt, len);
	/* No collect callback: collecting is a no-op, the close dumps the last window. */
	ft_connstats_collect(sh);
	ck_assert_int_eq(c->dumps, 0);
	ft_connstats_close(sh, on_closed);
	ck_assert_int_eq(c->dumps, 1);
	ck_assert_int_eq(c->closed, 1);
	ck_assert_uint_eq(c->got.v.n, 1);
	free(c);
}
END_TEST

/*
 * A merge into a window with no room left (its consumer holds every dump): every packet of the
 * connections that found none is counted in overflow_packets and in the overflow counts.
 */
static struct ft_connstats *merge_dst;
static const struct ft_conn_window *held_win[4];
static int n_held_win;

static void on_dump_hold(void *arg, const struct ft_conn_window *win)
{
	(void)arg;
	ft_connstats_hold(merge_dst, win);
	held_win[n_held_win++] = win;
}

static void on_dump_merge(void *arg, const struct ft_conn_window *win)
{
	(void)arg;
	ft_connstats_merge(merge_dst, win);
}

START_TEST(test_merge_overflow)
{
	struct ft_connstats *sh;
	struct ft_connstats_counters cc;
	uint8_t pkt[128];
	uv_loop_t loop;

	ck_assert_int_eq(uv_loop_init(&loop), 0);
	n_held_win = 0;
	/* 4 connections a window, 2 windows: the one filling and one held. */
	merge_dst = ft_connstats_create(&loop, 0, 4, on_dump_hold, NULL);
	ck_assert_ptr_nonnull(merge_dst);
	ck_assert_int_eq(ft_connstats_set_max_windows(merge_dst, 2), 0);
	sh = ft_connstats_create(NULL, 0, 16, on_dump_merge, NULL);
	ck_assert_ptr_nonnull(sh);
	for (int k = 0; k < 10; k++) {
		size_t len =
			mkpkt(pkt, 17, "100.64.0.1", "100.64.0.2", (uint16_t)(1000 + k), 53, 10);

		for (int i = 0; i < 5; i++)
			ft_connstats_update_tx_virtual(sh, pkt, len);
	}
	/* 4 fit, a full dump (held), 4 more fit, no window left: 2 connections overflow. */
	ft_connstats_flush(sh);
	ck_assert_int_eq(n_held_win, 1);
	ft_connstats_get_counters(merge_dst, &cc);
	ck_assert_uint_eq(cc.overflow_packets, 10);
	ft_connstats_release(merge_dst, held_win[0]);
	ft_connstats_shutdown(merge_dst);
	ck_assert_int_eq(n_held_win, 2);
	ck_assert_uint_eq(held_win[1]->nv, 4);
	ck_assert_uint_eq(held_win[1]->overflow_v.tx_packets, 10);
	ft_connstats_release(merge_dst, held_win[1]);
	ft_connstats_close(sh, NULL);
	ft_connstats_close(merge_dst, NULL);
	ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
	ck_assert_int_eq(uv_loop_close(&loop), 0);
}
END_TEST

static Suite *connstats_suite(void)
{
	Suite *s = suite_create("connstats");
	TCase *tc = tcase_create("connstats");

	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_rx_inversion, 0, sizeof(flows) / sizeof(flows[0]));
	tcase_add_test(tc, test_extract_empty);
	tcase_add_test(tc, test_physical);
	tcase_add_test(tc, test_flush_on_interval);
	tcase_add_test(tc, test_flush_on_max_conns);
	tcase_add_loop_test(tc, test_random_feed, 0, sizeof(feeds) / sizeof(feeds[0]));
	tcase_add_test(tc, test_shutdown);
	tcase_add_test(tc, test_close_flushes);
	tcase_add_test(tc, test_garbage_and_fragments);
	tcase_add_test(tc, test_batch_equals_single);
	tcase_add_test(tc, test_create_invalid);
	tcase_add_loop_test(tc, test_shards, 0, 2);
	tcase_add_test(tc, test_shard_create);
	tcase_add_test(tc, test_merge_overflow);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(connstats_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
