// SPDX-License-Identifier: MIT
/*
 * The userspace API's UNIX socket server on the worker's loop: the listening socket, its
 * clients, the framing of requests and answers, and the watch on the socket file. Apart from
 * the parser and the writer, which know nothing of sockets or libuv.
 */
#include "config.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <sodium.h>

#include "tun/log.h"
#include "tun/priv/opener.h"
#include "tun/ctl/uapi.h"
#include "tun/ctl/uapi_internal.h"

struct client {
	uv_pipe_t pipe;
	struct ft_uapi_server *srv;
	struct client *next, *prev;
	char *buf; /* received bytes; may hold keys, so wiped as it is consumed and freed */
	size_t len, cap;
	size_t scanned; /* bytes of buf searched for the blank line: a big set arrives in parts */
	uv_write_t wreq;
	struct ft_uapi_writer out; /* the answer being written */
	bool writing, reading, eof, closing, close_after_write;
};

struct ft_uapi_server {
	uv_loop_t *loop;
	size_t max_request; /* FT_UAPI_MAX_REQUEST, lower in tests */
	uv_pipe_t listener;
	uv_timer_t watch;
	struct ft_uapi_ops ops;
	void *arg;
	void (*gone)(void *arg);
	void *gone_arg;
	char path[FT_UAPI_PATH_LEN];
	/*
	 * The socket file bound at path: its inode, held open (O_PATH) from before the privilege
	 * drop, and its identity. See file_state().
	 */
	int file_fd;
	dev_t dev;
	ino_t ino;
	bool check_failed; /* the path could not be looked up once: said so, not again */
	struct client *clients;
	size_t n_clients;
	unsigned int pending_closes;
	bool closing;
	void (*close_cb)(void *arg);
	void *close_arg;
};

int ft_uapi_socket_path(char *buf, size_t len, const char *ifname)
{
	size_t n = strlen(ifname);
	int rc;

	if (n == 0 || n >= IFNAMSIZ || strchr(ifname, '/') || strcmp(ifname, ".") == 0 ||
	    strcmp(ifname, "..") == 0)
		return -EINVAL;
	rc = snprintf(buf, len, FT_UAPI_SOCKET_DIR "/%s.sock", ifname);
	return rc < 0 || (size_t)rc >= len ? -EINVAL : 0;
}

const char *ft_uapi_server_path(const struct ft_uapi_server *s)
{
	return s->path;
}

static void server_maybe_free(struct ft_uapi_server *s)
{
	void (*cb)(void *arg);
	void *arg;

	if (!s->closing || s->pending_closes > 0)
		return;
	cb = s->close_cb;
	arg = s->close_arg;
	if (s->file_fd >= 0)
		close(s->file_fd);
	free(s);
	if (cb)
		cb(arg);
}

static void client_closed(uv_handle_t *h)
{
	struct client *c = h->data;
	struct ft_uapi_server *s = c->srv;

	if (c->buf) {
		sodium_memzero(c->buf, c->cap);
		free(c->buf);
	}
	ft_uapi_writer_release(&c->out);
	free(c);
	s->pending_closes--;
	server_maybe_free(s);
}

static void client_close(struct client *c)
{
	struct ft_uapi_server *s = c->srv;

	if (c->closing)
		return;
	c->closing = true;
	if (c->prev)
		c->prev->next = c->next;
	else
		s->clients = c->next;
	if (c->next)
		c->next->prev = c->prev;
	s->n_clients--;
	s->pending_closes++;
	uv_close((uv_handle_t *)&c->pipe, client_closed);
}

static void answer_errno(struct ft_uapi_writer *w, int rc)
{
	char line[32];
	int n = snprintf(line, sizeof(line), "errno=%d\n\n", rc < 0 ? -rc : rc);

	ft_uapi_writer_release(w);
	/* 4 KiB is always there to take a short line; a failure would leave the answer empty. */
	ft_uapi_writer_append(w, line, (size_t)n);
}

/* Handles one complete request; the answer is left in c->out. */
static void client_handle(struct client *c, const char *req, size_t len)
{
	struct ft_uapi_server *s = c->srv;
	struct ft_uapi_set *set;
	enum ft_uapi_op op;
	int rc;

	ft_uapi_writer_release(&c->out);
	rc = ft_uapi_parse(req, len, &op, &set);
	if (rc < 0) {
		ft_log_debug("uapi: request refused: %s", strerror(-rc));
	} else if (op == FT_UAPI_SET) {
		rc = s->ops.set(s->arg, set);
		ft_uapi_set_free(set);
		if (rc > 0)
			rc = 0;
	} else {
		c->out.extras = op == FT_UAPI_GET_EXTRAS;
		rc = s->ops.get(s->arg, &c->out);
		if (rc == 0)
			rc = c->out.err;
		if (rc == 0)
			rc = ft_uapi_writer_append(&c->out, "errno=0\n\n", 9);
		if (rc == 0)
			return;
	}
	answer_errno(&c->out, rc);
}

static void client_process(struct client *c);

static void client_written(uv_write_t *req, int status)
{
	struct client *c = req->data;

	c->writing = false;
	ft_uapi_writer_release(&c->out);
	if (c->closing)
		return;
	if (status < 0 || c->close_after_write) {
		client_close(c);
		return;
	}
	client_process(c);
}

static void client_send(struct client *c)
{
	uv_buf_t b = uv_buf_init(c->out.buf, (unsigned int)c->out.len);
	int rc;

	c->wreq.data = c;
	rc = uv_write(&c->wreq, (uv_stream_t *)&c->pipe, &b, 1, client_written);
	if (rc < 0) {
		client_close(c);
		return;
	}
	c->writing = true;
}

static void client_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void client_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf);

/*
 * Answers the complete requests in the buffer one at a time: while an answer is being
 * written, reading stops, so one client holds at most one request and one answer.
 */
static void client_process(struct client *c)
{
	size_t n;

	while (!c->writing && !c->closing &&
	       (n = ft_uapi_request_len_resume(c->buf, c->len, &c->scanned)) > 0) {
		client_handle(c, c->buf, n);
		if (c->closing) /* the backend closed the server from its callback */
			return;
		sodium_memzero(c->buf, n);
		memmove(c->buf, c->buf + n, c->len - n);
		c->len -= n;
		sodium_memzero(c->buf + c->len, n);
		client_send(c);
	}
	if (c->closing)
		return;
	if (!c->writing && c->len >= c->srv->max_request) {
		/* No blank line within the limit: refuse it; the framing is lost, so hang up. */
		ft_log_debug("uapi: request over %zu bytes refused", c->srv->max_request);
		answer_errno(&c->out, -EMSGSIZE);
		c->close_after_write = true;
		client_send(c);
	}
	if (c->closing)
		return;
	if (c->writing || c->eof) {
		if (c->reading)
			uv_read_stop((uv_stream_t *)&c->pipe);
		c->reading = false;
		if (!c->writing)
			client_close(c);
	} else if (!c->reading) {
		if (uv_read_start((uv_stream_t *)&c->pipe, client_alloc, client_read) < 0)
			client_close(c);
		else
			c->reading = true;
	}
}

static void client_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct client *c = h->data;
	size_t want = c->len + 4096, cap;
	char *nbuf;

	(void)suggested;
	if (want > c->srv->max_request)
		want = c->srv->max_request;
	if (c->cap < want) {
		cap = c->cap ? c->cap : 4096;
		while (cap < want)
			cap *= 2;
		if (cap > c->srv->max_request)
			cap = c->srv->max_request;
		nbuf = malloc(cap);
		if (!nbuf) {
			*buf = uv_buf_init(NULL, 0); /* libuv reports UV_ENOBUFS */
			return;
		}
		if (c->buf) {
			memcpy(nbuf, c->buf, c->len);
			sodium_memzero(c->buf, c->cap);
			free(c->buf);
		}
		c->buf = nbuf;
		c->cap = cap;
	}
	*buf = uv_buf_init(c->buf + c->len, (unsigned int)(c->cap - c->len));
}

static void client_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
	struct client *c = stream->data;

	(void)buf;
	if (nread == 0)
		return;
	if (nread < 0) {
		if (nread != UV_EOF) {
			client_close(c);
			return;
		}
		/* A client may half-close after its request: it still gets its answers. */
		c->eof = true;
	} else {
		c->len += (size_t)nread;
	}
	client_process(c);
}

static void reject_closed(uv_handle_t *h)
{
	free(h);
}

static void on_connection(uv_stream_t *server, int status)
{
	struct ft_uapi_server *s = server->data;
	struct client *c;

	if (status < 0 || s->closing)
		return;
	if (s->n_clients >= FT_UAPI_MAX_CLIENTS) {
		uv_pipe_t *p = malloc(sizeof(*p));

		/* Accept and hang up at once, so the backlog drains instead of stalling. */
		if (p && uv_pipe_init(s->loop, p, 0) == 0) {
			if (uv_accept(server, (uv_stream_t *)p) < 0)
				ft_log_debug("uapi: accept failed");
			uv_close((uv_handle_t *)p, reject_closed);
		} else {
			free(p);
		}
		return;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		return;
	c->srv = s;
	if (uv_pipe_init(s->loop, &c->pipe, 0) < 0) {
		free(c);
		return;
	}
	c->pipe.data = c;
	c->next = s->clients;
	if (s->clients)
		s->clients->prev = c;
	s->clients = c;
	s->n_clients++;
	if (uv_accept(server, (uv_stream_t *)&c->pipe) < 0) {
		client_close(c);
		return;
	}
	client_process(c);
}

enum file_state {
	FILE_OURS,    /* path names our socket */
	FILE_GONE,    /* it does not any more: removed, replaced or moved away */
	FILE_UNKNOWN, /* the path cannot be looked up, but the socket still has a name */
};

/*
 * Whether path still names the socket this server bound. The inode held open since the bind
 * answers first, and needs no permission on the directory: its link count is 0 once the last
 * name of the socket is gone (rm, wg-quick down, another socket renamed over it). The path
 * then, looked up as we are now: another file there, or nothing (the socket moved, or a
 * directory above renamed) means it no longer leads to us. A lookup that fails otherwise says
 * nothing about the socket: after the drop to an unprivileged user, /run/wireguard may be a
 * directory that user cannot search (0700 root, as a strict umask creates it), and that is no
 * removal. It is logged once with its cause, and the link count alone keeps watching (it
 * still sees a removal; a rename to another name in that directory it does not).
 */
static enum file_state file_state(struct ft_uapi_server *s, const char **gone)
{
	struct stat st;
	int e;

	if (fstat(s->file_fd, &st) == 0 && st.st_nlink == 0) {
		*gone = "was removed";
		return FILE_GONE;
	}
	if (lstat(s->path, &st) == 0) {
		if (S_ISSOCK(st.st_mode) && st.st_dev == s->dev && st.st_ino == s->ino)
			return FILE_OURS;
		*gone = "is another file now";
		return FILE_GONE;
	}
	e = errno;
	if (e == ENOENT) {
		*gone = "was moved away";
		return FILE_GONE;
	}
	if (!s->check_failed) {
		s->check_failed = true;
		ft_log_warnx("uapi: cannot check %s by its name: %s; watching the socket's link "
			     "count instead (a removal is still seen)",
			     s->path, strerror(e));
	}
	return FILE_UNKNOWN;
}

/* -EADDRINUSE if a live instance answers at path, 0 if nothing (or a stale socket, removed). */
static int check_existing(const char *path, const struct sockaddr_un *sun)
{
	struct stat st;
	int fd, rc;

	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode))
		return -EEXIST;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	rc = connect(fd, (const struct sockaddr *)sun, sizeof(*sun));
	if (rc == 0 || errno == EAGAIN || errno == EINPROGRESS) {
		/* Accepted, or its backlog is full: someone is serving this interface. */
		rc = -EADDRINUSE;
	} else if (errno == ECONNREFUSED) {
		/* Nobody listens: the leftover of an instance that did not clean up. */
		rc = unlink(path) < 0 && errno != ENOENT ? -errno : 0;
	} else {
		rc = -errno;
	}
	close(fd);
	return rc;
}

static int make_dir(const char *path)
{
	char dir[FT_UAPI_PATH_LEN];
	const char *slash = strrchr(path, '/');
	size_t n;

	if (!slash || slash == path)
		return 0;
	n = (size_t)(slash - path);
	memcpy(dir, path, n);
	dir[n] = '\0';
	if (mkdir(dir, 0755) == 0)
		return chmod(dir, 0755) < 0 ? -errno : 0; /* whatever the umask */
	return errno == EEXIST ? 0 : -errno;
}

static void listener_closed(uv_handle_t *h)
{
	struct ft_uapi_server *s = h->data;

	s->pending_closes--;
	server_maybe_free(s);
}

int ft_uapi_server_create(struct ft_uapi_server **out, uv_loop_t *loop, const char *path,
			  const struct ft_uapi_ops *ops, void *arg)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct ft_uapi_server *s;
	struct stat st;
	int fd = -1, rc;

	assert(ops && ops->get && ops->set);
	*out = NULL;
	if (strlen(path) >= sizeof(sun.sun_path))
		return -ENAMETOOLONG;
	memcpy(sun.sun_path, path, strlen(path) + 1);
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->loop = loop;
	s->max_request = FT_UAPI_MAX_REQUEST;
	s->ops = *ops;
	s->arg = arg;
	s->file_fd = -1;
	memcpy(s->path, path, strlen(path) + 1);

	rc = make_dir(path);
	if (rc < 0)
		goto err_free;
	rc = check_existing(path, &sun);
	if (rc < 0)
		goto err_free;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		rc = -errno;
		goto err_free;
	}
	/* Linux gives the socket file the mode of the socket's inode: 0600 from the start, no
	 * window in which another user could connect (the chmod below is for other kernels). */
	if (fchmod(fd, 0600) < 0 || bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		rc = -errno;
		goto err_close;
	}
	if (chmod(path, 0600) < 0 || listen(fd, 16) < 0) {
		rc = -errno;
		goto err_unlink;
	}
	/* The socket file's inode, for the watch (file_state()), opened while we may. */
	s->file_fd = open(path, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (s->file_fd < 0 || fstat(s->file_fd, &st) < 0) {
		rc = -errno;
		goto err_unlink;
	}
	if (!S_ISSOCK(st.st_mode)) {
		rc = -EEXIST; /* replaced between the bind and the open */
		goto err_close;
	}
	s->dev = st.st_dev;
	s->ino = st.st_ino;

	rc = uv_pipe_init(loop, &s->listener, 0);
	if (rc < 0)
		goto err_unlink;
	s->listener.data = s;
	rc = uv_pipe_open(&s->listener, fd);
	if (rc < 0) {
		close(fd);
		goto err_handle;
	}
	/* From here the handle owns fd. */
	rc = uv_listen((uv_stream_t *)&s->listener, 16, on_connection);
	if (rc < 0)
		goto err_handle;
	uv_timer_init(loop, &s->watch);
	s->watch.data = s;
	*out = s;
	return 0;

err_handle:
	/* The handle's memory is s: it is freed in the close callback, after this returns. */
	unlink(path);
	s->closing = true;
	s->pending_closes = 1;
	uv_close((uv_handle_t *)&s->listener, listener_closed);
	return rc;
err_unlink:
	unlink(path);
err_close:
	close(fd);
err_free:
	if (s->file_fd >= 0)
		close(s->file_fd);
	free(s);
	return rc;
}

static void watch_tick(uv_timer_t *t)
{
	struct ft_uapi_server *s = t->data;
	const char *gone;

	if (file_state(s, &gone) != FILE_GONE)
		return;
	uv_timer_stop(t);
	ft_log(FT_LOG_NOTICE, "uapi: %s %s", s->path, gone);
	if (s->gone)
		s->gone(s->gone_arg);
}

int ft_uapi_server_watch(struct ft_uapi_server *s, uint64_t interval_ms, void (*gone)(void *arg),
			 void *arg)
{
	assert(interval_ms > 0);
	s->gone = gone;
	s->gone_arg = arg;
	return uv_timer_start(&s->watch, watch_tick, interval_ms, interval_ms);
}

void ft_uapi_server_close(struct ft_uapi_server *s, void (*cb)(void *arg), void *arg)
{
	const char *gone;

	if (s->closing)
		return;
	s->closing = true;
	s->close_cb = cb;
	s->close_arg = arg;
	/*
	 * Someone else's socket may have replaced ours: only ours is removed, checked again by
	 * the opener when we cannot look the path up ourselves.
	 */
	if (file_state(s, &gone) != FILE_GONE)
		ft_opener_unlink_inode(s->path, s->dev, s->ino);
	while (s->clients)
		client_close(s->clients);
	s->pending_closes += 2;
	uv_close((uv_handle_t *)&s->listener, listener_closed);
	uv_close((uv_handle_t *)&s->watch, listener_closed);
}

void ft_uapi_server_set_max_request(struct ft_uapi_server *s, size_t bytes)
{
	s->max_request = bytes < FT_UAPI_MAX_REQUEST ? bytes : FT_UAPI_MAX_REQUEST;
}
