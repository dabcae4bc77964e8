/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * check_addr - table tests for probe/core/addr.c.
 *
 * Each parse row gives the input with an explicit length (so NUL can
 * be embedded), the expected status, the expected wire local part and
 * domain, the flags, and optionally the reason, the literal and the
 * display (UTF-8) domain. On failure addr_parse() clears *out, so the
 * rows for refused input expect empty parts and no flags.
 *
 * Length boundaries are built at run time in a second
 * table; addr_format, addr_cache_key and addr_random_local have their
 * own test cases.
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"

#define F_QUOTED	0x01
#define F_UTF8		0x02
#define F_ROUTE		0x04
#define F_LIT		0x08
#define F_LONG		0x10

struct pcase {
	const char	*in;
	size_t		 len;
	enum addr_status st;
	const char	*local;		/* wire form */
	const char	*domain;
	int		 flags;
	const char	*why;		/* NULL: not checked */
	const char	*literal;	/* NULL: want "" */
	const char	*dutf8;		/* NULL: want "" */
};

#define S(x)	x, sizeof(x) - 1
/* refused or null: no parts, no flags */
#define BAD(in, st, why)	{ S(in), st, "", "", 0, why, NULL, NULL }
#define OKR(in, l, d, fl)	{ S(in), ADDR_OK, l, d, fl, "ok", NULL, NULL }
#define NUL_(in)		{ S(in), ADDR_NULL, "", "", 0, "null sender", NULL, NULL }
#define LIT(in, d, ip)		{ S(in), ADDR_OK, "u", d, F_LIT, "ok", ip, NULL }
#define IDN(in, l, d, du, fl)	{ S(in), ADDR_OK, l, d, fl, "ok", NULL, du }

static const struct pcase pcases[] = {
	/* null sender and empty input */
	NUL_(""),
	NUL_("<>"),
	NUL_(" <>"),
	NUL_("<> "),
	NUL_("< >"),
	NUL_("   "),
	NUL_("<> (bounce)"),

	/* plain forms, case kept in the local part, domain lowered */
	OKR("<u@example.test>", "u", "example.test", 0),
	OKR("u@example.test", "u", "example.test", 0),
	OKR("  <u@example.test>  ", "u", "example.test", 0),
	OKR("< u@example.test >", "u", "example.test", 0),
	OKR("<John.Doe@Example.TEST>", "John.Doe", "example.test", 0),
	OKR("Postmaster@EXAMPLE.test", "Postmaster", "example.test", 0),
	OKR("u@Example.TEST.", "u", "example.test", 0),
	OKR("a+tag@example.test", "a+tag", "example.test", 0),
	OKR("!#$%&'*+-/=?^_`{|}~@example.test", "!#$%&'*+-/=?^_`{|}~",
	    "example.test", 0),
	/* invalid dot-atoms are probed as given */
	OKR("a..b@example.test", "a..b", "example.test", 0),
	OKR(".a@example.test", ".a", "example.test", 0),
	OKR("a.@example.test", "a.", "example.test", 0),
	/* a leading '-' is only a character here */
	OKR("-oQ@example.test", "-oQ", "example.test", 0),
	OKR("--help@example.test", "--help", "example.test", 0),
	/* no special-casing of .test, .example, localhost */
	OKR("u@localhost", "u", "localhost", 0),
	OKR("u@invalid.example", "u", "invalid.example", 0),
	OKR("u@a_b.example.test", "u", "a_b.example.test", 0),
	OKR("u@ab--cd.test", "u", "ab--cd.test", 0),
	OKR("u@1.2.3.example", "u", "1.2.3.example", 0),

	/* unqualified */
	{ S("<postmaster>"), ADDR_NO_DOMAIN, "postmaster", "", 0, "no domain", NULL, NULL },
	{ S("Postmaster"), ADDR_NO_DOMAIN, "Postmaster", "", 0, "no domain", NULL, NULL },
	{ S("\"post master\""), ADDR_NO_DOMAIN, "\"post master\"", "", F_QUOTED, "no domain", NULL, NULL },

	/* source routes: dropped, never kept */
	OKR("<@a.test,@b.test:u@c.test>", "u", "c.test", F_ROUTE),
	OKR("<@a.test:u@c.test>", "u", "c.test", F_ROUTE),
	OKR("@a.test:u@c.test", "u", "c.test", F_ROUTE),
	OKR("<@[192.0.2.1]:u@c.test>", "u", "c.test", F_ROUTE),
	OKR("<@a.test,@b.test:\"x y\"@c.test>", "\"x y\"", "c.test",
	    F_ROUTE | F_QUOTED),
	BAD("<@a.test,b.test:u@c.test>", ADDR_BAD_SYNTAX, "bad source route"),
	BAD("<@:u@c.test>", ADDR_BAD_SYNTAX, "bad source route"),
	BAD("<@a.test;u@c.test>", ADDR_BAD_SYNTAX, "bad source route"),
	BAD("<@a.test:>", ADDR_BAD_SYNTAX, "empty local part"),

	/* quoted local parts */
	OKR("\"john doe\"@example.test", "\"john doe\"", "example.test", F_QUOTED),
	OKR("<\"a@b\"@example.test>", "\"a@b\"", "example.test", F_QUOTED),
	OKR("\"a@b\"@example.test", "\"a@b\"", "example.test", F_QUOTED),
	OKR("\"a>b\"@example.test", "\"a>b\"", "example.test", F_QUOTED),
	OKR("<\"a>b\"@example.test>", "\"a>b\"", "example.test", F_QUOTED),
	OKR("\"a<b\"@example.test", "\"a<b\"", "example.test", F_QUOTED),
	OKR("\"a\\\"b\"@example.test", "\"a\\\"b\"", "example.test", F_QUOTED),
	OKR("\"a\\\\b\"@example.test", "\"a\\\\b\"", "example.test", F_QUOTED),
	OKR("\"a(b)c\"@example.test", "\"a(b)c\"", "example.test", F_QUOTED),
	OKR("\"John\"@example.test", "John", "example.test", 0),
	OKR("\"j\\ohn\"@example.test", "john", "example.test", 0),
	OKR("\"a.b\"@example.test", "a.b", "example.test", 0),
	OKR("\"a..b\"@example.test", "\"a..b\"", "example.test", F_QUOTED),
	OKR("\"\\ \"@example.test", "\" \"", "example.test", F_QUOTED),
	BAD("\"\"@example.test", ADDR_BAD_SYNTAX, "empty local part"),
	BAD("\"abc@example.test", ADDR_BAD_SYNTAX, "unbalanced quote"),
	BAD("\"a b\\\"@example.test", ADDR_BAD_SYNTAX, "unbalanced quote"),
	BAD("\"a\"b@example.test", ADDR_BAD_SYNTAX, "text after quoted string"),
	BAD("\"a\".\"b\"@example.test", ADDR_BAD_SYNTAX, "text after quoted string"),
	BAD("a\"b\"@example.test", ADDR_BAD_SYNTAX, "special character in local part"),
	BAD("\"a\\\xc3\xa9\"@example.test", ADDR_BAD_SYNTAX, "bad quoted pair"),

	/* display names and comments */
	OKR("Name <u@example.test>", "u", "example.test", 0),
	OKR("\"Quoted Name\" <u@example.test>", "u", "example.test", 0),
	OKR("\"Q <x@y.test>\" <u@example.test>", "u", "example.test", 0),
	OKR("John Q. Public <JQP@example.test>", "JQP", "example.test", 0),
	OKR("J\xc3\xb6rg <u@example.test>", "u", "example.test", 0),
	OKR("Name(c)<u@example.test>", "u", "example.test", 0),
	OKR("Name (x\"y) <u@example.test>", "u", "example.test", 0),
	OKR("u@example.test (comment)", "u", "example.test", 0),
	OKR("u@example.test(comment)", "u", "example.test", 0),
	OKR("(lead) u@example.test", "u", "example.test", 0),
	OKR("<u@example.test> (a (nested) \\) comment)", "u", "example.test", 0),
	BAD("u@example.test (unbalanced", ADDR_BAD_SYNTAX, "unbalanced parenthesis"),
	BAD("u@example.test )", ADDR_BAD_SYNTAX, "unbalanced parenthesis"),
	BAD("u(c)@example.test", ADDR_BAD_SYNTAX, "trailing text"),
	BAD("Name <u@example.test> trailing", ADDR_BAD_SYNTAX, "trailing text"),
	BAD("a@b.test <c@d.test>", ADDR_BAD_SYNTAX, "trailing text"),
	BAD("(only a comment)", ADDR_BAD_SYNTAX, "empty address"),
	BAD("<u@example.test (c)>", ADDR_BAD_SYNTAX, "special character in domain"),

	/* unbalanced brackets, stray @ */
	BAD("<a@b.test>>", ADDR_BAD_SYNTAX, "unbalanced angle bracket"),
	BAD("<a@b.test", ADDR_BAD_SYNTAX, "unbalanced angle bracket"),
	BAD("a@b.test>", ADDR_BAD_SYNTAX, "unbalanced angle bracket"),
	BAD("<<a@b.test>>", ADDR_BAD_SYNTAX, NULL),
	BAD("<a@b.test><c@d.test>", ADDR_BAD_SYNTAX, "unbalanced angle bracket"),
	BAD("a@b@c", ADDR_BAD_SYNTAX, "extra @"),
	BAD("<a@b@c.test>", ADDR_BAD_SYNTAX, "extra @"),
	BAD("@example.test", ADDR_BAD_SYNTAX, "empty local part"),
	BAD("<@example.test>", ADDR_BAD_SYNTAX, "empty local part"),
	BAD("u@", ADDR_BAD_SYNTAX, "empty domain"),
	BAD("u@[192.0.2.1", ADDR_BAD_SYNTAX, "unbalanced square bracket"),
	BAD("u@[192.0.2.1].test", ADDR_BAD_SYNTAX, "trailing text"),

	/* unquoted specials */
	BAD("a b@example.test", ADDR_BAD_SYNTAX, "trailing text"),
	BAD("<a b@example.test>", ADDR_BAD_SYNTAX, "special character in local part"),
	BAD("a,b@example.test", ADDR_BAD_SYNTAX, "special character in local part"),
	BAD("a:b@example.test", ADDR_BAD_SYNTAX, "special character in local part"),
	BAD("a;b@example.test", ADDR_BAD_SYNTAX, "special character in local part"),
	BAD("a\\b@example.test", ADDR_BAD_SYNTAX, "special character in local part"),
	BAD("<a[b@example.test>", ADDR_BAD_SYNTAX, "special character in local part"),
	BAD("<a<b@example.test>", ADDR_BAD_SYNTAX, "special character in local part"),
	BAD("u@exa,mple.test", ADDR_BAD_SYNTAX, "special character in domain"),

	/* control characters anywhere, inside quotes too */
	BAD("u@example.test\n", ADDR_BAD_SYNTAX, "control character"),
	BAD("u@exam\rple.test", ADDR_BAD_SYNTAX, "control character"),
	BAD("u\x7f@example.test", ADDR_BAD_SYNTAX, "control character"),
	BAD("u\t@example.test", ADDR_BAD_SYNTAX, "control character"),
	BAD("\"a\tb\"@example.test", ADDR_BAD_SYNTAX, "control character"),
	BAD("u@example.test\0evil.test", ADDR_BAD_SYNTAX, "control character"),
	BAD("\"a\0b\"@example.test", ADDR_BAD_SYNTAX, "control character"),
	BAD("\0", ADDR_BAD_SYNTAX, "control character"),
	BAD("u\x1b[31m@example.test", ADDR_BAD_SYNTAX, "control character"),
	BAD("u\xc2\x85@example.test", ADDR_BAD_SYNTAX, "control character"),
	BAD("Na\nme <u@example.test>", ADDR_BAD_SYNTAX, "control character"),
	BAD("u@example.test (c\r\n)", ADDR_BAD_SYNTAX, "control character"),
	BAD("a@b>\r\nRCPT TO:<x@y>\r\nDATA", ADDR_BAD_SYNTAX, "control character"),
	BAD("\"a\r\nRSET\"@d", ADDR_BAD_SYNTAX, "control character"),
	BAD("<a@b.test>\r\nRSET", ADDR_BAD_SYNTAX, "control character"),
	BAD("a@b.test\nMAIL FROM:<>", ADDR_BAD_SYNTAX, "control character"),

	/* 8-bit: only well-formed UTF-8 */
	BAD("j\xf6rg@example.test", ADDR_BAD_SYNTAX, "invalid utf-8"),
	BAD("u@\xff.test", ADDR_BAD_SYNTAX, "invalid utf-8"),
	BAD("\xc0\xaf@example.test", ADDR_BAD_SYNTAX, "invalid utf-8"),
	BAD("\xe0\x80\xaf@example.test", ADDR_BAD_SYNTAX, "invalid utf-8"),
	BAD("\xed\xa0\x80@example.test", ADDR_BAD_SYNTAX, "invalid utf-8"),
	BAD("\xf4\x90\x80\x80@example.test", ADDR_BAD_SYNTAX, "invalid utf-8"),
	BAD("u@example.test\xc3", ADDR_BAD_SYNTAX, "invalid utf-8"),
	BAD("\"j\xe9\"@example.test", ADDR_BAD_SYNTAX, "invalid utf-8"),
	OKR("j\xc3\xb6rg@example.test", "j\xc3\xb6rg", "example.test", F_UTF8),
	OKR("\xe7\x94\xa8\xe6\x88\xb7@example.test", "\xe7\x94\xa8\xe6\x88\xb7",
	    "example.test", F_UTF8),
	OKR("\"j\xc3\xb6rg doe\"@example.test", "\"j\xc3\xb6rg doe\"",
	    "example.test", F_UTF8 | F_QUOTED),
	OKR("\"j\xc3\xb6rg\"@example.test", "j\xc3\xb6rg", "example.test", F_UTF8),
	OKR("\xf0\x9f\x98\x80@example.test", "\xf0\x9f\x98\x80", "example.test", F_UTF8),

	/* domains: trailing dot, labels, LDH, .invalid */
	OKR("u@example.test.", "u", "example.test", 0),
	BAD("u@example.test..", ADDR_BAD_DOMAIN, "empty label"),
	BAD("u@.example.test", ADDR_BAD_DOMAIN, "empty label"),
	BAD("u@a..b.test", ADDR_BAD_DOMAIN, "empty label"),
	BAD("u@.", ADDR_BAD_DOMAIN, "empty label"),
	BAD("u@-a.test", ADDR_BAD_DOMAIN, "misplaced hyphen"),
	BAD("u@a-.test", ADDR_BAD_DOMAIN, "misplaced hyphen"),
	BAD("u@a!b.test", ADDR_BAD_DOMAIN, "bad domain character"),
	BAD("u@a/b.test", ADDR_BAD_DOMAIN, "bad domain character"),
	BAD("u@192.0.2.1", ADDR_BAD_DOMAIN, "numeric top-level label"),
	BAD("u@example.invalid", ADDR_BAD_DOMAIN, "reserved .invalid"),
	BAD("u@invalid", ADDR_BAD_DOMAIN, "reserved .invalid"),
	BAD("<u@EXAMPLE.INVALID.>", ADDR_BAD_DOMAIN, "reserved .invalid"),

	/* IDN: non-transitional, ß and ς kept */
	IDN("u@stra\xc3\x9f" "e.test", "u", "xn--strae-oqa.test",
	    "stra\xc3\x9f" "e.test", 0),
	IDN("u@STRA\xc3\x9f" "E.TEST.", "u", "xn--strae-oqa.test",
	    "stra\xc3\x9f" "e.test", 0),
	IDN("u@\xcf\x82" "a.test", "u", "xn--a-xmb.test", "\xcf\x82" "a.test", 0),
	IDN("u@\xcf\x83" "a.test", "u", "xn--a-zmb.test", "\xcf\x83" "a.test", 0),
	IDN("j\xc3\xb6rg@b\xc3\xbc" "cher.test", "j\xc3\xb6rg", "xn--bcher-kva.test",
	    "b\xc3\xbc" "cher.test", F_UTF8),
	IDN("u@a\xe3\x80\x82" "test", "u", "a.test", "a\xe3\x80\x82" "test", 0),
	OKR("u@xn--strae-oqa.test", "u", "xn--strae-oqa.test", 0),
	OKR("u@XN--STRAE-OQA.TEST", "u", "xn--strae-oqa.test", 0),
	BAD("u@xn--zz.test", ADDR_BAD_DOMAIN, "bad IDN"),
	BAD("u@xn--a.test", ADDR_BAD_DOMAIN, "bad IDN"),
	BAD("u@\xe2\x98\x83.test", ADDR_BAD_DOMAIN, "bad IDN"),
	BAD("u@a\xe2\x80\x8d" "b.test", ADDR_BAD_DOMAIN, "bad IDN"),

	/* address literals */
	LIT("u@[192.0.2.1]", "[192.0.2.1]", "192.0.2.1"),
	LIT("<u@[IPv6:2001:db8::1]>", "[IPv6:2001:db8::1]", "2001:db8::1"),
	LIT("u@[ipv6:2001:DB8:0:0:0:0:0:1]", "[IPv6:2001:db8::1]", "2001:db8::1"),
	LIT("u@[IPv6:::ffff:127.0.0.1]", "[IPv6:::ffff:127.0.0.1]",
	    "::ffff:127.0.0.1"),
	BAD("u@[192.0.2.256]", ADDR_BAD_DOMAIN, "bad address literal"),
	BAD("u@[192.0.2.01]", ADDR_BAD_DOMAIN, "bad address literal"),
	BAD("u@[192.0.2]", ADDR_BAD_DOMAIN, "bad address literal"),
	BAD("u@[2001:db8::1]", ADDR_BAD_DOMAIN, "bad address literal"),
	BAD("u@[IPv6:192.0.2.1]", ADDR_BAD_DOMAIN, "bad address literal"),
	BAD("u@[x-tag:foo]", ADDR_BAD_DOMAIN, "bad address literal"),
	BAD("u@[IPv6:fe80::1%eth0]", ADDR_BAD_DOMAIN, "bad address literal"),
	BAD("u@[]", ADDR_BAD_DOMAIN, "bad address literal"),
	BAD("u@[IPv6:]", ADDR_BAD_DOMAIN, "bad address literal"),
};

#define NPCASES	((int)(sizeof(pcases) / sizeof(pcases[0])))

static const char *
nz(const char *s)
{
	return s != NULL ? s : "";
}

static int
flags_of(const struct addr *a)
{
	return (a->quoted ? F_QUOTED : 0) | (a->utf8_local ? F_UTF8 : 0) |
	    (a->had_route ? F_ROUTE : 0) | (a->is_literal ? F_LIT : 0) |
	    (a->long_local ? F_LONG : 0);
}

START_TEST(test_parse)
{
	const struct pcase *c = &pcases[_i];
	struct addr a;
	const char *why = NULL;
	enum addr_status st;
	char *in;

	/* a private copy with no terminator: a read past len shows in ASan */
	in = malloc(c->len > 0 ? c->len : 1);
	ck_assert_ptr_nonnull(in);
	memcpy(in, c->in, c->len);
	memset(&a, 0x5a, sizeof(a));
	st = addr_parse(in, c->len, &a, &why);
	free(in);

	ck_assert_msg(st == c->st, "case %d: status: got %s, want %s (%s)",
	    _i, addr_status_str(st), addr_status_str(c->st), nz(why));
	ck_assert_msg(why != NULL, "case %d: why is NULL", _i);
	if (c->why != NULL)
		ck_assert_msg(strcmp(why, c->why) == 0,
		    "case %d: why: got \"%s\", want \"%s\"", _i, why, c->why);
	ck_assert_msg(strcmp(a.local, c->local) == 0,
	    "case %d: local: got [%s], want [%s]", _i, a.local, c->local);
	ck_assert_msg(strcmp(a.domain, c->domain) == 0,
	    "case %d: domain: got [%s], want [%s]", _i, a.domain, c->domain);
	ck_assert_msg(flags_of(&a) == c->flags,
	    "case %d: flags: got %#x, want %#x", _i, flags_of(&a), c->flags);
	ck_assert_msg(strcmp(a.literal, nz(c->literal)) == 0,
	    "case %d: literal: got [%s], want [%s]", _i, a.literal, nz(c->literal));
	ck_assert_msg(strcmp(a.domain_utf8, nz(c->dutf8)) == 0,
	    "case %d: domain_utf8: got [%s], want [%s]", _i, a.domain_utf8,
	    nz(c->dutf8));
}
END_TEST

/* why may be NULL; in need not be terminated */
START_TEST(test_parse_no_why)
{
	struct addr a;

	ck_assert_int_eq(addr_parse("u@example.test", 14, &a, NULL), ADDR_OK);
	ck_assert_int_eq(addr_parse("u@example.testXXXX", 14, &a, NULL), ADDR_OK);
	ck_assert_str_eq(a.domain, "example.test");
	ck_assert_int_eq(addr_parse("a\r\n", 3, &a, NULL), ADDR_BAD_SYNTAX);
	ck_assert_int_eq(addr_parse(NULL, 0, &a, NULL), ADDR_NULL);
	/* the length given wins over an embedded terminator */
	ck_assert_int_eq(addr_parse("u@d.test\0", 9, &a, NULL), ADDR_BAD_SYNTAX);
	ck_assert_int_eq(addr_parse("u@d.test\0", 8, &a, NULL), ADDR_OK);
}
END_TEST

/*
 * Length boundaries. The local part is llen copies of 'a'
 * (or a quoted string of qlen chars with a space, wire length
 * qlen + 2); the domain is a dotted run of 'b' labels of at most
 * label_max octets ending in ".test", dlen octets in all, or a single
 * label of label_len octets plus ".test" when label_len > 0.
 */
struct lcase {
	const char	*name;
	size_t		 llen;		/* unquoted local part length */
	size_t		 qlen;		/* quoted content length (space inside) */
	size_t		 dlen;		/* domain length, 0: use label_len */
	size_t		 label_len;
	int		 trailing_dot;
	int		 bracket;
	int		 display_pad;	/* pad with a display name to this input length */
	enum addr_status st;
	int		 flags;
	const char	*why;
};

static const struct lcase lcases[] = {
	{ "local 64", 64, 0, 20, 0, 0, 1, 0, ADDR_OK, 0, "ok" },
	{ "local 65", 65, 0, 20, 0, 0, 1, 0, ADDR_OK, F_LONG, "ok" },
	{ "local 200", 200, 0, 20, 0, 0, 0, 0, ADDR_OK, F_LONG, "ok" },
	{ "local 255", 255, 0, 20, 0, 0, 1, 0, ADDR_OK, F_LONG, "ok" },
	{ "local 256", 256, 0, 20, 0, 0, 1, 0, ADDR_TOO_LONG, 0, "local part too long" },
	{ "local 256 no domain", 256, 0, 0, 0, 0, 1, 0, ADDR_TOO_LONG, 0, "local part too long" },
	{ "local 64 no domain", 64, 0, 0, 0, 0, 1, 0, ADDR_NO_DOMAIN, 0, "no domain" },
	{ "quoted wire 64", 0, 62, 20, 0, 0, 1, 0, ADDR_OK, F_QUOTED, "ok" },
	{ "quoted wire 65", 0, 63, 20, 0, 0, 1, 0, ADDR_OK, F_QUOTED | F_LONG, "ok" },
	{ "quoted wire 255", 0, 253, 20, 0, 0, 1, 0, ADDR_OK, F_QUOTED | F_LONG, "ok" },
	{ "quoted wire 256", 0, 254, 20, 0, 0, 1, 0, ADDR_TOO_LONG, 0, "local part too long" },
	{ "label 63", 1, 0, 0, 63, 0, 1, 0, ADDR_OK, 0, "ok" },
	{ "label 64", 1, 0, 0, 64, 0, 1, 0, ADDR_BAD_DOMAIN, 0, "label too long" },
	{ "domain 255", 1, 0, 255, 0, 0, 1, 0, ADDR_OK, 0, "ok" },
	{ "domain 255 + dot", 1, 0, 255, 0, 1, 1, 0, ADDR_OK, 0, "ok" },
	{ "domain 256", 1, 0, 256, 0, 0, 1, 0, ADDR_BAD_DOMAIN, 0, "domain too long" },
	{ "domain 256 long local", 250, 0, 256, 0, 0, 1, 0, ADDR_BAD_DOMAIN, 0, "domain too long" },
	/* path "<" local "@" domain ">": 256 and 257 octets, both probed */
	{ "path 256", 64, 0, 189, 0, 0, 1, 0, ADDR_OK, 0, "ok" },
	{ "path 257", 64, 0, 190, 0, 0, 1, 0, ADDR_OK, 0, "ok" },
	/* "RCPT TO:<" local "@" domain ">\r\n": 13 + llen + dlen */
	{ "line 512", 255, 0, 244, 0, 0, 1, 0, ADDR_OK, F_LONG, "ok" },
	{ "line 513", 255, 0, 245, 0, 0, 1, 0, ADDR_TOO_LONG, 0, "command line too long" },
	{ "line 512 quoted", 0, 253, 244, 0, 0, 1, 0, ADDR_OK, F_QUOTED | F_LONG, "ok" },
	{ "line 513 quoted", 0, 253, 245, 0, 0, 1, 0, ADDR_TOO_LONG, 0, "command line too long" },
	/* whole input: ADDR_INPUT_MAX accepted, one more refused */
	{ "input 1024", 1, 0, 20, 0, 0, 1, ADDR_INPUT_MAX, ADDR_OK, 0, "ok" },
	{ "input 1025", 1, 0, 20, 0, 0, 1, ADDR_INPUT_MAX + 1, ADDR_TOO_LONG, 0, "input too long" },
};

#define NLCASES	((int)(sizeof(lcases) / sizeof(lcases[0])))

/* make_domain - n octets: "bbb...b.bbb...b.test", labels <= 63 */
static void
make_domain(char *buf, size_t n)
{
	size_t rem = n - 4, l, off = 0;	/* room for "label." runs before "test" */

	while (rem > 0) {
		l = rem > 64 ? 63 : rem - 1;
		if (rem - (l + 1) == 1)
			l--;		/* never leave a 1-octet gap: no room for a label */
		memset(buf + off, 'b', l);
		buf[off + l] = '.';
		off += l + 1;
		rem -= l + 1;
	}
	memcpy(buf + off, "test", 5);
}

START_TEST(test_lengths)
{
	const struct lcase *c = &lcases[_i];
	char local[600], domain[600], in[2 * ADDR_INPUT_MAX], want_dom[600];
	size_t n = 0, k;
	struct addr a;
	const char *why = NULL;
	enum addr_status st;

	if (c->qlen > 0) {
		local[0] = '"';
		memset(local + 1, 'q', c->qlen);
		local[1 + c->qlen / 2] = ' ';
		local[c->qlen + 1] = '"';
		local[c->qlen + 2] = '\0';
	} else {
		memset(local, 'a', c->llen);
		local[c->llen] = '\0';
	}
	domain[0] = '\0';
	if (c->label_len > 0) {
		memset(domain, 'c', c->label_len);
		memcpy(domain + c->label_len, ".test", 6);
	} else if (c->dlen > 0)
		make_domain(domain, c->dlen);
	ck_assert_uint_eq(strlen(domain), c->dlen > 0 ? c->dlen :
	    c->label_len > 0 ? c->label_len + 5 : 0);
	memcpy(want_dom, domain, strlen(domain) + 1);

	if (c->display_pad > 0) {
		/* "\"xxx...\" <local@domain>" padded to display_pad octets */
		k = 3 + strlen(local) + (domain[0] ? 1 : 0) + strlen(domain) +
		    (c->trailing_dot ? 1 : 0) + (c->bracket ? 2 : 0);
		ck_assert_uint_gt((size_t)c->display_pad, k);
		in[n++] = '"';
		memset(in + n, 'x', c->display_pad - k);
		n += c->display_pad - k;
		in[n++] = '"';
		in[n++] = ' ';
	}
	if (c->bracket)
		in[n++] = '<';
	n += (size_t)snprintf(in + n, sizeof(in) - n, "%s%s%s%s", local,
	    domain[0] ? "@" : "", domain, c->trailing_dot ? "." : "");
	if (c->bracket)
		in[n++] = '>';
	if (c->display_pad > 0)
		ck_assert_uint_eq(n, (size_t)c->display_pad);

	st = addr_parse(in, n, &a, &why);
	ck_assert_msg(st == c->st, "%s: status: got %s, want %s (%s)", c->name,
	    addr_status_str(st), addr_status_str(c->st), why);
	ck_assert_msg(strcmp(why, c->why) == 0, "%s: why: got \"%s\", want \"%s\"",
	    c->name, why, c->why);
	ck_assert_msg(flags_of(&a) == c->flags, "%s: flags: got %#x, want %#x",
	    c->name, flags_of(&a), c->flags);
	if (st == ADDR_OK || st == ADDR_NO_DOMAIN) {
		/* never truncated: the wire form is exactly what was given */
		ck_assert_msg(strcmp(a.local, local) == 0, "%s: local: got %zu octets, want %zu",
		    c->name, strlen(a.local), strlen(local));
		ck_assert_msg(strcmp(a.domain, st == ADDR_OK ? want_dom : "") == 0,
		    "%s: domain: got %zu octets [%s]", c->name, strlen(a.domain), a.domain);
	} else {
		ck_assert_str_eq(a.local, "");
		ck_assert_str_eq(a.domain, "");
	}
}
END_TEST

/* addr_format / addr_cache_key over parsed input */
struct fcase {
	const char	*in;
	const char	*fmt;
	const char	*key;
};

static const struct fcase fcases[] = {
	{ "<John.Doe@Example.TEST.>", "John.Doe@example.test", "a:John.Doe@example.test" },
	{ "<@a.test,@b.test:u@c.test>", "u@c.test", "a:u@c.test" },
	{ "\"john doe\"@Example.test", "\"john doe\"@example.test", "a:\"john doe\"@example.test" },
	{ "\"a\\\"b\"@d.test", "\"a\\\"b\"@d.test", "a:\"a\\\"b\"@d.test" },
	{ "\"John\"@d.test", "John@d.test", "a:John@d.test" },
	{ "u@stra\xc3\x9f" "e.test", "u@xn--strae-oqa.test", "a:u@xn--strae-oqa.test" },
	{ "u@[IPv6:2001:DB8::1]", "u@[IPv6:2001:db8::1]", "a:u@[IPv6:2001:db8::1]" },
	{ "Name <u@d.test> (c)", "u@d.test", "a:u@d.test" },
	{ "<postmaster>", "postmaster", "a:postmaster" },
	{ "<>", "", "a:" },
};

#define NFCASES	((int)(sizeof(fcases) / sizeof(fcases[0])))

START_TEST(test_format)
{
	const struct fcase *c = &fcases[_i];
	struct addr a;
	char buf[600];
	int n;

	addr_parse(c->in, strlen(c->in), &a, NULL);
	n = addr_format(&a, buf, sizeof(buf));
	ck_assert_msg(n >= 0 && strcmp(buf, c->fmt) == 0,
	    "format %s: got [%s] (%d), want [%s]", c->in, buf, n, c->fmt);
	ck_assert_int_eq(n, (int)strlen(c->fmt));
	n = addr_cache_key(&a, buf, sizeof(buf));
	ck_assert_msg(n >= 0 && strcmp(buf, c->key) == 0,
	    "key %s: got [%s] (%d), want [%s]", c->in, buf, n, c->key);
	ck_assert_int_eq(n, (int)strlen(c->key));

	/* exact fit works, one byte less is -1 and an empty string */
	n = addr_format(&a, buf, strlen(c->fmt) + 1);
	ck_assert_int_eq(n, (int)strlen(c->fmt));
	memcpy(buf, "untouched", 10);
	n = addr_format(&a, buf, strlen(c->fmt));
	ck_assert_int_eq(n, -1);
	ck_assert_str_eq(buf, strlen(c->fmt) > 0 ? "" : "untouched");
	n = addr_cache_key(&a, buf, strlen(c->key));
	ck_assert_int_eq(n, -1);
	ck_assert_str_eq(buf, "");
}
END_TEST

/* a long local part formats in full */
START_TEST(test_format_long)
{
	char in[300], buf[600];
	struct addr a;

	memset(in, 'L', 255);
	memcpy(in + 255, "@d.test", 8);
	ck_assert_int_eq(addr_parse(in, strlen(in), &a, NULL), ADDR_OK);
	ck_assert_int_eq(addr_format(&a, buf, sizeof(buf)), 262);
	ck_assert_str_eq(buf, in);
	ck_assert_int_eq(addr_cache_key(&a, buf, sizeof(buf)), 264);
	ck_assert_int_eq(strncmp(buf, "a:", 2), 0);
	ck_assert_str_eq(buf + 2, in);
}
END_TEST

START_TEST(test_status_str)
{
	ck_assert_str_eq(addr_status_str(ADDR_OK), "ok");
	ck_assert_str_eq(addr_status_str(ADDR_NULL), "null");
	ck_assert_str_eq(addr_status_str(ADDR_NO_DOMAIN), "no-domain");
	ck_assert_str_eq(addr_status_str(ADDR_BAD_SYNTAX), "bad-syntax");
	ck_assert_str_eq(addr_status_str(ADDR_BAD_DOMAIN), "bad-domain");
	ck_assert_str_eq(addr_status_str(ADDR_TOO_LONG), "too-long");
}
END_TEST

#define NRANDOM	64

START_TEST(test_random_local)
{
	char got[NRANDOM][32], small[24];
	struct addr a;
	char in[64];
	size_t i, j;
	int seen[36] = { 0 }, kinds = 0;

	for (i = 0; i < NRANDOM; i++) {
		memset(got[i], 'Z', sizeof(got[i]));
		addr_random_local(got[i], sizeof(got[i]));
		ck_assert_msg(strlen(got[i]) == 24, "got length %zu, want 24",
		    strlen(got[i]));
		ck_assert_msg(strncmp(got[i], "sav-", 4) == 0,
		    "got [%s], want a sav- prefix", got[i]);
		for (j = 4; j < 24; j++) {
			char c = got[i][j];

			ck_assert_msg((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'),
			    "got [%s], want only [a-z0-9] after sav-", got[i]);
			seen[c >= 'a' ? c - 'a' : 26 + c - '0'] = 1;
		}
		for (j = 0; j < i; j++)
			ck_assert_msg(strcmp(got[i], got[j]) != 0,
			    "got [%s] twice", got[i]);
		/* it parses as a plain local part */
		snprintf(in, sizeof(in), "%s@d.test", got[i]);
		ck_assert_int_eq(addr_parse(in, strlen(in), &a, NULL), ADDR_OK);
		ck_assert_str_eq(a.local, got[i]);
	}
	/* 64 * 20 draws cover nearly the whole alphabet */
	for (j = 0; j < 36; j++)
		kinds += seen[j];
	ck_assert_msg(kinds >= 30, "got %d distinct characters, want >= 30", kinds);

	/* exact fit */
	/* one byte short: nothing shortened, an empty string */
	memset(small, 'Z', sizeof(small));
	addr_random_local(small, sizeof(small));
	ck_assert_str_eq(small, "");
	{
		char fit[25];

		addr_random_local(fit, sizeof(fit));
		ck_assert_uint_eq(strlen(fit), 24);
	}
	addr_random_local(small, 0);	/* no write at all */
}
END_TEST

/*
 * Round trip: for random inputs drawn from the characters that matter,
 * every accepted address formats to a string with no control bytes
 * that fits the RCPT line and parses back, bracketed, to the same
 * parts. Fixed seed, so a failure reproduces.
 */
#define NROUND	20000

static uint64_t
xorshift(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

START_TEST(test_roundtrip)
{
	/* head and tail of the input: mostly matched, some not */
	static const char *const forms[][2] = {
		{ "", "" }, { "", " (c)" }, { "(c) ", "" }, { "<", ">" },
		{ " <", "> " }, { "Name <", ">" }, { "\"N a\" <", "> (c (d))" },
		{ "<@r.test:", ">" }, { "<@[192.0.2.9],@r.test:", ">" },
		{ "@r.test:", "" }, { "<", ">>" }, { "<<", ">" }, { "<", "" },
		{ "", ">" }, { "", ")" }, { "\"", "" }, { "<", "> x" },
	};
	static const char *const lparts[] = {
		"a", "Z", "0", ".", "\"", "\\", " ", "(", ")", "<", ">", "@",
		"-", "_", "+", "!", "'", "\"q q\"", "\"a@b\"", "\"a\\\"b\"",
		"\"x.y\"", "\xc3\xb6", "\xff", "\xc3", "\r\n", "\t",
		"\x7f", ",", ":", "[", "]",
	};
	static const char *const dparts[] = {
		"example", ".", "test", "TEST", "-", "_", "xn--", "xn--zz",
		"xn--strae-oqa", "invalid", "stra\xc3\x9f" "e", "\xcf\x82",
		"\xe2\x98\x83", "\xe3\x80\x82", "[192.0.2.1]",
		"[IPv6:2001:db8::1]", "[IPv6:", "]", "@", " ", "\n", "1", "a",
	};
	uint64_t seed = 0x5eed5a7c0ffee123u;
	char in[256], buf[600], wrapped[620];
	struct addr a, b;
	size_t n, k, m, i, form;
	int ok = 0, iter, fl;
	enum addr_status st;

#define PICK(t)	(t[xorshift(&seed) % (sizeof(t) / sizeof(t[0]))])
#define PUT(str) do {						\
		const char *put_ = (str);	/* evaluate once */	\
		m = strlen(put_);				\
		if (n + m <= sizeof(in)) {			\
			memcpy(in + n, put_, m);		\
			n += m;					\
		}						\
	} while (0)

	for (iter = 0; iter < NROUND; iter++) {
		n = 0;
		form = xorshift(&seed) % (sizeof(forms) / sizeof(forms[0]));
		PUT(forms[form][0]);
		for (k = 1 + xorshift(&seed) % 4, i = 0; i < k; i++)
			PUT(xorshift(&seed) % 4 ? "u" : PICK(lparts));
		PUT("@");
		for (k = 1 + xorshift(&seed) % 5, i = 0; i < k; i++)
			PUT(i % 2 ? "." : xorshift(&seed) % 3 ? "d" : PICK(dparts));
		PUT(forms[form][1]);
		st = addr_parse(in, n, &a, NULL);
		if (st != ADDR_OK)
			continue;
		ok++;
		ck_assert_int_gt(addr_format(&a, buf, sizeof(buf)), 0);
		for (i = 0; buf[i] != '\0'; i++)
			ck_assert_msg((unsigned char)buf[i] >= 0x20 &&
			    buf[i] != 0x7f, "control byte in [%s]", buf);
		ck_assert_uint_le(strlen("RCPT TO:<>\r\n") + strlen(buf),
		    ADDR_LINE_MAX);
		m = (size_t)snprintf(wrapped, sizeof(wrapped), "<%s>", buf);
		ck_assert_msg(addr_parse(wrapped, m, &b, NULL) == ADDR_OK,
		    "[%.*s] -> [%s] does not parse again", (int)n, in, wrapped);
		ck_assert_str_eq(a.local, b.local);
		ck_assert_str_eq(a.domain, b.domain);
		fl = flags_of(&a) & ~F_ROUTE;
		ck_assert_int_eq(fl, flags_of(&b));
	}
#undef PICK
#undef PUT
	/* the generator must reach the interesting part */
	ck_assert_msg(ok > NROUND / 20, "got %d accepted inputs, want more", ok);
}
END_TEST

/* the machine reason of each refusal: what the probe reports, never read from the text */
START_TEST(test_reason)
{
	static const struct { const char *in; enum addr_status st; enum reason r; } rows[] = {
		{ "u@example.org", ADDR_OK, R_NONE },
		{ "<>", ADDR_NULL, R_NULL_SENDER },
		{ "postmaster", ADDR_NO_DOMAIN, R_NO_DOMAIN },
		{ "a b@example.org", ADDR_BAD_SYNTAX, R_BAD_SYNTAX },
		{ "u@host.invalid", ADDR_BAD_DOMAIN, R_INVALID_TLD },
		{ "u@xn--zz.example", ADDR_BAD_DOMAIN, R_BAD_IDN },
		{ "u@-bad.example", ADDR_BAD_DOMAIN, R_BAD_DOMAIN_NAME },
		{ "u@a..example", ADDR_BAD_DOMAIN, R_BAD_DOMAIN_NAME },
		{ "u@example.123", ADDR_BAD_DOMAIN, R_BAD_DOMAIN_NAME },
		{ "u@[300.1.1.1]", ADDR_BAD_DOMAIN, R_BAD_DOMAIN_NAME },
		/* "invalid" in the text of a syntax error is not an invalid TLD */
		{ "u@invalid\xff.example", ADDR_BAD_SYNTAX, R_BAD_SYNTAX },
	};
	struct addr a;
	size_t i;

	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		enum addr_status st = addr_parse(rows[i].in, strlen(rows[i].in), &a, NULL);

		ck_assert_msg(st == rows[i].st && a.reason == rows[i].r,
			      "%s: got %s/%s, want %s/%s", rows[i].in, addr_status_str(st),
			      reason_str(a.reason), addr_status_str(rows[i].st), reason_str(rows[i].r));
	}
	/* too long: over ADDR_INPUT_MAX */
	{
		static char big[ADDR_INPUT_MAX + 10];

		memset(big, 'a', sizeof(big) - 1);
		ck_assert_int_eq(addr_parse(big, strlen(big), &a, NULL), ADDR_TOO_LONG);
		ck_assert_int_eq(a.reason, R_TOO_LONG);
	}
}
END_TEST

Suite *
make_suite(void)
{
	Suite *s = suite_create("addr");
	TCase *tc;

	tc = tcase_create("parse");
	tcase_add_loop_test(tc, test_parse, 0, NPCASES);
	tcase_add_test(tc, test_parse_no_why);
	tcase_add_test(tc, test_reason);
	suite_add_tcase(s, tc);

	tc = tcase_create("lengths");
	tcase_add_loop_test(tc, test_lengths, 0, NLCASES);
	suite_add_tcase(s, tc);

	tc = tcase_create("format");
	tcase_add_loop_test(tc, test_format, 0, NFCASES);
	tcase_add_test(tc, test_format_long);
	tcase_add_test(tc, test_status_str);
	suite_add_tcase(s, tc);

	tc = tcase_create("random");
	tcase_add_test(tc, test_random_local);
	tcase_add_test(tc, test_roundtrip);
	suite_add_tcase(s, tc);

	return s;
}

#include "check_main.h"
