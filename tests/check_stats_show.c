/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * check_stats_show - sav-cache stats' reading of the milter's StatsFile
 * (probe/cmd/stats_show.c, compiled in here): the milter's own output
 * read back into the same figures, and hostile files: control bytes and
 * escapes in label values, negative, NaN and infinite values, lines
 * past the bound, a last line without its end, a file over the size
 * bound, a directory, a missing file. Nothing but printable ASCII and
 * line feeds reaches the output.
 */
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <check.h>

#include "../probe/cmd/stats_show.c"
#include "stats.h"

static char Dir[] = "/tmp/check_stats_show.XXXXXX";
static char Path[128];

static void
setup(void)
{
	ck_assert_ptr_nonnull(mkdtemp(Dir));
	snprintf(Path, sizeof(Path), "%s/sav.prom", Dir);
}

static void
teardown(void)
{
	unlink(Path);
	rmdir(Dir);
}

static void
put(const char *text, size_t len)
{
	FILE *f = fopen(Path, "w");

	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(text, 1, len, f), len);
	fclose(f);
}

/* show - stats_show's output for the file at path, in a malloc'ed string; *rc its return */
static char *
show(const char *path, int *rc)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&buf, &len);

	ck_assert_ptr_nonnull(out);
	*rc = stats_show(out, path, 15);
	fclose(out);
	return buf;
}

static void
printable(const char *s)
{
	for (; *s != '\0'; s++)
		ck_assert_msg(*s == '\n' || (*s >= 0x20 && *s < 0x7f), "byte 0x%02x in the output",
		    (unsigned char)*s);
}

START_TEST(test_roundtrip)
{
	struct stats_snap s;
	static char buf[STATS_FILE_MAX];
	const struct limit_observer *o = stats_observer();
	struct probe_result r;
	char *out;
	int rc, i;

	stats_init(1);
	for (i = 0; i < 3; i++)
		stats_decision(VERDICT_INVALID, ACTION_REJECT);
	stats_decision(VERDICT_VALID, ACTION_ACCEPT);
	memset(&r, 0, sizeof(r));
	for (i = 0; i < 4; i++) {
		o->event(o->arg, LIMIT_EV_PROBE_START);
		r.verdict = i < 3 ? VERDICT_INVALID : VERDICT_VALID;
		o->probe_end(o->arg, &r, i < 3 ? 30 : 3000);
	}
	o->event(o->arg, LIMIT_EV_PROBE_START);
	o->event(o->arg, LIMIT_EV_JOIN);
	o->event(o->arg, LIMIT_EV_MX_RATE);
	stats_lookup(1);
	stats_lookup(0);
	stats_spf(SPF_SOFTFAIL);
	stats_snapshot(&s);
	ck_assert_int_gt(stats_format(&s, buf, sizeof(buf)), 0);
	put(buf, strlen(buf));
	out = show(Path, &rc);
	ck_assert_int_eq(rc, 0);
	printable(out);
	ck_assert_msg(strstr(out, "decisions:  4\n") != NULL, "%s", out);
	ck_assert_msg(strstr(out, "    invalid     reject           3\n") != NULL, "%s", out);
	ck_assert_msg(strstr(out, "probes:     5 started, 1 in flight\n") != NULL, "%s", out);
	ck_assert_msg(strstr(out, "ended:    valid 1, invalid 3\n") != NULL, "%s", out);
	/* 3 of 4 at <= 0.05 s, the 4th at <= 4 s */
	ck_assert_msg(strstr(out, "mean 0.77 s, p50 <= 0.05 s, p90 <= 4 s, p99 <= 4 s") != NULL, "%s", out);
	ck_assert_msg(strstr(out, "local: hits 1, misses 1 (50% answered)") != NULL, "%s", out);
	ck_assert_msg(strstr(out, "joins:      1 ") != NULL, "%s", out);
	ck_assert_msg(strstr(out, "limits:     MXRate 1\n") != NULL, "%s", out);
	ck_assert_msg(strstr(out, "SPF:        softfail 1\n") != NULL, "%s", out);
	ck_assert_msg(strstr(out, "did not parse") == NULL, "%s", out);
	ck_assert_msg(strstr(out, "shared:") == NULL && strstr(out, "another host") == NULL, "%s", out);
	free(out);

	/* with SharedCache */
	s.shared_on = 1;
	s.shared_up = 0;
	s.shared[0] = 4;
	s.shared[1] = 2;
	s.fleet_joins = 7;
	ck_assert_int_gt(stats_format(&s, buf, sizeof(buf)), 0);
	put(buf, strlen(buf));
	out = show(Path, &rc);
	ck_assert_int_eq(rc, 0);
	ck_assert_msg(strstr(out, "shared: hits 4, misses 2, down (this host decides alone)\n") != NULL,
	    "%s", out);
	ck_assert_msg(strstr(out, "7 probes waited for another host's probe instead") != NULL, "%s", out);
	free(out);
}
END_TEST

START_TEST(test_hostile)
{
	static const char text[] =
	    "# HELP sav_decisions_total x\n"
	    "sav_decisions_total{verdict=\"in\tvalid\",action=\"reject\"} 2\n"
	    "sav_decisions_total{verdict=\"a\\\"b\\\\c\\nd\",action=\"accept\"} 1\n"
	    "sav_decisions_total{verdict=\"\x1b]0;owned\x07\",action=\"accept\"} 1\n"
	    "sav_decisions_total{verdict=\"bad\\escape\",action=\"accept\"} 100\n"
	    "sav_decisions_total{verdict=\"neg\",action=\"accept\"} -5\n"
	    "sav_decisions_total{verdict=\"nan\",action=\"accept\"} NaN\n"
	    "sav_decisions_total{verdict=\"inf\",action=\"accept\"} +Inf\n"
	    "sav_decisions_total{verdict=\"unterminated,action=\"accept\"} 7\n"
	    "sav_decisions_total{verdict=\"ts\",action=\"accept\"} 3 1700000000\n"
	    "sav_probes_started_total 9\n"
	    "sav_stats_generated_timestamp_seconds 1e300\n"
	    "sav_probes_in_flight 1";	/* no line feed: cut short */
	char *out;
	int rc;

	put(text, sizeof(text) - 1);
	out = show(Path, &rc);
	ck_assert_int_eq(rc, 0);
	printable(out);
	/* 2 + 1 + 1: the rest did not parse */
	ck_assert_msg(strstr(out, "decisions:  4\n") != NULL, "%s", out);
	ck_assert_msg(strstr(out, "in?valid") != NULL, "%s", out);
	ck_assert_msg(strstr(out, "a\"b\\c d") != NULL, "%s", out);
	ck_assert_msg(strstr(out, "?]0;owned?") != NULL, "%s", out);
	ck_assert_msg(strstr(out, "(7 lines of the file did not parse") != NULL, "%s", out);
	ck_assert_msg(strstr(out, "9 started, 0 in flight") != NULL, "%s", out);
	/* a time no time_t holds is shown as unknown */
	ck_assert_msg(strstr(out, ", written -,") != NULL, "%s", out);
	free(out);
}
END_TEST

START_TEST(test_long)
{
	static const char tail[] = " 1\nsav_singleflight_joins_total 4\n";
	size_t n = 4096, i;
	char *text = malloc(n + 64), *out;
	int rc;

	/* a long name, then a long line: both skipped */
	for (i = 0; i < n; i++)
		text[i] = 'a';
	memcpy(text + n, tail, sizeof(tail) - 1);
	put(text, n + sizeof(tail) - 1);
	out = show(Path, &rc);
	ck_assert_int_eq(rc, 0);
	ck_assert_msg(strstr(out, "joins:      4 ") != NULL, "%s", out);
	ck_assert_msg(strstr(out, "(1 line of the file did not parse") != NULL, "%s", out);
	free(out);
	free(text);
}
END_TEST

START_TEST(test_too_big)
{
	size_t n = STATS_SHOW_FILE_MAX + 1;
	char *text = malloc(n), *out;
	int rc;

	memset(text, '\n', n);
	put(text, n);
	out = show(Path, &rc);
	ck_assert_int_eq(rc, -1);
	ck_assert_msg(strstr(out, "larger than") != NULL, "%s", out);
	free(out);
	free(text);
	/* exactly at the bound: read */
	text = malloc(n - 1);
	memset(text, '\n', n - 1);
	put(text, n - 1);
	out = show(Path, &rc);
	ck_assert_int_eq(rc, 0);
	free(out);
	free(text);
}
END_TEST

/* show_json - stats_show_json's output, as show's */
static char *
show_json(const char *path, int *rc)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&buf, &len);

	ck_assert_ptr_nonnull(out);
	*rc = stats_show_json(out, path);
	fclose(out);
	return buf;
}

START_TEST(test_json)
{
	static const char text[] =
	    "sav_decisions_total{verdict=\"invalid\",action=\"reject\"} 3\n"
	    "sav_decisions_total{verdict=\"a\\\"b\x01\",action=\"accept\"} 1\n"
	    "sav_singleflight_joins_total 2\n"
	    "sav_probe_duration_seconds_sum 1.25\n";
	char *out;
	int rc;

	put(text, sizeof(text) - 1);
	out = show_json(Path, &rc);
	ck_assert_int_eq(rc, 0);
	printable(out);
	ck_assert_msg(strncmp(out, ",\"milter\":{\"stats_file\":\"", 25) == 0, "%s", out);
	ck_assert_msg(strstr(out, "\"sav_decisions_total{verdict=\\\"invalid\\\",action=\\\"reject\\\"}\":3,") != NULL,
	    "%s", out);
	/* the quote from the file is escaped for JSON, the control byte is gone */
	ck_assert_msg(strstr(out, "verdict=\\\"a\\\"b?\\\"") != NULL, "%s", out);
	ck_assert_msg(strstr(out, "\"sav_singleflight_joins_total\":2,") != NULL, "%s", out);
	ck_assert_msg(strstr(out, "\"sav_probe_duration_seconds_sum\":1.25}}") != NULL, "%s", out);
	free(out);
	out = show_json("/nonexistent-sav/x.prom", &rc);
	ck_assert_int_eq(rc, -1);
	ck_assert_msg(strstr(out, ",\"error\":\"No such file or directory\"}") != NULL, "%s", out);
	free(out);
}
END_TEST

START_TEST(test_not_a_file)
{
	char *out;
	int rc;

	out = show(Dir, &rc);
	ck_assert_int_eq(rc, -1);
	ck_assert_msg(strstr(out, "not a regular file") != NULL, "%s", out);
	free(out);
	out = show("/nonexistent-sav/x.prom", &rc);
	ck_assert_int_eq(rc, -1);
	ck_assert_msg(strstr(out, "No such file") != NULL, "%s", out);
	free(out);
}
END_TEST

Suite *
make_suite(void)
{
	Suite *s = suite_create("stats_show");
	TCase *t = tcase_create("read");

	tcase_add_checked_fixture(t, setup, teardown);
	tcase_add_test(t, test_roundtrip);
	tcase_add_test(t, test_hostile);
	tcase_add_test(t, test_long);
	tcase_add_test(t, test_too_big);
	tcase_add_test(t, test_not_a_file);
	tcase_add_test(t, test_json);
	suite_add_tcase(s, t);
	return s;
}

#include "check_main.h"
