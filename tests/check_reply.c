/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * check_reply - the SMTP reply parser (probe/core/reply.c).
 *
 * One table of scripted replies (lines fed in order: every line but
 * the last must give REPLY_MORE, the last gives the wanted status),
 * then generated cases for the caps (line length, line count, bytes,
 * retained text), then reply_parse_enhanced on its own. Every case
 * also checks that the retained text is printable ASCII.
 */
#include <stdio.h>
#include <string.h>

#include <check.h>

#include "reply.h"

#define MAXL	8

struct line {
	const char	*s;
	size_t		 len;
};

/* L("...") keeps embedded NULs: the length comes from sizeof */
#define L(x)	{ x, sizeof(x) - 1 }

struct rcase {
	const char		*name;
	struct line		 lines[MAXL];	/* ends at s == NULL */
	enum reply_status	 want;
	int			 code;		/* checked unless want == REPLY_ERROR */
	const char		*enhanced;
	const char		*text;
	unsigned		 ext;
};

static const char *
status_str(enum reply_status s)
{
	switch (s) {
	case REPLY_MORE: return "MORE";
	case REPLY_DONE: return "DONE";
	case REPLY_ERROR: return "ERROR";
	}
	return "?";
}

static const struct rcase cases[] = {
	{ "single line", { L("220 mx.example.test ESMTP Postfix") },
	  REPLY_DONE, 220, "", "mx.example.test ESMTP Postfix", 0 },
	{ "bare code is last line", { L("250") },
	  REPLY_DONE, 250, "", "", 0 },
	{ "code and space only", { L("250 ") },
	  REPLY_DONE, 250, "", "", 0 },
	{ "trailing CR removed", { L("250 OK\r") },
	  REPLY_DONE, 250, "", "OK", 0 },
	{ "bare code with CR", { L("354\r") },
	  REPLY_DONE, 354, "", "", 0 },
	{ "stray second CR trimmed from text", { L("250 OK\r\r") },
	  REPLY_DONE, 250, "", "OK", 0 },
	{ "only one CR removed before the separator", { L("250\r\r") },
	  REPLY_ERROR, 0, NULL, NULL, 0 },
	{ "EHLO multi-line with extensions", {
	    L("250-mx.example.test"), L("250-PIPELINING"),
	    L("250-SIZE 10240000"), L("250-STARTTLS"),
	    L("250-8BITMIME"), L("250 SMTPUTF8") },
	  REPLY_DONE, 250, "",
	  "mx.example.test PIPELINING SIZE 10240000 STARTTLS 8BITMIME SMTPUTF8",
	  REPLY_EXT_PIPELINING | REPLY_EXT_STARTTLS | REPLY_EXT_8BITMIME |
	  REPLY_EXT_SMTPUTF8 },
	{ "EHLO keywords case-insensitive", {
	    L("250-mx"), L("250-pipelining"), L("250 StartTLS") },
	  REPLY_DONE, 250, "", "mx pipelining StartTLS",
	  REPLY_EXT_PIPELINING | REPLY_EXT_STARTTLS },
	{ "EHLO keyword must be a whole word", {
	    L("250-mx"), L("250-PIPELININGX"), L("250-XSTARTTLS"),
	    L("250 SMTPUTF8X") },
	  REPLY_DONE, 250, "", "mx PIPELININGX XSTARTTLS SMTPUTF8X", 0 },
	{ "EHLO keyword on first line counts", { L("250 PIPELINING") },
	  REPLY_DONE, 250, "", "PIPELINING", REPLY_EXT_PIPELINING },
	{ "EHLO keyword with CRLF", {
	    L("250-mx\r"), L("250 STARTTLS\r") },
	  REPLY_DONE, 250, "", "mx STARTTLS", REPLY_EXT_STARTTLS },
	{ "keyword not an extension outside 250", {
	    L("554 STARTTLS not available") },
	  REPLY_DONE, 554, "", "STARTTLS not available", 0 },
	{ "continuation only: more", { L("250-mx.example.test") },
	  REPLY_MORE, 250, "", "mx.example.test", 0 },
	{ "mixed codes across lines", {
	    L("250-mx.example.test"), L("251 hello") },
	  REPLY_ERROR, 0, NULL, NULL, 0 },
	{ "mixed first digit across lines", {
	    L("550-5.1.1 no"), L("250 5.1.1 yes") },
	  REPLY_ERROR, 0, NULL, NULL, 0 },
	{ "250x junk separator", { L("250x") },
	  REPLY_ERROR, 0, NULL, NULL, 0 },
	{ "220x junk after code", { L("220xmx ESMTP") },
	  REPLY_ERROR, 0, NULL, NULL, 0 },
	{ "code 199 out of range", { L("199 hello") },
	  REPLY_ERROR, 0, NULL, NULL, 0 },
	{ "code 600 out of range", { L("600 hello") },
	  REPLY_ERROR, 0, NULL, NULL, 0 },
	{ "code 2500 four digits", { L("2500 hello") },
	  REPLY_ERROR, 0, NULL, NULL, 0 },
	{ "code 25 too short", { L("25") },
	  REPLY_ERROR, 0, NULL, NULL, 0 },
	{ "empty line", { L("") },
	  REPLY_ERROR, 0, NULL, NULL, 0 },
	{ "leading space", { L(" 250 OK") },
	  REPLY_ERROR, 0, NULL, NULL, 0 },
	{ "tab separator", { L("250\tOK") },
	  REPLY_ERROR, 0, NULL, NULL, 0 },
	{ "NUL in text", { L("250 O\0K") },
	  REPLY_ERROR, 0, NULL, NULL, 0 },
	{ "NUL in code", { L("2\00050 OK") },
	  REPLY_ERROR, 0, NULL, NULL, 0 },
	{ "NUL on a later line", { L("250-a"), L("250 b\0") },
	  REPLY_ERROR, 0, NULL, NULL, 0 },
	{ "SSH banner", { L("SSH-2.0-OpenSSH_9.2p1 Debian-2") },
	  REPLY_ERROR, 0, NULL, NULL, 0 },
	{ "HTTP status line", { L("HTTP/1.1 400 Bad Request") },
	  REPLY_ERROR, 0, NULL, NULL, 0 },
	{ "binary bytes (TLS record)", { L("\x16\x03\x01\x02\x00\x01") },
	  REPLY_ERROR, 0, NULL, NULL, 0 },
	{ "8-bit byte in code", { L("2\xb5" "0 OK") },
	  REPLY_ERROR, 0, NULL, NULL, 0 },
	{ "garbage after a good first line", { L("250-mx"), L("hello") },
	  REPLY_ERROR, 0, NULL, NULL, 0 },
	{ "printf directives kept as text", { L("550 %n%s%x%%") },
	  REPLY_DONE, 550, "", "%n%s%x%%", 0 },
	{ "ESC and 8-bit sanitised", { L("220 \x1b[31mred\x1b[0m caf\xc3\xa9") },
	  REPLY_DONE, 220, "", "?[31mred?[0m caf??", 0 },
	{ "bare CR inside text becomes space", { L("250 a\rb") },
	  REPLY_DONE, 250, "", "a b", 0 },
	{ "tab inside text becomes space", { L("250 a\tb") },
	  REPLY_DONE, 250, "", "a b", 0 },
	{ "enhanced code extracted", {
	    L("550 5.1.1 <nobody@example.test>: Recipient address rejected: "
	      "User unknown in virtual mailbox table") },
	  REPLY_DONE, 550, "5.1.1",
	  "<nobody@example.test>: Recipient address rejected: "
	  "User unknown in virtual mailbox table", 0 },
	{ "enhanced code removed on every line (Gmail)", {
	    L("550-5.1.1 The email account that you tried to reach does"),
	    L("550-5.1.1 not exist. Please try double-checking the"),
	    L("550 5.1.1 recipient's email address - gsmtp") },
	  REPLY_DONE, 550, "5.1.1",
	  "The email account that you tried to reach does not exist. "
	  "Please try double-checking the recipient's email address - gsmtp", 0 },
	{ "enhanced code with 2-digit detail", {
	    L("550 5.1.10 RESOLVER.ADR.RecipientNotFound; not found") },
	  REPLY_DONE, 550, "5.1.10", "RESOLVER.ADR.RecipientNotFound; not found", 0 },
	{ "enhanced code alone", { L("250 2.1.5") },
	  REPLY_DONE, 250, "2.1.5", "", 0 },
	{ "enhanced class mismatch ignored", { L("250 5.1.1 odd but fine") },
	  REPLY_DONE, 250, "", "5.1.1 odd but fine", 0 },
	{ "enhanced class 3 is not enhanced", { L("550 3.1.1 x") },
	  REPLY_DONE, 550, "", "3.1.1 x", 0 },
	{ "enhanced detail of 4 digits ignored", { L("550 5.1.1000 x") },
	  REPLY_DONE, 550, "", "5.1.1000 x", 0 },
	{ "enhanced code glued to text ignored", { L("550 5.1.1x user") },
	  REPLY_DONE, 550, "", "5.1.1x user", 0 },
	{ "a later line supplies the code the first lacked", {
	    L("550-no code here"), L("550 5.1.1 user unknown") },
	  REPLY_DONE, 550, "5.1.1", "no code here user unknown", 0 },
	{ "lines disagree: a policy code on the last line wins", {
	    L("550-5.1.1 user unknown"), L("550 5.7.1 client host blocked") },
	  REPLY_DONE, 550, "5.7.1", "user unknown client host blocked", 0 },
	{ "lines disagree: a policy code on the first line stays", {
	    L("550-5.7.1 client host blocked"), L("550 5.1.1 user unknown") },
	  REPLY_DONE, 550, "5.7.1", "client host blocked user unknown", 0 },
	{ "lines disagree, neither policy: the first line's code stays", {
	    L("550-5.1.1 user unknown"), L("550 5.5.1 bad command") },
	  REPLY_DONE, 550, "5.1.1", "user unknown bad command", 0 },
	{ "greylisting", { L("450 4.7.1 <u@example.test>: Recipient address "
	    "rejected: Greylisted, see https://postgrey.schweikert.ch/") },
	  REPLY_DONE, 450, "4.7.1", "<u@example.test>: Recipient address "
	  "rejected: Greylisted, see https://postgrey.schweikert.ch/", 0 },
	{ "blanks trimmed and empty lines joined cleanly", {
	    L("250-  a  "), L("250-"), L("250    b") },
	  REPLY_DONE, 250, "", "a b", 0 },
};

static void
assert_printable(const char *name, const char *s)
{
	size_t i;

	for (i = 0; s[i] != '\0'; i++)
		ck_assert_msg((unsigned char)s[i] >= 0x20 &&
		    (unsigned char)s[i] <= 0x7e,
		    "%s: text byte %zu is 0x%02x, want printable ASCII",
		    name, i, (unsigned char)s[i]);
	ck_assert_msg(i < REPLY_TEXT_MAX, "%s: text length %zu, want < %d",
	    name, i, REPLY_TEXT_MAX);
}

START_TEST(test_table)
{
	const struct rcase *c = &cases[_i];
	struct reply r;
	enum reply_status st = REPLY_ERROR;
	int i, n;

	for (n = 0; n < MAXL && c->lines[n].s != NULL; n++)
		;
	ck_assert_int_gt(n, 0);
	reply_init(&r);
	for (i = 0; i < n; i++) {
		st = reply_feed(&r, c->lines[i].s, c->lines[i].len);
		if (i < n - 1)
			ck_assert_msg(st == REPLY_MORE,
			    "%s: line %d: got %s, want MORE", c->name, i + 1,
			    status_str(st));
	}
	ck_assert_msg(st == c->want, "%s: got %s (%s), want %s", c->name,
	    status_str(st), r.error != NULL ? r.error : "no error",
	    status_str(c->want));
	assert_printable(c->name, r.text);
	if (c->want == REPLY_ERROR) {
		ck_assert_msg(r.error != NULL && r.error[0] != '\0',
		    "%s: got no error reason, want one", c->name);
		/* sticky: a perfectly good line does not revive it */
		st = reply_feed(&r, "250 OK", 6);
		ck_assert_msg(st == REPLY_ERROR,
		    "%s: after error got %s, want ERROR", c->name,
		    status_str(st));
		return;
	}
	ck_assert_msg(r.error == NULL, "%s: got error \"%s\", want none",
	    c->name, r.error);
	ck_assert_msg(r.code == c->code, "%s: code: got %d, want %d",
	    c->name, r.code, c->code);
	ck_assert_msg(strcmp(r.enhanced, c->enhanced) == 0,
	    "%s: enhanced: got \"%s\", want \"%s\"", c->name, r.enhanced,
	    c->enhanced);
	ck_assert_msg(strcmp(r.text, c->text) == 0,
	    "%s: text: got \"%s\", want \"%s\"", c->name, r.text, c->text);
	ck_assert_msg(r.ext == c->ext, "%s: ext: got 0x%x, want 0x%x",
	    c->name, r.ext, c->ext);
	ck_assert_msg(r.nlines == n, "%s: nlines: got %d, want %d", c->name,
	    r.nlines, n);
}
END_TEST

/* fill buf with a reply line "250-xxx..." of exactly len bytes */
static void
make_line(char *buf, size_t len, char sep, char fill)
{
	memset(buf, fill, len);
	memcpy(buf, "250", 3);
	if (len > 3)
		buf[3] = sep;
}

START_TEST(test_line_max_ok)
{
	static char buf[REPLY_LINE_MAX + 1];
	struct reply r;

	make_line(buf, REPLY_LINE_MAX, ' ', 'a');
	reply_init(&r);
	ck_assert_msg(reply_feed(&r, buf, REPLY_LINE_MAX) == REPLY_DONE,
	    "line of REPLY_LINE_MAX: got %s, want DONE",
	    r.error != NULL ? r.error : "not done");
}
END_TEST

START_TEST(test_line_max_cr_ok)
{
	static char buf[REPLY_LINE_MAX + 1];
	struct reply r;

	make_line(buf, REPLY_LINE_MAX, ' ', 'a');
	buf[REPLY_LINE_MAX] = '\r';
	reply_init(&r);
	ck_assert_msg(reply_feed(&r, buf, REPLY_LINE_MAX + 1) == REPLY_DONE,
	    "line of REPLY_LINE_MAX plus CR: got %s, want DONE",
	    r.error != NULL ? r.error : "not done");
}
END_TEST

START_TEST(test_line_too_long)
{
	static char buf[REPLY_LINE_MAX + 1];
	struct reply r;

	make_line(buf, REPLY_LINE_MAX + 1, ' ', 'a');
	reply_init(&r);
	ck_assert_msg(reply_feed(&r, buf, REPLY_LINE_MAX + 1) == REPLY_ERROR,
	    "line of REPLY_LINE_MAX+1: got not ERROR, want ERROR");
	ck_assert_ptr_nonnull(r.error);
	ck_assert_msg(strstr(r.error, "long") != NULL,
	    "reason: got \"%s\", want one about length", r.error);
}
END_TEST

START_TEST(test_64k_line)
{
	static char buf[65536];
	struct reply r;

	make_line(buf, sizeof(buf), '-', 'x');
	reply_init(&r);
	ck_assert_int_eq(reply_feed(&r, buf, sizeof(buf)), REPLY_ERROR);
	ck_assert_msg(r.code == 0, "code: got %d, want 0 (never a 2xx)",
	    r.code);
}
END_TEST

START_TEST(test_lines_max_ok)
{
	struct reply r;
	int i;

	reply_init(&r);
	for (i = 0; i < REPLY_LINES_MAX - 1; i++)
		ck_assert_msg(reply_feed(&r, "250-x", 5) == REPLY_MORE,
		    "line %d: got not MORE, want MORE", i + 1);
	ck_assert_msg(reply_feed(&r, "250 x", 5) == REPLY_DONE,
	    "line %d (last allowed): got %s, want DONE", REPLY_LINES_MAX,
	    r.error != NULL ? r.error : "not done");
	ck_assert_int_eq(r.nlines, REPLY_LINES_MAX);
}
END_TEST

START_TEST(test_lines_endless)
{
	struct reply r;
	enum reply_status st = REPLY_MORE;
	int i;

	/* a 250- reply that never ends */
	reply_init(&r);
	for (i = 0; i < 100000 && st == REPLY_MORE; i++)
		st = reply_feed(&r, "250-PIPELINING", 14);
	ck_assert_msg(st == REPLY_ERROR, "got %s, want ERROR", status_str(st));
	ck_assert_msg(i == REPLY_LINES_MAX + 1,
	    "error after %d lines, want after %d", i, REPLY_LINES_MAX + 1);
	ck_assert_ptr_nonnull(r.error);
	ck_assert_int_le(r.nlines, REPLY_LINES_MAX);
	ck_assert_int_le(strlen(r.text), REPLY_FULL_MAX - 1);
}
END_TEST

START_TEST(test_bytes_max_ok)
{
	static char buf[REPLY_LINE_MAX];
	struct reply r;
	size_t left = REPLY_BYTES_MAX, n;
	enum reply_status st = REPLY_MORE;

	/* exactly REPLY_BYTES_MAX bytes in long lines: accepted */
	reply_init(&r);
	while (left > 0) {
		n = left > REPLY_LINE_MAX ? REPLY_LINE_MAX : left;
		left -= n;
		make_line(buf, n, left > 0 ? '-' : ' ', 'b');
		st = reply_feed(&r, buf, n);
		if (left > 0)
			ck_assert_int_eq(st, REPLY_MORE);
	}
	ck_assert_msg(st == REPLY_DONE, "got %s (%s), want DONE",
	    status_str(st), r.error != NULL ? r.error : "");
	ck_assert_uint_eq(r.nbytes, REPLY_BYTES_MAX);
}
END_TEST

START_TEST(test_bytes_too_many)
{
	static char buf[REPLY_LINE_MAX];
	struct reply r;
	enum reply_status st = REPLY_MORE;
	int i;

	reply_init(&r);
	for (i = 0; i < REPLY_LINES_MAX && st == REPLY_MORE; i++) {
		make_line(buf, sizeof(buf), '-', 'c');
		st = reply_feed(&r, buf, sizeof(buf));
	}
	ck_assert_msg(st == REPLY_ERROR, "got %s, want ERROR", status_str(st));
	ck_assert_msg(i == REPLY_BYTES_MAX / REPLY_LINE_MAX + 1,
	    "error at line %d, want %d", i,
	    REPLY_BYTES_MAX / REPLY_LINE_MAX + 1);
	ck_assert_uint_le(r.nbytes, REPLY_BYTES_MAX);
	ck_assert_ptr_nonnull(r.error);
}
END_TEST

START_TEST(test_text_long_line_whole)
{
	static char buf[1000];
	struct reply r;
	size_t n;

	/* a 1000-byte line is kept whole: wording at its end is classified */
	make_line(buf, sizeof(buf), ' ', 't');
	reply_init(&r);
	ck_assert_int_eq(reply_feed(&r, buf, sizeof(buf)), REPLY_DONE);
	n = strlen(r.text);
	ck_assert_msg(n == sizeof(buf) - 4, "text length: got %zu, want %zu", n, sizeof(buf) - 4);
	ck_assert_msg(r.text[0] == 't' && r.text[n - 1] == 't', "text: got \"%.8s...%s\"",
	    r.text, r.text + n - 3);
}
END_TEST

START_TEST(test_text_many_lines_whole)
{
	struct reply r;
	char line[64];
	size_t n;
	int i;

	/* 40 lines of 10 text bytes: 439 bytes joined, all kept */
	reply_init(&r);
	for (i = 0; i < 40; i++) {
		snprintf(line, sizeof(line), "451%c4.7.1 line%06d",
		    i == 39 ? ' ' : '-', i);
		ck_assert_int_eq(reply_feed(&r, line, strlen(line)),
		    i == 39 ? REPLY_DONE : REPLY_MORE);
	}
	n = strlen(r.text);
	ck_assert_msg(n == 439, "text length: got %zu, want 439", n);
	ck_assert_msg(strncmp(r.text, "line000000 line000001 ", 22) == 0,
	    "text start: got \"%.22s\"", r.text);
	ck_assert_str_eq(r.text + n - 10, "line000039");
	ck_assert_str_eq(r.enhanced, "4.7.1");
}
END_TEST

START_TEST(test_text_policy_after_3k)
{
	static char buf[1100];
	struct reply r;
	const char *last = "550 Client host [192.0.2.9] blocked using zen.spamhaus.org";
	int i;

	/* three 1 KB continuation lines, then the line that matters */
	reply_init(&r);
	for (i = 0; i < 3; i++) {
		make_line(buf, sizeof(buf), '-', 'x');
		memcpy(buf, "550", 3);
		ck_assert_int_eq(reply_feed(&r, buf, sizeof(buf)), REPLY_MORE);
	}
	ck_assert_int_eq(reply_feed(&r, last, strlen(last)), REPLY_DONE);
	ck_assert_msg(strstr(r.text, "zen.spamhaus.org") != NULL,
	    "the last line's text is missing (text is %zu bytes)", strlen(r.text));
	ck_assert_msg(strstr(r.text, "...") == NULL, "the text was cut");
}
END_TEST

START_TEST(test_text_whole_reply_fits)
{
	static char buf[REPLY_LINE_MAX];
	struct reply r;
	size_t left = REPLY_BYTES_MAX, n, want = 0;
	enum reply_status st = REPLY_MORE;

	/* the largest reply accepted: its text is never cut */
	reply_init(&r);
	while (left > 0) {
		n = left > REPLY_LINE_MAX ? REPLY_LINE_MAX : left;
		left -= n;
		make_line(buf, n, left > 0 ? '-' : ' ', 'w');
		want += (want > 0) + n - 4;
		st = reply_feed(&r, buf, n);
	}
	ck_assert_int_eq(st, REPLY_DONE);
	ck_assert_msg(strlen(r.text) == want, "text length: got %zu, want %zu", strlen(r.text), want);
	ck_assert_msg(strstr(r.text, "...") == NULL, "the text was cut");
}
END_TEST

START_TEST(test_null_line)
{
	struct reply r;

	reply_init(&r);
	ck_assert_int_eq(reply_feed(&r, NULL, 0), REPLY_ERROR);
	ck_assert_ptr_nonnull(r.error);
}
END_TEST

START_TEST(test_init_resets)
{
	struct reply r;

	reply_init(&r);
	ck_assert_int_eq(reply_feed(&r, "SSH-2.0-x", 9), REPLY_ERROR);
	reply_init(&r);
	ck_assert_ptr_null(r.error);
	ck_assert_int_eq(r.code, 0);
	ck_assert_int_eq(r.nlines, 0);
	ck_assert_uint_eq(r.nbytes, 0);
	ck_assert_int_eq(reply_feed(&r, "221 bye", 7), REPLY_DONE);
	ck_assert_int_eq(r.code, 221);
	ck_assert_str_eq(r.text, "bye");
}
END_TEST

/* reply_parse_enhanced on its own */
static const struct {
	const char	*in;
	size_t		 size;	/* of out */
	size_t		 want;	/* returned length, 0 = none */
} enh_cases[] = {
	{ "5.1.1 user unknown", 16, 5 },
	{ "5.1.1", 16, 5 },
	{ "2.0.0 Ok", 16, 5 },
	{ "4.7.1 greylisted", 16, 5 },
	{ "5.1.10 RESOLVER", 16, 6 },
	{ "5.7.606 Access denied", 16, 7 },
	{ "5.123.123 x", 16, 9 },
	{ "5.1234.1 x", 16, 0 },
	{ "5.1.1234 x", 16, 0 },
	{ "3.1.1 x", 16, 0 },
	{ "6.1.1 x", 16, 0 },
	{ "5.1. x", 16, 0 },
	{ "5..1 x", 16, 0 },
	{ "5.1.1x", 16, 0 },
	{ "5.1.1.2", 16, 0 },
	{ "5,1,1 x", 16, 0 },
	{ "5.1", 16, 0 },
	{ "", 16, 0 },
	{ "5.1.1 x", 5, 0 },	/* out too small for the NUL */
	{ "5.1.1 x", 6, 5 },
};

START_TEST(test_enhanced)
{
	char out[16];
	const char *in = enh_cases[_i].in;
	size_t got;

	memset(out, 'Z', sizeof(out));
	got = reply_parse_enhanced(in, strlen(in), out, enh_cases[_i].size);
	ck_assert_msg(got == enh_cases[_i].want,
	    "\"%s\": got %zu, want %zu", in, got, enh_cases[_i].want);
	if (got > 0) {
		ck_assert_msg(strncmp(out, in, got) == 0 && out[got] == '\0',
		    "\"%s\": copied \"%s\", want first %zu bytes", in, out,
		    got);
	}
}
END_TEST

START_TEST(test_enhanced_len_bound)
{
	char out[16];

	/* len, not the NUL, bounds the scan: "5.1.1" inside a longer buffer */
	ck_assert_uint_eq(reply_parse_enhanced("5.1.1junk", 5, out,
	    sizeof(out)), 5);
	ck_assert_str_eq(out, "5.1.1");
	ck_assert_uint_eq(reply_parse_enhanced("5.1.1 x", 4, out,
	    sizeof(out)), 0);
	ck_assert_uint_eq(reply_parse_enhanced(NULL, 0, out, sizeof(out)), 0);
}
END_TEST

Suite *
make_suite(void)
{
	Suite *s = suite_create("reply");
	TCase *tc;

	tc = tcase_create("table");
	tcase_add_loop_test(tc, test_table, 0,
	    (int)(sizeof(cases) / sizeof(cases[0])));
	tcase_add_test(tc, test_null_line);
	tcase_add_test(tc, test_init_resets);
	suite_add_tcase(s, tc);

	tc = tcase_create("caps");
	tcase_add_test(tc, test_line_max_ok);
	tcase_add_test(tc, test_line_max_cr_ok);
	tcase_add_test(tc, test_line_too_long);
	tcase_add_test(tc, test_64k_line);
	tcase_add_test(tc, test_lines_max_ok);
	tcase_add_test(tc, test_lines_endless);
	tcase_add_test(tc, test_bytes_max_ok);
	tcase_add_test(tc, test_bytes_too_many);
	suite_add_tcase(s, tc);

	tc = tcase_create("text");
	tcase_add_test(tc, test_text_long_line_whole);
	tcase_add_test(tc, test_text_many_lines_whole);
	tcase_add_test(tc, test_text_policy_after_3k);
	tcase_add_test(tc, test_text_whole_reply_fits);
	suite_add_tcase(s, tc);

	tc = tcase_create("enhanced");
	tcase_add_loop_test(tc, test_enhanced, 0,
	    (int)(sizeof(enh_cases) / sizeof(enh_cases[0])));
	tcase_add_test(tc, test_enhanced_len_bound);
	suite_add_tcase(s, tc);
	return s;
}

#include "check_main.h"
