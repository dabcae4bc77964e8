/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * spf - RFC 7208 check_host(), bounded; the rules are in spf.h.
 *
 * One evaluation:
 *	check(domain)	TXT domain: NXDOMAIN/none -> none, error -> temperror,
 *			not one "v=spf1" record -> none / permerror (two)
 *	parse		every term checked before any is evaluated; a syntax
 *			error anywhere is a permerror (RFC 7208 4.6)
 *	evaluate	mechanisms left to right; the first match gives the
 *			result of its qualifier; then redirect=, else neutral
 *
 * include: pass matches; fail, softfail and neutral do not; temperror
 * and permerror come through; none is a permerror. redirect=: the
 * target's result, none being a permerror. The counters (terms, voids,
 * questions) are shared by the whole evaluation, includes and
 * redirects included, so a loop of includes ends at the term limit.
 */
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <ctype.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spf.h"

#define SPF_TERM_COUNT_MAX	64	/* terms in one record */
#define SPF_QUERY_MAX		160	/* questions per evaluation, whatever the terms */
#define SPF_NAME_MAX		253

enum mech { M_ALL, M_INCLUDE, M_A, M_MX, M_PTR, M_IP4, M_IP6, M_EXISTS,
	    M_REDIRECT, M_EXP, M_UNKNOWN_MOD };

struct term {
	enum mech m;
	char	qual;			/* '+', '-', '~', '?' */
	const char *spec;		/* domain-spec or address text, not NUL-terminated */
	size_t	speclen;
	int	cidr4, cidr6;		/* -1: not given */
	struct spf_ip net;		/* ip4/ip6 */
};

struct eval {
	const struct spf_resolver *r;
	const struct spf_req *req;
	struct spf_out *out;
	const char *local;
	size_t	local_len;
	const char *sdomain;
	struct spf_ans *ans;		/* scratch for one question */
};

static enum spf_result check(struct eval *e, const char *domain, int depth);

const char *
spf_result_str(enum spf_result r)
{
	switch (r) {
	case SPF_NONE:		return "none";
	case SPF_NEUTRAL:	return "neutral";
	case SPF_PASS:		return "pass";
	case SPF_FAIL:		return "fail";
	case SPF_SOFTFAIL:	return "softfail";
	case SPF_TEMPERROR:	return "temperror";
	case SPF_PERMERROR:	return "permerror";
	}
	return "?";
}

int
spf_ans_add(struct spf_ans *a, const char *s, size_t len)
{
	if (a->n >= SPF_ANS_MAX || len >= sizeof(a->buf) - a->used) {
		a->more = 1;
		return -1;
	}
	a->str[a->n++] = a->buf + a->used;
	memcpy(a->buf + a->used, s, len);
	a->buf[a->used + len] = '\0';
	a->used += len + 1;
	return 0;
}

/* fail - note why (the first reason wins: it names the cause, later ones the fallout) */
static enum spf_result fail(struct eval *e, enum spf_result r, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static enum spf_result
fail(struct eval *e, enum spf_result r, const char *fmt, ...)
{
	char tmp[sizeof(e->out->why)];
	va_list ap;
	size_t i;

	if (e->out->why[0] == '\0') {
		va_start(ap, fmt);
		vsnprintf(tmp, sizeof(tmp), fmt, ap);
		va_end(ap);
		for (i = 0; tmp[i] != '\0'; i++)
			if ((unsigned char)tmp[i] < 0x20 || (unsigned char)tmp[i] > 0x7e)
				tmp[i] = '?';
		memcpy(e->out->why, tmp, i + 1);
	}
	return r;
}

/* ask - one question, counted and bounded */
static enum spf_dns_rc
ask(struct eval *e, const char *name, enum spf_qtype type)
{
	if (e->out->queries >= SPF_QUERY_MAX)
		return SPF_DNS_TEMP;
	e->out->queries++;
	memset(e->ans, 0, offsetof(struct spf_ans, buf));
	e->ans->buf[0] = '\0';
	return e->r->query(e->r->arg, name, type, e->ans);
}

/*
 * name_ok - a name we may ask about: labels of 1..63 printable octets
 * (no space, no backslash), at most 253 in all, at least two labels.
 */
static int
name_ok(const char *s)
{
	size_t i, lab = 0, labels = 0, len = strlen(s);

	if (len == 0 || len > SPF_NAME_MAX)
		return 0;
	for (i = 0; i <= len; i++) {
		unsigned char c = i < len ? (unsigned char)s[i] : '.';

		if (c == '.') {
			if (lab == 0 || lab > 63)
				return 0;
			labels++;
			lab = 0;
		} else if (c <= 0x20 || c >= 0x7f || c == '\\')
			return 0;
		else
			lab++;
	}
	return labels >= 2;
}

/* lower - lowercase s in place, drop one trailing dot */
static void
lower(char *s)
{
	size_t n;

	for (n = 0; s[n] != '\0'; n++)
		s[n] = (char)tolower((unsigned char)s[n]);
	if (n > 0 && s[n - 1] == '.')
		s[n - 1] = '\0';
}

/*
 * target - expand a term's domain-spec (or take the current domain),
 * trimmed from the left to 253 octets (RFC 7208 4.8). Returns 0, or
 * -1 when it does not expand to a name.
 */
static int
target(struct eval *e, const struct term *t, const char *domain, char *dst,
       size_t size)
{
	struct spf_mctx m = { e->req, e->local, e->local_len, e->sdomain, domain };
	char *p;

	if (t->spec == NULL) {
		snprintf(dst, size, "%s", domain);
		return 0;
	}
	if (spf_expand(&m, t->spec, t->speclen, 0, dst, size) < 0)
		return -1;
	lower(dst);
	p = dst;
	while (strlen(p) > SPF_NAME_MAX && (p = strchr(p, '.')) != NULL)
		p++;
	if (p == NULL)
		return -1;
	memmove(dst, p, strlen(p) + 1);
	return name_ok(dst) ? 0 : -1;
}

/* cidr - "/N" with no leading zero, N <= max; returns chars used, -1 bad */
static int
cidr(const char *s, size_t len, int max, int *out)
{
	size_t i = 1;
	int v = 0;

	if (len < 2 || s[0] != '/' || !isdigit((unsigned char)s[1]))
		return -1;
	if (s[1] == '0' && len > 2 && isdigit((unsigned char)s[2]))
		return -1;
	while (i < len && isdigit((unsigned char)s[i]) && i < 5)
		v = v * 10 + (s[i++] - '0');
	if (v > max)
		return -1;
	*out = v;
	return (int)i;
}

/*
 * dual_cidr - the tail of an a or mx term: [ "/" ip4 ] [ "//" ip6 ].
 * Returns the length of the domain-spec before it, or -1.
 */
static int
dual_cidr(const char *s, size_t len, struct term *t)
{
	size_t i, end = len;
	int n;

	/* the cidr starts at the first '/' that is followed by digits or '/' */
	for (i = 0; i < len; i++)
		if (s[i] == '/' && i + 1 < len &&
		    (isdigit((unsigned char)s[i + 1]) || s[i + 1] == '/')) {
			end = i;
			break;
		}
	i = end;
	if (i < len && s[i] == '/' && i + 1 < len && s[i + 1] != '/') {
		if ((n = cidr(s + i, len - i, 32, &t->cidr4)) < 0)
			return -1;
		i += (size_t)n;
	}
	if (i < len) {
		if (len - i < 3 || s[i] != '/' || s[i + 1] != '/')
			return -1;
		if ((n = cidr(s + i + 1, len - i - 1, 128, &t->cidr6)) < 0)
			return -1;
		i += 1 + (size_t)n;
	}
	return i == len ? (int)end : -1;
}

/* macro_ok - a domain-spec or exp= text that expands at all */
static int
macro_ok(struct eval *e, const char *s, size_t len, int exp)
{
	struct spf_mctx m = { e->req, e->local, e->local_len, e->sdomain, "x.invalid" };
	char tmp[SPF_EXPAND_MAX + 1];

	return len > 0 && spf_expand(&m, s, len, exp, tmp, sizeof(tmp)) >= 0;
}

static int
name_is(const char *s, size_t len, const char *name)
{
	return strlen(name) == len && strncasecmp(s, name, len) == 0;
}

/* parse_term - one term (len octets, no spaces) into *t; -1 on a syntax error */
static int
parse_term(struct eval *e, const char *s, size_t len, struct term *t)
{
	static const struct { const char *name; enum mech m; } mechs[] = {
		{ "all", M_ALL }, { "include", M_INCLUDE }, { "a", M_A },
		{ "mx", M_MX }, { "ptr", M_PTR }, { "ip4", M_IP4 },
		{ "ip6", M_IP6 }, { "exists", M_EXISTS },
	};
	size_t i, nlen;
	char addr[64];
	int n;

	memset(t, 0, sizeof(*t));
	t->cidr4 = t->cidr6 = -1;
	t->qual = '+';
	/* modifier: name "=" macro-string; name = ALPHA *( ALPHA / DIGIT / "-" / "_" / "." ) */
	for (nlen = 0; nlen < len && (isalnum((unsigned char)s[nlen]) ||
	    s[nlen] == '-' || s[nlen] == '_' || s[nlen] == '.'); nlen++)
		;
	if (nlen > 0 && nlen < len && s[nlen] == '=' && isalpha((unsigned char)s[0])) {
		t->spec = s + nlen + 1;
		t->speclen = len - nlen - 1;
		if (name_is(s, nlen, "redirect")) {
			t->m = M_REDIRECT;
			return macro_ok(e, t->spec, t->speclen, 0) ? 0 : -1;
		}
		if (name_is(s, nlen, "exp")) {
			t->m = M_EXP;
			return macro_ok(e, t->spec, t->speclen, 0) ? 0 : -1;
		}
		t->m = M_UNKNOWN_MOD;	/* ignored, but its value must be a macro-string */
		return t->speclen == 0 || macro_ok(e, t->spec, t->speclen, 0) ? 0 : -1;
	}
	if (len > 0 && strchr("+-~?", s[0]) != NULL) {
		t->qual = s[0];
		s++;
		len--;
	}
	for (nlen = 0; nlen < len && isalnum((unsigned char)s[nlen]); nlen++)
		;
	for (i = 0; i < sizeof(mechs) / sizeof(mechs[0]); i++)
		if (name_is(s, nlen, mechs[i].name))
			break;
	if (i == sizeof(mechs) / sizeof(mechs[0]))
		return -1;
	t->m = mechs[i].m;
	s += nlen;
	len -= nlen;
	switch (t->m) {
	case M_ALL:
		return len == 0 ? 0 : -1;
	case M_INCLUDE:
	case M_EXISTS:
		if (len < 2 || s[0] != ':')
			return -1;
		t->spec = s + 1;
		t->speclen = len - 1;
		return macro_ok(e, t->spec, t->speclen, 0) ? 0 : -1;
	case M_PTR:
		if (len == 0)
			return 0;
		if (len < 2 || s[0] != ':')
			return -1;
		t->spec = s + 1;
		t->speclen = len - 1;
		return macro_ok(e, t->spec, t->speclen, 0) ? 0 : -1;
	case M_A:
	case M_MX:
		if ((n = dual_cidr(s, len, t)) < 0)
			return -1;
		if (n == 0)
			return 0;
		if (n < 2 || s[0] != ':')
			return -1;
		t->spec = s + 1;
		t->speclen = (size_t)n - 1;
		return macro_ok(e, t->spec, t->speclen, 0) ? 0 : -1;
	case M_IP4:
	case M_IP6:
		if (len < 2 || s[0] != ':')
			return -1;
		s++;
		len--;
		for (nlen = 0; nlen < len && s[nlen] != '/'; nlen++)
			;
		if (nlen == 0 || nlen >= sizeof(addr))
			return -1;
		memcpy(addr, s, nlen);
		addr[nlen] = '\0';
		t->net.af = t->m == M_IP4 ? AF_INET : AF_INET6;
		if (inet_pton(t->net.af, addr, t->net.a) != 1)
			return -1;
		if (nlen < len) {
			int *c = t->m == M_IP4 ? &t->cidr4 : &t->cidr6;

			n = cidr(s + nlen, len - nlen, t->m == M_IP4 ? 32 : 128, c);
			if (n < 0 || nlen + (size_t)n != len)
				return -1;
		}
		return 0;
	default:
		return -1;
	}
}

/* in_net - is ip inside net/bits (same family only)? */
static int
in_net(const struct spf_ip *ip, const struct spf_ip *net, int bits)
{
	int full, rest;

	if (ip->af != net->af)
		return 0;
	full = bits / 8;
	rest = bits % 8;
	if (memcmp(ip->a, net->a, (size_t)full) != 0)
		return 0;
	if (rest == 0)
		return 1;
	return ((ip->a[full] ^ net->a[full]) & (0xff << (8 - rest))) == 0;
}

static int
prefix_of(const struct eval *e, const struct term *t)
{
	if (e->req->ip.af == AF_INET)
		return t->cidr4 >= 0 ? t->cidr4 : 32;
	return t->cidr6 >= 0 ? t->cidr6 : 128;
}

/* count_term - one more DNS-querying term; -1 past the limit */
static int
count_term(struct eval *e)
{
	return ++e->out->terms > SPF_TERMS_MAX ? -1 : 0;
}

/* count_void - one more void look-up; -1 past the limit */
static int
count_void(struct eval *e)
{
	return ++e->out->voids > SPF_VOID_MAX ? -1 : 0;
}

/*
 * addr_match - does name have an address (of the client's family)
 * inside the term's prefix? 1 match, 0 no, -1 temperror, -2 permerror.
 * counted: the first look-up of a or mx, which counts towards voids.
 */
static int
addr_match(struct eval *e, const char *name, const struct term *t, int counted)
{
	enum spf_dns_rc rc;
	int i, bits = prefix_of(e, t);

	rc = ask(e, name, e->req->ip.af == AF_INET ? SPF_Q_A : SPF_Q_AAAA);
	if (rc == SPF_DNS_TEMP)
		return -1;
	if (rc == SPF_DNS_VOID)
		return counted && count_void(e) != 0 ? -2 : 0;
	for (i = 0; i < e->ans->n; i++)
		if (in_net(&e->req->ip, &e->ans->ip[i], bits))
			return 1;
	return 0;
}

/*
 * mx_match - the mx mechanism. Names are copied out of the scratch
 * answer before their own address look-ups reuse it.
 */
static int
mx_match(struct eval *e, const char *name, const struct term *t)
{
	char (*names)[SPF_NAME_MAX + 1];
	enum spf_dns_rc rc;
	int i, n, r = 0;

	rc = ask(e, name, SPF_Q_MX);
	if (rc == SPF_DNS_TEMP)
		return -1;
	if (rc == SPF_DNS_VOID)
		return count_void(e) != 0 ? -2 : 0;
	if (e->ans->n > SPF_MX_MAX || e->ans->more)
		return -2;
	n = e->ans->n;
	if ((names = calloc((size_t)n, sizeof(*names))) == NULL)
		return -1;
	for (i = 0; i < n; i++)
		snprintf(names[i], sizeof(names[i]), "%s", e->ans->str[i]);
	for (i = 0; i < n && r == 0; i++) {
		lower(names[i]);
		if (name_ok(names[i]))
			r = addr_match(e, names[i], t, 0);
	}
	free(names);
	return r;
}

/* rev_name - the in-addr.arpa / ip6.arpa name of the client */
static void
rev_name(const struct spf_ip *ip, char *buf, size_t size)
{
	static const char hex[] = "0123456789abcdef";
	size_t n = 0;
	int i;

	if (ip->af == AF_INET) {
		snprintf(buf, size, "%u.%u.%u.%u.in-addr.arpa", ip->a[3],
		    ip->a[2], ip->a[1], ip->a[0]);
		return;
	}
	for (i = 15; i >= 0 && n + 4 < size; i--) {
		buf[n++] = hex[ip->a[i] & 15];
		buf[n++] = '.';
		buf[n++] = hex[ip->a[i] >> 4];
		buf[n++] = '.';
	}
	snprintf(buf + n, size - n, "ip6.arpa");
}

/* sub_or_same - is name the domain or below it? */
static int
sub_or_same(const char *name, const char *domain)
{
	size_t n = strlen(name), d = strlen(domain);

	if (n == d)
		return strcasecmp(name, domain) == 0;
	return n > d && name[n - d - 1] == '.' &&
	    strcasecmp(name + n - d, domain) == 0;
}

/*
 * ptr_match - the ptr mechanism (RFC 7208 5.5): a DNS error on the PTR
 * look-up is no match; each of at most SPF_PTR_MAX names must resolve
 * back to the client to count.
 */
static int
ptr_match(struct eval *e, const char *domain)
{
	char rev[80], (*names)[SPF_NAME_MAX + 1];
	enum spf_dns_rc rc;
	struct term any = { .cidr4 = -1, .cidr6 = -1 };
	int i, n, r = 0;

	rev_name(&e->req->ip, rev, sizeof(rev));
	rc = ask(e, rev, SPF_Q_PTR);
	if (rc == SPF_DNS_VOID)
		return count_void(e) != 0 ? -2 : 0;
	if (rc != SPF_DNS_OK)
		return 0;
	n = e->ans->n < SPF_PTR_MAX ? e->ans->n : SPF_PTR_MAX;
	if ((names = calloc((size_t)n + 1, sizeof(*names))) == NULL)
		return -1;
	for (i = 0; i < n; i++) {
		snprintf(names[i], sizeof(names[i]), "%s", e->ans->str[i]);
		lower(names[i]);
	}
	for (i = 0; i < n && r == 0; i++)
		if (name_ok(names[i]) && sub_or_same(names[i], domain))
			r = addr_match(e, names[i], &any, 0) == 1;
	free(names);
	return r;
}

/* qual_result - the result a matching mechanism gives */
static enum spf_result
qual_result(char q)
{
	switch (q) {
	case '-':	return SPF_FAIL;
	case '~':	return SPF_SOFTFAIL;
	case '?':	return SPF_NEUTRAL;
	default:	return SPF_PASS;
	}
}

/*
 * record - find the one SPF record among the TXT answers of domain.
 * Returns a copy (free it) in *rec, or the result to give without one.
 */
static enum spf_result
record(struct eval *e, const char *domain, char **rec)
{
	enum spf_dns_rc rc;
	int i, found = -1;

	*rec = NULL;
	rc = ask(e, domain, SPF_Q_TXT);
	if (rc == SPF_DNS_TEMP)
		return fail(e, SPF_TEMPERROR, "TXT look-up of %s failed", domain);
	if (rc == SPF_DNS_VOID)
		return fail(e, SPF_NONE, "no SPF record at %s", domain);
	for (i = 0; i < e->ans->n; i++) {
		const char *s = e->ans->str[i];

		if (strncasecmp(s, "v=spf1", 6) != 0 || (s[6] != '\0' && s[6] != ' '))
			continue;
		if (found >= 0)
			return fail(e, SPF_PERMERROR, "two SPF records at %s", domain);
		found = i;
	}
	if (found < 0)
		return fail(e, SPF_NONE, "no SPF record at %s", domain);
	if (strlen(e->ans->str[found]) >= SPF_RECORD_MAX - 1 || e->ans->more)
		return fail(e, SPF_PERMERROR, "SPF record of %s too long", domain);
	if ((*rec = strdup(e->ans->str[found])) == NULL)
		return fail(e, SPF_TEMPERROR, "out of memory");
	return SPF_PASS;	/* found; the caller evaluates */
}

/* include_result - what an include's inner result means for the outer record */
static int
include_match(struct eval *e, enum spf_result r, enum spf_result *out)
{
	switch (r) {
	case SPF_PASS:
		return 1;
	case SPF_FAIL:
	case SPF_SOFTFAIL:
	case SPF_NEUTRAL:
		return 0;
	case SPF_TEMPERROR:
		*out = SPF_TEMPERROR;
		return -1;
	case SPF_NONE:
		fail(e, SPF_PERMERROR, "include target has no SPF record");
		/* FALLTHROUGH */
	default:
		*out = SPF_PERMERROR;
		return -1;
	}
}

/* evaluate - the parsed terms of domain's record */
static enum spf_result
evaluate(struct eval *e, const char *domain, const struct term *t, int nt,
	 int depth)
{
	char name[SPF_EXPAND_MAX + 1];
	const struct term *redirect = NULL;
	enum spf_result res;
	int i, m;

	for (i = 0; i < nt; i++) {
		m = 0;
		switch (t[i].m) {
		case M_REDIRECT:
			redirect = &t[i];
			continue;
		case M_EXP:
		case M_UNKNOWN_MOD:
			continue;
		case M_ALL:
			m = 1;
			break;
		case M_IP4:
		case M_IP6:
			m = in_net(&e->req->ip, &t[i].net, t[i].m == M_IP4 ?
			    (t[i].cidr4 >= 0 ? t[i].cidr4 : 32) :
			    (t[i].cidr6 >= 0 ? t[i].cidr6 : 128));
			break;
		default:
			if (count_term(e) != 0)
				return fail(e, SPF_PERMERROR,
				    "more than 10 DNS-querying terms (at %s)", domain);
			if (target(e, &t[i], domain, name, sizeof(name)) != 0)
				return fail(e, SPF_PERMERROR,
				    "a term of %s expands to no host name", domain);
			switch (t[i].m) {
			case M_INCLUDE:
				res = check(e, name, depth + 1);
				if ((m = include_match(e, res, &res)) < 0)
					return res;
				break;
			case M_A:
				m = addr_match(e, name, &t[i], 1);
				break;
			case M_MX:
				m = mx_match(e, name, &t[i]);
				break;
			case M_PTR:
				m = ptr_match(e, name);
				break;
			case M_EXISTS:
				switch (ask(e, name, SPF_Q_A)) {
				case SPF_DNS_OK:	m = 1; break;
				case SPF_DNS_VOID:	m = count_void(e) != 0 ? -2 : 0; break;
				default:		m = -1; break;
				}
				break;
			default:
				break;
			}
			if (m == -1)
				return fail(e, SPF_TEMPERROR, "DNS look-up failed for %s", name);
			if (m == -2)
				return fail(e, SPF_PERMERROR,
				    "too many void look-ups or exchanges (at %s)", name);
			break;
		}
		if (m == 1)
			return qual_result(t[i].qual);
	}
	if (redirect == NULL)
		return SPF_NEUTRAL;
	if (count_term(e) != 0)
		return fail(e, SPF_PERMERROR, "more than 10 DNS-querying terms (at %s)", domain);
	if (target(e, redirect, domain, name, sizeof(name)) != 0)
		return fail(e, SPF_PERMERROR, "redirect of %s expands to no host name", domain);
	res = check(e, name, depth + 1);
	if (res == SPF_NONE)
		return fail(e, SPF_PERMERROR, "redirect target %s has no SPF record", name);
	return res;
}

/* check - check_host() for one domain: find, parse, evaluate its record */
static enum spf_result
check(struct eval *e, const char *domain, int depth)
{
	struct term *t;
	enum spf_result res;
	char *rec, *p, *end;
	int nt = 0, redirects = 0, exps = 0;

	if (depth > SPF_TERMS_MAX + 1)	/* the term limit stops loops first */
		return fail(e, SPF_PERMERROR, "nesting too deep at %s", domain);
	if (!name_ok(domain))
		return fail(e, SPF_NONE, "%s is not a domain name", domain);
	if ((res = record(e, domain, &rec)) != SPF_PASS)
		return res;
	if (rec == NULL)	/* record() sets it with SPF_PASS; the analyser cannot see through fail() */
		return fail(e, SPF_TEMPERROR, "no record text for %s", domain);
	if ((t = calloc(SPF_TERM_COUNT_MAX, sizeof(*t))) == NULL) {
		free(rec);
		return fail(e, SPF_TEMPERROR, "out of memory");
	}
	p = rec + 6;
	res = SPF_PASS;
	for (;;) {
		while (*p == ' ')
			p++;
		if (*p == '\0')
			break;
		for (end = p; *end != '\0' && *end != ' '; end++)
			;
		if (nt == SPF_TERM_COUNT_MAX) {
			res = fail(e, SPF_PERMERROR, "too many terms at %s", domain);
			break;
		}
		if (parse_term(e, p, (size_t)(end - p), &t[nt]) != 0) {
			res = fail(e, SPF_PERMERROR, "syntax error in the record of %s", domain);
			break;
		}
		if ((t[nt].m == M_REDIRECT && ++redirects > 1) ||
		    (t[nt].m == M_EXP && ++exps > 1)) {
			res = fail(e, SPF_PERMERROR, "modifier twice in the record of %s", domain);
			break;
		}
		nt++;
		p = end;
	}
	if (res == SPF_PASS)
		res = evaluate(e, domain, t, nt, depth);
	free(t);
	free(rec);
	return res;
}

void
spf_ip_unmap(struct spf_ip *ip)
{
	static const unsigned char mapped[12] = { 0,0,0,0, 0,0,0,0, 0,0,0xff,0xff };

	if (ip->af == AF_INET6 && memcmp(ip->a, mapped, 12) == 0) {
		memmove(ip->a, ip->a + 12, 4);
		memset(ip->a + 4, 0, 12);
		ip->af = AF_INET;
	}
}

int
spf_ip_from_sockaddr(const struct sockaddr *sa, struct spf_ip *ip)
{
	memset(ip, 0, sizeof(*ip));
	if (sa->sa_family == AF_INET) {
		ip->af = AF_INET;
		memcpy(ip->a, &((const struct sockaddr_in *)sa)->sin_addr, 4);
	} else if (sa->sa_family == AF_INET6) {
		ip->af = AF_INET6;
		memcpy(ip->a, ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr, 16);
		spf_ip_unmap(ip);
	} else
		return 0;
	return 1;
}

enum spf_result
spf_check(const struct spf_resolver *r, const struct spf_req *req,
	  struct spf_out *out)
{
	struct spf_req rq = *req;
	struct eval e;
	const char *at;
	char domain[SPF_NAME_MAX + 2];

	memset(out, 0, sizeof(*out));
	/* an IPv4-mapped IPv6 client is the IPv4 client (RFC 7208 5) */
	spf_ip_unmap(&rq.ip);
	memset(&e, 0, sizeof(e));
	e.r = r;
	e.req = &rq;
	e.out = out;
	if (rq.sender == NULL || (at = strrchr(rq.sender, '@')) == NULL ||
	    (size_t)snprintf(domain, sizeof(domain), "%s", at + 1) >= sizeof(domain)) {
		out->result = fail(&e, SPF_NONE, "no sender domain");
		return out->result;
	}
	lower(domain);
	e.local = rq.sender;
	e.local_len = (size_t)(at - rq.sender);
	if (e.local_len == 0) {
		e.local = "postmaster";
		e.local_len = 10;
	}
	e.sdomain = at + 1;
	if ((e.ans = malloc(sizeof(*e.ans))) == NULL) {
		out->result = fail(&e, SPF_TEMPERROR, "out of memory");
		return out->result;
	}
	out->result = check(&e, domain, 0);
	free(e.ans);
	return out->result;
}
