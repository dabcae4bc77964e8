/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * check_rcache - the shared cache's second level (probe/fleet/rcache.c)
 * and connections (probe/fleet/rconn.c) against a real redis-server,
 * started by the suite on a unix socket in a temporary directory (no
 * network): a verdict written by one "host" is read by another and
 * stored locally; a local entry whose shared copy is gone is deleted
 * and becomes a miss; another verdict in Redis replaces the local one;
 * garbage is a miss; the refresh guard is won once; with the server
 * paused a look-up costs at most the time-out and only the first one,
 * with one warning, and one notice when it resumes; a refused AUTH is
 * one warning. Without redis-server installed the suite says so and
 * passes.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <check.h>

#include "cache.h"
#include "learn.h"
#include "log.h"
#include "rcache.h"
#include "rconn.h"
#include "rrec.h"

static char dir[64], sock[128], pass[128], cpath[128];
static pid_t redis_pid;
static int have_redis;
static atomic_int nwarn, nnotice;
static char lastwarn[1024];

static void
hook(int prio, const char *line, void *arg)
{
	(void)arg;
	if (prio <= LOG_WARNING) {
		atomic_fetch_add(&nwarn, 1);
		snprintf(lastwarn, sizeof(lastwarn), "%s", line);
	} else if (prio == LOG_NOTICE && strstr(line, "available again") != NULL)
		atomic_fetch_add(&nnotice, 1);
}

/* suite fixture (in the parent, once): redis-server on a unix socket with a password */
static void
redis_up(void)
{
	char conf[160], *argv[3];
	FILE *fp;
	int i;

	if (system("command -v redis-server >/dev/null 2>&1") != 0)
		return;
	snprintf(dir, sizeof(dir), "/tmp/sav-rcache-XXXXXX");
	if (mkdtemp(dir) == NULL)
		return;
	snprintf(sock, sizeof(sock), "%s/redis.sock", dir);
	snprintf(pass, sizeof(pass), "%s/pass", dir);
	snprintf(conf, sizeof(conf), "%s/redis.conf", dir);
	if ((fp = fopen(conf, "w")) == NULL)
		return;
	fprintf(fp, "port 0\nunixsocket %s\nunixsocketperm 700\ndir %s\nsave \"\"\nappendonly no\n"
	    "user default off\nuser sav on >pw-check resetkeys ~sav:* -@all +getrange +set +del +unlink "
	    "+scan +pttl +info +ping +select +hset\n", sock, dir);
	fclose(fp);
	if ((fp = fopen(pass, "w")) == NULL)
		return;
	fprintf(fp, "pw-check\n");
	fclose(fp);
	chmod(pass, 0600);
	if ((redis_pid = fork()) == 0) {
		int null = open("/dev/null", 1);

		dup2(null, 1);
		dup2(null, 2);
		argv[0] = "redis-server";
		argv[1] = conf;
		argv[2] = NULL;
		execvp(argv[0], argv);
		_exit(127);
	}
	for (i = 0; i < 100; i++) {
		struct stat st;

		if (stat(sock, &st) == 0) {
			have_redis = 1;
			return;
		}
		usleep(20000);
	}
}

static void
redis_down(void)
{
	char cmd[128];

	if (redis_pid > 0) {
		kill(redis_pid, SIGCONT);
		kill(redis_pid, SIGKILL);
		waitpid(redis_pid, NULL, 0);
	}
	if (dir[0] != '\0') {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", dir);
	}
}

/* per test (in its child): sharing on, a local cache in its own file */
static struct cache *
start(const char *passfile, const char *name)
{
	struct rconn_conf rc;
	struct cache_ttl ttl;
	char err[256];
	struct cache *c;

	log_open("check_rcache", LOG_MAIL, 0, 0);
	log_set_hook(hook, NULL);
	memset(&rc, 0, sizeof(rc));
	snprintf(rc.url, sizeof(rc.url), "unix:%s", sock);
	snprintf(rc.user, sizeof(rc.user), "sav");
	snprintf(rc.passfile, sizeof(rc.passfile), "%s", passfile);
	snprintf(rc.prefix, sizeof(rc.prefix), "sav:");
	rc.timeout_ms = 200;
	ck_assert_int_eq(rconn_init(&rc), 0);
	cache_ttl_defaults(&ttl);
	rcache_init(&ttl);
	snprintf(cpath, sizeof(cpath), "%s/%s.mdb", dir, name);
	c = cache_open(cpath, &ttl, 0, CACHE_NOSYNC, err, sizeof(err));
	ck_assert_msg(c != NULL, "cache_open: %s", err);
	return c;
}

static void
mkresult(struct probe_result *r, const char *addr, enum verdict v, enum reason why, int code)
{
	memset(r, 0, sizeof(*r));
	snprintf(r->address, sizeof(r->address), "%s", addr);
	r->verdict = v;
	r->reason = why;
	r->code = code;
	snprintf(r->mx, sizeof(r->mx), "mx.example.test");
	snprintf(r->ip, sizeof(r->ip), "192.0.2.1");
}

/* raw - one command on this thread's context; the reply's string or integer as text */
static void
raw(char *out, size_t n, const char *fmt, const char *a, const char *b)
{
	redisContext *c = rconn_get();
	redisReply *r;

	ck_assert_ptr_nonnull(c);
	r = b != NULL ? redisCommand(c, fmt, a, b) : redisCommand(c, fmt, a);
	ck_assert_ptr_nonnull(r);
	if (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS || r->type == REDIS_REPLY_ERROR)
		snprintf(out, n, "%s", r->str);
	else if (r->type == REDIS_REPLY_INTEGER)
		snprintf(out, n, "%lld", r->integer);
	else
		snprintf(out, n, "(nil)");
	freeReplyObject(r);
}

#define SKIP_WITHOUT_REDIS() do { \
	if (!have_redis) { fprintf(stderr, "check_rcache: redis-server not installed: skipped\n"); return; } \
} while (0)

/* host A stores, host B (another file) reads it from Redis, then from its own file */
START_TEST(test_share)
{
	struct cache *a, *b;
	struct probe_result r, got;
	char v[1100];
	int stale = 0, hit;

	SKIP_WITHOUT_REDIS();
	a = start(pass, "a");
	mkresult(&r, "alice@example.test", VERDICT_VALID, R_USER_OK, 250);
	learn_store(a, "a:alice@example.test", "example.test", &r);
	rcache_store(a, "a:alice@example.test", "example.test", &r);
	raw(v, sizeof(v), "GETRANGE %s 0 2000", "sav:v1:a:alice@example.test", NULL);
	ck_assert_msg(strncmp(v, "v1 A ", 5) == 0 && strstr(v, " valid user-ok 250 ") != NULL, "stored %s", v);
	raw(v, sizeof(v), "PTTL %s", "sav:v1:a:alice@example.test", NULL);
	ck_assert_msg(atoll(v) > 29LL * 86400 * 1000, "PTTL %s, want about 30 days", v);

	snprintf(cpath, sizeof(cpath), "%s/b.mdb", dir);
	b = cache_open(cpath, NULL, 0, CACHE_NOSYNC, v, sizeof(v));
	ck_assert_ptr_nonnull(b);
	memset(&got, 0, sizeof(got));
	hit = cache_get_addr(b, "a:alice@example.test", &got, &stale) == CACHE_HIT;
	ck_assert_int_eq(hit, 0);
	hit = rcache_addr(b, "a:alice@example.test", hit, &got, &stale);
	ck_assert_int_eq(hit, 1);
	ck_assert_int_eq(got.cached, RESULT_CACHED_SHARED);
	ck_assert_int_eq(got.verdict, VERDICT_VALID);
	ck_assert_int_eq(got.code, 250);
	ck_assert_int_eq(stale, 0);
	/* stored in B's file: the next local look-up hits, and rcache keeps it (seen just now) */
	memset(&got, 0, sizeof(got));
	hit = cache_get_addr(b, "a:alice@example.test", &got, &stale) == CACHE_HIT;
	ck_assert_int_eq(hit, 1);
	ck_assert_int_eq(rcache_addr(b, "a:alice@example.test", hit, &got, &stale), 1);
	ck_assert_int_eq(got.cached, RESULT_CACHED_LOCAL);
	ck_assert_int_eq(atomic_load(&nwarn), 0);
	cache_close(a);
	cache_close(b);
}
END_TEST

/* a local entry whose shared copy is gone is deleted; one with another verdict is replaced */
START_TEST(test_recheck)
{
	struct cache *c;
	struct probe_result r, got;
	struct rrec rec;
	char v[1100], val[RREC_MAX + 1];
	int stale = 0, hit;

	SKIP_WITHOUT_REDIS();
	c = start(pass, "recheck");
	mkresult(&r, "gone@example.test", VERDICT_VALID, R_USER_OK, 250);
	learn_store(c, "a:gone@example.test", "example.test", &r);	/* local only, never seen in Redis */
	hit = cache_get_addr(c, "a:gone@example.test", &got, &stale) == CACHE_HIT;
	ck_assert_int_eq(hit, 1);
	ck_assert_int_eq(rcache_addr(c, "a:gone@example.test", hit, &got, &stale), 0);
	ck_assert_int_eq(cache_get_addr(c, "a:gone@example.test", &got, &stale), CACHE_MISS);

	mkresult(&r, "turned@example.test", VERDICT_VALID, R_USER_OK, 250);
	learn_store(c, "a:turned@example.test", "example.test", &r);
	memset(&rec, 0, sizeof(rec));
	rec.type = RREC_ADDR;
	rec.created = time(NULL) - 10;
	rec.expires = rec.created + 3600;
	mkresult(&rec.r, "", VERDICT_INVALID, R_USER_UNKNOWN, 550);
	ck_assert_int_gt(rrec_encode(&rec, val, sizeof(val)), 0);
	raw(v, sizeof(v), "SET sav:v1:a:turned@example.test %s PX 600000", val, NULL);
	ck_assert_str_eq(v, "OK");
	hit = cache_get_addr(c, "a:turned@example.test", &got, &stale) == CACHE_HIT;
	ck_assert_int_eq(got.verdict, VERDICT_VALID);
	ck_assert_int_eq(rcache_addr(c, "a:turned@example.test", hit, &got, &stale), 1);
	ck_assert_msg(got.verdict == VERDICT_INVALID && got.cached == RESULT_CACHED_SHARED,
		      "got %s cached %d, want the fleet's invalid", verdict_str(got.verdict), got.cached);
	ck_assert_int_eq(cache_get_addr(c, "a:turned@example.test", &got, &stale), CACHE_HIT);
	ck_assert_int_eq(got.verdict, VERDICT_INVALID);
	cache_close(c);
}
END_TEST

/* garbage under the prefix: a miss, on a miss and on a local hit */
START_TEST(test_garbage)
{
	static const char *const junk[] = {
		"garbage", "v1 A 1 99999999999 0 valid user-ok 250 2.1.5 0 - - forged",
		"v1 A 1700000000 1700003600 0 valid user-ok 250 2.1.5 0 - - expired", "",
	};
	struct cache *c;
	struct probe_result got;
	char v[64];
	size_t i;
	int stale = 0;

	SKIP_WITHOUT_REDIS();
	c = start(pass, "garbage");
	for (i = 0; i < sizeof(junk) / sizeof(junk[0]); i++) {
		raw(v, sizeof(v), "SET sav:v1:a:junk@example.test %s", junk[i], NULL);
		memset(&got, 0, sizeof(got));
		ck_assert_msg(rcache_addr(c, "a:junk@example.test", 0, &got, &stale) == 0,
			      "junk %zu: got %s, want a miss", i, verdict_str(got.verdict));
	}
	raw(v, sizeof(v), "DEL %s", "sav:v1:a:junk@example.test", NULL);
	raw(v, sizeof(v), "HSET sav:v1:a:junk@example.test %s %s", "verdict", "valid");
	ck_assert_int_eq(rcache_addr(c, "a:junk@example.test", 0, &got, &stale), 0);
	/* a domain record under an address key, and the reverse */
	raw(v, sizeof(v), "SET sav:v1:a:dom@example.test %s",
	    "v1 D 1700000000 1900000000 1 catch-all catch-all 250 - 1 - - ok", NULL);
	ck_assert_int_eq(rcache_addr(c, "a:dom@example.test", 0, &got, &stale), 0);
	ck_assert_int_eq(atomic_load(&nwarn), 0);
	cache_close(c);
}
END_TEST

/* a shared valid verdict past CacheTTL.refresh is served stale; a stale local one gives way to a fresh shared one */
START_TEST(test_stale)
{
	struct cache *c;
	struct probe_result r, got;
	struct rrec rec;
	char v[64], val[RREC_MAX + 1];
	int stale = 0, hit;

	SKIP_WITHOUT_REDIS();
	c = start(pass, "stale");
	memset(&rec, 0, sizeof(rec));
	rec.type = RREC_ADDR;
	rec.created = time(NULL) - 8 * 86400;
	rec.expires = rec.created + 30 * 86400;
	mkresult(&rec.r, "", VERDICT_VALID, R_USER_OK, 250);
	ck_assert_int_gt(rrec_encode(&rec, val, sizeof(val)), 0);
	raw(v, sizeof(v), "SET sav:v1:a:old@example.test %s", val, NULL);
	ck_assert_int_eq(rcache_addr(c, "a:old@example.test", 0, &got, &stale), 1);
	ck_assert_msg(stale == 1, "an 8-day-old shared valid verdict: stale %d, want 1", stale);

	/* the same verdict, fresh in Redis, while the local copy is stale: local gives way, not stale */
	rec.created = time(NULL) - 60;
	rec.expires = rec.created + 30 * 86400;
	ck_assert_int_gt(rrec_encode(&rec, val, sizeof(val)), 0);
	raw(v, sizeof(v), "SET sav:v1:a:fresh@example.test %s", val, NULL);
	mkresult(&r, "fresh@example.test", VERDICT_VALID, R_USER_OK, 250);
	learn_store(c, "a:fresh@example.test", "example.test", &r);
	memset(&got, 0, sizeof(got));
	hit = cache_get_addr(c, "a:fresh@example.test", &got, &stale) == CACHE_HIT;
	stale = 1;		/* as a local record past the refresh age would say */
	ck_assert_int_eq(rcache_addr(c, "a:fresh@example.test", hit, &got, &stale), 1);
	ck_assert_msg(stale == 0 && got.cached == RESULT_CACHED_SHARED,
		      "stale %d cached %d: want the fleet's fresh copy", stale, got.cached);
	cache_close(c);
}
END_TEST

/* a connection that can no longer be written to is a failed command, not SIGPIPE */
START_TEST(test_broken_pipe)
{
	redisContext *ctx;
	redisReply *r;

	SKIP_WITHOUT_REDIS();
	cache_close(start(pass, "pipe"));
	ctx = rconn_get();
	ck_assert_ptr_nonnull(ctx);
	ck_assert_int_eq(shutdown(ctx->fd, SHUT_WR), 0);
	r = redisCommand(ctx, "PING");		/* write(2) on it: EPIPE */
	ck_assert_ptr_null(r);
	rconn_failed(ctx, "PING");
	ck_assert_msg(atomic_load(&nwarn) == 1, "%d warnings, want 1", atomic_load(&nwarn));
}
END_TEST

/* a connection the server closed while idle is replaced quietly: no warning, no outage */
START_TEST(test_idle_closed)
{
	struct cache *c;
	struct probe_result r, got;
	redisContext *ctx;
	int stale = 0;

	SKIP_WITHOUT_REDIS();
	c = start(pass, "idle");
	mkresult(&r, "idle@example.test", VERDICT_VALID, R_USER_OK, 250);
	rcache_store(NULL, "a:idle@example.test", "example.test", &r);
	ctx = rconn_get();
	ck_assert_ptr_nonnull(ctx);
	ck_assert_int_eq(shutdown(ctx->fd, SHUT_WR), 0);	/* the server sees EOF and closes */
	usleep(100 * 1000);
	ck_assert_int_eq(rcache_addr(c, "a:idle@example.test", 0, &got, &stale), 1);
	ck_assert_int_eq(got.cached, RESULT_CACHED_SHARED);
	ck_assert_msg(atomic_load(&nwarn) == 0, "%d warnings (%s), want none", atomic_load(&nwarn), lastwarn);
	cache_close(c);
}
END_TEST

/* one host of the fleet wins the refresh guard */
START_TEST(test_refresh_claim)
{
	SKIP_WITHOUT_REDIS();
	cache_close(start(pass, "claim"));
	ck_assert_int_eq(rcache_refresh_claim("a:stale@example.test"), 1);
	ck_assert_int_eq(rcache_refresh_claim("a:stale@example.test"), 0);
	ck_assert_int_eq(rcache_refresh_claim("a:other@example.test"), 1);
}
END_TEST

/* paused server: the first look-up pays the time-out, the next ones nothing; one warning, one notice */
START_TEST(test_paused)
{
	struct cache *c;
	struct probe_result r, got;
	msec_t t0, first, rest;
	int stale = 0, i, hit;

	SKIP_WITHOUT_REDIS();
	c = start(pass, "paused");
	mkresult(&r, "kept@example.test", VERDICT_VALID, R_USER_OK, 250);
	learn_store(c, "a:kept@example.test", "example.test", &r);
	ck_assert_ptr_nonnull(rconn_get());	/* connected before the pause */
	kill(redis_pid, SIGSTOP);
	t0 = util_now_ms();
	hit = cache_get_addr(c, "a:kept@example.test", &got, &stale) == CACHE_HIT;
	ck_assert_int_eq(rcache_addr(c, "a:kept@example.test", hit, &got, &stale), 1);	/* local answer */
	first = util_now_ms() - t0;
	t0 = util_now_ms();
	for (i = 0; i < 20; i++) {
		memset(&got, 0, sizeof(got));
		ck_assert_int_eq(rcache_addr(c, "a:new@example.test", 0, &got, &stale), 0);
	}
	rest = util_now_ms() - t0;
	kill(redis_pid, SIGCONT);
	ck_assert_msg(first >= 150 && first <= 400, "first look-up %lld ms, want about the 200 ms time-out",
		      (long long)first);
	ck_assert_msg(rest <= 250, "20 look-ups while down took %lld ms, want at most one more try", (long long)rest);
	ck_assert_msg(atomic_load(&nwarn) == 1, "%d warnings, want 1 (last: %s)", atomic_load(&nwarn), lastwarn);
	ck_assert_msg(strstr(lastwarn, "shared cache: unavailable") != NULL, "warning: %s", lastwarn);
	usleep(1100 * 1000);
	for (i = 0; i < 5; i++)
		rcache_addr(c, "a:new@example.test", 0, &got, &stale);
	ck_assert_int_eq(atomic_load(&nnotice), 1);
	ck_assert_int_eq(atomic_load(&nwarn), 1);
	ck_assert_ptr_nonnull(rconn_get());
	cache_close(c);
}
END_TEST

/* wrong password: one warning, never a context, no wait past the time-out */
START_TEST(test_auth_refused)
{
	char wrong[160];
	struct cache *c;
	struct probe_result got;
	FILE *fp;
	int stale = 0, i;
	msec_t t0;

	SKIP_WITHOUT_REDIS();
	snprintf(wrong, sizeof(wrong), "%s/wrong", dir);
	fp = fopen(wrong, "w");
	ck_assert_ptr_nonnull(fp);
	fputs("not-it\n", fp);
	fclose(fp);
	chmod(wrong, 0600);
	c = start(wrong, "auth");
	t0 = util_now_ms();
	for (i = 0; i < 10; i++)
		ck_assert_int_eq(rcache_addr(c, "a:x@example.test", 0, &got, &stale), 0);
	ck_assert_msg(util_now_ms() - t0 < 300, "took %lld ms", (long long)(util_now_ms() - t0));
	ck_assert_msg(atomic_load(&nwarn) == 1 && strstr(lastwarn, "AUTH") != NULL,
		      "%d warnings, last %s", atomic_load(&nwarn), lastwarn);
	ck_assert_msg(strstr(lastwarn, "not-it") == NULL, "password logged: %s", lastwarn);
	chmod(wrong, 0644);
	ck_assert_int_eq(rconn_init(&(struct rconn_conf){ .url = "unix:/x", .passfile = "" }), 0);
	{
		struct rconn_conf rc = { .url = "unix:/x" };

		snprintf(rc.passfile, sizeof(rc.passfile), "%s", wrong);
		ck_assert_int_eq(rconn_init(&rc), -1);	/* readable by others: refused */
	}
	cache_close(c);
}
END_TEST

Suite *
make_suite(void)
{
	Suite *s = suite_create("rcache");
	TCase *tc;

	tc = tcase_create("redis");
	tcase_add_unchecked_fixture(tc, redis_up, redis_down);
	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, test_share);
	tcase_add_test(tc, test_recheck);
	tcase_add_test(tc, test_garbage);
	tcase_add_test(tc, test_stale);
	tcase_add_test(tc, test_broken_pipe);
	tcase_add_test(tc, test_idle_closed);
	tcase_add_test(tc, test_refresh_claim);
	tcase_add_test(tc, test_paused);
	tcase_add_test(tc, test_auth_refused);
	suite_add_tcase(s, tc);
	return s;
}

#include "check_main.h"
