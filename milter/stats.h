/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * stats - the milter's process-wide counters (stats.c), their
 * Prometheus text rendering (stats_fmt.c) and the thread that writes
 * them to StatsFile (stats_file.c), for node_exporter's textfile
 * collector: no listening socket.
 *
 * The counters are C11 atomics updated with relaxed ordering from
 * libmilter's and the limiter's threads; nothing on the message path
 * takes a lock. A snapshot reads each counter once: the figures of one
 * snapshot may be a few events apart from each other, never torn.
 */
#ifndef SAV_MILTER_STATS_H
#define SAV_MILTER_STATS_H

#include <stddef.h>
#include <stdint.h>
#include "conf.h"
#include "limit.h"
#include "spf.h"
#include "verdict.h"

/* upper bounds of the probe latency histogram, in milliseconds (le="0.05" ... le="60") */
#define STATS_LAT_BUCKETS	11
extern const msec_t stats_lat_bounds_ms[STATS_LAT_BUCKETS];

#define STATS_ACTIONS		3	/* enum action: accept, tempfail, reject */

/* one reading of every counter */
struct stats_snap {
	double	now;			/* wall clock, seconds since the epoch */
	double	start;			/* when the counters started */
	uint64_t decisions[VERDICT_COUNT][STATS_ACTIONS];
	uint64_t probes_started;
	uint64_t probes_in_flight;
	uint64_t probes[VERDICT_COUNT];	/* ended, by verdict */
	uint64_t lat[STATS_LAT_BUCKETS + 1];	/* per bucket, not cumulative; the last is above 60 s */
	uint64_t lat_sum_ms;
	int	have_local;		/* a local cache (CacheFile) is open */
	uint64_t local[2];		/* [0] hits, [1] misses */
	int	shared_on;		/* SharedCache is set */
	int	shared_up;		/* and the shared cache answers now */
	uint64_t shared[2];		/* [0] hits, [1] misses (asked only after a local miss) */
	uint64_t fleet_joins;		/* probes that waited for another host's probe instead */
	uint64_t joins;			/* single-flight */
	uint64_t limits[LIMIT_EV_COUNT];	/* the refusal events of limit.h (LIMIT_EV_PROBE_START, LIMIT_EV_JOIN unused) */
	uint64_t spf[SPF_RESULT_COUNT];
	uint64_t writes_failed;		/* StatsFile writes that failed */
};

/* ---- stats.c: the counters ---- */

/* stats_init - zero every counter, note the start time and whether a local cache is open */
void	stats_init(int have_local);

/* stats_decision - one MAIL FROM decided: its verdict and the configured action */
void	stats_decision(enum verdict v, enum action a);

/*
 * stats_lookup - one address lookup in the caches, as the limiter
 * answered it: cached is probe_result.cached. RESULT_CACHED_LOCAL: a
 * local hit; RESULT_CACHED_SHARED: a local miss and a shared hit (also a
 * verdict another host's probe gave while this request waited, as the
 * log line's cache=shared); 0: a local miss, and a shared miss when the
 * shared cache is set and up.
 */
void	stats_lookup(int cached);

/* stats_spf - one SPF result of ProbeWhen spf-not-pass (an evaluation or a remembered pass) */
void	stats_spf(enum spf_result r);

/* stats_write_failed - one failed write of StatsFile */
void	stats_write_failed(void);

/* stats_observer - the limiter's observer that feeds these counters (limit_set_observer) */
const struct limit_observer *stats_observer(void);

/* stats_snapshot - read every counter once */
void	stats_snapshot(struct stats_snap *s);

/* ---- stats_fmt.c: the text format ---- */

/*
 * stats_format - s in the Prometheus text exposition format (version
 * 0.0.4: # HELP and # TYPE before each family, counters named _total,
 * histogram buckets cumulative up to le="+Inf", no sample timestamps,
 * which the textfile collector refuses) into buf. Returns the length
 * written (buf NUL-terminated), or -1 when size is too small.
 */
int	stats_format(const struct stats_snap *s, char *buf, size_t size);

/*
 * stats_label_escape - a label value as the format wants it: backslash,
 * double quote and line feed escaped (\\, \", \n), into dst (size
 * bytes, NUL-terminated). Returns the length, or -1 if it did not fit.
 */
int	stats_label_escape(char *dst, size_t size, const char *src);

/* ---- stats_file.c: StatsFile ---- */

#define STATS_FILE_MAX	65536	/* the rendered file is smaller than this */

/*
 * stats_file_check - can StatsFile be written safely: an absolute path
 * whose directory exists, is a directory, and is not writable by
 * others (anyone could replace the file there). Returns 0, or -1 with
 * the reason in err.
 */
int	stats_file_check(const char *path, char *err, size_t errlen);

/*
 * stats_file_write - one snapshot rendered and written atomically:
 * PATH.tmp in the same directory (mode 0644, O_NOFOLLOW), fsync,
 * rename over PATH. Returns 0, or -1 with the reason in err.
 */
int	stats_file_write(const char *path, char *err, size_t errlen);

/*
 * stats_writer_start - a thread that calls stats_file_write every
 * interval_ms; a failure is logged once, and again only after a
 * success. Returns 0, or -1 (logged) when the thread cannot start.
 */
int	stats_writer_start(const char *path, msec_t interval_ms);

/* stats_writer_stop - stop the thread (if any) and write the file once more */
void	stats_writer_stop(void);

#endif
