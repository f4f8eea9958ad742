// SPDX-License-Identifier: MIT
#include "config.h"

#include <errno.h>
#include <string.h>

#include <sodium.h>

#include "tun/wg/key.h"

int ft_key_from_base64(uint8_t key[FT_KEY_LEN], const char *b64)
{
	const char *end = NULL;
	size_t len = 0;

	/*
	 * 32 bytes are 43 base64 digits and one '='. libsodium's decoder rejects non-zero
	 * trailing bits, so each key has exactly one spelling, as in wg(8).
	 */
	if (strlen(b64) != FT_KEY_B64_LEN || b64[FT_KEY_B64_LEN - 1] != '=')
		return -EINVAL;
	if (sodium_base642bin(key, FT_KEY_LEN, b64, FT_KEY_B64_LEN, NULL, &len, &end,
			      sodium_base64_VARIANT_ORIGINAL) != 0 ||
	    len != FT_KEY_LEN || end != b64 + FT_KEY_B64_LEN) {
		sodium_memzero(key, FT_KEY_LEN);
		return -EINVAL;
	}
	return 0;
}

void ft_key_to_base64(char out[FT_KEY_B64_LEN + 1], const uint8_t key[FT_KEY_LEN])
{
	sodium_bin2base64(out, FT_KEY_B64_LEN + 1, key, FT_KEY_LEN, sodium_base64_VARIANT_ORIGINAL);
}

int ft_key_from_hex(uint8_t key[FT_KEY_LEN], const char *hex)
{
	size_t len = 0;
	const char *end = NULL;

	if (strlen(hex) != FT_KEY_HEX_LEN)
		return -EINVAL;
	if (sodium_hex2bin(key, FT_KEY_LEN, hex, FT_KEY_HEX_LEN, NULL, &len, &end) != 0 ||
	    len != FT_KEY_LEN || end != hex + FT_KEY_HEX_LEN) {
		sodium_memzero(key, FT_KEY_LEN);
		return -EINVAL;
	}
	return 0;
}

void ft_key_to_hex(char out[FT_KEY_HEX_LEN + 1], const uint8_t key[FT_KEY_LEN])
{
	sodium_bin2hex(out, FT_KEY_HEX_LEN + 1, key, FT_KEY_LEN);
}

void ft_key_clamp(uint8_t key[FT_KEY_LEN])
{
	key[0] &= 248;
	key[31] = (key[31] & 127) | 64;
}

void ft_key_generate_private(uint8_t key[FT_KEY_LEN])
{
	randombytes_buf(key, FT_KEY_LEN);
	ft_key_clamp(key);
}

void ft_key_generate_preshared(uint8_t key[FT_KEY_LEN])
{
	randombytes_buf(key, FT_KEY_LEN);
}

int ft_key_public(uint8_t pub[FT_KEY_LEN], const uint8_t priv[FT_KEY_LEN])
{
	static const uint8_t zero[FT_KEY_LEN];

	/* crypto_scalarmult_base clamps its own copy of the scalar, as wg pubkey does. */
	if (crypto_scalarmult_base(pub, priv) != 0 || sodium_memcmp(pub, zero, FT_KEY_LEN) == 0)
		return -EINVAL;
	return 0;
}
