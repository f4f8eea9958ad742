// SPDX-License-Identifier: MIT
/*
 * The client side of a get (tun/ctl/uapi_client.c, what flowtun show reads) over arbitrary
 * bytes, as a hostile or broken server could answer: refused with a documented errno or
 * parsed into a device whose arrays agree with their counts and whose strings lie inside the
 * text; nothing leaks either way.
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "tun/ctl/uapi_client.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)              \
	do {                     \
		if (!(cond))     \
			abort(); \
	} while (0)

static void check_str(const char *s, const char *text, size_t size)
{
	if (s)
		CHECK(s >= text && s + strlen(s) <= text + size);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ft_uapi_info in;
	struct ft_uapi_info_error e;
	char *text;
	int rc;

	if (sodium_init() < 0)
		abort();
	text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	rc = ft_uapi_info_parse(&in, text, &e);
	CHECK(rc == 0 || rc == -ENOEXEC || rc == -EBADMSG || rc == -ENOMEM);
	CHECK(strlen(e.key) < sizeof(e.key));
	check_str(in.iface, text, size);
	check_str(in.crypto, text, size);
	for (size_t i = 0; i < in.n_links; i++) {
		check_str(in.links[i].name, text, size);
		check_str(in.links[i].state, text, size);
	}
	for (size_t i = 0; i < in.n_counters; i++)
		check_str(in.counters[i].name, text, size);
	for (size_t i = 0; i < in.n_top; i++)
		CHECK(in.top[i].proto <= 255);
	for (size_t i = 0; i < in.n_peers; i++) {
		CHECK(in.peers[i].index == i);
		CHECK(strlen(in.peers[i].public_key) == FT_KEY_B64_LEN);
		CHECK(rc != 0 || in.peers[i].handshake_nsec < 1000000000u);
		for (size_t j = 0; j < in.peers[i].n_allowed; j++)
			check_str(in.peers[i].allowed[j], text, size);
	}
	ft_uapi_info_free(&in);
	free(text);
	return 0;
}
