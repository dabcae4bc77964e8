/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * check_limit_client - what ClientProbeRate charges (probe/limit_client.c
 * and the job completion path of probe/limit.c): a probe is charged to
 * its SMTP client when it starts and given back when it ends free.
 *
 * Cases:
 *  - the rule, as a table: which results give the charge back under
 *    ClientProbeRateCounts failures (the default) and all;
 *  - the table: a charge goes back only to the window it was taken in,
 *    not to the client's next window and not to another client that
 *    took over the table way, on a clock that never moves;
 *  - a relay with 300 new valid senders in one minute is never limited
 *    (with "all" it is, after ClientProbeRate: the old way);
 *  - a forger: ClientProbeRate senders that are invalid, at a domain
 *    that does not exist, at a catch-all, refused by policy or dead,
 *    then its next new sender is refused at once and never probed;
 *    valid, mailbox-full and greylisted senders are never limited, nor
 *    senders answered from a domain fact in the cache;
 *  - a mix: limited after exactly ClientProbeRate invalid senders among
 *    48 valid ones, and the log line says so;
 *  - a burst of concurrent new senders is capped by the charges of the
 *    probes in flight; valid ones are given back when they end, invalid
 *    ones are not;
 *  - a probe that outlives its caller's budget settles its charge when
 *    it ends in the background, into the window it was taken in, never
 *    into a later one.
 *
 * Real stack, as check_limit.c: ldns-testns (tests/testns.h) and
 * fake_smtpd (tests/fake_fixture.h) on loopback, per test (Check forks
 * each test).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "cache.h"
#include "limit.h"
#include "limit_client.h"
#include "log.h"
#include "probe.h"
#include "testns.h"
#include "fake_fixture.h"
#include "limit_fixture.h"


static struct testns ns;
static char tmpdir[64], cachepath[128];
static atomic_int nclient;
static pthread_mutex_t notice_mu = PTHREAD_MUTEX_INITIALIZER;
static char notice[512];	/* the last ClientProbeRate line */

static void
hook(int prio, const char *line, void *arg)
{
	(void)arg;
	if (prio == LOG_NOTICE && strstr(line, "(ClientProbeRate)") != NULL) {
		atomic_fetch_add(&nclient, 1);
		pthread_mutex_lock(&notice_mu);
		util_strlcpy(notice, line, sizeof(notice));
		pthread_mutex_unlock(&notice_mu);
	}
}

/* ---- fixture: each domain here has MX mx.lim.test -> 127.0.0.1 ---- */

static const char *const domains[] = {
	"relay", "forge", "ca", "policy", "full", "grey", "mix", "burst", "bg", "roll",
};

static void
setup(void)
{
	static char zone[16384];
	size_t n = 0, i;

	log_open("check_limit_client", LOG_MAIL, 0, 0);
	log_set_hook(hook, NULL);
	atomic_store(&nclient, 0);
	notice[0] = '\0';
	n += (size_t)snprintf(zone + n, sizeof(zone) - n, "%s",
	    TESTNS_HOST4("mx.lim.test", "127.0.0.1")
	    /* nothing listens on 127.0.0.2: a dead sender's server refuses connections */
	    TESTNS_ENTRY("dead.test", "MX", "NOERROR", "dead.test. IN MX 10 mx.dead.test.\n")
	    TESTNS_HOST4("mx.dead.test", "127.0.0.2")
	    TESTNS_ENTRY("nx.test", "MX", "NXDOMAIN", ""));
	for (i = 0; i < sizeof(domains) / sizeof(domains[0]); i++)
		n += (size_t)snprintf(zone + n, sizeof(zone) - n,
		    TESTNS_ENTRY("%s.test", "MX", "NOERROR", "%s.test. IN MX 10 mx.lim.test.\n"),
		    domains[i], domains[i]);
	ck_assert_msg(n < sizeof(zone), "zone too big");
	ck_assert_msg(testns_start(&ns, zone) == 0, "fake DNS: %s", ns.err);
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/sav-limit-client-XXXXXX");
	ck_assert_msg(mkdtemp(tmpdir) != NULL, "mkdtemp: %s", strerror(errno));
	snprintf(cachepath, sizeof(cachepath), "%s/cache.mdb", tmpdir);
}

/* the table's tests need only the log hook */
static void
setup_log(void)
{
	log_open("check_limit_client", LOG_MAIL, 0, 0);
	log_set_hook(hook, NULL);
	atomic_store(&nclient, 0);
}

static void
teardown(void)
{
	testns_stop(&ns);
	limit_fixture_rmdir(tmpdir);
}

static void
conf_for(struct probe_conf *pc, int port, struct cache *c)
{
	limit_fixture_conf(pc, ns.port, port, "probe.lim.test", c);
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

static _Atomic msec_t fake_ms;

static msec_t
fake_clock(void)
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

/* ask - one request from the client at ip */
static void
ask(struct limiter *l, const struct probe_conf *pc, const char *ip, const char *addr,
    msec_t budget, struct probe_result *res)
{
	struct sockaddr_storage ss;

	limit_verdict_client(l, pc, client_sa(ip, &ss), addr, strlen(addr), budget, res);
}

static int
limited(const struct probe_result *res)
{
	return res->verdict == VERDICT_TEMPFAIL && res->reason == R_RATE_LIMITED;
}

/* want(): any reason will do */
#define ANY_REASON	R_COUNT

static void
want(const char *who, const struct probe_result *res, enum verdict v, enum reason reason)
{
	ck_assert_msg(res->verdict == v && (reason == ANY_REASON || res->reason == reason),
	    "%s: got %s/%s, want %s/%s", who, verdict_str(res->verdict), reason_str(res->reason),
	    verdict_str(v), reason != ANY_REASON ? reason_str(reason) : "*");
}

/* ---- the rule ---- */

static const struct {
	enum limit_count counts;
	enum verdict v;
	enum reason reason;
	int	code, cached, free;
} rule[] = {
	{ LIMIT_COUNT_FAILURES, VERDICT_VALID, R_USER_OK, 250, 0, 1 },
	{ LIMIT_COUNT_FAILURES, VERDICT_VALID, R_MAILBOX_FULL, 552, 0, 1 },
	{ LIMIT_COUNT_FAILURES, VERDICT_TEMPFAIL, R_GREYLISTED, 450, 0, 1 },
	{ LIMIT_COUNT_FAILURES, VERDICT_TEMPFAIL, R_TEMP_REPLY, 451, 0, 1 },
	{ LIMIT_COUNT_FAILURES, VERDICT_TEMPFAIL, R_SERVICE_CLOSING, 421, 0, 1 },
	{ LIMIT_COUNT_FAILURES, VERDICT_INVALID, R_USER_UNKNOWN, 550, 0, 0 },
	{ LIMIT_COUNT_FAILURES, VERDICT_BAD_DOMAIN, R_NXDOMAIN, 0, 0, 0 },
	{ LIMIT_COUNT_FAILURES, VERDICT_BAD_DOMAIN, R_NULL_MX, 0, 0, 0 },
	{ LIMIT_COUNT_FAILURES, VERDICT_CATCH_ALL, R_CATCH_ALL, 250, 0, 0 },
	{ LIMIT_COUNT_FAILURES, VERDICT_UNKNOWN, R_POLICY_BLOCK, 550, 0, 0 },
	{ LIMIT_COUNT_FAILURES, VERDICT_UNKNOWN, R_STARTTLS_REQUIRED, 530, 0, 0 },
	{ LIMIT_COUNT_FAILURES, VERDICT_TEMPFAIL, R_TIMEOUT, 0, 0, 0 },
	{ LIMIT_COUNT_FAILURES, VERDICT_TEMPFAIL, R_CONNECT_FAILED, 0, 0, 0 },
	{ LIMIT_COUNT_FAILURES, VERDICT_TEMPFAIL, R_DNS_TIMEOUT, 0, 0, 0 },
	{ LIMIT_COUNT_FAILURES, VERDICT_TEMPFAIL, R_SERVFAIL, 0, 0, 0 },
	{ LIMIT_COUNT_FAILURES, VERDICT_TEMPFAIL, R_PROTOCOL_ERROR, 0, 0, 0 },
	/* nobody was asked: a domain fact from the cache, our own limits, our own failure */
	{ LIMIT_COUNT_FAILURES, VERDICT_UNKNOWN, R_POLICY_BLOCK, 550, 1, 1 },
	{ LIMIT_COUNT_FAILURES, VERDICT_BAD_DOMAIN, R_NXDOMAIN, 0, 1, 1 },
	{ LIMIT_COUNT_FAILURES, VERDICT_TEMPFAIL, R_RATE_LIMITED, 0, 0, 1 },
	{ LIMIT_COUNT_FAILURES, VERDICT_ERROR, R_INTERNAL, 0, 0, 1 },
	{ LIMIT_COUNT_ALL, VERDICT_VALID, R_USER_OK, 250, 0, 0 },
	{ LIMIT_COUNT_ALL, VERDICT_TEMPFAIL, R_GREYLISTED, 450, 0, 0 },
	{ LIMIT_COUNT_ALL, VERDICT_INVALID, R_USER_UNKNOWN, 550, 0, 0 },
	{ LIMIT_COUNT_ALL, VERDICT_UNKNOWN, R_POLICY_BLOCK, 550, 1, 1 },
	{ LIMIT_COUNT_ALL, VERDICT_TEMPFAIL, R_RATE_LIMITED, 0, 0, 1 },
	{ LIMIT_COUNT_ALL, VERDICT_ERROR, R_INTERNAL, 0, 0, 1 },
};

START_TEST(test_rule)
{
	struct probe_result r;
	int got;

	memset(&r, 0, sizeof(r));
	r.verdict = rule[_i].v;
	r.reason = rule[_i].reason;
	r.code = rule[_i].code;
	r.cached = rule[_i].cached;
	got = limit_client_free(rule[_i].counts, &r);
	ck_assert_msg(got == rule[_i].free, "%s: %s/%s code %d%s: got %s, want %s",
	    rule[_i].counts == LIMIT_COUNT_ALL ? "all" : "failures", verdict_str(r.verdict),
	    reason_str(r.reason), r.code, r.cached ? " (domain fact)" : "", got ? "free" : "charged",
	    rule[_i].free ? "free" : "charged");
}
END_TEST

/* ---- the table ---- */

static void
key_of(const char *ip, unsigned char key[LIMIT_CLIENT_KEY])
{
	struct sockaddr_storage ss;

	ck_assert_int_eq(limit_client_key(client_sa(ip, &ss), key), 0);
}

/* a window is one minute; a charge goes back only to the window it was taken in */
START_TEST(test_windows)
{
	static struct limit_clients t;
	unsigned char a[LIMIT_CLIENT_KEY];
	uint64_t w1, w2, w;
	int i;

	limit_client_init(&t);
	atomic_store(&fake_ms, 5000000);
	t.now = fake_clock;
	key_of("192.0.2.1", a);
	for (i = 0; i < 3; i++)
		ck_assert_msg(limit_client_take(&t, a, 3, LIMIT_COUNT_FAILURES, &w1) == 0, "take %d", i);
	ck_assert_msg(limit_client_take(&t, a, 3, LIMIT_COUNT_FAILURES, &w) == -1, "a 4th charge");
	limit_client_give(&t, a, w1, 0);
	ck_assert_msg(limit_client_take(&t, a, 3, LIMIT_COUNT_FAILURES, &w) == 0, "after a give-back");
	ck_assert_msg(w == w1, "the same window: got number %llu, want %llu",
	    (unsigned long long)w, (unsigned long long)w1);
	ck_assert_int_eq(limit_client_take(&t, a, 3, LIMIT_COUNT_FAILURES, &w), -1);
	ck_assert_int_eq(atomic_load(&nclient), 1);

	/* one charge in the next minute; the last minute's charge owes it nothing */
	atomic_fetch_add(&fake_ms, 60000);
	ck_assert_int_eq(limit_client_take(&t, a, 1, LIMIT_COUNT_FAILURES, &w2), 0);
	ck_assert_msg(w2 != w1, "a new minute kept window number %llu", (unsigned long long)w1);
	limit_client_give(&t, a, w1, 0);
	ck_assert_msg(limit_client_take(&t, a, 1, LIMIT_COUNT_FAILURES, &w) == -1,
	    "a charge of the last minute was given back to this one");
	limit_client_give(&t, a, w2, 0);
	ck_assert_int_eq(limit_client_take(&t, a, 1, LIMIT_COUNT_FAILURES, &w), 0);
}
END_TEST

/* FNV-1a from the table's seed, as limit_client.c picks a client's set */
static unsigned
set_of(const struct limit_clients *t, const unsigned char key[LIMIT_CLIENT_KEY])
{
	uint32_t h = t->seed;
	int i;

	for (i = 0; i < LIMIT_CLIENT_KEY; i++) {
		h ^= key[i];
		h *= 16777619u;
	}
	return h % LIMIT_CLIENT_SETS;
}

/*
 * A charge held by a client whose table way went to another client, on
 * a clock that never moves (every window began at the same time): the
 * give-back reaches neither the new owner of the way nor the client's
 * own later window.
 */
START_TEST(test_way_reuse)
{
	static struct limit_clients t;
	unsigned char keys[LIMIT_CLIENT_WAYS + 2][LIMIT_CLIENT_KEY], k[LIMIT_CLIENT_KEY];
	uint64_t wa, wa2, w;
	unsigned target = 0;
	int n = 0, i;
	char ip[32];

	limit_client_init(&t);
	t.seed = 0x5eed1234u;
	atomic_store(&fake_ms, 7000000);
	t.now = fake_clock;
	/* LIMIT_CLIENT_WAYS + 2 clients that share one set */
	for (i = 0; i < 65536 && n < LIMIT_CLIENT_WAYS + 2; i++) {
		snprintf(ip, sizeof(ip), "10.1.%d.%d", i / 256, i % 256);
		key_of(ip, k);
		if (n == 0)
			target = set_of(&t, k);
		if (set_of(&t, k) == target)
			memcpy(keys[n++], k, LIMIT_CLIENT_KEY);
	}
	ck_assert_msg(n == LIMIT_CLIENT_WAYS + 2, "found %d clients in one set", n);

	/* client 0 takes a charge; WAYS more clients of its set push it out */
	ck_assert_int_eq(limit_client_take(&t, keys[0], 1, LIMIT_COUNT_FAILURES, &wa), 0);
	for (i = 1; i <= LIMIT_CLIENT_WAYS; i++)
		ck_assert_msg(limit_client_take(&t, keys[i], 1, LIMIT_COUNT_FAILURES, &w) == 0,
		    "client %d: no charge", i);
	limit_client_give(&t, keys[0], wa, 0);
	for (i = 1; i <= LIMIT_CLIENT_WAYS; i++)
		ck_assert_msg(limit_client_take(&t, keys[i], 1, LIMIT_COUNT_FAILURES, &w) == -1,
		    "client %d got client 0's give-back", i);

	/* client 0 again: a new window, in a way taken from another client */
	ck_assert_int_eq(limit_client_take(&t, keys[0], 1, LIMIT_COUNT_FAILURES, &wa2), 0);
	ck_assert_msg(wa2 != wa, "client 0 came back with its old window number");
	limit_client_give(&t, keys[0], wa, 0);
	ck_assert_msg(limit_client_take(&t, keys[0], 1, LIMIT_COUNT_FAILURES, &w) == -1,
	    "the old window's give-back reached the new one");
	limit_client_give(&t, keys[0], wa2, 0);
	ck_assert_int_eq(limit_client_take(&t, keys[0], 1, LIMIT_COUNT_FAILURES, &w), 0);
}
END_TEST

/* ---- through the limiter ---- */

#define RELAY_SENDERS	300

/* a relay's 300 new senders in one minute, all valid: never limited (all: limited at 60) */
START_TEST(test_relay)
{
	struct fake_smtpd sv;
	struct probe_conf pc;
	struct limit_conf lc;
	struct limiter *l;
	struct probe_result res;
	char addr[64], *t;
	int i, valid = 0, nlimited = 0, all = _i == 1;

	fake_start(&sv, tmpdir, NULL, "rcpt *@relay.test 250 2.1.5 Ok\n");
	conf_for(&pc, sv.port, NULL);
	limit_conf_defaults(&lc);
	ck_assert_int_eq(lc.client_rate, 60);
	ck_assert_int_eq(lc.client_counts, LIMIT_COUNT_FAILURES);
	if (all)
		lc.client_counts = LIMIT_COUNT_ALL;
	lc.mx_rate = 1000;	/* one MX here: its own rate is not what this tests */
	l = limit_new(&lc, NULL);
	atomic_store(&fake_ms, 1000000);	/* the clock stands still: all in one minute */
	limit_set_clock(l, fake_clock);
	for (i = 0; i < RELAY_SENDERS; i++) {
		snprintf(addr, sizeof(addr), "sender%d@relay.test", i);
		ask(l, &pc, "203.0.113.25", addr, 5000, &res);
		if (res.verdict == VERDICT_VALID)
			valid++;
		else if (limited(&res))
			nlimited++;
		else
			ck_abort_msg("%s: got %s/%s, want valid or rate-limited", addr,
			    verdict_str(res.verdict), reason_str(res.reason));
	}
	limit_free(l, 5000);
	t = fake_stop(&sv);
	if (all) {
		ck_assert_msg(valid == 60 && nlimited == RELAY_SENDERS - 60, "all: got %d valid, %d "
		    "rate-limited, want 60 and %d", valid, nlimited, RELAY_SENDERS - 60);
		ck_assert_int_eq(atomic_load(&nclient), 1);
	} else {
		ck_assert_msg(valid == RELAY_SENDERS && nlimited == 0, "failures: got %d valid, %d "
		    "rate-limited, want %d and 0", valid, nlimited, RELAY_SENDERS);
		ck_assert_int_eq(atomic_load(&nclient), 0);
	}
	ck_assert_int_eq(connections(t), valid);
	free(t);
}
END_TEST

/* one server for every kind of sender; catch-all needs the random RCPT */
#define KINDS_SCRIPT \
	"rcpt *@relay.test 250 2.1.5 Ok\n" \
	"rcpt *@forge.test 550 5.1.1 User unknown\n" \
	"rcpt *@ca.test 250 2.1.5 Ok\n" \
	"rcpt *@policy.test 550 5.7.1 Client host blocked by local policy\n" \
	"rcpt *@full.test 552 5.2.2 Mailbox full\n" \
	"rcpt *@grey.test 450 4.7.1 Greylisted, try again later\n"

static const struct {
	const char *domain;
	int	catchall_check, with_cache, charged;
	enum verdict v;
	enum reason reason;
} kinds[] = {
	{ "forge.test", 0, 0, 1, VERDICT_INVALID, R_USER_UNKNOWN },
	{ "nx.test", 0, 0, 1, VERDICT_BAD_DOMAIN, R_NXDOMAIN },
	{ "ca.test", 1, 0, 1, VERDICT_CATCH_ALL, R_CATCH_ALL },
	{ "policy.test", 0, 0, 1, VERDICT_UNKNOWN, R_POLICY_BLOCK },
	{ "dead.test", 0, 0, 1, VERDICT_TEMPFAIL, R_CONNECT_FAILED },
	{ "relay.test", 0, 0, 0, VERDICT_VALID, R_USER_OK },
	{ "full.test", 0, 0, 0, VERDICT_VALID, R_MAILBOX_FULL },
	{ "grey.test", 0, 0, 0, VERDICT_TEMPFAIL, R_GREYLISTED },
	/* the first is probed and charged; the domain fact it leaves answers the rest */
	{ "policy.test", 0, 1, 0, VERDICT_UNKNOWN, R_POLICY_BLOCK },
};

#define KIND_RATE	3
#define KIND_FREE_N	12

/*
 * A forger's senders of each charged kind: KIND_RATE of them are
 * probed, then its next new sender (even a valid one) is refused at
 * once and never probed. Senders of a free kind: never limited.
 */
START_TEST(test_kinds)
{
	struct fake_smtpd sv;
	struct probe_conf pc;
	struct limit_conf lc;
	struct limiter *l;
	struct cache *c = kinds[_i].with_cache ? cache_new() : NULL;
	struct probe_result res;
	char addr[64], *t;
	int i, n = kinds[_i].charged ? KIND_RATE : KIND_FREE_N;

	fake_start(&sv, tmpdir, NULL, KINDS_SCRIPT);
	conf_for(&pc, sv.port, c);
	pc.catchall_check = kinds[_i].catchall_check;
	limit_conf_defaults(&lc);
	lc.client_rate = KIND_RATE;
	l = limit_new(&lc, c);
	atomic_store(&fake_ms, 2000000);
	limit_set_clock(l, fake_clock);
	for (i = 0; i < n; i++) {
		char who[96];

		snprintf(addr, sizeof(addr), "u%d@%s", i, kinds[_i].domain);
		snprintf(who, sizeof(who), "%s (%d of %d)", addr, i + 1, n);
		ask(l, &pc, "198.51.100.7", addr, 8000, &res);
		want(who, &res, kinds[_i].v, kinds[_i].reason);
	}
	ask(l, &pc, "198.51.100.7", "next@relay.test", 8000, &res);
	if (kinds[_i].charged)
		want("the next new sender after the charged ones", &res, VERDICT_TEMPFAIL, R_RATE_LIMITED);
	else
		want("the next new sender after the free ones", &res, VERDICT_VALID, R_USER_OK);
	ck_assert_int_eq(atomic_load(&nclient), kinds[_i].charged);
	limit_free(l, 5000);
	t = fake_stop(&sv);
	ck_assert_int_eq(rcpts(t, "next@relay.test"), !kinds[_i].charged);
	if (kinds[_i].with_cache)
		ck_assert_msg(rcpts(t, "u1@policy.test") == 0, "the domain fact did not answer u1");
	free(t);
	if (c != NULL)
		cache_close(c);
}
END_TEST

/* four invalid senders among 48 valid ones pass; the fifth is the last */
START_TEST(test_mix)
{
	struct fake_smtpd sv;
	struct probe_conf pc;
	struct limit_conf lc;
	struct limiter *l;
	struct probe_result res;
	char addr[64], *t;
	int i, bad = 0;

	fake_start(&sv, tmpdir, NULL, KINDS_SCRIPT);
	conf_for(&pc, sv.port, NULL);
	limit_conf_defaults(&lc);
	lc.client_rate = 5;
	lc.mx_rate = 1000;
	l = limit_new(&lc, NULL);
	atomic_store(&fake_ms, 3000000);
	limit_set_clock(l, fake_clock);
	for (i = 0; i < 48; i++) {
		if (i % 12 == 0) {
			snprintf(addr, sizeof(addr), "f%d@forge.test", bad++);
			ask(l, &pc, "2001:db8:25::1", addr, 5000, &res);
			want(addr, &res, VERDICT_INVALID, R_USER_UNKNOWN);
		}
		snprintf(addr, sizeof(addr), "v%d@relay.test", i);
		ask(l, &pc, "2001:db8:25::1", addr, 5000, &res);
		want(addr, &res, VERDICT_VALID, R_USER_OK);
	}
	ck_assert_int_eq(bad, 4);
	ask(l, &pc, "2001:db8:25::2", "f4@forge.test", 5000, &res);
	want("the 5th invalid sender, from the same /64", &res, VERDICT_INVALID, R_USER_UNKNOWN);
	ck_assert_int_eq(atomic_load(&nclient), 0);
	ask(l, &pc, "2001:db8:25::1", "late@relay.test", 5000, &res);
	want("a valid sender after 5 invalid ones", &res, VERDICT_TEMPFAIL, R_RATE_LIMITED);
	ck_assert_int_eq(atomic_load(&nclient), 1);
	pthread_mutex_lock(&notice_mu);
	ck_assert_msg(strstr(notice, "limit: client 2001:db8:25::/64: 5 of the 53 probes it started "
	    "within a minute found no valid sender or are still running (ClientProbeRate)") != NULL,
	    "log line: %s", notice);
	pthread_mutex_unlock(&notice_mu);
	limit_free(l, 5000);
	t = fake_stop(&sv);
	ck_assert_int_eq(rcpts(t, "late@relay.test"), 0);
	ck_assert_int_eq(connections(t), 53);
	free(t);
}
END_TEST

/* ---- concurrent requests ---- */

struct req {
	struct limiter *l;
	const struct probe_conf *pc;
	pthread_barrier_t *bar;
	char	addr[64];
	struct probe_result res;
};

static void *
req_main(void *p)
{
	struct req *r = p;

	pthread_barrier_wait(r->bar);
	ask(r->l, r->pc, "192.0.2.99", r->addr, 8000, &r->res);
	return NULL;
}

#define BURST		20
#define BURST_RATE	5

/*
 * burst - BURST new senders <prefix><i>@burst.test at once from one
 * client; returns how many were probed (got v), the rest must be
 * rate-limited
 */
static int
burst(struct limiter *l, const struct probe_conf *pc, const char *prefix, enum verdict v)
{
	struct req r[BURST];
	pthread_t th[BURST];
	pthread_barrier_t bar;
	int i, probed = 0;

	ck_assert_int_eq(pthread_barrier_init(&bar, NULL, BURST), 0);
	for (i = 0; i < BURST; i++) {
		r[i].l = l;
		r[i].pc = pc;
		r[i].bar = &bar;
		snprintf(r[i].addr, sizeof(r[i].addr), "%s%d@burst.test", prefix, i);
		ck_assert_int_eq(pthread_create(&th[i], NULL, req_main, &r[i]), 0);
	}
	for (i = 0; i < BURST; i++)
		pthread_join(th[i], NULL);
	pthread_barrier_destroy(&bar);
	for (i = 0; i < BURST; i++) {
		if (r[i].res.verdict == v)
			probed++;
		else if (!limited(&r[i].res))
			ck_abort_msg("%s: got %s/%s, want %s or rate-limited", r[i].addr,
			    verdict_str(r[i].res.verdict), reason_str(r[i].res.reason), verdict_str(v));
	}
	return probed;
}

/*
 * BURST new senders at once from one client, each probe held 2 s: only
 * BURST_RATE start (the charges of probes in flight count), the rest
 * are refused. When they have ended (their callers waited for them),
 * valid ones have been given back: a second burst gets as many again;
 * invalid ones have not: a second burst gets nothing.
 */
START_TEST(test_burst)
{
	struct fake_smtpd sv;
	struct probe_conf pc;
	struct limit_conf lc;
	struct limiter *l;
	char *t;
	int n, valid = _i == 0;
	enum verdict v = valid ? VERDICT_VALID : VERDICT_INVALID;

	fake_start(&sv, tmpdir, NULL, valid ? "delay rcpt 2000\nrcpt * 250 2.1.5 Ok\n" :
	    "delay rcpt 2000\nrcpt * 550 5.1.1 User unknown\n");
	conf_for(&pc, sv.port, NULL);
	limit_conf_defaults(&lc);
	lc.client_rate = BURST_RATE;
	lc.per_domain = BURST;	/* one domain: its own cap is not what this tests */
	l = limit_new(&lc, NULL);
	atomic_store(&fake_ms, 4000000);
	limit_set_clock(l, fake_clock);
	n = burst(l, &pc, "b", v);
	ck_assert_msg(n == BURST_RATE, "first burst: got %d probed, want %d (the rest rate-limited)",
	    n, BURST_RATE);
	n = burst(l, &pc, "c", v);
	ck_assert_msg(n == (valid ? BURST_RATE : 0), "second burst: got %d probed, want %d", n,
	    valid ? BURST_RATE : 0);
	limit_free(l, 5000);
	t = fake_stop(&sv);
	ck_assert_int_eq(connections(t), valid ? 2 * BURST_RATE : BURST_RATE);
	free(t);
}
END_TEST

/* ---- probes that outlive their caller ---- */

/*
 * ClientProbeRate 1. s0's probe outlasts its caller's budget: it still
 * holds the charge (s1 is refused), and when it ends in the background
 * the charge is settled: valid gives it back (s1 passes), invalid does
 * not. A follower for s0 from another client returns when the job has
 * ended, and the job settles before it finishes the flight.
 */
START_TEST(test_background)
{
	struct fake_smtpd sv;
	struct probe_conf pc;
	struct limit_conf lc;
	struct limiter *l;
	struct probe_result res;
	char *t;
	int valid = _i == 0;

	fake_start(&sv, tmpdir, NULL, valid ? "delay rcpt 1500\nrcpt * 250 2.1.5 Ok\n" :
	    "delay rcpt 1500\nrcpt * 550 5.1.1 User unknown\n");
	conf_for(&pc, sv.port, NULL);
	limit_conf_defaults(&lc);
	lc.client_rate = 1;
	l = limit_new(&lc, NULL);
	atomic_store(&fake_ms, 5000000);
	limit_set_clock(l, fake_clock);
	ask(l, &pc, "192.0.2.50", "s0@bg.test", 100, &res);
	want("s0, slower than its budget", &res, VERDICT_TEMPFAIL, R_BUDGET);
	ask(l, &pc, "192.0.2.50", "s1@bg.test", 8000, &res);
	want("s1 while s0 still runs", &res, VERDICT_TEMPFAIL, R_RATE_LIMITED);
	ask(l, &pc, "192.0.2.51", "s0@bg.test", 8000, &res);
	want("s0 joined from another client", &res, valid ? VERDICT_VALID : VERDICT_INVALID, ANY_REASON);
	ask(l, &pc, "192.0.2.50", "s1@bg.test", 8000, &res);
	if (valid)
		want("s1 once s0 ended valid", &res, VERDICT_VALID, R_USER_OK);
	else
		want("s1 once s0 ended invalid", &res, VERDICT_TEMPFAIL, R_RATE_LIMITED);
	limit_free(l, 5000);
	t = fake_stop(&sv);
	ck_assert_int_eq(rcpts(t, "s0@bg.test"), 1);
	ck_assert_int_eq(rcpts(t, "s1@bg.test"), valid);
	free(t);
}
END_TEST

/*
 * ClientProbeRate 1. s0 (slow, valid) is charged in one minute and ends
 * in the next, where s1 (fast, invalid) holds the client's one charge:
 * s0's give-back belongs to the minute that is over, so s2 is still
 * refused; in the minute after, s2 is probed.
 */
START_TEST(test_rollover)
{
	struct fake_smtpd slow, fast;
	struct probe_conf pslow, pfast;
	struct limit_conf lc;
	struct limiter *l;
	struct probe_result res;
	char *t;

	fake_start(&slow, tmpdir, NULL, "delay rcpt 1500\nrcpt * 250 2.1.5 Ok\n");
	fake_start(&fast, tmpdir, NULL, "rcpt * 550 5.1.1 User unknown\n");
	conf_for(&pslow, slow.port, NULL);
	conf_for(&pfast, fast.port, NULL);
	limit_conf_defaults(&lc);
	lc.client_rate = 1;
	l = limit_new(&lc, NULL);
	atomic_store(&fake_ms, 6000000);
	limit_set_clock(l, fake_clock);
	ask(l, &pslow, "192.0.2.60", "s0@roll.test", 100, &res);
	want("s0, slower than its budget", &res, VERDICT_TEMPFAIL, R_BUDGET);
	atomic_fetch_add(&fake_ms, 60000);
	ask(l, &pfast, "192.0.2.60", "s1@roll.test", 8000, &res);
	want("s1 in the next minute", &res, VERDICT_INVALID, R_USER_UNKNOWN);
	ask(l, &pslow, "192.0.2.61", "s0@roll.test", 8000, &res);
	want("s0 joined from another client", &res, VERDICT_VALID, R_USER_OK);
	ask(l, &pfast, "192.0.2.60", "s2@roll.test", 8000, &res);
	want("s2 after s0 ended valid: the last minute's give-back", &res, VERDICT_TEMPFAIL,
	    R_RATE_LIMITED);
	atomic_fetch_add(&fake_ms, 60000);
	ask(l, &pfast, "192.0.2.60", "s2@roll.test", 8000, &res);
	want("s2 a minute later", &res, VERDICT_INVALID, R_USER_UNKNOWN);
	limit_free(l, 5000);
	t = fake_stop(&slow);
	ck_assert_int_eq(rcpts(t, "s0@roll.test"), 1);
	free(t);
	t = fake_stop(&fast);
	ck_assert_int_eq(rcpts(t, "s2@roll.test"), 1);
	free(t);
}
END_TEST

Suite *
make_suite(void)
{
	Suite *s = suite_create("limit_client");
	TCase *tc;

	tc = tcase_create("table");
	tcase_add_checked_fixture(tc, setup_log, NULL);
	tcase_add_loop_test(tc, test_rule, 0, sizeof(rule) / sizeof(rule[0]));
	tcase_add_test(tc, test_windows);
	tcase_add_test(tc, test_way_reuse);
	suite_add_tcase(s, tc);

	tc = tcase_create("charges");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_relay, 0, 2);
	tcase_add_loop_test(tc, test_kinds, 0, sizeof(kinds) / sizeof(kinds[0]));
	tcase_add_test(tc, test_mix);
	tcase_add_loop_test(tc, test_burst, 0, 2);
	tcase_add_loop_test(tc, test_background, 0, 2);
	tcase_add_test(tc, test_rollover);
	suite_add_tcase(s, tc);
	return s;
}

#include "check_main.h"
