// SPDX-License-Identifier: MIT
/*
 * flowtun flows: flow logs for people. Reads the JSON Lines that the flow-log writer produces
 * (plain or gzip, files or standard input, or following a growing file), filters them, and
 * prints a table per window, a top-N or grouped aggregation, JSON Lines or CSV. The parsing,
 * filters and aggregation are in stats/flowread.c; this file and cmd_flows_print.c are I/O and
 * presentation.
 *
 * The presentation (tables, JSON Lines, CSV, totals) is in cmd_flows_print.c; this file reads
 * the inputs, follows a growing file and parses the options. Their shared state is in
 * cmd_flows_internal.h.
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

#include <zlib.h>

#include "base/text.h"
#include "stats/flowread.h"
#include "tools/cmd_flows_internal.h"
#include "tools/commands.h"

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
	ft_flows_flush_window(fl);
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
			ft_flows_flush_window(fl);
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

/* A count of at least 1. */
static int parse_count(const char *s, uint64_t *out)
{
	uint64_t v;

	if (ft_parse_uint(s, UINT64_MAX, &v) < 0 || v == 0)
		return -EINVAL;
	*out = v;
	return 0;
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
			if (!(ret = ft_parse_uint(optarg, 65535, &v)))
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
		ft_flows_flush_window(&fl);
	if (fl.aggregate)
		ft_flows_print_aggregate(&fl);
	if (fl.out == OUT_TABLE)
		ft_flows_print_totals(&fl);
	if (fl.out == OUT_CSV)
		ft_flows_csv_header(&fl); /* a script gets its header even when nothing matched */
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
