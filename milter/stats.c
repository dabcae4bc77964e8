/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * stats - the milter's counters: decisions by verdict and action,
 * probes started, in flight and ended by verdict, the probe latency
 * histogram, cache lookups, single-flight joins, limit refusals by
 * kind, SPF results.
 *
 * They are the process's only mutable globals besides the snapshot
 * pointer: plain C11 atomics, each updated with one relaxed
 * fetch-add where the event happens (handlers.c, the limiter's
 * observer), read by stats_snapshot. Counting needs no order between
 * counters, so relaxed is enough; a snapshot may see one counter a few
 * events ahead of another. In flight is started minus ended, read in
 * that order and never below zero.
 */
#include <stdatomic.h>
#include <time.h>

#include "rconn.h"
#include "stats.h"

const msec_t stats_lat_bounds_ms[STATS_LAT_BUCKETS] = {
	50, 100, 250, 500, 1000, 2000, 4000, 8000, 16000, 32000, 60000
};

typedef atomic_ullong counter;

static counter decisions[VERDICT_COUNT][STATS_ACTIONS];
static counter started, ended;
static counter probes[VERDICT_COUNT];
static counter lat[STATS_LAT_BUCKETS + 1];
static counter lat_sum_ms;
static counter local[2];
static counter shared[2];
static counter joins, fleet_joins;
static counter limits[LIMIT_EV_COUNT];
static counter spf[SPF_RESULT_COUNT];
static counter writes_failed;
static atomic_int have_local;
static _Atomic double start_time;

static void
bump(counter *c)
{
	atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
}

static uint64_t
get(counter *c)
{
	return atomic_load_explicit(c, memory_order_relaxed);
}

static double
wall_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* zero one array of counters */
static void
zero(counter *c, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		atomic_store_explicit(&c[i], 0, memory_order_relaxed);
}

void
stats_init(int local_cache)
{
	zero(&decisions[0][0], sizeof(decisions) / sizeof(counter));
	zero(&started, 1);
	zero(&ended, 1);
	zero(probes, VERDICT_COUNT);
	zero(lat, STATS_LAT_BUCKETS + 1);
	zero(&lat_sum_ms, 1);
	zero(local, 2);
	zero(shared, 2);
	zero(&joins, 1);
	zero(&fleet_joins, 1);
	zero(limits, LIMIT_EV_COUNT);
	zero(spf, SPF_RESULT_COUNT);
	zero(&writes_failed, 1);
	atomic_store(&have_local, local_cache != 0);
	atomic_store(&start_time, wall_now());
}

void
stats_decision(enum verdict v, enum action a)
{
	if ((unsigned)v < VERDICT_COUNT && (unsigned)a < STATS_ACTIONS)
		bump(&decisions[v][a]);
}

void
stats_lookup(int cached)
{
	if (atomic_load_explicit(&have_local, memory_order_relaxed))
		bump(&local[cached == RESULT_CACHED_LOCAL ? 0 : 1]);
	if (cached == RESULT_CACHED_SHARED)
		bump(&shared[0]);
	else if (cached == 0 && rconn_up())
		bump(&shared[1]);
}

void
stats_spf(enum spf_result r)
{
	if ((unsigned)r < SPF_RESULT_COUNT)
		bump(&spf[r]);
}

void
stats_write_failed(void)
{
	bump(&writes_failed);
}

/* the limiter's callbacks: atomics only, as limit.h asks */
static void
on_event(void *arg, enum limit_event ev)
{
	if (ev == LIMIT_EV_PROBE_START)
		bump(&started);
	else if (ev == LIMIT_EV_JOIN)
		bump(&joins);
	else if ((unsigned)ev < LIMIT_EV_COUNT)
		bump(&limits[ev]);
}

static void
on_probe_end(void *arg, const struct probe_result *r, msec_t ms)
{
	int i;

	/* another host probed it (fleet single flight): not a probe of ours */
	if (r->cached == RESULT_CACHED_SHARED) {
		bump(&fleet_joins);
		bump(&ended);
		return;
	}
	if ((unsigned)r->verdict < VERDICT_COUNT)
		bump(&probes[r->verdict]);
	if (ms < 0)
		ms = 0;
	for (i = 0; i < STATS_LAT_BUCKETS && ms > stats_lat_bounds_ms[i]; i++)
		;
	bump(&lat[i]);
	atomic_fetch_add_explicit(&lat_sum_ms, (unsigned long long)ms, memory_order_relaxed);
	bump(&ended);
}

static const struct limit_observer observer = {
	.event = on_event,
	.probe_end = on_probe_end,
	.arg = NULL,
};

const struct limit_observer *
stats_observer(void)
{
	return &observer;
}

void
stats_snapshot(struct stats_snap *s)
{
	uint64_t e;
	int v, a, i;

	s->now = wall_now();
	s->start = atomic_load(&start_time);
	for (v = 0; v < VERDICT_COUNT; v++) {
		for (a = 0; a < STATS_ACTIONS; a++)
			s->decisions[v][a] = get(&decisions[v][a]);
		s->probes[v] = get(&probes[v]);
	}
	/* ended first: a probe that ends meanwhile is then counted as started too */
	e = get(&ended);
	s->probes_started = get(&started);
	s->probes_in_flight = s->probes_started > e ? s->probes_started - e : 0;
	for (i = 0; i <= STATS_LAT_BUCKETS; i++)
		s->lat[i] = get(&lat[i]);
	s->lat_sum_ms = get(&lat_sum_ms);
	s->have_local = atomic_load(&have_local);
	s->local[0] = get(&local[0]);
	s->local[1] = get(&local[1]);
	s->shared_on = rconn_enabled();
	s->shared_up = rconn_up();
	s->shared[0] = get(&shared[0]);
	s->shared[1] = get(&shared[1]);
	s->joins = get(&joins);
	s->fleet_joins = get(&fleet_joins);
	for (i = 0; i < LIMIT_EV_COUNT; i++)
		s->limits[i] = get(&limits[i]);
	for (i = 0; i < SPF_RESULT_COUNT; i++)
		s->spf[i] = get(&spf[i]);
	s->writes_failed = get(&writes_failed);
}
