// SPDX-License-Identifier: MIT
/* Keypair rotation and transport data encryption in place. */
#include "config.h"

#include <errno.h>
#include <string.h>

#include <sodium.h>

#include "tun/wg/aead.h"
#include "tun/wg/keypair.h"

_Static_assert(crypto_aead_chacha20poly1305_ietf_ABYTES == FT_WIRE_TAG_LEN, "tag size");
_Static_assert(crypto_aead_chacha20poly1305_ietf_KEYBYTES == FT_WIRE_KEY_LEN, "key size");

void ft_keypair_set_init(struct ft_keypair_set *set)
{
	sodium_memzero(set, sizeof(*set));
}

static void release(struct ft_index_table *t, struct ft_keypair *kp)
{
	if (!kp)
		return;
	ft_index_remove(t, &kp->entry);
	/* OpenSSL's contexts may hold a copy of its keys from the last packet (tun/wg/aead.h). */
	if (kp->in_use)
		ft_aead_forget();
	sodium_memzero(kp, sizeof(*kp));
}

/* Process-wide, so that a set freed and allocated again at the same address repeats none. */
static uint64_t next_generation(void)
{
	static uint64_t generations;

	return __atomic_add_fetch(&generations, 1, __ATOMIC_RELAXED);
}

static struct ft_keypair *free_slot(struct ft_keypair_set *set)
{
	for (int i = 0; i < 3; i++)
		if (!set->slot[i].in_use)
			return &set->slot[i];
	return NULL;
}

struct ft_keypair *ft_keypair_set_install(struct ft_keypair_set *set, struct ft_index_table *t,
					  struct ft_index_entry *hs, struct ft_peer *peer,
					  const uint8_t send_key[FT_WIRE_KEY_LEN],
					  const uint8_t recv_key[FT_WIRE_KEY_LEN],
					  uint32_t remote_index, bool initiator, uint64_t now_ns)
{
	struct ft_keypair *kp;

	if (!hs->hashed)
		return NULL;
	/* Free the slots that the rotation drops before taking one: three always suffice. */
	if (initiator) {
		if (set->next) {
			/*
			 * We answered a handshake the peer never confirmed, and then ours completed.
			 * The unconfirmed one is still the most likely to be in use by the peer, so
			 * it is kept as previous; the old current and previous go.
			 */
			release(t, set->previous);
			release(t, set->current);
			set->previous = set->next;
			set->next = NULL;
			set->current = NULL;
		} else {
			release(t, set->previous);
			set->previous = set->current;
			set->current = NULL;
		}
	} else {
		/* The initiator has not used it yet: it waits as next; previous is not needed. */
		release(t, set->next);
		release(t, set->previous);
		set->next = NULL;
		set->previous = NULL;
	}
	kp = free_slot(set);
	/* The rotation above leaves at most two slots in use. */
	if (!kp)
		return NULL;
	memset(kp, 0, sizeof(*kp));
	kp->generation = next_generation();
	memcpy(kp->send_key, send_key, FT_WIRE_KEY_LEN);
	memcpy(kp->recv_key, recv_key, FT_WIRE_KEY_LEN);
	kp->birth_ns = now_ns;
	ft_replay_init(&kp->replay);
	kp->entry.kind = FT_INDEX_KEYPAIR;
	kp->entry.peer = peer;
	kp->entry.keypair = kp;
	kp->remote_index = remote_index;
	kp->initiator = initiator;
	kp->in_use = true;
	kp->send_ok = true;
	kp->recv_ok = true;
	ft_index_replace(t, hs, &kp->entry);
	if (initiator)
		set->current = kp;
	else
		set->next = kp;
	return kp;
}

bool ft_keypair_set_received(struct ft_keypair_set *set, struct ft_index_table *t,
			     struct ft_keypair *kp)
{
	if (kp != set->next)
		return false;
	release(t, set->previous);
	set->previous = set->current;
	set->current = set->next;
	set->next = NULL;
	return true;
}

void ft_keypair_set_clear(struct ft_keypair_set *set, struct ft_index_table *t)
{
	for (int i = 0; i < 3; i++)
		release(t, &set->slot[i]);
	set->current = set->previous = set->next = NULL;
}

static bool expired(uint64_t birth_ns, uint64_t now_ns, uint64_t age_ns)
{
	return now_ns >= birth_ns && now_ns - birth_ns >= age_ns;
}

int ft_keypair_encrypt_job(struct ft_keypair *kp, uint8_t *buf, size_t len, size_t cap, size_t mtu,
			   uint64_t now_ns, size_t *out_len, struct ft_aead_job *job)
{
	size_t padded = ft_wire_padded_len(len, mtu);
	uint8_t *payload = buf + FT_WIRE_TRANSPORT_HEADER_LEN;
	uint64_t counter;

	if (cap < FT_WIRE_TRANSPORT_HEADER_LEN + FT_WIRE_TAG_LEN ||
	    padded > cap - FT_WIRE_TRANSPORT_HEADER_LEN - FT_WIRE_TAG_LEN)
		return -ENOBUFS;
	if (!kp->in_use || !kp->send_ok || kp->send_counter >= FT_REJECT_AFTER_MESSAGES ||
	    expired(kp->birth_ns, now_ns, FT_REJECT_AFTER_TIME_NS)) {
		kp->send_ok = false;
		return -EKEYEXPIRED;
	}
	counter = kp->send_counter++;
	memset(payload + len, 0, padded - len);
	buf[0] = FT_WIRE_TRANSPORT;
	buf[1] = buf[2] = buf[3] = 0;
	ft_wire_store_le32(buf + FT_WIRE_DATA_OFF_RECEIVER, kp->remote_index);
	ft_wire_store_le64(buf + FT_WIRE_DATA_OFF_COUNTER, counter);
	*out_len = FT_WIRE_TRANSPORT_HEADER_LEN + padded + FT_WIRE_TAG_LEN;
	if (!job) {
		ft_aead_encrypt(payload, padded, payload + padded, NULL, 0, counter, kp->send_key);
		return 0;
	}
	memcpy(job->key, kp->send_key, FT_WIRE_KEY_LEN);
	job->payload = payload;
	job->len = padded;
	job->counter = counter;
	job->kp = NULL;
	job->peer = NULL;
	return 0;
}

int ft_keypair_encrypt(struct ft_keypair *kp, uint8_t *buf, size_t len, size_t cap, size_t mtu,
		       uint64_t now_ns, size_t *out_len)
{
	return ft_keypair_encrypt_job(kp, buf, len, cap, mtu, now_ns, out_len, NULL);
}

void ft_aead_job_seal(struct ft_aead_job *job)
{
	ft_aead_encrypt(job->payload, job->len, job->payload + job->len, NULL, 0, job->counter,
			job->key);
	sodium_memzero(job->key, sizeof(job->key));
	job->payload = NULL;
}

int ft_keypair_open_prepare(struct ft_keypair *kp, uint8_t *msg, size_t len, uint64_t now_ns,
			    struct ft_aead_job *job)
{
	if (len < FT_WIRE_TRANSPORT_MIN_LEN)
		return -EMSGSIZE;
	if (!kp->in_use || !kp->recv_ok || kp->replay.next >= FT_REJECT_AFTER_MESSAGES ||
	    expired(kp->birth_ns, now_ns, FT_REJECT_AFTER_TIME_NS)) {
		kp->recv_ok = false;
		return -EKEYEXPIRED;
	}
	memcpy(job->key, kp->recv_key, FT_WIRE_KEY_LEN);
	job->payload = msg + FT_WIRE_TRANSPORT_HEADER_LEN;
	job->len = len - FT_WIRE_TRANSPORT_MIN_LEN;
	job->counter = ft_wire_load_le64(msg + FT_WIRE_DATA_OFF_COUNTER);
	job->kp = kp;
	job->generation = kp->generation;
	job->peer = kp->entry.peer;
	return 0;
}

int ft_aead_job_open(struct ft_aead_job *job)
{
	/* On failure the payload may hold garbage (OpenSSL decrypts before it compares tags). */
	int rc = ft_aead_decrypt(job->payload, job->len, job->payload + job->len, NULL, 0,
				 job->counter, job->key);

	sodium_memzero(job->key, sizeof(job->key));
	return rc != 0 ? -EBADMSG : 0;
}

int ft_keypair_open_finish(const struct ft_aead_job *job, int open_err, size_t *plain_len)
{
	struct ft_keypair *kp = job->kp;

	if (!kp->in_use || kp->generation != job->generation)
		return -EKEYEXPIRED;
	if (open_err)
		return -EBADMSG;
	/* Only an authenticated counter may move the window. */
	if (!ft_replay_check(&kp->replay, job->counter, FT_REJECT_AFTER_MESSAGES))
		return -EALREADY;
	*plain_len = job->len;
	return 0;
}

int ft_keypair_decrypt(struct ft_keypair *kp, uint8_t *msg, size_t len, uint64_t now_ns,
		       size_t *plain_len)
{
	struct ft_aead_job job;
	int err = ft_keypair_open_prepare(kp, msg, len, now_ns, &job);

	if (err)
		return err;
	return ft_keypair_open_finish(&job, ft_aead_job_open(&job), plain_len);
}

bool ft_keypair_fresh(const struct ft_keypair *kp, uint64_t now_ns, uint64_t age_ns)
{
	return kp && kp->in_use && kp->send_ok && !expired(kp->birth_ns, now_ns, age_ns);
}
