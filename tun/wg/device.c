// SPDX-License-Identifier: MIT
/*
 * The protocol device: creation and destruction, the identity, the counters, AllowedIPs.
 * The send path and the timers' actions are in send.c, receive.c takes datagrams in, peer.c
 * adds and removes peers. Every rejection bumps its own counter.
 */
#include "config.h"

#include <assert.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <netinet/in.h>
#include <sodium.h>

#include "tun/wg/allowedips.h"
#include "tun/wg/ratelimit.h"
#include "tun/wg/cookie.h"
#include "tun/wg/key.h"
#include "tun/wg/noise.h"
#include "tun/wg/proto_internal.h"
#include "tun/wg/secmem.h"

static const char *const counter_names[] = {
#define FT_PROTO_NAME(n) #n,
	FT_PROTO_COUNTERS(FT_PROTO_NAME)
#undef FT_PROTO_NAME
};

static const size_t counter_offsets[] = {
#define FT_PROTO_OFFSET(n) offsetof(struct ft_proto_counters, n),
	FT_PROTO_COUNTERS(FT_PROTO_OFFSET)
#undef FT_PROTO_OFFSET
};

/* The counter of each noise/cookie rejection code. */
static const enum ft_proto_reason noise_reasons[FT_NOISE_REJECT_COUNT] = {
	[0] = FT_PROTO_truncated,
	[FT_NOISE_TRUNCATED] = FT_PROTO_truncated,
	[FT_NOISE_BAD_MAC1] = FT_PROTO_bad_mac1,
	[FT_NOISE_BAD_MAC2] = FT_PROTO_bad_mac2,
	[FT_NOISE_DECRYPT_FAILED] = FT_PROTO_decrypt_failed,
	[FT_NOISE_UNKNOWN_PEER] = FT_PROTO_unknown_peer,
	[FT_NOISE_STALE_TIMESTAMP] = FT_PROTO_stale_timestamp,
	[FT_NOISE_FLOOD] = FT_PROTO_handshake_flood,
	[FT_NOISE_WRONG_STATE] = FT_PROTO_wrong_state,
	[FT_NOISE_UNKNOWN_INDEX] = FT_PROTO_unknown_index,
	[FT_NOISE_BAD_KEY] = FT_PROTO_bad_key,
	[FT_NOISE_NO_IDENTITY] = FT_PROTO_no_identity,
};

const char *ft_proto_counter_name(enum ft_proto_reason r)
{
	return (unsigned int)r < FT_PROTO_REASON_COUNT ? counter_names[r] : NULL;
}

uint64_t ft_proto_counter_value(const struct ft_proto_counters *c, enum ft_proto_reason r)
{
	uint64_t v;

	if ((unsigned int)r >= FT_PROTO_REASON_COUNT)
		return 0;
	memcpy(&v, (const char *)c + counter_offsets[r], sizeof(v));
	return v;
}

void ft_proto_count(struct ft_proto *p, enum ft_proto_reason r)
{
	uint64_t v;

	memcpy(&v, (char *)&p->counters + counter_offsets[r], sizeof(v));
	v++;
	memcpy((char *)&p->counters + counter_offsets[r], &v, sizeof(v));
}

enum ft_proto_action ft_proto_drop(struct ft_proto *p, struct ft_proto_result *res,
				   enum ft_proto_reason r)
{
	ft_proto_count(p, r);
	res->action = FT_PROTO_DROP;
	res->reason = r;
	return FT_PROTO_DROP;
}

enum ft_proto_reason ft_proto_noise_reason(int err)
{
	unsigned int code = (unsigned int)(err < 0 ? -err : err);

	return code < FT_NOISE_REJECT_COUNT ? noise_reasons[code] : FT_PROTO_truncated;
}

static void random_bytes(struct ft_proto *p, void *buf, size_t len)
{
	p->cfg.random(buf, len);
}

uint32_t ft_proto_random_index(void *arg)
{
	uint32_t v;

	random_bytes(arg, &v, sizeof(v));
	return v;
}

uint64_t ft_proto_jitter(struct ft_proto *p)
{
	return ft_proto_random_index(p) % FT_REKEY_TIMEOUT_JITTER_MAX_NS;
}

static void default_wall_clock(struct timespec *ts)
{
	clock_gettime(CLOCK_REALTIME, ts);
}

static void default_random(void *buf, size_t len)
{
	randombytes_buf(buf, len);
}

/* ---- configuration ---- */

struct ft_proto *ft_proto_create(const struct ft_proto_config *cfg)
{
	struct ft_proto *p;

	assert(cfg->send);
	p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->cfg = *cfg;
	if (!p->cfg.mtu)
		p->cfg.mtu = FT_PROTO_DEFAULT_MTU;
	p->pad_mtu = p->cfg.mtu;
	if (!p->cfg.wall_clock)
		p->cfg.wall_clock = default_wall_clock;
	if (!p->cfg.random)
		p->cfg.random = default_random;
	p->scratch_len = FT_PROTO_HEADROOM + p->cfg.mtu + FT_PROTO_TAILROOM;
	p->scratch = malloc(p->scratch_len);
	p->index = ft_index_create();
	p->allowedips = ft_allowedips_create();
	p->ratelimit = ft_ratelimit_create(0);
	if (!p->scratch || !p->index || !p->allowedips || !p->ratelimit ||
	    ft_proto_keys_init(p) != 0 || ft_noise_identity_init(&p->id, NULL) != 0)
		goto err;
	p->id.wall_clock = p->cfg.wall_clock;
	p->id.random = p->cfg.random;
	ft_cookie_checker_init(&p->checker, &p->id);
	return p;
err:
	ft_proto_keys_free(p);
	ft_allowedips_destroy(p->allowedips);
	ft_ratelimit_destroy(p->ratelimit);
	ft_index_destroy(p->index);
	free(p->scratch);
	free(p);
	return NULL;
}

void ft_proto_destroy(struct ft_proto *p)
{
	if (!p)
		return;
	ft_proto_peers_remove_all(p);
	ft_cookie_checker_clear(&p->checker);
	ft_noise_identity_clear(&p->id);
	ft_allowedips_destroy(p->allowedips);
	ft_ratelimit_destroy(p->ratelimit);
	ft_index_destroy(p->index);
	ft_proto_keys_free(p);
	ft_timer_heap_free(&p->timer_heap);
	sodium_memzero(p->scratch, p->scratch_len);
	free(p->scratch);
	free(p);
}

void ft_proto_drop_sessions(struct ft_proto *p, struct ft_peer *peer)
{
	if (peer->keypairs) {
		/* Wiped and unhashed first: nothing points into the set when it goes. */
		ft_keypair_set_clear(peer->keypairs, p->index);
		ft_secmem_free(peer->keypairs, sizeof(*peer->keypairs));
		peer->keypairs = NULL;
	}
	ft_index_remove(p->index, &peer->hs_entry);
	ft_noise_handshake_clear(peer->hs);
}

/* Whether key (NULL: none) is the identity's own, compared in constant time, both clamped. */
static bool same_private_key(const struct ft_noise_identity *id, const uint8_t key[FT_WIRE_KEY_LEN])
{
	uint8_t k[FT_WIRE_KEY_LEN];
	bool same;

	if (!key || !id->private_key)
		return !key && !id->private_key;
	memcpy(k, key, sizeof(k));
	ft_key_clamp(k);
	same = sodium_memcmp(k, id->private_key, sizeof(k)) == 0;
	sodium_memzero(k, sizeof(k));
	return same;
}

int ft_proto_set_private_key(struct ft_proto *p, const uint8_t key[FT_WIRE_KEY_LEN])
{
	int err;

	/*
	 * wg syncconf and setconf send the key every time: the key we have already changes
	 * nothing, and the sessions stay (the kernel and wireguard-go skip it too).
	 */
	if (same_private_key(&p->id, key))
		return 0;
	err = ft_noise_identity_set_private(&p->id, key);
	if (err)
		return err;
	for (struct ft_peer *peer = p->first; peer; peer = peer->next) {
		ft_noise_handshake_reset_static(peer->hs);
		ft_proto_drop_sessions(p, peer);
	}
	return 0;
}

bool ft_proto_public_key(const struct ft_proto *p, uint8_t out[FT_WIRE_KEY_LEN])
{
	if (!p->id.private_key)
		return false;
	memcpy(out, p->id.public_key, FT_WIRE_KEY_LEN);
	return true;
}

int ft_proto_allowedip_add(struct ft_proto *p, struct ft_peer *peer, int family,
			   const uint8_t *addr, uint8_t cidr)
{
	return ft_allowedips_insert(p->allowedips, family, addr, cidr, peer);
}

int ft_proto_allowedip_remove(struct ft_proto *p, int family, const uint8_t *addr, uint8_t cidr)
{
	return ft_allowedips_remove(p->allowedips, family, addr, cidr);
}

const struct ft_allowedips *ft_proto_allowedips(const struct ft_proto *p)
{
	return p->allowedips;
}

void ft_proto_set_mtu(struct ft_proto *p, size_t mtu)
{
	p->pad_mtu = mtu ? mtu : p->cfg.mtu;
}

const struct ft_proto_counters *ft_proto_counters(const struct ft_proto *p)
{
	return &p->counters;
}
