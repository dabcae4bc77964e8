/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * check_log - the milter's decision line (milter/logline.c) over the log sink: fixed key order, escaping of hostile
 * values (one line is always one decision), optional fields.
 */
#include <check.h>
#include <string.h>

#include "log.h"
#include "logline.h"

static const struct {
	const char *in;
	const char *want;
} esc[] = {
	{ "plain", "plain" },
	{ "<x@example.org>", "<x@example.org>" },
	{ "two words", "\"two words\"" },
	{ "a\r\nverdict=valid", "\"a\\x0d\\x0averdict=valid\"" },
	{ "quote\"d", "\"quote\\\"d\"" },
	{ "back\\slash", "\"back\\\\slash\"" },
	{ "k=v", "\"k=v\"" },
	{ "", "\"\"" },
	{ "\x1b[31mred", "\"\\x1b[31mred\"" },
	{ "caf\xc3\xa9", "\"caf\\xc3\\xa9\"" },
	{ "%n%s", "%n%s" },
};

START_TEST(test_escape)
{
	char buf[200];

	log_escape(buf, sizeof(buf), esc[_i].in);
	ck_assert_msg(strcmp(buf, esc[_i].want) == 0, "got %s, want %s", buf, esc[_i].want);
}
END_TEST

START_TEST(test_escape_bounded)
{
	char in[5000], buf[64];

	memset(in, 'a', sizeof(in) - 1);
	in[sizeof(in) - 1] = '\0';
	log_escape(buf, sizeof(buf), in);
	ck_assert_uint_lt(strlen(buf), sizeof(buf));
	ck_assert_msg(buf[0] == '"' && strstr(buf, "...\"") != NULL, "truncation not visible: %s", buf);
}
END_TEST

START_TEST(test_decision_line)
{
	struct probe_result r;
	struct log_decision d;
	char line[2048];

	memset(&r, 0, sizeof(r));
	r.verdict = VERDICT_INVALID;
	r.reason = R_USER_UNKNOWN;
	strcpy(r.mx, "mx1.example.org");
	strcpy(r.ip, "192.0.2.1");
	r.code = 550;
	strcpy(r.enhanced, "5.1.1");
	r.elapsed_ms = 183;
	memset(&d, 0, sizeof(d));
	d.sender = "x@example.org";
	d.client = "203.0.113.9";
	d.r = &r;
	d.action = "reject";
	log_format_decision(line, sizeof(line), &d);
	ck_assert_str_eq(line, "sender=<x@example.org> client=[203.0.113.9] verdict=invalid reason=user-unknown "
			 "action=reject mx=mx1.example.org ip=192.0.2.1 code=550 dsn=5.1.1 cache=miss tls=none ms=183");

	d.qid = "4Xabc";
	d.sender = "evil\r\nsender=<forged@x>";
	r.cached = 1;
	log_format_decision(line, sizeof(line), &d);
	ck_assert_msg(strchr(line, '\n') == NULL && strchr(line, '\r') == NULL, "raw newline in %s", line);
	ck_assert_msg(strncmp(line, "sender=\"<evil\\x0d\\x0asender=<forged@x>>\" client=[203.0.113.9] qid=4Xabc", 70) == 0,
		      "got %s", line);
	ck_assert_msg(strstr(line, " cache=hit ") != NULL, "got %s", line);
	/* a cached verdict had no session: no tls= */
	ck_assert_msg(strstr(line, "tls=") == NULL, "got %s", line);
	r.cached = RESULT_CACHED_SHARED;	/* answered from the fleet's shared cache */
	log_format_decision(line, sizeof(line), &d);
	ck_assert_msg(strstr(line, " cache=shared ") != NULL, "got %s, want cache=shared", line);
	r.cached = 0;
	strcpy(r.tls, "TLSv1.3");
	log_format_decision(line, sizeof(line), &d);
	ck_assert_msg(strstr(line, " cache=miss tls=TLSv1.3 ms=183") != NULL, "got %s", line);
	/* ProbeWhen spf-not-pass: the result and the SPF step's own time */
	d.spf = "softfail";
	d.spf_ms = 7;
	log_format_decision(line, sizeof(line), &d);
	ck_assert_msg(strstr(line, " dsn=5.1.1 spf=softfail spf_ms=7 cache=miss ") != NULL, "got %s", line);
	d.spf_ms = -1;		/* a remembered pass: no evaluation, no time */
	log_format_decision(line, sizeof(line), &d);
	ck_assert_msg(strstr(line, " spf=softfail cache=miss ") != NULL, "got %s", line);
	d.spf = NULL;

	memset(&r, 0, sizeof(r));
	r.verdict = VERDICT_SKIPPED;
	r.reason = R_NULL_SENDER;
	d.sender = "";
	d.client = NULL;
	d.qid = NULL;
	d.action = "accept";
	log_format_decision(line, sizeof(line), &d);
	ck_assert_str_eq(line, "sender=<> verdict=skipped reason=null-sender action=accept ms=0");
}
END_TEST

static int hooked;
static char last[2048];

static void
hook(int prio, const char *line, void *arg)
{
	hooked++;
	strncpy(last, line, sizeof(last) - 1);
}

START_TEST(test_msg_sanitised)
{
	log_open("check", LOG_MAIL, 0, 0);
	log_set_hook(hook, NULL);
	log_msg(LOG_WARNING, "cache %s: %s", "/tmp/x\ny", "bad\x01");
	ck_assert_int_eq(hooked, 1);
	ck_assert_str_eq(last, "cache /tmp/x y: bad?");
	log_set_hook(NULL, NULL);
}
END_TEST

Suite *
make_suite(void)
{
	Suite *s = suite_create("log");
	TCase *tc = tcase_create("log");

	tcase_add_loop_test(tc, test_escape, 0, sizeof(esc) / sizeof(esc[0]));
	tcase_add_test(tc, test_escape_bounded);
	tcase_add_test(tc, test_decision_line);
	tcase_add_test(tc, test_msg_sanitised);
	suite_add_tcase(s, tc);
	return s;
}

#include "check_main.h"
