/* SPDX-License-Identifier: MIT */
#ifndef FT_UAPI_H
#define FT_UAPI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <uv.h>

#include "tun/ctl/conf.h"
#include "tun/wg/key.h"

/*
 * The WireGuard cross-platform userspace API (wireguard.com/xplatform), so that the
 * unmodified wg(8) and wg-quick(8) drive flowtun over /var/run/wireguard/<iface>.sock.
 *
 * A request is newline-separated key=value lines ending with a blank line:
 *   get=1\n\n                  answered with the state as key=value lines, then errno=0\n\n
 *   get=flowtun\n\n            the same plus flowtun's own read-only keys (flowtun_...)
 *   set=1\n<key=value>...\n\n   answered with errno=N\n\n (0: applied)
 *
 * get=1 answers only what wireguard-go answers. wg(8) and wgctrl-go both skip unknown keys
 * in a get answer, but wgctrl-go refuses a value holding '=', and other clients may be less
 * lenient, so flowtun's extra keys come only when asked for with get=flowtun.
 *
 * A set is parsed in full before anything changes (validate into struct ft_uapi_set, then
 * the backend interprets it): any malformed line, unknown key, bad hex, bad endpoint, bad
 * prefix or out-of-range number answers errno=N and the backend is never called. The errno
 * values are those of wireguard-go: EPROTO for framing (a line without '=', a NUL byte, an
 * unknown operation), EINVAL for a bad key or value, EMSGSIZE for a request over
 * FT_UAPI_MAX_REQUEST bytes, E2BIG for more than FT_UAPI_MAX_PEERS peers, ENOMEM.
 *
 * Set keys (wireguard-go's rules): the device keys private_key, listen_port, fwmark,
 * replace_peers=true come before the first public_key; each public_key starts a peer, which
 * takes remove=true, update_only=true, preshared_key, endpoint, persistent_keepalive_interval,
 * replace_allowed_ips=true, allowed_ip (repeatable) and protocol_version=1. Keys are 64 hex
 * digits (either case); an all-zero private_key or preshared_key removes it. Endpoints are
 * numeric (a.b.c.d:port, [v6]:port or [v6%scope-number]:port, port 1-65535): wg resolves
 * names before it sends them. allowed_ip is address/cidr with host bits cleared here.
 */

#define FT_UAPI_SOCKET_DIR "/var/run/wireguard"

enum {
	/*
	 * A hub's whole configuration in one request (wg setconf): the kernel's 2^20 peers per
	 * device, at up to 256 bytes each (key, preshared key, endpoint, keepalive, one allowed
	 * IP). Bounds on what a client (root: the socket is 0600) may make us buffer.
	 */
	FT_UAPI_MAX_PEERS = 1 << 20,	  /* peers in one set request */
	FT_UAPI_MAX_REQUEST = 256 << 20,  /* bytes of one request, blank line included */
	FT_UAPI_MAX_RESPONSE = 512 << 20, /* bytes of one get answer (2^20 peers, extras too) */
	FT_UAPI_MAX_CLIENTS = 8,	  /* connections served at once; more are closed */
	/* "[ffff:...:255.255.255.255%4294967295]:65535" and a NUL. */
	FT_UAPI_ENDPOINT_LEN = 72,
	FT_UAPI_PATH_LEN = 108, /* sizeof(sockaddr_un.sun_path) */
};

/* One peer of a set request, in request order; the same public key may come twice. */
struct ft_uapi_peer {
	uint8_t public_key[FT_KEY_LEN];
	uint8_t preshared_key[FT_KEY_LEN]; /* when has_preshared_key; all zero: none */
	struct sockaddr_storage endpoint;  /* when has_endpoint: AF_INET or AF_INET6 */
	socklen_t endpoint_len;
	uint16_t persistent_keepalive; /* seconds, when has_persistent_keepalive; 0: off */
	bool remove;		       /* remove=true: delete the peer, nothing else is set */
	bool update_only;	       /* update_only=true: do not create the peer if absent */
	bool has_preshared_key;
	bool has_endpoint;
	bool has_persistent_keepalive;
	bool replace_allowed_ips;	    /* drop the peer's AllowedIPs before adding these */
	struct ft_config_addr *allowed_ips; /* n_allowed_ips of them, host bits cleared */
	size_t n_allowed_ips;
};

/*
 * A validated set request. One sodium_malloc block (the keys are secrets) owned by whoever
 * ft_uapi_parse() gave it to; release it with ft_uapi_set_free(), which wipes it.
 */
struct ft_uapi_set {
	uint8_t private_key[FT_KEY_LEN]; /* when has_private_key; all zero: remove it */
	uint32_t fwmark;		 /* when has_fwmark; 0: off */
	uint16_t listen_port;		 /* when has_listen_port; 0: any */
	bool has_private_key;
	bool has_listen_port;
	bool has_fwmark;
	bool replace_peers; /* remove every peer not named below, before applying them */
	struct ft_uapi_peer *peers;
	size_t n_peers;
};

enum ft_uapi_op {
	FT_UAPI_GET = 1,	/* get=1 */
	FT_UAPI_GET_EXTRAS = 2, /* get=flowtun */
	FT_UAPI_SET = 3,	/* set=1 */
};

/*
 * The length of the first complete request in buf (through its blank line), or 0 when buf
 * holds no complete request yet. A blank first line is a (malformed) request of length 1.
 */
size_t ft_uapi_request_len(const char *buf, size_t len);

/*
 * The same, searching only past *scanned (the bytes an earlier call already searched in the
 * same buffer, which has grown since): a request of N bytes arriving in parts is searched
 * once, not once per part. *scanned is 0 again when a request is found (the caller then
 * removes it from the buffer) and len when none is.
 */
size_t ft_uapi_request_len_resume(const char *buf, size_t len, size_t *scanned);

/*
 * Parses one complete request (as delimited by ft_uapi_request_len()). Pure: no I/O. 0 with
 * *op set, and for FT_UAPI_SET *set (free it with ft_uapi_set_free()); or a negative errno
 * (see above) with *set NULL. sodium_init() must have been called.
 */
int ft_uapi_parse(const char *req, size_t len, enum ft_uapi_op *op, struct ft_uapi_set **set);

/* ft_uapi_parse() with other limits than FT_UAPI_MAX_REQUEST and FT_UAPI_MAX_PEERS (tests). */
int ft_uapi_parse_limited(const char *req, size_t len, size_t max_request, size_t max_peers,
			  enum ft_uapi_op *op, struct ft_uapi_set **set);

/* Wipes and frees; NULL is accepted. */
void ft_uapi_set_free(struct ft_uapi_set *set);

/*
 * The get side. The backend writes its state through the writer in wireguard-go's order:
 * private_key (if any), listen_port, fwmark (if not 0), then for each peer public_key,
 * preshared_key, protocol_version=1, endpoint (if any), last_handshake_time_sec,
 * last_handshake_time_nsec, tx_bytes, rx_bytes, persistent_keepalive_interval, allowed_ip...
 * The server appends errno=0 and the blank line. The writer is only valid during get().
 * Each write returns 0 or a negative errno, which also sticks to the writer: the answer is
 * then errno=N alone. Keys are [a-z0-9_]+; a value holding '\n' or '=' is -EINVAL.
 */
struct ft_uapi_writer;

int ft_uapi_write_kv(struct ft_uapi_writer *w, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int ft_uapi_write_key(struct ft_uapi_writer *w, const char *key, const uint8_t k[FT_KEY_LEN]);
/* endpoint=1.2.3.4:51820 or endpoint=[fd00::1]:51820; -EAFNOSUPPORT for other families. */
int ft_uapi_write_endpoint(struct ft_uapi_writer *w, const struct sockaddr *sa);
/* allowed_ip=addr/cidr; addr is 4 or 16 bytes in network order. */
int ft_uapi_write_allowed_ip(struct ft_uapi_writer *w, int family, const uint8_t *addr,
			     uint8_t cidr);
/* True when the client asked for flowtun's extra keys (get=flowtun): only then write them. */
bool ft_uapi_writer_extras(const struct ft_uapi_writer *w);

/* What the worker implements. Both run on the loop thread, one request at a time. */
struct ft_uapi_ops {
	/* Writes the state; 0 or a negative errno (the answer is then errno=-rc alone). */
	int (*get)(void *arg, struct ft_uapi_writer *w);
	/*
	 * Applies a validated request, all of it or (returning a negative errno, answered as
	 * errno=-rc) none of it. set belongs to the server and is wiped after the call.
	 */
	int (*set)(void *arg, const struct ft_uapi_set *set);
};

/*
 * The server: a uv_pipe_t listening on a UNIX socket on the caller's loop. At most
 * FT_UAPI_MAX_CLIENTS connections at once; on each, requests are read up to
 * FT_UAPI_MAX_REQUEST bytes, answered one at a time in order, and the connection is kept
 * until the client closes it (wg sends one request per connection). A request over the
 * limit is answered errno=EMSGSIZE and the connection closed. Loop thread only.
 */
struct ft_uapi_server;

/* Lowers the request size limit from FT_UAPI_MAX_REQUEST (tests: the limit without 256 MiB). */
void ft_uapi_server_set_max_request(struct ft_uapi_server *s, size_t bytes);

/* FT_UAPI_SOCKET_DIR "/<ifname>.sock". 0 or -EINVAL (ifname empty, "." or "..", holding '/',
 * or longer than IFNAMSIZ - 1). */
int ft_uapi_socket_path(char *buf, size_t len, const char *ifname);

/*
 * Creates the socket directory (0755) when it is missing, binds path with mode 0600 and
 * starts listening. A socket already at path that accepts a connection belongs to a live
 * instance: -EADDRINUSE. One that refuses (ECONNREFUSED) is stale and is replaced. Another
 * kind of file there: -EEXIST. 0 and *out, or a negative errno and nothing left behind.
 * ops is copied; arg is passed to it.
 */
int ft_uapi_server_create(struct ft_uapi_server **out, uv_loop_t *loop, const char *path,
			  const struct ft_uapi_ops *ops, void *arg);

/*
 * Checks every interval_ms that path is still our socket; once it is gone (removed, replaced
 * by another file, or moved away), calls gone(arg) once and stops checking. The worker closes
 * itself from there ("exits cleanly when the socket file is removed"). A path that cannot be
 * looked up (EACCES: a directory the dropped user may not search) is not gone: that is logged
 * once, and the socket's own inode, held open since the bind, still shows a removal (its
 * link count drops to 0). 0 or a negative errno.
 */
int ft_uapi_server_watch(struct ft_uapi_server *s, uint64_t interval_ms, void (*gone)(void *arg),
			 void *arg);

/*
 * Closes the listener, every connection and the watch; unlinks path if it is still our
 * socket (through the opener, tun/priv/opener.h, when we may not). cb(arg) runs once the memory
 * is freed (cb may be NULL).
 */
void ft_uapi_server_close(struct ft_uapi_server *s, void (*cb)(void *arg), void *arg);

/* The path served (for messages). */
const char *ft_uapi_server_path(const struct ft_uapi_server *s);

#endif
