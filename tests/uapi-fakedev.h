/* SPDX-License-Identifier: MIT */
#ifndef FT_TESTS_UAPI_FAKEDEV_H
#define FT_TESTS_UAPI_FAKEDEV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "tun/ctl/uapi.h"

/*
 * A fake WireGuard device behind the userspace API, for tests: the state wg(8) can set and
 * show, in fixed arrays, with set applied to a copy and committed only when all of it fits
 * (the all-or-nothing rule the worker must follow too).
 */
enum {
	FAKEDEV_MAX_PEERS = 16,
	FAKEDEV_MAX_IPS = 16,
};

struct fakedev_peer {
	uint8_t public_key[FT_KEY_LEN];
	uint8_t preshared_key[FT_KEY_LEN]; /* all zero: none */
	struct sockaddr_storage endpoint;  /* ss_family 0: none */
	uint16_t keepalive;
	uint64_t rx_bytes, tx_bytes;
	struct ft_config_addr ips[FAKEDEV_MAX_IPS];
	size_t n_ips;
};

struct fakedev {
	uint8_t private_key[FT_KEY_LEN]; /* all zero: none */
	uint16_t listen_port;
	uint32_t fwmark;
	struct fakedev_peer peers[FAKEDEV_MAX_PEERS];
	size_t n_peers;
	unsigned int n_gets, n_sets; /* calls, counted outside the state above */
};

int fakedev_get(void *arg, struct ft_uapi_writer *w);
int fakedev_set(void *arg, const struct ft_uapi_set *set);
extern const struct ft_uapi_ops fakedev_ops;

#endif
