/* SPDX-License-Identifier: MIT */
#ifndef FT_STEER_H
#define FT_STEER_H

#include <stdint.h>

/*
 * Steering of the underlay's SO_REUSEPORT group (issue 15, point 4: one UDP socket per worker)
 * by WireGuard's receiver index, so that a session's datagrams always reach the worker that
 * made the index, and no two workers touch one session's receive state.
 *
 * A classic BPF program on the group (SO_ATTACH_REUSEPORT_CBPF) picks socket
 * (low byte of the index) % n, the sockets numbered in the order they joined the group:
 *   - handshake response (type 2): its receiver index, at offset 8;
 *   - cookie reply (3) and transport data (4): the receiver index, at offset 4;
 *   - initiation (1) and anything else: the initiator's own index at offset 4, random, which
 *     spreads initiations over the workers (the one that answers makes the session's index);
 *   - a datagram too short for the byte: socket 0.
 * The index is little-endian on the wire, so its low byte is the datagram's byte at the
 * offset. A worker makes its indices with ft_steer_lane(index, n) == its number.
 *
 * A building block: flowtun runs one worker today and attaches nothing.
 */
enum { FT_STEER_MAX = 256 };

/* Attaches the program for n sockets (1..FT_STEER_MAX) to the group fd belongs to. 0 or a
 * negative errno (-EINVAL: n out of range). */
int ft_steer_attach(int fd, unsigned int n);

/* The socket (worker) a receiver index is steered to among n. */
static inline unsigned int ft_steer_lane(uint32_t index, unsigned int n)
{
	return (index & 0xffu) % n;
}

#endif
