// SPDX-License-Identifier: MIT
/*
 * The WireGuard handshake, Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s, following the message
 * formulas of the paper's section 5.4 step by step (the comments quote them: Ci/Hi are the
 * chaining key and hash, "i" the initiator and "r" the responder).
 *
 * Every consume function works on local copies of the handshake state and commits them to
 * the handshake only once every check has passed, so that a forged or replayed message
 * cannot disturb a handshake in flight. Every local holding a secret is wiped on the one
 * exit path of its function.
 */
#include "config.h"

#include <assert.h>
#include <errno.h>
#include <stdalign.h>
#include <string.h>

#include <sodium.h>

#include "tun/wg/crypto.h"
#include "tun/wg/noise.h"
#include "tun/wg/secmem.h"

/*
 * C0 = HASH(Construction) and H0 = HASH(C0 || Identifier), constants of the protocol.
 * check_noise verifies them against ft_crypto_hash() and against values computed with
 * Python's hashlib.
 */
static const uint8_t initial_chaining_key[FT_WIRE_KEY_LEN] = {
	0x60, 0xe2, 0x6d, 0xae, 0xf3, 0x27, 0xef, 0xc0, 0x2e, 0xc3, 0x35,
	0xe2, 0xa0, 0x25, 0xd2, 0xd0, 0x16, 0xeb, 0x42, 0x06, 0xf8, 0x72,
	0x77, 0xf5, 0x2d, 0x38, 0xd1, 0x98, 0x8b, 0x78, 0xcd, 0x36,
};
static const uint8_t initial_hash[FT_WIRE_KEY_LEN] = {
	0x22, 0x11, 0xb3, 0x61, 0x08, 0x1a, 0xc5, 0x66, 0x69, 0x12, 0x43,
	0xdb, 0x45, 0x8a, 0xd5, 0x32, 0x2d, 0x9c, 0x6c, 0x66, 0x22, 0x93,
	0xe8, 0xb7, 0x0e, 0xe1, 0x9c, 0x65, 0xba, 0x07, 0x9e, 0xf3,
};

static const char *const reject_names[FT_NOISE_REJECT_COUNT] = {
	[FT_NOISE_TRUNCATED] = "truncated",	    [FT_NOISE_BAD_MAC1] = "bad_mac1",
	[FT_NOISE_BAD_MAC2] = "bad_mac2",	    [FT_NOISE_DECRYPT_FAILED] = "decrypt_failed",
	[FT_NOISE_UNKNOWN_PEER] = "unknown_peer",   [FT_NOISE_STALE_TIMESTAMP] = "stale_timestamp",
	[FT_NOISE_FLOOD] = "handshake_flood",	    [FT_NOISE_WRONG_STATE] = "wrong_state",
	[FT_NOISE_UNKNOWN_INDEX] = "unknown_index", [FT_NOISE_BAD_KEY] = "bad_key",
	[FT_NOISE_NO_IDENTITY] = "no_identity",
};

const char *ft_noise_reject_name(int err)
{
	if (err < 0)
		err = -err;
	if (err <= 0 || err >= FT_NOISE_REJECT_COUNT || !reject_names[err])
		return "unknown";
	return reject_names[err];
}

static void default_wall_clock(struct timespec *ts)
{
	clock_gettime(CLOCK_REALTIME, ts);
}

static void default_random(void *buf, size_t len)
{
	randombytes_buf(buf, len);
}

/* HASH(label || key), the mac1 and cookie keys of a public key. */
static void labelled_key(uint8_t out[FT_WIRE_KEY_LEN], const char *label,
			 const uint8_t pub[FT_WIRE_KEY_LEN])
{
	ft_crypto_hash2(out, label, strlen(label), pub, FT_WIRE_KEY_LEN);
}

int ft_noise_identity_init(struct ft_noise_identity *id, const uint8_t *private_key)
{
	memset(id, 0, sizeof(*id));
	id->wall_clock = default_wall_clock;
	id->random = default_random;
	return ft_noise_identity_set_private(id, private_key);
}

int ft_noise_identity_set_private(struct ft_noise_identity *id, const uint8_t *private_key)
{
	uint8_t pub[FT_WIRE_KEY_LEN] = { 0 };

	if (private_key) {
		if (!id->private_key) {
			id->private_key = sodium_malloc(FT_WIRE_KEY_LEN);
			if (!id->private_key)
				return -ENOMEM;
		}
		memcpy(id->private_key, private_key, FT_WIRE_KEY_LEN);
		id->private_key[0] &= 248;
		id->private_key[31] = (id->private_key[31] & 127) | 64;
		if (ft_crypto_dh_public(pub, id->private_key) != 0) {
			sodium_free(id->private_key);
			id->private_key = NULL;
			memset(pub, 0, sizeof(pub));
		}
	} else if (id->private_key) {
		sodium_free(id->private_key); /* wipes before freeing */
		id->private_key = NULL;
	}
	memcpy(id->public_key, pub, FT_WIRE_KEY_LEN);
	labelled_key(id->mac1_key, FT_WIRE_LABEL_MAC1, id->public_key);
	labelled_key(id->cookie_key, FT_WIRE_LABEL_COOKIE, id->public_key);
	return private_key && !id->private_key ? -EINVAL : 0;
}

void ft_noise_identity_clear(struct ft_noise_identity *id)
{
	sodium_free(id->private_key);
	sodium_memzero(id, sizeof(*id));
}

/* Secret-arena slots are 64-byte aligned (secmem.h); the handshake must fit one. */
_Static_assert(alignof(struct ft_handshake) <= 64, "handshake alignment above the arena's");
_Static_assert(sizeof(struct ft_handshake) <= FT_SECMEM_MAX_SLOT, "handshake above a slot");

struct ft_handshake *ft_noise_handshake_create(const struct ft_noise_identity *id,
					       const uint8_t remote_static[FT_WIRE_KEY_LEN],
					       const uint8_t *psk, void *owner)
{
	struct ft_handshake *hs = ft_secmem_alloc(sizeof(*hs));

	if (!hs)
		return NULL;
	memset(hs, 0, sizeof(*hs));
	hs->id = id;
	hs->owner = owner;
	memcpy(hs->remote_static, remote_static, FT_WIRE_KEY_LEN);
	ft_noise_handshake_set_psk(hs, psk);
	return hs;
}

void ft_noise_handshake_destroy(struct ft_handshake *hs)
{
	/* ft_secmem_free wipes the whole slot; NULL is a no-op. */
	ft_secmem_free(hs, sizeof(*hs));
}

void ft_noise_handshake_set_psk(struct ft_handshake *hs, const uint8_t *psk)
{
	if (psk)
		memcpy(hs->psk, psk, FT_WIRE_KEY_LEN);
	else
		sodium_memzero(hs->psk, FT_WIRE_KEY_LEN);
}

void ft_noise_handshake_reset_static(struct ft_handshake *hs)
{
	ft_noise_handshake_clear(hs);
	sodium_memzero(hs->precomputed_ss, FT_WIRE_KEY_LEN);
	hs->ss_known = false;
	hs->ss_valid = false;
}

bool ft_noise_handshake_static_ok(struct ft_handshake *hs)
{
	if (!hs->ss_known) {
		/* Without an identity there is nothing to remember: a key set later computes it. */
		if (!hs->id->private_key)
			return false;
		hs->ss_valid = ft_crypto_dh(hs->precomputed_ss, hs->id->private_key,
					    hs->remote_static) == 0;
		if (!hs->ss_valid)
			sodium_memzero(hs->precomputed_ss, FT_WIRE_KEY_LEN);
		hs->ss_known = true;
	}
	return hs->ss_valid;
}

void ft_noise_handshake_clear(struct ft_handshake *hs)
{
	sodium_memzero(hs->ephemeral_private, FT_WIRE_KEY_LEN);
	sodium_memzero(hs->remote_ephemeral, FT_WIRE_KEY_LEN);
	sodium_memzero(hs->chaining_key, FT_WIRE_KEY_LEN);
	sodium_memzero(hs->hash, FT_WIRE_KEY_LEN);
	hs->local_index = 0;
	hs->remote_index = 0;
	hs->state = FT_HANDSHAKE_ZEROED;
}

/* h = HASH(h || data) */
static void mix_hash(uint8_t h[FT_WIRE_KEY_LEN], const uint8_t *data, size_t len)
{
	ft_crypto_hash2(h, h, FT_WIRE_KEY_LEN, data, len);
}

/* (ck, key) = KDF2(ck, dh); key may be NULL for ck = KDF1(ck, dh). */
static void mix_key(uint8_t ck[FT_WIRE_KEY_LEN], uint8_t *key, const uint8_t *in, size_t len)
{
	ft_crypto_kdf(ck, key, NULL, ck, in, len);
}

/* (ck, key) = KDF2(ck, DH(priv, pub)); -FT_NOISE_BAD_KEY on an all-zero DH. */
static int mix_dh(uint8_t ck[FT_WIRE_KEY_LEN], uint8_t *key, const uint8_t priv[FT_WIRE_KEY_LEN],
		  const uint8_t pub[FT_WIRE_KEY_LEN])
{
	uint8_t dh[FT_WIRE_KEY_LEN];
	int err = 0;

	if (ft_crypto_dh(dh, priv, pub) != 0)
		err = -FT_NOISE_BAD_KEY;
	else
		mix_key(ck, key, dh, sizeof(dh));
	sodium_memzero(dh, sizeof(dh));
	return err;
}

/* ck = C0, h = HASH(H0 || responder's static public key) */
static void handshake_start(uint8_t ck[FT_WIRE_KEY_LEN], uint8_t h[FT_WIRE_KEY_LEN],
			    const uint8_t responder_static[FT_WIRE_KEY_LEN])
{
	memcpy(ck, initial_chaining_key, FT_WIRE_KEY_LEN);
	ft_crypto_hash2(h, initial_hash, FT_WIRE_KEY_LEN, responder_static, FT_WIRE_KEY_LEN);
}

/* msg.field = AEAD(key, 0, plain, h); h = HASH(h || msg.field) */
static void encrypt_and_hash(uint8_t *dst, const uint8_t *plain, size_t len,
			     const uint8_t key[FT_WIRE_KEY_LEN], uint8_t h[FT_WIRE_KEY_LEN])
{
	ft_crypto_aead_encrypt(dst, plain, len, h, FT_WIRE_KEY_LEN, 0, key);
	mix_hash(h, dst, len + FT_WIRE_TAG_LEN);
}

/* plain = AEAD-open(key, 0, msg.field, h); h = HASH(h || msg.field) */
static int decrypt_and_hash(uint8_t *plain, const uint8_t *src, size_t len,
			    const uint8_t key[FT_WIRE_KEY_LEN], uint8_t h[FT_WIRE_KEY_LEN])
{
	if (ft_crypto_aead_decrypt(plain, src, len + FT_WIRE_TAG_LEN, h, FT_WIRE_KEY_LEN, 0, key) !=
	    0)
		return -FT_NOISE_DECRYPT_FAILED;
	mix_hash(h, src, len + FT_WIRE_TAG_LEN);
	return 0;
}

static bool msg_header_ok(const uint8_t *msg, size_t len, enum ft_wire_type type)
{
	size_t want = type == FT_WIRE_INITIATION ? FT_WIRE_INITIATION_LEN : FT_WIRE_RESPONSE_LEN;

	return len == want && ft_wire_message_type(msg, len) == (int)type;
}

int ft_noise_create_initiation(struct ft_handshake *hs, uint8_t msg[FT_WIRE_INITIATION_LEN],
			       uint32_t local_index)
{
	const struct ft_noise_identity *id = hs->id;
	uint8_t key[FT_WIRE_KEY_LEN], ck[FT_WIRE_KEY_LEN], h[FT_WIRE_KEY_LEN];
	uint8_t eph_priv[FT_WIRE_KEY_LEN], timestamp[FT_WIRE_TIMESTAMP_LEN];
	struct timespec wall;
	int err;

	memset(msg, 0, FT_WIRE_INITIATION_LEN);
	/* A restart abandons whatever was in flight, even when this one fails. */
	ft_noise_handshake_clear(hs);
	if (!id->private_key)
		return -FT_NOISE_NO_IDENTITY;
	if (!ft_noise_handshake_static_ok(hs))
		return -FT_NOISE_BAD_KEY;

	msg[FT_WIRE_OFF_TYPE] = FT_WIRE_INITIATION;
	ft_wire_store_le32(msg + FT_WIRE_INIT_OFF_SENDER, local_index);

	/* Ci = HASH(Construction); Hi = HASH(HASH(Ci || Identifier) || Spub_r) */
	handshake_start(ck, h, hs->remote_static);

	/* (Epriv_i, Epub_i) = DH-Generate(); msg.ephemeral = Epub_i */
	ft_crypto_dh_generate(eph_priv, msg + FT_WIRE_INIT_OFF_EPHEMERAL, id->random);
	/* Ci = KDF1(Ci, Epub_i); Hi = HASH(Hi || msg.ephemeral) */
	mix_key(ck, NULL, msg + FT_WIRE_INIT_OFF_EPHEMERAL, FT_WIRE_KEY_LEN);
	mix_hash(h, msg + FT_WIRE_INIT_OFF_EPHEMERAL, FT_WIRE_KEY_LEN);

	/* (Ci, k) = KDF2(Ci, DH(Epriv_i, Spub_r)); msg.static = AEAD(k, 0, Spub_i, Hi) */
	err = mix_dh(ck, key, eph_priv, hs->remote_static);
	if (err)
		goto out;
	encrypt_and_hash(msg + FT_WIRE_INIT_OFF_STATIC, id->public_key, FT_WIRE_KEY_LEN, key, h);

	/* (Ci, k) = KDF2(Ci, DH(Spriv_i, Spub_r)); msg.timestamp = AEAD(k, 0, TAI64N(), Hi) */
	mix_key(ck, key, hs->precomputed_ss, FT_WIRE_KEY_LEN);
	id->wall_clock(&wall);
	ft_crypto_tai64n(timestamp, &wall);
	encrypt_and_hash(msg + FT_WIRE_INIT_OFF_TIMESTAMP, timestamp, FT_WIRE_TIMESTAMP_LEN, key,
			 h);

	memcpy(hs->ephemeral_private, eph_priv, FT_WIRE_KEY_LEN);
	memcpy(hs->chaining_key, ck, FT_WIRE_KEY_LEN);
	memcpy(hs->hash, h, FT_WIRE_KEY_LEN);
	hs->local_index = local_index;
	hs->state = FT_HANDSHAKE_CREATED_INITIATION;
out:
	if (err)
		memset(msg, 0, FT_WIRE_INITIATION_LEN);
	sodium_memzero(key, sizeof(key));
	sodium_memzero(ck, sizeof(ck));
	sodium_memzero(h, sizeof(h));
	sodium_memzero(eph_priv, sizeof(eph_priv));
	return err;
}

int ft_noise_consume_initiation(const struct ft_noise_identity *id, const uint8_t *msg, size_t len,
				ft_noise_lookup_fn lookup, void *arg, uint64_t now_ns,
				struct ft_handshake **out)
{
	uint8_t key[FT_WIRE_KEY_LEN], ck[FT_WIRE_KEY_LEN], h[FT_WIRE_KEY_LEN];
	uint8_t remote_static[FT_WIRE_KEY_LEN], timestamp[FT_WIRE_TIMESTAMP_LEN];
	const uint8_t *eph = msg + FT_WIRE_INIT_OFF_EPHEMERAL;
	struct ft_handshake *hs = NULL;
	int err;

	*out = NULL;
	if (!msg_header_ok(msg, len, FT_WIRE_INITIATION))
		return -FT_NOISE_TRUNCATED;
	if (!id->private_key)
		return -FT_NOISE_NO_IDENTITY;

	/* Cr = HASH(Construction); Hr = HASH(HASH(Cr || Identifier) || Spub_r) */
	handshake_start(ck, h, id->public_key);
	/* Cr = KDF1(Cr, Epub_i); Hr = HASH(Hr || msg.ephemeral) */
	mix_key(ck, NULL, eph, FT_WIRE_KEY_LEN);
	mix_hash(h, eph, FT_WIRE_KEY_LEN);

	/* (Cr, k) = KDF2(Cr, DH(Spriv_r, Epub_i)); Spub_i = AEAD-open(k, 0, msg.static, Hr) */
	err = mix_dh(ck, key, id->private_key, eph);
	if (err)
		goto out;
	err = decrypt_and_hash(remote_static, msg + FT_WIRE_INIT_OFF_STATIC, FT_WIRE_KEY_LEN, key,
			       h);
	if (err)
		goto out;

	/* The static key is authentic: find its peer, whose handshake holds DH(Spriv_r, Spub_i). */
	hs = lookup(arg, remote_static);
	if (!hs) {
		err = -FT_NOISE_UNKNOWN_PEER;
		goto out;
	}
	assert(hs->id == id);
	if (!ft_noise_handshake_static_ok(hs)) {
		err = -FT_NOISE_BAD_KEY;
		goto out;
	}

	/* (Cr, k) = KDF2(Cr, DH(Spriv_r, Spub_i)); timestamp = AEAD-open(k, 0, msg.timestamp, Hr) */
	mix_key(ck, key, hs->precomputed_ss, FT_WIRE_KEY_LEN);
	err = decrypt_and_hash(timestamp, msg + FT_WIRE_INIT_OFF_TIMESTAMP, FT_WIRE_TIMESTAMP_LEN,
			       key, h);
	if (err)
		goto out;

	/*
	 * A replayed initiation carries a timestamp we have seen; one that is not later than
	 * the latest accepted is rejected, which also defeats a captured, delayed one.
	 */
	if (!ft_crypto_tai64n_after(timestamp, hs->latest_timestamp)) {
		err = -FT_NOISE_STALE_TIMESTAMP;
		goto out;
	}
	if (hs->consumed_any_initiation &&
	    now_ns < hs->last_initiation_consumed_ns + FT_INITIATION_MIN_INTERVAL_NS) {
		err = -FT_NOISE_FLOOD;
		goto out;
	}

	/* Commit: the handshake in flight (if any) is replaced by this one. */
	ft_noise_handshake_clear(hs);
	memcpy(hs->latest_timestamp, timestamp, FT_WIRE_TIMESTAMP_LEN);
	hs->last_initiation_consumed_ns = now_ns;
	hs->consumed_any_initiation = true;
	memcpy(hs->remote_ephemeral, eph, FT_WIRE_KEY_LEN);
	memcpy(hs->chaining_key, ck, FT_WIRE_KEY_LEN);
	memcpy(hs->hash, h, FT_WIRE_KEY_LEN);
	hs->remote_index = ft_wire_load_le32(msg + FT_WIRE_INIT_OFF_SENDER);
	hs->state = FT_HANDSHAKE_CONSUMED_INITIATION;
	*out = hs;
out:
	sodium_memzero(key, sizeof(key));
	sodium_memzero(ck, sizeof(ck));
	sodium_memzero(h, sizeof(h));
	sodium_memzero(timestamp, sizeof(timestamp));
	return err;
}

int ft_noise_create_response(struct ft_handshake *hs, uint8_t msg[FT_WIRE_RESPONSE_LEN],
			     uint32_t local_index)
{
	const struct ft_noise_identity *id = hs->id;
	uint8_t key[FT_WIRE_KEY_LEN], tau[FT_WIRE_KEY_LEN], ck[FT_WIRE_KEY_LEN];
	uint8_t h[FT_WIRE_KEY_LEN], eph_priv[FT_WIRE_KEY_LEN];
	uint8_t *eph = msg + FT_WIRE_RESP_OFF_EPHEMERAL;
	int err;

	memset(msg, 0, FT_WIRE_RESPONSE_LEN);
	if (hs->state != FT_HANDSHAKE_CONSUMED_INITIATION)
		return -FT_NOISE_WRONG_STATE;
	memcpy(ck, hs->chaining_key, FT_WIRE_KEY_LEN);
	memcpy(h, hs->hash, FT_WIRE_KEY_LEN);

	msg[FT_WIRE_OFF_TYPE] = FT_WIRE_RESPONSE;
	ft_wire_store_le32(msg + FT_WIRE_RESP_OFF_SENDER, local_index);
	ft_wire_store_le32(msg + FT_WIRE_RESP_OFF_RECEIVER, hs->remote_index);

	/* (Epriv_r, Epub_r) = DH-Generate(); msg.ephemeral = Epub_r */
	ft_crypto_dh_generate(eph_priv, eph, id->random);
	/* Cr = KDF1(Cr, Epub_r); Hr = HASH(Hr || msg.ephemeral) */
	mix_key(ck, NULL, eph, FT_WIRE_KEY_LEN);
	mix_hash(h, eph, FT_WIRE_KEY_LEN);
	/* Cr = KDF1(Cr, DH(Epriv_r, Epub_i)); Cr = KDF1(Cr, DH(Epriv_r, Spub_i)) */
	err = mix_dh(ck, NULL, eph_priv, hs->remote_ephemeral);
	if (err)
		goto out;
	err = mix_dh(ck, NULL, eph_priv, hs->remote_static);
	if (err)
		goto out;
	/* (Cr, tau, k) = KDF3(Cr, Q); Hr = HASH(Hr || tau); msg.empty = AEAD(k, 0, e, Hr) */
	ft_crypto_kdf(ck, tau, key, ck, hs->psk, FT_WIRE_KEY_LEN);
	mix_hash(h, tau, FT_WIRE_KEY_LEN);
	encrypt_and_hash(msg + FT_WIRE_RESP_OFF_EMPTY, NULL, 0, key, h);

	memcpy(hs->chaining_key, ck, FT_WIRE_KEY_LEN);
	memcpy(hs->hash, h, FT_WIRE_KEY_LEN);
	hs->local_index = local_index;
	hs->state = FT_HANDSHAKE_CREATED_RESPONSE;
out:
	if (err) {
		memset(msg, 0, FT_WIRE_RESPONSE_LEN);
		ft_noise_handshake_clear(hs);
	}
	sodium_memzero(key, sizeof(key));
	sodium_memzero(tau, sizeof(tau));
	sodium_memzero(ck, sizeof(ck));
	sodium_memzero(h, sizeof(h));
	sodium_memzero(eph_priv, sizeof(eph_priv));
	return err;
}

int ft_noise_consume_response(const struct ft_noise_identity *id, const uint8_t *msg, size_t len,
			      struct ft_handshake *hs)
{
	uint8_t key[FT_WIRE_KEY_LEN], tau[FT_WIRE_KEY_LEN], ck[FT_WIRE_KEY_LEN];
	uint8_t h[FT_WIRE_KEY_LEN];
	const uint8_t *eph = msg + FT_WIRE_RESP_OFF_EPHEMERAL;
	int err;

	if (!msg_header_ok(msg, len, FT_WIRE_RESPONSE))
		return -FT_NOISE_TRUNCATED;
	assert(hs->id == id);
	if (!id->private_key)
		return -FT_NOISE_NO_IDENTITY;
	if (hs->state != FT_HANDSHAKE_CREATED_INITIATION)
		return -FT_NOISE_WRONG_STATE;
	if (ft_wire_load_le32(msg + FT_WIRE_RESP_OFF_RECEIVER) != hs->local_index)
		return -FT_NOISE_UNKNOWN_INDEX;
	memcpy(ck, hs->chaining_key, FT_WIRE_KEY_LEN);
	memcpy(h, hs->hash, FT_WIRE_KEY_LEN);

	/* Ci = KDF1(Ci, Epub_r); Hi = HASH(Hi || msg.ephemeral) */
	mix_key(ck, NULL, eph, FT_WIRE_KEY_LEN);
	mix_hash(h, eph, FT_WIRE_KEY_LEN);
	/* Ci = KDF1(Ci, DH(Epriv_i, Epub_r)); Ci = KDF1(Ci, DH(Spriv_i, Epub_r)) */
	err = mix_dh(ck, NULL, hs->ephemeral_private, eph);
	if (err)
		goto out;
	err = mix_dh(ck, NULL, id->private_key, eph);
	if (err)
		goto out;
	/* (Ci, tau, k) = KDF3(Ci, Q); Hi = HASH(Hi || tau); AEAD-open(k, 0, msg.empty, Hi) */
	ft_crypto_kdf(ck, tau, key, ck, hs->psk, FT_WIRE_KEY_LEN);
	mix_hash(h, tau, FT_WIRE_KEY_LEN);
	err = decrypt_and_hash(NULL, msg + FT_WIRE_RESP_OFF_EMPTY, 0, key, h);
	if (err)
		goto out;

	memcpy(hs->remote_ephemeral, eph, FT_WIRE_KEY_LEN);
	memcpy(hs->chaining_key, ck, FT_WIRE_KEY_LEN);
	memcpy(hs->hash, h, FT_WIRE_KEY_LEN);
	hs->remote_index = ft_wire_load_le32(msg + FT_WIRE_RESP_OFF_SENDER);
	hs->state = FT_HANDSHAKE_CONSUMED_RESPONSE;
out:
	sodium_memzero(key, sizeof(key));
	sodium_memzero(tau, sizeof(tau));
	sodium_memzero(ck, sizeof(ck));
	sodium_memzero(h, sizeof(h));
	return err;
}

int ft_noise_begin_session(struct ft_handshake *hs, struct ft_noise_session *out)
{
	uint8_t t1[FT_WIRE_KEY_LEN], t2[FT_WIRE_KEY_LEN];
	bool initiator;

	if (hs->state == FT_HANDSHAKE_CONSUMED_RESPONSE)
		initiator = true;
	else if (hs->state == FT_HANDSHAKE_CREATED_RESPONSE)
		initiator = false;
	else
		return -FT_NOISE_WRONG_STATE;

	/* (Tsend_i = Trecv_r, Trecv_i = Tsend_r) = KDF2(Ci = Cr, e) */
	ft_crypto_kdf(t1, t2, NULL, hs->chaining_key, NULL, 0);
	memcpy(out->send_key, initiator ? t1 : t2, FT_WIRE_KEY_LEN);
	memcpy(out->recv_key, initiator ? t2 : t1, FT_WIRE_KEY_LEN);
	out->local_index = hs->local_index;
	out->remote_index = hs->remote_index;
	out->initiator = initiator;

	ft_noise_handshake_clear(hs);
	sodium_memzero(t1, sizeof(t1));
	sodium_memzero(t2, sizeof(t2));
	return 0;
}
