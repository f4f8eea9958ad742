// SPDX-License-Identifier: MIT
/*
 * The receive and send paths of the protocol device. Two devices with fixed keys and a
 * deterministic random source share a session (made once, at the first input); each input
 * is one operation:
 *
 *   byte 0 = 0  the rest is a datagram for B, as is (any type, any length)
 *   byte 0 = 1  the same, with bytes 4..7 set to the receiver index of B's current keypair,
 *               so that transport messages reach the AEAD and the replay window
 *   byte 0 = 2  the rest is a packet from A's TUN (ft_proto_send)
 *   byte 0 = 3  the rest is an inner packet, encrypted by A's keypair and received by B, so
 *               that the inner IP parsing and the AllowedIPs source check see it
 *   byte 0 = 4  like 0 and under load (mac2 and the cookie path): B is flooded first with
 *               FT_PROTO_LOAD_INITIATIONS + 1 initiations of a bad mac1, and a second of the
 *               fuzzer's clock passes after the input, so that the next one finds B unloaded
 *
 * with the high bit of byte 0 choosing the transport AEAD for that input (tun/wg/aead.h): clear
 * libsodium, set OpenSSL (when this build has it; otherwise libsodium again). Both must
 * survive the same inputs; the session's keys do not depend on it. Bit 6 set: B receives
 * through the job path the workers use (ft_proto_receive_job, the AEAD, then
 * ft_proto_receive_finish), A sends through ft_proto_send_job.
 *
 * A crash, a sanitizer report or an output longer than its buffer is a failure.
 */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "tun/wg/aead.h"
#include "tun/wg/proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct ft_proto *dev[2];
static struct ft_peer *peer_of[2];
static struct sockaddr_in addr[2];
static uint64_t rng = 0x9e3779b97f4a7c15ULL;
static uint64_t now = 1000000000ULL;
static uint8_t mailbox[2048];
static size_t mailbox_len;
static int mailbox_to = -1;

static void det_random(void *buf, size_t len)
{
	uint8_t *b = buf;

	for (size_t i = 0; i < len; i++) {
		rng ^= rng << 13;
		rng ^= rng >> 7;
		rng ^= rng << 17;
		b[i] = (uint8_t)rng;
	}
}

static void wall(struct timespec *ts)
{
	ts->tv_sec = 1800000000 + (time_t)(now / 1000000000ULL);
	ts->tv_nsec = 0;
}

/* Every datagram either device makes, answers included (tun/wg/proto.h: one way out). */
static void on_send(void *arg, const struct ft_proto_datagram *d)
{
	if (d->len > sizeof(mailbox) || (d->inner_len && d->len < 32 + d->inner_len))
		abort();
	memcpy(mailbox, d->msg, d->len);
	mailbox_len = d->len;
	mailbox_to = arg == &dev[0] ? 1 : 0;
}

/* Delivers the mailbox until quiet: an answer comes back into it through on_send. */
static void pump(void)
{
	uint8_t msg[2048];
	struct ft_proto_result res;

	while (mailbox_to >= 0) {
		int to = mailbox_to;
		size_t len = mailbox_len;

		memcpy(msg, mailbox, len);
		mailbox_to = -1;
		ft_proto_receive(dev[to], msg, len, (struct sockaddr *)&addr[1 - to], now, &res);
	}
}

/* FT_PROTO_LOAD_INITIATIONS + 1 initiations with a bad mac1: B is under load for a second. */
static void load_up(void)
{
	struct ft_proto_result res;

	for (unsigned int i = 0; i <= FT_PROTO_LOAD_INITIATIONS; i++) {
		uint8_t msg[FT_WIRE_INITIATION_LEN] = { FT_WIRE_INITIATION };

		if (ft_proto_receive(dev[1], msg, sizeof(msg), (struct sockaddr *)&addr[0], now,
				     &res) != FT_PROTO_DROP)
			abort();
	}
}

static void setup(void)
{
	uint8_t priv[2][32], pub[2][32];

	if (sodium_init() < 0)
		abort();
	for (int i = 0; i < 2; i++) {
		struct ft_proto_config cfg = { .send = on_send,
					       .send_arg = &dev[i],
					       .mtu = 1420,
					       .wall_clock = wall,
					       .random = det_random };

		memset(priv[i], 0x10 + i, 32);
		priv[i][0] &= 248;
		priv[i][31] = (priv[i][31] & 127) | 64;
		crypto_scalarmult_base(pub[i], priv[i]);
		addr[i].sin_family = AF_INET;
		addr[i].sin_port = htons(51820);
		addr[i].sin_addr.s_addr = htonl(0xc6120001 + (uint32_t)i);
		dev[i] = ft_proto_create(&cfg);
		if (!dev[i] || ft_proto_set_private_key(dev[i], priv[i]))
			abort();
	}
	for (int i = 0; i < 2; i++) {
		struct ft_peer_config pc = { .endpoint = (struct sockaddr *)&addr[1 - i] };
		uint8_t v4[4] = { 100, 64, 0, (uint8_t)(2 - i) };
		uint8_t v6[16] = {
			0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, (uint8_t)(2 - i)
		};

		memcpy(pc.public_key, pub[1 - i], 32);
		if (ft_proto_peer_add(dev[i], &pc, &peer_of[i]) ||
		    ft_proto_allowedip_add(dev[i], peer_of[i], AF_INET, v4, 32) ||
		    ft_proto_allowedip_add(dev[i], peer_of[i], AF_INET6, v6, 128))
			abort();
	}
	ft_proto_peer_initiate(dev[0], peer_of[0], now);
	pump();
}

/* B takes a datagram from A, in one call or through the job path. */
static enum ft_proto_action receive(uint8_t *buf, size_t len, bool jobs,
				    struct ft_proto_result *res)
{
	struct ft_aead_job job;
	enum ft_proto_action act;

	if (!jobs)
		return ft_proto_receive(dev[1], buf, len, (struct sockaddr *)&addr[0], now, res);
	act = ft_proto_receive_job(dev[1], buf, len, (struct sockaddr *)&addr[0], now, res, &job);
	if (act != FT_PROTO_OPEN)
		return act;
	return ft_proto_receive_finish(dev[1], buf, len, (struct sockaddr *)&addr[0], now, res,
				       &job, ft_aead_job_open(&job));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool ready;
	uint8_t buf[2048];
	struct ft_proto_result res;
	const struct ft_keypair *kp;
	size_t len, out_len;
	uint8_t op;
	bool jobs;

	if (!ready) {
		setup();
		ready = true;
	}
	if (size < 1 || size - 1 > 1500)
		return 0;
	op = data[0] & 0x3f;
	jobs = data[0] & 0x40;
	len = size - 1;
	/* Cheap after the first time: OpenSSL's contexts are made once per thread. */
	if (ft_aead_select_split(
		    data[0] & 0x80 && ft_aead_impl_built(FT_AEAD_OPENSSL) ? 0 : SIZE_MAX) < 0)
		abort();
	memset(buf, 0, sizeof(buf));
	switch (op) {
	case 0:
	case 1:
	case 4:
		memcpy(buf, data + 1, len);
		kp = !peer_of[1]->keypairs	     ? NULL
		     : peer_of[1]->keypairs->current ? peer_of[1]->keypairs->current
						     : peer_of[1]->keypairs->next;
		if (op == 1 && len >= 8 && kp)
			ft_wire_store_le32(buf + 4, kp->entry.index);
		if (op == 4)
			load_up();
		receive(buf, len, jobs, &res);
		if (res.action == FT_PROTO_PACKET &&
		    (res.data < buf || res.data + res.len > buf + len))
			abort();
		if (op == 4)
			now += 1000000000ULL;
		break;
	case 2:
		memcpy(buf + FT_PROTO_HEADROOM, data + 1, len);
		/* The message went to on_send (which checked its length against its buffer). */
		if (!jobs) {
			ft_proto_send(dev[0], buf, len, sizeof(buf), now, &res);
		} else {
			struct ft_aead_job job;

			ft_proto_send_job(dev[0], buf, len, sizeof(buf), now, &res, &job);
			if (job.payload)
				ft_aead_job_seal(&job);
		}
		mailbox_to = -1;
		break;
	case 3:
		/* An idle peer holds no keypair set at all (peer.h): nothing to encrypt with. */
		kp = peer_of[0]->keypairs ? peer_of[0]->keypairs->current : NULL;
		if (!kp)
			break;
		memcpy(buf + FT_WIRE_TRANSPORT_HEADER_LEN, data + 1, len);
		if (ft_keypair_encrypt(peer_of[0]->keypairs->current, buf, len, sizeof(buf), 1420,
				       now, &out_len) == 0 &&
		    receive(buf, out_len, jobs, &res) == FT_PROTO_PACKET &&
		    (res.len > ft_wire_padded_len(len, 1420) || res.len < 20))
			/* An inner length may reach into the zero padding, as with any peer. */
			abort();
		break;
	default:
		break;
	}
	/* Time passes a little with every input, so the timers and the cookie secret move. */
	now += 1000000;
	ft_proto_tick(dev[0], now);
	ft_proto_tick(dev[1], now);
	mailbox_to = -1;
	return 0;
}
