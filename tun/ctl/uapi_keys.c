// SPDX-License-Identifier: MIT
/*
 * The key names of uapi_keys.h and their lookup: a 128-slot open-addressing table of FNV-1a
 * hashes, built once (pthread_once: flowtun show and the worker may both be in one process,
 * tests call it from anywhere). An answer for 100,000 peers has about a million lines; a
 * linear search over the list would be some 25 comparisons each.
 */
#include "config.h"

#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "tun/ctl/uapi_keys.h"

const char *const ft_uapi_key_names[FT_UAPI_KEY_COUNT] = { [FT_UAPI_KEY_NONE] = "",
#define NAME(name) [FT_UAPI_KEY_##name] = #name,
							   FT_UAPI_KEYS(NAME)
#undef NAME
};

enum { SLOTS = 128 }; /* a power of two, over twice the keys */

_Static_assert(FT_UAPI_KEY_COUNT < SLOTS / 2, "the key table would be too full");

static uint8_t table[SLOTS]; /* enum ft_uapi_key, FT_UAPI_KEY_NONE: empty */
static pthread_once_t table_once = PTHREAD_ONCE_INIT;

static uint32_t hash(const char *s, size_t len)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < len; i++)
		h = (h ^ (uint8_t)s[i]) * 16777619u;
	return h;
}

static void table_build(void)
{
	for (int k = FT_UAPI_KEY_NONE + 1; k < FT_UAPI_KEY_COUNT; k++) {
		const char *name = ft_uapi_key_names[k];
		uint32_t i = hash(name, strlen(name)) & (SLOTS - 1);

		while (table[i] != FT_UAPI_KEY_NONE)
			i = (i + 1) & (SLOTS - 1);
		table[i] = (uint8_t)k;
	}
}

enum ft_uapi_key ft_uapi_key_find(const char *s, size_t len)
{
	uint32_t i;

	pthread_once(&table_once, table_build);
	for (i = hash(s, len) & (SLOTS - 1); table[i] != FT_UAPI_KEY_NONE;
	     i = (i + 1) & (SLOTS - 1)) {
		const char *name = ft_uapi_key_names[table[i]];

		if (strlen(name) == len && memcmp(name, s, len) == 0)
			return (enum ft_uapi_key)table[i];
	}
	return FT_UAPI_KEY_NONE;
}
