// SPDX-License-Identifier: MIT
#include "config.h"

#include <inttypes.h>
#include <stdio.h>

#include "tools/human.h"

void ft_human_bytes(char *buf, size_t size, uint64_t v, int decimals)
{
	static const char *const units[] = { "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
	double d = (double)v;
	size_t u = 0;

	if (v < 1024) {
		snprintf(buf, size, "%" PRIu64 " B", v);
		return;
	}
	d /= 1024;
	while (d >= 1024 && u + 1 < sizeof(units) / sizeof(units[0])) {
		d /= 1024;
		u++;
	}
	snprintf(buf, size, "%.*f %s", decimals, d, units[u]);
}
