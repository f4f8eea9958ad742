// SPDX-License-Identifier: MIT
/*
 * libFuzzer harness for the packet parser and the virtual updates that parse: any bytes must
 * parse without reading past the input (ASan) and give a consistent result, and counting them
 * must land them in exactly one connection.
 */
#include "config.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "stats/connstats.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void on_dump(void *arg, const struct ft_conn_window *win)
{
	(void)arg;
	assert(win->nv + win->np > 0 && win->nv + win->np <= 2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uv_loop_t loop;
	static struct ft_connstats *s;
	struct ft_packet_info info;
	struct ft_conn_entry *v, *p;
	size_t nv, np;
	int ret;

	if (!s) {
		uv_loop_init(&loop);
		/* max_conns 2: the tx and rx keys of one packet, so flushes are exercised too. */
		s = ft_connstats_create(&loop, 0, 2, on_dump, NULL);
		assert(s);
	}
	/* An exact-size copy: libFuzzer's buffer may have slack ASan would not catch. */
	uint8_t *copy = malloc(size ? size : 1);
	memcpy(copy, data, size);

	ret = ft_packet_parse(copy, size, &info);
	assert(ret == 0 || ret == -EINVAL);
	assert((ret == 0) == (info.reason == FT_PACKET_OK));
	assert((ret != 0) == (info.proto == FT_IPPROTO_INVALID));
	assert(info.len <= size);
	assert(ft_packet_reason_str(info.reason)[0] != '\0');
	if (ret == 0) {
		char buf[FT_ADDRPORT_STRLEN];

		assert(info.version == 4 || info.version == 6);
		assert(ft_addrport_format(&info.src, info.src_port, buf, sizeof(buf)) > 0);
		assert(ft_addrport_format(&info.dst, info.dst_port, buf, sizeof(buf)) > 0);
		if (!(info.flags & FT_PACKET_F_PORTS))
			assert(info.src_port == 0 && info.dst_port == 0);
	}

	ft_connstats_update_tx_virtual(s, copy, size);
	ft_connstats_update_rx_virtual(s, copy, size);
	ret = ft_connstats_extract(s, &v, &nv, &p, &np);
	assert(ret == 0 && np == 0 && nv >= 1 && nv <= 2);
	assert(v[0].tx_packets == 1 && v[0].tx_bytes == size);
	assert(v[nv - 1].rx_packets == 1 && v[nv - 1].rx_bytes == size);
	free(v);
	free(copy);
	return 0;
}
