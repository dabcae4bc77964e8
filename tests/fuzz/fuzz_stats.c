/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * fuzz_stats - the StatsFile both ways: sav-cache stats' reader
 * (probe/cmd/stats_show.c, compiled in) on hostile files, and the
 * milter's formatter (milter/stats_fmt.c) read back by it.
 *
 * Input: byte 0 even: the rest is a StatsFile (in a memfd), shown by
 * stats_show. Byte 0 odd: the rest fills a counter snapshot, which
 * stats_format renders and the reader parses again.
 *
 * Oracles:
 *  - the reader never fails on a readable file, and what it prints is
 *    printable ASCII and line feeds only, with lines of bounded length;
 *  - every line the formatter writes parses as a sample, HELP or TYPE
 *    (nothing skipped), and each decision count read back is the one
 *    put in.
 */
#include <sys/mman.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../probe/cmd/stats_show.c"
#include "stats.h"

static void
die(const char *what)
{
	fprintf(stderr, "fuzz_stats: oracle: %s\n", what);
	abort();
}

static void
reader(const uint8_t *data, size_t size)
{
	char path[64], *buf = NULL;
	size_t len = 0, i, col = 0;
	FILE *out;
	int fd;

	if ((fd = memfd_create("stats", 0)) < 0)
		return;
	if (size > 0 && write(fd, data, size) != (ssize_t)size) {
		close(fd);
		return;
	}
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	if ((out = open_memstream(&buf, &len)) == NULL) {
		close(fd);
		return;
	}
	if (stats_show(out, path, 15) != 0 && size <= STATS_SHOW_FILE_MAX)
		die("a readable file was refused");
	fclose(out);
	close(fd);
	for (i = 0; i < len; i++) {
		if (buf[i] == '\n') {
			col = 0;
			continue;
		}
		if (buf[i] < 0x20 || buf[i] >= 0x7f)
			die("a byte that is not printable in the output");
		if (++col > 1024)
			die("an output line past 1024 characters");
	}
	free(buf);
}

static void
roundtrip(const uint8_t *data, size_t size)
{
	static char text[STATS_FILE_MAX];
	static const char *actions[STATS_ACTIONS] = { "accept", "tempfail", "reject" };
	struct stats_snap s;
	struct file f = { NULL, 0, 0 };
	char path[64], err[128];
	int fd, v, a, i, found;
	int n;

	memset(&s, 0, sizeof(s));
	memcpy(&s, data, size < sizeof(s) ? size : sizeof(s));
	/* what the milter can hold: finite times, have_local a flag */
	s.now = (double)(uint32_t)s.decisions[0][0];
	s.start = (double)(uint32_t)s.decisions[0][1];
	s.have_local = s.have_local & 1;
	if ((n = stats_format(&s, text, sizeof(text))) < 0)
		die("the snapshot does not fit STATS_FILE_MAX");
	if ((fd = memfd_create("stats", 0)) < 0)
		return;
	if (write(fd, text, (size_t)n) != n) {
		close(fd);
		return;
	}
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	if (read_file(path, &f, err, sizeof(err)) != 0)
		die("the reader refused the formatter's file");
	close(fd);
	if (f.skipped != 0)
		die("a line of the formatter's did not parse");
	for (v = 0; v < VERDICT_COUNT; v++)
		for (a = 0; a < STATS_ACTIONS; a++) {
			for (i = 0, found = 0; i < f.n; i++)
				if (strcmp(f.s[i].name, "sav_decisions_total") == 0 &&
				    strcmp(label(&f.s[i], "verdict"), verdict_str((enum verdict)v)) == 0 &&
				    strcmp(label(&f.s[i], "action"), actions[a]) == 0) {
					/* strtod is exact up to 2^53 */
					if (s.decisions[v][a] < (1ULL << 53) &&
					    f.s[i].v != (double)s.decisions[v][a])
						die("a decision count read back differs");
					found = 1;
				}
			if (!found)
				die("a decision series is missing");
		}
	free(f.s);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	if ((data[0] & 1) == 0)
		reader(data + 1, size - 1);
	else
		roundtrip(data + 1, size - 1);
	return 0;
}
