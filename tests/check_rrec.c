/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * check_rrec - the shared cache's value format (probe/fleet/rrec.c) and
 * key builder (probe/fleet/rconn.c): good values decode to what they
 * say; garbage, other versions, oversize values, bad fields and absurd
 * times are a miss; every storable verdict survives a round trip; a
 * mutated value never crashes the decoder and never decodes to a
 * record outside the format's bounds; keys never carry a space, CR or
 * LF.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "cache.h"
#include "rconn.h"
#include "rrec.h"

#define NOW	1700000000L

/* values that must decode, with what they must give */
static const struct {
	const char *val;
	int	type;
	enum verdict verdict;
	enum reason reason;
	int	code;
	const char *enh, *mx, *ip, *text;
	unsigned facts;
} good[] = {
	{ "v1 A 1699999000 1702592000 0 valid user-ok 250 2.1.5 0 mx.example.test 192.0.2.1 Ok",
	  'A', VERDICT_VALID, R_USER_OK, 250, "2.1.5", "mx.example.test", "192.0.2.1", "Ok", 0 },
	{ "v1 A 1699999000 1700010800 0 invalid user-unknown 550 5.1.1 0 mx.example.test 2001:db8::1 <x@example.test>: User unknown",
	  'A', VERDICT_INVALID, R_USER_UNKNOWN, 550, "5.1.1", "mx.example.test", "2001:db8::1",
	  "<x@example.test>: User unknown", 0 },
	{ "v1 A 1699999000 1700000300 0 tempfail greylisted 450 4.2.0 0 - - ",
	  'A', VERDICT_TEMPFAIL, R_GREYLISTED, 450, "4.2.0", "", "", "", 0 },
	{ "v1 A 1699999000 1700003600 0 bad-domain nxdomain 0 - 0 - -",
	  'A', VERDICT_BAD_DOMAIN, R_NXDOMAIN, 0, "", "", "", "", 0 },
	{ "v1 A 1699999000 1700003600 0 catch-all - 250 - 1 mx.example.test 192.0.2.1 ok",
	  'A', VERDICT_CATCH_ALL, R_NONE, 250, "", "mx.example.test", "192.0.2.1", "ok", 0 },
	{ "v1 D 1699999000 1700086400 1 catch-all catch-all 250 2.1.5 1 mx.example.test 192.0.2.1 Ok",
	  'D', VERDICT_CATCH_ALL, R_CATCH_ALL, 250, "2.1.5", "mx.example.test", "192.0.2.1", "Ok", 1 },
	{ "v1 D 1699999000 1700086400 6 unknown policy-block 554 5.7.1 0 mx.example.test 192.0.2.1 blocked  twice",
	  'D', VERDICT_UNKNOWN, R_POLICY_BLOCK, 554, "5.7.1", "mx.example.test", "192.0.2.1", "blocked  twice", 6 },
	/* needs-tls, the sixth fact (32) */
	{ "v1 D 1699999000 1700086400 32 unknown starttls-required 530 5.7.0 0 mx.example.test 192.0.2.1 Must issue a STARTTLS command first",
	  'D', VERDICT_UNKNOWN, R_STARTTLS_REQUIRED, 530, "5.7.0", "mx.example.test", "192.0.2.1",
	  "Must issue a STARTTLS command first", 32 },
	/* created a little ahead of our clock (another host's clock): accepted */
	{ "v1 A 1700000200 1700003600 0 valid - 250 - 0 - - ",
	  'A', VERDICT_VALID, R_NONE, 250, "", "", "", "", 0 },
};

/* values that must be a miss */
static const char *const bad[] = {
	"",
	"v1",
	"v1 ",
	"garbage",
	"\x00\x01\x02\x03",
	"v2 A 1699999000 1702592000 0 valid user-ok 250 2.1.5 0 mx.example.test 192.0.2.1 Ok",
	"V1 A 1699999000 1702592000 0 valid user-ok 250 2.1.5 0 mx.example.test 192.0.2.1 Ok",
	"v1 X 1699999000 1702592000 0 valid user-ok 250 2.1.5 0 mx.example.test 192.0.2.1 Ok",
	/* too few fields */
	"v1 A 1699999000 1702592000 0 valid user-ok 250 2.1.5 0 mx.example.test",
	/* two spaces: an empty field */
	"v1 A  1699999000 1702592000 0 valid user-ok 250 2.1.5 0 mx.example.test 192.0.2.1 Ok",
	/* times: absurd, past, backwards, too long, too far ahead */
	"v1 A 0 1702592000 0 valid user-ok 250 2.1.5 0 - - ",
	"v1 A 100 1702592000 0 valid user-ok 250 2.1.5 0 - - ",
	"v1 A 1699999000 1699999999 0 valid user-ok 250 2.1.5 0 - - ",
	"v1 A 1699999000 1699998000 0 valid user-ok 250 2.1.5 0 - - ",
	"v1 A 1600000000 1702592000 0 valid user-ok 250 2.1.5 0 - - ",
	"v1 A 1700001000 1702592000 0 valid user-ok 250 2.1.5 0 - - ",
	"v1 A 99999999999 1702592000 0 valid user-ok 250 2.1.5 0 - - ",
	"v1 A -1699999000 1702592000 0 valid user-ok 250 2.1.5 0 - - ",
	"v1 A 01699999000 1702592000 0 valid user-ok 250 2.1.5 0 - - ",
	"v1 A 1699999000 1702592000x 0 valid user-ok 250 2.1.5 0 - - ",
	/* facts: A with facts, D without, out of range */
	"v1 A 1699999000 1702592000 1 valid user-ok 250 2.1.5 0 - - ",
	"v1 D 1699999000 1702592000 0 valid user-ok 250 2.1.5 0 - - ",
	"v1 D 1699999000 1702592000 64 valid user-ok 250 2.1.5 0 - - ",
	/* verdicts the cache never keeps, unknown or upper case */
	"v1 A 1699999000 1702592000 0 skipped user-ok 250 2.1.5 0 - - ",
	"v1 A 1699999000 1702592000 0 error internal 0 - 0 - - ",
	"v1 A 1699999000 1702592000 0 VALID user-ok 250 2.1.5 0 - - ",
	"v1 A 1699999000 1702592000 0 great user-ok 250 2.1.5 0 - - ",
	/* reason, code, enhanced code, catch-all flag */
	"v1 A 1699999000 1702592000 0 valid made-up 250 2.1.5 0 - - ",
	"v1 A 1699999000 1702592000 0 valid user-ok 199 2.1.5 0 - - ",
	"v1 A 1699999000 1702592000 0 valid user-ok 600 2.1.5 0 - - ",
	"v1 A 1699999000 1702592000 0 valid user-ok 2500 2.1.5 0 - - ",
	"v1 A 1699999000 1702592000 0 valid user-ok 250 3.1.5 0 - - ",
	"v1 A 1699999000 1702592000 0 valid user-ok 250 2.1 0 - - ",
	"v1 A 1699999000 1702592000 0 valid user-ok 250 2.1.5555 0 - - ",
	"v1 A 1699999000 1702592000 0 valid user-ok 250 2.1.5 2 - - ",
	/* MX and IP shapes */
	"v1 A 1699999000 1702592000 0 valid user-ok 250 2.1.5 0 mx;rm - ",
	"v1 A 1699999000 1702592000 0 valid user-ok 250 2.1.5 0 - 300.1.1.1 ",
	"v1 A 1699999000 1702592000 0 valid user-ok 250 2.1.5 0 - mx.example.test ",
	/* control characters anywhere */
	"v1 A 1699999000 1702592000 0 valid user-ok 250 2.1.5 0 - - Ok\r\n550 forged",
	"v1 A 1699999000 1702592000 0 valid user-ok 250 2.1.5 0 - - Ok\x7f",
	"v1 A 1699999000 1702592000 0 valid user-ok 250 2.1.5 0 - - Ok\xc3\xa9",
};

START_TEST(test_good)
{
	struct rrec rec;
	const char *v = good[_i].val;

	ck_assert_msg(rrec_decode(v, strlen(v), NOW, &rec) == 0, "row %d: got a miss, want a record", _i);
	ck_assert_int_eq(rec.type, good[_i].type);
	ck_assert_msg(rec.r.verdict == good[_i].verdict, "row %d: got %s, want %s", _i,
		      verdict_str(rec.r.verdict), verdict_str(good[_i].verdict));
	ck_assert_msg(rec.r.reason == good[_i].reason, "row %d: got reason %s, want %s", _i,
		      reason_str(rec.r.reason), reason_str(good[_i].reason));
	ck_assert_int_eq(rec.r.code, good[_i].code);
	ck_assert_str_eq(rec.r.enhanced, good[_i].enh);
	ck_assert_str_eq(rec.r.mx, good[_i].mx);
	ck_assert_str_eq(rec.r.ip, good[_i].ip);
	ck_assert_str_eq(rec.r.text, good[_i].text);
	ck_assert_uint_eq(rec.facts, good[_i].facts);
	ck_assert_int_eq(rec.r.cached, 0);
}
END_TEST

START_TEST(test_bad)
{
	struct rrec rec;
	const char *v = bad[_i];
	size_t len = strlen(v);

	if (_i == 4)
		len = 4;	/* NULs */
	ck_assert_msg(rrec_decode(v, len, NOW, &rec) == -1, "row %d \"%s\": got %s, want a miss",
		      _i, v, verdict_str(rec.r.verdict));
	ck_assert_int_eq(rec.r.verdict, 0);
	ck_assert_int_eq(rec.created, 0);
}
END_TEST

/* an oversize value: a miss, whatever it holds */
START_TEST(test_oversize)
{
	char big[RREC_MAX + 64];
	struct rrec rec;
	size_t n;

	n = (size_t)snprintf(big, sizeof(big), "v1 A 1699999000 1702592000 0 valid user-ok 250 2.1.5 0 - - ");
	memset(big + n, 'x', sizeof(big) - n - 1);
	big[sizeof(big) - 1] = '\0';
	ck_assert_int_eq(rrec_decode(big, strlen(big), NOW, &rec), -1);
	ck_assert_int_eq(rrec_decode(big, RREC_MAX + 1, NOW, &rec), -1);
	/* a text just over RREC_TEXT_MAX inside the bound: a miss too */
	big[n + RREC_TEXT_MAX + 1] = '\0';
	ck_assert_int_eq(rrec_decode(big, strlen(big), NOW, &rec), -1);
	big[n + RREC_TEXT_MAX] = '\0';
	ck_assert_int_eq(rrec_decode(big, strlen(big), NOW, &rec), 0);
}
END_TEST

/* every verdict the cache keeps goes through encode and decode unchanged */
START_TEST(test_roundtrip)
{
	struct rrec in, out;
	char buf[RREC_MAX + 1];
	int n;

	memset(&in, 0, sizeof(in));
	in.type = _i % 2 ? RREC_DOMAIN : RREC_ADDR;
	in.facts = in.type == RREC_DOMAIN ? FACT_CATCH_ALL | FACT_UNREACHABLE : 0;
	in.created = NOW - 100;
	in.expires = NOW + 3600;
	in.r.verdict = (enum verdict)(_i / 2);
	in.r.reason = R_USER_UNKNOWN;
	in.r.code = 550;
	snprintf(in.r.enhanced, sizeof(in.r.enhanced), "5.1.1");
	snprintf(in.r.mx, sizeof(in.r.mx), "mx1.example.test");
	snprintf(in.r.ip, sizeof(in.r.ip), "2001:db8::25");
	snprintf(in.r.text, sizeof(in.r.text), "<u@example.test>: Recipient address rejected: \"no\"");
	in.r.catch_all = 1;
	n = rrec_encode(&in, buf, sizeof(buf));
	ck_assert_msg(n > 0 && (size_t)n == strlen(buf), "%s: encode gave %d", verdict_str(in.r.verdict), n);
	ck_assert_msg(strpbrk(buf, "\r\n") == NULL, "line end in %s", buf);
	ck_assert_msg(rrec_decode(buf, (size_t)n, NOW, &out) == 0, "decode of its own %s", buf);
	ck_assert_int_eq(out.type, in.type);
	ck_assert_int_eq(out.created, in.created);
	ck_assert_int_eq(out.expires, in.expires);
	ck_assert_uint_eq(out.facts, in.facts);
	ck_assert_int_eq(out.r.verdict, in.r.verdict);
	ck_assert_int_eq(out.r.reason, in.r.reason);
	ck_assert_int_eq(out.r.code, in.r.code);
	ck_assert_int_eq(out.r.catch_all, 1);
	ck_assert_str_eq(out.r.enhanced, in.r.enhanced);
	ck_assert_str_eq(out.r.mx, in.r.mx);
	ck_assert_str_eq(out.r.ip, in.r.ip);
	ck_assert_str_eq(out.r.text, in.r.text);
}
END_TEST

/* what the encoder refuses to write */
START_TEST(test_encode_refuses)
{
	struct rrec in;
	char buf[RREC_MAX + 1];

	memset(&in, 0, sizeof(in));
	in.type = RREC_ADDR;
	in.created = NOW;
	in.expires = NOW + 60;
	in.r.verdict = VERDICT_ERROR;
	ck_assert_int_eq(rrec_encode(&in, buf, sizeof(buf)), -1);
	in.r.verdict = VERDICT_SKIPPED;
	ck_assert_int_eq(rrec_encode(&in, buf, sizeof(buf)), -1);
	in.r.verdict = VERDICT_VALID;
	ck_assert_int_gt(rrec_encode(&in, buf, sizeof(buf)), 0);
	in.expires = NOW;
	ck_assert_int_eq(rrec_encode(&in, buf, sizeof(buf)), -1);
	in.expires = NOW + RREC_LIFE_MAX + 1;
	ck_assert_int_eq(rrec_encode(&in, buf, sizeof(buf)), -1);
	in.expires = NOW + 60;
	in.facts = 1;
	ck_assert_int_eq(rrec_encode(&in, buf, sizeof(buf)), -1);
	in.facts = 0;
	snprintf(in.r.mx, sizeof(in.r.mx), "mx example");
	ck_assert_int_eq(rrec_encode(&in, buf, sizeof(buf)), -1);
	in.r.mx[0] = '\0';
	ck_assert_int_eq(rrec_encode(&in, buf, 20), -1);
	/* a text with a line end is kept on one line */
	snprintf(in.r.text, sizeof(in.r.text), "a\r\nb");
	ck_assert_int_gt(rrec_encode(&in, buf, sizeof(buf)), 0);
	ck_assert_msg(strpbrk(buf, "\r\n") == NULL, "line end in %s", buf);
}
END_TEST

/*
 * mutations of valid values (one byte changed, cut, doubled): the
 * decoder never crashes (ASan in unit-san) and whatever it accepts is
 * inside the bounds
 */
START_TEST(test_mutations)
{
	char buf[RREC_MAX + 8], tmp[RREC_MAX + 8];
	struct rrec rec;
	unsigned seed = 12345;
	int i, accepted = 0;

	for (i = 0; i < 200000; i++) {
		const char *v = good[i % (sizeof(good) / sizeof(good[0]))].val;
		size_t len = strlen(v), pos;

		memcpy(buf, v, len);
		seed = seed * 1103515245u + 12345u;
		pos = (seed >> 8) % len;
		switch ((seed >> 4) % 4) {
		case 0: buf[pos] = (char)(seed >> 16); break;
		case 1: len = pos; break;
		case 2:
			memcpy(tmp, buf, len);
			memcpy(buf + pos, tmp, len - pos);
			memcpy(buf + pos + (len - pos), tmp + pos, len - pos);
			len += len - pos;
			break;
		default: buf[pos] = ' '; break;
		}
		if (rrec_decode(buf, len, NOW, &rec) == 0) {
			accepted++;
			ck_assert(rec.created <= NOW + RREC_SKEW && rec.expires > NOW &&
				  rec.expires - rec.created <= RREC_LIFE_MAX);
			ck_assert(rec.r.verdict <= VERDICT_TEMPFAIL);
			ck_assert(rec.r.code == 0 || (rec.r.code >= 200 && rec.r.code <= 599));
			ck_assert(strlen(rec.r.text) <= RREC_TEXT_MAX);
			ck_assert(strpbrk(rec.r.text, "\r\n") == NULL);
			ck_assert(rec.type == RREC_ADDR ? rec.facts == 0 : rec.facts > 0 && rec.facts < 64);
		}
	}
	/* some mutations (in the text) are still good values: the loop is not vacuous */
	ck_assert_int_gt(accepted, 0);
}
END_TEST

/* key builder: rest, want ("" = refused) */
static const struct {
	const char *kind, *rest, *want;
} keys[] = {
	{ "a", "alice@example.test", "sav:v1:a:alice@example.test" },
	{ "d", "example.test", "sav:v1:d:example.test" },
	{ "refresh", "alice@example.test", "sav:v1:refresh:alice@example.test" },
	{ "a", "\"john doe\"@example.test", "" },
	{ "a", "x@example.test\r\nFLUSHALL", "" },
	{ "a", "x@example.test\n", "" },
	{ "a", "b\xc3\xa9@example.test", "" },
	{ "a", "", "" },
	{ "A", "x@example.test", "" },
	{ "a b", "x@example.test", "" },
};

START_TEST(test_keys)
{
	char buf[RCONN_KEY_MAX + 1];
	int n;

	n = rconn_key(buf, sizeof(buf), keys[_i].kind, keys[_i].rest);
	if (keys[_i].want[0] == '\0')
		ck_assert_msg(n == -1, "row %d: got \"%s\", want refused", _i, buf);
	else {
		ck_assert_msg(n == (int)strlen(keys[_i].want), "row %d: got %d", _i, n);
		ck_assert_str_eq(buf, keys[_i].want);
	}
}
END_TEST

START_TEST(test_key_bounds)
{
	char rest[RCONN_KEY_MAX + 10], buf[RCONN_KEY_MAX * 2];

	memset(rest, 'x', sizeof(rest) - 1);
	rest[sizeof(rest) - 1] = '\0';
	ck_assert_int_eq(rconn_key(buf, sizeof(buf), "a", rest), -1);
	ck_assert_int_eq(rconn_key(buf, 10, "a", "x@example.test"), -1);
	rest[RCONN_KEY_MAX - 9] = '\0';		/* "sav:v1:a:" is 9 bytes */
	ck_assert_int_eq(rconn_key(buf, sizeof(buf), "a", rest), RCONN_KEY_MAX);
}
END_TEST

/* SharedCache syntax: url, 0 good / -1 refused */
static const struct {
	const char *url;
	int	want;
} urls[] = {
	{ "redis://127.0.0.1", 0 }, { "redis://127.0.0.1:6380", 0 }, { "redis://127.0.0.1:6380/2", 0 },
	{ "redis://[::1]:6379/0", 0 }, { "redis://redis.lab.test/1", 0 }, { "redis://127.0.0.1/", 0 },
	{ "unix:/run/redis/redis.sock", 0 },
	{ "redis://", -1 }, { "redis://:6379", -1 }, { "redis://127.0.0.1:", -1 },
	{ "redis://127.0.0.1:70000", -1 }, { "redis://127.0.0.1/db", -1 }, { "redis://[::1", -1 },
	{ "redis://a b", -1 }, { "redis://127.0.0.1:6379/0/1", -1 }, { "rediss://127.0.0.1", -1 },
	{ "unix:run/redis.sock", -1 }, { "127.0.0.1:6379", -1 }, { "redis://u:p@127.0.0.1", -1 },
};

START_TEST(test_urls)
{
	char err[128];

	ck_assert_msg(rconn_url_check(urls[_i].url, err, sizeof(err)) == urls[_i].want,
		      "%s: got %s, want %s", urls[_i].url, urls[_i].want ? "accepted" : err,
		      urls[_i].want ? "refused" : "accepted");
}
END_TEST

/* sharing off: no context, ever, and no connection attempted */
START_TEST(test_off)
{
	struct rconn_conf c;

	memset(&c, 0, sizeof(c));
	ck_assert_int_eq(rconn_init(&c), 0);
	ck_assert_int_eq(rconn_enabled(), 0);
	ck_assert_ptr_null(rconn_get());
	ck_assert_str_eq(rconn_prefix(), "sav:");
}
END_TEST

Suite *
make_suite(void)
{
	Suite *s = suite_create("rrec");
	TCase *tc;

	tc = tcase_create("decode");
	tcase_add_loop_test(tc, test_good, 0, sizeof(good) / sizeof(good[0]));
	tcase_add_loop_test(tc, test_bad, 0, sizeof(bad) / sizeof(bad[0]));
	tcase_add_test(tc, test_oversize);
	tcase_add_test(tc, test_mutations);
	tcase_set_timeout(tc, 30);
	suite_add_tcase(s, tc);
	tc = tcase_create("encode");
	tcase_add_loop_test(tc, test_roundtrip, 0, 2 * (VERDICT_TEMPFAIL + 1));
	tcase_add_test(tc, test_encode_refuses);
	suite_add_tcase(s, tc);
	tc = tcase_create("keys");
	tcase_add_loop_test(tc, test_keys, 0, sizeof(keys) / sizeof(keys[0]));
	tcase_add_test(tc, test_key_bounds);
	tcase_add_loop_test(tc, test_urls, 0, sizeof(urls) / sizeof(urls[0]));
	tcase_add_test(tc, test_off);
	suite_add_tcase(s, tc);
	return s;
}

#include "check_main.h"
