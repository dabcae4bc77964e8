/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * bench_fleet - a shared-cache hit against an LMDB hit, measured in one
 * process on the real stack (for tests/bench/bench-fleet.sh, make
 * bench-fleet; not a test: it prints figures and judges nothing).
 *
 *	bench_fleet -r URL -s DNS[:PORT] -p SMTPPORT -n N -d DIR DOMAIN
 *
 * Two limiters play two hosts, each with its own LMDB file in DIR,
 * both on the shared cache at URL (SharedCache syntax). Host A verifies
 * N new senders bench<i>@DOMAIN (probing the server DOMAIN's MX names,
 * on SMTPPORT, through the DNS server given), which writes each verdict
 * to its LMDB file and to the shared cache. Host B then asks for each
 * sender once (not in its LMDB file: a shared-cache hit, which also
 * copies the verdict into its LMDB file) and once more (an LMDB hit),
 * timing every limit_verdict call with CLOCK_MONOTONIC. MXRate and
 * MXConcurrency are off (every sender has the one server). Printed, in
 * microseconds: median, 90th percentile and max of each kind, the
 * median ratio, and how many of B's answers came from where they
 * should (all of them; the caller counts the server's connections to check that B
 * probed nothing).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cache.h"
#include "limit.h"
#include "log.h"
#include "probe.h"
#include "rconn.h"

static double
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int
cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static void
report(const char *what, double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp);
	printf("%s: n=%d median_us=%.1f p90_us=%.1f max_us=%.1f\n", what, n, v[n / 2],
	    v[(n * 9) / 10], v[n - 1]);
}

static struct cache *
open_cache(const char *dir, const char *name)
{
	char path[512], err[256];
	struct cache_ttl ttl;
	struct cache *c;

	cache_ttl_defaults(&ttl);
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((c = cache_open(path, &ttl, 0, CACHE_NOSYNC, err, sizeof(err))) == NULL) {
		fprintf(stderr, "bench_fleet: %s: %s\n", path, err);
		exit(1);
	}
	return c;
}

int
main(int argc, char **argv)
{
	const char *url = NULL, *dns = "127.0.0.1", *dir = "/tmp";
	int port = 25, n = 200, ch, i, shared_n = 0, local_n = 0, valid = 0;
	struct rconn_conf rc;
	struct limit_conf lc;
	struct probe_conf pc;
	struct probe_result res;
	struct limiter *a, *b;
	struct cache *ca, *cb;
	double *shared, *local, t0;
	char addr[320], err[128];

	while ((ch = getopt(argc, argv, "r:s:p:n:d:")) != -1) {
		switch (ch) {
		case 'r': url = optarg; break;
		case 's': dns = optarg; break;
		case 'p': port = atoi(optarg); break;
		case 'n': n = atoi(optarg); break;
		case 'd': dir = optarg; break;
		default: goto usage;
		}
	}
	if (url == NULL || optind != argc - 1 || n < 1 || n > 100000 || port < 1)
		goto usage;
	log_open("bench_fleet", LOG_MAIL, 0, 1);
	memset(&rc, 0, sizeof(rc));
	snprintf(rc.url, sizeof(rc.url), "%s", url);
	rc.timeout_ms = 250;
	if (rconn_init(&rc) != 0)
		return 1;
	probe_conf_init(&pc);
	if (dns_conf_add_server(&pc.dns, dns, err, sizeof(err)) != 0) {
		fprintf(stderr, "bench_fleet: -s %s: %s\n", dns, err);
		return 1;
	}
	pc.port = port;
	pc.allow_private = 1;
	pc.catchall_check = 0;
	snprintf(pc.helo, sizeof(pc.helo), "bench.lab.test");
	ca = open_cache(dir, "a.mdb");
	cb = open_cache(dir, "b.mdb");
	/* one server takes every probe: no MXRate, or N probes would take N seconds */
	limit_conf_defaults(&lc);
	lc.mx_rate = 0;
	lc.per_mx = 0;
	a = limit_new(&lc, ca);
	b = limit_new(&lc, cb);
	shared = calloc((size_t)n, sizeof(*shared));
	local = calloc((size_t)n, sizeof(*local));
	if (a == NULL || b == NULL || shared == NULL || local == NULL)
		return 1;
	for (i = 0; i < n; i++) {
		snprintf(addr, sizeof(addr), "bench%d@%s", i, argv[optind]);
		limit_verdict_wait(a, &pc, addr, strlen(addr), LIMIT_FOREVER, NULL, &res);
		valid += res.verdict == VERDICT_VALID;
	}
	printf("host A: %d probes, %d valid\n", n, valid);
	for (i = 0; i < n; i++) {
		snprintf(addr, sizeof(addr), "bench%d@%s", i, argv[optind]);
		t0 = now_us();
		limit_verdict(b, &pc, addr, strlen(addr), 2000, &res);
		shared[i] = now_us() - t0;
		shared_n += res.cached == RESULT_CACHED_SHARED;
	}
	for (i = 0; i < n; i++) {
		snprintf(addr, sizeof(addr), "bench%d@%s", i, argv[optind]);
		t0 = now_us();
		limit_verdict(b, &pc, addr, strlen(addr), 2000, &res);
		local[i] = now_us() - t0;
		local_n += res.cached == RESULT_CACHED_LOCAL;
	}
	printf("host B: %d of %d first answers from the shared cache, %d of %d second ones from LMDB\n",
	    shared_n, n, local_n, n);
	report("shared hit", shared, n);
	report("lmdb hit", local, n);
	printf("ratio shared/lmdb (medians): %.1f\n", shared[n / 2] / (local[n / 2] > 0 ? local[n / 2] : 1));
	limit_free(a, 5000);
	limit_free(b, 5000);
	cache_close(ca);
	cache_close(cb);
	rconn_shutdown();
	free(shared);
	free(local);
	return 0;
usage:
	fprintf(stderr, "usage: bench_fleet -r URL [-s DNS[:PORT]] [-p PORT] [-n N] [-d DIR] DOMAIN\n");
	return 64;
}
