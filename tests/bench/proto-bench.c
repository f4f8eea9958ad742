// SPDX-License-Identifier: MIT
/*
 * proto-bench: the cost of the protocol code against its raw parts, measured in one run.
 *   0. the transport AEAD through each implementation (tun/wg/aead.h: libsodium, OpenSSL) at
 *      64 to 1420 bytes, seal and open in place, and what Crypto = auto would choose here;
 *   1. encrypt + decrypt of 1420- and 64-byte packets: bare libsodium AEAD in place, the
 *      keypair transport (header, padding, replay window), and the whole device
 *      (ft_proto_send + ft_proto_receive: AllowedIPs both ways, index lookup, timers), with
 *      each AEAD implementation;
 *   2. complete handshakes per second through two devices;
 *   3. replay-window checks per second, in order and reordered;
 *   4. AllowedIPs lookups per second with 10,000 random prefixes.
 * It prints numbers and asserts nothing. Usage: proto-bench [scale], scale 1 by default. Times
 * are the thread's CPU time, so a busy machine inflates them less than it would wall time.
 */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "tun/wg/aead.h"
#include "tun/wg/allowedips.h"
#include "tun/wg/key.h"
#include "tun/wg/keypair.h"
#include "tun/wg/proto.h"
#include "tun/wg/ratelimit.h"
#include "tun/wg/replay.h"

static double scale = 1.0;
static volatile uint64_t sink;

/*
 * The thread's CPU time, not the wall clock: on a machine shared with other work the time this
 * thread waits for a CPU is not counted (cache and frequency effects of the others still are).
 */
static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static unsigned long iters(unsigned long n)
{
	unsigned long v = (unsigned long)((double)n * scale);

	return v ? v : 1;
}

/* ---- 0. the AEAD implementations ---- */

/*
 * ns per packet of len bytes in place through impl: seal only, or seal + open (a timer call
 * per packet would cost as much as a small packet, so open is the difference); -1 if it failed.
 */
static double aead_with(enum ft_aead_impl impl, size_t len, unsigned long n, bool open)
{
	uint8_t key[32], nonce[12] = { 0 }, tag[16], buf[2048];
	uint64_t t0;

	randombytes_buf(key, sizeof(key));
	memset(buf, 0x5a, len);
	t0 = mono_ns();
	for (unsigned long i = 0; i < n; i++) {
		memcpy(nonce + 4, &i, sizeof(i));
		if (ft_aead_encrypt_with(impl, buf, len, tag, NULL, 0, nonce, key) != 0 ||
		    (open && ft_aead_decrypt_with(impl, buf, len, tag, NULL, 0, nonce, key) != 0))
			return -1;
	}
	return (double)(mono_ns() - t0) / (double)n;
}

static void bench_aead(void)
{
	static const size_t sizes[] = { 64, 128, 256, 512, 1024, 1420 };
	static const enum ft_aead_impl impl[2] = { FT_AEAD_LIBSODIUM, FT_AEAD_OPENSSL };
	bool have_openssl = ft_aead_impl_built(FT_AEAD_OPENSSL);
	struct ft_aead_choice c;
	char what[96];

	printf("AEAD ChaCha20-Poly1305 in place, one core, ns per packet (best of 5 rounds, "
	       "interleaved; open = seal+open - seal); GB/s = 2 x bytes / ns of seal + open\n");
	printf("  %s: libsodium %s%s%s\n", have_openssl ? "implementations" : "implementation",
	       sodium_version_string(), have_openssl ? ", " : " (no OpenSSL in this build)",
	       ft_aead_openssl_version());
	printf("  %6s  %11s %10s %7s  %10s %10s %7s  %s\n", "bytes", "sodium seal", "open", "GB/s",
	       "ossl seal", "open", "GB/s", "openssl/libsodium time");
	for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		size_t len = sizes[s];
		unsigned long n = iters(len > 500 ? 50000 : 200000);
		double best[2][2] = { { 1e30, 1e30 }, { 1e30, 1e30 } };

		for (int r = 0; r < 5; r++)
			for (int i = 0; i < (have_openssl ? 2 : 1); i++)
				for (int o = 0; o < 2; o++) {
					double x = aead_with(impl[i], len, n, o);

					if (x >= 0 && x < best[i][o])
						best[i][o] = x;
				}
		/* best[i][1] is seal + open: print open alone. */
		printf("  %6zu  %11.1f %10.1f %7.2f", len, best[0][0], best[0][1] - best[0][0],
		       2.0 * (double)len / best[0][1]);
		if (have_openssl)
			printf("  %10.1f %10.1f %7.2f  %.2f\n", best[1][0], best[1][1] - best[1][0],
			       2.0 * (double)len / best[1][1], best[1][1] / best[0][1]);
		else
			printf("\n");
	}
	ft_aead_select(FT_AEAD_AUTO, &c);
	ft_aead_describe(what, sizeof(what));
	printf("  Crypto = auto would use here: %s\n", what);
}

/* ---- 1. transport ---- */

static double bare_aead(size_t len, unsigned long n)
{
	uint8_t key[32], nonce[12] = { 0 }, tag[16], buf[2048];
	uint64_t t0;

	randombytes_buf(key, sizeof(key));
	memset(buf, 0x5a, len);
	t0 = mono_ns();
	for (unsigned long i = 0; i < n; i++) {
		memcpy(nonce + 4, &i, sizeof(i));
		crypto_aead_chacha20poly1305_ietf_encrypt_detached(buf, tag, NULL, buf, len, NULL,
								   0, NULL, nonce, key);
		if (crypto_aead_chacha20poly1305_ietf_decrypt_detached(buf, NULL, buf, len, tag,
								       NULL, 0, nonce, key) != 0)
			abort();
	}
	return (double)(mono_ns() - t0) / (double)n;
}

static uint32_t index_random(void *arg)
{
	(void)arg;
	return randombytes_random();
}

static double keypair_transport(size_t len, unsigned long n)
{
	struct ft_index_table *t = ft_index_create();
	struct ft_keypair_set *a = sodium_malloc(sizeof(*a)), *b = sodium_malloc(sizeof(*b));
	struct ft_index_entry ha = { .kind = FT_INDEX_HANDSHAKE }, hb = ha;
	uint8_t k1[32], k2[32], buf[2048];
	size_t out_len, plain_len;
	uint64_t t0;
	double ns;

	randombytes_buf(k1, sizeof(k1));
	randombytes_buf(k2, sizeof(k2));
	ft_keypair_set_init(a);
	ft_keypair_set_init(b);
	ft_index_insert(t, &ha, index_random, NULL);
	ft_index_insert(t, &hb, index_random, NULL);
	ft_keypair_set_install(a, t, &ha, NULL, k1, k2, 1, true, 0);
	ft_keypair_set_install(b, t, &hb, NULL, k2, k1, 2, false, 0);
	memset(buf + 16, 0x5a, len);
	t0 = mono_ns();
	for (unsigned long i = 0; i < n; i++) {
		if (ft_keypair_encrypt(a->current, buf, len, sizeof(buf), 1420, 1, &out_len) ||
		    ft_keypair_decrypt(b->next, buf, out_len, 1, &plain_len))
			abort();
	}
	ns = (double)(mono_ns() - t0) / (double)n;
	ft_keypair_set_clear(a, t);
	ft_keypair_set_clear(b, t);
	sodium_free(a);
	sodium_free(b);
	ft_index_destroy(t);
	return ns;
}

/* Two devices wired back to back through a one-slot mailbox. */
struct dev {
	struct ft_proto *p;
	struct ft_peer *peer;
	struct sockaddr_in addr;
	uint8_t priv[32], pub[32];
};

static struct dev D[2];
static uint8_t box[2048];
static size_t box_len;
static int box_to = -1;
static uint64_t fake_now;
/* The length of the last data message ft_proto_send encrypted in place. */
static size_t sent_in_place;

static void box_send(void *arg, const struct ft_proto_datagram *dg)
{
	struct dev *d = arg;

	/* The caller's own buffer: left where it is, as the worker queues it without a copy. */
	if (dg->in_place) {
		sent_in_place = dg->len;
		return;
	}
	memcpy(box, dg->msg, dg->len);
	box_len = dg->len;
	box_to = d == &D[0] ? 1 : 0;
}

static void fake_wall(struct timespec *ts)
{
	ts->tv_sec = 1800000000 + (time_t)(fake_now / 1000000000ULL);
	ts->tv_nsec = (long)(fake_now % 1000000000ULL);
}

/* Delivers the mailbox until quiet: a reply comes back into it through the callback. */
static void pump(void)
{
	uint8_t msg[2048];
	struct ft_proto_result res;

	while (box_to >= 0) {
		int to = box_to;
		size_t len = box_len;

		memcpy(msg, box, len);
		box_to = -1;
		ft_proto_receive(D[to].p, msg, len, (struct sockaddr *)&D[1 - to].addr, fake_now,
				 &res);
	}
}

static void devices_up(void)
{
	for (int i = 0; i < 2; i++) {
		struct ft_proto_config cfg = {
			.send = box_send, .send_arg = &D[i], .mtu = 1420, .wall_clock = fake_wall
		};

		D[i].addr.sin_family = AF_INET;
		D[i].addr.sin_port = htons(51820);
		D[i].addr.sin_addr.s_addr = htonl(0xc6120001 + (uint32_t)i);
		ft_key_generate_private(D[i].priv);
		ft_key_public(D[i].pub, D[i].priv);
		D[i].p = ft_proto_create(&cfg);
		ft_proto_set_private_key(D[i].p, D[i].priv);
	}
	for (int i = 0; i < 2; i++) {
		struct ft_peer_config pc = { .endpoint = (struct sockaddr *)&D[1 - i].addr };
		uint8_t ip[4] = { 100, 64, 0, (uint8_t)(2 - i) };

		memcpy(pc.public_key, D[1 - i].pub, 32);
		ft_proto_peer_add(D[i].p, &pc, &D[i].peer);
		ft_proto_allowedip_add(D[i].p, D[i].peer, AF_INET, ip, 32);
	}
	fake_now = 1000000000ULL;
	ft_proto_peer_initiate(D[0].p, D[0].peer, fake_now);
	pump();
}

static void devices_down(void)
{
	ft_proto_destroy(D[0].p);
	ft_proto_destroy(D[1].p);
}

static double device_transport(size_t len, unsigned long n)
{
	uint8_t buf[2048];
	uint8_t *ip = buf + FT_PROTO_HEADROOM;
	struct ft_proto_result res, rres;
	uint64_t t0;

	t0 = mono_ns();
	for (unsigned long i = 0; i < n; i++) {
		memset(ip, 0, 20);
		ip[0] = 0x45;
		ip[2] = (uint8_t)(len >> 8);
		ip[3] = (uint8_t)len;
		memcpy(ip + 12, (uint8_t[]){ 100, 64, 0, 1 }, 4);
		memcpy(ip + 16, (uint8_t[]){ 100, 64, 0, 2 }, 4);
		if (ft_proto_send(D[0].p, buf, len, sizeof(buf), fake_now, &res) != FT_PROTO_SENT ||
		    ft_proto_receive(D[1].p, buf, sent_in_place, (struct sockaddr *)&D[0].addr,
				     fake_now, &rres) != FT_PROTO_PACKET)
			abort();
	}
	return (double)(mono_ns() - t0) / (double)n;
}

static void bench_transport(void)
{
	static const size_t sizes[] = { 1420, 64 };

	static const char *const names[2] = { "libsodium", "openssl" };

	printf("transport: encrypt + decrypt in place, ns per packet (best of 3); the keypair\n"
	       "and device columns with each AEAD implementation, against bare libsodium\n");
	devices_up();
	for (size_t s = 0; s < 2; s++) {
		size_t len = sizes[s];
		unsigned long n = iters(len > 1000 ? 100000 : 500000);

		for (int i = 0; i < 2; i++) {
			double bare = 1e30, kp = 1e30, dev = 1e30;

			/* The whole process uses one implementation at a time: switch it. */
			if (ft_aead_select_split(i ? 0 : SIZE_MAX) < 0)
				continue;
			for (int r = 0; r < 3; r++) {
				double x = bare_aead(len, n), y = keypair_transport(len, n),
				       z = device_transport(len, n);

				bare = x < bare ? x : bare;
				kp = y < kp ? y : kp;
				dev = z < dev ? z : dev;
			}
			printf("  %4zu B, %-9s: libsodium AEAD %8.1f ns  keypair %8.1f ns "
			       "(%+.1f %%)  device %8.1f ns (%+.1f %%)  %.2f Gbit/s through the "
			       "device\n",
			       len, names[i], bare, kp, (kp / bare - 1) * 100, dev,
			       (dev / bare - 1) * 100, (double)len * 8 / dev);
		}
	}
	ft_aead_select_split(SIZE_MAX);
	devices_down();
}

/* ---- 2. handshakes ---- */

static void bench_handshakes(void)
{
	unsigned long n = iters(2000);
	uint64_t t0;
	double ns;

	devices_up();
	t0 = mono_ns();
	for (unsigned long i = 0; i < n; i++) {
		/* Past REKEY_TIMEOUT each time, so neither rate limit applies. */
		fake_now += 6000000000ULL;
		ft_proto_peer_initiate(D[0].p, D[0].peer, fake_now);
		pump();
	}
	ns = (double)(mono_ns() - t0) / (double)n;
	printf("handshakes: %.0f complete handshakes/s (initiation + response + keepalive, "
	       "both sides; %.1f us each; %llu completed)\n",
	       1e9 / ns, ns / 1000,
	       (unsigned long long)ft_proto_counters(D[1].p)->handshake_completed);
	devices_down();
}

/* ---- 3. replay window ---- */

static void bench_replay(void)
{
	struct ft_replay r;
	unsigned long n = iters(20000000);
	uint64_t t0, ok = 0;
	double ns_seq, ns_reorder;

	ft_replay_init(&r);
	t0 = mono_ns();
	for (unsigned long i = 0; i < n; i++)
		ok += ft_replay_check(&r, i, FT_REJECT_AFTER_MESSAGES);
	ns_seq = (double)(mono_ns() - t0) / (double)n;
	ft_replay_init(&r);
	t0 = mono_ns();
	/* Pairs swapped and every 64th counter 3000 late: a reordering batch path. */
	for (unsigned long i = 0; i < n; i++) {
		uint64_t c = i ^ 1;

		if ((i & 63) == 0 && i > 3000)
			c = i - 3000;
		ok += ft_replay_check(&r, c, FT_REJECT_AFTER_MESSAGES);
	}
	ns_reorder = (double)(mono_ns() - t0) / (double)n;
	sink = ok;
	printf("replay window: %.1f M checks/s in order, %.1f M checks/s reordered\n", 1e3 / ns_seq,
	       1e3 / ns_reorder);
}

/* ---- 3b. handshake rate limiter ---- */

/*
 * ft_ratelimit_allow() as a device under load calls it once per handshake message with a
 * valid mac2: one source hammering (a lookup that finds its entry), and 60,000 sources in
 * turn (a table nearly full, each lookup a different chain).
 */
static void bench_ratelimit(void)
{
	struct ft_ratelimit *rl = ft_ratelimit_create(0);
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(51820) };
	unsigned long n = iters(5000000);
	uint64_t t0, ok = 0, t = 1000000000ULL;
	double ns_one, ns_many;

	if (!rl)
		return;
	sin.sin_addr.s_addr = htonl(0xc6120001);
	t0 = mono_ns();
	for (unsigned long i = 0; i < n; i++)
		ok += ft_ratelimit_allow(rl, (struct sockaddr *)&sin, t + i);
	ns_one = (double)(mono_ns() - t0) / (double)n;
	t0 = mono_ns();
	for (unsigned long i = 0; i < n; i++) {
		sin.sin_addr.s_addr = htonl(0xc6130000u + (uint32_t)(i % 60000));
		ok += ft_ratelimit_allow(rl, (struct sockaddr *)&sin, t + i);
	}
	ns_many = (double)(mono_ns() - t0) / (double)n;
	sink = ok;
	printf("handshake rate limiter: %.1f ns per message from one source, %.1f ns from 60,000 "
	       "sources (%zu tracked)\n",
	       ns_one, ns_many, ft_ratelimit_count(rl));
	ft_ratelimit_destroy(rl);
}

/* ---- 4. AllowedIPs ---- */

static void bench_allowedips(void)
{
	enum { PREFIXES = 10000, ADDRS = 1 << 16 };
	struct ft_allowedips *t = ft_allowedips_create();
	static uint8_t addrs4[ADDRS][4], addrs6[ADDRS][16];
	/* The trie never dereferences its peers: 16 distinct addresses will do. */
	static char tokens[16];
	struct ft_peer *peers = (struct ft_peer *)(void *)tokens;
	unsigned long n = iters(5000000);
	uint64_t t0, hits = 0;
	double ns4, ns6;
	unsigned int seed = 7;

	for (int i = 0; i < PREFIXES; i++) {
		uint8_t a4[4], a6[16];

		for (int j = 0; j < 4; j++)
			a4[j] = (uint8_t)rand_r(&seed);
		for (int j = 0; j < 16; j++)
			a6[j] = (uint8_t)rand_r(&seed);
		a6[0] = 0xfd;
		ft_allowedips_insert(t, AF_INET, a4, (uint8_t)(8 + rand_r(&seed) % 25),
				     (struct ft_peer *)((char *)peers + i % 16));
		ft_allowedips_insert(t, AF_INET6, a6, (uint8_t)(16 + rand_r(&seed) % 113),
				     (struct ft_peer *)((char *)peers + i % 16));
	}
	for (int i = 0; i < ADDRS; i++) {
		for (int j = 0; j < 4; j++)
			addrs4[i][j] = (uint8_t)rand_r(&seed);
		for (int j = 0; j < 16; j++)
			addrs6[i][j] = (uint8_t)rand_r(&seed);
		addrs6[i][0] = 0xfd;
	}
	t0 = mono_ns();
	for (unsigned long i = 0; i < n; i++)
		hits += ft_allowedips_lookup(t, AF_INET, addrs4[i & (ADDRS - 1)]) != NULL;
	ns4 = (double)(mono_ns() - t0) / (double)n;
	t0 = mono_ns();
	for (unsigned long i = 0; i < n; i++)
		hits += ft_allowedips_lookup(t, AF_INET6, addrs6[i & (ADDRS - 1)]) != NULL;
	ns6 = (double)(mono_ns() - t0) / (double)n;
	sink = hits;
	printf("allowedips: %d random prefixes per family (%zu in the table): IPv4 %.1f M "
	       "lookups/s, IPv6 %.1f M lookups/s\n",
	       PREFIXES, ft_allowedips_count(t), 1e3 / ns4, 1e3 / ns6);
	ft_allowedips_destroy(t);
}

int main(int argc, char **argv)
{
	if (sodium_init() < 0)
		return 1;
	if (argc > 1)
		scale = atof(argv[1]);
	if (scale <= 0)
		scale = 1;
	bench_aead();
	bench_transport();
	bench_handshakes();
	bench_replay();
	bench_ratelimit();
	bench_allowedips();
	ft_aead_thread_cleanup();
	return 0;
}
