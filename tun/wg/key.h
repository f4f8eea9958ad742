/* SPDX-License-Identifier: MIT */
#ifndef FT_KEY_H
#define FT_KEY_H

#include <stddef.h>
#include <stdint.h>

/*
 * WireGuard keys: 32-byte X25519 private and public keys and preshared keys, written as
 * 44 characters of standard base64 with one '=' of padding, exactly as `wg genkey`,
 * `wg pubkey` and `wg genpsk` write them. The userspace API writes them as 64 hex digits.
 */
enum {
	FT_KEY_LEN = 32,
	FT_KEY_B64_LEN = 44, /* without the terminating NUL */
	FT_KEY_HEX_LEN = 64,
};

/* 0, or -EINVAL when b64 is not exactly one base64-encoded 32-byte key. */
int ft_key_from_base64(uint8_t key[FT_KEY_LEN], const char *b64);
/* Writes FT_KEY_B64_LEN characters and a NUL. */
void ft_key_to_base64(char out[FT_KEY_B64_LEN + 1], const uint8_t key[FT_KEY_LEN]);

/* 0, or -EINVAL when hex is not exactly 64 hex digits. */
int ft_key_from_hex(uint8_t key[FT_KEY_LEN], const char *hex);
void ft_key_to_hex(char out[FT_KEY_HEX_LEN + 1], const uint8_t key[FT_KEY_LEN]);

/* Clamps a private key as X25519 (and `wg genkey`) does. */
void ft_key_clamp(uint8_t key[FT_KEY_LEN]);
/* A fresh random private key, clamped. */
void ft_key_generate_private(uint8_t key[FT_KEY_LEN]);
/* A fresh random preshared key. */
void ft_key_generate_preshared(uint8_t key[FT_KEY_LEN]);
/* The public key of a private key; -EINVAL when the result would be all zero. */
int ft_key_public(uint8_t pub[FT_KEY_LEN], const uint8_t priv[FT_KEY_LEN]);

#endif
