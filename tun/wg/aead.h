/* SPDX-License-Identifier: MIT */
#ifndef FT_AEAD_H
#define FT_AEAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * The transport AEAD from the fastest implementation on the machine: ChaCha20-Poly1305 IETF
 * with WireGuard's nonce (4 zero bytes || the 64-bit little-endian counter), tag detached.
 *
 * Two implementations compute the same function:
 *   libsodium  always built; the reference, and faster on small packets, where OpenSSL's EVP
 *              layer and its wide-vector start-up cost more than the cipher itself;
 *   openssl    OpenSSL 3's libcrypto through EVP (configure --with-openssl, on by default when
 *              libcrypto is found): its AVX-512/AVX2 code seals a 1420-byte packet in about
 *              half libsodium's time on this project's machine.
 * One choice holds for the whole process, made once at start by ft_aead_select():
 *   libsodium  every packet through libsodium;
 *   openssl    every packet through OpenSSL;
 *   auto       a few milliseconds measuring both at six packet sizes: packets of at least
 *              openssl_from bytes go through OpenSSL, smaller ones through libsodium (the
 *              split may also give all sizes to one of them).
 * libsodium keeps everything else: X25519, the handshake's AEAD, XChaCha20-Poly1305 cookies,
 * randomness and the guarded memory that holds the keys.
 *
 * OpenSSL's state is one pair of EVP contexts (encrypt, decrypt) per thread, created at the
 * thread's first OpenSSL packet (ft_aead_select() creates the caller's) and re-keyed for each
 * packet with EVP_CipherInit_ex(ctx, NULL, NULL, key, nonce): nothing is allocated per packet.
 * Such a context holds a copy of the last key it was given, and that packet's Poly1305
 * one-time key, in OpenSSL's ordinary heap: not locked, not guarded as libsodium's key memory
 * is. Hence:
 *   - ft_aead_forget() overwrites the calling thread's contexts with an all-zero key and nonce
 *     (both the ChaCha20 key words and the one-time key block); the keypair code calls it for
 *     every keypair it wipes;
 *   - ft_aead_thread_cleanup() frees them, and a thread's contexts are freed when it exits;
 *     OpenSSL 3 wipes the cipher state as it frees it (chacha20_poly1305_freectx() uses
 *     OPENSSL_clear_free());
 *   - the process has core dumps off (ft_privs_no_dump()).
 * What remains: with several threads, a key wiped on one thread lives on in another thread's
 * context until that thread's next packet overwrites it.
 *
 * The packet functions are safe from any thread once ft_aead_select() has returned; the
 * selection itself is not thread-safe and must come before other threads use the AEAD.
 */
enum ft_aead_impl {
	FT_AEAD_AUTO = 0,
	FT_AEAD_LIBSODIUM,
	FT_AEAD_OPENSSL,
};

enum {
	FT_AEAD_KEY_LEN = 32,
	FT_AEAD_TAG_LEN = 16,
	FT_AEAD_NONCE_LEN = 12,
	FT_AEAD_PROBE_SIZES = 6, /* packet sizes auto measures: 64 to 1420 bytes */
};

/* What ft_aead_select() chose, and with auto what it measured. */
struct ft_aead_choice {
	enum ft_aead_impl asked;
	/* Packets (plaintext) of at least this many bytes use OpenSSL: 0 all, SIZE_MAX none. */
	size_t openssl_from;
	bool measured; /* auto with OpenSSL built and working: probe_* are filled */
	size_t probe_len[FT_AEAD_PROBE_SIZES];
	/* ns per seal + open at each probe size: [0] libsodium, [1] OpenSSL (best of rounds) */
	double probe_ns[2][FT_AEAD_PROBE_SIZES];
};

/* "auto", "libsodium" or "openssl", any case. 0, or -EINVAL. */
int ft_aead_impl_parse(const char *s, enum ft_aead_impl *out);
const char *ft_aead_impl_name(enum ft_aead_impl impl);
/* True when this build has impl: libsodium and auto always, openssl with HAVE_OPENSSL. */
bool ft_aead_impl_built(enum ft_aead_impl impl);
/* The libraries' versions for messages, e.g. "OpenSSL 3.0.11 19 Sep 2023"; "" if not built. */
const char *ft_aead_openssl_version(void);

/*
 * Chooses the implementation for the process and fills *choice (may be NULL). Call it once at
 * start, after sodium_init() and before the privilege drop and seccomp filter: initialising
 * OpenSSL loads its default provider and reads openssl.cnf. Until it is called, every packet
 * goes through libsodium. 0, or -ENOTSUP (openssl asked for, this build has none), -EIO
 * (OpenSSL asked for and it could not be initialised). auto never fails: without a working
 * OpenSSL it is libsodium.
 */
int ft_aead_select(enum ft_aead_impl want, struct ft_aead_choice *choice);

/*
 * Sets the split directly, for tests and benchmarks: packets of openssl_from bytes or more go
 * through OpenSSL (SIZE_MAX: none). Same preconditions as ft_aead_select(); -ENOTSUP or -EIO
 * as there when openssl_from < SIZE_MAX.
 */
int ft_aead_select_split(size_t openssl_from);

/* The choice in force. */
void ft_aead_current(struct ft_aead_choice *choice);

/*
 * The choice in words, for logs and `flowtun show`: "libsodium", "openssl", or
 * "openssl from 256 B, libsodium below". Truncated to len - 1 characters.
 */
void ft_aead_describe(char *buf, size_t len);

/*
 * Encrypts buf[0..len) in place with AD ad[0..adlen) (ad may be NULL when adlen is 0) and
 * writes the tag. Any len up to INT_MAX; larger ones go through libsodium.
 */
void ft_aead_encrypt(uint8_t *buf, size_t len, uint8_t tag[FT_AEAD_TAG_LEN], const uint8_t *ad,
		     size_t adlen, uint64_t counter, const uint8_t key[FT_AEAD_KEY_LEN]);
/*
 * Decrypts buf[0..len) in place and checks the tag: 0, or -EBADMSG. On failure the contents
 * of buf are unspecified (libsodium leaves them, OpenSSL has decrypted them): drop them.
 */
int ft_aead_decrypt(uint8_t *buf, size_t len, const uint8_t tag[FT_AEAD_TAG_LEN], const uint8_t *ad,
		    size_t adlen, uint64_t counter, const uint8_t key[FT_AEAD_KEY_LEN]);

/*
 * The same through one named implementation (libsodium or openssl) whatever was selected, and
 * with any 12-byte nonce (RFC 8439's test vectors have no zero prefix): for tests and
 * benchmarks. Encryption returns 0, or -ENOTSUP (not built), -EIO (OpenSSL failed) or -EINVAL
 * (impl is auto); decryption also -EBADMSG.
 */
int ft_aead_encrypt_with(enum ft_aead_impl impl, uint8_t *buf, size_t len,
			 uint8_t tag[FT_AEAD_TAG_LEN], const uint8_t *ad, size_t adlen,
			 const uint8_t nonce[FT_AEAD_NONCE_LEN],
			 const uint8_t key[FT_AEAD_KEY_LEN]);
int ft_aead_decrypt_with(enum ft_aead_impl impl, uint8_t *buf, size_t len,
			 const uint8_t tag[FT_AEAD_TAG_LEN], const uint8_t *ad, size_t adlen,
			 const uint8_t nonce[FT_AEAD_NONCE_LEN],
			 const uint8_t key[FT_AEAD_KEY_LEN]);

/* Overwrites the key material in the calling thread's OpenSSL contexts (see above). */
void ft_aead_forget(void);

/* Frees (and so wipes) the calling thread's OpenSSL contexts; the next packet recreates them. */
void ft_aead_thread_cleanup(void);

#endif
