/* SPDX-License-Identifier: MIT */
#ifndef FT_HUMAN_H
#define FT_HUMAN_H

#include <stddef.h>
#include <stdint.h>

/*
 * Byte counts for people, in binary units as wg(8) writes them: "532 B", "1.23 KiB",
 * "4.00 TiB" (with decimals 2). Writes into buf[0..size).
 */
void ft_human_bytes(char *buf, size_t size, uint64_t v, int decimals);

#endif
