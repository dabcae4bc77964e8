/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * fuzz_addr - envelope address parsing and re-serialising.
 *
 * Input: one address as the MTA, the command line or a list file could
 * give it (any bytes). Oracles:
 *  - addr_parse never reads past the input (ASan) and a refusal leaves
 *    *out cleared, with a reason;
 *  - no control character, DEL or NUL survives into the local part, the
 *    domain, the formatted path or the cache key;
 *  - round trip: what addr_format writes parses again, as ADDR_OK, to
 *    the same local part, domain and flags; formatting that gives the
 *    same text again (a fixed point).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"

static void
die(const char *what, const char *a, const char *b)
{
	fprintf(stderr, "fuzz_addr: oracle: %s: [%s] [%s]\n", what, a, b);
	abort();
}

static void
clean(const char *s, const char *what)
{
	const unsigned char *p;

	for (p = (const unsigned char *)s; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			die(what, s, "control character");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct addr a, b;
	char f1[1200], f2[1200], key[1300];
	const char *why = NULL;
	enum addr_status st;
	int n1, n2;

	if (size > 4096)
		return 0;
	st = addr_parse((const char *)data, size, &a, &why);
	if (st == ADDR_NO_DOMAIN) {
		/* unqualified (<postmaster>): the local part is kept, nothing else */
		clean(a.local, "local part");
		if (a.domain[0] != '\0')
			die("no domain, yet a domain", a.local, a.domain);
		return 0;
	}
	if (st != ADDR_OK) {
		if (a.local[0] != '\0' || a.domain[0] != '\0')
			die("refused, yet parts left", a.local, a.domain);
		if (st != ADDR_NULL && why == NULL)
			die("refused without a reason", "", "");
		return 0;
	}
	clean(a.local, "local part");
	clean(a.domain, "domain");
	clean(a.literal, "literal");
	if (a.local[0] == '\0' || a.domain[0] == '\0')
		die("ok with an empty part", a.local, a.domain);
	n1 = addr_format(&a, f1, sizeof(f1));
	if (n1 < 0)
		die("ok, yet does not format", a.local, a.domain);
	clean(f1, "formatted path");
	if (addr_cache_key(&a, key, sizeof(key)) >= 0)
		clean(key, "cache key");
	st = addr_parse(f1, (size_t)n1, &b, &why);
	if (st != ADDR_OK)
		die("formatted path does not parse again", f1, why != NULL ? why : "");
	if (strcmp(a.local, b.local) != 0 || strcmp(a.domain, b.domain) != 0 ||
	    strcmp(a.literal, b.literal) != 0)
		die("round trip changed the address", f1, b.local);
	if (a.is_literal != b.is_literal || a.quoted != b.quoted ||
	    a.utf8_local != b.utf8_local || a.long_local != b.long_local)
		die("round trip changed a flag", f1, b.local);
	if (b.had_route)
		die("a formatted path holds a route", f1, "");
	n2 = addr_format(&b, f2, sizeof(f2));
	if (n2 != n1 || memcmp(f1, f2, (size_t)n1) != 0)
		die("formatting is not a fixed point", f1, f2);
	return 0;
}
