/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * fuzz_cache_rec - the cache record decoder (records are read from a
 * file that whoever can write it may have crafted).
 *
 * Input: byte 0 bit 0 set: the target appends the right CRC-32 to the
 * record, so mutations get past the checksum to the fields; bit 1
 * picks a domain key ("d:") over an address key ("a:"). Byte 1 is the
 * length of the key's rest, which follows; the remaining bytes are
 * the stored value.
 *
 * Oracles for a record that decodes: every string is terminated and
 * printable ASCII (mx and the reason token without spaces), the code
 * is 0 or 200..599, the verdict is one a record may hold; it encodes
 * again, and that decodes to the same fields (a round trip);
 * cache_rec_to_result gives printable text. A record that fails
 * decoding is simply a miss: nothing to check but the sanitizers.
 *
 * With FUZZ_WRITE_SEEDS=DIR in the environment the target first
 * writes its seed corpus (records encoded from sample results) there.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache_int.h"
#include "dialog.h"

static void
die(const char *what, const char *s)
{
	fprintf(stderr, "fuzz_cache_rec: oracle: %s: [%s]\n", what, s);
	abort();
}

/* crc - CRC-32 (IEEE), bit by bit, independent of the code under test */
static uint32_t
crc(const unsigned char *p, size_t n)
{
	uint32_t c = 0xffffffffu;
	int k;

	while (n-- > 0) {
		c ^= *p++;
		for (k = 0; k < 8; k++)
			c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
	}
	return c ^ 0xffffffffu;
}

static void
printable(const char *s, size_t size, int nospace, const char *what)
{
	size_t i, n = strnlen(s, size);

	if (n >= size)
		die(what, "not terminated");
	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e ||
		    (nospace && s[i] == ' '))
			die(what, s);
}

static void
same(const struct rec *a, const struct rec *b)
{
	if (a->type != b->type || a->verdict != b->verdict || a->flags != b->flags ||
	    a->code != b->code || a->created != b->created || a->tried != b->tried ||
	    a->reason != b->reason || memcmp(a->fact_time, b->fact_time, sizeof(a->fact_time)) != 0)
		die("round trip changed a field", a->text);
	if (strcmp(a->other, b->other) != 0 || strcmp(a->enhanced, b->enhanced) != 0 ||
	    strcmp(a->text, b->text) != 0 || strcmp(a->mx, b->mx) != 0 || strcmp(a->ip, b->ip) != 0 ||
	    strcmp(a->dialog, b->dialog) != 0)
		die("round trip changed a string", a->text);
}

/* seeds - records encoded from sample results, written to dir */
static void
seeds(const char *dir)
{
	static const struct {
		int type;
		enum verdict v;
		enum reason r;
		int code;
		const char *enh, *text, *mx, *ip, *key;
		unsigned flags;
	} s[] = {
		{ REC_ADDR, VERDICT_VALID, R_USER_OK, 250, "2.1.5", "Ok", "mx1.example.test",
		  "192.0.2.1", "u@example.test", 0 },
		{ REC_ADDR, VERDICT_INVALID, R_USER_UNKNOWN, 550, "5.1.1",
		  "<u@example.test>: Recipient address rejected: User unknown", "example.test",
		  "2001:db8::1", "u@example.test", 0 },
		{ REC_ADDR, VERDICT_CATCH_ALL, R_CATCH_ALL, 250, "", "", "mx.other.test", "", "x@y.test", 1 },
		{ REC_ADDR, VERDICT_TEMPFAIL, R_GREYLISTED, 450, "4.7.1", "Greylisted, try again later",
		  "", "", "g@example.test", 0 },
		{ REC_ADDR, VERDICT_UNKNOWN, R_RCPT_SYNTAX, 501, "", "Syntax error", "", "", "q@e.test", 0 },
		{ REC_DOMAIN, VERDICT_UNKNOWN, R_NULL_SENDER_REFUSED, 550, "5.7.1", "no bounces",
		  "mx.example.test", "198.51.100.7", "example.test", FACT_REFUSES_NULL | FACT_CATCH_ALL },
		{ REC_DOMAIN, VERDICT_BAD_DOMAIN, R_NULL_MX, 0, "", "", "", "", "nomail.test", FACT_NO_MAIL },
	};
	size_t i, n;
	char path[512], key[300];
	unsigned char buf[REC_MAX], out[REC_MAX + 300];
	struct rec r;
	FILE *fp;

	for (i = 0; i < sizeof(s) / sizeof(s[0]); i++) {
		memset(&r, 0, sizeof(r));
		r.type = s[i].type;
		r.verdict = s[i].v;
		r.reason = s[i].r;
		r.code = s[i].code;
		r.flags = s[i].flags;
		r.created = 1700000000 + (time_t)i;
		r.tried = i % 2 ? r.created + 60 : 0;
		for (n = 0; n < NFACTS; n++)
			if (r.flags & (1u << n) && r.type == REC_DOMAIN)
				r.fact_time[n] = r.created - (time_t)n;
		snprintf(r.enhanced, sizeof(r.enhanced), "%s", s[i].enh);
		snprintf(r.text, sizeof(r.text), "%s", s[i].text);
		snprintf(r.mx, sizeof(r.mx), "%s", s[i].mx);
		snprintf(r.ip, sizeof(r.ip), "%s", s[i].ip);
		snprintf(key, sizeof(key), "%s:%s", r.type == REC_ADDR ? "a" : "d", s[i].key);
		if (r.type == REC_ADDR && r.verdict != VERDICT_VALID)
			snprintf(r.dialog, sizeof(r.dialog), "< 220 mx ESMTP\n> RCPT TO:<%s>\n< %d%s%s (+2 lines)\n"
				 "- connection closed by server while waiting for QUIT reply", s[i].key,
				 r.code, r.text[0] != '\0' ? " " : "", r.text);
		n = cache_rec_encode(&r, key, strlen(key), buf, sizeof(buf));
		if (n == 0)
			abort();
		/* as the target reads it: the CRC is appended by the target (bit 0) */
		out[0] = (unsigned char)(1 | (r.type == REC_DOMAIN ? 2 : 0));
		out[1] = (unsigned char)(strlen(key) - 2);
		memcpy(out + 2, key + 2, strlen(key) - 2);
		memcpy(out + 2 + strlen(key) - 2, buf, n - 4);
		snprintf(path, sizeof(path), "%s/rec%zu", dir, i);
		if ((fp = fopen(path, "wb")) == NULL)
			abort();
		fwrite(out, 1, 2 + strlen(key) - 2 + n - 4, fp);
		fclose(fp);
	}
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *dir = getenv("FUZZ_WRITE_SEEDS");

	if (dir != NULL)
		seeds(dir);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned char val[REC_MAX + 16], again[REC_MAX];
	char key[300];
	size_t klen, vlen, n;
	struct rec r, r2;
	struct probe_result pr;

	if (size < 2)
		return 0;
	klen = data[1];
	if (2 + klen > size)
		return 0;
	key[0] = data[0] & 2 ? 'd' : 'a';
	key[1] = ':';
	memcpy(key + 2, data + 2, klen);
	klen += 2;
	key[klen] = '\0';
	vlen = size - 2 - (klen - 2);
	if (vlen > REC_MAX + 8)
		return 0;
	memcpy(val, data + klen, vlen);
	if (data[0] & 1) {
		uint32_t c = crc(val, vlen);

		val[vlen++] = (unsigned char)c;
		val[vlen++] = (unsigned char)(c >> 8);
		val[vlen++] = (unsigned char)(c >> 16);
		val[vlen++] = (unsigned char)(c >> 24);
	}
	(void)cache_rec_newer(val, vlen);
	(void)cache_rec_created(val, vlen);
	if (cache_rec_decode_head(val, vlen, &r) == 0 && r.code != 0 &&
	    (r.code < 200 || r.code > 599))
		die("head with a code out of range", "");
	if (cache_rec_decode(val, vlen, key, klen, &r) != 0)
		return 0;
	if (!cache_rec_storable(r.verdict))
		die("a verdict no record may hold", "");
	if (r.code != 0 && (r.code < 200 || r.code > 599))
		die("code out of range", "");
	printable(r.text, sizeof(r.text), 0, "text");
	printable(r.mx, sizeof(r.mx), 1, "mx");
	printable(r.ip, sizeof(r.ip), 1, "ip");
	if (r.dialog[0] != '\0' && (r.type != REC_ADDR || r.verdict == VERDICT_VALID ||
	    !dialog_ok(r.dialog, strnlen(r.dialog, sizeof(r.dialog)))))
		die("a transcript where none may be, or of the wrong shape", "");
	printable(r.enhanced, sizeof(r.enhanced), 1, "enhanced");
	printable(r.other, sizeof(r.other), 1, "reason token");
	cache_rec_to_result(&pr, &r, key, klen);
	printable(pr.address, sizeof(pr.address), 0, "address");
	printable(pr.text, sizeof(pr.text), 0, "result text");
	n = cache_rec_encode(&r, key, klen, again, sizeof(again));
	if (n == 0)
		die("a decoded record does not encode again", r.text);
	if (cache_rec_decode(again, n, key, klen, &r2) != 0)
		die("a re-encoded record does not decode", r.text);
	same(&r, &r2);
	return 0;
}
