/* SPDX-License-Identifier: MIT */
#ifndef FT_UAPI_INTERNAL_H
#define FT_UAPI_INTERNAL_H

/*
 * The writer's buffer, shared by uapi_writer.c, which fills it with key=value lines, and
 * uapi_server.c, which sends it as a client's answer; nobody else sees inside it.
 */
#include <stdbool.h>
#include <stddef.h>

#include "tun/ctl/uapi.h"

struct ft_uapi_writer {
	char *buf; /* holds the private key: wiped when grown and freed */
	size_t len, cap;
	int err;
	bool extras;
};

int ft_uapi_writer_append(struct ft_uapi_writer *w, const char *s, size_t n);
void ft_uapi_writer_release(struct ft_uapi_writer *w);

#endif
