/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * rrec - the shared cache's value format (see rrec.h).
 *
 * VALUE FORMAT (version 1): one line, single spaces between fields,
 * printable ASCII only, at most RREC_MAX bytes, no line end:
 *
 *	v1 TYPE CREATED EXPIRES FACTS VERDICT REASON CODE ENH CATCHALL MX IP TEXT
 *
 *	TYPE	 A (an address verdict) or D (domain facts)
 *	CREATED	 unix time the verdict or facts were learnt (1-10 digits)
 *	EXPIRES	 unix time it stops being true; after CREATED, at most
 *		 RREC_LIFE_MAX later
 *	FACTS	 decimal FACT_* bits: 0 for A, 1-63 for D (32: needs-tls,
 *		 the sixth fact; a build that knows five reads it as a miss)
 *	VERDICT	 a verdict the cache keeps (valid ... tempfail)
 *	REASON	 a reason token, or "-" for none
 *	CODE	 0 or an SMTP code 200-599
 *	ENH	 an enhanced status code c.s.d, or "-"
 *	CATCHALL 0 or 1
 *	MX	 the MX host that answered ([A-Za-z0-9._-]), or "-"
 *	IP	 its address (IPv4 or IPv6 text), or "-"
 *	TEXT	 the rest of the line: the sanitised reply text, maybe empty
 *
 * Text, not binary, so an administrator can read a value with
 * redis-cli. A D record carries the result that established its facts
 * (the fields after FACTS), as the local cache does; one created time
 * stands for all its facts.
 *
 * DECODING checks, in order: the length bound, the version, that every
 * byte is printable ASCII, the exact field count and shapes, the times
 * (a created time more than RREC_SKEW ahead of our clock, an expiry not
 * after it, a life over RREC_LIFE_MAX or an expiry already past are all
 * refused), the verdict (storable only), the reason token, the code
 * and enhanced code, the MX and IP shapes. Any failure is a miss.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache.h"
#include "rrec.h"
#include "util.h"

#define NFIELDS		12	/* before TEXT */
#define TIME_MIN	946684800	/* 2000-01-01: anything older is absurd */
#define FACTS_ALL	((1u << FACT_COUNT) - 1)

static int
storable(enum verdict v)
{
	return v == VERDICT_VALID || v == VERDICT_INVALID || v == VERDICT_BAD_DOMAIN ||
	    v == VERDICT_BAD_SYNTAX || v == VERDICT_CATCH_ALL || v == VERDICT_UNKNOWN ||
	    v == VERDICT_TEMPFAIL;
}

/* host_ok - an MX host name: 1-255 of [A-Za-z0-9._-] */
static int
host_ok(const char *s)
{
	size_t n = strlen(s);

	return n > 0 && n <= 255 &&
	    strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == n;
}

static int
ip_ok(const char *s)
{
	unsigned char buf[16];

	return strlen(s) < 48 && (inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1);
}

/* enh_ok - "c.s.d": class 2, 4 or 5, then 1-3 digits twice */
static int
enh_ok(const char *s)
{
	size_t i = 0, n;
	int part;

	if (s[0] != '2' && s[0] != '4' && s[0] != '5')
		return 0;
	for (part = 0; part < 3; part++) {
		for (n = 0; s[i] >= '0' && s[i] <= '9'; i++)
			n++;
		if (n < 1 || n > 3 || (part == 0 && n != 1))
			return 0;
		if (part < 2 && s[i++] != '.')
			return 0;
	}
	return i < 16 && s[i] == '\0';
}

/* number - all digits, 1..maxdig of them, as a long long; -1 otherwise */
static long long
number(const char *s, size_t maxdig)
{
	size_t n = strspn(s, "0123456789");
	long long v = 0;

	if (n == 0 || n > maxdig || s[n] != '\0' || (n > 1 && s[0] == '0'))
		return -1;
	for (; *s; s++)
		v = v * 10 + (*s - '0');
	return v;
}

static int
times_ok(time_t created, time_t expires, time_t now)
{
	return created >= TIME_MIN && created <= now + RREC_SKEW && expires > created &&
	    expires - created <= RREC_LIFE_MAX;
}

int
rrec_encode(const struct rrec *rec, char *buf, size_t size)
{
	const struct probe_result *r = &rec->r;
	char text[RREC_TEXT_MAX + 1];
	const char *reason;
	int n;

	if (rec->type != RREC_ADDR && rec->type != RREC_DOMAIN)
		return -1;
	if (!storable(r->verdict) || !times_ok(rec->created, rec->expires, rec->created))
		return -1;
	if (rec->type == RREC_ADDR ? rec->facts != 0 : (rec->facts == 0 || rec->facts > FACTS_ALL))
		return -1;
	if ((r->mx[0] && !host_ok(r->mx)) || (r->ip[0] && !ip_ok(r->ip)) ||
	    (r->enhanced[0] && !enh_ok(r->enhanced)) ||
	    (r->code != 0 && (r->code < 200 || r->code > 599)))
		return -1;
	reason = r->reason == R_NONE || r->reason == R_OTHER ? "-" : reason_str(r->reason);
	/* the text is already sanitised; this keeps it so and bounds it */
	util_sanitize(text, sizeof(text), r->text, strlen(r->text));
	n = snprintf(buf, size, "v1 %c %lld %lld %u %s %s %d %s %d %s %s %s",
	    (char)rec->type, (long long)rec->created, (long long)rec->expires, rec->facts,
	    verdict_str(r->verdict), reason, r->code, r->enhanced[0] ? r->enhanced : "-",
	    r->catch_all ? 1 : 0, r->mx[0] ? r->mx : "-", r->ip[0] ? r->ip : "-", text);
	if (n < 0 || (size_t)n >= size || n > RREC_MAX)
		return -1;
	return n;
}

int
rrec_decode(const char *buf, size_t len, time_t now, struct rrec *out)
{
	char line[RREC_MAX + 1], *f[NFIELDS], *p;
	long long v;
	size_t i;
	int nf;

	memset(out, 0, sizeof(*out));
	if (buf == NULL || len < 3 || len > RREC_MAX || memcmp(buf, "v1 ", 3) != 0)
		return -1;
	for (i = 0; i < len; i++)
		if ((unsigned char)buf[i] < 0x20 || (unsigned char)buf[i] > 0x7e)
			return -1;
	memcpy(line, buf, len);
	line[len] = '\0';
	/* NFIELDS fields, each non-empty and split by exactly one space, then the text */
	for (p = line, nf = 0; nf < NFIELDS; nf++) {
		char *sp = strchr(p, ' ');

		if (*p == ' ' || *p == '\0')
			goto bad;
		f[nf] = p;
		if (sp == NULL) {
			if (nf != NFIELDS - 1)
				goto bad;
			p += strlen(p);
			break;
		}
		*sp = '\0';
		p = sp + 1;
		if (nf == NFIELDS - 1)
			break;
	}
	if (nf != NFIELDS - 1)
		goto bad;
	/* f[0] "v1" was checked above */
	if (strcmp(f[1], "A") == 0)
		out->type = RREC_ADDR;
	else if (strcmp(f[1], "D") == 0)
		out->type = RREC_DOMAIN;
	else
		goto bad;
	if ((v = number(f[2], 10)) < 0)
		goto bad;
	out->created = (time_t)v;
	if ((v = number(f[3], 10)) < 0)
		goto bad;
	out->expires = (time_t)v;
	if (!times_ok(out->created, out->expires, now) || out->expires <= now)
		goto bad;
	if ((v = number(f[4], 2)) < 0 || v > FACTS_ALL ||
	    (out->type == RREC_ADDR ? v != 0 : v == 0))
		goto bad;
	out->facts = (unsigned)v;
	if (verdict_parse(f[5], &out->r.verdict) < 0 || strcmp(f[5], verdict_str(out->r.verdict)) != 0 ||
	    !storable(out->r.verdict))
		goto bad;
	if (strcmp(f[6], "-") == 0)
		out->r.reason = R_NONE;
	else if (reason_parse(f[6], &out->r.reason) < 0 || out->r.reason == R_NONE ||
	    out->r.reason == R_OTHER)
		goto bad;
	if ((v = number(f[7], 3)) < 0 || (v != 0 && (v < 200 || v > 599)))
		goto bad;
	out->r.code = (int)v;
	if (strcmp(f[8], "-") != 0) {
		if (!enh_ok(f[8]))
			goto bad;
		util_strlcpy(out->r.enhanced, f[8], sizeof(out->r.enhanced));
	}
	if (strcmp(f[9], "0") != 0 && strcmp(f[9], "1") != 0)
		goto bad;
	out->r.catch_all = f[9][0] == '1';
	if (strcmp(f[10], "-") != 0) {
		if (!host_ok(f[10]))
			goto bad;
		util_strlcpy(out->r.mx, f[10], sizeof(out->r.mx));
	}
	if (strcmp(f[11], "-") != 0) {
		if (!ip_ok(f[11]))
			goto bad;
		util_strlcpy(out->r.ip, f[11], sizeof(out->r.ip));
	}
	if (strlen(p) > RREC_TEXT_MAX)
		goto bad;
	util_strlcpy(out->r.text, p, sizeof(out->r.text));
	return 0;
bad:
	memset(out, 0, sizeof(*out));
	return -1;
}
