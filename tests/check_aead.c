// SPDX-License-Identifier: MIT
/*
 * The transport AEAD (tun/wg/aead.h) with each implementation on every vector: libsodium and
 * OpenSSL must give the same, known, answers, alone and mixed by packet size.
 *
 * Vectors: RFC 8439 section 2.8.2 (a nonce with a non-zero prefix, so through the _with
 * functions that take a whole nonce) and appendix A.5 (nonce 00000000 0102030405060708, which
 * is WireGuard's format with the counter 0x0807060504030201); and whole WireGuard transport
 * messages (type 4, receiver index, counter, the padded payload sealed with no AD, the tag)
 * computed independently with a pure-Python ChaCha20-Poly1305 written from RFC 8439 (which
 * reproduces both RFC vectors above and the AEAD vectors of check_crypto.c).
 *
 * When this build has no OpenSSL, the OpenSSL iterations check that it says so (-ENOTSUP).
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include <check.h>
#include <sodium.h>

#include "tun/wg/aead.h"
#include "tun/wg/crypto.h"
#include "tun/wg/index.h"
#include "tun/wg/keypair.h"

static const enum ft_aead_impl impls[] = { FT_AEAD_LIBSODIUM, FT_AEAD_OPENSSL };

static void unhex(uint8_t *out, size_t outlen, const char *hex)
{
	size_t len = 0;

	ck_assert_uint_eq(strlen(hex), 2 * outlen);
	ck_assert_int_eq(sodium_hex2bin(out, outlen, hex, strlen(hex), NULL, &len, NULL), 0);
	ck_assert_uint_eq(len, outlen);
}

/*
 * Makes impl the process-wide choice. False when this build cannot (OpenSSL not built): the
 * caller then only checks that it was refused properly.
 */
static bool use(enum ft_aead_impl impl)
{
	int rc = ft_aead_select(impl, NULL);

	if (!ft_aead_impl_built(impl)) {
		ck_assert_int_eq(rc, -ENOTSUP);
		return false;
	}
	ck_assert_int_eq(rc, 0);
	return true;
}

/* ---- RFC 8439 section 2.8.2 ------------------------------------------------------------- */

static const char rfc_plain[] = "Ladies and Gentlemen of the class of '99: If I could offer you "
				"only one tip for the future, sunscreen would be it.";
static const char rfc_cipher[] = "d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d6"
				 "3dbea45e8ca9671282fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b36"
				 "92ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc"
				 "3ff4def08e4b7a9de576d26586cec64b6116";
static const char rfc_tag[] = "1ae10b594f09e26a7e902ecbd0600691";

START_TEST(test_rfc8439_2_8_2)
{
	enum ft_aead_impl impl = impls[_i];
	uint8_t key[32], nonce[12], ad[12], buf[114], want[114], tag[16], bad[16];

	for (int i = 0; i < 32; i++)
		key[i] = (uint8_t)(0x80 + i);
	unhex(nonce, sizeof(nonce), "070000004041424344454647");
	unhex(ad, sizeof(ad), "50515253c0c1c2c3c4c5c6c7");
	unhex(want, sizeof(want), rfc_cipher);
	ck_assert_uint_eq(strlen(rfc_plain), sizeof(buf));
	memcpy(buf, rfc_plain, sizeof(buf));
	if (!ft_aead_impl_built(impl)) {
		ck_assert_int_eq(ft_aead_encrypt_with(impl, buf, sizeof(buf), tag, ad, sizeof(ad),
						      nonce, key),
				 -ENOTSUP);
		return;
	}
	ck_assert_int_eq(
		ft_aead_encrypt_with(impl, buf, sizeof(buf), tag, ad, sizeof(ad), nonce, key), 0);
	ck_assert_mem_eq(buf, want, sizeof(want));
	unhex(bad, sizeof(bad), rfc_tag);
	ck_assert_mem_eq(tag, bad, sizeof(bad));
	ck_assert_int_eq(
		ft_aead_decrypt_with(impl, buf, sizeof(buf), tag, ad, sizeof(ad), nonce, key), 0);
	ck_assert_mem_eq(buf, rfc_plain, sizeof(buf));

	/* Every bit of the tag, the AD and the nonce counts. */
	for (size_t i = 0; i < 16 * 8; i++) {
		memcpy(buf, want, sizeof(buf));
		memcpy(bad, tag, sizeof(bad));
		bad[i / 8] ^= (uint8_t)(1u << (i % 8));
		ck_assert_int_eq(ft_aead_decrypt_with(impl, buf, sizeof(buf), bad, ad, sizeof(ad),
						      nonce, key),
				 -EBADMSG);
	}
	memcpy(buf, want, sizeof(buf));
	ck_assert_int_eq(ft_aead_decrypt_with(impl, buf, sizeof(buf), tag, ad, sizeof(ad) - 1,
					      nonce, key),
			 -EBADMSG);
	memcpy(buf, want, sizeof(buf));
	nonce[0] ^= 1;
	ck_assert_int_eq(ft_aead_decrypt_with(impl, buf, sizeof(buf), tag, ad, sizeof(ad), nonce,
					      key),
			 -EBADMSG);
	ck_assert_int_eq(ft_aead_encrypt_with(FT_AEAD_AUTO, buf, 1, tag, NULL, 0, nonce, key),
			 -EINVAL);
}
END_TEST

/* ---- RFC 8439 appendix A.5: WireGuard's nonce format ------------------------------------ */

static const char a5_cipher[] = "64a0861575861af460f062c79be643bd5e805cfd345cf389f108670ac76c8cb2"
				"4c6cfc18755d43eea09ee94e382d26b0bdb7b73c321b0100d4f03b7f355894cf"
				"332f830e710b97ce98c8a84abd0b948114ad176e008d33bd60f982b1ff37c855"
				"9797a06ef4f0ef61c186324e2b3506383606907b6a7c02b0f9f6157b53c867e4"
				"b9166c767b804d46a59b5216cde7a4e99040c5a40433225ee282a1b0a06c523e"
				"af4534d7f83fa1155b0047718cbc546a0d072b04b3564eea1b422273f548271a"
				"0bb2316053fa76991955ebd63159434ecebb4e466dae5a1073a6727627097a10"
				"49e617d91d361094fa68f0ff77987130305beaba2eda04df997b714d6c6f2c29"
				"a6ad5cb4022b02709b";

START_TEST(test_rfc8439_a5)
{
	static const char prefix[] = "Internet-Drafts are draft documents valid for a maximum of "
				     "six months";
	uint8_t key[32], ad[12], tag[16], want_tag[16], buf[265], want[265];
	const uint64_t counter = 0x0807060504030201ULL;

	if (!use(impls[_i]))
		return;
	unhex(key, sizeof(key), "1c9240a5eb55d38af333888604f6b5f0473917c1402b80099dca5cbc207075c0");
	unhex(ad, sizeof(ad), "f33388860000000000004e91");
	unhex(want, sizeof(want), a5_cipher);
	unhex(want_tag, sizeof(want_tag), "eead9d67890cbb22392336fea1851f38");
	memcpy(buf, want, sizeof(buf));
	/* Decryption: the tag verifies and the text is the RFC's. */
	ck_assert_int_eq(ft_aead_decrypt(buf, sizeof(buf), want_tag, ad, sizeof(ad), counter, key),
			 0);
	ck_assert_mem_eq(buf, prefix, strlen(prefix));
	/* Encryption gives the ciphertext and tag back, also through crypto.h's wrapper. */
	ft_aead_encrypt(buf, sizeof(buf), tag, ad, sizeof(ad), counter, key);
	ck_assert_mem_eq(buf, want, sizeof(want));
	ck_assert_mem_eq(tag, want_tag, sizeof(tag));
	ck_assert_int_eq(ft_crypto_aead_decrypt_detached(buf, sizeof(buf), want_tag, ad, sizeof(ad),
							 counter, key),
			 0);
	ck_assert_mem_eq(buf, prefix, strlen(prefix));
	ft_crypto_aead_encrypt_detached(buf, sizeof(buf), tag, ad, sizeof(ad), counter, key);
	ck_assert_mem_eq(buf, want, sizeof(want));
	ck_assert_mem_eq(tag, want_tag, sizeof(tag));
	/* The wrong counter fails. */
	ck_assert_int_eq(ft_aead_decrypt(buf, sizeof(buf), want_tag, ad, sizeof(ad), counter + 1,
					 key),
			 -EBADMSG);
}
END_TEST

/* ---- WireGuard transport messages ------------------------------------------------------- */

/*
 * Sent with the key 32 x 0x11 and MTU 1420 (padding to 16 bytes). The 84-byte payload is an
 * ICMP echo request 100.64.0.1 -> 100.64.0.2 (IPv4 header, ICMP header, bytes 0..55); the
 * 1420-byte one is the bytes (7 i + 1) mod 256, compared through its BLAKE2s-256 digest.
 */
static const uint8_t ping[84] = {
	0x45, 0x00, 0x00, 0x54, 0x12, 0x34, 0x40, 0x00, 0x40, 0x01, 0x00, 0x00, /* IPv4 */
	0x64, 0x40, 0x00, 0x01, 0x64, 0x40, 0x00, 0x02,				/* addresses */
	0x08, 0x00, 0x00, 0x00, 0xab, 0xcd, 0x00, 0x01,				/* ICMP echo */
	0,    1,    2,	  3,	4,    5,    6,	  7,	8,    9,    10,	  11,	12, 13,
	14,   15,   16,	  17,	18,   19,   20,	  21,	22,   23,   24,	  25,	26, 27,
	28,   29,   30,	  31,	32,   33,   34,	  35,	36,   37,   38,	  39,	40, 41,
	42,   43,   44,	  45,	46,   47,   48,	  49,	50,   51,   52,	  53,	54, 55,
};

static const struct {
	const char *name;
	uint32_t receiver;
	uint64_t counter;
	size_t len;	    /* of the plaintext: 0 (keepalive), sizeof(ping) or 1420 */
	size_t msg_len;	    /* of the message */
	const char *msg;    /* the whole message in hex, or NULL */
	const char *digest; /* BLAKE2s-256 of the message, when msg is NULL */
} wg[] = {
	{ "keepalive", 0x01020304, 0, 0, 32,
	  "04000000040302010000000000000000692b14695e4985862cabef6340dbb5ef", NULL },
	{ "ping", 0xdeadbeef, 1, sizeof(ping), 128,
	  "04000000efbeadde0100000000000000942481e2f75188c35bf3fcae6a90c65a"
	  "d3f1b5250b14fa5af931f793a0bab910b8c6a1c7c8e1a7037a3e65494c123b8c"
	  "32c3f9768e2bcffcbabec325dfbb7dbbc3289fd4b6a4d4eb7bf3ebb09e09408c"
	  "8a6e3527e5e545e84fbe2df25f8d811ea823dca4a051eac2e5bf1ea26f7e289e",
	  NULL },
	{ "1420 bytes", 7, (1ULL << 32) + 5, 1420, 1452, NULL,
	  "f61a8bbc9c063636db26754a341f7f60bf6c12f9c46707fbe2c11025bbe21639" },
};

static uint32_t fixed_index(void *arg)
{
	return *(uint32_t *)arg;
}

/* A sender with the vector's key, remote index and counter, and a receiver with that key. */
struct link {
	struct ft_index_table *t;
	struct ft_keypair_set *tx, *rx;
	struct ft_index_entry hs_tx, hs_rx;
};

static void link_up(struct link *l, uint32_t receiver, uint64_t counter)
{
	uint8_t k[32], other[32];
	uint32_t tx_index = 1, rx_index = receiver;

	memset(k, 0x11, sizeof(k));
	memset(other, 0x22, sizeof(other));
	l->t = ft_index_create();
	l->tx = sodium_malloc(sizeof(*l->tx));
	l->rx = sodium_malloc(sizeof(*l->rx));
	ck_assert(l->t && l->tx && l->rx);
	ft_keypair_set_init(l->tx);
	ft_keypair_set_init(l->rx);
	memset(&l->hs_tx, 0, sizeof(l->hs_tx));
	memset(&l->hs_rx, 0, sizeof(l->hs_rx));
	l->hs_tx.kind = l->hs_rx.kind = FT_INDEX_HANDSHAKE;
	ft_index_insert(l->t, &l->hs_tx, fixed_index, &tx_index);
	ft_index_insert(l->t, &l->hs_rx, fixed_index, &rx_index);
	ck_assert_ptr_nonnull(
		ft_keypair_set_install(l->tx, l->t, &l->hs_tx, NULL, k, other, receiver, true, 0));
	ck_assert_ptr_nonnull(
		ft_keypair_set_install(l->rx, l->t, &l->hs_rx, NULL, other, k, 1, false, 0));
	l->tx->current->send_counter = counter;
}

static void link_down(struct link *l)
{
	ft_keypair_set_clear(l->tx, l->t);
	ft_keypair_set_clear(l->rx, l->t);
	sodium_free(l->tx);
	sodium_free(l->rx);
	ft_index_destroy(l->t);
}

/* _i: vector * 2 + implementation. */
START_TEST(test_wireguard_transport)
{
	size_t v = (size_t)_i / 2, len = wg[v].len, out_len = 0, plain_len = 0;
	uint8_t buf[1600], plain[1420], want[128], digest[32], want_digest[32];
	struct link l;

	if (!use(impls[_i % 2]))
		return;
	for (size_t i = 0; i < sizeof(plain); i++)
		plain[i] = (uint8_t)(7 * i + 1);
	if (len == sizeof(ping))
		memcpy(plain, ping, sizeof(ping));
	link_up(&l, wg[v].receiver, wg[v].counter);
	memcpy(buf + 16, plain, len);
	ck_assert_int_eq(
		ft_keypair_encrypt(l.tx->current, buf, len, sizeof(buf), 1420, 1, &out_len), 0);
	ck_assert_uint_eq(out_len, wg[v].msg_len);
	if (wg[v].msg) {
		unhex(want, out_len, wg[v].msg);
		ck_assert_mem_eq(buf, want, out_len);
	} else {
		ft_crypto_hash(digest, buf, out_len);
		unhex(want_digest, sizeof(want_digest), wg[v].digest);
		ck_assert_mem_eq(digest, want_digest, sizeof(digest));
	}
	ck_assert_uint_eq(ft_wire_load_le32(buf + 4), wg[v].receiver);
	ck_assert_int_eq(ft_keypair_decrypt(l.rx->next, buf, out_len, 1, &plain_len), 0);
	ck_assert_uint_eq(plain_len, out_len - 32);
	ck_assert_mem_eq(buf + 16, plain, len);
	link_down(&l);
}
END_TEST

/* Every byte after the receiver index is authenticated, whichever implementation checks it. */
START_TEST(test_tamper)
{
	uint8_t buf[256], copy[256];
	size_t out_len, plain_len;
	struct link l;

	if (!use(impls[_i]))
		return;
	link_up(&l, 9, 0);
	memset(buf + 16, 0x5a, 100);
	ck_assert_int_eq(
		ft_keypair_encrypt(l.tx->current, buf, 100, sizeof(buf), 1420, 1, &out_len), 0);
	memcpy(copy, buf, out_len);
	for (size_t i = 8; i < out_len; i++) {
		memcpy(buf, copy, out_len);
		buf[i] ^= 0x80;
		ck_assert_int_eq(ft_keypair_decrypt(l.rx->next, buf, out_len, 1, &plain_len),
				 -EBADMSG);
	}
	memcpy(buf, copy, out_len);
	ck_assert_int_eq(ft_keypair_decrypt(l.rx->next, buf, out_len - 1, 1, &plain_len), -EBADMSG);
	memcpy(buf, copy, out_len);
	ck_assert_int_eq(ft_keypair_decrypt(l.rx->next, buf, out_len, 1, &plain_len), 0);
	link_down(&l);
}
END_TEST

/*
 * The two implementations agree at every length from 0 to 1500, with and without AD: what one
 * seals the other opens, and the split by size (OpenSSL from 256 bytes) gives the same bytes.
 */
START_TEST(test_cross)
{
	uint8_t key[32], nonce[12] = { 0 }, a[1500], b[1500], ta[16], tb[16];
	const uint8_t ad[] = "associated";

	if (!ft_aead_impl_built(FT_AEAD_OPENSSL)) {
		ck_assert_int_eq(ft_aead_select_split(256), -ENOTSUP);
		return;
	}
	ck_assert_int_eq(ft_aead_select_split(256), 0);
	randombytes_buf(key, sizeof(key));
	for (size_t len = 0; len <= sizeof(a); len += len < 80 ? 1 : 37) {
		size_t adlen = len % 3 ? 0 : sizeof(ad);
		uint64_t counter = len * 0x10001ULL;

		randombytes_buf(a, len);
		memcpy(b, a, len);
		nonce[4] = (uint8_t)counter; /* the little-endian counter of the line below */
		for (int i = 1; i < 8; i++)
			nonce[4 + i] = (uint8_t)(counter >> (8 * i));
		ck_assert_int_eq(ft_aead_encrypt_with(FT_AEAD_LIBSODIUM, a, len, ta, ad, adlen,
						      nonce, key),
				 0);
		ft_aead_encrypt(b, len, tb, ad, adlen, counter, key);
		ck_assert_mem_eq(a, b, len);
		ck_assert_mem_eq(ta, tb, 16);
		ck_assert_int_eq(ft_aead_decrypt_with(FT_AEAD_OPENSSL, a, len, ta, ad, adlen, nonce,
						      key),
				 0);
		ck_assert_int_eq(ft_aead_decrypt_with(FT_AEAD_LIBSODIUM, b, len, tb, ad, adlen,
						      nonce, key),
				 0);
		ck_assert_mem_eq(a, b, len);
	}
}
END_TEST

START_TEST(test_select)
{
	struct ft_aead_choice c;
	enum ft_aead_impl impl;
	char text[96];

	ck_assert_int_eq(ft_aead_impl_parse("auto", &impl), 0);
	ck_assert_int_eq(impl, FT_AEAD_AUTO);
	ck_assert_int_eq(ft_aead_impl_parse("LibSodium", &impl), 0);
	ck_assert_int_eq(impl, FT_AEAD_LIBSODIUM);
	ck_assert_int_eq(ft_aead_impl_parse("openssl", &impl), 0);
	ck_assert_int_eq(impl, FT_AEAD_OPENSSL);
	ck_assert_int_eq(ft_aead_impl_parse("aes", &impl), -EINVAL);
	ck_assert_int_eq(ft_aead_impl_parse("", &impl), -EINVAL);
	ck_assert_str_eq(ft_aead_impl_name(FT_AEAD_OPENSSL), "openssl");
	ck_assert(ft_aead_impl_built(FT_AEAD_LIBSODIUM) && ft_aead_impl_built(FT_AEAD_AUTO));

	ck_assert_int_eq(ft_aead_select(FT_AEAD_LIBSODIUM, &c), 0);
	ck_assert_uint_eq(c.openssl_from, SIZE_MAX);
	ft_aead_describe(text, sizeof(text));
	ck_assert_str_eq(text, "libsodium");

	if (use(FT_AEAD_OPENSSL)) {
		ft_aead_current(&c);
		ck_assert_uint_eq(c.openssl_from, 0);
		ft_aead_describe(text, sizeof(text));
		ck_assert_str_eq(text, "openssl");
		ck_assert_int_eq(ft_aead_select_split(512), 0);
		ft_aead_describe(text, sizeof(text));
		ck_assert_str_eq(text, "openssl from 512 B, libsodium below (auto)");
		ck_assert_str_ne(ft_aead_openssl_version(), "");
	} else {
		/* A refused choice leaves the one in force. */
		ft_aead_current(&c);
		ck_assert_uint_eq(c.openssl_from, SIZE_MAX);
	}

	/* auto: measured when there is a choice; the split is a probe size, or all, or none. */
	ck_assert_int_eq(ft_aead_select(FT_AEAD_AUTO, &c), 0);
	ck_assert_int_eq(c.asked, FT_AEAD_AUTO);
	ck_assert(c.measured == ft_aead_impl_built(FT_AEAD_OPENSSL));
	if (c.measured) {
		bool found = c.openssl_from == 0 || c.openssl_from == SIZE_MAX;

		for (int i = 0; i < FT_AEAD_PROBE_SIZES; i++) {
			ck_assert(c.probe_ns[0][i] > 0 && c.probe_ns[1][i] > 0);
			found = found || (i > 0 && c.openssl_from == c.probe_len[i]);
		}
		ck_assert(found);
	} else {
		ck_assert_uint_eq(c.openssl_from, SIZE_MAX);
	}
	ft_aead_describe(text, sizeof(text));
	ck_assert(strstr(text, " (auto)") != NULL);
}
END_TEST

/* Forgetting and freeing the contexts leaves them usable; a thread's go when it ends. */
static void *thread_main(void *arg)
{
	static const uint8_t key[32] = { 1 }, nonce[12] = { 0 };
	uint8_t buf[300] = { 0 }, tag[16];
	int *rc = arg;

	*rc = ft_aead_encrypt_with(FT_AEAD_OPENSSL, buf, sizeof(buf), tag, NULL, 0, nonce, key);
	if (*rc == 0)
		*rc = ft_aead_decrypt_with(FT_AEAD_OPENSSL, buf, sizeof(buf), tag, NULL, 0, nonce,
					   key);
	return NULL;
}

START_TEST(test_forget_and_threads)
{
	uint8_t key[32], buf[1420], copy[1420], tag[16];
	pthread_t th;
	int rc = -1;

	if (!use(FT_AEAD_OPENSSL))
		return;
	memset(key, 0x33, sizeof(key));
	randombytes_buf(copy, sizeof(copy));
	for (int round = 0; round < 3; round++) {
		memcpy(buf, copy, sizeof(buf));
		ft_aead_encrypt(buf, sizeof(buf), tag, NULL, 0, 5, key);
		if (round == 1)
			ft_aead_forget();
		if (round == 2)
			ft_aead_thread_cleanup();
		ck_assert_int_eq(ft_aead_decrypt(buf, sizeof(buf), tag, NULL, 0, 5, key), 0);
		ck_assert_mem_eq(buf, copy, sizeof(buf));
	}
	ck_assert_int_eq(pthread_create(&th, NULL, thread_main, &rc), 0);
	ck_assert_int_eq(pthread_join(th, NULL), 0);
	ck_assert_int_eq(rc, 0);
	ft_aead_thread_cleanup();
	ft_aead_thread_cleanup(); /* twice is harmless */
}
END_TEST

#define N(a) (int)(sizeof(a) / sizeof((a)[0]))

static Suite *aead_suite(void)
{
	Suite *s = suite_create("aead");
	TCase *tc = tcase_create("aead");

	/* The measurement of auto takes some milliseconds; valgrind makes that seconds. */
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_rfc8439_2_8_2, 0, N(impls));
	tcase_add_loop_test(tc, test_rfc8439_a5, 0, N(impls));
	tcase_add_loop_test(tc, test_wireguard_transport, 0, 2 * N(wg));
	tcase_add_loop_test(tc, test_tamper, 0, N(impls));
	tcase_add_test(tc, test_cross);
	tcase_add_test(tc, test_select);
	tcase_add_test(tc, test_forget_and_threads);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr;
	int failed;

	if (sodium_init() < 0)
		return 1;
	sr = srunner_create(aead_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	/* Under CK_FORK=no (valgrind) the contexts of this thread are still here. */
	ft_aead_thread_cleanup();
	return failed ? 1 : 0;
}
