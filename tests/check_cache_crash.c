/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * check_cache_crash - the verdict cache (probe/cache*.c) when writers
 * die or run side by side: crash safety (SIGKILL
 * during a write storm, 50 times; the file must need no repair and
 * hold no torn record) and several processes plus the sav-cache
 * command writing at once.
 *
 * Shares tests/cache_fixture.h with check_cache.c: every test runs in
 * its own temporary directory under /tmp with an injected clock, and
 * counts warnings through log_set_hook. The crash writers open the
 * cache without CACHE_NOSYNC: durability is the point.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <check.h>

#include "cache.h"
#include "learn.h"
#include "log.h"
#include "cache_fixture.h"

/* ---- crash safety ---- */

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
		learn_store(c, key, s % 3 == 0 ? "crash.test" : NULL, &r);
		if (s % 50 == 0) {
			struct probe_result ca = mk(VERDICT_CATCH_ALL, R_CATCH_ALL, 250, "", "");

			learn_store(c, NULL, "crash.test", &ca);
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
	/*
	 * Only the writer's records can be checked against their key; the
	 * one fill() left is another's (it stays when the writer was
	 * killed before it purged or overwrote anything, as on a loaded
	 * machine) and is not a torn record.
	 */
	if (!e->domain && strncmp(e->key, "a:user", 6) != 0) {
		if (sscanf(e->key, "a:w%d@crash.test", &k) != 1)
			cc->mismatch++;
		else {
			snprintf(want, sizeof(want), "w%d seq ", k);
			if (strncmp(e->r.text, want, strlen(want)) != 0)
				cc->mismatch++;
		}
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

/* ---- several processes and the command ---- */

#define MP_N	4000

static void
mp_writer(const char *tag, int hold)
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
	/*
	 * MP_N records, then the same ones again until the parent closes
	 * hold: the writers are still writing whenever the commands run,
	 * however slow the machine (or the sanitizer build) is
	 */
	for (i = 0;; i++) {
		char c1;

		snprintf(key, sizeof(key), "a:%s-%d@mp.test", tag, i % MP_N);
		snprintf(r.text, sizeof(r.text), "%s-%d", tag, i % MP_N);
		if (learn_store(c, key, NULL, &r) != CACHE_HIT)
			bad++;
		if (i + 1 >= MP_N && read(hold, &c1, 1) == 0)
			break;
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
	int i, sta = -1, stb = -1, rc, runs = 0, hold[2];

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
		learn_store(c, key, NULL, &tf);
	}
	cache_set_clock(c, NULL);
	for (i = 0; i < 300; i++) {
		snprintf(key, sizeof(key), "a:junk%d@junk.test", i);
		learn_store(c, key, NULL, &ok);
	}
	cache_close(c);

	ck_assert(pipe(hold) == 0 && fcntl(hold[0], F_SETFL, O_NONBLOCK) == 0);
	if ((pa = fork()) == 0) {
		close(hold[1]);
		mp_writer("A", hold[0]);
	}
	if ((pb = fork()) == 0) {
		close(hold[1]);
		mp_writer("B", hold[0]);
	}
	close(hold[0]);
	ck_assert(pa > 0 && pb > 0);
	/* the command writes (and reads) while the writers run */
	rc = run_cmd(bin, "del", "--domain", "junk.test");
	ck_assert_msg(rc == 0, "sav-cache del --domain: exit %d, want 0", rc);
	rc = run_cmd(bin, "purge", NULL, NULL);
	ck_assert_msg(rc == 0, "sav-cache purge: exit %d, want 0", rc);
	ck_assert_msg(!reaped(pa, &sta) && !reaped(pb, &stb), "a writer died while held");
	while (runs < 5) {
		rc = run_cmd(bin, "list", "--json", NULL);
		ck_assert_msg(rc == 0, "sav-cache list: exit %d, want 0", rc);
		rc = run_cmd(bin, "del", "a:nonexistent@mp.test", NULL);
		ck_assert_msg(rc == 1, "sav-cache del of a missing key: exit %d, want 1", rc);
		runs++;
	}
	close(hold[1]);		/* the writers finish their round and exit */
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
	Suite *s = suite_create("cache_crash");
	TCase *tc;

	tc = tcase_create("crash");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_crash);
	tcase_add_test(tc, test_multiprocess);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);
	return s;
}

#include "check_main.h"
