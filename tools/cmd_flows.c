// SPDX-License-Identifier: MIT
/*
 * flowtun flows: flow logs for people. Reads the JSON Lines that the flow-log writer produces
 * (plain or gzip, files or standard input, or following a growing file), filters them, and
 * prints a table per window, a top-N or grouped aggregation, JSON Lines or CSV. The parsing,
 * filters and aggregation are in stats/flowread.c; this file is I/O and presentation.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <zlib.h>

#include "stats/flowread.h"
#include "tools/commands.h"
#include "tools/human.h"

static int cmd_flows(int argc, char *argv[]);

const struct ft_command ft_command_flows = {
	.name = "flows",
	.summary = "read flow logs: tables, filters, top talkers, JSON or CSV",
	.usage =
		"Usage: flowtun flows [OPTIONS] [FILE...]\n\n"
		"Reads flow logs (JSON Lines as flowtun writes them, plain or gzip; '-' or no FILE\n"
		"is standard input) and prints one table per window: time range, then per\n"
		"connection its kind, protocol, src -> dst, packets and bytes each way and the rate.\n"
		"A message split over several lines (same nodeId, start and end) is one window.\n\n"
		"Filters (an entry is shown when it passes all of them):\n"
		"  --src CIDR        source address within CIDR (an address alone is /32 or /128)\n"
		"  --dst CIDR        destination address within CIDR\n"
		"  --host CIDR       either address within CIDR\n"
		"  --port N          either port is N\n"
		"  --proto P         tcp, udp, icmp, ipv6-icmp, fragment, invalid or a number\n"
		"  --kind K[,K...]   virtual, subnet, exit, physical\n"
		"  --since T         windows that end at or after T\n"
		"  --until T         windows that start at or before T\n"
		"                    T is RFC 3339 (2026-11-23T01:14:00Z) or an age: 90s, 10m, 2h, 1d\n\n"
		"Aggregation over the whole input (one table at the end):\n"
		"  --top N           the N largest groups (by bytes, tx + rx)\n"
		"  --by bytes|packets  what --top and --group-by rank by (default bytes)\n"
		"  --group-by G      flow (default), src, dst, pair (src and dst addresses), or peer\n"
		"                    (physical: the peer's overlay address; others: the far end, dst)\n\n"
		"Output:\n"
		"  --json            JSON Lines, one object per entry or group\n"
		"  --csv             CSV with a header line\n"
		"  The table ends with a totals line summing the rows shown (the physical rows, which\n"
		"  carry the others, apart); JSON and CSV have none.\n\n"
		"Following:\n"
		"  -f, --follow      keep reading FILE as it grows, like tail -f; re-opens it when it\n"
		"                    is rotated (a new inode) or truncated. One FILE only.\n"
		"  --interval DUR    how often to look for more (default 250ms)\n"
		"  --count N         exit after N windows have been shown\n"
		"  --duration DUR    exit after DUR (500ms, 2s, 1m); SIGINT and SIGTERM also end it\n\n"
		"Malformed lines are reported as FILE:LINE on standard error and skipped.\n"
		"Exit status: 0 ok, 1 when a line was skipped or a file could not be read, 2 usage.\n\n"
		"Examples:\n"
		"  flowtun flows /var/log/flowtun/flows.jsonl\n"
		"  flowtun flows --top 10 flows.jsonl.1.gz flows.jsonl         # top talkers\n"
		"  flowtun flows --group-by peer --kind physical --since 1h flows.jsonl\n"
		"  flowtun flows --host 100.64.0.2 --proto tcp --port 5201 flows.jsonl\n"
		"  flowtun flows -f --kind virtual flows.jsonl                 # live\n"
		"  flowtun flows --csv --since 2026-11-23T00:00:00Z flows.jsonl > day.csv\n",
	.run = cmd_flows,
};

enum output { OUT_TABLE, OUT_JSON, OUT_CSV };

struct flows {
	const struct ft_command *cmd;
	struct ft_flowread_filter filter;
	enum output out;
	bool aggregate, by_packets, csv_header, stop, follow;
	enum ft_flowread_group group;
	uint64_t top; /* 0: all groups */
	struct ft_flowread_agg *agg;
	struct ft_flowread_msg pending, line;
	uint64_t count, shown_windows, first_ms, last_ms;
	uint64_t rows, tx_pkts, tx_bytes, rx_pkts, rx_bytes;
	/* Physical datagrams carry the virtual packets: totalled apart, never added to them. */
	uint64_t ptx_pkts, ptx_bytes, prx_pkts, prx_bytes;
	bool malformed, failed, nomem;
	struct ft_flowread_entry *sel; /* the entries of one window that pass the filters */
	size_t sel_cap;
};

/* One input: a file name (for messages and reopening) and its zlib stream. */
struct input {
	const char *name;
	int fd;
	gzFile gz;
	dev_t dev;
	ino_t ino;
	char *buf;
	size_t len, cap;
	bool skipping; /* inside a line that was too long, until its newline */
	uint64_t lineno;
};

static volatile sig_atomic_t got_signal;

static void on_signal(int sig)
{
	got_signal = sig;
}

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
	if (k->proto == FT_PROTO_INVALID) {
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

static void csv_header(struct flows *fl)
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

/* Shows (or aggregates) the pending window and empties it. */
static void flush_window(struct flows *fl)
{
	struct ft_flowread_msg *m = &fl->pending;
	size_t n = 0;

	if (!m->node_id)
		return;
	if (!ft_flowread_window_match(&fl->filter, m))
		goto out;
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
			csv_header(fl);
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

static void print_aggregate(struct flows *fl)
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
		csv_header(fl);
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

static void print_totals(const struct flows *fl)
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
}

static void handle_line(struct flows *fl, struct input *in, const char *line, size_t len)
{
	char err[200];
	size_t i;

	for (i = 0; i < len && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r'); i++)
		;
	if (i == len)
		return; /* a blank line, as an editor may leave at the end */
	switch (ft_flowread_parse(&fl->line, line, len, err, sizeof(err))) {
	case 0:
		break;
	case -ENOMEM:
		fl->nomem = true;
		return;
	default:
		fflush(stdout);
		fprintf(stderr, "flowtun flows: %s:%" PRIu64 ": skipped: %s\n", in->name,
			in->lineno, err);
		fl->malformed = true;
		return;
	}
	if (ft_flowread_same_window(&fl->pending, &fl->line)) {
		if (ft_flowread_merge(&fl->pending, &fl->line) < 0)
			fl->nomem = true;
		ft_flowread_msg_free(&fl->line);
		return;
	}
	flush_window(fl);
	ft_flowread_move(&fl->pending, &fl->line);
}

/* Hands every complete line in the buffer to handle_line(); at_end also the last partial one. */
static void drain_lines(struct flows *fl, struct input *in, bool at_end)
{
	size_t off = 0;

	while (off < in->len && !fl->stop) {
		char *nl = memchr(in->buf + off, '\n', in->len - off);
		size_t len = nl ? (size_t)(nl - (in->buf + off)) : in->len - off;

		if (!nl && !at_end)
			break;
		in->lineno++;
		if (!in->skipping)
			handle_line(fl, in, in->buf + off, len);
		in->skipping = false;
		off += len + (nl ? 1 : 0);
	}
	memmove(in->buf, in->buf + off, in->len - off);
	in->len -= off;
	/* A line longer than any writer makes: report it once and drop it up to its newline. */
	if (in->len > FT_FLOWREAD_MAX_LINE) {
		if (!in->skipping) {
			fprintf(stderr,
				"flowtun flows: %s:%" PRIu64
				": skipped: line longer than %d bytes\n",
				in->name, in->lineno + 1, FT_FLOWREAD_MAX_LINE);
			fl->malformed = true;
		}
		in->skipping = true;
		in->len = 0;
	}
}

static int input_open(struct input *in, const char *name)
{
	struct stat st;
	int fd;

	if (strcmp(name, "-") == 0) {
		in->name = "(stdin)";
		fd = dup(STDIN_FILENO);
	} else {
		in->name = name;
		fd = open(name, O_RDONLY | O_CLOEXEC);
	}
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	in->dev = st.st_dev;
	in->ino = st.st_ino;
	in->fd = fd;
	in->lineno = 0;
	in->skipping = false;
	in->gz = gzdopen(fd, "rb");
	if (!in->gz) {
		close(fd);
		return -ENOMEM;
	}
	return 0;
}

static void input_close(struct input *in)
{
	if (in->gz)
		gzclose(in->gz); /* closes fd */
	in->gz = NULL;
	in->len = 0;
}

/* Reads what is there now. Returns 1 when data came, 0 at end of file, or -1 on an error. */
static int input_read(struct flows *fl, struct input *in)
{
	int got = 0;

	for (;;) {
		int n;

		if (fl->stop || got_signal)
			return 1;
		if (in->cap - in->len < 65536) {
			size_t cap = in->cap ? in->cap * 2 : 131072;
			char *p = realloc(in->buf, cap);

			if (!p) {
				fl->nomem = true;
				return -1;
			}
			in->buf = p;
			in->cap = cap;
		}
		n = gzread(in->gz, in->buf + in->len, 65536);
		if (n < 0) {
			int errnum;
			const char *msg = gzerror(in->gz, &errnum);

			fprintf(stderr, "flowtun flows: %s: %s\n", in->name,
				errnum == Z_ERRNO ? strerror(errno) : msg);
			fl->failed = true;
			return -1;
		}
		if (n == 0)
			return got;
		in->len += (size_t)n;
		got = 1;
		drain_lines(fl, in, false);
	}
}

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* True when the file at the name is no longer the one open: rotated, or truncated. */
static bool input_replaced(const struct input *in)
{
	struct stat st;
	off_t pos;

	if (stat(in->name, &st) < 0)
		return false; /* between a rename and the new file's creation: keep reading */
	if (st.st_dev != in->dev || st.st_ino != in->ino)
		return true;
	pos = lseek(in->fd, 0, SEEK_CUR);
	return pos >= 0 && st.st_size < pos;
}

static void follow(struct flows *fl, struct input *in, uint64_t interval_ms, uint64_t deadline)
{
	struct sigaction sa = { .sa_handler = on_signal };

	/* No SA_RESTART: a signal cuts the sleep short, and the loop then ends. */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	while (!fl->stop && !got_signal) {
		struct timespec ts;
		int r = input_read(fl, in);

		if (r < 0)
			break; /* reported; a gzip file torn by its writer ends here too */
		if (r == 0) {
			/*
			 * Nothing more for now: the writer writes a split message at once, so the
			 * window is complete and can be shown without waiting for the next one.
			 */
			flush_window(fl);
		}
		if (fl->stop || got_signal || (deadline && mono_ms() >= deadline))
			break;
		if (r == 0 && input_replaced(in)) {
			/* Read what was appended before the rotation, then switch. */
			while (input_read(fl, in) > 0 && !fl->stop)
				;
			drain_lines(fl, in, true);
			int err;

			input_close(in);
			if ((err = input_open(in, in->name)) < 0) {
				fprintf(stderr, "flowtun flows: %s: cannot reopen: %s\n", in->name,
					strerror(-err));
				fl->failed = true;
				return;
			}
			continue;
		}
		gzclearerr(in->gz);
		ts.tv_sec = (time_t)(interval_ms / 1000);
		ts.tv_nsec = (long)(interval_ms % 1000) * 1000000;
		if (deadline) {
			uint64_t now = mono_ms();

			if (now + interval_ms > deadline) {
				ts.tv_sec = (time_t)((deadline - now) / 1000);
				ts.tv_nsec = (long)((deadline - now) % 1000) * 1000000;
			}
		}
		nanosleep(&ts, NULL);
	}
	drain_lines(fl, in, true);
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

enum {
	OPT_SRC = 256,
	OPT_DST,
	OPT_HOST,
	OPT_PORT,
	OPT_PROTO,
	OPT_KIND,
	OPT_SINCE,
	OPT_UNTIL,
	OPT_TOP,
	OPT_BY,
	OPT_GROUP,
	OPT_JSON,
	OPT_CSV,
	OPT_INTERVAL,
	OPT_COUNT,
	OPT_DURATION,
};

static const struct option options[] = {
	{ "src", required_argument, NULL, OPT_SRC },
	{ "dst", required_argument, NULL, OPT_DST },
	{ "host", required_argument, NULL, OPT_HOST },
	{ "port", required_argument, NULL, OPT_PORT },
	{ "proto", required_argument, NULL, OPT_PROTO },
	{ "kind", required_argument, NULL, OPT_KIND },
	{ "since", required_argument, NULL, OPT_SINCE },
	{ "until", required_argument, NULL, OPT_UNTIL },
	{ "top", required_argument, NULL, OPT_TOP },
	{ "by", required_argument, NULL, OPT_BY },
	{ "group-by", required_argument, NULL, OPT_GROUP },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "csv", no_argument, NULL, OPT_CSV },
	{ "follow", no_argument, NULL, 'f' },
	{ "interval", required_argument, NULL, OPT_INTERVAL },
	{ "count", required_argument, NULL, OPT_COUNT },
	{ "duration", required_argument, NULL, OPT_DURATION },
	{ NULL, 0, NULL, 0 },
};

static int parse_kinds(char *arg, unsigned *mask)
{
	char *save = NULL;

	for (char *tok = strtok_r(arg, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		int k = ft_flowread_kind_parse(tok);

		if (k < 0)
			return -EINVAL;
		*mask |= 1u << k;
	}
	return *mask ? 0 : -EINVAL;
}

/* A decimal number 0..max; 0 or -EINVAL. */
static int parse_number(const char *s, uint64_t max, uint64_t *out)
{
	char *end;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	*out = strtoull(s, &end, 10);
	return errno || *end || *out > max ? -EINVAL : 0;
}

/* A count of at least 1. */
static int parse_count(const char *s, uint64_t *out)
{
	char *end;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	*out = strtoull(s, &end, 10);
	return errno || *end || *out == 0 ? -EINVAL : 0;
}

/* Parses the options into fl; FT_EXIT_OK or FT_EXIT_USAGE (already reported). */
static int parse_args(struct flows *fl, int argc, char *argv[], bool *follow_mode,
		      uint64_t *interval_ms, uint64_t *duration_ms)
{
	const struct ft_command *cmd = fl->cmd;
	uint64_t now = now_ms(), v;
	bool have_by = false;
	int c, idx = 0;

	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, "+f", options, &idx)) != -1) {
		int ret = 0;

		switch (c) {
		case OPT_SRC:
			ret = ft_flowread_parse_cidr(optarg, &fl->filter.src);
			fl->filter.has_src = true;
			break;
		case OPT_DST:
			ret = ft_flowread_parse_cidr(optarg, &fl->filter.dst);
			fl->filter.has_dst = true;
			break;
		case OPT_HOST:
			ret = ft_flowread_parse_cidr(optarg, &fl->filter.host);
			fl->filter.has_host = true;
			break;
		case OPT_PORT:
			if (!(ret = parse_number(optarg, 65535, &v)))
				fl->filter.port = (int)v;
			break;
		case OPT_PROTO:
			ret = fl->filter.proto = ft_flowread_proto_parse(optarg);
			break;
		case OPT_KIND:
			ret = parse_kinds(optarg, &fl->filter.kinds);
			break;
		case OPT_SINCE:
			ret = ft_flowread_parse_time(optarg, now, &fl->filter.since_ms);
			break;
		case OPT_UNTIL:
			ret = ft_flowread_parse_time(optarg, now, &fl->filter.until_ms);
			break;
		case OPT_TOP:
			ret = parse_count(optarg, &fl->top);
			fl->aggregate = true;
			break;
		case OPT_BY:
			have_by = true;
			if (strcmp(optarg, "packets") == 0)
				fl->by_packets = true;
			else if (strcmp(optarg, "bytes") != 0)
				ret = -EINVAL;
			break;
		case OPT_GROUP:
			ret = ft_flowread_group_parse(optarg, &fl->group);
			fl->aggregate = true;
			break;
		case OPT_JSON:
		case OPT_CSV:
			if (fl->out != OUT_TABLE)
				return ft_command_usage_error(
					cmd, "--json and --csv exclude each other");
			fl->out = c == OPT_JSON ? OUT_JSON : OUT_CSV;
			break;
		case 'f':
			*follow_mode = true;
			break;
		case OPT_INTERVAL:
			if (!(ret = ft_flowread_parse_duration(optarg, interval_ms)) &&
			    *interval_ms == 0)
				ret = -EINVAL;
			break;
		case OPT_COUNT:
			ret = parse_count(optarg, &fl->count);
			break;
		case OPT_DURATION:
			if (!(ret = ft_flowread_parse_duration(optarg, duration_ms)) &&
			    *duration_ms == 0)
				ret = -EINVAL;
			break;
		default:
			if (optopt)
				return ft_command_usage_error(
					cmd, "option needs a value or is unknown: '%s'",
					argv[optind - 1]);
			return ft_command_usage_error(cmd, "unknown option '%s'", argv[optind - 1]);
		}
		if (ret < 0)
			return ft_command_usage_error(cmd, "bad value for --%s: '%s'",
						      options[idx].name, optarg);
	}
	if (have_by && !fl->aggregate)
		return ft_command_usage_error(cmd,
					      "--by ranks --top or --group-by; give one of them");
	if (*follow_mode && argc - optind != 1)
		return ft_command_usage_error(cmd, "--follow reads exactly one FILE");
	if (*follow_mode && strcmp(argv[optind], "-") == 0)
		return ft_command_usage_error(cmd, "--follow needs a file, not standard input");
	if (!*follow_mode && (*duration_ms || *interval_ms))
		return ft_command_usage_error(cmd, "--duration and --interval need --follow");
	return FT_EXIT_OK;
}

static int cmd_flows(int argc, char *argv[])
{
	struct flows fl = { .cmd = &ft_command_flows };
	struct input in = { .fd = -1 };
	bool follow_mode = false;
	uint64_t interval_ms = 0, duration_ms = 0;
	char *stdin_only[] = { (char *)"-" };
	char **files;
	int nfiles, rc;

	ft_flowread_filter_init(&fl.filter);
	rc = parse_args(&fl, argc, argv, &follow_mode, &interval_ms, &duration_ms);
	if (rc != FT_EXIT_OK)
		return rc;
	files = optind < argc ? argv + optind : stdin_only;
	nfiles = optind < argc ? argc - optind : 1;
	if (fl.aggregate && !(fl.agg = ft_flowread_agg_create(fl.group)))
		return ft_command_error(fl.cmd, "out of memory");

	for (int i = 0; i < nfiles && !fl.stop && !got_signal; i++) {
		int err = input_open(&in, files[i]);

		if (err < 0) {
			fflush(stdout);
			fprintf(stderr, "flowtun flows: %s: %s\n", files[i], strerror(-err));
			fl.failed = true;
			continue;
		}
		if (follow_mode) {
			fl.follow = true;
			follow(&fl, &in, interval_ms ? interval_ms : 250,
			       duration_ms ? mono_ms() + duration_ms : 0);
		} else {
			while (input_read(&fl, &in) > 0)
				;
			drain_lines(&fl, &in, true);
		}
		input_close(&in);
	}
	if (!fl.stop)
		flush_window(&fl);
	if (fl.aggregate)
		print_aggregate(&fl);
	if (fl.out == OUT_TABLE)
		print_totals(&fl);
	if (fl.out == OUT_CSV)
		csv_header(&fl); /* a script gets its header even when nothing matched */
	ft_flowread_msg_free(&fl.pending);
	ft_flowread_msg_free(&fl.line);
	ft_flowread_agg_destroy(fl.agg);
	free(fl.sel);
	free(in.buf);
	if (fflush(stdout) == EOF)
		return ft_command_error(fl.cmd, "cannot write: %s", strerror(errno));
	if (fl.nomem)
		return ft_command_error(fl.cmd, "out of memory");
	return fl.malformed || fl.failed ? FT_EXIT_FAILURE : FT_EXIT_OK;
}
