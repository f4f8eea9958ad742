// SPDX-License-Identifier: MIT
/*
 * The userspace API: the parser and the writer's helpers. The server over a real UNIX socket
 * is check_uapi_server.c; the refused requests both use are tests/uapi-cases.h.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <check.h>
#include <sodium.h>
#include <uv.h>

#include "base/sockaddr.h"
#include "tests/check_main.h"
#include "tests/uapi-cases.h"
#include "tests/uapi-fakedev.h"
#include "tun/ctl/uapi.h"

/* ---- Parser ---- */

/* A set request as one line of text, to compare against the table. Keys by 8 hex digits. */
static void describe(const struct ft_uapi_set *s, char *out, size_t len)
{
	char hex[FT_KEY_HEX_LEN + 1], ep[FT_UAPI_ENDPOINT_LEN], ip[INET6_ADDRSTRLEN];

	out[0] = '\0';
	if (s->has_private_key) {
		ft_key_to_hex(hex, s->private_key);
		append(out, len, "priv=%.8s ", hex);
	}
	if (s->has_listen_port)
		append(out, len, "port=%u ", s->listen_port);
	if (s->has_fwmark)
		append(out, len, "fwmark=%u ", s->fwmark);
	if (s->replace_peers)
		append(out, len, "replace_peers ");
	for (size_t i = 0; i < s->n_peers; i++) {
		const struct ft_uapi_peer *p = &s->peers[i];

		ft_key_to_hex(hex, p->public_key);
		append(out, len, "[peer=%.8s", hex);
		if (p->remove)
			append(out, len, " remove");
		if (p->update_only)
			append(out, len, " update_only");
		if (p->has_preshared_key) {
			ft_key_to_hex(hex, p->preshared_key);
			append(out, len, " psk=%.8s", hex);
		}
		if (p->has_endpoint) {
			ck_assert_int_eq(ft_sockaddr_format(ep, sizeof(ep),
							    (const struct sockaddr *)&p->endpoint),
					 0);
			ck_assert_int_eq(p->endpoint_len, p->endpoint.ss_family == AF_INET
								  ? sizeof(struct sockaddr_in)
								  : sizeof(struct sockaddr_in6));
			append(out, len, " ep=%s", ep);
		}
		if (p->has_persistent_keepalive)
			append(out, len, " ka=%u", p->persistent_keepalive);
		if (p->replace_allowed_ips)
			append(out, len, " replace_ips");
		for (size_t j = 0; j < p->n_allowed_ips; j++) {
			inet_ntop(p->allowed_ips[j].family, p->allowed_ips[j].addr, ip, sizeof(ip));
			append(out, len, " %s/%u", ip, p->allowed_ips[j].cidr);
		}
		append(out, len, "] ");
	}
	len = strlen(out);
	if (len > 0)
		out[len - 1] = '\0';
}

static const struct {
	const char *req;
	const char *want;
} good_sets[] = {
	{ "set=1\n\n", "" },
	{ "set=1\nprivate_key=" KA "\n\n", "priv=77076d0a" },
	{ "set=1\nprivate_key=" KZ "\n\n", "priv=00000000" },
	{ "set=1\nprivate_key=77076D0A7318A57D3C16C17251B26645DF4C2F87EBC0992AB177FBA51DB92C2A\n\n",
	  "priv=77076d0a" },
	{ "set=1\nlisten_port=0\n\n", "port=0" },
	{ "set=1\nlisten_port=65535\n\n", "port=65535" },
	{ "set=1\nfwmark=4294967295\n\n", "fwmark=4294967295" },
	{ "set=1\nfwmark=0\n\n", "fwmark=0" },
	{ "set=1\nreplace_peers=true\n\n", "replace_peers" },
	{ "set=1\nprivate_key=" KA "\nlisten_port=51820\nfwmark=16\nreplace_peers=true\n"
	  "public_key=" KB "\npreshared_key=" KA "\nendpoint=198.18.0.2:51820\n"
	  "persistent_keepalive_interval=25\nreplace_allowed_ips=true\n"
	  "allowed_ip=100.64.0.0/10\nallowed_ip=fd00::/8\nprotocol_version=1\n\n",
	  "priv=77076d0a port=51820 fwmark=16 replace_peers [peer=5dab087e psk=77076d0a "
	  "ep=198.18.0.2:51820 ka=25 replace_ips 100.64.0.0/10 fd00::/8]" },
	{ "set=1\npublic_key=" KA "\nremove=true\n\n", "[peer=77076d0a remove]" },
	{ "set=1\npublic_key=" KA "\nupdate_only=true\npersistent_keepalive_interval=0\n\n",
	  "[peer=77076d0a update_only ka=0]" },
	{ "set=1\npublic_key=" KA "\npreshared_key=" KZ "\n\n", "[peer=77076d0a psk=00000000]" },
	{ "set=1\npublic_key=" KA "\nendpoint=[fd00::1]:51820\n\n",
	  "[peer=77076d0a ep=[fd00::1]:51820]" },
	{ "set=1\npublic_key=" KA "\nendpoint=[fe80::1%3]:1\n\n",
	  "[peer=77076d0a ep=[fe80::1%3]:1]" },
	{ "set=1\npublic_key=" KA "\nendpoint=[::ffff:198.18.0.1]:65535\n\n",
	  "[peer=77076d0a ep=[::ffff:198.18.0.1]:65535]" },
	/* Host bits are cleared, as the kernel does. */
	{ "set=1\npublic_key=" KA "\nallowed_ip=100.64.1.2/16\nallowed_ip=0.0.0.0/0\n"
	  "allowed_ip=fd00::1/128\nallowed_ip=::/0\nallowed_ip=fd00:1:2::3/33\n\n",
	  "[peer=77076d0a 100.64.0.0/16 0.0.0.0/0 fd00::1/128 ::/0 fd00:1::/33]" },
	{ "set=1\npublic_key=" KA "\nallowed_ip=1.2.3.4/32\npublic_key=" KB
	  "\nallowed_ip=5.6.7.8/31\npublic_key=" KA "\nremove=true\n\n",
	  "[peer=77076d0a 1.2.3.4/32] [peer=5dab087e 5.6.7.8/31] [peer=77076d0a remove]" },
};

START_TEST(test_parse_good)
{
	struct ft_uapi_set *set = NULL;
	enum ft_uapi_op op = 0;
	char got[1024];
	const char *req = good_sets[_i].req;

	ck_assert_uint_eq(ft_uapi_request_len(req, strlen(req)), strlen(req));
	ck_assert_int_eq(ft_uapi_parse(req, strlen(req), &op, &set), 0);
	ck_assert_int_eq(op, FT_UAPI_SET);
	ck_assert_ptr_nonnull(set);
	describe(set, got, sizeof(got));
	ck_assert_str_eq(got, good_sets[_i].want);
	ft_uapi_set_free(set);
}
END_TEST

START_TEST(test_parse_bad)
{
	struct ft_uapi_set *set = (struct ft_uapi_set *)1;
	enum ft_uapi_op op;
	const char *req = bad_requests[_i].req;
	int rc = ft_uapi_parse(req, strlen(req), &op, &set);

	ck_assert_msg(rc == bad_requests[_i].err, "%s: got %d, want %d", bad_requests[_i].why, rc,
		      bad_requests[_i].err);
	ck_assert_ptr_null(set);
}
END_TEST

START_TEST(test_parse_get)
{
	struct ft_uapi_set *set;
	enum ft_uapi_op op;

	ck_assert_int_eq(ft_uapi_parse("get=1\n\n", 7, &op, &set), 0);
	ck_assert_int_eq(op, FT_UAPI_GET);
	ck_assert_ptr_null(set);
	ck_assert_int_eq(ft_uapi_parse("get=flowtun\n\n", 13, &op, &set), 0);
	ck_assert_int_eq(op, FT_UAPI_GET_EXTRAS);
	/* A NUL byte anywhere is a framing error. */
	ck_assert_int_eq(ft_uapi_parse("get=1\0\n\n", 8, &op, &set), -EPROTO);
	ck_assert_int_eq(ft_uapi_parse("set=1\nfwmark=1\0\n\n", 17, &op, &set), -EPROTO);
}
END_TEST

static const struct {
	const char *buf;
	size_t want;
} request_lens[] = {
	{ "", 0 },
	{ "get=1", 0 },
	{ "get=1\n", 0 },
	{ "get=1\n\n", 7 },
	{ "get=1\n\nget=1\n\n", 7 },
	{ "\n", 1 },
	{ "\nget=1\n\n", 1 },
	{ "set=1\na=b\n", 0 },
	{ "set=1\na=b\n\nx", 11 },
};

START_TEST(test_request_len)
{
	const char *buf = request_lens[_i].buf;
	size_t len = strlen(buf), scanned = 0, got = 0;

	ck_assert_uint_eq(ft_uapi_request_len(buf, len), request_lens[_i].want);
	/* The same, the buffer growing a byte at a time and searched only past what was. */
	for (size_t n = 1; n <= len && !got; n++)
		got = ft_uapi_request_len_resume(buf, n, &scanned);
	ck_assert_uint_eq(got, request_lens[_i].want);
	ck_assert_uint_eq(scanned, got ? 0 : len);
}
END_TEST

/* A set of n peers (public_key lines), in req; its length. */
static size_t set_of_peers(char *req, size_t n)
{
	size_t line = strlen("public_key=" KA "\n"), len = 6;

	memcpy(req, "set=1\n", 6);
	for (size_t i = 0; i < n; i++) {
		memcpy(req + len, "public_key=" KA "\n", line);
		len += line;
	}
	req[len++] = '\n';
	return len;
}

/* The limits: max_peers peers pass, one more is E2BIG; over the byte limit EMSGSIZE. */
START_TEST(test_parse_limits)
{
	size_t line = strlen("public_key=" KA "\n"), len;
	char *req = malloc(7 + 65 * line);
	struct ft_uapi_set *set;
	enum ft_uapi_op op;

	ck_assert_ptr_nonnull(req);
	len = set_of_peers(req, 64);
	ck_assert_int_eq(ft_uapi_parse_limited(req, len, len, 64, &op, &set), 0);
	ck_assert_uint_eq(set->n_peers, 64);
	ft_uapi_set_free(set);
	ck_assert_int_eq(ft_uapi_parse_limited(req, len, len - 1, 64, &op, &set), -EMSGSIZE);
	ck_assert_ptr_null(set);
	len = set_of_peers(req, 65);
	ck_assert_int_eq(ft_uapi_parse_limited(req, len, len, 64, &op, &set), -E2BIG);
	ck_assert_ptr_null(set);
	free(req);
}
END_TEST

/*
 * A hub's configuration in one request, as wg setconf sends it: 100,000 peers (7.6 MB), over
 * the 8,192 peers and 1 MiB the limits were before.
 */
START_TEST(test_parse_hub)
{
	size_t line = strlen("public_key=" KA "\n"), len;
	char *req = malloc(7 + 100000 * line);
	struct ft_uapi_set *set;
	enum ft_uapi_op op;

	ck_assert_ptr_nonnull(req);
	len = set_of_peers(req, 100000);
	ck_assert_int_eq(ft_uapi_parse(req, len, &op, &set), 0);
	ck_assert_uint_eq(set->n_peers, 100000);
	ft_uapi_set_free(set);
	free(req);
}
END_TEST

/* ---- Writer helpers ---- */

START_TEST(test_format_endpoint)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(51820) };
	struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6, .sin6_port = htons(1) };
	struct sockaddr sa = { .sa_family = AF_UNIX };
	char buf[FT_UAPI_ENDPOINT_LEN];

	inet_pton(AF_INET, "198.18.0.1", &sin.sin_addr);
	ck_assert_int_eq(ft_sockaddr_format(buf, sizeof(buf), (struct sockaddr *)&sin), 0);
	ck_assert_str_eq(buf, "198.18.0.1:51820");
	inet_pton(AF_INET6, "fd00::1", &sin6.sin6_addr);
	ck_assert_int_eq(ft_sockaddr_format(buf, sizeof(buf), (struct sockaddr *)&sin6), 0);
	ck_assert_str_eq(buf, "[fd00::1]:1");
	sin6.sin6_scope_id = 4294967295u;
	inet_pton(AF_INET6, "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255", &sin6.sin6_addr);
	sin6.sin6_port = htons(65535);
	ck_assert_int_eq(ft_sockaddr_format(buf, sizeof(buf), (struct sockaddr *)&sin6), 0);
	ck_assert_str_eq(buf, "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff%4294967295]:65535");
	ck_assert_int_eq(ft_sockaddr_format(buf, 10, (struct sockaddr *)&sin), -ENOSPC);
	ck_assert_int_eq(ft_sockaddr_format(buf, sizeof(buf), &sa), -EAFNOSUPPORT);
}
END_TEST

static const struct {
	const char *ifname;
	const char *want; /* NULL: -EINVAL */
} socket_paths[] = {
	{ "wg0", "/var/run/wireguard/wg0.sock" },
	{ "abcdefghijklmno", "/var/run/wireguard/abcdefghijklmno.sock" },
	{ "abcdefghijklmnop", NULL },
	{ "", NULL },
	{ ".", NULL },
	{ "..", NULL },
	{ "a/b", NULL },
};

START_TEST(test_socket_path)
{
	char buf[FT_UAPI_PATH_LEN];
	int rc = ft_uapi_socket_path(buf, sizeof(buf), socket_paths[_i].ifname);

	if (socket_paths[_i].want) {
		ck_assert_int_eq(rc, 0);
		ck_assert_str_eq(buf, socket_paths[_i].want);
	} else {
		ck_assert_int_eq(rc, -EINVAL);
	}
}
END_TEST

static Suite *uapi_suite(void)
{
	Suite *s = suite_create("uapi");
	TCase *tc = tcase_create("parser");

	tcase_add_loop_test(tc, test_parse_good, 0, sizeof(good_sets) / sizeof(good_sets[0]));
	tcase_add_loop_test(tc, test_parse_bad, 0, sizeof(bad_requests) / sizeof(bad_requests[0]));
	tcase_add_test(tc, test_parse_get);
	tcase_add_loop_test(tc, test_request_len, 0,
			    sizeof(request_lens) / sizeof(request_lens[0]));
	tcase_add_test(tc, test_parse_limits);
	tcase_add_test(tc, test_parse_hub);
	tcase_add_test(tc, test_format_endpoint);
	tcase_add_loop_test(tc, test_socket_path, 0,
			    sizeof(socket_paths) / sizeof(socket_paths[0]));
	suite_add_tcase(s, tc);
	return s;
}

FT_CHECK_MAIN(uapi_suite, FT_CHECK_SODIUM)
