// SPDX-License-Identifier: MIT
/* The transport AEAD over libsodium and, where built and faster, OpenSSL (see aead.h). */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <sodium.h>

#ifdef HAVE_OPENSSL
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <pthread.h>
#endif

#include "tun/wg/aead.h"

_Static_assert(crypto_aead_chacha20poly1305_ietf_KEYBYTES == FT_AEAD_KEY_LEN, "key size");
_Static_assert(crypto_aead_chacha20poly1305_ietf_ABYTES == FT_AEAD_TAG_LEN, "tag size");

_Static_assert(crypto_aead_chacha20poly1305_ietf_NPUBBYTES == FT_AEAD_NONCE_LEN, "nonce size");

enum { NONCE_LEN = FT_AEAD_NONCE_LEN };

/*
 * Set by ft_aead_select() before other threads use the AEAD, read-only afterwards: every
 * packet reads openssl_from. Before any selection everything goes through libsodium.
 */
static struct ft_aead_choice current = { .asked = FT_AEAD_LIBSODIUM, .openssl_from = SIZE_MAX };

static const char *const impl_names[] = {
	[FT_AEAD_AUTO] = "auto",
	[FT_AEAD_LIBSODIUM] = "libsodium",
	[FT_AEAD_OPENSSL] = "openssl",
};

int ft_aead_impl_parse(const char *s, enum ft_aead_impl *out)
{
	for (size_t i = 0; i < sizeof(impl_names) / sizeof(impl_names[0]); i++) {
		if (strcasecmp(s, impl_names[i]) == 0) {
			*out = (enum ft_aead_impl)i;
			return 0;
		}
	}
	return -EINVAL;
}

const char *ft_aead_impl_name(enum ft_aead_impl impl)
{
	return (size_t)impl < sizeof(impl_names) / sizeof(impl_names[0]) ? impl_names[impl] : "?";
}

static void nonce_of(uint8_t n[NONCE_LEN], uint64_t counter)
{
	memset(n, 0, 4);
	for (int i = 0; i < 8; i++)
		n[4 + i] = (uint8_t)(counter >> (8 * i));
}

static void sodium_seal(uint8_t *buf, size_t len, uint8_t tag[FT_AEAD_TAG_LEN], const uint8_t *ad,
			size_t adlen, const uint8_t n[NONCE_LEN], const uint8_t *key)
{
	crypto_aead_chacha20poly1305_ietf_encrypt_detached(buf, tag, NULL, buf, len, ad, adlen,
							   NULL, n, key);
}

static int sodium_open(uint8_t *buf, size_t len, const uint8_t tag[FT_AEAD_TAG_LEN],
		       const uint8_t *ad, size_t adlen, const uint8_t n[NONCE_LEN],
		       const uint8_t *key)
{
	if (crypto_aead_chacha20poly1305_ietf_decrypt_detached(buf, NULL, buf, len, tag, ad, adlen,
							       n, key) != 0)
		return -EBADMSG;
	return 0;
}

#ifdef HAVE_OPENSSL
/*
 * The cipher is fetched once, before the privilege drop (the fetch loads the default provider
 * and openssl.cnf); later contexts are made from it without touching the file system.
 */
static EVP_CIPHER *cipher;
static pthread_key_t ctx_key;
static bool ctx_key_made;

struct thread_ctx {
	EVP_CIPHER_CTX *enc, *dec;
};

/* This thread's contexts; failed: their creation failed once, so do not retry per packet. */
static _Thread_local struct thread_ctx *tctx;
static _Thread_local bool tctx_failed;

static void ctx_free(struct thread_ctx *t)
{
	if (!t)
		return;
	/* EVP_CIPHER_CTX_free() frees the provider's state with OPENSSL_clear_free(). */
	EVP_CIPHER_CTX_free(t->enc);
	EVP_CIPHER_CTX_free(t->dec);
	free(t);
}

/* A thread that used OpenSSL ends: its contexts go with it. */
static void ctx_destructor(void *p)
{
	ctx_free(p);
	tctx = NULL;
}

static struct thread_ctx *openssl_ctx(void)
{
	struct thread_ctx *t;

	if (tctx)
		return tctx;
	if (tctx_failed || !cipher)
		return NULL;
	t = calloc(1, sizeof(*t));
	if (!t)
		goto fail;
	t->enc = EVP_CIPHER_CTX_new();
	t->dec = EVP_CIPHER_CTX_new();
	if (!t->enc || !t->dec || EVP_CipherInit_ex(t->enc, cipher, NULL, NULL, NULL, 1) != 1 ||
	    EVP_CipherInit_ex(t->dec, cipher, NULL, NULL, NULL, 0) != 1)
		goto fail;
	if (ctx_key_made)
		pthread_setspecific(ctx_key, t);
	tctx = t;
	return t;
fail:
	ctx_free(t);
	ERR_clear_error();
	tctx_failed = true;
	return NULL;
}

/* Initialises OpenSSL once and makes the caller's contexts. 0 or -EIO. */
static int openssl_start(void)
{
	if (!cipher) {
		if (OPENSSL_init_crypto(OPENSSL_INIT_LOAD_CONFIG, NULL) != 1 ||
		    !(cipher = EVP_CIPHER_fetch(NULL, "ChaCha20-Poly1305", NULL))) {
			ERR_clear_error();
			return -EIO;
		}
		ctx_key_made = pthread_key_create(&ctx_key, ctx_destructor) == 0;
	}
	tctx_failed = false;
	return openssl_ctx() ? 0 : -EIO;
}

/*
 * 0, or -EIO when OpenSSL failed before it touched buf (the caller then uses libsodium). A
 * failure after the data went through cannot be undone by a fallback (buf is ciphertext by
 * then) and cannot happen with a context that took the key and nonce: it aborts.
 */
static int openssl_seal(struct thread_ctx *t, uint8_t *buf, size_t len,
			uint8_t tag[FT_AEAD_TAG_LEN], const uint8_t *ad, size_t adlen,
			const uint8_t n[NONCE_LEN], const uint8_t *key)
{
	uint8_t scratch[FT_AEAD_TAG_LEN];
	int outl;

	if (len > INT_MAX || adlen > INT_MAX ||
	    EVP_CipherInit_ex(t->enc, NULL, NULL, key, n, 1) != 1 ||
	    (adlen && EVP_CipherUpdate(t->enc, NULL, &outl, ad, (int)adlen) != 1)) {
		ERR_clear_error();
		return -EIO;
	}
	if ((len && EVP_CipherUpdate(t->enc, buf, &outl, buf, (int)len) != 1) ||
	    EVP_CipherFinal_ex(t->enc, scratch, &outl) != 1 ||
	    EVP_CIPHER_CTX_ctrl(t->enc, EVP_CTRL_AEAD_GET_TAG, FT_AEAD_TAG_LEN, tag) != 1) {
		fprintf(stderr, "flowtun: OpenSSL's ChaCha20-Poly1305 failed mid-packet\n");
		abort();
	}
	return 0;
}

/* 0, -EBADMSG, or -EIO when OpenSSL failed before it touched buf (libsodium can retry). */
static int openssl_open(struct thread_ctx *t, uint8_t *buf, size_t len,
			const uint8_t tag[FT_AEAD_TAG_LEN], const uint8_t *ad, size_t adlen,
			const uint8_t n[NONCE_LEN], const uint8_t *key)
{
	uint8_t want[FT_AEAD_TAG_LEN], scratch[FT_AEAD_TAG_LEN];
	int outl;

	/* The tag goes in before the data: Final compares against it (all 16 bytes). */
	memcpy(want, tag, sizeof(want));
	if (len > INT_MAX || adlen > INT_MAX ||
	    EVP_CipherInit_ex(t->dec, NULL, NULL, key, n, 0) != 1 ||
	    EVP_CIPHER_CTX_ctrl(t->dec, EVP_CTRL_AEAD_SET_TAG, FT_AEAD_TAG_LEN, want) != 1 ||
	    (adlen && EVP_CipherUpdate(t->dec, NULL, &outl, ad, (int)adlen) != 1)) {
		ERR_clear_error();
		return -EIO;
	}
	/* A tag mismatch raises no OpenSSL error, so a flood of forgeries queues nothing. */
	if ((len && EVP_CipherUpdate(t->dec, buf, &outl, buf, (int)len) != 1) ||
	    EVP_CipherFinal_ex(t->dec, scratch, &outl) != 1)
		return -EBADMSG;
	return 0;
}
#endif

bool ft_aead_impl_built(enum ft_aead_impl impl)
{
#ifdef HAVE_OPENSSL
	return impl <= FT_AEAD_OPENSSL;
#else
	return impl == FT_AEAD_AUTO || impl == FT_AEAD_LIBSODIUM;
#endif
}

const char *ft_aead_openssl_version(void)
{
#ifdef HAVE_OPENSSL
	return OpenSSL_version(OPENSSL_VERSION);
#else
	return "";
#endif
}

void ft_aead_encrypt(uint8_t *buf, size_t len, uint8_t tag[FT_AEAD_TAG_LEN], const uint8_t *ad,
		     size_t adlen, uint64_t counter, const uint8_t key[FT_AEAD_KEY_LEN])
{
	uint8_t n[NONCE_LEN];

	nonce_of(n, counter);
#ifdef HAVE_OPENSSL
	if (len >= current.openssl_from) {
		struct thread_ctx *t = openssl_ctx();

		if (t && openssl_seal(t, buf, len, tag, ad, adlen, n, key) == 0)
			return;
	}
#endif
	sodium_seal(buf, len, tag, ad, adlen, n, key);
}

int ft_aead_decrypt(uint8_t *buf, size_t len, const uint8_t tag[FT_AEAD_TAG_LEN], const uint8_t *ad,
		    size_t adlen, uint64_t counter, const uint8_t key[FT_AEAD_KEY_LEN])
{
	uint8_t n[NONCE_LEN];

	nonce_of(n, counter);
#ifdef HAVE_OPENSSL
	if (len >= current.openssl_from) {
		struct thread_ctx *t = openssl_ctx();
		int rc = t ? openssl_open(t, buf, len, tag, ad, adlen, n, key) : -EIO;

		if (rc != -EIO)
			return rc;
	}
#endif
	return sodium_open(buf, len, tag, ad, adlen, n, key);
}

int ft_aead_encrypt_with(enum ft_aead_impl impl, uint8_t *buf, size_t len,
			 uint8_t tag[FT_AEAD_TAG_LEN], const uint8_t *ad, size_t adlen,
			 const uint8_t n[FT_AEAD_NONCE_LEN], const uint8_t key[FT_AEAD_KEY_LEN])
{
	switch (impl) {
	case FT_AEAD_LIBSODIUM:
		sodium_seal(buf, len, tag, ad, adlen, n, key);
		return 0;
	case FT_AEAD_OPENSSL: {
#ifdef HAVE_OPENSSL
		/* Tests and benchmarks may come here before any selection. */
		struct thread_ctx *t = cipher || openssl_start() == 0 ? openssl_ctx() : NULL;

		return t ? openssl_seal(t, buf, len, tag, ad, adlen, n, key) : -EIO;
#else
		return -ENOTSUP;
#endif
	}
	default:
		return -EINVAL;
	}
}

int ft_aead_decrypt_with(enum ft_aead_impl impl, uint8_t *buf, size_t len,
			 const uint8_t tag[FT_AEAD_TAG_LEN], const uint8_t *ad, size_t adlen,
			 const uint8_t n[FT_AEAD_NONCE_LEN], const uint8_t key[FT_AEAD_KEY_LEN])
{
	switch (impl) {
	case FT_AEAD_LIBSODIUM:
		return sodium_open(buf, len, tag, ad, adlen, n, key);
	case FT_AEAD_OPENSSL: {
#ifdef HAVE_OPENSSL
		struct thread_ctx *t = cipher || openssl_start() == 0 ? openssl_ctx() : NULL;

		return t ? openssl_open(t, buf, len, tag, ad, adlen, n, key) : -EIO;
#else
		return -ENOTSUP;
#endif
	}
	default:
		return -EINVAL;
	}
}

#ifdef HAVE_OPENSSL
/* The thread's CPU time: what other processes take of the machine is not counted. */
static uint64_t cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* ns per seal + open of len bytes through impl; -1 when it failed. */
static double probe_one(enum ft_aead_impl impl, uint8_t *buf, size_t len, unsigned int n)
{
	static const uint8_t key[FT_AEAD_KEY_LEN] = { 0x42 }; /* no secret: a measurement */
	uint8_t tag[FT_AEAD_TAG_LEN], nonce[NONCE_LEN];
	uint64_t t0 = cpu_ns();

	for (unsigned int i = 0; i < n; i++) {
		nonce_of(nonce, i);
		if (ft_aead_encrypt_with(impl, buf, len, tag, NULL, 0, nonce, key) != 0 ||
		    ft_aead_decrypt_with(impl, buf, len, tag, NULL, 0, nonce, key) != 0)
			return -1;
	}
	return (double)(cpu_ns() - t0) / n;
}

static const size_t probe_sizes[FT_AEAD_PROBE_SIZES] = { 64, 128, 256, 512, 1024, 1420 };

/*
 * auto: both implementations at each probe size, interleaved, the best of a few rounds (a
 * busy machine only ever makes a round slower), about 10 ms in all. OpenSSL takes the
 * packets from the smallest probe size from which it is faster at every larger size.
 */
static void measure(struct ft_aead_choice *c)
{
	enum { ROUNDS = 4, BYTES_PER_ROUND = 32768 };
	static uint8_t buf[1500];
	size_t from = SIZE_MAX;

	memset(buf, 0x5a, sizeof(buf));
	for (int s = 0; s < FT_AEAD_PROBE_SIZES; s++) {
		c->probe_len[s] = probe_sizes[s];
		c->probe_ns[0][s] = c->probe_ns[1][s] = -1;
	}
	/* Round 0 warms up (page faults, lazy set-up, clock ramp) and is not counted. */
	for (int r = 0; r <= ROUNDS; r++) {
		for (int s = 0; s < FT_AEAD_PROBE_SIZES; s++) {
			size_t len = probe_sizes[s];
			unsigned int n = BYTES_PER_ROUND / len > 16 ? BYTES_PER_ROUND / len : 16;

			for (int i = 0; i < 2; i++) {
				enum ft_aead_impl impl = i ? FT_AEAD_OPENSSL : FT_AEAD_LIBSODIUM;
				double ns = probe_one(impl, buf, len, r ? n : 4);
				double *best = &c->probe_ns[i][s];

				if (r && ns >= 0 && (*best < 0 || ns < *best))
					*best = ns;
			}
		}
	}
	for (int s = FT_AEAD_PROBE_SIZES - 1; s >= 0; s--) {
		if (c->probe_ns[1][s] < 0 || c->probe_ns[1][s] >= c->probe_ns[0][s])
			break;
		from = probe_sizes[s];
	}
	c->openssl_from = from == probe_sizes[0] ? 0 : from;
	c->measured = true;
	sodium_memzero(buf, sizeof(buf));
}
#endif

int ft_aead_select(enum ft_aead_impl want, struct ft_aead_choice *out)
{
	struct ft_aead_choice c = { .asked = want, .openssl_from = SIZE_MAX };
	int rc = 0;

	switch (want) {
	case FT_AEAD_LIBSODIUM:
		break;
	case FT_AEAD_OPENSSL:
#ifdef HAVE_OPENSSL
		rc = openssl_start();
		c.openssl_from = 0;
#else
		rc = -ENOTSUP;
#endif
		break;
	case FT_AEAD_AUTO:
#ifdef HAVE_OPENSSL
		if (openssl_start() == 0)
			measure(&c);
#endif
		break;
	default:
		rc = -EINVAL;
	}
	if (rc == 0)
		current = c;
	if (out)
		*out = rc == 0 ? c : current;
	return rc;
}

int ft_aead_select_split(size_t openssl_from)
{
	struct ft_aead_choice c = { .asked = FT_AEAD_AUTO, .openssl_from = openssl_from };

	if (openssl_from == SIZE_MAX) {
		c.asked = FT_AEAD_LIBSODIUM;
	} else {
#ifdef HAVE_OPENSSL
		int rc = openssl_start();

		if (rc < 0)
			return rc;
		if (openssl_from == 0)
			c.asked = FT_AEAD_OPENSSL;
#else
		return -ENOTSUP;
#endif
	}
	current = c;
	return 0;
}

void ft_aead_current(struct ft_aead_choice *c)
{
	*c = current;
}

void ft_aead_describe(char *buf, size_t len)
{
	const char *how = current.asked == FT_AEAD_AUTO ? " (auto)" : "";

	if (current.openssl_from == SIZE_MAX)
		snprintf(buf, len, "libsodium%s", how);
	else if (current.openssl_from == 0)
		snprintf(buf, len, "openssl%s", how);
	else
		snprintf(buf, len, "openssl from %zu B, libsodium below%s", current.openssl_from,
			 how);
}

void ft_aead_forget(void)
{
#ifdef HAVE_OPENSSL
	static const uint8_t zero_key[FT_AEAD_KEY_LEN], zero_nonce[NONCE_LEN];
	uint8_t scratch[FT_AEAD_TAG_LEN];
	int outl;

	if (!tctx)
		return;
	/*
	 * The all-zero key replaces the key words; the Final (with no data) derives the Poly1305
	 * one-time key from it, overwriting the block that held the last packet's. The decrypting
	 * context's Final fails its tag check, which does not matter here.
	 */
	if (EVP_CipherInit_ex(tctx->enc, NULL, NULL, zero_key, zero_nonce, 1) != 1 ||
	    EVP_CipherFinal_ex(tctx->enc, scratch, &outl) != 1)
		ERR_clear_error();
	if (EVP_CipherInit_ex(tctx->dec, NULL, NULL, zero_key, zero_nonce, 0) != 1)
		ERR_clear_error();
	else
		(void)EVP_CipherFinal_ex(tctx->dec, scratch, &outl);
#endif
}

void ft_aead_thread_cleanup(void)
{
#ifdef HAVE_OPENSSL
	if (tctx && ctx_key_made)
		pthread_setspecific(ctx_key, NULL);
	ctx_free(tctx);
	tctx = NULL;
	tctx_failed = false;
#endif
}
