// SPDX-License-Identifier: MIT
/*
 * Sends a fixed dump through the IPFIX exporter to the collectors named on the command line,
 * run by tests/netns/ipfix.sh inside a namespace it created. Prints what a collector must read
 * back: "records R packets P bytes B", the sums over every record sent (tx and rx directions
 * of every entry that has addresses). Exits 1 when a send failed.
 *
 *   ipfix-probe [-m MTU] [-n DUMPS] HOST:PORT...
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <uv.h>

#include "stats/ipfix.h"

static struct ft_conn_entry entry(uint16_t proto, const char *src, uint16_t sport, const char *dst,
				  uint16_t dport, uint64_t txp, uint64_t txb, uint64_t rxp,
				  uint64_t rxb)
{
	struct ft_conn_entry e;

	memset(&e, 0, sizeof(e));
	e.key.proto = proto;
	if ((src && ft_addr_parse(&e.key.src, src) < 0) ||
	    (dst && ft_addr_parse(&e.key.dst, dst) < 0)) {
		fprintf(stderr, "ipfix-probe: bad address\n");
		exit(2);
	}
	e.key.src_port = sport;
	e.key.dst_port = dport;
	e.tx_packets = txp;
	e.tx_bytes = txb;
	e.rx_packets = rxp;
	e.rx_bytes = rxb;
	return e;
}

int main(int argc, char **argv)
{
	struct sockaddr_storage coll[FT_IPFIX_MAX_COLLECTORS];
	struct ft_ipfix_config cfg = { .collectors = coll, .domain_id = 4242 };
	struct ft_conn_entry v[8], p[2];
	struct ft_ipfix_exporter *x;
	struct ft_ipfix_counters c;
	uint64_t packets = 0, bytes = 0, records = 0;
	uv_loop_t loop;
	int opt, dumps = 1;

	while ((opt = getopt(argc, argv, "m:n:")) != -1) {
		if (opt == 'm')
			cfg.mtu = (size_t)atoi(optarg);
		else if (opt == 'n')
			dumps = atoi(optarg);
		else
			return 2;
	}
	for (; optind < argc && cfg.n_collectors < FT_IPFIX_MAX_COLLECTORS; optind++)
		if (ft_ipfix_parse_collector(argv[optind], &coll[cfg.n_collectors++]) < 0) {
			fprintf(stderr, "ipfix-probe: bad collector '%s'\n", argv[optind]);
			return 2;
		}
	v[0] = entry(6, "100.64.0.1", 80, "100.64.0.2", 51234, 88, 2780, 34, 8870);
	v[1] = entry(17, "100.64.0.1", 5353, "100.64.0.3", 53, 3, 231, 3, 411);
	v[2] = entry(1, "100.64.0.1", 0, "100.64.0.4", 0, 5, 420, 0, 0);
	v[3] = entry(6, "fd00::1", 443, "fd00::2", 40001, 1001, 1431001, 707, 36871);
	v[4] = entry(17, "fd00::1", 123, "fd00::3", 123, 0, 0, 1, 76);
	v[5] = entry(FT_IPPROTO_INVALID, NULL, 0, NULL, 0, 2, 3, 0, 0); /* not exported */
	v[6] = entry(6, "100.64.0.1", 22, "100.64.0.5", 60000, 12345, 6543210, 9876, 1234567);
	v[7] = entry(FT_IPPROTO_FRAGMENT, "100.64.0.1", 0, "100.64.0.2", 0, 2, 2800, 0, 0);
	p[0] = entry(0, "100.64.0.2", 0, "198.18.0.2", 51820, 13465, 8012345, 10628, 1299999);
	p[1] = entry(0, "fd00::2", 0, "fd00:1::2", 51821, 1001, 1500000, 707, 40000);
	for (size_t i = 0; i < 8; i++) {
		if (v[i].key.proto == FT_IPPROTO_INVALID)
			continue;
		records += (v[i].tx_packets > 0) + (v[i].rx_packets > 0);
		packets += v[i].tx_packets + v[i].rx_packets;
		bytes += v[i].tx_bytes + v[i].rx_bytes;
	}
	for (size_t i = 0; i < 2; i++) {
		records += (p[i].tx_packets > 0) + (p[i].rx_packets > 0);
		packets += p[i].tx_packets + p[i].rx_packets;
		bytes += p[i].tx_bytes + p[i].rx_bytes;
	}

	if (uv_loop_init(&loop) < 0 || !(x = ft_ipfix_exporter_create(&loop, &cfg))) {
		perror("ipfix-probe: create");
		return 1;
	}
	if (ft_ipfix_exporter_start(x) < 0) {
		perror("ipfix-probe: start");
		return 1;
	}
	for (int i = 0; i < dumps; i++)
		ft_ipfix_exporter_export(x, 1767323045123ULL, 1767323050123ULL, v, 8, p, 2);
	ft_ipfix_exporter_get_counters(x, &c);
	ft_ipfix_exporter_close(x, NULL);
	uv_run(&loop, UV_RUN_DEFAULT);
	if (uv_loop_close(&loop) != 0) {
		fprintf(stderr, "ipfix-probe: a handle leaked\n");
		return 1;
	}
	printf("records %" PRIu64 " packets %" PRIu64 " bytes %" PRIu64 "\n", records * dumps,
	       packets * dumps, bytes * dumps);
	fprintf(stderr,
		"ipfix-probe: %" PRIu64 " messages, %" PRIu64 " bytes, %" PRIu64
		" records, %" PRIu64 " send errors\n",
		c.messages, c.bytes, c.records, c.send_errors);
	return c.send_errors ? 1 : 0;
}
