// SPDX-License-Identifier: MIT
/*
 * AllowedIPs against a naive model. The input is a sequence of operations:
 *
 *   byte 0: op (low 2 bits: 0 insert, 1 remove, 2 remove-by-peer, 3 lookup),
 *           bit 2: IPv6, bits 3-5: which of 8 peers
 *   byte 1: cidr (taken modulo 33 or 129, except 255, which stays out of range)
 *   then 4 or 16 address bytes (missing bytes are zero).
 *
 * After every operation the trie's answer, count and shape must agree with the model, and a
 * final walk must return exactly the model's prefixes.
 */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "tun/wg/allowedips.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum { MAX_ENTRIES = 1024 };

struct entry {
	int family;
	uint8_t addr[16];
	uint8_t cidr;
	struct ft_peer *peer;
};

static char peer_storage[9];
static struct entry model[MAX_ENTRIES];
static size_t model_n;

#define CHECK(cond)              \
	do {                     \
		if (!(cond))     \
			abort(); \
	} while (0)

static bool contains(const struct entry *e, int family, const uint8_t *addr)
{
	size_t full = e->cidr / 8;
	unsigned int rest = e->cidr % 8;

	if (e->family != family || memcmp(e->addr, addr, full) != 0)
		return false;
	return rest == 0 || ((e->addr[full] ^ addr[full]) & (uint8_t)(0xff00 >> rest)) == 0;
}

static struct entry *find(int family, const uint8_t *addr, uint8_t cidr)
{
	for (size_t i = 0; i < model_n; i++)
		if (model[i].family == family && model[i].cidr == cidr &&
		    memcmp(model[i].addr, addr, 16) == 0)
			return &model[i];
	return NULL;
}

static struct ft_peer *model_lookup(int family, const uint8_t *addr)
{
	const struct entry *best = NULL;

	for (size_t i = 0; i < model_n; i++)
		if (contains(&model[i], family, addr) && (!best || model[i].cidr > best->cidr))
			best = &model[i];
	return best ? best->peer : NULL;
}

static int walk_check(void *arg, int family, const uint8_t *addr, uint8_t cidr)
{
	size_t *seen = arg;
	uint8_t key[16] = { 0 };

	memcpy(key, addr, family == AF_INET ? 4 : 16);
	CHECK(find(family, key, cidr) != NULL);
	(*seen)++;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ft_allowedips *t = ft_allowedips_create();
	size_t pos = 0, seen = 0;

	if (!t)
		return 0;
	model_n = 0;
	while (pos + 2 <= size) {
		uint8_t op = data[pos], raw_cidr = data[pos + 1];
		int family = op & 4 ? AF_INET6 : AF_INET;
		size_t len = family == AF_INET ? 4 : 16;
		unsigned int bits = family == AF_INET ? 32 : 128;
		struct ft_peer *peer = (struct ft_peer *)(void *)&peer_storage[1 + ((op >> 3) & 7)];
		uint8_t addr[16] = { 0 };
		uint8_t cidr = raw_cidr == 255 ? 255 : (uint8_t)(raw_cidr % (bits + 1));
		struct entry *e;
		int ret;

		pos += 2;
		for (size_t i = 0; i < len && pos < size; i++)
			addr[i] = data[pos++];

		switch (op & 3) {
		case 0:
			ret = ft_allowedips_insert(t, family, addr, cidr, peer);
			if (cidr > bits) {
				CHECK(ret == -EINVAL);
				break;
			}
			CHECK(ret == 0);
			for (size_t i = 0; i < 16; i++) {
				unsigned int keep = cidr > i * 8 ? cidr - i * 8 : 0;

				if (keep < 8)
					addr[i] &= (uint8_t)(0xff00 >> keep);
			}
			e = find(family, addr, cidr);
			if (!e) {
				if (model_n == MAX_ENTRIES) {
					CHECK(ft_allowedips_remove(t, family, addr, cidr) == 0);
					break;
				}
				e = &model[model_n++];
				e->family = family;
				memcpy(e->addr, addr, 16);
				e->cidr = cidr;
			}
			e->peer = peer;
			break;
		case 1:
			ret = ft_allowedips_remove(t, family, addr, cidr);
			if (cidr > bits) {
				CHECK(ret == -EINVAL);
				break;
			}
			for (size_t i = 0; i < 16; i++) {
				unsigned int keep = cidr > i * 8 ? cidr - i * 8 : 0;

				if (keep < 8)
					addr[i] &= (uint8_t)(0xff00 >> keep);
			}
			e = find(family, addr, cidr);
			CHECK(ret == (e ? 0 : -ENOENT));
			if (e)
				*e = model[--model_n];
			break;
		case 2:
			ft_allowedips_remove_by_peer(t, peer);
			for (size_t i = 0; i < model_n;) {
				if (model[i].peer == peer)
					model[i] = model[--model_n];
				else
					i++;
			}
			break;
		default:
			CHECK(ft_allowedips_lookup(t, family, addr) == model_lookup(family, addr));
			break;
		}
		CHECK(ft_allowedips_count(t) == model_n);
		CHECK(ft_allowedips_nodes(t) <= 2 * model_n);
	}
	CHECK(ft_allowedips_walk(t, NULL, walk_check, &seen) == 0);
	CHECK(seen == model_n);
	ft_allowedips_destroy(t);
	return 0;
}
