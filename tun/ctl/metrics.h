/* SPDX-License-Identifier: MIT */
#ifndef FT_METRICS_H
#define FT_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <uv.h>

/*
 * Metrics for monitoring stacks: an HTTP/1.1 endpoint, GET /metrics, on the caller's loop, in
 * the Prometheus text exposition format 0.0.4 or, when the Accept header asks for it,
 * OpenMetrics 1.0.0. Three parts, each usable alone:
 *
 *   the writer   (metrics_expo.c)   families and samples into one growable buffer, label
 *                                   values escaped, counters and info metrics named by the
 *                                   rules of the format asked for; no I/O
 *   the parser   (metrics_http.c)   a request head: where it ends, what it asks, which HTTP
 *                                   status answers it, which format; pure functions
 *   the server   (metrics_server.c) uv_tcp_t: bounded clients, bounded heads, time limits
 *
 * What goes into a scrape is the caller's: the server calls collect() for each request it
 * answers with 200, then appends its own families (flowtun_metrics_*). Loop thread only.
 */

enum {
	/* A request head (request line and headers) larger than this is refused (431/414). */
	FT_METRICS_MAX_HEAD = 4096,
	/* Connections served at once; one more is answered 503 and closed at once. */
	FT_METRICS_MAX_CLIENTS = 16,
	/* Bodies built and being written at once; further requests wait for one to finish. */
	FT_METRICS_MAX_RESPONSES = 4,
	FT_METRICS_HEAD_TIMEOUT_MS = 5000,   /* to receive the whole head: else 408 */
	FT_METRICS_WRITE_TIMEOUT_MS = 10000, /* from the head to the last byte of the answer */
	FT_METRICS_MAX_BODY = 1 << 30,	     /* our own state, but bounded all the same */
};

enum ft_metrics_format {
	FT_METRICS_TEXT,	/* text/plain; version=0.0.4 */
	FT_METRICS_OPENMETRICS, /* application/openmetrics-text; version=1.0.0 */
};

/* ---- the writer ------------------------------------------------------------------------- */

/*
 * A growable byte buffer with a sticky error: once an append fails (-ENOMEM, or -EMSGSIZE past
 * max), every later one does nothing and err says why. The owner frees data with
 * ft_metrics_buf_release().
 */
struct ft_metrics_buf {
	char *data;
	size_t len, cap;
	size_t max; /* 0: FT_METRICS_MAX_BODY */
	int err;
};

/* Room for n more bytes; 0 or the sticky error. */
int ft_metrics_buf_reserve(struct ft_metrics_buf *b, size_t n);
void ft_metrics_buf_append(struct ft_metrics_buf *b, const char *s, size_t n);
void ft_metrics_buf_puts(struct ft_metrics_buf *b, const char *s);
void ft_metrics_buf_u64(struct ft_metrics_buf *b, uint64_t v);
/*
 * A label value as the formats want it inside its quotes: backslash, double quote and newline
 * escaped; bytes that are not UTF-8 replaced by U+FFFD (OpenMetrics requires UTF-8, and the
 * text format's parsers reject it too).
 */
void ft_metrics_buf_escape(struct ft_metrics_buf *b, const char *s, size_t n);
void ft_metrics_buf_release(struct ft_metrics_buf *b);

enum ft_metrics_type {
	FT_METRICS_COUNTER, /* samples NAME_total */
	FT_METRICS_GAUGE,   /* samples NAME */
	FT_METRICS_INFO,    /* samples NAME_info, value 1; a gauge in the text format */
};

struct ft_metrics_family {
	const char *name; /* without _total or _info; [a-z_][a-z0-9_]* */
	enum ft_metrics_type type;
	const char *unit; /* NULL or a unit the name ends with ("bytes", "seconds") */
	const char *help; /* one line */
};

struct ft_metrics_label {
	const char *name; /* [a-z_][a-z0-9_]*: ours, never escaped */
	const char *value;
};

struct ft_metrics_writer {
	struct ft_metrics_buf out;
	enum ft_metrics_format format;
	const struct ft_metrics_family *family; /* of the samples that follow */
	/* The server's: a collector that can stop returns FT_METRICS_MORE once uv_hrtime() is past. */
	uint64_t slice_deadline_ns;
};

/* An empty exposition in format; size_hint bytes are reserved (0: none). */
void ft_metrics_writer_init(struct ft_metrics_writer *w, enum ft_metrics_format format,
			    size_t size_hint);
/*
 * Starts a family: its HELP, TYPE (and UNIT in OpenMetrics) lines. Every sample until the next
 * family is one of it; f must outlive those calls. A family is written once per exposition.
 */
void ft_metrics_family(struct ft_metrics_writer *w, const struct ft_metrics_family *f);
/* A sample with n labels (n may be 0) and an integer value. */
void ft_metrics_sample(struct ft_metrics_writer *w, const struct ft_metrics_label *labels, size_t n,
		       uint64_t value);
/* The same with value / 10^decimals written as a decimal fraction (times: ms, ns). */
void ft_metrics_sample_fixed(struct ft_metrics_writer *w, const struct ft_metrics_label *labels,
			     size_t n, uint64_t value, unsigned int decimals);
/*
 * A sample whose label set is written already: set[0..len) is `a="x",b="y"` with the values
 * escaped (ft_metrics_buf_escape); len 0 for none. For many samples of one label set (peers).
 */
void ft_metrics_sample_set(struct ft_metrics_writer *w, const char *set, size_t len,
			   uint64_t value);
/* Ends the exposition ("# EOF" in OpenMetrics). 0, or the writer's error (nothing usable). */
int ft_metrics_writer_finish(struct ft_metrics_writer *w);
/* The Content-Type of a format, without charset. */
const char *ft_metrics_content_type(enum ft_metrics_format format);

/* ---- the request parser ----------------------------------------------------------------- */

/*
 * What the bytes received so far say: FT_METRICS_HEAD_MORE (no end yet, room for more), or
 * FT_METRICS_HEAD_DONE with *head_len the length through the blank line, or an HTTP status to
 * answer at once: 400 (a byte no head may hold: a control character, NUL), 414 (no line end in
 * FT_METRICS_MAX_HEAD bytes: the request line alone is too long), 431 (the head is longer).
 */
enum { FT_METRICS_HEAD_MORE = 0, FT_METRICS_HEAD_DONE = 1 };
int ft_metrics_head_scan(const char *buf, size_t len, size_t *head_len);

struct ft_metrics_request {
	/*
	 * 200: serve the metrics. Else the error to answer: 400 (malformed request line or
	 * header, HTTP/1.1 without exactly one Host), 404 (a path other than /metrics), 405 (a
	 * method other than GET), 505 (an HTTP version other than 1.x).
	 */
	int status;
	enum ft_metrics_format format; /* for 200: what Accept prefers */
};

/* Interprets a complete head (as ft_metrics_head_scan() delimited it). */
void ft_metrics_parse_request(const char *head, size_t len, struct ft_metrics_request *req);

/*
 * The format an Accept value asks for: OpenMetrics 1.0.0 when its quality is above 0 and not
 * below that of the text format (text/plain, version 0.0.4 or none, text/ *, * / *); the text
 * format otherwise, also for a value we cannot parse.
 */
enum ft_metrics_format ft_metrics_negotiate(const char *accept, size_t len);

/*
 * The status line and headers of an answer (Connection: close, Content-Length: body_len;
 * Allow: GET with 405), through the blank line, into buf. The length, or 0 if cap is short
 * (256 bytes always suffice).
 */
size_t ft_metrics_response_head(char *buf, size_t cap, int status, enum ft_metrics_format format,
				size_t body_len);
/* A short text body for an error status ("404 Not Found: only /metrics is served\n"). */
const char *ft_metrics_error_body(int status);
/* "Not Found" for 404, "" for a status we never send. */
const char *ft_metrics_reason(int status);

/* ---- the server ------------------------------------------------------------------------- */

struct ft_metrics_server;

/*
 * Writes the caller's families into w: 0 when done, FT_METRICS_MORE to be called again with the
 * same w and *state on a later loop iteration (packets are served in between), or a negative
 * errno (the answer is 500). *state is NULL at the first call; what the collector keeps there
 * to go on is its own: it frees it before it returns 0 or an error, and in cancel() when the
 * build is abandoned (the server closes). A collector should return FT_METRICS_MORE once
 * uv_hrtime() passes w->slice_deadline_ns (the server sets it FT_METRICS_SLICE_NS, or the
 * config's slice_ns, after the start of each call).
 */
enum { FT_METRICS_MORE = 1 };
#define FT_METRICS_SLICE_NS 1000000ULL
typedef int (*ft_metrics_collect_fn)(void *arg, struct ft_metrics_writer *w, void **state);
typedef void (*ft_metrics_cancel_fn)(void *arg, void *state);

/* The statuses the server answers with, in the order of its counters. */
#define FT_METRICS_STATUSES(X) X(200) X(400) X(404) X(405) X(408) X(414) X(431) X(500) X(503) X(505)

enum ft_metrics_status_index {
#define FT_METRICS_STATUS_ENUM(code) FT_METRICS_STATUS_##code,
	FT_METRICS_STATUSES(FT_METRICS_STATUS_ENUM)
#undef FT_METRICS_STATUS_ENUM
		FT_METRICS_STATUS_COUNT,
};

struct ft_metrics_server_counters {
	uint64_t responses[FT_METRICS_STATUS_COUNT]; /* by status, see FT_METRICS_STATUSES */
	uint64_t write_timeouts;   /* answers not taken by the client in time: closed */
	uint64_t last_duration_ns; /* the loop's time building the last 200's body, all slices */
	uint64_t last_longest_ns;  /* its longest slice: the longest the loop was kept */
	/* The same in CPU time of the loop's thread: without the time the thread was preempted. */
	uint64_t last_cpu_ns, last_longest_cpu_ns;
	uint64_t last_slices; /* how many */
	uint64_t last_bytes;  /* its size */
};

/* The status code of a counter index (200 for FT_METRICS_STATUS_200). */
int ft_metrics_status_code(enum ft_metrics_status_index i);

struct ft_metrics_server_config {
	const struct sockaddr *addr; /* AF_INET or AF_INET6; port 0: any free one */
	ft_metrics_collect_fn collect;
	ft_metrics_cancel_fn cancel; /* may be NULL when collect never returns FT_METRICS_MORE */
	void *arg;
	/* 0: the defaults above. Tests shorten the timeouts and lower the limits. */
	uint64_t head_timeout_ms;
	uint64_t write_timeout_ms;
	unsigned int max_clients;
	unsigned int max_responses;
	uint64_t slice_ns;
};

/*
 * Binds and listens (so that a busy port or a bad address fails at start, and before any
 * privilege is dropped). 0 and *out, or a negative errno (libuv's) and nothing left behind.
 */
int ft_metrics_server_create(struct ft_metrics_server **out, uv_loop_t *loop,
			     const struct ft_metrics_server_config *cfg);
/* The address bound, "127.0.0.1:9586" or "[::1]:9586" (the real port when 0 was asked). */
const char *ft_metrics_server_address(const struct ft_metrics_server *s);
uint16_t ft_metrics_server_port(const struct ft_metrics_server *s);
void ft_metrics_server_get_counters(const struct ft_metrics_server *s,
				    struct ft_metrics_server_counters *out);
/* Closes the listener and every connection; cb(arg) once the memory is freed (cb may be NULL). */
void ft_metrics_server_close(struct ft_metrics_server *s, void (*cb)(void *arg), void *arg);

/*
 * "ADDR:PORT" as MetricsListen and --metrics-listen take it: a numeric IPv4 address, or an IPv6
 * one in brackets, and a port 1-65535. 0 and *ss, or -EINVAL.
 */
int ft_metrics_parse_listen(const char *s, struct sockaddr_storage *ss);

#endif
