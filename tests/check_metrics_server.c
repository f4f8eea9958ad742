// SPDX-License-Identifier: MIT
/*
 * The metrics server over real loopback TCP (no root): the server runs on the test's loop, a
 * client thread talks to it with plain blocking sockets and records what it got; the main
 * thread asserts once the client is done (Check's assertions belong to the test's thread).
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <check.h>
#include <uv.h>

#include "tun/ctl/metrics.h"

enum { MAX_ANSWERS = 8, ANSWER_CAP = 64 << 10 };

struct answer {
	int status;	       /* of the status line; 0: none (closed, reset or timed out) */
	size_t len;	       /* bytes read in all */
	size_t body_len;       /* after the head */
	long content_len;      /* the Content-Length header, -1 if none */
	char text[ANSWER_CAP]; /* the first bytes, NUL-terminated */
};

struct fixture {
	uv_loop_t loop;
	uv_async_t done;
	uv_thread_t thread;
	struct ft_metrics_server *srv;
	uint16_t port;
	void (*client)(struct fixture *f);
	size_t body_size; /* collect() pads its answer to about this many bytes */
	int collect_rc;
	int slices;   /* collect() asks for this many calls (FT_METRICS_MORE) */
	bool forever; /* ... or never ends */
	int cancels;  /* cancel() calls */
	struct ft_metrics_server_counters counters;
	struct answer a[MAX_ANSWERS];
	size_t n;
};

static const struct ft_metrics_family fam = { "x_samples", FT_METRICS_GAUGE, NULL, "Samples" };
static const struct ft_metrics_family pad = { "x_pad", FT_METRICS_GAUGE, NULL, "Padding" };

static int collect(void *arg, struct ft_metrics_writer *w, void **state)
{
	struct fixture *f = arg;
	int *slice = *state;

	if (f->collect_rc)
		return f->collect_rc;
	if (f->slices > 1 || f->forever) {
		/* x_slice{n="N"} once per call, in one family: the calls' order shows. */
		static const struct ft_metrics_family sf = { "x_slice", FT_METRICS_GAUGE, NULL,
							     "Slices" };
		char n[16];
		struct ft_metrics_label l = { "n", n };

		if (!slice) {
			if (!(slice = calloc(1, sizeof(*slice))))
				return -ENOMEM;
			*state = slice;
			ft_metrics_family(w, &sf);
		}
		snprintf(n, sizeof(n), "%d", *slice);
		ft_metrics_sample(w, &l, 1, 1);
		if (f->forever || ++*slice < f->slices)
			return FT_METRICS_MORE;
		free(slice);
		*state = NULL;
	}
	ft_metrics_family(w, &fam);
	ft_metrics_sample(w, NULL, 0, 42);
	if (f->body_size) {
		static const char line[] =
			"x_pad{n=\"0123456789012345678901234567890123456789\"} 1\n";

		ft_metrics_family(w, &pad);
		/* Not valid as an exposition (duplicates), but the server only moves bytes. */
		while (w->out.len < f->body_size && !w->out.err)
			ft_metrics_buf_append(&w->out, line, sizeof(line) - 1);
	}
	return 0;
}

static void cancel(void *arg, void *state)
{
	struct fixture *f = arg;

	f->cancels++;
	free(state);
}

/* ---- the client's side ---- */

static int dial(uint16_t port, int rcvbuf)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(port) };
	struct timeval tv = { .tv_sec = 10 };
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	if (fd < 0)
		return -1;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (rcvbuf)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static void send_all(int fd, const char *s, size_t n)
{
	while (n) {
		ssize_t w = send(fd, s, n, MSG_NOSIGNAL);

		if (w <= 0)
			return;
		s += w;
		n -= (size_t)w;
	}
}

/* Reads until the server closes (or resets, or 10 s pass) into the next answer slot. */
static struct answer *read_answer(struct fixture *f, int fd)
{
	struct answer *a = &f->a[f->n < MAX_ANSWERS ? f->n++ : MAX_ANSWERS - 1];
	char chunk[16384];
	const char *end, *cl;

	memset(a, 0, sizeof(*a));
	a->content_len = -1;
	for (;;) {
		ssize_t r = recv(fd, chunk, sizeof(chunk), 0);

		if (r <= 0)
			break;
		if (a->len < ANSWER_CAP - 1) {
			size_t k = (size_t)r < ANSWER_CAP - 1 - a->len ? (size_t)r
								       : ANSWER_CAP - 1 - a->len;

			memcpy(a->text + a->len, chunk, k);
		}
		a->len += (size_t)r;
	}
	a->text[a->len < ANSWER_CAP - 1 ? a->len : ANSWER_CAP - 1] = '\0';
	sscanf(a->text, "HTTP/1.1 %d ", &a->status);
	end = strstr(a->text, "\r\n\r\n");
	if (end)
		a->body_len = a->len - (size_t)(end + 4 - a->text);
	cl = strstr(a->text, "\r\nContent-Length: ");
	if (cl)
		a->content_len = strtol(cl + 18, NULL, 10);
	return a;
}

static void request(struct fixture *f, const char *req)
{
	int fd = dial(f->port, 0);

	if (fd < 0) {
		f->n++;
		return;
	}
	send_all(fd, req, strlen(req));
	read_answer(f, fd);
	close(fd);
}

#define GET "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"

/* ---- the server's side ---- */

static void client_main(void *arg)
{
	struct fixture *f = arg;

	f->client(f);
	uv_async_send(&f->done);
}

static void on_done(uv_async_t *a)
{
	struct fixture *f = a->data;

	ft_metrics_server_get_counters(f->srv, &f->counters);
	/* Connections the client left open are closed with the server. */
	ft_metrics_server_close(f->srv, NULL, NULL);
	uv_close((uv_handle_t *)a, NULL);
}

static void run(struct fixture *f, struct ft_metrics_server_config *cfg)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cfg->addr = (struct sockaddr *)&sin;
	cfg->collect = collect;
	cfg->cancel = cancel;
	cfg->arg = f;
	ck_assert_int_eq(uv_loop_init(&f->loop), 0);
	ck_assert_int_eq(ft_metrics_server_create(&f->srv, &f->loop, cfg), 0);
	f->port = ft_metrics_server_port(f->srv);
	ck_assert_uint_gt(f->port, 0);
	ck_assert_int_eq(uv_async_init(&f->loop, &f->done, on_done), 0);
	f->done.data = f;
	ck_assert_int_eq(uv_thread_create(&f->thread, client_main, f), 0);
	ck_assert_int_eq(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
	ck_assert_int_eq(uv_thread_join(&f->thread), 0);
	ck_assert_int_eq(uv_loop_close(&f->loop), 0);
}

static struct fixture *fixture(void (*client)(struct fixture *f))
{
	struct fixture *f = calloc(1, sizeof(*f));

	ck_assert_ptr_nonnull(f);
	f->client = client;
	return f;
}

/* ---- the tests ---- */

static void client_get(struct fixture *f)
{
	request(f, GET);
	request(f, "GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: "
		   "application/openmetrics-text;version=1.0.0,text/plain;q=0.5\r\n\r\n");
	/* A request followed by more bytes: the answer must still arrive whole. */
	{
		static char junk[3000];
		int fd = dial(f->port, 0);

		memset(junk, 'j', sizeof(junk));
		send_all(fd, GET, strlen(GET));
		send_all(fd, junk, sizeof(junk));
		read_answer(f, fd);
		close(fd);
	}
}

START_TEST(test_get)
{
	struct fixture *f = fixture(client_get);
	struct ft_metrics_server_config cfg = { 0 };

	run(f, &cfg);
	ck_assert_uint_eq(f->n, 3);
	for (size_t i = 0; i < 3; i++) {
		ck_assert_int_eq(f->a[i].status, 200);
		ck_assert_int_eq(f->a[i].content_len, (long)f->a[i].body_len);
		ck_assert_ptr_nonnull(strstr(f->a[i].text, "\r\n\r\n# HELP x_samples Samples\n"));
		ck_assert_ptr_nonnull(strstr(f->a[i].text, "\nx_samples 42\n"));
		ck_assert_ptr_nonnull(strstr(f->a[i].text, "\nflowtun_metrics_requests_total{"));
	}
	ck_assert_ptr_nonnull(strstr(f->a[0].text, "Content-Type: text/plain; version=0.0.4"));
	ck_assert_ptr_null(strstr(f->a[0].text, "# EOF"));
	ck_assert_ptr_nonnull(strstr(f->a[1].text, "Content-Type: application/openmetrics-text"));
	ck_assert_str_eq(f->a[1].text + f->a[1].len - 6, "# EOF\n");
	/* Each answer counts itself: the second says 2 scrapes so far. */
	ck_assert_ptr_nonnull(
		strstr(f->a[1].text, "flowtun_metrics_requests_total{code=\"200\"} 2"));
	ck_assert_uint_eq(f->counters.responses[FT_METRICS_STATUS_200], 3);
	ck_assert_uint_gt(f->counters.last_bytes, 0);
	free(f);
}
END_TEST

static const struct {
	const char *req;
	int status;
} bad[] = {
	{ "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc", 405 },
	{ "GET /other HTTP/1.1\r\nHost: x\r\n\r\n", 404 },
	{ "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 400 },
	{ "GET /metrics HTTP/1.1\r\n\r\n", 400 },
	{ "GET /metrics HTTP/2.0\r\nHost: x\r\n\r\n", 505 },
};

static void client_bad(struct fixture *f)
{
	char *big = malloc(3 * FT_METRICS_MAX_HEAD);

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		request(f, bad[i].req);
	/* Headers past the limit (431), then a request line past it (414). */
	memset(big, 'a', 3 * FT_METRICS_MAX_HEAD - 1);
	big[3 * FT_METRICS_MAX_HEAD - 1] = '\0';
	memcpy(big, "GET /metrics HTTP/1.1\r\nX-Pad: ", 30);
	request(f, big);
	memcpy(big, "GET /aaaaaaaaaaaaaaaaaaaaaaaaa", 30);
	request(f, big);
	free(big);
}

START_TEST(test_bad_requests)
{
	struct fixture *f = fixture(client_bad);
	struct ft_metrics_server_config cfg = { 0 };
	size_t n = sizeof(bad) / sizeof(bad[0]);

	run(f, &cfg);
	ck_assert_uint_eq(f->n, n + 2);
	for (size_t i = 0; i < n; i++) {
		ck_assert_msg(f->a[i].status == bad[i].status, "request %zu: %d, not %d", i,
			      f->a[i].status, bad[i].status);
		ck_assert_int_eq(f->a[i].content_len, (long)f->a[i].body_len);
		/* The body says what went wrong, starting with the status. */
		ck_assert_int_eq(atoi(f->a[i].text + f->a[i].len - f->a[i].body_len),
				 bad[i].status);
	}
	ck_assert_ptr_nonnull(strstr(f->a[0].text, "\r\nAllow: GET\r\n"));
	ck_assert_int_eq(f->a[n].status, 431);
	ck_assert_int_eq(f->a[n + 1].status, 414);
	ck_assert_uint_eq(f->counters.responses[FT_METRICS_STATUS_405], 1);
	ck_assert_uint_eq(f->counters.responses[FT_METRICS_STATUS_404], 1);
	ck_assert_uint_eq(f->counters.responses[FT_METRICS_STATUS_400], 2);
	ck_assert_uint_eq(f->counters.responses[FT_METRICS_STATUS_505], 1);
	ck_assert_uint_eq(f->counters.responses[FT_METRICS_STATUS_431], 1);
	ck_assert_uint_eq(f->counters.responses[FT_METRICS_STATUS_414], 1);
	ck_assert_uint_eq(f->counters.responses[FT_METRICS_STATUS_200], 0);
	free(f);
}
END_TEST

static void client_slow(struct fixture *f)
{
	int fd = dial(f->port, 0), idle = dial(f->port, 0);

	/* Half a request line, then nothing: 408 once the head timer runs out. */
	send_all(fd, "GET /metrics HTTP/1.1\r\n", 23);
	read_answer(f, fd);
	close(fd);
	/* idle stays open: the server closes it when it closes. */
	(void)idle;
}

START_TEST(test_slow_client)
{
	struct fixture *f = fixture(client_slow);
	struct ft_metrics_server_config cfg = { .head_timeout_ms = 200 };

	run(f, &cfg);
	ck_assert_int_eq(f->a[0].status, 408);
	ck_assert_ptr_nonnull(strstr(f->a[0].text, "408 Request Timeout: "));
	/* The idle one timed out too, or was still open when the server closed. */
	ck_assert_uint_ge(f->counters.responses[FT_METRICS_STATUS_408], 1);
	free(f);
}
END_TEST

static void client_many(struct fixture *f)
{
	int idle[2] = { dial(f->port, 0), dial(f->port, 0) };
	int over = dial(f->port, 0);

	/* Two clients hold both slots: the third is answered 503 at once, not after 3 s. */
	read_answer(f, over);
	close(over);
	close(idle[0]);
	close(idle[1]);
	/* Their slots come free once the server has seen them close. */
	for (int i = 0; i < 100; i++) {
		f->n = 1;
		request(f, GET);
		if (f->a[1].status == 200)
			break;
		usleep(20000);
	}
}

START_TEST(test_client_limit)
{
	struct fixture *f = fixture(client_many);
	struct ft_metrics_server_config cfg = { .max_clients = 2, .head_timeout_ms = 3000 };

	run(f, &cfg);
	ck_assert_int_eq(f->a[0].status, 503);
	ck_assert_ptr_nonnull(strstr(f->a[0].text, "too many connections"));
	ck_assert_int_eq(f->a[1].status, 200);
	ck_assert_uint_ge(f->counters.responses[FT_METRICS_STATUS_503], 1);
	ck_assert_uint_eq(f->counters.responses[FT_METRICS_STATUS_408], 0);
	free(f);
}
END_TEST

static void client_stuck(struct fixture *f)
{
	/* A asks for a body far larger than the socket buffers and never reads it. */
	int a = dial(f->port, 4096);

	send_all(a, GET, strlen(GET));
	usleep(100000);
	/* B waits behind A (one answer at a time), then gets its answer whole. */
	request(f, GET);
	read_answer(f, a);
	close(a);
}

START_TEST(test_write_timeout)
{
	struct fixture *f = fixture(client_stuck);
	struct ft_metrics_server_config cfg = { .max_responses = 1, .write_timeout_ms = 2000 };

	f->body_size = 16 << 20;
	run(f, &cfg);
	ck_assert_int_eq(f->a[0].status, 200);
	ck_assert_int_eq(f->a[0].content_len, (long)f->a[0].body_len);
	ck_assert_uint_ge(f->a[0].body_len, 16 << 20);
	/* A got a part of its answer at most. */
	ck_assert_uint_lt(f->a[1].len, 16 << 20);
	ck_assert_uint_eq(f->counters.write_timeouts, 1);
	ck_assert_uint_eq(f->counters.responses[FT_METRICS_STATUS_200], 2);
	free(f);
}
END_TEST

static void client_one(struct fixture *f)
{
	request(f, GET);
}

START_TEST(test_collect_fails)
{
	struct fixture *f = fixture(client_one);
	struct ft_metrics_server_config cfg = { 0 };

	f->collect_rc = -ENOMEM;
	run(f, &cfg);
	ck_assert_int_eq(f->a[0].status, 500);
	ck_assert_uint_eq(f->counters.responses[FT_METRICS_STATUS_500], 1);
	ck_assert_uint_eq(f->counters.responses[FT_METRICS_STATUS_200], 0);
	free(f);
}
END_TEST

START_TEST(test_slices)
{
	struct fixture *f = fixture(client_one);
	struct ft_metrics_server_config cfg = { 0 };
	char want[64];

	f->slices = 5;
	run(f, &cfg);
	ck_assert_int_eq(f->a[0].status, 200);
	/* Every slice's sample, in order, then the rest. */
	for (int i = 0; i < 5; i++) {
		snprintf(want, sizeof(want), "\nx_slice{n=\"%d\"} 1\n%s", i,
			 i < 4 ? "x_slice" : "# HELP x_samples");
		ck_assert_msg(strstr(f->a[0].text, want), "no '%s' in %s", want, f->a[0].text);
	}
	ck_assert_uint_eq(f->counters.last_slices, 5);
	ck_assert_uint_ge(f->counters.last_duration_ns, f->counters.last_longest_ns);
	ck_assert_int_eq(f->cancels, 0);
	free(f);
}
END_TEST

static void client_abandon(struct fixture *f)
{
	int fd = dial(f->port, 0);

	/* A build that never ends: the server closes under it (on_done), cancel() frees it. */
	send_all(fd, GET, strlen(GET));
	usleep(100000);
	close(fd);
}

START_TEST(test_abandoned_build)
{
	struct fixture *f = fixture(client_abandon);
	struct ft_metrics_server_config cfg = { 0 };

	f->forever = true;
	run(f, &cfg);
	ck_assert_int_eq(f->cancels, 1);
	/* Counted when it began, taken back: it was never answered. */
	ck_assert_uint_eq(f->counters.responses[FT_METRICS_STATUS_200], 1);
	free(f);
}
END_TEST

START_TEST(test_bind_errors)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	struct ft_metrics_server_config cfg = { .addr = (struct sockaddr *)&sin,
						.collect = collect };
	struct ft_metrics_server *a, *b;
	uv_loop_t loop;

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(uv_loop_init(&loop), 0);
	ck_assert_int_eq(ft_metrics_server_create(&a, &loop, &cfg), 0);
	/* The same port again: refused at start, nothing left behind. */
	sin.sin_port = htons(ft_metrics_server_port(a));
	ck_assert_int_eq(ft_metrics_server_create(&b, &loop, &cfg), UV_EADDRINUSE);
	/* An address this host does not have. */
	inet_pton(AF_INET, "198.18.255.254", &sin.sin_addr);
	ck_assert_int_eq(ft_metrics_server_create(&b, &loop, &cfg), UV_EADDRNOTAVAIL);
	ft_metrics_server_close(a, NULL, NULL);
	ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
	ck_assert_int_eq(uv_loop_close(&loop), 0);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("metrics_server");
	TCase *tc = tcase_create("server");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_get);
	tcase_add_test(tc, test_bad_requests);
	tcase_add_test(tc, test_slow_client);
	tcase_add_test(tc, test_client_limit);
	tcase_add_test(tc, test_write_timeout);
	tcase_add_test(tc, test_collect_fails);
	tcase_add_test(tc, test_slices);
	tcase_add_test(tc, test_abandoned_build);
	tcase_add_test(tc, test_bind_errors);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
