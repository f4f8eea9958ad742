// SPDX-License-Identifier: MIT
/*
 * The exposition writer: metric families and their samples in the Prometheus text format 0.0.4
 * or OpenMetrics 1.0.0, straight into one buffer. The two formats differ in little, and all of
 * it is here:
 *
 *   text 0.0.4                               OpenMetrics 1.0.0
 *   # HELP x_total ...  / # TYPE x_total counter   # HELP x ... / # TYPE x counter
 *   (no UNIT)                                 # UNIT x bytes (when the family has a unit)
 *   info: # TYPE x_info gauge                 # TYPE x info
 *   HELP escapes \ and newline                HELP escapes \, newline and "
 *   (nothing at the end)                      # EOF
 *
 * Samples are written by hand (no printf per sample): a scrape of 100,000 peers is about a
 * million lines, and it runs on the packet path's loop.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tun/ctl/metrics.h"

/* ---- the buffer ------------------------------------------------------------------------- */

int ft_metrics_buf_reserve(struct ft_metrics_buf *b, size_t n)
{
	size_t max = b->max ? b->max : FT_METRICS_MAX_BODY, cap;
	char *p;

	if (b->err)
		return b->err;
	if (n > max - b->len)
		return b->err = -EMSGSIZE;
	if (b->len + n <= b->cap)
		return 0;
	cap = b->cap ? b->cap : 4096;
	while (cap < b->len + n)
		cap = cap > max / 2 ? max : 2 * cap;
	p = realloc(b->data, cap);
	if (!p)
		return b->err = -ENOMEM;
	b->data = p;
	b->cap = cap;
	return 0;
}

void ft_metrics_buf_append(struct ft_metrics_buf *b, const char *s, size_t n)
{
	if (n == 0 || ft_metrics_buf_reserve(b, n) < 0)
		return;
	memcpy(b->data + b->len, s, n);
	b->len += n;
}

void ft_metrics_buf_puts(struct ft_metrics_buf *b, const char *s)
{
	ft_metrics_buf_append(b, s, strlen(s));
}

/* Writes v in decimal at p (room for 20 digits); the number of digits. */
static size_t format_u64(char *p, uint64_t v)
{
	char tmp[20];
	size_t n = 0;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	for (size_t i = 0; i < n; i++)
		p[i] = tmp[n - 1 - i];
	return n;
}

void ft_metrics_buf_u64(struct ft_metrics_buf *b, uint64_t v)
{
	if (ft_metrics_buf_reserve(b, 20) < 0)
		return;
	b->len += format_u64(b->data + b->len, v);
}

/* The length of the valid UTF-8 sequence at s[0..n), or 0 if it is not one (RFC 3629). */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	size_t len;
	uint32_t cp;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2, cp = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		len = 3, cp = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		len = 4, cp = s[0] & 0x07;
	else
		return 0;
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	/* Overlong forms, surrogates and past U+10FFFF are not UTF-8. */
	if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

static void escape(struct ft_metrics_buf *b, const char *s, size_t n, bool quote)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0, run = 0;

	/* Worst case: every byte becomes U+FFFD (3 bytes); reserve once for the common case. */
	if (ft_metrics_buf_reserve(b, n) < 0)
		return;
	while (i < n) {
		size_t len = u[i] == '\\' || u[i] == '\n' || (quote && u[i] == '"')
				     ? 0
				     : utf8_len(u + i, n - i);

		if (len) {
			i += len;
			run += len;
			continue;
		}
		/* Copy the clean run before this byte, then the byte's replacement. */
		ft_metrics_buf_append(b, s + i - run, run);
		run = 0;
		if (u[i] == '\\')
			ft_metrics_buf_append(b, "\\\\", 2);
		else if (u[i] == '\n')
			ft_metrics_buf_append(b, "\\n", 2);
		else if (u[i] == '"')
			ft_metrics_buf_append(b, "\\\"", 2);
		else
			ft_metrics_buf_append(b, "\xef\xbf\xbd", 3);
		i++;
	}
	ft_metrics_buf_append(b, s + i - run, run);
}

void ft_metrics_buf_escape(struct ft_metrics_buf *b, const char *s, size_t n)
{
	escape(b, s, n, true);
}

void ft_metrics_buf_release(struct ft_metrics_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
	b->err = 0;
}

/* ---- families and samples --------------------------------------------------------------- */

void ft_metrics_writer_init(struct ft_metrics_writer *w, enum ft_metrics_format format,
			    size_t size_hint)
{
	memset(w, 0, sizeof(*w));
	w->format = format;
	if (size_hint)
		ft_metrics_buf_reserve(&w->out, size_hint);
}

static const char *sample_suffix(const struct ft_metrics_writer *w)
{
	switch (w->family->type) {
	case FT_METRICS_COUNTER:
		return "_total";
	case FT_METRICS_INFO:
		return "_info";
	default:
		return "";
	}
}

/* The name on the HELP and TYPE lines: the family's in OpenMetrics, the sample's in text. */
static void meta_name(struct ft_metrics_writer *w, const char *what)
{
	ft_metrics_buf_puts(&w->out, what);
	ft_metrics_buf_puts(&w->out, w->family->name);
	if (w->format == FT_METRICS_TEXT)
		ft_metrics_buf_puts(&w->out, sample_suffix(w));
	ft_metrics_buf_append(&w->out, " ", 1);
}

void ft_metrics_family(struct ft_metrics_writer *w, const struct ft_metrics_family *f)
{
	bool om = w->format == FT_METRICS_OPENMETRICS;
	const char *type;

	w->family = f;
	meta_name(w, "# HELP ");
	if (om) {
		escape(&w->out, f->help, strlen(f->help), true);
	} else {
		/* The text format escapes only \ and newline in HELP: a quote stays as it is. */
		escape(&w->out, f->help, strlen(f->help), false);
	}
	ft_metrics_buf_append(&w->out, "\n", 1);
	switch (f->type) {
	case FT_METRICS_COUNTER:
		type = "counter";
		break;
	case FT_METRICS_INFO:
		type = om ? "info" : "gauge";
		break;
	default:
		type = "gauge";
		break;
	}
	meta_name(w, "# TYPE ");
	ft_metrics_buf_puts(&w->out, type);
	ft_metrics_buf_append(&w->out, "\n", 1);
	if (om && f->unit && f->unit[0]) {
		meta_name(w, "# UNIT ");
		ft_metrics_buf_puts(&w->out, f->unit);
		ft_metrics_buf_append(&w->out, "\n", 1);
	}
}

static void sample_name(struct ft_metrics_writer *w)
{
	ft_metrics_buf_puts(&w->out, w->family->name);
	ft_metrics_buf_puts(&w->out, sample_suffix(w));
}

static void labels(struct ft_metrics_writer *w, const struct ft_metrics_label *l, size_t n)
{
	if (n == 0)
		return;
	ft_metrics_buf_append(&w->out, "{", 1);
	for (size_t i = 0; i < n; i++) {
		if (i)
			ft_metrics_buf_append(&w->out, ",", 1);
		ft_metrics_buf_puts(&w->out, l[i].name);
		ft_metrics_buf_append(&w->out, "=\"", 2);
		ft_metrics_buf_escape(&w->out, l[i].value, strlen(l[i].value));
		ft_metrics_buf_append(&w->out, "\"", 1);
	}
	ft_metrics_buf_append(&w->out, "}", 1);
}

void ft_metrics_sample(struct ft_metrics_writer *w, const struct ft_metrics_label *l, size_t n,
		       uint64_t value)
{
	ft_metrics_sample_fixed(w, l, n, value, 0);
}

static void value_fixed(struct ft_metrics_buf *b, uint64_t value, unsigned int decimals)
{
	uint64_t scale = 1;
	char frac[20];

	if (decimals > 19)
		decimals = 19;
	for (unsigned int i = 0; i < decimals; i++)
		scale *= 10;
	ft_metrics_buf_u64(b, value / scale);
	if (decimals == 0)
		return;
	value %= scale;
	for (unsigned int i = decimals; i-- > 0;) {
		frac[i] = (char)('0' + value % 10);
		value /= 10;
	}
	ft_metrics_buf_append(b, ".", 1);
	ft_metrics_buf_append(b, frac, decimals);
}

void ft_metrics_sample_fixed(struct ft_metrics_writer *w, const struct ft_metrics_label *l,
			     size_t n, uint64_t value, unsigned int decimals)
{
	sample_name(w);
	labels(w, l, n);
	ft_metrics_buf_append(&w->out, " ", 1);
	value_fixed(&w->out, value, decimals);
	ft_metrics_buf_append(&w->out, "\n", 1);
}

void ft_metrics_sample_set(struct ft_metrics_writer *w, const char *set, size_t len, uint64_t value)
{
	const char *name = w->family->name, *suffix = sample_suffix(w);
	size_t nl = strlen(name), sl = strlen(suffix), need = nl + sl + len + 2 + 1 + 20 + 1;
	char *p;

	/* One reservation and plain stores: this is the loop of a million samples. */
	if (ft_metrics_buf_reserve(&w->out, need) < 0)
		return;
	p = w->out.data + w->out.len;
	memcpy(p, name, nl);
	p += nl;
	memcpy(p, suffix, sl);
	p += sl;
	if (len) {
		*p++ = '{';
		memcpy(p, set, len);
		p += len;
		*p++ = '}';
	}
	*p++ = ' ';
	p += format_u64(p, value);
	*p++ = '\n';
	w->out.len = (size_t)(p - w->out.data);
}

int ft_metrics_writer_finish(struct ft_metrics_writer *w)
{
	if (w->format == FT_METRICS_OPENMETRICS)
		ft_metrics_buf_puts(&w->out, "# EOF\n");
	return w->out.err;
}

const char *ft_metrics_content_type(enum ft_metrics_format format)
{
	return format == FT_METRICS_OPENMETRICS ? "application/openmetrics-text; version=1.0.0"
						: "text/plain; version=0.0.4";
}
