// SPDX-License-Identifier: MIT
/* base/: byte order, trim, the unsigned parser, socket addresses. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>
#include <sys/un.h>

#include "base/bytes.h"
#include "base/sockaddr.h"
#include "base/text.h"
#include "tests/check_main.h"

/* ---- bytes ------------------------------------------------------------------------------ */

START_TEST(test_bytes)
{
	/* An odd offset: the accessors must not assume alignment. */
	uint8_t buf[1 + 8] = { 0xee, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08 };
	uint8_t out[1 + 8] = { 0 };

	ck_assert_uint_eq(ft_be16_load(buf + 1), 0x0102);
	ck_assert_uint_eq(ft_be32_load(buf + 1), 0x01020304);
	ck_assert_uint_eq(ft_be64_load(buf + 1), 0x0102030405060708ull);
	ck_assert_uint_eq(ft_le16_load(buf + 1), 0x0201);

	ft_be64_store(out + 1, 0x0102030405060708ull);
	ck_assert_mem_eq(out + 1, buf + 1, 8);
	memset(out, 0, sizeof(out));
	ft_be32_store(out + 1, 0x01020304);
	ft_be16_store(out + 5, 0x0506);
	ck_assert_mem_eq(out + 1, buf + 1, 6);
	ft_le16_store(out + 1, 0x0201);
	ck_assert_mem_eq(out + 1, buf + 1, 2);
	ck_assert_uint_eq(out[0], 0);
	ck_assert_uint_eq(out[7], 0);

	/* The top bits survive: no sign extension through int promotion. */
	memset(buf, 0xff, sizeof(buf));
	ck_assert_uint_eq(ft_be16_load(buf), 0xffff);
	ck_assert_uint_eq(ft_be32_load(buf), 0xffffffffu);
	ck_assert_uint_eq(ft_be64_load(buf), UINT64_MAX);
}
END_TEST

/* ---- text ------------------------------------------------------------------------------- */

static const struct {
	const char *in, *out;
} trims[] = {
	{ "  \tkey\r\n", "key" }, { "key", "key" },	    { " \n ", "" }, { "", "" },
	{ "a b", "a b" },	  { "\v\fa b\f\v", "a b" }, { " x", "x" },  { "x ", "x" },
};

START_TEST(test_trim)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%s", trims[_i].in);
	ck_assert_str_eq(ft_trim(buf), trims[_i].out);
}
END_TEST

static const struct {
	const char *in;
	uint64_t max;
	int rc;
	uint64_t out;
} uints[] = {
	{ "0", 10, 0, 0 },
	{ "10", 10, 0, 10 },
	{ "11", 10, -EINVAL, 0 },
	{ "007", 10, 0, 7 }, /* leading zeros are digits */
	{ "", 10, -EINVAL, 0 },
	{ "+1", 10, -EINVAL, 0 },
	{ "-0", 10, -EINVAL, 0 },
	{ " 1", 10, -EINVAL, 0 },
	{ "1 ", 10, -EINVAL, 0 },
	{ "0x1", 10, -EINVAL, 0 },
	{ "1.0", 10, -EINVAL, 0 },
	{ "65535", 65535, 0, 65535 },
	{ "65536", 65535, -EINVAL, 0 },
	{ "4294967294", UINT32_MAX - 1, 0, 4294967294u },
	{ "4294967295", UINT32_MAX - 1, -EINVAL, 0 },
	{ "18446744073709551615", UINT64_MAX, 0, UINT64_MAX },
	{ "18446744073709551616", UINT64_MAX, -EINVAL, 0 }, /* would wrap to 0 */
	{ "99999999999999999999", UINT64_MAX, -EINVAL, 0 },
	{ "184467440737095516150", UINT64_MAX, -EINVAL, 0 },
	/* A digit above a small max: max - digit must not wrap around. */
	{ "7", 5, -EINVAL, 0 },
	{ "5", 5, 0, 5 },
	{ "1", 0, -EINVAL, 0 },
	{ "0", 0, 0, 0 },
	{ "9", 1, -EINVAL, 0 },
};

START_TEST(test_parse_uint)
{
	uint64_t v = 12345;
	char buf[64];

	ck_assert_int_eq(ft_parse_uint(uints[_i].in, uints[_i].max, &v), uints[_i].rc);
	ck_assert_uint_eq(v, uints[_i].rc == 0 ? uints[_i].out : 12345);
	/* The counted form reads len bytes only, whatever follows. */
	snprintf(buf, sizeof(buf), "%s9x", uints[_i].in);
	v = 12345;
	ck_assert_int_eq(ft_parse_uint_n(buf, strlen(uints[_i].in), uints[_i].max, &v),
			 uints[_i].rc);
	ck_assert_uint_eq(v, uints[_i].rc == 0 ? uints[_i].out : 12345);
}
END_TEST

/* ---- sockaddr --------------------------------------------------------------------------- */

static const struct {
	const char *addr;
	uint16_t port;
	uint32_t scope;
	const char *text;
} endpoints[] = {
	{ "198.18.0.1", 51820, 0, "198.18.0.1:51820" },
	{ "0.0.0.0", 0, 0, "0.0.0.0:0" },
	{ "fd00::1", 51820, 0, "[fd00::1]:51820" },
	{ "fe80::1", 1, 2, "[fe80::1%2]:1" },
	{ "::ffff:198.18.0.1", 65535, 0, "[::ffff:198.18.0.1]:65535" },
	/* The longest text there is: it fits FT_SOCKADDR_STRLEN. */
	{ "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 65535, 4294967295u,
	  "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff%4294967295]:65535" },
};

static socklen_t make_sockaddr(struct sockaddr_storage *ss, const char *addr, uint16_t port,
			       uint32_t scope)
{
	memset(ss, 0, sizeof(*ss));
	if (strchr(addr, ':')) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		sin6->sin6_scope_id = scope;
		ck_assert_int_eq(inet_pton(AF_INET6, addr, &sin6->sin6_addr), 1);
		return sizeof(*sin6);
	}
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;

	sin->sin_family = AF_INET;
	sin->sin_port = htons(port);
	ck_assert_int_eq(inet_pton(AF_INET, addr, &sin->sin_addr), 1);
	return sizeof(*sin);
}

START_TEST(test_sockaddr_format)
{
	struct sockaddr_storage ss;
	/* Unaligned on purpose: a sockaddr inside a packed wire buffer is read by copy. */
	uint8_t unaligned[1 + sizeof(ss)];
	char buf[FT_SOCKADDR_STRLEN];
	socklen_t len =
		make_sockaddr(&ss, endpoints[_i].addr, endpoints[_i].port, endpoints[_i].scope);
	size_t n = strlen(endpoints[_i].text);

	ck_assert_uint_eq(ft_sockaddr_len((struct sockaddr *)&ss), len);
	ck_assert_int_eq(ft_sockaddr_format(buf, sizeof(buf), (struct sockaddr *)&ss), 0);
	ck_assert_str_eq(buf, endpoints[_i].text);
	memcpy(unaligned + 1, &ss, sizeof(ss));
	memset(buf, 'x', sizeof(buf));
	ck_assert_int_eq(ft_sockaddr_format(buf, sizeof(buf), (struct sockaddr *)(unaligned + 1)),
			 0);
	ck_assert_str_eq(buf, endpoints[_i].text);
	/* Exactly enough room, then one byte short. */
	ck_assert_int_eq(ft_sockaddr_format(buf, n + 1, (struct sockaddr *)&ss), 0);
	ck_assert_str_eq(buf, endpoints[_i].text);
	ck_assert_int_eq(ft_sockaddr_format(buf, n, (struct sockaddr *)&ss), -ENOSPC);
	ck_assert_str_eq(buf, "");
	ck_assert_int_eq(ft_sockaddr_format(buf, 0, (struct sockaddr *)&ss), -ENOSPC);
}
END_TEST

START_TEST(test_sockaddr_other_family)
{
	struct sockaddr_storage ss;
	char buf[FT_SOCKADDR_STRLEN] = "x";

	memset(&ss, 0, sizeof(ss));
	ss.ss_family = AF_UNIX;
	ck_assert_uint_eq(ft_sockaddr_len((struct sockaddr *)&ss), 0);
	ck_assert_int_eq(ft_sockaddr_format(buf, sizeof(buf), (struct sockaddr *)&ss),
			 -EAFNOSUPPORT);
	ck_assert_str_eq(buf, "");
	ss.ss_family = AF_UNSPEC;
	ck_assert_uint_eq(ft_sockaddr_len((struct sockaddr *)&ss), 0);
	ck_assert_int_eq(ft_sockaddr_format(buf, sizeof(buf), (struct sockaddr *)&ss),
			 -EAFNOSUPPORT);
}
END_TEST

#define N(a) (int)(sizeof(a) / sizeof((a)[0]))

static Suite *base_suite(void)
{
	Suite *s = suite_create("base");
	TCase *bytes = tcase_create("bytes"), *text = tcase_create("text");
	TCase *sa = tcase_create("sockaddr");

	tcase_add_test(bytes, test_bytes);
	suite_add_tcase(s, bytes);
	tcase_add_loop_test(text, test_trim, 0, N(trims));
	tcase_add_loop_test(text, test_parse_uint, 0, N(uints));
	suite_add_tcase(s, text);
	tcase_add_loop_test(sa, test_sockaddr_format, 0, N(endpoints));
	tcase_add_test(sa, test_sockaddr_other_family);
	suite_add_tcase(s, sa);
	return s;
}

FT_CHECK_MAIN(base_suite, 0)
