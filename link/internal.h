/* SPDX-License-Identifier: MIT */
#ifndef FT_LINK_INTERNAL_H
#define FT_LINK_INTERNAL_H

/* Shared between the files of link/ only; the module's API is link/link.h. */
#include <stdbool.h>
#include <stdint.h>

#include "link/link.h"

struct mnl_socket;

/* The kernel's dev_valid_name(): non-empty, shorter than IFNAMSIZ, no '/', ':' or space. */
bool ft_link_valid_ifname(const char *name);

/* A non-blocking rtnetlink socket subscribed to RTMGRP_LINK: 0 or a negative errno. */
int ft_link_rtnl_open_events(struct mnl_socket **nlp);

/*
 * Called for each RTM_NEWLINK/RTM_DELLINK read; name is NULL when the message has none.
 * Returns true when the interface is watched.
 */
typedef bool (*ft_link_rtnl_match_fn)(void *arg, const char *name, unsigned int ifindex);

/*
 * Reads what is queued on an events socket, at most a bounded batch per call so that a storm
 * of events cannot starve the loop. *recheck becomes true when a message matched or events
 * were lost (ENOBUFS). 0, or a negative errno other than EAGAIN.
 */
int ft_link_rtnl_read_events(struct mnl_socket *nl, ft_link_rtnl_match_fn match, void *arg,
			     bool *recheck);

/* A blocking rtnetlink socket for requests, with a receive timeout: 0 or a negative errno. */
int ft_link_rtnl_open_query(struct mnl_socket **nlp);

/* RTM_GETLINK of one interface by name: its rx bytes (IFLA_STATS64) and ifindex. */
int ft_link_rtnl_rx_bytes(struct mnl_socket *nl, uint32_t *seq, const char *ifname, uint64_t *bytes,
			  unsigned int *ifindex);

/*
 * RTM_GETLINK of one interface by name: its state from IFF_UP and the carrier, as link.h's
 * carrier_rtnl option describes, and its ifindex. On FT_LINK_ERROR *err is a negative errno
 * (-ENODEV: no such interface, -EINVAL: not a valid name), else 0.
 */
enum ft_link_state ft_link_rtnl_status(struct mnl_socket *nl, uint32_t *seq, const char *ifname,
				       int *err, unsigned int *ifindex);

#endif
