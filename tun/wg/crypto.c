// SPDX-License-Identifier: MIT
#include "config.h"

#include <assert.h>
#include <errno.h>
#include <string.h>

#include <sodium.h>

#include "tun/wg/aead.h"
#include "tun/wg/crypto.h"

void ft_crypto_hash_init(struct ft_crypto_hash *h)
{
	blake2s_init(&h->st, FT_CRYPTO_HASH_LEN);
}

void ft_crypto_hash_update(struct ft_crypto_hash *h, const void *in, size_t len)
{
	blake2s_update(&h->st, in, len);
}

void ft_crypto_hash_final(struct ft_crypto_hash *h, uint8_t out[FT_CRYPTO_HASH_LEN])
{
	blake2s_final(&h->st, out, FT_CRYPTO_HASH_LEN);
	/* The state of a hash over secrets (HMAC's inner hash) still holds them. */
	sodium_memzero(h, sizeof(*h));
}

void ft_crypto_hash(uint8_t out[FT_CRYPTO_HASH_LEN], const void *in, size_t len)
{
	struct ft_crypto_hash h;

	ft_crypto_hash_init(&h);
	ft_crypto_hash_update(&h, in, len);
	ft_crypto_hash_final(&h, out);
}

void ft_crypto_hash2(uint8_t out[FT_CRYPTO_HASH_LEN], const void *a, size_t alen, const void *b,
		     size_t blen)
{
	struct ft_crypto_hash h;

	ft_crypto_hash_init(&h);
	ft_crypto_hash_update(&h, a, alen);
	ft_crypto_hash_update(&h, b, blen);
	ft_crypto_hash_final(&h, out);
}

void ft_crypto_keyed_hash(uint8_t *out, size_t outlen, const uint8_t *key, size_t keylen,
			  const void *in, size_t len)
{
	blake2s_state st;

	assert(outlen >= 1 && outlen <= FT_CRYPTO_HASH_LEN);
	assert(keylen <= FT_CRYPTO_KEY_LEN);
	if (keylen == 0)
		blake2s_init(&st, outlen);
	else
		blake2s_init_key(&st, outlen, key, keylen);
	blake2s_update(&st, in, len);
	blake2s_final(&st, out, outlen);
	sodium_memzero(&st, sizeof(st));
}

void ft_crypto_mac(uint8_t out[FT_CRYPTO_MAC_LEN], const uint8_t *key, size_t keylen,
		   const void *in, size_t len)
{
	ft_crypto_keyed_hash(out, FT_CRYPTO_MAC_LEN, key, keylen, in, len);
}

void ft_crypto_hmac(uint8_t out[FT_CRYPTO_HASH_LEN], const uint8_t *key, size_t keylen,
		    const void *in, size_t len)
{
	uint8_t pad[FT_CRYPTO_BLAKE2S_BLOCK_LEN] = { 0 };
	uint8_t inner[FT_CRYPTO_HASH_LEN];
	struct ft_crypto_hash h;

	/* RFC 2104: a key longer than the block is replaced by its hash. */
	if (keylen > sizeof(pad))
		ft_crypto_hash(pad, key, keylen);
	else if (keylen > 0)
		memcpy(pad, key, keylen);

	for (size_t i = 0; i < sizeof(pad); i++)
		pad[i] ^= 0x36;
	ft_crypto_hash_init(&h);
	ft_crypto_hash_update(&h, pad, sizeof(pad));
	ft_crypto_hash_update(&h, in, len);
	ft_crypto_hash_final(&h, inner);

	for (size_t i = 0; i < sizeof(pad); i++)
		pad[i] ^= 0x36 ^ 0x5c;
	ft_crypto_hash_init(&h);
	ft_crypto_hash_update(&h, pad, sizeof(pad));
	ft_crypto_hash_update(&h, inner, sizeof(inner));
	ft_crypto_hash_final(&h, out);

	sodium_memzero(pad, sizeof(pad));
	sodium_memzero(inner, sizeof(inner));
}

void ft_crypto_kdf(uint8_t *t1, uint8_t *t2, uint8_t *t3, const uint8_t key[FT_CRYPTO_KEY_LEN],
		   const void *in, size_t len)
{
	uint8_t prk[FT_CRYPTO_HASH_LEN];
	/* t[0..31] is the previous output, t[32] the counter byte of the next. */
	uint8_t t[FT_CRYPTO_HASH_LEN + 1];
	uint8_t out1[FT_CRYPTO_HASH_LEN], out2[FT_CRYPTO_HASH_LEN];

	/* Outputs are written only at the end, because they may alias key. */
	ft_crypto_hmac(prk, key, FT_CRYPTO_KEY_LEN, in, len);

	t[0] = 1;
	ft_crypto_hmac(out1, prk, sizeof(prk), t, 1);
	if (t2) {
		memcpy(t, out1, FT_CRYPTO_HASH_LEN);
		t[FT_CRYPTO_HASH_LEN] = 2;
		ft_crypto_hmac(out2, prk, sizeof(prk), t, sizeof(t));
		if (t3) {
			memcpy(t, out2, FT_CRYPTO_HASH_LEN);
			t[FT_CRYPTO_HASH_LEN] = 3;
			ft_crypto_hmac(t3, prk, sizeof(prk), t, sizeof(t));
		}
		memcpy(t2, out2, FT_CRYPTO_HASH_LEN);
	}
	if (t1)
		memcpy(t1, out1, FT_CRYPTO_HASH_LEN);

	sodium_memzero(prk, sizeof(prk));
	sodium_memzero(t, sizeof(t));
	sodium_memzero(out1, sizeof(out1));
	sodium_memzero(out2, sizeof(out2));
}

int ft_crypto_dh(uint8_t out[FT_CRYPTO_KEY_LEN], const uint8_t priv[FT_CRYPTO_KEY_LEN],
		 const uint8_t pub[FT_CRYPTO_KEY_LEN])
{
	/*
	 * libsodium already fails on an all-zero result; the explicit check keeps the rule
	 * of the protocol here whatever the library version does.
	 */
	if (crypto_scalarmult(out, priv, pub) != 0 || sodium_is_zero(out, FT_CRYPTO_KEY_LEN)) {
		sodium_memzero(out, FT_CRYPTO_KEY_LEN);
		return -EINVAL;
	}
	return 0;
}

int ft_crypto_dh_public(uint8_t pub[FT_CRYPTO_KEY_LEN], const uint8_t priv[FT_CRYPTO_KEY_LEN])
{
	if (crypto_scalarmult_base(pub, priv) != 0 || sodium_is_zero(pub, FT_CRYPTO_KEY_LEN)) {
		sodium_memzero(pub, FT_CRYPTO_KEY_LEN);
		return -EINVAL;
	}
	return 0;
}

void ft_crypto_dh_generate(uint8_t priv[FT_CRYPTO_KEY_LEN], uint8_t pub[FT_CRYPTO_KEY_LEN],
			   void (*rng)(void *buf, size_t len))
{
	do {
		if (rng)
			rng(priv, FT_CRYPTO_KEY_LEN);
		else
			randombytes_buf(priv, FT_CRYPTO_KEY_LEN);
		priv[0] &= 248;
		priv[31] = (priv[31] & 127) | 64;
	} while (ft_crypto_dh_public(pub, priv) != 0);
}

static void aead_nonce(uint8_t nonce[crypto_aead_chacha20poly1305_IETF_NPUBBYTES], uint64_t counter)
{
	memset(nonce, 0, 4);
	for (int i = 0; i < 8; i++)
		nonce[4 + i] = (uint8_t)(counter >> (8 * i));
}

void ft_crypto_aead_encrypt(uint8_t *dst, const uint8_t *src, size_t len, const uint8_t *ad,
			    size_t adlen, uint64_t counter, const uint8_t key[FT_CRYPTO_KEY_LEN])
{
	uint8_t nonce[crypto_aead_chacha20poly1305_IETF_NPUBBYTES];

	aead_nonce(nonce, counter);
	crypto_aead_chacha20poly1305_ietf_encrypt(dst, NULL, src, len, ad, adlen, NULL, nonce, key);
}

int ft_crypto_aead_decrypt(uint8_t *dst, const uint8_t *src, size_t len, const uint8_t *ad,
			   size_t adlen, uint64_t counter, const uint8_t key[FT_CRYPTO_KEY_LEN])
{
	uint8_t nonce[crypto_aead_chacha20poly1305_IETF_NPUBBYTES];

	if (len < FT_CRYPTO_TAG_LEN)
		return -EBADMSG;
	aead_nonce(nonce, counter);
	if (crypto_aead_chacha20poly1305_ietf_decrypt(dst, NULL, NULL, src, len, ad, adlen, nonce,
						      key) != 0)
		return -EBADMSG;
	return 0;
}

/* Transport data: the implementation ft_aead_select() chose (libsodium or OpenSSL). */
void ft_crypto_aead_encrypt_detached(uint8_t *buf, size_t len, uint8_t tag[FT_CRYPTO_TAG_LEN],
				     const uint8_t *ad, size_t adlen, uint64_t counter,
				     const uint8_t key[FT_CRYPTO_KEY_LEN])
{
	ft_aead_encrypt(buf, len, tag, ad, adlen, counter, key);
}

int ft_crypto_aead_decrypt_detached(uint8_t *buf, size_t len, const uint8_t tag[FT_CRYPTO_TAG_LEN],
				    const uint8_t *ad, size_t adlen, uint64_t counter,
				    const uint8_t key[FT_CRYPTO_KEY_LEN])
{
	return ft_aead_decrypt(buf, len, tag, ad, adlen, counter, key);
}

void ft_crypto_xaead_encrypt(uint8_t *dst, const uint8_t *src, size_t len, const uint8_t *ad,
			     size_t adlen, const uint8_t nonce[FT_CRYPTO_XNONCE_LEN],
			     const uint8_t key[FT_CRYPTO_KEY_LEN])
{
	crypto_aead_xchacha20poly1305_ietf_encrypt(dst, NULL, src, len, ad, adlen, NULL, nonce,
						   key);
}

int ft_crypto_xaead_decrypt(uint8_t *dst, const uint8_t *src, size_t len, const uint8_t *ad,
			    size_t adlen, const uint8_t nonce[FT_CRYPTO_XNONCE_LEN],
			    const uint8_t key[FT_CRYPTO_KEY_LEN])
{
	if (len < FT_CRYPTO_TAG_LEN)
		return -EBADMSG;
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(dst, NULL, NULL, src, len, ad, adlen, nonce,
						       key) != 0)
		return -EBADMSG;
	return 0;
}

void ft_crypto_tai64n(uint8_t out[FT_CRYPTO_TAI64N_LEN], const struct timespec *wall)
{
	/* TAI64 labels second s of the Unix epoch as 2^62 + 10 + s (RFC-less, per cr.yp.to). */
	uint64_t secs = 0x400000000000000aULL + (uint64_t)wall->tv_sec;
	uint32_t nsecs = (uint32_t)wall->tv_nsec & ~(uint32_t)0xffffff;

	for (int i = 0; i < 8; i++)
		out[i] = (uint8_t)(secs >> (56 - 8 * i));
	for (int i = 0; i < 4; i++)
		out[8 + i] = (uint8_t)(nsecs >> (24 - 8 * i));
}

bool ft_crypto_tai64n_after(const uint8_t a[FT_CRYPTO_TAI64N_LEN],
			    const uint8_t b[FT_CRYPTO_TAI64N_LEN])
{
	return memcmp(a, b, FT_CRYPTO_TAI64N_LEN) > 0;
}
