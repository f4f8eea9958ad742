// SPDX-License-Identifier: MIT
/*
 * The wg-quick configuration format, read with inih.
 *
 * inih's own rules differ from wg-quick's in ways that matter here, so a reader function
 * normalises each physical line before inih sees it:
 *   - wg-quick ends a line at `#` wherever it appears; inih knows only `;` after a space;
 *   - inih takes an indented line as the continuation of the previous value, while wg-quick
 *     configs are often indented: every line is trimmed;
 *   - inih's line buffer holds 200 bytes, but an AllowedIPs list is easily longer: a long list
 *     is handed to inih in several pieces under the same key (lists accumulate anyway);
 *   - inih does not report a new section, and repeated [Peer] sections must stay apart: the
 *     reader sees the section headers and opens a new peer for each [Peer];
 *   - inih does not pass line numbers to the handler (Debian builds it without): the reader
 *     counts physical lines, and never reads ahead of the line inih is handling.
 * Secrets pass through inih's line buffer: the reader wipes it on its last call.
 */
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ini.h>
#include <sodium.h>

#include "tun/conf.h"
#include "tun/opener.h"

enum section {
	SECTION_NONE,
	SECTION_INTERFACE,
	SECTION_PEER,
};

struct parser {
	struct ft_config *cfg;
	const char *name;    /* of the file, for messages */
	const char *basedir; /* for a relative PrivateKeyFile; NULL: the working directory */
	const char *text;
	size_t pos;
	char *line; /* the current physical line, normalised; wiped when done */
	size_t line_size;
	unsigned int lineno;
	enum section section;
	unsigned int interface_line;
	unsigned int private_key_line;
	bool private_key_from_file;
	/* flowtun's own settings only: the WireGuard part comes through wg(8). */
	bool settings_only;
	/* A list too long for one inih line, still to be handed over. */
	const char *pending_key;
	const char *pending;
	char *errbuf;
	size_t errlen;
	int err;
};

static void fail_errno(struct parser *p, int err, unsigned int lineno, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Records the first error only: later ones are usually its consequences. */
static void fail_errno(struct parser *p, int err, unsigned int lineno, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (p->err)
		return;
	p->err = err;
	if (!p->errlen)
		return;
	if (lineno)
		n = snprintf(p->errbuf, p->errlen, "%s:%u: ", p->name, lineno);
	else
		n = snprintf(p->errbuf, p->errlen, "%s: ", p->name);
	if (n < 0 || (size_t)n >= p->errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(p->errbuf + n, p->errlen - (size_t)n, fmt, ap);
	va_end(ap);
}

#define fail(p, ...) fail_errno((p), -EINVAL, (p)->lineno, __VA_ARGS__)

static char *trim(char *s)
{
	size_t n;

	while (*s && isspace((unsigned char)*s))
		s++;
	n = strlen(s);
	while (n > 0 && isspace((unsigned char)s[n - 1]))
		s[--n] = '\0';
	return s;
}

/* Decimal digits only (no sign, no spaces), at most max. */
static bool parse_uint(const char *s, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;

	if (!*s)
		return false;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return false;
		if (v > (max - (uint64_t)(*s - '0')) / 10)
			return false;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*out = v;
	return true;
}

static bool parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = { "on", "true", "yes", "1" };
	static const char *const no[] = { "off", "false", "no", "0" };

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = true;
			return true;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*out = false;
			return true;
		}
	}
	return false;
}

int ft_config_parse_prefix(const char *s, bool mask_host_bits, struct ft_config_addr *out)
{
	char buf[INET6_ADDRSTRLEN + 8];
	const char *slash = strchr(s, '/');
	size_t len = slash ? (size_t)(slash - s) : strlen(s);
	unsigned int bits;
	uint64_t cidr;

	if (len == 0 || len >= INET6_ADDRSTRLEN)
		return -EINVAL;
	memcpy(buf, s, len);
	buf[len] = '\0';
	memset(out, 0, sizeof(*out));
	if (inet_pton(AF_INET, buf, out->addr) == 1) {
		out->family = AF_INET;
		bits = 32;
	} else if (inet_pton(AF_INET6, buf, out->addr) == 1) {
		out->family = AF_INET6;
		bits = 128;
	} else {
		return -EINVAL;
	}
	if (!slash)
		cidr = bits;
	else if (strlen(slash + 1) > 3 || !parse_uint(slash + 1, bits, &cidr))
		return -EINVAL;
	out->cidr = (uint8_t)cidr;
	if (mask_host_bits) {
		for (unsigned int i = 0; i < bits / 8; i++) {
			unsigned int keep = cidr > i * 8 ? (unsigned int)cidr - i * 8 : 0;

			if (keep < 8)
				out->addr[i] &= (uint8_t)(0xff00 >> keep);
		}
	}
	return 0;
}

/*
 * Calls fn on each item of a comma-separated list, trimmed. An empty value is an empty list;
 * an empty item ("a,,b") is passed on, for fn to refuse.
 */
static bool for_each_item(struct parser *p, const char *value, const char *key,
			  bool (*fn)(struct parser *p, const char *key, char *item))
{
	char *copy, *item, *next;
	bool ok = true;

	if (!*value)
		return true;
	copy = strdup(value);
	if (!copy) {
		fail_errno(p, -ENOMEM, p->lineno, "out of memory");
		return false;
	}
	for (item = copy; ok && item; item = next) {
		next = strchr(item, ',');
		if (next)
			*next++ = '\0';
		ok = fn(p, key, trim(item));
	}
	free(copy);
	return ok;
}

static bool grow(struct parser *p, void **array, size_t n, size_t size)
{
	void *a = realloc(*array, (n + 1) * size);

	if (!a) {
		fail_errno(p, -ENOMEM, p->lineno, "out of memory");
		return false;
	}
	*array = a;
	return true;
}

static bool add_address(struct parser *p, const char *key, char *item)
{
	struct ft_config *cfg = p->cfg;
	struct ft_config_addr a;

	if (ft_config_parse_prefix(item, false, &a) < 0) {
		fail(p, "invalid %s '%s'", key, item);
		return false;
	}
	if (!grow(p, (void **)&cfg->addresses, cfg->n_addresses, sizeof(a)))
		return false;
	cfg->addresses[cfg->n_addresses++] = a;
	return true;
}

static bool add_allowed_ip(struct parser *p, const char *key, char *item)
{
	struct ft_config_peer *peer = &p->cfg->peers[p->cfg->n_peers - 1];
	struct ft_config_addr a;

	if (ft_config_parse_prefix(item, true, &a) < 0) {
		fail(p, "invalid %s '%s'", key, item);
		return false;
	}
	if (!grow(p, (void **)&peer->allowed_ips, peer->n_allowed_ips, sizeof(a)))
		return false;
	peer->allowed_ips[peer->n_allowed_ips++] = a;
	return true;
}

/* An interface name as the kernel accepts it: 1-15 bytes, no '/', ':' or white space. */
static bool valid_ifname(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n >= IFNAMSIZ || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
		return false;
	for (; *s; s++)
		if (*s == '/' || *s == ':' || isspace((unsigned char)*s) ||
		    !isprint((unsigned char)*s))
			return false;
	return true;
}

static bool add_link_watch(struct parser *p, const char *key, char *item)
{
	struct ft_config *cfg = p->cfg;
	char *name;

	if (!valid_ifname(item)) {
		fail(p, "invalid %s interface '%s'", key, item);
		return false;
	}
	for (size_t i = 0; i < cfg->n_link_watch; i++)
		if (strcmp(cfg->link_watch[i], item) == 0)
			return true;
	if (!grow(p, (void **)&cfg->link_watch, cfg->n_link_watch, sizeof(char *)))
		return false;
	name = strdup(item);
	if (!name) {
		fail_errno(p, -ENOMEM, p->lineno, "out of memory");
		return false;
	}
	cfg->link_watch[cfg->n_link_watch++] = name;
	return true;
}

/*
 * An IPFIX collector "HOST:PORT", "[IPv6]:PORT" or "HOST" (port 4739). Only its shape is checked
 * here; the data plane resolves it at start.
 */
static bool add_ipfix(struct parser *p, const char *key, char *item)
{
	struct ft_config *cfg = p->cfg;
	const char *colon = strrchr(item, ':');
	char *copy;

	if (!*item || strlen(item) > 255 || strchr(item, ' ') ||
	    (colon && item[0] != '[' && strchr(item, ':') != colon) ||
	    (item[0] == '[' && !strchr(item, ']'))) {
		fail(p, "invalid %s collector '%s' (expected HOST:PORT or [IPv6]:PORT)", key, item);
		return false;
	}
	if (!grow(p, (void **)&cfg->ipfix, cfg->n_ipfix, sizeof(char *)))
		return false;
	copy = strdup(item);
	if (!copy) {
		fail_errno(p, -ENOMEM, p->lineno, "out of memory");
		return false;
	}
	cfg->ipfix[cfg->n_ipfix++] = copy;
	return true;
}

/* A host name as DNS allows it (letters, digits, '-', '.', and '_' seen in the wild). */
static bool valid_hostname(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 253 || s[0] == '-' || s[0] == '.')
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '-' && *s != '.' && *s != '_')
			return false;
	return true;
}

/* host:port, [IPv6]:port (with an optional %scope) or name:port. */
static bool set_endpoint(struct parser *p, struct ft_config_peer *peer, const char *key,
			 const char *value)
{
	char host[256];
	const char *port, *colon;
	size_t host_len;
	uint64_t port_num;
	struct in6_addr a6;

	if (value[0] == '[') {
		const char *close = strchr(value, ']');

		if (!close || close[1] != ':')
			goto bad;
		host_len = (size_t)(close - value - 1);
		if (host_len == 0 || host_len >= sizeof(host))
			goto bad;
		memcpy(host, value + 1, host_len);
		host[host_len] = '\0';
		port = close + 2;
		/* The scope, if any, is left to getaddrinfo(); the address itself must parse. */
		{
			char addr[INET6_ADDRSTRLEN];
			size_t alen = strcspn(host, "%");

			if (alen >= sizeof(addr) || (host[alen] == '%' && !host[alen + 1]))
				goto bad;
			memcpy(addr, host, alen);
			addr[alen] = '\0';
			if (inet_pton(AF_INET6, addr, &a6) != 1)
				goto bad;
		}
	} else {
		colon = strrchr(value, ':');
		if (!colon)
			goto bad;
		host_len = (size_t)(colon - value);
		if (host_len == 0 || host_len >= sizeof(host))
			goto bad;
		memcpy(host, value, host_len);
		host[host_len] = '\0';
		port = colon + 1;
		/* A bare IPv6 address is ambiguous: which colon starts the port? */
		if (strchr(host, ':') || !valid_hostname(host))
			goto bad;
	}
	if (!parse_uint(port, 65535, &port_num) || port_num == 0 || strlen(port) > 5)
		goto bad;

	free(peer->endpoint_host);
	free(peer->endpoint_port);
	peer->endpoint_host = strdup(host);
	peer->endpoint_port = strdup(port);
	if (!peer->endpoint_host || !peer->endpoint_port) {
		fail_errno(p, -ENOMEM, p->lineno, "out of memory");
		return false;
	}
	return true;
bad:
	fail(p, "invalid %s '%s' (expected host:port, IPv4:port or [IPv6]:port)", key, value);
	return false;
}

/* A secret in sodium_malloc memory, allocated on first use. */
static bool secret_buffer(struct parser *p, uint8_t **buf)
{
	if (*buf)
		return true;
	*buf = sodium_malloc(FT_KEY_LEN);
	if (!*buf) {
		fail_errno(p, -ENOMEM, p->lineno, "out of memory");
		return false;
	}
	return true;
}

static bool read_private_key_file(struct parser *p, const char *key, const char *value)
{
	char path[PATH_MAX], buf[256];
	const char *shown = value;
	struct stat st;
	ssize_t n;
	int fd, ret;
	bool ok = false;

	if (!*value) {
		fail(p, "invalid %s ''", key);
		return false;
	}
	if (value[0] != '/' && p->basedir) {
		ret = snprintf(path, sizeof(path), "%s/%s", p->basedir, value);
		if (ret < 0 || (size_t)ret >= sizeof(path)) {
			fail(p, "%s '%s': path too long", key, value);
			return false;
		}
		shown = path;
	} else if (strlen(value) < sizeof(path)) {
		memcpy(path, value, strlen(value) + 1);
	} else {
		fail(p, "%s '%s': path too long", key, value);
		return false;
	}

	/* Through the opener: after the privilege drop a reload reads root's files with it. */
	fd = ft_opener_open(path, FT_OPENER_READ);
	if (fd < 0) {
		fail_errno(p, fd, p->lineno, "%s '%s': %s", key, shown, strerror(-fd));
		return false;
	}
	free(p->cfg->private_key_file);
	p->cfg->private_key_file = strdup(path);
	if (!p->cfg->private_key_file) {
		fail_errno(p, -ENOMEM, p->lineno, "out of memory");
		close(fd);
		return false;
	}
	/*
	 * fstat on the open file: the mode checked is that of the file read. O_NONBLOCK above
	 * keeps a FIFO named here from hanging start-up; it is refused as not a regular file.
	 */
	if (fstat(fd, &st) < 0) {
		ret = errno;
		fail_errno(p, -ret, p->lineno, "%s '%s': %s", key, shown, strerror(ret));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		fail(p, "%s '%s' is not a regular file", key, shown);
		goto out;
	}
	if (st.st_mode & (S_IRWXG | S_IRWXO)) {
		fail_errno(p, -EACCES, p->lineno,
			   "%s '%s' has mode %04o: it must not be accessible by group or others "
			   "(chmod 600)",
			   key, shown, (unsigned int)(st.st_mode & 07777));
		goto out;
	}
	n = read(fd, buf, sizeof(buf) - 1);
	if (n < 0) {
		ret = errno;
		fail_errno(p, -ret, p->lineno, "%s '%s': %s", key, shown, strerror(ret));
		goto out;
	}
	buf[n] = '\0';
	if (!secret_buffer(p, &p->cfg->private_key))
		goto out;
	if (ft_key_from_base64(p->cfg->private_key, trim(buf)) < 0) {
		fail(p, "%s '%s' does not hold a base64 private key", key, shown);
		goto out;
	}
	ok = true;
out:
	sodium_memzero(buf, sizeof(buf));
	close(fd);
	return ok;
}

/* Keys wg-quick itself handles (routes, DNS, hooks): accepted and ignored. */
static const char *const wg_quick_keys[] = {
	"DNS", "Table", "PreUp", "PostUp", "PreDown", "PostDown", "SaveConfig",
};

static bool is_wg_quick_key(const char *key)
{
	for (size_t i = 0; i < sizeof(wg_quick_keys) / sizeof(wg_quick_keys[0]); i++)
		if (strcasecmp(key, wg_quick_keys[i]) == 0)
			return true;
	return false;
}

static bool is_list_key(const char *key)
{
	return strcasecmp(key, "Address") == 0 || strcasecmp(key, "AllowedIPs") == 0 ||
	       strcasecmp(key, "LinkWatch") == 0 || strcasecmp(key, "DNS") == 0 ||
	       strcasecmp(key, "IPFIX") == 0;
}

static bool set_u32(struct parser *p, const char *key, const char *value, uint64_t min,
		    uint64_t max, uint32_t *out)
{
	uint64_t v;

	if (!parse_uint(value, max, &v) || v < min) {
		fail(p, "invalid %s '%s' (expected %llu to %llu)", key, value,
		     (unsigned long long)min, (unsigned long long)max);
		return false;
	}
	*out = (uint32_t)v;
	return true;
}

/* The WireGuard keys of [Interface], which wg(8) and wg-quick(8) own in settings files. */
static const char *const wireguard_keys[] = {
	"PrivateKey", "PrivateKeyFile", "ListenPort", "Address", "MTU", "FwMark",
};

static bool interface_key(struct parser *p, const char *key, const char *value)
{
	struct ft_config *cfg = p->cfg;
	uint32_t u32;

	for (size_t i = 0; p->settings_only && i < sizeof(wireguard_keys) / sizeof(*wireguard_keys);
	     i++) {
		if (strcasecmp(key, wireguard_keys[i]) == 0) {
			fail(p, "'%s' does not belong here: it is set with wg(8) or wg-quick(8)",
			     key);
			return false;
		}
	}

	if (strcasecmp(key, "PrivateKey") == 0 || strcasecmp(key, "PrivateKeyFile") == 0) {
		bool from_file = strcasecmp(key, "PrivateKeyFile") == 0;

		if (p->private_key_line && p->private_key_from_file != from_file) {
			fail(p, "PrivateKey and PrivateKeyFile both given (the other at line %u)",
			     p->private_key_line);
			return false;
		}
		p->private_key_line = p->lineno;
		p->private_key_from_file = from_file;
		if (from_file)
			return read_private_key_file(p, key, value);
		if (!secret_buffer(p, &cfg->private_key))
			return false;
		if (ft_key_from_base64(cfg->private_key, value) < 0) {
			/* Not quoted: a near-miss of a private key is still a secret. */
			fail(p, "invalid %s (not shown: expected 44 characters of base64)", key);
			return false;
		}
		return true;
	}
	if (strcasecmp(key, "ListenPort") == 0) {
		if (!set_u32(p, key, value, 0, 65535, &u32))
			return false;
		cfg->listen_port = (uint16_t)u32;
		return true;
	}
	if (strcasecmp(key, "Address") == 0)
		return for_each_item(p, value, "Address", add_address);
	if (strcasecmp(key, "MTU") == 0)
		return set_u32(p, key, value, 576, 65535, &cfg->mtu);
	if (strcasecmp(key, "FwMark") == 0) {
		/* As wg(8): "off", decimal or 0x-prefixed hexadecimal. */
		char *end;
		unsigned long long m;

		if (strcasecmp(value, "off") == 0) {
			cfg->fwmark = 0;
			return true;
		}
		errno = 0;
		m = strtoull(value, &end, 0);
		if (!isdigit((unsigned char)value[0]) || *end || errno || m > UINT32_MAX) {
			fail(p, "invalid %s '%s'", key, value);
			return false;
		}
		cfg->fwmark = (uint32_t)m;
		return true;
	}
	if (strcasecmp(key, "FlowLog") == 0) {
		if (!*value) {
			fail(p, "invalid %s '' (expected a path or -)", key);
			return false;
		}
		free(cfg->flow_log);
		cfg->flow_log = strdup(value);
		if (!cfg->flow_log) {
			fail_errno(p, -ENOMEM, p->lineno, "out of memory");
			return false;
		}
		return true;
	}
	if (strcasecmp(key, "FlowLogInterval") == 0)
		return set_u32(p, key, value, 1, 86400, &cfg->flow_log_interval);
	if (strcasecmp(key, "FlowLogMaxConns") == 0)
		return set_u32(p, key, value, 1, 1u << 24, &cfg->flow_log_max_conns);
	if (strcasecmp(key, "LinkWatch") == 0)
		return for_each_item(p, value, "LinkWatch", add_link_watch);
	if (strcasecmp(key, "LinkPollInterval") == 0)
		return set_u32(p, key, value, 1, 3600, &cfg->link_poll_interval);
	if (strcasecmp(key, "IPFIX") == 0)
		return for_each_item(p, value, "IPFIX", add_ipfix);
	if (strcasecmp(key, "IPFIXTemplateInterval") == 0)
		return set_u32(p, key, value, 1, 86400, &cfg->ipfix_template_interval);
	if (strcasecmp(key, "User") == 0 || strcasecmp(key, "Seccomp") == 0) {
		char **slot = strcasecmp(key, "User") == 0 ? &cfg->user : &cfg->seccomp;

		if (!*value || strlen(value) > 64) {
			fail(p, "invalid %s '%s'", key, value);
			return false;
		}
		free(*slot);
		if (!(*slot = strdup(value))) {
			fail_errno(p, -ENOMEM, p->lineno, "out of memory");
			return false;
		}
		return true;
	}
	if (strcasecmp(key, "Offload") == 0) {
		if (!parse_bool(value, &cfg->offload)) {
			fail(p, "invalid %s '%s' (expected on or off)", key, value);
			return false;
		}
		return true;
	}
	if (strcasecmp(key, "Statistics") == 0) {
		if (!parse_bool(value, &cfg->statistics)) {
			fail(p, "invalid %s '%s' (expected on or off)", key, value);
			return false;
		}
		return true;
	}
	if (is_wg_quick_key(key))
		return true;
	fail(p, "unknown key '%s' in [Interface]", key);
	return false;
}

static bool peer_key(struct parser *p, const char *key, const char *value)
{
	struct ft_config_peer *peer = &p->cfg->peers[p->cfg->n_peers - 1];
	uint64_t v;

	if (strcasecmp(key, "PublicKey") == 0) {
		if (ft_key_from_base64(peer->public_key, value) < 0) {
			fail(p, "invalid %s '%s'", key, value);
			return false;
		}
		return true;
	}
	if (strcasecmp(key, "PresharedKey") == 0) {
		if (!secret_buffer(p, &peer->preshared_key))
			return false;
		if (ft_key_from_base64(peer->preshared_key, value) < 0) {
			fail(p, "invalid %s (not shown: expected 44 characters of base64)", key);
			return false;
		}
		return true;
	}
	if (strcasecmp(key, "AllowedIPs") == 0)
		return for_each_item(p, value, "AllowedIPs", add_allowed_ip);
	if (strcasecmp(key, "Endpoint") == 0)
		return set_endpoint(p, peer, key, value);
	if (strcasecmp(key, "PersistentKeepalive") == 0) {
		if (strcasecmp(value, "off") == 0) {
			peer->persistent_keepalive = 0;
			return true;
		}
		if (!parse_uint(value, 65535, &v)) {
			fail(p, "invalid %s '%s' (expected off or 0 to 65535)", key, value);
			return false;
		}
		peer->persistent_keepalive = (uint16_t)v;
		return true;
	}
	fail(p, "unknown key '%s' in [Peer]", key);
	return false;
}

static int handler(void *user, const char *section, const char *name, const char *value)
{
	struct parser *p = user;

	(void)section; /* the reader keeps the section: inih cannot tell two [Peer]s apart */
	if (p->err)
		return 0;
	switch (p->section) {
	case SECTION_INTERFACE:
		return interface_key(p, name, value);
	case SECTION_PEER:
		return peer_key(p, name, value);
	case SECTION_NONE:
		break;
	}
	fail(p, "'%s' outside of a section (expected [Interface] or [Peer] first)", name);
	return 0;
}

static bool open_section(struct parser *p, char *header)
{
	struct ft_config *cfg = p->cfg;
	size_t n = strlen(header);
	char *name;

	if (n < 2 || header[n - 1] != ']') {
		fail(p, "invalid section header '%s'", header);
		return false;
	}
	header[n - 1] = '\0';
	name = trim(header + 1);
	if (strcasecmp(name, "Interface") == 0) {
		if (p->interface_line) {
			fail(p, "a second [Interface] section (the first at line %u)",
			     p->interface_line);
			return false;
		}
		p->interface_line = p->lineno;
		p->section = SECTION_INTERFACE;
		return true;
	}
	if (strcasecmp(name, "Peer") == 0) {
		if (p->settings_only) {
			fail(p, "[Peer] sections do not belong here: peers are set with wg(8)");
			return false;
		}
		if (!grow(p, (void **)&cfg->peers, cfg->n_peers, sizeof(*cfg->peers)))
			return false;
		memset(&cfg->peers[cfg->n_peers], 0, sizeof(*cfg->peers));
		cfg->peers[cfg->n_peers].line = p->lineno;
		cfg->n_peers++;
		p->section = SECTION_PEER;
		return true;
	}
	fail(p, "unknown section '[%s]'", name);
	return false;
}

/* Letters and digits; the longest known key has 19, so 32 leaves room for a good message. */
static bool valid_key_name(const char *s)
{
	if (!*s || strlen(s) > 32)
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s))
			return false;
	return true;
}

/*
 * Hands inih the rest of a list too long for its buffer: as many items as fit under the same
 * key. One item alone must fit.
 */
static char *emit_pending(struct parser *p, char *str, size_t room)
{
	size_t used = (size_t)snprintf(str, room + 1, "%s=", p->pending_key);
	bool first = true;

	while (p->pending) {
		const char *item = p->pending, *comma = strchr(item, ',');
		size_t len = comma ? (size_t)(comma - item) : strlen(item);

		if (used + !first + len > room) {
			if (first) {
				fail(p, "a %s item too long (%zu characters)", p->pending_key, len);
				return NULL;
			}
			break;
		}
		if (!first)
			str[used++] = ',';
		memcpy(str + used, item, len);
		used += len;
		first = false;
		p->pending = comma ? comma + 1 : NULL;
	}
	str[used++] = '\n';
	str[used] = '\0';
	return str;
}

/* inih's fgets(): the next line, normalised as the comment at the top of this file says. */
static char *reader(char *str, int num, void *stream)
{
	struct parser *p = stream;
	size_t room = num > 3 ? (size_t)num - 3 : 0; /* inih needs '\r', '\n' and NUL */

	while (!p->err) {
		const char *start, *end;
		char *line, *eq, *key, *value;
		size_t len;

		if (p->pending) {
			if (emit_pending(p, str, room))
				return str;
			break;
		}
		start = p->text + p->pos;
		if (!*start)
			break;
		end = strchr(start, '\n');
		len = end ? (size_t)(end - start) : strlen(start);
		p->pos += len + (end ? 1 : 0);
		p->lineno++;
		memcpy(p->line, start, len);
		p->line[len] = '\0';
		if (p->lineno == 1 && len >= 3 && memcmp(p->line, "\xef\xbb\xbf", 3) == 0)
			memset(p->line, ' ', 3); /* a UTF-8 byte order mark */
		line = p->line;
		line[strcspn(line, "#")] = '\0';
		line = trim(line);
		if (!*line)
			continue;

		if (line[0] == '[') {
			if (!open_section(p, line))
				break;
			snprintf(str, (size_t)num, "[%s]\n",
				 p->section == SECTION_PEER ? "Peer" : "Interface");
			return str;
		}
		eq = strchr(line, '=');
		if (!eq) {
			fail(p, "expected 'Key = Value', got '%s'", line);
			break;
		}
		*eq = '\0';
		key = trim(line);
		value = trim(eq + 1);
		if (!valid_key_name(key)) {
			fail(p, "invalid key '%s'", key);
			break;
		}
		if (strlen(key) + 1 + strlen(value) <= room) {
			size_t klen = strlen(key), vlen = strlen(value);

			memcpy(str, key, klen);
			str[klen] = '=';
			memcpy(str + klen + 1, value, vlen);
			memcpy(str + klen + 1 + vlen, "\n", 2);
			return str;
		}
		if (is_list_key(key)) {
			p->pending_key = key;
			p->pending = value;
			continue;
		}
		if (is_wg_quick_key(key)) {
			/* Ignored anyway, however long (a PostUp script, say). */
			snprintf(str, (size_t)num, "%s=\n", key);
			return str;
		}
		fail(p, "the value of %s is too long (%zu characters)", key, strlen(value));
		break;
	}
	/* The last call: nothing of a secret may stay in inih's buffer. */
	sodium_memzero(str, (size_t)num);
	return NULL;
}

static void free_peer(struct ft_config_peer *peer)
{
	sodium_free(peer->preshared_key);
	free(peer->allowed_ips);
	free(peer->endpoint_host);
	free(peer->endpoint_port);
	sodium_memzero(peer, sizeof(*peer));
}

void ft_config_free(struct ft_config *cfg)
{
	sodium_free(cfg->private_key);
	free(cfg->addresses);
	free(cfg->flow_log);
	free(cfg->private_key_file);
	free(cfg->user);
	free(cfg->seccomp);
	for (size_t i = 0; i < cfg->n_link_watch; i++)
		free(cfg->link_watch[i]);
	free(cfg->link_watch);
	for (size_t i = 0; i < cfg->n_ipfix; i++)
		free(cfg->ipfix[i]);
	free(cfg->ipfix);
	for (size_t i = 0; i < cfg->n_peers; i++)
		free_peer(&cfg->peers[i]);
	free(cfg->peers);
	memset(cfg, 0, sizeof(*cfg));
}

/* What no single line can say: a key given at all, and peers told apart. */
static void check_whole(struct parser *p)
{
	struct ft_config *cfg = p->cfg;
	char b64[FT_KEY_B64_LEN + 1];

	if (p->err)
		return;
	if (!p->interface_line) {
		fail_errno(p, -EINVAL, 0, "no [Interface] section");
		return;
	}
	if (!cfg->private_key && !p->settings_only) {
		fail_errno(p, -EINVAL, p->interface_line,
			   "[Interface] has neither PrivateKey nor PrivateKeyFile");
		return;
	}
	for (size_t i = 0; i < cfg->n_peers; i++) {
		static const uint8_t zero[FT_KEY_LEN];
		const struct ft_config_peer *peer = &cfg->peers[i];

		if (sodium_memcmp(peer->public_key, zero, FT_KEY_LEN) == 0) {
			fail_errno(p, -EINVAL, peer->line, "[Peer] has no PublicKey");
			return;
		}
		for (size_t j = 0; j < i; j++) {
			if (memcmp(cfg->peers[j].public_key, peer->public_key, FT_KEY_LEN) == 0) {
				ft_key_to_base64(b64, peer->public_key);
				fail_errno(p, -EINVAL, peer->line,
					   "duplicate [Peer] PublicKey '%s' (also at line %u)", b64,
					   cfg->peers[j].line);
				return;
			}
		}
	}
}

void ft_config_init_defaults(struct ft_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->mtu = FT_CONFIG_DEFAULT_MTU;
	cfg->flow_log_interval = FT_CONFIG_DEFAULT_FLOW_LOG_INTERVAL;
	cfg->flow_log_max_conns = FT_CONFIG_DEFAULT_FLOW_LOG_MAX_CONNS;
	cfg->link_poll_interval = FT_CONFIG_DEFAULT_LINK_POLL_INTERVAL;
	cfg->ipfix_template_interval = FT_CONFIG_DEFAULT_IPFIX_TEMPLATE_INTERVAL;
	cfg->statistics = true;
	cfg->offload = true;
}

static int parse(const char *text, const char *name, const char *basedir, bool settings_only,
		 struct ft_config *cfg, char *errbuf, size_t errlen)
{
	struct parser p = {
		.cfg = cfg,
		.name = name,
		.basedir = basedir,
		.settings_only = settings_only,
		.text = text,
		.errbuf = errbuf,
		.errlen = errlen,
	};
	int ret;

	ft_config_init_defaults(cfg);
	if (errlen)
		errbuf[0] = '\0';

	/* sodium_malloc aborts before sodium_init, which is idempotent and cheap once done. */
	if (sodium_init() < 0) {
		fail_errno(&p, -EIO, 0, "libsodium failed to initialise");
		return p.err;
	}
	/* One buffer as long as the whole text holds any line; it may hold secrets. */
	p.line_size = strlen(text) + 1;
	p.line = sodium_malloc(p.line_size);
	if (!p.line) {
		fail_errno(&p, -ENOMEM, 0, "out of memory");
		return p.err;
	}
	ret = ini_parse_stream(reader, &p, handler, &p);
	sodium_free(p.line); /* sodium_free wipes before freeing */
	if (!p.err && ret != 0)
		fail_errno(&p, ret == -2 ? -ENOMEM : -EINVAL, ret > 0 ? (unsigned int)ret : 0,
			   "syntax error");
	check_whole(&p);
	if (p.err) {
		ft_config_free(cfg);
		return p.err;
	}
	return 0;
}

int ft_config_parse_string(const char *text, const char *name, struct ft_config *cfg, char *errbuf,
			   size_t errlen)
{
	return parse(text, name, NULL, false, cfg, errbuf, errlen);
}

static int load(const char *path, bool settings_only, struct ft_config *cfg, char *errbuf,
		size_t errlen)
{
	struct stat st;
	char *text = NULL, *dir = NULL, *slash;
	size_t got = 0;
	ssize_t n;
	int fd, ret;

	memset(cfg, 0, sizeof(*cfg));
	if (sodium_init() < 0) {
		snprintf(errbuf, errlen, "%s: libsodium failed to initialise", path);
		return -EIO;
	}
	fd = ft_opener_open(path, FT_OPENER_READ);
	if (fd < 0) {
		snprintf(errbuf, errlen, "%s: %s", path, strerror(-fd));
		return fd;
	}
	if (fstat(fd, &st) < 0) {
		ret = -errno;
		snprintf(errbuf, errlen, "%s: %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode) || st.st_size > FT_CONFIG_MAX_FILE_SIZE) {
		ret = -EINVAL;
		snprintf(errbuf, errlen, "%s: not a regular file of at most %d bytes", path,
			 FT_CONFIG_MAX_FILE_SIZE);
		goto out;
	}
	/* The text may hold the private key: secure memory, wiped by sodium_free. */
	text = sodium_malloc((size_t)st.st_size + 1);
	if (!text) {
		ret = -ENOMEM;
		snprintf(errbuf, errlen, "%s: out of memory", path);
		goto out;
	}
	while (got < (size_t)st.st_size) {
		n = read(fd, text + got, (size_t)st.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = -errno;
			snprintf(errbuf, errlen, "%s: %s", path, strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	text[got] = '\0';
	if (memchr(text, '\0', got)) {
		ret = -EINVAL;
		snprintf(errbuf, errlen, "%s: contains a NUL byte: not a text file", path);
		goto out;
	}
	dir = strdup(path);
	if (!dir) {
		ret = -ENOMEM;
		snprintf(errbuf, errlen, "%s: out of memory", path);
		goto out;
	}
	slash = strrchr(dir, '/');
	if (slash == dir)
		dir[1] = '\0';
	else if (slash)
		*slash = '\0';
	else
		strcpy(dir, ".");
	ret = parse(text, path, dir, settings_only, cfg, errbuf, errlen);
out:
	free(dir);
	sodium_free(text);
	close(fd);
	return ret;
}

int ft_config_load(const char *path, struct ft_config *cfg, char *errbuf, size_t errlen)
{
	return load(path, false, cfg, errbuf, errlen);
}

int ft_config_load_settings(const char *path, struct ft_config *cfg, char *errbuf, size_t errlen)
{
	return load(path, true, cfg, errbuf, errlen);
}

int ft_config_resolve_endpoint(const char *host, const char *port, struct sockaddr_storage *ss,
			       socklen_t *len)
{
	struct addrinfo hints = {
		.ai_family = AF_UNSPEC,
		.ai_socktype = SOCK_DGRAM,
		.ai_protocol = IPPROTO_UDP,
		.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV,
	};
	struct addrinfo *res = NULL, *ai;
	int ret;

	/* Numeric forms first: they need no resolver and cannot block. */
	ret = getaddrinfo(host, port, &hints, &res);
	if (ret == EAI_NONAME) {
		hints.ai_flags = AI_NUMERICSERV;
		ret = getaddrinfo(host, port, &hints, &res);
	}
	switch (ret) {
	case 0:
		break;
	case EAI_NONAME:
#ifdef EAI_NODATA
	case EAI_NODATA:
#endif
#ifdef EAI_ADDRFAMILY
	case EAI_ADDRFAMILY:
#endif
		return -ENOENT;
	case EAI_AGAIN:
		return -EAGAIN;
	case EAI_MEMORY:
		return -ENOMEM;
	case EAI_SYSTEM:
		return errno ? -errno : -EIO;
	default:
		return -EINVAL;
	}
	ret = -ENOENT;
	for (ai = res; ai; ai = ai->ai_next) {
		if ((ai->ai_family == AF_INET || ai->ai_family == AF_INET6) &&
		    ai->ai_addrlen <= sizeof(*ss)) {
			memset(ss, 0, sizeof(*ss));
			memcpy(ss, ai->ai_addr, ai->ai_addrlen);
			*len = ai->ai_addrlen;
			ret = 0;
			break;
		}
	}
	freeaddrinfo(res);
	return ret;
}
