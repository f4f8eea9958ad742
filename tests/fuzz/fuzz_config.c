// SPDX-License-Identifier: MIT
/*
 * The config parser over arbitrary text. A parse either fails with a message, or succeeds with
 * a config whose fields keep their documented limits; nothing leaks either way.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "tun/ctl/conf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)              \
	do {                     \
		if (!(cond))     \
			abort(); \
	} while (0)

static void check_addr(const struct ft_config_addr *a)
{
	CHECK(a->family == AF_INET || a->family == AF_INET6);
	CHECK(a->cidr <= (a->family == AF_INET ? 32 : 128));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ft_config cfg;
	char errbuf[256];
	char *text;
	int ret;

	if (size > 65536)
		return 0;
	text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';

	ret = ft_config_parse_string(text, "fuzz.conf", &cfg, errbuf, sizeof(errbuf));
	if (ret < 0) {
		CHECK(errbuf[0] != '\0');
		CHECK(cfg.private_key == NULL && cfg.peers == NULL);
	} else {
		CHECK(ret == 0);
		CHECK(cfg.private_key != NULL);
		CHECK(cfg.mtu == 0 || (cfg.mtu >= 576 && cfg.mtu <= 65535));
		CHECK(cfg.flow_log_interval >= 1 && cfg.link_poll_interval >= 1);
		for (size_t i = 0; i < cfg.n_addresses; i++)
			check_addr(&cfg.addresses[i]);
		for (size_t i = 0; i < cfg.n_link_watch; i++)
			CHECK(cfg.link_watch[i][0] != '\0');
		for (size_t i = 0; i < cfg.n_peers; i++) {
			const struct ft_config_peer *peer = &cfg.peers[i];

			for (size_t j = 0; j < peer->n_allowed_ips; j++)
				check_addr(&peer->allowed_ips[j]);
			CHECK(!peer->endpoint_host == !peer->endpoint_port);
		}
	}
	ft_config_free(&cfg);
	free(text);
	return 0;
}
