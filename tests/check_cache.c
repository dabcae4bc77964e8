/*
 * check_cache - the LMDB verdict cache (probe/cache.c), CASES.md F.
 *
 * Every test runs in its own temporary directory under /tmp with an
 * injected clock, and with CACHE_NOSYNC except where durability is the
 * point (the crash test). Warnings are counted through log_set_hook.
 *
 * Groups: lifetimes (every TTL, F1/F4), the write rules (F2/F3/F11),
 * the record checks (F7: every byte of a record flipped is a miss),
 * the file (symlinks, modes, corrupt and truncated files, one open per
 * process, F12), full map and full disk (F8/F9), maintenance (purge,
 * sweep, iterate, delete), threads, crash safety (F5: SIGKILL during a
 * write storm, 50 times) and several processes plus the sav-cache
 * command writing at once (F6).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <lmdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <check.h>

#include "cache.h"
#include "log.h"

#define T0	((time_t)1700000000)
#define MIN	60L
#define HOUR	3600L
#define DAY	86400L

static char dir[64];
static char path[128];
static time_t fake_now = T0;
static atomic_int nwarn;
static char lastwarn[1024];

static time_t
fake_clock(void)
{
	return fake_now;
}

static void
hook(int prio, const char *line, void *arg)
{
	(void)arg;
	if (prio <= LOG_WARNING) {
		atomic_fetch_add(&nwarn, 1);
		snprintf(lastwarn, sizeof(lastwarn), "%s", line);
	}
}

static void
setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/sav-i3-cache-XXXXXX");
	ck_assert_msg(mkdtemp(dir) != NULL, "mkdtemp: %s", strerror(errno));
	snprintf(path, sizeof(path), "%s/cache.mdb", dir);
	fake_now = T0;
	atomic_store(&nwarn, 0);
	lastwarn[0] = '\0';
	log_open("check_cache", LOG_MAIL, 0, 0);
	log_set_hook(hook, NULL);
}

static void
teardown(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (dir[0] != '\0' && system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
}

static struct cache *
open_at(const char *p, size_t mapsize, int flags)
{
	struct cache_ttl ttl;
	struct cache *c;
	char err[512];

	cache_ttl_defaults(&ttl);
	c = cache_open(p, &ttl, mapsize, flags, err, sizeof(err));
	ck_assert_msg(c != NULL, "cache_open %s: got NULL (%s), want a cache", p, err);
	cache_set_clock(c, fake_clock);
	return c;
}

static struct cache *
open_c(void)
{
	return open_at(path, 0, CACHE_NOSYNC);
}

static struct probe_result
mk(enum verdict v, const char *reason, int code, const char *enh, const char *text)
{
	struct probe_result r;

	memset(&r, 0, sizeof(r));
	r.verdict = v;
	snprintf(r.reason, sizeof(r.reason), "%s", reason);
	r.code = code;
	snprintf(r.enhanced, sizeof(r.enhanced), "%s", enh);
	snprintf(r.text, sizeof(r.text), "%s", text);
	snprintf(r.mx, sizeof(r.mx), "mx.example.test");
	snprintf(r.ip, sizeof(r.ip), "192.0.2.25");
	return r;
}

/* count directory entries whose name starts with pfx */
static int
count_files(const char *pfx)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	ck_assert_msg(d != NULL, "opendir %s", dir);
	while ((de = readdir(d)) != NULL)
		if (strncmp(de->d_name, pfx, strlen(pfx)) == 0)
			n++;
	closedir(d);
	return n;
}

/* ---- lifetimes ---- */

static const struct {
	enum verdict v;
	const char *reason;
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
	const char *reason;
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

/* F11: inconclusive results become domain facts, each with its lifetime */
START_TEST(test_domain_fact)
{
	struct cache *c = open_c();
	struct probe_result r = mk(dfacts[_i].v, dfacts[_i].reason, 550, "5.7.1", "no");
	struct cache_domain d;

	ck_assert_int_eq(cache_put_result(c, "a:u@dom.test", "dom.test", &r), CACHE_HIT);
	fake_now = T0 + dfacts[_i].ttl - 1;
	ck_assert_msg(cache_get_domain(c, "dom.test", &d) == CACHE_HIT,
	    "%s: got no domain record, want facts 0x%x", dfacts[_i].reason, dfacts[_i].fact);
	ck_assert_msg(d.facts == dfacts[_i].fact, "%s: got facts 0x%x, want 0x%x",
	    dfacts[_i].reason, d.facts, dfacts[_i].fact);
	ck_assert_str_eq(d.why.reason, dfacts[_i].reason);
	ck_assert_int_eq(d.created, T0);
	ck_assert_int_eq(d.expires, T0 + dfacts[_i].ttl);
	fake_now = T0 + dfacts[_i].ttl;
	ck_assert_msg(cache_get_domain(c, "dom.test", &d) == CACHE_MISS,
	    "%s: got a hit at its ttl, want a miss", dfacts[_i].reason);
	cache_close(c);
}
END_TEST

START_TEST(test_no_fact)
{
	/* conclusive and plain temporary answers are not domain facts */
	static const struct { enum verdict v; const char *reason; } none[] = {
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
		    "%s/%s: got facts 0x%x, want none", verdict_str(none[i].v), none[i].reason, d.facts);
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

/* F4: a created time in the future is expired */
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

/* F4: the TTL in force at read time counts, not the one at write time */
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

/* F1: valid past the refresh age is served, marked stale */
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

/* F3: nothing but "valid" replaces a valid entry in force */
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

/* F2: tempfail is stored as tempfail only and never replaces a verdict in force */
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
	static const struct { enum verdict v; const char *reason; } skip[] = {
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
		    "%s/%s: got stored, want not stored", verdict_str(skip[i].v), skip[i].reason);
		ck_assert_int_eq(cache_get_domain(c, "ns.test", &d), CACHE_MISS);
	}
	cache_close(c);
}
END_TEST

/* every field survives; hostile fields are bounded and sanitised on the way in */
START_TEST(test_roundtrip)
{
	struct cache *c = open_c();
	struct probe_result r = mk(VERDICT_INVALID, "made-up-reason", 550, "5.1.1", ""), out;
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
	ck_assert_str_eq(out.reason, "made-up-reason");
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
	r = mk(VERDICT_UNKNOWN, "Bad Reason!", 999, "9.9.9", "t");
	snprintf(r.ip, sizeof(r.ip), "not-an-ip");
	ck_assert_int_eq(cache_put_result(c, "a:odd@rt.test", NULL, &r), CACHE_HIT);
	ck_assert_int_eq(cache_get_addr(c, "a:odd@rt.test", &out, &stale), CACHE_HIT);
	ck_assert_str_eq(out.reason, "");
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

/* ---- the records on disk (F7): raw LMDB access with the cache closed ---- */

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

/* ---- the file ---- */

START_TEST(test_symlink)
{
	char real[160], lock[160], err[256];
	struct cache_ttl ttl;
	struct stat st;

	cache_ttl_defaults(&ttl);
	snprintf(real, sizeof(real), "%s/real.mdb", dir);
	ck_assert_int_eq(symlink(real, path), 0);
	ck_assert_msg(cache_open(path, &ttl, 0, CACHE_NOSYNC, err, sizeof(err)) == NULL,
	    "a symlink as the cache: got a cache, want refusal");
	ck_assert_msg(strstr(err, "symbolic link") != NULL, "err: got \"%s\"", err);
	ck_assert_msg(lstat(real, &st) != 0, "the link target was created");
	ck_assert_msg(cache_open(path, &ttl, 0, CACHE_RDONLY, err, sizeof(err)) == NULL,
	    "read-only open of a symlink: got a cache, want refusal");
	unlink(path);
	/* the lock file as a symlink */
	snprintf(lock, sizeof(lock), "%s-lock", path);
	ck_assert_int_eq(symlink(real, lock), 0);
	ck_assert_msg(cache_open(path, &ttl, 0, CACHE_NOSYNC, err, sizeof(err)) == NULL,
	    "a symlinked lock file: got a cache, want refusal");
	ck_assert_msg(lstat(real, &st) != 0, "the lock link target was created");
	/* a directory */
	unlink(lock);
	ck_assert_int_eq(mkdir(path, 0700), 0);
	ck_assert_msg(cache_open(path, &ttl, 0, CACHE_NOSYNC, err, sizeof(err)) == NULL,
	    "a directory: got a cache, want refusal");
}
END_TEST

START_TEST(test_mode)
{
	char lock[160], err[256];
	struct cache_ttl ttl;
	struct cache *c;
	struct stat st;
	mode_t old = umask(0);

	c = open_c();
	cache_close(c);
	umask(old);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_msg((st.st_mode & 07777) == 0600, "cache file mode: got %04o, want 0600",
	    (unsigned)(st.st_mode & 07777));
	snprintf(lock, sizeof(lock), "%s-lock", path);
	ck_assert_int_eq(stat(lock, &st), 0);
	ck_assert_msg((st.st_mode & 07777) == 0600, "lock file mode: got %04o, want 0600",
	    (unsigned)(st.st_mode & 07777));
	/* group-readable is fine; writable by others is refused */
	ck_assert_int_eq(chmod(path, 0640), 0);
	c = open_c();
	cache_close(c);
	ck_assert_int_eq(chmod(path, 0666), 0);
	cache_ttl_defaults(&ttl);
	ck_assert_msg(cache_open(path, &ttl, 0, CACHE_NOSYNC, err, sizeof(err)) == NULL,
	    "a world-writable file: got a cache, want refusal");
	ck_assert_msg(strstr(err, "writable by others") != NULL, "err: got \"%s\"", err);
}
END_TEST

START_TEST(test_once_per_process)
{
	struct cache_ttl ttl;
	struct cache *c = open_c(), *c2;
	char err[256];

	cache_ttl_defaults(&ttl);
	c2 = cache_open(path, &ttl, 0, CACHE_NOSYNC, err, sizeof(err));
	ck_assert_msg(c2 == NULL, "second open in one process: got a cache, want refusal");
	ck_assert_msg(strstr(err, "already open") != NULL, "err: got \"%s\"", err);
	cache_close(c);
	c2 = open_c();
	cache_close(c2);
}
END_TEST

START_TEST(test_missing_rdonly)
{
	struct cache_ttl ttl;
	char err[256];

	cache_ttl_defaults(&ttl);
	errno = 0;
	ck_assert(cache_open(path, &ttl, 0, CACHE_RDONLY, err, sizeof(err)) == NULL);
	ck_assert_msg(errno == ENOENT, "errno: got %d, want ENOENT", errno);
	ck_assert_msg(access(path, F_OK) != 0, "read-only open created the file");
}
END_TEST

/* fill a cache with n records (several pages) and close it */
static void
fill(int n)
{
	struct cache *c = open_c();
	struct probe_result r = mk(VERDICT_VALID, R_USER_OK, 250, "2.1.5", "Ok");
	char key[64];
	int i;

	for (i = 0; i < n; i++) {
		snprintf(key, sizeof(key), "a:user%05d@fill.test", i);
		ck_assert_int_eq(cache_put_result(c, key, NULL, &r), CACHE_HIT);
	}
	cache_close(c);
}

static void
expect_recreated(const char *what)
{
	struct probe_result r = mk(VERDICT_VALID, R_USER_OK, 250, "", ""), out;
	struct cache *c;
	int stale;

	c = open_c();
	ck_assert_msg(atomic_load(&nwarn) == 1, "%s: got %d warnings, want 1 (last: %s)",
	    what, atomic_load(&nwarn), lastwarn);
	ck_assert_msg(strstr(lastwarn, "moved aside") != NULL, "%s: warning \"%s\"", what, lastwarn);
	ck_assert_msg(count_files("cache.mdb.corrupt-") >= 1, "%s: nothing moved aside", what);
	ck_assert_int_eq(cache_put_result(c, "a:new@re.test", NULL, &r), CACHE_HIT);
	ck_assert_int_eq(cache_get_addr(c, "a:new@re.test", &out, &stale), CACHE_HIT);
	cache_close(c);
	/* the next open is quiet */
	c = open_c();
	cache_close(c);
	ck_assert_int_eq(atomic_load(&nwarn), 1);
}

static const size_t garbage_sizes[] = { 1, 100, 4096, 8192, 65536, 300000 };

START_TEST(test_random_file)
{
	unsigned char *buf = malloc(garbage_sizes[_i]);
	FILE *f;
	size_t i;

	srand(42 + _i);
	for (i = 0; i < garbage_sizes[_i]; i++)
		buf[i] = (unsigned char)rand();
	f = fopen(path, "w");
	ck_assert(f != NULL);
	ck_assert_int_eq(fwrite(buf, 1, garbage_sizes[_i], f), garbage_sizes[_i]);
	fclose(f);
	free(buf);
	expect_recreated("random bytes");
}
END_TEST

static const long cut_to[] = { 100, 4096, 8192, 3 * 4096, -2 };	/* -2: half */

START_TEST(test_truncated)
{
	struct stat st;
	long to = cut_to[_i];

	fill(4000);
	ck_assert_int_eq(stat(path, &st), 0);
	if (to == -2)
		to = (long)st.st_size / 2;
	ck_assert_msg(to < st.st_size, "file too small to cut: %lld", (long long)st.st_size);
	ck_assert_int_eq(truncate(path, to), 0);
	expect_recreated("truncated");
}
END_TEST

/* the commands open read-only: a broken file is reported, not moved */
START_TEST(test_corrupt_rdonly)
{
	struct cache_ttl ttl;
	char err[256];

	fill(500);
	ck_assert_int_eq(truncate(path, 100), 0);
	cache_ttl_defaults(&ttl);
	ck_assert(cache_open(path, &ttl, 0, CACHE_RDONLY, err, sizeof(err)) == NULL);
	ck_assert_int_eq(count_files("cache.mdb.corrupt-"), 0);
	ck_assert_int_eq(atomic_load(&nwarn), 0);
}
END_TEST

/* keys in write order (_i 0) or scattered over the tree (_i 1) */
static void
full_key(char *key, size_t size, int i, int scatter)
{
	snprintf(key, size, "a:mapfull-user-%06d@full.test", scatter ? (i * 7919) % 100003 : i);
}

/* F9: a full map purges the expired, then the oldest, and writes go on */
START_TEST(test_map_full)
{
	struct cache *c = open_at(path, 1024 * 1024, CACHE_NOSYNC);
	struct probe_result ok = mk(VERDICT_VALID, R_USER_OK, 250, "2.1.5", "Ok"), out;
	char key[64];
	int i, fails = 0, stale;

	for (i = 0; i < 40000; i++) {
		fake_now = T0 + i;
		full_key(key, sizeof(key), i, _i);
		if (cache_put_result(c, key, NULL, &ok) != CACHE_HIT)
			fails++;
	}
	ck_assert_msg(fails == 0, "got %d failed writes, want 0 (%s)", fails, lastwarn);
	ck_assert_int_eq(atomic_load(&nwarn), 0);
	for (i = 39900; i < 40000; i++) {
		full_key(key, sizeof(key), i, _i);
		ck_assert_msg(cache_get_addr(c, key, &out, &stale) == CACHE_HIT,
		    "recent key %d: got a miss, want a hit", i);
	}
	full_key(key, sizeof(key), 0, _i);
	ck_assert_msg(cache_get_addr(c, key, &out, &stale) == CACHE_MISS,
	    "the oldest key survived 40000 writes into a 1 MiB map");
	cache_close(c);
}
END_TEST

/* F8: a full disk: one warning, verdicts and reads go on */
START_TEST(test_disk_full)
{
	struct cache *c = open_c();
	struct probe_result ok = mk(VERDICT_VALID, R_USER_OK, 250, "2.1.5", "Ok"), out;
	struct rlimit rl;
	struct stat st;
	char key[64];
	int i, err = 0, skipped = 0, stale;

	ck_assert_int_eq(cache_put_result(c, "a:before@disk.test", NULL, &ok), CACHE_HIT);
	signal(SIGXFSZ, SIG_IGN);
	ck_assert_int_eq(stat(path, &st), 0);
	rl.rlim_cur = rl.rlim_max = (rlim_t)st.st_size;
	ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &rl), 0);
	for (i = 0; i < 3000; i++) {
		enum cache_status s;

		snprintf(key, sizeof(key), "a:diskfull-%05d@disk.test", i);
		s = cache_put_result(c, key, NULL, &ok);
		if (s == CACHE_ERR)
			err++;
		else if (s == CACHE_MISS)
			skipped++;
	}
	ck_assert_msg(err == 1, "failed writes: got %d, want exactly 1 (then writes off)", err);
	ck_assert_msg(skipped > 0, "no write was skipped after the failure");
	ck_assert_msg(atomic_load(&nwarn) == 1, "got %d warnings, want 1", atomic_load(&nwarn));
	ck_assert_msg(strstr(lastwarn, "write failed") != NULL, "warning: %s", lastwarn);
	ck_assert_int_eq(cache_get_addr(c, "a:before@disk.test", &out, &stale), CACHE_HIT);
	cache_close(c);
}
END_TEST

/*
 * F8: a read-only file system: the cache answers from what it has,
 * stores nothing, one warning. Needs root for a private mount
 * namespace with a read-only bind mount; without it the test says so
 * and checks nothing.
 */
START_TEST(test_rofs)
{
	struct probe_result ok = mk(VERDICT_VALID, R_USER_OK, 250, "", ""), out;
	struct cache *c;
	int i, stale;

	fill(10);
	if (unshare(CLONE_NEWNS) != 0) {
		fprintf(stderr, "check_cache: test_rofs needs root (unshare: %s): not run\n",
		    strerror(errno));
		return;
	}
	ck_assert_int_eq(mount("none", "/", NULL, MS_REC | MS_PRIVATE, NULL), 0);
	ck_assert_int_eq(mount(dir, dir, NULL, MS_BIND, NULL), 0);
	ck_assert_int_eq(mount(NULL, dir, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY, NULL), 0);
	c = open_c();
	ck_assert_int_eq(cache_readonly(c), 1);
	ck_assert_msg(atomic_load(&nwarn) == 1, "got %d warnings, want 1", atomic_load(&nwarn));
	ck_assert_msg(strstr(lastwarn, "read-only") != NULL, "warning: %s", lastwarn);
	ck_assert_int_eq(cache_get_addr(c, "a:user00007@fill.test", &out, &stale), CACHE_HIT);
	for (i = 0; i < 100; i++)
		ck_assert_int_eq(cache_put_result(c, "a:new@rofs.test", NULL, &ok), CACHE_MISS);
	ck_assert_int_eq(cache_get_addr(c, "a:new@rofs.test", &out, &stale), CACHE_MISS);
	ck_assert_int_eq(atomic_load(&nwarn), 1);
	cache_close(c);
	umount(dir);
}
END_TEST

START_TEST(test_rdonly_handle)
{
	struct probe_result ok = mk(VERDICT_VALID, R_USER_OK, 250, "", ""), out;
	struct cache *c;
	int stale;

	fill(10);
	c = open_at(path, 0, CACHE_RDONLY);
	ck_assert_int_eq(cache_readonly(c), 1);
	ck_assert_int_eq(cache_get_addr(c, "a:user00003@fill.test", &out, &stale), CACHE_HIT);
	ck_assert_int_eq(cache_put_result(c, "a:x@ro.test", NULL, &ok), CACHE_MISS);
	ck_assert_int_eq(cache_del(c, "a:user00003@fill.test"), CACHE_ERR);
	ck_assert_int_eq(cache_purge(c, 1), -1);
	ck_assert_int_eq(atomic_load(&nwarn), 0);
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

/* ---- crash safety (F5) ---- */

/*
 * The writer stores "a:w<k>@crash.test" with text "w<k> seq <s>" so a
 * record can be checked against its key: a torn or mixed record would
 * fail the checksum or this check.
 */
static void
crash_writer(unsigned seed)
{
	struct cache_ttl ttl;
	struct cache *c;
	struct probe_result r = mk(VERDICT_VALID, R_USER_OK, 250, "2.1.5", "");
	char key[64], err[256];
	unsigned s;

	cache_ttl_defaults(&ttl);
	c = cache_open(path, &ttl, 0, 0, err, sizeof(err));	/* durable: no CACHE_NOSYNC */
	if (c == NULL)
		_exit(3);
	srand(seed);
	for (s = 0;; s++) {
		int k = rand() % 2000;

		snprintf(key, sizeof(key), "a:w%d@crash.test", k);
		snprintf(r.text, sizeof(r.text), "w%d seq %u", k, s);
		r.verdict = s % 5 == 0 ? VERDICT_INVALID : VERDICT_VALID;
		cache_put_result(c, key, s % 3 == 0 ? "crash.test" : NULL, &r);
		if (s % 50 == 0) {
			struct probe_result ca = mk(VERDICT_CATCH_ALL, R_CATCH_ALL, 250, "", "");

			cache_put_result(c, NULL, "crash.test", &ca);
		}
	}
}

struct crash_count {
	long	n, bad, mismatch;
};

static int
crash_cb(const struct cache_entry *e, void *arg)
{
	struct crash_count *cc = arg;
	int k;
	char want[32];

	cc->n++;
	if (!e->ok) {
		cc->bad++;
		return 0;
	}
	if (!e->domain) {
		if (sscanf(e->key, "a:w%d@crash.test", &k) != 1)
			cc->mismatch++;
		snprintf(want, sizeof(want), "w%d seq ", k);
		if (strncmp(e->r.text, want, strlen(want)) != 0)
			cc->mismatch++;
	}
	return 0;
}

START_TEST(test_crash)
{
	struct crash_count cc;
	struct timespec ts;
	int i, st;

	fill(1);
	for (i = 0; i < 50; i++) {
		pid_t pid = fork();
		struct cache *c;

		ck_assert(pid >= 0);
		if (pid == 0)
			crash_writer((unsigned)i * 7919u);
		ts.tv_sec = 0;
		ts.tv_nsec = (5 + rand() % 40) * 1000000L;
		nanosleep(&ts, NULL);
		kill(pid, SIGKILL);
		ck_assert_int_eq(waitpid(pid, &st, 0), pid);
		ck_assert_msg(WIFSIGNALED(st), "round %d: the writer exited (%d) before the kill", i,
		    WEXITSTATUS(st));
		c = open_at(path, 0, CACHE_NOSYNC);
		memset(&cc, 0, sizeof(cc));
		ck_assert_int_eq(cache_iterate(c, NULL, crash_cb, &cc), 0);
		cache_close(c);
		ck_assert_msg(atomic_load(&nwarn) == 0, "round %d: got warning \"%s\", want none", i, lastwarn);
		ck_assert_msg(count_files("cache.mdb.corrupt-") == 0, "round %d: the file was repaired", i);
		ck_assert_msg(cc.bad == 0 && cc.mismatch == 0, "round %d: %ld records, %ld malformed, %ld torn",
		    i, cc.n, cc.bad, cc.mismatch);
	}
	ck_assert_msg(cc.n > 100, "the writers stored only %ld records in 50 rounds", cc.n);
}
END_TEST

/* ---- several processes and the command (F6) ---- */

#define MP_N	4000

static void
mp_writer(const char *tag)
{
	struct cache_ttl ttl;
	struct cache *c;
	struct probe_result r = mk(VERDICT_VALID, R_USER_OK, 250, "2.1.5", "");
	char key[64], err[256];
	int i, bad = 0;

	cache_ttl_defaults(&ttl);
	c = cache_open(path, &ttl, 0, CACHE_NOSYNC, err, sizeof(err));
	if (c == NULL)
		_exit(3);
	for (i = 0; i < MP_N; i++) {
		snprintf(key, sizeof(key), "a:%s-%d@mp.test", tag, i);
		snprintf(r.text, sizeof(r.text), "%s-%d", tag, i);
		if (cache_put_result(c, key, NULL, &r) != CACHE_HIT)
			bad++;
	}
	cache_close(c);
	_exit(bad == 0 ? 0 : 1);
}

/* the sav-cache binary next to this test's build directory */
static int
find_sav_cache(char *buf, size_t size)
{
	char self[PATH_MAX], *slash;
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	const char *cand[] = { "/../sav-cache", "/../../build/sav-cache" };
	size_t i;

	if (n <= 0)
		return -1;
	self[n] = '\0';
	if ((slash = strrchr(self, '/')) == NULL)
		return -1;
	*slash = '\0';
	for (i = 0; i < 2; i++) {
		snprintf(buf, size, "%s%s", self, cand[i]);
		if (access(buf, X_OK) == 0)
			return 0;
	}
	return -1;
}

static int
run_cmd(const char *bin, const char *a1, const char *a2, const char *a3)
{
	pid_t pid = fork();
	int st;

	if (pid == 0) {
		int fd = open("/dev/null", O_WRONLY);

		dup2(fd, 1);
		dup2(fd, 2);
		execl(bin, "sav-cache", "-f", path, a1, a2, a3, (char *)NULL);
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st))
		return -1;
	return WEXITSTATUS(st);
}

struct mp_count {
	long	ours, old, junk, bad, wrong;
};

static int
mp_cb(const struct cache_entry *e, void *arg)
{
	struct mp_count *m = arg;
	char tag[8];
	int i;

	if (!e->ok) {
		m->bad++;
		return 0;
	}
	if (strncmp(e->key, "a:old", 5) == 0)
		m->old++;
	else if (strstr(e->key, "@junk.test") != NULL)
		m->junk++;
	else if (sscanf(e->key, "a:%2[AB]-%d@mp.test", tag, &i) == 2) {
		char want[32];

		snprintf(want, sizeof(want), "%s-%d", tag, i);
		if (strcmp(e->r.text, want) != 0)
			m->wrong++;
		m->ours++;
	}
	return 0;
}

/* has pid exited? (reaps it once; later calls answer from *st) */
static int
reaped(pid_t pid, int *st)
{
	int s;

	if (*st != -1)
		return 1;
	if (waitpid(pid, &s, WNOHANG) != pid)
		return 0;
	*st = s;
	return 1;
}

START_TEST(test_multiprocess)
{
	struct probe_result tf = mk(VERDICT_TEMPFAIL, R_GREYLISTED, 450, "", "");
	struct probe_result ok = mk(VERDICT_VALID, R_USER_OK, 250, "", "");
	struct mp_count m;
	struct cache *c;
	char bin[PATH_MAX + 32], key[64];
	pid_t pa, pb;
	int i, sta = -1, stb = -1, rc, runs = 0;

	ck_assert_msg(find_sav_cache(bin, sizeof(bin)) == 0,
	    "sav-cache not built next to this test (make build/sav-cache)");
	/*
	 * seed: expired tempfails for purge (written a day ago), then a
	 * domain for del --domain (now; in this order, or the writes of
	 * "a day ago" would sweep records from their future)
	 */
	c = open_at(path, 0, CACHE_NOSYNC);
	fake_now = time(NULL) - DAY;
	for (i = 0; i < 300; i++) {
		snprintf(key, sizeof(key), "a:old%d@old.test", i);
		cache_put_result(c, key, NULL, &tf);
	}
	cache_set_clock(c, NULL);
	for (i = 0; i < 300; i++) {
		snprintf(key, sizeof(key), "a:junk%d@junk.test", i);
		cache_put_result(c, key, NULL, &ok);
	}
	cache_close(c);

	if ((pa = fork()) == 0)
		mp_writer("A");
	if ((pb = fork()) == 0)
		mp_writer("B");
	ck_assert(pa > 0 && pb > 0);
	/* the command writes (and reads) while the writers run */
	rc = run_cmd(bin, "del", "--domain", "junk.test");
	ck_assert_msg(rc == 0, "sav-cache del --domain: exit %d, want 0", rc);
	rc = run_cmd(bin, "purge", NULL, NULL);
	ck_assert_msg(rc == 0, "sav-cache purge: exit %d, want 0", rc);
	if (reaped(pa, &sta) && reaped(pb, &stb))
		ck_abort_msg("the writers were done before the command ran: no overlap to test");
	while (!reaped(pa, &sta) && runs < 100) {
		rc = run_cmd(bin, "list", "--json", NULL);
		ck_assert_msg(rc == 0, "sav-cache list: exit %d, want 0", rc);
		rc = run_cmd(bin, "del", "a:nonexistent@mp.test", NULL);
		ck_assert_msg(rc == 1, "sav-cache del of a missing key: exit %d, want 1", rc);
		runs++;
	}
	while (!reaped(pa, &sta) || !reaped(pb, &stb))
		usleep(10000);
	ck_assert_msg(WIFEXITED(sta) && WEXITSTATUS(sta) == 0, "writer A: status 0x%x", sta);
	ck_assert_msg(WIFEXITED(stb) && WEXITSTATUS(stb) == 0, "writer B: status 0x%x", stb);

	c = open_at(path, 0, CACHE_NOSYNC);
	cache_set_clock(c, NULL);
	memset(&m, 0, sizeof(m));
	ck_assert_int_eq(cache_iterate(c, NULL, mp_cb, &m), 0);
	cache_close(c);
	ck_assert_msg(m.ours == 2 * MP_N, "records of the writers: got %ld, want %d", m.ours, 2 * MP_N);
	ck_assert_msg(m.bad == 0 && m.wrong == 0, "got %ld malformed, %ld wrong records", m.bad, m.wrong);
	ck_assert_msg(m.junk == 0, "del --domain left %ld records", m.junk);
	ck_assert_msg(m.old == 0, "purge left %ld expired records", m.old);
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

	tc = tcase_create("file");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_symlink);
	tcase_add_test(tc, test_mode);
	tcase_add_test(tc, test_once_per_process);
	tcase_add_test(tc, test_missing_rdonly);
	tcase_add_loop_test(tc, test_random_file, 0, sizeof(garbage_sizes) / sizeof(garbage_sizes[0]));
	tcase_add_loop_test(tc, test_truncated, 0, sizeof(cut_to) / sizeof(cut_to[0]));
	tcase_add_test(tc, test_corrupt_rdonly);
	tcase_add_loop_test(tc, test_map_full, 0, 2);
	tcase_add_test(tc, test_disk_full);
	tcase_add_test(tc, test_rdonly_handle);
	tcase_add_test(tc, test_rofs);
	tcase_set_timeout(tc, 30);
	suite_add_tcase(s, tc);

	tc = tcase_create("maintenance");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_purge);
	tcase_add_test(tc, test_sweep);
	tcase_add_test(tc, test_iterate_del_stats);
	tcase_add_test(tc, test_threads);
	suite_add_tcase(s, tc);

	tc = tcase_create("crash");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_crash);
	tcase_add_test(tc, test_multiprocess);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);
	return s;
}

#include "check_main.h"
