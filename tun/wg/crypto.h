/* SPDX-License-Identifier: MIT */
#ifndef FT_CRYPTO_H
#define FT_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <blake2.h>

/*
 * The primitives of WireGuard (paper, section 5.4) over libsodium and libb2:
 *   HASH      BLAKE2s-256                          ft_crypto_hash*
 *   MAC       keyed BLAKE2s-128                    ft_crypto_mac
 *   HMAC      HMAC-BLAKE2s (RFC 2104, 64-byte block) ft_crypto_hmac
 *   KDFn      HKDF over HMAC-BLAKE2s, n = 1, 2, 3  ft_crypto_kdf
 *   DH        X25519, an all-zero result rejected  ft_crypto_dh*
 *   AEAD      ChaCha20-Poly1305 IETF, nonce = 4 zero bytes || 64-bit LE counter
 *   XAEAD     XChaCha20-Poly1305 (cookie replies)
 *   TAI64N    12-byte timestamp
 *
 * No function allocates (except the first OpenSSL transport AEAD call of a thread: tun/wg/aead.h).
 * Functions that take secrets wipe their own intermediate copies
 * before returning; the caller owns and wipes its inputs and outputs. Buffers may not
 * overlap unless a function says so. Call sodium_init() once before any of these.
 */
enum {
	FT_CRYPTO_KEY_LEN = 32,
	FT_CRYPTO_HASH_LEN = 32,
	FT_CRYPTO_MAC_LEN = 16,
	FT_CRYPTO_TAG_LEN = 16,
	FT_CRYPTO_XNONCE_LEN = 24,
	FT_CRYPTO_TAI64N_LEN = 12,
	FT_CRYPTO_BLAKE2S_BLOCK_LEN = 64,
};

/* Incremental BLAKE2s-256 (HASH). The state holds no secret unless the input does. */
struct ft_crypto_hash {
	blake2s_state st;
};

void ft_crypto_hash_init(struct ft_crypto_hash *h);
void ft_crypto_hash_update(struct ft_crypto_hash *h, const void *in, size_t len);
/* Writes the digest and wipes the state. */
void ft_crypto_hash_final(struct ft_crypto_hash *h, uint8_t out[FT_CRYPTO_HASH_LEN]);

/* out = HASH(in). */
void ft_crypto_hash(uint8_t out[FT_CRYPTO_HASH_LEN], const void *in, size_t len);
/* out = HASH(a || b); out may alias a (the Noise "mix hash" step h = HASH(h || x)). */
void ft_crypto_hash2(uint8_t out[FT_CRYPTO_HASH_LEN], const void *a, size_t alen, const void *b,
		     size_t blen);

/*
 * Keyed BLAKE2s with an outlen-byte digest (1..32) and a key of 0..32 bytes (0: unkeyed):
 * outlen 16 is WireGuard's MAC (mac1, mac2, cookie), outlen 32 the keyed BLAKE2s-256.
 */
void ft_crypto_keyed_hash(uint8_t *out, size_t outlen, const uint8_t *key, size_t keylen,
			  const void *in, size_t len);
/* out = MAC(key, in) = keyed BLAKE2s-128. keylen is 1..32 (32 for mac1, 16 for mac2). */
void ft_crypto_mac(uint8_t out[FT_CRYPTO_MAC_LEN], const uint8_t *key, size_t keylen,
		   const void *in, size_t len);

/* out = HMAC-BLAKE2s(key, in); keylen up to 64 (longer keys are hashed first, per RFC 2104). */
void ft_crypto_hmac(uint8_t out[FT_CRYPTO_HASH_LEN], const uint8_t *key, size_t keylen,
		    const void *in, size_t len);

/*
 * WireGuard's KDFn(key, in): t0 = HMAC(key, in), t1 = HMAC(t0, 0x1),
 * t2 = HMAC(t0, t1 || 0x2), t3 = HMAC(t0, t2 || 0x3). Each of t1, t2, t3 may be NULL when
 * not wanted (NULL t2 also skips t3): KDF1 is (t1, NULL, NULL), KDF2 (t1, t2, NULL).
 * Outputs may alias key (the Noise "ck = KDF(ck, ...)" step).
 */
void ft_crypto_kdf(uint8_t *t1, uint8_t *t2, uint8_t *t3, const uint8_t key[FT_CRYPTO_KEY_LEN],
		   const void *in, size_t len);

/* out = X25519(priv, pub); -EINVAL when the result is all zero (a low-order public key). */
int ft_crypto_dh(uint8_t out[FT_CRYPTO_KEY_LEN], const uint8_t priv[FT_CRYPTO_KEY_LEN],
		 const uint8_t pub[FT_CRYPTO_KEY_LEN]);
/* pub = X25519(priv, 9); -EINVAL when all zero. */
int ft_crypto_dh_public(uint8_t pub[FT_CRYPTO_KEY_LEN], const uint8_t priv[FT_CRYPTO_KEY_LEN]);
/*
 * A fresh clamped private key from rng (randombytes_buf when NULL) and its public key.
 * Retries in the (negligible) event of an all-zero public key.
 */
void ft_crypto_dh_generate(uint8_t priv[FT_CRYPTO_KEY_LEN], uint8_t pub[FT_CRYPTO_KEY_LEN],
			   void (*rng)(void *buf, size_t len));

/*
 * AEAD(key, counter, plain, ad): ChaCha20-Poly1305 IETF with the nonce 4 zero bytes ||
 * counter (little-endian). Encryption writes len + 16 bytes to dst; decryption reads
 * len >= 16 bytes and writes len - 16. dst may equal src (in place); other overlaps are
 * not allowed. Decryption returns 0 or -EBADMSG (tag mismatch or len < 16); on failure
 * the contents of dst are unspecified and must not be used.
 */
void ft_crypto_aead_encrypt(uint8_t *dst, const uint8_t *src, size_t len, const uint8_t *ad,
			    size_t adlen, uint64_t counter, const uint8_t key[FT_CRYPTO_KEY_LEN]);
int ft_crypto_aead_decrypt(uint8_t *dst, const uint8_t *src, size_t len, const uint8_t *ad,
			   size_t adlen, uint64_t counter, const uint8_t key[FT_CRYPTO_KEY_LEN]);

/*
 * The same with a detached tag, for transport data encrypted in place: buf holds len bytes
 * of plaintext (ciphertext), the 16-byte tag is written to (read from) tag. These go through
 * the implementation tun/wg/aead.h selected (libsodium or OpenSSL); on a failed decryption the
 * contents of buf are unspecified. The functions above always use libsodium (the handshake).
 */
void ft_crypto_aead_encrypt_detached(uint8_t *buf, size_t len, uint8_t tag[FT_CRYPTO_TAG_LEN],
				     const uint8_t *ad, size_t adlen, uint64_t counter,
				     const uint8_t key[FT_CRYPTO_KEY_LEN]);
int ft_crypto_aead_decrypt_detached(uint8_t *buf, size_t len, const uint8_t tag[FT_CRYPTO_TAG_LEN],
				    const uint8_t *ad, size_t adlen, uint64_t counter,
				    const uint8_t key[FT_CRYPTO_KEY_LEN]);

/* XAEAD(key, nonce, plain, ad): XChaCha20-Poly1305; sizes and aliasing as for the AEAD. */
void ft_crypto_xaead_encrypt(uint8_t *dst, const uint8_t *src, size_t len, const uint8_t *ad,
			     size_t adlen, const uint8_t nonce[FT_CRYPTO_XNONCE_LEN],
			     const uint8_t key[FT_CRYPTO_KEY_LEN]);
int ft_crypto_xaead_decrypt(uint8_t *dst, const uint8_t *src, size_t len, const uint8_t *ad,
			    size_t adlen, const uint8_t nonce[FT_CRYPTO_XNONCE_LEN],
			    const uint8_t key[FT_CRYPTO_KEY_LEN]);

/*
 * TAI64N of a wall-clock time (CLOCK_REALTIME): 8 bytes big-endian 2^62 + 10 + seconds,
 * 4 bytes big-endian nanoseconds. The nanoseconds are rounded down to a multiple of 2^24
 * (about 16.8 ms, below the 20 ms between two accepted initiations), as wireguard-go and
 * the Linux module do, so the timestamp does not leak a precise clock to the responder.
 */
void ft_crypto_tai64n(uint8_t out[FT_CRYPTO_TAI64N_LEN], const struct timespec *wall);
/* True when TAI64N a is strictly later than b (both are big-endian, so bytewise order). */
bool ft_crypto_tai64n_after(const uint8_t a[FT_CRYPTO_TAI64N_LEN],
			    const uint8_t b[FT_CRYPTO_TAI64N_LEN]);

#endif
