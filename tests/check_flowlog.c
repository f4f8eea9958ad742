// SPDX-License-Identifier: MIT
/* Flow-log message formatting: exact lines for fixed dumps, buckets, splitting, escaping. */
#include "config.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <check.h>
#include <jansson.h>

#include "stats/flowlog.h"

static struct ft_conn_entry entry(uint16_t proto, const char *src, uint16_t sport, const char *dst,
				  uint16_t dport, uint64_t txp, uint64_t txb, uint64_t rxp,
				  uint64_t rxb)
{
	struct ft_conn_entry e;

	memset(&e, 0, sizeof(e));
	e.key.proto = proto;
	if (src)
		ck_assert_int_eq(ft_addr_parse(&e.key.src, src), 0);
	if (dst)
		ck_assert_int_eq(ft_addr_parse(&e.key.dst, dst), 0);
	e.key.src_port = sport;
	e.key.dst_port = dport;
	e.tx_packets = txp;
	e.tx_bytes = txb;
	e.rx_packets = rxp;
	e.rx_bytes = rxb;
	return e;
}

/* Overlay: 100.64.0.0/24 and fd00::/64; subnet: 10.9.0.0/16 routed to a peer. */
static enum ft_flowlog_addr_kind classify(void *arg, const struct ft_addr *a)
{
	(void)arg;
	if (a->family == AF_INET && a->bytes[0] == 100 && a->bytes[1] == 64 && a->bytes[2] == 0)
		return FT_FLOWLOG_OVERLAY;
	if (a->family == AF_INET6 && a->bytes[0] == 0xfd && !a->bytes[1] && !a->bytes[2] &&
	    !a->bytes[3] && !a->bytes[4] && !a->bytes[5] && !a->bytes[6] && !a->bytes[7])
		return FT_FLOWLOG_OVERLAY;
	if (a->family == AF_INET && a->bytes[0] == 10 && a->bytes[1] == 9)
		return FT_FLOWLOG_SUBNET;
	return FT_FLOWLOG_OTHER;
}

/* 2026-01-02T03:04:05.123Z and five seconds later. */
static const uint64_t T0 = 1767323045123ULL, T1 = 1767323050123ULL;

START_TEST(test_golden)
{
	struct ft_conn_entry v[] = {
		entry(6, "100.64.0.2", 51234, "100.64.0.1", 80, 34, 8870, 88, 2780),
		entry(6, "100.64.0.1", 80, "100.64.0.2", 51234, 88, 2780, 34, 8870),
		entry(17, "fd00::1", 5353, "fd00::2", 53, 1, 60, 0, 0),
		entry(1, "100.64.0.1", 0, "10.9.1.1", 0, 2, 168, 2, 168),
		entry(6, "100.64.0.1", 40000, "203.0.113.9", 443, 3, 180, 0, 0),
		entry(FT_IPPROTO_FRAGMENT, "100.64.0.1", 0, "100.64.0.2", 0, 1, 1400, 0, 0),
		entry(FT_IPPROTO_INVALID, NULL, 0, NULL, 0, 2, 3, 0, 0),
	};
	struct ft_conn_entry p[] = {
		entry(0, "100.64.0.2", 0, "198.18.0.2", 51820, 63, 13600, 60, 9000),
	};
	struct ft_flowlog_meta meta = { .node_id = "n1", .classify = classify };
	struct ft_flowlog_buf out = { 0 };
	const char *want =
		"{\"nodeId\":\"n1\",\"start\":\"2026-01-02T03:04:05.123Z\","
		"\"end\":\"2026-01-02T03:04:10.123Z\",\"virtualTraffic\":["
		"{\"proto\":255,\"src\":\"100.64.0.1:0\",\"dst\":\"100.64.0.2:0\",\"txPkts\":1,"
		"\"txBytes\":1400},"
		"{\"proto\":6,\"src\":\"100.64.0.1:80\",\"dst\":\"100.64.0.2:51234\",\"txPkts\":88,"
		"\"txBytes\":2780,\"rxPkts\":34,\"rxBytes\":8870},"
		"{\"proto\":6,\"src\":\"100.64.0.2:51234\",\"dst\":\"100.64.0.1:80\",\"txPkts\":34,"
		"\"txBytes\":8870,\"rxPkts\":88,\"rxBytes\":2780},"
		"{\"proto\":17,\"src\":\"[fd00::1]:5353\",\"dst\":\"[fd00::2]:53\",\"txPkts\":1,"
		"\"txBytes\":60}],"
		"\"subnetTraffic\":[{\"proto\":1,\"src\":\"100.64.0.1:0\",\"dst\":\"10.9.1.1:0\","
		"\"txPkts\":2,\"txBytes\":168,\"rxPkts\":2,\"rxBytes\":168}],"
		"\"exitTraffic\":[{\"invalid\":true,\"txPkts\":2,\"txBytes\":3},"
		"{\"proto\":6,\"src\":\"100.64.0.1:40000\",\"dst\":\"203.0.113.9:443\",\"txPkts\":3,"
		"\"txBytes\":180}],"
		"\"physicalTraffic\":[{\"src\":\"100.64.0.2:0\",\"dst\":\"198.18.0.2:51820\","
		"\"txPkts\":63,\"txBytes\":13600,\"rxPkts\":60,\"rxBytes\":9000}]}\n";

	ck_assert_int_eq(ft_flowlog_format(&out, &meta, T0, T1, v, sizeof(v) / sizeof(v[0]), p, 1),
			 1);
	ck_assert_str_eq(out.data, want);
	free(out.data);
}
END_TEST

START_TEST(test_empty_and_meta)
{
	struct ft_flowlog_meta meta = { .node_id = "a\"b\\c\n", .node_name = "host", .lost = 7 };
	struct ft_flowlog_buf out = { 0 };

	ck_assert_int_eq(ft_flowlog_format(&out, &meta, T0, T1, NULL, 0, NULL, 0), 1);
	ck_assert_str_eq(out.data, "{\"nodeId\":\"a\\\"b\\\\c\\u000a\",\"nodeName\":\"host\","
				   "\"start\":\"2026-01-02T03:04:05.123Z\","
				   "\"end\":\"2026-01-02T03:04:10.123Z\",\"lost\":7}\n");
	free(out.data);
}
END_TEST

/* Splitting: every line is valid JSON under the cap, and the lines together hold every count. */
START_TEST(test_split)
{
	enum { N = 500 };
	struct ft_conn_entry *v = calloc(N, sizeof(*v));
	struct ft_flowlog_meta meta = { .node_id = "n", .max_line = 2048 };
	struct ft_flowlog_buf out = { 0 };
	uint64_t sum_pkts = 0, sum_bytes = 0, want_pkts = 0, want_bytes = 0;
	size_t entries = 0;
	int lines;
	char *line, *save = NULL;

	ck_assert_ptr_nonnull(v);
	for (int i = 0; i < N; i++) {
		char a[32];

		snprintf(a, sizeof(a), "100.64.%d.%d", i / 250, i % 250 + 1);
		v[i] = entry(17, a, (uint16_t)(1000 + i), "100.64.0.1", 53, (uint64_t)i + 1,
			     (uint64_t)(i + 1) * 100, 0, 0);
		want_pkts += (uint64_t)i + 1;
		want_bytes += (uint64_t)(i + 1) * 100;
	}
	lines = ft_flowlog_format(&out, &meta, T0, T1, v, N, NULL, 0);
	ck_assert_int_gt(lines, 10);
	for (line = strtok_r(out.data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		json_error_t err;
		json_t *msg, *arr, *e;
		size_t i;

		ck_assert_uint_le(strlen(line) + 1, 2048);
		msg = json_loads(line, 0, &err);
		ck_assert_msg(msg != NULL, "line does not parse: %s", err.text);
		ck_assert_str_eq(json_string_value(json_object_get(msg, "nodeId")), "n");
		arr = json_object_get(msg, "virtualTraffic");
		ck_assert(json_is_array(arr));
		json_array_foreach(arr, i, e)
		{
			sum_pkts += (uint64_t)json_integer_value(json_object_get(e, "txPkts"));
			sum_bytes += (uint64_t)json_integer_value(json_object_get(e, "txBytes"));
			entries++;
		}
		json_decref(msg);
		lines--;
	}
	ck_assert_int_eq(lines, 0);
	ck_assert_uint_eq(entries, N);
	ck_assert_uint_eq(sum_pkts, want_pkts);
	ck_assert_uint_eq(sum_bytes, want_bytes);
	free(out.data);
	free(v);
}
END_TEST

/*
 * tunDropped (0 included) and the omitted sums go on the first line only; the limit lists the
 * largest virtual entries by bytes, sums the others with the connstats overflow, never limits
 * physical entries; precomputed buckets give what classify gives.
 */
START_TEST(test_limit_and_extras)
{
	struct ft_conn_entry v[] = {
		entry(17, "100.64.0.1", 1, "100.64.0.2", 9, 1, 100, 0, 0),
		entry(17, "100.64.0.1", 2, "100.64.0.2", 9, 1, 300, 0, 0),
		entry(17, "100.64.0.1", 3, "10.9.0.2", 9, 1, 200, 1, 50),
		entry(17, "100.64.0.1", 4, "100.64.0.2", 9, 2, 20, 0, 0),
	};
	struct ft_conn_entry p[] = {
		entry(0, "100.64.0.2", 0, "198.18.0.2", 51820, 5, 500, 0, 0),
	};
	uint8_t buckets[4];
	struct ft_flowlog_meta meta = {
		.node_id = "n1",
		.classify = classify,
		.limited = true,
		.max_entries = 2,
		.has_tun_dropped = true,
		.tun_dropped = 0,
		.overflow_v = { 3, 90, 0, 0 },
		.overflow_p = { 0, 0, 7, 700 },
	};
	struct ft_flowlog_buf out = { 0 }, again = { 0 };
	const char *want =
		"{\"nodeId\":\"n1\",\"start\":\"2026-01-02T03:04:05.123Z\","
		"\"end\":\"2026-01-02T03:04:10.123Z\",\"tunDropped\":0,"
		"\"omittedTraffic\":{\"conns\":2,\"txPkts\":6,\"txBytes\":210},"
		"\"omittedPhysicalTraffic\":{\"rxPkts\":7,\"rxBytes\":700},"
		"\"virtualTraffic\":[{\"proto\":17,\"src\":\"100.64.0.1:2\",\"dst\":\"100.64.0.2:9\","
		"\"txPkts\":1,\"txBytes\":300}],"
		"\"subnetTraffic\":[{\"proto\":17,\"src\":\"100.64.0.1:3\",\"dst\":\"10.9.0.2:9\","
		"\"txPkts\":1,\"txBytes\":200,\"rxPkts\":1,\"rxBytes\":50}],"
		"\"physicalTraffic\":[{\"src\":\"100.64.0.2:0\",\"dst\":\"198.18.0.2:51820\","
		"\"txPkts\":5,\"txBytes\":500}]}\n";

	ck_assert_int_eq(ft_flowlog_format(&out, &meta, T0, T1, v, 4, p, 1), 1);
	ck_assert_str_eq(out.data, want);
	for (size_t i = 0; i < 4; i++)
		buckets[i] = ft_flowlog_bucket(&meta, &v[i].key);
	ck_assert_uint_eq(buckets[2], 1); /* subnet */
	meta.buckets = buckets;
	meta.classify = NULL;
	ck_assert_int_eq(ft_flowlog_format(&again, &meta, T0, T1, v, 4, p, 1), 1);
	ck_assert_str_eq(again.data, want);

	/* A limit of 0 lists none; no limit lists all; no tunDropped when it was not measured. */
	out.len = 0;
	meta.max_entries = 0;
	meta.has_tun_dropped = false;
	memset(&meta.overflow_v, 0, sizeof(meta.overflow_v));
	memset(&meta.overflow_p, 0, sizeof(meta.overflow_p));
	ck_assert_int_eq(ft_flowlog_format(&out, &meta, T0, T1, v, 4, NULL, 0), 1);
	ck_assert_ptr_null(strstr(out.data, "tunDropped"));
	ck_assert_ptr_null(strstr(out.data, "Traffic\":["));
	ck_assert_ptr_nonnull(strstr(out.data, "{\"conns\":4,\"txPkts\":5,\"txBytes\":620,"
					       "\"rxPkts\":1,\"rxBytes\":50}"));
	out.len = 0;
	meta.limited = false;
	meta.has_tun_dropped = true;
	meta.tun_dropped = 12;
	ck_assert_int_eq(ft_flowlog_format(&out, &meta, T0, T1, v, 4, NULL, 0), 1);
	ck_assert_ptr_nonnull(strstr(out.data, ",\"tunDropped\":12,\"virtualTraffic\":["));
	ck_assert_ptr_null(strstr(out.data, "omitted"));
	/* Split: the extras on the first line only. */
	out.len = 0;
	meta.max_line = 300;
	meta.overflow_v.tx_packets = 1;
	ck_assert_int_eq(ft_flowlog_format(&out, &meta, T0, T1, v, 4, NULL, 0), 3);
	ck_assert_ptr_nonnull(strstr(out.data, "tunDropped"));
	ck_assert_ptr_null(strstr(strchr(out.data, '\n') + 1, "tunDropped"));
	ck_assert_ptr_null(strstr(strchr(out.data, '\n') + 1, "omitted"));
	free(out.data);
	free(again.data);
}
END_TEST

START_TEST(test_time)
{
	char t[32];

	ft_flowlog_time(t, 0);
	ck_assert_str_eq(t, "1970-01-01T00:00:00.000Z");
	ft_flowlog_time(t, T0);
	ck_assert_str_eq(t, "2026-01-02T03:04:05.123Z");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("flowlog");
	TCase *tc = tcase_create("flowlog");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_golden);
	tcase_add_test(tc, test_empty_and_meta);
	tcase_add_test(tc, test_split);
	tcase_add_test(tc, test_limit_and_extras);
	tcase_add_test(tc, test_time);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
