// SPDX-License-Identifier: MIT
/*
 * The primitives of tun/wg/crypto.h against known answers.
 *
 * Where no RFC vector fits WireGuard's use (HMAC-BLAKE2s, the KDF, the AEAD with the
 * 4-zero-byte || little-endian counter nonce), the expected values were computed
 * independently with Python 3.11: hashlib.blake2s, hmac.new(key, msg, hashlib.blake2s),
 * the KDF written out from the paper (t0 = HMAC(k, in), ti = HMAC(t0, t(i-1) || i)), and
 * cryptography 48's ChaCha20Poly1305 and X25519, e.g.
 *   hmac.new(b"Jefe", b"what do ya want for nothing?", hashlib.blake2s).hexdigest()
 */
#include "config.h"

#include <errno.h>
#include <string.h>

#include <check.h>
#include <sodium.h>

#include "tun/wg/crypto.h"

static void unhex(uint8_t *out, size_t outlen, const char *hex)
{
	size_t len = 0;

	ck_assert_uint_eq(strlen(hex), 2 * outlen);
	ck_assert_int_eq(sodium_hex2bin(out, outlen, hex, strlen(hex), NULL, &len, NULL), 0);
	ck_assert_uint_eq(len, outlen);
}

static void assert_hex(const uint8_t *got, size_t len, const char *want_hex)
{
	char hex[2 * 64 + 1];

	ck_assert_uint_le(len, 64);
	sodium_bin2hex(hex, sizeof(hex), got, len);
	ck_assert_str_eq(hex, want_hex);
}

/* BLAKE2s-256: RFC 7693 appendix B ("abc") and the empty input. */
static const struct {
	const char *in, *hash;
} hash_vectors[] = {
	{ "abc", "508c5e8c327c14e2e1a72ba34eeb452f37458b209ed63a294d999b4c86675982" },
	{ "", "69217a3079908094e11121d042354a7c1f55b6482ca1a51e1b250dfd1ed0eef9" },
	{ "Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s",
	  "60e26daef327efc02ec335e2a025d2d016eb4206f87277f52d38d1988b78cd36" },
};

START_TEST(test_hash)
{
	uint8_t out[FT_CRYPTO_HASH_LEN];
	const char *in = hash_vectors[_i].in;

	ft_crypto_hash(out, in, strlen(in));
	assert_hex(out, sizeof(out), hash_vectors[_i].hash);
	ft_crypto_keyed_hash(out, sizeof(out), NULL, 0, in, strlen(in));
	assert_hex(out, sizeof(out), hash_vectors[_i].hash);
}
END_TEST

START_TEST(test_hash_incremental)
{
	uint8_t in[200], whole[FT_CRYPTO_HASH_LEN], part[FT_CRYPTO_HASH_LEN];
	struct ft_crypto_hash h;

	for (size_t i = 0; i < sizeof(in); i++)
		in[i] = (uint8_t)(i * 7 + 1);
	ft_crypto_hash(whole, in, sizeof(in));
	/* Every split point, including across the 64-byte block boundaries. */
	for (size_t split = 0; split <= sizeof(in); split++) {
		ft_crypto_hash_init(&h);
		ft_crypto_hash_update(&h, in, split);
		ft_crypto_hash_update(&h, in + split, sizeof(in) - split);
		ft_crypto_hash_final(&h, part);
		ck_assert_mem_eq(whole, part, sizeof(whole));
		ft_crypto_hash2(part, in, split, in + split, sizeof(in) - split);
		ck_assert_mem_eq(whole, part, sizeof(whole));
	}
}
END_TEST

/* RFC 7693 appendix E: the BLAKE2s self-test over digest sizes, input sizes and keys. */
static void selftest_seq(uint8_t *out, size_t len, uint32_t seed)
{
	uint32_t a = 0xdead4bad * seed, b = 1, t;

	for (size_t i = 0; i < len; i++) {
		t = a + b;
		a = b;
		b = t;
		out[i] = (uint8_t)(t >> 24);
	}
}

START_TEST(test_blake2s_selftest)
{
	static const size_t md_len[] = { 16, 20, 28, 32 };
	static const size_t in_len[] = { 0, 3, 64, 65, 255, 1024 };
	uint8_t in[1024], md[32], key[32], result[32];
	struct ft_crypto_hash ctx;

	ft_crypto_hash_init(&ctx);
	for (size_t i = 0; i < 4; i++) {
		size_t outlen = md_len[i];

		for (size_t j = 0; j < 6; j++) {
			size_t inlen = in_len[j];

			selftest_seq(in, inlen, (uint32_t)inlen);
			ft_crypto_keyed_hash(md, outlen, NULL, 0, in, inlen);
			ft_crypto_hash_update(&ctx, md, outlen);
			selftest_seq(key, outlen, (uint32_t)outlen);
			ft_crypto_keyed_hash(md, outlen, key, outlen, in, inlen);
			ft_crypto_hash_update(&ctx, md, outlen);
		}
	}
	ft_crypto_hash_final(&ctx, result);
	assert_hex(result, sizeof(result),
		   "6a411f08ce25adcdfb02aba641451cec53c598b24f4fc787fbdc88797f4c1dfe");
}
END_TEST

/* Key 00 01 .. 1f (or its first 16 bytes), message "message"; Python hashlib.blake2s. */
static const struct {
	size_t outlen, keylen;
	const char *mac;
} mac_vectors[] = {
	{ 16, 32, "2b75eb9c63ca8524ff53d01905b406eb" },
	{ 32, 32, "fce1b30584dffd5fb5809dda7b1359f4bac57620ba220df3fdbd8d6411b66d1d" },
	{ 16, 16, "37d0934cac1b83cf742574ea32dd9481" },
};

START_TEST(test_keyed_mac)
{
	uint8_t key[32], out[32];

	for (size_t i = 0; i < sizeof(key); i++)
		key[i] = (uint8_t)i;
	ft_crypto_keyed_hash(out, mac_vectors[_i].outlen, key, mac_vectors[_i].keylen, "message",
			     7);
	assert_hex(out, mac_vectors[_i].outlen, mac_vectors[_i].mac);
	if (mac_vectors[_i].outlen == FT_CRYPTO_MAC_LEN) {
		ft_crypto_mac(out, key, mac_vectors[_i].keylen, "message", 7);
		assert_hex(out, FT_CRYPTO_MAC_LEN, mac_vectors[_i].mac);
	}
}
END_TEST

/* HMAC-BLAKE2s: RFC 4231's test case inputs 1, 2 and 6 (a 131-byte key), and an empty input. */
static const struct {
	uint8_t key_byte; /* the key is key_len bytes of key_byte, or "Jefe", or 00 01 .. 3f */
	size_t key_len;
	const char *msg, *hmac;
} hmac_vectors[] = {
	{ 0x0b, 20, "Hi There",
	  "65a8b7c5cc9136d424e82c37e2707e74e913c0655b99c75f40edf387453a3260" },
	{ 0, 4, "what do ya want for nothing?",
	  "90b6281e2f3038c9056af0b4a7e763cae6fe5d9eb4386a0ec95237890c104ff0" },
	{ 0xaa, 131, "Test Using Larger Than Block-Size Key - Hash Key First",
	  "d23d79394f53d536a096e6514447eeaabb05ded01be32c1937da6a8f7103bc4e" },
	{ 1, 64, "", "4a4f8f181c931253202b2d7a77e2a612f65580f4b0d56108f7f275f22b63ae00" },
};

START_TEST(test_hmac)
{
	uint8_t key[131], out[FT_CRYPTO_HASH_LEN];
	size_t klen = hmac_vectors[_i].key_len;

	if (hmac_vectors[_i].key_byte == 0)
		memcpy(key, "Jefe", 4);
	else if (hmac_vectors[_i].key_byte == 1)
		for (size_t i = 0; i < klen; i++)
			key[i] = (uint8_t)i;
	else
		memset(key, hmac_vectors[_i].key_byte, klen);
	ft_crypto_hmac(out, key, klen, hmac_vectors[_i].msg, strlen(hmac_vectors[_i].msg));
	assert_hex(out, sizeof(out), hmac_vectors[_i].hmac);
}
END_TEST

/* KDF3 with key 00 01 .. 1f; Python: t0 = hmac(k, in), t1 = hmac(t0, 01), t2 = ... */
static const struct {
	const char *in, *t1, *t2, *t3;
} kdf_vectors[] = {
	{ "input", "87b7f70b24183c6db5dc4f6d9f4c47cdb203321aa2a0bef714896adb3107a040",
	  "538a02e1eb2e31b7e4d4b82476d1fe2acf50085d3fb584537279195f5d1f5824",
	  "9ad858025593be88de0f9442a589cfe84a88dc19e4753d93684d1c5efc4837f9" },
	{ "", "7a38c34bf2b8738d7374ca77c44ecb309a11d2b2528304fa86052c365e722624",
	  "1a17621f346abdc520746a9fb64d8eb03231d674fc15687537b0780fd9c060fd",
	  "4eaf02809ac4b930ef63479de62275f1c55656e61f78a3cc653c18a2223d6c5f" },
};

START_TEST(test_kdf)
{
	uint8_t key[32], t1[32], t2[32], t3[32], alias[32];
	const char *in = kdf_vectors[_i].in;

	for (size_t i = 0; i < sizeof(key); i++)
		key[i] = (uint8_t)i;
	ft_crypto_kdf(t1, t2, t3, key, in, strlen(in));
	assert_hex(t1, 32, kdf_vectors[_i].t1);
	assert_hex(t2, 32, kdf_vectors[_i].t2);
	assert_hex(t3, 32, kdf_vectors[_i].t3);

	/* KDF1 and KDF2 are prefixes of KDF3. */
	memset(t1, 0, 32);
	memset(t2, 0, 32);
	ft_crypto_kdf(t1, NULL, NULL, key, in, strlen(in));
	assert_hex(t1, 32, kdf_vectors[_i].t1);
	ft_crypto_kdf(t1, t2, NULL, key, in, strlen(in));
	assert_hex(t2, 32, kdf_vectors[_i].t2);
	ft_crypto_kdf(NULL, t2, NULL, key, in, strlen(in));
	assert_hex(t2, 32, kdf_vectors[_i].t2);

	/* The Noise step ck = KDF(ck, in): outputs aliasing the key. */
	memcpy(alias, key, 32);
	ft_crypto_kdf(alias, t2, t3, alias, in, strlen(in));
	assert_hex(alias, 32, kdf_vectors[_i].t1);
	memcpy(alias, key, 32);
	ft_crypto_kdf(t1, alias, NULL, alias, in, strlen(in));
	assert_hex(alias, 32, kdf_vectors[_i].t2);
}
END_TEST

/* RFC 7748: section 5.2 (two single multiplications) and section 6.1 (the shared secret). */
static const struct {
	const char *scalar, *u, *out;
} x25519_vectors[] = {
	{ "a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4",
	  "e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c",
	  "c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552" },
	{ "4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d",
	  "e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493",
	  "95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957" },
	{ "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a",
	  "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f",
	  "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742" },
	{ "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb",
	  "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a",
	  "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742" },
};

START_TEST(test_x25519)
{
	uint8_t s[32], u[32], out[32];

	unhex(s, 32, x25519_vectors[_i].scalar);
	unhex(u, 32, x25519_vectors[_i].u);
	ck_assert_int_eq(ft_crypto_dh(out, s, u), 0);
	assert_hex(out, 32, x25519_vectors[_i].out);
}
END_TEST

/* RFC 7748 section 5.2: k = u = 9, then k, u = X25519(k, u), k; after 1 and 1000 rounds. */
START_TEST(test_x25519_iterated)
{
	uint8_t k[32] = { 9 }, u[32] = { 9 }, r[32];

	for (int i = 1; i <= 1000; i++) {
		ck_assert_int_eq(ft_crypto_dh(r, k, u), 0);
		memcpy(u, k, 32);
		memcpy(k, r, 32);
		if (i == 1)
			assert_hex(
				k, 32,
				"422c8e7a6227d7bca1350b3e2bb7279f7897b87bb6854b783c60e80311ae3079");
	}
	assert_hex(k, 32, "684cf59ba83309552800ef566f2f4d3c1c3887c49360e3875f2eb94d99532c51");
}
END_TEST

/* Points of small order: every scalar gives the all-zero result, which must be rejected. */
static const char *const low_order[] = {
	"0000000000000000000000000000000000000000000000000000000000000000",
	"0100000000000000000000000000000000000000000000000000000000000000",
	"e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
	"5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
	"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
};

START_TEST(test_x25519_zero_rejected)
{
	uint8_t s[32], u[32], out[32];

	unhex(s, 32, x25519_vectors[0].scalar);
	unhex(u, 32, low_order[_i]);
	memset(out, 0xee, sizeof(out));
	ck_assert_int_eq(ft_crypto_dh(out, s, u), -EINVAL);
	ck_assert(sodium_is_zero(out, sizeof(out)));
}
END_TEST

static uint8_t fake_rng_state;

static void fake_rng(void *buf, size_t len)
{
	memset(buf, fake_rng_state++, len);
}

START_TEST(test_dh_generate)
{
	uint8_t a[32], apub[32], b[32], bpub[32], ab[32], ba[32], again[32];

	fake_rng_state = 0x41;
	ft_crypto_dh_generate(a, apub, fake_rng);
	fake_rng_state = 0x41;
	ft_crypto_dh_generate(b, bpub, fake_rng);
	/* The rng hook makes generation deterministic. */
	ck_assert_mem_eq(a, b, 32);
	ck_assert_mem_eq(apub, bpub, 32);
	ck_assert_int_eq(a[0] & 7, 0);
	ck_assert_int_eq(a[31] & 0xc0, 0x40);
	ck_assert_int_eq(ft_crypto_dh_public(again, a), 0);
	ck_assert_mem_eq(again, apub, 32);

	ft_crypto_dh_generate(a, apub, NULL);
	ft_crypto_dh_generate(b, bpub, NULL);
	ck_assert_int_eq(ft_crypto_dh(ab, a, bpub), 0);
	ck_assert_int_eq(ft_crypto_dh(ba, b, apub), 0);
	ck_assert_mem_eq(ab, ba, 32);
}
END_TEST

/*
 * Key 80 81 .. 9f, counter 0x0102030405060708, ad "ad": cryptography's ChaCha20Poly1305
 * with nonce 00000000 0807060504030201.
 */
static const char aead_plain[] = "The WireGuard transport payload.";
static const char aead_cipher[] = "a0d98b9b07b329b864c410f96a5711ad921d279b5d58e78e7b5101f20a2aed4c"
				  "ad9cf70c1d35bc84a7f2cd1191d0ffa9";
static const uint64_t aead_counter = 0x0102030405060708ULL;

static void aead_key(uint8_t key[32])
{
	for (int i = 0; i < 32; i++)
		key[i] = (uint8_t)(0x80 + i);
}

START_TEST(test_aead_vector)
{
	uint8_t key[32], out[32 + 16], buf[32 + 16], tag[16], want[48];
	char hex[2 * 48 + 1];

	aead_key(key);
	unhex(want, sizeof(want), aead_cipher);
	ft_crypto_aead_encrypt(out, (const uint8_t *)aead_plain, 32, (const uint8_t *)"ad", 2,
			       aead_counter, key);
	sodium_bin2hex(hex, sizeof(hex), out, sizeof(out));
	ck_assert_str_eq(hex, aead_cipher);

	/* In place, combined and detached. */
	memcpy(buf, aead_plain, 32);
	ft_crypto_aead_encrypt(buf, buf, 32, (const uint8_t *)"ad", 2, aead_counter, key);
	ck_assert_mem_eq(buf, want, sizeof(want));
	ck_assert_int_eq(ft_crypto_aead_decrypt(buf, buf, 48, (const uint8_t *)"ad", 2,
						aead_counter, key),
			 0);
	ck_assert_mem_eq(buf, aead_plain, 32);
	ft_crypto_aead_encrypt_detached(buf, 32, tag, (const uint8_t *)"ad", 2, aead_counter, key);
	ck_assert_mem_eq(buf, want, 32);
	ck_assert_mem_eq(tag, want + 32, 16);
	ck_assert_int_eq(ft_crypto_aead_decrypt_detached(buf, 32, tag, (const uint8_t *)"ad", 2,
							 aead_counter, key),
			 0);
	ck_assert_mem_eq(buf, aead_plain, 32);

	/* The empty payload of a keepalive (counter 0, no ad): the tag alone. */
	ft_crypto_aead_encrypt(out, NULL, 0, NULL, 0, 0, key);
	assert_hex(out, 16, "3ae5d3f2a376d317eaea5aef0215ba54");
	ck_assert_int_eq(ft_crypto_aead_decrypt(NULL, out, 16, NULL, 0, 0, key), 0);
}
END_TEST

/* Each tampering makes decryption fail: every byte of ciphertext and tag, ad, counter, key. */
START_TEST(test_aead_tamper)
{
	uint8_t key[32], c[48], p[32];

	aead_key(key);
	unhex(c, sizeof(c), aead_cipher);
	for (size_t i = 0; i < sizeof(c); i++) {
		c[i] ^= 0x01;
		ck_assert_int_eq(ft_crypto_aead_decrypt(p, c, sizeof(c), (const uint8_t *)"ad", 2,
							aead_counter, key),
				 -EBADMSG);
		c[i] ^= 0x01;
	}
	ck_assert_int_eq(ft_crypto_aead_decrypt(p, c, sizeof(c), (const uint8_t *)"ae", 2,
						aead_counter, key),
			 -EBADMSG);
	ck_assert_int_eq(ft_crypto_aead_decrypt(p, c, sizeof(c), NULL, 0, aead_counter, key),
			 -EBADMSG);
	ck_assert_int_eq(ft_crypto_aead_decrypt(p, c, sizeof(c), (const uint8_t *)"ad", 2,
						aead_counter + 1, key),
			 -EBADMSG);
	ck_assert_int_eq(ft_crypto_aead_decrypt(p, c, 15, (const uint8_t *)"ad", 2, aead_counter,
						key),
			 -EBADMSG);
	key[0] ^= 1;
	ck_assert_int_eq(ft_crypto_aead_decrypt(p, c, sizeof(c), (const uint8_t *)"ad", 2,
						aead_counter, key),
			 -EBADMSG);
	key[0] ^= 1;
	ck_assert_int_eq(ft_crypto_aead_decrypt(p, c, sizeof(c), (const uint8_t *)"ad", 2,
						aead_counter, key),
			 0);
}
END_TEST

START_TEST(test_xaead)
{
	uint8_t key[32], nonce[24], c[16 + 16], p[16], msg[16];

	aead_key(key);
	for (int i = 0; i < 24; i++)
		nonce[i] = (uint8_t)(0x40 + i);
	memcpy(msg, "a cookie, 16 B.", 16);
	ft_crypto_xaead_encrypt(c, msg, 16, (const uint8_t *)"mac1", 4, nonce, key);
	ck_assert_int_eq(ft_crypto_xaead_decrypt(p, c, sizeof(c), (const uint8_t *)"mac1", 4, nonce,
						 key),
			 0);
	ck_assert_mem_eq(p, msg, 16);

	/* Agrees with libsodium's XChaCha20-Poly1305 called directly. */
	{
		uint8_t ref[32];
		unsigned long long rlen;

		crypto_aead_xchacha20poly1305_ietf_encrypt(
			ref, &rlen, msg, 16, (const uint8_t *)"mac1", 4, NULL, nonce, key);
		ck_assert_mem_eq(ref, c, 32);
	}

	for (size_t i = 0; i < sizeof(c); i++) {
		c[i] ^= 0x80;
		ck_assert_int_eq(ft_crypto_xaead_decrypt(p, c, sizeof(c), (const uint8_t *)"mac1",
							 4, nonce, key),
				 -EBADMSG);
		c[i] ^= 0x80;
	}
	nonce[23] ^= 1;
	ck_assert_int_eq(ft_crypto_xaead_decrypt(p, c, sizeof(c), (const uint8_t *)"mac1", 4, nonce,
						 key),
			 -EBADMSG);
	ck_assert_int_eq(ft_crypto_xaead_decrypt(p, c, 15, NULL, 0, nonce, key), -EBADMSG);
}
END_TEST

/* TAI64N: 2^62 + 10 + seconds, big-endian; nanoseconds rounded down to 2^24. */
static const struct {
	time_t sec;
	long nsec;
	const char *tai;
} tai_vectors[] = {
	{ 0, 0, "400000000000000a00000000" },
	{ 1, 999999999, "400000000000000b3b000000" },
	{ 1700000000, 0x12345678, "400000006553f10a12000000" },
	{ 1700000000, 0xffffff, "400000006553f10a00000000" },
};

START_TEST(test_tai64n)
{
	struct timespec ts = { .tv_sec = tai_vectors[_i].sec, .tv_nsec = tai_vectors[_i].nsec };
	uint8_t out[12];

	ft_crypto_tai64n(out, &ts);
	assert_hex(out, sizeof(out), tai_vectors[_i].tai);
}
END_TEST

START_TEST(test_tai64n_order)
{
	struct timespec a = { .tv_sec = 100, .tv_nsec = 0 }, b = a;
	uint8_t ta[12], tb[12];

	ft_crypto_tai64n(ta, &a);
	ft_crypto_tai64n(tb, &b);
	ck_assert(!ft_crypto_tai64n_after(ta, tb));
	b.tv_nsec = 1 << 24;
	ft_crypto_tai64n(tb, &b);
	ck_assert(ft_crypto_tai64n_after(tb, ta));
	ck_assert(!ft_crypto_tai64n_after(ta, tb));
	/* A later second beats any nanoseconds. */
	a.tv_sec = 101;
	b.tv_nsec = 999999999;
	ft_crypto_tai64n(ta, &a);
	ft_crypto_tai64n(tb, &b);
	ck_assert(ft_crypto_tai64n_after(ta, tb));
}
END_TEST

#define N(a) (int)(sizeof(a) / sizeof((a)[0]))

static Suite *crypto_suite(void)
{
	Suite *s = suite_create("crypto");
	TCase *tc = tcase_create("crypto");

	tcase_add_loop_test(tc, test_hash, 0, N(hash_vectors));
	tcase_add_test(tc, test_hash_incremental);
	tcase_add_test(tc, test_blake2s_selftest);
	tcase_add_loop_test(tc, test_keyed_mac, 0, N(mac_vectors));
	tcase_add_loop_test(tc, test_hmac, 0, N(hmac_vectors));
	tcase_add_loop_test(tc, test_kdf, 0, N(kdf_vectors));
	tcase_add_loop_test(tc, test_x25519, 0, N(x25519_vectors));
	tcase_add_test(tc, test_x25519_iterated);
	tcase_add_loop_test(tc, test_x25519_zero_rejected, 0, N(low_order));
	tcase_add_test(tc, test_dh_generate);
	tcase_add_test(tc, test_aead_vector);
	tcase_add_test(tc, test_aead_tamper);
	tcase_add_test(tc, test_xaead);
	tcase_add_loop_test(tc, test_tai64n, 0, N(tai_vectors));
	tcase_add_test(tc, test_tai64n_order);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr;
	int failed;

	if (sodium_init() < 0)
		return 1;
	sr = srunner_create(crypto_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
