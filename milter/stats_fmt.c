/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * stats_fmt - one counter snapshot as Prometheus text (exposition
 * format 0.0.4), the form node_exporter's textfile collector reads:
 *
 *	# HELP <name> <text>		(text: backslash and line feed escaped)
 *	# TYPE <name> counter|gauge|histogram
 *	<name>{<label>="<value>",...} <number>
 *
 * Each family appears once, its HELP and TYPE first; counters end in
 * _total; the histogram's buckets are cumulative and end with
 * le="+Inf", equal to _count; no sample carries a timestamp (the
 * collector refuses those), sav_stats_generated_timestamp_seconds says
 * when the file was written. Every label combination is written from
 * the start, zeros included, so that rate() has a first point.
 *
 * Pure: no I/O, no allocation, no globals; tests/check_stats.c covers it.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "stats.h"

struct out {
	char	*buf;
	size_t	size, off;
	int	full;
};

static void out_printf(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
out_printf(struct out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (o->full)
		return;
	va_start(ap, fmt);
	n = vsnprintf(o->buf + o->off, o->size - o->off, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= o->size - o->off) {
		o->full = 1;
		o->buf[o->off] = '\0';
		return;
	}
	o->off += (size_t)n;
}

int
stats_label_escape(char *dst, size_t size, const char *src)
{
	size_t n = 0;

	if (size == 0)
		return -1;
	for (; *src != '\0'; src++) {
		const char *e = NULL;

		if (*src == '\\')
			e = "\\\\";
		else if (*src == '"')
			e = "\\\"";
		else if (*src == '\n')
			e = "\\n";
		if (n + (e != NULL ? 2 : 1) >= size) {
			dst[n] = '\0';
			return -1;
		}
		if (e != NULL) {
			memcpy(dst + n, e, 2);
			n += 2;
		} else
			dst[n++] = *src;
	}
	dst[n] = '\0';
	return (int)n;
}

/* family - the HELP and TYPE lines of one family (help is our own text: no escapes needed) */
static void
family(struct out *o, const char *name, const char *type, const char *help)
{
	out_printf(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* sample1 - name{l1="v1"} n, the value escaped */
static void
sample1(struct out *o, const char *name, const char *l1, const char *v1, uint64_t n)
{
	char e1[128];

	if (stats_label_escape(e1, sizeof(e1), v1) < 0)
		e1[0] = '\0';
	out_printf(o, "%s{%s=\"%s\"} %llu\n", name, l1, e1, (unsigned long long)n);
}

static void
sample2(struct out *o, const char *name, const char *l1, const char *v1, const char *l2,
	const char *v2, uint64_t n)
{
	char e1[128], e2[128];

	if (stats_label_escape(e1, sizeof(e1), v1) < 0)
		e1[0] = '\0';
	if (stats_label_escape(e2, sizeof(e2), v2) < 0)
		e2[0] = '\0';
	out_printf(o, "%s{%s=\"%s\",%s=\"%s\"} %llu\n", name, l1, e1, l2, e2, (unsigned long long)n);
}

/* the limit refusals, by the configuration key (or word) that names each */
static const struct {
	enum limit_event ev;
	const char *kind;
} limit_kinds[] = {
	{ LIMIT_EV_MAX_PROBES, "MaxProbes" },
	{ LIMIT_EV_DOMAIN, "DomainConcurrency" },
	{ LIMIT_EV_MX_CONC, "MXConcurrency" },
	{ LIMIT_EV_MX_RATE, "MXRate" },
	{ LIMIT_EV_CLIENT_RATE, "ClientProbeRate" },
	{ LIMIT_EV_BUDGET, "budget" },
};

/* the le label of bucket i: the bound in seconds, as written in the man page */
static void
le_str(char *buf, size_t size, msec_t ms)
{
	if (ms % 1000 == 0)
		snprintf(buf, size, "%lld", (long long)(ms / 1000));
	else
		snprintf(buf, size, "%g", (double)ms / 1000.0);
}

int
stats_format(const struct stats_snap *s, char *buf, size_t size)
{
	static const char *actions[STATS_ACTIONS] = { "accept", "tempfail", "reject" };
	struct out o = { buf, size, 0, 0 };
	uint64_t cum;
	char le[32];
	size_t i;
	int v, a;

	if (size == 0)
		return -1;
	buf[0] = '\0';

	family(&o, "sav_decisions_total", "counter",
	    "MAIL FROM decisions by verdict and the action configured for it.");
	for (v = 0; v < VERDICT_COUNT; v++)
		for (a = 0; a < STATS_ACTIONS; a++)
			sample2(&o, "sav_decisions_total", "verdict", verdict_str((enum verdict)v),
			    "action", actions[a], s->decisions[v][a]);

	family(&o, "sav_probes_started_total", "counter",
	    "Probes started (for a request, or to refresh a stale cache entry).");
	out_printf(&o, "sav_probes_started_total %llu\n", (unsigned long long)s->probes_started);
	family(&o, "sav_probes_in_flight", "gauge", "Probes running now.");
	out_printf(&o, "sav_probes_in_flight %llu\n", (unsigned long long)s->probes_in_flight);
	family(&o, "sav_probes_total", "counter", "Probes ended, by verdict.");
	for (v = 0; v < VERDICT_COUNT; v++)
		if (v != VERDICT_SKIPPED)
			sample1(&o, "sav_probes_total", "verdict", verdict_str((enum verdict)v),
			    s->probes[v]);

	family(&o, "sav_probe_duration_seconds", "histogram",
	    "How long each probe took, DNS and SMTP, whether or not a request still waited.");
	for (i = 0, cum = 0; i < STATS_LAT_BUCKETS; i++) {
		cum += s->lat[i];
		le_str(le, sizeof(le), stats_lat_bounds_ms[i]);
		out_printf(&o, "sav_probe_duration_seconds_bucket{le=\"%s\"} %llu\n", le,
		    (unsigned long long)cum);
	}
	cum += s->lat[STATS_LAT_BUCKETS];
	out_printf(&o, "sav_probe_duration_seconds_bucket{le=\"+Inf\"} %llu\n", (unsigned long long)cum);
	out_printf(&o, "sav_probe_duration_seconds_sum %.3f\n", (double)s->lat_sum_ms / 1000.0);
	out_printf(&o, "sav_probe_duration_seconds_count %llu\n", (unsigned long long)cum);

	if (s->have_local) {
		family(&o, "sav_cache_lookups_total", "counter",
		    "Address lookups in the verdict cache, by cache and result.");
		sample2(&o, "sav_cache_lookups_total", "cache", "local", "result", "hit", s->local[0]);
		sample2(&o, "sav_cache_lookups_total", "cache", "local", "result", "miss", s->local[1]);
	}
	if (s->shared_on) {
		if (!s->have_local)
			family(&o, "sav_cache_lookups_total", "counter",
			    "Address lookups in the verdict cache, by cache and result.");
		sample2(&o, "sav_cache_lookups_total", "cache", "shared", "result", "hit", s->shared[0]);
		sample2(&o, "sav_cache_lookups_total", "cache", "shared", "result", "miss", s->shared[1]);
		family(&o, "sav_shared_cache_up", "gauge",
		    "1 while the shared cache (SharedCache) answers, 0 while this host decides alone.");
		out_printf(&o, "sav_shared_cache_up %d\n", s->shared_up ? 1 : 0);
	}

	family(&o, "sav_singleflight_joins_total", "counter",
	    "Requests that waited for another request's probe of the same address instead of probing.");
	out_printf(&o, "sav_singleflight_joins_total %llu\n", (unsigned long long)s->joins);
	if (s->shared_on) {
		family(&o, "sav_fleet_joins_total", "counter",
		    "Probes that waited for another host's probe of the same address (SharedCache) instead of probing.");
		out_printf(&o, "sav_fleet_joins_total %llu\n", (unsigned long long)s->fleet_joins);
	}

	family(&o, "sav_limit_hits_total", "counter",
	    "Requests refused (or MX addresses skipped) by a limit, by kind.");
	for (i = 0; i < sizeof(limit_kinds) / sizeof(limit_kinds[0]); i++)
		sample1(&o, "sav_limit_hits_total", "kind", limit_kinds[i].kind,
		    s->limits[limit_kinds[i].ev]);

	family(&o, "sav_spf_results_total", "counter",
	    "SPF results of ProbeWhen spf-not-pass, by result.");
	for (v = 0; v < SPF_RESULT_COUNT; v++)
		sample1(&o, "sav_spf_results_total", "result", spf_result_str((enum spf_result)v),
		    s->spf[v]);

	family(&o, "sav_stats_write_failures_total", "counter", "Writes of this file that failed.");
	out_printf(&o, "sav_stats_write_failures_total %llu\n", (unsigned long long)s->writes_failed);
	family(&o, "sav_start_time_seconds", "gauge",
	    "When the counters started (the milter started), seconds since the epoch.");
	out_printf(&o, "sav_start_time_seconds %.3f\n", s->start);
	family(&o, "sav_stats_generated_timestamp_seconds", "gauge",
	    "When this file was written, seconds since the epoch.");
	out_printf(&o, "sav_stats_generated_timestamp_seconds %.3f\n", s->now);
	return o.full ? -1 : (int)o.off;
}
