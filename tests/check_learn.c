/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * check_learn - the rules about what a result teaches (learn.c), as
 * tables: which results are kept at all, which domain facts a result
 * establishes and which it disproves, what may overwrite the address
 * record the cache holds, when domain facts answer without a probe,
 * and StrictNullSender. Pure: no cache file, no network.
 */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "learn.h"

#define V(x)	VERDICT_##x
#define ALLNEG	(FACT_REFUSES_NULL | FACT_BLOCKS_US | FACT_NO_MAIL | FACT_UNREACHABLE)

static void
mk(struct probe_result *r, enum verdict v, enum reason reason, int catch_all)
{
	memset(r, 0, sizeof(*r));
	r->verdict = v;
	r->reason = reason;
	r->catch_all = catch_all;
}

/* ---- facts: established, disproved, kept at all ---- */

static const struct {
	enum verdict v;
	enum reason reason;
	int	catch_all;
	int	keeps;
	unsigned facts;
	unsigned cleared;
} facts_rows[] = {
	/* a mailbox answer in plaintext: TLS is not needed either */
	{ V(VALID), R_USER_OK, 0, 1, 0, ALLNEG | FACT_NEEDS_TLS },
	{ V(VALID), R_MAILBOX_FULL, 0, 1, 0, ALLNEG | FACT_NEEDS_TLS },
	{ V(INVALID), R_USER_UNKNOWN, 0, 1, 0, ALLNEG | FACT_CATCH_ALL | FACT_NEEDS_TLS },
	{ V(CATCH_ALL), R_CATCH_ALL, 1, 1, FACT_CATCH_ALL, 0 },
	/* valid with the catch-all flag proves nothing about the mailbox */
	{ V(VALID), R_USER_OK, 1, 1, FACT_CATCH_ALL, 0 },
	/* a refused <> is a domain fact, and clears nothing even when strict made it invalid */
	{ V(UNKNOWN), R_NULL_SENDER_REFUSED, 0, 1, FACT_REFUSES_NULL, 0 },
	{ V(INVALID), R_NULL_SENDER_REFUSED, 0, 1, FACT_REFUSES_NULL, 0 },
	{ V(UNKNOWN), R_GREETING_REFUSED, 0, 1, FACT_BLOCKS_US, 0 },
	{ V(UNKNOWN), R_POLICY_BLOCK, 0, 1, FACT_BLOCKS_US, 0 },
	{ V(BAD_DOMAIN), R_NXDOMAIN, 0, 1, FACT_NO_MAIL, 0 },
	{ V(BAD_DOMAIN), R_NULL_MX, 0, 1, FACT_NO_MAIL, 0 },
	{ V(BAD_DOMAIN), R_NO_MAIL_HOST, 0, 1, FACT_NO_MAIL, 0 },
	/* a temporary "no mail host" (nothing could be tried) is no fact */
	{ V(TEMPFAIL), R_NO_MAIL_HOST, 0, 1, 0, 0 },
	{ V(BAD_DOMAIN), R_BOGUS_MX, 0, 1, 0, 0 },
	{ V(TEMPFAIL), R_CONNECT_FAILED, 0, 1, FACT_UNREACHABLE, 0 },
	{ V(TEMPFAIL), R_TIMEOUT, 0, 1, FACT_UNREACHABLE, 0 },
	{ V(TEMPFAIL), R_GREYLISTED, 0, 1, 0, 0 },
	{ V(TEMPFAIL), R_TEMP_REPLY, 0, 1, 0, 0 },
	{ V(UNKNOWN), R_UNDETERMINED, 0, 1, 0, 0 },
	/* results about us, not about the address: never kept */
	{ V(TEMPFAIL), R_RATE_LIMITED, 0, 0, 0, 0 },
	{ V(TEMPFAIL), R_BUDGET, 0, 0, 0, 0 },
	{ V(ERROR), R_INTERNAL, 0, 0, 0, 0 },
	{ V(UNKNOWN), R_CACHED_DOMAIN, 0, 0, 0, 0 },
	/* nothing learnt */
	{ V(SKIPPED), R_NULL_SENDER, 0, 0, 0, 0 },
	{ V(ERROR), R_UNDETERMINED, 0, 0, 0, 0 },
};

/* ---- needs-tls: learnt from a plaintext "TLS first", kept by answers inside TLS ---- */

static const struct {
	const char *what;
	enum verdict v;
	enum reason reason;
	const char *tls;	/* the deciding session's protocol, "" plaintext */
	int	needs_tls;	/* a plaintext session was told "TLS first" */
	unsigned facts;
	unsigned cleared;
} tls_rows[] = {
	{ "TLS first, ProbeTLS never", V(UNKNOWN), R_STARTTLS_REQUIRED, "", 1, FACT_NEEDS_TLS, 0 },
	{ "TLS first, then valid inside TLS", V(VALID), R_USER_OK, "TLSv1.3", 1, FACT_NEEDS_TLS, ALLNEG },
	{ "TLS first, then invalid inside TLS", V(INVALID), R_USER_UNKNOWN, "TLSv1.3", 1,
	  FACT_NEEDS_TLS, ALLNEG | FACT_CATCH_ALL },
	{ "valid inside TLS (offered)", V(VALID), R_USER_OK, "TLSv1.2", 0, 0, ALLNEG },
	{ "valid in plaintext", V(VALID), R_USER_OK, "", 0, 0, ALLNEG | FACT_NEEDS_TLS },
	{ "tempfail in plaintext", V(TEMPFAIL), R_GREYLISTED, "", 0, 0, 0 },
};

START_TEST(test_needs_tls)
{
	struct probe_result r;

	mk(&r, tls_rows[_i].v, tls_rows[_i].reason, 0);
	strcpy(r.tls, tls_rows[_i].tls);
	r.needs_tls = tls_rows[_i].needs_tls;
	ck_assert_msg(learn_facts(&r) == tls_rows[_i].facts, "%s: facts 0x%x, want 0x%x",
	    tls_rows[_i].what, learn_facts(&r), tls_rows[_i].facts);
	ck_assert_msg(learn_cleared(&r) == tls_rows[_i].cleared, "%s: cleared 0x%x, want 0x%x",
	    tls_rows[_i].what, learn_cleared(&r), tls_rows[_i].cleared);
	/* needs-tls never answers without a probe: it only changes how to ask */
	ck_assert_msg(learn_from_facts(FACT_NEEDS_TLS, &r, &r) == 0, "%s: answered from needs-tls",
	    tls_rows[_i].what);
}
END_TEST

START_TEST(test_facts)
{
	struct probe_result r;

	mk(&r, facts_rows[_i].v, facts_rows[_i].reason, facts_rows[_i].catch_all);
	ck_assert_msg(learn_keeps(&r) == facts_rows[_i].keeps, "row %d (%s/%s): keeps %d, want %d",
	    _i, verdict_str(r.verdict), reason_str(r.reason), learn_keeps(&r), facts_rows[_i].keeps);
	ck_assert_msg(learn_facts(&r) == facts_rows[_i].facts, "row %d (%s/%s): facts 0x%x, want 0x%x",
	    _i, verdict_str(r.verdict), reason_str(r.reason), learn_facts(&r), facts_rows[_i].facts);
	ck_assert_msg(learn_cleared(&r) == facts_rows[_i].cleared, "row %d (%s/%s): cleared 0x%x, want 0x%x",
	    _i, verdict_str(r.verdict), reason_str(r.reason), learn_cleared(&r), facts_rows[_i].cleared);
}
END_TEST

/* ---- what may overwrite what ---- */

enum { NONE = -1 };

static const struct {
	enum verdict v;		/* the fresh result */
	enum reason reason;
	int	held;		/* verdict of the record in force, NONE: none */
	int	put, touch, domain;
} plan_rows[] = {
	/* nothing held: a kept result is stored */
	{ V(VALID), R_USER_OK, NONE, 1, 0, 1 },
	{ V(INVALID), R_USER_UNKNOWN, NONE, 1, 0, 1 },
	{ V(TEMPFAIL), R_GREYLISTED, NONE, 1, 0, 1 },
	{ V(UNKNOWN), R_POLICY_BLOCK, NONE, 1, 0, 1 },
	{ V(BAD_DOMAIN), R_NXDOMAIN, NONE, 1, 0, 1 },
	/* a refused <> is stored only as a domain fact */
	{ V(UNKNOWN), R_NULL_SENDER_REFUSED, NONE, 0, 0, 1 },
	{ V(INVALID), R_NULL_SENDER_REFUSED, V(VALID), 0, 0, 1 },
	/* a failed refresh never turns a known-good address bad: kept, attempt noted */
	{ V(INVALID), R_USER_UNKNOWN, V(VALID), 0, 1, 1 },
	{ V(TEMPFAIL), R_TIMEOUT, V(VALID), 0, 1, 1 },
	{ V(UNKNOWN), R_UNDETERMINED, V(VALID), 0, 1, 1 },
	{ V(CATCH_ALL), R_CATCH_ALL, V(VALID), 0, 1, 1 },
	{ V(BAD_DOMAIN), R_NXDOMAIN, V(VALID), 0, 1, 1 },
	/* only a fresh valid replaces a valid */
	{ V(VALID), R_USER_OK, V(VALID), 1, 0, 1 },
	/* tempfail never replaces another verdict in force */
	{ V(TEMPFAIL), R_GREYLISTED, V(INVALID), 0, 0, 1 },
	{ V(TEMPFAIL), R_GREYLISTED, V(UNKNOWN), 0, 0, 1 },
	{ V(TEMPFAIL), R_GREYLISTED, V(TEMPFAIL), 1, 0, 1 },
	/* a definite answer replaces anything but a valid */
	{ V(INVALID), R_USER_UNKNOWN, V(TEMPFAIL), 1, 0, 1 },
	{ V(VALID), R_USER_OK, V(INVALID), 1, 0, 1 },
	{ V(INVALID), R_USER_UNKNOWN, V(UNKNOWN), 1, 0, 1 },
	/* not kept: nothing at all, whatever is held */
	{ V(TEMPFAIL), R_RATE_LIMITED, NONE, 0, 0, 0 },
	{ V(TEMPFAIL), R_BUDGET, V(VALID), 0, 0, 0 },
	{ V(ERROR), R_INTERNAL, NONE, 0, 0, 0 },
	{ V(SKIPPED), R_NULL_SENDER, NONE, 0, 0, 0 },
	{ V(UNKNOWN), R_CACHED_DOMAIN, NONE, 0, 0, 0 },
};

START_TEST(test_plan)
{
	struct probe_result r;
	struct cache_held held;
	struct cache_plan p;

	mk(&r, plan_rows[_i].v, plan_rows[_i].reason, 0);
	memset(&held, 0, sizeof(held));
	if (plan_rows[_i].held != NONE) {
		held.addr = 1;
		held.verdict = (enum verdict)plan_rows[_i].held;
	}
	memset(&p, 0xa5, sizeof(p));
	learn_plan(&r, &held, &p);
	ck_assert_msg(p.put_addr == plan_rows[_i].put && p.touch_addr == plan_rows[_i].touch &&
	    p.domain == plan_rows[_i].domain,
	    "row %d (%s/%s over %s): put %d touch %d domain %d, want %d %d %d", _i,
	    verdict_str(r.verdict), reason_str(r.reason),
	    plan_rows[_i].held == NONE ? "nothing" : verdict_str((enum verdict)plan_rows[_i].held),
	    p.put_addr, p.touch_addr, p.domain,
	    plan_rows[_i].put, plan_rows[_i].touch, plan_rows[_i].domain);
	if (p.domain) {
		ck_assert_uint_eq(p.add, learn_facts(&r));
		ck_assert_uint_eq(p.clear, learn_cleared(&r));
	} else
		ck_assert_msg(p.add == 0 && p.clear == 0, "row %d: facts changed by a result not kept", _i);
}
END_TEST

/* ---- domain facts that answer without a probe ---- */

static const struct {
	unsigned facts;
	int	answers;
} answer_rows[] = {
	{ 0, 0 },
	{ FACT_CATCH_ALL, 0 },		/* probed, without the catch-all RCPT */
	{ FACT_REFUSES_NULL, 1 },
	{ FACT_BLOCKS_US, 1 },
	{ FACT_NO_MAIL, 1 },
	{ FACT_UNREACHABLE, 1 },
	{ FACT_CATCH_ALL | FACT_UNREACHABLE, 1 },
};

START_TEST(test_from_facts)
{
	struct probe_result why, res;
	int got;

	mk(&why, V(TEMPFAIL), R_CONNECT_FAILED, 0);
	snprintf(why.address, sizeof(why.address), "first@d.test");
	snprintf(why.mx, sizeof(why.mx), "mx.d.test");
	why.code = 0;
	mk(&res, V(ERROR), R_NONE, 0);
	snprintf(res.address, sizeof(res.address), "second@d.test");
	got = learn_from_facts(answer_rows[_i].facts, &why, &res);
	ck_assert_msg(got == answer_rows[_i].answers, "facts 0x%x: answered %d, want %d",
	    answer_rows[_i].facts, got, answer_rows[_i].answers);
	/* the answer is the why, for this address, from the cache; else untouched */
	ck_assert_str_eq(res.address, "second@d.test");
	if (got) {
		ck_assert_int_eq(res.verdict, V(TEMPFAIL));
		ck_assert_int_eq(res.reason, R_CONNECT_FAILED);
		ck_assert_str_eq(res.mx, "mx.d.test");
		ck_assert_int_eq(res.cached, 1);
	} else {
		ck_assert_int_eq(res.verdict, V(ERROR));
		ck_assert_int_eq(res.cached, 0);
	}
}
END_TEST

/* ---- StrictNullSender: judged where the result leaves, by the setting now ---- */

static const struct {
	enum verdict v;
	enum reason reason;
	int	strict;
	enum verdict want;
} null_rows[] = {
	{ V(UNKNOWN), R_NULL_SENDER_REFUSED, 0, V(UNKNOWN) },
	{ V(UNKNOWN), R_NULL_SENDER_REFUSED, 1, V(INVALID) },
	/* stored while strict, read with strict off: unknown again */
	{ V(INVALID), R_NULL_SENDER_REFUSED, 0, V(UNKNOWN) },
	{ V(INVALID), R_NULL_SENDER_REFUSED, 1, V(INVALID) },
	/* nothing else changes */
	{ V(UNKNOWN), R_POLICY_BLOCK, 1, V(UNKNOWN) },
	{ V(INVALID), R_USER_UNKNOWN, 0, V(INVALID) },
	{ V(VALID), R_USER_OK, 1, V(VALID) },
};

START_TEST(test_null_sender)
{
	struct probe_result r;

	mk(&r, null_rows[_i].v, null_rows[_i].reason, 0);
	learn_null_sender(null_rows[_i].strict, &r);
	ck_assert_msg(r.verdict == null_rows[_i].want, "%s/%s strict %d: got %s, want %s",
	    verdict_str(null_rows[_i].v), reason_str(null_rows[_i].reason), null_rows[_i].strict,
	    verdict_str(r.verdict), verdict_str(null_rows[_i].want));
	ck_assert_int_eq(r.reason, null_rows[_i].reason);
}
END_TEST

START_TEST(test_store_without_cache)
{
	struct probe_result r;

	mk(&r, V(VALID), R_USER_OK, 0);
	ck_assert_int_eq(learn_store(NULL, "a:u@d.test", "d.test", &r), CACHE_MISS);
}
END_TEST

Suite *
make_suite(void)
{
	Suite *s = suite_create("learn");
	TCase *tc = tcase_create("learn");

	tcase_add_loop_test(tc, test_facts, 0, sizeof(facts_rows) / sizeof(facts_rows[0]));
	tcase_add_loop_test(tc, test_needs_tls, 0, sizeof(tls_rows) / sizeof(tls_rows[0]));
	tcase_add_loop_test(tc, test_plan, 0, sizeof(plan_rows) / sizeof(plan_rows[0]));
	tcase_add_loop_test(tc, test_from_facts, 0, sizeof(answer_rows) / sizeof(answer_rows[0]));
	tcase_add_loop_test(tc, test_null_sender, 0, sizeof(null_rows) / sizeof(null_rows[0]));
	tcase_add_test(tc, test_store_without_cache);
	suite_add_tcase(s, tc);
	return s;
}

#include "check_main.h"
