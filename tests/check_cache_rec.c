/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * check_cache_rec - the reason byte of the cache's record format
 * (probe/cache/cache_rec.c): each reason's on-disk number is pinned
 * here, so that a renumbering (which would make old files lie) fails;
 * reasons without a number go to disk as their literal token; a literal
 * token this build does not know decodes as R_OTHER with the stored
 * verdict and goes back to disk unchanged; a number past the table is
 * a miss, never another reason. The domain facts keep their flag bits:
 * the sixth, needs-tls, is bit 7, its time after the five others', and
 * never allowed on an address record. An address record other than
 * valid keeps its session transcript (flag 0x02, after the IP); a
 * valid one never does, and a transcript that is not of the shape
 * dialog.h gives makes the record a miss.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <check.h>

#include "cache_int.h"

#define KEY	"a:u@x.test"
#define LIT	-2	/* no number: written as the literal token */

/* the on-disk numbers of version 1: append only, never change one */
static const int pinned[R_COUNT] = {
	[R_NONE] = 0, [R_USER_OK] = 1, [R_USER_UNKNOWN] = 2, [R_MAILBOX_FULL] = 3,
	[R_GREYLISTED] = 4, [R_TEMP_REPLY] = 5, [R_POLICY_BLOCK] = 6,
	[R_NULL_SENDER_REFUSED] = 7, [R_GREETING_REFUSED] = 8, [R_CATCH_ALL] = 9,
	[R_NXDOMAIN] = 10, [R_NULL_MX] = 11, [R_NO_MAIL_HOST] = 12, [R_BOGUS_MX] = 13,
	[R_INVALID_TLD] = 14, [R_BAD_IDN] = 15, [R_SERVFAIL] = 16, [R_DNS_TIMEOUT] = 17,
	[R_TIMEOUT] = 18, [R_CONNECT_FAILED] = 19, [R_PROTOCOL_ERROR] = 20,
	[R_SERVICE_CLOSING] = 21, [R_PRIVATE_TARGET] = 22, [R_SELF_TARGET] = 23,
	[R_SMTPUTF8_UNSUPPORTED] = 24, [R_TOO_LONG] = 25, [R_NO_DOMAIN] = 26,
	[R_BAD_SYNTAX] = 27, [R_ADDRESS_LITERAL] = 28, [R_STARTTLS_REQUIRED] = 29,
	[R_UNDETERMINED] = 30, [R_RATE_LIMITED] = 31, [R_BUDGET] = 32,
	[R_CACHED_DOMAIN] = 33, [R_NULL_SENDER] = 34, [R_AUTHENTICATED] = 35,
	[R_TRUSTED_NETWORK] = 36, [R_EXEMPT_DOMAIN] = 37, [R_LOCAL] = 38,
	[R_PROBE_SENDER] = 39, [R_INTERNAL] = 40, [R_SPF_PASS] = 41,
	[R_RCPT_SYNTAX] = LIT, [R_BAD_DOMAIN_NAME] = LIT, [R_OTHER] = LIT,
};

/* CRC-32 (IEEE, as zlib), bit by bit: independent of the code under test */
static uint32_t
crc(const unsigned char *p, size_t n)
{
	uint32_t c = 0xffffffffu;
	int k;

	while (n-- > 0) {
		c ^= *p++;
		for (k = 0; k < 8; k++)
			c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
	}
	return c ^ 0xffffffffu;
}

static void
recrc(unsigned char *buf, size_t len)
{
	uint32_t c = crc(buf, len - 4);

	buf[len - 4] = c & 0xff;
	buf[len - 3] = (c >> 8) & 0xff;
	buf[len - 2] = (c >> 16) & 0xff;
	buf[len - 1] = (c >> 24) & 0xff;
}

static void
mkrec(struct rec *r, enum verdict v, enum reason why)
{
	memset(r, 0, sizeof(*r));
	r->type = REC_ADDR;
	r->verdict = v;
	r->reason = why;
	r->code = 550;
	r->created = 1700000000;
	snprintf(r->text, sizeof(r->text), "no");
}

START_TEST(test_pinned)
{
	enum reason why = (enum reason)_i;
	unsigned char buf[REC_MAX];
	struct rec r, back;
	size_t len;
	int want = pinned[why];

	ck_assert_msg(want != 0 || why == R_NONE, "reason %s has no pinned disk number: add one "
		      "(append to cache_rec.c's table, or LIT)", reason_str(why));
	ck_assert_int_eq(cache_rec_reason_index(why), want == LIT ? REASON_LITERAL : want);
	mkrec(&r, VERDICT_UNKNOWN, why);
	len = cache_rec_encode(&r, KEY, strlen(KEY), buf, sizeof(buf));
	ck_assert_msg(len > REC_HDR + 2, "%s: not encoded", reason_str(why));
	if (want == LIT) {
		const char *tok = reason_str(why);

		ck_assert_msg(buf[REC_HDR] == REASON_LITERAL && buf[REC_HDR + 1] == strlen(tok) &&
			      memcmp(buf + REC_HDR + 2, tok, strlen(tok)) == 0,
			      "%s: got byte %u, want the literal token", tok, buf[REC_HDR]);
	} else
		ck_assert_msg(buf[REC_HDR] == want, "%s: on disk as %u, want %d",
			      reason_str(why), buf[REC_HDR], want);
	ck_assert_int_eq(cache_rec_decode(buf, len, KEY, strlen(KEY), &back), 0);
	ck_assert_msg(back.reason == why, "%s: decoded as %s", reason_str(why), reason_str(back.reason));
	ck_assert_int_eq(back.verdict, VERDICT_UNKNOWN);
}
END_TEST

START_TEST(test_fact_bits)
{
	static const char dkey[] = "d:x.test";
	unsigned char buf[REC_MAX];
	struct rec r, back;
	size_t len;

	mkrec(&r, VERDICT_UNKNOWN, R_STARTTLS_REQUIRED);
	r.type = REC_DOMAIN;
	r.flags = FACT_REFUSES_NULL | FACT_NEEDS_TLS;
	r.fact_time[1] = 1700000001;
	r.fact_time[5] = 1700000005;
	len = cache_rec_encode(&r, dkey, strlen(dkey), buf, sizeof(buf));
	ck_assert_msg(len > 0, "not encoded");
	/* the five old facts keep bits 0-4; needs-tls is bit 7 (0x80) */
	ck_assert_msg(buf[4] == (0x02 | 0x80), "flags byte 0x%02x, want 0x82", buf[4]);
	/* one time per fact, in bit order: refuses-null's, then needs-tls's */
	ck_assert_msg(buf[REC_HDR] == 0x01 && buf[REC_HDR + 4] == 0x05, "fact times out of order");
	ck_assert_int_eq(cache_rec_decode(buf, len, dkey, strlen(dkey), &back), 0);
	ck_assert_msg(back.flags == (FACT_REFUSES_NULL | FACT_NEEDS_TLS), "flags 0x%x", back.flags);
	ck_assert_int_eq(back.fact_time[1], 1700000001);
	ck_assert_int_eq(back.fact_time[5], 1700000005);
	ck_assert_str_eq(cache_fact_str(FACT_NEEDS_TLS), "needs-tls");

	/* bit 7 on an address record is not ours: a miss */
	mkrec(&r, VERDICT_VALID, R_USER_OK);
	len = cache_rec_encode(&r, KEY, strlen(KEY), buf, sizeof(buf));
	ck_assert_msg(len > 0, "not encoded");
	buf[4] |= 0x80;
	recrc(buf, len);
	ck_assert_int_eq(cache_rec_decode(buf, len, KEY, strlen(KEY), &back), -1);
}
END_TEST

/*
 * A literal token this build does not know (another version wrote it):
 * a hit with the stored verdict and R_OTHER, never some other reason;
 * rewritten (as a refresh does) it keeps its token.
 */
START_TEST(test_unknown_literal)
{
	unsigned char buf[REC_MAX], again[REC_MAX];
	struct rec r, back;
	struct probe_result out;
	size_t len, len2;

	mkrec(&r, VERDICT_INVALID, R_OTHER);
	snprintf(r.other, sizeof(r.other), "made-up-reason");
	len = cache_rec_encode(&r, KEY, strlen(KEY), buf, sizeof(buf));
	ck_assert_uint_gt(len, 0);
	ck_assert_int_eq(buf[REC_HDR], REASON_LITERAL);
	ck_assert_int_eq(buf[REC_HDR + 1], 14);
	ck_assert_int_eq(memcmp(buf + REC_HDR + 2, "made-up-reason", 14), 0);

	ck_assert_int_eq(cache_rec_decode(buf, len, KEY, strlen(KEY), &back), 0);
	ck_assert_int_eq(back.reason, R_OTHER);
	ck_assert_int_eq(back.verdict, VERDICT_INVALID);
	ck_assert_str_eq(back.other, "made-up-reason");
	cache_rec_to_result(&out, &back, KEY, strlen(KEY));
	ck_assert_int_eq(out.reason, R_OTHER);
	ck_assert_int_eq(out.verdict, VERDICT_INVALID);

	back.tried = 1700000100;
	len2 = cache_rec_encode(&back, KEY, strlen(KEY), again, sizeof(again));
	ck_assert_uint_eq(len2, len + 4);	/* + the tried time */
	ck_assert_int_eq(again[REC_HDR + 4], REASON_LITERAL);
	ck_assert_int_eq(memcmp(again + REC_HDR + 6, "made-up-reason", 14), 0);

	/* a known token written as a literal (an older build) is that reason */
	mkrec(&r, VERDICT_UNKNOWN, R_OTHER);
	snprintf(r.other, sizeof(r.other), "user-unknown");
	len = cache_rec_encode(&r, KEY, strlen(KEY), buf, sizeof(buf));
	ck_assert_int_eq(cache_rec_decode(buf, len, KEY, strlen(KEY), &back), 0);
	ck_assert_int_eq(back.reason, R_USER_UNKNOWN);
	ck_assert_str_eq(back.other, "");
}
END_TEST

/* numbers past the table, and bad literal tokens, are a miss */
START_TEST(test_bad_reason_byte)
{
	static const unsigned bad[] = { 42, 43, 100, 0xfe };
	unsigned char buf[REC_MAX];
	struct rec r, back;
	size_t len, i;

	mkrec(&r, VERDICT_VALID, R_USER_OK);
	len = cache_rec_encode(&r, KEY, strlen(KEY), buf, sizeof(buf));
	ck_assert_int_eq(buf[REC_HDR], 1);
	ck_assert_int_eq(cache_rec_decode(buf, len, KEY, strlen(KEY), &back), 0);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		buf[REC_HDR] = (unsigned char)bad[i];
		recrc(buf, len);
		ck_assert_msg(cache_rec_decode(buf, len, KEY, strlen(KEY), &back) == -1,
			      "reason byte %u: got a record, want a miss", bad[i]);
	}

	mkrec(&r, VERDICT_VALID, R_OTHER);
	snprintf(r.other, sizeof(r.other), "made-up");
	len = cache_rec_encode(&r, KEY, strlen(KEY), buf, sizeof(buf));
	buf[REC_HDR + 2] = 'M';		/* not [a-z0-9-] */
	recrc(buf, len);
	ck_assert_int_eq(cache_rec_decode(buf, len, KEY, strlen(KEY), &back), -1);
}
END_TEST

/* the transcript: kept with invalid, never with valid, checked when read */
START_TEST(test_dialog)
{
	static const char dlg[] = "< 220 mx.x.test ESMTP\n> RCPT TO:<u@x.test>\n"
	    "< 550 5.1.1 no such user\n> QUIT\n< 221 bye";
	unsigned char buf[REC_MAX];
	struct rec r, back;
	struct probe_result pr;
	size_t len, plain, at;

	mkrec(&r, VERDICT_INVALID, R_USER_UNKNOWN);
	plain = cache_rec_encode(&r, KEY, strlen(KEY), buf, sizeof(buf));
	ck_assert_uint_gt(plain, 0);
	ck_assert_int_eq(buf[4] & 0x02, 0);
	memcpy(r.dialog, dlg, sizeof(dlg));
	len = cache_rec_encode(&r, KEY, strlen(KEY), buf, sizeof(buf));
	ck_assert_uint_eq(len, plain + 2 + strlen(dlg));
	ck_assert_int_eq(buf[4] & 0x02, 0x02);
	ck_assert_int_eq(cache_rec_decode(buf, len, KEY, strlen(KEY), &back), 0);
	ck_assert_str_eq(back.dialog, dlg);
	ck_assert_uint_eq(back.flags, 0);
	cache_rec_to_result(&pr, &back, KEY, strlen(KEY));
	ck_assert_str_eq(pr.dialog, dlg);

	/* a bad byte in it (a control character, a line without its mark): a miss */
	at = len - 4 - strlen(dlg) + 5;
	buf[at] = '\x1b';
	recrc(buf, len);
	ck_assert_int_eq(cache_rec_decode(buf, len, KEY, strlen(KEY), &back), -1);
	buf[at] = 'x';
	buf[len - 4 - strlen(dlg)] = '!';
	recrc(buf, len);
	ck_assert_int_eq(cache_rec_decode(buf, len, KEY, strlen(KEY), &back), -1);
	/* a length past the record: a miss */
	len = cache_rec_encode(&r, KEY, strlen(KEY), buf, sizeof(buf));
	buf[len - 4 - strlen(dlg) - 2] = 0xff;
	recrc(buf, len);
	ck_assert_int_eq(cache_rec_decode(buf, len, KEY, strlen(KEY), &back), -1);

	/* valid: not written; and a valid record claiming one is a miss */
	r.verdict = VERDICT_VALID;
	len = cache_rec_encode(&r, KEY, strlen(KEY), buf, sizeof(buf));
	ck_assert_uint_eq(len, plain);
	ck_assert_int_eq(buf[4] & 0x02, 0);
	r.verdict = VERDICT_INVALID;
	len = cache_rec_encode(&r, KEY, strlen(KEY), buf, sizeof(buf));
	buf[3] = VERDICT_VALID;
	recrc(buf, len);
	ck_assert_int_eq(cache_rec_decode(buf, len, KEY, strlen(KEY), &back), -1);

	/* from a result: a transcript of the wrong shape is left out, not stored */
	memset(&pr, 0, sizeof(pr));
	pr.verdict = VERDICT_TEMPFAIL;
	pr.reason = R_TIMEOUT;
	snprintf(pr.dialog, sizeof(pr.dialog), "250 no mark");
	cache_rec_from_result(&r, REC_ADDR, &pr, 1700000000);
	ck_assert_str_eq(r.dialog, "");
	snprintf(pr.dialog, sizeof(pr.dialog), "- timeout waiting for the greeting");
	cache_rec_from_result(&r, REC_ADDR, &pr, 1700000000);
	ck_assert_str_eq(r.dialog, pr.dialog);
	cache_rec_from_result(&r, REC_DOMAIN, &pr, 1700000000);
	ck_assert_str_eq(r.dialog, "");
}
END_TEST

Suite *
make_suite(void)
{
	Suite *s = suite_create("cache_rec");
	TCase *tc;

	tc = tcase_create("reasons");
	tcase_add_loop_test(tc, test_pinned, 0, R_COUNT);
	tcase_add_test(tc, test_unknown_literal);
	tcase_add_test(tc, test_fact_bits);
	tcase_add_test(tc, test_bad_reason_byte);
	tcase_add_test(tc, test_dialog);
	suite_add_tcase(s, tc);
	return s;
}

#include "check_main.h"
