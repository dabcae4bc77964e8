/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * check_decide - the milter's pure policy (milter/decide.c): every
 * exemption and its reason, every verdict under every action to basic
 * code / enhanced code (classes must match), the reply text (sender
 * named, reason token, remote text only with RejectDetail, '%'
 * doubled, printable only), and monitor mode.
 *
 * decide.c is compiled into this suite directly: it needs no libmilter,
 * only conf/addr/util from libsav.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <check.h>

#include "../milter/decide.c"

static struct conf C;

static void
setup(void)
{
	conf_defaults(&C);
}

static void
teardown(void)
{
	conf_free(&C);
}

static void
set(const char *k, const char *v)
{
	char err[512];

	ck_assert_msg(conf_set(&C, k, v, err, sizeof(err)) == 0, "conf_set %s %s: %s", k, v, err);
}

/* sockaddr from text; NULL text -> NULL (local submission) */
static const struct sockaddr *
mkaddr(const char *ip, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (ip == NULL)
		return NULL;
	if (strchr(ip, ':') != NULL) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

		s6->sin6_family = AF_INET6;
		ck_assert_int_eq(inet_pton(AF_INET6, ip, &s6->sin6_addr), 1);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;

		s4->sin_family = AF_INET;
		ck_assert_int_eq(inet_pton(AF_INET, ip, &s4->sin_addr), 1);
	}
	return (const struct sockaddr *)ss;
}

/* ---- exemptions ---- */

struct ex_case {
	const char *sender;
	const char *client;		/* NULL: local submission */
	const char *auth;
	const char *key1, *val1;	/* configuration tweaks */
	const char *key2, *val2;
	enum reason want;		/* reason, or R_NONE: not exempt */
};

#define REMOTE	"192.0.2.10"
#define TRUSTED_DOC "TrustedNetworks", "198.51.100.0/24"

static const struct ex_case ex_cases[] = {
	/* the null sender, whoever sends it, before anything else */
	{ "<>", REMOTE, NULL, NULL, NULL, NULL, NULL, R_NULL_SENDER },
	{ "", REMOTE, NULL, NULL, NULL, NULL, NULL, R_NULL_SENDER },
	{ "<>", NULL, NULL, NULL, NULL, NULL, NULL, R_NULL_SENDER },
	{ "<>", REMOTE, "alice", NULL, NULL, NULL, NULL, R_NULL_SENDER },
	/* no client address = local submission */
	{ "<u@example.org>", NULL, NULL, NULL, NULL, NULL, NULL, R_LOCAL },
	{ "<a@b>>", NULL, NULL, NULL, NULL, NULL, NULL, R_LOCAL },
	/* authenticated clients, SkipAuthenticated yes (default) / no */
	{ "<u@example.org>", REMOTE, "alice", NULL, NULL, NULL, NULL, R_AUTHENTICATED },
	{ "<u@example.org>", REMOTE, "alice", "SkipAuthenticated", "no", NULL, NULL, R_NONE },
	{ "<u@example.org>", REMOTE, "", NULL, NULL, NULL, NULL, R_NONE },
	/* TrustedNetworks: defaults 127.0.0.0/8 and ::1 */
	{ "<u@example.org>", "127.0.0.1", NULL, NULL, NULL, NULL, NULL, R_TRUSTED_NETWORK },
	{ "<u@example.org>", "127.9.8.7", NULL, NULL, NULL, NULL, NULL, R_TRUSTED_NETWORK },
	{ "<u@example.org>", "::1", NULL, NULL, NULL, NULL, NULL, R_TRUSTED_NETWORK },
	{ "<u@example.org>", "::ffff:127.0.0.1", NULL, NULL, NULL, NULL, NULL, R_TRUSTED_NETWORK },
	{ "<u@example.org>", "::2", NULL, NULL, NULL, NULL, NULL, R_NONE },
	{ "<u@example.org>", "128.0.0.1", NULL, NULL, NULL, NULL, NULL, R_NONE },
	/* configured networks replace the defaults */
	{ "<u@example.org>", "198.51.100.77", NULL, TRUSTED_DOC, NULL, NULL, R_TRUSTED_NETWORK },
	{ "<u@example.org>", "127.0.0.1", NULL, TRUSTED_DOC, NULL, NULL, R_NONE },
	{ "<u@example.org>", "198.51.101.1", NULL, TRUSTED_DOC, NULL, NULL, R_NONE },
	{ "<u@example.org>", "::ffff:198.51.100.9", NULL, TRUSTED_DOC, NULL, NULL, R_TRUSTED_NETWORK },
	{ "<u@example.org>", "2001:db8:1::5", NULL, "TrustedNetworks", "2001:db8::/32", NULL, NULL, R_TRUSTED_NETWORK },
	{ "<u@example.org>", "2001:db9::5", NULL, "TrustedNetworks", "2001:db8::/32", NULL, NULL, R_NONE },
	/* a trusted client's malformed sender is still none of our business */
	{ "<a@b>>", "127.0.0.1", NULL, NULL, NULL, NULL, NULL, R_TRUSTED_NETWORK },
	/* our own probe sender never triggers a probe */
	{ "<verify@probe.example>", REMOTE, NULL, "ProbeSender", "verify@probe.example", NULL, NULL, R_PROBE_SENDER },
	{ "<verify@PROBE.Example.>", REMOTE, NULL, "ProbeSender", "verify@probe.example", NULL, NULL, R_PROBE_SENDER },
	{ "verify@probe.example", REMOTE, NULL, "ProbeSender", "<verify@probe.example>", NULL, NULL, R_PROBE_SENDER },
	{ "<Verify@probe.example>", REMOTE, NULL, "ProbeSender", "verify@probe.example", NULL, NULL, R_NONE },
	{ "<other@probe.example>", REMOTE, NULL, "ProbeSender", "verify@probe.example", NULL, NULL, R_NONE },
	/* the RetrySender too, alone or beside a ProbeSender */
	{ "<retry@probe.example>", REMOTE, NULL, "RetrySender", "retry@probe.example", NULL, NULL, R_PROBE_SENDER },
	{ "<retry@PROBE.example>", REMOTE, NULL, "ProbeSender", "verify@probe.example", "RetrySender", "<retry@probe.example>", R_PROBE_SENDER },
	{ "<verify@probe.example>", REMOTE, NULL, "ProbeSender", "verify@probe.example", "RetrySender", "retry@probe.example", R_PROBE_SENDER },
	{ "<Retry@probe.example>", REMOTE, NULL, "RetrySender", "retry@probe.example", NULL, NULL, R_NONE },
	{ "<other@probe.example>", REMOTE, NULL, "RetrySender", "retry@probe.example", NULL, NULL, R_NONE },
	/* ExemptDomains, in every sender form */
	{ "<u@example.com>", REMOTE, NULL, "ExemptDomains", "example.com, *.corp.example", NULL, NULL, R_EXEMPT_DOMAIN },
	{ "u@EXAMPLE.com", REMOTE, NULL, "ExemptDomains", "example.com, *.corp.example", NULL, NULL, R_EXEMPT_DOMAIN },
	{ "Some Name <u@example.com>", REMOTE, NULL, "ExemptDomains", "example.com", NULL, NULL, R_EXEMPT_DOMAIN },
	{ "<@relay.example,@r2.example:u@example.com>", REMOTE, NULL, "ExemptDomains", "example.com", NULL, NULL, R_EXEMPT_DOMAIN },
	{ "<u@a.corp.example>", REMOTE, NULL, "ExemptDomains", "example.com, *.corp.example", NULL, NULL, R_EXEMPT_DOMAIN },
	{ "<u@example.org>", REMOTE, NULL, "ExemptDomains", "example.com, *.corp.example", NULL, NULL, R_NONE },
	{ "<u@notexample.com>", REMOTE, NULL, "ExemptDomains", "example.com", NULL, NULL, R_NONE },
	/* the route is dropped: an exempt domain in the route exempts nothing */
	{ "<@example.com:u@example.org>", REMOTE, NULL, "ExemptDomains", "example.com", NULL, NULL, R_NONE },
	/* ordinary and malformed senders from a remote client: not exempt */
	{ "<u@example.org>", REMOTE, NULL, NULL, NULL, NULL, NULL, R_NONE },
	{ "<a@b>>", REMOTE, NULL, NULL, NULL, NULL, NULL, R_NONE },
	{ "<a\r\nRSET@example.org>", REMOTE, NULL, NULL, NULL, NULL, NULL, R_NONE },
	{ "<postmaster>", REMOTE, NULL, NULL, NULL, NULL, NULL, R_NONE },
};

START_TEST(test_exempt)
{
	const struct ex_case *t = &ex_cases[_i];
	struct sockaddr_storage ss;
	struct decide_client cl;
	struct probe_result res;
	int got;

	if (t->key1 != NULL)
		set(t->key1, t->val1);
	if (t->key2 != NULL)
		set(t->key2, t->val2);
	cl.sa = mkaddr(t->client, &ss);
	cl.auth_authen = t->auth;
	memset(&res, 0x5a, sizeof(res));
	got = decide_exempt(&C, &cl, t->sender, strlen(t->sender), &res);
	if (t->want == R_NONE) {
		ck_assert_msg(got == 0, "case %d %s from %s: got exempt (%s), want not exempt",
			      _i, t->sender, t->client ? t->client : "local", reason_str(res.reason));
		return;
	}
	ck_assert_msg(got == 1, "case %d %s from %s: got not exempt, want %s",
		      _i, t->sender, t->client ? t->client : "local", reason_str(t->want));
	ck_assert_msg(res.verdict == VERDICT_SKIPPED, "case %d: got verdict %s, want skipped",
		      _i, verdict_str(res.verdict));
	ck_assert_msg(res.reason == t->want, "case %d %s: got reason %s, want %s",
		      _i, t->sender, reason_str(res.reason), reason_str(t->want));
	ck_assert_msg(res.code == 0 && res.mx[0] == '\0' && res.cached == 0,
		      "case %d: skipped result carries probe data", _i);
}
END_TEST

/* the address a skipped result carries: normalised, or sanitised raw */
START_TEST(test_exempt_address)
{
	struct decide_client cl = { NULL, NULL };
	struct probe_result res;

	ck_assert_int_eq(decide_exempt(&C, &cl, "<U@Example.ORG>", 15, &res), 1);
	ck_assert_msg(strcmp(res.address, "U@example.org") == 0, "got %s, want U@example.org", res.address);
	ck_assert_int_eq(decide_exempt(&C, &cl, "<a\x1b[2J@x>", 10, &res), 1);
	for (const char *p = res.address; *p; p++)
		ck_assert_msg(*p >= 0x20 && *p < 0x7f, "got byte 0x%02x in address, want printable", (unsigned char)*p);
}
END_TEST

/* ---- codes ---- */

struct code_case {
	enum action a;
	enum verdict v;
	enum reason reason;
	const char *code, *enh;
};

static const struct code_case code_cases[] = {
	{ ACTION_REJECT, VERDICT_INVALID, R_USER_UNKNOWN, "550", "5.1.7" },
	{ ACTION_REJECT, VERDICT_BAD_SYNTAX, R_BAD_SYNTAX, "550", "5.1.7" },
	{ ACTION_REJECT, VERDICT_BAD_DOMAIN, R_NXDOMAIN, "550", "5.1.8" },
	{ ACTION_REJECT, VERDICT_BAD_DOMAIN, R_NO_MAIL_HOST, "550", "5.1.8" },
	{ ACTION_REJECT, VERDICT_BAD_DOMAIN, R_BOGUS_MX, "550", "5.1.8" },
	{ ACTION_REJECT, VERDICT_BAD_DOMAIN, R_NULL_MX, "550", "5.7.27" },
	{ ACTION_REJECT, VERDICT_UNKNOWN, R_POLICY_BLOCK, "550", "5.7.1" },
	{ ACTION_REJECT, VERDICT_CATCH_ALL, R_CATCH_ALL, "550", "5.7.1" },
	{ ACTION_REJECT, VERDICT_TEMPFAIL, R_GREYLISTED, "550", "5.7.1" },
	{ ACTION_REJECT, VERDICT_ERROR, R_INTERNAL, "550", "5.7.1" },
	{ ACTION_REJECT, VERDICT_VALID, R_USER_OK, "550", "5.7.1" },
	{ ACTION_TEMPFAIL, VERDICT_TEMPFAIL, R_GREYLISTED, "450", "4.1.7" },
	{ ACTION_TEMPFAIL, VERDICT_TEMPFAIL, R_TEMP_REPLY, "450", "4.1.7" },
	{ ACTION_TEMPFAIL, VERDICT_TEMPFAIL, R_MAILBOX_FULL, "450", "4.1.7" },
	{ ACTION_TEMPFAIL, VERDICT_TEMPFAIL, R_SERVICE_CLOSING, "450", "4.1.7" },
	{ ACTION_TEMPFAIL, VERDICT_TEMPFAIL, R_RATE_LIMITED, "451", "4.7.1" },
	{ ACTION_TEMPFAIL, VERDICT_TEMPFAIL, R_BUDGET, "451", "4.4.3" },
	{ ACTION_TEMPFAIL, VERDICT_TEMPFAIL, R_SERVFAIL, "451", "4.4.3" },
	{ ACTION_TEMPFAIL, VERDICT_TEMPFAIL, R_DNS_TIMEOUT, "451", "4.4.3" },
	{ ACTION_TEMPFAIL, VERDICT_TEMPFAIL, R_TIMEOUT, "451", "4.4.3" },
	{ ACTION_TEMPFAIL, VERDICT_TEMPFAIL, R_CONNECT_FAILED, "451", "4.4.3" },
	{ ACTION_TEMPFAIL, VERDICT_TEMPFAIL, R_PROTOCOL_ERROR, "451", "4.4.3" },
	{ ACTION_TEMPFAIL, VERDICT_ERROR, R_INTERNAL, "451", "4.3.0" },
	{ ACTION_TEMPFAIL, VERDICT_INVALID, R_USER_UNKNOWN, "450", "4.1.7" },
	{ ACTION_TEMPFAIL, VERDICT_BAD_SYNTAX, R_BAD_SYNTAX, "450", "4.1.7" },
	{ ACTION_TEMPFAIL, VERDICT_BAD_DOMAIN, R_NXDOMAIN, "450", "4.1.8" },
	{ ACTION_TEMPFAIL, VERDICT_UNKNOWN, R_POLICY_BLOCK, "451", "4.7.1" },
	{ ACTION_TEMPFAIL, VERDICT_CATCH_ALL, R_CATCH_ALL, "451", "4.7.1" },
	{ ACTION_ACCEPT, VERDICT_INVALID, R_USER_UNKNOWN, "", "" },
	{ ACTION_ACCEPT, VERDICT_TEMPFAIL, R_GREYLISTED, "", "" },
};

START_TEST(test_codes)
{
	const struct code_case *t = &code_cases[_i];
	char code[4], enh[16];

	decide_codes(t->a, t->v, t->reason, code, enh);
	ck_assert_msg(strcmp(code, t->code) == 0 && strcmp(enh, t->enh) == 0,
		      "%s %s/%s: got %s %s, want %s %s", action_str(t->a),
		      verdict_str(t->v), reason_str(t->reason), code, enh, t->code, t->enh);
}
END_TEST

/* for every verdict and both refusing actions, the classes match */
START_TEST(test_codes_match)
{
	static const enum reason reasons[] = { R_GREYLISTED, R_BUDGET, R_RATE_LIMITED, R_NULL_MX, R_NXDOMAIN, R_NONE, R_OTHER };
	enum action acts[] = { ACTION_REJECT, ACTION_TEMPFAIL };
	char code[4], enh[16];
	size_t r;
	int a, v;

	for (a = 0; a < 2; a++)
		for (v = 0; v < VERDICT_COUNT; v++)
			for (r = 0; r < sizeof(reasons) / sizeof(reasons[0]); r++) {
				decide_codes(acts[a], (enum verdict)v, reasons[r], code, enh);
				ck_assert_msg(strlen(code) == 3 && code[0] == enh[0] && enh[1] == '.',
					      "%s %s/%s: got %s %s, want matching classes",
					      action_str(acts[a]), verdict_str((enum verdict)v), reason_str(reasons[r]), code, enh);
				ck_assert_msg(code[0] == (acts[a] == ACTION_REJECT ? '5' : '4'),
					      "%s: got %s", action_str(acts[a]), code);
			}
}
END_TEST

/* ---- replies ---- */

static void
result(struct probe_result *r, enum verdict v, enum reason reason, const char *address,
       int code, const char *enh, const char *text)
{
	memset(r, 0, sizeof(*r));
	r->verdict = v;
	r->reason = reason;
	util_strlcpy(r->address, address, sizeof(r->address));
	r->code = code;
	util_strlcpy(r->enhanced, enh, sizeof(r->enhanced));
	util_strlcpy(r->text, text, sizeof(r->text));
}

/* every '%' in s is part of a "%%" pair, and every byte is printable */
static void
assert_setreply_safe(const char *s)
{
	const char *p;

	for (p = s; *p; p++) {
		ck_assert_msg((unsigned char)*p >= 0x20 && (unsigned char)*p < 0x7f,
			      "got byte 0x%02x in \"%s\", want printable ASCII", (unsigned char)*p, s);
		if (*p == '%') {
			ck_assert_msg(p[1] == '%', "got a lone %% in \"%s\", want every %% doubled", s);
			p++;
		}
	}
}

struct reply_case {
	enum verdict v;
	enum reason reason;
	const char *monitor;		/* "yes" to set Mode monitor */
	const char *detail;		/* RejectDetail */
	enum action want_action;	/* configured (defaults) */
	enum action want_effective;
	const char *code, *enh;
	const char *must1, *must2;	/* substrings the text must hold */
	const char *mustnot;		/* substring it must not */
};

#define RT "5.1.1 <u@example.org>: Recipient address rejected: User unknown"

static const struct reply_case reply_cases[] = {
	{ VERDICT_VALID, R_USER_OK, NULL, NULL, ACTION_ACCEPT, ACTION_ACCEPT, "", "", NULL, NULL, NULL },
	{ VERDICT_CATCH_ALL, R_CATCH_ALL, NULL, NULL, ACTION_ACCEPT, ACTION_ACCEPT, "", "", NULL, NULL, NULL },
	{ VERDICT_UNKNOWN, R_POLICY_BLOCK, NULL, NULL, ACTION_ACCEPT, ACTION_ACCEPT, "", "", NULL, NULL, NULL },
	{ VERDICT_SKIPPED, R_TRUSTED_NETWORK, NULL, NULL, ACTION_ACCEPT, ACTION_ACCEPT, "", "", NULL, NULL, NULL },
	{ VERDICT_INVALID, R_USER_UNKNOWN, NULL, NULL, ACTION_REJECT, ACTION_REJECT, "550", "5.1.7",
	  "<u@example.org> rejected", "(user-unknown)", "User unknown" },
	{ VERDICT_INVALID, R_USER_UNKNOWN, NULL, "yes", ACTION_REJECT, ACTION_REJECT, "550", "5.1.7",
	  "(user-unknown)", "remote server said: 550 5.1.1 <u@example.org>: Recipient address rejected: User unknown", NULL },
	{ VERDICT_BAD_DOMAIN, R_NXDOMAIN, NULL, NULL, ACTION_REJECT, ACTION_REJECT, "550", "5.1.8",
	  "domain cannot receive mail", "(nxdomain)", NULL },
	{ VERDICT_BAD_DOMAIN, R_NULL_MX, NULL, NULL, ACTION_REJECT, ACTION_REJECT, "550", "5.7.27",
	  "(null-mx)", NULL, NULL },
	{ VERDICT_BAD_SYNTAX, R_BAD_SYNTAX, NULL, NULL, ACTION_REJECT, ACTION_REJECT, "550", "5.1.7",
	  "malformed sender address", NULL, NULL },
	{ VERDICT_TEMPFAIL, R_GREYLISTED, NULL, NULL, ACTION_TEMPFAIL, ACTION_TEMPFAIL, "450", "4.1.7",
	  "deferred", "try again later (greylisted)", NULL },
	{ VERDICT_TEMPFAIL, R_BUDGET, NULL, NULL, ACTION_TEMPFAIL, ACTION_TEMPFAIL, "451", "4.4.3",
	  "(budget)", NULL, NULL },
	{ VERDICT_ERROR, R_INTERNAL, NULL, NULL, ACTION_TEMPFAIL, ACTION_TEMPFAIL, "451", "4.3.0",
	  "(internal)", NULL, NULL },
	/* monitor: decide and say so in a header, never refuse */
	{ VERDICT_INVALID, R_USER_UNKNOWN, "yes", NULL, ACTION_REJECT, ACTION_ACCEPT, "", "", NULL, NULL, NULL },
	{ VERDICT_TEMPFAIL, R_GREYLISTED, "yes", NULL, ACTION_TEMPFAIL, ACTION_ACCEPT, "", "", NULL, NULL, NULL },
	{ VERDICT_ERROR, R_INTERNAL, "yes", NULL, ACTION_TEMPFAIL, ACTION_ACCEPT, "", "", NULL, NULL, NULL },
};

START_TEST(test_reply)
{
	const struct reply_case *t = &reply_cases[_i];
	struct probe_result r;
	struct decision d;

	if (t->monitor != NULL)
		set("Mode", "monitor");
	if (t->detail != NULL)
		set("RejectDetail", t->detail);
	result(&r, t->v, t->reason, "u@example.org", t->v == VERDICT_INVALID ? 550 : 0, "5.1.1",
	       "<u@example.org>: Recipient address rejected: User unknown");
	decide_reply(&C, "<u@example.org>", 15, &r, &d);
	ck_assert_msg(d.action == t->want_action, "case %d: got action %s, want %s", _i,
		      action_str(d.action), action_str(t->want_action));
	ck_assert_msg(d.effective == t->want_effective, "case %d: got effective %s, want %s", _i,
		      action_str(d.effective), action_str(t->want_effective));
	ck_assert_msg(strcmp(d.code, t->code) == 0 && strcmp(d.enhanced, t->enh) == 0,
		      "case %d: got %s %s, want %s %s", _i, d.code, d.enhanced, t->code, t->enh);
	if (t->want_effective == ACTION_ACCEPT)
		ck_assert_msg(d.text[0] == '\0', "case %d: got text \"%s\" for an accept", _i, d.text);
	if (t->must1 != NULL)
		ck_assert_msg(strstr(d.text, t->must1) != NULL, "case %d: got \"%s\", want it to hold \"%s\"", _i, d.text, t->must1);
	if (t->must2 != NULL)
		ck_assert_msg(strstr(d.text, t->must2) != NULL, "case %d: got \"%s\", want it to hold \"%s\"", _i, d.text, t->must2);
	if (t->mustnot != NULL)
		ck_assert_msg(strstr(d.text, t->mustnot) == NULL, "case %d: got \"%s\", want no \"%s\"", _i, d.text, t->mustnot);
	assert_setreply_safe(d.text);
	if (t->monitor != NULL) {
		char want[128];

		snprintf(want, sizeof(want), "verdict=%s reason=%s action=%s mode=monitor",
			 verdict_str(t->v), reason_str(t->reason), action_str(t->want_action));
		ck_assert_msg(strcmp(d.header, want) == 0, "case %d: got header \"%s\", want \"%s\"", _i, d.header, want);
	} else
		ck_assert_msg(d.header[0] == '\0', "case %d: got header \"%s\" outside monitor mode", _i, d.header);
}
END_TEST

/* Action.<verdict> from the configuration drives the action */
START_TEST(test_reply_configured_actions)
{
	struct probe_result r;
	struct decision d;

	set("Action.invalid", "tempfail");
	set("Action.unknown", "reject");
	set("Action.tempfail", "accept");
	result(&r, VERDICT_INVALID, R_USER_UNKNOWN, "u@example.org", 550, "5.1.1", "no");
	decide_reply(&C, "<u@example.org>", 15, &r, &d);
	ck_assert_msg(d.effective == ACTION_TEMPFAIL && !strcmp(d.code, "450") && !strcmp(d.enhanced, "4.1.7"),
		      "invalid/tempfail: got %s %s %s, want tempfail 450 4.1.7", action_str(d.effective), d.code, d.enhanced);
	result(&r, VERDICT_UNKNOWN, R_POLICY_BLOCK, "u@example.org", 550, "5.7.1", "blocked");
	decide_reply(&C, "<u@example.org>", 15, &r, &d);
	ck_assert_msg(d.effective == ACTION_REJECT && !strcmp(d.code, "550") && !strcmp(d.enhanced, "5.7.1"),
		      "unknown/reject: got %s %s %s, want reject 550 5.7.1", action_str(d.effective), d.code, d.enhanced);
	result(&r, VERDICT_TEMPFAIL, R_GREYLISTED, "u@example.org", 450, "4.7.1", "later");
	decide_reply(&C, "<u@example.org>", 15, &r, &d);
	ck_assert_msg(d.effective == ACTION_ACCEPT && d.code[0] == '\0',
		      "tempfail/accept: got %s %s, want accept", action_str(d.effective), d.code);
}
END_TEST

/* hostile remote text and senders never reach smfi_setreply raw */
START_TEST(test_reply_hostile)
{
	struct probe_result r;
	struct decision d;
	char longtext[REPLY_TEXT_MAX];

	set("RejectDetail", "yes");
	result(&r, VERDICT_INVALID, R_USER_UNKNOWN, "100%@example.org", 550, "5.1.1",
	       "%n%s%%x \x1b[31m\r\nInjected: yes \xff");
	decide_reply(&C, "<100%@example.org>", 18, &r, &d);
	assert_setreply_safe(d.text);
	ck_assert_msg(strstr(d.text, "<100%%@example.org>") != NULL, "got \"%s\", want the sender with %% doubled", d.text);
	ck_assert_msg(strstr(d.text, "%%n%%s%%%%x") != NULL, "got \"%s\", want the remote %% doubled", d.text);

	/* no normalised address (bad syntax): the raw sender, sanitised and bounded */
	result(&r, VERDICT_BAD_SYNTAX, R_BAD_SYNTAX, "", 0, "", "");
	decide_reply(&C, "<a%\r\nRSET@x>", 12, &r, &d);
	assert_setreply_safe(d.text);
	ck_assert_msg(strstr(d.text, "<a%%??RSET@x>") != NULL || strstr(d.text, "<a%%  RSET@x>") != NULL,
		      "got \"%s\", want the raw sender sanitised", d.text);

	/* long everything: still bounded and safe */
	memset(longtext, '%', sizeof(longtext) - 1);
	longtext[sizeof(longtext) - 1] = '\0';
	result(&r, VERDICT_INVALID, R_USER_UNKNOWN, "", 550, "5.1.1", longtext);
	{
		char sender[600];

		memset(sender, '%', sizeof(sender) - 1);
		sender[sizeof(sender) - 1] = '\0';
		decide_reply(&C, sender, strlen(sender), &r, &d);
	}
	assert_setreply_safe(d.text);
	ck_assert_msg(strlen(d.text) < DECIDE_TEXT_MAX, "got %zu bytes, want < %d", strlen(d.text), DECIDE_TEXT_MAX);
	ck_assert_msg(strstr(d.text, "(user-unknown)") != NULL, "got \"%s\", want the reason kept", d.text);
}
END_TEST

/* the remote text stays out of the reply by default */
START_TEST(test_reply_no_detail_by_default)
{
	struct probe_result r;
	struct decision d;

	result(&r, VERDICT_INVALID, R_USER_UNKNOWN, "u@example.org", 550, "5.1.1", "secret-internal-host says no");
	decide_reply(&C, "<u@example.org>", 15, &r, &d);
	ck_assert_msg(strstr(d.text, "secret") == NULL && strstr(d.text, "5.1.1") == NULL,
		      "got \"%s\", want no remote text", d.text);
}
END_TEST

/* RejectReference: the reply ends with the cache key's reference, sav-cache why's argument */
START_TEST(test_reply_reference)
{
	struct probe_result r;
	struct decision d;
	struct conf c = C;
	char ref[9], want[32];

	result(&r, VERDICT_INVALID, R_USER_UNKNOWN, "u@example.org", 550, "5.1.1", "no");
	decide_reply(&c, "<u@example.org>", 15, &r, &d);
	ck_assert_msg(strstr(d.text, "ref ") == NULL, "got \"%s\", want no reference by default", d.text);
	c.reject_reference = 1;
	decide_reply(&c, "<u@example.org>", 15, &r, &d);
	util_ref("a:u@example.org", ref);
	snprintf(want, sizeof(want), "; ref %s", ref);
	ck_assert_msg(strlen(d.text) > strlen(want) &&
	    strcmp(d.text + strlen(d.text) - strlen(want), want) == 0,
	    "got \"%s\", want it to end in \"%s\"", d.text, want);
	/* pinned: a reference quoted in a bounce must mean the same entry after an upgrade */
	ck_assert_str_eq(ref, "c46843d7");
}
END_TEST

/* ---- decide_percent ---- */

struct pct_case {
	const char *in;
	size_t size;
	const char *want;
};

static const struct pct_case pct_cases[] = {
	{ "", 16, "" },
	{ "abc", 16, "abc" },
	{ "%", 16, "%%" },
	{ "a%b%c", 16, "a%%b%%c" },
	{ "%%", 16, "%%%%" },
	{ "%%%", 5, "%%%%" },	/* a pair is never split */
	{ "%%%", 4, "%%" },
	{ "%", 2, "" },
	{ "ab%", 4, "ab" },
	{ "abcdef", 4, "abc" },
};

START_TEST(test_percent)
{
	const struct pct_case *t = &pct_cases[_i];
	char out[32];
	size_t n;

	memset(out, 'X', sizeof(out));
	n = decide_percent(out, t->size, t->in);
	ck_assert_msg(strcmp(out, t->want) == 0 && n == strlen(t->want),
		      "\"%s\" into %zu: got \"%s\" (%zu), want \"%s\"", t->in, t->size, out, n, t->want);
}
END_TEST

Suite *
make_suite(void)
{
	Suite *s = suite_create("decide");
	TCase *tc;

	tc = tcase_create("exempt");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, test_exempt, 0, sizeof(ex_cases) / sizeof(ex_cases[0]));
	tcase_add_test(tc, test_exempt_address);
	suite_add_tcase(s, tc);

	tc = tcase_create("codes");
	tcase_add_loop_test(tc, test_codes, 0, sizeof(code_cases) / sizeof(code_cases[0]));
	tcase_add_test(tc, test_codes_match);
	suite_add_tcase(s, tc);

	tc = tcase_create("reply");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, test_reply, 0, sizeof(reply_cases) / sizeof(reply_cases[0]));
	tcase_add_test(tc, test_reply_configured_actions);
	tcase_add_test(tc, test_reply_hostile);
	tcase_add_test(tc, test_reply_no_detail_by_default);
	tcase_add_test(tc, test_reply_reference);
	suite_add_tcase(s, tc);

	tc = tcase_create("percent");
	tcase_add_loop_test(tc, test_percent, 0, sizeof(pct_cases) / sizeof(pct_cases[0]));
	suite_add_tcase(s, tc);
	return s;
}

#include "check_main.h"
