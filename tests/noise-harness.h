/* SPDX-License-Identifier: MIT */
#ifndef FT_TESTS_NOISE_HARNESS_H
#define FT_TESTS_NOISE_HARNESS_H

/*
 * Shared by check_noise.c and check_noise_cookie.c only: A (the initiator, RFC 7748 "Alice")
 * and B (the responder, "Bob") in one process, a fake wall clock (fake_wall), a fake monotonic
 * clock (now) and a deterministic random source (fake_random, counting rng_counter).
 * setup()/teardown() are the checked fixture of both suites.
 */
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "tun/wg/cookie.h"
#include "tun/wg/crypto.h"
#include "tun/wg/noise.h"
#include "tun/wg/wire.h"

#define N(a) (int)(sizeof(a) / sizeof((a)[0]))

struct side {
	struct ft_noise_identity id;
	struct ft_handshake *hs; /* the handshake with the other side */
	struct ft_cookie_checker checker;
	struct ft_cookie_maker maker; /* macs of messages to the other side */
};

extern struct side A, B;
extern struct timespec fake_wall;
extern uint64_t now;
extern uint8_t rng_counter;
/* The chaining key and hash the construction starts from (Python's hashlib). */
extern const char c0_hex[], h0_hex[];
/* Sources of A's datagrams as B sees them: 198.18.0.1:51820 and another port. */
extern const uint8_t src_a[6], src_a_other_port[6];

void fake_wall_clock(struct timespec *ts);
void fake_random(void *buf, size_t len);
void unhex(uint8_t *out, size_t outlen, const char *hex);
/* The lookup callback of ft_noise_consume_initiation(): arg is the side. */
struct ft_handshake *lookup(void *arg, const uint8_t remote_static[FT_WIRE_KEY_LEN]);
void side_init(struct side *s, const char *priv_hex);
void setup(void);
void teardown(void);
/* A new initiation from A, a second of wall-clock time after the previous one, with macs. */
void make_initiation(uint8_t msg[FT_WIRE_INITIATION_LEN], uint32_t index);
/* B consumes an initiation: 0 or its rejection. */
int b_consume(const uint8_t *msg, size_t len);
void make_response(uint8_t msg[FT_WIRE_RESPONSE_LEN], uint32_t index);
void assert_sessions_match(const struct ft_noise_session *a, const struct ft_noise_session *b,
			   uint32_t ia, uint32_t ib);
/* A complete handshake; 0 or the first rejection. */
int full_handshake(struct ft_noise_session *sa, struct ft_noise_session *sb);

#endif
