/* SPDX-License-Identifier: MIT */
#ifndef FT_BASE_TEXT_H
#define FT_BASE_TEXT_H

#include <stddef.h>
#include <stdint.h>

/*
 * The two text helpers every parser of flowtun needs (config keys, the userspace API, the
 * privilege settings, flow-log filters, command-line options): one trim, one unsigned number.
 * No allocation, no locale beyond isspace()'s C one, any thread.
 */

/*
 * Strips white space (isspace: space, \t, \n, \v, \f, \r) from both ends of s, in place: the
 * trailing part is cut with a NUL. Returns the first character that is not white space (s
 * itself, or a later point in it).
 */
char *ft_trim(char *s);

/*
 * The decimal number s[0..len) as a whole: digits only (no sign, no space, no "0x", not
 * empty; leading zeros are fine), at most max. 0 and *out, or -EINVAL (*out untouched), also
 * for a number past max or past UINT64_MAX: the check is made digit by digit, before it could
 * overflow.
 */
int ft_parse_uint_n(const char *s, size_t len, uint64_t max, uint64_t *out);

/* ft_parse_uint_n() of the NUL-terminated s. */
int ft_parse_uint(const char *s, uint64_t max, uint64_t *out);

#endif
