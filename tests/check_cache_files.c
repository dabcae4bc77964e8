/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * check_cache_files - the verdict cache's file (probe/cache/cache_env.c, and
 * the write failures of probe/cache/cache.c): symbolic links,
 * modes, one open per process, a read-only open of a missing file,
 * random, truncated and corrupt files moved aside and recreated,
 * a full map, a full disk, a read-only handle and a
 * read-only file system.
 *
 * Shares tests/cache_fixture.h with check_cache.c: every test runs in
 * its own temporary directory under /tmp with an injected clock and
 * CACHE_NOSYNC, and counts warnings through log_set_hook.
 */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <check.h>

#include "cache.h"
#include "learn.h"
#include "log.h"
#include "cache_fixture.h"

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
	ck_assert_msg(strstr(err, "writable by") != NULL, "err: got \"%s\"", err);
}
END_TEST

/*
 * A cache another local user can change is refused by a read-write
 * open: a group-writable file or lock file, a directory writable by
 * group or others (sticky too); a read-only open still reads a
 * group-writable file. The error names the path and the mode.
 */
START_TEST(test_writers)
{
	char lock[160], err[512];
	struct cache_ttl ttl;
	struct cache *c;

	cache_ttl_defaults(&ttl);
	c = open_c();
	cache_close(c);
	snprintf(lock, sizeof(lock), "%s-lock", path);

	ck_assert_int_eq(chmod(path, 0620), 0);
	ck_assert_msg(cache_open(path, &ttl, 0, CACHE_NOSYNC, err, sizeof(err)) == NULL,
	    "a group-writable file: got a cache, want refusal");
	ck_assert_msg(strstr(err, path) != NULL && strstr(err, "group or others") != NULL &&
	    strstr(err, "0620") != NULL, "err: got \"%s\"", err);
	c = cache_open(path, &ttl, 0, CACHE_NOSYNC | CACHE_RDONLY, err, sizeof(err));
	ck_assert_msg(c != NULL, "read-only open of a group-writable file: got NULL (%s)", err);
	cache_close(c);
	ck_assert_int_eq(chmod(path, 0600), 0);

	ck_assert_int_eq(chmod(lock, 0660), 0);
	ck_assert_msg(cache_open(path, &ttl, 0, CACHE_NOSYNC, err, sizeof(err)) == NULL,
	    "a group-writable lock file: got a cache, want refusal");
	ck_assert_msg(strstr(err, "-lock") != NULL, "err: got \"%s\"", err);
	ck_assert_int_eq(chmod(lock, 0600), 0);

	ck_assert_int_eq(chmod(dir, 0770), 0);
	ck_assert_msg(cache_open(path, &ttl, 0, CACHE_NOSYNC, err, sizeof(err)) == NULL,
	    "a group-writable directory: got a cache, want refusal");
	ck_assert_msg(strstr(err, dir) != NULL && strstr(err, "directory") != NULL &&
	    strstr(err, "0770") != NULL, "err: got \"%s\"", err);
	ck_assert_int_eq(chmod(dir, 01777), 0);
	ck_assert_msg(cache_open(path, &ttl, 0, CACHE_NOSYNC, err, sizeof(err)) == NULL,
	    "a sticky world-writable directory: got a cache, want refusal");
	ck_assert_int_eq(chmod(dir, 0755), 0);
	c = open_c();
	cache_close(c);
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
	ck_assert_int_eq(learn_store(c, "a:new@re.test", NULL, &r), CACHE_HIT);
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

/* a full map purges the expired, then the oldest, and writes go on */
START_TEST(test_map_full)
{
	struct cache *c = open_at(path, 1024 * 1024, CACHE_NOSYNC);
	struct probe_result ok = mk(VERDICT_VALID, R_USER_OK, 250, "2.1.5", "Ok"), out;
	char key[64];
	int i, fails = 0, stale;

	for (i = 0; i < 40000; i++) {
		fake_now = T0 + i;
		full_key(key, sizeof(key), i, _i);
		if (learn_store(c, key, NULL, &ok) != CACHE_HIT)
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

/* a full disk: one warning, verdicts and reads go on */
START_TEST(test_disk_full)
{
	struct cache *c = open_c();
	struct probe_result ok = mk(VERDICT_VALID, R_USER_OK, 250, "2.1.5", "Ok"), out;
	struct rlimit rl;
	struct stat st;
	char key[64];
	int i, err = 0, skipped = 0, stale;

	ck_assert_int_eq(learn_store(c, "a:before@disk.test", NULL, &ok), CACHE_HIT);
	signal(SIGXFSZ, SIG_IGN);
	ck_assert_int_eq(stat(path, &st), 0);
	rl.rlim_cur = rl.rlim_max = (rlim_t)st.st_size;
	ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &rl), 0);
	for (i = 0; i < 3000; i++) {
		enum cache_status s;

		snprintf(key, sizeof(key), "a:diskfull-%05d@disk.test", i);
		s = learn_store(c, key, NULL, &ok);
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
 * a read-only file system: the cache answers from what it has,
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
		fprintf(stderr, "check_cache_files: test_rofs needs root (unshare: %s): not run\n",
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
		ck_assert_int_eq(learn_store(c, "a:new@rofs.test", NULL, &ok), CACHE_MISS);
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
	ck_assert_int_eq(learn_store(c, "a:x@ro.test", NULL, &ok), CACHE_MISS);
	ck_assert_int_eq(cache_del(c, "a:user00003@fill.test"), CACHE_ERR);
	ck_assert_int_eq(cache_purge(c, 1), -1);
	ck_assert_int_eq(atomic_load(&nwarn), 0);
	cache_close(c);
}
END_TEST

Suite *
make_suite(void)
{
	Suite *s = suite_create("cache_files");
	TCase *tc;

	tc = tcase_create("file");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_symlink);
	tcase_add_test(tc, test_mode);
	tcase_add_test(tc, test_writers);
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
	return s;
}

#include "check_main.h"
