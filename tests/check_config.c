// SPDX-License-Identifier: MIT
/*
 * The config file: good configs and every field they set, bad ones with the exact message,
 * the private key file's mode check, files on disk, and endpoint resolution.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <check.h>
#include <sodium.h>

#include "tun/ctl/conf.h"
#include "tun/wg/secmem.h"

/* RFC 7748's test keys (see check_key.c); never use them for anything real. */
#define PRIV "dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCo="
#define PUB_A "3p7bfXt9wbTTW2HC7OQ1Nz+DQ8hbeGdNrfx+FG+IK08="
#define PUB_B "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo="
#define PSK "XasIfmJKikt54X+Lg4AO5m87sSkmGLb9HC+LJ/+I4Os="
#define IFACE "[Interface]\nPrivateKey = " PRIV "\n"

static char errbuf[512];

static void key_eq(const uint8_t *key, const char *b64)
{
	char got[FT_KEY_B64_LEN + 1];

	ck_assert_ptr_nonnull(key);
	ft_key_to_base64(got, key);
	ck_assert_str_eq(got, b64);
}

static void addr_eq(const struct ft_config_addr *a, const char *text, unsigned int cidr)
{
	char buf[INET6_ADDRSTRLEN];

	ck_assert_ptr_nonnull(inet_ntop(a->family, a->addr, buf, sizeof(buf)));
	ck_assert_str_eq(buf, text);
	ck_assert_uint_eq(a->cidr, cidr);
}

static void parse_ok(const char *text, struct ft_config *cfg)
{
	int ret = ft_config_parse_string(text, "t.conf", cfg, errbuf, sizeof(errbuf));

	ck_assert_msg(ret == 0, "refused (%d): %s", ret, errbuf);
}

/*
 * Bad configs and the exact message. The name is "t.conf"; lines count from 1.
 */
static const struct {
	const char *text;
	const char *error;
} bad[] = {
	{ IFACE "ListenPort = 70000\n",
	  "t.conf:3: invalid ListenPort '70000' (expected 0 to 65535)" },
	{ IFACE "ListenPort = -1\n", "t.conf:3: invalid ListenPort '-1' (expected 0 to 65535)" },
	{ IFACE "ListenPort = 51820x\n",
	  "t.conf:3: invalid ListenPort '51820x' (expected 0 to 65535)" },
	{ IFACE "ListenPort =\n", "t.conf:3: invalid ListenPort '' (expected 0 to 65535)" },
	{ IFACE "Foo = bar\n", "t.conf:3: unknown key 'Foo' in [Interface]" },
	{ IFACE "Endpoint = 198.18.0.1:1\n", "t.conf:3: unknown key 'Endpoint' in [Interface]" },
	{ IFACE "[Peer]\nPublicKey = " PUB_A "\nListenPort = 1\n",
	  "t.conf:5: unknown key 'ListenPort' in [Peer]" },
	{ IFACE "Foo:bar = 1\n", "t.conf:3: invalid key 'Foo:bar'" },
	{ IFACE "Priv ateKey = 1\n", "t.conf:3: invalid key 'Priv ateKey'" },
	{ "[Interface]\nPrivateKey = dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCo\n",
	  "t.conf:2: invalid PrivateKey (not shown: expected 44 characters of base64)" },
	{ IFACE "[Peer]\nPublicKey = abc=\n", "t.conf:4: invalid PublicKey 'abc='" },
	{ IFACE "[Peer]\nPublicKey = " PUB_A "\nPresharedKey = nope\n",
	  "t.conf:5: invalid PresharedKey (not shown: expected 44 characters of base64)" },
	{ IFACE "Address = 100.64.0.1/33\n", "t.conf:3: invalid Address '100.64.0.1/33'" },
	{ IFACE "Address = 100.64.0.1/10, fd00::1/129\n",
	  "t.conf:3: invalid Address 'fd00::1/129'" },
	{ IFACE "Address = 100.64.0.1/\n", "t.conf:3: invalid Address '100.64.0.1/'" },
	{ IFACE "Address = 100.64.0.1/+8\n", "t.conf:3: invalid Address '100.64.0.1/+8'" },
	{ IFACE "Address = 100.64.0.256/10\n", "t.conf:3: invalid Address '100.64.0.256/10'" },
	{ IFACE "Address = tun0\n", "t.conf:3: invalid Address 'tun0'" },
	{ IFACE "[Peer]\nPublicKey = " PUB_A "\nAllowedIPs = 10.0.0.0/8,,10.1.0.0/16\n",
	  "t.conf:5: invalid AllowedIPs ''" },
	{ IFACE "[Peer]\nPublicKey = " PUB_A "\nAllowedIPs = 10.0.0.0/8 10.1.0.0/16\n",
	  "t.conf:5: invalid AllowedIPs '10.0.0.0/8 10.1.0.0/16'" },
	{ IFACE "[Peer]\nPublicKey = " PUB_A "\nEndpoint = fd00::1:51820\n",
	  "t.conf:5: invalid Endpoint 'fd00::1:51820' (expected host:port, IPv4:port or "
	  "[IPv6]:port)" },
	{ IFACE "[Peer]\nPublicKey = " PUB_A "\nEndpoint = 198.18.0.1\n",
	  "t.conf:5: invalid Endpoint '198.18.0.1' (expected host:port, IPv4:port or "
	  "[IPv6]:port)" },
	{ IFACE "[Peer]\nPublicKey = " PUB_A "\nEndpoint = 198.18.0.1:0\n",
	  "t.conf:5: invalid Endpoint '198.18.0.1:0' (expected host:port, IPv4:port or "
	  "[IPv6]:port)" },
	{ IFACE "[Peer]\nPublicKey = " PUB_A "\nEndpoint = 198.18.0.1:65536\n",
	  "t.conf:5: invalid Endpoint '198.18.0.1:65536' (expected host:port, IPv4:port or "
	  "[IPv6]:port)" },
	{ IFACE "[Peer]\nPublicKey = " PUB_A "\nEndpoint = [fd00::1]51820\n",
	  "t.conf:5: invalid Endpoint '[fd00::1]51820' (expected host:port, IPv4:port or "
	  "[IPv6]:port)" },
	{ IFACE "[Peer]\nPublicKey = " PUB_A "\nEndpoint = [host.example]:1\n",
	  "t.conf:5: invalid Endpoint '[host.example]:1' (expected host:port, IPv4:port or "
	  "[IPv6]:port)" },
	{ IFACE "[Peer]\nPublicKey = " PUB_A "\nEndpoint = :51820\n",
	  "t.conf:5: invalid Endpoint ':51820' (expected host:port, IPv4:port or "
	  "[IPv6]:port)" },
	{ IFACE "[Peer]\nPublicKey = " PUB_A "\nEndpoint = bad!host:1\n",
	  "t.conf:5: invalid Endpoint 'bad!host:1' (expected host:port, IPv4:port or "
	  "[IPv6]:port)" },
	{ IFACE "[Peer]\nPublicKey = " PUB_A "\nPersistentKeepalive = 65536\n",
	  "t.conf:5: invalid PersistentKeepalive '65536' (expected off or 0 to 65535)" },
	{ IFACE "MTU = 100\n", "t.conf:3: invalid MTU '100' (expected 576 to 65535)" },
	{ IFACE "MTU = 65536\n", "t.conf:3: invalid MTU '65536' (expected 576 to 65535)" },
	{ IFACE "FwMark = 0xgg\n", "t.conf:3: invalid FwMark '0xgg'" },
	{ IFACE "FwMark = -1\n", "t.conf:3: invalid FwMark '-1'" },
	{ IFACE "FwMark = 0x100000000\n", "t.conf:3: invalid FwMark '0x100000000'" },
	{ IFACE "Statistics = maybe\n",
	  "t.conf:3: invalid Statistics 'maybe' (expected on or off)" },
	{ IFACE "UDPCoalesce = 2\n", "t.conf:3: invalid UDPCoalesce '2' (expected on or off)" },
	{ IFACE "Workers = 0\n", "t.conf:3: invalid Workers '0' (expected 1 to 64)" },
	{ IFACE "Workers = 65\n", "t.conf:3: invalid Workers '65' (expected 1 to 64)" },
	{ IFACE "Workers = two\n", "t.conf:3: invalid Workers 'two' (expected 1 to 64)" },
	{ IFACE "TunIO = uring\n",
	  "t.conf:3: invalid TunIO 'uring' (expected auto, io_uring or syscalls)" },
	{ IFACE "Crypto = aes\n",
	  "t.conf:3: invalid Crypto 'aes' (expected auto, libsodium or openssl)" },
	{ IFACE "Crypto =\n", "t.conf:3: invalid Crypto '' (expected auto, libsodium or openssl)" },
	{ IFACE "FlowLog =\n", "t.conf:3: invalid FlowLog '' (expected a path or -)" },
	{ IFACE "FlowLogInterval = 0\n",
	  "t.conf:3: invalid FlowLogInterval '0' (expected 1 to 86400)" },
	{ IFACE "FlowLogInterval = 1.5\n",
	  "t.conf:3: invalid FlowLogInterval '1.5' (expected 1 to 86400)" },
	{ IFACE "FlowLogMaxConns = 0\n",
	  "t.conf:3: invalid FlowLogMaxConns '0' (expected 1 to 16777216)" },
	{ IFACE "FlowLogMaxEntriesPerSecond = -1\n",
	  "t.conf:3: invalid FlowLogMaxEntriesPerSecond '-1' (expected 0 to 16777216)" },
	{ IFACE "FlowLogMaxEntriesPerSecond = 16777217\n",
	  "t.conf:3: invalid FlowLogMaxEntriesPerSecond '16777217' (expected 0 to 16777216)" },
	{ IFACE "LinkPollInterval = 3601\n",
	  "t.conf:3: invalid LinkPollInterval '3601' (expected 1 to 3600)" },
	{ IFACE "LinkWatch = eth0, a/b\n", "t.conf:3: invalid LinkWatch interface 'a/b'" },
	{ IFACE "MetricsListen = localhost:9586\n",
	  "t.conf:3: invalid MetricsListen 'localhost:9586' (expected IPv4:PORT or [IPv6]:PORT, "
	  "e.g. 127.0.0.1:9586, or off)" },
	{ IFACE "MetricsListen = ::1:9586\n",
	  "t.conf:3: invalid MetricsListen '::1:9586' (expected IPv4:PORT or [IPv6]:PORT, "
	  "e.g. 127.0.0.1:9586, or off)" },
	{ IFACE "MetricsListen = 127.0.0.1\n",
	  "t.conf:3: invalid MetricsListen '127.0.0.1' (expected IPv4:PORT or [IPv6]:PORT, "
	  "e.g. 127.0.0.1:9586, or off)" },
	{ IFACE "LinkWatch = averyverylongname\n",
	  "t.conf:3: invalid LinkWatch interface 'averyverylongname'" },
	{ "ListenPort = 1\n[Interface]\n",
	  "t.conf:1: 'ListenPort' outside of a section (expected [Interface] or [Peer] first)" },
	{ "# comment\n\n[Peers]\n", "t.conf:3: unknown section '[Peers]'" },
	{ "[Peer\n", "t.conf:1: invalid section header '[Peer'" },
	{ "[Interface]\nPrivateKey\n", "t.conf:2: expected 'Key = Value', got 'PrivateKey'" },
	{ IFACE "[Interface]\n", "t.conf:3: a second [Interface] section (the first at line 1)" },
	{ IFACE "PrivateKeyFile = /nonexistent\n",
	  "t.conf:3: PrivateKey and PrivateKeyFile both given (the other at line 2)" },
	{ "[Interface]\nPrivateKeyFile = /nonexistent/flowtun.key\n",
	  "t.conf:2: PrivateKeyFile '/nonexistent/flowtun.key': No such file or directory" },
	{ "[Interface]\nPrivateKeyFile = /\n",
	  "t.conf:2: PrivateKeyFile '/' is not a regular file" },
	{ "", "t.conf: no [Interface] section" },
	{ "[Peer]\nPublicKey = " PUB_A "\n", "t.conf: no [Interface] section" },
	{ "[Interface]\nListenPort = 1\n",
	  "t.conf:1: [Interface] has neither PrivateKey nor PrivateKeyFile" },
	{ IFACE "[Peer]\nAllowedIPs = 10.0.0.0/8\n", "t.conf:3: [Peer] has no PublicKey" },
	{ IFACE "[Peer]\nPublicKey = " PUB_A "\n[Peer]\nPublicKey = " PUB_A "\n",
	  "t.conf:5: duplicate [Peer] PublicKey '" PUB_A "' (also at line 3)" },
	/* Among several, the first duplicate in file order, with the section before it. */
	{ IFACE "[Peer]\nPublicKey = " PUB_A "\n[Peer]\nPublicKey = " PUB_B
		"\n[Peer]\nPublicKey = " PUB_B "\n[Peer]\nPublicKey = " PUB_A "\n",
	  "t.conf:7: duplicate [Peer] PublicKey '" PUB_B "' (also at line 5)" },
	{ IFACE "[Peer]\nPublicKey = " PUB_A "\n[Peer]\nPublicKey = " PUB_A
		"\n[Peer]\nPublicKey = " PUB_A "\n",
	  "t.conf:5: duplicate [Peer] PublicKey '" PUB_A "' (also at line 3)" },
	/* The first error wins, with its line. */
	{ IFACE "MTU = 1\nListenPort = x\n", "t.conf:3: invalid MTU '1' (expected 576 to 65535)" },
	/* A # ends the line anywhere, so the value here is empty. */
	{ IFACE "MTU = # 1420\n", "t.conf:3: invalid MTU '' (expected 576 to 65535)" },
};

START_TEST(test_bad)
{
	struct ft_config cfg;
	int ret;

	memset(&cfg, 0xa5, sizeof(cfg));
	ret = ft_config_parse_string(bad[_i].text, "t.conf", &cfg, errbuf, sizeof(errbuf));
	ck_assert_int_lt(ret, 0);
	ck_assert_str_eq(errbuf, bad[_i].error);
	/* A failed parse leaves nothing behind to free. */
	ck_assert_ptr_null(cfg.private_key);
	ck_assert_ptr_null(cfg.peers);
	ck_assert_uint_eq(cfg.n_peers, 0);
	ft_config_free(&cfg);
}
END_TEST

START_TEST(test_metrics_listen)
{
	struct ft_config cfg;

	parse_ok(IFACE "MetricsListen = 127.0.0.1:9586\n", &cfg);
	ck_assert_str_eq(cfg.metrics_listen, "127.0.0.1:9586");
	ft_config_free(&cfg);
	/* The last one wins; off turns it off again. */
	parse_ok(IFACE "MetricsListen = [::1]:9586\nmetricslisten = off\n", &cfg);
	ck_assert_ptr_null(cfg.metrics_listen);
	ft_config_free(&cfg);
	parse_ok(IFACE "MetricsListen = 127.0.0.1:1\nMetricsListen = [fd00::1]:65535\n", &cfg);
	ck_assert_str_eq(cfg.metrics_listen, "[fd00::1]:65535");
	ft_config_free(&cfg);
}
END_TEST

/* flowtun's own key: accepted in the settings file of `flowtun IFACE`, as FlowLog is. */
START_TEST(test_metrics_listen_settings)
{
	static const char text[] = "[Interface]\nMetricsListen = [::1]:9586\n";
	char path[] = "/tmp/check_config.XXXXXX";
	struct ft_config cfg;
	int fd = mkstemp(path);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, sizeof(text) - 1), (ssize_t)(sizeof(text) - 1));
	close(fd);
	ck_assert_int_eq(ft_config_load_settings(path, &cfg, errbuf, sizeof(errbuf)), 0);
	unlink(path);
	ck_assert_str_eq(cfg.metrics_listen, "[::1]:9586");
	ck_assert_ptr_null(cfg.private_key);
	ft_config_free(&cfg);
}
END_TEST

START_TEST(test_long_scalar_refused)
{
	char text[1024];
	struct ft_config cfg;

	snprintf(text, sizeof(text), IFACE "[Peer]\nPublicKey = %0300d\n", 0);
	ck_assert_int_eq(ft_config_parse_string(text, "t.conf", &cfg, errbuf, sizeof(errbuf)),
			 -EINVAL);
	ck_assert_str_eq(errbuf, "t.conf:4: the value of PublicKey is too long (300 characters)");
}
END_TEST

/*
 * A PresharedKey lives in the locked secret arena; when that is exhausted (the locked-memory
 * limit, which secmem explains on stderr itself) the config's error says so, not "out of
 * memory" alone. The arena is capped at what is mapped and its free slots taken first.
 */
START_TEST(test_psk_no_locked_memory)
{
	static void *held[8192];
	struct ft_secmem_stats st;
	struct ft_config cfg;
	size_t n = 0;
	int ret;

	ft_secmem_stats(&st);
	ft_secmem_set_limit(st.chunk_bytes ? st.chunk_bytes : 1);
	while (n < sizeof(held) / sizeof(held[0]) && (held[n] = ft_secmem_alloc(FT_KEY_LEN)))
		n++;
	ck_assert_uint_lt(n, sizeof(held) / sizeof(held[0]));
	ret = ft_config_parse_string(IFACE "[Peer]\nPublicKey = " PUB_A "\nPresharedKey = " PUB_A
					   "\n",
				     "t.conf", &cfg, errbuf, sizeof(errbuf));
	while (n > 0)
		ft_secmem_free(held[--n], FT_KEY_LEN);
	ft_secmem_set_limit(0);
	ck_assert_int_eq(ret, -ENOMEM);
	ck_assert_str_eq(errbuf, "t.conf:5: no locked memory for the PresharedKey "
				 "(RLIMIT_MEMLOCK, or out of memory)");
}
END_TEST

START_TEST(test_defaults)
{
	struct ft_config cfg;

	parse_ok(IFACE, &cfg);
	key_eq(cfg.private_key, PRIV);
	ck_assert_uint_eq(cfg.listen_port, 0);
	ck_assert_uint_eq(cfg.n_addresses, 0);
	ck_assert_uint_eq(cfg.mtu, 0); /* none: the TUN MTU follows the underlay */
	ck_assert_uint_eq(cfg.fwmark, 0);
	ck_assert_ptr_null(cfg.flow_log);
	ck_assert_uint_eq(cfg.flow_log_interval, 5);
	ck_assert_uint_eq(cfg.flow_log_max_conns, 1060);
	ck_assert_uint_eq(cfg.flow_log_max_entries_per_s, 1000);
	ck_assert_uint_eq(cfg.n_link_watch, 0);
	ck_assert_uint_eq(cfg.link_poll_interval, 2);
	ck_assert(cfg.statistics);
	ck_assert(cfg.udp_coalesce);
	ck_assert_int_eq(cfg.tun_io, FT_TUN_IO_AUTO);
	ck_assert_uint_eq(cfg.workers, 0); /* unset: 1, or FLOWTUN_WORKERS */
	ck_assert_int_eq(cfg.crypto, FT_AEAD_AUTO);
	ck_assert_ptr_null(cfg.metrics_listen);
	ck_assert_uint_eq(cfg.n_peers, 0);
	ft_config_free(&cfg);
	ck_assert_ptr_null(cfg.private_key);
	ft_config_free(&cfg); /* twice is harmless */
}
END_TEST

static void check_full(const struct ft_config *cfg)
{
	const struct ft_config_peer *a, *b;

	key_eq(cfg->private_key, PRIV);
	ck_assert_uint_eq(cfg->listen_port, 51820);
	ck_assert_uint_eq(cfg->n_addresses, 3);
	addr_eq(&cfg->addresses[0], "100.64.0.1", 10); /* host bits kept in an Address */
	addr_eq(&cfg->addresses[1], "fd00::1", 64);
	addr_eq(&cfg->addresses[2], "100.100.0.1", 32);
	ck_assert_uint_eq(cfg->mtu, 1400);
	ck_assert_uint_eq(cfg->fwmark, 0x51820);
	ck_assert_str_eq(cfg->flow_log, "/var/log/flowtun/flows.jsonl");
	ck_assert_uint_eq(cfg->flow_log_interval, 10);
	ck_assert_uint_eq(cfg->flow_log_max_conns, 2000);
	ck_assert_uint_eq(cfg->flow_log_max_entries_per_s, 250);
	ck_assert_uint_eq(cfg->n_link_watch, 2);
	ck_assert_str_eq(cfg->link_watch[0], "veth0");
	ck_assert_str_eq(cfg->link_watch[1], "eth1");
	ck_assert_uint_eq(cfg->link_poll_interval, 1);
	ck_assert(cfg->statistics);

	ck_assert_uint_eq(cfg->n_peers, 2);
	a = &cfg->peers[0];
	key_eq(a->public_key, PUB_A);
	key_eq(a->preshared_key, PSK);
	ck_assert_uint_eq(a->n_allowed_ips, 3);
	addr_eq(&a->allowed_ips[0], "100.64.0.2", 32);
	addr_eq(&a->allowed_ips[1], "fd00::2", 128);
	addr_eq(&a->allowed_ips[2], "100.96.0.0", 11);
	ck_assert_str_eq(a->endpoint_host, "198.18.0.2");
	ck_assert_str_eq(a->endpoint_port, "51820");
	ck_assert_uint_eq(a->persistent_keepalive, 25);
	ck_assert_uint_eq(a->line, 23);

	b = &cfg->peers[1];
	key_eq(b->public_key, PUB_B);
	ck_assert_ptr_null(b->preshared_key);
	ck_assert_uint_eq(b->n_allowed_ips, 1);
	addr_eq(&b->allowed_ips[0], "100.64.0.3", 32);
	ck_assert_str_eq(b->endpoint_host, "fd00:198:18::3");
	ck_assert_str_eq(b->endpoint_port, "51821");
	ck_assert_uint_eq(b->persistent_keepalive, 0);
	ck_assert_uint_eq(b->line, 32);
}

START_TEST(test_load_full)
{
	struct ft_config cfg;
	int ret = ft_config_load(FT_TEST_DATA "/full.conf", &cfg, errbuf, sizeof(errbuf));

	ck_assert_msg(ret == 0, "%s", errbuf);
	check_full(&cfg);
	ft_config_free(&cfg);
}
END_TEST

START_TEST(test_load_errors)
{
	struct ft_config cfg;

	ck_assert_int_eq(ft_config_load(FT_TEST_DATA "/bad-port.conf", &cfg, errbuf,
					sizeof(errbuf)),
			 -EINVAL);
	ck_assert_str_eq(errbuf,
			 FT_TEST_DATA "/bad-port.conf:3: invalid ListenPort '65536' (expected 0 to "
				      "65535)");
	ck_assert_int_eq(ft_config_load(FT_TEST_DATA "/missing.conf", &cfg, errbuf, sizeof(errbuf)),
			 -ENOENT);
	ck_assert_str_eq(errbuf, FT_TEST_DATA "/missing.conf: No such file or directory");
	ck_assert_int_eq(ft_config_load(FT_TEST_DATA, &cfg, errbuf, sizeof(errbuf)), -EINVAL);
	ck_assert_str_eq(errbuf, FT_TEST_DATA ": not a regular file of at most 268435456 bytes");
}
END_TEST

/*
 * The size limit (a hub's 2^20 peers): a config of 2 MiB (over the 1 MiB the limit was) is
 * read; a file one byte over FT_CONFIG_MAX_FILE_SIZE (sparse) is refused by its size.
 */
START_TEST(test_load_size_limit)
{
	char path[] = "/tmp/check_config.XXXXXX", line[128];
	struct ft_config cfg;
	int fd = mkstemp(path);
	FILE *f;

	ck_assert_int_ge(fd, 0);
	f = fdopen(dup(fd), "w");
	ck_assert_ptr_nonnull(f);
	fprintf(f, IFACE "[Peer]\nPublicKey = " PUB_A "\n");
	memset(line, '#', sizeof(line) - 1);
	line[sizeof(line) - 2] = '\n';
	line[sizeof(line) - 1] = '\0';
	for (int i = 0; i < (2 << 20) / 127; i++)
		fputs(line, f);
	ck_assert_int_eq(fclose(f), 0);
	ck_assert_int_eq(ft_config_load(path, &cfg, errbuf, sizeof(errbuf)), 0);
	ck_assert_uint_eq(cfg.n_peers, 1);
	ft_config_free(&cfg);
	ck_assert_int_eq(ftruncate(fd, FT_CONFIG_MAX_FILE_SIZE + 1), 0);
	ck_assert_int_eq(ft_config_load(path, &cfg, errbuf, sizeof(errbuf)), -EINVAL);
	ck_assert_msg(strstr(errbuf, "not a regular file of at most 268435456 bytes"), "%s",
		      errbuf);
	close(fd);
	unlink(path);
}
END_TEST

START_TEST(test_wg_quick_syntax)
{
	/*
	 * Mixed case keys and sections, CRLF, a byte order mark, tabs, comments after values,
	 * the keys wg-quick handles itself, "off" values, and peers told apart by [Peer] alone.
	 */
	static const char text[] = "\xef\xbb\xbf[interface]\r\n"
				   "privatekey=" PRIV "\r\n"
				   "  LISTENPORT\t=\t1234   # a comment\r\n"
				   "FwMark = off\n"
				   "Statistics = Off\n"
				   "udpcoalesce = off\n"
				   "tunio = IO_URING\n"
				   "workers = 4\n"
				   "crypto = OpenSSL\n"
				   "DNS = 1.1.1.1, example.com\n"
				   "Table = 1234\n"
				   "PreUp = echo pre\n"
				   "PostUp = echo post ; echo more\n"
				   "PreDown = true\n"
				   "PostDown = true\n"
				   "SaveConfig = true\n"
				   "FlowLog = -\n"
				   "\n"
				   "[PEER]\n"
				   "publickey = " PUB_A "\n"
				   "persistentkeepalive = off\n"
				   "[Peer]\n"
				   "PublicKey = " PUB_B "\n"
				   "AllowedIPs =\n"
				   "AllowedIPs = 0.0.0.0/0, ::/0\n"
				   "Endpoint = peer-b.example:51820\n";
	struct ft_config cfg;

	parse_ok(text, &cfg);
	ck_assert_uint_eq(cfg.listen_port, 1234);
	ck_assert_uint_eq(cfg.fwmark, 0);
	ck_assert(!cfg.statistics);
	ck_assert(!cfg.udp_coalesce);
	ck_assert_int_eq(cfg.tun_io, FT_TUN_IO_URING);
	ck_assert_uint_eq(cfg.workers, 4);
	ck_assert_int_eq(cfg.crypto, FT_AEAD_OPENSSL);
	ck_assert_str_eq(cfg.flow_log, "-");
	ck_assert_uint_eq(cfg.n_peers, 2);
	key_eq(cfg.peers[0].public_key, PUB_A);
	ck_assert_uint_eq(cfg.peers[0].persistent_keepalive, 0);
	ck_assert_uint_eq(cfg.peers[0].n_allowed_ips, 0);
	ck_assert_ptr_null(cfg.peers[0].endpoint_host);
	key_eq(cfg.peers[1].public_key, PUB_B);
	ck_assert_uint_eq(cfg.peers[1].n_allowed_ips, 2);
	addr_eq(&cfg.peers[1].allowed_ips[0], "0.0.0.0", 0);
	addr_eq(&cfg.peers[1].allowed_ips[1], "::", 0);
	ck_assert_str_eq(cfg.peers[1].endpoint_host, "peer-b.example");
	ck_assert_str_eq(cfg.peers[1].endpoint_port, "51820");
	ft_config_free(&cfg);
}
END_TEST

static const struct {
	const char *endpoint, *host, *port;
} endpoints[] = {
	{ "198.18.0.2:51820", "198.18.0.2", "51820" },
	{ "[fd00::2]:1", "fd00::2", "1" },
	{ "[fe80::1%veth0]:65535", "fe80::1%veth0", "65535" },
	{ "[::ffff:198.18.0.1]:51820", "::ffff:198.18.0.1", "51820" },
	{ "peer.example:51820", "peer.example", "51820" },
	{ "localhost:7", "localhost", "7" },
};

START_TEST(test_endpoints)
{
	char text[512];
	struct ft_config cfg;

	snprintf(text, sizeof(text), IFACE "[Peer]\nPublicKey = " PUB_A "\nEndpoint = %s\n",
		 endpoints[_i].endpoint);
	parse_ok(text, &cfg);
	ck_assert_str_eq(cfg.peers[0].endpoint_host, endpoints[_i].host);
	ck_assert_str_eq(cfg.peers[0].endpoint_port, endpoints[_i].port);
	ft_config_free(&cfg);
}
END_TEST

START_TEST(test_allowed_ips_masked)
{
	struct ft_config cfg;

	parse_ok(IFACE "[Peer]\nPublicKey = " PUB_A
		       "\nAllowedIPs = 100.64.1.2/24, fd00:1:2:3::4/33, 198.18.255.255/15, "
		       "1.2.3.4/0, 1.2.3.4\n",
		 &cfg);
	ck_assert_uint_eq(cfg.peers[0].n_allowed_ips, 5);
	addr_eq(&cfg.peers[0].allowed_ips[0], "100.64.1.0", 24);
	addr_eq(&cfg.peers[0].allowed_ips[1], "fd00:1::", 33);
	addr_eq(&cfg.peers[0].allowed_ips[2], "198.18.0.0", 15);
	addr_eq(&cfg.peers[0].allowed_ips[3], "0.0.0.0", 0);
	addr_eq(&cfg.peers[0].allowed_ips[4], "1.2.3.4", 32);
	ft_config_free(&cfg);
}
END_TEST

START_TEST(test_long_lines)
{
	/* inih's buffer holds 200 bytes: a long list must still arrive whole. */
	char text[8192], *p = text;
	struct ft_config cfg;

	p += sprintf(p, IFACE "PostUp = echo %0400d\nAddress = ", 0);
	for (int i = 0; i < 40; i++)
		p += sprintf(p, "%s100.64.%d.1/24", i ? ", " : "", i);
	p += sprintf(p, "\n[Peer]\nPublicKey = " PUB_A "\nAllowedIPs = ");
	for (int i = 0; i < 200; i++)
		p += sprintf(p, "%sfd00:%x::/32", i ? "," : "", i);
	p += sprintf(p, "\nPersistentKeepalive = 5\n");
	ck_assert_uint_lt((size_t)(p - text), sizeof(text));

	parse_ok(text, &cfg);
	ck_assert_uint_eq(cfg.n_addresses, 40);
	for (int i = 0; i < 40; i++) {
		char want[32];

		snprintf(want, sizeof(want), "100.64.%d.1", i);
		addr_eq(&cfg.addresses[i], want, 24);
	}
	ck_assert_uint_eq(cfg.peers[0].n_allowed_ips, 200);
	addr_eq(&cfg.peers[0].allowed_ips[199], "fd00:c7::", 32);
	ck_assert_uint_eq(cfg.peers[0].persistent_keepalive, 5);
	ft_config_free(&cfg);

	/* And a bad item far into a long line still names the line. */
	p = text;
	p += sprintf(p, IFACE "[Peer]\nPublicKey = " PUB_A "\nAllowedIPs = ");
	for (int i = 0; i < 100; i++)
		p += sprintf(p, "10.%d.0.0/16, ", i);
	sprintf(p, "10.0.0.0/99\n");
	ck_assert_int_eq(ft_config_parse_string(text, "t.conf", &cfg, errbuf, sizeof(errbuf)),
			 -EINVAL);
	ck_assert_str_eq(errbuf, "t.conf:5: invalid AllowedIPs '10.0.0.0/99'");
}
END_TEST

START_TEST(test_prefix)
{
	struct ft_config_addr a;

	ck_assert_int_eq(ft_config_parse_prefix("100.64.0.1/10", false, &a), 0);
	addr_eq(&a, "100.64.0.1", 10);
	ck_assert_int_eq(ft_config_parse_prefix("100.64.0.1/10", true, &a), 0);
	addr_eq(&a, "100.64.0.0", 10);
	ck_assert_int_eq(ft_config_parse_prefix("fd00::1", false, &a), 0);
	addr_eq(&a, "fd00::1", 128);
	ck_assert_int_eq(ft_config_parse_prefix("::/0", true, &a), 0);
	ck_assert_int_eq(a.family, AF_INET6);
	ck_assert_int_eq(ft_config_parse_prefix("1.2.3.4/32", true, &a), 0);
	ck_assert_int_eq(ft_config_parse_prefix("1.2.3.4/0032", true, &a), -EINVAL);
	ck_assert_int_eq(ft_config_parse_prefix("1.2.3.4/33", true, &a), -EINVAL);
	ck_assert_int_eq(ft_config_parse_prefix("::/129", true, &a), -EINVAL);
	ck_assert_int_eq(ft_config_parse_prefix("/8", true, &a), -EINVAL);
	ck_assert_int_eq(ft_config_parse_prefix("", true, &a), -EINVAL);
	ck_assert_int_eq(ft_config_parse_prefix("1.2.3/8", true, &a), -EINVAL);
	ck_assert_int_eq(ft_config_parse_prefix("010.1.2.3", true, &a), -EINVAL);
}
END_TEST

/* The private key file: the mode decides, whoever reads it (root ignores modes). */
static const struct {
	mode_t mode;
	const char *error; /* NULL: accepted */
} key_modes[] = {
	{ 0600, NULL },
	{ 0400, NULL },
	{ 0640, "has mode 0640: it must not be accessible by group or others (chmod 600)" },
	{ 0644, "has mode 0644: it must not be accessible by group or others (chmod 600)" },
	{ 0604, "has mode 0604: it must not be accessible by group or others (chmod 600)" },
	{ 0620, "has mode 0620: it must not be accessible by group or others (chmod 600)" },
};

static char tmpdir[64];

static void make_tmpdir(void)
{
	strcpy(tmpdir, "/tmp/check_config.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void write_file(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	ck_assert_int_eq(fchmod(fd, mode), 0);
	close(fd);
}

START_TEST(test_key_file_mode)
{
	char key_path[128], conf_path[128], text[256], want[512];
	struct ft_config cfg;
	int ret;

	make_tmpdir();
	snprintf(key_path, sizeof(key_path), "%s/private.key", tmpdir);
	snprintf(conf_path, sizeof(conf_path), "%s/wg0.conf", tmpdir);
	write_file(key_path, PRIV "\n", key_modes[_i].mode);
	/* Relative to the config file's directory. */
	write_file(conf_path, "[Interface]\nPrivateKeyFile = private.key\n", 0600);

	ret = ft_config_load(conf_path, &cfg, errbuf, sizeof(errbuf));
	if (!key_modes[_i].error) {
		ck_assert_msg(ret == 0, "%s", errbuf);
		key_eq(cfg.private_key, PRIV);
		ft_config_free(&cfg);
	} else {
		ck_assert_int_eq(ret, -EACCES);
		snprintf(want, sizeof(want), "%s:2: PrivateKeyFile '%s' %s", conf_path, key_path,
			 key_modes[_i].error);
		ck_assert_str_eq(errbuf, want);
	}

	/* The same through a string and an absolute path. */
	snprintf(text, sizeof(text), "[Interface]\nPrivateKeyFile = %s\n", key_path);
	ret = ft_config_parse_string(text, "t.conf", &cfg, errbuf, sizeof(errbuf));
	ck_assert_int_eq(ret, key_modes[_i].error ? -EACCES : 0);
	ft_config_free(&cfg);

	unlink(key_path);
	unlink(conf_path);
	rmdir(tmpdir);
}
END_TEST

START_TEST(test_key_file_content)
{
	char key_path[128], text[256], want[512];
	struct ft_config cfg;

	make_tmpdir();
	snprintf(key_path, sizeof(key_path), "%s/private.key", tmpdir);
	snprintf(text, sizeof(text), "[Interface]\nPrivateKeyFile = %s\n", key_path);

	/* As wg genkey writes it, and with surrounding white space. */
	write_file(key_path, "  " PRIV "\r\n\n", 0600);
	parse_ok(text, &cfg);
	key_eq(cfg.private_key, PRIV);
	ft_config_free(&cfg);

	write_file(key_path, PUB_A PUB_B "\n", 0600);
	ck_assert_int_eq(ft_config_parse_string(text, "t.conf", &cfg, errbuf, sizeof(errbuf)),
			 -EINVAL);
	snprintf(want, sizeof(want),
		 "t.conf:2: PrivateKeyFile '%s' does not hold a base64 private key", key_path);
	ck_assert_str_eq(errbuf, want);

	write_file(key_path, "", 0600);
	ck_assert_int_eq(ft_config_parse_string(text, "t.conf", &cfg, errbuf, sizeof(errbuf)),
			 -EINVAL);
	ck_assert_str_eq(errbuf, want);

	unlink(key_path);
	rmdir(tmpdir);
}
END_TEST

START_TEST(test_nul_byte_file)
{
	char path[128], want[256];
	struct ft_config cfg;
	int fd;

	make_tmpdir();
	snprintf(path, sizeof(path), "%s/nul.conf", tmpdir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "[Interface]\n\0", 13), 13);
	close(fd);
	ck_assert_int_eq(ft_config_load(path, &cfg, errbuf, sizeof(errbuf)), -EINVAL);
	snprintf(want, sizeof(want), "%s: contains a NUL byte: not a text file", path);
	ck_assert_str_eq(errbuf, want);
	unlink(path);
	rmdir(tmpdir);
}
END_TEST

START_TEST(test_small_errbuf)
{
	char small[8];
	struct ft_config cfg;

	/* Truncated, terminated, and the return code intact. */
	ck_assert_int_eq(ft_config_parse_string(IFACE "MTU = 1\n", "t.conf", &cfg, small,
						sizeof(small)),
			 -EINVAL);
	ck_assert_str_eq(small, "t.conf:");
	ck_assert_int_eq(ft_config_parse_string(IFACE "MTU = 1\n", "t.conf", &cfg, NULL, 0),
			 -EINVAL);
}
END_TEST

START_TEST(test_resolve)
{
	struct sockaddr_storage ss;
	socklen_t len = 0;
	const struct sockaddr_in *in = (const struct sockaddr_in *)&ss;
	const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&ss;
	uint8_t want6[16];

	ck_assert_int_eq(ft_config_resolve_endpoint("198.18.0.2", "51820", &ss, &len), 0);
	ck_assert_int_eq(ss.ss_family, AF_INET);
	ck_assert_uint_eq(len, sizeof(struct sockaddr_in));
	ck_assert_uint_eq(ntohl(in->sin_addr.s_addr), 0xc6120002);
	ck_assert_uint_eq(ntohs(in->sin_port), 51820);

	ck_assert_int_eq(ft_config_resolve_endpoint("fd00::2", "1", &ss, &len), 0);
	ck_assert_int_eq(ss.ss_family, AF_INET6);
	ck_assert_uint_eq(len, sizeof(struct sockaddr_in6));
	inet_pton(AF_INET6, "fd00::2", want6);
	ck_assert_mem_eq(in6->sin6_addr.s6_addr, want6, 16);
	ck_assert_uint_eq(ntohs(in6->sin6_port), 1);

	/* A name from /etc/hosts: no network needed. */
	ck_assert_int_eq(ft_config_resolve_endpoint("localhost", "7", &ss, &len), 0);
	ck_assert(ss.ss_family == AF_INET || ss.ss_family == AF_INET6);

	ck_assert_int_lt(ft_config_resolve_endpoint("198.18.0.2", "notaport", &ss, &len), 0);
}
END_TEST

static Suite *config_suite(void)
{
	Suite *s = suite_create("config");
	TCase *tc = tcase_create("config");

	tcase_add_loop_test(tc, test_bad, 0, sizeof(bad) / sizeof(bad[0]));
	tcase_add_test(tc, test_long_scalar_refused);
	tcase_add_test(tc, test_defaults);
	tcase_add_test(tc, test_psk_no_locked_memory);
	tcase_add_test(tc, test_metrics_listen);
	tcase_add_test(tc, test_metrics_listen_settings);
	tcase_add_test(tc, test_load_full);
	tcase_add_test(tc, test_load_errors);
	tcase_add_test(tc, test_load_size_limit);
	tcase_add_test(tc, test_wg_quick_syntax);
	tcase_add_loop_test(tc, test_endpoints, 0, sizeof(endpoints) / sizeof(endpoints[0]));
	tcase_add_test(tc, test_allowed_ips_masked);
	tcase_add_test(tc, test_long_lines);
	tcase_add_test(tc, test_prefix);
	tcase_add_loop_test(tc, test_key_file_mode, 0, sizeof(key_modes) / sizeof(key_modes[0]));
	tcase_add_test(tc, test_key_file_content);
	tcase_add_test(tc, test_nul_byte_file);
	tcase_add_test(tc, test_small_errbuf);
	tcase_add_test(tc, test_resolve);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr;
	int failed;

	if (sodium_init() < 0)
		return 1;
	sr = srunner_create(config_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
