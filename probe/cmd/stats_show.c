/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * stats_show - the milter's StatsFile read back for sav-cache stats.
 *
 * The file is Prometheus text written by sav-milter (milter/stats_fmt.c);
 * here it is untrusted input all the same (anyone who can write its
 * directory, a disk error, a file of some other program): at most
 * STATS_SHOW_FILE_MAX bytes are read, a line longer than LINE_MAX is
 * skipped, names are [A-Za-z0-9_:] up to NAME_MAX, label values are
 * kept up to VALUE_MAX printable ASCII characters (anything else becomes
 * '?'), values must be finite and not negative, and lines that do not
 * parse are skipped and counted. Nothing from the file reaches the
 * terminal but those sanitised names, values and numbers.
 *
 * Only the sav_ series this module knows are printed; others are
 * ignored, so an older or newer milter's file still reads.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "stats_show.h"
#include "util.h"

#define LINE_MAX_	1024
#define NAME_MAX_	96
#define VALUE_MAX	48
#define LABELS_MAX	4

struct label {
	char	name[32];
	char	value[VALUE_MAX + 1];
};

struct sample {
	char	name[NAME_MAX_ + 1];
	struct label l[LABELS_MAX];
	int	nl;
	double	v;
};

struct file {
	struct sample *s;
	int	n;
	int	skipped;		/* lines that did not parse, or past STATS_SHOW_SAMPLES */
};

/* parse_labels - name="value",... up to '}'; returns the char after it or NULL */
static const char *
parse_labels(const char *p, struct sample *s)
{
	for (;;) {
		struct label *l = s->nl < LABELS_MAX ? &s->l[s->nl] : NULL;
		size_t n = 0, vn = 0;

		while (isalnum((unsigned char)*p) || *p == '_') {
			if (l != NULL && n + 1 < sizeof(l->name))
				l->name[n++] = *p;
			p++;
		}
		if (n == 0 || p[0] != '=' || p[1] != '"')
			return NULL;
		if (l != NULL)
			l->name[n] = '\0';
		p += 2;
		while (*p != '"') {
			char c;

			if (*p == '\0')
				return NULL;
			if (*p == '\\') {
				p++;
				if (*p == 'n')
					c = ' ';
				else if (*p == '\\' || *p == '"')
					c = *p;
				else
					return NULL;
			} else
				c = *p;
			if (l != NULL && vn < VALUE_MAX)
				l->value[vn++] = c >= 0x20 && c < 0x7f ? c : '?';
			p++;
		}
		if (l != NULL) {
			l->value[vn] = '\0';
			s->nl++;
		}
		p++;
		if (*p == ',')
			p++;
		if (*p == '}')
			return p + 1;
	}
}

/* parse_line - one sample line into *s; -1 when it is not one */
static int
parse_line(const char *line, struct sample *s)
{
	const char *p = line;
	size_t n = 0;
	char *end;

	memset(s, 0, sizeof(*s));
	while (isalnum((unsigned char)*p) || *p == '_' || *p == ':') {
		if (n >= NAME_MAX_)
			return -1;
		s->name[n++] = *p++;
	}
	if (n == 0)
		return -1;
	if (*p == '{' && (p = parse_labels(p + 1, s)) == NULL)
		return -1;
	if (*p++ != ' ')
		return -1;
	errno = 0;
	s->v = strtod(p, &end);
	if (end == p || errno != 0 || !isfinite(s->v) || s->v < 0)
		return -1;
	/* +Inf is the le label of a bucket, never a value we show */
	while (*end == ' ')
		end++;
	return *end == '\0' ? 0 : -1;
}

/* read_file - the samples of path into f; -1 with a reason in err */
static int
read_file(const char *path, struct file *f, char *err, size_t errlen)
{
	char *buf, *p, *nl;
	struct stat st;
	ssize_t k;
	size_t len = 0;
	int fd;

	if ((fd = open(path, O_RDONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC)) < 0) {
		snprintf(err, errlen, "%s", strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "not a regular file");
		close(fd);
		return -1;
	}
	if ((buf = malloc(STATS_SHOW_FILE_MAX + 1)) == NULL ||
	    (f->s = calloc(STATS_SHOW_SAMPLES, sizeof(*f->s))) == NULL) {
		free(buf);
		close(fd);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	while (len <= STATS_SHOW_FILE_MAX &&
	    (k = read(fd, buf + len, STATS_SHOW_FILE_MAX + 1 - len)) > 0)
		len += (size_t)k;
	close(fd);
	if (len > STATS_SHOW_FILE_MAX) {
		snprintf(err, errlen, "larger than %d bytes", STATS_SHOW_FILE_MAX);
		free(buf);
		return -1;
	}
	buf[len] = '\0';
	for (p = buf; *p != '\0'; p = nl + 1) {
		nl = strchr(p, '\n');
		if (nl == NULL) {
			f->skipped++;	/* a last line without its end: cut short */
			break;
		}
		*nl = '\0';
		if (*p == '#' || *p == '\0')
			continue;
		if ((size_t)(nl - p) > LINE_MAX_ || f->n >= STATS_SHOW_SAMPLES ||
		    parse_line(p, &f->s[f->n]) < 0)
			f->skipped++;
		else
			f->n++;
	}
	free(buf);
	return 0;
}

/* label - the value of label name in s, "" when absent */
static const char *
label(const struct sample *s, const char *name)
{
	int i;

	for (i = 0; i < s->nl; i++)
		if (strcmp(s->l[i].name, name) == 0)
			return s->l[i].value;
	return "";
}

/* get - the value of name with label k = v (k NULL: no label wanted); -1 when absent */
static double
get(const struct file *f, const char *name, const char *k, const char *v)
{
	int i;

	for (i = 0; i < f->n; i++)
		if (strcmp(f->s[i].name, name) == 0 &&
		    (k == NULL || strcmp(label(&f->s[i], k), v) == 0))
			return f->s[i].v;
	return -1;
}

/* nz - an absent figure (-1) shown as 0 */
static double
nz(double v)
{
	return v > 0 ? v : 0;
}

/* when - a time from the file as local time; "-" when absent or not a plausible time */
static void
when(char *buf, size_t size, double t)
{
	time_t tt;
	struct tm tm;

	/* the file is untrusted: no cast of a value a time_t cannot hold (year 5138 and on) */
	if (!(t > 0 && t < 1e11)) {
		snprintf(buf, size, "-");
		return;
	}
	tt = (time_t)t;
	if (localtime_r(&tt, &tm) == NULL ||
	    strftime(buf, size, "%Y-%m-%d %H:%M:%S %z", &tm) == 0)
		snprintf(buf, size, "-");
}

/* list - "label N, label N" of the samples of name with a non-zero value, or "none" */
static void
list(FILE *out, const struct file *f, const char *name, const char *lab)
{
	int i, any = 0;

	for (i = 0; i < f->n; i++) {
		if (strcmp(f->s[i].name, name) != 0 || f->s[i].v == 0)
			continue;
		fprintf(out, "%s%s %.0f", any ? ", " : "", label(&f->s[i], lab), f->s[i].v);
		any = 1;
	}
	fputs(any ? "\n" : "none\n", out);
}

/* latency - the histogram: mean, and the bucket each quantile falls in */
static void
latency(FILE *out, const struct file *f)
{
	static const double qs[] = { 0.5, 0.9, 0.99 };
	double count = get(f, "sav_probe_duration_seconds_count", NULL, NULL);
	double sum = get(f, "sav_probe_duration_seconds_sum", NULL, NULL);
	size_t q;
	int i;

	if (count <= 0) {
		fputs("  latency:    no probe has ended yet\n", out);
		return;
	}
	fprintf(out, "  latency:    mean %.2f s", sum >= 0 ? sum / count : 0.0);
	for (q = 0; q < sizeof(qs) / sizeof(qs[0]); q++) {
		/* the first bucket (they are cumulative, in file order) holding the quantile */
		for (i = 0; i < f->n; i++) {
			const struct sample *s = &f->s[i];

			if (strcmp(s->name, "sav_probe_duration_seconds_bucket") != 0 ||
			    s->v < qs[q] * count)
				continue;
			if (strcmp(label(s, "le"), "+Inf") == 0)
				fprintf(out, ", p%g above the last bound", qs[q] * 100);
			else
				fprintf(out, ", p%g <= %s s", qs[q] * 100, label(s, "le"));
			break;
		}
	}
	fputc('\n', out);
}

int
stats_show(FILE *out, const char *path, long interval_s)
{
	struct file f = { NULL, 0, 0 };
	char err[256], t1[64], t2[64];
	double gen, start, hit, miss, total = 0, sh, smiss;
	time_t now = time(NULL);
	int i;

	if (read_file(path, &f, err, sizeof(err)) < 0) {
		fprintf(out, "milter:       StatsFile %s: %s\n", path, err);
		free(f.s);
		return -1;
	}
	gen = get(&f, "sav_stats_generated_timestamp_seconds", NULL, NULL);
	start = get(&f, "sav_start_time_seconds", NULL, NULL);
	when(t1, sizeof(t1), gen);
	when(t2, sizeof(t2), start);
	fprintf(out, "milter:       StatsFile %s, written %s", path, t1);
	if (gen > 0 && (double)now - gen > 3.0 * (double)interval_s + 5)
		fprintf(out, " (%.0f s ago: is sav-milter running?)", (double)now - gen);
	fprintf(out, ", counting since %s\n", t2);
	if (f.skipped > 0)
		fprintf(out, "  (%d line%s of the file did not parse and were skipped)\n",
		    f.skipped, f.skipped == 1 ? "" : "s");

	for (i = 0; i < f.n; i++)
		if (strcmp(f.s[i].name, "sav_decisions_total") == 0)
			total += f.s[i].v;
	fprintf(out, "  decisions:  %.0f\n", total);
	for (i = 0; i < f.n; i++) {
		if (strcmp(f.s[i].name, "sav_decisions_total") != 0 || f.s[i].v == 0)
			continue;
		fprintf(out, "    %-11s %-9s %8.0f\n", label(&f.s[i], "verdict"),
		    label(&f.s[i], "action"), f.s[i].v);
	}
	fprintf(out, "  probes:     %.0f started, %.0f in flight\n",
	    nz(get(&f, "sav_probes_started_total", NULL, NULL)),
	    nz(get(&f, "sav_probes_in_flight", NULL, NULL)));
	fputs("    ended:    ", out);
	list(out, &f, "sav_probes_total", "verdict");
	latency(out, &f);
	hit = get(&f, "sav_cache_lookups_total", "result", "hit");
	miss = get(&f, "sav_cache_lookups_total", "result", "miss");
	if (hit >= 0 && miss >= 0)
		fprintf(out, "  cache:      local: hits %.0f, misses %.0f (%.0f%% answered)\n", hit, miss,
		    hit + miss > 0 ? 100.0 * hit / (hit + miss) : 0.0);
	else
		fputs("  cache:      none (no CacheFile)\n", out);
	/* the shared cache's pair, when the milter writes one */
	for (i = 0, sh = -1, smiss = -1; i < f.n; i++) {
		if (strcmp(f.s[i].name, "sav_cache_lookups_total") != 0 ||
		    strcmp(label(&f.s[i], "cache"), "shared") != 0)
			continue;
		if (strcmp(label(&f.s[i], "result"), "hit") == 0)
			sh = f.s[i].v;
		else if (strcmp(label(&f.s[i], "result"), "miss") == 0)
			smiss = f.s[i].v;
	}
	if (sh >= 0 && smiss >= 0) {
		double up = get(&f, "sav_shared_cache_up", NULL, NULL);

		fprintf(out, "              shared: hits %.0f, misses %.0f, %s\n", sh, smiss,
		    up == 1 ? "up" : up == 0 ? "down (this host decides alone)" : "state unknown");
	}
	fprintf(out, "  joins:      %.0f (requests that shared another's probe)\n",
	    nz(get(&f, "sav_singleflight_joins_total", NULL, NULL)));
	if (get(&f, "sav_fleet_joins_total", NULL, NULL) >= 0)
		fprintf(out, "              %.0f probes waited for another host's probe instead\n",
		    get(&f, "sav_fleet_joins_total", NULL, NULL));
	fputs("  limits:     ", out);
	list(out, &f, "sav_limit_hits_total", "kind");
	fputs("  SPF:        ", out);
	list(out, &f, "sav_spf_results_total", "result");
	free(f.s);
	return 0;
}

int
stats_show_json(FILE *out, const char *path)
{
	struct file f = { NULL, 0, 0 };
	char err[256], key[NAME_MAX_ + LABELS_MAX * (sizeof(((struct label *)0)->name) + VALUE_MAX + 4) + 4];
	int i, j, rc = 0;

	fputs(",\"milter\":{\"stats_file\":", out);
	util_json_str(out, path);
	if (read_file(path, &f, err, sizeof(err)) < 0) {
		fputs(",\"error\":", out);
		util_json_str(out, err);
		rc = -1;
	} else {
		fputs(",\"samples\":{", out);
		for (i = 0; i < f.n; i++) {
			const struct sample *s = &f.s[i];
			size_t n = (size_t)snprintf(key, sizeof(key), "%s", s->name);

			for (j = 0; j < s->nl && n < sizeof(key); j++)
				n += (size_t)snprintf(key + n, sizeof(key) - n, "%s%s=\"%s\"", j ? "," : "{",
				    s->l[j].name, s->l[j].value);
			if (s->nl > 0 && n < sizeof(key))
				snprintf(key + n, sizeof(key) - n, "}");
			fputs(i ? "," : "", out);
			util_json_str(out, key);
			fprintf(out, ":%.17g", s->v);
		}
		fputc('}', out);
	}
	fputc('}', out);
	free(f.s);
	return rc;
}
