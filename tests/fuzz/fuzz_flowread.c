// SPDX-License-Identifier: MIT
/*
 * libFuzzer harness for the flow-log reader: any bytes as one line must parse or be rejected
 * with a reason, never read past the input (an exact-size copy, no NUL), and what parses must
 * survive the filters, a merge with itself and every grouping with consistent sums.
 */
#include "config.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "stats/flowread.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ft_flowread_msg m = { 0 }, twice = { 0 };
	struct ft_flowread_filter f;
	char err[256] = "";
	char *copy = malloc(size ? size : 1);
	uint64_t tx = 0;
	int ret;

	memcpy(copy, data, size);
	ret = ft_flowread_parse(&m, copy, size, err, sizeof(err));
	assert(ret == 0 || ret == -EINVAL || ret == -ENOMEM);
	if (ret != 0) {
		assert(err[0] != '\0');
		assert(m.node_id == NULL && m.n == 0);
		free(copy);
		return 0;
	}
	assert(m.node_id && m.start_ms <= m.end_ms);
	ft_flowread_filter_init(&f);
	assert(ft_flowread_window_match(&f, &m));
	for (size_t i = 0; i < m.n; i++) {
		const struct ft_flowread_key *k = &m.entries[i].key;
		char buf[FT_FLOWREAD_PROTO_STRLEN];

		assert(k->kind < FT_FLOWREAD_NKINDS && k->wild == 0);
		assert(k->proto <= 255 || k->proto == FT_IPPROTO_INVALID);
		assert((k->proto == FT_IPPROTO_INVALID) == (k->src.family == 0));
		assert(ft_flowread_proto_parse(ft_flowread_proto_str(k->proto, buf)) == k->proto);
		assert(ft_flowread_entry_match(&f, &m.entries[i]));
		tx = ft_flowread_add_sat(tx, m.entries[i].tx_bytes);
	}

	/* A window merged with a copy of itself: twice the entries, the same window. */
	twice.node_id = strdup(m.node_id);
	twice.start_ms = m.start_ms;
	twice.end_ms = m.end_ms;
	assert(twice.node_id && ft_flowread_same_window(&twice, &m));
	assert(ft_flowread_merge(&twice, &m) == 0 && ft_flowread_merge(&twice, &m) == 0);
	assert(twice.n == 2 * m.n);

	for (int g = FT_FLOWREAD_GROUP_FLOW; g <= FT_FLOWREAD_GROUP_PEER; g++) {
		struct ft_flowread_agg *a = ft_flowread_agg_create((enum ft_flowread_group)g);
		const struct ft_flowread_row *r;
		uint64_t sum = 0;
		size_t n;

		assert(a);
		assert(ft_flowread_agg_add(a, &twice, twice.entries, twice.n) == 0);
		n = ft_flowread_agg_sort(a, g % 2, &r);
		assert(n <= m.n);
		for (size_t i = 0; i < n; i++) {
			assert(r[i].windows == 1);
			sum = ft_flowread_add_sat(sum, r[i].e.tx_bytes);
		}
		assert(sum == ft_flowread_add_sat(tx, tx));
		ft_flowread_agg_destroy(a);
	}
	ft_flowread_msg_free(&twice);
	ft_flowread_msg_free(&m);
	free(copy);
	return 0;
}
