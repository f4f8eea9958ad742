/* SPDX-License-Identifier: MIT */
#ifndef FT_CONF_INTERNAL_H
#define FT_CONF_INTERNAL_H

/*
 * The parser's state, shared by the two halves of the configuration parser and nobody else:
 * conf.c (the reader that normalises lines for inih, sections, the whole-file checks, loading)
 * and conf_keys.c (what each key of [Interface] and [Peer] means, and its value's syntax).
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>

#include "tun/ctl/conf.h"

enum section {
	SECTION_NONE,
	SECTION_INTERFACE,
	SECTION_PEER,
};

struct parser {
	struct ft_config *cfg;
	const char *name;    /* of the file, for messages */
	const char *basedir; /* for a relative PrivateKeyFile; NULL: the working directory */
	const char *text;
	size_t pos;
	char *line; /* the current physical line, normalised; wiped when done */
	size_t line_size;
	unsigned int lineno;
	enum section section;
	unsigned int interface_line;
	unsigned int private_key_line;
	bool private_key_from_file;
	/* flowtun's own settings only: the WireGuard part comes through wg(8). */
	bool settings_only;
	/* A list too long for one inih line, still to be handed over. */
	const char *pending_key;
	const char *pending;
	char *errbuf;
	size_t errlen;
	int err;
};

void ft_config_fail_errno(struct parser *p, int err, unsigned int lineno, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
#define fail(p, ...) ft_config_fail_errno((p), -EINVAL, (p)->lineno, __VA_ARGS__)
bool ft_config_grow(struct parser *p, void **array, size_t n, size_t size);
bool ft_config_is_wg_quick_key(const char *key);
bool ft_config_interface_key(struct parser *p, const char *key, const char *value);
bool ft_config_peer_key(struct parser *p, const char *key, const char *value);

#endif
