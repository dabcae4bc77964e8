/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * check_macro - reading the MTA's macros (milter/macro.c) with the
 * installed libmilter's own smfi_getsymval.
 *
 * A context is laid out by hand as libmilter 8.14+ lays out its own:
 * ten words of other fields, then the seven stage lists, the seven
 * stage buffers, the seven list names, the reply and the private data.
 * The real smfi_getsymval reads the lists at its compiled offset, so
 * "an even list is read" fails if the installed libmilter keeps them
 * elsewhere (macro.c's assumption would be wrong). A list with a name
 * and no value must give NULL and a warning instead of a read past the
 * end of the list (ASan in unit-san); a context in which the private
 * data cannot be found, or whose lists and buffers disagree, gives NULL
 * without calling libmilter at all.
 */
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include <check.h>

#include "log.h"
#include "macro.h"

#define STAGES	7
#define PREFIX	10	/* words before the lists in libmilter's struct smfi_str */
#define STAGE_MAIL 2

struct fake {
	void	*w[64];
};

static int warnings;

static void
hook(int prio, const char *line, void *arg)
{
	(void)line; (void)arg;
	if (prio == LOG_WARNING)
		warnings++;
}

/* build - a context with the MAIL stage's list made of the n strings in s */
static void
build(struct fake *f, void *priv, const char *const *s, size_t n, char **buf, char ***list)
{
	size_t i, len = 1, off = 1;

	memset(f, 0, sizeof(*f));
	for (i = 0; i < n; i++)
		len += strlen(s[i]) + 1;
	*buf = malloc(len);
	*list = malloc((n + 1) * sizeof(char *));
	ck_assert(*buf != NULL && *list != NULL);
	(*buf)[0] = 'M';
	for (i = 0; i < n; i++) {
		(*list)[i] = *buf + off;
		memcpy(*buf + off, s[i], strlen(s[i]) + 1);
		off += strlen(s[i]) + 1;
	}
	(*list)[n] = NULL;
	f->w[PREFIX + STAGE_MAIL] = *list;
	f->w[PREFIX + STAGES + STAGE_MAIL] = *buf;
	f->w[PREFIX + 3 * STAGES + 1] = priv;
}

static void
setup(void)
{
	log_open("check_macro", LOG_MAIL, 0, 0);
	log_set_hook(hook, NULL);
	warnings = 0;
}

START_TEST(test_even_list_read)
{
	static const char *const s[] = { "i", "QID42", "{auth_authen}", "alice" };
	struct fake f;
	char *buf, **list;
	int priv, warned = 0;
	const char *v;

	build(&f, &priv, s, 4, &buf, &list);
	v = macro_get((SMFICTX *)&f, &priv, "{auth_authen}", &warned);
	ck_assert_msg(v != NULL && strcmp(v, "alice") == 0,
		      "got %s, want alice: libmilter does not keep its macro lists where macro.c looks",
		      v != NULL ? v : "NULL");
	v = macro_get((SMFICTX *)&f, &priv, "i", &warned);
	ck_assert_msg(v != NULL && strcmp(v, "QID42") == 0, "got %s, want QID42", v ? v : "NULL");
	ck_assert_ptr_null(macro_get((SMFICTX *)&f, &priv, "{daemon_name}", &warned));
	ck_assert_int_eq(warned, 0);
	ck_assert_int_eq(warnings, 0);
	free(buf);
	free(list);
}
END_TEST

static const struct {
	const char *what;
	const char *s[4];
	size_t n;
} odd[] = {
	{ "a name and no value", { "j" }, 1 },
	{ "three strings", { "i", "Q1", "j" }, 3 },
	{ "{auth_authen} alone", { "{auth_authen}" }, 1 },
};

START_TEST(test_odd_list_refused)
{
	struct fake f;
	char *buf, **list;
	int priv, warned = 0;

	build(&f, &priv, odd[_i].s, odd[_i].n, &buf, &list);
	ck_assert_msg(macro_get((SMFICTX *)&f, &priv, "{auth_authen}", &warned) == NULL,
		      "%s: got a value, want NULL", odd[_i].what);
	ck_assert_ptr_null(macro_get((SMFICTX *)&f, &priv, "i", &warned));
	ck_assert_msg(warned == 1 && warnings == 1, "%s: got %d warnings, want 1", odd[_i].what,
		      warnings);
	free(buf);
	free(list);
}
END_TEST

START_TEST(test_unknown_layout)
{
	static const char *const s[] = { "{auth_authen}", "alice" };
	struct fake f;
	char *buf, **list;
	int priv, other, warned = 0;

	/* the private data is not where it should be: never trusted */
	build(&f, &priv, s, 2, &buf, &list);
	ck_assert_ptr_null(macro_get((SMFICTX *)&f, &other, "{auth_authen}", &warned));
	ck_assert_int_eq(warned, 1);
	/* a list that does not start one byte into its buffer */
	warned = 0;
	f.w[PREFIX + STAGES + STAGE_MAIL] = buf + 1;
	ck_assert_ptr_null(macro_get((SMFICTX *)&f, &priv, "{auth_authen}", &warned));
	ck_assert_int_eq(warned, 1);
	ck_assert_int_eq(warnings, 2);
	free(buf);
	free(list);
}
END_TEST

Suite *
make_suite(void)
{
	Suite *s = suite_create("macro");
	TCase *tc = tcase_create("macro");

	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, test_even_list_read);
	tcase_add_loop_test(tc, test_odd_list_refused, 0, sizeof(odd) / sizeof(odd[0]));
	tcase_add_test(tc, test_unknown_layout);
	suite_add_tcase(s, tc);
	return s;
}

#include "check_main.h"
