// SPDX-License-Identifier: MIT
/*
 * The HTTP side of the metrics endpoint, with no I/O: where a request head ends, what it asks
 * for (RFC 9110 and 9112, the little of them a GET /metrics needs), which format its Accept
 * header prefers, and the status line and headers of the answer.
 *
 * Parsing is in two steps, as everywhere at a trust boundary here: ft_metrics_head_scan()
 * bounds the head (every byte checked, nothing interpreted), then ft_metrics_parse_request()
 * reads the bounded head line by line. Nothing is copied and nothing allocated.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "base/text.h"
#include "tun/ctl/metrics.h"

/* ---- the head --------------------------------------------------------------------------- */

/* A byte no request head holds: controls other than CR, LF and HT, and DEL (RFC 9110 5.5). */
static bool bad_head_byte(unsigned char c)
{
	return (c < 0x20 && c != '\r' && c != '\n' && c != '\t') || c == 0x7f;
}

int ft_metrics_head_scan(const char *buf, size_t len, size_t *head_len)
{
	const unsigned char *u = (const unsigned char *)buf;
	bool line_end = false;
	size_t start = 0;

	/* Empty lines before the request line are skipped (RFC 9112 2.2). */
	while (start < len && (u[start] == '\r' || u[start] == '\n'))
		start++;
	for (size_t i = start; i < len; i++) {
		/* A CR that does not end a line would smuggle a line break past some parsers. */
		if (bad_head_byte(u[i]) || (u[i] == '\r' && i + 1 < len && u[i + 1] != '\n'))
			return 400;
		if (u[i] != '\n')
			continue;
		line_end = true;
		/* The blank line: "\n\n" or "\n\r\n" after the first line. */
		if ((i >= 1 && u[i - 1] == '\n' && i - 1 >= start) ||
		    (i >= 2 && u[i - 1] == '\r' && u[i - 2] == '\n' && i - 2 >= start)) {
			if (i + 1 > FT_METRICS_MAX_HEAD)
				return 431;
			*head_len = i + 1;
			return FT_METRICS_HEAD_DONE;
		}
	}
	if (len >= FT_METRICS_MAX_HEAD)
		return line_end ? 431 : 414;
	return FT_METRICS_HEAD_MORE;
}

/* ---- the request ------------------------------------------------------------------------ */

/* tchar of RFC 9110 5.6.2: what a method or a header name is made of. */
static bool is_tchar(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c && strchr("!#$%&'*+-.^_`|~", c));
}

static bool all_tchar(const char *s, size_t n)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!is_tchar((unsigned char)s[i]))
			return false;
	return true;
}

/* The next line of p[0..end), without its CR LF (or bare LF); *next after it. */
static size_t next_line(const char *p, const char *end, const char **next)
{
	const char *nl = memchr(p, '\n', (size_t)(end - p));
	size_t n;

	if (!nl) {
		*next = end;
		return (size_t)(end - p);
	}
	*next = nl + 1;
	n = (size_t)(nl - p);
	if (n && p[n - 1] == '\r')
		n--;
	return n;
}

/*
 * The path of a request target: origin-form "/metrics?x" gives "/metrics"; absolute-form
 * "http://host:port/metrics" too. False for anything else ("*", authority-form).
 */
static bool target_path(const char *t, size_t n, const char **path, size_t *plen)
{
	const char *q;

	for (size_t i = 0; i < n; i++)
		if ((unsigned char)t[i] <= 0x20 || (unsigned char)t[i] >= 0x7f)
			return false;
	if (n >= 7 && strncasecmp(t, "http://", 7) == 0) {
		const char *slash = memchr(t + 7, '/', n - 7);

		if (!slash)
			return false;
		n -= (size_t)(slash - t);
		t = slash;
	}
	if (n == 0 || t[0] != '/')
		return false;
	q = memchr(t, '?', n);
	*path = t;
	*plen = q ? (size_t)(q - t) : n;
	return true;
}

static bool token_is(const char *s, size_t n, const char *lit)
{
	return strlen(lit) == n && memcmp(s, lit, n) == 0;
}

void ft_metrics_parse_request(const char *head, size_t len, struct ft_metrics_request *req)
{
	const char *p = head, *end = head + len, *next, *sp1, *sp2, *path;
	const char *method, *target, *version;
	size_t n, mlen, tlen, vlen, plen;
	unsigned int hosts = 0;
	bool http11;

	req->status = 400;
	req->format = FT_METRICS_TEXT;
	while (p < end && (*p == '\r' || *p == '\n'))
		p++;
	/* request-line = method SP request-target SP HTTP-version, single spaces. */
	n = next_line(p, end, &next);
	sp1 = memchr(p, ' ', n);
	if (!sp1)
		return;
	sp2 = memchr(sp1 + 1, ' ', n - (size_t)(sp1 + 1 - p));
	if (!sp2 || memchr(sp2 + 1, ' ', n - (size_t)(sp2 + 1 - p)))
		return;
	method = p;
	mlen = (size_t)(sp1 - p);
	target = sp1 + 1;
	tlen = (size_t)(sp2 - target);
	version = sp2 + 1;
	vlen = n - (size_t)(version - p);
	if (!all_tchar(method, mlen) || tlen == 0)
		return;
	if (vlen != 8 || memcmp(version, "HTTP/", 5) != 0 || version[5] < '0' || version[5] > '9' ||
	    version[6] != '.' || version[7] < '0' || version[7] > '9')
		return;
	if (version[5] != '1') {
		req->status = 505;
		return;
	}
	http11 = version[7] != '0';

	/* field-line = field-name ":" OWS field-value OWS; no obs-fold, no space before ':'. */
	for (p = next; p < end;) {
		const char *colon, *v, *ve;

		n = next_line(p, end, &next);
		if (n == 0)
			break; /* the blank line */
		if (p[0] == ' ' || p[0] == '\t')
			return; /* obs-fold: a 400 (RFC 9112 5.2) */
		colon = memchr(p, ':', n);
		if (!colon || !all_tchar(p, (size_t)(colon - p)))
			return;
		v = colon + 1;
		ve = p + n;
		while (v < ve && (*v == ' ' || *v == '\t'))
			v++;
		while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
			ve--;
		if (colon - p == 4 && strncasecmp(p, "host", 4) == 0)
			hosts++;
		else if (colon - p == 6 && strncasecmp(p, "accept", 6) == 0 &&
			 ft_metrics_negotiate(v, (size_t)(ve - v)) == FT_METRICS_OPENMETRICS)
			req->format = FT_METRICS_OPENMETRICS;
		p = next;
	}
	/* A server MUST answer 400 to HTTP/1.1 without exactly one Host (RFC 9112 3.2). */
	if (http11 && hosts != 1)
		return;
	if (!target_path(target, tlen, &path, &plen)) {
		req->status = token_is(target, tlen, "*") ? 404 : 400;
		return;
	}
	if (!token_is(path, plen, "/metrics")) {
		req->status = 404;
		return;
	}
	req->status = token_is(method, mlen, "GET") ? 200 : 405;
}

/* ---- Accept ----------------------------------------------------------------------------- */

/* Index of the first byte of s[i..n) that is not a space or tab. */
static size_t skip_ws(const char *s, size_t i, size_t n)
{
	while (i < n && (s[i] == ' ' || s[i] == '\t'))
		i++;
	return i;
}

/* Index past the last byte of s[from..to) that is not a space or tab. */
static size_t trim_end(const char *s, size_t from, size_t to)
{
	while (to > from && (s[to - 1] == ' ' || s[to - 1] == '\t'))
		to--;
	return to;
}

/* The index of c in s[from..to), or to. */
static size_t find(const char *s, size_t from, size_t to, char c)
{
	while (from < to && s[from] != c)
		from++;
	return from;
}

/* qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] ), in thousandths; -1 if bad. */
static int parse_q(const char *s, size_t n)
{
	int q, scale = 100;

	if (n == 0 || (s[0] != '0' && s[0] != '1') || (n > 1 && (s[1] != '.' || n > 5)))
		return -1;
	q = (s[0] - '0') * 1000;
	for (size_t i = 2; i < n; i++, scale /= 10) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		q += (s[i] - '0') * scale;
	}
	return q > 1000 ? -1 : q;
}

static bool ci_is(const char *s, size_t n, const char *lit)
{
	return strlen(lit) == n && strncasecmp(s, lit, n) == 0;
}

enum ft_metrics_format ft_metrics_negotiate(const char *a, size_t len)
{
	int om_q = 0, text_q = 0;

	for (size_t i = 0; i < len;) {
		size_t range_end = find(a, i, len, ','), type = skip_ws(a, i, range_end);
		size_t semi = find(a, type, range_end, ';'), te = trim_end(a, type, semi);
		bool om, text, version_ok = true;
		int q = 1000;

		om = ci_is(a + type, te - type, "application/openmetrics-text");
		text = ci_is(a + type, te - type, "text/plain") ||
		       ci_is(a + type, te - type, "text/*") || ci_is(a + type, te - type, "*/*");
		/* Parameters: version (1.0.0 of OpenMetrics, 0.0.4 of text) and the quality. */
		for (size_t p = semi; p < range_end;) {
			size_t pe = find(a, p + 1, range_end, ';'), name = skip_ws(a, p + 1, pe);
			size_t eq = find(a, name, pe, '='), val, ve;

			p = pe;
			if (eq == pe)
				continue;
			val = skip_ws(a, eq + 1, pe);
			ve = trim_end(a, val, pe);
			if (ve - val >= 2 && a[val] == '"' && a[ve - 1] == '"')
				val++, ve--;
			if (ci_is(a + name, eq - name, "q")) {
				q = parse_q(a + val, ve - val);
				if (q < 0)
					q = 0; /* a range with a bad quality counts for nothing */
			} else if (ci_is(a + name, eq - name, "version")) {
				version_ok = token_is(a + val, ve - val, om ? "1.0.0" : "0.0.4");
			}
		}
		if (om && version_ok && q > om_q)
			om_q = q;
		if (text && version_ok && q > text_q)
			text_q = q;
		i = range_end + 1;
	}
	return om_q > 0 && om_q >= text_q ? FT_METRICS_OPENMETRICS : FT_METRICS_TEXT;
}

/* ---- the answer ------------------------------------------------------------------------- */

const char *ft_metrics_reason(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 400:
		return "Bad Request";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 408:
		return "Request Timeout";
	case 414:
		return "URI Too Long";
	case 431:
		return "Request Header Fields Too Large";
	case 500:
		return "Internal Server Error";
	case 503:
		return "Service Unavailable";
	case 505:
		return "HTTP Version Not Supported";
	default:
		return "";
	}
}

const char *ft_metrics_error_body(int status)
{
	switch (status) {
	case 400:
		return "400 Bad Request: a malformed request\n";
	case 404:
		return "404 Not Found: only /metrics is served here\n";
	case 405:
		return "405 Method Not Allowed: only GET /metrics is served here\n";
	case 408:
		return "408 Request Timeout: the request head did not arrive in time\n";
	case 414:
		return "414 URI Too Long: the request line is over 4096 bytes\n";
	case 431:
		return "431 Request Header Fields Too Large: the request head is over 4096 bytes\n";
	case 500:
		return "500 Internal Server Error: the metrics could not be collected\n";
	case 503:
		return "503 Service Unavailable: too many connections, try again\n";
	case 505:
		return "505 HTTP Version Not Supported: HTTP/1.x only\n";
	default:
		return "";
	}
}

size_t ft_metrics_response_head(char *buf, size_t cap, int status, enum ft_metrics_format format,
				size_t body_len)
{
	int n = snprintf(buf, cap,
			 "HTTP/1.1 %d %s\r\n"
			 "Content-Type: %s; charset=utf-8\r\n"
			 "Content-Length: %zu\r\n"
			 "%s"
			 "Cache-Control: no-store\r\n"
			 "Connection: close\r\n"
			 "\r\n",
			 status, ft_metrics_reason(status),
			 status == 200 ? ft_metrics_content_type(format) : "text/plain", body_len,
			 status == 405 ? "Allow: GET\r\n" : "");

	return n < 0 || (size_t)n >= cap ? 0 : (size_t)n;
}

int ft_metrics_status_code(enum ft_metrics_status_index i)
{
	static const int codes[] = {
#define FT_METRICS_STATUS_CODE(code) code,
		FT_METRICS_STATUSES(FT_METRICS_STATUS_CODE)
#undef FT_METRICS_STATUS_CODE
	};

	return (unsigned int)i < FT_METRICS_STATUS_COUNT ? codes[i] : 0;
}

/* ---- MetricsListen ---------------------------------------------------------------------- */

int ft_metrics_parse_listen(const char *s, struct sockaddr_storage *ss)
{
	char host[INET6_ADDRSTRLEN];
	const char *port, *hs;
	size_t hl;
	uint64_t p;

	memset(ss, 0, sizeof(*ss));
	if (s[0] == '[') {
		const char *close = strchr(s, ']');

		if (!close || close[1] != ':')
			return -EINVAL;
		hs = s + 1;
		hl = (size_t)(close - hs);
		port = close + 2;
	} else {
		const char *colon = strrchr(s, ':');

		if (!colon || memchr(s, ':', (size_t)(colon - s)))
			return -EINVAL; /* no port, or an IPv6 address without brackets */
		hs = s;
		hl = (size_t)(colon - s);
		port = colon + 1;
	}
	if (hl == 0 || hl >= sizeof(host) || strlen(port) > 5 ||
	    ft_parse_uint(port, 65535, &p) < 0 || p == 0)
		return -EINVAL;
	memcpy(host, hs, hl);
	host[hl] = '\0';
	if (s[0] != '[') {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;

		if (inet_pton(AF_INET, host, &sin->sin_addr) != 1)
			return -EINVAL;
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)p);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

		if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1)
			return -EINVAL;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)p);
	}
	return 0;
}
