/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * fuzz_rrec - the shared cache's value decoder and key builder
 * (probe/fleet/rrec.c, rconn.c): values are read from a Redis server
 * that anyone who may write under the prefix could have filled.
 *
 * Input: byte 0 bit 0 clear: the rest is a value, decoded at a fixed
 * clock; set: the rest (up to the first NUL) is the address part of a
 * key.
 *
 * Oracles for a value that decodes: the times are inside the format's
 * bounds (created not ahead of the clock by more than the skew, not yet
 * expired, a life of at most RREC_LIFE_MAX), the verdict is one the
 * cache keeps, the code is 0 or 200..599, facts fit the type, every
 * string is terminated and printable (mx and ip without spaces); it
 * encodes again, and that decodes to the same fields. For a key: when
 * rconn_key accepts it, the key holds no byte outside 0x21..0x7e and
 * starts with the prefix.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache.h"
#include "rconn.h"
#include "rrec.h"

#define NOW	1700000000L

static void
die(const char *what, const char *s)
{
	fprintf(stderr, "fuzz_rrec: oracle: %s: [%s]\n", what, s);
	abort();
}

static void
printable(const char *s, size_t size, int nospace, const char *what)
{
	size_t i, n = strnlen(s, size);

	if (n >= size)
		die(what, "not terminated");
	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e || (nospace && s[i] == ' '))
			die(what, s);
}

static void
check_value(const uint8_t *data, size_t size)
{
	struct rrec rec, back;
	char buf[RREC_MAX + 1];
	int n;

	if (rrec_decode((const char *)data, size, NOW, &rec) != 0)
		return;
	if (rec.created > NOW + RREC_SKEW || rec.expires <= NOW || rec.expires - rec.created > RREC_LIFE_MAX)
		die("times", "out of bounds");
	if (rec.r.verdict > VERDICT_TEMPFAIL)
		die("verdict", verdict_str(rec.r.verdict));
	if (rec.r.code != 0 && (rec.r.code < 200 || rec.r.code > 599))
		die("code", "out of range");
	/* every FACT_* bit, the sixth (needs-tls) included */
	if (rec.type == RREC_ADDR ? rec.facts != 0 :
	    (rec.facts == 0 || rec.facts > (1u << FACT_COUNT) - 1))
		die("facts", "do not fit the type");
	printable(rec.r.text, sizeof(rec.r.text), 0, "text");
	printable(rec.r.mx, sizeof(rec.r.mx), 1, "mx");
	printable(rec.r.ip, sizeof(rec.r.ip), 1, "ip");
	printable(rec.r.enhanced, sizeof(rec.r.enhanced), 1, "enhanced");
	if ((n = rrec_encode(&rec, buf, sizeof(buf))) < 0)
		die("round trip", "a decoded record does not encode");
	if (rrec_decode(buf, (size_t)n, NOW, &back) != 0)
		die("round trip", buf);
	if (back.type != rec.type || back.created != rec.created || back.expires != rec.expires ||
	    back.facts != rec.facts || back.r.verdict != rec.r.verdict || back.r.reason != rec.r.reason ||
	    back.r.code != rec.r.code || back.r.catch_all != rec.r.catch_all ||
	    strcmp(back.r.mx, rec.r.mx) != 0 || strcmp(back.r.ip, rec.r.ip) != 0 ||
	    strcmp(back.r.enhanced, rec.r.enhanced) != 0 || strcmp(back.r.text, rec.r.text) != 0)
		die("round trip", buf);
}

static void
check_key(const uint8_t *data, size_t size)
{
	char rest[1024], key[RCONN_KEY_MAX + 1];
	size_t i, n = size < sizeof(rest) - 1 ? size : sizeof(rest) - 1;
	int len;

	memcpy(rest, data, n);
	rest[n] = '\0';
	if ((len = rconn_key(key, sizeof(key), "a", rest)) < 0)
		return;
	if ((size_t)len != strlen(key) || strncmp(key, "sav:v1:a:", 9) != 0)
		die("key", key);
	for (i = 0; key[i]; i++)
		if ((unsigned char)key[i] <= 0x20 || (unsigned char)key[i] >= 0x7f)
			die("key byte", key);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	if (data[0] & 1)
		check_key(data + 1, size - 1);
	else
		check_value(data + 1, size - 1);
	return 0;
}
