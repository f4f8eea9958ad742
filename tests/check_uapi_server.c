// SPDX-License-Identifier: MIT
/*
 * The userspace API's server over a real UNIX socket: a fake device behind it, a libuv client
 * on the same loop. The parser and the writer's helpers are check_uapi.c.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <check.h>
#include <sodium.h>
#include <uv.h>

#include "base/sockaddr.h"
#include "tests/check_main.h"
#include "tests/uapi-cases.h"
#include "tests/uapi-fakedev.h"
#include "tun/ctl/uapi.h"

/* ---- Server: a fake device behind a real socket, a libuv client on the same loop ---- */

struct fixture {
	uv_loop_t loop;
	char dir[64];
	char path[FT_UAPI_PATH_LEN];
	struct fakedev dev;
	struct ft_uapi_server *srv;
	bool srv_closed;
};

static void fixture_init(struct fixture *f)
{
	memset(f, 0, sizeof(*f));
	ck_assert_int_eq(uv_loop_init(&f->loop), 0);
	strcpy(f->dir, "/tmp/check_uapi.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(f->dir));
	/* A directory that does not exist yet: the server creates it. */
	snprintf(f->path, sizeof(f->path), "%s/wireguard/ft0.sock", f->dir);
}

static void fixture_start(struct fixture *f)
{
	ck_assert_int_eq(ft_uapi_server_create(&f->srv, &f->loop, f->path, &fakedev_ops, &f->dev),
			 0);
}

static void srv_closed(void *arg)
{
	((struct fixture *)arg)->srv_closed = true;
}

static void fixture_done(struct fixture *f)
{
	char sub[96];

	if (f->srv)
		ft_uapi_server_close(f->srv, srv_closed, f);
	ck_assert_int_eq(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
	ck_assert(!f->srv || f->srv_closed);
	ck_assert_int_eq(uv_loop_close(&f->loop), 0);
	/* Closing unlinks the socket: the directory is empty again. */
	ck_assert_int_eq(access(f->path, F_OK), -1);
	snprintf(sub, sizeof(sub), "%s/wireguard", f->dir);
	rmdir(sub);
	ck_assert_int_eq(rmdir(f->dir), 0);
}

struct client {
	uv_pipe_t pipe;
	uv_connect_t conn;
	uv_write_t wreq;
	uv_shutdown_t sreq;
	bool half_close; /* shut down the write side once the request is sent */
	const char *req;
	size_t req_len;
	char buf[8192];
	size_t len;
	bool done, closed;
};

static void client_closed(uv_handle_t *h)
{
	((struct client *)h->data)->closed = true;
}

static void client_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct client *c = h->data;

	(void)suggested;
	*buf = uv_buf_init(c->buf + c->len, (unsigned int)(sizeof(c->buf) - 1 - c->len));
}

static void client_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct client *c = s->data;

	(void)buf;
	if (nread < 0) {
		c->done = true;
		uv_close((uv_handle_t *)&c->pipe, client_closed);
		return;
	}
	c->len += (size_t)nread;
	c->buf[c->len] = '\0';
}

static void client_written(uv_write_t *req, int status)
{
	struct client *c = req->data;

	/* The server may hang up before reading everything (test_server_oversize). */
	if (status == 0 && c->half_close)
		ck_assert_int_eq(uv_shutdown(&c->sreq, (uv_stream_t *)&c->pipe, NULL), 0);
}

static void client_connected(uv_connect_t *req, int status)
{
	struct client *c = req->data;
	uv_buf_t b = uv_buf_init((char *)(uintptr_t)c->req, (unsigned int)c->req_len);

	ck_assert_int_eq(status, 0);
	c->wreq.data = c;
	if (c->req_len > 0)
		ck_assert_int_eq(uv_write(&c->wreq, (uv_stream_t *)&c->pipe, &b, 1, client_written),
				 0);
	ck_assert_int_eq(uv_read_start((uv_stream_t *)&c->pipe, client_alloc, client_read), 0);
}

/* How many complete answers (ending in errno=N and a blank line) buf holds. */
static int count_answers(const char *buf)
{
	int n = 0;

	for (const char *p = buf; (p = strstr(p, "errno=")) != NULL; p++) {
		if ((p == buf || p[-1] == '\n') && strstr(p, "\n\n"))
			n++;
	}
	return n;
}

/*
 * Connects, sends req (len bytes), and runs the loop until want_answers answers arrived (then
 * hangs up), or until the server hangs up when want_answers is 0. The answers are in c->buf.
 */
static void roundtrip(struct fixture *f, struct client *c, const char *req, size_t len,
		      int want_answers)
{
	memset(c, 0, sizeof(*c));
	c->req = req;
	c->req_len = len;
	ck_assert_int_eq(uv_pipe_init(&f->loop, &c->pipe, 0), 0);
	c->pipe.data = c;
	c->conn.data = c;
	uv_pipe_connect(&c->conn, &c->pipe, f->path, client_connected);
	while (!c->done && (want_answers == 0 || count_answers(c->buf) < want_answers))
		uv_run(&f->loop, UV_RUN_ONCE);
	if (!c->done)
		uv_close((uv_handle_t *)&c->pipe, client_closed);
	while (!c->closed)
		uv_run(&f->loop, UV_RUN_ONCE);
}

static void fake_one_peer(struct fakedev *d)
{
	struct fakedev_peer *p = &d->peers[0];
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&p->endpoint;

	ft_key_from_hex(d->private_key, KA);
	d->listen_port = 51820;
	d->fwmark = 0;
	d->n_peers = 1;
	ft_key_from_hex(p->public_key, KB);
	sin6->sin6_family = AF_INET6;
	sin6->sin6_port = htons(51821);
	inet_pton(AF_INET6, "fd00::2", &sin6->sin6_addr);
	p->keepalive = 25;
	p->rx_bytes = 1234;
	p->tx_bytes = 5678;
	ck_assert_int_eq(ft_config_parse_prefix("100.64.0.2/32", true, &p->ips[0]), 0);
	ck_assert_int_eq(ft_config_parse_prefix("fd00::2/128", true, &p->ips[1]), 0);
	p->n_ips = 2;
}

static const char one_peer_answer[] = "private_key=" KA "\n"
				      "listen_port=51820\n"
				      "public_key=" KB "\n"
				      "preshared_key=" KZ "\n"
				      "protocol_version=1\n"
				      "endpoint=[fd00::2]:51821\n"
				      "last_handshake_time_sec=0\n"
				      "last_handshake_time_nsec=0\n"
				      "tx_bytes=5678\n"
				      "rx_bytes=1234\n"
				      "persistent_keepalive_interval=25\n"
				      "allowed_ip=100.64.0.2/32\n"
				      "allowed_ip=fd00::2/128\n"
				      "errno=0\n\n";

START_TEST(test_server_get)
{
	struct fixture f;
	struct client c;
	struct stat st;
	char dir[96];

	fixture_init(&f);
	fixture_start(&f);
	fake_one_peer(&f.dev);
	/* The socket is 0600, its new directory 0755. */
	ck_assert_int_eq(stat(f.path, &st), 0);
	ck_assert(S_ISSOCK(st.st_mode));
	ck_assert_int_eq(st.st_mode & 07777, 0600);
	snprintf(dir, sizeof(dir), "%s/wireguard", f.dir);
	ck_assert_int_eq(stat(dir, &st), 0);
	ck_assert_int_eq(st.st_mode & 07777, 0755);

	roundtrip(&f, &c, "get=1\n\n", 7, 1);
	ck_assert_str_eq(c.buf, one_peer_answer);
	ck_assert_uint_eq(f.dev.n_gets, 1);

	/* The extras come only when asked for. */
	roundtrip(&f, &c, "get=flowtun\n\n", 13, 1);
	ck_assert_ptr_nonnull(strstr(c.buf, "\nflowtun_fake_sets=0\n"));
	ck_assert_ptr_null(strstr(one_peer_answer, "flowtun"));
	fixture_done(&f);
}
END_TEST

START_TEST(test_server_set)
{
	static const char req[] = "set=1\nprivate_key=" KB "\nlisten_port=1000\nfwmark=7\n"
				  "replace_peers=true\npublic_key=" KA "\npreshared_key=" KB "\n"
				  "endpoint=198.18.0.9:9\npersistent_keepalive_interval=5\n"
				  "allowed_ip=100.64.9.0/24\n\n";
	struct fixture f;
	struct client c;
	uint8_t k[FT_KEY_LEN];

	fixture_init(&f);
	fixture_start(&f);
	fake_one_peer(&f.dev);
	roundtrip(&f, &c, req, sizeof(req) - 1, 1);
	ck_assert_str_eq(c.buf, "errno=0\n\n");
	ck_assert_uint_eq(f.dev.n_sets, 1);
	ft_key_from_hex(k, KB);
	ck_assert_mem_eq(f.dev.private_key, k, FT_KEY_LEN);
	ck_assert_uint_eq(f.dev.listen_port, 1000);
	ck_assert_uint_eq(f.dev.fwmark, 7);
	ck_assert_uint_eq(f.dev.n_peers, 1);
	ck_assert_mem_eq(f.dev.peers[0].preshared_key, k, FT_KEY_LEN);
	ck_assert_uint_eq(f.dev.peers[0].keepalive, 5);
	ck_assert_uint_eq(f.dev.peers[0].n_ips, 1);

	/* And back through get, with a fwmark now. */
	roundtrip(&f, &c, "get=1\n\n", 7, 1);
	ck_assert_ptr_nonnull(strstr(c.buf, "listen_port=1000\nfwmark=7\npublic_key=" KA "\n"));
	ck_assert_ptr_nonnull(strstr(c.buf, "endpoint=198.18.0.9:9\n"));
	ck_assert_ptr_nonnull(strstr(c.buf, "allowed_ip=100.64.9.0/24\nerrno=0\n\n"));
	fixture_done(&f);
}
END_TEST

/* Malformed sets through the socket: errno=N and the fake device untouched. */
START_TEST(test_server_set_malformed)
{
	struct fixture f;
	struct client c;
	struct fakedev before;
	char want[32];
	const char *req = bad_requests[_i].req;

	/* Those that are not exactly one request are the parser's cases only. */
	if (ft_uapi_request_len(req, strlen(req)) != strlen(req))
		return;
	fixture_init(&f);
	fixture_start(&f);
	fake_one_peer(&f.dev);
	before = f.dev;
	roundtrip(&f, &c, req, strlen(req), 1);
	snprintf(want, sizeof(want), "errno=%d\n\n", -bad_requests[_i].err);
	ck_assert_str_eq(c.buf, want);
	ck_assert_uint_eq(f.dev.n_sets, 0);
	ck_assert_mem_eq(&f.dev, &before, sizeof(before));
	fixture_done(&f);
}
END_TEST

/* The backend refuses (the set does not fit): its errno is the answer, nothing changed. */
START_TEST(test_server_set_backend_error)
{
	char req[4096] = "set=1\n";
	struct fixture f;
	struct client c;
	struct fakedev before;

	for (int i = 0; i < FAKEDEV_MAX_IPS + 1; i++)
		append(req, sizeof(req), "%sallowed_ip=100.64.0.%d/32\n",
		       i == 0 ? "public_key=" KA "\n" : "", i);
	append(req, sizeof(req), "\n");
	fixture_init(&f);
	fixture_start(&f);
	fake_one_peer(&f.dev);
	before = f.dev;
	roundtrip(&f, &c, req, strlen(req), 1);
	ck_assert_str_eq(c.buf, "errno=28\n\n"); /* ENOSPC */
	ck_assert_uint_eq(f.dev.n_sets, 1);
	before.n_sets = 1;
	ck_assert_mem_eq(&f.dev, &before, sizeof(before));
	fixture_done(&f);
}
END_TEST

/* Several requests on one connection, in one write: answered in order. */
START_TEST(test_server_pipelined)
{
	static const char req[] = "get=1\n\nset=1\nlisten_port=2\n\nbogus\n\nget=1\n\n";
	struct fixture f;
	struct client c;
	const char *second;

	fixture_init(&f);
	fixture_start(&f);
	roundtrip(&f, &c, req, sizeof(req) - 1, 4);
	ck_assert_int_eq(count_answers(c.buf), 4);
	ck_assert(strncmp(c.buf, "listen_port=0\nerrno=0\n\nerrno=0\n\nerrno=71\n\n", 42) == 0);
	second = c.buf + 42;
	ck_assert_str_eq(second, "listen_port=2\nerrno=0\n\n");
	fixture_done(&f);
}
END_TEST

/* A client that half-closes after its requests still gets every answer, then EOF. */
START_TEST(test_server_half_close)
{
	static const char req[] = "set=1\nlisten_port=9\n\nget=1\n\n";
	struct fixture f;
	struct client c;

	fixture_init(&f);
	fixture_start(&f);
	memset(&c, 0, sizeof(c));
	c.req = req;
	c.req_len = sizeof(req) - 1;
	c.half_close = true;
	ck_assert_int_eq(uv_pipe_init(&f.loop, &c.pipe, 0), 0);
	c.pipe.data = c.conn.data = &c;
	uv_pipe_connect(&c.conn, &c.pipe, f.path, client_connected);
	while (!c.closed)
		uv_run(&f.loop, UV_RUN_ONCE);
	ck_assert_str_eq(c.buf, "errno=0\n\nlisten_port=9\nerrno=0\n\n");
	fixture_done(&f);
}
END_TEST

/*
 * Without a blank line within the request limit: errno=EMSGSIZE and a hang-up. The limit is
 * lowered to 64 KiB here (FT_UAPI_MAX_REQUEST is 256 MiB).
 */
START_TEST(test_server_oversize)
{
	enum { LIMIT = 64 << 10 };
	char *req = malloc(LIMIT + 100);
	struct fixture f;
	struct client c;
	char want[32];

	ck_assert_ptr_nonnull(req);
	memcpy(req, "set=1\n", 6);
	memset(req + 6, 'x', LIMIT + 94);
	fixture_init(&f);
	fixture_start(&f);
	ft_uapi_server_set_max_request(f.srv, LIMIT);
	roundtrip(&f, &c, req, LIMIT + 100, 0);
	snprintf(want, sizeof(want), "errno=%d\n\n", EMSGSIZE);
	ck_assert_str_eq(c.buf, want);
	ck_assert_uint_eq(f.dev.n_sets, 0);
	free(req);
	fixture_done(&f);
}
END_TEST

/* A writer error in get: the answer is errno alone, no partial state. */
static int bad_get(void *arg, struct ft_uapi_writer *w)
{
	(void)arg;
	ft_uapi_write_kv(w, "listen_port", "%u", 1);
	ft_uapi_write_kv(w, "bad", "two\nlines");
	ft_uapi_write_kv(w, "fwmark", "%u", 2);
	return 0;
}

static int bad_key_get(void *arg, struct ft_uapi_writer *w)
{
	(void)arg;
	return ft_uapi_write_kv(w, "Bad-Key", "1") == -EINVAL ? -EIO : 0;
}

START_TEST(test_server_get_errors)
{
	static const struct ft_uapi_ops bad_ops = { .get = bad_get, .set = fakedev_set };
	static const struct ft_uapi_ops bad_key_ops = { .get = bad_key_get, .set = fakedev_set };
	struct fixture f;
	struct client c;

	fixture_init(&f);
	ck_assert_int_eq(ft_uapi_server_create(&f.srv, &f.loop, f.path, &bad_ops, &f.dev), 0);
	roundtrip(&f, &c, "get=1\n\n", 7, 1);
	ck_assert_str_eq(c.buf, "errno=22\n\n");
	ft_uapi_server_close(f.srv, NULL, NULL);
	ck_assert_int_eq(uv_run(&f.loop, UV_RUN_DEFAULT), 0);
	ck_assert_int_eq(ft_uapi_server_create(&f.srv, &f.loop, f.path, &bad_key_ops, &f.dev), 0);
	roundtrip(&f, &c, "get=1\n\n", 7, 1);
	ck_assert_str_eq(c.buf, "errno=5\n\n");
	fixture_done(&f);
}
END_TEST

/* A live instance keeps its socket; a stale socket is replaced; another file is left alone. */
START_TEST(test_server_existing)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct ft_uapi_server *second;
	struct fixture f;
	struct client c;
	int fd;

	fixture_init(&f);
	fixture_start(&f);
	ck_assert_int_eq(ft_uapi_server_create(&second, &f.loop, f.path, &fakedev_ops, &f.dev),
			 -EADDRINUSE);
	roundtrip(&f, &c, "get=1\n\n", 7, 1); /* the first still serves */
	ck_assert_str_eq(c.buf, "listen_port=0\nerrno=0\n\n");
	ft_uapi_server_close(f.srv, NULL, NULL);
	ck_assert_int_eq(uv_run(&f.loop, UV_RUN_DEFAULT), 0);

	/* A bound socket nobody listens on, as a killed instance leaves it. */
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	ck_assert_int_ge(fd, 0);
	strcpy(sun.sun_path, f.path);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	close(fd);
	ck_assert_int_eq(access(f.path, F_OK), 0);
	fixture_start(&f);
	roundtrip(&f, &c, "get=1\n\n", 7, 1);
	ck_assert_str_eq(c.buf, "listen_port=0\nerrno=0\n\n");
	ft_uapi_server_close(f.srv, NULL, NULL);
	ck_assert_int_eq(uv_run(&f.loop, UV_RUN_DEFAULT), 0);

	/* A regular file: not ours to remove. */
	fd = open(f.path, O_CREAT | O_WRONLY, 0600);
	ck_assert_int_ge(fd, 0);
	close(fd);
	ck_assert_int_eq(ft_uapi_server_create(&second, &f.loop, f.path, &fakedev_ops, &f.dev),
			 -EEXIST);
	ck_assert_int_eq(unlink(f.path), 0);
	f.srv = NULL;
	fixture_done(&f);
}
END_TEST

static void on_gone(void *arg)
{
	struct fixture *f = arg;

	ft_uapi_server_close(f->srv, srv_closed, f);
}

/* Removing the socket file is noticed; the callback closes the server; the loop drains. */
START_TEST(test_server_watch)
{
	struct fixture f;
	struct client c;

	fixture_init(&f);
	fixture_start(&f);
	ck_assert_int_eq(ft_uapi_server_watch(f.srv, 5, on_gone, &f), 0);
	/* A connection open while the server closes is closed with it. */
	roundtrip(&f, &c, "get=1\n\n", 7, 1);
	ck_assert_int_eq(unlink(f.path), 0);
	ck_assert_int_eq(uv_run(&f.loop, UV_RUN_DEFAULT), 0);
	ck_assert(f.srv_closed);
	f.srv = NULL;
	fixture_done(&f);
}
END_TEST

/* Replaced by another file of the same name: noticed too, and the new file is not removed. */
START_TEST(test_server_watch_replaced)
{
	struct fixture f;
	int fd;

	fixture_init(&f);
	fixture_start(&f);
	ck_assert_int_eq(ft_uapi_server_watch(f.srv, 5, on_gone, &f), 0);
	ck_assert_int_eq(unlink(f.path), 0);
	fd = open(f.path, O_CREAT | O_WRONLY, 0600);
	ck_assert_int_ge(fd, 0);
	close(fd);
	ck_assert_int_eq(uv_run(&f.loop, UV_RUN_DEFAULT), 0);
	ck_assert(f.srv_closed);
	ck_assert_int_eq(access(f.path, F_OK), 0);
	ck_assert_int_eq(unlink(f.path), 0);
	f.srv = NULL;
	fixture_done(&f);
}
END_TEST

static bool told_to_remove;

static void on_gone_after_removal(void *arg)
{
	ck_assert_msg(told_to_remove, "the watch took an unsearchable directory for a removal");
	on_gone(arg);
}

static void tell_remover(uv_timer_t *t)
{
	int *go = t->data;

	told_to_remove = true;
	ck_assert_int_eq(write(*go, "r", 1), 1);
	uv_close((uv_handle_t *)t, NULL);
}

/*
 * A directory the server's process may no longer search (a tunnel after its drop, with
 * /run/wireguard 0700 root): the path cannot be looked up, which is no removal; a real
 * removal is still seen. As root the test drops to nobody for that, else it takes the
 * search bit from its own directory. A child with the test's first ids removes the socket
 * when told (after 20 ticks of the watch), and the directories at the end.
 */
START_TEST(test_server_watch_unsearchable)
{
	struct fixture f;
	uv_timer_t timer;
	char sub[96], c;
	struct stat st;
	int go[2], status;
	pid_t pid;

	fixture_init(&f);
	fixture_start(&f);
	snprintf(sub, sizeof(sub), "%s/wireguard", f.dir);
	ck_assert_int_eq(pipe(go), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		close(go[1]);
		if (read(go[0], &c, 1) == 1 && chmod(sub, 0700) == 0)
			unlink(f.path);
		while (read(go[0], &c, 1) > 0)
			;
		rmdir(sub);
		_exit(rmdir(f.dir) == 0 ? 0 : 1);
	}
	close(go[0]);
	if (geteuid() == 0) {
		ck_assert_int_eq(chmod(sub, 0700), 0);
		ck_assert_int_eq(setresgid(65534, 65534, 65534), 0);
		ck_assert_int_eq(setresuid(65534, 65534, 65534), 0);
	} else {
		ck_assert_int_eq(chmod(sub, 0600), 0);
	}
	/* The premise: the path cannot be looked up any more. */
	ck_assert_int_eq(lstat(f.path, &st), -1);
	ck_assert_int_eq(errno, EACCES);
	ck_assert_int_eq(ft_uapi_server_watch(f.srv, 5, on_gone_after_removal, &f), 0);
	ck_assert_int_eq(uv_timer_init(&f.loop, &timer), 0);
	timer.data = &go[1];
	ck_assert_int_eq(uv_timer_start(&timer, tell_remover, 100, 0), 0);
	ck_assert_int_eq(uv_run(&f.loop, UV_RUN_DEFAULT), 0);
	ck_assert(f.srv_closed);
	ck_assert_int_eq(uv_loop_close(&f.loop), 0);
	close(go[1]);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the test's directories stay");
}
END_TEST

/* More than FT_UAPI_MAX_CLIENTS idle connections: the extra ones are hung up on, the others
 * and new ones after them are still served. */
START_TEST(test_server_max_clients)
{
	struct fixture f;
	struct client idle[FT_UAPI_MAX_CLIENTS + 1], c;

	fixture_init(&f);
	fixture_start(&f);
	for (int i = 0; i < FT_UAPI_MAX_CLIENTS + 1; i++) {
		memset(&idle[i], 0, sizeof(idle[i]));
		idle[i].req = "";
		ck_assert_int_eq(uv_pipe_init(&f.loop, &idle[i].pipe, 0), 0);
		idle[i].pipe.data = &idle[i];
		idle[i].conn.data = &idle[i];
		uv_pipe_connect(&idle[i].conn, &idle[i].pipe, f.path, client_connected);
	}
	/* The last one is hung up on. */
	while (!idle[FT_UAPI_MAX_CLIENTS].done)
		uv_run(&f.loop, UV_RUN_ONCE);
	for (int i = 0; i < FT_UAPI_MAX_CLIENTS; i++)
		ck_assert(!idle[i].done);
	uv_close((uv_handle_t *)&idle[0].pipe, client_closed);
	while (!idle[0].closed)
		uv_run(&f.loop, UV_RUN_ONCE);
	/* A slot is free again once the server saw the hang-up. */
	for (int tries = 0; tries < 100; tries++) {
		roundtrip(&f, &c, "get=1\n\n", 7, 1);
		if (c.buf[0])
			break;
	}
	ck_assert_str_eq(c.buf, "listen_port=0\nerrno=0\n\n");
	fixture_done(&f); /* the server closes the idle ones */
	for (int i = 1; i < FT_UAPI_MAX_CLIENTS; i++)
		ck_assert(idle[i].closed);
}
END_TEST

static Suite *uapi_server_suite(void)
{
	Suite *s = suite_create("uapi_server");
	TCase *tc = tcase_create("server");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_server_get);
	tcase_add_test(tc, test_server_set);
	tcase_add_loop_test(tc, test_server_set_malformed, 0,
			    sizeof(bad_requests) / sizeof(bad_requests[0]));
	tcase_add_test(tc, test_server_set_backend_error);
	tcase_add_test(tc, test_server_pipelined);
	tcase_add_test(tc, test_server_half_close);
	tcase_add_test(tc, test_server_oversize);
	tcase_add_test(tc, test_server_get_errors);
	tcase_add_test(tc, test_server_existing);
	tcase_add_test(tc, test_server_watch);
	tcase_add_test(tc, test_server_watch_replaced);
	tcase_add_test(tc, test_server_watch_unsearchable);
	tcase_add_test(tc, test_server_max_clients);
	suite_add_tcase(s, tc);
	return s;
}

FT_CHECK_MAIN(uapi_server_suite, FT_CHECK_SODIUM)
