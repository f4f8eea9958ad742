// SPDX-License-Identifier: MIT
/*
 * The metrics endpoint's server: a uv_tcp_t listener on the worker's loop, and a fixed array of
 * connection slots allocated with it, so that no client makes the server allocate anything but
 * the body of a 200 (whose size is that of our own state, not of anything the client sends).
 *
 * A connection's states:
 *   READING   the head arrives into the slot's fixed buffer (FT_METRICS_MAX_HEAD bytes), under
 *             the head timer; a complete head is parsed, then answered (an error at once)
 *   WAITING   a GET /metrics while another body is being built, or FT_METRICS_MAX_RESPONSES
 *             bodies are being written: waits in a queue (each is bounded by the write timeout)
 *   BUILDING  its body is being built: the collector works in slices of about
 *             FT_METRICS_SLICE_NS, one per loop iteration (a uv_idle_t), so that packets are
 *             served between them; one body is built at a time
 *   WRITING   the answer is being written (one uv_write), under the write timer
 *   LINGER    the answer is written and our side shut down; what the client still sends is
 *             read and thrown away until it closes (or a second passes), so that closing with
 *             unread data does not reset the connection before the client read the answer
 *   CLOSING   handles closing; FREE once both closed
 * Connections beyond max_clients take one of a few extra slots just long enough to be answered
 * 503 with a non-blocking write and closed; when even those are taken, the listener pauses
 * (libuv stops accepting until the next uv_accept) and the kernel's backlog holds the rest.
 *
 * Each response counts once by status (ft_metrics_server_counters): the server's own families
 * (flowtun_metrics_*) follow the caller's in every 200.
 */
#include "config.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/sockaddr.h"
#include "tun/ctl/metrics.h"

enum {
	REJECT_SLOTS = 4,  /* slots for connections answered 503 */
	LINGER_MS = 1000,  /* reading what follows an answer, at most */
	RESPONSE_CAP = 384 /* the status line and headers, or a whole error answer */
};

enum conn_state { C_FREE, C_READING, C_WAITING, C_BUILDING, C_WRITING, C_LINGER, C_CLOSING };

struct conn {
	uv_tcp_t tcp;
	uv_timer_t timer;
	uv_write_t wreq;
	uv_shutdown_t sreq;
	struct ft_metrics_server *srv;
	enum conn_state state;
	int open_handles; /* handles still to close; the slot is free at 0 */
	bool client;	  /* counted in n_clients (not a 503 being sent) */
	struct ft_metrics_request req;
	struct conn *next_waiting;
	char *body; /* a 200's body: ours until the write callback */
	size_t len;
	char head[FT_METRICS_MAX_HEAD];
	char resp[RESPONSE_CAP];
};

/* The body being built, slice by slice. */
struct build {
	struct conn *c; /* NULL: none */
	struct ft_metrics_writer w;
	void *state; /* the collector's */
	uint64_t loop_ns, longest_ns, cpu_ns, longest_cpu_ns, slices;
};

struct ft_metrics_server {
	uv_loop_t *loop;
	uv_tcp_t listener;
	uv_idle_t idle;	    /* runs the next slice of the build */
	int handles_open;   /* listener and idle: the memory goes once both closed */
	bool accept_paused; /* a connection waits in libuv for a free slot */
	bool closing;
	void (*close_cb)(void *arg);
	void *close_arg;
	ft_metrics_collect_fn collect;
	ft_metrics_cancel_fn cancel;
	void *arg;
	struct build build;
	uint64_t head_timeout_ms, write_timeout_ms, slice_ns;
	unsigned int max_clients, max_responses;
	unsigned int n_clients, n_responses;
	size_t size_hint; /* the last body's size: the next one is about as big */
	struct ft_metrics_server_counters c;
	struct conn *waiting_head, *waiting_tail;
	char address[64];
	uint16_t port;
	char discard[FT_METRICS_MAX_HEAD]; /* what lingering clients send, thrown away */
	size_t n_slots;
	struct conn slots[];
};

static void count(struct ft_metrics_server *s, int status)
{
	for (int i = 0; i < FT_METRICS_STATUS_COUNT; i++)
		if (ft_metrics_status_code((enum ft_metrics_status_index)i) == status)
			s->c.responses[i]++;
}

static void maybe_done(struct ft_metrics_server *s)
{
	void (*cb)(void *) = s->close_cb;
	void *arg = s->close_arg;

	if (!s->closing || s->handles_open)
		return;
	for (size_t i = 0; i < s->n_slots; i++)
		if (s->slots[i].state != C_FREE)
			return;
	free(s);
	if (cb)
		cb(arg);
}

static void accept_next(struct ft_metrics_server *s);
static void respond_error(struct conn *c, int status);
static void serve_waiting(struct ft_metrics_server *s);
static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf);
static void on_idle(uv_idle_t *h);

static void on_conn_closed(uv_handle_t *h)
{
	struct conn *c = h->data;
	struct ft_metrics_server *s = c->srv;

	if (--c->open_handles > 0)
		return;
	c->state = C_FREE;
	if (s->closing) {
		maybe_done(s);
	} else if (s->accept_paused) {
		s->accept_paused = false;
		accept_next(s);
	}
}

static void unqueue(struct conn *c)
{
	struct ft_metrics_server *s = c->srv;
	struct conn **pp = &s->waiting_head, *prev = NULL;

	for (; *pp; prev = *pp, pp = &(*pp)->next_waiting) {
		if (*pp != c)
			continue;
		*pp = c->next_waiting;
		if (s->waiting_tail == c)
			s->waiting_tail = prev;
		c->next_waiting = NULL;
		return;
	}
}

/* Drops the build of c's body: the server closes. */
static void abandon_build(struct ft_metrics_server *s)
{
	struct build *b = &s->build;

	uv_idle_stop(&s->idle);
	if (b->state && s->cancel)
		s->cancel(s->arg, b->state);
	ft_metrics_buf_release(&b->w.out);
	s->c.responses[FT_METRICS_STATUS_200]--; /* counted when it began, never sent */
	s->n_responses--;
	memset(b, 0, sizeof(*b));
}

static void conn_close(struct conn *c)
{
	if (c->state == C_CLOSING || c->state == C_FREE)
		return;
	if (c->state == C_WAITING)
		unqueue(c);
	if (c->state == C_BUILDING)
		abandon_build(c->srv);
	if (c->client)
		c->srv->n_clients--;
	c->client = false;
	c->state = C_CLOSING;
	uv_timer_stop(&c->timer);
	/* A write in flight is cancelled: its callback (ECANCELED) frees the body first. */
	uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
	uv_close((uv_handle_t *)&c->timer, on_conn_closed);
}

static void on_timer(uv_timer_t *t)
{
	struct conn *c = t->data;

	switch (c->state) {
	case C_READING:
		uv_read_stop((uv_stream_t *)&c->tcp);
		respond_error(c, 408);
		break;
	case C_WAITING:
	case C_WRITING:
		c->srv->c.write_timeouts++;
		conn_close(c);
		break;
	default:
		conn_close(c);
		break;
	}
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct conn *c = h->data;

	(void)suggested;
	if (c->state == C_READING) {
		*buf = uv_buf_init(c->head + c->len, (unsigned int)(sizeof(c->head) - c->len));
	} else {
		/* Lingering: what arrives is not ours to keep. */
		*buf = uv_buf_init(c->srv->discard, sizeof(c->srv->discard));
	}
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
	(void)req;
	(void)status; /* a failed shutdown: the linger timer or the client's close ends it */
}

static void on_written(uv_write_t *req, int status)
{
	struct conn *c = req->data;
	struct ft_metrics_server *s = c->srv;

	if (c->body) {
		free(c->body);
		c->body = NULL;
		s->n_responses--;
		if (!s->closing)
			serve_waiting(s);
	}
	if (c->state != C_WRITING)
		return; /* closing: the write was cancelled */
	if (status < 0 || uv_shutdown(&c->sreq, (uv_stream_t *)&c->tcp, on_shutdown) < 0) {
		conn_close(c);
		return;
	}
	c->state = C_LINGER;
	uv_timer_start(&c->timer, on_timer, LINGER_MS, 0);
	if (uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, on_read) < 0)
		conn_close(c);
}

/* Writes bufs (the answer) and moves to WRITING under the write timer. */
static void send_answer(struct conn *c, uv_buf_t *bufs, unsigned int n)
{
	c->state = C_WRITING;
	c->wreq.data = c;
	uv_timer_start(&c->timer, on_timer, c->srv->write_timeout_ms, 0);
	if (uv_write(&c->wreq, (uv_stream_t *)&c->tcp, bufs, n, on_written) < 0) {
		if (c->body) {
			free(c->body);
			c->body = NULL;
			c->srv->n_responses--;
		}
		conn_close(c);
	}
}

static void respond_error(struct conn *c, int status)
{
	const char *body = ft_metrics_error_body(status);
	size_t blen = strlen(body), hlen;
	uv_buf_t buf;

	count(c->srv, status);
	hlen = ft_metrics_response_head(c->resp, sizeof(c->resp), status, FT_METRICS_TEXT, blen);
	if (hlen == 0 || hlen + blen > sizeof(c->resp)) {
		conn_close(c);
		return;
	}
	memcpy(c->resp + hlen, body, blen);
	buf = uv_buf_init(c->resp, (unsigned int)(hlen + blen));
	send_answer(c, &buf, 1);
}

static const struct ft_metrics_family fam_responses = {
	"flowtun_metrics_requests", FT_METRICS_COUNTER, NULL,
	"Requests to this endpoint by the HTTP status of the answer (503: over the client limit)"
};
static const struct ft_metrics_family fam_timeouts = {
	"flowtun_metrics_write_timeouts", FT_METRICS_COUNTER, NULL,
	"Answers the client did not take within the write timeout: connection closed"
};
static const struct ft_metrics_family fam_duration = {
	"flowtun_metrics_scrape_duration_seconds", FT_METRICS_GAUGE, "seconds",
	"Time the packet loop spent building the previous scrape's answer, all slices"
};
static const struct ft_metrics_family fam_longest = {
	"flowtun_metrics_scrape_longest_slice_seconds", FT_METRICS_GAUGE, "seconds",
	"The longest the previous scrape kept the packet loop busy at once"
};
static const struct ft_metrics_family fam_cpu = {
	"flowtun_metrics_scrape_cpu_seconds", FT_METRICS_GAUGE, "seconds",
	"CPU time of the packet loop's thread building the previous scrape's answer"
};
static const struct ft_metrics_family fam_bytes = { "flowtun_metrics_scrape_size_bytes",
						    FT_METRICS_GAUGE, "bytes",
						    "Size of the previous scrape's answer" };

static void write_own(struct ft_metrics_server *s, struct ft_metrics_writer *w)
{
	char code[8];
	struct ft_metrics_label l = { "code", code };

	ft_metrics_family(w, &fam_responses);
	for (int i = 0; i < FT_METRICS_STATUS_COUNT; i++) {
		snprintf(code, sizeof(code), "%d",
			 ft_metrics_status_code((enum ft_metrics_status_index)i));
		ft_metrics_sample(w, &l, 1, s->c.responses[i]);
	}
	ft_metrics_family(w, &fam_timeouts);
	ft_metrics_sample(w, NULL, 0, s->c.write_timeouts);
	ft_metrics_family(w, &fam_duration);
	ft_metrics_sample_fixed(w, NULL, 0, s->c.last_duration_ns, 9);
	ft_metrics_family(w, &fam_longest);
	ft_metrics_sample_fixed(w, NULL, 0, s->c.last_longest_ns, 9);
	ft_metrics_family(w, &fam_cpu);
	ft_metrics_sample_fixed(w, NULL, 0, s->c.last_cpu_ns, 9);
	ft_metrics_family(w, &fam_bytes);
	ft_metrics_sample(w, NULL, 0, s->c.last_bytes);
}

/* The last slice is done: the server's own families, then the answer (or a 500). */
static void build_done(struct ft_metrics_server *s, int rc)
{
	struct build *b = &s->build;
	struct conn *c = b->c;
	size_t hlen;
	uv_buf_t bufs[2];

	if (rc == 0) {
		write_own(s, &b->w); /* the previous scrape's cost: this one is not done yet */
		rc = ft_metrics_writer_finish(&b->w);
	}
	if (rc < 0) {
		ft_metrics_buf_release(&b->w.out);
		s->n_responses--;
		s->c.responses[FT_METRICS_STATUS_200]--;
		memset(b, 0, sizeof(*b));
		respond_error(c, 500);
		return;
	}
	s->size_hint = b->w.out.len;
	s->c.last_duration_ns = b->loop_ns;
	s->c.last_longest_ns = b->longest_ns;
	s->c.last_cpu_ns = b->cpu_ns;
	s->c.last_longest_cpu_ns = b->longest_cpu_ns;
	s->c.last_slices = b->slices;
	s->c.last_bytes = b->w.out.len;
	c->body = b->w.out.data;
	hlen = ft_metrics_response_head(c->resp, sizeof(c->resp), 200, c->req.format, b->w.out.len);
	bufs[0] = uv_buf_init(c->resp, (unsigned int)hlen);
	bufs[1] = uv_buf_init(c->body, (unsigned int)b->w.out.len);
	memset(b, 0, sizeof(*b));
	send_answer(c, bufs, 2);
}

static uint64_t thread_cpu_ns(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) < 0)
		return 0;
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* One slice of the build; the idle handle runs the next while the collector wants more. */
static void build_step(struct ft_metrics_server *s)
{
	struct build *b = &s->build;
	uint64_t t0 = uv_hrtime(), c0 = thread_cpu_ns(), dt, dc;
	int rc;

	b->w.slice_deadline_ns = t0 + s->slice_ns;
	rc = s->collect(s->arg, &b->w, &b->state);
	dt = uv_hrtime() - t0;
	dc = thread_cpu_ns() - c0;
	b->loop_ns += dt;
	b->longest_ns = dt > b->longest_ns ? dt : b->longest_ns;
	b->cpu_ns += dc;
	b->longest_cpu_ns = dc > b->longest_cpu_ns ? dc : b->longest_cpu_ns;
	b->slices++;
	if (rc == FT_METRICS_MORE) {
		uv_idle_start(&s->idle, on_idle);
		return;
	}
	uv_idle_stop(&s->idle);
	b->state = NULL;
	build_done(s, rc);
	serve_waiting(s);
}

static void on_idle(uv_idle_t *h)
{
	struct ft_metrics_server *s = h->data;

	if (s->build.c)
		build_step(s);
	else
		uv_idle_stop(h);
}

/* Starts building c's body (the first slice runs now). */
static void serve(struct conn *c)
{
	struct ft_metrics_server *s = c->srv;
	struct build *b = &s->build;

	s->n_responses++;
	count(s, 200); /* so that the answer counts itself */
	c->state = C_BUILDING;
	uv_timer_stop(&c->timer);
	memset(b, 0, sizeof(*b));
	b->c = c;
	ft_metrics_writer_init(&b->w, c->req.format, s->size_hint + s->size_hint / 8);
	build_step(s);
}

static void serve_waiting(struct ft_metrics_server *s)
{
	while (s->waiting_head && !s->build.c && s->n_responses < s->max_responses) {
		struct conn *c = s->waiting_head;

		s->waiting_head = c->next_waiting;
		if (!s->waiting_head)
			s->waiting_tail = NULL;
		c->next_waiting = NULL;
		serve(c);
	}
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
	struct conn *c = stream->data;
	struct ft_metrics_server *s = c->srv;
	size_t head_len = 0;
	int rc;

	(void)buf;
	if (nread < 0) {
		/* The client closed or failed: nothing to answer. */
		conn_close(c);
		return;
	}
	if (c->state != C_READING || nread == 0)
		return;
	c->len += (size_t)nread;
	rc = ft_metrics_head_scan(c->head, c->len, &head_len);
	if (rc == FT_METRICS_HEAD_MORE)
		return;
	uv_read_stop(stream);
	uv_timer_stop(&c->timer);
	if (rc != FT_METRICS_HEAD_DONE) {
		respond_error(c, rc);
		return;
	}
	ft_metrics_parse_request(c->head, head_len, &c->req);
	if (c->req.status != 200) {
		respond_error(c, c->req.status);
		return;
	}
	if (!s->build.c && s->n_responses < s->max_responses) {
		serve(c);
		return;
	}
	/*
	 * The wait is bounded by the answers ahead, each by the write timeout; the timer is a
	 * safety net. serve() starts the write timer afresh.
	 */
	c->state = C_WAITING;
	uv_timer_start(&c->timer, on_timer,
		       s->write_timeout_ms * (s->max_clients / s->max_responses + 1), 0);
	if (s->waiting_tail)
		s->waiting_tail->next_waiting = c;
	else
		s->waiting_head = c;
	s->waiting_tail = c;
}

/* Over the client limit: 503 if the socket takes it now, and close. */
static void reject(struct conn *c)
{
	const char *body = ft_metrics_error_body(503);
	size_t blen = strlen(body);
	size_t hlen =
		ft_metrics_response_head(c->resp, sizeof(c->resp), 503, FT_METRICS_TEXT, blen);
	uv_buf_t buf;

	count(c->srv, 503);
	if (hlen && hlen + blen <= sizeof(c->resp)) {
		memcpy(c->resp + hlen, body, blen);
		buf = uv_buf_init(c->resp, (unsigned int)(hlen + blen));
		uv_try_write((uv_stream_t *)&c->tcp, &buf, 1);
	}
	conn_close(c);
}

static struct conn *free_slot(struct ft_metrics_server *s, bool client)
{
	/* The first max_clients slots are for clients, the rest for rejections. */
	size_t from = client ? 0 : s->max_clients, to = client ? s->max_clients : s->n_slots;

	for (size_t i = from; i < to; i++)
		if (s->slots[i].state == C_FREE)
			return &s->slots[i];
	return NULL;
}

static void accept_next(struct ft_metrics_server *s)
{
	bool client = s->n_clients < s->max_clients;
	struct conn *c = free_slot(s, client);

	if (!c) {
		s->accept_paused = true;
		return;
	}
	memset(c, 0, offsetof(struct conn, head));
	c->srv = s;
	uv_tcp_init(s->loop, &c->tcp);
	uv_timer_init(s->loop, &c->timer);
	c->tcp.data = c->timer.data = c;
	c->open_handles = 2;
	c->state = C_READING;
	if (uv_accept((uv_stream_t *)&s->listener, (uv_stream_t *)&c->tcp) < 0) {
		conn_close(c);
		return;
	}
	if (!client) {
		reject(c);
		return;
	}
	c->client = true;
	s->n_clients++;
	uv_timer_start(&c->timer, on_timer, s->head_timeout_ms, 0);
	if (uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, on_read) < 0)
		conn_close(c);
}

static void on_connection(uv_stream_t *listener, int status)
{
	struct ft_metrics_server *s = listener->data;

	if (status < 0 || s->closing)
		return;
	accept_next(s);
}

static void format_address(struct ft_metrics_server *s)
{
	struct sockaddr_storage ss;
	int len = sizeof(ss);

	if (uv_tcp_getsockname(&s->listener, (struct sockaddr *)&ss, &len) < 0)
		return;
	s->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
						 : ((struct sockaddr_in *)&ss)->sin_port);
	ft_sockaddr_format(s->address, sizeof(s->address), (struct sockaddr *)&ss);
}

static void on_handle_closed(uv_handle_t *h)
{
	struct ft_metrics_server *s = h->data;

	s->handles_open--;
	maybe_done(s);
}

int ft_metrics_server_create(struct ft_metrics_server **out, uv_loop_t *loop,
			     const struct ft_metrics_server_config *cfg)
{
	unsigned int clients = cfg->max_clients ? cfg->max_clients : FT_METRICS_MAX_CLIENTS;
	size_t n = clients + REJECT_SLOTS;
	struct ft_metrics_server *s;
	int rc;

	if (!cfg->collect || !cfg->addr ||
	    (cfg->addr->sa_family != AF_INET && cfg->addr->sa_family != AF_INET6))
		return -EINVAL;
	s = calloc(1, sizeof(*s) + n * sizeof(s->slots[0]));
	if (!s)
		return -ENOMEM;
	s->loop = loop;
	s->collect = cfg->collect;
	s->cancel = cfg->cancel;
	s->arg = cfg->arg;
	s->head_timeout_ms = cfg->head_timeout_ms ? cfg->head_timeout_ms
						  : FT_METRICS_HEAD_TIMEOUT_MS;
	s->write_timeout_ms = cfg->write_timeout_ms ? cfg->write_timeout_ms
						    : FT_METRICS_WRITE_TIMEOUT_MS;
	s->max_clients = clients;
	s->max_responses = cfg->max_responses ? cfg->max_responses : FT_METRICS_MAX_RESPONSES;
	s->slice_ns = cfg->slice_ns ? cfg->slice_ns : FT_METRICS_SLICE_NS;
	s->n_slots = n;
	rc = uv_tcp_init(loop, &s->listener);
	if (rc < 0) {
		free(s);
		return rc;
	}
	s->listener.data = s;
	uv_idle_init(loop, &s->idle);
	s->idle.data = s;
	/* libuv reports a failed bind (EADDRINUSE, EADDRNOTAVAIL) from uv_listen. */
	rc = uv_tcp_bind(&s->listener, cfg->addr, 0);
	if (rc == 0)
		rc = uv_listen((uv_stream_t *)&s->listener, 64, on_connection);
	if (rc < 0) {
		s->handles_open = 2;
		s->closing = true;
		uv_close((uv_handle_t *)&s->listener, on_handle_closed);
		uv_close((uv_handle_t *)&s->idle, on_handle_closed);
		return rc;
	}
	s->handles_open = 2;
	format_address(s);
	*out = s;
	return 0;
}

const char *ft_metrics_server_address(const struct ft_metrics_server *s)
{
	return s->address;
}

uint16_t ft_metrics_server_port(const struct ft_metrics_server *s)
{
	return s->port;
}

void ft_metrics_server_get_counters(const struct ft_metrics_server *s,
				    struct ft_metrics_server_counters *out)
{
	*out = s->c;
}

void ft_metrics_server_close(struct ft_metrics_server *s, void (*cb)(void *arg), void *arg)
{
	if (s->closing)
		return;
	s->closing = true;
	s->close_cb = cb;
	s->close_arg = arg;
	for (size_t i = 0; i < s->n_slots; i++)
		conn_close(&s->slots[i]);
	uv_close((uv_handle_t *)&s->listener, on_handle_closed);
	uv_close((uv_handle_t *)&s->idle, on_handle_closed);
}
