/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * check_limit - probe coordination (probe/limit.c) on the real stack:
 * limit_verdict -> probe_verify -> dns (ldns-testns on 127.0.0.1,
 * tests/testns.h) -> smtp (fake_smtpd on 127.0.0.1, which records
 * every connection and the most it had open at once) -> cache.
 *
 * Cases:
 *  - single-flight: 50 threads ask for one unknown address at once:
 *    one connection, 50 equal verdicts;
 *  - joe-job: 300 distinct addresses at one domain whose server is
 *    slow: never more than 2 connections at once, every request ends
 *    within its budget;
 *  - budget: a server slower than the budget gives tempfail/budget in
 *    time, and the probe's real verdict is a cache hit afterwards;
 *  - stale entries are served and refreshed in the background, and a
 *    failed refresh leaves them valid;
 *  - per-MX-IP concurrency and rate, global limit;
 *  - what cannot be probed never reaches DNS or SMTP;
 *  - limit_free waits for background probes, or leaves them to finish;
 *  - per-client probe rate: a client past client_rate gets
 *    tempfail/rate-limited with no probe (no connection, no DNS), others
 *    are not affected, cache hits and single-flight followers are free,
 *    the window starts afresh after a minute (an injected clock), IPv6
 *    clients count by /64, a count is given back when no probe starts
 *    (the tests with valid senders count every probe, LIMIT_COUNT_ALL;
 *    which ended probes are given back is check_limit_client.c).
 *
 * Servers and temporary files are per test (Check forks each test);
 * fake_smtpd (tests/fake_fixture.h) and ldns-testns die with the test
 * process.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
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

#define SLACK_MS	300	/* a request may end this much after its budget */

static struct testns ns;
static char tmpdir[64], cachepath[128];
static atomic_int nwarn, nclient;

static void
hook(int prio, const char *line, void *arg)
{
	(void)arg;
	if (prio <= LOG_WARNING)
		atomic_fetch_add(&nwarn, 1);
	if (prio == LOG_NOTICE && strstr(line, "(ClientProbeRate)") != NULL)
		atomic_fetch_add(&nclient, 1);
}

/* ---- fake DNS: every test domain has MX mx.lim.test -> 127.0.0.1 ---- */

static const char *const domains[] = {
	"single", "joe", "budget", "stale", "free", "nosyntax",
	"m1", "m2", "m3", "m4", "m5", "m6",
	"r1", "r2", "r3", "r4", "r5",
	"g1", "g2", "g3", "g4", "g5", "g6",
	"c1", "c2", "c3", "c4",
};

static void
setup(void)
{
	static char zone[32768];
	size_t n = 0, i;

	log_open("check_limit", LOG_MAIL, 0, 0);
	log_set_hook(hook, NULL);
	atomic_store(&nwarn, 0);
	atomic_store(&nclient, 0);
	n += (size_t)snprintf(zone + n, sizeof(zone) - n, "%s",
	    TESTNS_HOST4("mx.lim.test", "127.0.0.1"));
	for (i = 0; i < sizeof(domains) / sizeof(domains[0]); i++)
		n += (size_t)snprintf(zone + n, sizeof(zone) - n,
		    "ENTRY_BEGIN\nMATCH opcode qtype qname\nADJUST copy_id\n"
		    "REPLY QR AA RD RA NOERROR\nSECTION QUESTION\n%s.test. IN MX\n"
		    "SECTION ANSWER\n%s.test. IN MX 10 mx.lim.test.\nENTRY_END\n",
		    domains[i], domains[i]);
	ck_assert_msg(n < sizeof(zone), "zone too big");
	ck_assert_msg(testns_start(&ns, zone) == 0, "fake DNS: %s", ns.err);
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/sav-i3-limit-XXXXXX");
	ck_assert_msg(mkdtemp(tmpdir) != NULL, "mkdtemp: %s", strerror(errno));
	snprintf(cachepath, sizeof(cachepath), "%s/cache.mdb", tmpdir);
}

static void
teardown(void)
{
	testns_stop(&ns);
	limit_fixture_rmdir(tmpdir);
}

/* ---- fake SMTP server (tests/fake_fixture.h), its transcript ---- */

/*
 * The order of the transcript: the server answers QUIT with its 221,
 * logs CLOSE, then closes, and the probe waits for that close after
 * the 221 (only then is the count proven), so its slot is released,
 * and the next connection made, after the CLOSE line.
 */

/* ---- probe set-up ---- */

static void
conf_for(struct probe_conf *pc, const struct fake_smtpd *sv, struct cache *c)
{
	limit_fixture_conf(pc, ns.port, sv != NULL ? sv->port : 9, "probe.lim.test", c);
}

static struct cache *
cache_new(void)
{
	struct cache_ttl ttl;
	struct cache *c;
	char err[256];

	cache_ttl_defaults(&ttl);
	c = cache_open(cachepath, &ttl, 0, CACHE_NOSYNC, err, sizeof(err));
	ck_assert_msg(c != NULL, "cache_open: %s", err);
	return c;
}

/* ---- many requests at once ---- */

struct req {
	struct limiter *l;
	const struct probe_conf *pc;
	const struct sockaddr *client;	/* NULL: limit_verdict */
	pthread_barrier_t *bar;
	char	addr[128];
	msec_t	budget;
	msec_t	elapsed;
	struct probe_result res;
};

static void *
req_main(void *p)
{
	struct req *r = p;
	msec_t t0;

	pthread_barrier_wait(r->bar);
	t0 = util_now_ms();
	if (r->client != NULL)
		limit_verdict_client(r->l, r->pc, r->client, r->addr, strlen(r->addr),
		    r->budget, &r->res);
	else
		limit_verdict(r->l, r->pc, r->addr, strlen(r->addr), r->budget, &r->res);
	r->elapsed = util_now_ms() - t0;
	return NULL;
}

/*
 * run n requests together (i = 0 .. n-1) for local@domain (numbered 0),
 * local<i>@domain (1) or local@<domain><i+1>.test (2), on behalf of
 * client (NULL: none, limit_verdict)
 */
static struct req *
run_all_from(struct limiter *l, const struct probe_conf *pc, const struct sockaddr *client,
	     int n, const char *local, int numbered, const char *domain, msec_t budget)
{
	struct req *r = calloc((size_t)n, sizeof(*r));
	pthread_t *th = calloc((size_t)n, sizeof(*th));
	pthread_barrier_t bar;
	pthread_attr_t attr;
	int i;

	ck_assert(r != NULL && th != NULL);
	ck_assert_int_eq(pthread_barrier_init(&bar, NULL, (unsigned)n), 0);
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 1 << 20);
	for (i = 0; i < n; i++) {
		r[i].l = l;
		r[i].pc = pc;
		r[i].client = client;
		r[i].bar = &bar;
		r[i].budget = budget;
		if (numbered == 2)
			snprintf(r[i].addr, sizeof(r[i].addr), "%s@%s%d.test", local, domain, i + 1);
		else if (numbered)
			snprintf(r[i].addr, sizeof(r[i].addr), "%s%d@%s", local, i, domain);
		else
			snprintf(r[i].addr, sizeof(r[i].addr), "%s@%s", local, domain);
		ck_assert_int_eq(pthread_create(&th[i], &attr, req_main, &r[i]), 0);
	}
	for (i = 0; i < n; i++)
		pthread_join(th[i], NULL);
	pthread_attr_destroy(&attr);
	pthread_barrier_destroy(&bar);
	free(th);
	return r;
}

static struct req *
run_all(struct limiter *l, const struct probe_conf *pc, int n, const char *local,
	int numbered, const char *domain, msec_t budget)
{
	return run_all_from(l, pc, NULL, n, local, numbered, domain, budget);
}

/* the observer's counts (limit.h): what the milter's StatsFile shows */
static atomic_int evs[LIMIT_EV_COUNT], ends;

static void
on_event(void *arg, enum limit_event ev)
{
	atomic_fetch_add(&evs[ev], 1);
}

static void
on_end(void *arg, const struct probe_result *r, msec_t ms)
{
	atomic_fetch_add(&ends, 1);
}

static void
watch(struct limiter *l)
{
	static const struct limit_observer o = { on_event, on_end, NULL };
	int i;

	for (i = 0; i < LIMIT_EV_COUNT; i++)
		atomic_store(&evs[i], 0);
	atomic_store(&ends, 0);
	limit_set_observer(l, &o);
}

/* one probe for many requests */
START_TEST(test_single_flight)
{
	struct fake_smtpd sv;
	struct probe_conf pc;
	struct limit_conf lc;
	struct limiter *l;
	struct cache *c = cache_new();
	struct probe_result again;
	struct req *r;
	char *t;
	int i, probed;

	fake_start(&sv, tmpdir, NULL, "delay rcpt 500\nrcpt * 250 2.1.5 Ok\n");
	conf_for(&pc, &sv, c);
	limit_conf_defaults(&lc);
	l = limit_new(&lc, c);
	ck_assert(l != NULL);
	watch(l);
	r = run_all(l, &pc, 50, "who", 0, "single.test", 5000);
	for (i = 0, probed = 0; i < 50; i++) {
		probed += r[i].res.cached == 0;
		ck_assert_msg(r[i].res.verdict == VERDICT_VALID, "request %d: got %s/%s, want valid",
		    i, verdict_str(r[i].res.verdict), reason_str(r[i].res.reason));
		ck_assert_str_eq(reason_str(r[i].res.reason), reason_str(r[0].res.reason));
		ck_assert_int_eq(r[i].res.code, 250);
		ck_assert_str_eq(r[i].res.address, "who@single.test");
	}
	limit_verdict(l, &pc, "who@single.test", 15, 5000, &again);
	ck_assert_msg(again.cached == 1 && again.verdict == VERDICT_VALID,
	    "after the probe: got cached=%d %s, want a cache hit", again.cached, verdict_str(again.verdict));
	limit_free(l, 5000);
	/* one leader; every other request that did not hit the cache joined it */
	ck_assert_msg(evs[LIMIT_EV_PROBE_START] == 1 && ends == 1 && evs[LIMIT_EV_JOIN] == probed - 1,
	    "observer: got %d started, %d ended, %d joins, want 1, 1, %d",
	    evs[LIMIT_EV_PROBE_START], ends, evs[LIMIT_EV_JOIN], probed - 1);
	t = fake_stop(&sv);
	ck_assert_msg(connections(t) == 1, "got %d connections, want 1:\n%.2000s", connections(t), t);
	free(t);
	free(r);
	cache_close(c);
}
END_TEST

/* a joe-job at one domain never floods it, and nobody waits past the budget */
START_TEST(test_joe_job)
{
	struct fake_smtpd sv;
	struct probe_conf pc;
	struct limit_conf lc;
	struct limiter *l;
	struct cache *c = cache_new();
	struct req *r;
	int i, limited = 0, budget = 0, invalid = 0, late = 0;
	msec_t worst = 0;
	char *t;

	fake_start(&sv, tmpdir, NULL, "delay rcpt 1000\nrcpt * 550 5.1.1 User unknown\n");
	conf_for(&pc, &sv, c);
	limit_conf_defaults(&lc);
	l = limit_new(&lc, c);
	watch(l);
	r = run_all(l, &pc, 300, "forged", 1, "joe.test", 1500);
	for (i = 0; i < 300; i++) {
		if (r[i].elapsed > worst)
			worst = r[i].elapsed;
		if (r[i].elapsed > 1500 + SLACK_MS)
			late++;
		if (r[i].res.verdict == VERDICT_TEMPFAIL && r[i].res.reason == R_RATE_LIMITED)
			limited++;
		else if (r[i].res.verdict == VERDICT_TEMPFAIL && r[i].res.reason == R_BUDGET)
			budget++;
		else if (r[i].res.verdict == VERDICT_INVALID)
			invalid++;
		else
			ck_abort_msg("request %d: got %s/%s, want tempfail or invalid", i,
			    verdict_str(r[i].res.verdict), reason_str(r[i].res.reason));
	}
	ck_assert_msg(late == 0, "%d requests ended after budget+%d ms (worst %lld ms)", late, SLACK_MS,
	    (long long)worst);
	ck_assert_msg(limited >= 250, "rate-limited: got %d of 300 (budget %d, invalid %d)", limited,
	    budget, invalid);
	limit_free(l, 5000);
	/* each refusal counted once, by its kind */
	ck_assert_msg(evs[LIMIT_EV_DOMAIN] == limited && evs[LIMIT_EV_BUDGET] == budget &&
	    evs[LIMIT_EV_MAX_PROBES] == 0 && evs[LIMIT_EV_PROBE_START] == ends,
	    "observer: got DomainConcurrency %d, budget %d, MaxProbes %d, %d started and %d ended; "
	    "want %d, %d, 0, as many ended as started", evs[LIMIT_EV_DOMAIN], evs[LIMIT_EV_BUDGET],
	    evs[LIMIT_EV_MAX_PROBES], evs[LIMIT_EV_PROBE_START], ends, limited, budget);
	t = fake_stop(&sv);
	ck_assert_msg(max_concurrent(t) >= 1 && max_concurrent(t) <= 2,
	    "the victim saw %d connections at once, want at most 2", max_concurrent(t));
	ck_assert_msg(connections(t) <= 6, "the victim saw %d connections in all, want a handful",
	    connections(t));
	free(t);
	free(r);
	cache_close(c);
}
END_TEST

/* tempfail/budget in time; the probe finishes and fills the cache */
START_TEST(test_budget)
{
	struct fake_smtpd sv;
	struct probe_conf pc;
	struct limiter *l;
	struct cache *c = cache_new();
	struct probe_result res, out;
	msec_t t0, el;
	char *t;
	int stale, i;

	fake_start(&sv, tmpdir, NULL, "delay rcpt 1500\nrcpt * 550 5.1.1 <late@budget.test>: User unknown\n");
	conf_for(&pc, &sv, c);
	l = limit_new(NULL, c);
	t0 = util_now_ms();
	limit_verdict(l, &pc, "late@budget.test", 16, 500, &res);
	el = util_now_ms() - t0;
	ck_assert_msg(res.verdict == VERDICT_TEMPFAIL && res.reason == R_BUDGET,
	    "got %s/%s, want tempfail/budget", verdict_str(res.verdict), reason_str(res.reason));
	ck_assert_msg(el >= 450 && el <= 500 + SLACK_MS, "answered after %lld ms, want about 500",
	    (long long)el);
	ck_assert_int_eq(res.cached, 0);
	/* the probe goes on in the background and writes the cache */
	for (i = 0; i < 100 && cache_get_addr(c, "a:late@budget.test", &out, &stale) != CACHE_HIT; i++)
		usleep(50000);
	ck_assert_msg(i < 100, "the background probe wrote nothing within 5 s");
	t0 = util_now_ms();
	limit_verdict(l, &pc, "late@budget.test", 16, 500, &res);
	el = util_now_ms() - t0;
	ck_assert_msg(res.cached == 1 && res.verdict == VERDICT_INVALID, "retry: got cached=%d %s/%s, "
	    "want a cache hit with invalid", res.cached, verdict_str(res.verdict), reason_str(res.reason));
	ck_assert_str_eq(reason_str(res.reason), reason_str(R_USER_UNKNOWN));
	ck_assert_int_eq(res.code, 550);
	ck_assert_str_eq(res.enhanced, "5.1.1");
	ck_assert_msg(el < 50, "a cache hit took %lld ms", (long long)el);
	limit_free(l, 5000);
	t = fake_stop(&sv);
	ck_assert_int_eq(connections(t), 1);
	free(t);
	cache_close(c);
}
END_TEST

static time_t fake_now;

static time_t
fake_clock(void)
{
	return fake_now;
}

/* a stale valid entry answers at once and is re-probed in the background */
static const char *const refresh_scripts[] = {
	"rcpt * 250 2.1.5 Ok\n",			/* the refresh confirms */
	"rcpt * 450 4.7.1 Try again later\n",		/* the refresh fails */
	"rcpt * 550 5.1.1 User unknown\n",		/* the refresh says no */
};

START_TEST(test_stale_refresh)
{
	struct fake_smtpd sv;
	struct probe_conf pc;
	struct limiter *l;
	struct cache *c = cache_new();
	struct probe_result ok, res, out;
	char *t;
	int stale = 0;

	memset(&ok, 0, sizeof(ok));
	ok.verdict = VERDICT_VALID;
	ok.reason = R_USER_OK;
	ok.code = 250;
	fake_now = time(NULL) - 8 * 86400;
	cache_set_clock(c, fake_clock);
	ck_assert_int_eq(learn_store(c, "a:old@stale.test", "stale.test", &ok), CACHE_HIT);
	fake_now = time(NULL);

	fake_start(&sv, tmpdir, NULL, refresh_scripts[_i]);
	conf_for(&pc, &sv, c);
	l = limit_new(NULL, c);
	limit_verdict(l, &pc, "old@stale.test", 14, 2000, &res);
	ck_assert_msg(res.cached == 1 && res.verdict == VERDICT_VALID, "got cached=%d %s, want a hit",
	    res.cached, verdict_str(res.verdict));
	limit_free(l, 5000);	/* waits for the refresh */
	t = fake_stop(&sv);
	ck_assert_msg(connections(t) == 1, "got %d connections, want 1 refresh", connections(t));
	free(t);
	ck_assert_int_eq(cache_get_addr(c, "a:old@stale.test", &out, &stale), CACHE_HIT);
	ck_assert_msg(out.verdict == VERDICT_VALID, "after the refresh: got %s, want valid",
	    verdict_str(out.verdict));
	ck_assert_msg(stale == 0, "after the refresh: still stale");
	if (_i == 0) {
		/* a new record: no longer due for 7 days */
		fake_now += 7 * 86400 - 60;
		ck_assert_int_eq(cache_get_addr(c, "a:old@stale.test", &out, &stale), CACHE_HIT);
		ck_assert_int_eq(stale, 0);
	}
	cache_close(c);
}
END_TEST

/*
 * at most per_mx connections at once to one MX IP, from many
 * domains; at most max_probes at once over all domains. Six requests
 * for u@<domain>1.test .. u@<domain>6.test (one MX, 127.0.0.1), each
 * probe held 300 ms: all valid, six connections, never more than the
 * cap at once and the cap reached.
 */
static const struct {
	const char *what;
	int	per_mx, per_domain, max_probes;	/* 0: the default */
	const char *domain;
	int	at_once;
} caps[] = {
	{ "per_mx 1", 1, 10, 0, "m", 1 },
	{ "max_probes 2", 0, 0, 2, "g", 2 },
};

START_TEST(test_at_once)
{
	struct fake_smtpd sv;
	struct probe_conf pc;
	struct limit_conf lc;
	struct limiter *l;
	struct req *r;
	char *t;
	int i;

	fake_start(&sv, tmpdir, NULL, "delay rcpt 300\nrcpt * 250 2.1.5 Ok\n");
	conf_for(&pc, &sv, NULL);
	limit_conf_defaults(&lc);
	if (caps[_i].per_mx > 0)
		lc.per_mx = caps[_i].per_mx;
	if (caps[_i].per_domain > 0)
		lc.per_domain = caps[_i].per_domain;
	if (caps[_i].max_probes > 0)
		lc.max_probes = caps[_i].max_probes;
	l = limit_new(&lc, NULL);
	watch(l);
	r = run_all(l, &pc, 6, "u", 2, caps[_i].domain, 8000);
	for (i = 0; i < 6; i++)
		ck_assert_msg(r[i].res.verdict == VERDICT_VALID, "%s: %s%d: got %s/%s, want valid",
		    caps[_i].what, caps[_i].domain, i + 1, verdict_str(r[i].res.verdict),
		    reason_str(r[i].res.reason));
	limit_free(l, 5000);
	/* waits that ended with a slot are no refusals */
	ck_assert_msg(evs[LIMIT_EV_MX_CONC] == 0 && evs[LIMIT_EV_MAX_PROBES] == 0 &&
	    evs[LIMIT_EV_DOMAIN] == 0 && evs[LIMIT_EV_PROBE_START] == 6,
	    "%s: observer: got MXConcurrency %d, MaxProbes %d, DomainConcurrency %d, %d started",
	    caps[_i].what, evs[LIMIT_EV_MX_CONC], evs[LIMIT_EV_MAX_PROBES], evs[LIMIT_EV_DOMAIN],
	    evs[LIMIT_EV_PROBE_START]);
	t = fake_stop(&sv);
	ck_assert_msg(max_concurrent(t) == caps[_i].at_once, "%s: got %d at once, want %d",
	    caps[_i].what, max_concurrent(t), caps[_i].at_once);
	ck_assert_msg(connections(t) == 6, "%s: got %d connections, want 6", caps[_i].what,
	    connections(t));
	free(t);
	free(r);
}
END_TEST

/* at most mx_rate new connections per minute to one MX IP */
START_TEST(test_mx_rate)
{
	struct fake_smtpd sv;
	struct probe_conf pc;
	struct limit_conf lc;
	struct limiter *l;
	struct req *r;
	int i, ok = 0, limited = 0;
	char *t;

	fake_start(&sv, tmpdir, NULL, "rcpt * 250 2.1.5 Ok\n");
	conf_for(&pc, &sv, NULL);
	pc.timeout_ms = 1500;	/* a probe waits for the rate window up to its deadline */
	limit_conf_defaults(&lc);
	lc.mx_rate = 3;
	lc.per_domain = 10;
	l = limit_new(&lc, NULL);
	watch(l);
	r = run_all(l, &pc, 5, "u", 2, "r", 3000);
	for (i = 0; i < 5; i++) {
		if (r[i].res.verdict == VERDICT_VALID)
			ok++;
		else if (r[i].res.verdict == VERDICT_TEMPFAIL && r[i].res.reason == R_RATE_LIMITED)
			limited++;
	}
	limit_free(l, 5000);
	t = fake_stop(&sv);
	ck_assert_msg(ok == 3 && limited == 2, "got %d valid and %d rate-limited, want 3 and 2", ok, limited);
	/* the two probes each skipped their one MX address for MXRate */
	ck_assert_msg(evs[LIMIT_EV_MX_RATE] == 2 && evs[LIMIT_EV_MX_CONC] == 0 && ends == 5,
	    "observer: got MXRate %d, MXConcurrency %d, %d ended, want 2, 0, 5",
	    evs[LIMIT_EV_MX_RATE], evs[LIMIT_EV_MX_CONC], ends);
	ck_assert_int_eq(connections(t), 3);
	free(t);
	free(r);
}
END_TEST

/*
 * A second connection within one slot (here RetrySender after a
 * refusal of <>) counts in MXRate too: two probes make four
 * connections, so with MXRate 3 the third probe waits past its
 * deadline and is rate-limited (counting slots, it would get through).
 */
START_TEST(test_mx_rate_again)
{
	struct fake_smtpd sv;
	struct probe_conf pc;
	struct limit_conf lc;
	struct limiter *l;
	struct req *r;
	char local[8];
	int i;
	char *t;

	fake_start(&sv, tmpdir, NULL, "mail <> 550 5.7.1 No bounces accepted\nrcpt * 250 2.1.5 Ok\n");
	conf_for(&pc, &sv, NULL);
	pc.timeout_ms = 1500;
	util_strlcpy(pc.retry_sender, "retry@probe.lim.test", sizeof(pc.retry_sender));
	limit_conf_defaults(&lc);
	lc.mx_rate = 3;
	l = limit_new(&lc, NULL);
	watch(l);
	for (i = 0; i < 3; i++) {
		snprintf(local, sizeof(local), "a%d", i);
		r = run_all(l, &pc, 1, local, 2, "r", 3000);
		if (i < 2)
			ck_assert_msg(r[0].res.verdict == VERDICT_VALID, "probe %d: got %s (%s), want valid",
			    i + 1, verdict_str(r[0].res.verdict), reason_str(r[0].res.reason));
		else
			ck_assert_msg(r[0].res.verdict == VERDICT_TEMPFAIL && r[0].res.reason == R_RATE_LIMITED,
			    "probe 3: got %s (%s), want tempfail (rate-limited)",
			    verdict_str(r[0].res.verdict), reason_str(r[0].res.reason));
		free(r);
	}
	limit_free(l, 5000);
	t = fake_stop(&sv);
	ck_assert_int_eq(connections(t), 4);
	ck_assert_int_eq(evs[LIMIT_EV_MX_RATE], 1);
	free(t);
}
END_TEST

/* what cannot be probed is decided without DNS or SMTP */
static const struct {
	const char *addr;
	enum verdict v;
} unprobed[] = {
	{ "a\r\nRCPT TO:<x@nosyntax.test>", VERDICT_BAD_SYNTAX },
	{ "<>", VERDICT_SKIPPED },
	{ "postmaster", VERDICT_UNKNOWN },
	{ "u@[127.0.0.1]", VERDICT_UNKNOWN },
	{ "u@nosyntax.invalid", VERDICT_BAD_DOMAIN },
};

START_TEST(test_unprobed)
{
	struct fake_smtpd sv;
	struct probe_conf pc;
	struct limiter *l;
	struct probe_result res;
	char *t;

	fake_start(&sv, tmpdir, NULL, "rcpt * 250 2.1.5 Ok\n");
	conf_for(&pc, &sv, NULL);
	l = limit_new(NULL, NULL);
	limit_verdict(l, &pc, unprobed[_i].addr, strlen(unprobed[_i].addr), 2000, &res);
	ck_assert_msg(res.verdict == unprobed[_i].v, "%s: got %s/%s, want %s", unprobed[_i].addr,
	    verdict_str(res.verdict), reason_str(res.reason), verdict_str(unprobed[_i].v));
	limit_free(l, 1000);
	t = fake_stop(&sv);
	ck_assert_int_eq(connections(t), 0);
	free(t);
}
END_TEST

/* limit_free waits for background probes; with no wait they finish on their own */
START_TEST(test_free)
{
	struct fake_smtpd sv;
	struct probe_conf pc;
	struct limiter *l;
	struct cache *c = cache_new();
	struct probe_result res, out;
	msec_t t0, el;
	char *t;
	int stale;

	fake_start(&sv, tmpdir, NULL, "delay rcpt 800\nrcpt * 250 2.1.5 Ok\n");
	conf_for(&pc, &sv, c);
	l = limit_new(NULL, c);
	limit_verdict(l, &pc, "a@free.test", 11, 100, &res);
	ck_assert_str_eq(reason_str(res.reason), reason_str(R_BUDGET));
	t0 = util_now_ms();
	ck_assert_int_eq(limit_free(l, 5000), 0);
	el = util_now_ms() - t0;
	ck_assert_msg(el >= 400, "limit_free returned after %lld ms, before the probe ended", (long long)el);
	ck_assert_int_eq(cache_get_addr(c, "a:a@free.test", &out, &stale), CACHE_HIT);
	ck_assert_int_eq(atomic_load(&nwarn), 0);

	/* no wait: the probe outlives the limiter's owner and cleans up after itself */
	l = limit_new(NULL, c);
	limit_verdict(l, &pc, "b@free.test", 11, 100, &res);
	ck_assert_int_eq(limit_free(l, 0), 1);
	ck_assert_int_eq(atomic_load(&nwarn), 1);
	usleep(1500000);
	ck_assert_int_eq(cache_get_addr(c, "a:b@free.test", &out, &stale), CACHE_HIT);
	t = fake_stop(&sv);
	ck_assert_int_eq(connections(t), 2);
	free(t);
	cache_close(c);
}
END_TEST

/* ---- per-client probe rate ---- */

static _Atomic msec_t fake_ms;

static msec_t
fake_ms_clock(void)
{
	return atomic_load(&fake_ms);
}

/* client_sa - a sockaddr for a numeric IPv4 or IPv6 address */
static const struct sockaddr *
client_sa(const char *ip, struct sockaddr_storage *ss)
{
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, ip, &s4->sin_addr) == 1)
		s4->sin_family = AF_INET;
	else {
		ck_assert_msg(inet_pton(AF_INET6, ip, &s6->sin6_addr) == 1, "bad test address %s", ip);
		s6->sin6_family = AF_INET6;
	}
	return (const struct sockaddr *)ss;
}

/* ask - one request from the client at ip (NULL: no client); returns its time in ms */
static msec_t
ask(struct limiter *l, const struct probe_conf *pc, const char *ip, const char *addr,
    msec_t budget, struct probe_result *res)
{
	struct sockaddr_storage ss;
	msec_t t0 = util_now_ms();

	limit_verdict_client(l, pc, ip != NULL ? client_sa(ip, &ss) : NULL, addr, strlen(addr),
	    budget, res);
	return util_now_ms() - t0;
}

/* want(): any reason will do */
#define ANY_REASON	R_COUNT

static void
want(const char *who, const struct probe_result *res, enum verdict v, enum reason reason, int cached)
{
	ck_assert_msg(res->verdict == v && (reason == ANY_REASON || res->reason == reason) &&
	    res->cached == cached, "%s: got %s/%s cached=%d, want %s/%s cached=%d", who,
	    verdict_str(res->verdict), reason_str(res->reason), res->cached, verdict_str(v),
	    reason != ANY_REASON ? reason_str(reason) : "*", cached);
}

static int
rcpts(const char *t, const char *addr)
{
	char line[160];
	const char *p;
	int n = 0;

	snprintf(line, sizeof(line), "C: RCPT TO:<%s>", addr);
	for (p = t; (p = strstr(p, line)) != NULL; p++)
		n++;
	return n;
}

/* a client past its rate: no probe; others, cache hits, no client and the next minute are fine */
START_TEST(test_client_rate)
{
	struct fake_smtpd sv;
	struct probe_conf pc;
	struct limit_conf lc;
	struct limiter *l;
	struct cache *c = cache_new();
	struct probe_result res;
	char addr[64], *t;
	msec_t el;
	int i, j;

	fake_start(&sv, tmpdir, NULL, "rcpt * 550 5.1.1 User unknown\n");
	conf_for(&pc, &sv, c);
	/* a probe started for silent.test (no DNS answer) would still run at the end */
	pc.dns.timeout_ms = 10000;
	limit_conf_defaults(&lc);
	ck_assert_int_eq(lc.client_rate, 60);
	lc.client_rate = 3;
	l = limit_new(&lc, c);
	atomic_store(&fake_ms, 1000000);
	limit_set_clock(l, fake_ms_clock);
	watch(l);

	/* cache hits cost nothing: u1 and u2 are still probed after five of them */
	for (i = 0; i < 3; i++) {
		snprintf(addr, sizeof(addr), "u%d@c1.test", i);
		ask(l, &pc, "192.0.2.1", addr, 5000, &res);
		want(addr, &res, VERDICT_INVALID, R_USER_UNKNOWN, 0);
		for (j = 0; i == 0 && j < 5; j++) {
			ask(l, &pc, "192.0.2.1", "u0@c1.test", 5000, &res);
			want("cache hit", &res, VERDICT_INVALID, R_USER_UNKNOWN, 1);
		}
	}
	/* at its limit, the client still gets cache hits */
	ask(l, &pc, "192.0.2.1", "u1@c1.test", 5000, &res);
	want("cache hit at the limit", &res, VERDICT_INVALID, R_USER_UNKNOWN, 1);
	/* the fourth new sender: refused at once, nothing probed (silent.test has no DNS answer) */
	el = ask(l, &pc, "192.0.2.1", "x@silent.test", 5000, &res);
	want("4th new sender", &res, VERDICT_TEMPFAIL, R_RATE_LIMITED, 0);
	ck_assert_msg(el < 100, "the refusal took %lld ms, want at once", (long long)el);
	ck_assert_str_eq(res.address, "x@silent.test");
	ask(l, &pc, "192.0.2.1", "u3@c1.test", 5000, &res);
	want("u3 from the limited client", &res, VERDICT_TEMPFAIL, R_RATE_LIMITED, 0);
	ck_assert_msg(atomic_load(&nclient) == 1, "the refusal was logged %d times, want once a window",
	    atomic_load(&nclient));

	/* another client, and a request with no client, are not affected */
	ask(l, &pc, "192.0.2.2", "u3@c1.test", 5000, &res);
	want("u3 from another client", &res, VERDICT_INVALID, R_USER_UNKNOWN, 0);
	ask(l, &pc, NULL, "u4@c1.test", 5000, &res);
	want("u4 with no client", &res, VERDICT_INVALID, R_USER_UNKNOWN, 0);

	/* the window: 60 s from the client's first counted probe */
	atomic_fetch_add(&fake_ms, 59999);
	ask(l, &pc, "192.0.2.1", "u5@c1.test", 5000, &res);
	want("u5 before the minute is over", &res, VERDICT_TEMPFAIL, R_RATE_LIMITED, 0);
	atomic_fetch_add(&fake_ms, 1);
	ask(l, &pc, "192.0.2.1", "u5@c1.test", 5000, &res);
	want("u5 in the next minute", &res, VERDICT_INVALID, R_USER_UNKNOWN, 0);
	ck_assert_int_eq(atomic_load(&nclient), 1);
	/* x@silent.test, u3 and the first u5: three refusals, each counted once */
	ck_assert_msg(evs[LIMIT_EV_CLIENT_RATE] == 3 && evs[LIMIT_EV_PROBE_START] == 6,
	    "observer: got ClientProbeRate %d, %d started, want 3, 6", evs[LIMIT_EV_CLIENT_RATE],
	    evs[LIMIT_EV_PROBE_START]);

	/* every probe above has ended; one for x@silent.test would still wait for DNS */
	ck_assert_msg(limit_free(l, 0) == 0, "a probe is still running: one was started for the "
	    "refused x@silent.test");
	t = fake_stop(&sv);
	ck_assert_msg(connections(t) == 6, "got %d connections, want 6 (u0-u2, u3 from another "
	    "client, u4, u5 once):\n%.3000s", connections(t), t);
	ck_assert_int_eq(rcpts(t, "u3@c1.test"), 1);
	ck_assert_int_eq(rcpts(t, "u5@c1.test"), 1);
	ck_assert_int_eq(rcpts(t, "u0@c1.test"), 1);
	free(t);
	cache_close(c);
}
END_TEST

/* which addresses are one client: IPv4 exactly, IPv4-mapped as IPv4, IPv6 by /64 */
static const struct {
	const char *first, *second;
	int	same;
} client_pairs[] = {
	{ "2001:db8:1:2::1", "2001:db8:1:2:ffff:ffff:ffff:fffe", 1 },
	{ "2001:db8:1:2::1", "2001:db8:1:3::1", 0 },
	{ "2001:db8:1:2::1", "2001:db9:1:2::1", 0 },
	{ "192.0.2.7", "::ffff:192.0.2.7", 1 },
	{ "::ffff:192.0.2.7", "192.0.2.7", 1 },
	{ "192.0.2.7", "192.0.2.8", 0 },
	{ "192.0.2.7", "::c000:207", 0 },	/* IPv4-compatible is IPv6 */
};

START_TEST(test_client_groups)
{
	struct fake_smtpd sv;
	struct probe_conf pc;
	struct limit_conf lc;
	struct limiter *l;
	struct probe_result res;
	char *t;

	fake_start(&sv, tmpdir, NULL, "rcpt * 250 2.1.5 Ok\n");
	conf_for(&pc, &sv, NULL);
	limit_conf_defaults(&lc);
	lc.client_rate = 2;
	lc.client_counts = LIMIT_COUNT_ALL;	/* valid senders stay counted too */
	l = limit_new(&lc, NULL);
	ask(l, &pc, client_pairs[_i].first, "a0@c2.test", 5000, &res);
	want("a0 from the first", &res, VERDICT_VALID, ANY_REASON, 0);
	ask(l, &pc, client_pairs[_i].first, "a1@c2.test", 5000, &res);
	want("a1 from the first", &res, VERDICT_VALID, ANY_REASON, 0);
	ask(l, &pc, client_pairs[_i].second, "a2@c2.test", 5000, &res);
	if (client_pairs[_i].same)
		ck_assert_msg(res.verdict == VERDICT_TEMPFAIL && res.reason == R_RATE_LIMITED,
		    "%s after %s: got %s/%s, want tempfail/rate-limited (one client)", client_pairs[_i].second,
		    client_pairs[_i].first, verdict_str(res.verdict), reason_str(res.reason));
	else
		ck_assert_msg(res.verdict == VERDICT_VALID, "%s after %s: got %s/%s, want valid "
		    "(another client)", client_pairs[_i].second, client_pairs[_i].first,
		    verdict_str(res.verdict), reason_str(res.reason));
	limit_free(l, 5000);
	t = fake_stop(&sv);
	ck_assert_msg(connections(t) == (client_pairs[_i].same ? 2 : 3), "got %d connections, want %d",
	    connections(t), client_pairs[_i].same ? 2 : 3);
	free(t);
}
END_TEST

/* requests that join a probe in flight neither count nor are refused */
START_TEST(test_client_followers)
{
	struct fake_smtpd sv;
	struct probe_conf pc;
	struct limit_conf lc;
	struct limiter *l;
	struct sockaddr_storage ss;
	struct probe_result res;
	struct req *r;
	char *t;
	int i;

	fake_start(&sv, tmpdir, NULL, "delay rcpt 300\nrcpt * 250 2.1.5 Ok\n");
	conf_for(&pc, &sv, NULL);
	limit_conf_defaults(&lc);
	lc.client_rate = 2;
	lc.client_counts = LIMIT_COUNT_ALL;	/* valid senders stay counted too */
	l = limit_new(&lc, NULL);
	r = run_all_from(l, &pc, client_sa("2001:db8:5:5::25", &ss), 8, "same", 0, "c3.test", 5000);
	for (i = 0; i < 8; i++)
		ck_assert_msg(r[i].res.verdict == VERDICT_VALID, "request %d: got %s/%s, want valid", i,
		    verdict_str(r[i].res.verdict), reason_str(r[i].res.reason));
	ask(l, &pc, "2001:db8:5:5::26", "other@c3.test", 5000, &res);
	want("a second sender from the same /64", &res, VERDICT_VALID, ANY_REASON, 0);
	ask(l, &pc, "2001:db8:5:5::27", "third@c3.test", 5000, &res);
	want("a third sender from the same /64", &res, VERDICT_TEMPFAIL, R_RATE_LIMITED, 0);
	limit_free(l, 5000);
	t = fake_stop(&sv);
	ck_assert_msg(connections(t) == 2, "got %d connections, want 2", connections(t));
	free(t);
	free(r);
}
END_TEST

/* a request that started no probe (no domain slot in time) gives its count back */
START_TEST(test_client_refund)
{
	struct fake_smtpd sv;
	struct probe_conf pc;
	struct limit_conf lc;
	struct limiter *l;
	struct probe_result res;
	msec_t el;
	char *t;

	fake_start(&sv, tmpdir, NULL, "delay rcpt 800\nrcpt * 250 2.1.5 Ok\n");
	conf_for(&pc, &sv, NULL);
	limit_conf_defaults(&lc);
	lc.client_rate = 2;
	lc.client_counts = LIMIT_COUNT_ALL;	/* valid senders stay counted too */
	lc.per_domain = 1;
	l = limit_new(&lc, NULL);
	ask(l, &pc, "198.51.100.1", "s0@c4.test", 100, &res);
	want("s0, slower than its budget", &res, VERDICT_TEMPFAIL, R_BUDGET, 0);
	/* s0's probe holds the domain's only slot */
	el = ask(l, &pc, "198.51.100.1", "s1@c4.test", 200, &res);
	want("s1, no domain slot", &res, VERDICT_TEMPFAIL, R_RATE_LIMITED, 0);
	ck_assert_msg(el >= 150, "s1 answered after %lld ms: it did not wait for a slot", (long long)el);
	/* join s0's probe until it ends (a follower: free) */
	ask(l, &pc, "198.51.100.1", "s0@c4.test", 5000, &res);
	want("s0, joined", &res, VERDICT_VALID, ANY_REASON, 0);
	ask(l, &pc, "198.51.100.1", "s2@c4.test", 5000, &res);
	want("s2, the second counted probe", &res, VERDICT_VALID, ANY_REASON, 0);
	ck_assert_int_eq(atomic_load(&nclient), 0);
	el = ask(l, &pc, "198.51.100.1", "s3@c4.test", 5000, &res);
	want("s3, past the rate", &res, VERDICT_TEMPFAIL, R_RATE_LIMITED, 0);
	ck_assert_msg(el < 100, "s3 answered after %lld ms, want at once", (long long)el);
	ck_assert_int_eq(atomic_load(&nclient), 1);
	limit_free(l, 5000);
	t = fake_stop(&sv);
	ck_assert_msg(connections(t) == 2, "got %d connections, want 2 (s0, s2)", connections(t));
	free(t);
}
END_TEST

Suite *
make_suite(void)
{
	Suite *s = suite_create("limit");
	TCase *tc;

	tc = tcase_create("flights");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_single_flight);
	tcase_add_test(tc, test_joe_job);
	tcase_add_test(tc, test_budget);
	tcase_add_loop_test(tc, test_stale_refresh, 0, 3);
	suite_add_tcase(s, tc);

	tc = tcase_create("limits");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_loop_test(tc, test_at_once, 0, sizeof(caps) / sizeof(caps[0]));
	tcase_add_test(tc, test_mx_rate);
	tcase_add_test(tc, test_mx_rate_again);
	tcase_add_loop_test(tc, test_unprobed, 0, sizeof(unprobed) / sizeof(unprobed[0]));
	tcase_add_test(tc, test_free);
	suite_add_tcase(s, tc);

	tc = tcase_create("clients");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_client_rate);
	tcase_add_loop_test(tc, test_client_groups, 0, sizeof(client_pairs) / sizeof(client_pairs[0]));
	tcase_add_test(tc, test_client_followers);
	tcase_add_test(tc, test_client_refund);
	suite_add_tcase(s, tc);
	return s;
}

#include "check_main.h"
