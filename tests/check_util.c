/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * check_util - the shared helpers: the sanitiser every remote text goes
 * through, bounded copies, durations, the JSON string writer.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include "sa.h"
#include "util.h"

static const struct {
	const char *in;
	size_t	size;
	const char *want;
} san[] = {
	{ "plain text", 64, "plain text" },
	{ "a\r\nb\tc", 64, "a  b c" },
	{ "\x1b[31mred\x07", 64, "?[31mred?" },
	{ "%n%s", 64, "%n%s" },
	{ "caf\xc3\xa9", 64, "caf??" },
	{ "0123456789", 8, "0123..." },
	{ "0123456", 8, "0123456" },
	{ "01234567", 8, "0123..." },
	{ "abc", 1, "" },
	{ "abc", 3, ".." },
};

START_TEST(test_sanitize)
{
	char out[64];
	size_t n;

	memset(out, 'Z', sizeof(out));
	n = util_sanitize(out, san[_i].size, san[_i].in, strlen(san[_i].in));
	ck_assert_msg(strcmp(out, san[_i].want) == 0, "got \"%s\", want \"%s\"", out, san[_i].want);
	ck_assert_uint_eq(n, strlen(out));
}
END_TEST

START_TEST(test_sanitize_stops_at_len)
{
	char out[16];

	util_sanitize(out, sizeof(out), "abc\0def", 7);
	ck_assert_str_eq(out, "abc");
	util_sanitize(out, sizeof(out), "abcdef", 2);
	ck_assert_str_eq(out, "ab");
}
END_TEST

START_TEST(test_strlcpy)
{
	char out[4];

	ck_assert_uint_eq(util_strlcpy(out, "abc", sizeof(out)), 3);
	ck_assert_str_eq(out, "abc");
	ck_assert_uint_eq(util_strlcpy(out, "abcd", sizeof(out)), 4);	/* >= size: truncated */
	ck_assert_str_eq(out, "abc");
}
END_TEST

static const struct {
	const char *in;
	long	want;
} dur[] = {
	{ "0", 0 }, { "30", 30 }, { "30s", 30 }, { "5m", 300 }, { "3h", 10800 }, { "7d", 604800 },
	{ "", -1 }, { "s", -1 }, { "-5", -1 }, { "5x", -1 }, { "5mm", -1 }, { " 5", -1 },
	{ "99999999999999999999", -1 }, { "36500d", 36500L * 86400 }, { "36501d", -1 },
};

START_TEST(test_duration)
{
	long got = util_parse_duration(dur[_i].in);

	ck_assert_msg(got == dur[_i].want, "\"%s\": got %ld, want %ld", dur[_i].in, got, dur[_i].want);
}
END_TEST

static const struct {
	const char *in;
	const char *want;
} js[] = {
	{ "plain", "\"plain\"" },
	{ "q\"b\\", "\"q\\\"b\\\\\"" },
	{ "\x01\x1f\x7f", "\"\\u0001\\u001f\\u007f\"" },
	{ "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"" },
	{ "bad\xff", "\"bad\\ufffd\"" },
	{ "\xc3", "\"\\ufffd\"" },				/* cut sequence */
	{ "\xc0\xaf", "\"\\ufffd\\ufffd\"" },			/* overlong '/' */
	{ "\xed\xa0\x80", "\"\\ufffd\\ufffd\\ufffd\"" },	/* surrogate */
	{ "\xf4\x90\x80\x80", "\"\\ufffd\\ufffd\\ufffd\\ufffd\"" },	/* past U+10FFFF */
	{ "", "\"\"" },
};

START_TEST(test_json)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *fp = open_memstream(&buf, &len);

	ck_assert_ptr_nonnull(fp);
	util_json_str(fp, js[_i].in);
	fclose(fp);
	ck_assert_msg(strcmp(buf, js[_i].want) == 0, "row %d: got %s, want %s", _i, buf, js[_i].want);
	free(buf);
}
END_TEST

START_TEST(test_deadline)
{
	msec_t now = util_now_ms();

	ck_assert_int_eq(util_left_ms(now - 5, 0), 0);
	ck_assert_int_le(util_left_ms(now + 100000, 50), 50);
	ck_assert_int_gt(util_left_ms(now + 100000, 0), 90000);
}
END_TEST

/* numeric text -> sockaddr -> text comes back the same; anything else is refused */
static const struct {
	const char *in;
	int	af;
	const char *out;
} ips[] = {
	{ "192.0.2.1", AF_INET, "192.0.2.1" },
	{ "2001:db8::1", AF_INET6, "2001:db8::1" },
	{ "2001:DB8:0:0::1", AF_INET6, "2001:db8::1" },
	{ "::ffff:192.0.2.1", AF_INET6, "::ffff:192.0.2.1" },
	{ "192.0.2", 0, "?" },
	{ "192.0.2.256", 0, "?" },
	{ "example.org", 0, "?" },
	{ "", 0, "?" },
	{ "1.2.3.4 ", 0, "?" },
};

START_TEST(test_sa)
{
	struct sockaddr_storage ss;
	unsigned char b[16];
	char buf[64];
	int rc;

	ck_assert_int_eq(ip_pton(ips[_i].in, b), ips[_i].af);
	rc = sa_pton(ips[_i].in, 2525, &ss);
	ck_assert_int_eq(rc, ips[_i].af ? 0 : -1);
	ck_assert_int_eq(ss.ss_family, ips[_i].af);
	ck_assert_int_eq(sa_ntop((struct sockaddr *)&ss, buf, sizeof(buf)), rc);
	ck_assert_str_eq(buf, ips[_i].out);
	if (ips[_i].af == AF_INET)
		ck_assert_int_eq(ntohs(((struct sockaddr_in *)&ss)->sin_port), 2525);
	if (ips[_i].af == AF_INET6)
		ck_assert_int_eq(ntohs(((struct sockaddr_in6 *)&ss)->sin6_port), 2525);
	if (ips[_i].af != 0) {
		ck_assert_int_eq(ip_ntop(ips[_i].af, b, buf, sizeof(buf)), 0);
		ck_assert_str_eq(buf, ips[_i].out);
		/* a buffer too small gives "?", never a cut address */
		ck_assert_int_eq(ip_ntop(ips[_i].af, b, buf, 4), -1);
		ck_assert_str_eq(buf, "?");
	}
}
END_TEST

Suite *
make_suite(void)
{
	Suite *s = suite_create("util");
	TCase *tc = tcase_create("util");

	tcase_add_loop_test(tc, test_sanitize, 0, sizeof(san) / sizeof(san[0]));
	tcase_add_test(tc, test_sanitize_stops_at_len);
	tcase_add_test(tc, test_strlcpy);
	tcase_add_loop_test(tc, test_duration, 0, sizeof(dur) / sizeof(dur[0]));
	tcase_add_loop_test(tc, test_json, 0, sizeof(js) / sizeof(js[0]));
	tcase_add_test(tc, test_deadline);
	tcase_add_loop_test(tc, test_sa, 0, sizeof(ips) / sizeof(ips[0]));
	suite_add_tcase(s, tc);
	return s;
}

#include "check_main.h"
