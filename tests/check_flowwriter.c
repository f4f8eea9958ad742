// SPDX-License-Identifier: MIT
/*
 * The flow-log writer through a real loop: golden lines in a temp file, split messages, queue
 * overflow and the "lost" field, /dev/full, a missing directory that appears, reopen after a
 * rename (logrotate), stdout as a full non-blocking pipe (EAGAIN, short writes), the bounded
 * close on a blocked pipe, syslog; as root also a full 64 KiB tmpfs and a read-only one (in a
 * private mount namespace). Every test ends with uv_loop_close() == 0.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <check.h>
#include <jansson.h>
#include <uv.h>

#include "stats/flowwriter.h"

static const uint64_t T0 = 1767323045123ULL, T1 = 1767323050123ULL;

static struct ft_conn_entry entry(const char *src, uint16_t sport, const char *dst, uint16_t dport,
				  uint64_t txp, uint64_t txb, uint64_t rxp, uint64_t rxb)
{
	struct ft_conn_entry e;

	memset(&e, 0, sizeof(e));
	e.key.proto = 6;
	ck_assert_int_eq(ft_addr_parse(&e.key.src, src), 0);
	ck_assert_int_eq(ft_addr_parse(&e.key.dst, dst), 0);
	e.key.src_port = sport;
	e.key.dst_port = dport;
	e.tx_packets = txp;
	e.tx_bytes = txb;
	e.rx_packets = rxp;
	e.rx_bytes = rxb;
	return e;
}

/* A dump of n entries, distinct by source port. */
static struct ft_conn_entry *dump(size_t n)
{
	struct ft_conn_entry *v = calloc(n, sizeof(*v));

	ck_assert_ptr_nonnull(v);
	for (size_t i = 0; i < n; i++)
		v[i] = entry("100.64.0.1", (uint16_t)(1000 + i), "100.64.0.2", 443, i + 1, 100 * i,
			     i, 7 * i);
	return v;
}

struct ctx {
	uv_loop_t loop;
	char dir[64], path[128];
	int errors, last_err;
	const char *last_op;
	bool closed;
	struct ft_flowwriter_counters final;
};

static void on_error(void *arg, int err, const char *op, uint64_t lost)
{
	struct ctx *c = arg;

	(void)lost;
	c->errors++;
	c->last_err = err;
	c->last_op = op;
}

static void on_closed(void *arg, const struct ft_flowwriter_counters *final)
{
	struct ctx *c = arg;

	c->closed = true;
	c->final = *final;
}

static void ctx_init(struct ctx *c)
{
	memset(c, 0, sizeof(*c));
	ck_assert_int_eq(uv_loop_init(&c->loop), 0);
	snprintf(c->dir, sizeof(c->dir), "/tmp/check_flowwriter.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(c->dir));
	snprintf(c->path, sizeof(c->path), "%s/flows.log", c->dir);
}

static struct ft_flowwriter *writer(struct ctx *c, const char *path, size_t max_queue,
				    size_t max_line)
{
	struct ft_flowwriter_config cfg = {
		.path = path,
		.max_queue = max_queue,
		.max_line = max_line,
		.error_cb = on_error,
		.arg = c,
	};
	struct ft_flowwriter *w = ft_flowwriter_create(&c->loop, &cfg);

	ck_assert_ptr_nonnull(w);
	return w;
}

static void close_and_finish(struct ctx *c, struct ft_flowwriter *w)
{
	ft_flowwriter_close(w, on_closed);
	ck_assert_int_eq(uv_run(&c->loop, UV_RUN_DEFAULT), 0);
	ck_assert(c->closed);
	ck_assert_int_eq(uv_loop_close(&c->loop), 0);
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *s;
	long n;

	ck_assert_ptr_nonnull(f);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	s = calloc(1, (size_t)n + 1);
	ck_assert_ptr_nonnull(s);
	ck_assert_uint_eq(fread(s, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	return s;
}

static void cleanup_dir(struct ctx *c)
{
	char cmd[160];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", c->dir);
	ck_assert_int_eq(system(cmd), 0);
}

/* The "lost" field of a line; 0 when absent. Fails unless the line is one JSON object. */
static json_int_t line_lost(const char *line, size_t len)
{
	json_error_t err;
	json_t *j = json_loadb(line, len, 0, &err);
	json_int_t lost;

	ck_assert_msg(j != NULL, "not JSON: %.*s", (int)len, line);
	ck_assert(json_is_string(json_object_get(j, "nodeId")));
	lost = json_integer_value(json_object_get(j, "lost"));
	json_decref(j);
	return lost;
}

/* Checks that s is whole JSON lines; returns their count and the sum of their lost fields. */
static size_t check_lines(const char *s, json_int_t *lost_sum)
{
	size_t n = 0;

	*lost_sum = 0;
	while (*s) {
		const char *nl = strchr(s, '\n');

		ck_assert_ptr_nonnull(nl);
		*lost_sum += line_lost(s, (size_t)(nl - s));
		n++;
		s = nl + 1;
	}
	return n;
}

static const struct ft_flowlog_meta meta = { .node_id = "n1" };

START_TEST(test_golden)
{
	struct ctx c;
	struct ft_flowwriter *w;
	struct ft_conn_entry v[] = { entry("100.64.0.1", 80, "100.64.0.2", 51234, 88, 2780, 34,
					   8870) };
	struct ft_conn_entry *big = dump(3);
	const char *line1 = "{\"nodeId\":\"n1\",\"start\":\"2026-01-02T03:04:05.123Z\","
			    "\"end\":\"2026-01-02T03:04:10.123Z\",\"virtualTraffic\":[{\"proto\":6,"
			    "\"src\":\"100.64.0.1:80\",\"dst\":\"100.64.0.2:51234\",\"txPkts\":88,"
			    "\"txBytes\":2780,\"rxPkts\":34,\"rxBytes\":8870}]}\n";
	struct ft_flowlog_buf want = { 0 };
	char *got;

	ctx_init(&c);
	w = writer(&c, c.path, 0, 0);
	ck_assert_int_eq(ft_flowwriter_write_dump(w, &meta, T0, T1, v, 1, NULL, 0), 1);
	ck_assert_int_eq(ft_flowwriter_write_dump(w, &meta, T0, T1, big, 3, NULL, 0), 1);
	close_and_finish(&c, w);
	ck_assert_int_eq(ft_flowlog_format(&want, &meta, T0, T1, big, 3, NULL, 0), 1);
	got = slurp(c.path);
	ck_assert_uint_eq(strlen(got), strlen(line1) + want.len);
	ck_assert_int_eq(strncmp(got, line1, strlen(line1)), 0);
	ck_assert_str_eq(got + strlen(line1), want.data);
	ck_assert_uint_eq(c.final.lines, 2);
	ck_assert_uint_eq(c.final.bytes, strlen(got));
	ck_assert_uint_eq(c.final.lost, 0);
	ck_assert_uint_eq(c.final.reopens, 1);
	ck_assert_int_eq(c.errors, 0);
	free(got);
	free(want.data);
	free(big);
	cleanup_dir(&c);
}
END_TEST

/* A dump larger than max_line is written as several whole messages. */
START_TEST(test_split)
{
	struct ctx c;
	struct ft_flowwriter *w;
	struct ft_conn_entry *v = dump(40);
	json_int_t lost;
	char *got;
	int n;

	ctx_init(&c);
	w = writer(&c, c.path, 0, 600);
	n = ft_flowwriter_write_dump(w, &meta, T0, T1, v, 40, NULL, 0);
	ck_assert_int_gt(n, 5);
	close_and_finish(&c, w);
	got = slurp(c.path);
	ck_assert_uint_eq(check_lines(got, &lost), (size_t)n);
	ck_assert_int_eq(lost, 0);
	for (const char *s = got; *s; s = strchr(s, '\n') + 1)
		ck_assert_uint_le((size_t)(strchr(s, '\n') - s + 1), 600);
	ck_assert_uint_eq(c.final.lines, (uint64_t)n);
	free(got);
	free(v);
	cleanup_dir(&c);
}
END_TEST

/* Queue overflow drops whole dumps, counts them, and the next message reports them. */
START_TEST(test_overflow)
{
	struct ctx c;
	struct ft_flowwriter *w;
	struct ft_flowwriter_counters k;
	struct ft_conn_entry *v = dump(4);
	struct ft_flowlog_buf one = { 0 };
	json_int_t lost;
	char *got, *second;

	ck_assert_int_eq(ft_flowlog_format(&one, &meta, T0, T1, v, 4, NULL, 0), 1);
	ctx_init(&c);
	w = writer(&c, c.path, one.len + one.len / 2, 0);
	ck_assert_int_eq(ft_flowwriter_write_dump(w, &meta, T0, T1, v, 4, NULL, 0), 1);
	/* Nothing was written yet (the loop has not run): these three do not fit. */
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(ft_flowwriter_write_dump(w, &meta, T0, T1, v, 4, NULL, 0), 0);
	ft_flowwriter_get_counters(w, &k);
	ck_assert_uint_eq(k.lost, 3);
	ck_assert_uint_eq(k.lost_overflow, 3);
	ck_assert_uint_eq(k.queued_lines, 1);
	ck_assert_uint_eq(k.queued_bytes, one.len);
	ck_assert_int_eq(c.errors, 1); /* one episode */
	ck_assert_int_eq(c.last_err, -ENOBUFS);
	ck_assert_str_eq(c.last_op, "queue");
	ck_assert_int_eq(uv_run(&c.loop, UV_RUN_DEFAULT), 0);
	ck_assert_int_eq(ft_flowwriter_write_dump(w, &meta, T0, T1, v, 4, NULL, 0), 1);
	ck_assert_int_eq(ft_flowwriter_write_dump(w, &meta, T0, T1, v, 4, NULL, 0), 0);
	close_and_finish(&c, w);
	got = slurp(c.path);
	ck_assert_uint_eq(check_lines(got, &lost), 2);
	ck_assert_int_eq(lost, 3);
	second = strchr(got, '\n') + 1;
	ck_assert_int_eq(line_lost(second, strlen(second) - 1), 3);
	ck_assert_uint_eq(c.final.lost, 4); /* the last overflow is counted, not reported */
	free(got);
	free(one.data);
	free(v);
	cleanup_dir(&c);
}
END_TEST

/* ENOSPC on every write: each line lost, one episode, the tunnel's loop carries on. */
START_TEST(test_dev_full)
{
	struct ctx c;
	struct ft_flowwriter *w;
	struct ft_conn_entry *v = dump(2);

	ctx_init(&c);
	w = writer(&c, "/dev/full", 0, 0);
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(ft_flowwriter_write_dump(w, &meta, T0, T1, v, 2, NULL, 0), 1);
	ck_assert_int_eq(uv_run(&c.loop, UV_RUN_DEFAULT), 0);
	ck_assert_int_eq(ft_flowwriter_write_dump(w, &meta, T0, T1, v, 2, NULL, 0), 1);
	close_and_finish(&c, w);
	ck_assert_int_eq(c.errors, 1);
	ck_assert_int_eq(c.last_err, -ENOSPC);
	ck_assert_str_eq(c.last_op, "write");
	ck_assert_uint_eq(c.final.lost, 4);
	ck_assert_uint_eq(c.final.lost_error, 4);
	ck_assert_uint_eq(c.final.errors, 4);
	ck_assert_uint_eq(c.final.lines, 0);
	ck_assert_int_eq(c.final.last_error, -ENOSPC);
	free(v);
	cleanup_dir(&c);
}
END_TEST

/* The file cannot be opened (no directory), then can: the first line written says "lost":2. */
START_TEST(test_open_fails_then_recovers)
{
	struct ctx c;
	struct ft_flowwriter *w;
	struct ft_conn_entry *v = dump(2);
	struct ft_flowwriter_counters cnt;
	char path[200], sub[100];
	json_int_t lost;
	char *got;

	ctx_init(&c);
	snprintf(sub, sizeof(sub), "%s/sub", c.dir);
	snprintf(path, sizeof(path), "%s/flows.log", sub);
	w = writer(&c, path, 0, 0);
	ck_assert_int_eq(ft_flowwriter_write_dump(w, &meta, T0, T1, v, 2, NULL, 0), 1);
	ck_assert_int_eq(ft_flowwriter_write_dump(w, &meta, T0, T1, v, 2, NULL, 0), 1);
	ck_assert_int_eq(uv_run(&c.loop, UV_RUN_DEFAULT), 0);
	ck_assert_int_eq(c.errors, 1);
	ck_assert_int_eq(c.last_err, -ENOENT);
	ck_assert_str_eq(c.last_op, "open");
	ft_flowwriter_get_counters(w, &cnt);
	ck_assert_int_eq(cnt.failing, -ENOENT);
	ck_assert_int_eq(mkdir(sub, 0700), 0);
	ck_assert_int_eq(ft_flowwriter_write_dump(w, &meta, T0, T1, v, 2, NULL, 0), 1);
	ck_assert_int_eq(uv_run(&c.loop, UV_RUN_DEFAULT), 0);
	/* Written again: no longer failing; the last error is still on record. */
	ft_flowwriter_get_counters(w, &cnt);
	ck_assert_int_eq(cnt.failing, 0);
	ck_assert_int_eq(cnt.last_error, -ENOENT);
	close_and_finish(&c, w);
	got = slurp(path);
	ck_assert_uint_eq(check_lines(got, &lost), 1);
	ck_assert_int_eq(lost, 2);
	ck_assert_uint_eq(c.final.lost, 2);
	ck_assert_uint_eq(c.final.lines, 1);
	ck_assert_int_eq(c.errors, 1);
	free(got);
	free(v);
	cleanup_dir(&c);
}
END_TEST

/* logrotate: rename, then reopen; old lines stay in the renamed file, new ones go to the new. */
START_TEST(test_reopen_after_rename)
{
	struct ctx c;
	struct ft_flowwriter *w;
	struct ft_conn_entry *v = dump(1), *v2 = dump(2);
	struct ft_flowlog_buf a = { 0 }, b = { 0 };
	char rotated[160], *got;

	ctx_init(&c);
	snprintf(rotated, sizeof(rotated), "%s.1", c.path);
	ck_assert_int_eq(ft_flowlog_format(&a, &meta, T0, T1, v, 1, NULL, 0), 1);
	ck_assert_int_eq(ft_flowlog_format(&b, &meta, T0, T1, v2, 2, NULL, 0), 1);
	w = writer(&c, c.path, 0, 0);
	ck_assert_int_eq(ft_flowwriter_write_dump(w, &meta, T0, T1, v, 1, NULL, 0), 1);
	ck_assert_int_eq(uv_run(&c.loop, UV_RUN_DEFAULT), 0);
	ck_assert_int_eq(rename(c.path, rotated), 0);
	ft_flowwriter_reopen(w);
	ck_assert_int_eq(ft_flowwriter_write_dump(w, &meta, T0, T1, v2, 2, NULL, 0), 1);
	close_and_finish(&c, w);
	got = slurp(rotated);
	ck_assert_str_eq(got, a.data);
	free(got);
	got = slurp(c.path);
	ck_assert_str_eq(got, b.data);
	free(got);
	ck_assert_uint_eq(c.final.reopens, 2);
	ck_assert_int_eq(c.errors, 0);
	free(a.data);
	free(b.data);
	free(v);
	free(v2);
	cleanup_dir(&c);
}
END_TEST

/* stdout as a pipe, read by the same loop. */
struct pipe_reader {
	struct ctx *c;
	struct ft_flowwriter *w;
	uv_poll_t poll;
	uv_timer_t start;
	int fd;
	char *buf;
	size_t len, want;
};

static void on_pipe_readable(uv_poll_t *h, int status, int events)
{
	struct pipe_reader *r = h->data;
	ssize_t n;

	(void)events;
	ck_assert_int_eq(status, 0);
	while ((n = read(r->fd, r->buf + r->len, r->want + 1 - r->len)) > 0)
		r->len += (size_t)n;
	ck_assert_uint_le(r->len, r->want);
	if (r->len == r->want) {
		uv_close((uv_handle_t *)&r->poll, NULL);
		if (r->w)
			ft_flowwriter_close(r->w, on_closed);
	}
}

static void start_reading(uv_timer_t *t)
{
	struct pipe_reader *r = t->data;

	uv_close((uv_handle_t *)&r->start, NULL);
	ck_assert_int_eq(uv_poll_init(&r->c->loop, &r->poll, r->fd), 0);
	r->poll.data = r;
	ck_assert_int_eq(uv_poll_start(&r->poll, UV_READABLE, on_pipe_readable), 0);
}

/*
 * A pipe of one page on stdout; the reader starts after delay_ms. Non-blocking: the writer
 * meets EAGAIN and short writes. Blocking with close_timeout_ms: a write blocks in the thread
 * pool, close times out and drops the queued lines, the blocked one completes once read.
 */
static void pipe_case(bool nonblocking, uint64_t close_timeout_ms, uint64_t delay_ms)
{
	struct ctx c;
	struct pipe_reader r = { .c = &c };
	struct ft_flowwriter_config cfg = {
		.path = "-", .error_cb = on_error, .arg = &c, .close_timeout_ms = close_timeout_ms
	};
	struct ft_flowwriter *w;
	struct ft_conn_entry *v = dump(100);
	struct ft_flowlog_buf one = { 0 };
	int fds[2], saved = dup(STDOUT_FILENO);

	ck_assert_int_eq(ft_flowlog_format(&one, &meta, T0, T1, v, 100, NULL, 0), 1);
	ck_assert_uint_gt(one.len, 8192);
	ctx_init(&c);
	ck_assert_int_eq(pipe2(fds, O_CLOEXEC), 0);
	ck_assert_int_ge(fcntl(fds[1], F_SETPIPE_SZ, 4096), 4096);
	ck_assert_int_eq(fcntl(fds[0], F_SETFL, O_NONBLOCK), 0);
	if (nonblocking)
		ck_assert_int_eq(fcntl(fds[1], F_SETFL, O_NONBLOCK), 0);
	fflush(stdout);
	ck_assert_int_ge(dup2(fds[1], STDOUT_FILENO), 0);
	close(fds[1]);
	r.fd = fds[0];
	w = ft_flowwriter_create(&c.loop, &cfg);
	ck_assert_ptr_nonnull(w);
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(ft_flowwriter_write_dump(w, &meta, T0, T1, v, 100, NULL, 0), 1);
	r.want = close_timeout_ms ? one.len : 3 * one.len;
	r.buf = malloc(r.want + 1);
	ck_assert_ptr_nonnull(r.buf);
	if (close_timeout_ms)
		ft_flowwriter_close(w, on_closed);
	else
		r.w = w;
	uv_timer_init(&c.loop, &r.start);
	r.start.data = &r;
	uv_timer_start(&r.start, start_reading, delay_ms, 0);
	ck_assert_int_eq(uv_run(&c.loop, UV_RUN_DEFAULT), 0);
	ck_assert_int_ge(dup2(saved, STDOUT_FILENO), 0);
	close(saved);
	ck_assert(c.closed);
	ck_assert_int_eq(uv_loop_close(&c.loop), 0);
	ck_assert_uint_eq(r.len, r.want);
	for (size_t off = 0; off < r.len; off += one.len)
		ck_assert_int_eq(memcmp(r.buf + off, one.data, one.len), 0);
	if (close_timeout_ms) {
		ck_assert_uint_eq(c.final.lines, 1);
		ck_assert_uint_eq(c.final.lost_close, 2);
	} else {
		ck_assert_uint_eq(c.final.lines, 3);
		ck_assert_uint_eq(c.final.lost, 0);
		ck_assert_int_eq(c.errors, 0);
	}
	close(fds[0]);
	free(r.buf);
	free(one.data);
	free(v);
	cleanup_dir(&c);
}

START_TEST(test_stdout_nonblocking_pipe)
{
	pipe_case(true, 0, 50);
}
END_TEST

START_TEST(test_close_timeout)
{
	/* The reader starts after the close timeout: libuv runs timers in deadline order. */
	pipe_case(false, 20, 200);
}
END_TEST

START_TEST(test_syslog)
{
	struct ctx c;
	struct ft_flowwriter_config cfg = { .error_cb = on_error, .arg = &c };
	struct ft_flowwriter *w;
	struct ft_conn_entry *v = dump(300);
	int n;

	ctx_init(&c);
	w = ft_flowwriter_create(&c.loop, &cfg);
	ck_assert_ptr_nonnull(w);
	/* The syslog line bound applies: 300 entries make several lines. */
	n = ft_flowwriter_write_dump(w, &meta, T0, T1, v, 300, NULL, 0);
	ck_assert_int_gt(n, 1);
	ft_flowwriter_reopen(w); /* no-op */
	close_and_finish(&c, w);
	ck_assert_uint_eq(c.final.lines, (uint64_t)n);
	ck_assert_uint_eq(c.final.lost, 0);
	ck_assert_uint_eq(c.final.reopens, 0);
	free(v);
	cleanup_dir(&c);
}
END_TEST

/* ---- root: tmpfs in a private mount namespace (Check forks each test) ------------------- */

static void private_tmpfs(const char *dir, const char *opts)
{
	ck_assert_int_eq(unshare(CLONE_NEWNS), 0);
	/* The type is ignored for a propagation change, but valgrind wants a string there. */
	ck_assert_int_eq(mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL), 0);
	ck_assert_int_eq(mount("tmpfs", dir, "tmpfs", 0, opts), 0);
}

/* A full 64 KiB tmpfs: lines lost, none torn, the loss reported once space is back. */
START_TEST(test_tmpfs_full)
{
	struct ctx c;
	struct ft_flowwriter *w;
	struct ft_conn_entry *v = dump(60);
	json_int_t lost;
	char *got, *last;
	size_t lines;

	ctx_init(&c);
	private_tmpfs(c.dir, "size=64k");
	w = writer(&c, c.path, 0, 0);
	for (int i = 0; i < 20; i++)
		ck_assert_int_eq(ft_flowwriter_write_dump(w, &meta, T0, T1, v, 60, NULL, 0), 1);
	ck_assert_int_eq(uv_run(&c.loop, UV_RUN_DEFAULT), 0);
	ck_assert_int_eq(c.errors, 1);
	ck_assert_int_eq(c.last_err, -ENOSPC);
	ck_assert_int_eq(mount("none", c.dir, "none", MS_REMOUNT, "size=1m"), 0);
	ck_assert_int_eq(ft_flowwriter_write_dump(w, &meta, T0, T1, v, 60, NULL, 0), 1);
	close_and_finish(&c, w);
	got = slurp(c.path);
	lines = check_lines(got, &lost); /* every line whole: a torn one was cut back */
	ck_assert_uint_eq(lines, c.final.lines);
	ck_assert_uint_eq(lines + (size_t)lost, 21);
	ck_assert_uint_gt(c.final.lost_error, 0);
	ck_assert_int_eq(lost, (json_int_t)c.final.lost);
	/* The last line, written after the remount, reports every loss. */
	last = got + strlen(got) - 1;
	while (last > got && last[-1] != '\n')
		last--;
	ck_assert_int_eq(line_lost(last, strlen(last) - 1), (json_int_t)c.final.lost);
	free(got);
	free(v);
	umount(c.dir);
	cleanup_dir(&c);
}
END_TEST

/* A read-only file system: EROFS, lost, then a remount read-write and the loss reported. */
START_TEST(test_readonly)
{
	struct ctx c;
	struct ft_flowwriter *w;
	struct ft_conn_entry *v = dump(3);
	json_int_t lost;
	char *got;

	ctx_init(&c);
	private_tmpfs(c.dir, "size=64k");
	ck_assert_int_eq(mount("none", c.dir, "none", MS_REMOUNT | MS_RDONLY, NULL), 0);
	w = writer(&c, c.path, 0, 0);
	ck_assert_int_eq(ft_flowwriter_write_dump(w, &meta, T0, T1, v, 3, NULL, 0), 1);
	ck_assert_int_eq(uv_run(&c.loop, UV_RUN_DEFAULT), 0);
	ck_assert_int_eq(c.errors, 1);
	ck_assert_int_eq(c.last_err, -EROFS);
	ck_assert_int_eq(mount("none", c.dir, "none", MS_REMOUNT, NULL), 0);
	ck_assert_int_eq(ft_flowwriter_write_dump(w, &meta, T0, T1, v, 3, NULL, 0), 1);
	close_and_finish(&c, w);
	got = slurp(c.path);
	ck_assert_uint_eq(check_lines(got, &lost), 1);
	ck_assert_int_eq(lost, 1);
	free(got);
	free(v);
	umount(c.dir);
	cleanup_dir(&c);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("flowwriter");
	TCase *tc = tcase_create("writer");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_golden);
	tcase_add_test(tc, test_split);
	tcase_add_test(tc, test_overflow);
	tcase_add_test(tc, test_dev_full);
	tcase_add_test(tc, test_open_fails_then_recovers);
	tcase_add_test(tc, test_reopen_after_rename);
	tcase_add_test(tc, test_stdout_nonblocking_pipe);
	tcase_add_test(tc, test_close_timeout);
	tcase_add_test(tc, test_syslog);
	suite_add_tcase(s, tc);
	if (geteuid() == 0) {
		TCase *root = tcase_create("root");

		tcase_add_test(root, test_tmpfs_full);
		tcase_add_test(root, test_readonly);
		suite_add_tcase(s, root);
	} else {
		printf("flowwriter: not root, the tmpfs tests are skipped\n");
	}
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
