/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * cache_fixture.h - what the cache suites share (check_cache.c,
 * check_cache_files.c, check_cache_crash.c): every test runs in its own
 * temporary directory under /tmp with an injected clock (fake_now),
 * and warnings are counted through log_set_hook (nwarn, lastwarn).
 * Static, so each suite binary has its own copy; the helpers that not
 * every suite uses are marked unused.
 */
#ifndef CACHE_FIXTURE_H
#define CACHE_FIXTURE_H

#include <dirent.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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
mk(enum verdict v, enum reason reason, int code, const char *enh, const char *text)
{
	struct probe_result r;

	memset(&r, 0, sizeof(r));
	r.verdict = v;
	r.reason = reason;
	r.code = code;
	snprintf(r.enhanced, sizeof(r.enhanced), "%s", enh);
	snprintf(r.text, sizeof(r.text), "%s", text);
	snprintf(r.mx, sizeof(r.mx), "mx.example.test");
	snprintf(r.ip, sizeof(r.ip), "192.0.2.25");
	return r;
}

/* count directory entries whose name starts with pfx */
static int __attribute__((unused))
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

/* fill a cache with n records (several pages) and close it */
static void __attribute__((unused))
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

#endif
