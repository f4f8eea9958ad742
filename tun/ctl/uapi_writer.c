// SPDX-License-Identifier: MIT
/*
 * The get-side writer of the userspace API: the key=value lines of an answer, in a buffer
 * that may hold the private key and is wiped whenever it is grown or released. Apart from
 * the server (uapi_server.c) because it is the backend's side of a get: tun/worker/ctl.c writes
 * the device's state through it and never sees the socket.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <sodium.h>

#include "base/sockaddr.h"
#include "tun/ctl/uapi.h"
#include "tun/ctl/uapi_internal.h"

static int writer_reserve(struct ft_uapi_writer *w, size_t n)
{
	size_t cap;
	char *nbuf;

	if (w->err)
		return w->err;
	if (n > FT_UAPI_MAX_RESPONSE - w->len)
		return w->err = -EMSGSIZE;
	if (w->len + n <= w->cap)
		return 0;
	cap = w->cap ? w->cap : 4096;
	while (cap < w->len + n)
		cap *= 2;
	/* Not realloc: the old buffer must be wiped, it may hold the private key. */
	nbuf = malloc(cap);
	if (!nbuf)
		return w->err = -ENOMEM;
	if (w->buf) {
		memcpy(nbuf, w->buf, w->len);
		sodium_memzero(w->buf, w->cap);
		free(w->buf);
	}
	w->buf = nbuf;
	w->cap = cap;
	return 0;
}

int ft_uapi_writer_append(struct ft_uapi_writer *w, const char *s, size_t n)
{
	int rc = writer_reserve(w, n);

	if (rc < 0)
		return rc;
	memcpy(w->buf + w->len, s, n);
	w->len += n;
	return 0;
}

void ft_uapi_writer_release(struct ft_uapi_writer *w)
{
	if (w->buf) {
		sodium_memzero(w->buf, w->cap);
		free(w->buf);
	}
	memset(w, 0, sizeof(*w));
}

static bool valid_key_name(const char *key)
{
	if (!*key)
		return false;
	for (const char *p = key; *p; p++) {
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_'))
			return false;
	}
	return true;
}

__attribute__((format(printf, 3, 0))) static int
write_kv_v(struct ft_uapi_writer *w, const char *key, const char *fmt, va_list ap)
{
	size_t key_len = strlen(key), start = w->len, vlen;
	va_list ap2;
	int n, rc;

	if (w->err)
		return w->err;
	if (!valid_key_name(key))
		return w->err = -EINVAL;
	va_copy(ap2, ap);
	n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0)
		return w->err = -EINVAL;
	vlen = (size_t)n;
	/* key, '=', the value, its NUL (vsnprintf writes one), then the NUL becomes '\n'. */
	rc = writer_reserve(w, key_len + 1 + vlen + 1);
	if (rc < 0)
		return rc;
	memcpy(w->buf + w->len, key, key_len);
	w->buf[w->len + key_len] = '=';
	vsnprintf(w->buf + w->len + key_len + 1, vlen + 1, fmt, ap);
	if (memchr(w->buf + w->len + key_len + 1, '\n', vlen) ||
	    memchr(w->buf + w->len + key_len + 1, '=', vlen)) {
		sodium_memzero(w->buf + start, key_len + 1 + vlen);
		return w->err = -EINVAL;
	}
	w->buf[w->len + key_len + 1 + vlen] = '\n';
	w->len += key_len + 1 + vlen + 1;
	return 0;
}

int ft_uapi_write_kv(struct ft_uapi_writer *w, const char *key, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = write_kv_v(w, key, fmt, ap);
	va_end(ap);
	return rc;
}

int ft_uapi_write_key(struct ft_uapi_writer *w, const char *key, const uint8_t k[FT_KEY_LEN])
{
	char hex[FT_KEY_HEX_LEN + 1];
	int rc;

	ft_key_to_hex(hex, k);
	rc = ft_uapi_write_kv(w, key, "%s", hex);
	sodium_memzero(hex, sizeof(hex));
	return rc;
}

int ft_uapi_write_endpoint(struct ft_uapi_writer *w, const struct sockaddr *sa)
{
	char ep[FT_UAPI_ENDPOINT_LEN];
	int rc = ft_sockaddr_format(ep, sizeof(ep), sa);

	if (rc < 0)
		return w->err ? w->err : (w->err = rc);
	return ft_uapi_write_kv(w, "endpoint", "%s", ep);
}

int ft_uapi_write_allowed_ip(struct ft_uapi_writer *w, int family, const uint8_t *addr,
			     uint8_t cidr)
{
	char host[INET6_ADDRSTRLEN];

	if ((family != AF_INET && family != AF_INET6) || cidr > (family == AF_INET ? 32 : 128))
		return w->err ? w->err : (w->err = -EINVAL);
	inet_ntop(family, addr, host, sizeof(host));
	return ft_uapi_write_kv(w, "allowed_ip", "%s/%u", host, cidr);
}

bool ft_uapi_writer_extras(const struct ft_uapi_writer *w)
{
	return w->extras;
}
