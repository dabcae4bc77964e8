/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * check_cache - the LMDB verdict cache (probe/cache*.c):
 * what is kept and for how long. Groups: lifetimes (every TTL,
 * judged at read time), the write rules, the record checks (every
 * byte of a record flipped is a miss), maintenance (purge, sweep,
 * iterate, delete) and threads of one process.
 *
 * The file itself is check_cache_files.c, crashes and several
 * processes check_cache_crash.c. All three use tests/cache_fixture.h:
 * every test runs in its own temporary directory under /tmp with an
 * injected clock, and with CACHE_NOSYNC except where durability is the
 * point (the crash test). Warnings are counted through log_set_hook.
 */
#include <errno.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <check.h>

#include "cache.h"
#include "log.h"
#include "cache_fixture.h"

/* ---- lifetimes ---- */

static const struct {
	enum verdict v;
	enum reason reason;
	long	ttl;
} lives[] = {
	{ VERDICT_VALID, R_USER_OK, 30 * DAY },
	{ VERDICT_INVALID, R_USER_UNKNOWN, 3 * HOUR },
	{ VERDICT_BAD_DOMAIN, R_BOGUS_MX, 3 * HOUR },
	{ VERDICT_BAD_SYNTAX, R_BAD_SYNTAX, 3 * HOUR },
	{ VERDICT_TEMPFAIL, R_GREYLISTED, 5 * MIN },
	{ VERDICT_UNKNOWN, R_UNDETERMINED, 1 * HOUR },
	{ VERDICT_CATCH_ALL, R_CATCH_ALL, 1 * HOUR },
};

START_TEST(test_lifetime)
{
	struct cache *c = open_c();
	struct probe_result r = mk(lives[_i].v, lives[_i].reason, 250, "", "x"), out;
	int stale;

	ck_assert_int_eq(cache_put_result(c, "a:u@life.test", NULL, &r), CACHE_HIT);
	fake_now = T0 + lives[_i].ttl - 1;
	ck_assert_msg(cache_get_addr(c, "a:u@life.test", &out, &stale) == CACHE_HIT,
	    "%s at ttl-1: got miss, want hit", verdict_str(lives[_i].v));
	ck_assert_msg(out.verdict == lives[_i].v, "got %s, want %s",
	    verdict_str(out.verdict), verdict_str(lives[_i].v));
	ck_assert_int_eq(out.cached, 1);
	fake_now = T0 + lives[_i].ttl;
	ck_assert_msg(cache_get_addr(c, "a:u@life.test", &out, &stale) == CACHE_MISS,
	    "%s at ttl: got hit, want miss", verdict_str(lives[_i].v));
	cache_close(c);
}
END_TEST

static const struct {
	enum verdict v;
	enum reason reason;
	unsigned fact;
	long	ttl;
} dfacts[] = {
	{ VERDICT_CATCH_ALL, R_CATCH_ALL, FACT_CATCH_ALL, DAY },
	{ VERDICT_UNKNOWN, R_NULL_SENDER_REFUSED, FACT_REFUSES_NULL, DAY },
	{ VERDICT_UNKNOWN, R_GREETING_REFUSED, FACT_BLOCKS_US, DAY },
	{ VERDICT_UNKNOWN, R_POLICY_BLOCK, FACT_BLOCKS_US, DAY },
	{ VERDICT_BAD_DOMAIN, R_NXDOMAIN, FACT_NO_MAIL, 3 * HOUR },
	{ VERDICT_BAD_DOMAIN, R_NULL_MX, FACT_NO_MAIL, 3 * HOUR },
	{ VERDICT_BAD_DOMAIN, R_NO_MAIL_HOST, FACT_NO_MAIL, 3 * HOUR },
	{ VERDICT_TEMPFAIL, R_CONNECT_FAILED, FACT_UNREACHABLE, 3 * HOUR },
	{ VERDICT_TEMPFAIL, R_TIMEOUT, FACT_UNREACHABLE, 3 * HOUR },
};

/* inconclusive results become domain facts, each with its lifetime */
START_TEST(test_domain_fact)
{
	struct cache *c = open_c();
	struct probe_result r = mk(dfacts[_i].v, dfacts[_i].reason, 550, "5.7.1", "no");
	struct cache_domain d;

	ck_assert_int_eq(cache_put_result(c, "a:u@dom.test", "dom.test", &r), CACHE_HIT);
	fake_now = T0 + dfacts[_i].ttl - 1;
	ck_assert_msg(cache_get_domain(c, "dom.test", &d) == CACHE_HIT,
	    "%s: got no domain record, want facts 0x%x", reason_str(dfacts[_i].reason), dfacts[_i].fact);
	ck_assert_msg(d.facts == dfacts[_i].fact, "%s: got facts 0x%x, want 0x%x",
	    reason_str(dfacts[_i].reason), d.facts, dfacts[_i].fact);
	ck_assert_str_eq(reason_str(d.why.reason), reason_str(dfacts[_i].reason));
	ck_assert_int_eq(d.created, T0);
	ck_assert_int_eq(d.expires, T0 + dfacts[_i].ttl);
	fake_now = T0 + dfacts[_i].ttl;
	ck_assert_msg(cache_get_domain(c, "dom.test", &d) == CACHE_MISS,
	    "%s: got a hit at its ttl, want a miss", reason_str(dfacts[_i].reason));
	cache_close(c);
}
END_TEST

/*
 * a refused <> lives only as a domain fact, never as an address
 * verdict, also when StrictNullSender made it invalid; and a strict
 * invalid clears no other fact (it is about <>, not about a mailbox).
 */
START_TEST(test_null_refused_domain_only)
{
	struct cache *c = open_c();
	struct probe_result ca = mk(VERDICT_CATCH_ALL, R_CATCH_ALL, 250, "", "");
	struct probe_result soft = mk(VERDICT_UNKNOWN, R_NULL_SENDER_REFUSED, 550, "5.7.1", "no <>");
	struct probe_result strict = mk(VERDICT_INVALID, R_NULL_SENDER_REFUSED, 550, "5.7.1", "no <>");
	struct probe_result out;
	struct cache_domain d;
	int stale = 0;

	ck_assert_int_eq(cache_put_result(c, "a:x@nr.test", "nr.test", &ca), CACHE_HIT);
	cache_put_result(c, "a:u@nr.test", "nr.test", &soft);
	ck_assert_msg(cache_get_addr(c, "a:u@nr.test", &out, &stale) == CACHE_MISS,
	    "a refused <> was stored as the address's verdict (%s)", verdict_str(out.verdict));
	cache_put_result(c, "a:v@nr.test", "nr.test", &strict);
	ck_assert_msg(cache_get_addr(c, "a:v@nr.test", &out, &stale) == CACHE_MISS,
	    "a strict refused <> was stored as the address's verdict (%s)", verdict_str(out.verdict));
	ck_assert_int_eq(cache_get_domain(c, "nr.test", &d), CACHE_HIT);
	ck_assert_msg(d.facts == (FACT_CATCH_ALL | FACT_REFUSES_NULL), "got facts 0x%x, want 0x%x",
	    d.facts, FACT_CATCH_ALL | FACT_REFUSES_NULL);
	cache_close(c);
}
END_TEST

START_TEST(test_no_fact)
{
	/* conclusive and plain temporary answers are not domain facts */
	static const struct { enum verdict v; enum reason reason; } none[] = {
		{ VERDICT_VALID, R_USER_OK }, { VERDICT_INVALID, R_USER_UNKNOWN },
		{ VERDICT_TEMPFAIL, R_GREYLISTED }, { VERDICT_TEMPFAIL, R_NO_MAIL_HOST },
		{ VERDICT_UNKNOWN, R_PRIVATE_TARGET },
	};
	struct cache *c = open_c();
	struct cache_domain d;
	size_t i;

	for (i = 0; i < sizeof(none) / sizeof(none[0]); i++) {
		struct probe_result r = mk(none[i].v, none[i].reason, 250, "", "");

		cache_put_result(c, "a:u@nofact.test", "nofact.test", &r);
		ck_assert_msg(cache_get_domain(c, "nofact.test", &d) == CACHE_MISS,
		    "%s/%s: got facts 0x%x, want none", verdict_str(none[i].v), reason_str(none[i].reason), d.facts);
	}
	cache_close(c);
}
END_TEST

START_TEST(test_fact_merge_clear)
{
	struct cache *c = open_c();
	struct probe_result ca = mk(VERDICT_CATCH_ALL, R_CATCH_ALL, 250, "", "");
	struct probe_result blk = mk(VERDICT_UNKNOWN, R_POLICY_BLOCK, 554, "5.7.1", "blocked");
	struct probe_result ok = mk(VERDICT_VALID, R_USER_OK, 250, "2.1.5", "Ok");
	struct probe_result no = mk(VERDICT_INVALID, R_USER_UNKNOWN, 550, "5.1.1", "no");
	struct cache_domain d;

	ca.catch_all = 1;
	cache_put_result(c, "a:a@m.test", "m.test", &ca);
	fake_now = T0 + 20 * HOUR;
	cache_put_result(c, "a:b@m.test", "m.test", &blk);
	ck_assert_int_eq(cache_get_domain(c, "m.test", &d), CACHE_HIT);
	ck_assert_int_eq(d.facts, FACT_CATCH_ALL | FACT_BLOCKS_US);
	/* merging does not extend the older fact */
	fake_now = T0 + DAY;
	ck_assert_int_eq(cache_get_domain(c, "m.test", &d), CACHE_HIT);
	ck_assert_int_eq(d.facts, FACT_BLOCKS_US);
	/* a definite answer about a mailbox disproves "blocks us" */
	cache_put_result(c, "a:c@m.test", "m.test", &ok);
	ck_assert_int_eq(cache_get_domain(c, "m.test", &d), CACHE_MISS);
	/* catch-all is cleared by a mailbox-level 5xx, not by a 2xx */
	fake_now = T0 + 2 * DAY;
	cache_put_result(c, "a:a@m.test", "m.test", &ca);
	cache_put_result(c, "a:d@m.test", "m.test", &ok);
	ck_assert_int_eq(cache_get_domain(c, "m.test", &d), CACHE_HIT);
	ck_assert_int_eq(d.facts, FACT_CATCH_ALL);
	cache_put_result(c, "a:e@m.test", "m.test", &no);
	ck_assert_int_eq(cache_get_domain(c, "m.test", &d), CACHE_MISS);
	/* cache_put_domain adds; facts 0 deletes */
	ck_assert_int_eq(cache_put_domain(c, "m.test", FACT_REFUSES_NULL, &blk), CACHE_HIT);
	ck_assert_int_eq(cache_put_domain(c, "m.test", FACT_UNREACHABLE, NULL), CACHE_HIT);
	ck_assert_int_eq(cache_get_domain(c, "m.test", &d), CACHE_HIT);
	ck_assert_int_eq(d.facts, FACT_REFUSES_NULL | FACT_UNREACHABLE);
	ck_assert_int_eq(cache_put_domain(c, "m.test", 0, NULL), CACHE_HIT);
	ck_assert_int_eq(cache_get_domain(c, "m.test", &d), CACHE_MISS);
	cache_close(c);
}
END_TEST

/* a created time in the future is expired */
START_TEST(test_future)
{
	struct cache *c = open_c();
	struct probe_result r = mk(VERDICT_VALID, R_USER_OK, 250, "", ""), out;
	struct cache_domain d;
	int stale;

	fake_now = T0 + 10;
	cache_put_result(c, "a:f@future.test", NULL, &r);
	r = mk(VERDICT_CATCH_ALL, R_CATCH_ALL, 250, "", "");
	cache_put_result(c, "a:g@future.test", "future.test", &r);
	fake_now = T0;
	ck_assert_int_eq(cache_get_addr(c, "a:f@future.test", &out, &stale), CACHE_MISS);
	ck_assert_int_eq(cache_get_domain(c, "future.test", &d), CACHE_MISS);
	fake_now = T0 + 10;
	ck_assert_int_eq(cache_get_addr(c, "a:f@future.test", &out, &stale), CACHE_HIT);
	cache_close(c);
}
END_TEST

/* the TTL in force at read time counts, not the one at write time */
START_TEST(test_ttl_at_read)
{
	struct cache_ttl ttl;
	struct cache *c = open_c();
	struct probe_result r = mk(VERDICT_INVALID, R_USER_UNKNOWN, 550, "5.1.1", ""), out;
	char err[256];
	int stale;

	cache_put_result(c, "a:x@ttl.test", NULL, &r);
	cache_close(c);
	cache_ttl_defaults(&ttl);
	ttl.invalid = HOUR;
	c = cache_open(path, &ttl, 0, CACHE_NOSYNC, err, sizeof(err));
	ck_assert_msg(c != NULL, "reopen: %s", err);
	cache_set_clock(c, fake_clock);
	fake_now = T0 + 2 * HOUR;
	ck_assert_int_eq(cache_get_addr(c, "a:x@ttl.test", &out, &stale), CACHE_MISS);
	cache_close(c);
}
END_TEST

/* valid past the refresh age is served, marked stale */
START_TEST(test_stale)
{
	struct cache *c = open_c();
	struct probe_result ok = mk(VERDICT_VALID, R_USER_OK, 250, "2.1.5", "Ok"), out;
	struct probe_result tf = mk(VERDICT_TEMPFAIL, R_TIMEOUT, 0, "", "");
	int stale;

	cache_put_result(c, "a:s@stale.test", NULL, &ok);
	fake_now = T0 + 7 * DAY - 1;
	ck_assert_int_eq(cache_get_addr(c, "a:s@stale.test", &out, &stale), CACHE_HIT);
	ck_assert_msg(stale == 0, "before refresh age: got stale=1, want 0");
	fake_now = T0 + 7 * DAY;
	ck_assert_int_eq(cache_get_addr(c, "a:s@stale.test", &out, &stale), CACHE_HIT);
	ck_assert_msg(stale == 1, "at refresh age: got stale=0, want 1");
	ck_assert_int_eq(out.verdict, VERDICT_VALID);
	/* a failed refresh keeps the entry and holds off the next one for a while */
	ck_assert_int_eq(cache_put_result(c, "a:s@stale.test", NULL, &tf), CACHE_HIT);
	ck_assert_int_eq(cache_get_addr(c, "a:s@stale.test", &out, &stale), CACHE_HIT);
	ck_assert_int_eq(out.verdict, VERDICT_VALID);
	ck_assert_msg(stale == 0, "right after a failed refresh: got stale=1, want 0");
	fake_now = T0 + 7 * DAY + 5 * MIN;
	ck_assert_int_eq(cache_get_addr(c, "a:s@stale.test", &out, &stale), CACHE_HIT);
	ck_assert_msg(stale == 1, "5 min after a failed refresh: got stale=0, want 1");
	/* a good refresh starts the clock again */
	cache_put_result(c, "a:s@stale.test", NULL, &ok);
	fake_now = T0 + 14 * DAY;
	ck_assert_int_eq(cache_get_addr(c, "a:s@stale.test", &out, &stale), CACHE_HIT);
	ck_assert_int_eq(stale, 0);
	cache_close(c);
}
END_TEST

/* nothing but "valid" replaces a valid entry in force */
static const enum verdict clobber[] = {
	VERDICT_TEMPFAIL, VERDICT_UNKNOWN, VERDICT_CATCH_ALL, VERDICT_INVALID, VERDICT_BAD_DOMAIN,
	VERDICT_ERROR, VERDICT_SKIPPED,
};

START_TEST(test_no_clobber)
{
	struct cache *c = open_c();
	struct probe_result ok = mk(VERDICT_VALID, R_USER_OK, 250, "2.1.5", "Ok"), out;
	struct probe_result bad = mk(clobber[_i], R_USER_UNKNOWN, 550, "5.1.1", "gone");
	int stale;

	cache_put_result(c, "a:k@keep.test", NULL, &ok);
	fake_now = T0 + 8 * DAY;
	cache_put_result(c, "a:k@keep.test", NULL, &bad);
	ck_assert_int_eq(cache_get_addr(c, "a:k@keep.test", &out, &stale), CACHE_HIT);
	ck_assert_msg(out.verdict == VERDICT_VALID, "after a %s refresh: got %s, want valid",
	    verdict_str(clobber[_i]), verdict_str(out.verdict));
	ck_assert_int_eq(out.code, 250);
	/* once the valid entry has expired the new result is stored (error/skipped never) */
	fake_now = T0 + 30 * DAY;
	cache_put_result(c, "a:k@keep.test", NULL, &bad);
	if (clobber[_i] == VERDICT_ERROR || clobber[_i] == VERDICT_SKIPPED)
		ck_assert_int_eq(cache_get_addr(c, "a:k@keep.test", &out, &stale), CACHE_MISS);
	else {
		ck_assert_int_eq(cache_get_addr(c, "a:k@keep.test", &out, &stale), CACHE_HIT);
		ck_assert_msg(out.verdict == clobber[_i], "after expiry: got %s, want %s",
		    verdict_str(out.verdict), verdict_str(clobber[_i]));
	}
	cache_close(c);
}
END_TEST

/* tempfail is stored as tempfail only and never replaces a verdict in force */
START_TEST(test_tempfail)
{
	struct cache *c = open_c();
	struct probe_result no = mk(VERDICT_INVALID, R_USER_UNKNOWN, 550, "5.1.1", "no");
	struct probe_result unk = mk(VERDICT_UNKNOWN, R_UNDETERMINED, 0, "", "");
	struct probe_result tf = mk(VERDICT_TEMPFAIL, R_GREYLISTED, 450, "4.7.1", "later"), out;
	int stale;

	ck_assert_int_eq(cache_put_result(c, "a:t@tf.test", NULL, &tf), CACHE_HIT);
	ck_assert_int_eq(cache_get_addr(c, "a:t@tf.test", &out, &stale), CACHE_HIT);
	ck_assert_int_eq(out.verdict, VERDICT_TEMPFAIL);
	ck_assert_int_eq(out.code, 450);
	fake_now = T0 + 5 * MIN;
	ck_assert_int_eq(cache_get_addr(c, "a:t@tf.test", &out, &stale), CACHE_MISS);

	cache_put_result(c, "a:n@tf.test", NULL, &no);
	cache_put_result(c, "a:u@tf.test", NULL, &unk);
	ck_assert_int_eq(cache_put_result(c, "a:n@tf.test", NULL, &tf), CACHE_MISS);
	ck_assert_int_eq(cache_put_result(c, "a:u@tf.test", NULL, &tf), CACHE_MISS);
	ck_assert_int_eq(cache_get_addr(c, "a:n@tf.test", &out, &stale), CACHE_HIT);
	ck_assert_msg(out.verdict == VERDICT_INVALID, "got %s, want invalid", verdict_str(out.verdict));
	ck_assert_int_eq(cache_get_addr(c, "a:u@tf.test", &out, &stale), CACHE_HIT);
	ck_assert_int_eq(out.verdict, VERDICT_UNKNOWN);
	/* the invalid entry expires after 3 h: no tempfail ever turned into it */
	fake_now = T0 + 5 * MIN + 3 * HOUR;
	ck_assert_int_eq(cache_get_addr(c, "a:n@tf.test", &out, &stale), CACHE_MISS);
	cache_close(c);
}
END_TEST

/* results about us, not the address, are not stored */
START_TEST(test_not_stored)
{
	static const struct { enum verdict v; enum reason reason; } skip[] = {
		{ VERDICT_ERROR, R_INTERNAL }, { VERDICT_SKIPPED, R_NULL_SENDER },
		{ VERDICT_TEMPFAIL, R_RATE_LIMITED }, { VERDICT_TEMPFAIL, R_BUDGET },
		{ VERDICT_UNKNOWN, R_CACHED_DOMAIN },
	};
	struct cache *c = open_c();
	struct probe_result out;
	struct cache_domain d;
	size_t i;
	int stale;

	for (i = 0; i < sizeof(skip) / sizeof(skip[0]); i++) {
		struct probe_result r = mk(skip[i].v, skip[i].reason, 0, "", "");

		ck_assert_int_eq(cache_put_result(c, "a:z@ns.test", "ns.test", &r), CACHE_MISS);
		ck_assert_msg(cache_get_addr(c, "a:z@ns.test", &out, &stale) == CACHE_MISS,
		    "%s/%s: got stored, want not stored", verdict_str(skip[i].v), reason_str(skip[i].reason));
		ck_assert_int_eq(cache_get_domain(c, "ns.test", &d), CACHE_MISS);
	}
	cache_close(c);
}
END_TEST

/* every field survives; hostile fields are bounded and sanitised on the way in */
START_TEST(test_roundtrip)
{
	struct cache *c = open_c();
	/* a reason with no on-disk number: stored as its literal token */
	struct probe_result r = mk(VERDICT_INVALID, R_BAD_DOMAIN_NAME, 550, "5.1.1", ""), out;
	char longtext[300];
	int stale;

	memset(longtext, 'y', sizeof(longtext) - 1);
	longtext[sizeof(longtext) - 1] = '\0';
	memcpy(longtext, "bad\r\n%n\x1b[31m", 12);
	memcpy(r.text, longtext, sizeof(r.text) - 1);
	r.text[sizeof(r.text) - 1] = '\0';
	snprintf(r.mx, sizeof(r.mx), "mx 1.example.test");
	snprintf(r.ip, sizeof(r.ip), "2001:db8::25");
	r.catch_all = 1;
	ck_assert_int_eq(cache_put_result(c, "a:Rt@rt.test", NULL, &r), CACHE_HIT);
	ck_assert_int_eq(cache_get_addr(c, "a:Rt@rt.test", &out, &stale), CACHE_HIT);
	ck_assert_str_eq(out.address, "Rt@rt.test");
	ck_assert_int_eq(out.verdict, VERDICT_INVALID);
	ck_assert_str_eq(reason_str(out.reason), "bad-domain-name");
	ck_assert_int_eq(out.code, 550);
	ck_assert_str_eq(out.enhanced, "5.1.1");
	ck_assert_msg(strlen(out.text) == 128, "text: got %zu bytes, want 128", strlen(out.text));
	ck_assert_msg(strncmp(out.text, "bad  %n?[31m", 12) == 0, "text: got \"%.20s\"", out.text);
	ck_assert_str_eq(out.text + 125, "...");
	ck_assert_str_eq(out.mx, "mx?1.example.test");
	ck_assert_str_eq(out.ip, "2001:db8::25");
	ck_assert_int_eq(out.catch_all, 1);
	ck_assert_int_eq(out.cached, 1);

	/* out-of-range fields are dropped, not stored */
	r = mk(VERDICT_UNKNOWN, (enum reason)999, 999, "9.9.9", "t");
	snprintf(r.ip, sizeof(r.ip), "not-an-ip");
	ck_assert_int_eq(cache_put_result(c, "a:odd@rt.test", NULL, &r), CACHE_HIT);
	ck_assert_int_eq(cache_get_addr(c, "a:odd@rt.test", &out, &stale), CACHE_HIT);
	ck_assert_str_eq(reason_str(out.reason), "");
	ck_assert_int_eq(out.code, 0);
	ck_assert_str_eq(out.enhanced, "");
	ck_assert_str_eq(out.ip, "");
	ck_assert_str_eq(out.mx, "mx.example.test");
	cache_close(c);
}
END_TEST

/* the compact encodings (see cache_rec.c) give back exactly what went in */
static const struct {
	const char *key, *mx, *enh, *text;
} compact[] = {
	{ "a:u@rel.test", "mx1.rel.test", "2.1.5", "Ok" },			/* MX under the domain */
	{ "a:u@rel.test", "rel.test", "5.1.1", "<u@rel.test>: User unknown" },	/* MX = domain; address in text */
	{ "a:u@rel.test", "xrel.test", "5.1.300", "u@rel.test u@rel.test" },	/* not a subdomain; detail > 255 */
	{ "a:u@rel.test", "mx.other.test", "4.40.1", "u@rel.tes" },		/* subject > 31; partial address */
	{ "a:\"a b\"@rel.test", ".rel.test", "5.01.1", "\"a b\"@rel.test?" },	/* empty label; kept as text */
	{ "a:x@r", "r", "2.0.0", "x@r" },
	{ "a:@x.test", "mx.x.test", "", "@x.test" },				/* odd key: no local part */
};

START_TEST(test_compact)
{
	struct cache *c = open_c();
	struct probe_result r = mk(VERDICT_INVALID, R_USER_UNKNOWN, 550, compact[_i].enh, compact[_i].text), out;
	struct cache_entry e;
	int stale;

	snprintf(r.mx, sizeof(r.mx), "%s", compact[_i].mx);
	ck_assert_int_eq(cache_put_result(c, compact[_i].key, NULL, &r), CACHE_HIT);
	ck_assert_int_eq(cache_get_addr(c, compact[_i].key, &out, &stale), CACHE_HIT);
	ck_assert_str_eq(out.mx, compact[_i].mx);
	ck_assert_str_eq(out.enhanced, compact[_i].enh);
	ck_assert_str_eq(out.text, compact[_i].text);
	/* a refresh that failed: tried round-trips too */
	fake_now = T0 + 100;
	r.verdict = VERDICT_VALID;
	cache_put_result(c, compact[_i].key, NULL, &r);
	fake_now = T0 + 200;
	r.verdict = VERDICT_TEMPFAIL;
	cache_put_result(c, compact[_i].key, NULL, &r);
	ck_assert_int_eq(cache_get_entry(c, compact[_i].key, &e), CACHE_HIT);
	ck_assert_int_eq(e.ok, 1);
	ck_assert_int_eq(e.tried, T0 + 200);
	ck_assert_int_eq(e.created, T0 + 100);
	ck_assert_str_eq(e.r.mx, compact[_i].mx);
	ck_assert_str_eq(e.r.text, compact[_i].text);
	cache_close(c);
}
END_TEST

/* ---- the records on disk: raw LMDB access with the cache closed ---- */

static MDB_env *
raw_open(void)
{
	MDB_env *env;

	ck_assert_int_eq(mdb_env_create(&env), 0);
	ck_assert_int_eq(mdb_env_open(env, path, MDB_NOSUBDIR | MDB_NOSYNC, 0600), 0);
	return env;
}

static int
raw_get(MDB_env *env, const char *key, unsigned char *buf, size_t size)
{
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_val k = { strlen(key), (void *)key }, v;
	int n = -1;

	ck_assert_int_eq(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn), 0);
	ck_assert_int_eq(mdb_dbi_open(txn, NULL, 0, &dbi), 0);
	if (mdb_get(txn, dbi, &k, &v) == 0 && v.mv_size <= size) {
		memcpy(buf, v.mv_data, v.mv_size);
		n = (int)v.mv_size;
	}
	mdb_txn_abort(txn);
	return n;
}

static void
raw_put(MDB_env *env, const char *key, const void *val, size_t len)
{
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_val k = { strlen(key), (void *)key }, v = { len, (void *)val };

	ck_assert_int_eq(mdb_txn_begin(env, NULL, 0, &txn), 0);
	ck_assert_int_eq(mdb_dbi_open(txn, NULL, 0, &dbi), 0);
	ck_assert_int_eq(mdb_put(txn, dbi, &k, &v, 0), 0);
	ck_assert_int_eq(mdb_txn_commit(txn), 0);
}

/* every byte of a record changed (three ways), cut short or extended: always a miss */
START_TEST(test_record_damage)
{
	static const unsigned char masks[] = { 0x01, 0x80, 0xff };
	struct cache *c = open_c();
	struct probe_result r = mk(VERDICT_INVALID, R_USER_UNKNOWN, 550, "5.1.1", "User unknown"), out;
	struct cache_domain d;
	unsigned char rec[1100], bad[1100];
	char key[64];
	MDB_env *env;
	int len, i, m, n = 0, stale, newer;

	ck_assert_int_eq(cache_put_result(c, "a:orig@dmg.test", NULL, &r), CACHE_HIT);
	cache_close(c);
	env = raw_open();
	len = raw_get(env, "a:orig@dmg.test", rec, sizeof(rec));
	ck_assert_msg(len > 20 && len < 200, "record length: got %d", len);
	for (i = 0; i < len; i++) {
		for (m = 0; m < 3; m++) {
			memcpy(bad, rec, (size_t)len);
			bad[i] ^= masks[m];
			snprintf(key, sizeof(key), "a:f%d-%d@dmg.test", i, m);
			raw_put(env, key, bad, (size_t)len);
		}
	}
	for (i = 0; i < len; i++) {
		snprintf(key, sizeof(key), "a:t%d@dmg.test", i);
		raw_put(env, key, rec, (size_t)i);	/* cut short (0 bytes included) */
	}
	memcpy(bad, rec, (size_t)len);
	bad[len] = 0;
	raw_put(env, "a:long@dmg.test", bad, (size_t)len + 1);
	raw_put(env, "d:dmg.test", rec, (size_t)len);	/* an address record under a domain key */
	memset(bad, 0, sizeof(bad));
	raw_put(env, "a:big@dmg.test", bad, sizeof(bad));
	mdb_env_close(env);

	c = open_c();
	ck_assert_int_eq(cache_get_addr(c, "a:orig@dmg.test", &out, &stale), CACHE_HIT);
	for (i = 0; i < len; i++) {
		for (m = 0; m < 3; m++) {
			snprintf(key, sizeof(key), "a:f%d-%d@dmg.test", i, m);
			ck_assert_msg(cache_get_addr(c, key, &out, &stale) == CACHE_MISS,
			    "byte %d ^ 0x%02x: got a hit (%s), want a miss", i, masks[m],
			    verdict_str(out.verdict));
			n++;
		}
		snprintf(key, sizeof(key), "a:t%d@dmg.test", i);
		ck_assert_msg(cache_get_addr(c, key, &out, &stale) == CACHE_MISS,
		    "cut to %d bytes: got a hit, want a miss", i);
	}
	ck_assert_int_eq(cache_get_addr(c, "a:long@dmg.test", &out, &stale), CACHE_MISS);
	ck_assert_int_eq(cache_get_addr(c, "a:big@dmg.test", &out, &stale), CACHE_MISS);
	ck_assert_int_eq(cache_get_domain(c, "dmg.test", &d), CACHE_MISS);
	/*
	 * purge drops the malformed ones and keeps the good one; a version
	 * byte changed upwards reads as a record of a newer format, which
	 * is a miss but is left alone (an upgrade in progress)
	 */
	newer = ((rec[1] ^ 0x80) > rec[1]) + ((rec[1] ^ 0xff) > rec[1]) + ((rec[1] ^ 0x01) > rec[1]);
	ck_assert_int_eq(cache_purge(c, 0), n + len + 3 - newer);
	ck_assert_int_eq(cache_get_addr(c, "a:orig@dmg.test", &out, &stale), CACHE_HIT);
	ck_assert_int_eq(atomic_load(&nwarn), 0);
	cache_close(c);
}
END_TEST

/* a record of a newer format version: a miss, never purged or swept */
START_TEST(test_newer_version)
{
	struct cache *c = open_c();
	struct probe_result r = mk(VERDICT_TEMPFAIL, R_GREYLISTED, 450, "4.7.1", "later"), out;
	unsigned char rec[1100];
	char key[64];
	MDB_env *env;
	int len, i, stale;

	ck_assert_int_eq(cache_put_result(c, "a:v2@ver.test", NULL, &r), CACHE_HIT);
	cache_close(c);
	env = raw_open();
	len = raw_get(env, "a:v2@ver.test", rec, sizeof(rec));
	ck_assert(len > 2);
	rec[1] = 2;
	raw_put(env, "a:v2@ver.test", rec, (size_t)len);
	mdb_env_close(env);
	c = open_c();
	ck_assert_int_eq(cache_get_addr(c, "a:v2@ver.test", &out, &stale), CACHE_MISS);
	fake_now = T0 + DAY;
	for (i = 0; i < 200; i++) {	/* sweeps go over it */
		snprintf(key, sizeof(key), "a:w%d@ver.test", i);
		cache_put_result(c, key, NULL, &r);
	}
	ck_assert_int_eq(cache_purge(c, 0), 0);
	ck_assert_int_eq(cache_del(c, "a:v2@ver.test"), CACHE_HIT);
	cache_close(c);
}
END_TEST

/* ---- maintenance ---- */

START_TEST(test_purge)
{
	struct cache *c = open_c();
	struct probe_result r;
	struct cache_entry e;
	size_t i;

	for (i = 0; i < sizeof(lives) / sizeof(lives[0]); i++) {
		char key[64];

		r = mk(lives[i].v, lives[i].reason, 0, "", "");
		snprintf(key, sizeof(key), "a:%s@purge.test", verdict_str(lives[i].v));
		cache_put_result(c, key, NULL, &r);
	}
	r = mk(VERDICT_CATCH_ALL, R_CATCH_ALL, 0, "", "");
	cache_put_result(c, NULL, "purge.test", &r);
	fake_now = T0 + 2 * HOUR;	/* tempfail, unknown, catch-all gone */
	ck_assert_int_eq(cache_purge(c, 0), 3);
	ck_assert_int_eq(cache_get_entry(c, "a:valid@purge.test", &e), CACHE_HIT);
	ck_assert_int_eq(cache_get_entry(c, "a:tempfail@purge.test", &e), CACHE_MISS);
	fake_now = T0 + 2 * DAY;	/* invalid, bad-*, the domain fact gone */
	ck_assert_int_eq(cache_purge(c, 0), 4);
	ck_assert_int_eq(cache_purge(c, 0), 0);
	ck_assert_int_eq(cache_purge(c, 1), 1);
	ck_assert_int_eq(cache_get_entry(c, "a:valid@purge.test", &e), CACHE_MISS);
	cache_close(c);
}
END_TEST

static int
count_cb(const struct cache_entry *e, void *arg)
{
	long *n = arg;

	n[0]++;
	if (!e->ok)
		n[1]++;
	if (e->expired)
		n[2]++;
	return 0;
}

/* writes purge expired records as they go, a few at a time */
START_TEST(test_sweep)
{
	struct cache *c = open_c();
	struct probe_result tf = mk(VERDICT_TEMPFAIL, R_GREYLISTED, 450, "", "");
	struct probe_result ok = mk(VERDICT_VALID, R_USER_OK, 250, "", "");
	long n[3] = { 0, 0, 0 };
	char key[64];
	int i;

	for (i = 0; i < 1000; i++) {
		snprintf(key, sizeof(key), "a:sweep%04d@sw.test", i);
		cache_put_result(c, key, NULL, &tf);
	}
	fake_now = T0 + HOUR;
	for (i = 0; i < 100; i++) {
		snprintf(key, sizeof(key), "a:keep%04d@sw.test", i);
		cache_put_result(c, key, NULL, &ok);
	}
	ck_assert_int_eq(cache_iterate(c, NULL, count_cb, n), 0);
	ck_assert_msg(n[0] == 100 && n[2] == 0, "after the sweep: got %ld records, %ld expired; want 100, 0",
	    n[0], n[2]);
	cache_close(c);
}
END_TEST

struct listed {
	int	n;
	char	keys[16][64];
};

static int
list_cb(const struct cache_entry *e, void *arg)
{
	struct listed *l = arg;

	if (l->n < 16)
		snprintf(l->keys[l->n], sizeof(l->keys[0]), "%.63s", e->key);
	l->n++;
	return 0;
}

START_TEST(test_iterate_del_stats)
{
	struct cache *c = open_c();
	struct probe_result ok = mk(VERDICT_VALID, R_USER_OK, 250, "", "");
	struct probe_result no = mk(VERDICT_INVALID, R_USER_UNKNOWN, 550, "5.1.1", "");
	struct probe_result ca = mk(VERDICT_CATCH_ALL, R_CATCH_ALL, 250, "", "");
	struct cache_stats s;
	struct cache_entry e;
	struct listed l;

	cache_put_result(c, "a:a@one.test", "one.test", &ok);
	cache_put_result(c, "a:\"x@y\"@one.test", "one.test", &no);
	cache_put_result(c, "a:b@two.test", "two.test", &ok);
	fake_now = T0 + 100;
	cache_put_result(c, "a:c@two.test", "two.test", &ca);
	cache_put_result(c, "a:d@one.test.other", NULL, &ok);

	memset(&l, 0, sizeof(l));
	ck_assert_int_eq(cache_iterate(c, "a:", list_cb, &l), 0);
	ck_assert_int_eq(l.n, 5);
	memset(&l, 0, sizeof(l));
	ck_assert_int_eq(cache_iterate(c, "d:", list_cb, &l), 0);
	ck_assert_int_eq(l.n, 1);
	ck_assert_str_eq(l.keys[0], "d:two.test");

	ck_assert_int_eq(cache_stats(c, &s), 0);
	ck_assert_int_eq(s.entries, 6);
	ck_assert_int_eq(s.by_verdict[VERDICT_VALID], 3);
	ck_assert_int_eq(s.by_verdict[VERDICT_INVALID], 1);
	ck_assert_int_eq(s.by_verdict[VERDICT_CATCH_ALL], 1);
	ck_assert_int_eq(s.domains, 1);
	ck_assert_int_eq(s.by_fact[0], 1);
	ck_assert_int_eq(s.oldest, T0);
	ck_assert_int_eq(s.newest, T0 + 100);
	ck_assert_msg(s.file_size > 0 && s.used > 0 && s.map_size >= s.used, "sizes %lld %lld %lld",
	    s.file_size, s.used, s.map_size);

	ck_assert_int_eq(cache_get_entry(c, "a:c@two.test", &e), CACHE_HIT);
	ck_assert_int_eq(e.ok, 1);
	ck_assert_int_eq(e.created, T0 + 100);
	ck_assert_int_eq(e.expires, T0 + 100 + HOUR);

	ck_assert_int_eq(cache_del(c, "a:b@two.test"), CACHE_HIT);
	ck_assert_int_eq(cache_del(c, "a:b@two.test"), CACHE_MISS);
	/* by domain: the quoted local part holding '@' and the d: record go; other.test stays */
	ck_assert_int_eq(cache_del_domain(c, "one.test"), 2);
	ck_assert_int_eq(cache_del_domain(c, "two.test"), 2);
	memset(&l, 0, sizeof(l));
	ck_assert_int_eq(cache_iterate(c, NULL, list_cb, &l), 0);
	ck_assert_int_eq(l.n, 1);
	ck_assert_str_eq(l.keys[0], "a:d@one.test.other");
	cache_close(c);
}
END_TEST

START_TEST(test_long_keys)
{
	struct cache *c = open_c();
	struct probe_result ok = mk(VERDICT_VALID, R_USER_OK, 250, "", ""), out;
	char key[700];
	int stale;

	memset(key, 'k', sizeof(key) - 1);
	key[sizeof(key) - 1] = '\0';
	memcpy(key, "a:", 2);
	ck_assert_int_eq(cache_put_result(c, key, NULL, &ok), CACHE_MISS);
	ck_assert_int_eq(cache_get_addr(c, key, &out, &stale), CACHE_MISS);
	ck_assert_int_eq(cache_get_addr(c, "", &out, &stale), CACHE_MISS);
	ck_assert_int_eq(atomic_load(&nwarn), 0);
	cache_close(c);
}
END_TEST

/* ---- threads ---- */

struct tharg {
	struct cache *c;
	int	id;
	int	bad;
};

static void *
thread_writer(void *p)
{
	struct tharg *a = p;
	struct probe_result r = mk(VERDICT_VALID, R_USER_OK, 250, "", ""), out;
	char key[64];
	int i, stale;

	for (i = 0; i < 300; i++) {
		snprintf(key, sizeof(key), "a:t%d-%d@threads.test", a->id, i);
		snprintf(r.text, sizeof(r.text), "t%d-%d", a->id, i);
		if (cache_put_result(a->c, key, NULL, &r) != CACHE_HIT ||
		    cache_get_addr(a->c, key, &out, &stale) != CACHE_HIT ||
		    strcmp(out.text, r.text) != 0)
			a->bad++;
	}
	return NULL;
}

START_TEST(test_threads)
{
	struct cache *c = open_c();
	pthread_t th[8];
	struct tharg a[8];
	long n[3] = { 0, 0, 0 };
	int i;

	for (i = 0; i < 8; i++) {
		a[i].c = c;
		a[i].id = i;
		a[i].bad = 0;
		ck_assert_int_eq(pthread_create(&th[i], NULL, thread_writer, &a[i]), 0);
	}
	for (i = 0; i < 8; i++) {
		pthread_join(th[i], NULL);
		ck_assert_msg(a[i].bad == 0, "thread %d: %d bad round trips", i, a[i].bad);
	}
	ck_assert_int_eq(cache_iterate(c, NULL, count_cb, n), 0);
	ck_assert_int_eq(n[0], 2400);
	cache_close(c);
}
END_TEST

Suite *
make_suite(void)
{
	Suite *s = suite_create("cache");
	TCase *tc;

	tc = tcase_create("lifetimes");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, test_lifetime, 0, sizeof(lives) / sizeof(lives[0]));
	tcase_add_loop_test(tc, test_domain_fact, 0, sizeof(dfacts) / sizeof(dfacts[0]));
	tcase_add_test(tc, test_no_fact);
	tcase_add_test(tc, test_null_refused_domain_only);
	tcase_add_test(tc, test_fact_merge_clear);
	tcase_add_test(tc, test_future);
	tcase_add_test(tc, test_ttl_at_read);
	tcase_add_test(tc, test_stale);
	suite_add_tcase(s, tc);

	tc = tcase_create("rules");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, test_no_clobber, 0, sizeof(clobber) / sizeof(clobber[0]));
	tcase_add_test(tc, test_tempfail);
	tcase_add_test(tc, test_not_stored);
	tcase_add_test(tc, test_roundtrip);
	tcase_add_loop_test(tc, test_compact, 0, sizeof(compact) / sizeof(compact[0]));
	tcase_add_test(tc, test_record_damage);
	tcase_add_test(tc, test_newer_version);
	tcase_add_test(tc, test_long_keys);
	suite_add_tcase(s, tc);

	tc = tcase_create("maintenance");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_purge);
	tcase_add_test(tc, test_sweep);
	tcase_add_test(tc, test_iterate_del_stats);
	tcase_add_test(tc, test_threads);
	suite_add_tcase(s, tc);
	return s;
}

#include "check_main.h"
