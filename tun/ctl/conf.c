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
 *
 * What each key means and how its value is read is in conf_keys.c: this file is the
 * reader, the sections, the checks on the whole file, and loading it.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <netdb.h>
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

#include "base/text.h"
#include "tun/ctl/conf.h"
#include "tun/ctl/conf_internal.h"
#include "tun/priv/opener.h"
#include "tun/wg/secmem.h"

/* Records the first error only: later ones are usually its consequences. */
void ft_config_fail_errno(struct parser *p, int err, unsigned int lineno, const char *fmt, ...)
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

static bool is_list_key(const char *key)
{
	return strcasecmp(key, "Address") == 0 || strcasecmp(key, "AllowedIPs") == 0 ||
	       strcasecmp(key, "LinkWatch") == 0 || strcasecmp(key, "DNS") == 0 ||
	       strcasecmp(key, "IPFIX") == 0;
}

static int handler(void *user, const char *section, const char *name, const char *value)
{
	struct parser *p = user;

	(void)section; /* the reader keeps the section: inih cannot tell two [Peer]s apart */
	if (p->err)
		return 0;
	switch (p->section) {
	case SECTION_INTERFACE:
		return ft_config_interface_key(p, name, value);
	case SECTION_PEER:
		return ft_config_peer_key(p, name, value);
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
	name = ft_trim(header + 1);
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
		if (!ft_config_grow(p, (void **)&cfg->peers, cfg->n_peers, sizeof(*cfg->peers)))
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
		line = ft_trim(line);
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
		key = ft_trim(line);
		value = ft_trim(eq + 1);
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
		if (ft_config_is_wg_quick_key(key)) {
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
	ft_secmem_free(peer->preshared_key, FT_KEY_LEN); /* wiped */
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
	free(cfg->metrics_listen);
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

/* Peer indices ordered by public key, then by position: duplicates end up side by side. */
static int cmp_peer_index(const void *a, const void *b, void *arg)
{
	const struct ft_config_peer *peers = arg;
	size_t x = *(const size_t *)a, y = *(const size_t *)b;
	int c = memcmp(peers[x].public_key, peers[y].public_key, FT_KEY_LEN);

	return c ? c : (x > y) - (x < y);
}

/*
 * Two [Peer] sections with one PublicKey: refused, naming the first such section in file
 * order and the one before it. By sorting, O(n log n): a hub's 100,000 peers compared pair by
 * pair would take some 5 * 10^9 key comparisons.
 */
static void check_duplicates(struct parser *p)
{
	const struct ft_config *cfg = p->cfg;
	char b64[FT_KEY_B64_LEN + 1];
	size_t *order, dup = SIZE_MAX, first = 0;

	if (cfg->n_peers < 2)
		return;
	order = malloc(cfg->n_peers * sizeof(*order));
	if (!order) {
		ft_config_fail_errno(p, -ENOMEM, 0, "out of memory");
		return;
	}
	for (size_t i = 0; i < cfg->n_peers; i++)
		order[i] = i;
	qsort_r(order, cfg->n_peers, sizeof(*order), cmp_peer_index, cfg->peers);
	for (size_t i = 1; i < cfg->n_peers; i++) {
		const struct ft_config_peer *a = &cfg->peers[order[i - 1]],
					    *b = &cfg->peers[order[i]];

		/* The second of a group comes right after its first (sorted by position). */
		if (memcmp(a->public_key, b->public_key, FT_KEY_LEN) == 0 && order[i] < dup &&
		    (i < 2 ||
		     memcmp(cfg->peers[order[i - 2]].public_key, a->public_key, FT_KEY_LEN) != 0)) {
			dup = order[i];
			first = order[i - 1];
		}
	}
	free(order);
	if (dup == SIZE_MAX)
		return;
	ft_key_to_base64(b64, cfg->peers[dup].public_key);
	ft_config_fail_errno(p, -EINVAL, cfg->peers[dup].line,
			     "duplicate [Peer] PublicKey '%s' (also at line %u)", b64,
			     cfg->peers[first].line);
}

/* What no single line can say: a key given at all, and peers told apart. */
static void check_whole(struct parser *p)
{
	struct ft_config *cfg = p->cfg;

	if (p->err)
		return;
	if (!p->interface_line) {
		ft_config_fail_errno(p, -EINVAL, 0, "no [Interface] section");
		return;
	}
	if (!cfg->private_key && !p->settings_only) {
		ft_config_fail_errno(p, -EINVAL, p->interface_line,
				     "[Interface] has neither PrivateKey nor PrivateKeyFile");
		return;
	}
	for (size_t i = 0; i < cfg->n_peers; i++) {
		static const uint8_t zero[FT_KEY_LEN];

		if (sodium_memcmp(cfg->peers[i].public_key, zero, FT_KEY_LEN) == 0) {
			ft_config_fail_errno(p, -EINVAL, cfg->peers[i].line,
					     "[Peer] has no PublicKey");
			return;
		}
	}
	check_duplicates(p);
}

void ft_config_init_defaults(struct ft_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->flow_log_interval = FT_CONFIG_DEFAULT_FLOW_LOG_INTERVAL;
	cfg->flow_log_max_conns = FT_CONFIG_DEFAULT_FLOW_LOG_MAX_CONNS;
	cfg->flow_log_max_entries_per_s = FT_CONFIG_DEFAULT_FLOW_LOG_MAX_ENTRIES_PER_S;
	cfg->link_poll_interval = FT_CONFIG_DEFAULT_LINK_POLL_INTERVAL;
	cfg->ipfix_template_interval = FT_CONFIG_DEFAULT_IPFIX_TEMPLATE_INTERVAL;
	cfg->statistics = true;
	cfg->offload = true;
	cfg->udp_coalesce = true;
	cfg->crypto = FT_AEAD_AUTO;
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
		ft_config_fail_errno(&p, -EIO, 0, "libsodium failed to initialise");
		return p.err;
	}
	/* One buffer as long as the whole text holds any line; it may hold secrets. */
	p.line_size = strlen(text) + 1;
	p.line = sodium_malloc(p.line_size);
	if (!p.line) {
		ft_config_fail_errno(&p, -ENOMEM, 0, "out of memory");
		return p.err;
	}
	ret = ini_parse_stream(reader, &p, handler, &p);
	sodium_free(p.line); /* sodium_free wipes before freeing */
	if (!p.err && ret != 0)
		ft_config_fail_errno(&p, ret == -2 ? -ENOMEM : -EINVAL,
				     ret > 0 ? (unsigned int)ret : 0, "syntax error");
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

int ft_config_endpoint_from_addrinfo(const struct addrinfo *res, struct sockaddr_storage *ss,
				     socklen_t *len)
{
	for (const struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		if ((ai->ai_family == AF_INET || ai->ai_family == AF_INET6) &&
		    ai->ai_addrlen <= sizeof(*ss)) {
			memset(ss, 0, sizeof(*ss));
			memcpy(ss, ai->ai_addr, ai->ai_addrlen);
			*len = ai->ai_addrlen;
			return 0;
		}
	}
	return -ENOENT;
}

static int gai_errno(int ret)
{
	switch (ret) {
	case 0:
		return 0;
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
}

static int resolve(const char *host, const char *port, int flags, struct sockaddr_storage *ss,
		   socklen_t *len)
{
	struct addrinfo hints = {
		.ai_family = AF_UNSPEC,
		.ai_socktype = SOCK_DGRAM,
		.ai_protocol = IPPROTO_UDP,
		.ai_flags = flags,
	};
	struct addrinfo *res = NULL;
	int ret = gai_errno(getaddrinfo(host, port, &hints, &res));

	if (ret == 0)
		ret = ft_config_endpoint_from_addrinfo(res, ss, len);
	if (res)
		freeaddrinfo(res);
	return ret;
}

int ft_config_resolve_numeric(const char *host, const char *port, struct sockaddr_storage *ss,
			      socklen_t *len)
{
	return resolve(host, port, AI_NUMERICHOST | AI_NUMERICSERV, ss, len);
}

int ft_config_resolve_endpoint(const char *host, const char *port, struct sockaddr_storage *ss,
			       socklen_t *len)
{
	/* Numeric forms first: they need no resolver and cannot block. */
	int ret = ft_config_resolve_numeric(host, port, ss, len);

	if (ret == -ENOENT)
		ret = resolve(host, port, AI_NUMERICSERV, ss, len);
	return ret;
}

int ft_config_parse_workers(const char *s, unsigned int *out)
{
	uint64_t n;

	if (ft_parse_uint(s, FT_CONFIG_MAX_WORKERS, &n) < 0 || n < 1)
		return -EINVAL;
	*out = (unsigned int)n;
	return 0;
}
