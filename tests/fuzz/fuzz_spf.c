/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * fuzz_spf - the SPF evaluator: record parser, macro expander, limits.
 *
 * Input: lines. Line 0 is the TXT answer for the sender's domain
 * (f.test); each other name asked for TXT gets the next unused line (so
 * include: and redirect= lead into more fuzzed records, loops
 * included). A, AAAA, MX and PTR answers are derived from a hash of the
 * name: an address, nothing (void), a DNS failure, or up to 12 names.
 * The first byte also picks the client (IPv4, IPv6, IPv4-mapped).
 * Oracles:
 *  - the result is one of the seven, and the counters stay within the
 *    limits (terms, void look-ups, questions);
 *  - the reason is printable ASCII;
 *  - every name asked is bounded (253 octets) and has no control
 *    character, space or NUL;
 *  - spf_expand over the raw input never writes past its buffer and
 *    writes printable ASCII only.
 */
#include <sys/socket.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spf.h"

#define LINES_MAX	32

struct zone {
	const char *line[LINES_MAX];
	size_t	len[LINES_MAX];
	int	nline, next;
	char	asked[LINES_MAX][256];
	int	nasked;
};

static void
die(const char *what, const char *s)
{
	fprintf(stderr, "fuzz_spf: oracle: %s: [%.300s]\n", what, s);
	abort();
}

static uint32_t
hash(const char *s)
{
	uint32_t h = 2166136261u;

	while (*s)
		h = (h ^ (unsigned char)*s++) * 16777619u;
	return h;
}

static enum spf_dns_rc
query(void *arg, const char *name, enum spf_qtype type, struct spf_ans *out)
{
	struct zone *z = arg;
	size_t i, n = strlen(name);
	uint32_t h = hash(name) ^ (uint32_t)type;
	char buf[64];
	int k;

	if (n == 0 || n > 253)
		die("name length", name);
	for (i = 0; i < n; i++)
		if ((unsigned char)name[i] <= 0x20 || (unsigned char)name[i] >= 0x7f)
			die("raw byte in a name", name);
	if (type == SPF_Q_TXT) {
		int line = -1;

		if (strcmp(name, "f.test") == 0)
			line = 0;
		for (k = 0; line < 0 && k < z->nasked; k++)
			if (strcmp(z->asked[k], name) == 0)
				line = k + 1;
		if (line < 0 && z->nasked < LINES_MAX - 1) {
			snprintf(z->asked[z->nasked], sizeof(z->asked[0]), "%s", name);
			line = ++z->nasked;
		}
		if (line < 0 || line >= z->nline)
			return h % 3 == 0 ? SPF_DNS_TEMP : SPF_DNS_VOID;
		spf_ans_add(out, z->line[line], z->len[line]);
		return SPF_DNS_OK;
	}
	switch (h % 4) {
	case 0:
		return SPF_DNS_VOID;
	case 1:
		return SPF_DNS_TEMP;
	default:
		break;
	}
	if (type == SPF_Q_A || type == SPF_Q_AAAA) {
		for (k = 0; k < (int)(h % 5) + 1 && out->n < SPF_ANS_MAX; k++) {
			out->ip[out->n].af = type == SPF_Q_A ? AF_INET : AF_INET6;
			memset(out->ip[out->n].a, 0, 16);
			out->ip[out->n].a[0] = (unsigned char)(h >> 8);
			out->ip[out->n].a[3] = (unsigned char)k;
			out->n++;
		}
		return SPF_DNS_OK;
	}
	for (k = 0; k < (int)(h % 13); k++) {
		snprintf(buf, sizeof(buf), "m%d.%s", k, k % 2 ? "f.test" : "x.test");
		spf_ans_add(out, buf, strlen(buf));
	}
	return out->n > 0 ? SPF_DNS_OK : SPF_DNS_VOID;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct zone z;
	struct spf_resolver r = { query, &z };
	struct spf_req req;
	struct spf_out out;
	struct spf_mctx m;
	char exp[SPF_EXPAND_MAX + 1], *copy;
	size_t i, start;
	int n;

	if (size < 1 || size > 16384)
		return 0;
	if ((copy = malloc(size)) == NULL)
		return 0;
	memcpy(copy, data + 1, size - 1);
	memset(&z, 0, sizeof(z));
	for (i = 0, start = 0; i <= size - 1 && z.nline < LINES_MAX; i++)
		if (i == size - 1 || copy[i] == '\n') {
			z.line[z.nline] = copy + start;
			z.len[z.nline++] = i - start;
			start = i + 1;
		}
	memset(&req, 0, sizeof(req));
	switch (data[0] % 3) {
	case 0:
		req.ip.af = AF_INET;
		memcpy(req.ip.a, "\xc0\x00\x02\x07", 4);
		break;
	case 1:
		req.ip.af = AF_INET6;
		memcpy(req.ip.a, "\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\x25", 16);
		break;
	default:
		req.ip.af = AF_INET6;
		memcpy(req.ip.a, "\0\0\0\0\0\0\0\0\0\0\xff\xff\xc0\x00\x02\x07", 16);
		break;
	}
	req.sender = (data[0] & 4) ? "strong-bad@f.test" : "@f.test";
	req.helo = "gw.example.net";
	spf_check(&r, &req, &out);
	if (out.result < SPF_NONE || out.result > SPF_PERMERROR)
		die("result out of range", out.why);
	if (out.terms > SPF_TERMS_MAX + 1 || out.voids > SPF_VOID_MAX + 1 || out.queries > 200)
		die("limits", out.why);
	for (i = 0; out.why[i] != '\0'; i++)
		if ((unsigned char)out.why[i] < 0x20 || (unsigned char)out.why[i] > 0x7e)
			die("reason not printable", out.why);

	m.req = &req;
	m.local = "strong-bad";
	m.local_len = 10;
	m.sdomain = "f.test";
	m.domain = "f.test";
	n = spf_expand(&m, copy, size - 1, data[0] & 8, exp, sizeof(exp));
	if (n >= 0) {
		if ((size_t)n >= sizeof(exp) || strlen(exp) != (size_t)n)
			die("expansion length", exp);
		for (i = 0; i < (size_t)n; i++)
			if ((unsigned char)exp[i] < 0x20 || (unsigned char)exp[i] > 0x7e)
				die("expansion not printable", exp);
	}
	free(copy);
	return 0;
}
