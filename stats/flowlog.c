// SPDX-License-Identifier: MIT
/*
 * Flow-log message formatting (see flowlog.h for the shape). Runs on every dump, not per
 * packet: it may allocate. Every string it writes is formatted by hand and escaped, so a
 * line is always valid JSON; tests parse every line back with jansson.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "stats/flowlog.h"

enum bucket { B_VIRTUAL, B_SUBNET, B_EXIT, B_PHYSICAL, B_COUNT };

static const char *const bucket_names[B_COUNT] = {
	"virtualTraffic",
	"subnetTraffic",
	"exitTraffic",
	"physicalTraffic",
};

/* Room for the longest entry: two [v6]:port strings, proto and four 20-digit counters. */
enum { ENTRY_MAX = 320 };

struct writer {
	struct ft_flowlog_buf *out;
	const struct ft_flowlog_meta *meta;
	uint64_t start_ms, end_ms;
	size_t max_line;
	size_t line_start; /* offset of the current line in out */
	size_t committed;  /* out->len after the last whole line */
	int bucket;	   /* the open array, or -1 */
	size_t in_array;   /* entries in the open array */
	size_t in_line;	   /* entries in the current line */
	int lines;
	bool failed;
	uint64_t omitted_conns;			    /* virtual entries left out by the limit */
	struct ft_conn_counts omitted_v, omitted_p; /* their sums, and the overflow */
};

static void buf_reserve(struct writer *w, size_t more)
{
	struct ft_flowlog_buf *b = w->out;
	size_t cap;
	char *p;

	if (w->failed || b->len + more + 1 <= b->cap)
		return;
	cap = b->cap ? b->cap : 4096;
	while (cap < b->len + more + 1)
		cap *= 2;
	p = realloc(b->data, cap);
	if (!p) {
		w->failed = true;
		return;
	}
	b->data = p;
	b->cap = cap;
}

static void buf_append(struct writer *w, const char *s, size_t n)
{
	buf_reserve(w, n);
	if (w->failed)
		return;
	memcpy(w->out->data + w->out->len, s, n);
	w->out->len += n;
	w->out->data[w->out->len] = '\0';
}

static void buf_puts(struct writer *w, const char *s)
{
	buf_append(w, s, strlen(s));
}

static void buf_json_string(struct writer *w, const char *s)
{
	char esc[8];

	buf_append(w, "\"", 1);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)c;
			buf_append(w, esc, 2);
		} else if (c < 0x20) {
			snprintf(esc, sizeof(esc), "\\u%04x", c);
			buf_append(w, esc, 6);
		} else {
			buf_append(w, (const char *)&c, 1);
		}
	}
	buf_append(w, "\"", 1);
}

void ft_flowlog_time(char buf[32], uint64_t ms)
{
	time_t secs = (time_t)(ms / 1000);
	struct tm tm;
	size_t n;

	if (!gmtime_r(&secs, &tm) || (n = strftime(buf, 32, "%Y-%m-%dT%H:%M:%S", &tm)) == 0) {
		snprintf(buf, 32, "%s", "invalid-time");
		return;
	}
	snprintf(buf + n, 32 - n, ".%03uZ", (unsigned)(ms % 1000));
}

/* ,"name":{"conns":N,"txPkts":...} with the zero fields left out; nothing when all are zero. */
static void put_omitted(struct writer *w, const char *name, uint64_t conns,
			const struct ft_conn_counts *c)
{
	const uint64_t v[] = { conns, c->tx_packets, c->tx_bytes, c->rx_packets, c->rx_bytes };
	static const char *const names[] = { "conns", "txPkts", "txBytes", "rxPkts", "rxBytes" };
	const char *sep = "";
	char n[48];

	if (!(conns | c->tx_packets | c->tx_bytes | c->rx_packets | c->rx_bytes))
		return;
	buf_puts(w, ",\"");
	buf_puts(w, name);
	buf_puts(w, "\":{");
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		if (!v[i])
			continue;
		snprintf(n, sizeof(n), "%s\"%s\":%" PRIu64, sep, names[i], v[i]);
		buf_puts(w, n);
		sep = ",";
	}
	buf_puts(w, "}");
}

static void begin_line(struct writer *w)
{
	char t[32];

	w->line_start = w->out->len;
	buf_puts(w, "{\"nodeId\":");
	buf_json_string(w, w->meta->node_id);
	if (w->meta->node_name) {
		buf_puts(w, ",\"nodeName\":");
		buf_json_string(w, w->meta->node_name);
	}
	ft_flowlog_time(t, w->start_ms);
	buf_puts(w, ",\"start\":\"");
	buf_puts(w, t);
	ft_flowlog_time(t, w->end_ms);
	buf_puts(w, "\",\"end\":\"");
	buf_puts(w, t);
	buf_puts(w, "\"");
	if (w->lines == 0) {
		char n[48];

		if (w->meta->lost) {
			snprintf(n, sizeof(n), ",\"lost\":%" PRIu64, w->meta->lost);
			buf_puts(w, n);
		}
		if (w->meta->has_tun_dropped) {
			snprintf(n, sizeof(n), ",\"tunDropped\":%" PRIu64, w->meta->tun_dropped);
			buf_puts(w, n);
		}
		put_omitted(w, "omittedTraffic", w->omitted_conns, &w->omitted_v);
		put_omitted(w, "omittedPhysicalTraffic", 0, &w->omitted_p);
	}
	w->bucket = -1;
	w->in_array = 0;
	w->in_line = 0;
}

static void close_array(struct writer *w)
{
	if (w->bucket >= 0)
		buf_puts(w, "]");
	w->bucket = -1;
}

static void end_line(struct writer *w)
{
	close_array(w);
	buf_puts(w, "}\n");
	if (!w->failed) {
		w->committed = w->out->len;
		w->lines++;
	}
}

static void open_array(struct writer *w, int bucket)
{
	buf_puts(w, ",\"");
	buf_puts(w, bucket_names[bucket]);
	buf_puts(w, "\":[");
	w->bucket = bucket;
	w->in_array = 0;
}

static int format_entry(char *buf, size_t size, const struct ft_conn_entry *e, bool physical)
{
	const struct ft_conn_key *k = &e->key;
	char src[FT_ADDRPORT_STRLEN], dst[FT_ADDRPORT_STRLEN];
	size_t n = 0;
	const char *sep = "";

#define APPEND(...) n += (size_t)snprintf(buf + n, size - n, __VA_ARGS__)
	APPEND("{");
	if (k->proto == FT_IPPROTO_INVALID) {
		APPEND("\"invalid\":true");
		sep = ",";
	} else {
		uint16_t proto = k->proto == FT_IPPROTO_FRAGMENT ? 255 : k->proto;

		if (!physical && proto) {
			APPEND("\"proto\":%u", proto);
			sep = ",";
		}
		ft_addrport_format(&k->src, k->src_port, src, sizeof(src));
		ft_addrport_format(&k->dst, k->dst_port, dst, sizeof(dst));
		/* Addresses are digits, dots, colons and brackets: no escaping needed. */
		if (src[0]) {
			APPEND("%s\"src\":\"%s\"", sep, src);
			sep = ",";
		}
		if (dst[0]) {
			APPEND("%s\"dst\":\"%s\"", sep, dst);
			sep = ",";
		}
	}
	if (e->tx_packets) {
		APPEND("%s\"txPkts\":%" PRIu64, sep, e->tx_packets);
		sep = ",";
	}
	if (e->tx_bytes) {
		APPEND("%s\"txBytes\":%" PRIu64, sep, e->tx_bytes);
		sep = ",";
	}
	if (e->rx_packets) {
		APPEND("%s\"rxPkts\":%" PRIu64, sep, e->rx_packets);
		sep = ",";
	}
	if (e->rx_bytes)
		APPEND("%s\"rxBytes\":%" PRIu64, sep, e->rx_bytes);
	APPEND("}");
#undef APPEND
	return (int)n;
}

static void append_entry(struct writer *w, int bucket, const struct ft_conn_entry *e)
{
	char entry[ENTRY_MAX];
	size_t n = (size_t)format_entry(entry, sizeof(entry), e, bucket == B_PHYSICAL);
	/* What this entry adds: a comma or an array opening, the entry, and the closing "]}\n". */
	size_t need = n + strlen(bucket_names[bucket]) + 8;

	/* Split before an entry that would pass max_line; a line always holds at least one. */
	if (w->in_line > 0 && w->out->len - w->line_start + need > w->max_line) {
		end_line(w);
		begin_line(w);
	}
	if (w->bucket != bucket) {
		close_array(w);
		open_array(w, bucket);
	}
	if (w->in_array)
		buf_puts(w, ",");
	buf_append(w, entry, n);
	w->in_array++;
	w->in_line++;
}

static int compare_addr(const struct ft_addr *a, const struct ft_addr *b)
{
	if (a->family != b->family)
		return a->family < b->family ? -1 : 1;
	return memcmp(a->bytes, b->bytes, sizeof(a->bytes));
}

static int compare_entries(const void *pa, const void *pb)
{
	const struct ft_conn_key *a = &(*(const struct ft_conn_entry *const *)pa)->key;
	const struct ft_conn_key *b = &(*(const struct ft_conn_entry *const *)pb)->key;
	int c;

	if ((c = compare_addr(&a->src, &b->src)) != 0)
		return c;
	if (a->src_port != b->src_port)
		return a->src_port < b->src_port ? -1 : 1;
	if ((c = compare_addr(&a->dst, &b->dst)) != 0)
		return c;
	if (a->dst_port != b->dst_port)
		return a->dst_port < b->dst_port ? -1 : 1;
	if (a->proto != b->proto)
		return a->proto < b->proto ? -1 : 1;
	return 0;
}

uint8_t ft_flowlog_bucket(const struct ft_flowlog_meta *meta, const struct ft_conn_key *k)
{
	enum ft_flowlog_addr_kind s, d;

	if (k->proto == FT_IPPROTO_INVALID)
		return B_EXIT;
	if (!meta->classify)
		return B_VIRTUAL;
	s = meta->classify(meta->classify_arg, &k->src);
	d = meta->classify(meta->classify_arg, &k->dst);
	if (s == FT_FLOWLOG_OVERLAY && d == FT_FLOWLOG_OVERLAY)
		return B_VIRTUAL;
	if (s == FT_FLOWLOG_SUBNET || d == FT_FLOWLOG_SUBNET)
		return B_SUBNET;
	return B_EXIT;
}

static enum bucket bucket_of(const struct ft_flowlog_meta *meta, const struct ft_conn_entry *v,
			     size_t i)
{
	uint8_t b = meta->buckets ? meta->buckets[i] : ft_flowlog_bucket(meta, &v[i].key);

	return b < B_PHYSICAL ? (enum bucket)b : B_EXIT;
}

static uint64_t entry_bytes(const struct ft_conn_entry *e)
{
	uint64_t a = e->tx_bytes, b = e->rx_bytes;

	return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

/* Largest first by bytes, then packets, then the key: the same choice on every run. */
static int compare_size(const void *pa, const void *pb)
{
	const struct ft_conn_entry *a = *(const struct ft_conn_entry *const *)pa;
	const struct ft_conn_entry *b = *(const struct ft_conn_entry *const *)pb;
	uint64_t x = entry_bytes(a), y = entry_bytes(b);

	if (x != y)
		return x > y ? -1 : 1;
	x = a->tx_packets + a->rx_packets;
	y = b->tx_packets + b->rx_packets;
	if (x != y)
		return x > y ? -1 : 1;
	return compare_entries(pa, pb);
}

static void counts_add(struct ft_conn_counts *c, const struct ft_conn_counts *d)
{
	c->tx_packets += d->tx_packets;
	c->tx_bytes += d->tx_bytes;
	c->rx_packets += d->rx_packets;
	c->rx_bytes += d->rx_bytes;
}

/*
 * With a limit, keeps the max_entries largest virtual entries in sorted[0..*n) (each a pointer
 * into v, with its index in idx) and sums the others into w's omitted counts.
 */
static void apply_limit(struct writer *w, const struct ft_conn_entry **sorted, size_t *n)
{
	const struct ft_flowlog_meta *meta = w->meta;

	if (!meta->limited || *n <= meta->max_entries)
		return;
	qsort(sorted, *n, sizeof(*sorted), compare_size);
	for (size_t i = meta->max_entries; i < *n; i++) {
		struct ft_conn_counts c = { sorted[i]->tx_packets, sorted[i]->tx_bytes,
					    sorted[i]->rx_packets, sorted[i]->rx_bytes };

		counts_add(&w->omitted_v, &c);
		w->omitted_conns++;
	}
	*n = meta->max_entries;
}

int ft_flowlog_format(struct ft_flowlog_buf *out, const struct ft_flowlog_meta *meta,
		      uint64_t start_ms, uint64_t end_ms, const struct ft_conn_entry *v, size_t nv,
		      const struct ft_conn_entry *p, size_t np)
{
	struct writer w = {
		.out = out,
		.meta = meta,
		.start_ms = start_ms,
		.end_ms = end_ms,
		.max_line = meta->max_line ? meta->max_line : FT_FLOWLOG_MAX_LINE,
		.committed = out->len,
		.bucket = -1,
	};
	const struct ft_conn_entry **sorted, **kept;
	size_t counts[B_COUNT] = { 0 }, offsets[B_COUNT], total = nv + np, nkept = nv;
	uint8_t *bucket;

	/* One allocation: the entries as kept, then placed by bucket, and each one's bucket. */
	sorted = malloc((total ? total : 1) * (2 * sizeof(*sorted) + 1));
	if (!sorted)
		return -ENOMEM;
	kept = sorted + total;
	bucket = (uint8_t *)(kept + total);
	w.omitted_v = meta->overflow_v;
	w.omitted_p = meta->overflow_p;
	for (size_t i = 0; i < nv; i++) {
		bucket[i] = (uint8_t)bucket_of(meta, v, i);
		kept[i] = &v[i];
	}
	apply_limit(&w, kept, &nkept);
	/* Two passes: count each bucket, then place each entry at its bucket's offset. */
	for (size_t i = 0; i < nkept; i++)
		counts[bucket[kept[i] - v]]++;
	counts[B_PHYSICAL] = np;
	offsets[0] = 0;
	for (int b = 1; b < B_COUNT; b++)
		offsets[b] = offsets[b - 1] + counts[b - 1];
	for (size_t i = 0; i < nkept; i++)
		sorted[offsets[bucket[kept[i] - v]]++] = kept[i];
	for (size_t i = 0; i < np; i++)
		sorted[offsets[B_PHYSICAL]++] = &p[i];

	begin_line(&w);
	for (int b = 0, at = 0; b < B_COUNT; at += (int)counts[b], b++) {
		qsort(sorted + at, counts[b], sizeof(*sorted), compare_entries);
		for (size_t i = 0; i < counts[b]; i++)
			append_entry(&w, b, sorted[at + i]);
	}
	end_line(&w);
	free(sorted);
	if (w.failed) {
		/* Keep only whole lines. */
		out->len = w.committed;
		if (out->data)
			out->data[out->len] = '\0';
		return -ENOMEM;
	}
	return w.lines;
}
