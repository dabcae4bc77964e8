/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * check_stats - the milter's counters and their Prometheus text
 * (milter/stats.c, stats_fmt.c, stats_file.c): label escaping, a
 * snapshot rendered and read back by a strict parser of the text
 * format (every line a HELP, a TYPE or a sample of a family typed
 * before it, names and labels well formed, no family twice, counters
 * _total, buckets cumulative up to +Inf = _count), the figures found
 * where they were put, the histogram's bucket edges, a buffer too
 * small, concurrent updates losing nothing, and the file written
 * atomically with mode 0644 in a directory others cannot write.
 */
#include <sys/stat.h>
#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <check.h>

#include "stats.h"

/* ---- a strict reader of the text format, for these tests ---- */

#define MAXFAM	64
#define MAXSAMP	256

struct sample {
	char	name[96];
	char	labels[256];	/* as written between the braces, escapes kept */
	double	value;
};

struct parsed {
	char	fam[MAXFAM][96];
	char	type[MAXFAM][16];
	int	nfam;
	struct sample s[MAXSAMP];
	int	ns;
};

static int
name_ok(const char *p, size_t n)
{
	size_t i;

	if (n == 0 || !(isalpha((unsigned char)p[0]) || p[0] == '_' || p[0] == ':'))
		return 0;
	for (i = 1; i < n; i++)
		if (!(isalnum((unsigned char)p[i]) || p[i] == '_' || p[i] == ':'))
			return 0;
	return 1;
}

/* the family a sample name belongs to, given the types seen */
static int
family_of(const struct parsed *p, const char *name)
{
	int i;

	for (i = 0; i < p->nfam; i++) {
		size_t n = strlen(p->fam[i]);

		if (strcmp(name, p->fam[i]) == 0)
			return i;
		if (strcmp(p->type[i], "histogram") == 0 && strncmp(name, p->fam[i], n) == 0 &&
		    (strcmp(name + n, "_bucket") == 0 || strcmp(name + n, "_sum") == 0 ||
		     strcmp(name + n, "_count") == 0))
			return i;
	}
	return -1;
}

/* labels: name="value" pairs, comma separated, value escapes only \\ \" \n */
static const char *
labels_ok(const char *p, char *out, size_t outsize)
{
	const char *start = p;

	for (;;) {
		const char *n = p;

		while (isalnum((unsigned char)*p) || *p == '_')
			p++;
		if (!name_ok(n, (size_t)(p - n)) || *p++ != '=' || *p++ != '"')
			return NULL;
		while (*p != '"') {
			if (*p == '\0' || *p == '\n')
				return NULL;
			if (*p == '\\') {
				p++;
				if (*p != '\\' && *p != '"' && *p != 'n')
					return NULL;
			}
			p++;
		}
		p++;
		if (*p == '}')
			break;
		if (*p++ != ',')
			return NULL;
	}
	if ((size_t)(p - start) >= outsize)
		return NULL;
	memcpy(out, start, (size_t)(p - start));
	out[p - start] = '\0';
	return p + 1;
}

/* parse - 0, or the failing line's number (and why in err) */
static int
parse(const char *text, struct parsed *p, char *err, size_t errlen)
{
	char line[1024];
	const char *q = text;
	int ln = 0, i;

	memset(p, 0, sizeof(*p));
	if (text[0] != '\0' && text[strlen(text) - 1] != '\n') {
		snprintf(err, errlen, "no final line feed");
		return -1;
	}
	while (*q != '\0') {
		const char *nl = strchr(q, '\n');
		size_t n = (size_t)(nl - q);
		char *sp, *end;

		ln++;
		if (n >= sizeof(line)) {
			snprintf(err, errlen, "line too long");
			return ln;
		}
		memcpy(line, q, n);
		line[n] = '\0';
		q = nl + 1;
		if (strncmp(line, "# HELP ", 7) == 0) {
			sp = strchr(line + 7, ' ');
			if (sp == NULL || !name_ok(line + 7, (size_t)(sp - line - 7))) {
				snprintf(err, errlen, "bad HELP");
				return ln;
			}
			continue;
		}
		if (strncmp(line, "# TYPE ", 7) == 0) {
			sp = strchr(line + 7, ' ');
			if (sp == NULL || !name_ok(line + 7, (size_t)(sp - line - 7)) || p->nfam >= MAXFAM) {
				snprintf(err, errlen, "bad TYPE");
				return ln;
			}
			*sp = '\0';
			for (i = 0; i < p->nfam; i++)
				if (strcmp(p->fam[i], line + 7) == 0) {
					snprintf(err, errlen, "family %.60s typed twice", line + 7);
					return ln;
				}
			if (strcmp(sp + 1, "counter") != 0 && strcmp(sp + 1, "gauge") != 0 &&
			    strcmp(sp + 1, "histogram") != 0) {
				snprintf(err, errlen, "unknown type %.20s", sp + 1);
				return ln;
			}
			if (strcmp(sp + 1, "counter") == 0 &&
			    (strlen(line + 7) < 6 || strcmp(line + 7 + strlen(line + 7) - 6, "_total") != 0)) {
				snprintf(err, errlen, "counter %.60s without _total", line + 7);
				return ln;
			}
			snprintf(p->fam[p->nfam], sizeof(p->fam[0]), "%s", line + 7);
			snprintf(p->type[p->nfam++], sizeof(p->type[0]), "%s", sp + 1);
			continue;
		}
		if (line[0] == '#' || line[0] == '\0') {
			snprintf(err, errlen, "stray comment or empty line");
			return ln;
		}
		if (p->ns >= MAXSAMP) {
			snprintf(err, errlen, "too many samples");
			return ln;
		}
		{
			struct sample *s = &p->s[p->ns];
			const char *r = line;

			while (isalnum((unsigned char)*r) || *r == '_' || *r == ':')
				r++;
			if (!name_ok(line, (size_t)(r - line)) || (size_t)(r - line) >= sizeof(s->name)) {
				snprintf(err, errlen, "bad sample name");
				return ln;
			}
			memcpy(s->name, line, (size_t)(r - line));
			s->name[r - line] = '\0';
			if (*r == '{' && (r = labels_ok(r + 1, s->labels, sizeof(s->labels))) == NULL) {
				snprintf(err, errlen, "bad labels");
				return ln;
			}
			/* one space, a number, nothing after it: no timestamp */
			if (*r != ' ' || r[1] == ' ' || r[1] == '\0') {
				snprintf(err, errlen, "no value");
				return ln;
			}
			s->value = strtod(r + 1, &end);
			if (*end != '\0' || s->value < 0) {
				snprintf(err, errlen, "bad value (or a timestamp)");
				return ln;
			}
			if ((i = family_of(p, s->name)) < 0 || i != p->nfam - 1) {
				snprintf(err, errlen, "sample %s outside its family", s->name);
				return ln;
			}
			p->ns++;
		}
	}
	return 0;
}

static double
value(const struct parsed *p, const char *name, const char *labels)
{
	int i;

	for (i = 0; i < p->ns; i++)
		if (strcmp(p->s[i].name, name) == 0 && strcmp(p->s[i].labels, labels) == 0)
			return p->s[i].value;
	return -1;
}

static char Buf[STATS_FILE_MAX];

/* ---- label escaping ---- */

static const struct {
	const char *in, *want;
} esc[] = {
	{ "plain", "plain" },
	{ "", "" },
	{ "a\\b", "a\\\\b" },
	{ "say \"hi\"", "say \\\"hi\\\"" },
	{ "two\nlines", "two\\nlines" },
	{ "\\\"\n", "\\\\\\\"\\n" },
};

START_TEST(test_escape)
{
	char out[64];
	int n = stats_label_escape(out, sizeof(out), esc[_i].in);

	ck_assert_msg(n == (int)strlen(esc[_i].want) && strcmp(out, esc[_i].want) == 0,
	    "escape(%s): got \"%s\" (%d), want \"%s\"", esc[_i].in, out, n, esc[_i].want);
}
END_TEST

START_TEST(test_escape_short)
{
	char out[4];

	ck_assert_int_eq(stats_label_escape(out, sizeof(out), "abcd"), -1);
	ck_assert_msg(strlen(out) < sizeof(out), "not terminated");
	/* an escape is never cut in half */
	ck_assert_int_eq(stats_label_escape(out, sizeof(out), "ab\""), -1);
	ck_assert_str_eq(out, "ab");
	ck_assert_int_eq(stats_label_escape(out, sizeof(out), "abc"), 3);
}
END_TEST

/* ---- the format ---- */

static void
fill(struct stats_snap *s)
{
	memset(s, 0, sizeof(*s));
	s->now = 1700000000.25;
	s->start = 1699999000.5;
	s->decisions[VERDICT_VALID][ACTION_ACCEPT] = 7;
	s->decisions[VERDICT_INVALID][ACTION_REJECT] = 3;
	s->decisions[VERDICT_TEMPFAIL][ACTION_TEMPFAIL] = 2;
	s->probes_started = 9;
	s->probes_in_flight = 1;
	s->probes[VERDICT_VALID] = 5;
	s->probes[VERDICT_INVALID] = 3;
	s->lat[0] = 4;		/* <= 50 ms */
	s->lat[4] = 3;		/* <= 1 s */
	s->lat[STATS_LAT_BUCKETS] = 1;	/* over 60 s */
	s->lat_sum_ms = 61234;
	s->have_local = 1;
	s->local[0] = 11;
	s->local[1] = 9;
	s->joins = 2;
	s->limits[LIMIT_EV_DOMAIN] = 4;
	s->limits[LIMIT_EV_BUDGET] = 1;
	s->spf[SPF_PASS] = 6;
	s->spf[SPF_SOFTFAIL] = 1;
}

START_TEST(test_format_parses)
{
	struct stats_snap s;
	struct parsed p;
	char err[128] = "";
	int n, ln;

	fill(&s);
	n = stats_format(&s, Buf, sizeof(Buf));
	ck_assert_msg(n > 0 && (size_t)n == strlen(Buf), "length %d", n);
	ln = parse(Buf, &p, err, sizeof(err));
	ck_assert_msg(ln == 0, "line %d: %s\n%s", ln, err, Buf);
	ck_assert_double_eq(value(&p, "sav_decisions_total", "verdict=\"valid\",action=\"accept\""), 7);
	ck_assert_double_eq(value(&p, "sav_decisions_total", "verdict=\"invalid\",action=\"reject\""), 3);
	ck_assert_double_eq(value(&p, "sav_decisions_total", "verdict=\"tempfail\",action=\"tempfail\""), 2);
	/* every combination is there from the start, zeros too */
	ck_assert_double_eq(value(&p, "sav_decisions_total", "verdict=\"error\",action=\"reject\""), 0);
	ck_assert_double_eq(value(&p, "sav_probes_started_total", ""), 9);
	ck_assert_double_eq(value(&p, "sav_probes_in_flight", ""), 1);
	ck_assert_double_eq(value(&p, "sav_probes_total", "verdict=\"invalid\""), 3);
	ck_assert_double_eq(value(&p, "sav_probes_total", "verdict=\"skipped\""), -1);
	ck_assert_double_eq(value(&p, "sav_cache_lookups_total", "cache=\"local\",result=\"hit\""), 11);
	ck_assert_double_eq(value(&p, "sav_cache_lookups_total", "cache=\"local\",result=\"miss\""), 9);
	ck_assert_double_eq(value(&p, "sav_singleflight_joins_total", ""), 2);
	ck_assert_double_eq(value(&p, "sav_limit_hits_total", "kind=\"DomainConcurrency\""), 4);
	ck_assert_double_eq(value(&p, "sav_limit_hits_total", "kind=\"budget\""), 1);
	ck_assert_double_eq(value(&p, "sav_limit_hits_total", "kind=\"MXRate\""), 0);
	ck_assert_double_eq(value(&p, "sav_spf_results_total", "result=\"pass\""), 6);
	ck_assert_double_eq(value(&p, "sav_spf_results_total", "result=\"softfail\""), 1);
	ck_assert_double_eq(value(&p, "sav_stats_generated_timestamp_seconds", ""), 1700000000.25);
	ck_assert_double_eq(value(&p, "sav_start_time_seconds", ""), 1699999000.5);
}
END_TEST

START_TEST(test_format_histogram)
{
	static const char *les[] = { "0.05", "0.1", "0.25", "0.5", "1", "2", "4", "8", "16", "32",
	    "60", "+Inf" };
	static const double want[] = { 4, 4, 4, 4, 7, 7, 7, 7, 7, 7, 7, 8 };
	struct stats_snap s;
	struct parsed p;
	char err[128], lab[32];
	size_t i;

	fill(&s);
	ck_assert_int_gt(stats_format(&s, Buf, sizeof(Buf)), 0);
	ck_assert_int_eq(parse(Buf, &p, err, sizeof(err)), 0);
	for (i = 0; i < sizeof(les) / sizeof(les[0]); i++) {
		snprintf(lab, sizeof(lab), "le=\"%s\"", les[i]);
		ck_assert_msg(value(&p, "sav_probe_duration_seconds_bucket", lab) == want[i],
		    "bucket %s: got %g, want %g", les[i],
		    value(&p, "sav_probe_duration_seconds_bucket", lab), want[i]);
	}
	ck_assert_double_eq(value(&p, "sav_probe_duration_seconds_count", ""), 8);
	ck_assert_double_eq_tol(value(&p, "sav_probe_duration_seconds_sum", ""), 61.234, 1e-9);
}
END_TEST

START_TEST(test_format_no_cache)
{
	struct stats_snap s;

	fill(&s);
	s.have_local = 0;
	ck_assert_int_gt(stats_format(&s, Buf, sizeof(Buf)), 0);
	ck_assert_msg(strstr(Buf, "sav_cache_lookups") == NULL, "cache series without a cache");
}
END_TEST

START_TEST(test_format_shared)
{
	struct stats_snap s;
	struct parsed p;
	char err[128] = "";
	int ln, local;

	for (local = 0; local <= 1; local++) {
		fill(&s);
		s.have_local = local;
		s.shared_on = 1;
		s.shared_up = local;	/* both states */
		s.shared[0] = 5;
		s.shared[1] = 6;
		s.fleet_joins = 3;
		ck_assert_int_gt(stats_format(&s, Buf, sizeof(Buf)), 0);
		ln = parse(Buf, &p, err, sizeof(err));
		ck_assert_msg(ln == 0, "line %d: %s\n%s", ln, err, Buf);
		ck_assert_double_eq(value(&p, "sav_cache_lookups_total", "cache=\"shared\",result=\"hit\""), 5);
		ck_assert_double_eq(value(&p, "sav_cache_lookups_total", "cache=\"shared\",result=\"miss\""), 6);
		ck_assert_double_eq(value(&p, "sav_cache_lookups_total", "cache=\"local\",result=\"hit\""),
		    local ? 11 : -1);
		ck_assert_double_eq(value(&p, "sav_shared_cache_up", ""), local);
		ck_assert_double_eq(value(&p, "sav_fleet_joins_total", ""), 3);
	}
	/* without SharedCache: none of those series */
	fill(&s);
	ck_assert_int_gt(stats_format(&s, Buf, sizeof(Buf)), 0);
	ck_assert_msg(strstr(Buf, "shared") == NULL && strstr(Buf, "fleet") == NULL, "%s", Buf);
}
END_TEST

START_TEST(test_format_small)
{
	struct stats_snap s;
	char small[300];

	fill(&s);
	memset(small, 'x', sizeof(small));
	ck_assert_int_eq(stats_format(&s, small, sizeof(small)), -1);
	ck_assert_msg(memchr(small, '\0', sizeof(small)) != NULL, "not terminated");
	ck_assert_int_eq(stats_format(&s, small, 0), -1);
}
END_TEST

/* ---- the counters ---- */

START_TEST(test_counters)
{
	const struct limit_observer *o = stats_observer();
	struct probe_result r;
	struct stats_snap s;
	static const msec_t ms[] = { 0, 50, 51, 1000, 1001, 60000, 60001 };
	static const int bucket[] = { 0, 0, 1, 4, 5, 10, 11 };
	size_t i;

	stats_init(1);
	memset(&r, 0, sizeof(r));
	for (i = 0; i < 3; i++)
		o->event(o->arg, LIMIT_EV_PROBE_START);
	r.verdict = VERDICT_INVALID;
	o->probe_end(o->arg, &r, 120);
	o->event(o->arg, LIMIT_EV_JOIN);
	o->event(o->arg, LIMIT_EV_MX_RATE);
	o->event(o->arg, LIMIT_EV_MX_RATE);
	o->event(o->arg, LIMIT_EV_CLIENT_RATE);
	stats_decision(VERDICT_INVALID, ACTION_REJECT);
	stats_decision(VERDICT_COUNT, ACTION_REJECT);	/* out of range: ignored */
	stats_lookup(RESULT_CACHED_LOCAL);
	stats_lookup(0);
	stats_lookup(RESULT_CACHED_SHARED);
	stats_spf(SPF_PERMERROR);
	stats_snapshot(&s);
	ck_assert_uint_eq(s.probes_started, 3);
	ck_assert_uint_eq(s.probes_in_flight, 2);
	ck_assert_uint_eq(s.probes[VERDICT_INVALID], 1);
	ck_assert_uint_eq(s.lat[2], 1);
	ck_assert_uint_eq(s.lat_sum_ms, 120);
	ck_assert_uint_eq(s.joins, 1);
	ck_assert_uint_eq(s.limits[LIMIT_EV_MX_RATE], 2);
	ck_assert_uint_eq(s.limits[LIMIT_EV_CLIENT_RATE], 1);
	ck_assert_uint_eq(s.decisions[VERDICT_INVALID][ACTION_REJECT], 1);
	ck_assert_uint_eq(s.local[0], 1);
	ck_assert_uint_eq(s.local[1], 2);
	/* a shared hit; no shared miss counted while sharing is off */
	ck_assert_uint_eq(s.shared[0], 1);
	ck_assert_uint_eq(s.shared[1], 0);
	ck_assert_int_eq(s.shared_on, 0);
	ck_assert_uint_eq(s.spf[SPF_PERMERROR], 1);
	ck_assert_int_eq(s.have_local, 1);
	ck_assert_msg(s.start > 1e9, "start time %f", s.start);

	/* the bucket edges: le is inclusive */
	stats_init(0);
	for (i = 0; i < sizeof(ms) / sizeof(ms[0]); i++) {
		o->event(o->arg, LIMIT_EV_PROBE_START);
		o->probe_end(o->arg, &r, ms[i]);
	}
	stats_snapshot(&s);
	ck_assert_uint_eq(s.probes_in_flight, 0);
	for (i = 0; i < sizeof(ms) / sizeof(ms[0]); i++)
		ck_assert_msg(s.lat[bucket[i]] >= 1, "%lld ms not in bucket %d", (long long)ms[i],
		    bucket[i]);
	ck_assert_uint_eq(s.lat[0], 2);
	ck_assert_uint_eq(s.lat[STATS_LAT_BUCKETS], 1);
	/* a job that waited for another host's probe: a fleet join, not a probe ended */
	o->event(o->arg, LIMIT_EV_PROBE_START);
	r.cached = RESULT_CACHED_SHARED;
	o->probe_end(o->arg, &r, 5000);
	r.cached = 0;
	stats_snapshot(&s);
	ck_assert_uint_eq(s.fleet_joins, 1);
	ck_assert_uint_eq(s.probes_in_flight, 0);
	ck_assert_uint_eq(s.lat[STATS_LAT_BUCKETS], 1);
	/* more ends than starts seen (a race): never a negative gauge */
	o->probe_end(o->arg, &r, 1);
	stats_snapshot(&s);
	ck_assert_uint_eq(s.probes_in_flight, 0);
}
END_TEST

#define THREADS	4
#define EACH	50000

static void *
hammer(void *arg)
{
	const struct limit_observer *o = stats_observer();
	int i;

	for (i = 0; i < EACH; i++) {
		stats_decision(VERDICT_VALID, ACTION_ACCEPT);
		o->event(o->arg, LIMIT_EV_JOIN);
	}
	return NULL;
}

START_TEST(test_threads)
{
	pthread_t t[THREADS];
	struct stats_snap s;
	int i;

	stats_init(0);
	for (i = 0; i < THREADS; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, hammer, NULL), 0);
	for (i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	stats_snapshot(&s);
	ck_assert_uint_eq(s.decisions[VERDICT_VALID][ACTION_ACCEPT], (uint64_t)THREADS * EACH);
	ck_assert_uint_eq(s.joins, (uint64_t)THREADS * EACH);
}
END_TEST

/* ---- the file ---- */

START_TEST(test_file)
{
	char dir[] = "/tmp/check_stats.XXXXXX", path[128], tmp[160], err[256], *text;
	struct stat st;
	struct parsed p;
	FILE *f;
	long n;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	ck_assert_int_eq(chmod(dir, 0755), 0);
	snprintf(path, sizeof(path), "%s/sav.prom", dir);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	ck_assert_msg(stats_file_check(path, err, sizeof(err)) == 0, "%s", err);
	stats_init(1);
	stats_decision(VERDICT_BAD_DOMAIN, ACTION_REJECT);
	umask(077);
	ck_assert_msg(stats_file_write(path, err, sizeof(err)) == 0, "%s", err);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_msg((st.st_mode & 0777) == 0644, "mode %o, want 644", (unsigned)(st.st_mode & 0777));
	ck_assert_msg(access(tmp, F_OK) != 0, "%s left behind", tmp);
	ck_assert_ptr_nonnull(f = fopen(path, "r"));
	text = calloc(1, STATS_FILE_MAX + 1);
	n = (long)fread(text, 1, STATS_FILE_MAX, f);
	fclose(f);
	ck_assert_int_gt(n, 0);
	ck_assert_int_eq(parse(text, &p, err, sizeof(err)), 0);
	ck_assert_double_eq(value(&p, "sav_decisions_total", "verdict=\"bad-domain\",action=\"reject\""), 1);
	free(text);

	/* a link planted at PATH.tmp is not followed */
	ck_assert_int_eq(symlink("/etc/passwd-never", tmp), 0);
	ck_assert_int_eq(stats_file_write(path, err, sizeof(err)), -1);
	ck_assert_int_eq(unlink(tmp), 0);

	/* others may write the directory: refused */
	ck_assert_int_eq(chmod(dir, 0777), 0);
	ck_assert_int_eq(stats_file_check(path, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "writable by others") != NULL, "err: %s", err);
	ck_assert_int_eq(chmod(dir, 0755), 0);
	ck_assert_int_eq(stats_file_check("relative.prom", err, sizeof(err)), -1);
	ck_assert_int_eq(stats_file_check("/nonexistent-dir-sav/x.prom", err, sizeof(err)), -1);
	/* /tmp, sticky or not, is writable by everyone */
	ck_assert_int_eq(stats_file_check("/tmp/sav.prom", err, sizeof(err)), -1);
	unlink(path);
	rmdir(dir);
}
END_TEST

START_TEST(test_writer)
{
	char dir[] = "/tmp/check_stats.XXXXXX", path[128], err[256];
	struct stat st;
	int i;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	ck_assert_int_eq(chmod(dir, 0755), 0);
	snprintf(path, sizeof(path), "%s/sav.prom", dir);
	ck_assert_msg(stats_file_check(path, err, sizeof(err)) == 0, "%s", err);
	stats_init(0);
	ck_assert_int_eq(stats_writer_start(path, 1000), 0);
	/* the first write comes at once */
	for (i = 0; i < 100 && stat(path, &st) != 0; i++)
		usleep(10000);
	ck_assert_msg(i < 100, "no file after 1 s");
	unlink(path);
	/* and the last one at the stop, before the interval is up */
	stats_writer_stop();
	ck_assert_int_eq(stat(path, &st), 0);
	unlink(path);
	rmdir(dir);
}
END_TEST

Suite *
make_suite(void)
{
	Suite *s = suite_create("stats");
	TCase *t;

	t = tcase_create("escape");
	tcase_add_loop_test(t, test_escape, 0, (int)(sizeof(esc) / sizeof(esc[0])));
	tcase_add_test(t, test_escape_short);
	suite_add_tcase(s, t);
	t = tcase_create("format");
	tcase_add_test(t, test_format_parses);
	tcase_add_test(t, test_format_histogram);
	tcase_add_test(t, test_format_no_cache);
	tcase_add_test(t, test_format_shared);
	tcase_add_test(t, test_format_small);
	suite_add_tcase(s, t);
	t = tcase_create("counters");
	tcase_add_test(t, test_counters);
	tcase_add_test(t, test_threads);
	suite_add_tcase(s, t);
	t = tcase_create("file");
	tcase_add_test(t, test_file);
	tcase_add_test(t, test_writer);
	tcase_set_timeout(t, 10);
	suite_add_tcase(s, t);
	return s;
}

#include "check_main.h"
