// SPDX-License-Identifier: MIT
/*
 * flowtun show's conversation with the userspace API socket: one request, one bounded answer.
 * A plain blocking AF_UNIX socket is enough here, with a receive timeout so that a wedged
 * server cannot hang the command. The answer is read whole into the device's buffer, which
 * holds keys: it grows by copying and is wiped, never left behind in freed memory. The
 * parsing of the answer and the command are in cmd_show.c.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <sodium.h>

#include "tools/cmd_show_internal.h"
#include "tun/ctl/uapi.h"

/* Grows the answer buffer by copying, so that no stale copy of a key is left in freed memory. */
static int grow_buf(struct show_dev *d, size_t want)
{
	size_t c = d->cap ? d->cap : SHOW_READ_CHUNK;
	char *q;

	if (want <= d->cap)
		return 0;
	while (c < want)
		c *= 2;
	q = malloc(c);
	if (!q)
		return -ENOMEM;
	if (d->buf) {
		memcpy(q, d->buf, d->len);
		sodium_memzero(d->buf, d->cap);
		free(d->buf);
	}
	d->buf = q;
	d->cap = c;
	return 0;
}

int ft_show_socket_path(char out[FT_UAPI_PATH_LEN], const char *name)
{
	int n = snprintf(out, FT_UAPI_PATH_LEN, "%s/%s.sock", FT_UAPI_SOCKET_DIR, name);

	return n < 0 || n >= FT_UAPI_PATH_LEN ? -ENAMETOOLONG : 0;
}

int ft_show_query(struct show_dev *d, const char *request)
{
	char path[FT_UAPI_PATH_LEN];
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = SHOW_TIMEOUT_S };
	size_t reqlen = strlen(request), sent = 0, scan = 0;
	int fd, rc;

	rc = ft_show_socket_path(path, d->name);
	if (rc < 0) {
		snprintf(d->err, sizeof(d->err), "%s/%s.sock: the path is too long",
			 FT_UAPI_SOCKET_DIR, d->name);
		return rc;
	}
	memcpy(sun.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		rc = -errno;
		snprintf(d->err, sizeof(d->err), "cannot create a socket: %s", strerror(-rc));
		return rc;
	}
	/* A server that accepts and then says nothing must not hang the command. */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0 ||
	    connect(fd, (const struct sockaddr *)&sun, sizeof(sun)) < 0) {
		rc = -errno;
		snprintf(d->err, sizeof(d->err), "cannot connect to %s: %s", path, strerror(-rc));
		goto out;
	}
	while (sent < reqlen) {
		ssize_t n = send(fd, request + sent, reqlen - sent, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = -errno;
			snprintf(d->err, sizeof(d->err), "cannot write to %s: %s", path,
				 strerror(-rc));
			goto out;
		}
		sent += (size_t)n;
	}
	d->len = 0;
	for (;;) {
		char *end;
		ssize_t n;

		if (d->len >= SHOW_MAX_ANSWER) {
			rc = -EMSGSIZE;
			snprintf(d->err, sizeof(d->err),
				 "cannot read %s: the answer is over %d MiB", path,
				 SHOW_MAX_ANSWER >> 20);
			goto out;
		}
		rc = grow_buf(d, d->len + SHOW_READ_CHUNK + 1);
		if (rc < 0) {
			snprintf(d->err, sizeof(d->err), "cannot read %s: %s", path, strerror(-rc));
			goto out;
		}
		n = recv(fd, d->buf + d->len, SHOW_READ_CHUNK, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = errno == EAGAIN || errno == EWOULDBLOCK ? -ETIMEDOUT : -errno;
			snprintf(d->err, sizeof(d->err), "cannot read %s: %s", path,
				 rc == -ETIMEDOUT ? "no answer within 5 seconds" : strerror(-rc));
			goto out;
		}
		if (n == 0) {
			rc = -EPROTO;
			snprintf(d->err, sizeof(d->err),
				 "cannot read %s: the connection closed before the answer ended",
				 path);
			goto out;
		}
		d->len += (size_t)n;
		d->buf[d->len] = '\0';
		/* The answer holds no blank line before the one that ends it. */
		end = strstr(d->buf + scan, "\n\n");
		if (end) {
			d->len = (size_t)(end - d->buf) + 2;
			d->buf[d->len] = '\0';
			rc = 0;
			goto out;
		}
		scan = d->len - 1;
	}
out:
	close(fd);
	return rc;
}
