// SPDX-License-Identifier: MIT
/*
 * The keys of a configuration file: the syntax of each value (numbers, prefixes, endpoints,
 * interface names, collectors, keys and key files) and where it goes in struct ft_config.
 * Apart from the reader in conf.c, which decides which line inih sees and in which section,
 * because the keys ft_config_grow with every feature while the reader's rules are wg-quick's and stay.
 */
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "base/text.h"
#include "tun/ctl/conf.h"
#include "tun/ctl/conf_internal.h"
#include "tun/ctl/metrics.h"
#include "tun/priv/opener.h"
#include "tun/wg/secmem.h"

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
	else if (strlen(slash + 1) > 3 || ft_parse_uint(slash + 1, bits, &cidr) < 0)
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
		ft_config_fail_errno(p, -ENOMEM, p->lineno, "out of memory");
		return false;
	}
	for (item = copy; ok && item; item = next) {
		next = strchr(item, ',');
		if (next)
			*next++ = '\0';
		ok = fn(p, key, ft_trim(item));
	}
	free(copy);
	return ok;
}

bool ft_config_grow(struct parser *p, void **array, size_t n, size_t size)
{
	void *a = realloc(*array, (n + 1) * size);

	if (!a) {
		ft_config_fail_errno(p, -ENOMEM, p->lineno, "out of memory");
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
	if (!ft_config_grow(p, (void **)&cfg->addresses, cfg->n_addresses, sizeof(a)))
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
	if (!ft_config_grow(p, (void **)&peer->allowed_ips, peer->n_allowed_ips, sizeof(a)))
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
	if (!ft_config_grow(p, (void **)&cfg->link_watch, cfg->n_link_watch, sizeof(char *)))
		return false;
	name = strdup(item);
	if (!name) {
		ft_config_fail_errno(p, -ENOMEM, p->lineno, "out of memory");
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
	if (!ft_config_grow(p, (void **)&cfg->ipfix, cfg->n_ipfix, sizeof(char *)))
		return false;
	copy = strdup(item);
	if (!copy) {
		ft_config_fail_errno(p, -ENOMEM, p->lineno, "out of memory");
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
	if (ft_parse_uint(port, 65535, &port_num) < 0 || port_num == 0 || strlen(port) > 5)
		goto bad;

	free(peer->endpoint_host);
	free(peer->endpoint_port);
	peer->endpoint_host = strdup(host);
	peer->endpoint_port = strdup(port);
	if (!peer->endpoint_host || !peer->endpoint_port) {
		ft_config_fail_errno(p, -ENOMEM, p->lineno, "out of memory");
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
		ft_config_fail_errno(p, -ENOMEM, p->lineno, "out of memory");
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
		ft_config_fail_errno(p, fd, p->lineno, "%s '%s': %s", key, shown, strerror(-fd));
		return false;
	}
	free(p->cfg->private_key_file);
	p->cfg->private_key_file = strdup(path);
	if (!p->cfg->private_key_file) {
		ft_config_fail_errno(p, -ENOMEM, p->lineno, "out of memory");
		close(fd);
		return false;
	}
	/*
	 * fstat on the open file: the mode checked is that of the file read. O_NONBLOCK above
	 * keeps a FIFO named here from hanging start-up; it is refused as not a regular file.
	 */
	if (fstat(fd, &st) < 0) {
		ret = errno;
		ft_config_fail_errno(p, -ret, p->lineno, "%s '%s': %s", key, shown, strerror(ret));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		fail(p, "%s '%s' is not a regular file", key, shown);
		goto out;
	}
	if (st.st_mode & (S_IRWXG | S_IRWXO)) {
		ft_config_fail_errno(
			p, -EACCES, p->lineno,
			"%s '%s' has mode %04o: it must not be accessible by group or others "
			"(chmod 600)",
			key, shown, (unsigned int)(st.st_mode & 07777));
		goto out;
	}
	n = read(fd, buf, sizeof(buf) - 1);
	if (n < 0) {
		ret = errno;
		ft_config_fail_errno(p, -ret, p->lineno, "%s '%s': %s", key, shown, strerror(ret));
		goto out;
	}
	buf[n] = '\0';
	if (!secret_buffer(p, &p->cfg->private_key))
		goto out;
	if (ft_key_from_base64(p->cfg->private_key, ft_trim(buf)) < 0) {
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

bool ft_config_is_wg_quick_key(const char *key)
{
	for (size_t i = 0; i < sizeof(wg_quick_keys) / sizeof(wg_quick_keys[0]); i++)
		if (strcasecmp(key, wg_quick_keys[i]) == 0)
			return true;
	return false;
}

static bool set_u32(struct parser *p, const char *key, const char *value, uint64_t min,
		    uint64_t max, uint32_t *out)
{
	uint64_t v;

	if (ft_parse_uint(value, max, &v) < 0 || v < min) {
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

bool ft_config_interface_key(struct parser *p, const char *key, const char *value)
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
			ft_config_fail_errno(p, -ENOMEM, p->lineno, "out of memory");
			return false;
		}
		return true;
	}
	if (strcasecmp(key, "FlowLogInterval") == 0)
		return set_u32(p, key, value, 1, 86400, &cfg->flow_log_interval);
	if (strcasecmp(key, "FlowLogMaxConns") == 0)
		return set_u32(p, key, value, 1, 1u << 24, &cfg->flow_log_max_conns);
	if (strcasecmp(key, "FlowLogMaxEntriesPerSecond") == 0)
		return set_u32(p, key, value, 0, 1u << 24, &cfg->flow_log_max_entries_per_s);
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
			ft_config_fail_errno(p, -ENOMEM, p->lineno, "out of memory");
			return false;
		}
		return true;
	}
	if (strcasecmp(key, "MetricsListen") == 0) {
		struct sockaddr_storage ss;

		free(cfg->metrics_listen);
		cfg->metrics_listen = NULL;
		if (strcasecmp(value, "off") == 0)
			return true;
		if (ft_metrics_parse_listen(value, &ss) < 0) {
			fail(p,
			     "invalid %s '%s' (expected IPv4:PORT or [IPv6]:PORT, e.g. "
			     "127.0.0.1:9586, or off)",
			     key, value);
			return false;
		}
		if (!(cfg->metrics_listen = strdup(value))) {
			ft_config_fail_errno(p, -ENOMEM, p->lineno, "out of memory");
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
	if (strcasecmp(key, "UDPCoalesce") == 0) {
		if (!parse_bool(value, &cfg->udp_coalesce)) {
			fail(p, "invalid %s '%s' (expected on or off)", key, value);
			return false;
		}
		return true;
	}
	if (strcasecmp(key, "Workers") == 0)
		return set_u32(p, key, value, 1, FT_CONFIG_MAX_WORKERS, &cfg->workers);
	if (strcasecmp(key, "TunIO") == 0) {
		if (ft_tun_io_parse(value, &cfg->tun_io) < 0) {
			fail(p, "invalid %s '%s' (expected auto, io_uring or syscalls)", key,
			     value);
			return false;
		}
		return true;
	}
	if (strcasecmp(key, "Crypto") == 0) {
		if (ft_aead_impl_parse(value, &cfg->crypto) < 0) {
			fail(p, "invalid %s '%s' (expected auto, libsodium or openssl)", key,
			     value);
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
	if (ft_config_is_wg_quick_key(key))
		return true;
	fail(p, "unknown key '%s' in [Interface]", key);
	return false;
}

bool ft_config_peer_key(struct parser *p, const char *key, const char *value)
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
		/*
		 * In the secret arena, not sodium_malloc: a hub's config holds one per peer, and
		 * a mapping of its own each (two resident pages, one locked) would cost 8 KiB a
		 * peer and exhaust RLIMIT_MEMLOCK (tun/wg/secmem.h).
		 */
		if (!peer->preshared_key && !(peer->preshared_key = ft_secmem_alloc(FT_KEY_LEN))) {
			/* Most often the locked-memory limit, which secmem has explained already. */
			ft_config_fail_errno(
				p, -ENOMEM, p->lineno,
				"no locked memory for the %s (RLIMIT_MEMLOCK, or out of "
				"memory)",
				key);
			return false;
		}
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
		if (ft_parse_uint(value, 65535, &v) < 0) {
			fail(p, "invalid %s '%s' (expected off or 0 to 65535)", key, value);
			return false;
		}
		peer->persistent_keepalive = (uint16_t)v;
		return true;
	}
	fail(p, "unknown key '%s' in [Peer]", key);
	return false;
}
