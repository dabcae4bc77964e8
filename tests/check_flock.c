/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * check_flock - the fleet-wide single flight's lock (probe/fleet/flock.c)
 * against a real redis-server on a unix socket (tests/redis_fixture.h).
 * Without redis-server the suite says so on stdout and runs one case
 * that only checks the tokens.
 *
 * Cases:
 *  - tokens: 32 lower-case hex digits, a thousand all different;
 *  - take: the first wins, a second token is told the lock is held,
 *    the lock carries the PX asked for;
 *  - release: only with the token that took it; a second release, or a
 *    release with another token, leaves the key alone;
 *  - expiry: a lock whose holder went quiet expires after its PX and
 *    another token takes it; the first holder's late release then does
 *    not delete the new holder's lock;
 *  - a race: 16 threads, each with its own connection, take at once:
 *    exactly one wins;
 *  - garbage: a lock key holding another type is "held" for take and
 *    an error reply for release (never deleted, never "won");
 *  - an ACL user without EVAL: take works, release is refused (-2);
 *  - flock_check: a lock of ours is one, and each kind of garbage
 *    (another type, a value that is no token, no PX, a PX longer than
 *    any ProbeTimeout) is told apart from it, and a gone key from both;
 *  - faults: a paused server is FLOCK_DOWN within the context's
 *    time-out; a dead server is FLOCK_DOWN at once.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "flock.h"
#include "redis_fixture.h"

#define KEY	"sav:v1:lock:a:alice@example.test"

static struct redisfx fx;

static void
setup(void)
{
	signal(SIGPIPE, SIG_IGN);	/* hiredis write()s to a server that may be dead */
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

START_TEST(token_form)
{
	static char seen[1000][FLOCK_TOKEN_LEN + 1];
	int i, j;

	for (i = 0; i < 1000; i++) {
		ck_assert_int_eq(flock_token(seen[i]), 0);
		ck_assert_uint_eq(strlen(seen[i]), FLOCK_TOKEN_LEN);
		ck_assert_uint_eq(strspn(seen[i], "0123456789abcdef"), FLOCK_TOKEN_LEN);
		for (j = 0; j < i; j++)
			ck_assert_msg(strcmp(seen[i], seen[j]) != 0, "token %d repeats token %d: %s",
			    i, j, seen[i]);
	}
}
END_TEST

START_TEST(take_and_hold)
{
	redisContext *c = conn(500);
	char a[FLOCK_TOKEN_LEN + 1], b[FLOCK_TOKEN_LEN + 1], buf[64];
	long long pttl;

	flock_token(a);
	flock_token(b);
	ck_assert_int_eq(flock_take(c, KEY, a, 5000), FLOCK_WON);
	ck_assert_int_eq(flock_take(c, KEY, b, 5000), FLOCK_HELD);
	ck_assert_int_eq(flock_take(c, KEY, a, 5000), FLOCK_HELD);	/* not re-entrant */
	ck_assert_str_eq(redisfx_str(c, buf, sizeof(buf), "GET %s", KEY), a);
	pttl = redisfx_int(c, "PTTL %s", KEY);
	ck_assert_msg(pttl > 4000 && pttl <= 5000, "PTTL %lld, want 4000..5000", pttl);
	ck_assert_int_eq(flock_holder(c, KEY), 1);
	redisFree(c);
}
END_TEST

START_TEST(release_needs_token)
{
	redisContext *c = conn(500);
	char a[FLOCK_TOKEN_LEN + 1], b[FLOCK_TOKEN_LEN + 1], buf[64];

	flock_token(a);
	flock_token(b);
	ck_assert_int_eq(flock_take(c, KEY, a, 5000), FLOCK_WON);
	ck_assert_int_eq(flock_release(c, KEY, b), 0);
	ck_assert_str_eq(redisfx_str(c, buf, sizeof(buf), "GET %s", KEY), a);
	ck_assert_int_eq(flock_release(c, KEY, a), 1);
	ck_assert_int_eq(flock_holder(c, KEY), 0);
	ck_assert_int_eq(flock_release(c, KEY, a), 0);
	ck_assert_int_eq(flock_take(c, KEY, b, 5000), FLOCK_WON);
	redisFree(c);
}
END_TEST

START_TEST(expiry_then_late_release)
{
	redisContext *c = conn(500);
	char a[FLOCK_TOKEN_LEN + 1], b[FLOCK_TOKEN_LEN + 1], buf[64];
	long t0 = redisfx_ms();

	flock_token(a);
	flock_token(b);
	ck_assert_int_eq(flock_take(c, KEY, a, 300), FLOCK_WON);
	/* the holder "died": nobody releases; another token polls until it may take it */
	while (flock_take(c, KEY, b, 5000) == FLOCK_HELD) {
		ck_assert_msg(redisfx_ms() - t0 < 2000, "the lock never expired");
		usleep(20000);
	}
	ck_assert_msg(redisfx_ms() - t0 >= 280, "taken after %ld ms, before its PX of 300 ms",
	    redisfx_ms() - t0);
	/* the first holder comes back late: its release must not delete b's lock */
	ck_assert_int_eq(flock_release(c, KEY, a), 0);
	ck_assert_str_eq(redisfx_str(c, buf, sizeof(buf), "GET %s", KEY), b);
	redisFree(c);
}
END_TEST

static int race_won;
static pthread_mutex_t race_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_barrier_t race_bar;

static void *
racer(void *arg)
{
	redisContext *c = redisfx_connect(&fx, 2000);
	char t[FLOCK_TOKEN_LEN + 1];
	enum flock_status st = FLOCK_DOWN;

	(void)arg;
	flock_token(t);
	pthread_barrier_wait(&race_bar);
	if (c != NULL)
		st = flock_take(c, KEY, t, 10000);
	pthread_mutex_lock(&race_mu);
	if (st == FLOCK_WON)
		race_won++;
	else if (st != FLOCK_HELD)
		race_won += 100;	/* a failure shows in the count */
	pthread_mutex_unlock(&race_mu);
	if (c != NULL)
		redisFree(c);
	return NULL;
}

START_TEST(race_one_winner)
{
	pthread_t th[16];
	int i;

	race_won = 0;
	pthread_barrier_init(&race_bar, NULL, 16);
	for (i = 0; i < 16; i++)
		ck_assert_int_eq(pthread_create(&th[i], NULL, racer, NULL), 0);
	for (i = 0; i < 16; i++)
		pthread_join(th[i], NULL);
	pthread_barrier_destroy(&race_bar);
	ck_assert_msg(race_won == 1, "%d winners (100 per error), want 1", race_won);
}
END_TEST

START_TEST(garbage_key)
{
	redisContext *c = conn(500);
	char a[FLOCK_TOKEN_LEN + 1];

	flock_token(a);
	ck_assert_int_eq(redisfx_int(c, "RPUSH %s %s", KEY, a), 1);
	ck_assert_int_eq(flock_take(c, KEY, a, 5000), FLOCK_HELD);
	ck_assert_int_eq(flock_release(c, KEY, a), -2);	/* WRONGTYPE: refused, not "no answer" */
	ck_assert_int_eq(redisfx_int(c, "LLEN %s", KEY), 1);
	redisFree(c);
}
END_TEST

START_TEST(acl_without_eval)
{
	redisContext *c = conn(500);
	char a[FLOCK_TOKEN_LEN + 1], buf[64];

	flock_token(a);
	ck_assert_str_eq(redisfx_str(c, buf, sizeof(buf),
	    "ACL SETUSER narrow on >pw resetkeys ~sav:* -@all +set +get +auth"), "OK");
	ck_assert_str_eq(redisfx_str(c, buf, sizeof(buf), "AUTH narrow pw"), "OK");
	ck_assert_int_eq(flock_take(c, KEY, a, 5000), FLOCK_WON);
	ck_assert_int_eq(flock_release(c, KEY, a), -2);
	ck_assert_int_eq(flock_take(c, "other:key", a, 5000), FLOCK_REFUSED);
	ck_assert_str_eq(redisfx_str(c, buf, sizeof(buf), "GET %s", KEY), a);
	redisFree(c);
}
END_TEST

START_TEST(check_tells_garbage)
{
	redisContext *c = conn(500);
	char a[FLOCK_TOKEN_LEN + 1], buf[64];

	flock_token(a);
	ck_assert_int_eq(flock_check(c, KEY, FLOCK_PX_MAX), 0);
	ck_assert_int_eq(flock_take(c, KEY, a, 5000), FLOCK_WON);
	ck_assert_int_eq(flock_check(c, KEY, FLOCK_PX_MAX), 1);
	ck_assert_int_eq(flock_check(c, KEY, 1000), -1);	/* a PX longer than allowed */
	redisfx_str(c, buf, sizeof(buf), "SET %s %s", KEY, a);	/* no PX */
	ck_assert_int_eq(flock_check(c, KEY, FLOCK_PX_MAX), -1);
	redisfx_str(c, buf, sizeof(buf), "SET %s %s PX 5000", KEY, "not-a-token");
	ck_assert_int_eq(flock_check(c, KEY, FLOCK_PX_MAX), -1);
	redisfx_str(c, buf, sizeof(buf), "SET %s %s PX 5000", KEY, "0123456789ABCDEF0123456789abcdef");
	ck_assert_int_eq(flock_check(c, KEY, FLOCK_PX_MAX), -1);
	redisfx_int(c, "DEL %s", KEY);
	redisfx_int(c, "RPUSH %s x", KEY);
	ck_assert_int_eq(flock_check(c, KEY, FLOCK_PX_MAX), -1);
	ck_assert_int_eq(flock_check(NULL, KEY, FLOCK_PX_MAX), -3);
	redisFree(c);
}
END_TEST

START_TEST(paused_server_is_down)
{
	redisContext *c = conn(150);
	char a[FLOCK_TOKEN_LEN + 1];
	long t0, ms;

	flock_token(a);
	redisfx_pause(&fx);
	t0 = redisfx_ms();
	ck_assert_int_eq(flock_take(c, KEY, a, 5000), FLOCK_DOWN);
	ms = redisfx_ms() - t0;
	redisfx_resume(&fx);
	ck_assert_msg(ms >= 100 && ms < 1000, "FLOCK_DOWN after %ld ms, want about 150", ms);
	redisFree(c);
}
END_TEST

START_TEST(dead_server_is_down)
{
	redisContext *c = conn(500);
	char a[FLOCK_TOKEN_LEN + 1];
	long t0;

	flock_token(a);
	redisfx_stop(&fx);
	t0 = redisfx_ms();
	ck_assert_int_eq(flock_take(c, KEY, a, 5000), FLOCK_DOWN);
	ck_assert_int_eq(flock_release(c, KEY, a), -1);
	ck_assert_msg(redisfx_ms() - t0 < 300, "took %ld ms", redisfx_ms() - t0);
	ck_assert_int_eq(flock_take(NULL, KEY, a, 5000), FLOCK_DOWN);
	redisFree(c);
}
END_TEST

Suite *
make_suite(void)
{
	Suite *s = suite_create("flock");
	TCase *tc = tcase_create("token");

	tcase_add_test(tc, token_form);
	suite_add_tcase(s, tc);
	if (!redisfx_available()) {
		redisfx_skip("check_flock");
		return s;
	}
	tc = tcase_create("redis");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, take_and_hold);
	tcase_add_test(tc, release_needs_token);
	tcase_add_test(tc, expiry_then_late_release);
	tcase_add_test(tc, race_one_winner);
	tcase_add_test(tc, garbage_key);
	tcase_add_test(tc, acl_without_eval);
	tcase_add_test(tc, check_tells_garbage);
	tcase_add_test(tc, paused_server_is_down);
	tcase_add_test(tc, dead_server_is_down);
	suite_add_tcase(s, tc);
	return s;
}

#include "check_main.h"
