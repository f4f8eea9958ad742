// SPDX-License-Identifier: MIT
/*
 * flowtun flows' output: which entries of a window pass the filters, and how windows, groups and
 * totals are shown (a padded table, JSON Lines or CSV). It is apart from cmd_flows.c, which reads
 * the inputs and parses the options, because it is presentation only: it writes to standard
 * output and reads no file.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "stats/flowread.h"
#include "tools/cmd_flows_internal.h"
#include "tools/human.h"

/* Table cells: the longest is "[v6]:port" (53 characters). */
enum { NCOL = 11, CELL = 64 };

struct table {
	char (*cells)[NCOL][CELL];
	size_t n, cap, ncols;
	const bool *right;
};

static int table_row(struct table *t)
{
	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 32;
		char(*c)[NCOL][CELL] = realloc(t->cells, cap * sizeof(*c));

		if (!c)
			return -ENOMEM;
		t->cells = c;
		t->cap = cap;
	}
	memset(t->cells[t->n], 0, sizeof(t->cells[t->n]));
	return (int)t->n++;
}

/* Display width: the arrow is three bytes of UTF-8 and one column. */
static size_t width(const char *s)
{
	size_t w = 0;

	for (; *s; s++)
		w += ((unsigned char)*s & 0xc0) != 0x80;
	return w;
}

static void table_print(const struct table *t)
{
	size_t w[NCOL] = { 0 };

	for (size_t r = 0; r < t->n; r++)
		for (size_t c = 0; c < t->ncols; c++)
			if (width(t->cells[r][c]) > w[c])
				w[c] = width(t->cells[r][c]);
	for (size_t r = 0; r < t->n; r++) {
		for (size_t c = 0; c < t->ncols; c++) {
			const char *s = t->cells[r][c];
			size_t pad = w[c] - width(s);
			bool last = c + 1 == t->ncols;

			if (c)
				fputs("  ", stdout);
			if (t->right[c])
				printf("%*s%s", (int)pad, "", s);
			else
				printf("%s%*s", s, last ? 0 : (int)pad, "");
		}
		putchar('\n');
	}
}

static void human_bytes(char *buf, uint64_t v)
{
	ft_human_bytes(buf, CELL, v, 1);
}

static void human_rate(char *buf, uint64_t bytes, uint64_t ms)
{
	static const char *const units[] = { "bit/s", "kbit/s", "Mbit/s", "Gbit/s", "Tbit/s" };
	double d;
	size_t u = 0;

	if (ms == 0) {
		snprintf(buf, CELL, "-");
		return;
	}
	d = (double)bytes * 8.0 * 1000.0 / (double)ms;
	while (d >= 1000 && u + 1 < sizeof(units) / sizeof(units[0])) {
		d /= 1000;
		u++;
	}
	if (u == 0)
		snprintf(buf, CELL, "%.0f %s", d, units[u]);
	else
		snprintf(buf, CELL, "%.1f %s", d, units[u]);
}

/* An address, with its port unless the port is summed over; "*" when it is; "-" when none. */
static void format_end(char *buf, const struct ft_addr *a, uint16_t port, bool wild_addr,
		       bool wild_port)
{
	if (wild_addr)
		snprintf(buf, CELL, "*");
	else if (a->family == 0)
		snprintf(buf, CELL, "-");
	else if (wild_port)
		ft_addr_format(a, buf, CELL);
	else
		ft_addrport_format(a, port, buf, CELL);
}

static void format_proto(char *buf, const struct ft_flowread_key *k)
{
	if (k->wild & FT_FLOWREAD_W_PROTO)
		snprintf(buf, CELL, "*");
	else if (k->kind == FT_FLOWREAD_PHYSICAL && k->proto == 0)
		snprintf(buf, CELL, "-"); /* encrypted datagrams: the log has no protocol */
	else
		ft_flowread_proto_str(k->proto, buf);
}

static const bool right_cols[NCOL] = { false, false, false, false, false, true,
				       true,  true,  true,  true,  true };

/* The columns shared by windows and groups: kind, proto, src, arrow, dst. */
static void key_cells(char row[NCOL][CELL], const struct ft_flowread_key *k)
{
	snprintf(row[0], CELL, "%s", ft_flowread_kind_str(k->kind));
	format_proto(row[1], k);
	format_end(row[2], &k->src, k->src_port, k->wild & FT_FLOWREAD_W_SRC,
		   k->wild & FT_FLOWREAD_W_SPORT);
	snprintf(row[3], CELL, "\xe2\x86\x92"); /* U+2192, the arrow */
	format_end(row[4], &k->dst, k->dst_port, k->wild & FT_FLOWREAD_W_DST,
		   k->wild & FT_FLOWREAD_W_DPORT);
}

static void count_cells(char row[NCOL][CELL], size_t at, const struct ft_flowread_entry *e,
			uint64_t ms)
{
	snprintf(row[at], CELL, "%" PRIu64, e->tx_pkts);
	human_bytes(row[at + 1], e->tx_bytes);
	snprintf(row[at + 2], CELL, "%" PRIu64, e->rx_pkts);
	human_bytes(row[at + 3], e->rx_bytes);
	human_rate(row[at + 4], ft_flowread_add_sat(e->tx_bytes, e->rx_bytes), ms);
}

static void add_totals(struct flows *fl, const struct ft_flowread_entry *e)
{
	fl->rows++;
	if (e->key.kind == FT_FLOWREAD_PHYSICAL) {
		fl->ptx_pkts = ft_flowread_add_sat(fl->ptx_pkts, e->tx_pkts);
		fl->ptx_bytes = ft_flowread_add_sat(fl->ptx_bytes, e->tx_bytes);
		fl->prx_pkts = ft_flowread_add_sat(fl->prx_pkts, e->rx_pkts);
		fl->prx_bytes = ft_flowread_add_sat(fl->prx_bytes, e->rx_bytes);
		return;
	}
	fl->tx_pkts = ft_flowread_add_sat(fl->tx_pkts, e->tx_pkts);
	fl->tx_bytes = ft_flowread_add_sat(fl->tx_bytes, e->tx_bytes);
	fl->rx_pkts = ft_flowread_add_sat(fl->rx_pkts, e->rx_pkts);
	fl->rx_bytes = ft_flowread_add_sat(fl->rx_bytes, e->rx_bytes);
}

static void csv_field(const char *s, bool last)
{
	if (strpbrk(s, ",\"\r\n")) {
		putchar('"');
		for (; *s; s++) {
			if (*s == '"')
				putchar('"');
			putchar(*s);
		}
		putchar('"');
	} else {
		fputs(s, stdout);
	}
	putchar(last ? '\n' : ',');
}

/* JSON for one entry or group; m is NULL for a group, r NULL for an entry. */
static int print_json(const struct ft_flowread_msg *m, const struct ft_flowread_row *r,
		      const struct ft_flowread_entry *e, const char *group)
{
	const struct ft_flowread_key *k = &e->key;
	char t[32], buf[CELL];
	json_t *o = json_object();
	uint64_t a = m ? m->start_ms : r->first_ms, b = m ? m->end_ms : r->last_ms;
	char *s;

#define SET(name, v) json_object_set_new(o, name, v)
	if (!o)
		return -ENOMEM;
	if (group)
		SET("group", json_string(group));
	if (m) {
		SET("nodeId", json_string(m->node_id));
		if (m->node_name)
			SET("nodeName", json_string(m->node_name));
	}
	ft_flowread_format_time(t, a);
	SET(m ? "start" : "first", json_string(t));
	ft_flowread_format_time(t, b);
	SET(m ? "end" : "last", json_string(t));
	if (r)
		SET("windows", json_integer((json_int_t)r->windows));
	SET("kind", json_string(ft_flowread_kind_str(k->kind)));
	if (k->proto == FT_IPPROTO_INVALID) {
		SET("invalid", json_true());
	} else {
		if (!(k->wild & FT_FLOWREAD_W_PROTO) &&
		    !(k->kind == FT_FLOWREAD_PHYSICAL && k->proto == 0)) {
			SET("proto", json_integer(k->proto));
			SET("protoName", json_string(ft_flowread_proto_str(k->proto, buf)));
		}
		format_end(buf, &k->src, k->src_port, false, k->wild & FT_FLOWREAD_W_SPORT);
		if (!(k->wild & FT_FLOWREAD_W_SRC))
			SET("src", json_string(buf));
		format_end(buf, &k->dst, k->dst_port, false, k->wild & FT_FLOWREAD_W_DPORT);
		if (!(k->wild & FT_FLOWREAD_W_DST))
			SET("dst", json_string(buf));
	}
	/* Counters above 2^63 cannot come from the parser; the casts keep what it read. */
	SET("txPkts", json_integer((json_int_t)e->tx_pkts));
	SET("txBytes", json_integer((json_int_t)e->tx_bytes));
	SET("rxPkts", json_integer((json_int_t)e->rx_pkts));
	SET("rxBytes", json_integer((json_int_t)e->rx_bytes));
	SET("bitsPerSecond", json_integer(b > a ? (json_int_t)((double)ft_flowread_add_sat(
								       e->tx_bytes, e->rx_bytes) *
							       8000.0 / (double)(b - a))
						: 0));
#undef SET
	s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(o);
	if (!s)
		return -ENOMEM;
	puts(s);
	free(s);
	return 0;
}

static void print_csv(const struct ft_flowread_msg *m, const struct ft_flowread_row *r,
		      const struct ft_flowread_entry *e)
{
	const struct ft_flowread_key *k = &e->key;
	char t[32], buf[CELL];
	uint64_t v[4] = { e->tx_pkts, e->tx_bytes, e->rx_pkts, e->rx_bytes };

	if (m) {
		ft_flowread_format_time(t, m->start_ms);
		csv_field(t, false);
		ft_flowread_format_time(t, m->end_ms);
		csv_field(t, false);
		csv_field(m->node_id, false);
		csv_field(m->node_name ? m->node_name : "", false);
	} else {
		ft_flowread_format_time(t, r->first_ms);
		csv_field(t, false);
		ft_flowread_format_time(t, r->last_ms);
		csv_field(t, false);
		printf("%" PRIu64 ",", r->windows);
	}
	csv_field(ft_flowread_kind_str(k->kind), false);
	format_proto(buf, k);
	csv_field(buf, false);
	format_end(buf, &k->src, k->src_port, k->wild & FT_FLOWREAD_W_SRC,
		   k->wild & FT_FLOWREAD_W_SPORT);
	csv_field(buf, false);
	format_end(buf, &k->dst, k->dst_port, k->wild & FT_FLOWREAD_W_DST,
		   k->wild & FT_FLOWREAD_W_DPORT);
	csv_field(buf, false);
	printf("%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 "\n", v[0], v[1], v[2], v[3]);
}

void ft_flows_csv_header(struct flows *fl)
{
	if (fl->csv_header)
		return;
	fl->csv_header = true;
	if (fl->aggregate)
		puts("first,last,windows,kind,proto,src,dst,tx_pkts,tx_bytes,rx_pkts,rx_bytes");
	else
		puts("start,end,node_id,node_name,kind,proto,src,dst,tx_pkts,tx_bytes,rx_pkts,"
		     "rx_bytes");
}

static const char *const table_head[NCOL] = { "KIND",	  "PROTO",   "SRC",	 "",
					      "DST",	  "TX PKTS", "TX BYTES", "RX PKTS",
					      "RX BYTES", "RATE",    "" };

static void print_window_table(struct flows *fl, const struct ft_flowread_msg *m, size_t n)
{
	struct table t = { .ncols = 10, .right = right_cols };
	char a[32], b[32];
	int r;

	ft_flowread_format_time(a, m->start_ms);
	ft_flowread_format_time(b, m->end_ms);
	/* The end's date is left out when it is the start's, as it nearly always is. */
	printf("%s%s \xe2\x86\x92 %s  (%" PRIu64 ".%03" PRIu64 "s)  node %s",
	       fl->shown_windows ? "\n" : "", a, strncmp(a, b, 11) == 0 ? b + 11 : b,
	       (m->end_ms - m->start_ms) / 1000, (m->end_ms - m->start_ms) % 1000,
	       m->node_name ? m->node_name : m->node_id);
	if (m->lost)
		printf("  (%" PRIu64 " earlier messages lost)", m->lost);
	if (m->omitted.conns || m->omitted.tx_pkts || m->omitted.rx_pkts)
		printf("  (omitted: %" PRIu64 " connections, %" PRIu64 " pkts)", m->omitted.conns,
		       ft_flowread_add_sat(m->omitted.tx_pkts, m->omitted.rx_pkts));
	if (m->tun_dropped)
		printf("  (%" PRIu64 " dropped at the TUN before flowtun)", m->tun_dropped);
	putchar('\n');
	if ((r = table_row(&t)) < 0)
		goto oom;
	for (size_t c = 0; c < t.ncols; c++)
		snprintf(t.cells[r][c], CELL, "%s", table_head[c]);
	for (size_t i = 0; i < n; i++) {
		if ((r = table_row(&t)) < 0)
			goto oom;
		key_cells(t.cells[r], &fl->sel[i].key);
		count_cells(t.cells[r], 5, &fl->sel[i], m->end_ms - m->start_ms);
	}
	table_print(&t);
	free(t.cells);
	return;
oom:
	free(t.cells);
	fl->nomem = true;
}

static void omitted_add(struct ft_flowread_omitted *a, const struct ft_flowread_omitted *b)
{
	a->conns = ft_flowread_add_sat(a->conns, b->conns);
	a->tx_pkts = ft_flowread_add_sat(a->tx_pkts, b->tx_pkts);
	a->tx_bytes = ft_flowread_add_sat(a->tx_bytes, b->tx_bytes);
	a->rx_pkts = ft_flowread_add_sat(a->rx_pkts, b->rx_pkts);
	a->rx_bytes = ft_flowread_add_sat(a->rx_bytes, b->rx_bytes);
}

static void add_window_sums(struct flows *fl, const struct ft_flowread_msg *m)
{
	fl->any_tun_dropped |= m->has_tun_dropped;
	fl->tun_dropped = ft_flowread_add_sat(fl->tun_dropped, m->tun_dropped);
	omitted_add(&fl->omitted, &m->omitted);
	omitted_add(&fl->omitted_phys, &m->omitted_phys);
}

/* Shows (or aggregates) the pending window and empties it. */
void ft_flows_flush_window(struct flows *fl)
{
	struct ft_flowread_msg *m = &fl->pending;
	size_t n = 0;

	if (!m->node_id)
		return;
	if (!ft_flowread_window_match(&fl->filter, m))
		goto out;
	add_window_sums(fl, m);
	if (m->n > fl->sel_cap) {
		struct ft_flowread_entry *p = realloc(fl->sel, m->n * sizeof(*p));

		if (!p) {
			fl->nomem = true;
			goto out;
		}
		fl->sel = p;
		fl->sel_cap = m->n;
	}
	for (size_t i = 0; i < m->n; i++)
		if (ft_flowread_entry_match(&fl->filter, &m->entries[i]))
			fl->sel[n++] = m->entries[i];
	if (n == 0)
		goto out;
	if (fl->shown_windows == 0 || m->start_ms < fl->first_ms)
		fl->first_ms = m->start_ms;
	if (m->end_ms > fl->last_ms)
		fl->last_ms = m->end_ms;
	if (fl->aggregate) {
		if (ft_flowread_agg_add(fl->agg, m, fl->sel, n) < 0)
			fl->nomem = true;
	} else if (fl->out == OUT_TABLE) {
		print_window_table(fl, m, n);
		for (size_t i = 0; i < n; i++)
			add_totals(fl, &fl->sel[i]);
	} else {
		if (fl->out == OUT_CSV)
			ft_flows_csv_header(fl);
		for (size_t i = 0; i < n; i++) {
			if (fl->out == OUT_JSON && print_json(m, NULL, &fl->sel[i], NULL) < 0)
				fl->nomem = true;
			if (fl->out == OUT_CSV)
				print_csv(m, NULL, &fl->sel[i]);
		}
	}
	fl->shown_windows++;
	if (fl->count && fl->shown_windows >= fl->count)
		fl->stop = true;
out:
	ft_flowread_msg_free(m);
	if (fl->follow)
		fflush(stdout); /* a reader on a pipe sees each window as it comes */
}

static const char *const group_names[] = { "flow", "src", "dst", "pair", "peer" };

void ft_flows_print_aggregate(struct flows *fl)
{
	const struct ft_flowread_row *rows;
	size_t n = ft_flowread_agg_sort(fl->agg, fl->by_packets, &rows);
	struct table t = { .ncols = 11, .right = right_cols };
	char a[32], b[32];
	int r;

	if (fl->top && n > fl->top)
		n = (size_t)fl->top;
	for (size_t i = 0; i < n; i++)
		add_totals(fl, &rows[i].e);
	if (fl->out == OUT_JSON) {
		for (size_t i = 0; i < n; i++)
			if (print_json(NULL, &rows[i], &rows[i].e, group_names[fl->group]) < 0)
				fl->nomem = true;
		return;
	}
	if (fl->out == OUT_CSV) {
		ft_flows_csv_header(fl);
		for (size_t i = 0; i < n; i++)
			print_csv(NULL, &rows[i], &rows[i].e);
		return;
	}
	ft_flowread_format_time(a, fl->first_ms);
	ft_flowread_format_time(b, fl->last_ms);
	if (fl->top)
		printf("top %" PRIu64 " by %s, ", fl->top, fl->by_packets ? "packets" : "bytes");
	else
		printf("all by %s, ", fl->by_packets ? "packets" : "bytes");
	printf("grouped by %s, %" PRIu64 " windows", group_names[fl->group], fl->shown_windows);
	if (fl->shown_windows)
		printf(" from %s \xe2\x86\x92 %s", a, b);
	putchar('\n');
	if ((r = table_row(&t)) < 0)
		goto oom;
	for (size_t c = 0; c < 5; c++)
		snprintf(t.cells[r][c], CELL, "%s", table_head[c]);
	snprintf(t.cells[r][5], CELL, "WINDOWS");
	for (size_t c = 5; c < 10; c++)
		snprintf(t.cells[r][c + 1], CELL, "%s", table_head[c]);
	for (size_t i = 0; i < n; i++) {
		if ((r = table_row(&t)) < 0)
			goto oom;
		key_cells(t.cells[r], &rows[i].e.key);
		snprintf(t.cells[r][5], CELL, "%" PRIu64, rows[i].windows);
		count_cells(t.cells[r], 6, &rows[i].e, rows[i].last_ms - rows[i].first_ms);
	}
	table_print(&t);
	free(t.cells);
	return;
oom:
	free(t.cells);
	fl->nomem = true;
}

static bool filtered(const struct ft_flowread_filter *f)
{
	return f->has_src || f->has_dst || f->has_host || f->port >= 0 || f->proto >= 0 || f->kinds;
}

/* "what: [N connections, ]tx N pkts B, rx N pkts B" for an omitted sum that is not zero. */
static void print_omitted(const char *what, const struct ft_flowread_omitted *o)
{
	char tb[CELL], rb[CELL];

	if (!(o->conns | o->tx_pkts | o->tx_bytes | o->rx_pkts | o->rx_bytes))
		return;
	human_bytes(tb, o->tx_bytes);
	human_bytes(rb, o->rx_bytes);
	printf("%s: ", what);
	/* The packets of connections that found no room have no count of connections. */
	if (o->conns)
		printf("%" PRIu64 " connections, ", o->conns);
	printf("tx %" PRIu64 " pkts %s, rx %" PRIu64 " pkts %s\n", o->tx_pkts, tb, o->rx_pkts, rb);
}

/*
 * What no row shows, for every window in the time range (entry filters cannot apply: these
 * have no addresses): the writer's sums and the kernel's drops before flowtun.
 */
static void print_window_sums(const struct flows *fl)
{
	const char *scope = filtered(&fl->filter) ? " (whole windows, not filtered)" : "";
	char what[160];

	snprintf(what, sizeof(what), "omitted by the writer, not in the rows%s", scope);
	print_omitted(what, &fl->omitted);
	snprintf(what, sizeof(what), "omitted underlay by the writer%s", scope);
	print_omitted(what, &fl->omitted_phys);
	if (fl->any_tun_dropped)
		printf("dropped by the kernel at the TUN queue before flowtun read them%s: %" PRIu64
		       " pkts\n",
		       scope, fl->tun_dropped);
}

void ft_flows_print_totals(const struct flows *fl)
{
	char tb[CELL], rb[CELL];

	human_bytes(tb, fl->tx_bytes);
	human_bytes(rb, fl->rx_bytes);
	printf("%stotal: %" PRIu64 " %s, tx %" PRIu64 " pkts %s, rx %" PRIu64 " pkts %s\n",
	       fl->rows ? "\n" : "", fl->rows, fl->aggregate ? "groups" : "entries", fl->tx_pkts,
	       tb, fl->rx_pkts, rb);
	if (fl->ptx_pkts || fl->prx_pkts) {
		human_bytes(tb, fl->ptx_bytes);
		human_bytes(rb, fl->prx_bytes);
		printf("underlay (physical, not in the total): tx %" PRIu64 " pkts %s, rx %" PRIu64
		       " pkts %s\n",
		       fl->ptx_pkts, tb, fl->prx_pkts, rb);
	}
	print_window_sums(fl);
}
