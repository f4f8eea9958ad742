// SPDX-License-Identifier: MIT
/*
 * libFuzzer harness for the IPFIX encoder: any dump (entries made from the input bytes: any
 * protocol, family, address, port and counter) at any message size must encode into messages
 * that fit max_msg, decode back with the tests' independent decoder, carry sequence numbers
 * that count the records before them, and hold exactly the records and packets expected.
 *
 * Input: 2 bytes max_msg (512 + value % 9000), 1 byte flags (bit 0: templates; bits 1-7: the
 * number of virtual entries among the rest), then 73 bytes per entry: family byte (bit 0 src,
 * bit 1 dst: IPv6 when set; bit 2: family 0), 40-byte key, 32 bytes of counters.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "../ipfix-decode.h"
#include "stats/ipfix.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum { ENTRY_IN = 73, MAX_ENTRIES = 256 };

struct check {
	struct ipfix_dec d;
	size_t max_msg;
	uint32_t seq;
};

static int on_msg(void *arg, const uint8_t *msg, size_t len)
{
	struct check *c = arg;
	size_t before = c->d.nrec;

	if (len > c->max_msg || ipfix_decode(&c->d, msg, len) != 0 || c->d.seq != c->seq)
		abort();
	c->seq += (uint32_t)(c->d.nrec - before);
	return 0;
}

static void make_entry(struct ft_conn_entry *e, const uint8_t *in)
{
	memcpy(&e->key, in + 1, sizeof(e->key));
	memcpy(&e->tx_packets, in + 41, 32);
	e->key.src.family = in[0] & 4 ? 0 : in[0] & 1 ? AF_INET6 : AF_INET;
	e->key.dst.family = in[0] & 4 ? 0 : in[0] & 2 ? AF_INET6 : AF_INET;
}

static int dir_records(const struct ft_conn_entry *e, uint64_t *packets)
{
	int n = 0;

	if (e->tx_packets || e->tx_bytes) {
		n++;
		*packets += e->tx_packets;
	}
	if (e->rx_packets || e->rx_bytes) {
		n++;
		*packets += e->rx_packets;
	}
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct ft_conn_entry entries[MAX_ENTRIES];
	struct ft_ipfix_encoder e;
	struct check c = { 0 };
	size_t n, nv, want = 0;
	uint64_t packets = 0, got_packets = 0;
	bool templates;
	int rc;

	if (size < 3)
		return 0;
	c.max_msg = FT_IPFIX_MIN_MSG + (size_t)((data[0] << 8 | data[1]) % 9000);
	templates = data[2] & 1;
	n = (size - 3) / ENTRY_IN;
	if (n > MAX_ENTRIES)
		n = MAX_ENTRIES;
	nv = (size_t)(data[2] >> 1);
	if (nv > n)
		nv = n;
	for (size_t i = 0; i < n; i++) {
		struct ft_conn_entry *x = &entries[i];
		int fam;

		make_entry(x, data + 3 + i * ENTRY_IN);
		if (i < nv) {
			fam = x->key.src.family;
			if (x->key.proto != FT_IPPROTO_INVALID && fam == x->key.dst.family && fam)
				want += (size_t)dir_records(x, &packets);
		} else if (x->key.dst.family) {
			want += (size_t)dir_records(x, &packets);
		}
	}
	if (ft_ipfix_encoder_init(&e, 1, c.max_msg) != 0)
		abort();
	if (!templates) {
		/* The decoder learns the templates from an earlier message, as a collector would. */
		struct ft_ipfix_encoder t;

		if (ft_ipfix_encoder_init(&t, 1, c.max_msg) != 0 ||
		    ft_ipfix_encode(&t, 1, true, 0, 0, NULL, 0, NULL, 0, on_msg, &c) != 1)
			abort();
		c.d.template_sets = 0;
		c.d.messages = 0;
	}
	rc = ft_ipfix_encode(&e, 1, templates, 2, 3, entries, nv, entries + nv, n - nv, on_msg, &c);
	if (rc < 0 || (size_t)rc != c.d.messages || c.d.nrec != want || e.seq != c.seq ||
	    (templates && c.d.template_sets != 1) || (!templates && c.d.template_sets != 0))
		abort();
	for (size_t i = 0; i < c.d.nrec; i++)
		got_packets += c.d.recs[i].packets;
	if (got_packets != packets)
		abort();
	ipfix_dec_free(&c.d);
	return 0;
}
