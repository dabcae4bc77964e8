/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * check_verdict - verdict names and RCPT reply classification
 * (probe/core/verdict.c).
 *
 * The classification table holds real-world replies (Postfix, Exchange,
 * Gmail, Spamhaus via Postfix, qmail, Lotus Domino, Yahoo) and the
 * edges of the precedence written at the top of verdict.c, tested in
 * both directions: a mailbox code beats weak policy wording, strong
 * blocklist wording beats a mailbox code, and wording inside an echoed
 * address counts for nothing.
 */
#include <string.h>

#include <check.h>

#include "verdict.h"

struct vcase {
	int		 code;
	const char	*enhanced;
	const char	*text;
	enum rcpt_class	 want;
};

static const struct vcase rows[] = {
	/* 2xx exists */
	{ 250, "2.1.5", "Ok", RCPT_EXISTS },
	{ 251, "", "User not local; will forward to <u@elsewhere.test>", RCPT_EXISTS },
	{ 220, "", "", RCPT_EXISTS },
	/* 252 proves nothing */
	{ 252, "2.0.0", "Cannot VRFY user, but will accept message", RCPT_OTHER },

	/* mailbox-level 5xx */
	{ 550, "5.1.1", "<nobody@example.test>: Recipient address rejected: "
	    "User unknown in virtual mailbox table", RCPT_NO_MAILBOX },
	{ 550, "5.1.1", "<nobody@example.test>: Recipient address rejected: "
	    "User unknown in local recipient table", RCPT_NO_MAILBOX },
	{ 550, "5.1.1", "<nobody@example.test>: Recipient address rejected: "
	    "User unknown in relay recipient table", RCPT_NO_MAILBOX },
	{ 550, "5.1.10", "RESOLVER.ADR.RecipientNotFound; Recipient "
	    "nobody@example.test not found by SMTP address lookup", RCPT_NO_MAILBOX },
	{ 550, "5.1.1", "The email account that you tried to reach does not "
	    "exist. Please try double-checking the recipient's email address "
	    "for typos or unnecessary spaces. For more information, go to "
	    "https://support.google.com/mail/?p=NoSuchUser - gsmtp", RCPT_NO_MAILBOX },
	{ 550, "5.1.1", "<nobody@example.test>... User unknown", RCPT_NO_MAILBOX },
	{ 550, "5.1.0", "Address rejected", RCPT_NO_MAILBOX },
	{ 550, "5.1.6", "Recipient has moved, no forwarding address", RCPT_NO_MAILBOX },
	{ 550, "5.2.1", "The email account that you tried to reach is disabled", RCPT_NO_MAILBOX },
	{ 550, "5.1.2", "Host unknown (Name server: host not found)", RCPT_NO_MAILBOX },
	{ 550, "", "No such user here", RCPT_NO_MAILBOX },
	{ 550, "", "unknown user", RCPT_NO_MAILBOX },
	{ 551, "", "User not local; please try <u@elsewhere.test>", RCPT_NO_MAILBOX },
	{ 553, "", "sorry, no mailbox here by that name", RCPT_NO_MAILBOX },
	{ 550, "", "sorry, no mailbox here by that name. (#5.1.1)", RCPT_NO_MAILBOX },
	{ 550, "", "", RCPT_NO_MAILBOX },
	{ 554, "", "delivery error: dd This user doesn't have a example.test "
	    "account (nobody@example.test) [0] - mta1.example.test", RCPT_NO_MAILBOX },
	{ 554, "", "Requested action not taken: mailbox unavailable", RCPT_NO_MAILBOX },
	{ 554, "", "<nobody@example.test>: user unknown", RCPT_NO_MAILBOX },
	{ 550, "5.0.0", "<nobody@example.test>... User unknown", RCPT_NO_MAILBOX },

	/* precedence: weak wording does not beat an explicit mailbox code */
	{ 550, "5.1.1", "User not listed in public Name & Address Book", RCPT_NO_MAILBOX },
	{ 550, "5.1.1", "Recipient address rejected: Access denied", RCPT_NO_MAILBOX },
	{ 550, "5.1.1", "Recipient address rejected: policy says no such user", RCPT_NO_MAILBOX },
	/* ... and strong wording does */
	{ 550, "5.1.1", "Client host [192.0.2.1] blocked using zen.spamhaus.org", RCPT_POLICY },
	{ 550, "5.1.1", "Your IP 192.0.2.1 is on our DNSBL", RCPT_POLICY },
	{ 550, "5.1.1", "Relay access denied", RCPT_POLICY },
	{ 550, "5.2.1", "Mailbox disabled: sender on blacklist", RCPT_POLICY },
	{ 550, "5.1.1", "rejected: listed at RBL rbl.example.test", RCPT_POLICY },
	/* echoed addresses carry no wording (a forger picks them) */
	{ 550, "5.1.1", "<spamhaus.blocked@example.test>: Recipient address "
	    "rejected: User unknown in virtual mailbox table", RCPT_NO_MAILBOX },
	{ 550, "5.1.1", "<\"x>client host blocked\"@example.test>: Recipient "
	    "address rejected: User unknown", RCPT_NO_MAILBOX },
	{ 550, "5.1.1", "blacklist.relay.denied@example.test... User unknown", RCPT_NO_MAILBOX },
	{ 550, "", "<abuse-blocked@example.test>... User unknown", RCPT_NO_MAILBOX },
	/* "rbl" only as a word */
	{ 550, "", "garbled recipient, no such user", RCPT_NO_MAILBOX },

	/* policy 5xx */
	{ 554, "5.7.1", "Service unavailable; Client host [192.0.2.1] blocked "
	    "using zen.spamhaus.org; https://www.spamhaus.org/query/ip/192.0.2.1", RCPT_POLICY },
	{ 550, "5.7.1", "Relaying denied", RCPT_POLICY },
	{ 554, "5.7.1", "<nobody@example.test>: Relay access denied", RCPT_POLICY },
	{ 550, "", "Relay access denied", RCPT_POLICY },
	{ 553, "", "sorry, that domain isn't in my list of allowed rcpthosts (#5.7.1)", RCPT_POLICY },
	{ 550, "5.7.606", "Access denied, banned sending IP [192.0.2.1]", RCPT_POLICY },
	{ 550, "", "Mail from 192.0.2.1 rejected due to listing in RBL", RCPT_POLICY },
	{ 554, "", "Your IP has been blocked by policy", RCPT_POLICY },
	{ 550, "", "Message rejected as spam by Content Filtering", RCPT_POLICY },
	{ 550, "5.4.1", "Recipient address rejected: Access denied. "
	    "AS(201806281) [x.prod.outlook.test]", RCPT_POLICY },
	{ 550, "", "User not listed in public Name & Address Book", RCPT_POLICY },
	/* the 5xx is about OUR sender, not the mailbox */
	{ 550, "5.1.8", "<>: Sender address rejected: Domain not found", RCPT_POLICY },
	{ 553, "5.1.7", "The sender address is not a valid mailbox", RCPT_POLICY },
	/* ... also without an enhanced code (rule 14 must not call it a mailbox) */
	{ 550, "", "Sender verify failed", RCPT_POLICY },
	{ 550, "", "Null sender not accepted here", RCPT_POLICY },
	{ 553, "", "sorry, your envelope sender is in my badmailfrom list (#5.7.1)", RCPT_POLICY },
	/* Exim: an ACL "deny" without a message */
	{ 550, "", "Administrative prohibition", RCPT_POLICY },
	{ 554, "", "Relaying prohibited", RCPT_POLICY },
	/* Haraka: the access plugin's refusal of the client, behind delay_deny */
	{ 550, "", "Unknown [192.0.2.1] You are not allowed to connect", RCPT_POLICY },
	/* "connect" only as a word */
	{ 550, "", "<nobody@example.test>: unknown user, reconnecting will not help", RCPT_NO_MAILBOX },
	/* a mailbox code still wins over the plain word */
	{ 550, "5.1.1", "User unknown (sender notified)", RCPT_NO_MAILBOX },
	/* STARTTLS required */
	{ 530, "5.7.0", "Must issue a STARTTLS command first", RCPT_POLICY },
	{ 530, "", "Must issue a STARTTLS command first", RCPT_POLICY },

	/* mailbox full means it exists */
	{ 552, "5.2.2", "Mailbox full", RCPT_MAILBOX_FULL },
	{ 452, "4.2.2", "Over quota", RCPT_MAILBOX_FULL },
	{ 552, "", "Requested mail action aborted: exceeded storage allocation", RCPT_MAILBOX_FULL },
	/* a bare 452 is storage or too many recipients (RFC 5321), not the mailbox */
	{ 452, "", "Requested action not taken: insufficient system storage", RCPT_TEMP },
	{ 452, "", "Mailbox full", RCPT_TEMP },
	{ 452, "4.2.0", "Over quota", RCPT_TEMP },
	{ 550, "5.2.2", "The email account that you tried to reach is over quota", RCPT_MAILBOX_FULL },
	{ 450, "4.2.2", "The email account that you tried to reach is over quota", RCPT_MAILBOX_FULL },
	{ 552, "5.2.3", "Message length exceeds administrative limit", RCPT_MAILBOX_FULL },
	/* ... but an explicit other enhanced code wins over 552/452 */
	{ 552, "5.7.0", "Message blocked: content policy", RCPT_POLICY },
	{ 552, "5.3.4", "Message size exceeds fixed limit", RCPT_OTHER },
	{ 552, "", "Spam message rejected", RCPT_POLICY },
	{ 452, "4.5.3", "Too many recipients", RCPT_TEMP },
	{ 452, "", "Too many recipients", RCPT_TEMP },
	{ 452, "4.3.1", "Insufficient system storage", RCPT_TEMP },

	/* 4xx is temporary, greylisting included */
	{ 450, "4.7.1", "<u@example.test>: Recipient address rejected: Greylisted", RCPT_TEMP },
	{ 451, "4.7.1", "Please try again later", RCPT_TEMP },
	{ 450, "4.1.1", "<nobody@example.test>: Recipient address rejected: "
	    "unverified address: host mx.example.test said: 550 5.1.1 User unknown", RCPT_TEMP },
	{ 421, "4.7.0", "Too many connections, closing transmission channel", RCPT_TEMP },
	{ 451, "", "Temporary local problem - please try later", RCPT_TEMP },
	{ 450, "", "Mailbox unavailable", RCPT_TEMP },

	/* our command refused for its syntax or length */
	{ 501, "5.1.3", "Bad recipient address syntax", RCPT_SYNTAX },
	{ 553, "5.1.3", "Bad recipient address syntax", RCPT_SYNTAX },
	{ 550, "5.1.3", "Invalid address", RCPT_SYNTAX },
	{ 501, "", "path too long", RCPT_SYNTAX },
	{ 501, "5.5.4", "Syntax error in parameters or arguments", RCPT_SYNTAX },
	{ 553, "", "Address too long", RCPT_SYNTAX },
	{ 501, "5.5.2", "Invalid argument", RCPT_OTHER },

	/* 5xx that proves nothing */
	{ 500, "5.5.1", "Command unrecognized", RCPT_OTHER },
	{ 502, "5.5.2", "Error: command not recognized", RCPT_OTHER },
	{ 503, "5.5.1", "Error: need MAIL command", RCPT_OTHER },
	{ 504, "5.5.2", "<nobody>: Recipient address rejected: need fully-qualified address", RCPT_OTHER },
	{ 554, "", "Transaction failed", RCPT_OTHER },
	{ 554, "5.5.0", "Error", RCPT_OTHER },
	{ 550, "5.1.4", "Destination mailbox address ambiguous", RCPT_OTHER },
	{ 550, "5.0.0", "Requested action not taken", RCPT_OTHER },
	/* a well-formed enhanced code outranks the wording */
	{ 550, "5.5.1", "User unknown", RCPT_OTHER },
	{ 550, "5.5.0", "No such user here", RCPT_OTHER },
	{ 553, "5.3.0", "<nobody@example.test>: user unknown", RCPT_OTHER },
	{ 554, "5.4.4", "Recipient address rejected: mailbox unavailable", RCPT_OTHER },
	{ 521, "5.3.2", "Host does not accept mail", RCPT_OTHER },
	/* a contradicting enhanced class is ignored, as reply.c does */
	{ 550, "4.1.1", "No such user here", RCPT_NO_MAILBOX },
	{ 550, "junk", "No such user here", RCPT_NO_MAILBOX },
	{ 550, NULL, NULL, RCPT_NO_MAILBOX },

	/* OpenSMTPD's answer for an unknown virtual user: the list of one expands to nothing */
	{ 524, "5.2.4", "Mailing list expansion problem: <nobody@example.test>", RCPT_NO_MAILBOX },
	{ 550, "5.2.4", "Mailing list expansion problem: blocked by spamhaus", RCPT_POLICY },

	/* codes outside 200..599 */
	{ 0, "", "", RCPT_OTHER },
	{ 199, "", "", RCPT_OTHER },
	{ 354, "", "End data with <CR><LF>.<CR><LF>", RCPT_OTHER },
	{ 600, "", "No such user", RCPT_OTHER },
	{ -550, "5.1.1", "User unknown", RCPT_OTHER },
	{ 5501, "5.1.1", "User unknown", RCPT_OTHER },
};

START_TEST(test_classify)
{
	const struct vcase *c = &rows[_i];
	enum rcpt_class got;

	got = verdict_classify_rcpt(c->code, c->enhanced, c->text);
	ck_assert_msg(got == c->want, "%d %s %s: got %s, want %s", c->code,
	    c->enhanced != NULL ? c->enhanced : "(null)",
	    c->text != NULL ? c->text : "(null)", rcpt_class_str(got),
	    rcpt_class_str(c->want));
}
END_TEST

static const struct {
	const char	*text;
	int		 want;
} wording[] = {
	{ "Client host [192.0.2.1] blocked using zen.spamhaus.org", 1 },
	{ "CLIENT HOST REJECTED", 1 },
	{ "Relay access denied", 1 },
	{ "listed on Barracuda Reputation Block List", 1 },
	{ "see http://www.spamcop.net/bl.shtml", 1 },
	{ "IP on SORBS", 1 },
	{ "in RBL", 1 },
	{ "rbl.example.test says no", 1 },
	{ "Message rejected due to content", 1 },
	{ "Not permitted by local policy", 1 },
	{ "Your IP is on our denylist", 1 },
	{ "User unknown in virtual mailbox table", 0 },
	{ "Recipient address rejected", 0 },
	{ "No such user here", 0 },
	{ "garbled address", 0 },
	{ "<spamhaus@example.test>: User unknown", 0 },
	{ "x.relay@example.test... User unknown", 0 },
	{ "", 0 },
	{ NULL, 0 },
};

START_TEST(test_policy_wording)
{
	const char *t = wording[_i].text;
	int got = verdict_policy_wording(t) != 0;

	ck_assert_msg(got == wording[_i].want, "\"%s\": got %d, want %d",
	    t != NULL ? t : "(null)", got, wording[_i].want);
}
END_TEST

static const struct {
	int		 code;
	const char	*enhanced;
	const char	*text;
	enum mail_class	 want;
} mail_rows[] = {
	/* TLS first, whatever the code: never about our sender */
	{ 530, "5.7.0", "Must issue a STARTTLS command first", MAIL_TLS },
	{ 530, "5.5.1", "Invalid command: Must issue a STARTTLS command first", MAIL_TLS },
	{ 454, "4.7.0", "encryption too weak 0 less than 128", MAIL_TLS },
	{ 550, "5.7.1", "TLS required", MAIL_TLS },
	{ 554, "", "SSL required for this domain", MAIL_TLS },
	{ 530, "", "must issue a starttls command first", MAIL_TLS },
	/* about us: our client address, our name, a blocklist */
	{ 554, "5.7.1", "Client host blocked by local policy", MAIL_POLICY },
	{ 550, "5.7.1", "Client host [127.0.0.2] blocked using zen.spamhaus.org", MAIL_POLICY },
	{ 550, "5.7.1", "<>: Sender address rejected: your IP is blacklisted", MAIL_POLICY },
	{ 550, "", "Administrative prohibition", MAIL_POLICY },
	{ 554, "5.7.1", "Access denied", MAIL_POLICY },
	{ 550, "5.7.1", "HELO name rejected", MAIL_POLICY },
	{ 550, "", "", MAIL_POLICY },
	{ 550, NULL, NULL, MAIL_POLICY },
	/* about the null sender */
	{ 550, "5.7.1", "Null sender not accepted", MAIL_NULL_SENDER },
	{ 553, "5.1.7", "The sender address is not a valid RFC-5321 address", MAIL_NULL_SENDER },
	{ 550, "5.1.0", "Address rejected", MAIL_NULL_SENDER },
	{ 554, "5.7.1", "<>: Sender address rejected: Access denied", MAIL_NULL_SENDER },
	{ 550, "", "Bounce messages are not accepted here", MAIL_NULL_SENDER },
	{ 550, "", "empty envelope sender not allowed", MAIL_NULL_SENDER },
	{ 501, "", "<>: no bounces", MAIL_NULL_SENDER },
	/* not a refusal, or a temporary one */
	{ 250, "2.1.0", "Ok", MAIL_OTHER },
	{ 451, "4.7.1", "Greylisted, try again later", MAIL_TEMP },
	{ 421, "4.3.2", "Service shutting down", MAIL_TEMP },
	{ 0, "", "", MAIL_OTHER },
};

START_TEST(test_classify_mail)
{
	enum mail_class got = verdict_classify_mail(mail_rows[_i].code,
	    mail_rows[_i].enhanced, mail_rows[_i].text);

	ck_assert_msg(got == mail_rows[_i].want, "%d %s %s: got %s, want %s",
	    mail_rows[_i].code, mail_rows[_i].enhanced ? mail_rows[_i].enhanced : "(null)",
	    mail_rows[_i].text ? mail_rows[_i].text : "(null)", mail_class_str(got),
	    mail_class_str(mail_rows[_i].want));
}
END_TEST

/* TLS wording inside an echoed address or at a success code is no TLS demand */
START_TEST(test_tls_required)
{
	ck_assert_int_ne(verdict_tls_required(530, "5.7.0", "Must issue a STARTTLS command first"), 0);
	ck_assert_int_ne(verdict_tls_required(454, "4.7.0", "encryption too weak 0 less than 128"), 0);
	ck_assert_int_eq(verdict_tls_required(250, "2.1.5", "Ok, TLS"), 0);
	ck_assert_int_eq(verdict_tls_required(550, "5.1.1", "<starttls@example.test>: User unknown"), 0);
	ck_assert_int_eq(verdict_tls_required(550, "5.1.1", "tls.user@example.test... User unknown"), 0);
	ck_assert_int_eq(verdict_tls_required(550, "5.1.1", "User unknown (outlast)"), 0);
	ck_assert_int_eq(verdict_tls_required(550, "5.1.1", NULL), 0);
}
END_TEST

static const char *const names[VERDICT_COUNT] = {
	"valid", "invalid", "bad-domain", "bad-syntax", "catch-all",
	"unknown", "tempfail", "skipped", "error",
};

START_TEST(test_verdict_roundtrip)
{
	enum verdict v = (enum verdict)_i, back = VERDICT_COUNT;
	const char *s = verdict_str(v);

	ck_assert_msg(strcmp(s, names[_i]) == 0, "verdict %d: got \"%s\", "
	    "want \"%s\"", _i, s, names[_i]);
	ck_assert_msg(verdict_parse(s, &back) == 0, "parse \"%s\": got -1, "
	    "want 0", s);
	ck_assert_msg(back == v, "parse \"%s\": got %d, want %d", s, back, v);
}
END_TEST

START_TEST(test_verdict_parse_bad)
{
	static const char *const bad[] = {
		"", "valid ", " valid", "valids", "vali", "bad_domain",
		"catchall", "fail", "?",
	};
	enum verdict v = VERDICT_UNKNOWN;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_msg(verdict_parse(bad[i], &v) == -1,
		    "parse \"%s\": got 0, want -1", bad[i]);
		ck_assert_msg(v == VERDICT_UNKNOWN,
		    "parse \"%s\" changed *out to %d", bad[i], v);
	}
	ck_assert_int_eq(verdict_parse(NULL, &v), -1);
	ck_assert_int_eq(verdict_parse("Tempfail", &v), 0);
	ck_assert_int_eq(v, VERDICT_TEMPFAIL);
	ck_assert_str_eq(verdict_str(VERDICT_COUNT), "?");
	ck_assert_str_eq(verdict_str((enum verdict)-1), "?");
}
END_TEST

START_TEST(test_class_names)
{
	static const char *const want[] = {
		[RCPT_EXISTS] = "exists", [RCPT_NO_MAILBOX] = "no-mailbox",
		[RCPT_MAILBOX_FULL] = "mailbox-full", [RCPT_POLICY] = "policy",
		[RCPT_TEMP] = "temp", [RCPT_SYNTAX] = "syntax",
		[RCPT_OTHER] = "other",
	};
	size_t i;

	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		ck_assert_msg(strcmp(rcpt_class_str((enum rcpt_class)i),
		    want[i]) == 0, "class %zu: got \"%s\", want \"%s\"", i,
		    rcpt_class_str((enum rcpt_class)i), want[i]);
	ck_assert_str_eq(rcpt_class_str((enum rcpt_class)99), "?");
}
END_TEST

START_TEST(test_long_text)
{
	static char text[8192];

	/* the whole text is read: wording at its end counts as at its start */
	memset(text, 'a', sizeof(text) - 1);
	ck_assert_int_eq(verdict_classify_rcpt(550, "", text), RCPT_NO_MAILBOX);
	memcpy(text + sizeof(text) - 20, " spamhaus", 9);
	ck_assert_int_eq(verdict_classify_rcpt(550, "", text), RCPT_POLICY);
	memset(text, 'a', sizeof(text) - 1);
	memcpy(text, "spamhaus ", 9);
	ck_assert_int_eq(verdict_classify_rcpt(550, "", text), RCPT_POLICY);
}
END_TEST

/* every reason has one token: [a-z0-9-], unique, and parses back to itself */
START_TEST(test_reason_roundtrip)
{
	enum reason r = (enum reason)_i, back = R_COUNT;
	const char *s = reason_str(r);
	int j;

	if (r == R_NONE) {
		ck_assert_str_eq(s, "");
	} else {
		ck_assert_msg(s[0] != '\0' && strcmp(s, "?") != 0 && strlen(s) <= 31 &&
			      strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789-") == strlen(s),
			      "reason %d: got token \"%s\"", _i, s);
		for (j = 1; j < R_COUNT; j++)
			ck_assert_msg(j == _i || strcmp(reason_str((enum reason)j), s) != 0,
				      "reasons %d and %d are both \"%s\"", _i, j, s);
	}
	ck_assert_msg(reason_parse(s, &back) == 0 && back == r,
		      "reason %d \"%s\": parses back to %d", _i, s, (int)back);
}
END_TEST

/* the spellings logs, JSON and old cache files use, and what is no reason */
START_TEST(test_reason_names)
{
	static const struct { enum reason r; const char *s; } fixed[] = {
		{ R_USER_OK, "user-ok" }, { R_USER_UNKNOWN, "user-unknown" },
		{ R_NULL_SENDER_REFUSED, "null-sender-refused" }, { R_BAD_DOMAIN_NAME, "bad-domain-name" },
		{ R_CACHED_DOMAIN, "domain-cached" }, { R_LOCAL, "local-submission" },
		{ R_RCPT_SYNTAX, "rcpt-syntax" }, { R_INTERNAL, "internal" }, { R_OTHER, "other" },
	};
	enum reason r = R_USER_OK;
	size_t i;

	for (i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
		ck_assert_str_eq(reason_str(fixed[i].r), fixed[i].s);
	ck_assert_int_eq(reason_parse("made-up-reason", &r), -1);
	ck_assert_int_eq(reason_parse("User-OK", &r), -1);
	ck_assert_int_eq(reason_parse(NULL, &r), -1);
	ck_assert_int_eq(r, R_USER_OK);		/* untouched on failure */
	ck_assert_str_eq(reason_str(R_COUNT), "?");
	ck_assert_str_eq(reason_str((enum reason)-1), "?");
}
END_TEST

Suite *
make_suite(void)
{
	Suite *s = suite_create("verdict");
	TCase *tc;

	tc = tcase_create("classify");
	tcase_add_loop_test(tc, test_classify, 0,
	    (int)(sizeof(rows) / sizeof(rows[0])));
	tcase_add_test(tc, test_long_text);
	suite_add_tcase(s, tc);

	tc = tcase_create("mail");
	tcase_add_loop_test(tc, test_classify_mail, 0,
	    (int)(sizeof(mail_rows) / sizeof(mail_rows[0])));
	tcase_add_test(tc, test_tls_required);
	suite_add_tcase(s, tc);

	tc = tcase_create("wording");
	tcase_add_loop_test(tc, test_policy_wording, 0,
	    (int)(sizeof(wording) / sizeof(wording[0])));
	suite_add_tcase(s, tc);

	tc = tcase_create("names");
	tcase_add_loop_test(tc, test_verdict_roundtrip, 0, VERDICT_COUNT);
	tcase_add_test(tc, test_verdict_parse_bad);
	tcase_add_test(tc, test_class_names);
	tcase_add_loop_test(tc, test_reason_roundtrip, 0, R_COUNT);
	tcase_add_test(tc, test_reason_names);
	suite_add_tcase(s, tc);
	return s;
}

#include "check_main.h"
