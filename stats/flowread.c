// SPDX-License-Identifier: MIT
/*
 * Flow-log reader: one JSON line into a struct ft_flowread_msg, filters, and aggregation by a
 * hash table of keys. Parsing is in two steps, as the OpenBSD daemons do it: each field is
 * checked for type and range into locals, then the message is built.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <jansson.h>

#include "base/text.h"
#include "stats/flowread.h"

_Static_assert(sizeof(struct ft_flowread_key) == 42, "flowread key has padding");

static const char *const kind_names[FT_FLOWREAD_NKINDS] = { "virtual", "subnet", "exit",
							    "physical" };
/* The JSON array of each kind, in the order the writer emits them. */
static const char *const kind_fields[FT_FLOWREAD_NKINDS] = { "virtualTraffic", "subnetTraffic",
							     "exitTraffic", "physicalTraffic" };

uint64_t ft_flowread_add_sat(uint64_t a, uint64_t b)
{
	return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

static void set_err(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

const char *ft_flowread_kind_str(unsigned kind)
{
	return kind < FT_FLOWREAD_NKINDS ? kind_names[kind] : "?";
}

int ft_flowread_kind_parse(const char *s)
{
	for (int i = 0; i < FT_FLOWREAD_NKINDS; i++)
		if (strcmp(s, kind_names[i]) == 0)
			return i;
	return -EINVAL;
}

static const struct {
	const char *name;
	uint16_t proto;
} proto_names[] = {
	{ "icmp", 1 },	     { "tcp", 6 },	  { "udp", 17 },
	{ "ipv6-icmp", 58 }, { "fragment", 255 }, { "invalid", FT_IPPROTO_INVALID },
};

const char *ft_flowread_proto_str(uint16_t proto, char *buf)
{
	for (size_t i = 0; i < sizeof(proto_names) / sizeof(proto_names[0]); i++)
		if (proto_names[i].proto == proto)
			return strcpy(buf, proto_names[i].name);
	snprintf(buf, FT_FLOWREAD_PROTO_STRLEN, "%u", proto);
	return buf;
}

int ft_flowread_proto_parse(const char *s)
{
	uint64_t v;

	for (size_t i = 0; i < sizeof(proto_names) / sizeof(proto_names[0]); i++)
		if (strcasecmp(s, proto_names[i].name) == 0)
			return proto_names[i].proto;
	if (ft_parse_uint_n(s, strlen(s), 255, &v) < 0)
		return -EINVAL;
	return (int)v;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	int64_t era;
	unsigned yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (unsigned)(y - era * 400);
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static bool leap(unsigned y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* Reads exactly n digits at *p; false when they are not there. */
static bool digits(const char **p, unsigned n, unsigned *out)
{
	unsigned v = 0;

	for (unsigned i = 0; i < n; i++) {
		if ((*p)[i] < '0' || (*p)[i] > '9')
			return false;
		v = v * 10 + (unsigned)((*p)[i] - '0');
	}
	*p += n;
	*out = v;
	return true;
}

static int parse_rfc3339(const char *s, uint64_t *out_ms)
{
	static const unsigned mdays[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	unsigned y, mo, d, h, mi, sec, ms = 0, oh = 0, om = 0;
	const char *p = s;
	int64_t t, off = 0;

	if (!digits(&p, 4, &y) || *p++ != '-' || !digits(&p, 2, &mo) || *p++ != '-' ||
	    !digits(&p, 2, &d))
		return -EINVAL;
	if (*p != 'T' && *p != 't' && *p != ' ')
		return -EINVAL;
	p++;
	if (!digits(&p, 2, &h) || *p++ != ':' || !digits(&p, 2, &mi) || *p++ != ':' ||
	    !digits(&p, 2, &sec))
		return -EINVAL;
	if (*p == '.') {
		unsigned scale = 100, nd = 0;

		for (p++; *p >= '0' && *p <= '9'; p++, nd++) {
			ms += (unsigned)(*p - '0') * scale;
			scale /= 10;
		}
		if (nd == 0)
			return -EINVAL;
	}
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		int sign = *p++ == '-' ? -1 : 1;

		if (!digits(&p, 2, &oh) || *p++ != ':' || !digits(&p, 2, &om) || oh > 23 || om > 59)
			return -EINVAL;
		off = sign * (int64_t)(oh * 3600 + om * 60);
	} else {
		return -EINVAL;
	}
	if (*p != '\0')
		return -EINVAL;
	/* Second 60 is a leap second: RFC 3339 allows it; it is counted as the next one. */
	if (y < 1970 || mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || sec > 60)
		return -EINVAL;
	if (d > mdays[mo - 1] + (mo == 2 && leap(y)))
		return -EINVAL;
	t = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - off;
	if (t < 0)
		return -EINVAL;
	*out_ms = (uint64_t)t * 1000 + ms;
	return 0;
}

int ft_flowread_parse_duration(const char *s, uint64_t *out_ms)
{
	/* Bounded so that sums and products below cannot wrap: 1000 years. */
	const uint64_t limit = 1000ULL * 366 * 86400 * 1000;
	uint64_t total = 0;
	const char *p = s;

	if (*s == '\0')
		return -EINVAL;
	while (*p) {
		const char *num = p;
		uint64_t v, mult;

		while (*p >= '0' && *p <= '9')
			p++;
		if (p == num || ft_parse_uint_n(num, (size_t)(p - num), limit, &v) < 0)
			return -EINVAL;
		if (strncmp(p, "ms", 2) == 0) {
			mult = 1;
			p += 2;
		} else if (*p == 's') {
			mult = 1000;
			p++;
		} else if (*p == 'm') {
			mult = 60000;
			p++;
		} else if (*p == 'h') {
			mult = 3600000;
			p++;
		} else if (*p == 'd') {
			mult = 86400000;
			p++;
		} else if (*p == '\0' && num == s) {
			mult = 1000; /* a plain number is seconds */
		} else {
			return -EINVAL;
		}
		if (v > limit / mult || total + v * mult > limit)
			return -EINVAL;
		total += v * mult;
	}
	*out_ms = total;
	return 0;
}

int ft_flowread_parse_time(const char *s, uint64_t now_ms, uint64_t *out_ms)
{
	uint64_t ago;

	if (parse_rfc3339(s, out_ms) == 0)
		return 0;
	if (ft_flowread_parse_duration(s, &ago) < 0)
		return -EINVAL;
	*out_ms = ago > now_ms ? 0 : now_ms - ago;
	return 0;
}

void ft_flowread_format_time(char buf[32], uint64_t ms)
{
	uint64_t secs = ms / 1000, days = secs / 86400, rem = secs % 86400;
	/* civil_from_days, the inverse of days_from_civil, for days >= 0. */
	uint64_t z = days + 719468, era = z / 146097, doe = z - era * 146097;
	uint64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	uint64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100), mp = (5 * doy + 2) / 153;
	uint64_t d = doy - (153 * mp + 2) / 5 + 1, m = mp < 10 ? mp + 3 : mp - 9;
	uint64_t y = yoe + era * 400 + (m <= 2);
	char tmp[64];

	if (y > 9999) {
		snprintf(buf, 32, "invalid-time");
		return;
	}
	/* Through a larger buffer: the compiler cannot see that every field fits its width. */
	snprintf(tmp, sizeof(tmp), "%04u-%02u-%02uT%02u:%02u:%02u.%03uZ", (unsigned)y, (unsigned)m,
		 (unsigned)d, (unsigned)(rem / 3600), (unsigned)(rem / 60 % 60),
		 (unsigned)(rem % 60), (unsigned)(ms % 1000));
	snprintf(buf, 32, "%.31s", tmp);
}

int ft_flowread_parse_cidr(const char *s, struct ft_flowread_cidr *c)
{
	char buf[FT_ADDR_STRLEN + 2];
	const char *slash = strchr(s, '/');
	size_t alen = slash ? (size_t)(slash - s) : strlen(s);
	uint64_t bits;
	unsigned max;

	/* "[fd00::1]" as it appears in the logs is accepted too. */
	if (alen >= 2 && s[0] == '[' && s[alen - 1] == ']') {
		s++;
		alen -= 2;
	}
	if (alen == 0 || alen >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, s, alen);
	buf[alen] = '\0';
	memset(c, 0, sizeof(*c));
	if (ft_addr_parse(&c->addr, buf) < 0)
		return -EINVAL;
	max = c->addr.family == AF_INET ? 32 : 128;
	bits = max;
	if (slash && ft_parse_uint_n(slash + 1, strlen(slash + 1), max, &bits) < 0)
		return -EINVAL;
	c->bits = (uint8_t)bits;
	for (unsigned i = 0; i < 16; i++) {
		unsigned keep = bits >= (i + 1) * 8 ? 8 : bits > i * 8 ? (unsigned)bits - i * 8 : 0;

		c->addr.bytes[i] &= (uint8_t)(0xff00u >> keep);
	}
	return 0;
}

bool ft_flowread_cidr_match(const struct ft_flowread_cidr *c, const struct ft_addr *a)
{
	unsigned whole = c->bits / 8, rest = c->bits % 8;

	if (a->family != c->addr.family)
		return false;
	if (memcmp(a->bytes, c->addr.bytes, whole) != 0)
		return false;
	if (rest == 0)
		return true;
	return (a->bytes[whole] & (uint8_t)(0xff00u >> rest)) == c->addr.bytes[whole];
}

/* "1.2.3.4:80" or "[v6]:80" into addr and port; false when it is not that. */
static bool parse_endpoint(const char *s, struct ft_addr *a, uint16_t *port)
{
	char buf[FT_ADDR_STRLEN];
	const char *colon = strrchr(s, ':'), *start = s, *end;
	uint64_t v;
	size_t n;

	if (!colon || ft_parse_uint_n(colon + 1, strlen(colon + 1), 65535, &v) < 0)
		return false;
	end = colon;
	if (s[0] == '[') {
		if (end - s < 2 || end[-1] != ']')
			return false;
		start = s + 1;
		end--;
	}
	n = (size_t)(end - start);
	if (n == 0 || n >= sizeof(buf))
		return false;
	memcpy(buf, start, n);
	buf[n] = '\0';
	if (ft_addr_parse(a, buf) < 0)
		return false;
	/* An IPv6 address must be bracketed and an IPv4 one must not, as the writer does. */
	if ((a->family == AF_INET6) != (s[0] == '['))
		return false;
	*port = (uint16_t)v;
	return true;
}

/* An optional non-negative integer field; false on a wrong type or a negative value. */
static bool get_count(json_t *o, const char *name, uint64_t *out)
{
	json_t *v = json_object_get(o, name);

	*out = 0;
	if (!v)
		return true;
	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return false;
	*out = (uint64_t)json_integer_value(v);
	return true;
}

static int parse_entry(json_t *o, unsigned kind, struct ft_flowread_entry *e, char *err,
		       size_t errlen)
{
	static const char *const counts[] = { "txPkts", "txBytes", "rxPkts", "rxBytes" };
	uint64_t *dst[] = { &e->tx_pkts, &e->tx_bytes, &e->rx_pkts, &e->rx_bytes };
	json_t *inv, *proto, *src, *dstv;
	uint64_t pv = 0;

	memset(e, 0, sizeof(*e));
	e->key.kind = (uint8_t)kind;
	if (!json_is_object(o)) {
		set_err(err, errlen, "%s: an entry is not an object", kind_fields[kind]);
		return -EINVAL;
	}
	for (size_t i = 0; i < 4; i++)
		if (!get_count(o, counts[i], dst[i])) {
			set_err(err, errlen, "%s: \"%s\" is not a non-negative integer",
				kind_fields[kind], counts[i]);
			return -EINVAL;
		}
	inv = json_object_get(o, "invalid");
	if (inv && !json_is_boolean(inv)) {
		set_err(err, errlen, "%s: \"invalid\" is not a boolean", kind_fields[kind]);
		return -EINVAL;
	}
	if (inv && json_is_true(inv)) {
		e->key.proto = FT_IPPROTO_INVALID;
		return 0;
	}
	proto = json_object_get(o, "proto");
	if (proto && (!json_is_integer(proto) || json_integer_value(proto) < 0 ||
		      json_integer_value(proto) > 255)) {
		set_err(err, errlen, "%s: \"proto\" is not an integer 0..255", kind_fields[kind]);
		return -EINVAL;
	}
	if (proto)
		pv = (uint64_t)json_integer_value(proto);
	e->key.proto = (uint16_t)pv;
	src = json_object_get(o, "src");
	dstv = json_object_get(o, "dst");
	if (!json_is_string(src) || !json_is_string(dstv)) {
		set_err(err, errlen, "%s: \"src\" or \"dst\" missing or not a string",
			kind_fields[kind]);
		return -EINVAL;
	}
	if (!parse_endpoint(json_string_value(src), &e->key.src, &e->key.src_port) ||
	    !parse_endpoint(json_string_value(dstv), &e->key.dst, &e->key.dst_port)) {
		set_err(err, errlen, "%s: bad endpoint \"%.60s\" -> \"%.60s\"", kind_fields[kind],
			json_string_value(src), json_string_value(dstv));
		return -EINVAL;
	}
	return 0;
}

void ft_flowread_msg_free(struct ft_flowread_msg *m)
{
	free(m->node_id);
	free(m->node_name);
	free(m->entries);
	memset(m, 0, sizeof(*m));
}

static int reserve(struct ft_flowread_msg *m, size_t more)
{
	size_t cap = m->cap ? m->cap : 16;
	struct ft_flowread_entry *p;

	if (more <= m->cap - m->n)
		return 0;
	while (cap - m->n < more) {
		if (cap > SIZE_MAX / 2 / sizeof(*p))
			return -ENOMEM;
		cap *= 2;
	}
	p = realloc(m->entries, cap * sizeof(*p));
	if (!p)
		return -ENOMEM;
	m->entries = p;
	m->cap = cap;
	return 0;
}

static int get_time(json_t *root, const char *name, uint64_t *out, char *err, size_t errlen)
{
	json_t *v = json_object_get(root, name);

	if (!json_is_string(v)) {
		set_err(err, errlen, "\"%s\" missing or not a string", name);
		return -EINVAL;
	}
	if (parse_rfc3339(json_string_value(v), out) < 0) {
		set_err(err, errlen, "\"%s\" is not an RFC 3339 time: \"%.40s\"", name,
			json_string_value(v));
		return -EINVAL;
	}
	return 0;
}

/* An optional {"conns":N,"txPkts":N,...} object; every member optional, no other allowed. */
static int get_omitted(json_t *root, const char *name, struct ft_flowread_omitted *o, char *err,
		       size_t errlen)
{
	static const char *const names[] = { "conns", "txPkts", "txBytes", "rxPkts", "rxBytes" };
	uint64_t *dst[] = { &o->conns, &o->tx_pkts, &o->tx_bytes, &o->rx_pkts, &o->rx_bytes };
	json_t *v = json_object_get(root, name);
	size_t known = 0;

	memset(o, 0, sizeof(*o));
	if (!v)
		return 0;
	if (!json_is_object(v)) {
		set_err(err, errlen, "\"%s\" is not an object", name);
		return -EINVAL;
	}
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (!get_count(v, names[i], dst[i])) {
			set_err(err, errlen, "%s: \"%s\" is not a non-negative integer", name,
				names[i]);
			return -EINVAL;
		}
		known += json_object_get(v, names[i]) != NULL;
	}
	if (known != json_object_size(v)) {
		set_err(err, errlen, "\"%s\" has an unknown member", name);
		return -EINVAL;
	}
	return 0;
}

static void omitted_add(struct ft_flowread_omitted *a, const struct ft_flowread_omitted *b)
{
	a->conns = ft_flowread_add_sat(a->conns, b->conns);
	a->tx_pkts = ft_flowread_add_sat(a->tx_pkts, b->tx_pkts);
	a->tx_bytes = ft_flowread_add_sat(a->tx_bytes, b->tx_bytes);
	a->rx_pkts = ft_flowread_add_sat(a->rx_pkts, b->rx_pkts);
	a->rx_bytes = ft_flowread_add_sat(a->rx_bytes, b->rx_bytes);
}

static int parse_root(struct ft_flowread_msg *m, json_t *root, char *err, size_t errlen)
{
	json_t *id, *name, *arr;
	int ret;

	if (!json_is_object(root)) {
		set_err(err, errlen, "not a JSON object");
		return -EINVAL;
	}
	id = json_object_get(root, "nodeId");
	name = json_object_get(root, "nodeName");
	if (!json_is_string(id)) {
		set_err(err, errlen, "\"nodeId\" missing or not a string");
		return -EINVAL;
	}
	if (name && !json_is_string(name)) {
		set_err(err, errlen, "\"nodeName\" is not a string");
		return -EINVAL;
	}
	if ((ret = get_time(root, "start", &m->start_ms, err, errlen)) < 0 ||
	    (ret = get_time(root, "end", &m->end_ms, err, errlen)) < 0)
		return ret;
	if (m->end_ms < m->start_ms) {
		set_err(err, errlen, "\"end\" is before \"start\"");
		return -EINVAL;
	}
	if (!get_count(root, "lost", &m->lost)) {
		set_err(err, errlen, "\"lost\" is not a non-negative integer");
		return -EINVAL;
	}
	m->has_tun_dropped = json_object_get(root, "tunDropped") != NULL;
	if (!get_count(root, "tunDropped", &m->tun_dropped)) {
		set_err(err, errlen, "\"tunDropped\" is not a non-negative integer");
		return -EINVAL;
	}
	if ((ret = get_omitted(root, "omittedTraffic", &m->omitted, err, errlen)) < 0 ||
	    (ret = get_omitted(root, "omittedPhysicalTraffic", &m->omitted_phys, err, errlen)) < 0)
		return ret;
	for (unsigned k = 0; k < FT_FLOWREAD_NKINDS; k++) {
		arr = json_object_get(root, kind_fields[k]);
		if (!arr)
			continue;
		if (!json_is_array(arr)) {
			set_err(err, errlen, "\"%s\" is not an array", kind_fields[k]);
			return -EINVAL;
		}
		if (reserve(m, json_array_size(arr)) < 0)
			return -ENOMEM;
		for (size_t i = 0; i < json_array_size(arr); i++) {
			ret = parse_entry(json_array_get(arr, i), k, &m->entries[m->n], err,
					  errlen);
			if (ret < 0)
				return ret;
			m->n++;
		}
	}
	m->node_id = strdup(json_string_value(id));
	if (name)
		m->node_name = strdup(json_string_value(name));
	if (!m->node_id || (name && !m->node_name))
		return -ENOMEM;
	return 0;
}

int ft_flowread_parse(struct ft_flowread_msg *m, const char *line, size_t len, char *err,
		      size_t errlen)
{
	json_error_t jerr;
	json_t *root;
	int ret;

	ft_flowread_msg_free(m);
	set_err(err, errlen, "?");
	if (len > FT_FLOWREAD_MAX_LINE) {
		set_err(err, errlen, "line longer than %d bytes", FT_FLOWREAD_MAX_LINE);
		return -EINVAL;
	}
	/* No duplicate keys: a second "txBytes" would otherwise silently win. */
	root = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root) {
		set_err(err, errlen, "bad JSON at column %d: %s", jerr.column, jerr.text);
		return -EINVAL;
	}
	ret = parse_root(m, root, err, errlen);
	json_decref(root);
	if (ret < 0)
		ft_flowread_msg_free(m);
	return ret;
}

bool ft_flowread_same_window(const struct ft_flowread_msg *a, const struct ft_flowread_msg *b)
{
	return a->node_id && b->node_id && a->start_ms == b->start_ms && a->end_ms == b->end_ms &&
	       strcmp(a->node_id, b->node_id) == 0;
}

int ft_flowread_merge(struct ft_flowread_msg *dst, const struct ft_flowread_msg *src)
{
	if (reserve(dst, src->n) < 0)
		return -ENOMEM;
	if (src->n)
		memcpy(dst->entries + dst->n, src->entries, src->n * sizeof(*src->entries));
	dst->n += src->n;
	if (src->lost > dst->lost)
		dst->lost = src->lost;
	dst->has_tun_dropped |= src->has_tun_dropped;
	dst->tun_dropped = ft_flowread_add_sat(dst->tun_dropped, src->tun_dropped);
	omitted_add(&dst->omitted, &src->omitted);
	omitted_add(&dst->omitted_phys, &src->omitted_phys);
	return 0;
}

void ft_flowread_move(struct ft_flowread_msg *dst, struct ft_flowread_msg *src)
{
	ft_flowread_msg_free(dst);
	*dst = *src;
	memset(src, 0, sizeof(*src));
}

void ft_flowread_filter_init(struct ft_flowread_filter *f)
{
	memset(f, 0, sizeof(*f));
	f->port = -1;
	f->proto = -1;
	f->until_ms = UINT64_MAX;
}

bool ft_flowread_window_match(const struct ft_flowread_filter *f, const struct ft_flowread_msg *m)
{
	return m->end_ms >= f->since_ms && m->start_ms <= f->until_ms;
}

bool ft_flowread_entry_match(const struct ft_flowread_filter *f, const struct ft_flowread_entry *e)
{
	const struct ft_flowread_key *k = &e->key;

	if (f->kinds && !(f->kinds & (1u << k->kind)))
		return false;
	if (f->proto >= 0 && k->proto != (unsigned)f->proto)
		return false;
	if (k->proto == FT_IPPROTO_INVALID &&
	    (f->has_src || f->has_dst || f->has_host || f->port >= 0))
		return false;
	if (f->port >= 0 && k->src_port != f->port && k->dst_port != f->port)
		return false;
	if (f->has_src && !ft_flowread_cidr_match(&f->src, &k->src))
		return false;
	if (f->has_dst && !ft_flowread_cidr_match(&f->dst, &k->dst))
		return false;
	if (f->has_host && !ft_flowread_cidr_match(&f->host, &k->src) &&
	    !ft_flowread_cidr_match(&f->host, &k->dst))
		return false;
	return true;
}
