/* SPDX-License-Identifier: MIT */
#ifndef FT_CMD_FLOWS_INTERNAL_H
#define FT_CMD_FLOWS_INTERNAL_H

/*
 * flowtun flows' state, shared by its two files and nobody else: cmd_flows.c (the options, the
 * inputs and following them, the lines) and cmd_flows_print.c (the windows' selection and their
 * rendering as tables, JSON Lines or CSV, the aggregate and the totals).
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "stats/flowread.h"

struct ft_command;

enum output { OUT_TABLE, OUT_JSON, OUT_CSV };

struct flows {
	const struct ft_command *cmd;
	struct ft_flowread_filter filter;
	enum output out;
	bool aggregate, by_packets, csv_header, stop, follow;
	enum ft_flowread_group group;
	uint64_t top; /* 0: all groups */
	struct ft_flowread_agg *agg;
	struct ft_flowread_msg pending, line;
	uint64_t count, shown_windows, first_ms, last_ms;
	uint64_t rows, tx_pkts, tx_bytes, rx_pkts, rx_bytes;
	/* Physical datagrams carry the virtual packets: totalled apart, never added to them. */
	uint64_t ptx_pkts, ptx_bytes, prx_pkts, prx_bytes;
	/*
	 * What the windows in the time range sum up without entries: the kernel's drops at the
	 * TUN queue and what the writer left out. Whole windows: entry filters cannot apply.
	 */
	bool any_tun_dropped;
	uint64_t tun_dropped;
	struct ft_flowread_omitted omitted, omitted_phys;
	bool malformed, failed, nomem;
	struct ft_flowread_entry *sel; /* the entries of one window that pass the filters */
	size_t sel_cap;
};

/* Shows (or aggregates) the pending window and empties it. */
void ft_flows_flush_window(struct flows *fl);

/* The aggregation's table, JSON Lines or CSV, at the end of the input. */
void ft_flows_print_aggregate(struct flows *fl);

/* The table's totals line (and the underlay's, when there were physical rows). */
void ft_flows_print_totals(const struct flows *fl);

/* The CSV header line, once. */
void ft_flows_csv_header(struct flows *fl);

#endif
