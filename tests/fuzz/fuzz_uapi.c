// SPDX-License-Identifier: MIT
/*
 * The userspace API parser over an arbitrary byte stream, split into requests as the server
 * splits them. Each request is refused with a documented errno, or parsed into a set whose
 * fields keep their limits; nothing leaks either way.
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <sodium.h>

#include "base/sockaddr.h"
#include "tun/ctl/uapi.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)              \
	do {                     \
		if (!(cond))     \
			abort(); \
	} while (0)

static void check_set(const struct ft_uapi_set *set)
{
	char ep[FT_UAPI_ENDPOINT_LEN];

	CHECK(set->n_peers <= FT_UAPI_MAX_PEERS);
	CHECK(set->n_peers == 0 || set->peers);
	for (size_t i = 0; i < set->n_peers; i++) {
		const struct ft_uapi_peer *p = &set->peers[i];

		if (p->has_endpoint) {
			CHECK(p->endpoint.ss_family == AF_INET ||
			      p->endpoint.ss_family == AF_INET6);
			CHECK(ft_sockaddr_format(ep, sizeof(ep),
						 (const struct sockaddr *)&p->endpoint) == 0);
		}
		for (size_t j = 0; j < p->n_allowed_ips; j++) {
			const struct ft_config_addr *a = &p->allowed_ips[j];

			CHECK(a->family == AF_INET || a->family == AF_INET6);
			CHECK(a->cidr <= (a->family == AF_INET ? 32 : 128));
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;
	static bool ready;

	if (!ready) {
		if (sodium_init() < 0)
			abort();
		ready = true;
	}
	while (size > 0) {
		size_t n = ft_uapi_request_len(buf, size);
		struct ft_uapi_set *set;
		enum ft_uapi_op op;
		int rc;

		/* An unterminated tail is what the server keeps waiting on: parse it anyway. */
		if (n == 0)
			n = size;
		CHECK(n <= size);
		rc = ft_uapi_parse(buf, n, &op, &set);
		if (rc == 0) {
			CHECK(op == FT_UAPI_GET || op == FT_UAPI_GET_EXTRAS || op == FT_UAPI_SET);
			CHECK((op == FT_UAPI_SET) == (set != NULL));
			if (set)
				check_set(set);
			ft_uapi_set_free(set);
		} else {
			CHECK(rc == -EPROTO || rc == -EINVAL || rc == -E2BIG || rc == -EMSGSIZE ||
			      rc == -ENOMEM);
			CHECK(set == NULL);
		}
		buf += n;
		size -= n;
	}
	return 0;
}
