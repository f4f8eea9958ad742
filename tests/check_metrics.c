// SPDX-License-Identifier: MIT
/*
 * The metrics endpoint without a worker: the exposition writer (both formats, escaping, the
 * numbers), the request parser (heads, methods, paths, versions, Accept) and MetricsListen.
 * The server itself over real loopback TCP is tests/check_metrics_server.c.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "base/sockaddr.h"
#include "tun/ctl/metrics.h"

/* ---- the writer ---- */

static const struct ft_metrics_family fam_bytes = { "wireguard_sent_bytes", FT_METRICS_COUNTER,
						    "bytes", "Bytes sent to the peer" };
static const struct ft_metrics_family fam_gauge = { "x_peers", FT_METRICS_GAUGE, NULL,
						    "Peers \"configured\"\nnow \\ here" };
static const struct ft_metrics_family fam_info = { "x_build", FT_METRICS_INFO, NULL, "Build" };

/* The exposition of the families above as a NUL-terminated string (the caller frees it). */
static char *expose(enum ft_metrics_format format)
{
	struct ft_metrics_writer w;
	struct ft_metrics_label l[2] = { { "interface", "tun0" }, { "public_key", "k=" } };
	struct ft_metrics_label v = { "version", "0.1.0" };
	char *out;

	ft_metrics_writer_init(&w, format, 0);
	ft_metrics_family(&w, &fam_bytes);
	ft_metrics_sample(&w, l, 2, 18446744073709551615ULL);
	ft_metrics_sample_set(&w, "interface=\"tun1\"", 16, 0);
	ft_metrics_family(&w, &fam_gauge);
	ft_metrics_sample(&w, NULL, 0, 3);
	ft_metrics_family(&w, &fam_info);
	ft_metrics_sample(&w, &v, 1, 1);
	ck_assert_int_eq(ft_metrics_writer_finish(&w), 0);
	ft_metrics_buf_append(&w.out, "", 1);
	ck_assert_int_eq(w.out.err, 0);
	out = w.out.data;
	return out;
}

START_TEST(test_text_format)
{
	char *out = expose(FT_METRICS_TEXT);

	/* In the text format HELP escapes only \ and newline; TYPE names the sample. */
	ck_assert_str_eq(out, "# HELP wireguard_sent_bytes_total Bytes sent to the peer\n"
			      "# TYPE wireguard_sent_bytes_total counter\n"
			      "wireguard_sent_bytes_total{interface=\"tun0\",public_key=\"k=\"} "
			      "18446744073709551615\n"
			      "wireguard_sent_bytes_total{interface=\"tun1\"} 0\n"
			      "# HELP x_peers Peers \"configured\"\\nnow \\\\ here\n"
			      "# TYPE x_peers gauge\n"
			      "x_peers 3\n"
			      "# HELP x_build_info Build\n"
			      "# TYPE x_build_info gauge\n"
			      "x_build_info{version=\"0.1.0\"} 1\n");
	free(out);
}
END_TEST

START_TEST(test_openmetrics_format)
{
	char *out = expose(FT_METRICS_OPENMETRICS);

	/* OpenMetrics: TYPE and UNIT name the family, HELP escapes quotes too, # EOF ends. */
	ck_assert_str_eq(out, "# HELP wireguard_sent_bytes Bytes sent to the peer\n"
			      "# TYPE wireguard_sent_bytes counter\n"
			      "# UNIT wireguard_sent_bytes bytes\n"
			      "wireguard_sent_bytes_total{interface=\"tun0\",public_key=\"k=\"} "
			      "18446744073709551615\n"
			      "wireguard_sent_bytes_total{interface=\"tun1\"} 0\n"
			      "# HELP x_peers Peers \\\"configured\\\"\\nnow \\\\ here\n"
			      "# TYPE x_peers gauge\n"
			      "x_peers 3\n"
			      "# HELP x_build Build\n"
			      "# TYPE x_build info\n"
			      "x_build_info{version=\"0.1.0\"} 1\n"
			      "# EOF\n");
	free(out);
}
END_TEST

/* Strings with their lengths, NULs included. */
#define S(x) x, sizeof(x) - 1

static const struct {
	const char *in;
	size_t len;
	const char *out;
	size_t out_len;
} escapes[] = {
	{ S("tun0"), S("tun0") },
	{ S("a\\b"), S("a\\\\b") },		  /* backslash */
	{ S("say \"hi\""), S("say \\\"hi\\\"") }, /* double quote */
	{ S("two\nlines"), S("two\\nlines") },	  /* newline */
	{ S("caf\xc3\xa9"), S("caf\xc3\xa9") },	  /* UTF-8 kept */
	{ S("\xe2\x82\xac\xf0\x9f\x98\x80"), S("\xe2\x82\xac\xf0\x9f\x98\x80") },
	{ S("a\xff"
	    "b"),
	  S("a\xef\xbf\xbd"
	    "b") },							  /* not UTF-8: U+FFFD */
	{ S("\xc3"), S("\xef\xbf\xbd") },				  /* a sequence cut short */
	{ S("\xc0\xaf"), S("\xef\xbf\xbd\xef\xbf\xbd") },		  /* overlong '/' */
	{ S("\xed\xa0\x80"), S("\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd") }, /* a surrogate */
	{ S("\xf4\x90\x80\x80"), S("\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd") },
	{ S("a\0b"), S("a\0b") }, /* NUL is UTF-8; never in our values, kept as is */
	{ S(""), S("") },
};

START_TEST(test_escape)
{
	struct ft_metrics_buf b = { 0 };

	ft_metrics_buf_escape(&b, escapes[_i].in, escapes[_i].len);
	ck_assert_int_eq(b.err, 0);
	ck_assert_uint_eq(b.len, escapes[_i].out_len);
	ck_assert_mem_eq(b.data ? b.data : "", escapes[_i].out, b.len);
	ft_metrics_buf_release(&b);
}
END_TEST

START_TEST(test_fixed_values)
{
	static const struct {
		uint64_t v;
		unsigned int dec;
		const char *out;
	} t[] = {
		{ 1796418623504ULL, 3, "x 1796418623.504\n" },
		{ 5, 9, "x 0.000000005\n" },
		{ 0, 0, "x 0\n" },
		{ 1000, 3, "x 1.000\n" },
		{ 18446744073709551615ULL, 19, "x 1.8446744073709551615\n" },
	};
	static const struct ft_metrics_family f = { "x", FT_METRICS_GAUGE, NULL, "" };

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct ft_metrics_writer w;
		size_t start;

		ft_metrics_writer_init(&w, FT_METRICS_TEXT, 0);
		ft_metrics_family(&w, &f);
		start = w.out.len;
		ft_metrics_sample_fixed(&w, NULL, 0, t[i].v, t[i].dec);
		ck_assert_uint_eq(w.out.len - start, strlen(t[i].out));
		ck_assert_mem_eq(w.out.data + start, t[i].out, strlen(t[i].out));
		ft_metrics_buf_release(&w.out);
	}
}
END_TEST

START_TEST(test_buffer_limit)
{
	struct ft_metrics_buf b = { .max = 10 };

	ft_metrics_buf_puts(&b, "0123456789");
	ck_assert_int_eq(b.err, 0);
	ft_metrics_buf_puts(&b, "x");
	ck_assert_int_eq(b.err, -EMSGSIZE);
	/* Sticky: nothing more is written, even what would fit. */
	b.len = 0;
	ft_metrics_buf_puts(&b, "y");
	ck_assert_uint_eq(b.len, 0);
	ck_assert_int_eq(ft_metrics_buf_reserve(&b, 1), -EMSGSIZE);
	ft_metrics_buf_release(&b);
}
END_TEST

/* ---- the request parser ---- */

START_TEST(test_head_scan)
{
	static const struct {
		const char *in;
		int rc;
		size_t len;
	} t[] = {
		{ "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", FT_METRICS_HEAD_DONE, 34 },
		{ "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\nGET", FT_METRICS_HEAD_DONE, 34 },
		{ "GET /metrics HTTP/1.0\n\n", FT_METRICS_HEAD_DONE, 23 },
		{ "GET /metrics HTTP/1.0\n\r\n", FT_METRICS_HEAD_DONE, 24 },
		{ "\r\n\r\nGET /metrics HTTP/1.0\r\n\r\n", FT_METRICS_HEAD_DONE, 29 },
		{ "GET /metrics HTTP/1.1\r\nHost: x\r\n", FT_METRICS_HEAD_MORE, 0 },
		{ "GET /metrics HTTP/1.1\r", FT_METRICS_HEAD_MORE, 0 },
		{ "\r\n\r\n", FT_METRICS_HEAD_MORE, 0 },
		{ "", FT_METRICS_HEAD_MORE, 0 },
		{ "GET /\x01 HTTP/1.1\r\n\r\n", 400, 0 },
		{ "GET / HTTP/1.1\rX: y\r\n\r\n", 400, 0 },	    /* a bare CR */
		{ "\x16\x03\x01\x02\x00\x01\x00\x01\xfc", 400, 0 }, /* a TLS ClientHello */
		{ "GET / HTTP/1.1\r\nX: \x7f\r\n\r\n", 400, 0 },
	};
	size_t len;

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		len = 0;
		ck_assert_msg(ft_metrics_head_scan(t[i].in, strlen(t[i].in), &len) == t[i].rc,
			      "case %zu", i);
		ck_assert_uint_eq(len, t[i].len);
	}
}
END_TEST

START_TEST(test_head_limits)
{
	char *buf = malloc(FT_METRICS_MAX_HEAD);
	size_t len;

	/* A request line longer than the buffer: 414; a head with lines but no end: 431. */
	memset(buf, 'a', FT_METRICS_MAX_HEAD);
	memcpy(buf, "GET /", 5);
	ck_assert_int_eq(ft_metrics_head_scan(buf, FT_METRICS_MAX_HEAD - 1, &len), 0);
	ck_assert_int_eq(ft_metrics_head_scan(buf, FT_METRICS_MAX_HEAD, &len), 414);
	memcpy(buf, "GET /metrics HTTP/1.1\r\nX-Pad: ", 30);
	ck_assert_int_eq(ft_metrics_head_scan(buf, FT_METRICS_MAX_HEAD, &len), 431);
	/* A head that ends exactly at the limit is fine. */
	memcpy(buf + FT_METRICS_MAX_HEAD - 4, "\r\n\r\n", 4);
	ck_assert_int_eq(ft_metrics_head_scan(buf, FT_METRICS_MAX_HEAD, &len),
			 FT_METRICS_HEAD_DONE);
	ck_assert_uint_eq(len, FT_METRICS_MAX_HEAD);
	free(buf);
}
END_TEST

#define PROM_ACCEPT                                                                \
	"application/openmetrics-text;version=1.0.0,application/openmetrics-text;" \
	"version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"

static const struct {
	const char *head;
	int status;
	enum ft_metrics_format format;
} requests[] = {
	{ "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", 200, FT_METRICS_TEXT },
	{ "GET /metrics HTTP/1.0\r\n\r\n", 200, FT_METRICS_TEXT },
	{ "GET /metrics?name[]=x HTTP/1.1\r\nHost: x\r\n\r\n", 200, FT_METRICS_TEXT },
	{ "GET http://127.0.0.1:9586/metrics HTTP/1.1\r\nHost: x\r\n\r\n", 200, FT_METRICS_TEXT },
	{ "GET /metrics HTTP/1.1\nhost:x\n\n", 200, FT_METRICS_TEXT },
	/* Prometheus 2.42's own Accept: OpenMetrics 1.0.0 first. */
	{ "GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: " PROM_ACCEPT "\r\n\r\n", 200,
	  FT_METRICS_OPENMETRICS },
	{ "GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: text/plain\r\n\r\n", 200, FT_METRICS_TEXT },
	/* Methods, paths, versions. */
	{ "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", 405, FT_METRICS_TEXT },
	{ "HEAD /metrics HTTP/1.1\r\nHost: x\r\n\r\n", 405, FT_METRICS_TEXT },
	{ "get /metrics HTTP/1.1\r\nHost: x\r\n\r\n", 405, FT_METRICS_TEXT },
	{ "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 404, FT_METRICS_TEXT },
	{ "GET /metrics/ HTTP/1.1\r\nHost: x\r\n\r\n", 404, FT_METRICS_TEXT },
	{ "GET /metricsx HTTP/1.1\r\nHost: x\r\n\r\n", 404, FT_METRICS_TEXT },
	{ "OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n", 404, FT_METRICS_TEXT },
	{ "GET /metrics HTTP/2.0\r\nHost: x\r\n\r\n", 505, FT_METRICS_TEXT },
	{ "PRI * HTTP/2.0\r\n\r\n", 505, FT_METRICS_TEXT },
	/* Malformed. */
	{ "GET /metrics HTTP/1.1\r\n\r\n", 400, FT_METRICS_TEXT }, /* no Host */
	{ "GET /metrics HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n", 400, FT_METRICS_TEXT },
	{ "GET /metrics HTTP/1.1\r\nHost : x\r\n\r\n", 400, FT_METRICS_TEXT },
	{ "GET /metrics HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n", 400, FT_METRICS_TEXT },
	{ "GET /metrics HTTP/1.1\r\nHost: x\r\nno colon\r\n\r\n", 400, FT_METRICS_TEXT },
	{ "GET  /metrics HTTP/1.1\r\nHost: x\r\n\r\n", 400, FT_METRICS_TEXT },
	{ "GET /metrics  HTTP/1.1\r\nHost: x\r\n\r\n", 400, FT_METRICS_TEXT },
	{ "GET /metrics\r\n\r\n", 400, FT_METRICS_TEXT },
	{ "GET /metrics HTTP/1.1 x\r\nHost: x\r\n\r\n", 400, FT_METRICS_TEXT },
	{ "GET /metrics HTTP/1.10\r\nHost: x\r\n\r\n", 400, FT_METRICS_TEXT },
	{ "GET /metrics http/1.1\r\nHost: x\r\n\r\n", 400, FT_METRICS_TEXT },
	{ "G(T /metrics HTTP/1.1\r\nHost: x\r\n\r\n", 400, FT_METRICS_TEXT },
	{ "GET metrics HTTP/1.1\r\nHost: x\r\n\r\n", 400, FT_METRICS_TEXT },
	{ "GET /me\ttrics HTTP/1.1\r\nHost: x\r\n\r\n", 400, FT_METRICS_TEXT },
	{ "GET /m\xc3\xa9trics HTTP/1.1\r\nHost: x\r\n\r\n", 400, FT_METRICS_TEXT },
	{ "\r\n", 400, FT_METRICS_TEXT },
};

START_TEST(test_parse_request)
{
	struct ft_metrics_request req;

	ft_metrics_parse_request(requests[_i].head, strlen(requests[_i].head), &req);
	ck_assert_msg(req.status == requests[_i].status, "%s: %d, not %d", requests[_i].head,
		      req.status, requests[_i].status);
	if (req.status == 200)
		ck_assert_int_eq(req.format, requests[_i].format);
}
END_TEST

static const struct {
	const char *accept;
	enum ft_metrics_format format;
} accepts[] = {
	{ PROM_ACCEPT, FT_METRICS_OPENMETRICS },
	{ "application/openmetrics-text", FT_METRICS_OPENMETRICS },
	{ "Application/OpenMetrics-Text; Version=\"1.0.0\"", FT_METRICS_OPENMETRICS },
	{ "text/plain;q=0.5, application/openmetrics-text;q=0.5", FT_METRICS_OPENMETRICS },
	{ "application/openmetrics-text; version=0.0.1", FT_METRICS_TEXT },
	{ "application/openmetrics-text; q=0", FT_METRICS_TEXT },
	{ "application/openmetrics-text; q=0.5, text/plain", FT_METRICS_TEXT },
	{ "application/openmetrics-text; q=0.5, */*", FT_METRICS_TEXT },
	{ "application/openmetrics-text; q=2", FT_METRICS_TEXT }, /* a bad quality: nothing */
	{ "text/plain; version=0.0.4", FT_METRICS_TEXT },
	{ "*/*", FT_METRICS_TEXT },
	{ "", FT_METRICS_TEXT },
	{ ",,;;==", FT_METRICS_TEXT },
	{ "application/json", FT_METRICS_TEXT },
};

START_TEST(test_negotiate)
{
	ck_assert_msg(ft_metrics_negotiate(accepts[_i].accept, strlen(accepts[_i].accept)) ==
			      accepts[_i].format,
		      "Accept: %s", accepts[_i].accept);
}
END_TEST

START_TEST(test_response_head)
{
	char buf[256];
	size_t n;

	n = ft_metrics_response_head(buf, sizeof(buf), 405, FT_METRICS_TEXT, 57);
	ck_assert_uint_gt(n, 0);
	buf[n] = '\0';
	ck_assert_str_eq(buf, "HTTP/1.1 405 Method Not Allowed\r\n"
			      "Content-Type: text/plain; charset=utf-8\r\n"
			      "Content-Length: 57\r\n"
			      "Allow: GET\r\n"
			      "Cache-Control: no-store\r\n"
			      "Connection: close\r\n\r\n");
	n = ft_metrics_response_head(buf, sizeof(buf), 200, FT_METRICS_OPENMETRICS, 1);
	buf[n] = '\0';
	ck_assert_ptr_nonnull(strstr(buf, "\r\nContent-Type: application/openmetrics-text; "
					  "version=1.0.0; charset=utf-8\r\n"));
	ck_assert_uint_eq(ft_metrics_response_head(buf, 20, 200, FT_METRICS_TEXT, 1), 0);
	/* Every status the server counts has a reason and, but for 200, an error body. */
	for (int i = 0; i < FT_METRICS_STATUS_COUNT; i++) {
		int code = ft_metrics_status_code((enum ft_metrics_status_index)i);

		ck_assert_str_ne(ft_metrics_reason(code), "");
		if (code != 200)
			ck_assert_int_eq(atoi(ft_metrics_error_body(code)), code);
	}
}
END_TEST

START_TEST(test_parse_listen)
{
	static const struct {
		const char *in;
		int family;
		uint16_t port;
	} t[] = {
		{ "127.0.0.1:9586", AF_INET, 9586 },
		{ "0.0.0.0:1", AF_INET, 1 },
		{ "[::1]:65535", AF_INET6, 65535 },
		{ "[fd00::1]:9586", AF_INET6, 9586 },
		{ "::1:9586", 0, 0 },
		{ "localhost:9586", 0, 0 },
		{ "127.0.0.1", 0, 0 },
		{ "127.0.0.1:", 0, 0 },
		{ "127.0.0.1:0", 0, 0 },
		{ "127.0.0.1:65536", 0, 0 },
		{ "127.0.0.1:95a6", 0, 0 },
		{ "127.0.0.1:+95", 0, 0 },
		{ "127.0.0.1:009586", 0, 0 },
		{ "[::1]9586", 0, 0 },
		{ "[::1:9586", 0, 0 },
		{ "[127.0.0.1]:9586", 0, 0 },
		{ "[fe80::1%eth0]:9586", 0, 0 },
		{ ":9586", 0, 0 },
		{ "", 0, 0 },
	};
	struct sockaddr_storage ss;
	char back[64];

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		int rc = ft_metrics_parse_listen(t[i].in, &ss);

		ck_assert_msg(rc == (t[i].family ? 0 : -EINVAL), "%s: %d", t[i].in, rc);
		if (rc < 0)
			continue;
		ck_assert_int_eq(ss.ss_family, t[i].family);
		ck_assert_int_eq(
			ft_sockaddr_format(back, sizeof(back), (const struct sockaddr *)&ss), 0);
		ck_assert_str_eq(back, t[i].in); /* these are written canonically already */
	}
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("metrics");
	TCase *tc = tcase_create("writer");

	tcase_add_test(tc, test_text_format);
	tcase_add_test(tc, test_openmetrics_format);
	tcase_add_loop_test(tc, test_escape, 0, sizeof(escapes) / sizeof(escapes[0]));
	tcase_add_test(tc, test_fixed_values);
	tcase_add_test(tc, test_buffer_limit);
	suite_add_tcase(s, tc);
	tc = tcase_create("parser");
	tcase_add_test(tc, test_head_scan);
	tcase_add_test(tc, test_head_limits);
	tcase_add_loop_test(tc, test_parse_request, 0, sizeof(requests) / sizeof(requests[0]));
	tcase_add_loop_test(tc, test_negotiate, 0, sizeof(accepts) / sizeof(accepts[0]));
	tcase_add_test(tc, test_response_head);
	tcase_add_test(tc, test_parse_listen);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
