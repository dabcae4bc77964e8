/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * stats_show - sav-cache stats' second half: the milter's StatsFile
 * (Prometheus text, see sav-milter(8)) read back and printed for people.
 */
#ifndef SAV_STATS_SHOW_H
#define SAV_STATS_SHOW_H

#include <stdio.h>

#define STATS_SHOW_FILE_MAX	(256 * 1024)	/* a larger file is refused */
#define STATS_SHOW_SAMPLES	512		/* samples kept; the rest are ignored */

/*
 * stats_show - read the StatsFile at path and print its figures on out:
 * decisions, probes and their latency, cache, single-flight, limits,
 * SPF. interval_s (StatsInterval) only decides when the file is called
 * stale. The file is untrusted input: read up to STATS_SHOW_FILE_MAX
 * bytes, lines and names bounded, label values cut to printable ASCII,
 * malformed lines skipped. Returns 0, or -1 when the file cannot be read
 * (a line saying why on out).
 */
int	stats_show(FILE *out, const char *path, long interval_s);

/*
 * stats_show_json - the same file for sav-cache stats --json: writes
 * ,"milter":{"stats_file":PATH,"samples":{"NAME{LABELS}":VALUE,...}}
 * (labels as read, sanitised; one member per sample the reader kept),
 * or with "error":WHY instead of "samples" when the file cannot be read.
 * Returns 0 or -1 as stats_show.
 */
int	stats_show_json(FILE *out, const char *path);

#endif
