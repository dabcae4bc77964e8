/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * check_flimit - fleet-wide slots and rates (probe/fleet/flimit.c)
 * against a real redis-server on a unix socket (tests/redis_fixture.h).
 * Without redis-server the suite says so on stdout and checks only
 * that a missing context is an error.
 *
 * Cases:
 *  - slots: limit 2 gives two, refuses the third, gives it once one
 *    is back; a member already in takes again when full (renewal);
 *  - a dead holder's slot expires after its ttl (the server's clock)
 *    and the set itself is gone once its last member expired;
 *  - the set's TTL covers its newest member;
 *  - a race: 12 threads for 3 slots: exactly 3 get one;
 *  - rate: limit 3 counts three, refuses the fourth with the time to
 *    the next minute, does not count the refusal, and the window key
 *    expires;
 *  - garbage: a set key of another type and a window holding text are
 *    error replies (-2), never a slot; members that would never expire
 *    (a score past any ProbeTimeout) are dropped, not counted;
 *  - faults: a paused server is an error within the time-out.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "flimit.h"
#include "redis_fixture.h"

#define DKEY	"sav:v1:cc:d:victim.test"
#define RBASE	"sav:v1:rate:192.0.2.7"

static struct redisfx fx;

static void
setup(void)
{
	signal(SIGPIPE, SIG_IGN);
	ck_assert_msg(redisfx_start(&fx) == 0, "redis-server: %s", fx.err);
}

static void
teardown(void)
{
	redisfx_stop(&fx);
}

static redisContext *
conn(long ms)
{
	redisContext *c = redisfx_connect(&fx, ms);

	ck_assert_msg(c != NULL, "cannot connect to %s", fx.sock);
	return c;
}

START_TEST(no_context)
{
	ck_assert_int_eq(flimit_take(NULL, DKEY, "a", 2, 1000), -1);
	ck_assert_int_eq(flimit_give(NULL, DKEY, "a"), -1);
	ck_assert_int_eq(flimit_rate(NULL, RBASE, 3), -1);
	ck_assert_int_eq(flimit_count(NULL, DKEY), -1);
}
END_TEST

START_TEST(slots_up_to_limit)
{
	redisContext *c = conn(500);

	ck_assert_int_eq(flimit_take(c, DKEY, "a", 2, 10000), 1);
	ck_assert_int_eq(flimit_take(c, DKEY, "b", 2, 10000), 1);
	ck_assert_int_eq(flimit_take(c, DKEY, "c", 2, 10000), 0);
	ck_assert_int_eq(flimit_count(c, DKEY), 2);
	ck_assert_int_eq(flimit_take(c, DKEY, "a", 2, 10000), 1);	/* renewal of a held slot */
	ck_assert_int_eq(flimit_count(c, DKEY), 2);
	ck_assert_int_eq(flimit_give(c, DKEY, "a"), 0);
	ck_assert_int_eq(flimit_take(c, DKEY, "c", 2, 10000), 1);
	ck_assert_int_eq(flimit_take(c, DKEY, "a", 2, 10000), 0);
	ck_assert_int_eq(flimit_give(c, DKEY, "nobody"), 0);
	ck_assert_int_eq(flimit_count(c, DKEY), 2);
	redisFree(c);
}
END_TEST

START_TEST(dead_holder_expires)
{
	redisContext *c = conn(500);
	long t0 = redisfx_ms();

	ck_assert_int_eq(flimit_take(c, DKEY, "a", 2, 300), 1);
	ck_assert_int_eq(flimit_take(c, DKEY, "b", 2, 300), 1);
	/* the holders died; nobody gives the slots back */
	while (flimit_take(c, DKEY, "c", 2, 5000) == 0) {
		ck_assert_msg(redisfx_ms() - t0 < 2000, "the dead holders' slots never expired");
		usleep(20000);
	}
	ck_assert_msg(redisfx_ms() - t0 >= 280, "a slot came free after %ld ms, before its ttl of 300",
	    redisfx_ms() - t0);
	ck_assert_int_eq(flimit_count(c, DKEY), 1);
	ck_assert_int_eq(flimit_give(c, DKEY, "c"), 0);
	/* a set whose last member expired is gone by itself */
	ck_assert_int_eq(flimit_take(c, DKEY, "d", 2, 200), 1);
	usleep(400000);
	ck_assert_int_eq(redisfx_int(c, "EXISTS %s", DKEY), 0);
	redisFree(c);
}
END_TEST

START_TEST(set_ttl_covers_newest)
{
	redisContext *c = conn(500);
	long long pttl;

	ck_assert_int_eq(flimit_take(c, DKEY, "a", 5, 2000), 1);
	ck_assert_int_eq(flimit_take(c, DKEY, "b", 5, 8000), 1);
	pttl = redisfx_int(c, "PTTL %s", DKEY);
	ck_assert_msg(pttl > 7000 && pttl <= 8000, "PTTL %lld, want 7000..8000", pttl);
	/* a shorter newcomer does not cut the set's life below the longer member's */
	ck_assert_int_eq(flimit_take(c, DKEY, "c", 5, 1000), 1);
	pttl = redisfx_int(c, "PTTL %s", DKEY);
	ck_assert_msg(pttl > 7000 && pttl <= 8000, "PTTL %lld after a short member, want 7000..8000",
	    pttl);
	redisFree(c);
}
END_TEST

static int race_got;
static pthread_mutex_t race_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_barrier_t race_bar;

static void *
racer(void *arg)
{
	redisContext *c = redisfx_connect(&fx, 2000);
	char member[32];
	int rc = -1;

	snprintf(member, sizeof(member), "m%ld", (long)(intptr_t)arg);
	pthread_barrier_wait(&race_bar);
	if (c != NULL)
		rc = flimit_take(c, DKEY, member, 3, 10000);
	pthread_mutex_lock(&race_mu);
	race_got += rc == 1 ? 1 : rc == 0 ? 0 : 100;
	pthread_mutex_unlock(&race_mu);
	if (c != NULL)
		redisFree(c);
	return NULL;
}

START_TEST(race_three_slots)
{
	pthread_t th[12];
	long i;

	race_got = 0;
	pthread_barrier_init(&race_bar, NULL, 12);
	for (i = 0; i < 12; i++)
		ck_assert_int_eq(pthread_create(&th[i], NULL, racer, (void *)(intptr_t)i), 0);
	for (i = 0; i < 12; i++)
		pthread_join(th[i], NULL);
	pthread_barrier_destroy(&race_bar);
	ck_assert_msg(race_got == 3, "%d slots given (100 per error), want 3", race_got);
}
END_TEST

START_TEST(rate_window)
{
	redisContext *c = conn(500);
	char keys[64], buf[64];
	redisReply *r;
	long over;
	long long pttl;

	ck_assert_int_eq(flimit_rate(c, RBASE, 3), 0);
	ck_assert_int_eq(flimit_rate(c, RBASE, 3), 0);
	ck_assert_int_eq(flimit_rate(c, RBASE, 3), 0);
	over = flimit_rate(c, RBASE, 3);
	if (over == 0) {
		/* a minute began between two calls: the new window counts afresh */
		ck_assert_int_eq(flimit_rate(c, RBASE, 3), 0);
		ck_assert_int_eq(flimit_rate(c, RBASE, 3), 0);
		over = flimit_rate(c, RBASE, 3);
	}
	ck_assert_msg(over > 0 && over <= 60000, "over the limit: %ld, want 1..60000 ms", over);
	ck_assert_msg(flimit_rate(c, RBASE, 3) > 0, "a refusal was counted as a connection");
	r = redisCommand(c, "KEYS %s:*", RBASE);
	ck_assert(r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements >= 1);
	snprintf(keys, sizeof(keys), "%s", r->element[r->elements - 1]->str);
	freeReplyObject(r);
	ck_assert_msg(strncmp(keys, RBASE ":", strlen(RBASE) + 1) == 0, "window key %s", keys);
	ck_assert_str_eq(redisfx_str(c, buf, sizeof(buf), "GET %s", keys), "3");
	pttl = redisfx_int(c, "PTTL %s", keys);
	ck_assert_msg(pttl > 0 && pttl <= 120000, "window PTTL %lld, want 1..120000", pttl);
	/* a higher limit from another host's configuration counts on in the same window */
	ck_assert_int_eq(flimit_rate(c, RBASE, 4), 0);
	redisFree(c);
}
END_TEST

START_TEST(garbage_values)
{
	redisContext *c = conn(500);
	redisReply *r;
	long long m;

	ck_assert_int_eq(redisfx_int(c, "RPUSH %s x", DKEY), 1);
	/* error replies (WRONGTYPE): -2, refused, not -1, no answer */
	ck_assert_int_eq(flimit_take(c, DKEY, "a", 2, 1000), -2);
	ck_assert_int_eq(flimit_give(c, DKEY, "a"), -2);
	/* a window holding text: the server's current minute, then garbage under it */
	r = redisCommand(c, "TIME");
	ck_assert(r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements == 2);
	m = atoll(r->element[0]->str) / 60;
	freeReplyObject(r);
	ck_assert_int_eq(redisfx_int(c, "DEL %s:%lld", RBASE, m), 0);
	r = redisCommand(c, "SET %s:%lld %s", RBASE, m, "not-a-number");
	freeReplyObject(r);
	r = redisCommand(c, "SET %s:%lld %s", RBASE, m + 1, "not-a-number");
	freeReplyObject(r);
	ck_assert_int_eq(flimit_rate(c, RBASE, 3), -2);
	redisFree(c);
}
END_TEST

START_TEST(never_ending_members)
{
	redisContext *c = conn(500);

	ck_assert_int_eq(redisfx_int(c, "ZADD %s 99999999999999 x 99999999999998 y", DKEY), 2);
	ck_assert_int_eq(flimit_take(c, DKEY, "a", 2, 1000), 1);
	ck_assert_int_eq(flimit_take(c, DKEY, "b", 2, 1000), 1);
	ck_assert_int_eq(redisfx_int(c, "ZCARD %s", DKEY), 2);
	redisFree(c);
}
END_TEST

START_TEST(paused_server)
{
	redisContext *c = conn(150);
	long t0, ms;

	redisfx_pause(&fx);
	t0 = redisfx_ms();
	ck_assert_int_eq(flimit_take(c, DKEY, "a", 2, 1000), -1);	/* no answer */
	ms = redisfx_ms() - t0;
	redisfx_resume(&fx);
	ck_assert_msg(ms >= 100 && ms < 1000, "error after %ld ms, want about 150", ms);
	redisFree(c);
}
END_TEST

Suite *
make_suite(void)
{
	Suite *s = suite_create("flimit");
	TCase *tc = tcase_create("nocontext");

	tcase_add_test(tc, no_context);
	suite_add_tcase(s, tc);
	if (!redisfx_available()) {
		redisfx_skip("check_flimit");
		return s;
	}
	tc = tcase_create("redis");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, slots_up_to_limit);
	tcase_add_test(tc, dead_holder_expires);
	tcase_add_test(tc, set_ttl_covers_newest);
	tcase_add_test(tc, race_three_slots);
	tcase_add_test(tc, rate_window);
	tcase_add_test(tc, garbage_values);
	tcase_add_test(tc, never_ending_members);
	tcase_add_test(tc, paused_server);
	suite_add_tcase(s, tc);
	return s;
}

#include "check_main.h"
