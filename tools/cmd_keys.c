// SPDX-License-Identifier: MIT
/*
 * flowtun genkey / pubkey / genpsk: the same keys, byte for byte, as wg genkey, wg pubkey
 * and wg genpsk. Keys live in sodium_malloc memory (guarded, locked) and are wiped on every
 * path out.
 */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "base/text.h"
#include "tools/commands.h"
#include "tun/wg/key.h"

static int cmd_genkey(int argc, char *argv[]);
static int cmd_genpsk(int argc, char *argv[]);
static int cmd_pubkey(int argc, char *argv[]);

const struct ft_command ft_command_genkey = {
	.name = "genkey",
	.summary = "print a new private key (base64)",
	.usage =
		"Usage: flowtun genkey\n\n"
		"Prints a new random X25519 private key, clamped, in base64, as `wg genkey` does.\n"
		"Example: flowtun genkey | tee private.key | flowtun pubkey > public.key\n",
	.run = cmd_genkey,
};

const struct ft_command ft_command_genpsk = {
	.name = "genpsk",
	.summary = "print a new preshared key (base64)",
	.usage = "Usage: flowtun genpsk\n\n"
		 "Prints a new random 32-byte preshared key in base64, as `wg genpsk` does.\n",
	.run = cmd_genpsk,
};

const struct ft_command ft_command_pubkey = {
	.name = "pubkey",
	.summary = "read a private key on stdin, print its public key",
	.usage = "Usage: flowtun pubkey < private.key\n\n"
		 "Reads a base64 private key on standard input and prints its public key in\n"
		 "base64, as `wg pubkey` does. Exits 1 when the input is not one base64 key.\n",
	.run = cmd_pubkey,
};

/* Like wg(8): a key written to a file others can read deserves a warning. */
static void warn_if_world_readable(void)
{
	struct stat st;

	if (fstat(STDOUT_FILENO, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & S_IRWXO))
		fprintf(stderr, "Warning: writing to world accessible file.\n"
				"Consider setting the umask to 077 and trying again.\n");
}

static int print_key(const struct ft_command *cmd, const uint8_t *key)
{
	char b64[FT_KEY_B64_LEN + 1];
	int rc = FT_EXIT_OK;

	ft_key_to_base64(b64, key);
	if (puts(b64) == EOF || fflush(stdout) == EOF)
		rc = ft_command_error(cmd, "cannot write the key: %s", strerror(errno));
	sodium_memzero(b64, sizeof(b64));
	return rc;
}

static int generate(const struct ft_command *cmd, int argc, char *argv[], bool private_key)
{
	uint8_t *key;
	int rc;

	if (argc > 1)
		return ft_command_usage_error(cmd, "unexpected argument '%s'", argv[1]);
	key = sodium_malloc(FT_KEY_LEN);
	if (!key)
		return ft_command_error(cmd, "out of memory");
	warn_if_world_readable();
	if (private_key)
		ft_key_generate_private(key);
	else
		ft_key_generate_preshared(key);
	rc = print_key(cmd, key);
	sodium_free(key);
	return rc;
}

static int cmd_genkey(int argc, char *argv[])
{
	return generate(&ft_command_genkey, argc, argv, true);
}

static int cmd_genpsk(int argc, char *argv[])
{
	return generate(&ft_command_genpsk, argc, argv, false);
}

static int cmd_pubkey(int argc, char *argv[])
{
	const struct ft_command *cmd = &ft_command_pubkey;
	/* Room for a key, whitespace around it, and one byte to notice longer input. */
	enum { INPUT_MAX = 128 };
	char *input = NULL;
	uint8_t *priv = NULL, pub[FT_KEY_LEN];
	size_t len;
	int rc = FT_EXIT_FAILURE;

	if (argc > 1)
		return ft_command_usage_error(cmd, "unexpected argument '%s'", argv[1]);
	input = sodium_malloc(INPUT_MAX + 1);
	priv = sodium_malloc(FT_KEY_LEN);
	if (!input || !priv) {
		ft_command_error(cmd, "out of memory");
		goto out;
	}
	len = fread(input, 1, INPUT_MAX, stdin);
	if (ferror(stdin)) {
		ft_command_error(cmd, "cannot read standard input: %s", strerror(errno));
		goto out;
	}
	input[len] = '\0';
	if (len == INPUT_MAX || memchr(input, '\0', len)) {
		ft_command_error(cmd,
				 "the input is not a private key: expected %d base64 "
				 "characters and a newline",
				 FT_KEY_B64_LEN);
		goto out;
	}
	if (ft_key_from_base64(priv, ft_trim(input)) != 0) {
		ft_command_error(cmd,
				 "the input is not a private key: expected %d base64 "
				 "characters ending in '=', got %zu characters",
				 FT_KEY_B64_LEN, strlen(ft_trim(input)));
		goto out;
	}
	if (ft_key_public(pub, priv) != 0) {
		ft_command_error(cmd, "that private key has no usable public key");
		goto out;
	}
	rc = print_key(cmd, pub);
out:
	sodium_free(input);
	sodium_free(priv);
	sodium_memzero(pub, sizeof(pub));
	return rc;
}
