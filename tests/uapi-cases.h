/* SPDX-License-Identifier: MIT */
#ifndef FT_TESTS_UAPI_CASES_H
#define FT_TESTS_UAPI_CASES_H

/*
 * Requests the userspace API must refuse, with the errno it answers: parsed one by one in
 * check_uapi.c and sent to a real server in check_uapi_server.c. Shared by those two only.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* RFC 7748 6.1: Alice's and Bob's private keys, used here as any 32-byte keys. */
#define KA "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a"
#define KB "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb"
#define KZ "0000000000000000000000000000000000000000000000000000000000000000"

static const struct {
	const char *req;
	int err;
	const char *why;
} bad_requests[] = {
	{ "\n", -EPROTO, "empty request" },
	{ "get=2\n\n", -EPROTO, "unknown get version" },
	{ "set=2\n\n", -EPROTO, "unknown set version" },
	{ "hello\n\n", -EPROTO, "no operation" },
	{ "get=1\nlisten_port=1\n\n", -EINVAL, "get with a body" },
	{ "set=1\nlisten_port\n\n", -EPROTO, "line without =" },
	{ "set=1\nfoo=bar\n\n", -EINVAL, "unknown key" },
	{ "set=1\nPrivate_key=" KA "\n\n", -EINVAL, "keys are case-sensitive" },
	{ "set=1\nprivate_key=" KA "0\n\n", -EINVAL, "65 hex digits" },
	{ "set=1\nprivate_key=77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2\n\n",
	  -EINVAL, "63 hex digits" },
	{ "set=1\nprivate_key=77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2g\n\n",
	  -EINVAL, "not hex" },
	{ "set=1\nprivate_key=dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCo=\n\n", -EINVAL,
	  "base64 key" },
	{ "set=1\nprivate_key=\n\n", -EINVAL, "empty key" },
	{ "set=1\nlisten_port=65536\n\n", -EINVAL, "port too big" },
	{ "set=1\nlisten_port=-1\n\n", -EINVAL, "negative port" },
	{ "set=1\nlisten_port=+1\n\n", -EINVAL, "signed port" },
	{ "set=1\nlisten_port= 1\n\n", -EINVAL, "space" },
	{ "set=1\nlisten_port=\n\n", -EINVAL, "empty port" },
	{ "set=1\nlisten_port=0x10\n\n", -EINVAL, "hex port" },
	{ "set=1\nfwmark=4294967296\n\n", -EINVAL, "fwmark too big" },
	{ "set=1\nfwmark=99999999999\n\n", -EINVAL, "fwmark 11 digits" },
	{ "set=1\nreplace_peers=false\n\n", -EINVAL, "replace_peers not true" },
	{ "set=1\nreplace_peers=TRUE\n\n", -EINVAL, "replace_peers upper case" },
	{ "set=1\nremove=true\n\n", -EINVAL, "peer key before public_key" },
	{ "set=1\nallowed_ip=1.2.3.4/32\n\n", -EINVAL, "allowed_ip before public_key" },
	{ "set=1\npublic_key=" KA "\nlisten_port=1\n\n", -EINVAL, "device key after a peer" },
	{ "set=1\npublic_key=" KA "\nprivate_key=" KB "\n\n", -EINVAL, "private key after a peer" },
	{ "set=1\npublic_key=" KA "x\n\n", -EINVAL, "bad public key" },
	{ "set=1\npublic_key=" KA "\nremove=yes\n\n", -EINVAL, "remove not true" },
	{ "set=1\npublic_key=" KA "\nupdate_only=1\n\n", -EINVAL, "update_only not true" },
	{ "set=1\npublic_key=" KA "\nreplace_allowed_ips=false\n\n", -EINVAL, "replace_ips false" },
	{ "set=1\npublic_key=" KA "\nprotocol_version=2\n\n", -EINVAL, "protocol version 2" },
	{ "set=1\npublic_key=" KA "\npersistent_keepalive_interval=65536\n\n", -EINVAL,
	  "keepalive too big" },
	{ "set=1\npublic_key=" KA "\npreshared_key=" KA "00\n\n", -EINVAL, "psk too long" },
	{ "set=1\npublic_key=" KA "\nendpoint=198.18.0.2\n\n", -EINVAL, "endpoint without port" },
	{ "set=1\npublic_key=" KA "\nendpoint=198.18.0.2:\n\n", -EINVAL, "endpoint empty port" },
	{ "set=1\npublic_key=" KA "\nendpoint=198.18.0.2:0\n\n", -EINVAL, "endpoint port 0" },
	{ "set=1\npublic_key=" KA "\nendpoint=198.18.0.2:65536\n\n", -EINVAL, "port 65536" },
	{ "set=1\npublic_key=" KA "\nendpoint=198.18.0.256:1\n\n", -EINVAL, "bad IPv4" },
	{ "set=1\npublic_key=" KA "\nendpoint=fd00::1:51820\n\n", -EINVAL, "IPv6 without []" },
	{ "set=1\npublic_key=" KA "\nendpoint=[fd00::1]51820\n\n", -EINVAL, "no colon after ]" },
	{ "set=1\npublic_key=" KA "\nendpoint=[fd00::1:51820\n\n", -EINVAL, "no ]" },
	{ "set=1\npublic_key=" KA "\nendpoint=[fe80::1%eth0]:1\n\n", -EINVAL, "named scope" },
	{ "set=1\npublic_key=" KA "\nendpoint=[]:1\n\n", -EINVAL, "empty host" },
	{ "set=1\npublic_key=" KA "\nendpoint=example.com:51820\n\n", -EINVAL, "a name" },
	{ "set=1\npublic_key=" KA "\nendpoint=\n\n", -EINVAL, "empty endpoint" },
	{ "set=1\npublic_key=" KA "\nallowed_ip=100.64.0.0/33\n\n", -EINVAL, "IPv4 /33" },
	{ "set=1\npublic_key=" KA "\nallowed_ip=fd00::/129\n\n", -EINVAL, "IPv6 /129" },
	{ "set=1\npublic_key=" KA "\nallowed_ip=100.64.0.0\n\n", -EINVAL, "no /cidr" },
	{ "set=1\npublic_key=" KA "\nallowed_ip=100.64.0.0/\n\n", -EINVAL, "empty cidr" },
	{ "set=1\npublic_key=" KA "\nallowed_ip=100.64.0/24\n\n", -EINVAL, "short IPv4" },
	{ "set=1\npublic_key=" KA "\nallowed_ip=100.64.0.0/-1\n\n", -EINVAL, "negative cidr" },
	/* All or nothing: good lines first, one bad line last. */
	{ "set=1\nprivate_key=" KA "\nlisten_port=1\npublic_key=" KB "\nallowed_ip=1.2.3.4/32\n"
	  "allowed_ip=1.2.3.4/32x\n\n",
	  -EINVAL, "a bad line after good ones" },
	{ "set=1\nlisten_port=1\r\n\n", -EINVAL, "CRLF" },
	{ "set=1\nlisten_port=1\n", -EPROTO, "no blank line" },
	{ "set=1\nlisten_port=1\n\nlisten_port=2\n\n", -EPROTO, "blank line inside" },
};

/* Appends to the string in out (len bytes in all). */
static void append(char *out, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void append(char *out, size_t len, const char *fmt, ...)
{
	size_t used = strlen(out);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(out + used, len - used, fmt, ap);
	va_end(ap);
}

#endif
