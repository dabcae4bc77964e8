/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * check_limit_wait - the limiter's waiting form for the command line
 * (limit_verdict_wait, limit_stats in probe/limit.c) on the real stack:
 * dns (ldns-testns on 127.0.0.1, tests/testns.h) -> smtp (fake_smtpd
 * on 127.0.0.1, tests/fake_fixture.h) -> cache. The milter's forms are
 * tested in check_limit.c.
 *
 * Cases:
 *  - single-flight without a cache: 30 threads ask for one address at
 *    once: one connection, 30 equal verdicts, none "cached";
 *  - a queue at one domain: every request waits for a domain slot and
 *    gets its real verdict, though the queue lasts longer than a
 *    probe's timeout, and never more than per_domain connections at once;
 *  - a wait limit: past it, tempfail / rate-limited, nothing probed;
 *  - an MX IP slot: a probe that waits for one longer than its timeout
 *    still finishes (the wait moves its deadline on);
 *  - limit_stats counts the requests and probes that wait;
 *  - a cache hit answers at once (traced), a stale one is not
 *    refreshed: no connection.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <check.h>

#include "cache.h"
#include "learn.h"
#include "limit.h"
#include "log.h"
#include "probe.h"
#include "testns.h"
#include "fake_fixture.h"
#include "limit_fixture.h"


static struct testns ns;
static char tmpdir[64], cachepath[128];

/* ---- fake DNS: every test domain has MX mx.wait.test -> 127.0.0.1 ---- */

static const char *const domains[] = {
	"one", "queue", "lim", "mx1", "mx2", "mx3", "st", "st1", "st2", "st3", "hit",
};

static void
setup(void)
{
	static char zone[16384];
	size_t n = 0, i;

	log_open("check_limit_wait", LOG_MAIL, 0, 0);
	n += (size_t)snprintf(zone + n, sizeof(zone) - n, "%s",
	    TESTNS_HOST4("mx.wait.test", "127.0.0.1"));
	for (i = 0; i < sizeof(domains) / sizeof(domains[0]); i++)
		n += (size_t)snprintf(zone + n, sizeof(zone) - n,
		    "ENTRY_BEGIN\nMATCH opcode qtype qname\nADJUST copy_id\n"
		    "REPLY QR AA RD RA NOERROR\nSECTION QUESTION\n%s.test. IN MX\n"
		    "SECTION ANSWER\n%s.test. IN MX 10 mx.wait.test.\nENTRY_END\n",
		    domains[i], domains[i]);
	ck_assert_msg(n < sizeof(zone), "zone too big");
	ck_assert_msg(testns_start(&ns, zone) == 0, "fake DNS: %s", ns.err);
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/sav-limit-wait-XXXXXX");
	ck_assert_msg(mkdtemp(tmpdir) != NULL, "mkdtemp: %s", strerror(errno));
	snprintf(cachepath, sizeof(cachepath), "%s/cache.mdb", tmpdir);
}

static void
teardown(void)
{
	testns_stop(&ns);
	limit_fixture_rmdir(tmpdir);
}

static void
conf_for(struct probe_conf *pc, const struct fake_smtpd *sv, struct cache *c)
{
	limit_fixture_conf(pc, ns.port, sv->port, "probe.wait.test", c);
}

/* ---- many requests at once ---- */

struct req {
	struct limiter *l;
	const struct probe_conf *pc;
	pthread_barrier_t *bar;
	char	addr[128];
	msec_t	wait;
	struct probe_result res;
};

static void *
req_main(void *p)
{
	struct req *r = p;

	pthread_barrier_wait(r->bar);
	limit_verdict_wait(r->l, r->pc, r->addr, strlen(r->addr), r->wait, NULL, &r->res);
	return NULL;
}

/* start n requests together: local@domain (numbered 0), local<i>@domain (1), local@<domain><i+1>.test (2) */
static struct req *
start_all(struct limiter *l, const struct probe_conf *pc, int n, const char *local, int numbered,
	  const char *domain, msec_t wait, pthread_t **th)
{
	struct req *r = calloc((size_t)n, sizeof(*r));
	pthread_barrier_t *bar = calloc(1, sizeof(*bar));
	int i;

	*th = calloc((size_t)n, sizeof(**th));
	ck_assert(r != NULL && *th != NULL && bar != NULL);
	ck_assert_int_eq(pthread_barrier_init(bar, NULL, (unsigned)n), 0);
	for (i = 0; i < n; i++) {
		r[i].l = l;
		r[i].pc = pc;
		r[i].bar = bar;
		r[i].wait = wait;
		if (numbered == 2)
			snprintf(r[i].addr, sizeof(r[i].addr), "%s@%s%d.test", local, domain, i + 1);
		else if (numbered)
			snprintf(r[i].addr, sizeof(r[i].addr), "%s%d@%s", local, i, domain);
		else
			snprintf(r[i].addr, sizeof(r[i].addr), "%s@%s", local, domain);
		ck_assert_int_eq(pthread_create(&(*th)[i], NULL, req_main, &r[i]), 0);
	}
	return r;
}

static void
join_all(struct req *r, pthread_t *th, int n)
{
	int i;

	for (i = 0; i < n; i++)
		pthread_join(th[i], NULL);
	pthread_barrier_destroy(r[0].bar);
	free(r[0].bar);
	free(th);
}

static struct req *
run_all(struct limiter *l, const struct probe_conf *pc, int n, const char *local, int numbered,
	const char *domain, msec_t wait)
{
	pthread_t *th;
	struct req *r = start_all(l, pc, n, local, numbered, domain, wait, &th);

	join_all(r, th, n);
	return r;
}

/* 30 copies of one address, no cache: one probe, 30 verdicts */
START_TEST(test_wait_single_flight)
{
	struct fake_smtpd sv;
	struct probe_conf pc;
	struct limiter *l;
	struct req *r;
	char *t;
	int i;

	fake_start(&sv, tmpdir, NULL, "delay rcpt 500\nrcpt * 250 2.1.5 Ok\n");
	conf_for(&pc, &sv, NULL);
	l = limit_new(NULL, NULL);
	ck_assert(l != NULL);
	r = run_all(l, &pc, 30, "who", 0, "one.test", LIMIT_FOREVER);
	for (i = 0; i < 30; i++) {
		ck_assert_msg(r[i].res.verdict == VERDICT_VALID && r[i].res.code == 250,
		    "request %d: got %s/%s %d, want valid 250", i, verdict_str(r[i].res.verdict),
		    reason_str(r[i].res.reason), r[i].res.code);
		ck_assert_int_eq(r[i].res.cached, 0);
		ck_assert_str_eq(r[i].res.address, "who@one.test");
	}
	ck_assert_int_eq(limit_free(l, 5000), 0);
	t = fake_stop(&sv);
	ck_assert_msg(connections(t) == 1, "got %d connections, want 1", connections(t));
	free(t);
	free(r);
}
END_TEST

/*
 * 12 addresses at one domain, 2 slots, 300 ms a probe: six rounds, about
 * 1.8 s in all, longer than each probe's 1 s timeout. Each waits its
 * turn and gets its own verdict; the domain sees at most 2 at once.
 */
START_TEST(test_wait_queue)
{
	struct fake_smtpd sv;
	struct probe_conf pc;
	struct limit_conf lc;
	struct limiter *l;
	struct req *r;
	char *t;
	int i;

	fake_start(&sv, tmpdir, NULL, "delay rcpt 300\nrcpt * 550 5.1.1 User unknown\n");
	conf_for(&pc, &sv, NULL);
	pc.timeout_ms = 1000;
	limit_conf_defaults(&lc);
	ck_assert_int_eq(lc.per_domain, 2);
	l = limit_new(&lc, NULL);
	r = run_all(l, &pc, 12, "q", 1, "queue.test", LIMIT_FOREVER);
	for (i = 0; i < 12; i++)
		ck_assert_msg(r[i].res.verdict == VERDICT_INVALID &&
		    r[i].res.reason == R_USER_UNKNOWN, "%s: got %s/%s, want invalid/%s",
		    r[i].addr, verdict_str(r[i].res.verdict), reason_str(r[i].res.reason), reason_str(R_USER_UNKNOWN));
	ck_assert_int_eq(limit_free(l, 5000), 0);
	t = fake_stop(&sv);
	ck_assert_int_eq(connections(t), 12);
	ck_assert_msg(max_concurrent(t) >= 1 && max_concurrent(t) <= 2,
	    "the domain saw %d connections at once, want at most 2", max_concurrent(t));
	free(t);
	free(r);
}
END_TEST

/* a wait limit: a request that got no slot by then is rate-limited and probes nothing */
START_TEST(test_wait_limit)
{
	struct fake_smtpd sv;
	struct probe_conf pc;
	struct limit_conf lc;
	struct limiter *l;
	struct req *r;
	int i, valid = 0, limited = 0;
	char *t;

	fake_start(&sv, tmpdir, NULL, "delay rcpt 800\nrcpt * 250 2.1.5 Ok\n");
	conf_for(&pc, &sv, NULL);
	limit_conf_defaults(&lc);
	lc.per_domain = 1;
	l = limit_new(&lc, NULL);
	r = run_all(l, &pc, 2, "w", 1, "lim.test", 200);
	for (i = 0; i < 2; i++) {
		if (r[i].res.verdict == VERDICT_VALID)
			valid++;
		else if (r[i].res.verdict == VERDICT_TEMPFAIL &&
		    r[i].res.reason == R_RATE_LIMITED) {
			limited++;
			ck_assert_msg(r[i].res.elapsed_ms >= 150, "refused after %ld ms: it did not wait",
			    r[i].res.elapsed_ms);
		}
	}
	ck_assert_msg(valid == 1 && limited == 1, "got %d valid and %d rate-limited, want 1 and 1",
	    valid, limited);
	ck_assert_int_eq(limit_free(l, 5000), 0);
	t = fake_stop(&sv);
	ck_assert_int_eq(connections(t), 1);
	free(t);
	free(r);
}
END_TEST

/*
 * one connection at a time to the MX IP, three domains, 500 ms a probe,
 * each probe's timeout 800 ms: the third waits about 1 s for the IP and
 * still gets its verdict
 */
START_TEST(test_wait_mx_deadline)
{
	struct fake_smtpd sv;
	struct probe_conf pc;
	struct limit_conf lc;
	struct limiter *l;
	struct req *r;
	char *t;
	int i;

	fake_start(&sv, tmpdir, NULL, "delay rcpt 500\nrcpt * 250 2.1.5 Ok\n");
	conf_for(&pc, &sv, NULL);
	pc.timeout_ms = 800;
	limit_conf_defaults(&lc);
	lc.per_mx = 1;
	l = limit_new(&lc, NULL);
	r = run_all(l, &pc, 3, "u", 2, "mx", LIMIT_FOREVER);
	for (i = 0; i < 3; i++)
		ck_assert_msg(r[i].res.verdict == VERDICT_VALID, "%s: got %s/%s after %ld ms, want valid",
		    r[i].addr, verdict_str(r[i].res.verdict), reason_str(r[i].res.reason), r[i].res.elapsed_ms);
	ck_assert_int_eq(limit_free(l, 5000), 0);
	t = fake_stop(&sv);
	ck_assert_int_eq(connections(t), 3);
	ck_assert_int_eq(max_concurrent(t), 1);
	free(t);
	free(r);
}
END_TEST

/*
 * limit_stats: requests for one slot. [0] one domain (per_domain 1):
 * three wait for the domain; [1] three domains at one MX IP (per_mx 1):
 * two probes wait for the IP.
 */
START_TEST(test_wait_stats)
{
	struct fake_smtpd sv;
	struct probe_conf pc;
	struct limit_conf lc;
	struct limit_stats st;
	struct limiter *l;
	struct req *r;
	pthread_t *th;
	msec_t until;
	char *t;
	int i, seen = 0;

	fake_start(&sv, tmpdir, NULL, "delay rcpt 600\nrcpt * 250 2.1.5 Ok\n");
	conf_for(&pc, &sv, NULL);
	limit_conf_defaults(&lc);
	if (_i == 0)
		lc.per_domain = 1;
	else
		lc.per_mx = 1;
	l = limit_new(&lc, NULL);
	limit_stats(l, &st);
	ck_assert(st.probing == 0 && st.waiting == 0);
	r = _i == 0 ? start_all(l, &pc, 4, "s", 1, "st.test", LIMIT_FOREVER, &th) :
	    start_all(l, &pc, 3, "s", 2, "st", LIMIT_FOREVER, &th);
	for (until = util_now_ms() + 3000; util_now_ms() < until && !seen; usleep(5000)) {
		limit_stats(l, &st);
		if (_i == 0)
			seen = st.waiting == 3 && st.probing == 1;
		else
			seen = st.waiting == 2 && st.probing == 1;
	}
	ck_assert_msg(seen, "[%d] last seen %d probing, %d waiting", _i, st.probing, st.waiting);
	join_all(r, th, _i == 0 ? 4 : 3);
	for (i = 0; i < (_i == 0 ? 4 : 3); i++)
		ck_assert_msg(r[i].res.verdict == VERDICT_VALID, "%s: got %s/%s, want valid", r[i].addr,
		    verdict_str(r[i].res.verdict), reason_str(r[i].res.reason));
	limit_stats(l, &st);
	ck_assert_msg(st.probing == 0 && st.waiting == 0, "after: %d probing, %d waiting",
	    st.probing, st.waiting);
	ck_assert_int_eq(limit_free(l, 5000), 0);
	t = fake_stop(&sv);
	free(t);
	free(r);
}
END_TEST

/* ---- the cache: hits are traced, stale ones are not refreshed ---- */

static char lines[8192];

static void
sink(void *arg, const char *line)
{
	(void)arg;
	if (strlen(lines) + strlen(line) + 2 < sizeof(lines)) {
		strcat(lines, line);
		strcat(lines, "\n");
	}
}

static time_t fake_now;

static time_t
fake_clock(void)
{
	return fake_now;
}

START_TEST(test_wait_cache)
{
	struct fake_smtpd sv;
	struct probe_conf pc;
	struct cache_ttl ttl;
	struct cache *c;
	struct limiter *l;
	struct probe_result ok, res;
	struct trace tr = { sink, NULL };
	char err[256], *t;

	cache_ttl_defaults(&ttl);
	c = cache_open(cachepath, &ttl, 0, CACHE_NOSYNC, err, sizeof(err));
	ck_assert_msg(c != NULL, "cache_open: %s", err);
	memset(&ok, 0, sizeof(ok));
	ok.verdict = VERDICT_VALID;
	ok.reason = R_USER_OK;
	ok.code = 250;
	fake_now = time(NULL) - 8 * 86400;
	cache_set_clock(c, fake_clock);
	ck_assert_int_eq(learn_store(c, "a:old@hit.test", "hit.test", &ok), CACHE_HIT);
	fake_now = time(NULL);

	fake_start(&sv, tmpdir, NULL, "rcpt * 550 5.1.1 User unknown\n");
	conf_for(&pc, &sv, c);
	l = limit_new(NULL, c);
	lines[0] = '\0';
	limit_verdict_wait(l, &pc, "old@hit.test", 12, LIMIT_FOREVER, &tr, &res);
	ck_assert_msg(res.cached == 1 && res.verdict == VERDICT_VALID, "stale: got cached=%d %s",
	    res.cached, verdict_str(res.verdict));
	ck_assert_msg(strstr(lines, "cache: hit valid (stale)") != NULL, "trace: %s", lines);

	/* a miss is probed, traced, and then a hit */
	lines[0] = '\0';
	limit_verdict_wait(l, &pc, "new@hit.test", 12, LIMIT_FOREVER, &tr, &res);
	ck_assert_msg(res.cached == 0 && res.verdict == VERDICT_INVALID, "miss: got cached=%d %s",
	    res.cached, verdict_str(res.verdict));
	ck_assert_msg(strstr(lines, "C: RCPT TO:<new@hit.test>") != NULL, "trace: %s", lines);
	limit_verdict_wait(l, &pc, "new@hit.test", 12, LIMIT_FOREVER, NULL, &res);
	ck_assert_msg(res.cached == 1 && res.verdict == VERDICT_INVALID, "hit: got cached=%d %s",
	    res.cached, verdict_str(res.verdict));
	ck_assert_int_eq(limit_free(l, 5000), 0);
	t = fake_stop(&sv);
	ck_assert_msg(connections(t) == 1, "got %d connections, want 1 (new@, and no refresh of old@)",
	    connections(t));
	free(t);
	cache_close(c);
}
END_TEST

Suite *
make_suite(void)
{
	Suite *s = suite_create("limit_wait");
	TCase *tc;

	tc = tcase_create("wait");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_wait_single_flight);
	tcase_add_test(tc, test_wait_queue);
	tcase_add_test(tc, test_wait_limit);
	tcase_add_test(tc, test_wait_mx_deadline);
	tcase_add_loop_test(tc, test_wait_stats, 0, 2);
	tcase_add_test(tc, test_wait_cache);
	suite_add_tcase(s, tc);
	return s;
}

#include "check_main.h"
