/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * check_fcoord - the limiter's probes coordinated across a fleet
 * (probe/fleet/fcoord.c through probe/limit.c), on the real stack: two
 * limiters in one process play two MX hosts, each with its own local
 * limits, sharing one real redis-server on a unix socket
 * (tests/redis_fixture.h); fake DNS (ldns-testns) and fake_smtpd on
 * 127.0.0.1 as the senders' server. Without redis-server the suite
 * says so on stdout and runs nothing else.
 *
 * Cases:
 *  - single flight: one new sender asked on both hosts at once, each
 *    host with its own LMDB file: one connection in all, the same
 *    verdict on both, the waiting host's answer marked as the fleet's
 *    (RESULT_CACHED_SHARED) and now in its own LMDB file too; the lock
 *    is gone afterwards;
 *  - the same for sav-probe's waiting form (limit_verdict_wait): the
 *    host that waits gets the other's verdict, marked as the fleet's,
 *    and its trace says it waited for another host's probe;
 *  - DomainConcurrency 2 on each of two hosts: without sharing the
 *    sender's server sees 4 connections at once (the control), with
 *    sharing never more than 2, and every request still gets its real
 *    verdict;
 *  - MXConcurrency 1 across two hosts: one connection at a time at the
 *    MX for senders of four different domains;
 *  - MXRate 2 across two hosts: four new senders within the minute
 *    make 2 connections in all (the two hosts alone would allow 4);
 *  - a lock whose holder died: a milter request within its budget gets
 *    tempfail / budget and nothing is probed; a request that may wait
 *    probes once the lock's PX has run out;
 *  - garbage under a sender's lock key (no PX, or a list): the sender
 *    is probed at once, not held up;
 *  - the shared cache down: each host decides alone, at once;
 *  - an ACL user allowed the verdicts' commands only (no EVAL, no
 *    sorted sets): verdicts are still shared, the joe-job falls back on
 *    each host's own limits, one warning says why.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <check.h>

#include "cache.h"
#include "limit.h"
#include "log.h"
#include "probe.h"
#include "rconn.h"
#include "testns.h"
#include "fake_fixture.h"
#include "limit_fixture.h"
#include "redis_fixture.h"

static struct testns ns;
static struct redisfx fx;
static char tmpdir[64];

static const char *const domains[] = {
	"joe", "d1", "d2", "d3", "d4", "dead", "down", "rate", "sf", "junk",
};

static void
setup(void)
{
	static char zone[8192];
	struct rconn_conf rc;
	size_t n = 0, i;

	signal(SIGPIPE, SIG_IGN);
	log_open("check_fcoord", LOG_MAIL, 0, 0);
	n += (size_t)snprintf(zone + n, sizeof(zone) - n, "%s",
	    TESTNS_HOST4("mx.fleet.test", "127.0.0.1"));
	for (i = 0; i < sizeof(domains) / sizeof(domains[0]); i++)
		n += (size_t)snprintf(zone + n, sizeof(zone) - n,
		    "ENTRY_BEGIN\nMATCH opcode qtype qname\nADJUST copy_id\n"
		    "REPLY QR AA RD RA NOERROR\nSECTION QUESTION\n%s.test. IN MX\n"
		    "SECTION ANSWER\n%s.test. IN MX 10 mx.fleet.test.\nENTRY_END\n",
		    domains[i], domains[i]);
	ck_assert_msg(n < sizeof(zone), "zone too big");
	ck_assert_msg(testns_start(&ns, zone) == 0, "fake DNS: %s", ns.err);
	ck_assert_msg(redisfx_start(&fx) == 0, "redis-server: %s", fx.err);
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/sav-fcoord-XXXXXX");
	ck_assert_msg(mkdtemp(tmpdir) != NULL, "mkdtemp: %s", strerror(errno));
	memset(&rc, 0, sizeof(rc));
	snprintf(rc.url, sizeof(rc.url), "unix:%s", fx.sock);
	rc.timeout_ms = 250;
	snprintf(rc.prefix, sizeof(rc.prefix), "sav:");
	ck_assert_int_eq(rconn_init(&rc), 0);
}

static void
teardown(void)
{
	rconn_shutdown();
	redisfx_stop(&fx);
	testns_stop(&ns);
	limit_fixture_rmdir(tmpdir);
}

/* sharing off: rconn_init with no URL (the control cases) */
static void
sharing_off(void)
{
	struct rconn_conf rc;

	memset(&rc, 0, sizeof(rc));
	ck_assert_int_eq(rconn_init(&rc), 0);
}

/* ---- requests on two hosts at once ---- */

struct req {
	struct limiter *l;
	const struct probe_conf *pc;
	pthread_barrier_t *bar;		/* NULL: start at once */
	char	addr[128];
	msec_t	wait;			/* limit_verdict_wait's */
	msec_t	budget;			/* > 0: limit_verdict with this budget instead */
	struct probe_result res;
};

static void *
req_main(void *p)
{
	struct req *r = p;

	if (r->bar != NULL)
		pthread_barrier_wait(r->bar);
	if (r->budget > 0)
		limit_verdict(r->l, r->pc, r->addr, strlen(r->addr), r->budget, &r->res);
	else
		limit_verdict_wait(r->l, r->pc, r->addr, strlen(r->addr), r->wait, NULL, &r->res);
	return NULL;
}

/*
 * n requests, alternately on host a and host b, all at once, for
 * <local><i>@<domain>, or with by_domain 1 <local>@<domain><i>.test,
 * or with by_domain 2 all for <local>@<domain>
 */
static struct req *
run_two(struct limiter *a, struct limiter *b, const struct probe_conf *pc, int n,
	const char *local, const char *domain, int by_domain, msec_t wait, msec_t budget)
{
	struct req *r = calloc((size_t)n, sizeof(*r));
	pthread_t *th = calloc((size_t)n, sizeof(*th));
	pthread_barrier_t bar;
	int i;

	ck_assert(r != NULL && th != NULL);
	ck_assert_int_eq(pthread_barrier_init(&bar, NULL, (unsigned)n), 0);
	for (i = 0; i < n; i++) {
		r[i].l = i % 2 == 0 ? a : b;
		r[i].pc = pc;
		r[i].bar = &bar;
		r[i].wait = wait;
		r[i].budget = budget;
		if (by_domain == 2)
			snprintf(r[i].addr, sizeof(r[i].addr), "%s@%s", local, domain);
		else if (by_domain)
			snprintf(r[i].addr, sizeof(r[i].addr), "%s@%s%d.test", local, domain, i);
		else
			snprintf(r[i].addr, sizeof(r[i].addr), "%s%d@%s", local, i, domain);
		ck_assert_int_eq(pthread_create(&th[i], NULL, req_main, &r[i]), 0);
	}
	for (i = 0; i < n; i++)
		pthread_join(th[i], NULL);
	pthread_barrier_destroy(&bar);
	free(th);
	return r;
}

static void
two_hosts(const struct limit_conf *lc, struct limiter **a, struct limiter **b)
{
	*a = limit_new(lc, NULL);
	*b = limit_new(lc, NULL);
	ck_assert(*a != NULL && *b != NULL);
}

static void
free_two(struct limiter *a, struct limiter *b)
{
	ck_assert_int_eq(limit_free(a, 5000), 0);
	ck_assert_int_eq(limit_free(b, 5000), 0);
}

/* the joe-job: 8 senders at one domain, 4 on each host, each host's DomainConcurrency 2 */
static int
joe_job(int *valid)
{
	struct fake_smtpd sv;
	struct probe_conf pc;
	struct limit_conf lc;
	struct limiter *a, *b;
	struct req *r;
	char *t;
	int i, max;

	fake_start(&sv, tmpdir, NULL, "delay rcpt 300\nrcpt * 250 2.1.5 Ok\n");
	limit_fixture_conf(&pc, ns.port, sv.port, "probe.fleet.test", NULL);
	limit_conf_defaults(&lc);
	lc.per_domain = 2;
	two_hosts(&lc, &a, &b);
	r = run_two(a, b, &pc, 8, "forged", "joe.test", 0, LIMIT_FOREVER, 0);
	*valid = 0;
	for (i = 0; i < 8; i++) {
		*valid += r[i].res.verdict == VERDICT_VALID;
		if (r[i].res.verdict != VERDICT_VALID)
			fprintf(stderr, "%s: %s/%s %ld ms\n", r[i].addr, verdict_str(r[i].res.verdict),
			    reason_str(r[i].res.reason), r[i].res.elapsed_ms);
	}
	free_two(a, b);
	t = fake_stop(&sv);
	max = max_concurrent(t);
	ck_assert_msg(connections(t) == 8, "%d connections, want 8 (one per sender)", connections(t));
	free(t);
	free(r);
	return max;
}

static struct cache *
host_cache(const char *name)
{
	char path[160], err[256];
	struct cache_ttl ttl;
	struct cache *c;

	cache_ttl_defaults(&ttl);
	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	c = cache_open(path, &ttl, 0, CACHE_NOSYNC, err, sizeof(err));
	ck_assert_msg(c != NULL, "%s: %s", path, err);
	return c;
}

START_TEST(single_flight_across_hosts)
{
	struct fake_smtpd sv;
	struct probe_conf pc;
	struct probe_result again;
	struct cache *ca, *cb;
	struct limiter *a, *b;
	struct req *r;
	redisContext *c;
	char *t;
	int stale = 0, shared, i;

	fake_start(&sv, tmpdir, NULL, "delay rcpt 500\nrcpt * 250 2.1.5 Ok\n");
	limit_fixture_conf(&pc, ns.port, sv.port, "probe.fleet.test", NULL);
	ca = host_cache("a.mdb");
	cb = host_cache("b.mdb");
	a = limit_new(NULL, ca);
	b = limit_new(NULL, cb);
	ck_assert(a != NULL && b != NULL);
	r = run_two(a, b, &pc, 2, "one", "sf.test", 2, 0, 3000);
	for (i = 0; i < 2; i++)
		ck_assert_msg(r[i].res.verdict == VERDICT_VALID, "host %d: got %s/%s, want valid",
		    i, verdict_str(r[i].res.verdict), reason_str(r[i].res.reason));
	shared = (r[0].res.cached == RESULT_CACHED_SHARED) + (r[1].res.cached == RESULT_CACHED_SHARED);
	ck_assert_msg(shared == 1, "%d answers marked as the fleet's, want 1 (the waiting host)", shared);
	/* both hosts now answer from their own LMDB file */
	ck_assert_int_eq(cache_get_addr(ca, "a:one@sf.test", &again, &stale), CACHE_HIT);
	ck_assert_int_eq(cache_get_addr(cb, "a:one@sf.test", &again, &stale), CACHE_HIT);
	c = redisfx_connect(&fx, 500);
	ck_assert(c != NULL);
	ck_assert_int_eq(redisfx_int(c, "EXISTS sav:v1:lock:a:one@sf.test"), 0);
	redisFree(c);
	free_two(a, b);
	cache_close(ca);
	cache_close(cb);
	t = fake_stop(&sv);
	ck_assert_msg(connections(t) == 1, "%d connections, want 1 in the fleet", connections(t));
	free(t);
	free(r);
}
END_TEST

static char trace_buf[4096];
static pthread_mutex_t trace_mu = PTHREAD_MUTEX_INITIALIZER;

static void
trace_line(void *arg, const char *line)
{
	size_t n;

	(void)arg;
	pthread_mutex_lock(&trace_mu);
	n = strlen(trace_buf);
	snprintf(trace_buf + n, sizeof(trace_buf) - n, "%s\n", line);
	pthread_mutex_unlock(&trace_mu);
}

struct waiter {
	struct limiter *l;
	const struct probe_conf *pc;
	struct probe_result res;
};

static void *
waiter_main(void *p)
{
	struct waiter *w = p;
	struct trace t = { trace_line, NULL };

	limit_verdict_wait(w->l, w->pc, "two@sf.test", 11, LIMIT_FOREVER, &t, &w->res);
	return NULL;
}

START_TEST(single_flight_waiting_form)
{
	struct fake_smtpd sv;
	struct probe_conf pc;
	struct probe_result ra;
	struct cache *ca, *cb;
	struct limiter *a, *b;
	struct waiter w;
	pthread_t th;
	char *t;

	fake_start(&sv, tmpdir, NULL, "delay rcpt 800\nrcpt * 250 2.1.5 Ok\n");
	limit_fixture_conf(&pc, ns.port, sv.port, "probe.fleet.test", NULL);
	ca = host_cache("a.mdb");
	cb = host_cache("b.mdb");
	a = limit_new(NULL, ca);
	b = limit_new(NULL, cb);
	ck_assert(a != NULL && b != NULL);
	trace_buf[0] = '\0';
	/* host A (a milter request) starts the probe; host B's list asks while it runs */
	memset(&w, 0, sizeof(w));
	w.l = b;
	w.pc = &pc;
	{
		struct req q;
		pthread_t qa;

		memset(&q, 0, sizeof(q));
		q.l = a;
		q.pc = &pc;
		q.budget = 3000;
		snprintf(q.addr, sizeof(q.addr), "two@sf.test");
		ck_assert_int_eq(pthread_create(&qa, NULL, req_main, &q), 0);
		usleep(200000);
		ck_assert_int_eq(pthread_create(&th, NULL, waiter_main, &w), 0);
		pthread_join(qa, NULL);
		pthread_join(th, NULL);
		ra = q.res;
	}
	ck_assert_msg(ra.verdict == VERDICT_VALID && ra.cached == 0, "host A: got %s/%s cached %d",
	    verdict_str(ra.verdict), reason_str(ra.reason), ra.cached);
	ck_assert_msg(w.res.verdict == VERDICT_VALID && w.res.cached == RESULT_CACHED_SHARED,
	    "host B's list: got %s/%s cached %d, want valid from the fleet",
	    verdict_str(w.res.verdict), reason_str(w.res.reason), w.res.cached);
	ck_assert_msg(strstr(trace_buf, "fleet: two@sf.test is being probed by another host") != NULL &&
	    strstr(trace_buf, "fleet: verdict of the other host's probe") != NULL,
	    "trace:\n%s", trace_buf);
	free_two(a, b);
	cache_close(ca);
	cache_close(cb);
	t = fake_stop(&sv);
	ck_assert_msg(connections(t) == 1, "%d connections, want 1 in the fleet", connections(t));
	free(t);
}
END_TEST

START_TEST(domain_control_without_sharing)
{
	int valid, max;

	sharing_off();
	max = joe_job(&valid);
	ck_assert_int_eq(valid, 8);
	ck_assert_msg(max == 4, "without sharing: %d connections at once, want 4 (2 per host)", max);
}
END_TEST

START_TEST(domain_limit_across_hosts)
{
	redisContext *c;
	int valid, max;

	max = joe_job(&valid);
	ck_assert_int_eq(valid, 8);
	ck_assert_msg(max == 2, "with sharing: %d connections at once, want 2 (DomainConcurrency)", max);
	/* every slot and lock was given back */
	c = redisfx_connect(&fx, 500);
	ck_assert(c != NULL);
	ck_assert_int_eq(redisfx_int(c, "EXISTS sav:v1:cc:d:joe.test"), 0);
	ck_assert_int_eq(redisfx_int(c, "EXISTS sav:v1:lock:a:forged0@joe.test"), 0);
	redisFree(c);
}
END_TEST

START_TEST(mx_limit_across_hosts)
{
	struct fake_smtpd sv;
	struct probe_conf pc;
	struct limit_conf lc;
	struct limiter *a, *b;
	struct req *r;
	char *t;
	int i;

	fake_start(&sv, tmpdir, NULL, "delay rcpt 300\nrcpt * 250 2.1.5 Ok\n");
	limit_fixture_conf(&pc, ns.port, sv.port, "probe.fleet.test", NULL);
	limit_conf_defaults(&lc);
	lc.per_mx = 1;
	two_hosts(&lc, &a, &b);
	r = run_two(a, b, &pc, 4, "user", "d", 1, LIMIT_FOREVER, 0);
	/* d0.test does not exist in the zone: d1..d3 go to the MX, d0 is a DNS failure */
	for (i = 1; i < 4; i++)
		ck_assert_msg(r[i].res.verdict == VERDICT_VALID, "%s: got %s/%s, want valid",
		    r[i].addr, verdict_str(r[i].res.verdict), reason_str(r[i].res.reason));
	free_two(a, b);
	t = fake_stop(&sv);
	ck_assert_int_eq(connections(t), 3);
	ck_assert_msg(max_concurrent(t) == 1, "%d connections at once at the MX, want 1 (MXConcurrency)",
	    max_concurrent(t));
	free(t);
	free(r);
}
END_TEST

/* the server's minute number, to tell a window edge in the middle of a case */
static long long
server_minute(void)
{
	redisContext *c = redisfx_connect(&fx, 500);
	redisReply *rp;
	long long m = -1;

	ck_assert(c != NULL);
	rp = redisCommand(c, "TIME");
	if (rp != NULL && rp->type == REDIS_REPLY_ARRAY && rp->elements == 2)
		m = atoll(rp->element[0]->str) / 60;
	freeReplyObject(rp);
	redisFree(c);
	return m;
}

START_TEST(mx_rate_across_hosts)
{
	struct fake_smtpd sv;
	struct probe_conf pc;
	struct limit_conf lc;
	struct limiter *a, *b;
	struct req *r;
	char *t;
	int i, limited = 0, conns;
	long long m0, m1;

	fake_start(&sv, tmpdir, NULL, "rcpt * 250 2.1.5 Ok\n");
	limit_fixture_conf(&pc, ns.port, sv.port, "probe.fleet.test", NULL);
	pc.timeout_ms = 1500;	/* a probe over the rate waits for its slot until then */
	limit_conf_defaults(&lc);
	lc.mx_rate = 2;
	two_hosts(&lc, &a, &b);
	m0 = server_minute();
	r = run_two(a, b, &pc, 4, "rated", "rate.test", 0, 0, 800);
	/* past the callers' budget: their probes still wait for a slot in the window */
	for (i = 0; i < 4; i++)
		limited += r[i].res.verdict == VERDICT_TEMPFAIL && r[i].res.reason == R_BUDGET;
	free_two(a, b);
	t = fake_stop(&sv);
	/* after the last probe ended: the waiting ones may cross the edge too */
	m1 = server_minute();
	conns = connections(t);
	free(t);
	free(r);
	if (m0 != m1) {
		/* a window began in the middle: up to twice the rate may pass (the documented edge) */
		ck_assert_msg(conns <= 4, "%d connections across a window edge", conns);
		return;
	}
	ck_assert_msg(conns == 2 && limited == 2, "%d connections and %d tempfail/budget, want 2 and 2 "
	    "(MXRate 2 across the fleet)", conns, limited);
}
END_TEST

/*
 * A probe's second connection (RetrySender after a refusal of <>)
 * counts in the fleet's MX rate too: with MXRate 3, probes from host a
 * then host b make four connections (the last one over, never waited
 * for), and a third probe finds the minute full.
 */
START_TEST(mx_rate_again_across_hosts)
{
	struct fake_smtpd sv;
	struct probe_conf pc;
	struct limit_conf lc;
	struct limiter *a, *b;
	struct req *r[3];
	char local[16];
	char *t;
	int i, conns;
	long long m0, m1;

	fake_start(&sv, tmpdir, NULL, "mail <> 550 5.7.1 No bounces accepted\nrcpt * 250 2.1.5 Ok\n");
	limit_fixture_conf(&pc, ns.port, sv.port, "probe.fleet.test", NULL);
	pc.timeout_ms = 1500;
	util_strlcpy(pc.retry_sender, "retry@probe.fleet.test", sizeof(pc.retry_sender));
	limit_conf_defaults(&lc);
	lc.mx_rate = 3;
	two_hosts(&lc, &a, &b);
	m0 = server_minute();
	for (i = 0; i < 3; i++) {
		snprintf(local, sizeof(local), "again%d-", i);
		r[i] = run_two(i == 1 ? b : a, i == 1 ? a : b, &pc, 1, local, "rate.test", 0, 0, 800);
	}
	free_two(a, b);
	t = fake_stop(&sv);
	m1 = server_minute();
	conns = connections(t);
	free(t);
	if (m0 == m1) {
		ck_assert_msg(r[0]->res.verdict == VERDICT_VALID && r[1]->res.verdict == VERDICT_VALID,
		    "the first two probes: %s and %s, want valid", verdict_str(r[0]->res.verdict),
		    verdict_str(r[1]->res.verdict));
		ck_assert_msg(r[2]->res.verdict == VERDICT_TEMPFAIL &&
		    (r[2]->res.reason == R_BUDGET || r[2]->res.reason == R_RATE_LIMITED),
		    "the third probe: %s (%s), want a tempfail for the rate", verdict_str(r[2]->res.verdict),
		    reason_str(r[2]->res.reason));
		ck_assert_msg(conns == 4, "%d connections, want 4", conns);
	}
	for (i = 0; i < 3; i++)
		free(r[i]);
}
END_TEST

START_TEST(dead_holder)
{
	struct fake_smtpd sv;
	struct probe_conf pc;
	struct probe_result res;
	struct limiter *a;
	redisContext *c;
	char buf[16], *t;
	long t0, ms;

	fake_start(&sv, tmpdir, NULL, "rcpt * 250 2.1.5 Ok\n");
	limit_fixture_conf(&pc, ns.port, sv.port, "probe.fleet.test", NULL);
	a = limit_new(NULL, NULL);
	ck_assert(a != NULL);
	/* another host took the lock and died: nobody will release it */
	c = redisfx_connect(&fx, 500);
	ck_assert(c != NULL);
	ck_assert_str_eq(redisfx_str(c, buf, sizeof(buf), "SET %s %s PX 1200",
	    "sav:v1:lock:a:victim@dead.test", "0123456789abcdef0123456789abcdef"), "OK");
	redisFree(c);

	t0 = redisfx_ms();
	limit_verdict(a, &pc, "victim@dead.test", 16, 300, &res);
	ms = redisfx_ms() - t0;
	ck_assert_msg(res.verdict == VERDICT_TEMPFAIL && res.reason == R_BUDGET,
	    "within the budget: got %s/%s, want tempfail/budget", verdict_str(res.verdict),
	    reason_str(res.reason));
	ck_assert_msg(ms >= 250 && ms < 1000, "answered after %ld ms, want the 300 ms budget", ms);

	/* once the first request's job gave up too (its leader's budget), not to join its flight */
	usleep(200000);
	limit_verdict_wait(a, &pc, "victim@dead.test", 16, LIMIT_FOREVER, NULL, &res);
	ms = redisfx_ms() - t0;
	ck_assert_msg(res.verdict == VERDICT_VALID, "after the PX: got %s/%s, want valid",
	    verdict_str(res.verdict), reason_str(res.reason));
	ck_assert_msg(ms >= 1100 && ms < 3000, "probed after %ld ms, want once the 1200 ms PX ran out",
	    ms);
	ck_assert_int_eq(limit_free(a, 5000), 0);
	t = fake_stop(&sv);
	ck_assert_int_eq(connections(t), 1);
	free(t);
}
END_TEST

START_TEST(garbage_lock)
{
	struct fake_smtpd sv;
	struct probe_conf pc;
	struct probe_result res;
	struct limiter *a;
	redisContext *c;
	char buf[16], *t;
	long t0;

	fake_start(&sv, tmpdir, NULL, "rcpt * 250 2.1.5 Ok\n");
	limit_fixture_conf(&pc, ns.port, sv.port, "probe.fleet.test", NULL);
	a = limit_new(NULL, NULL);
	ck_assert(a != NULL);
	c = redisfx_connect(&fx, 500);
	ck_assert(c != NULL);
	ck_assert_str_eq(redisfx_str(c, buf, sizeof(buf), "SET %s %s",
	    "sav:v1:lock:a:one@junk.test", "0123456789abcdef0123456789abcdef"), "OK");
	ck_assert_int_eq(redisfx_int(c, "RPUSH %s x", "sav:v1:lock:a:two@junk.test"), 1);
	redisFree(c);
	t0 = redisfx_ms();
	limit_verdict(a, &pc, "one@junk.test", 13, 2000, &res);
	ck_assert_msg(res.verdict == VERDICT_VALID, "lock without PX: got %s/%s, want valid",
	    verdict_str(res.verdict), reason_str(res.reason));
	limit_verdict(a, &pc, "two@junk.test", 13, 2000, &res);
	ck_assert_msg(res.verdict == VERDICT_VALID, "a list as the lock: got %s/%s, want valid",
	    verdict_str(res.verdict), reason_str(res.reason));
	ck_assert_msg(redisfx_ms() - t0 < 1000, "took %ld ms", redisfx_ms() - t0);
	ck_assert_int_eq(limit_free(a, 5000), 0);
	t = fake_stop(&sv);
	ck_assert_int_eq(connections(t), 2);
	free(t);
}
END_TEST

START_TEST(shared_cache_down)
{
	struct fake_smtpd sv;
	struct probe_conf pc;
	struct limit_conf lc;
	struct limiter *a, *b;
	struct req *r;
	char *t;
	long t0, ms;
	int i;

	fake_start(&sv, tmpdir, NULL, "rcpt * 250 2.1.5 Ok\n");
	limit_fixture_conf(&pc, ns.port, sv.port, "probe.fleet.test", NULL);
	limit_conf_defaults(&lc);
	lc.per_domain = 2;
	two_hosts(&lc, &a, &b);
	redisfx_stop(&fx);
	t0 = redisfx_ms();
	r = run_two(a, b, &pc, 4, "alone", "down.test", 0, 0, 2000);
	ms = redisfx_ms() - t0;
	for (i = 0; i < 4; i++)
		ck_assert_msg(r[i].res.verdict == VERDICT_VALID, "%s: got %s/%s, want valid",
		    r[i].addr, verdict_str(r[i].res.verdict), reason_str(r[i].res.reason));
	ck_assert_msg(ms < 1500, "took %ld ms with the shared cache down", ms);
	free_two(a, b);
	t = fake_stop(&sv);
	ck_assert_int_eq(connections(t), 4);
	free(t);
	free(r);
}
END_TEST

static int refused_lines;
static pthread_mutex_t lines_mu = PTHREAD_MUTEX_INITIALIZER;

static void
count_refused(int prio, const char *line, void *arg)
{
	(void)arg;
	pthread_mutex_lock(&lines_mu);
	if (prio == LOG_WARNING && strstr(line, "fleet: the shared cache refused") != NULL)
		refused_lines++;
	pthread_mutex_unlock(&lines_mu);
}

START_TEST(acl_refuses_fleet_commands)
{
	struct rconn_conf rc;
	redisContext *c;
	char buf[64], pass[128];
	FILE *fp;
	int valid, max;

	c = redisfx_connect(&fx, 500);
	ck_assert(c != NULL);
	ck_assert_str_eq(redisfx_str(c, buf, sizeof(buf), "ACL SETUSER narrow on >pw resetkeys "
	    "~sav:* -@all +getrange +set +del +unlink +scan +pttl +info +ping +select +auth"), "OK");
	redisFree(c);
	snprintf(pass, sizeof(pass), "%s/pass", tmpdir);
	ck_assert((fp = fopen(pass, "w")) != NULL);
	fputs("pw\n", fp);
	fclose(fp);
	chmod(pass, 0600);
	memset(&rc, 0, sizeof(rc));
	snprintf(rc.url, sizeof(rc.url), "unix:%s", fx.sock);
	snprintf(rc.user, sizeof(rc.user), "narrow");
	snprintf(rc.passfile, sizeof(rc.passfile), "%s", pass);
	rc.timeout_ms = 250;
	ck_assert_int_eq(rconn_init(&rc), 0);
	refused_lines = 0;
	log_set_hook(count_refused, NULL);
	max = joe_job(&valid);
	log_set_hook(NULL, NULL);
	ck_assert_int_eq(valid, 8);
	ck_assert_msg(max == 4, "%d connections at once, want 4 (each host's own 2)", max);
	ck_assert_msg(refused_lines == 1, "%d warnings about the refused commands, want 1", refused_lines);
	/* the verdicts themselves were still shared */
	c = redisfx_connect(&fx, 500);
	ck_assert(c != NULL);
	ck_assert_int_eq(redisfx_int(c, "EXISTS sav:v1:a:forged3@joe.test"), 1);
	redisFree(c);
}
END_TEST

Suite *
make_suite(void)
{
	Suite *s = suite_create("fcoord");
	TCase *tc = tcase_create("fleet");

	if (!redisfx_available()) {
		redisfx_skip("check_fcoord");
		return s;
	}
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, single_flight_across_hosts);
	tcase_add_test(tc, single_flight_waiting_form);
	tcase_add_test(tc, domain_control_without_sharing);
	tcase_add_test(tc, domain_limit_across_hosts);
	tcase_add_test(tc, mx_limit_across_hosts);
	tcase_add_test(tc, mx_rate_across_hosts);
	tcase_add_test(tc, mx_rate_again_across_hosts);
	tcase_add_test(tc, dead_holder);
	tcase_add_test(tc, garbage_lock);
	tcase_add_test(tc, shared_cache_down);
	tcase_add_test(tc, acl_refuses_fleet_commands);
	suite_add_tcase(s, tc);
	return s;
}

#include "check_main.h"
