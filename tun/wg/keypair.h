/* SPDX-License-Identifier: MIT */
#ifndef FT_KEYPAIR_H
#define FT_KEYPAIR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tun/wg/index.h"
#include "tun/wg/replay.h"
#include "tun/wg/wire.h"

/*
 * Keypairs and transport data (paper, sections 5.4.6 and 6).
 *
 * A keypair is what one completed handshake leaves: a sending and a receiving key, the
 * sending counter, the receiving replay window, its birth time, our index (hashed in the
 * index table) and the peer's. Each peer keeps at most three, in one ft_keypair_set:
 *
 *   current   the keypair we send with;
 *   previous  the one before it, still accepted on receive so that packets in flight
 *             across a rekey are not lost;
 *   next      (responder only) a keypair from a handshake we answered, which we may not
 *             send with until the initiator proves it has it by sending on it: the first
 *             packet received with it promotes it to current.
 *
 * A new initiator keypair becomes current at once (its response proved the peer has it):
 * the old current becomes previous, or, if an unconfirmed next existed, that next does.
 *
 * The set lives in a secret-arena slot (secmem.h; the peer owns it) and every keypair that
 * leaves the set is wiped, with the copy of its keys the calling thread's OpenSSL contexts may
 * hold (ft_aead_forget(), tun/wg/aead.h). Loop thread only; nothing allocates.
 */
struct ft_peer;

struct ft_keypair {
	uint8_t send_key[FT_WIRE_KEY_LEN];
	uint8_t recv_key[FT_WIRE_KEY_LEN];
	uint64_t send_counter; /* the next nonce to use */
	uint64_t birth_ns;
	struct ft_replay replay;
	struct ft_index_entry entry; /* our index: entry.index */
	uint32_t remote_index;
	/* A number no other keypair of the process had: tells a reused slot from this keypair. */
	uint64_t generation;
	bool initiator;
	bool in_use;  /* holds keys; false: a free, zeroed slot */
	bool send_ok; /* false once spent (REJECT_AFTER_MESSAGES/TIME) */
	bool recv_ok;
};

struct ft_keypair_set {
	struct ft_keypair slot[3];
	struct ft_keypair *current, *previous, *next;
};

/*
 * The AEAD of one transport message as a job that runs apart from the keypair (Workers = N:
 * outside the lock the protocol is shared under, while the keypair may rotate): what it needs
 * is copied into the job under the lock (the key, the counter reserved for it), the job runs
 * without it, and an open is accepted under it again (ft_keypair_open_finish: the replay
 * window moves only then, and only if the keypair is still the one the job was made for).
 * The key copy is wiped when the job has run. Such jobs live in the caller's batch for
 * microseconds, in its ordinary memory (as the OpenSSL contexts' key copies do, aead.h).
 */
struct ft_aead_job {
	uint8_t key[FT_WIRE_KEY_LEN];
	uint8_t *payload; /* NULL: no job */
	size_t len;	  /* plaintext (padded) or ciphertext without the tag */
	uint64_t counter;
	struct ft_keypair *kp; /* an open's keypair, its generation and its peer */
	uint64_t generation;
	struct ft_peer *peer;
};

/* Zeroes the set: no keypairs. */
void ft_keypair_set_init(struct ft_keypair_set *set);

/*
 * Installs the keys of a completed handshake. hs is the handshake's index entry: the keypair
 * takes over its index (our index in the handshake messages) in table t, so hs is unhashed
 * afterwards. Rotates as described above and wipes the keypairs that leave the set.
 * Returns the new keypair, or NULL when hs was not hashed (nothing installed).
 */
struct ft_keypair *ft_keypair_set_install(struct ft_keypair_set *set, struct ft_index_table *t,
					  struct ft_index_entry *hs, struct ft_peer *peer,
					  const uint8_t send_key[FT_WIRE_KEY_LEN],
					  const uint8_t recv_key[FT_WIRE_KEY_LEN],
					  uint32_t remote_index, bool initiator, uint64_t now_ns);

/*
 * To be called after a transport message was authenticated with kp: when kp is next, it
 * becomes current (the old current becomes previous). True when that happened.
 */
bool ft_keypair_set_received(struct ft_keypair_set *set, struct ft_index_table *t,
			     struct ft_keypair *kp);

/* Wipes and unhashes every keypair of the set. */
void ft_keypair_set_clear(struct ft_keypair_set *set, struct ft_index_table *t);

/* The total length of the transport message for a plaintext of len bytes. */
static inline size_t ft_keypair_message_len(size_t len, size_t mtu)
{
	return FT_WIRE_TRANSPORT_HEADER_LEN + ft_wire_padded_len(len, mtu) + FT_WIRE_TAG_LEN;
}

/*
 * Encrypts in place. buf[0..16) is head room for the header, the plaintext is the len bytes
 * at buf + 16, and buf holds cap bytes in all: enough for ft_keypair_message_len(len, mtu).
 * Pads with zeros to a multiple of 16 (never past mtu), writes the header and the tag and
 * sets *out_len. 0, -EKEYEXPIRED (kp is spent: too old or out of counters; it is marked so)
 * or -ENOBUFS (cap too small).
 */
int ft_keypair_encrypt(struct ft_keypair *kp, uint8_t *buf, size_t len, size_t cap, size_t mtu,
		       uint64_t now_ns, size_t *out_len);
/*
 * The same with the AEAD left to job (NULL: done here): the header, the padding and the
 * counter are done, the payload is still plaintext until ft_aead_job_seal(job) runs.
 */
int ft_keypair_encrypt_job(struct ft_keypair *kp, uint8_t *buf, size_t len, size_t cap, size_t mtu,
			   uint64_t now_ns, size_t *out_len, struct ft_aead_job *job);
/* Seals a job of ft_keypair_encrypt_job() in place (tag after the payload), wipes its key. */
void ft_aead_job_seal(struct ft_aead_job *job);

/*
 * Decrypts the transport message msg[0..len) in place (its receiver index has already
 * picked kp) and checks its counter against the replay window. On success the padded
 * plaintext is at msg + 16 and *plain_len is its length (len - 32). 0, -EMSGSIZE (shorter
 * than a keepalive), -EKEYEXPIRED (kp is spent), -EBADMSG (authentication failed: the payload
 * may then hold garbage) or -EALREADY (replayed or older than the window). The AEAD is the
 * implementation tun/wg/aead.h selected.
 */
int ft_keypair_decrypt(struct ft_keypair *kp, uint8_t *msg, size_t len, uint64_t now_ns,
		       size_t *plain_len);
/*
 * ft_keypair_decrypt() in three steps: the checks before the AEAD, which fill job (0,
 * -EMSGSIZE or -EKEYEXPIRED); the AEAD (ft_aead_job_open: 0 or -EBADMSG, the key wiped); the
 * acceptance with its result open_err: -EKEYEXPIRED when the keypair left its slot since the
 * job was made (rotated out, zeroed), -EBADMSG, -EALREADY, or 0 and *plain_len. The caller of
 * the acceptance makes sure that job->kp is still memory of a keypair set (the protocol looks
 * the message's receiver index up again: ft_proto_receive_finish).
 */
int ft_keypair_open_prepare(struct ft_keypair *kp, uint8_t *msg, size_t len, uint64_t now_ns,
			    struct ft_aead_job *job);
int ft_aead_job_open(struct ft_aead_job *job);
int ft_keypair_open_finish(const struct ft_aead_job *job, int open_err, size_t *plain_len);

/* True when kp is in use, may send, and is younger than age_ns. */
bool ft_keypair_fresh(const struct ft_keypair *kp, uint64_t now_ns, uint64_t age_ns);

#endif
