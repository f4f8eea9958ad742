/* SPDX-License-Identifier: MIT */
#ifndef FT_CMD_SHOW_INTERNAL_H
#define FT_CMD_SHOW_INTERNAL_H

/*
 * flowtun show's parsed answer, shared by its three files and nobody else: cmd_show.c (the
 * command and the parsing of the answer), cmd_show_query.c (the request and the answer over
 * the API socket) and cmd_show_print.c (the text and JSON renderings of it).
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "tun/ctl/uapi.h"
#include "tun/ctl/uapi_client.h"
#include "tun/wg/key.h"

enum {
	/* What the server may answer at most (2^20 peers with the extras). */
	SHOW_MAX_ANSWER = FT_UAPI_MAX_RESPONSE,
	SHOW_READ_CHUNK = 64 << 10,
	SHOW_TIMEOUT_S = 5,
	SHOW_IFNAME_MAX = 15, /* IFNAMSIZ - 1 */
};

/* One interface's answer: the query's buffer and what was parsed from it (pointing into it). */
struct show_dev {
	char name[SHOW_IFNAME_MAX + 1];
	char *buf;
	size_t len, cap;
	bool extras; /* answered get=flowtun (not an older server's get=1) */
	struct ft_uapi_info in;
	char err[256]; /* why the query failed */
};

struct show_opts {
	bool json;
	bool all;
	uint64_t now; /* wall-clock seconds */
};

/* cmd_show_query.c */
/* The API socket of interface name, or -ENAMETOOLONG. */
int ft_show_socket_path(char out[FT_UAPI_PATH_LEN], const char *name);
/*
 * Sends request to d->name's socket and reads the answer into d->buf, NUL-terminated, through
 * the blank line that ends it. 0, or a negative errno with d->err saying what failed.
 */
int ft_show_query(struct show_dev *d, const char *request);

/* cmd_show_print.c */
/* Prints d as wg(8) does, with the flowtun extras, to f. */
void ft_show_print_device(FILE *f, const struct show_dev *d, const struct show_opts *o);

/* d as a new JSON object (the caller owns it, json_decref()), or NULL when out of memory. */
json_t *ft_show_device_json(const struct show_dev *d);

#endif
