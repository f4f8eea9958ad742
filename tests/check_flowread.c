// SPDX-License-Identifier: MIT
/* Flow-log reader: times, CIDRs, protocols, line parsing (good and malformed), filters, groups. */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <check.h>

#include "stats/flowlog.h"
#include "stats/flowread.h"

/* 2026-01-02T03:04:05.123Z as ms since the epoch: 20455 days, 11045 s, 123 ms. */
#define T0 1767323045123ULL
#define NOW 1767323045000ULL

static const struct {
	const char *in;
	int ret;
	uint64_t ms;
} times[] = {
	{ "2026-01-02T03:04:05.123Z", 0, T0 },
	{ "2026-01-02t03:04:05.123z", 0, T0 },
	{ "2026-01-02T03:04:05.1239999Z", 0, T0 },  /* truncated, not rounded */
	{ "2026-01-02T04:04:05.123+01:00", 0, T0 }, /* an offset */
	{ "2026-01-02T02:34:05.123-00:30", 0, T0 },
	{ "2026-01-02T03:04:05Z", 0, T0 - 123 },
	{ "1970-01-01T00:00:00Z", 0, 0 },
	{ "2024-02-29T00:00:00Z", 0, 1709164800000ULL }, /* a leap day */
	{ "9999-12-31T23:59:59.999Z", 0, 253402300799999ULL },
	{ "10m", 0, NOW - 600000 },
	{ "90s", 0, NOW - 90000 },
	{ "1h30m", 0, NOW - 5400000 },
	{ "2d", 0, NOW - 2 * 86400000ULL },
	{ "500ms", 0, NOW - 500 },
	{ "60", 0, NOW - 60000 },		/* plain seconds */
	{ "100000d", 0, 0 },			/* before the epoch: clamped */
	{ "2023-02-29T00:00:00Z", -EINVAL, 0 }, /* not a leap year */
	{ "2026-13-01T00:00:00Z", -EINVAL, 0 },
	{ "2026-01-32T00:00:00Z", -EINVAL, 0 },
	{ "2026-01-02T24:00:00Z", -EINVAL, 0 },
	{ "2026-01-02T03:04:05", -EINVAL, 0 }, /* no zone */
	{ "2026-01-02T03:04:05.Z", -EINVAL, 0 },
	{ "2026-01-02T03:04:05Zjunk", -EINVAL, 0 },
	{ "1969-12-31T23:59:59Z", -EINVAL, 0 },
	{ "1970-01-01T00:00:00+01:00", -EINVAL, 0 }, /* before the epoch */
	{ "26-01-02T03:04:05Z", -EINVAL, 0 },
	{ "", -EINVAL, 0 },
	{ "10x", -EINVAL, 0 },
	{ "m", -EINVAL, 0 },
	{ "-5m", -EINVAL, 0 },
	{ "10 m", -EINVAL, 0 },
	{ "1h30", -EINVAL, 0 },
	{ "99999999999999999999s", -EINVAL, 0 },
	{ "yesterday", -EINVAL, 0 },
};

START_TEST(test_time)
{
	uint64_t ms = 42;
	int ret = ft_flowread_parse_time(times[_i].in, NOW, &ms);

	ck_assert_msg(ret == times[_i].ret, "'%s': %d", times[_i].in, ret);
	if (ret == 0)
		ck_assert_msg(ms == times[_i].ms, "'%s': %llu", times[_i].in,
			      (unsigned long long)ms);
}
END_TEST

START_TEST(test_time_format)
{
	static const uint64_t ms[] = { 0, T0, 1709164800000ULL, 253402300799999ULL,
				       951782400000ULL };
	char a[32], b[32];

	for (size_t i = 0; i < sizeof(ms) / sizeof(ms[0]); i++) {
		uint64_t back;

		ft_flowread_format_time(a, ms[i]);
		ft_flowlog_time(b, ms[i]); /* the writer's own formatting */
		ck_assert_str_eq(a, b);
		ck_assert_int_eq(ft_flowread_parse_time(a, 0, &back), 0);
		ck_assert_uint_eq(back, ms[i]);
	}
	ft_flowread_format_time(a, T0);
	ck_assert_str_eq(a, "2026-01-02T03:04:05.123Z");
}
END_TEST

static const struct {
	const char *cidr, *addr;
	int ret;
	bool match;
} cidrs[] = {
	{ "100.64.0.0/10", "100.64.0.1", 0, true },
	{ "100.64.0.0/10", "100.127.255.255", 0, true },
	{ "100.64.0.0/10", "100.128.0.0", 0, false },
	{ "100.64.0.9/10", "100.100.0.1", 0, true }, /* host bits ignored */
	{ "100.64.0.1", "100.64.0.1", 0, true },
	{ "100.64.0.1", "100.64.0.2", 0, false },
	{ "100.64.0.1/32", "100.64.0.1", 0, true },
	{ "0.0.0.0/0", "198.18.0.1", 0, true },
	{ "0.0.0.0/0", "fd00::1", 0, false }, /* families never mix */
	{ "::/0", "fd00::1", 0, true },
	{ "::/0", "100.64.0.1", 0, false },
	{ "fd00::/8", "fd12:3456::1", 0, true },
	{ "fd00::/8", "fe80::1", 0, false },
	{ "fd00::/9", "fd7f::1", 0, true },
	{ "fd00::/9", "fd80::1", 0, false },
	{ "[fd00::1]", "fd00::1", 0, true },
	{ "fd00::1/128", "fd00::1", 0, true },
	{ "fd00::1/127", "fd00::0", 0, true },
	{ "100.64.0.0/33", NULL, -EINVAL, false },
	{ "fd00::/129", NULL, -EINVAL, false },
	{ "100.64.0.0/", NULL, -EINVAL, false },
	{ "100.64.0.0/-1", NULL, -EINVAL, false },
	{ "100.64.0.0/8x", NULL, -EINVAL, false },
	{ "100.64.0", NULL, -EINVAL, false },
	{ "100.64.0.300", NULL, -EINVAL, false },
	{ "/8", NULL, -EINVAL, false },
	{ "", NULL, -EINVAL, false },
	{ "host.example", NULL, -EINVAL, false },
	{ "100.64.0.1:80", NULL, -EINVAL, false },
};

START_TEST(test_cidr)
{
	struct ft_flowread_cidr c;
	struct ft_addr a;
	int ret = ft_flowread_parse_cidr(cidrs[_i].cidr, &c);

	ck_assert_msg(ret == cidrs[_i].ret, "'%s': %d", cidrs[_i].cidr, ret);
	if (ret)
		return;
	ck_assert_int_eq(ft_addr_parse(&a, cidrs[_i].addr), 0);
	ck_assert_msg(ft_flowread_cidr_match(&c, &a) == cidrs[_i].match, "%s in %s", cidrs[_i].addr,
		      cidrs[_i].cidr);
}
END_TEST

START_TEST(test_proto_kind_group)
{
	char buf[FT_FLOWREAD_PROTO_STRLEN];
	enum ft_flowread_group g;

	ck_assert_int_eq(ft_flowread_proto_parse("tcp"), 6);
	ck_assert_int_eq(ft_flowread_proto_parse("UDP"), 17);
	ck_assert_int_eq(ft_flowread_proto_parse("icmp"), 1);
	ck_assert_int_eq(ft_flowread_proto_parse("ipv6-icmp"), 58);
	ck_assert_int_eq(ft_flowread_proto_parse("fragment"), 255);
	ck_assert_int_eq(ft_flowread_proto_parse("invalid"), FT_IPPROTO_INVALID);
	ck_assert_int_eq(ft_flowread_proto_parse("0"), 0);
	ck_assert_int_eq(ft_flowread_proto_parse("132"), 132);
	ck_assert_int_eq(ft_flowread_proto_parse("255"), 255);
	ck_assert_int_eq(ft_flowread_proto_parse("256"), -EINVAL);
	ck_assert_int_eq(ft_flowread_proto_parse("-1"), -EINVAL);
	ck_assert_int_eq(ft_flowread_proto_parse(""), -EINVAL);
	ck_assert_int_eq(ft_flowread_proto_parse("gre"), -EINVAL);
	ck_assert_str_eq(ft_flowread_proto_str(6, buf), "tcp");
	ck_assert_str_eq(ft_flowread_proto_str(255, buf), "fragment");
	ck_assert_str_eq(ft_flowread_proto_str(FT_IPPROTO_INVALID, buf), "invalid");
	ck_assert_str_eq(ft_flowread_proto_str(132, buf), "132");
	ck_assert_str_eq(ft_flowread_proto_str(0, buf), "0");

	ck_assert_int_eq(ft_flowread_kind_parse("virtual"), FT_FLOWREAD_VIRTUAL);
	ck_assert_int_eq(ft_flowread_kind_parse("physical"), FT_FLOWREAD_PHYSICAL);
	ck_assert_int_eq(ft_flowread_kind_parse("Exit"), -EINVAL);
	ck_assert_str_eq(ft_flowread_kind_str(FT_FLOWREAD_SUBNET), "subnet");
	ck_assert_str_eq(ft_flowread_kind_str(99), "?");

	ck_assert_int_eq(ft_flowread_group_parse("peer", &g), 0);
	ck_assert_int_eq(g, FT_FLOWREAD_GROUP_PEER);
	ck_assert_int_eq(ft_flowread_group_parse("flows", &g), -EINVAL);
}
END_TEST

#define HDR \
	"{\"nodeId\":\"n1\",\"start\":\"2026-01-02T03:04:05.123Z\",\"end\":\"2026-01-02T03:04:10.123Z\""

/* Lines that must parse: the number of entries, and one checked entry. */
START_TEST(test_parse_good)
{
	struct ft_flowread_msg m = { 0 };
	char err[128];
	const char *line = HDR
		",\"nodeName\":\"alpha\",\"lost\":3,"
		"\"virtualTraffic\":[{\"proto\":6,\"src\":\"100.64.0.1:80\",\"dst\":\"100.64.0.2:51234\","
		"\"txPkts\":88,\"txBytes\":2780,\"rxPkts\":34,\"rxBytes\":8870}],"
		"\"subnetTraffic\":[{\"proto\":17,\"src\":\"[fd00::1]:53\",\"dst\":\"[fd00::2]:65535\"}],"
		"\"exitTraffic\":[{\"proto\":255,\"src\":\"100.64.0.1:0\",\"dst\":\"198.18.0.9:0\",\"txPkts\":1},"
		"{\"invalid\":true,\"txPkts\":2,\"txBytes\":9}],"
		"\"physicalTraffic\":[{\"src\":\"100.64.0.2:0\",\"dst\":\"198.18.0.2:51820\","
		"\"txPkts\":9223372036854775807}],\"unknownField\":[1,2]}";
	const struct ft_flowread_entry *e;

	ck_assert_int_eq(ft_flowread_parse(&m, line, strlen(line), err, sizeof(err)), 0);
	ck_assert_str_eq(m.node_id, "n1");
	ck_assert_str_eq(m.node_name, "alpha");
	ck_assert_uint_eq(m.start_ms, T0);
	ck_assert_uint_eq(m.end_ms, T0 + 5000);
	ck_assert_uint_eq(m.lost, 3);
	ck_assert_uint_eq(m.n, 5);
	e = &m.entries[0];
	ck_assert_int_eq(e->key.kind, FT_FLOWREAD_VIRTUAL);
	ck_assert_int_eq(e->key.proto, 6);
	ck_assert_int_eq(e->key.src.family, AF_INET);
	ck_assert_int_eq(e->key.src_port, 80);
	ck_assert_int_eq(e->key.dst_port, 51234);
	ck_assert_uint_eq(e->tx_pkts, 88);
	ck_assert_uint_eq(e->tx_bytes, 2780);
	ck_assert_uint_eq(e->rx_pkts, 34);
	ck_assert_uint_eq(e->rx_bytes, 8870);
	e = &m.entries[1];
	ck_assert_int_eq(e->key.kind, FT_FLOWREAD_SUBNET);
	ck_assert_int_eq(e->key.src.family, AF_INET6);
	ck_assert_int_eq(e->key.dst_port, 65535);
	ck_assert_uint_eq(e->tx_pkts + e->rx_bytes, 0); /* omitted counters are zero */
	ck_assert_int_eq(m.entries[2].key.proto, 255);
	ck_assert_int_eq(m.entries[3].key.proto, FT_IPPROTO_INVALID);
	ck_assert_int_eq(m.entries[3].key.src.family, 0);
	ck_assert_uint_eq(m.entries[3].tx_bytes, 9);
	ck_assert_int_eq(m.entries[4].key.kind, FT_FLOWREAD_PHYSICAL);
	ck_assert_int_eq(m.entries[4].key.proto, 0);
	ck_assert_uint_eq(m.entries[4].tx_pkts, INT64_MAX);

	/* A message with no traffic at all, and no name, is a valid (empty) window. */
	line = HDR "}";
	ck_assert_int_eq(ft_flowread_parse(&m, line, strlen(line), err, sizeof(err)), 0);
	ck_assert_ptr_null(m.node_name);
	ck_assert_uint_eq(m.n, 0);
	ft_flowread_msg_free(&m);
}
END_TEST

static const struct {
	const char *line, *why; /* why: a part of the error message */
} bad_lines[] = {
	{ "", "bad JSON" },
	{ HDR, "bad JSON" }, /* truncated */
	{ HDR ",\"virtualTraffic\":[{\"proto\":6,\"src\":\"100.64", "bad JSON" },
	{ "[1,2,3]", "not a JSON object" },
	{ "{\"start\":\"2026-01-02T03:04:05Z\",\"end\":\"2026-01-02T03:04:05Z\"}", "nodeId" },
	{ "{\"nodeId\":7,\"start\":\"2026-01-02T03:04:05Z\",\"end\":\"2026-01-02T03:04:05Z\"}",
	  "nodeId" },
	{ "{\"nodeId\":\"n\",\"end\":\"2026-01-02T03:04:05Z\"}", "\"start\" missing" },
	{ "{\"nodeId\":\"n\",\"start\":\"2026-01-02T03:04:05Z\"}", "\"end\" missing" },
	{ "{\"nodeId\":\"n\",\"start\":\"yesterday\",\"end\":\"2026-01-02T03:04:05Z\"}",
	  "RFC 3339" },
	{ "{\"nodeId\":\"n\",\"start\":1767323045,\"end\":\"2026-01-02T03:04:05Z\"}", "start" },
	{ "{\"nodeId\":\"n\",\"start\":\"2026-01-02T03:04:06Z\",\"end\":\"2026-01-02T03:04:05Z\"}",
	  "before" },
	{ HDR ",\"nodeName\":false}", "nodeName" },
	{ HDR ",\"lost\":-1}", "lost" },
	{ HDR ",\"lost\":\"3\"}", "lost" },
	{ HDR ",\"virtualTraffic\":{}}", "not an array" },
	{ HDR ",\"exitTraffic\":[7]}", "not an object" },
	{ HDR
	  ",\"virtualTraffic\":[{\"proto\":\"tcp\",\"src\":\"1.2.3.4:1\",\"dst\":\"1.2.3.4:2\"}]}",
	  "proto" },
	{ HDR ",\"virtualTraffic\":[{\"proto\":256,\"src\":\"1.2.3.4:1\",\"dst\":\"1.2.3.4:2\"}]}",
	  "proto" },
	{ HDR ",\"virtualTraffic\":[{\"proto\":6.0,\"src\":\"1.2.3.4:1\",\"dst\":\"1.2.3.4:2\"}]}",
	  "proto" },
	{ HDR ",\"virtualTraffic\":[{\"proto\":6,\"dst\":\"1.2.3.4:2\"}]}", "missing" },
	{ HDR ",\"virtualTraffic\":[{\"proto\":6,\"src\":1234,\"dst\":\"1.2.3.4:2\"}]}",
	  "missing" },
	{ HDR ",\"virtualTraffic\":[{\"src\":\"1.2.3.4\",\"dst\":\"1.2.3.4:2\"}]}", "endpoint" },
	{ HDR ",\"virtualTraffic\":[{\"src\":\"1.2.3.4:65536\",\"dst\":\"1.2.3.4:2\"}]}",
	  "endpoint" },
	{ HDR ",\"virtualTraffic\":[{\"src\":\"1.2.3.4:-1\",\"dst\":\"1.2.3.4:2\"}]}", "endpoint" },
	{ HDR ",\"virtualTraffic\":[{\"src\":\"fd00::1:80\",\"dst\":\"1.2.3.4:2\"}]}", "endpoint" },
	{ HDR ",\"virtualTraffic\":[{\"src\":\"[1.2.3.4]:80\",\"dst\":\"1.2.3.4:2\"}]}",
	  "endpoint" },
	{ HDR ",\"virtualTraffic\":[{\"src\":\"[fd00::1:80\",\"dst\":\"1.2.3.4:2\"}]}",
	  "endpoint" },
	{ HDR ",\"virtualTraffic\":[{\"src\":\"[]:80\",\"dst\":\"1.2.3.4:2\"}]}", "endpoint" },
	{ HDR ",\"virtualTraffic\":[{\"src\":\":80\",\"dst\":\"1.2.3.4:2\"}]}", "endpoint" },
	{ HDR ",\"virtualTraffic\":[{\"src\":\"1.2.3.4:1\",\"dst\":\"1.2.3.4:2\",\"txPkts\":-1}]}",
	  "txPkts" },
	{ HDR
	  ",\"virtualTraffic\":[{\"src\":\"1.2.3.4:1\",\"dst\":\"1.2.3.4:2\",\"txBytes\":\"5\"}]}",
	  "txBytes" },
	{ HDR
	  ",\"virtualTraffic\":[{\"src\":\"1.2.3.4:1\",\"dst\":\"1.2.3.4:2\",\"rxBytes\":1e30}]}",
	  "rxBytes" },
	{ HDR
	  ",\"virtualTraffic\":[{\"src\":\"1.2.3.4:1\",\"dst\":\"1.2.3.4:2\",\"rxPkts\":null}]}",
	  "rxPkts" },
	/* Beyond 2^63: jansson refuses it, and so does the reader. */
	{ HDR ",\"virtualTraffic\":[{\"src\":\"1.2.3.4:1\",\"dst\":\"1.2.3.4:2\","
	      "\"txBytes\":18446744073709551616}]}",
	  "too big" },
	{ HDR ",\"exitTraffic\":[{\"invalid\":1,\"txPkts\":2}]}", "invalid" },
	{ HDR ",\"nodeId\":\"n2\"}", "duplicate" },
	{ HDR ",\"tunDropped\":-1}", "tunDropped" },
	{ HDR ",\"tunDropped\":\"5\"}", "tunDropped" },
	{ HDR ",\"omittedTraffic\":[1]}", "omittedTraffic\" is not an object" },
	{ HDR ",\"omittedTraffic\":{\"conns\":-2}}", "conns" },
	{ HDR ",\"omittedPhysicalTraffic\":{\"txPkts\":1,\"src\":\"x\"}}", "unknown member" },
	{ HDR "} trailing", "bad JSON" },
};

START_TEST(test_parse_bad)
{
	struct ft_flowread_msg m = { 0 };
	char err[200];
	const char *line = bad_lines[_i].line;

	ck_assert_int_eq(ft_flowread_parse(&m, line, strlen(line), err, sizeof(err)), -EINVAL);
	ck_assert_msg(strstr(err, bad_lines[_i].why), "line %d: '%s' does not say '%s'", _i, err,
		      bad_lines[_i].why);
	ck_assert_ptr_null(m.node_id);
	ck_assert_uint_eq(m.n, 0);
}
END_TEST

/* The parser reads only len bytes: no NUL is needed, and what follows does not count. */
START_TEST(test_parse_len)
{
	struct ft_flowread_msg m = { 0 };
	const char *two = HDR "}\n" HDR "}";
	size_t one = strlen(HDR "}");
	char *exact = malloc(one);

	memcpy(exact, two, one);
	ck_assert_int_eq(ft_flowread_parse(&m, exact, one, NULL, 0), 0);
	ck_assert_int_eq(ft_flowread_parse(&m, two, one + 1, NULL, 0), 0);
	ck_assert_int_eq(ft_flowread_parse(&m, two, one + 2, NULL, 0), -EINVAL);
	ck_assert_int_eq(ft_flowread_parse(&m, two, FT_FLOWREAD_MAX_LINE + 1, NULL, 0), -EINVAL);
	free(exact);
	ft_flowread_msg_free(&m);
}
END_TEST

/* What the writer writes, the reader reads back: fragments, invalid entries, buckets. */
START_TEST(test_roundtrip)
{
	struct ft_flowlog_buf out = { 0 };
	struct ft_flowlog_meta meta = { .node_id = "rt", .node_name = "x", .lost = 4 };
	struct ft_conn_entry v[3], p[1];
	struct ft_flowread_msg m = { 0 };
	uint8_t a4[4] = { 100, 64, 0, 1 }, b4[4] = { 100, 64, 0, 2 }, e4[4] = { 198, 18, 0, 2 };

	memset(v, 0, sizeof(v));
	memset(p, 0, sizeof(p));
	ft_addr_set_v4(&v[0].key.src, a4);
	ft_addr_set_v4(&v[0].key.dst, b4);
	v[0].key.proto = 6;
	v[0].key.src_port = 80;
	v[0].key.dst_port = 443;
	v[0].tx_packets = 5;
	v[0].rx_bytes = 1000;
	v[1] = v[0];
	v[1].key.proto = FT_IPPROTO_FRAGMENT;
	v[1].key.src_port = v[1].key.dst_port = 0;
	v[2].key.proto = FT_IPPROTO_INVALID;
	v[2].tx_packets = 1;
	v[2].tx_bytes = 3;
	ft_addr_set_v4(&p[0].key.src, b4);
	ft_addr_set_v4(&p[0].key.dst, e4);
	p[0].key.dst_port = 51820;
	p[0].tx_packets = 7;
	p[0].tx_bytes = 700;
	ck_assert_int_eq(ft_flowlog_format(&out, &meta, T0, T0 + 2000, v, 3, p, 1), 1);
	ck_assert_int_eq(ft_flowread_parse(&m, out.data, out.len - 1, NULL, 0), 0);
	ck_assert_str_eq(m.node_name, "x");
	ck_assert_uint_eq(m.lost, 4);
	ck_assert_uint_eq(m.n, 4);
	for (size_t i = 0; i < m.n; i++) {
		const struct ft_flowread_entry *e = &m.entries[i];

		if (e->key.kind == FT_FLOWREAD_PHYSICAL) {
			ck_assert_int_eq(e->key.dst_port, 51820);
			ck_assert_uint_eq(e->tx_bytes, 700);
		} else if (e->key.proto == FT_IPPROTO_INVALID) {
			ck_assert_int_eq(e->key.kind, FT_FLOWREAD_EXIT);
			ck_assert_uint_eq(e->tx_bytes, 3);
		} else if (e->key.proto == 255) {
			ck_assert_int_eq(e->key.src_port, 0);
		} else {
			ck_assert_int_eq(e->key.proto, 6);
			ck_assert_int_eq(e->key.kind, FT_FLOWREAD_VIRTUAL);
			ck_assert_uint_eq(e->rx_bytes, 1000);
		}
	}
	free(out.data);
	ft_flowread_msg_free(&m);
}
END_TEST

static void parse_ok(struct ft_flowread_msg *m, const char *line)
{
	char err[200];

	ck_assert_msg(ft_flowread_parse(m, line, strlen(line), err, sizeof(err)) == 0, "%s", err);
}

START_TEST(test_merge)
{
	struct ft_flowread_msg a = { 0 }, b = { 0 }, c = { 0 };

	parse_ok(&a, HDR ",\"virtualTraffic\":[{\"src\":\"1.2.3.4:1\",\"dst\":\"1.2.3.4:2\"}]}");
	parse_ok(&b, HDR ",\"lost\":2,\"tunDropped\":7,\"omittedTraffic\":{\"conns\":3,"
			 "\"rxBytes\":9},\"omittedPhysicalTraffic\":{\"txPkts\":4},"
			 "\"exitTraffic\":[{\"src\":\"1.2.3.4:1\",\"dst\":\"8.8.8.8:2\"}]}");
	parse_ok(&c, "{\"nodeId\":\"n2\",\"start\":\"2026-01-02T03:04:05.123Z\","
		     "\"end\":\"2026-01-02T03:04:10.123Z\"}");
	ck_assert(ft_flowread_same_window(&a, &b));
	ck_assert(!ft_flowread_same_window(&a, &c)); /* another node */
	ck_assert(!a.has_tun_dropped);
	ck_assert_int_eq(ft_flowread_merge(&a, &b), 0);
	ck_assert_uint_eq(a.n, 2);
	ck_assert_uint_eq(a.lost, 2);
	/* tunDropped and the omitted sums are on one line of a message: they add up. */
	ck_assert(a.has_tun_dropped);
	ck_assert_uint_eq(a.tun_dropped, 7);
	ck_assert_uint_eq(a.omitted.conns, 3);
	ck_assert_uint_eq(a.omitted.rx_bytes, 9);
	ck_assert_uint_eq(a.omitted_phys.tx_pkts, 4);
	ck_assert_int_eq(a.entries[1].key.kind, FT_FLOWREAD_EXIT);
	c.end_ms = a.end_ms + 1;
	free(c.node_id);
	c.node_id = strdup("n1");
	ck_assert(!ft_flowread_same_window(&a, &c)); /* another end */
	ft_flowread_move(&c, &a);
	ck_assert_ptr_null(a.node_id);
	ck_assert_uint_eq(c.n, 2);
	ck_assert(!ft_flowread_same_window(&a, &c)); /* an empty message is no window */
	ft_flowread_msg_free(&b);
	ft_flowread_msg_free(&c);
}
END_TEST

static struct ft_flowread_entry mk(unsigned kind, int proto, const char *src, int sport,
				   const char *dst, int dport, uint64_t tx_bytes)
{
	struct ft_flowread_entry e;

	memset(&e, 0, sizeof(e));
	e.key.kind = (uint8_t)kind;
	e.key.proto = (uint16_t)proto;
	if (src)
		ck_assert_int_eq(ft_addr_parse(&e.key.src, src), 0);
	if (dst)
		ck_assert_int_eq(ft_addr_parse(&e.key.dst, dst), 0);
	e.key.src_port = (uint16_t)sport;
	e.key.dst_port = (uint16_t)dport;
	e.tx_pkts = 1;
	e.tx_bytes = tx_bytes;
	return e;
}

START_TEST(test_filter)
{
	struct ft_flowread_filter f;
	struct ft_flowread_entry tcp =
		mk(FT_FLOWREAD_VIRTUAL, 6, "100.64.0.1", 40000, "100.64.0.2", 443, 10);
	struct ft_flowread_entry phys =
		mk(FT_FLOWREAD_PHYSICAL, 0, "100.64.0.2", 0, "198.18.0.2", 51820, 10);
	struct ft_flowread_entry inval =
		mk(FT_FLOWREAD_EXIT, FT_IPPROTO_INVALID, NULL, 0, NULL, 0, 1);
	struct ft_flowread_msg m = { .start_ms = 1000, .end_ms = 2000 };

	ft_flowread_filter_init(&f);
	ck_assert(ft_flowread_entry_match(&f, &tcp) && ft_flowread_entry_match(&f, &inval));
	ck_assert(ft_flowread_window_match(&f, &m));

	f.port = 443;
	ck_assert(ft_flowread_entry_match(&f, &tcp));
	ck_assert(!ft_flowread_entry_match(&f, &phys));
	ck_assert(!ft_flowread_entry_match(&f, &inval));
	f.port = 40000; /* either end */
	ck_assert(ft_flowread_entry_match(&f, &tcp));
	f.port = 0;
	ck_assert(!ft_flowread_entry_match(&f, &tcp));
	ck_assert(ft_flowread_entry_match(&f, &phys));

	ft_flowread_filter_init(&f);
	f.has_host = true;
	ck_assert_int_eq(ft_flowread_parse_cidr("100.64.0.2", &f.host), 0);
	ck_assert(ft_flowread_entry_match(&f, &tcp) && ft_flowread_entry_match(&f, &phys));
	ck_assert(!ft_flowread_entry_match(&f, &inval));
	f.has_src = true;
	ck_assert_int_eq(ft_flowread_parse_cidr("100.64.0.2", &f.src), 0);
	ck_assert(!ft_flowread_entry_match(&f, &tcp) && ft_flowread_entry_match(&f, &phys));
	f.has_dst = true;
	ck_assert_int_eq(ft_flowread_parse_cidr("198.18.0.0/15", &f.dst), 0);
	ck_assert(ft_flowread_entry_match(&f, &phys));

	ft_flowread_filter_init(&f);
	f.proto = 6;
	ck_assert(ft_flowread_entry_match(&f, &tcp) && !ft_flowread_entry_match(&f, &phys));
	f.proto = FT_IPPROTO_INVALID;
	ck_assert(ft_flowread_entry_match(&f, &inval) && !ft_flowread_entry_match(&f, &tcp));

	ft_flowread_filter_init(&f);
	f.kinds = 1u << FT_FLOWREAD_PHYSICAL | 1u << FT_FLOWREAD_EXIT;
	ck_assert(!ft_flowread_entry_match(&f, &tcp) && ft_flowread_entry_match(&f, &phys) &&
		  ft_flowread_entry_match(&f, &inval));

	/* Windows: since keeps those ending at or after it, until those starting at or before. */
	ft_flowread_filter_init(&f);
	f.since_ms = 2000;
	ck_assert(ft_flowread_window_match(&f, &m));
	f.since_ms = 2001;
	ck_assert(!ft_flowread_window_match(&f, &m));
	ft_flowread_filter_init(&f);
	f.until_ms = 1000;
	ck_assert(ft_flowread_window_match(&f, &m));
	f.until_ms = 999;
	ck_assert(!ft_flowread_window_match(&f, &m));
}
END_TEST

/* Aggregation: each group sums its entries, counts windows once, and sorts largest first. */
START_TEST(test_agg)
{
	struct ft_flowread_msg w1 = { .start_ms = 1000, .end_ms = 2000 };
	struct ft_flowread_msg w2 = { .start_ms = 2000, .end_ms = 4000 };
	struct ft_flowread_entry e1[] = {
		mk(FT_FLOWREAD_VIRTUAL, 6, "100.64.0.1", 1000, "100.64.0.2", 80, 100),
		mk(FT_FLOWREAD_VIRTUAL, 6, "100.64.0.1", 1001, "100.64.0.2", 80, 300),
		mk(FT_FLOWREAD_VIRTUAL, 17, "100.64.0.1", 5000, "100.64.0.3", 53, 50),
		mk(FT_FLOWREAD_PHYSICAL, 0, "100.64.0.2", 0, "198.18.0.2", 51820, 500),
	};
	struct ft_flowread_entry e2[] = {
		mk(FT_FLOWREAD_VIRTUAL, 6, "100.64.0.1", 1000, "100.64.0.2", 80, 1000),
		mk(FT_FLOWREAD_EXIT, FT_IPPROTO_INVALID, NULL, 0, NULL, 0, 7),
		mk(FT_FLOWREAD_PHYSICAL, 0, "100.64.0.3", 0, "198.18.0.3", 51820, 60),
	};
	const struct ft_flowread_row *r;
	struct ft_flowread_agg *a;
	size_t n;

	/* flow: four flows and an invalid entry, the flow in both windows summed. */
	a = ft_flowread_agg_create(FT_FLOWREAD_GROUP_FLOW);
	ck_assert_ptr_nonnull(a);
	ck_assert_int_eq(ft_flowread_agg_add(a, &w1, e1, 4), 0);
	ck_assert_int_eq(ft_flowread_agg_add(a, &w2, e2, 3), 0);
	n = ft_flowread_agg_sort(a, false, &r);
	ck_assert_uint_eq(n, 6);
	ck_assert_uint_eq(r[0].e.tx_bytes, 1100);
	ck_assert_uint_eq(r[0].e.tx_pkts, 2);
	ck_assert_uint_eq(r[0].windows, 2);
	ck_assert_uint_eq(r[0].first_ms, 1000);
	ck_assert_uint_eq(r[0].last_ms, 4000);
	ck_assert_int_eq(r[0].e.key.wild, 0);
	ck_assert_uint_eq(r[1].e.tx_bytes, 500);
	ck_assert_uint_eq(r[5].e.tx_bytes, 7);
	/* By packets the 2-packet flow still leads; ties fall back to bytes. */
	n = ft_flowread_agg_sort(a, true, &r);
	ck_assert_uint_eq(r[0].e.tx_pkts, 2);
	ck_assert_uint_eq(r[1].e.tx_bytes, 500);
	/* Adding after a sort still finds the existing groups. */
	ck_assert_int_eq(ft_flowread_agg_add(a, &w2, e2, 1), 0);
	n = ft_flowread_agg_sort(a, false, &r);
	ck_assert_uint_eq(n, 6);
	ck_assert_uint_eq(r[0].e.tx_bytes, 2100);
	ck_assert_uint_eq(r[0].windows, 3);
	ft_flowread_agg_destroy(a);

	/* pair: both TCP flows and their two windows in one group, counted once per window. */
	a = ft_flowread_agg_create(FT_FLOWREAD_GROUP_PAIR);
	ck_assert_int_eq(ft_flowread_agg_add(a, &w1, e1, 4), 0);
	ck_assert_int_eq(ft_flowread_agg_add(a, &w2, e2, 3), 0);
	n = ft_flowread_agg_sort(a, false, &r);
	ck_assert_uint_eq(n, 5);
	ck_assert_uint_eq(r[0].e.tx_bytes, 1400);
	ck_assert_uint_eq(r[0].windows, 2);
	ck_assert(r[0].e.key.wild & FT_FLOWREAD_W_PROTO);
	ck_assert(r[0].e.key.wild & FT_FLOWREAD_W_SPORT);
	ck_assert(!(r[0].e.key.wild & FT_FLOWREAD_W_SRC));
	ft_flowread_agg_destroy(a);

	/* src: 100.64.0.1 sends all virtual traffic; physical stays apart (its own kind). */
	a = ft_flowread_agg_create(FT_FLOWREAD_GROUP_SRC);
	ck_assert_int_eq(ft_flowread_agg_add(a, &w1, e1, 4), 0);
	ck_assert_int_eq(ft_flowread_agg_add(a, &w2, e2, 3), 0);
	n = ft_flowread_agg_sort(a, false, &r);
	ck_assert_uint_eq(n, 4);
	ck_assert_int_eq(r[0].e.key.kind, FT_FLOWREAD_VIRTUAL);
	ck_assert_uint_eq(r[0].e.tx_bytes, 1450);
	ck_assert(r[0].e.key.wild & FT_FLOWREAD_W_DST);
	ft_flowread_agg_destroy(a);

	/* peer: physical by its src (the peer), virtual by its dst (the far end). */
	a = ft_flowread_agg_create(FT_FLOWREAD_GROUP_PEER);
	ck_assert_int_eq(ft_flowread_agg_add(a, &w1, e1, 4), 0);
	ck_assert_int_eq(ft_flowread_agg_add(a, &w2, e2, 3), 0);
	n = ft_flowread_agg_sort(a, false, &r);
	ck_assert_uint_eq(n, 5); /* virtual .2 and .3, physical .2 and .3, invalid */
	{
		struct ft_addr peer2;
		bool phys2 = false, virt2 = false;

		ft_addr_parse(&peer2, "100.64.0.2");
		for (size_t i = 0; i < n; i++) {
			if (!ft_addr_equal(&r[i].e.key.dst, &peer2))
				continue;
			if (r[i].e.key.kind == FT_FLOWREAD_PHYSICAL) {
				phys2 = true;
				ck_assert_uint_eq(r[i].e.tx_bytes, 500);
			} else {
				virt2 = true;
				ck_assert_uint_eq(r[i].e.tx_bytes, 1400);
			}
		}
		ck_assert(phys2 && virt2);
	}
	ft_flowread_agg_destroy(a);

	/* dst, and an empty aggregation. */
	a = ft_flowread_agg_create(FT_FLOWREAD_GROUP_DST);
	ck_assert_uint_eq(ft_flowread_agg_sort(a, false, &r), 0);
	ft_flowread_agg_destroy(a);
	ft_flowread_agg_destroy(NULL);
}
END_TEST

/* Many groups: the table grows and rehashes without losing one. */
START_TEST(test_agg_many)
{
	struct ft_flowread_msg w = { .start_ms = 0, .end_ms = 1 };
	struct ft_flowread_agg *a = ft_flowread_agg_create(FT_FLOWREAD_GROUP_FLOW);
	const struct ft_flowread_row *r;
	uint64_t sum = 0;
	size_t n;

	for (int round = 0; round < 2; round++)
		for (int i = 0; i < 5000; i++) {
			struct ft_flowread_entry e = mk(FT_FLOWREAD_VIRTUAL, 6, "100.64.0.1", i,
							"100.64.0.2", 80, (uint64_t)i);

			ck_assert_int_eq(ft_flowread_agg_add(a, &w, &e, 1), 0);
		}
	n = ft_flowread_agg_sort(a, false, &r);
	ck_assert_uint_eq(n, 5000);
	for (size_t i = 0; i < n; i++) {
		sum += r[i].e.tx_bytes;
		ck_assert_uint_eq(r[i].windows, 2);
		if (i)
			ck_assert_uint_le(r[i].e.tx_bytes, r[i - 1].e.tx_bytes);
	}
	ck_assert_uint_eq(sum, 2ULL * 4999 * 5000 / 2);
	ft_flowread_agg_destroy(a);
}
END_TEST

/*
 * The aggregation's hash is keyed per aggregation (two give one key different hashes, so the
 * sender of the traffic cannot know which keys collide), and the results do not depend on it.
 */
START_TEST(test_agg_keyed)
{
	struct ft_flowread_msg w = { .start_ms = 0, .end_ms = 1 };
	struct ft_flowread_agg *a = ft_flowread_agg_create(FT_FLOWREAD_GROUP_FLOW);
	struct ft_flowread_agg *b = ft_flowread_agg_create(FT_FLOWREAD_GROUP_FLOW);
	const struct ft_flowread_row *ra, *rb;
	int differ = 0;
	size_t n;

	for (int i = 0; i < 2000; i++) {
		struct ft_flowread_entry e = mk(FT_FLOWREAD_VIRTUAL, 17, "100.64.0.1", i % 700,
						"100.64.0.2", 53, (uint64_t)(i % 13));

		differ += ft_flowread_agg_hash(a, &e.key) != ft_flowread_agg_hash(b, &e.key);
		ck_assert_uint_eq(ft_flowread_agg_hash(a, &e.key), ft_flowread_agg_hash(a, &e.key));
		ck_assert_int_eq(ft_flowread_agg_add(a, &w, &e, 1), 0);
		ck_assert_int_eq(ft_flowread_agg_add(b, &w, &e, 1), 0);
	}
	ck_assert_int_eq(differ, 2000);
	n = ft_flowread_agg_sort(a, false, &ra);
	ck_assert_uint_eq(ft_flowread_agg_sort(b, false, &rb), n);
	ck_assert_uint_eq(n, 700);
	for (size_t i = 0; i < n; i++) {
		ck_assert_mem_eq(&ra[i].e, &rb[i].e, sizeof(ra[i].e));
		ck_assert_uint_eq(ra[i].windows, rb[i].windows);
	}
	ft_flowread_agg_destroy(a);
	ft_flowread_agg_destroy(b);
}
END_TEST

START_TEST(test_saturate)
{
	struct ft_flowread_msg w = { .start_ms = 0, .end_ms = 1 };
	struct ft_flowread_agg *a = ft_flowread_agg_create(FT_FLOWREAD_GROUP_FLOW);
	struct ft_flowread_entry e =
		mk(FT_FLOWREAD_VIRTUAL, 6, "100.64.0.1", 1, "100.64.0.2", 2, (uint64_t)INT64_MAX);
	const struct ft_flowread_row *r;

	ck_assert_uint_eq(ft_flowread_add_sat(UINT64_MAX - 1, 1), UINT64_MAX);
	ck_assert_uint_eq(ft_flowread_add_sat(UINT64_MAX, 5), UINT64_MAX);
	ck_assert_uint_eq(ft_flowread_add_sat(2, 3), 5);
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(ft_flowread_agg_add(a, &w, &e, 1), 0);
	ck_assert_uint_eq(ft_flowread_agg_sort(a, false, &r), 1);
	ck_assert_uint_eq(r[0].e.tx_bytes, UINT64_MAX);
	ft_flowread_agg_destroy(a);
}
END_TEST

static Suite *flowread_suite(void)
{
	Suite *s = suite_create("flowread");
	TCase *tc = tcase_create("flowread");

	tcase_add_loop_test(tc, test_time, 0, sizeof(times) / sizeof(times[0]));
	tcase_add_test(tc, test_time_format);
	tcase_add_loop_test(tc, test_cidr, 0, sizeof(cidrs) / sizeof(cidrs[0]));
	tcase_add_test(tc, test_proto_kind_group);
	tcase_add_test(tc, test_parse_good);
	tcase_add_loop_test(tc, test_parse_bad, 0, sizeof(bad_lines) / sizeof(bad_lines[0]));
	tcase_add_test(tc, test_parse_len);
	tcase_add_test(tc, test_roundtrip);
	tcase_add_test(tc, test_merge);
	tcase_add_test(tc, test_filter);
	tcase_add_test(tc, test_agg);
	tcase_add_test(tc, test_agg_many);
	tcase_add_test(tc, test_agg_keyed);
	tcase_add_test(tc, test_saturate);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(flowread_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
