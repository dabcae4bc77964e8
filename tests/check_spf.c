/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * check_spf - the SPF evaluator against a table of DNS answers: the
 * RFC 7208 macro examples (section 7.4), its mechanism examples
 * (appendix A) rewritten one domain per record, the processing limits
 * (terms, void look-ups, exchanges), loops, DNS errors, syntax errors.
 * The DNS here is a table: the lab runs the same code against a real
 * authoritative server.
 */
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <check.h>

#include "spf.h"

struct rr {
	const char *name;
	enum spf_qtype type;
	const char *data;	/* "TEMP": the question fails */
};

static const struct rr zone[] = {
	{ "example.com", SPF_Q_A, "192.0.2.10" },
	{ "example.com", SPF_Q_A, "192.0.2.11" },
	{ "example.com", SPF_Q_MX, "mx.example.com" },
	{ "example.com", SPF_Q_MX, "mx2.example.com" },
	{ "mx.example.com", SPF_Q_A, "192.0.2.129" },
	{ "mx2.example.com", SPF_Q_A, "192.0.2.130" },
	{ "example.org", SPF_Q_MX, "mail.example.org" },
	{ "mail.example.org", SPF_Q_A, "192.0.2.140" },
	{ "65.2.0.192.in-addr.arpa", SPF_Q_PTR, "amy.example.com" },
	{ "amy.example.com", SPF_Q_A, "192.0.2.65" },
	{ "66.2.0.192.in-addr.arpa", SPF_Q_PTR, "bob.example.net" },
	{ "bob.example.net", SPF_Q_A, "192.0.2.66" },
	{ "67.2.0.192.in-addr.arpa", SPF_Q_PTR, "liar.example.com" },
	{ "liar.example.com", SPF_Q_A, "192.0.2.99" },
	{ "v6.example.com", SPF_Q_AAAA, "2001:db8::25" },

	{ "all.test", SPF_Q_TXT, "v=spf1 +all" },
	{ "a.test", SPF_Q_TXT, "v=spf1 a:example.com -all" },
	{ "aself.test", SPF_Q_TXT, "v=spf1 a -all" },
	{ "aself.test", SPF_Q_A, "198.51.100.7" },
	{ "a6.test", SPF_Q_TXT, "v=spf1 a:v6.example.com//64 -all" },
	{ "mx.test", SPF_Q_TXT, "v=spf1 mx:example.com -all" },
	{ "mxcidr.test", SPF_Q_TXT, "v=spf1 mx:example.com/30 -all" },
	{ "ptr.test", SPF_Q_TXT, "v=spf1 ptr:example.com -all" },
	{ "ip4.test", SPF_Q_TXT, "v=spf1 ip4:192.0.2.128/28 -all" },
	{ "ip6.test", SPF_Q_TXT, "v=spf1 ip6:2001:db8::/32 ~all" },
	{ "neutral.test", SPF_Q_TXT, "v=spf1 ?all" },
	{ "empty.test", SPF_Q_TXT, "v=spf1" },
	{ "case.test", SPF_Q_TXT, "V=SPF1 IP4:192.0.2.1 -ALL" },
	{ "nospf.test", SPF_Q_TXT, "google-site-verification=abc" },
	{ "nospf.test", SPF_Q_TXT, "v=spf10 +all" },
	{ "two.test", SPF_Q_TXT, "v=spf1 +all" },
	{ "two.test", SPF_Q_TXT, "v=spf1 -all" },
	{ "badip.test", SPF_Q_TXT, "v=spf1 ip4:300.1.1.1 -all" },
	{ "badmech.test", SPF_Q_TXT, "v=spf1 foo -all" },
	{ "badmacro.test", SPF_Q_TXT, "v=spf1 a:%{z}.example.com -all" },
	{ "badcidr.test", SPF_Q_TXT, "v=spf1 ip4:192.0.2.0/33 -all" },
	{ "zerocidr.test", SPF_Q_TXT, "v=spf1 ip4:192.0.2.0/024 -all" },
	{ "late.test", SPF_Q_TXT, "v=spf1 +all foo:bar" },
	{ "unkmod.test", SPF_Q_TXT, "v=spf1 moo=bar ip4:192.0.2.1 -all" },
	{ "tworedir.test", SPF_Q_TXT, "v=spf1 redirect=a.test redirect=all.test" },
	{ "inc.test", SPF_Q_TXT, "v=spf1 include:all.test -all" },
	{ "incnone.test", SPF_Q_TXT, "v=spf1 include:nospf.test -all" },
	{ "incfail.test", SPF_Q_TXT, "v=spf1 include:ip4.test ?all" },
	{ "inctemp.test", SPF_Q_TXT, "v=spf1 include:temp.test -all" },
	{ "loop1.test", SPF_Q_TXT, "v=spf1 include:loop2.test -all" },
	{ "loop2.test", SPF_Q_TXT, "v=spf1 include:loop1.test -all" },
	{ "rloop.test", SPF_Q_TXT, "v=spf1 redirect=rloop.test" },
	{ "many.test", SPF_Q_TXT, "v=spf1 a:h1.test a:h2.test a:h3.test a:h4.test "
	    "a:h5.test a:h6.test a:h7.test a:h8.test a:h9.test a:h10.test a:h11.test -all" },
	{ "ten.test", SPF_Q_TXT, "v=spf1 a:h1.test a:h2.test a:h3.test a:h4.test "
	    "a:h5.test a:h6.test a:h7.test a:h8.test a:h9.test a:h10.test -all" },
	{ "void3.test", SPF_Q_TXT, "v=spf1 a:v1.test a:v2.test a:v3.test -all" },
	{ "void2.test", SPF_Q_TXT, "v=spf1 a:v1.test a:v2.test -all" },
	{ "red.test", SPF_Q_TXT, "v=spf1 redirect=a.test" },
	{ "rednone.test", SPF_Q_TXT, "v=spf1 redirect=nospf.test" },
	{ "redall.test", SPF_Q_TXT, "v=spf1 -all redirect=all.test" },
	{ "ex.test", SPF_Q_TXT, "v=spf1 exists:%{i}._spf.%{d} -all" },
	{ "192.0.2.7._spf.ex.test", SPF_Q_A, "127.0.0.2" },
	{ "lm.test", SPF_Q_TXT, "v=spf1 exists:%{l}.users.%{o} -all" },
	{ "alice.users.lm.test", SPF_Q_A, "127.0.0.2" },
	{ "temp.test", SPF_Q_TXT, "TEMP" },
	{ "atemp.test", SPF_Q_TXT, "v=spf1 a:down.test -all" },
	{ "down.test", SPF_Q_A, "TEMP" },
	{ "bigmx.test", SPF_Q_TXT, "v=spf1 mx -all" },
	{ "bigmx.test", SPF_Q_MX, "m1.test" }, { "bigmx.test", SPF_Q_MX, "m2.test" },
	{ "bigmx.test", SPF_Q_MX, "m3.test" }, { "bigmx.test", SPF_Q_MX, "m4.test" },
	{ "bigmx.test", SPF_Q_MX, "m5.test" }, { "bigmx.test", SPF_Q_MX, "m6.test" },
	{ "bigmx.test", SPF_Q_MX, "m7.test" }, { "bigmx.test", SPF_Q_MX, "m8.test" },
	{ "bigmx.test", SPF_Q_MX, "m9.test" }, { "bigmx.test", SPF_Q_MX, "m10.test" },
	{ "bigmx.test", SPF_Q_MX, "m11.test" },
	{ "helo.test", SPF_Q_TXT, "v=spf1 exists:%{h}.ok.helo.test -all" },
	{ "gw.example.net.ok.helo.test", SPF_Q_A, "127.0.0.2" },
};

static enum spf_dns_rc
zone_query(void *arg, const char *name, enum spf_qtype type, struct spf_ans *out)
{
	size_t i;
	int *asked = arg;
	char hname[32];

	(*asked)++;
	/* h1.test .. h11.test: one address each, never void */
	if (type == SPF_Q_A && sscanf(name, "h%31[0-9].test", hname) == 1 &&
	    strlen(name) == strlen(hname) + 6) {
		out->ip[0].af = AF_INET;
		inet_pton(AF_INET, "203.0.113.1", out->ip[0].a);
		out->n = 1;
		return SPF_DNS_OK;
	}
	for (i = 0; i < sizeof(zone) / sizeof(zone[0]); i++) {
		const struct rr *r = &zone[i];

		if (strcasecmp(r->name, name) != 0 || r->type != type)
			continue;
		if (strcmp(r->data, "TEMP") == 0)
			return SPF_DNS_TEMP;
		if (type == SPF_Q_A || type == SPF_Q_AAAA) {
			int af = type == SPF_Q_A ? AF_INET : AF_INET6;

			ck_assert_int_lt(out->n, SPF_ANS_MAX);
			out->ip[out->n].af = af;
			ck_assert_int_eq(inet_pton(af, r->data, out->ip[out->n].a), 1);
			out->n++;
		} else
			spf_ans_add(out, r->data, strlen(r->data));
	}
	return out->n > 0 ? SPF_DNS_OK : SPF_DNS_VOID;
}

struct spf_case {
	const char *ip;
	const char *sender;
	enum spf_result want;
};

static const struct spf_case cases[] = {
	{ "198.51.100.1", "a@all.test", SPF_PASS },
	{ "192.0.2.10", "a@a.test", SPF_PASS },
	{ "192.0.2.11", "a@a.test", SPF_PASS },
	{ "192.0.2.12", "a@a.test", SPF_FAIL },
	{ "198.51.100.7", "a@aself.test", SPF_PASS },
	{ "198.51.100.8", "a@aself.test", SPF_FAIL },
	{ "2001:db8::ffff", "a@a6.test", SPF_PASS },
	{ "2001:db8:0:1::25", "a@a6.test", SPF_FAIL },
	{ "192.0.2.129", "a@mx.test", SPF_PASS },
	{ "192.0.2.130", "a@mx.test", SPF_PASS },
	{ "192.0.2.140", "a@mx.test", SPF_FAIL },
	{ "192.0.2.131", "a@mxcidr.test", SPF_PASS },
	{ "192.0.2.132", "a@mxcidr.test", SPF_FAIL },
	{ "192.0.2.65", "a@ptr.test", SPF_PASS },
	{ "192.0.2.66", "a@ptr.test", SPF_FAIL },	/* PTR outside the domain */
	{ "192.0.2.67", "a@ptr.test", SPF_FAIL },	/* PTR that does not resolve back */
	{ "192.0.2.65", "a@ip4.test", SPF_FAIL },
	{ "192.0.2.129", "a@ip4.test", SPF_PASS },
	{ "192.0.2.143", "a@ip4.test", SPF_PASS },
	{ "192.0.2.144", "a@ip4.test", SPF_FAIL },
	{ "::ffff:192.0.2.129", "a@ip4.test", SPF_PASS },
	{ "2001:db8::1", "a@ip6.test", SPF_PASS },
	{ "2001:db9::1", "a@ip6.test", SPF_SOFTFAIL },
	{ "192.0.2.129", "a@ip6.test", SPF_SOFTFAIL },
	{ "192.0.2.1", "a@neutral.test", SPF_NEUTRAL },
	{ "192.0.2.1", "a@empty.test", SPF_NEUTRAL },
	{ "192.0.2.1", "a@case.test", SPF_PASS },
	{ "192.0.2.2", "a@CASE.TEST", SPF_FAIL },
	{ "192.0.2.1", "a@nospf.test", SPF_NONE },
	{ "192.0.2.1", "a@nx.test", SPF_NONE },
	{ "192.0.2.1", "a@localhost", SPF_NONE },	/* not a multi-label domain */
	{ "192.0.2.1", "nodomain", SPF_NONE },
	{ "192.0.2.1", "a@two.test", SPF_PERMERROR },
	{ "192.0.2.1", "a@badip.test", SPF_PERMERROR },
	{ "192.0.2.1", "a@badmech.test", SPF_PERMERROR },
	{ "192.0.2.1", "a@badmacro.test", SPF_PERMERROR },
	{ "192.0.2.1", "a@badcidr.test", SPF_PERMERROR },
	{ "192.0.2.1", "a@zerocidr.test", SPF_PERMERROR },
	{ "192.0.2.1", "a@late.test", SPF_PERMERROR },	/* the whole record is checked first */
	{ "192.0.2.1", "a@unkmod.test", SPF_PASS },
	{ "192.0.2.2", "a@unkmod.test", SPF_FAIL },
	{ "192.0.2.1", "a@tworedir.test", SPF_PERMERROR },
	{ "192.0.2.1", "a@inc.test", SPF_PASS },
	{ "192.0.2.1", "a@incnone.test", SPF_PERMERROR },
	{ "192.0.2.65", "a@incfail.test", SPF_NEUTRAL },
	{ "192.0.2.129", "a@incfail.test", SPF_PASS },
	{ "192.0.2.1", "a@inctemp.test", SPF_TEMPERROR },
	{ "192.0.2.1", "a@loop1.test", SPF_PERMERROR },
	{ "192.0.2.1", "a@rloop.test", SPF_PERMERROR },
	{ "192.0.2.1", "a@many.test", SPF_PERMERROR },
	{ "192.0.2.1", "a@ten.test", SPF_FAIL },
	{ "203.0.113.1", "a@ten.test", SPF_PASS },
	{ "192.0.2.1", "a@void3.test", SPF_PERMERROR },
	{ "192.0.2.1", "a@void2.test", SPF_FAIL },
	{ "192.0.2.10", "a@red.test", SPF_PASS },
	{ "192.0.2.12", "a@red.test", SPF_FAIL },
	{ "192.0.2.1", "a@rednone.test", SPF_PERMERROR },
	{ "192.0.2.1", "a@redall.test", SPF_FAIL },
	{ "192.0.2.7", "a@ex.test", SPF_PASS },
	{ "192.0.2.8", "a@ex.test", SPF_FAIL },
	{ "192.0.2.8", "Alice@lm.test", SPF_PASS },
	{ "192.0.2.8", "bob@lm.test", SPF_FAIL },
	{ "192.0.2.1", "a@temp.test", SPF_TEMPERROR },
	{ "192.0.2.1", "a@atemp.test", SPF_TEMPERROR },
	{ "192.0.2.1", "a@bigmx.test", SPF_PERMERROR },
	{ "192.0.2.1", "@helo.test", SPF_PASS },	/* null sender: postmaster@, h from HELO */
};

static void
to_ip(const char *s, struct spf_ip *ip)
{
	if (inet_pton(AF_INET, s, ip->a) == 1)
		ip->af = AF_INET;
	else {
		ck_assert_int_eq(inet_pton(AF_INET6, s, ip->a), 1);
		ip->af = AF_INET6;
	}
}

START_TEST(test_check)
{
	const struct spf_case *c = &cases[_i];
	struct spf_resolver r;
	struct spf_req req;
	struct spf_out out;
	int asked = 0;

	memset(&req, 0, sizeof(req));
	to_ip(c->ip, &req.ip);
	req.sender = c->sender;
	req.helo = "gw.example.net";
	r.query = zone_query;
	r.arg = &asked;
	spf_check(&r, &req, &out);
	ck_assert_msg(out.result == c->want, "%s from %s: %s (%s), want %s",
	    c->sender, c->ip, spf_result_str(out.result), out.why,
	    spf_result_str(c->want));
	ck_assert_int_eq(out.queries, asked);
	ck_assert_int_le(out.terms, SPF_TERMS_MAX + 1);
	/* the reason is printable ASCII */
	for (size_t i = 0; out.why[i] != '\0'; i++)
		ck_assert(out.why[i] >= 0x20 && out.why[i] <= 0x7e);
}
END_TEST

struct mcase {
	const char *in;
	const char *ip;
	int exp;
	const char *want;	/* NULL: an error */
};

/* RFC 7208 7.4, sender strong-bad@email.example.com, domain email.example.com */
static const struct mcase mcases[] = {
	{ "%{s}", "192.0.2.3", 0, "strong-bad@email.example.com" },
	{ "%{o}", "192.0.2.3", 0, "email.example.com" },
	{ "%{d}", "192.0.2.3", 0, "email.example.com" },
	{ "%{d4}", "192.0.2.3", 0, "email.example.com" },
	{ "%{d3}", "192.0.2.3", 0, "email.example.com" },
	{ "%{d2}", "192.0.2.3", 0, "example.com" },
	{ "%{d1}", "192.0.2.3", 0, "com" },
	{ "%{dr}", "192.0.2.3", 0, "com.example.email" },
	{ "%{d2r}", "192.0.2.3", 0, "example.email" },
	{ "%{l}", "192.0.2.3", 0, "strong-bad" },
	{ "%{l-}", "192.0.2.3", 0, "strong.bad" },
	{ "%{lr}", "192.0.2.3", 0, "strong-bad" },
	{ "%{lr-}", "192.0.2.3", 0, "bad.strong" },
	{ "%{l1r-}", "192.0.2.3", 0, "strong" },
	{ "%{ir}.%{v}._spf.%{d2}", "192.0.2.3", 0, "3.2.0.192.in-addr._spf.example.com" },
	{ "%{lr-}.lp._spf.%{d2}", "192.0.2.3", 0, "bad.strong.lp._spf.example.com" },
	{ "%{lr-}.lp.%{ir}.%{v}._spf.%{d2}", "192.0.2.3", 0,
	    "bad.strong.lp.3.2.0.192.in-addr._spf.example.com" },
	{ "%{ir}.%{v}.%{l1r-}.lp._spf.%{d2}", "192.0.2.3", 0,
	    "3.2.0.192.in-addr.strong.lp._spf.example.com" },
	{ "%{d2}.trusted-domains.example.net", "192.0.2.3", 0,
	    "example.com.trusted-domains.example.net" },
	{ "%{ir}.%{v}._spf.%{d2}", "2001:db8::cb01", 0,
	    "1.0.b.c.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6._spf.example.com" },
	{ "%{S}", "192.0.2.3", 0, "strong-bad%40email.example.com" },
	{ "%%%_%-", "192.0.2.3", 0, "% %20" },
	{ "%{p}", "192.0.2.3", 0, "unknown" },
	{ "%{c}", "192.0.2.3", 1, "192.0.2.3" },
	{ "%{c}", "192.0.2.3", 0, NULL },
	{ "%{z}", "192.0.2.3", 0, NULL },
	{ "%{d0}", "192.0.2.3", 0, NULL },
	{ "%{d1000}", "192.0.2.3", 0, NULL },
	{ "%x", "192.0.2.3", 0, NULL },
	{ "a%", "192.0.2.3", 0, NULL },
	{ "%{d", "192.0.2.3", 0, NULL },
	{ "a b", "192.0.2.3", 0, NULL },
};

START_TEST(test_expand)
{
	const struct mcase *c = &mcases[_i];
	struct spf_req req;
	struct spf_mctx m;
	char out[SPF_EXPAND_MAX + 1];
	int n;

	memset(&req, 0, sizeof(req));
	to_ip(c->ip, &req.ip);
	req.sender = "strong-bad@email.example.com";
	req.helo = "";
	m.req = &req;
	m.local = "strong-bad";
	m.local_len = 10;
	m.sdomain = "email.example.com";
	m.domain = "email.example.com";
	n = spf_expand(&m, c->in, strlen(c->in), c->exp, out, sizeof(out));
	if (c->want == NULL)
		ck_assert_msg(n == -1, "%s: got \"%s\", want an error", c->in, out);
	else {
		ck_assert_msg(n >= 0, "%s: error", c->in);
		ck_assert_str_eq(out, c->want);
		ck_assert_int_eq(n, (int)strlen(c->want));
	}
}
END_TEST

/* a control byte or non-ASCII in the sender never reaches a name raw */
START_TEST(test_expand_hostile)
{
	struct spf_req req;
	struct spf_mctx m;
	char out[SPF_EXPAND_MAX + 1];
	static const char local[] = "a\r\nb\x80 c";
	int n;

	memset(&req, 0, sizeof(req));
	to_ip("192.0.2.3", &req.ip);
	req.sender = "a\r\nb\x80 c@x.test";
	m.req = &req;
	m.local = local;
	m.local_len = sizeof(local) - 1;
	m.sdomain = "x.test";
	m.domain = "x.test";
	n = spf_expand(&m, "%{l}.%{s}", 9, 0, out, sizeof(out));
	ck_assert_int_gt(n, 0);
	for (int i = 0; i < n; i++)
		ck_assert(out[i] > 0x20 && out[i] < 0x7f);
	/* the output buffer bound holds */
	n = spf_expand(&m, "%{s}%{s}%{s}", 12, 0, out, 16);
	ck_assert_int_eq(n, -1);
}
END_TEST

/* the client from the milter: IPv4, IPv6, and IPv4-mapped IPv6 as IPv4 */
START_TEST(test_ip_from_sockaddr)
{
	struct sockaddr_in sin;
	struct sockaddr_in6 sin6;
	struct sockaddr sa;
	struct spf_ip ip;
	static const unsigned char v4[4] = { 192, 0, 2, 9 };

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	memcpy(&sin.sin_addr, v4, 4);
	ck_assert_int_eq(spf_ip_from_sockaddr((struct sockaddr *)&sin, &ip), 1);
	ck_assert_int_eq(ip.af, AF_INET);
	ck_assert(memcmp(ip.a, v4, 4) == 0);
	memset(&sin6, 0, sizeof(sin6));
	sin6.sin6_family = AF_INET6;
	ck_assert_int_eq(inet_pton(AF_INET6, "::ffff:192.0.2.9", &sin6.sin6_addr), 1);
	ck_assert_int_eq(spf_ip_from_sockaddr((struct sockaddr *)&sin6, &ip), 1);
	ck_assert_int_eq(ip.af, AF_INET);
	ck_assert(memcmp(ip.a, v4, 4) == 0);
	ck_assert_int_eq(inet_pton(AF_INET6, "2001:db8::9", &sin6.sin6_addr), 1);
	ck_assert_int_eq(spf_ip_from_sockaddr((struct sockaddr *)&sin6, &ip), 1);
	ck_assert_int_eq(ip.af, AF_INET6);
	ck_assert(memcmp(ip.a, &sin6.sin6_addr, 16) == 0);
	memset(&sa, 0, sizeof(sa));
	sa.sa_family = AF_UNIX;
	ck_assert_int_eq(spf_ip_from_sockaddr(&sa, &ip), 0);
}
END_TEST

Suite *
make_suite(void)
{
	Suite *s = suite_create("spf");
	TCase *tc = tcase_create("spf");

	tcase_add_loop_test(tc, test_check, 0, sizeof(cases) / sizeof(cases[0]));
	tcase_add_loop_test(tc, test_expand, 0, sizeof(mcases) / sizeof(mcases[0]));
	tcase_add_test(tc, test_expand_hostile);
	tcase_add_test(tc, test_ip_from_sockaddr);
	suite_add_tcase(s, tc);
	return s;
}

#include "check_main.h"
